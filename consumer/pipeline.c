/*
 * pipeline: the consume loop (see pipeline.h).
 *
 * The consume thread polls Kafka, parses and validates each message into
 * the open batch, and closes the batch when it is full or when a writer is
 * free (flow.h: group commit). A closed batch goes to the writers
 * (writers.h), which write each in one transaction with its partitions'
 * offsets and commit them in the order they were closed. This file holds
 * what the consume thread does around that:
 * - messages: which to take, skip or fetch again (positions.h owns the
 *   rule that a partition only moves forward);
 * - settling: what committed moves the stored offsets and is forgotten;
 *   what did not is decided on by failpolicy.h and carried out here
 *   (write again, pause and wait, drop and re-read, dead-letter, stop);
 * - rebalances: what holds a partition being revoked is written or
 *   dropped before it goes; an assigned partition starts at the offset
 *   PostgreSQL stores;
 * - the lifecycle: start, the loop, the drain at shutdown.
 *
 * librdkafka calls the rebalance callback from rd_kafka_consumer_poll(),
 * on this thread. Nothing is ever committed that was not written.
 */
#include "aac/pipeline.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "aac/batch.h"
#include "aac/classify.h"
#include "aac/clock.h"
#include "aac/dlq.h"
#include "aac/event.h"
#include "aac/failpolicy.h"
#include "aac/fetchwake.h"
#include "aac/flow.h"
#include "aac/kafkaconf.h"
#include "aac/kstats.h"
#include "aac/log.h"
#include "aac/notify.h"
#include "aac/partitions.h"
#include "aac/pgsink.h"
#include "aac/positions.h"
#include "aac/retry.h"
#include "aac/signals.h"
#include "aac/upkeep.h"
#include "aac/writers.h"

#define OUTAGE_MAX_DELAY_MS 5000 /* backoff cap while a dependency is down */
#define PING_IDLE_MS        5000 /* check PostgreSQL when nothing was written for this long */
#define REVOKE_WAIT_MS      50   /* a revocation's wait for the writers, per turn */
#define DRAIN_WAIT_MS       20   /* the shutdown's wait for the writers, per turn */

/* What to do when a Kafka client cannot be created once the configuration
 * has passed its check (kafkaconf.h): out of threads or memory, or a TLS
 * file unreadable at that moment. */
#define KAFKA_CLIENT_ACTION                                                                        \
    "check the Kafka TLS and SASL files named in the configuration and the process's limits "      \
    "(threads, memory, open files), then restart"

typedef struct pipeline_s {
    const aac_config_t *cfg;
    aac_metrics_t *metrics;
    rd_kafka_t *rk;
    aac_dlq_t *dlq;
    aac_pgsink_t *sink; /* the consume thread's: offsets, pings */
    aac_event_parser_t *parser;
    aac_positions_t pos;
    aac_writers_t *ws;
    aac_upkeep_t *upkeep;
    aac_timeacct_thread_t *acct; /* the consume thread's time (timeacct.h) */

    aac_batch_t *open;  /* being built */
    int64_t open_since; /* monotonic ms of its first event */
    aac_batch_t **spare;
    int spare_cnt, spare_max;
    int writers, max_in_flight;
    size_t flight_memory; /* aac_batch_memory of the batches in flight */
    size_t max_held;      /* the batches' share of memory.max_mb */

    aac_retry_state_t retry;    /* writes */
    aac_retry_state_t offsets;  /* reads of stored offsets and seeks tried again */
    bool paused;                /* partitions paused by this loop */
    int fatal;                  /* set: stop with AAC_EXIT_FATAL */
    int64_t last_pg_ok;         /* monotonic ms of the last PostgreSQL success */
    bool ever_assigned;         /* the group has completed a join for this member */
    bool broker_up;             /* what the metrics were last told */
    rd_kafka_topic_t *last_rkt; /* the last message's topic handle and partition, */
    int32_t last_partition;     /* and their key in pos (-1: none) */
    int32_t last_key;
    bool writers_stopped;  /* nothing is written any more */
    int64_t deadline;      /* monotonic ms the shutdown must end by, 0: running */
    aac_fetchwake_t *wake; /* the consumer's fetchers, woken when its queue runs low */
} pipeline_t;

/* A consumer left to the process's exit (see close_consumer): kept
 * reachable so that leak checkers do not report it. */
static rd_kafka_t *abandoned_rk;

/* --- partitions ---------------------------------------------------------- */

/* Partitions are named by their key in pl->pos: a (topic, partition). */
#define TOPIC(pl, k)     aac_positions_topic(&(pl)->pos, k)
#define PARTITION(pl, k) aac_positions_partition(&(pl)->pos, k)

static rd_kafka_topic_partition_t *list_add(rd_kafka_topic_partition_list_t *l, pipeline_t *pl,
                                            int32_t k)
{
    return rd_kafka_topic_partition_list_add(l, TOPIC(pl, k), PARTITION(pl, k));
}

/* The key of a batch's part (made when the batch closed, else looked up). */
static int32_t part_key(const pipeline_t *pl, const aac_batch_part_t *bp)
{
    return bp->key >= 0 ? bp->key : aac_positions_lookup(&pl->pos, bp->topic, bp->partition);
}

static void publish_partitions(pipeline_t *pl)
{
    aac_partition_state_t st[AAC_METRICS_MAX_PARTITIONS];
    size_t n = 0;
    for (int32_t p = 0; p < pl->pos.cap && n < AAC_METRICS_MAX_PARTITIONS; p++) {
        if (!aac_positions_assigned(&pl->pos, p))
            continue;
        aac_partition_state_t *e = &st[n++];
        *e = (aac_partition_state_t){.partition = PARTITION(pl, p),
                                     .assigned = true,
                                     .paused = pl->paused || !aac_positions_ready(&pl->pos, p),
                                     .lag = -1,
                                     .committed_offset = pl->pos.p[p].stored};
        snprintf(e->topic, sizeof(e->topic), "%s", TOPIC(pl, p));
    }
    aac_metrics_set_partitions(pl->metrics, st, n);
    /* a member that joined with no partition (more instances than
     * partitions) is joined, idle and ready */
    aac_metrics_set_joined(pl->metrics, pl->ever_assigned);
}

/* The assigned partitions, those ready only when `ready`. */
static rd_kafka_topic_partition_list_t *assigned_list(pipeline_t *pl, bool ready)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(8);
    for (int32_t p = 0; p < pl->pos.cap; p++)
        if (ready ? aac_positions_ready(&pl->pos, p) : aac_positions_assigned(&pl->pos, p))
            list_add(l, pl, p);
    return l;
}

static void set_paused(pipeline_t *pl, bool paused)
{
    if (pl->paused == paused)
        return;
    rd_kafka_topic_partition_list_t *l = assigned_list(pl, false);
    if (paused)
        rd_kafka_pause_partitions(pl->rk, l);
    else
        rd_kafka_resume_partitions(pl->rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    pl->paused = paused;
    publish_partitions(pl);
}

/* Pauses or resumes one partition. */
static void pause_one(pipeline_t *pl, int32_t p, bool pause)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    list_add(l, pl, p);
    if (pause)
        rd_kafka_pause_partitions(pl->rk, l);
    else
        rd_kafka_resume_partitions(pl->rk, l);
    rd_kafka_topic_partition_list_destroy(l);
}

/* Schedules the next read of stored offsets or seek tried again: after
 * the outage backoff's next delay, but never sooner than 100 ms, and never
 * later than one already scheduled. */
static void offsets_retry_later(pipeline_t *pl)
{
    int64_t now = aac_mono_ms(), was = pl->offsets.retry_at;
    aac_retry_failed(&pl->offsets, AAC_RETRY_OUTAGE, 0, now);
    if (pl->offsets.retry_at < now + 100)
        pl->offsets.retry_at = now + 100;
    if (was && was < pl->offsets.retry_at)
        pl->offsets.retry_at = was;
}

/* Seeks partition p to `offset`, synchronously: librdkafka then drops
 * the messages it had already fetched for the partition. A seek can fail
 * for one partition while the call succeeds (librdkafka answers __STATE
 * while the partition's fetcher has not started, e.g. while Kafka's
 * committed offset is still being fetched): then the partition is paused,
 * keeps its position, and the seek is tried again later to the same
 * offset (positions.h). Returns true when the seek took effect. */
