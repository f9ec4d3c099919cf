/*
 * rollup: see include/aac/rollup.h.
 */
#include "aac/rollup.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aac/mem.h"

/* --- the duration histogram ---------------------------------------------- */

int aac_hist_bucket(int64_t ms)
{
    if (ms < 8)
        return ms < 0 ? 0 : (int)ms;
    if (ms > INT32_MAX)
        ms = INT32_MAX;
    int e = 63 - __builtin_clzll((unsigned long long)ms); /* 3..30 */
    return 8 + (e - 3) * 4 + (int)((ms >> (e - 2)) & 3);
}

void aac_hist_bounds(int b, int64_t *lo, int64_t *hi)
{
    if (b < 8) {
        *lo = *hi = b < 0 ? 0 : b;
        return;
    }
    int e = 3 + (b - 8) / 4, k = (b - 8) % 4;
    *lo = (int64_t)(4 + k) << (e - 2);
    *hi = *lo + ((int64_t)1 << (e - 2)) - 1;
}

double aac_hist_mid(int b)
{
    int64_t lo, hi;
    aac_hist_bounds(b, &lo, &hi);
    return ((double)lo + (double)hi) / 2.0;
}

/* The middle of the bucket holding the value of rank k (0-based). */
static double rank_value(const uint64_t *counts, uint64_t k)
{
    uint64_t seen = 0;
    for (int b = 0; b < AAC_HIST_BUCKETS; b++) {
        seen += counts[b];
        if (k < seen)
            return aac_hist_mid(b);
    }
    return aac_hist_mid(AAC_HIST_BUCKETS - 1);
}

double aac_hist_percentile(const uint64_t counts[AAC_HIST_BUCKETS], double p)
{
    uint64_t n = 0;
    for (int b = 0; b < AAC_HIST_BUCKETS; b++)
        n += counts[b];
    if (!n)
        return -1;
    p = p < 0 ? 0 : p > 1 ? 1 : p;
    double pos = p * (double)(n - 1);
    uint64_t k = (uint64_t)floor(pos);
    double f = pos - (double)k, v = rank_value(counts, k);
    return f > 0 && k + 1 < n ? v + f * (rank_value(counts, k + 1) - v) : v;
}

/* --- a batch's groups ----------------------------------------------------------- */

typedef struct group_s {
    uint64_t hash;
    uint32_t agent, agent_len, action, action_len, project, project_len; /* into text */
    bool has_project;
    uint8_t type;
} group_t;

struct aac_rollup_groups_s {
    group_t *g;
    size_t cnt, cap;
    char *text;
    size_t len, tcap;
    int32_t *slot; /* open addressing over g: index + 1, 0 empty */
    size_t slots;
};

aac_rollup_groups_t *aac_rollup_groups_new(void)
{
    return calloc(1, sizeof(aac_rollup_groups_t));
}

void aac_rollup_groups_destroy(aac_rollup_groups_t *g)
{
    if (!g)
        return;
    free(g->g);
    free(g->text);
    free(g->slot);
    free(g);
}

void aac_rollup_groups_reset(aac_rollup_groups_t *g)
{
    g->cnt = 0;
    g->len = 0;
    if (g->slot)
        memset(g->slot, 0, g->slots * sizeof(*g->slot));
}

size_t aac_rollup_groups_count(const aac_rollup_groups_t *g)
{
    return g->cnt;
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ c[i]) * 0x100000001b3ULL;
    return (h ^ 0xff) * 0x100000001b3ULL; /* ends the field: "ab","c" is not "a","bc" */
}

static uint64_t group_hash(const aac_event_t *ev)
{
    uint64_t h = fnv(0xcbf29ce484222325ULL, ev->agent_name.ptr, ev->agent_name.len);
    unsigned char t = (unsigned char)ev->action_type;
    h = fnv(h, &t, 1);
    h = fnv(h, ev->action_name.ptr, ev->action_name.len);
    if (ev->project_name.ptr)
        h = fnv(h, ev->project_name.ptr, ev->project_name.len);
    return h;
}

