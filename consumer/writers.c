/*
 * writers: see include/aac/writers.h.
 *
 * ws->mu guards the flights, `stopping`, `finished` and each writer's busy
 * stamp; a writer works on its batch without it, and the consume thread
 * reads a flight's outcome only once the flight is DONE.
 */
#include "aac/writers.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "aac/clock.h"
#include "aac/log.h"
#include "aac/pgsink.h"
#include "aac/signals.h"

#define CANCEL_AGAIN_MS 100 /* a stop repeats its cancel until the writer is out */

typedef struct writer_s {
    aac_writers_t *ws;
    aac_pgsink_t *sink;
    aac_timeacct_thread_t *acct; /* this thread's time (timeacct.h), switched only by it */
    pthread_t thread;
    bool started;
    bool exited;                /* under ws->mu: the thread is past its last statement */
    bool busy;                  /* under ws->mu */
    _Atomic int64_t busy_since; /* monotonic ms its batch was taken, or its last bounded wait
                                   outside a statement began */
} writer_t;

struct aac_writers_s {
    const aac_config_t *cfg;
    aac_dlq_t *dlq;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    aac_flights_t fl;
    bool stopping;
    uint64_t finished; /* batches finished by a writer, ever */
    uint64_t seen;     /* `finished` when aac_writers_wait last returned */
    int32_t turn_key;  /* this instance's half of every turn's advisory lock key */
    writer_t w[AAC_WRITERS_MAX];
    int n;
};

aac_writers_t *aac_writers_new(const aac_config_t *cfg, aac_dlq_t *dlq, int writers,
                               int max_in_flight, aac_timeacct_t *ta)
{
    aac_writers_t *ws = calloc(1, sizeof(*ws));
    if (!ws)
        return NULL;
    ws->cfg = cfg;
    ws->dlq = dlq;
    ws->n = writers < 1 ? 1 : writers > AAC_WRITERS_MAX ? AAC_WRITERS_MAX : writers;
    /* turns of other instances sharing the database have other keys: a
     * collision would only make one batch wait for an unrelated one */
    ws->turn_key = (int32_t)((unsigned)getpid() * 2654435761u ^ (unsigned)aac_mono_ms());
    pthread_mutex_init(&ws->mu, NULL);
    pthread_cond_init(&ws->cv, NULL);
    if (aac_flights_init(&ws->fl, max_in_flight) != 0) {
        aac_writers_destroy(ws);
        return NULL;
    }
    for (int i = 0; i < ws->n; i++) {
        ws->w[i].ws = ws;
        ws->w[i].acct = aac_timeacct_writer(ta, i);
        if (!(ws->w[i].sink = aac_pgsink_new(cfg))) {
            aac_writers_destroy(ws);
            return NULL;
        }
    }
    return ws;
}

/* --- writing: on the writer threads ---------------------------------------- */

static bool stopping(aac_writers_t *ws)
{
    pthread_mutex_lock(&ws->mu);
    bool s = ws->stopping;
    pthread_mutex_unlock(&ws->mu);
    return s;
}

/* Makes sure every dead letter of the batch is delivered: the invalid
 * events, the rows the database refused, the events whose retries ran
 * out. Returns 0, or -1 when some are not confirmed in
 * AAC_WRITERS_DLQ_WAIT_MS (or can never be: the producer's fatal error;
 * or the writers stop).
 * Without `wait`, only sends what is not yet on its way and returns 0. */