static bool seek_to(pipeline_t *pl, int32_t p, int64_t offset)
{
    char err[256] = "";
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    list_add(l, pl, p)->offset = offset;
    rd_kafka_error_t *e = rd_kafka_seek_partitions(pl->rk, l, 5000);
    if (e) {
        snprintf(err, sizeof(err), "%s", rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
    } else if (l->elems[0].err) {
        snprintf(err, sizeof(err), "%s", rd_kafka_err2str(l->elems[0].err));
    }
    rd_kafka_topic_partition_list_destroy(l);
    if (!err[0]) {
        aac_positions_sought(&pl->pos, p);
        return true;
    }
    aac_warn("could not seek, partition held back", AAC_KV_STR("topic", TOPIC(pl, p)),
             AAC_KV_INT("partition", PARTITION(pl, p)), AAC_KV_INT("offset", offset),
             AAC_KV_STR("error", err));
    aac_positions_seek_failed(&pl->pos, p, offset);
    pause_one(pl, p, true);
    offsets_retry_later(pl);
    publish_partitions(pl);
    return false;
}

static void go_fatal(pipeline_t *pl, const char *what, const char *hint)
{
    aac_error("fatal error, stopping", AAC_KV_STR("error", what), AAC_KV_STR("action", hint));
    aac_metrics_set_error(pl->metrics, AAC_CLASS_FATAL, "fatal", what);
    pl->fatal = 1;
}

/* Stops on a fatal error of the dead-letter producer: every later dead
 * letter would fail, and a batch holding one would be retried forever. */
static bool dlq_fatal(pipeline_t *pl)
{
    char what[700];
    const char *hint;
    if (!aac_dlq_fatal(pl->dlq, what, sizeof(what), &hint))
        return false;
    go_fatal(pl, what, hint);
    return true;
}

/* --- batches ------------------------------------------------------------- */

static aac_copy_format_t copy_format(const aac_config_t *cfg)
{
    return cfg->postgres.binary_copy ? AAC_COPY_BINARY : AAC_COPY_TEXT;
}

static aac_batch_t *batch_take(pipeline_t *pl)
{
    if (pl->spare_cnt)
        return pl->spare[--pl->spare_cnt];
    return aac_batch_new(copy_format(pl->cfg));
}

/* Empties b and keeps it for reuse (the buffers stay allocated). */
static void batch_give(pipeline_t *pl, aac_batch_t *b)
{
    aac_batch_reset(b);
    if (pl->spare_cnt < pl->spare_max)
        pl->spare[pl->spare_cnt++] = b;
    else
        aac_batch_destroy(b);
}

/* The open batch as the flow policy sees it (flow.h). */
static aac_flow_t flow_of(const pipeline_t *pl, int64_t now, int in_flight, int writing,
                          bool drained)
{
    const aac_config_t *cfg = pl->cfg;
    return (aac_flow_t){
        .events = aac_batch_count(pl->open),
        .bytes = aac_batch_bytes(pl->open),
        .max_events = aac_retry_batch_max(&pl->retry, (size_t)cfg->batch.max_events),
        .max_bytes = (size_t)cfg->batch.max_bytes < pl->max_held / (size_t)(pl->max_in_flight + 1)
                         ? (size_t)cfg->batch.max_bytes
                         : pl->max_held / (size_t)(pl->max_in_flight + 1),
        .held = aac_batch_memory(pl->open) + pl->flight_memory,
        .max_held = pl->max_held,
        .now = now,
        .open_since = pl->open_since,
        .linger_ms = cfg->batch.linger_ms,
        .writers = pl->writers,
        .writing = writing,
        .in_flight = in_flight,
        .max_in_flight = pl->max_in_flight,
        .drained = drained,
        .backing_off = aac_retry_waiting(&pl->retry),
        .retry_at = pl->retry.retry_at,
    };
}

/* Drops the open batch (the batches in flight go on): its partitions go
 * back to where it began. */
static void drop_open(pipeline_t *pl, const char *why)
{
    aac_batch_t *b = pl->open;
    if (!aac_batch_count(b))
        return;
    aac_warn("batch dropped unwritten", AAC_KV_UINT("events", aac_batch_count(b)),
             AAC_KV_STR("reason", why));
    const aac_batch_part_t *bp = aac_batch_parts_const(b);
    for (size_t k = 0; k < aac_batch_part_count(b); k++) {
        int32_t key = part_key(pl, &bp[k]);
        aac_positions_rewind(&pl->pos, key, bp[k].first, false);
        if (aac_positions_ready(&pl->pos, key))
            seek_to(pl, key, bp[k].first);
    }
    aac_batch_reset(b);
}

/* Closes the open batch and hands it to the writers. Each of its
 * partitions' commit expects what the batch before it will store. `extra`
 * allows one batch over max_in_flight (a revocation or shutdown writes
 * what it holds). Returns false when there is no room, or when out of
 * memory. */
static bool submit(pipeline_t *pl, bool extra)
{
    aac_batch_t *b = pl->open;
    int in_flight, writing;
    /* only this thread adds batches: room seen now is room at submit */
    aac_writers_counts(pl->ws, &in_flight, &writing);
    if (in_flight >= pl->max_in_flight + (extra ? 1 : 0))
        return false;
    aac_batch_t *next = batch_take(pl);
    if (!next)
        return false; /* out of memory: try again later */
    aac_batch_part_t *bp = aac_batch_parts(b);
    for (size_t i = 0; i < aac_batch_part_count(b); i++)
        bp[i].key = aac_positions_lookup(&pl->pos, bp[i].topic, bp[i].partition);
    if (aac_positions_submit(&pl->pos, bp, aac_batch_part_count(b)) != 0) {
        /* the positions refuse a batch that would store an offset below
         * its predecessor's: never written, read again */
        aac_error("batch would move a stored offset backwards, dropped",
                  AAC_KV_UINT("events", aac_batch_count(b)));
        batch_give(pl, next);
        drop_open(pl, "offsets out of order");
        return false;
    }
    pl->flight_memory += aac_batch_memory(b);
    aac_writers_submit(pl->ws, b, extra);
    aac_metrics_batch_closed(pl->metrics, aac_now());
    pl->open = next;
    return true;
}

/* Commits to Kafka the offsets a batch stored. */
static void commit_to_kafka(pipeline_t *pl, const aac_batch_t *b)
{
    const aac_batch_part_t *bp = aac_batch_parts_const(b);
    size_t n = aac_batch_part_count(b);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)n);
    for (size_t i = 0; i < n; i++)
        rd_kafka_topic_partition_list_add(l, bp[i].topic, bp[i].partition)->offset = bp[i].next;
    /* asynchronous: PostgreSQL holds the authoritative offsets */
    if (l->cnt)
        rd_kafka_commit(pl->rk, l, 1);
    rd_kafka_topic_partition_list_destroy(l);
}

/* After a successful write: resume and seek back to where we stopped
 * processing, past whatever was discarded while paused. */
static void resume(pipeline_t *pl)
{
    aac_metrics_set_paused_outage(pl->metrics, false);
    set_paused(pl, false);
    for (int32_t p = 0; p < pl->pos.cap; p++) {
        int64_t to = aac_positions_resume(&pl->pos, p);
        if (to >= 0)
            seek_to(pl, p, to);
    }
}

/* A batch committed: its offsets are stored, its dead letters delivered. */
static void settle_committed(pipeline_t *pl, const aac_flight_t *f)
{
    aac_batch_t *b = f->batch;
    const aac_batch_part_t *bp = aac_batch_parts_const(b);
    size_t n = aac_batch_part_count(b);
    double now = aac_now();

    aac_positions_committed(&pl->pos, bp, n);
    pl->flight_memory -= aac_batch_memory(b);
    for (size_t i = 0; i < n; i++)
        aac_dlq_forget(pl->dlq, bp[i].topic, bp[i].partition, bp[i].next);
    commit_to_kafka(pl, b);
    aac_metrics_add(pl->metrics, AAC_M_EVENTS_WRITTEN, f->res.inserted);
    aac_metrics_add(pl->metrics, AAC_M_EVENTS_DUPLICATE, f->res.duplicates);
    aac_metrics_add(pl->metrics, AAC_M_BATCHES, 1);
    aac_metrics_observe_batch(pl->metrics, aac_batch_count(b), f->secs);
    aac_metrics_observe_rollup(pl->metrics, f->res.rollup_keys, f->res.rollup_secs);
    /* the delay of the rows committed, not of those dead-lettered */
    for (size_t r = 0; r < aac_batch_row_count(b); r++)
        if (!aac_batch_row_rejected(b, r))
            aac_metrics_observe_delay(
                pl->metrics, now - (double)aac_batch_event_us(b, aac_batch_row_item(b, r)) / 1e6);
    for (size_t i = 0; i < aac_batch_reject_count(b); i++)
        aac_metrics_dead_letter(pl->metrics, aac_batch_reject(b, i)->reason);
    aac_metrics_set_pg_up(pl->metrics, true);
    aac_metrics_committed(pl->metrics, now);
    pl->last_pg_ok = aac_mono_ms();
    aac_debug("batch committed", AAC_KV_UINT("events", aac_batch_count(b)),
              AAC_KV_UINT("inserted", f->res.inserted),
              AAC_KV_UINT("duplicates", f->res.duplicates),
              AAC_KV_UINT("rejected", aac_batch_reject_count(b)), AAC_KV_UINT("partitions", n),
              AAC_KV_INT("round_trips", f->res.round_trips), AAC_KV_INT("writer", f->writer),
              AAC_KV_UINT("rollup_rows", f->res.rollup_keys),
              AAC_KV_BOOL("shared_keys", f->after_previous),
              AAC_KV_BOOL("waited_for_earlier", f->waited), AAC_KV_DBL("ms", f->secs * 1000));
    bool was_retrying = pl->retry.attempts || pl->retry.outage_attempts || pl->paused;
    aac_retry_succeeded(&pl->retry);
    if (was_retrying)
        resume(pl);
    publish_partitions(pl);
}

