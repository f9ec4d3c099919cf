/*
 * metrics: atomics for counters and histograms, one mutex for the health
 * state. A snapshot copies the atomics first and then the health state
 * under the lock; counters only grow, so a snapshot is internally
 * consistent (e.g. a histogram's buckets never exceed its count).
 */
#include "aac/metrics.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aac/clock.h"

typedef struct hist_s {
    _Atomic uint64_t bucket[AAC_METRICS_BUCKETS]; /* not cumulative */
    _Atomic uint64_t count;
    _Atomic uint64_t sum_micro; /* sum in millionths, to stay an integer atomic */
} hist_t;

struct aac_metrics_s {
    _Atomic uint64_t counter[AAC_M__CNT];
    _Atomic uint64_t dead_letters[AAC_REASON__CNT];
    _Atomic uint64_t retries[AAC_CLASS__CNT];
    hist_t batch_size, batch_seconds, delay_seconds, rollup_rows, rollup_seconds;
    _Atomic double alive_at;
    _Atomic long long default_rows; /* -1: not counted yet */
    aac_timeacct_t *ta;             /* lock-free too */

    pthread_mutex_t lock;          /* guards everything below */
    aac_metrics_snapshot_t health; /* only the health fields are used */
};

const double aac_metrics_batch_size_bounds[AAC_METRICS_BUCKETS] = {
    1, 10, 50, 100, 250, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000, 500000, 1e6, 1e300};
const double aac_metrics_seconds_bounds[AAC_METRICS_BUCKETS] = {
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1e300};

aac_metrics_t *aac_metrics_new(void)
{
    aac_metrics_t *m = calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    if (!(m->ta = aac_timeacct_new(NULL, NULL))) {
        free(m);
        return NULL;
    }
    pthread_mutex_init(&m->lock, NULL);
    m->health.started_at = aac_now();
    m->health.broker_up = true;
    atomic_init(&m->default_rows, -1);
    return m;
}

void aac_metrics_destroy(aac_metrics_t *m)
{
    if (!m)
        return;
    pthread_mutex_destroy(&m->lock);
    aac_timeacct_destroy(m->ta);
    free(m);
}

aac_timeacct_t *aac_metrics_timeacct(aac_metrics_t *m)
{
    return m->ta;
}

void aac_metrics_add(aac_metrics_t *m, aac_counter_t c, uint64_t n)
{
    atomic_fetch_add_explicit(&m->counter[c], n, memory_order_relaxed);
}

uint64_t aac_metrics_get(aac_metrics_t *m, aac_counter_t c)
{
    return atomic_load_explicit(&m->counter[c], memory_order_relaxed);
}

void aac_metrics_dead_letter(aac_metrics_t *m, aac_reason_t reason)
{
    if ((unsigned)reason < AAC_REASON__CNT)
        atomic_fetch_add_explicit(&m->dead_letters[reason], 1, memory_order_relaxed);
}

void aac_metrics_retry(aac_metrics_t *m, aac_class_t cls)
{
    if ((unsigned)cls < AAC_CLASS__CNT)
        atomic_fetch_add_explicit(&m->retries[cls], 1, memory_order_relaxed);
}