static int confirm_dead_letters(aac_writers_t *ws, const aac_batch_t *b, bool wait)
{
    int64_t deadline = aac_mono_ms() + AAC_WRITERS_DLQ_WAIT_MS;
    size_t n = aac_batch_reject_count(b);

    for (;;) {
        size_t pending = 0;
        for (size_t i = 0; i < n; i++) {
            const aac_batch_reject_t *rj = aac_batch_reject(b, i);
            const rd_kafka_message_t *rkm = aac_batch_message(b, rj->item);
            if (aac_dlq_state(ws->dlq, rd_kafka_topic_name(rkm->rkt), rkm->partition,
                              rkm->offset) == AAC_DLQ_DELIVERED)
                continue;
            pending++;
            char msg[sizeof(rj->message) + 32];
            aac_dlq_reason_t why = {aac_classify_reason(rj->reason), rj->reason, rj->path,
                                    rj->message, rj->attempts};
            if (rj->reason == AAC_REASON_DB_REJECTED ||
                rj->reason == AAC_REASON_RETRIES_EXHAUSTED) {
                snprintf(msg, sizeof(msg), "%s (SQLSTATE %s)", rj->message,
                         rj->sqlstate[0] ? rj->sqlstate : "none");
                why.cls = AAC_CLASS_PERMANENT;
                why.message = msg;
            }
            aac_dlq_send(ws->dlq, rkm, &why); /* no-op while in flight */
        }
        if (!pending || !wait)
            return 0;
        if (aac_dlq_fatal(ws->dlq, NULL, 0, NULL))
            return -1; /* never delivered now: the consume thread stops */
        if (stopping(ws))
            return -1; /* the batch is not committed: its deadline is the shutdown's */
        if (aac_mono_ms() >= deadline) {
            int err = aac_dlq_last_error(ws->dlq);
            aac_warn(
                "dead letters not confirmed", AAC_KV_UINT("pending", pending),
                AAC_KV_STR("error", err ? rd_kafka_err2name((rd_kafka_resp_err_t)err) : "timeout"));
            return -1;
        }
        /* briefly: the consume thread polls the producer too, and may
         * serve the report this call would have waited for */
        aac_dlq_poll(ws->dlq, 1);
    }
}

/* Waits until every batch closed before f is settled: GO when all of them
 * committed, CANCEL when one did not or the writers stop, or -1 when the
 * wait itself failed (*res). The wait for an earlier batch whose writer
 * holds its turn is made inside PostgreSQL (see writers.h); only the
 * short steps around a turn (taking it, finishing after releasing it) are
 * waited for here. */
static int wait_earlier(writer_t *w, aac_flight_t *f, aac_pgsink_result_t *res)
{
    aac_writers_t *ws = w->ws;
    uint64_t awaited = 0; /* the batch whose turn was waited for in PostgreSQL */
    aac_order_t order;
    pthread_mutex_lock(&ws->mu);
    for (;;) {
        aac_flight_t *blk = NULL;
        order = ws->stopping ? AAC_ORDER_CANCEL : aac_flights_order(&ws->fl, f, &blk);
        if (order != AAC_ORDER_WAIT)
            break;
        f->waited = true;
        if (blk->turn_held && blk->seq != awaited) {
            uint64_t seq = blk->seq;
            pthread_mutex_unlock(&ws->mu);
            int rc = aac_pgsink_await_turn(w->sink, ws->turn_key, seq, res);
            pthread_mutex_lock(&ws->mu);
            if (rc != 0) {
                pthread_mutex_unlock(&ws->mu);
                return -1;
            }
            awaited = seq;
            continue;
        }
        pthread_cond_wait(&ws->cv, &ws->mu);
    }
    pthread_mutex_unlock(&ws->mu);
    return order == AAC_ORDER_GO ? AAC_ORDER_GO : AAC_ORDER_CANCEL;
}

/* Takes f's turn when another writer may wait for it. */
static int take_turn(writer_t *w, aac_flight_t *f, aac_pgsink_result_t *res)
{
    aac_writers_t *ws = w->ws;
    if (ws->n < 2)
        return 0;
    if (aac_pgsink_take_turn(w->sink, ws->turn_key, f->seq, res) != 0)
        return -1;
    pthread_mutex_lock(&ws->mu);
    f->turn_held = true;
    pthread_cond_broadcast(&ws->cv);
    pthread_mutex_unlock(&ws->mu);
    return 0;
}

/* A wait outside any statement begins (its own bound): liveness counts
 * from now. */
static void restamp(writer_t *w)
{
    atomic_store_explicit(&w->busy_since, aac_mono_ms(), memory_order_relaxed);
}