static bool same(const aac_rollup_groups_t *g, const group_t *e, const aac_event_t *ev)
{
    bool has_project = ev->project_name.ptr != NULL;
    return e->type == (uint8_t)ev->action_type && e->has_project == has_project &&
           e->agent_len == ev->agent_name.len && e->action_len == ev->action_name.len &&
           (!has_project || e->project_len == ev->project_name.len) &&
           !memcmp(g->text + e->agent, ev->agent_name.ptr, e->agent_len) &&
           !memcmp(g->text + e->action, ev->action_name.ptr, e->action_len) &&
           (!has_project || !memcmp(g->text + e->project, ev->project_name.ptr, e->project_len));
}

/* Keeps the table at most half full. */
static int rehash(aac_rollup_groups_t *g)
{
    if ((g->cnt + 1) * 2 <= g->slots)
        return 0;
    size_t n = g->slots ? g->slots * 2 : 64;
    int32_t *slot = calloc(n, sizeof(*slot));
    if (!slot)
        return -1;
    for (size_t i = 0; i < g->cnt; i++) {
        size_t s = g->g[i].hash & (n - 1);
        while (slot[s])
            s = (s + 1) & (n - 1);
        slot[s] = (int32_t)i + 1;
    }
    free(g->slot);
    g->slot = slot;
    g->slots = n;
    return 0;
}

static uint32_t put_text(aac_rollup_groups_t *g, const char *p, size_t n)
{
    uint32_t off = (uint32_t)g->len;
    if (n)
        memcpy(g->text + g->len, p, n);
    g->len += n;
    return off;
}

int32_t aac_rollup_groups_intern(aac_rollup_groups_t *g, const aac_event_t *ev)
{
    uint64_t h = group_hash(ev);
    if (g->slots) {
        for (size_t s = h & (g->slots - 1); g->slot[s]; s = (s + 1) & (g->slots - 1)) {
            const group_t *e = &g->g[g->slot[s] - 1];
            if (e->hash == h && same(g, e, ev))
                return g->slot[s] - 1;
        }
    }
    size_t need = ev->agent_name.len + ev->action_name.len +
                  (ev->project_name.ptr ? ev->project_name.len : 0);
    if (g->cnt >= INT32_MAX - 1 || g->len + need > UINT32_MAX || rehash(g) != 0 ||
        aac_grow((void **)&g->g, &g->cap, g->cnt + 1, sizeof(*g->g)) != 0 ||
        aac_grow((void **)&g->text, &g->tcap, g->len + need + 1, 1) != 0)
        return -1;
    group_t *e = &g->g[g->cnt];
    *e = (group_t){
        .hash = h, .type = (uint8_t)ev->action_type, .has_project = ev->project_name.ptr != NULL};
    e->agent_len = (uint32_t)ev->agent_name.len;
    e->agent = put_text(g, ev->agent_name.ptr, ev->agent_name.len);
    e->action_len = (uint32_t)ev->action_name.len;
    e->action = put_text(g, ev->action_name.ptr, ev->action_name.len);
    if (e->has_project) {
        e->project_len = (uint32_t)ev->project_name.len;
        e->project = put_text(g, ev->project_name.ptr, ev->project_name.len);
    }
    size_t s = h & (g->slots - 1);
    while (g->slot[s])
        s = (s + 1) & (g->slots - 1);
    g->slot[s] = (int32_t)g->cnt + 1;
    return (int32_t)g->cnt++;
}

/* --- the build ------------------------------------------------------------- */

/* (hour, group): the rollup_hourly row. */
typedef struct fine_s {
    int64_t hour; /* seconds since the epoch */
    int32_t group;
    uint64_t events, timed;
    int64_t sum;
    int32_t min, max; /* -1: none timed */
    int64_t first_us, last_us;
} fine_t;

