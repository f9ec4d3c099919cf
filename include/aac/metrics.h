/*
 * metrics: what the consume thread reports and the HTTP thread serves.
 *
 * Counters and histograms are atomics, updated without a lock on the hot
 * path. The health state (assignment, pauses, last error, readiness
 * reasons) is behind one mutex; readers copy it under the lock with
 * aac_metrics_snapshot() and render outside it. No I/O, logging or
 * allocation happens while the lock is held.
 */
#ifndef AAC_METRICS_H
#define AAC_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "aac/classify.h"
#include "aac/timeacct.h"

typedef enum {
    AAC_M_EVENTS_CONSUMED = 0, /* messages taken from Kafka into a batch */
    AAC_M_EVENTS_WRITTEN,      /* rows inserted */
    AAC_M_EVENTS_DUPLICATE,    /* rows skipped by ON CONFLICT DO NOTHING */
    AAC_M_EVENTS_INVALID,      /* messages that failed validation */
    AAC_M_UNKNOWN_FIELDS,      /* unknown top-level fields kept in `extra` */
    AAC_M_BATCHES,             /* batches committed */
    AAC_M_RETENTION_GAP,       /* offsets lost to retention before consumption */
    AAC_M_FENCED,              /* batches dropped because another instance took over */
    AAC_M_REBALANCES,
    AAC_M_KAFKA_COMMIT_ERRORS, /* failed asynchronous offset commits to Kafka */
    AAC_M_BYTES_CONSUMED,      /* bytes of message values taken with AAC_M_EVENTS_CONSUMED */
    AAC_M_DLQ_DELIVERY_FAILED, /* dead letters whose delivery report was an error (dlq.h) */
    AAC_M_FETCH_WAKES,         /* wakes of librdkafka's fetchers (fetchwake.h) */
    AAC_M__CNT
} aac_counter_t;

#define AAC_METRICS_MAX_PARTITIONS 256 /* per-partition series beyond are not kept */
#define AAC_METRICS_BUCKETS        16

typedef struct aac_hist_snapshot_s {
    uint64_t bucket[AAC_METRICS_BUCKETS]; /* cumulative counts, le bounds below */
    uint64_t count;
    double sum;
} aac_hist_snapshot_t;

#define AAC_METRICS_TOPIC_MAX 250 /* Kafka's longest topic name, and the NUL */

typedef struct aac_partition_state_s {
    char topic[AAC_METRICS_TOPIC_MAX];
    int32_t partition;
    bool assigned;
    bool paused;
    int64_t lag;              /* -1 unknown */
    int64_t committed_offset; /* next offset stored in PostgreSQL, -1 unknown */
} aac_partition_state_t;

typedef struct aac_metrics_snapshot_s {
    uint64_t counter[AAC_M__CNT];
    uint64_t dead_letters[AAC_REASON__CNT];
    uint64_t retries[AAC_CLASS__CNT];
    aac_hist_snapshot_t batch_size, batch_seconds, delay_seconds;
    aac_hist_snapshot_t rollup_rows, rollup_seconds; /* per committed batch (rollup.h) */
    aac_timeacct_snapshot_t threads; /* the threads' time by activity (timeacct.h) */
    /* health, unix seconds (0: never) */
    double started_at;
    /* the last time the service was seen alive: the consume loop turning,
     * and no write stuck since (aac_metrics_alive) */
    double alive_at;
    double last_batch_at;   /* a batch last closed and handed to the writers */
    double last_commit_at;  /* a batch last committed */
    long long default_rows; /* rows in agent_actions_default (upkeep.h), -1: not counted yet */
    bool joined;        /* the group completed a join for this member (it may hold no partition) */
    bool broker_up;     /* not all brokers down */
    bool pg_up;         /* the last PostgreSQL contact succeeded */
    bool paused_outage; /* consumption paused by an outage */
    char last_error_class[16];
    char last_error_reason[64];
    char last_error_message[256];
    size_t partition_cnt;
    aac_partition_state_t partitions[AAC_METRICS_MAX_PARTITIONS];
} aac_metrics_snapshot_t;

typedef struct aac_metrics_s aac_metrics_t;

aac_metrics_t *aac_metrics_new(void);
void aac_metrics_destroy(aac_metrics_t *m); /* NULL-safe */

/* The time account of the service's threads (timeacct.h), owned by m: the
 * consume thread and each writer take their own account from it
 * (aac_timeacct_thread, aac_timeacct_writer) and switch it themselves;
 * snapshots read it. */