/* One batch from its rows to its commit; the outcome is left in f. */
static void write_batch(writer_t *w, aac_flight_t *f)
{
    aac_writers_t *ws = w->ws;
    aac_batch_t *b = f->batch;
    aac_pgsink_result_t *res = &f->res;
    int64_t t0 = aac_mono_ms();
    int order;

    memset(res, 0, sizeof(*res));
    f->writer = (int)(w - ws->w);
    aac_timeacct_switch(w->acct, AAC_ACT_TURN);
    if (take_turn(w, f, res) != 0)
        goto out;
    /* a key an earlier batch also inserts: its transaction and ours would
     * wait for each other, so this one starts once that one is through */
    aac_timeacct_switch(w->acct, AAC_ACT_WAIT_KEYS);
    if (f->after_previous && (order = wait_earlier(w, f, res)) != AAC_ORDER_GO) {
        f->cancelled = order == AAC_ORDER_CANCEL;
        goto out;
    }
    /* the invalid events' dead letters travel while the rows are copied */
    aac_timeacct_switch(w->acct, AAC_ACT_DEAD_LETTERS);
    confirm_dead_letters(ws, b, false);
    aac_timeacct_switch(w->acct, AAC_ACT_COPY);
    if (aac_pgsink_stage(w->sink, b, res) != 0)
        goto out;
    restamp(w);
    aac_timeacct_switch(w->acct, AAC_ACT_DEAD_LETTERS);
    if (confirm_dead_letters(ws, b, true) != 0) {
        aac_timeacct_switch(w->acct, AAC_ACT_OTHER);
        aac_pgsink_rollback(w->sink);
        f->dead_letters_pending = true;
        res->cls = AAC_CLASS_TRANSIENT;
        snprintf(res->errstr, sizeof(res->errstr),
                 "dead letters of the batch not confirmed yet: not committing");
        goto out;
    }
    /* commits in the order the batches were closed, never past one that
     * was not written, and not at all once the writers stop */
    aac_timeacct_switch(w->acct, AAC_ACT_WAIT_EARLIER);
    if ((order = stopping(ws) ? AAC_ORDER_CANCEL : wait_earlier(w, f, res)) != AAC_ORDER_GO) {
        aac_timeacct_switch(w->acct, AAC_ACT_OTHER);
        aac_pgsink_rollback(w->sink);
        f->cancelled = order == AAC_ORDER_CANCEL;
        goto out;
    }
    aac_timeacct_switch(w->acct, AAC_ACT_COMMIT);
    f->committed = aac_pgsink_commit(w->sink, b, ws->cfg->kafka.group_id, res) == 0;
out:
    aac_timeacct_switch(w->acct, AAC_ACT_OTHER);
    aac_pgsink_release_turn(w->sink);
    f->secs = (double)(aac_mono_ms() - t0) / 1000.0;
}

static void *writer_main(void *arg)
{
    writer_t *w = arg;
    aac_writers_t *ws = w->ws;
    aac_pgsink_result_t res;
    /* connected from the start: an instance holds its connections for
     * good, and a failure here is only tried again with the first batch */
    aac_timeacct_switch(w->acct, AAC_ACT_OTHER);
    aac_pgsink_connect(w->sink, &res);
    pthread_mutex_lock(&ws->mu);
    for (;;) {
        aac_flight_t *f = NULL;
        aac_timeacct_switch(w->acct, AAC_ACT_IDLE);
        while (!ws->stopping && !(f = aac_flights_take(&ws->fl)))
            pthread_cond_wait(&ws->cv, &ws->mu);
        aac_timeacct_switch(w->acct, AAC_ACT_OTHER);
        if (!f)
            break;
        w->busy = true;
        restamp(w);
        pthread_mutex_unlock(&ws->mu);

        write_batch(w, f);

        pthread_mutex_lock(&ws->mu);
        aac_flights_finish(&ws->fl, f);
        w->busy = false;
        ws->finished++;
        pthread_cond_broadcast(&ws->cv);
    }
    w->exited = true;
    pthread_cond_broadcast(&ws->cv);
    pthread_mutex_unlock(&ws->mu);
    aac_timeacct_stop(w->acct);
    return NULL;
}