/* (hour, action name): the rollup_durations_hourly row. */
typedef struct coarse_s {
    int64_t hour;
    int32_t group; /* any group of that action name: where its text is */
    uint64_t timed;
    int64_t sum;
    int32_t max;
    uint32_t bucket[AAC_HIST_BUCKETS];
} coarse_t;

typedef struct reason_s {
    const char *topic, *reason;
    uint64_t n;
} reason_t;

typedef struct ingest_s {
    const char *topic;
    uint64_t messages, inserted, duplicates;
} ingest_t;

/* An open-addressing index from a 64-bit key to an entry number. */
typedef struct index_s {
    uint64_t *key;
    int32_t *at; /* entry + 1, 0 empty */
    size_t slots, used;
} index_t;

struct aac_rollup_s {
    const aac_rollup_groups_t *groups;
    fine_t *fine;
    size_t fine_cnt, fine_cap;
    coarse_t *coarse;
    size_t coarse_cnt, coarse_cap;
    index_t fine_ix, coarse_ix;
    reason_t *reason;
    size_t reason_cnt, reason_cap;
    ingest_t *ingest;
    size_t ingest_cnt, ingest_cap;
    /* the parameters' text */
    char *buf;
    size_t len, cap;
    size_t param_off[AAC_ROLLUP_PARAMS];
};

aac_rollup_t *aac_rollup_new(void)
{
    return calloc(1, sizeof(aac_rollup_t));
}

void aac_rollup_destroy(aac_rollup_t *r)
{
    if (!r)
        return;
    free(r->fine);
    free(r->coarse);
    free(r->reason);
    free(r->ingest);
    free(r->fine_ix.key);
    free(r->fine_ix.at);
    free(r->coarse_ix.key);
    free(r->coarse_ix.at);
    free(r->buf);
    free(r);
}

static void index_clear(index_t *ix)
{
    if (ix->at)
        memset(ix->at, 0, ix->slots * sizeof(*ix->at));
    ix->used = 0;
}

void aac_rollup_begin(aac_rollup_t *r, const aac_rollup_groups_t *g)
{
    r->groups = g;
    r->fine_cnt = r->coarse_cnt = r->reason_cnt = r->ingest_cnt = 0;
    index_clear(&r->fine_ix);
    index_clear(&r->coarse_ix);
}

static uint64_t mix(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    return k;
}

/* The entry of key k, or -1 with *slot where it goes. */
static int32_t index_find(const index_t *ix, uint64_t k, size_t *slot)
{
    if (!ix->slots) {
        *slot = 0;
        return -1;
    }
    size_t s = mix(k) & (ix->slots - 1);
    while (ix->at[s]) {
        if (ix->key[s] == k)
            return ix->at[s] - 1;
        s = (s + 1) & (ix->slots - 1);
    }
    *slot = s;
    return -1;
}

/* Makes room for one more key (at most half full). */
static int index_room(index_t *ix)
{
    if ((ix->used + 1) * 2 <= ix->slots)
        return 0;
    size_t n = ix->slots ? ix->slots * 2 : 256;
    uint64_t *key = malloc(n * sizeof(*key));
    int32_t *at = calloc(n, sizeof(*at));
    if (!key || !at) {
        free(key);
        free(at);
        return -1;
    }
    for (size_t i = 0; i < ix->slots; i++) {
        if (!ix->at[i])
            continue;
        size_t s = mix(ix->key[i]) & (n - 1);
        while (at[s])
            s = (s + 1) & (n - 1);
        key[s] = ix->key[i];
        at[s] = ix->at[i];
    }
    free(ix->key);
    free(ix->at);
    ix->key = key;
    ix->at = at;
    ix->slots = n;
    return 0;
}

static int32_t index_add(index_t *ix, uint64_t k, int32_t entry)
{
    size_t s = 0;
    if (index_room(ix) != 0)
        return -1;
    index_find(ix, k, &s);
    ix->key[s] = k;
    ix->at[s] = entry + 1;
    ix->used++;
    return entry;
}