/* Settles every batch that committed, oldest first. */
static void settle_all(pipeline_t *pl)
{
    aac_flight_t done;
    int was = -1; /* the activity before the first batch settled */
    while (aac_writers_settle(pl->ws, &done)) {
        if (was < 0)
            was = (int)aac_timeacct_switch(pl->acct, AAC_ACT_SETTLE);
        settle_committed(pl, &done);
        batch_give(pl, done.batch);
    }
    if (was >= 0)
        aac_timeacct_switch(pl->acct, (aac_activity_t)was);
}

/* Drops every batch in flight (no writer writes: the oldest failed) and
 * the open one: their partitions go back to the first offset dropped,
 * sought there at once when `seek` (else when their offsets are read), so
 * the messages are consumed again. */
static void drop_all(pipeline_t *pl, const char *why, bool seek)
{
    aac_batch_t *drop[pl->max_in_flight + 2];
    int cnt = aac_writers_drop(pl->ws, drop);
    if (cnt < 0) {
        /* writers.h refuses while a writer writes: a caller's mistake,
         * and resetting the batch would corrupt what is being sent */
        aac_error("cannot drop the batches in flight while a writer writes them",
                  AAC_KV_STR("reason", why));
        return;
    }
    drop[cnt] = pl->open;
    pl->flight_memory = 0; /* nothing in flight any more */
    size_t events = 0;
    for (int i = 0; i <= cnt; i++)
        events += aac_batch_count(drop[i]);
    if (events)
        aac_warn("batch dropped unwritten", AAC_KV_UINT("events", events),
                 AAC_KV_INT("batches", cnt + (aac_batch_count(pl->open) > 0)),
                 AAC_KV_STR("reason", why));
    /* the latest first: the earliest batch's first offset is the lowest */
    for (int i = cnt; i >= 0; i--) {
        const aac_batch_part_t *bp = aac_batch_parts_const(drop[i]);
        for (size_t k = 0; k < aac_batch_part_count(drop[i]); k++)
            aac_positions_rewind(&pl->pos, part_key(pl, &bp[k]), bp[k].first, true);
    }
    if (seek)
        for (int32_t p = 0; p < pl->pos.cap; p++) {
            bool dropped = false;
            for (int i = 0; i <= cnt && !dropped; i++)
                dropped = aac_batch_part(drop[i], TOPIC(pl, p), PARTITION(pl, p)) != NULL;
            if (dropped && aac_positions_ready(&pl->pos, p))
                seek_to(pl, p, pl->pos.p[p].next);
        }
    for (int i = 0; i < cnt; i++)
        batch_give(pl, drop[i]);
    aac_batch_reset(pl->open);
    /* the attempts were about these batches; whatever paused the loop is
     * over with them */
    aac_retry_begin(&pl->retry);
    aac_retry_forget_attempts(&pl->retry);
    resume(pl);
}

/* After a fence another instance has written our partitions: drop the
 * batches, and re-read every assigned partition's stored offset before
 * going on. */
static void refence(pipeline_t *pl)
{
    drop_all(pl, "fenced", false);
    for (int32_t p = 0; p < pl->pos.cap; p++)
        if (aac_positions_assigned(&pl->pos, p)) {
            aac_positions_refence(&pl->pos, p);
            pause_one(pl, p, true);
        }
    pl->offsets.retry_at = 0;
    aac_metrics_add(pl->metrics, AAC_M_FENCED, 1);
    publish_partitions(pl);
}

/* Writes the failed batch and every later one again, now. */
static void requeue(pipeline_t *pl)
{
    aac_retry_begin(&pl->retry);
    if (aac_writers_requeue(pl->ws) != 0)
        aac_error("cannot write the batches again while a writer writes them");
}

/* f failed retry.max_attempts times for reasons that may be its rows'
 * own: each of its rows goes to the dead-letter topic, the rest of the
 * work is requeued at once. No writer writes (f is the failure). */
static void give_up(pipeline_t *pl, const aac_flight_t *f)
{
    aac_batch_t *b = f->batch;
    char msg[300];
    snprintf(msg, sizeof(msg), "write failed %d times: %.250s", pl->retry.attempts, f->res.errstr);
    for (size_t r = 0; r < aac_batch_row_count(b); r++) {
        if (aac_batch_row_rejected(b, r))
            continue;
        const rd_kafka_message_t *rkm = aac_batch_message(b, aac_batch_row_item(b, r));
        aac_warn("event dead-lettered after its retries", AAC_KV_INT("partition", rkm->partition),
                 AAC_KV_INT("offset", rkm->offset), AAC_KV_INT("attempts", pl->retry.attempts));
        if (aac_batch_reject_row(b, r, AAC_REASON_RETRIES_EXHAUSTED, f->res.sqlstate, msg,
                                 pl->retry.attempts) != 0) {
            aac_error("out of memory, dropping the batch");
            drop_all(pl, "out of memory", true);
            return;
        }
    }
    requeue(pl); /* the rest goes at once */
}

/* Tells metrics and the log that a batch is written again, now or at the
 * retry's time. */
static void note_retry(pipeline_t *pl, const aac_flight_t *f, const aac_fail_decision_t *d,
                       int delay_ms)
{
    aac_metrics_retry(pl->metrics, AAC_CLASS_TRANSIENT);
    aac_metrics_set_error(pl->metrics, AAC_CLASS_TRANSIENT, d->why, f->res.errstr);
    if (d->outage) {
        aac_metrics_set_paused_outage(pl->metrics, true);
        if (f->res.outage && !f->dead_letters_pending)
            aac_metrics_set_pg_up(pl->metrics, false);
    }
    aac_warn("batch not written, retrying", AAC_KV_UINT("events", aac_batch_count(f->batch)),
             AAC_KV_STR("reason", d->why),
             AAC_KV_INT("later_rolled_back", aac_writers_later_cancelled(pl->ws)),
             AAC_KV_INT("attempt", d->counted ? pl->retry.attempts : pl->retry.outage_attempts),
             AAC_KV_INT("delay_ms", delay_ms),
             AAC_KV_STR("error", f->res.errstr[0] ? f->res.errstr : "unknown"));
}

/* The oldest batch in flight did not commit (f), and no writer writes:
 * decides (failpolicy.h) and carries the decision out. */
static void on_failure(pipeline_t *pl, aac_flight_t *f, aac_failmode_t mode)
{
    aac_failure_t in = {.cls = f->res.cls,
                        .fenced = f->res.fenced,
                        .outage = f->res.outage,
                        .cancelled = f->cancelled,
                        .dead_letters_pending = f->dead_letters_pending,
                        .dlq_fatal =
                            f->dead_letters_pending && aac_dlq_fatal(pl->dlq, NULL, 0, NULL),
                        .counted = f->counted,
                        .live = aac_batch_live_rows(f->batch)};
    memcpy(in.sqlstate, f->res.sqlstate, sizeof(in.sqlstate));
    aac_fail_decision_t d = aac_failpolicy_decide(&in, mode, &pl->retry, aac_mono_ms());
    switch (d.action) {
    case AAC_FAIL_STOP:
        if (!(in.dlq_fatal && dlq_fatal(pl)))
            go_fatal(pl, f->res.errstr, aac_classify_sqlstate_action(f->res.sqlstate));
        return;
    case AAC_FAIL_REFENCE:
        aac_warn("batch fenced", AAC_KV_STR("detail", f->res.errstr));
        refence(pl);
        return;
    case AAC_FAIL_REQUEUE:
        if (!in.cancelled) {
            note_retry(pl, f, &d, 0);
            set_paused(pl, true);
        }
        requeue(pl);
        return;
    case AAC_FAIL_WAIT:
        if (!in.counted) {
            note_retry(pl, f, &d, pl->retry.delay_ms);
            aac_writers_failure_counted(pl->ws);
        }
        set_paused(pl, true);
        return;
    case AAC_FAIL_HALVE:
        aac_warn("batch keeps failing, retrying it in smaller batches",
                 AAC_KV_UINT("events", aac_batch_count(f->batch)),
                 AAC_KV_INT("attempts", pl->retry.policy.max_attempts),
                 AAC_KV_INT("next_batch_max", pl->retry.cap_events),
                 AAC_KV_STR("error", f->res.errstr));
        drop_all(pl, "retries exhausted, halving", true);
        return;
    case AAC_FAIL_GIVE_UP:
        give_up(pl, f);
        return;
    case AAC_FAIL_DROP:
        drop_all(pl, d.why, true);
        return;
    }
}