int aac_writers_start(aac_writers_t *ws)
{
    for (int i = 0; i < ws->n; i++) {
        writer_t *w = &ws->w[i];
        if (aac_signals_thread_create(&w->thread, writer_main, w) != 0)
            return -1;
        w->started = true;
    }
    return 0;
}

/* Waits up to CANCEL_AGAIN_MS for w's thread to be out; under ws->mu. */
static bool exited_within(writer_t *w)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += CANCEL_AGAIN_MS * 1000000L;
    ts.tv_sec += ts.tv_nsec / 1000000000L;
    ts.tv_nsec %= 1000000000L;
    while (!w->exited)
        if (pthread_cond_timedwait(&w->ws->cv, &w->ws->mu, &ts) == ETIMEDOUT)
            break;
    return w->exited;
}

void aac_writers_stop(aac_writers_t *ws)
{
    pthread_mutex_lock(&ws->mu);
    ws->stopping = true;
    pthread_cond_broadcast(&ws->cv);
    pthread_mutex_unlock(&ws->mu);
    /* every writer is cancelled before any is waited for: a writer waiting
     * for an earlier batch is not left waiting for an uncancelled
     * statement; a cancel that came between two statements is sent again
     * (the sink refuses statements once cancelled, so few are needed) */
    for (int i = 0; i < ws->n; i++)
        if (ws->w[i].started)
            aac_pgsink_cancel(ws->w[i].sink);
    for (int i = 0; i < ws->n; i++) {
        writer_t *w = &ws->w[i];
        if (!w->started)
            continue;
        pthread_mutex_lock(&ws->mu);
        while (!exited_within(w)) {
            pthread_mutex_unlock(&ws->mu);
            aac_pgsink_cancel(w->sink);
            pthread_mutex_lock(&ws->mu);
        }
        pthread_mutex_unlock(&ws->mu);
        pthread_join(w->thread, NULL);
        w->started = false;
    }
    for (int i = 0; i < ws->n; i++) {
        aac_pgsink_destroy(ws->w[i].sink);
        ws->w[i].sink = NULL;
    }
}

void aac_writers_destroy(aac_writers_t *ws)
{
    if (!ws)
        return;
    aac_writers_stop(ws);
    for (int i = 0; i < ws->fl.cnt; i++)
        aac_batch_destroy(aac_flights_at(&ws->fl, i)->batch);
    aac_flights_free(&ws->fl);
    pthread_cond_destroy(&ws->cv);
    pthread_mutex_destroy(&ws->mu);
    free(ws);
}

/* --- the consume thread's side ---------------------------------------------- */

bool aac_writers_submit(aac_writers_t *ws, aac_batch_t *b, bool extra)
{
    /* the invalid events' dead letters start now, not when a writer takes
     * the batch: their acknowledgement is awaited before the commit, and
     * may come while the batch waits for a writer (b is still this
     * thread's alone: a writer adds its own rejects once it has b) */
    confirm_dead_letters(ws, b, false);
    pthread_mutex_lock(&ws->mu);
    /* two batches sharing a key are not written at once */
    bool after = false;
    for (int i = 0; i < ws->fl.cnt && !after && ws->n > 1; i++)
        after = aac_batch_keys_overlap(b, aac_flights_at(&ws->fl, i)->batch);
    aac_flight_t *f = aac_flights_push(&ws->fl, b, after, extra);
    int in_flight = ws->fl.cnt;
    if (f)
        pthread_cond_broadcast(&ws->cv);
    pthread_mutex_unlock(&ws->mu);
    if (f)
        aac_debug("batch closed", AAC_KV_UINT("events", aac_batch_count(b)),
                  AAC_KV_INT("in_flight", in_flight), AAC_KV_BOOL("shared_keys", after));
    return f != NULL;
}