/* Seconds since the epoch of the UTC hour holding µs `us`. */
static int64_t hour_of(int64_t us)
{
    int64_t h = us / 3600000000LL;
    if (us < 0 && h * 3600000000LL != us)
        h--;
    return h * 3600;
}

/* The action name's text of group `grp`, for keying the coarse rows. */
static uint64_t action_key(const aac_rollup_groups_t *g, int32_t grp)
{
    const group_t *e = &g->g[grp];
    return fnv(0x84222325cbf29ce4ULL, g->text + e->action, e->action_len);
}

static bool same_action(const aac_rollup_groups_t *g, int32_t a, int32_t b)
{
    const group_t *x = &g->g[a], *y = &g->g[b];
    return x->action_len == y->action_len &&
           !memcmp(g->text + x->action, g->text + y->action, x->action_len);
}

static int add_fine(aac_rollup_t *r, const aac_rollup_row_t *row, int64_t hour)
{
    uint64_t k = ((uint64_t)hour << 24) ^ (uint64_t)row->group; /* distinct: group < 2^24 */
    size_t s = 0;
    int32_t i = index_find(&r->fine_ix, k, &s);
    if (i < 0) {
        if (aac_grow((void **)&r->fine, &r->fine_cap, r->fine_cnt + 1, sizeof(*r->fine)) != 0 ||
            index_add(&r->fine_ix, k, (int32_t)r->fine_cnt) < 0)
            return -1;
        i = (int32_t)r->fine_cnt++;
        r->fine[i] = (fine_t){.hour = hour,
                              .group = row->group,
                              .min = -1,
                              .max = -1,
                              .first_us = row->event_us,
                              .last_us = row->event_us};
    }
    fine_t *f = &r->fine[i];
    f->events++;
    if (row->event_us < f->first_us)
        f->first_us = row->event_us;
    if (row->event_us > f->last_us)
        f->last_us = row->event_us;
    if (row->duration_ms >= 0) {
        f->timed++;
        f->sum += row->duration_ms;
        if (f->min < 0 || row->duration_ms < f->min)
            f->min = row->duration_ms;
        if (row->duration_ms > f->max)
            f->max = row->duration_ms;
    }
    return 0;
}

static int add_coarse(aac_rollup_t *r, const aac_rollup_row_t *row, int64_t hour)
{
    /* the hash of the name and the hour; equal names compared on a hit */
    uint64_t k = action_key(r->groups, row->group) ^ mix((uint64_t)hour);
    size_t s = 0;
    int32_t i;
    for (;;) {
        i = index_find(&r->coarse_ix, k, &s);
        if (i < 0 ||
            (r->coarse[i].hour == hour && same_action(r->groups, r->coarse[i].group, row->group)))
            break;
        k = mix(k + 1); /* a collision of two names: probe under another key */
    }
    if (i < 0) {
        if (aac_grow((void **)&r->coarse, &r->coarse_cap, r->coarse_cnt + 1, sizeof(*r->coarse)) !=
                0 ||
            index_add(&r->coarse_ix, k, (int32_t)r->coarse_cnt) < 0)
            return -1;
        i = (int32_t)r->coarse_cnt++;
        memset(&r->coarse[i], 0, sizeof(r->coarse[i]));
        r->coarse[i].hour = hour;
        r->coarse[i].group = row->group;
        r->coarse[i].max = -1;
    }
    coarse_t *c = &r->coarse[i];
    c->timed++;
    c->sum += row->duration_ms;
    if (row->duration_ms > c->max)
        c->max = row->duration_ms;
    c->bucket[aac_hist_bucket(row->duration_ms)]++;
    return 0;
}

int aac_rollup_add(aac_rollup_t *r, const aac_rollup_row_t *row)
{
    int64_t hour = hour_of(row->event_us);
    if (add_fine(r, row, hour) != 0)
        return -1;
    return row->duration_ms >= 0 ? add_coarse(r, row, hour) : 0;
}