/* Settles what committed; decides on the oldest batch's failure once (in
 * the loop and the drain: a failure waiting for its retry is not decided
 * on again). */
static void settle(pipeline_t *pl)
{
    settle_all(pl);
    aac_flight_t *f = aac_writers_failure(pl->ws);
    if (f && !f->counted) {
        aac_activity_t was = aac_timeacct_switch(pl->acct, AAC_ACT_SETTLE);
        on_failure(pl, f, AAC_FAILMODE_LOOP);
        aac_timeacct_switch(pl->acct, was);
    }
}

/* Tells /health and the systemd watchdog that the service is alive: the
 * consume loop turns, and no write has been stuck for longer than what
 * this says. A writer blocked in one batch (a PostgreSQL that stopped
 * answering) holds the stamp where its batch began, as when the loop
 * itself wrote. */
static void stamp_alive(pipeline_t *pl)
{
    int64_t now = aac_mono_ms(), since = aac_writers_busy_since(pl->ws, now);
    aac_metrics_alive(pl->metrics, aac_now() - (double)(now - since) / 1000.0);
    aac_notify_alive(since); /* WATCHDOG=1 from this loop, never a timer */
}

static int in_flight(pipeline_t *pl)
{
    int n, writing;
    aac_writers_counts(pl->ws, &n, &writing);
    return n;
}

/* Stops the writers (cancelling what they write): past the shutdown's
 * deadline, nothing more is written. */
static void stop_writing(pipeline_t *pl)
{
    if (pl->writers_stopped)
        return;
    aac_writers_stop(pl->ws);
    pl->writers_stopped = true;
}

/* Writes whatever holds the partitions being revoked (or every batch, for
 * an eager revocation) before they go: the open batch is closed and the
 * batches in flight are waited for; a failure is tried once more at once,
 * then the batches are dropped. During a shutdown, not past its
 * deadline. */
static void write_before_revoke(pipeline_t *pl)
{
    int failures = 0;
    if (pl->writers_stopped)
        return; /* closing after the writers stopped: nothing is written */
    if (aac_batch_count(pl->open) && !submit(pl, true))
        drop_open(pl, "out of memory"); /* the batches in flight go on */
    while (!pl->fatal) {
        settle_all(pl);
        if (!in_flight(pl))
            return;
        aac_flight_t *f = aac_writers_failure(pl->ws);
        if (f) {
            aac_failmode_t mode = failures++ ? AAC_FAILMODE_REVOKE_LAST : AAC_FAILMODE_REVOKE;
            on_failure(pl, f, mode);
            continue;
        }
        /* a stop asked for while the revocation waits starts the
         * shutdown's clock: the wait keeps to its deadline */
        if (!pl->deadline && aac_signals_received())
            pl->deadline = aac_mono_ms() + pl->cfg->service.shutdown_timeout_ms;
        if (pl->deadline && aac_mono_ms() >= pl->deadline) {
            aac_warn("shutdown deadline reached during a revocation: batches dropped unwritten",
                     AAC_KV_INT("batches", in_flight(pl)));
            stop_writing(pl);
            settle_all(pl);
            drop_all(pl, "shutdown deadline", false);
            return;
        }
        stamp_alive(pl);
        aac_writers_wait(pl->ws, REVOKE_WAIT_MS);
    }
}

/* Whether a batch in flight or the open one holds one of `parts`. */
static bool holds_any(pipeline_t *pl, const rd_kafka_topic_partition_list_t *parts)
{
    aac_pkey_t keys[parts->cnt > 0 ? parts->cnt : 1];
    for (int k = 0; k < parts->cnt; k++) {
        keys[k] = (aac_pkey_t){parts->elems[k].topic, parts->elems[k].partition};
        if (aac_batch_part(pl->open, keys[k].topic, keys[k].partition))
            return true;
    }
    return aac_writers_hold_any(pl->ws, keys, (size_t)parts->cnt);
}

/* --- stored offsets ------------------------------------------------------ */

/* Reads the stored offsets of the assigned partitions that need them, of
 * those in `only` when given (an assignment being applied: the partitions
 * held back earlier keep their own retry). Returns the number read
 * (ids/offs filled), 0 when none waits, -1 when PostgreSQL could not be
 * read (the partitions stay held back). */
static int fetch_offsets(pipeline_t *pl, const rd_kafka_topic_partition_list_t *only, int32_t *ids,
                         int64_t *offs, size_t max)
{
    size_t n = 0;
    aac_pgsink_result_t res;

    for (int32_t p = 0; !only && p < pl->pos.cap && n < max; p++)
        if (aac_positions_wants_offset(&pl->pos, p))
            ids[n++] = p;
    for (int i = 0; only && i < only->cnt && n < max; i++) {
        int32_t k = aac_positions_lookup(&pl->pos, only->elems[i].topic, only->elems[i].partition);
        if (k >= 0 && aac_positions_wants_offset(&pl->pos, k))
            ids[n++] = k;
    }
    if (!n)
        return 0;
    aac_pkey_t keys[n];
    for (size_t i = 0; i < n; i++)
        keys[i] = (aac_pkey_t){TOPIC(pl, ids[i]), PARTITION(pl, ids[i])};
    if (aac_pgsink_fetch_offsets(pl->sink, pl->cfg->kafka.group_id, keys, n, offs, &res) != 0) {
        if (res.cls == AAC_CLASS_FATAL) {
            go_fatal(pl, res.errstr, aac_classify_sqlstate_action(res.sqlstate));
            return -1;
        }
        offsets_retry_later(pl);
        aac_metrics_retry(pl->metrics, AAC_CLASS_TRANSIENT);
        aac_metrics_set_pg_up(pl->metrics, false);
        aac_metrics_set_paused_outage(pl->metrics, true);
        aac_metrics_set_error(pl->metrics, res.cls, "postgres_unavailable", res.errstr);
        aac_warn("could not read stored offsets, partitions held back",
                 AAC_KV_UINT("partitions", n), AAC_KV_INT("delay_ms", pl->offsets.delay_ms),
                 AAC_KV_STR("error", res.errstr));
        return -1;
    }
    aac_retry_succeeded(&pl->offsets);
    aac_metrics_set_pg_up(pl->metrics, true);
    if (!aac_retry_waiting(&pl->retry))
        aac_metrics_set_paused_outage(pl->metrics, false);
    return (int)n;
}

/* Lets a held-back partition run again (unless the whole loop is
 * paused). */
static void release(pipeline_t *pl, int32_t p)
{
    if (!pl->paused)
        pause_one(pl, p, false);
}

/* For partitions held back: those whose position is not known (assigned
 * while PostgreSQL could not be read, or after a fence) get their stored
 * offset read and are sought there; those whose seek did not take effect
 * are sought again to the position they keep. */
static void restore_positions(pipeline_t *pl)
{
    int32_t ids[1024];
    int64_t offs[1024];
    int n = fetch_offsets(pl, NULL, ids, offs, 1024);
    for (int i = 0; i < n; i++) {
        /* none stored: where discarding began (or where a dropped batch
         * began), else where the assignment already points (Kafka's
         * committed offset, else auto.offset.reset) */
        int64_t to = aac_positions_loaded(&pl->pos, ids[i], offs[i]);
        if (to == -2) { /* positions.h refuses while a batch of it is in flight */
            aac_error("stored offset read while a batch is in flight, ignored",
                      AAC_KV_STR("topic", TOPIC(pl, ids[i])),
                      AAC_KV_INT("partition", PARTITION(pl, ids[i])));
            continue;
        }
        aac_info("partition ready", AAC_KV_STR("topic", TOPIC(pl, ids[i])),
                 AAC_KV_INT("partition", PARTITION(pl, ids[i])),
                 AAC_KV_INT("stored_offset", offs[i]));
        if (to >= 0 && !seek_to(pl, ids[i], to))
            continue; /* held again, retried later */
        release(pl, ids[i]);
    }
    for (int32_t p = 0; p < pl->pos.cap; p++) {
        int64_t to = aac_positions_seek_due(&pl->pos, p);
        if (to >= 0 && seek_to(pl, p, to))
            release(pl, p);
    }
    if (aac_positions_held(&pl->pos) == 0)
        aac_retry_succeeded(&pl->offsets);
    publish_partitions(pl);
}

