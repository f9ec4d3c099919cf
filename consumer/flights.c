/*
 * flights: see include/aac/flights.h.
 */
#include "aac/flights.h"

#include <stdlib.h>
#include <string.h>

int aac_flights_init(aac_flights_t *fl, int max_in_flight)
{
    memset(fl, 0, sizeof(*fl));
    fl->max_in_flight = max_in_flight < 1 ? 1 : max_in_flight;
    fl->cap = fl->max_in_flight + 1;
    fl->next_seq = 1;
    fl->ring = calloc((size_t)fl->cap, sizeof(*fl->ring));
    return fl->ring ? 0 : -1;
}

void aac_flights_free(aac_flights_t *fl)
{
    free(fl->ring);
    fl->ring = NULL;
    fl->cnt = 0;
}

int aac_flights_count(const aac_flights_t *fl)
{
    return fl->cnt;
}

aac_flight_t *aac_flights_at(const aac_flights_t *fl, int i)
{
    return &fl->ring[(fl->head + i) % fl->cap];
}

int aac_flights_writing(const aac_flights_t *fl)
{
    int n = 0;
    for (int i = 0; i < fl->cnt; i++)
        n += aac_flights_at(fl, i)->state == AAC_FLIGHT_WRITING;
    return n;
}

aac_flight_t *aac_flights_push(aac_flights_t *fl, aac_batch_t *b, bool after_previous, bool extra)
{
    if (fl->cnt >= fl->max_in_flight + (extra ? 1 : 0))
        return NULL;
    aac_flight_t *f = aac_flights_at(fl, fl->cnt++);
    *f = (aac_flight_t){.batch = b,
                        .seq = fl->next_seq++,
                        .state = AAC_FLIGHT_QUEUED,
                        .after_previous = after_previous,
                        .writer = -1};
    return f;
}

aac_flight_t *aac_flights_take(aac_flights_t *fl)
{
    if (fl->halted)
        return NULL;
    for (int i = 0; i < fl->cnt; i++) {
        aac_flight_t *f = aac_flights_at(fl, i);
        if (f->state == AAC_FLIGHT_QUEUED) {
            f->state = AAC_FLIGHT_WRITING;
            f->committed = f->cancelled = f->dead_letters_pending = f->waited = false;
            f->turn_held = f->counted = false;
            return f;
        }
    }
    return NULL;
}

/* f's place: how many flights were closed before it and are not settled. */
static int position(const aac_flights_t *fl, const aac_flight_t *f)
{
    int idx = (int)(f - fl->ring);
    return (idx - fl->head + fl->cap) % fl->cap;
}

aac_order_t aac_flights_order(const aac_flights_t *fl, const aac_flight_t *f,
                              aac_flight_t **blocker)
{
    aac_flight_t *first_open = NULL;
    int pos = position(fl, f);
    for (int i = 0; i < pos; i++) {
        aac_flight_t *e = aac_flights_at(fl, i);
        if (e->state != AAC_FLIGHT_DONE) {
            if (!first_open)
                first_open = e;
        } else if (!e->committed) {
            return AAC_ORDER_CANCEL;
        }
    }
    if (blocker)
        *blocker = first_open;
    return first_open ? AAC_ORDER_WAIT : AAC_ORDER_GO;
}

void aac_flights_finish(aac_flights_t *fl, aac_flight_t *f)
{
    f->state = AAC_FLIGHT_DONE;
    f->turn_held = false;
    if (!f->committed)
        fl->halted = true; /* nothing later starts before the consume thread decides */
}

bool aac_flights_pop(aac_flights_t *fl, aac_flight_t *out)
{
    if (!fl->cnt)
        return false;
    aac_flight_t *f = aac_flights_at(fl, 0);
    if (f->state != AAC_FLIGHT_DONE || !f->committed)
        return false;
    *out = *f;
    fl->head = (fl->head + 1) % fl->cap;
    fl->cnt--;
    return true;
}

aac_flight_t *aac_flights_failure(const aac_flights_t *fl)
{
    if (!fl->cnt)
        return NULL;
    aac_flight_t *f = aac_flights_at(fl, 0);
    if (f->state != AAC_FLIGHT_DONE || f->committed || aac_flights_writing(fl))
        return NULL;
    return f;
}

int aac_flights_requeue(aac_flights_t *fl)
{
    if (aac_flights_writing(fl))
        return -1;
    for (int i = 0; i < fl->cnt; i++) {
        aac_flight_t *f = aac_flights_at(fl, i);
        if (f->state == AAC_FLIGHT_DONE)
            f->state = AAC_FLIGHT_QUEUED;
    }
    fl->halted = false;
    return 0;
}

int aac_flights_drop(aac_flights_t *fl, aac_batch_t **out)
{
    if (aac_flights_writing(fl))
        return -1;
    int n = fl->cnt;
    for (int i = 0; i < n; i++)
        out[i] = aac_flights_at(fl, i)->batch;
    fl->cnt = 0;
    fl->halted = false;
    return n;
}