int aac_rollup_dead_letters(aac_rollup_t *r, const char *topic, const char *reason, uint64_t n)
{
    for (size_t i = 0; i < r->reason_cnt; i++)
        if (!strcmp(r->reason[i].reason, reason) && !strcmp(r->reason[i].topic, topic)) {
            r->reason[i].n += n;
            return 0;
        }
    if (aac_grow((void **)&r->reason, &r->reason_cap, r->reason_cnt + 1, sizeof(*r->reason)) != 0)
        return -1;
    r->reason[r->reason_cnt++] = (reason_t){topic, reason, n};
    return 0;
}

int aac_rollup_consumed(aac_rollup_t *r, const char *topic, uint64_t messages, uint64_t inserted,
                        uint64_t duplicates)
{
    ingest_t *g = NULL;
    for (size_t i = 0; i < r->ingest_cnt && !g; i++)
        if (!strcmp(r->ingest[i].topic, topic))
            g = &r->ingest[i];
    if (!g) {
        if (aac_grow((void **)&r->ingest, &r->ingest_cap, r->ingest_cnt + 1, sizeof(*r->ingest)) !=
            0)
            return -1;
        g = &r->ingest[r->ingest_cnt++];
        *g = (ingest_t){.topic = topic};
    }
    g->messages += messages;
    g->inserted += inserted;
    g->duplicates += duplicates;
    return 0;
}

size_t aac_rollup_keys(const aac_rollup_t *r)
{
    return r->fine_cnt + r->coarse_cnt;
}

/* --- the parameters ------------------------------------------------------------ */

/* Appends n bytes; -1 when out of memory. */
static int put(aac_rollup_t *r, const char *p, size_t n)
{
    if (aac_grow((void **)&r->buf, &r->cap, r->len + n + 1, 1) != 0)
        return -1;
    memcpy(r->buf + r->len, p, n);
    r->len += n;
    r->buf[r->len] = '\0';
    return 0;
}

static int putf(aac_rollup_t *r, const char *fmt, int64_t v)
{
    char tmp[32];
    int n = snprintf(tmp, sizeof(tmp), fmt, v);
    return put(r, tmp, (size_t)n);
}

/* An element of a text[] literal: quoted, with " and \ escaped. */
static int put_elem(aac_rollup_t *r, const char *p, size_t n)
{
    if (put(r, "\"", 1) != 0)
        return -1;
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] != '"' && p[i] != '\\')
            continue;
        if (put(r, p + start, i - start) != 0 || put(r, "\\", 1) != 0)
            return -1;
        start = i;
    }
    return put(r, p + start, n - start) || put(r, "\"", 1);
}

/* Starts parameter i (its text begins after the previous one's NUL). */
static int begin_param(aac_rollup_t *r, int i)
{
    if (i > 0 && put(r, "", 0) != 0)
        return -1;
    if (i > 0)
        r->len++; /* past the previous one's NUL */
    r->param_off[i] = r->len;
    return put(r, "", 0);
}

typedef enum {
    F_HOUR,
    F_AGENT,
    F_TYPE,
    F_ACTION,
    F_PROJECT,
    F_EVENTS,
    F_TIMED,
    F_SUM,
    F_MIN,
    F_MAX,
    F_FIRST,
    F_LAST
} fine_field_t;