/* --- messages ------------------------------------------------------------ */

/* Takes ownership of rkm. A message that could not be added (out of
 * memory) drops the open batch, rewound to include it, so nothing is
 * skipped. */
static void batch_add(pipeline_t *pl, rd_kafka_message_t *rkm, int32_t k)
{
    aac_event_t ev;
    aac_event_error_t err;
    int64_t offset = rkm->offset;
    size_t len = rkm->len;
    int rc;

    aac_reason_t r = aac_event_parse(pl->parser, rd_kafka_topic_name(rkm->rkt), rkm->partition,
                                     offset, rkm->payload, rkm->len, &ev, &err);
    if (r == AAC_REASON_NONE) {
        if (ev.extra_count)
            aac_metrics_add(pl->metrics, AAC_M_UNKNOWN_FIELDS, ev.extra_count);
        rc = aac_batch_add_event(pl->open, rkm, &ev);
    } else {
        aac_metrics_add(pl->metrics, AAC_M_EVENTS_INVALID, 1);
        aac_debug("invalid event", AAC_KV_STR("topic", TOPIC(pl, k)),
                  AAC_KV_INT("partition", PARTITION(pl, k)), AAC_KV_INT("offset", offset),
                  AAC_KV_STR("reason", aac_reason_str(r)), AAC_KV_STR("path", err.path));
        rc = aac_batch_add_invalid(pl->open, rkm, &err);
    }
    if (rc != 0) {
        aac_error("out of memory, dropping the batch");
        drop_open(pl, "out of memory");
        /* the batch may not list this message: rewind to it too */
        const aac_position_t *pt = aac_positions_find(&pl->pos, k);
        if (pt && (pt->next < 0 || offset < pt->next)) {
            aac_positions_rewind(&pl->pos, k, offset, false);
            if (aac_positions_ready(&pl->pos, k))
                seek_to(pl, k, offset);
        }
        return;
    }
    if (aac_batch_count(pl->open) == 1)
        pl->open_since = aac_mono_ms();
    aac_positions_took(&pl->pos, k, offset);
    aac_metrics_add(pl->metrics, AAC_M_EVENTS_CONSUMED, 1);
    aac_metrics_add(pl->metrics, AAC_M_BYTES_CONSUMED, len);
}

/* Called for a message whose offset is not the next one expected: reads
 * the broker's watermarks and follows positions.h's verdict. When the
 * broker deleted messages before they were consumed (retention),
 * librdkafka resets the position to the earliest offset and the stream
 * jumps: that is counted. Returns true when the message must be
 * dropped. */
static bool check_jump(pipeline_t *pl, const rd_kafka_message_t *rkm, int32_t k)
{
    const char *topic = TOPIC(pl, k);
    int32_t p = rkm->partition;
    int64_t lo = -1, hi = -1, next = pl->pos.p[k].next;
    if (rkm->offset < next) {
        if (rd_kafka_query_watermark_offsets(pl->rk, topic, p, &lo, &hi, 2000) !=
            RD_KAFKA_RESP_ERR_NO_ERROR)
            lo = hi = -1;
    } else if (rd_kafka_get_watermark_offsets(pl->rk, topic, p, &lo, &hi) !=
                   RD_KAFKA_RESP_ERR_NO_ERROR ||
               lo < 0) {
        rd_kafka_query_watermark_offsets(pl->rk, topic, p, &lo, &hi, 2000);
    }
    switch (aac_positions_jump(&pl->pos, k, rkm->offset, lo, hi)) {
    case AAC_JUMP_SEEK_BACK:
        aac_warn("fetched below the stored offset, seeking back", AAC_KV_STR("topic", topic),
                 AAC_KV_INT("partition", p), AAC_KV_INT("expected_offset", next),
                 AAC_KV_INT("actual_offset", rkm->offset), AAC_KV_INT("high_watermark", hi));
        seek_to(pl, k, next);
        return true;
    case AAC_JUMP_RESTART:
        aac_error("partition offsets went backwards (topic recreated?), following the broker",
                  AAC_KV_STR("topic", topic), AAC_KV_INT("partition", p),
                  AAC_KV_INT("expected_offset", next), AAC_KV_INT("actual_offset", rkm->offset),
                  AAC_KV_INT("high_watermark", hi));
        aac_positions_restart(&pl->pos, k, rkm->offset);
        return false;
    case AAC_JUMP_LOST: {
        int64_t gap = aac_positions_lost(&pl->pos, k, rkm->offset, lo);
        aac_warn("offsets lost to retention before they were consumed", AAC_KV_STR("topic", topic),
                 AAC_KV_INT("partition", p), AAC_KV_INT("expected_offset", next),
                 AAC_KV_INT("actual_offset", rkm->offset), AAC_KV_INT("gap", gap),
                 AAC_KV_INT("low_watermark", lo));
        aac_metrics_add(pl->metrics, AAC_M_RETENTION_GAP, (uint64_t)gap);
        return false;
    }
    case AAC_JUMP_FORWARD:
        aac_debug("offsets skipped (transaction markers or compaction)", AAC_KV_STR("topic", topic),
                  AAC_KV_INT("partition", p), AAC_KV_INT("expected_offset", next),
                  AAC_KV_INT("actual_offset", rkm->offset));
        return false;
    }
    return false;
}