bool aac_writers_settle(aac_writers_t *ws, aac_flight_t *out)
{
    pthread_mutex_lock(&ws->mu);
    bool ok = aac_flights_pop(&ws->fl, out);
    if (ok)
        pthread_cond_broadcast(&ws->cv);
    pthread_mutex_unlock(&ws->mu);
    return ok;
}

aac_flight_t *aac_writers_failure(aac_writers_t *ws)
{
    pthread_mutex_lock(&ws->mu);
    aac_flight_t *f = aac_flights_failure(&ws->fl);
    pthread_mutex_unlock(&ws->mu);
    return f;
}

void aac_writers_failure_counted(aac_writers_t *ws)
{
    pthread_mutex_lock(&ws->mu);
    aac_flight_t *f = aac_flights_failure(&ws->fl);
    if (f)
        f->counted = true;
    pthread_mutex_unlock(&ws->mu);
}

int aac_writers_requeue(aac_writers_t *ws)
{
    pthread_mutex_lock(&ws->mu);
    int rc = aac_flights_requeue(&ws->fl);
    pthread_cond_broadcast(&ws->cv);
    pthread_mutex_unlock(&ws->mu);
    return rc;
}

int aac_writers_drop(aac_writers_t *ws, aac_batch_t **out)
{
    pthread_mutex_lock(&ws->mu);
    int n = aac_flights_drop(&ws->fl, out);
    pthread_cond_broadcast(&ws->cv);
    pthread_mutex_unlock(&ws->mu);
    return n;
}

void aac_writers_counts(aac_writers_t *ws, int *in_flight, int *writing)
{
    pthread_mutex_lock(&ws->mu);
    *in_flight = ws->fl.cnt;
    *writing = aac_flights_writing(&ws->fl);
    pthread_mutex_unlock(&ws->mu);
}

int aac_writers_later_cancelled(aac_writers_t *ws)
{
    int n = 0;
    pthread_mutex_lock(&ws->mu);
    for (int i = 1; i < ws->fl.cnt; i++) {
        const aac_flight_t *f = aac_flights_at(&ws->fl, i);
        n += f->state == AAC_FLIGHT_DONE && f->cancelled;
    }
    pthread_mutex_unlock(&ws->mu);
    return n;
}

bool aac_writers_hold_any(aac_writers_t *ws, const aac_pkey_t *keys, size_t cnt)
{
    bool any = false;
    pthread_mutex_lock(&ws->mu);
    for (int i = 0; i < ws->fl.cnt && !any; i++)
        for (size_t k = 0; k < cnt && !any; k++)
            any = aac_batch_part(aac_flights_at(&ws->fl, i)->batch, keys[k].topic,
                                 keys[k].partition) != NULL;
    pthread_mutex_unlock(&ws->mu);
    return any;
}

int64_t aac_writers_busy_since(aac_writers_t *ws, int64_t now)
{
    int64_t since = now;
    pthread_mutex_lock(&ws->mu);
    for (int i = 0; i < ws->n; i++) {
        if (!ws->w[i].busy)
            continue;
        /* each call has its own bound: the stuck one began at the later
         * of its batch's last wait and its last statement */
        int64_t w = atomic_load_explicit(&ws->w[i].busy_since, memory_order_relaxed);
        int64_t st = aac_pgsink_stmt_at(ws->w[i].sink);
        if (st > w)
            w = st;
        if (w < since)
            since = w;
    }
    pthread_mutex_unlock(&ws->mu);
    return since;
}

void aac_writers_wait(aac_writers_t *ws, int timeout_ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += (long)timeout_ms * 1000000L;
    ts.tv_sec += ts.tv_nsec / 1000000000L;
    ts.tv_nsec %= 1000000000L;
    pthread_mutex_lock(&ws->mu);
    while (ws->finished == ws->seen)
        if (pthread_cond_timedwait(&ws->cv, &ws->mu, &ts) == ETIMEDOUT)
            break;
    ws->seen = ws->finished;
    pthread_mutex_unlock(&ws->mu);
}