static int fine_elem(aac_rollup_t *r, const fine_t *f, fine_field_t field)
{
    const group_t *g = &r->groups->g[f->group];
    const char *text = r->groups->text;
    switch (field) {
    case F_HOUR:
        return putf(r, "%" PRId64, f->hour);
    case F_AGENT:
        return put_elem(r, text + g->agent, g->agent_len);
    case F_TYPE:
        return put(r, aac_action_type_str((aac_action_type_t)g->type),
                   strlen(aac_action_type_str((aac_action_type_t)g->type)));
    case F_ACTION:
        return put_elem(r, text + g->action, g->action_len);
    case F_PROJECT:
        return g->has_project ? put_elem(r, text + g->project, g->project_len) : put(r, "NULL", 4);
    case F_EVENTS:
        return putf(r, "%" PRId64, (int64_t)f->events);
    case F_TIMED:
        return putf(r, "%" PRId64, (int64_t)f->timed);
    case F_SUM:
        return putf(r, "%" PRId64, f->sum);
    case F_MIN:
        return f->min < 0 ? put(r, "NULL", 4) : putf(r, "%" PRId64, f->min);
    case F_MAX:
        return f->max < 0 ? put(r, "NULL", 4) : putf(r, "%" PRId64, f->max);
    case F_FIRST:
        return putf(r, "%" PRId64, f->first_us);
    case F_LAST:
        return putf(r, "%" PRId64, f->last_us);
    }
    return -1;
}

typedef enum { C_HOUR, C_ACTION, C_TIMED, C_SUM, C_MAX, C_BUCKETS } coarse_field_t;

static int coarse_elem(aac_rollup_t *r, const coarse_t *c, coarse_field_t field)
{
    const group_t *g = &r->groups->g[c->group];
    switch (field) {
    case C_HOUR:
        return putf(r, "%" PRId64, c->hour);
    case C_ACTION:
        return put_elem(r, r->groups->text + g->action, g->action_len);
    case C_TIMED:
        return putf(r, "%" PRId64, (int64_t)c->timed);
    case C_SUM:
        return putf(r, "%" PRId64, c->sum);
    case C_MAX:
        return putf(r, "%" PRId64, c->max);
    case C_BUCKETS:
        if (put(r, "{", 1) != 0)
            return -1;
        for (int b = 0; b < AAC_HIST_BUCKETS; b++)
            if ((b && put(r, ",", 1) != 0) || putf(r, "%" PRId64, c->bucket[b]) != 0)
                return -1;
        return put(r, "}", 1);
    }
    return -1;
}

/* A text[] literal of n strings: get(i). */
static int text_elems(aac_rollup_t *r, size_t n, const char *(*get)(const aac_rollup_t *, size_t))
{
    if (put(r, "{", 1) != 0)
        return -1;
    for (size_t k = 0; k < n; k++) {
        const char *v = get(r, k);
        if ((k && put(r, ",", 1) != 0) || put_elem(r, v, strlen(v)) != 0)
            return -1;
    }
    return put(r, "}", 1);
}

/* An int8[] literal of n numbers: get(i). */
static int int_elems(aac_rollup_t *r, size_t n, uint64_t (*get)(const aac_rollup_t *, size_t))
{
    if (put(r, "{", 1) != 0)
        return -1;
    for (size_t k = 0; k < n; k++)
        if ((k && put(r, ",", 1) != 0) || putf(r, "%" PRId64, (int64_t)get(r, k)) != 0)
            return -1;
    return put(r, "}", 1);
}

static const char *dl_topic(const aac_rollup_t *r, size_t k)
{
    return r->reason[k].topic;
}
static const char *dl_reason(const aac_rollup_t *r, size_t k)
{
    return r->reason[k].reason;
}
static uint64_t dl_n(const aac_rollup_t *r, size_t k)
{
    return r->reason[k].n;
}
static const char *in_topic(const aac_rollup_t *r, size_t k)
{
    return r->ingest[k].topic;
}
static uint64_t in_messages(const aac_rollup_t *r, size_t k)
{
    return r->ingest[k].messages;
}
static uint64_t in_inserted(const aac_rollup_t *r, size_t k)
{
    return r->ingest[k].inserted;
}
static uint64_t in_duplicates(const aac_rollup_t *r, size_t k)
{
    return r->ingest[k].duplicates;
}

/* The dead letters by topic and reason, then what the batch consumed by
 * topic: AAC_ROLLUP_COUNT_PARAMS params. */
