/*
 * upkeep: see include/aac/upkeep.h.
 */
#include "aac/upkeep.h"

#include <errno.h>
#include <stdint.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "aac/clock.h"
#include "aac/log.h"
#include "aac/partitions.h"
#include "aac/rollups.h"
#include "aac/signals.h"

struct aac_upkeep_s {
    const aac_config_t *cfg;
    aac_metrics_t *metrics;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop;                    /* under mu */
    bool done;                    /* the thread is through, under mu */
    aac_pgconn_interrupt_t *intr; /* of the statement in progress */
};

static bool stopping(aac_upkeep_t *u)
{
    pthread_mutex_lock(&u->mu);
    bool stop = u->stop;
    pthread_mutex_unlock(&u->mu);
    return stop;
}

/* Sleeps until monotonic ms `until` or a stop; returns true on a stop. */
static bool sleep_until(aac_upkeep_t *u, int64_t until)
{
    pthread_mutex_lock(&u->mu);
    while (!u->stop) {
        int64_t left = until - aac_mono_ms();
        if (left <= 0)
            break;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += left / 1000;
        ts.tv_nsec += (left % 1000) * 1000000L;
        ts.tv_sec += ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&u->cv, &u->mu, &ts);
    }
    bool stop = u->stop;
    pthread_mutex_unlock(&u->mu);
    return stop;
}

/* Returns when to ensure next. */
static int64_t ensure(aac_upkeep_t *u)
{
    char err[512];
    int n =
        aac_partitions_ensure(u->cfg, u->cfg->partitions.months_ahead, u->intr, err, sizeof(err));
    if (n < 0 && stopping(u))
        return INT64_MAX;
    if (n < 0) {
        /* the default partition still takes every row: not fatal */
        aac_warn("could not create partitions ahead, retrying later", AAC_KV_STR("error", err),
                 AAC_KV_INT("retry_ms", AAC_UPKEEP_RETRY_MS));
        return aac_mono_ms() + AAC_UPKEEP_RETRY_MS;
    }
    if (n > 0)
        aac_info("partitions created ahead", AAC_KV_INT("count", n));
    /* the rollups' own retention, much longer than the raw rows' */
    if (u->cfg->rollups.retention_months > 0) {
        long long pruned =
            aac_rollups_prune(u->cfg, u->cfg->rollups.retention_months, u->intr, err, sizeof(err));
        if (pruned < 0 && !stopping(u))
            aac_warn("could not prune the rollups, retrying later", AAC_KV_STR("error", err));
        else if (pruned > 0)
            aac_info("rollups pruned", AAC_KV_INT("rows", pruned),
                     AAC_KV_INT("retention_months", u->cfg->rollups.retention_months));
    }
    return aac_mono_ms() + (int64_t)u->cfg->partitions.upkeep_interval_s * 1000;
}

static void count_default(aac_upkeep_t *u)
{
    char err[512];
    long long n =
        aac_partitions_default_rows(u->cfg, AAC_UPKEEP_COUNT_CAP, u->intr, err, sizeof(err));
    if (n < 0) {
        aac_debug("could not count the default partition's rows", AAC_KV_STR("error", err));
        return;
    }
    aac_metrics_set_default_rows(u->metrics, n);
}

static void *upkeep_main(void *arg)
{
    aac_upkeep_t *u = arg;
    int64_t now = aac_mono_ms();
    int64_t ensure_at = now + (int64_t)u->cfg->partitions.upkeep_interval_s * 1000;
    int64_t count_at = now;
    int64_t every = (int64_t)u->cfg->partitions.upkeep_interval_s * 1000;
    int64_t count_every = every < AAC_UPKEEP_COUNT_EVERY_MS ? every : AAC_UPKEEP_COUNT_EVERY_MS;
    for (;;) {
        if (sleep_until(u, ensure_at < count_at ? ensure_at : count_at))
            break;
        now = aac_mono_ms();
        if (now >= ensure_at)
            ensure_at = ensure(u);
        if (now >= count_at) {
            count_default(u);
            count_at = aac_mono_ms() + count_every;
        }
    }
    pthread_mutex_lock(&u->mu);
    u->done = true;
    pthread_cond_broadcast(&u->cv);
    pthread_mutex_unlock(&u->mu);
    return NULL;
}

aac_upkeep_t *aac_upkeep_start(const aac_config_t *cfg, aac_metrics_t *m)
{
    aac_upkeep_t *u = calloc(1, sizeof(*u));
    if (!u)
        return NULL;
    u->cfg = cfg;
    u->metrics = m;
    if (!(u->intr = aac_pgconn_interrupt_new())) {
        free(u);
        return NULL;
    }
    pthread_mutex_init(&u->mu, NULL);
    pthread_cond_init(&u->cv, NULL);
    if (aac_signals_thread_create(&u->thread, upkeep_main, u) != 0) {
        pthread_cond_destroy(&u->cv);
        pthread_mutex_destroy(&u->mu);
        aac_pgconn_interrupt_destroy(u->intr);
        free(u);
        return NULL;
    }
    return u;
}

void aac_upkeep_stop(aac_upkeep_t *u)
{
    if (!u)
        return;
    pthread_mutex_lock(&u->mu);
    u->stop = true;
    pthread_cond_broadcast(&u->cv);
    /* a statement waiting for a lock (for ever at lock_timeout 0) is
     * cancelled; a cancel that came before the statement was sent is
     * lost, so it is sent again until the thread is through */
    while (!u->done) {
        pthread_mutex_unlock(&u->mu);
        aac_pgconn_interrupt_fire(u->intr);
        pthread_mutex_lock(&u->mu);
        if (!u->done) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 100 * 1000000L;
            ts.tv_sec += ts.tv_nsec / 1000000000L;
            ts.tv_nsec %= 1000000000L;
            pthread_cond_timedwait(&u->cv, &u->mu, &ts);
        }
    }
    pthread_mutex_unlock(&u->mu);
    pthread_join(u->thread, NULL);
    pthread_cond_destroy(&u->cv);
    pthread_mutex_destroy(&u->mu);
    aac_pgconn_interrupt_destroy(u->intr);
    free(u);
}