aac_timeacct_t *aac_metrics_timeacct(aac_metrics_t *m);

/* Upper bounds of the histograms' buckets (the last is +Inf). */
extern const double aac_metrics_batch_size_bounds[AAC_METRICS_BUCKETS];
extern const double aac_metrics_seconds_bounds[AAC_METRICS_BUCKETS];

/* Lock-free updates, any thread. */
void aac_metrics_add(aac_metrics_t *m, aac_counter_t c, uint64_t n);
uint64_t aac_metrics_get(aac_metrics_t *m, aac_counter_t c); /* one counter, without a snapshot */
void aac_metrics_dead_letter(aac_metrics_t *m, aac_reason_t reason);
void aac_metrics_retry(aac_metrics_t *m, aac_class_t cls);
void aac_metrics_observe_batch(aac_metrics_t *m, size_t size, double write_seconds);
void aac_metrics_observe_delay(aac_metrics_t *m, double seconds);
/* A committed batch's rollup rows upserted, and the time its rollup build
 * and statement (with the offsets' fence) took. */
void aac_metrics_observe_rollup(aac_metrics_t *m, size_t rows, double seconds);
/* The service was seen alive at unix time `at`: the consume loop turned,
 * and `at` is that moment less how long the oldest write in progress has
 * taken (a writer stuck in one call holds the stamp back). /health,
 * aac_up and aac_last_alive_timestamp_seconds read it. */
void aac_metrics_alive(aac_metrics_t *m, double at);
/* Rows counted in agent_actions_default (upkeep.h). */
void aac_metrics_set_default_rows(aac_metrics_t *m, long long rows);

/* Health state, under the mutex. */
/* joined: the group has completed a join for this member, whether or not
 * it was given partitions (a member beyond the partition count holds
 * none, and is ready and idle); the partitions are set apart, by
 * aac_metrics_set_partitions. */
void aac_metrics_set_joined(aac_metrics_t *m, bool joined);
void aac_metrics_set_broker_up(aac_metrics_t *m, bool up);
void aac_metrics_set_pg_up(aac_metrics_t *m, bool up);
void aac_metrics_set_paused_outage(aac_metrics_t *m, bool paused);
/* A batch was closed and handed to the writers at unix time `now`
 * (/health's last_batch_at). */
void aac_metrics_batch_closed(aac_metrics_t *m, double now);
/* A batch was committed at unix time `now` (last_commit_at,
 * aac_last_commit_timestamp_seconds). */
void aac_metrics_committed(aac_metrics_t *m, double now);
void aac_metrics_set_error(aac_metrics_t *m, aac_class_t cls, const char *reason,
                           const char *message);
/* Replaces the partition table (assignment, pauses, offsets); p may be
 * NULL when cnt is 0. */
void aac_metrics_set_partitions(aac_metrics_t *m, const aac_partition_state_t *p, size_t cnt);
/* Sets the lag of one partition (from librdkafka's statistics). */
void aac_metrics_set_lag(aac_metrics_t *m, const char *topic, int32_t partition, int64_t lag);

/* A consistent copy of everything. */
void aac_metrics_snapshot(aac_metrics_t *m, aac_metrics_snapshot_t *out);

/* The service's health as /health, /ready and the aac_up/aac_ready gauges
 * report it: the one place that decides liveness and readiness. */
#define AAC_HEALTH_MAX_REASONS 8
typedef struct aac_health_s {
    bool alive;        /* seen alive within liveness_timeout_ms (aac_metrics_alive) */
    bool ready;        /* no reason below */
    bool idle;         /* joined, and the group gave this member no partition */
    size_t partitions; /* partitions assigned to this member */
    /* why not ready, stable names (documented in docs/operations.md):
     * not_joined, broker_unreachable, postgres_unavailable,
     * paused_by_outage, consume_loop_stalled */
    const char *reasons[AAC_HEALTH_MAX_REASONS];
    size_t reason_cnt;
} aac_health_t;

/* Derives the health from a snapshot taken at unix time now. Before the
 * first stamp of aac_metrics_alive, the time since start counts. A member
 * that joined with no partition is ready (and idle): it is where the
 * group wants it. */
void aac_metrics_health(const aac_metrics_snapshot_t *s, double now, int64_t liveness_timeout_ms,
                        aac_health_t *out);

#endif