static void observe(hist_t *h, const double *bounds, double v)
{
    int i = 0;
    while (i < AAC_METRICS_BUCKETS - 1 && v > bounds[i])
        i++;
    atomic_fetch_add_explicit(&h->bucket[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum_micro, (uint64_t)(v > 0 ? v * 1e6 : 0), memory_order_relaxed);
    /* count last: a reader that sees it sees the bucket too (release) */
    atomic_fetch_add_explicit(&h->count, 1, memory_order_release);
}

void aac_metrics_observe_batch(aac_metrics_t *m, size_t size, double write_seconds)
{
    observe(&m->batch_size, aac_metrics_batch_size_bounds, (double)size);
    observe(&m->batch_seconds, aac_metrics_seconds_bounds, write_seconds);
}

void aac_metrics_observe_rollup(aac_metrics_t *m, size_t rows, double seconds)
{
    observe(&m->rollup_rows, aac_metrics_batch_size_bounds, (double)rows);
    observe(&m->rollup_seconds, aac_metrics_seconds_bounds, seconds);
}

void aac_metrics_observe_delay(aac_metrics_t *m, double seconds)
{
    observe(&m->delay_seconds, aac_metrics_seconds_bounds, seconds);
}

void aac_metrics_set_default_rows(aac_metrics_t *m, long long rows)
{
    atomic_store_explicit(&m->default_rows, rows, memory_order_relaxed);
}

void aac_metrics_alive(aac_metrics_t *m, double at)
{
    atomic_store_explicit(&m->alive_at, at, memory_order_relaxed);
}

#define LOCKED(m, stmt)                                                                            \
    do {                                                                                           \
        pthread_mutex_lock(&(m)->lock);                                                            \
        stmt;                                                                                      \
        pthread_mutex_unlock(&(m)->lock);                                                          \
    } while (0)

void aac_metrics_set_joined(aac_metrics_t *m, bool joined)
{
    LOCKED(m, m->health.joined = joined);
}

void aac_metrics_set_broker_up(aac_metrics_t *m, bool up)
{
    LOCKED(m, m->health.broker_up = up);
}

void aac_metrics_set_pg_up(aac_metrics_t *m, bool up)
{
    LOCKED(m, m->health.pg_up = up);
}

void aac_metrics_set_paused_outage(aac_metrics_t *m, bool paused)
{
    LOCKED(m, m->health.paused_outage = paused);
}

void aac_metrics_batch_closed(aac_metrics_t *m, double now)
{
    LOCKED(m, m->health.last_batch_at = now);
}

void aac_metrics_committed(aac_metrics_t *m, double now)
{
    LOCKED(m, m->health.last_commit_at = now);
}

void aac_metrics_set_error(aac_metrics_t *m, aac_class_t cls, const char *reason,
                           const char *message)
{
    char r[64], msg[256];
    /* formatted before taking the lock */
    snprintf(r, sizeof(r), "%s", reason ? reason : "");
    snprintf(msg, sizeof(msg), "%s", message ? message : "");
    pthread_mutex_lock(&m->lock);
    snprintf(m->health.last_error_class, sizeof(m->health.last_error_class), "%s",
             aac_class_str(cls));
    memcpy(m->health.last_error_reason, r, sizeof(r));
    memcpy(m->health.last_error_message, msg, sizeof(msg));
    pthread_mutex_unlock(&m->lock);
}

void aac_metrics_set_partitions(aac_metrics_t *m, const aac_partition_state_t *p, size_t cnt)
{
    if (cnt > AAC_METRICS_MAX_PARTITIONS)
        cnt = AAC_METRICS_MAX_PARTITIONS;
    pthread_mutex_lock(&m->lock);
    /* keep the lag known so far for partitions still listed */
    aac_partition_state_t old[AAC_METRICS_MAX_PARTITIONS];
    size_t old_cnt = m->health.partition_cnt;
    memcpy(old, m->health.partitions, old_cnt * sizeof(old[0]));
    if (cnt) /* p may be NULL for none */
        memcpy(m->health.partitions, p, cnt * sizeof(*p));
    m->health.partition_cnt = cnt;
    for (size_t i = 0; i < cnt; i++)
        for (size_t j = 0; j < old_cnt; j++)
            if (old[j].partition == p[i].partition && p[i].lag < 0 &&
                !strcmp(old[j].topic, p[i].topic))
                m->health.partitions[i].lag = old[j].lag;
    pthread_mutex_unlock(&m->lock);
}

void aac_metrics_set_lag(aac_metrics_t *m, const char *topic, int32_t partition, int64_t lag)
{
    pthread_mutex_lock(&m->lock);
    for (size_t i = 0; i < m->health.partition_cnt; i++)
        if (m->health.partitions[i].partition == partition &&
            !strcmp(m->health.partitions[i].topic, topic))
            m->health.partitions[i].lag = lag;
    pthread_mutex_unlock(&m->lock);
}

static void snap_hist(hist_t *h, aac_hist_snapshot_t *out)
{
    uint64_t cum = 0;
    out->count = atomic_load_explicit(&h->count, memory_order_acquire);
    for (int i = 0; i < AAC_METRICS_BUCKETS; i++) {
        cum += atomic_load_explicit(&h->bucket[i], memory_order_relaxed);
        out->bucket[i] = cum;
    }
    /* buckets read after count may include later observations; clamp so
     * the exposition stays consistent (+Inf bucket == count) */
    for (int i = 0; i < AAC_METRICS_BUCKETS; i++)
        if (out->bucket[i] > out->count)
            out->bucket[i] = out->count;
    out->bucket[AAC_METRICS_BUCKETS - 1] = out->count;
    out->sum = (double)atomic_load_explicit(&h->sum_micro, memory_order_relaxed) / 1e6;
}

void aac_metrics_snapshot(aac_metrics_t *m, aac_metrics_snapshot_t *out)
{
    pthread_mutex_lock(&m->lock);
    *out = m->health;
    pthread_mutex_unlock(&m->lock);
    for (int i = 0; i < AAC_M__CNT; i++)
        out->counter[i] = atomic_load_explicit(&m->counter[i], memory_order_relaxed);
    for (int i = 0; i < AAC_REASON__CNT; i++)
        out->dead_letters[i] = atomic_load_explicit(&m->dead_letters[i], memory_order_relaxed);
    for (int i = 0; i < AAC_CLASS__CNT; i++)
        out->retries[i] = atomic_load_explicit(&m->retries[i], memory_order_relaxed);
    snap_hist(&m->batch_size, &out->batch_size);
    snap_hist(&m->batch_seconds, &out->batch_seconds);
    snap_hist(&m->delay_seconds, &out->delay_seconds);
    snap_hist(&m->rollup_rows, &out->rollup_rows);
    snap_hist(&m->rollup_seconds, &out->rollup_seconds);
    out->alive_at = atomic_load_explicit(&m->alive_at, memory_order_relaxed);
    out->default_rows = atomic_load_explicit(&m->default_rows, memory_order_relaxed);
    aac_timeacct_read(m->ta, &out->threads);
}

void aac_metrics_health(const aac_metrics_snapshot_t *s, double now, int64_t liveness_timeout_ms,
                        aac_health_t *out)
{
    memset(out, 0, sizeof(*out));
    double last = s->alive_at > 0 ? s->alive_at : s->started_at;
    out->alive = (now - last) * 1000.0 <= (double)liveness_timeout_ms;
    for (size_t i = 0; i < s->partition_cnt; i++)
        out->partitions += s->partitions[i].assigned;
    out->idle = s->joined && !out->partitions;
    if (!s->joined)
        out->reasons[out->reason_cnt++] = "not_joined";
    if (!s->broker_up)
        out->reasons[out->reason_cnt++] = "broker_unreachable";
    if (!s->pg_up)
        out->reasons[out->reason_cnt++] = "postgres_unavailable";
    if (s->paused_outage)
        out->reasons[out->reason_cnt++] = "paused_by_outage";
    if (!out->alive)
        out->reasons[out->reason_cnt++] = "consume_loop_stalled";
    out->ready = out->reason_cnt == 0;
}