/* A consumer error: logged and reported; a fatal one stops the service. */
static void consumer_error(pipeline_t *pl, const rd_kafka_message_t *rkm)
{
    rd_kafka_resp_err_t err = rkm->err;
    if (err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
        return;
    aac_class_t cls = aac_classify_kafka(err);
    aac_warn("consumer error", AAC_KV_STR("error", rd_kafka_err2name(err)),
             AAC_KV_STR("detail", rd_kafka_message_errstr(rkm)),
             AAC_KV_STR("class", aac_class_str(cls)));
    if (cls == AAC_CLASS_FATAL) {
        char what[512];
        snprintf(what, sizeof(what), "kafka: %s", rd_kafka_message_errstr(rkm));
        go_fatal(pl, what,
                 "check the Kafka credentials and that the consumer may read the topic and use "
                 "the group");
    } else {
        aac_metrics_set_error(pl->metrics, cls, rd_kafka_err2name(err),
                              rd_kafka_message_errstr(rkm));
    }
}

/* Takes ownership of rkm. */
static void handle_message(pipeline_t *pl, rd_kafka_message_t *rkm)
{
    if (rkm->err) {
        consumer_error(pl, rkm);
        rd_kafka_message_destroy(rkm);
        return;
    }
    /* the last message's topic handle and key first: most are its */
    if (rkm->rkt != pl->last_rkt || rkm->partition != pl->last_partition) {
        pl->last_rkt = rkm->rkt;
        pl->last_partition = rkm->partition;
        pl->last_key =
            aac_positions_lookup(&pl->pos, rd_kafka_topic_name(rkm->rkt), rkm->partition);
    }
    int32_t k = pl->last_key;
    const aac_position_t *pt = k >= 0 ? aac_positions_find(&pl->pos, k) : NULL;
    bool first = pt && pt->check_gap;
    /* nothing stored for this group: it starts where the log does */
    if (first && pt->next < 0 && rkm->offset > 0 && !aac_retry_waiting(&pl->retry))
        aac_info("partition starts above offset 0: earlier messages were deleted before this "
                 "group stored any",
                 AAC_KV_STR("topic", TOPIC(pl, k)), AAC_KV_INT("partition", rkm->partition),
                 AAC_KV_INT("first_offset", rkm->offset));
    switch (k < 0 ? AAC_ADMIT_IGNORE
                  : aac_positions_admit(&pl->pos, k, rkm->offset, aac_retry_waiting(&pl->retry))) {
    case AAC_ADMIT_CHECK:
        if (check_jump(pl, rkm, k))
            break;
        /* fall through */
    case AAC_ADMIT_TAKE:
        batch_add(pl, rkm, k);
        return;
    case AAC_ADMIT_SKIP:    /* already processed */
    case AAC_ADMIT_DISCARD: /* fetched again later */
    case AAC_ADMIT_IGNORE:  /* not ours (any more), or a dead-letter topic */
        break;
    }
    rd_kafka_message_destroy(rkm);
}

/* --- rebalance ----------------------------------------------------------- */

/* An assignment: each partition starts where PostgreSQL's stored offset
 * says, or is held back until that is known. */
static rd_kafka_error_t *on_assign(pipeline_t *pl, rd_kafka_t *rk,
                                   rd_kafka_topic_partition_list_t *parts, bool cooperative)
{
    rd_kafka_error_t *e = NULL;
    int dead_letter_topics = 0;
    for (int i = 0; i < parts->cnt; i++) {
        const char *topic = parts->elems[i].topic;
        int32_t partition = parts->elems[i].partition;
        /* no stored offset: Kafka's committed one, else auto.offset.reset */
        parts->elems[i].offset = RD_KAFKA_OFFSET_INVALID;
        if (aac_config_is_dlq_topic(pl->cfg, topic)) {
            /* a pattern that matches a dead-letter topic: never consumed
             * (it would take its own rejects again), kept paused */
            if (!dead_letter_topics++)
                aac_warn("a dead-letter topic matches kafka.topic, not consumed",
                         AAC_KV_STR("topic", topic), AAC_KV_STR("pattern", pl->cfg->kafka.topic));
            continue;
        }
        int32_t k = aac_positions_key(&pl->pos, topic, partition);
        if (k < 0 || aac_positions_assign(&pl->pos, k) != 0)
            aac_error("partition not tracked (out of memory or too many), not consumed",
                      AAC_KV_STR("topic", topic), AAC_KV_INT("partition", partition));
    }
    pl->last_rkt = NULL; /* keys found before may have gone */
    /* PostgreSQL's offsets are the truth: start each partition there */
    int32_t ids[1024];
    int64_t offs[1024];
    int n = fetch_offsets(pl, parts, ids, offs, 1024);
    for (int i = 0; i < n; i++) {
        rd_kafka_topic_partition_t *tp =
            rd_kafka_topic_partition_list_find(parts, TOPIC(pl, ids[i]), PARTITION(pl, ids[i]));
        aac_positions_loaded(&pl->pos, ids[i], offs[i]);
        if (tp && offs[i] >= 0)
            tp->offset = offs[i];
        aac_info("partition ready", AAC_KV_STR("topic", TOPIC(pl, ids[i])),
                 AAC_KV_INT("partition", PARTITION(pl, ids[i])),
                 AAC_KV_INT("stored_offset", offs[i]));
    }
    if (cooperative)
        e = rd_kafka_incremental_assign(rk, parts);
    else
        rd_kafka_assign(rk, parts);
    /* librdkafka keeps a partition paused by the application across its
     * revocation and a later assignment: each of `parts` is paused or
     * resumed here, by what this instance knows of it now */
    rd_kafka_topic_partition_list_t *ready = rd_kafka_topic_partition_list_new(parts->cnt);
    rd_kafka_topic_partition_list_t *held = rd_kafka_topic_partition_list_new(parts->cnt);
    for (int i = 0; i < parts->cnt; i++) {
        int32_t k =
            aac_positions_lookup(&pl->pos, parts->elems[i].topic, parts->elems[i].partition);
        bool go = k >= 0 && aac_positions_assigned(&pl->pos, k) && !pl->paused &&
                  aac_positions_ready(&pl->pos, k);
        rd_kafka_topic_partition_list_add(go ? ready : held, parts->elems[i].topic,
                                          parts->elems[i].partition);
    }
    if (held->cnt)
        rd_kafka_pause_partitions(rk, held);
    if (ready->cnt)
        rd_kafka_resume_partitions(rk, ready);
    rd_kafka_topic_partition_list_destroy(ready);
    rd_kafka_topic_partition_list_destroy(held);
    aac_info("partitions assigned", AAC_KV_INT("count", parts->cnt),
             AAC_KV_STR("protocol", cooperative ? "cooperative" : "eager"),
             AAC_KV_INT("held_back", n < 0 ? parts->cnt : 0),
             AAC_KV_INT("dead_letter_partitions", dead_letter_topics));
    return e;
}

/* A revocation (or a lost assignment): batches holding revoked
 * partitions are written now or dropped, before the partitions go. */
static rd_kafka_error_t *on_revoke(pipeline_t *pl, rd_kafka_t *rk, rd_kafka_resp_err_t err,
                                   rd_kafka_topic_partition_list_t *parts, bool cooperative)
{
    rd_kafka_error_t *e = NULL;
    if (!cooperative || holds_any(pl, parts))
        write_before_revoke(pl);
    for (int i = 0; i < parts->cnt; i++) {
        const char *topic = parts->elems[i].topic;
        int32_t partition = parts->elems[i].partition;
        aac_dlq_forget(pl->dlq, topic, partition, INT64_MAX);
        int32_t k = aac_positions_lookup(&pl->pos, topic, partition);
        if (k >= 0)
            aac_positions_revoke(&pl->pos, k);
    }
    if (cooperative)
        e = rd_kafka_incremental_unassign(rk, parts);
    else
        rd_kafka_assign(rk, NULL);
    aac_info("partitions revoked", AAC_KV_INT("count", parts->cnt),
             AAC_KV_STR("reason", err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS
                                      ? "rebalance"
                                      : rd_kafka_err2name(err)));
    return e;
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    pipeline_t *pl = opaque;
    bool cooperative = !strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE");

    /* called from a poll: back to polling (or idle) when done */
    aac_activity_t was = aac_timeacct_switch(pl->acct, AAC_ACT_REBALANCE);
    aac_metrics_add(pl->metrics, AAC_M_REBALANCES, 1);
    pl->ever_assigned = true;
    rd_kafka_error_t *e = err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS
                              ? on_assign(pl, rk, parts, cooperative)
                              : on_revoke(pl, rk, err, parts, cooperative);
    if (e) {
        aac_error("could not apply the assignment", AAC_KV_STR("error", rd_kafka_error_string(e)));
        rd_kafka_error_destroy(e);
    }
    publish_partitions(pl);
    aac_timeacct_switch(pl->acct, was);
}

/* While idle: tell readiness whether PostgreSQL still answers (an outage
 * would otherwise show only with the next write). */
static void idle_ping(pipeline_t *pl, int64_t now)
{
    aac_pgsink_result_t res;
    if (now - pl->last_pg_ok < PING_IDLE_MS)
        return;
    pl->last_pg_ok = now; /* at most one ping per interval, failed or not */
    bool up = aac_pgsink_ping(pl->sink, &res) == 0;
    aac_metrics_set_pg_up(pl->metrics, up);
    if (!up)
        aac_metrics_set_error(pl->metrics, res.cls, "postgres_unavailable", res.errstr);
}

/* --- set-up -------------------------------------------------------------- */

/* Tells the metrics only of a change: this runs for every message, and
 * the health state is behind a mutex. */
static void set_broker_up(pipeline_t *pl, bool up)
{
    if (pl->broker_up == up)
        return;
    pl->broker_up = up;
    aac_metrics_set_broker_up(pl->metrics, up);
}

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    pipeline_t *pl = opaque;
    (void)rk;
    if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN)
        set_broker_up(pl, false);
    aac_metrics_set_error(pl->metrics, aac_classify_kafka(err), rd_kafka_err2name(err), reason);
    aac_warn("kafka error", AAC_KV_STR("error", rd_kafka_err2name(err)),
             AAC_KV_STR("detail", reason));
}

static void offset_commit_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                             rd_kafka_topic_partition_list_t *offsets, void *opaque)
{
    pipeline_t *pl = opaque;
    (void)rk;
    (void)offsets;
    if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET) {
        /* harmless for correctness: PostgreSQL holds the offsets */
        aac_metrics_add(pl->metrics, AAC_M_KAFKA_COMMIT_ERRORS, 1);
        aac_debug("kafka offset commit failed", AAC_KV_STR("error", rd_kafka_err2name(err)));
    }
}

/* Every statistics.interval.ms, on the consume thread (from the poll):
 * consumer lag per partition and broker reachability for /metrics and
 * /ready. Returns 0: librdkafka frees the JSON. */
static int stats_cb(rd_kafka_t *rk, char *json, size_t json_len, void *opaque)
{
    pipeline_t *pl = opaque;
    aac_kstats_t ks;
    char err[256];
    (void)rk;
    if (aac_kstats_parse(json, json_len, NULL, &ks, err, sizeof(err)) != 0) {
        aac_debug("could not read librdkafka statistics", AAC_KV_STR("error", err));
        return 0;
    }
    for (size_t i = 0; i < ks.lag_cnt; i++)
        aac_metrics_set_lag(pl->metrics, ks.lag[i].topic, ks.lag[i].partition, ks.lag[i].lag);
    /* recovers broker_up while no message arrives to say so */
    if (ks.brokers)
        set_broker_up(pl, ks.brokers_up > 0);
    return 0;
}