static int counts_params(aac_rollup_t *r, int *i)
{
    size_t d = r->reason_cnt, g = r->ingest_cnt;
    return begin_param(r, (*i)++) || text_elems(r, d, dl_topic) || begin_param(r, (*i)++) ||
           text_elems(r, d, dl_reason) || begin_param(r, (*i)++) || int_elems(r, d, dl_n) ||
           begin_param(r, (*i)++) || text_elems(r, g, in_topic) || begin_param(r, (*i)++) ||
           int_elems(r, g, in_messages) || begin_param(r, (*i)++) || int_elems(r, g, in_inserted) ||
           begin_param(r, (*i)++) || int_elems(r, g, in_duplicates);
}

/* The rollups' rows, one array per column: 18 params. */
static int rollup_params(aac_rollup_t *r, int *i)
{
    for (int f = F_HOUR; f <= F_LAST; f++) {
        if (begin_param(r, (*i)++) != 0 || put(r, "{", 1) != 0)
            return -1;
        for (size_t k = 0; k < r->fine_cnt; k++)
            if ((k && put(r, ",", 1) != 0) || fine_elem(r, &r->fine[k], (fine_field_t)f) != 0)
                return -1;
        if (put(r, "}", 1) != 0)
            return -1;
    }
    for (int f = C_HOUR; f <= C_BUCKETS; f++) {
        if (begin_param(r, (*i)++) != 0 || put(r, "{", 1) != 0)
            return -1;
        for (size_t k = 0; k < r->coarse_cnt; k++)
            if ((k && put(r, ",", 1) != 0) || coarse_elem(r, &r->coarse[k], (coarse_field_t)f) != 0)
                return -1;
        if (put(r, "}", 1) != 0)
            return -1;
    }
    return 0;
}

int aac_rollup_params(aac_rollup_t *r, const char **params, bool analytics)
{
    int i = 0;
    r->len = 0;
    if (counts_params(r, &i) != 0 || (analytics && rollup_params(r, &i) != 0))
        return -1;
    /* every parameter's text is final: point at it (the buffer moved) */
    for (int k = 0; k < i; k++)
        params[k] = r->buf + r->param_off[k];
    return i;
}

/* --- the statement ----------------------------------------------------------------- */

typedef struct sqlbuf_s {
    char *p;
    size_t size, len;
    bool over;
} sqlbuf_t;

static void sql_add(sqlbuf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void sql_add(sqlbuf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b->p + b->len, b->len < b->size ? b->size - b->len : 0, fmt, ap);
    va_end(ap);
    if (n < 0 || b->len + (size_t)n >= b->size)
        b->over = true;
    else
        b->len += (size_t)n;
}

#define TS_US(x) "timestamptz 'epoch' + " x " * interval '1 microsecond'"

static void sql_fine(sqlbuf_t *b, int c)
{
    sql_add(
        b,
        "r_fine AS (INSERT INTO aac_rollup_hourly AS r (hour, agent_name, action_type, "
        "action_name, project_name, events, timed_events, duration_sum, duration_min, "
        "duration_max, first_event_at, last_event_at) "
        "SELECT to_timestamp(t.h), t.a, t.ty, t.ac, t.p, t.n, t.tn, t.s, t.mn, t.mx, " TS_US(
            "t.f") ", " TS_US("t.l") " FROM unnest($%d::int8[], $%d::text[], $%d::text[], "
                                     "$%d::text[], $%d::text[], $%d::int8[], $%d::int8[], "
                                     "$%d::int8[], $%d::int4[], $%d::int4[], $%d::int8[], "
                                     "$%d::int8[]) AS t(h, a, ty, ac, p, n, tn, s, mn, mx, f, l) "
                                     "ORDER BY 1, 2, 3, 4, 5 "
                                     "ON CONFLICT (hour, agent_name, action_type, action_name, "
                                     "project_name) DO UPDATE SET "
                                     "events = r.events + EXCLUDED.events, "
                                     "timed_events = r.timed_events + EXCLUDED.timed_events, "
                                     "duration_sum = r.duration_sum + EXCLUDED.duration_sum, "
                                     "duration_min = least(r.duration_min, EXCLUDED.duration_min), "
                                     "duration_max = greatest(r.duration_max, "
                                     "EXCLUDED.duration_max), "
                                     "first_event_at = least(r.first_event_at, "
                                     "EXCLUDED.first_event_at), "
                                     "last_event_at = greatest(r.last_event_at, "
                                     "EXCLUDED.last_event_at) RETURNING 1), ",
        c, c + 1, c + 2, c + 3, c + 4, c + 5, c + 6, c + 7, c + 8, c + 9, c + 10, c + 11);
}