static rd_kafka_t *consumer_new(pipeline_t *pl, char *errstr, size_t size)
{
    const aac_config_t *cfg = pl->cfg;
    char err[512];
    /* defaults, properties and the settings the offsets in PostgreSQL need */
    rd_kafka_conf_t *conf = aac_kafkaconf_consumer(cfg, errstr, size);
    if (!conf)
        return NULL;
    rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
    rd_kafka_conf_set_error_cb(conf, error_cb);
    rd_kafka_conf_set_offset_commit_cb(conf, offset_commit_cb);
    rd_kafka_conf_set_stats_cb(conf, stats_cb);
    rd_kafka_conf_set_opaque(conf, pl);
    /* the credentials it gives back are read before rd_kafka_new takes conf */
    if (!(pl->wake = aac_fetchwake_new(conf, cfg->kafka.fetch_wake_ms))) {
        snprintf(errstr, size, "out of memory");
        goto fail;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    if (!rk) {
        snprintf(errstr, size, "could not create the Kafka consumer: %.400s", err);
        goto fail;
    }
    rd_kafka_poll_set_consumer(rk);
    aac_fetchwake_attach(pl->wake, rk);
    return rk;
fail:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

/* On shutdown: write what was consumed if it can be done in time. */
static void drain(pipeline_t *pl, int64_t deadline)
{
    pl->deadline = deadline;
    set_paused(pl, true);
    if (aac_batch_count(pl->open) && !submit(pl, true))
        drop_open(pl, "out of memory");
    while (in_flight(pl) && !pl->fatal && aac_mono_ms() < deadline) {
        settle(pl);
        if (aac_retry_due(&pl->retry, aac_mono_ms()))
            requeue(pl);
        /* stays in the group meanwhile; nothing new is processed (a
         * revocation now keeps to the deadline too) */
        rd_kafka_message_t *rkm = rd_kafka_consumer_poll(pl->rk, 0);
        if (rkm)
            rd_kafka_message_destroy(rkm);
        aac_dlq_poll(pl->dlq, 0);
        aac_metrics_add(pl->metrics, AAC_M_DLQ_DELIVERY_FAILED, aac_dlq_take_failed(pl->dlq));
        stamp_alive(pl);
        /* a batch waiting for its retry finishes nothing: this waits
         * anyway, and the loop does not spin */
        aac_writers_wait(pl->ws, DRAIN_WAIT_MS);
    }
    if (in_flight(pl) && !pl->fatal) {
        /* what is still being written is cancelled: it rolls back */
        stop_writing(pl);
        settle_all(pl);
        int left = in_flight(pl);
        if (left)
            aac_warn("shutdown: batch not written in time, left uncommitted",
                     AAC_KV_INT("batches", left));
    }
}

/* Leaves the group and destroys the consumer. librdkafka 2.0.2 (Debian
 * 12's) aborts on an assertion when a cooperative-sticky consumer is
 * closed or destroyed before its first assignment (librdkafka#4312, fixed
 * in 2.3.0), so wait for that assignment within the deadline; if it never
 * comes, leave the handle to the process's exit rather than crash. */
static void close_consumer(pipeline_t *pl, int64_t deadline)
{
    aac_fetchwake_detach(pl->wake); /* its hold on the consumer's queue */
    while (!pl->ever_assigned && !pl->fatal && aac_mono_ms() < deadline) {
        rd_kafka_message_t *rkm = rd_kafka_consumer_poll(pl->rk, 50);
        if (rkm)
            rd_kafka_message_destroy(rkm); /* nothing is processed now */
    }
    if (!pl->ever_assigned) {
        aac_warn("leaving without closing the Kafka consumer: it was never assigned, and "
                 "librdkafka 2.0.2 cannot close it then (librdkafka#4312); the group drops "
                 "this member after session.timeout.ms");
        abandoned_rk = pl->rk;
        pl->rk = NULL;
        return;
    }
    /* leaves the group: the revocation finds nothing to write, or the
     * writers are gone and it is dropped */
    rd_kafka_consumer_close(pl->rk);
    rd_kafka_destroy(pl->rk);
    pl->rk = NULL;
}

/* Forgets every batch, unwritten, and the messages they hold; the
 * writers are stopped. */
static void discard_batches(pipeline_t *pl)
{
    aac_batch_t *drop[pl->max_in_flight + 2];
    int cnt = aac_writers_drop(pl->ws, drop);
    for (int i = 0; i < cnt; i++)
        batch_give(pl, drop[i]);
    aac_batch_reset(pl->open);
}

/* Sets up pl for cfg: everything but the clients and the threads. */
static int pipeline_init(pipeline_t *pl, const aac_config_t *cfg, aac_metrics_t *metrics)
{
    aac_event_limits_t lim = {(size_t)cfg->event.max_message_bytes, cfg->event.max_depth};
    aac_retry_policy_t policy = aac_retry_policy_from_config(cfg);
    unsigned seed = (unsigned)getpid() ^ (unsigned)aac_mono_ms();

    memset(pl, 0, sizeof(*pl));
    pl->cfg = cfg;
    pl->last_key = -1;
    pl->metrics = metrics;
    pl->acct = aac_timeacct_thread(aac_metrics_timeacct(metrics), AAC_TIMEACCT_CONSUME);
    aac_timeacct_switch(pl->acct, AAC_ACT_OTHER); /* this thread's account starts */
    aac_positions_init(&pl->pos);
    aac_retry_state_init(&pl->retry, &policy, OUTAGE_MAX_DELAY_MS, seed);
    aac_retry_state_init(&pl->offsets, &policy, OUTAGE_MAX_DELAY_MS, seed * 7u + 1u);
    pl->broker_up = true; /* as aac_metrics_new() starts it */
    pl->writers = cfg->batch.writers < 1                 ? 1
                  : cfg->batch.writers > AAC_WRITERS_MAX ? AAC_WRITERS_MAX
                                                         : cfg->batch.writers;
    pl->max_in_flight = cfg->batch.max_in_flight < 1 ? 1 : cfg->batch.max_in_flight;
    pl->spare_max = pl->max_in_flight + 2;
    pl->max_held = (size_t)cfg->memory.max_mb * 1024 * 1024 / 2;

    pl->parser = aac_event_parser_new(&lim);
    pl->sink = aac_pgsink_new(cfg);
    pl->spare = calloc((size_t)pl->spare_max, sizeof(*pl->spare));
    pl->open = aac_batch_new(copy_format(cfg));
    if (!pl->parser || !pl->sink || !pl->spare || !pl->open) {
        aac_error("out of memory");
        return -1;
    }
    aac_event_parser_set_framing(pl->parser, cfg->event.framing);
    return 0;
}

static void pipeline_free(pipeline_t *pl)
{
    aac_fetchwake_destroy(pl->wake);
    aac_upkeep_stop(pl->upkeep);
    aac_writers_destroy(pl->ws);
    aac_batch_destroy(pl->open);
    for (int i = 0; i < pl->spare_cnt; i++)
        aac_batch_destroy(pl->spare[i]);
    aac_dlq_destroy(pl->dlq);
    aac_pgsink_destroy(pl->sink);
    aac_event_parser_destroy(pl->parser);
    free(pl->spare);
    aac_positions_free(&pl->pos);
}

/* Waits until PostgreSQL answers and the schema is there, so that a wrong
 * password or a missing schema is found before joining; then makes sure
 * of the partitions ahead before the first event. Returns -1 when all is
 * there, else the exit status (fatal, or a signal while waiting). */
static int wait_for_postgres(pipeline_t *pl)
{
    aac_pgsink_result_t res;
    char err[512];
    while (aac_pgsink_check_schema(pl->sink, &res) != 0) {
        if (res.cls == AAC_CLASS_FATAL) {
            go_fatal(pl, res.errstr, aac_classify_sqlstate_action(res.sqlstate));
            return AAC_EXIT_FATAL;
        }
        aac_metrics_set_error(pl->metrics, res.cls, "postgres_unavailable", res.errstr);
        aac_retry_failed(&pl->retry, AAC_RETRY_OUTAGE, 0, aac_mono_ms());
        aac_warn("PostgreSQL not available at start, waiting",
                 AAC_KV_INT("delay_ms", pl->retry.delay_ms), AAC_KV_STR("error", res.errstr));
        /* waiting for a dependency is alive, not stalled: /health stays 200 */
        while (!aac_retry_due(&pl->retry, aac_mono_ms()) && !aac_signals_received()) {
            aac_metrics_alive(pl->metrics, aac_now());
            aac_notify_alive(aac_mono_ms());
            usleep(20000);
        }
        if (aac_signals_received())
            return AAC_EXIT_OK;
    }
    aac_retry_succeeded(&pl->retry);
    aac_metrics_set_pg_up(pl->metrics, true);
    pl->last_pg_ok = aac_mono_ms();
    int n =
        aac_partitions_ensure(pl->cfg, pl->cfg->partitions.months_ahead, NULL, err, sizeof(err));
    if (n < 0) /* the default partition still takes every row: not fatal */
        aac_warn("could not create partitions ahead, retrying later", AAC_KV_STR("error", err));
    else if (n > 0)
        aac_info("partitions created ahead", AAC_KV_INT("count", n));
    return -1;
}

/* Creates the dead-letter producer, the writers, the upkeep thread and
 * the consumer, and subscribes. Returns -1 when all is up, else the exit
 * status. */
static int start_clients(pipeline_t *pl)
{
    const aac_config_t *cfg = pl->cfg;
    char errstr[512];
    pl->dlq = aac_dlq_new(cfg, errstr, sizeof(errstr));
    if (!pl->dlq) {
        go_fatal(pl, errstr, KAFKA_CLIENT_ACTION);
        return AAC_EXIT_FATAL;
    }
    pl->ws = aac_writers_new(cfg, pl->dlq, pl->writers, pl->max_in_flight,
                             aac_metrics_timeacct(pl->metrics));
    if (!pl->ws || aac_writers_start(pl->ws) != 0) {
        aac_error("could not start the writers");
        return AAC_EXIT_FAILURE;
    }
    pl->upkeep = aac_upkeep_start(cfg, pl->metrics);
    if (!pl->upkeep) {
        aac_error("could not start the partition upkeep");
        return AAC_EXIT_FAILURE;
    }
    pl->rk = consumer_new(pl, errstr, sizeof(errstr));
    if (!pl->rk) {
        go_fatal(pl, errstr, KAFKA_CLIENT_ACTION);
        return AAC_EXIT_FATAL;
    }
    /* names and ^patterns alike: librdkafka follows a pattern's topics as
     * they come and go (topic.metadata.refresh.interval.ms) */
    rd_kafka_topic_partition_list_t *topics =
        rd_kafka_topic_partition_list_new((int)cfg->kafka.topic_cnt);
    for (size_t i = 0; i < cfg->kafka.topic_cnt; i++)
        rd_kafka_topic_partition_list_add(topics, cfg->kafka.topics[i], RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t err = rd_kafka_subscribe(pl->rk, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (err) {
        snprintf(errstr, sizeof(errstr), "could not subscribe to %.200s: %.200s", cfg->kafka.topic,
                 rd_kafka_err2str(err));
        go_fatal(pl, errstr, "check kafka.topic and that the consumer may read it");
        return AAC_EXIT_FATAL;
    }
    aac_info("consumer started", AAC_KV_STR("topic", cfg->kafka.topic),
             AAC_KV_STR("group", cfg->kafka.group_id),
             AAC_KV_STR("dlq_topic", *cfg->kafka.dlq_topic ? cfg->kafka.dlq_topic : "<topic>.dlq"),
             AAC_KV_INT("batch_max_events", cfg->batch.max_events),
             AAC_KV_INT("linger_ms", cfg->batch.linger_ms), AAC_KV_INT("writers", pl->writers),
             AAC_KV_INT("max_in_flight", pl->max_in_flight));
    return -1;
}

/* The consume thread's loop, until a signal or a fatal error: settle what
 * the writers finished, close and hand out a batch when due, poll Kafka
 * for the next message. */
static void consume_loop(pipeline_t *pl)
{
    bool drained = false;
    while (!aac_signals_received() && !pl->fatal) {
        int64_t now = aac_mono_ms();
        int in_flight, writing;

        settle(pl);
        if (pl->fatal)
            break;
        if (aac_retry_due(&pl->retry, now))
            requeue(pl);
        aac_writers_counts(pl->ws, &in_flight, &writing);
        aac_flow_t flow = flow_of(pl, now, in_flight, writing, drained);
        if (aac_flow_should_close(&flow)) {
            aac_timeacct_switch(pl->acct, AAC_ACT_SUBMIT);
            bool closed = submit(pl, false);
            aac_timeacct_switch(pl->acct, AAC_ACT_OTHER);
            if (closed) {
                aac_writers_counts(pl->ws, &in_flight, &writing);
                flow = flow_of(pl, now, in_flight, writing, drained);
            }
        }
        if (!flow.backing_off && aac_flow_full(&flow)) {
            /* no room for what comes next: wait for a writer, not for
             * Kafka (librdkafka keeps fetching into its queue) */
            stamp_alive(pl);
            aac_timeacct_switch(pl->acct, AAC_ACT_WAIT_WRITER);
            aac_writers_wait(pl->ws, AAC_FLOW_POLL_MAX_MS);
            aac_timeacct_switch(pl->acct, AAC_ACT_OTHER);
            continue;
        }
        /* a message already fetched is polled; waiting for one to arrive
         * is idle (timeacct.h) */
        int timeout = aac_flow_poll_timeout(&flow);
        aac_timeacct_switch(pl->acct, AAC_ACT_POLL);
        if (aac_fetchwake_tick(pl->wake, now, aac_metrics_get(pl->metrics, AAC_M_EVENTS_CONSUMED),
                               aac_metrics_get(pl->metrics, AAC_M_BYTES_CONSUMED)))
            aac_metrics_add(pl->metrics, AAC_M_FETCH_WAKES, 1);
        rd_kafka_message_t *rkm = rd_kafka_consumer_poll(pl->rk, 0);
        if (!rkm && timeout > 0) {
            aac_timeacct_switch(pl->acct, AAC_ACT_IDLE);
            rkm = rd_kafka_consumer_poll(pl->rk, timeout);
        }
        drained = !rkm;
        if (rkm) {
            aac_timeacct_switch(pl->acct, AAC_ACT_PARSE);
            set_broker_up(pl, true);
            handle_message(pl, rkm);
        }
        aac_timeacct_switch(pl->acct, AAC_ACT_OTHER);
        stamp_alive(pl);
        aac_dlq_poll(pl->dlq, 0);
        aac_metrics_add(pl->metrics, AAC_M_DLQ_DELIVERY_FAILED, aac_dlq_take_failed(pl->dlq));
        if (pl->fatal || dlq_fatal(pl))
            break;

        now = aac_mono_ms();
        if (aac_positions_held(&pl->pos) && pl->offsets.retry_at <= now) {
            aac_timeacct_switch(pl->acct, AAC_ACT_REBALANCE);
            restore_positions(pl);
            aac_timeacct_switch(pl->acct, AAC_ACT_OTHER);
        }
        /* joined, and every assigned partition's position known */
        if (pl->ever_assigned && !aac_positions_held(&pl->pos))
            aac_notify_ready("consuming");
        if (!in_flight && !aac_batch_count(pl->open) && !aac_retry_waiting(&pl->retry))
            idle_ping(pl, now);
    }
}

int aac_pipeline_run(const aac_config_t *cfg, aac_metrics_t *metrics)
{
    pipeline_t pl_, *pl = &pl_;
    int status = AAC_EXIT_FAILURE;

    aac_signals_install(true);
    if (pipeline_init(pl, cfg, metrics) != 0)
        goto out;
    status = wait_for_postgres(pl);
    if (status < 0)
        status = start_clients(pl);
    if (status >= 0)
        goto out;

    consume_loop(pl);
    aac_notify_stopping(pl->fatal ? "stopping: fatal error" : "stopping: shutdown requested");
    if (!pl->fatal) {
        aac_info("shutting down", AAC_KV_UINT("events_in_batch", aac_batch_count(pl->open)),
                 AAC_KV_INT("batches_in_flight", in_flight(pl)));
        drain(pl, aac_mono_ms() + cfg->service.shutdown_timeout_ms);
    }
    status = AAC_EXIT_OK;
out:
    if (pl->rk) {
        /* what is left is not written: the revocation finds nothing, and
         * no batch holds a message of the consumer when it is destroyed
         * (rd_kafka_destroy waits for every one) */
        if (pl->ws) {
            stop_writing(pl);
            discard_batches(pl);
        }
        close_consumer(pl, aac_mono_ms() + cfg->service.shutdown_timeout_ms);
    }
    pipeline_free(pl);
    aac_timeacct_stop(pl->acct);
    if (pl->fatal)
        status = AAC_EXIT_FATAL;
    aac_info("stopped", AAC_KV_INT("status", status));
    return status;
}