static void sql_durations(sqlbuf_t *b, int c)
{
    sql_add(b, "r_dur AS (INSERT INTO aac_rollup_durations_hourly AS r (hour, action_name, "
               "timed_events, duration_sum, duration_max");
    for (int k = 0; k < AAC_HIST_BUCKETS; k++)
        sql_add(b, ", b%03d", k);
    sql_add(b, ") SELECT to_timestamp(t.h), t.a, t.n, t.s, t.mx");
    for (int k = 0; k < AAC_HIST_BUCKETS; k++)
        sql_add(b, ", ($%d::int4[])[t.i][%d]", c + 5, k + 1);
    sql_add(b,
            " FROM unnest($%d::int8[], $%d::text[], $%d::int8[], $%d::int8[], $%d::int4[]) "
            "WITH ORDINALITY AS t(h, a, n, s, mx, i) ORDER BY 1, 2 "
            "ON CONFLICT (hour, action_name) DO UPDATE SET "
            "timed_events = r.timed_events + EXCLUDED.timed_events, "
            "duration_sum = r.duration_sum + EXCLUDED.duration_sum, "
            "duration_max = greatest(r.duration_max, EXCLUDED.duration_max)",
            c, c + 1, c + 2, c + 3, c + 4);
    for (int k = 0; k < AAC_HIST_BUCKETS; k++)
        sql_add(b, ", b%03d = r.b%03d + EXCLUDED.b%03d", k, k, k);
    sql_add(b, " RETURNING 1), ");
}

static void sql_counts(sqlbuf_t *b, int c)
{
    sql_add(b,
            "r_dlq AS (INSERT INTO aac_dead_letters_hourly AS r (hour, topic, reason, "
            "dead_letters) SELECT date_trunc('hour', now(), 'UTC'), t.topic, t.reason, t.n "
            "FROM unnest($%d::text[], $%d::text[], $%d::int8[]) AS t(topic, reason, n) "
            "ORDER BY 2, 3 ON CONFLICT (hour, topic, reason) DO UPDATE SET "
            "dead_letters = r.dead_letters + EXCLUDED.dead_letters RETURNING 1), "
            "r_ing AS (INSERT INTO aac_ingest_hourly AS r (hour, topic, messages, "
            "rows_inserted, duplicates) SELECT date_trunc('hour', now(), 'UTC'), t.topic, t.m, "
            "t.n, t.d FROM unnest($%d::text[], $%d::int8[], $%d::int8[], $%d::int8[]) "
            "AS t(topic, m, n, d) WHERE t.m > 0 ORDER BY 2 "
            "ON CONFLICT (hour, topic) DO UPDATE SET messages = r.messages + EXCLUDED.messages, "
            "rows_inserted = r.rows_inserted + EXCLUDED.rows_inserted, "
            "duplicates = r.duplicates + EXCLUDED.duplicates RETURNING 1), ",
            c, c + 1, c + 2, c + 3, c + 4, c + 5, c + 6);
}

int aac_rollup_sql(char *buf, size_t size, int first, bool analytics)
{
    sqlbuf_t b = {buf, size, 0, false};
    if (size)
        buf[0] = '\0';
    sql_counts(&b, first);
    if (analytics) {
        sql_fine(&b, first + AAC_ROLLUP_COUNT_PARAMS);
        sql_durations(&b, first + AAC_ROLLUP_COUNT_PARAMS + 12);
    }
    return b.over ? -1 : (int)b.len;
}
