/*
 * pipeline: the consume loop (see pipeline.h).
 *
 * The consume thread owns everything here: the rd_kafka_t consumer, the
 * dead-letter producer, the PostgreSQL sink, the parser and the open batch.
 * librdkafka calls the rebalance callback from rd_kafka_consumer_poll() on
 * this same thread, so the batch needs no lock.
 *
 * Per partition the loop keeps `next` (the next offset to process) and
 * `stored` (what consumer_offsets holds, as far as this instance knows: the
 * fence of every write). A message below `next` was already processed and
 * is skipped; a batch that cannot be written is either retried whole or
 * dropped, in which case its partitions are rewound to the batch's first
 * offsets. Nothing is ever committed that was not written.
 */
#include "aac/pipeline.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "aac/classify.h"
#include "aac/dlq.h"
#include "aac/event.h"
#include "aac/kafkaconf.h"
#include "aac/kstats.h"
#include "aac/log.h"
#include "aac/notify.h"
#include "aac/partitions.h"
#include "aac/pgsink.h"
#include "aac/retry.h"

#define POLL_MAX_MS         100
#define MAX_PARTITIONS      100000 /* bound on partition ids this instance tracks */
#define DLQ_WAIT_MS         5000   /* how long a commit waits for dead-letter reports */
#define OUTAGE_MAX_DELAY_MS 5000   /* backoff cap while a dependency is down */
#define PING_IDLE_MS        5000   /* check PostgreSQL when nothing was written for this long */
#define PARTITIONS_EVERY_MS (6 * 3600 * 1000) /* partitions ahead: at start and then */

typedef struct part_s {
    bool assigned;
    bool need_offset; /* stored offset not yet read from PostgreSQL */
    bool check_gap;   /* first message since assignment or seek */
    int64_t next;     /* next offset to process, -1: take what comes */
    int64_t stored;   /* consumer_offsets' value as far as we know, -1: none */
    int64_t batch_first;
    int64_t resume_at;    /* seek here on resume: messages were discarded */
    bool committed_early; /* its part of the open batch is committed (the rest failed) */
} part_t;

typedef struct item_s {
    rd_kafka_message_t *rkm;
    int64_t event_us; /* event timestamp, for the end-to-end delay */
    int err;          /* index into errs, -1 when valid */
    bool settled;     /* its partition's part of the batch is committed */
} item_t;

typedef struct pipeline_s {
    const aac_config_t *cfg;
    aac_metrics_t *metrics;
    aac_retry_policy_t retry;
    rd_kafka_t *rk;
    aac_dlq_t *dlq;
    aac_pgsink_t *sink;
    aac_event_parser_t *parser;
    aac_rows_t *rows;

    part_t *part;
    int32_t part_cap;

    item_t *items;
    size_t item_cnt, item_cap;
    aac_event_error_t *errs;
    size_t err_cnt, err_cap;
    size_t batch_bytes;
    int64_t batch_deadline; /* monotonic ms */

    bool paused;         /* partitions paused by this loop */
    int64_t retry_at;    /* monotonic ms; 0 when not backing off */
    int attempts;        /* counted failures of the open batch */
    int outage_attempts; /* failures while a dependency is down */
    int offset_attempts; /* failed reads of stored offsets */
    int64_t offsets_retry_at;
    int fatal; /* set: stop with AAC_EXIT_FATAL */
    unsigned rnd;
    int64_t last_pg_ok;    /* monotonic ms of the last PostgreSQL success */
    int64_t partitions_at; /* monotonic ms of the next partition upkeep */
    int cap_events;        /* smaller batches while isolating a failing message, 0: none */
    int cap_successes;     /* batches committed under that cap */
    bool ever_assigned;    /* the group has completed a join for this member */
    bool offsets_wanted;   /* some assigned partition waits for its stored offset */
    bool broker_up;        /* what the metrics were last told */
} pipeline_t;

static volatile sig_atomic_t signals_seen;

/* A consumer left to the process's exit (see close_consumer): kept
 * reachable so that leak checkers do not report it. */
static rd_kafka_t *abandoned_rk;

static void on_signal(int sig)
{
    (void)sig;
    if (++signals_seen >= 2) {
        /* nothing unwritten is committed: the transaction dies with us */
        aac_log_signal_safe(AAC_LOG_WARN, "second signal, exiting at once");
        _exit(130);
    }
}

static double unit_rand(pipeline_t *pl)
{
    pl->rnd = pl->rnd * 1103515245u + 12345u;
    return (double)((pl->rnd >> 8) & 0xffffff) / (double)0x1000000;
}

/* The delay before attempt n while a dependency is down: the retry
 * policy, capped lower, since nothing is counted and the wait is for the
 * dependency, not for a message. */
static int outage_delay_ms(pipeline_t *pl, int attempt)
{
    aac_retry_policy_t p = pl->retry;
    if (p.max_backoff_ms > OUTAGE_MAX_DELAY_MS)
        p.max_backoff_ms = OUTAGE_MAX_DELAY_MS;
    return aac_retry_delay_ms(&p, attempt, unit_rand(pl));
}

/* --- partitions ---------------------------------------------------------- */

static part_t *part_get(pipeline_t *pl, int32_t p)
{
    if (p < 0 || p >= MAX_PARTITIONS)
        return NULL;
    if (p >= pl->part_cap) {
        int32_t n = pl->part_cap ? pl->part_cap : 16;
        while (n <= p)
            n *= 2;
        part_t *np = realloc(pl->part, (size_t)n * sizeof(*np));
        if (!np)
            return NULL;
        for (int32_t i = pl->part_cap; i < n; i++)
            np[i] = (part_t){.next = -1, .stored = -1, .batch_first = -1, .resume_at = -1};
        pl->part = np;
        pl->part_cap = n;
    }
    return &pl->part[p];
}

static void publish_partitions(pipeline_t *pl)
{
    aac_partition_state_t st[AAC_METRICS_MAX_PARTITIONS];
    size_t n = 0;
    for (int32_t p = 0; p < pl->part_cap && n < AAC_METRICS_MAX_PARTITIONS; p++) {
        if (!pl->part[p].assigned)
            continue;
        st[n++] = (aac_partition_state_t){.partition = p,
                                          .assigned = true,
                                          .paused = pl->paused || pl->part[p].need_offset,
                                          .lag = -1,
                                          .committed_offset = pl->part[p].stored};
    }
    aac_metrics_set_partitions(pl->metrics, st, n);
    aac_metrics_set_joined(pl->metrics, n > 0);
}

/* A list of the assigned partitions matching `want` (NULL: all). */
static rd_kafka_topic_partition_list_t *assigned_list(pipeline_t *pl, bool (*want)(const part_t *))
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(8);
    for (int32_t p = 0; p < pl->part_cap; p++)
        if (pl->part[p].assigned && (!want || want(&pl->part[p])))
            rd_kafka_topic_partition_list_add(l, pl->cfg->kafka.topic, p);
    return l;
}

static void set_paused(pipeline_t *pl, bool paused)
{
    if (pl->paused == paused)
        return;
    rd_kafka_topic_partition_list_t *l = assigned_list(pl, NULL);
    if (paused)
        rd_kafka_pause_partitions(pl->rk, l);
    else
        rd_kafka_resume_partitions(pl->rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    pl->paused = paused;
    publish_partitions(pl);
}

/* Holds partition p back (paused, position unknown) until load_offsets()
 * reads its stored offset again and seeks there, or to `offset` when
 * none is stored: used when a seek did not take effect, so that fetching
 * never runs on from wherever librdkafka happens to be (Kafka's committed
 * offset may be below PostgreSQL's). */
static void hold(pipeline_t *pl, int32_t p, int64_t offset)
{
    part_t *pt = &pl->part[p];
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, pl->cfg->kafka.topic, p);
    rd_kafka_pause_partitions(pl->rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    pt->need_offset = true;
    if (offset >= 0 && (pt->resume_at < 0 || offset < pt->resume_at))
        pt->resume_at = offset;
    pl->offsets_wanted = true;
    int delay = outage_delay_ms(pl, ++pl->offset_attempts);
    int64_t at = aac_mono_ms() + (delay < 100 ? 100 : delay);
    if (!pl->offsets_retry_at || at < pl->offsets_retry_at)
        pl->offsets_retry_at = at;
}

/* Seeks partition p to `offset`, synchronously: librdkafka then drops
 * the messages it had already fetched for the partition. A seek can fail
 * for one partition while the call succeeds (librdkafka answers __STATE
 * while the partition's fetcher has not started, e.g. while Kafka's
 * committed offset is still being fetched): then the partition is held
 * and the seek tried again later. Returns true when the seek took effect. */
static bool seek_to(pipeline_t *pl, int32_t p, int64_t offset)
{
    char err[256] = "";
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, pl->cfg->kafka.topic, p)->offset = offset;
    rd_kafka_error_t *e = rd_kafka_seek_partitions(pl->rk, l, 5000);
    if (e) {
        snprintf(err, sizeof(err), "%s", rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
    } else if (l->elems[0].err) {
        snprintf(err, sizeof(err), "%s", rd_kafka_err2str(l->elems[0].err));
    }
    rd_kafka_topic_partition_list_destroy(l);
    pl->part[p].check_gap = true;
    if (!err[0])
        return true;
    aac_warn("could not seek, partition held back", AAC_KV_INT("partition", p),
             AAC_KV_INT("offset", offset), AAC_KV_STR("error", err));
    hold(pl, p, offset);
    publish_partitions(pl);
    return false;
}

/* --- the batch ----------------------------------------------------------- */

static void batch_clear(pipeline_t *pl)
{
    for (size_t i = 0; i < pl->item_cnt; i++)
        rd_kafka_message_destroy(pl->items[i].rkm);
    pl->item_cnt = 0;
    pl->err_cnt = 0;
    pl->batch_bytes = 0;
    pl->attempts = 0;
    aac_rows_reset(pl->rows);
    for (int32_t p = 0; p < pl->part_cap; p++) {
        pl->part[p].batch_first = -1;
        pl->part[p].committed_early = false;
    }
}

/* Drops the open batch unwritten: its partitions go back to where the
 * batch began, so the messages are consumed again. */
static void batch_drop(pipeline_t *pl, const char *why)
{
    if (!pl->item_cnt)
        return;
    aac_warn("batch dropped unwritten", AAC_KV_UINT("events", pl->item_cnt),
             AAC_KV_STR("reason", why));
    for (int32_t p = 0; p < pl->part_cap; p++) {
        part_t *pt = &pl->part[p];
        if (pt->batch_first < 0)
            continue;
        pt->next = pt->batch_first;
        if (pt->assigned)
            seek_to(pl, p, pt->batch_first);
    }
    batch_clear(pl);
}

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t n = *cap ? *cap * 2 : 256;
    while (n < need)
        n *= 2;
    void *q = realloc(*p, n * elem);
    if (!q)
        return -1;
    *p = q;
    *cap = n;
    return 0;
}

/* A message that could not be added: drop the batch and rewind every
 * partition in it, this message's included, so nothing is skipped. */
static void batch_add_failed(pipeline_t *pl, rd_kafka_message_t *rkm, part_t *pt)
{
    aac_error("out of memory, dropping the batch");
    if (pt->batch_first < 0)
        pt->batch_first = rkm->offset;
    rd_kafka_message_destroy(rkm);
    batch_drop(pl, "out of memory");
}

/* Takes ownership of rkm. */
static void batch_add(pipeline_t *pl, rd_kafka_message_t *rkm, part_t *pt)
{
    aac_event_t ev;
    item_t *it;

    if (grow((void **)&pl->items, &pl->item_cap, pl->item_cnt + 1, sizeof(item_t)) != 0 ||
        grow((void **)&pl->errs, &pl->err_cap, pl->err_cnt + 1, sizeof(aac_event_error_t)) != 0) {
        batch_add_failed(pl, rkm, pt);
        return;
    }
    it = &pl->items[pl->item_cnt];
    it->rkm = rkm;
    it->err = -1;
    it->event_us = 0;
    it->settled = false;
    aac_event_error_t *err = &pl->errs[pl->err_cnt];
    aac_reason_t r = aac_event_parse(pl->parser, pl->cfg->kafka.topic, rkm->partition, rkm->offset,
                                     rkm->payload, rkm->len, &ev, err);
    if (r == AAC_REASON_NONE) {
        if (aac_rows_add(pl->rows, &ev, pl->cfg->kafka.topic, rkm->partition, rkm->offset,
                         pl->item_cnt) != 0) {
            batch_add_failed(pl, rkm, pt);
            return;
        }
        it->event_us = ev.timestamp_us;
        if (ev.extra_count)
            aac_metrics_add(pl->metrics, AAC_M_UNKNOWN_FIELDS, ev.extra_count);
    } else {
        it->err = (int)pl->err_cnt++;
        aac_metrics_add(pl->metrics, AAC_M_EVENTS_INVALID, 1);
        aac_debug("invalid event", AAC_KV_INT("partition", rkm->partition),
                  AAC_KV_INT("offset", rkm->offset), AAC_KV_STR("reason", aac_reason_str(r)),
                  AAC_KV_STR("path", err->path));
    }
    if (!pl->item_cnt)
        pl->batch_deadline = aac_mono_ms() + pl->cfg->batch.linger_ms;
    pl->item_cnt++;
    pl->batch_bytes += rkm->len;
    if (pt->batch_first < 0)
        pt->batch_first = rkm->offset;
    pt->next = rkm->offset + 1;
    aac_metrics_add(pl->metrics, AAC_M_EVENTS_CONSUMED, 1);
}

/* Called by the sink inside the transaction, before the offsets are
 * stored: every dead letter of the batch must be confirmed delivered. */
static int confirm_dead_letters(void *opaque, const aac_rows_t *rows)
{
    pipeline_t *pl = opaque;
    size_t pending;
    int64_t deadline = aac_mono_ms() + DLQ_WAIT_MS;

    for (;;) {
        pending = 0;
        for (size_t i = 0; i < pl->item_cnt; i++) {
            const item_t *it = &pl->items[i];
            /* a committed part's dead letters were confirmed before its
             * commit; its partition may be revoked since, and its
             * delivery records forgotten: never send them again */
            if (it->err >= 0 && !it->settled) {
                const aac_event_error_t *e = &pl->errs[it->err];
                aac_dlq_reason_t why = {aac_classify_reason(e->reason), e->reason, e->path,
                                        e->message, 1};
                aac_dlq_state_t st = aac_dlq_state(pl->dlq, it->rkm->partition, it->rkm->offset);
                if (st == AAC_DLQ_DELIVERED)
                    continue;
                pending++;
                aac_dlq_send(pl->dlq, it->rkm, &why); /* no-op while in flight */
            }
        }
        for (size_t r = 0; r < aac_rows_count(rows); r++) {
            const aac_row_reject_t *rj = aac_rows_rejected(rows, r);
            if (!rj)
                continue;
            const item_t *it = &pl->items[aac_rows_tag(rows, r)];
            if (it->settled)
                continue;
            aac_dlq_state_t st = aac_dlq_state(pl->dlq, it->rkm->partition, it->rkm->offset);
            if (st == AAC_DLQ_DELIVERED)
                continue;
            pending++;
            char msg[300];
            snprintf(msg, sizeof(msg), "%s (SQLSTATE %s)", rj->message,
                     rj->sqlstate[0] ? rj->sqlstate : "none");
            aac_dlq_reason_t why = {AAC_CLASS_PERMANENT, rj->reason, "$", msg,
                                    rj->reason == AAC_REASON_RETRIES_EXHAUSTED ? pl->attempts : 1};
            aac_dlq_send(pl->dlq, it->rkm, &why);
        }
        if (!pending)
            return 0;
        if (aac_dlq_fatal(pl->dlq, NULL, 0, NULL))
            return -1; /* never delivered now: the caller stops */
        if (aac_mono_ms() >= deadline) {
            int err = aac_dlq_last_error(pl->dlq);
            aac_warn(
                "dead letters not confirmed", AAC_KV_UINT("pending", pending),
                AAC_KV_STR("error", err ? rd_kafka_err2name((rd_kafka_resp_err_t)err) : "timeout"));
            return -1;
        }
        aac_dlq_poll(pl->dlq, 50);
    }
}

static void count_dead_letters(pipeline_t *pl)
{
    for (size_t i = 0; i < pl->item_cnt; i++)
        if (pl->items[i].err >= 0)
            aac_metrics_dead_letter(pl->metrics, pl->errs[pl->items[i].err].reason);
    for (size_t r = 0; r < aac_rows_count(pl->rows); r++)
        if (aac_rows_rejected(pl->rows, r))
            aac_metrics_dead_letter(pl->metrics, aac_rows_rejected(pl->rows, r)->reason);
}

static const char *fatal_hint(const char *sqlstate)
{
    if (!strncmp(sqlstate, "28", 2))
        return "check postgres.user and its password (postgres.password, postgres.password_file "
               "or PGPASSWORD)";
    if (!strcmp(sqlstate, "42P01"))
        return "apply the migrations: agent-actions-consumer migrate up";
    if (!strcmp(sqlstate, "42501"))
        return "grant the database user INSERT on agent_actions and SELECT, INSERT, UPDATE "
               "on consumer_offsets";
    if (!strcmp(sqlstate, "3D000"))
        return "create the database or correct postgres.dbname (PGDATABASE)";
    return "correct the configuration and restart";
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

/* Schedules the next attempt after a transient failure. */
static void back_off(pipeline_t *pl, const aac_pgsink_result_t *res, bool counted)
{
    int delay;
    const char *why = res->dead_letters_pending ? "dead_letter_unavailable"
                      : res->outage             ? "postgres_unavailable"
                      : counted                 ? "write_failed"
                                                : "postgres_contention";
    aac_metrics_retry(pl->metrics, AAC_CLASS_TRANSIENT);
    if (counted) {
        delay = aac_retry_delay_ms(&pl->retry, pl->attempts, unit_rand(pl));
    } else {
        /* not the messages' fault: retry for as long as it takes, never
         * counted against them, at a capped pace */
        delay = outage_delay_ms(pl, ++pl->outage_attempts);
        aac_metrics_set_paused_outage(pl->metrics, true);
        if (res->outage && !res->dead_letters_pending)
            aac_metrics_set_pg_up(pl->metrics, false);
    }
    aac_warn("batch not written, retrying", AAC_KV_UINT("events", pl->item_cnt),
             AAC_KV_STR("reason", why),
             AAC_KV_INT("attempt", counted ? pl->attempts : pl->outage_attempts),
             AAC_KV_INT("delay_ms", delay),
             AAC_KV_STR("error", res->errstr[0] ? res->errstr : "unknown"));
    aac_metrics_set_error(pl->metrics, AAC_CLASS_TRANSIENT, why, res->errstr);
    pl->retry_at = aac_mono_ms() + delay;
    set_paused(pl, true);
}

static void resume(pipeline_t *pl);

/* A batch failed max_attempts times for a reason that may be its own
 * messages'. Retry it in halves until the message at fault is alone, then
 * dead-letter that message as retries_exhausted. */
static void exhaust(pipeline_t *pl, const aac_pgsink_result_t *res)
{
    size_t live = aac_rows_live(pl->rows);
    if (live > 1) {
        pl->cap_events = (int)(live / 2);
        pl->cap_successes = 0;
        aac_warn("batch keeps failing, retrying it in smaller batches",
                 AAC_KV_UINT("events", pl->item_cnt), AAC_KV_INT("attempts", pl->attempts),
                 AAC_KV_INT("next_batch_max", pl->cap_events), AAC_KV_STR("error", res->errstr));
        batch_drop(pl, "retries exhausted, halving");
        resume(pl);
        return;
    }
    for (size_t r = 0; r < aac_rows_count(pl->rows); r++) {
        if (aac_rows_rejected(pl->rows, r) || aac_rows_written(pl->rows, r))
            continue;
        const rd_kafka_message_t *rkm = pl->items[aac_rows_tag(pl->rows, r)].rkm;
        char msg[300];
        snprintf(msg, sizeof(msg), "write failed %d times: %.250s", pl->attempts, res->errstr);
        aac_warn("event dead-lettered after its retries", AAC_KV_INT("partition", rkm->partition),
                 AAC_KV_INT("offset", rkm->offset), AAC_KV_INT("attempts", pl->attempts));
        if (aac_rows_reject(pl->rows, r, AAC_REASON_RETRIES_EXHAUSTED, res->sqlstate, msg) != 0)
            batch_drop(pl, "out of memory");
    }
    pl->cap_events = 0;
    pl->retry_at = aac_mono_ms(); /* the rest of the batch goes at once */
}

/* After a successful write: resume and seek back to where we stopped
 * processing, past whatever was discarded while paused. */
static void resume(pipeline_t *pl)
{
    pl->retry_at = 0;
    pl->outage_attempts = 0;
    aac_metrics_set_paused_outage(pl->metrics, false);
    set_paused(pl, false);
    /* messages discarded while waiting (paused or not) are fetched again */
    for (int32_t p = 0; p < pl->part_cap; p++) {
        part_t *pt = &pl->part[p];
        if (pt->need_offset || pt->resume_at < 0)
            continue; /* held: load_offsets() seeks it */
        int64_t to = pt->next >= 0 ? pt->next : pt->resume_at;
        pt->resume_at = -1;
        if (pt->assigned)
            seek_to(pl, p, to);
    }
}

/* Commits to Kafka the offsets the last write stored (all of them when it
 * succeeded, some when it failed in part). */
static void commit_to_kafka(pipeline_t *pl, const aac_pgsink_offset_t *offs, size_t n)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)n);
    for (size_t i = 0; i < n; i++)
        if (offs[i].committed)
            rd_kafka_topic_partition_list_add(l, pl->cfg->kafka.topic, offs[i].partition)->offset =
                offs[i].next_offset;
    /* asynchronous: PostgreSQL holds the authoritative offsets */
    if (l->cnt)
        rd_kafka_commit(pl->rk, l, 1);
    rd_kafka_topic_partition_list_destroy(l);
}

/* After a fence another instance has written our partitions: drop the
 * batch, rewound like batch_drop, and re-read every assigned partition's
 * stored offset before going on. */
static void refence(pipeline_t *pl)
{
    for (int32_t p = 0; p < pl->part_cap; p++) {
        part_t *pt = &pl->part[p];
        if (pt->batch_first >= 0) {
            pt->next = pt->batch_first;
            /* librdkafka's position is past the dropped batch: when nothing
             * is stored any more (the row was deleted), fetch it again */
            if (pt->resume_at < 0 || pt->batch_first < pt->resume_at)
                pt->resume_at = pt->batch_first;
        }
        if (pt->assigned) {
            pt->need_offset = true;
            pl->offsets_wanted = true;
        }
    }
    batch_clear(pl);
    pl->offsets_retry_at = 0;
    aac_metrics_add(pl->metrics, AAC_M_FENCED, 1);
}

/* A write that failed may still have committed some partitions' part of
 * the batch (see pgsink.h): their offsets are stored, so they leave the
 * batch's bookkeeping and are never rewound; their rows are marked written
 * and skipped by the retry. Their dead letters stay tracked until the
 * whole batch is through, as the batch still holds their messages. */
static void partly_committed(pipeline_t *pl, const aac_pgsink_offset_t *o, size_t n,
                             const aac_pgsink_result_t *res)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (!o[i].committed)
            continue;
        part_t *pt = &pl->part[o[i].partition];
        pt->stored = o[i].next_offset;
        pt->batch_first = -1;
        pt->committed_early = true;
        k++;
    }
    if (!k)
        return;
    for (size_t i = 0; i < pl->item_cnt; i++)
        if (pl->part[pl->items[i].rkm->partition].committed_early)
            pl->items[i].settled = true;
    commit_to_kafka(pl, o, n);
    aac_metrics_add(pl->metrics, AAC_M_EVENTS_WRITTEN, res->inserted);
    aac_metrics_add(pl->metrics, AAC_M_EVENTS_DUPLICATE, res->duplicates);
    aac_debug("batch committed in part", AAC_KV_UINT("partitions", k), AAC_KV_UINT("of", n),
              AAC_KV_UINT("inserted", res->inserted));
}

/* Writes the open batch. Returns 0 when it was committed. */
static int flush(pipeline_t *pl)
{
    aac_pgsink_offset_t offs[64], *o = offs;
    size_t n = 0, cap = sizeof(offs) / sizeof(offs[0]);
    aac_pgsink_result_t res;
    int rc = -1;

    if (!pl->item_cnt) {
        resume(pl); /* the batch was dropped while backing off */
        return 0;
    }
    for (int32_t p = 0; p < pl->part_cap; p++) {
        part_t *pt = &pl->part[p];
        if (pt->batch_first < 0)
            continue;
        if (n == cap) {
            cap *= 2;
            aac_pgsink_offset_t *no =
                o == offs ? malloc(cap * sizeof(*no)) : realloc(o, cap * sizeof(*no));
            if (!no)
                goto out;
            if (o == offs)
                memcpy(no, offs, sizeof(offs));
            o = no;
        }
        o[n++] = (aac_pgsink_offset_t){p, pt->next, pt->stored, false};
    }

    int64_t t0 = aac_mono_ms();
    if (aac_pgsink_write(pl->sink, pl->rows, pl->cfg->kafka.group_id, pl->cfg->kafka.topic, o, n,
                         confirm_dead_letters, pl, &res) == 0) {
        double now = aac_now();
        double secs = (double)(aac_mono_ms() - t0) / 1000.0;
        for (size_t i = 0; i < n; i++) {
            part_t *pt = &pl->part[o[i].partition];
            pt->stored = o[i].next_offset;
            aac_dlq_forget(pl->dlq, o[i].partition, o[i].next_offset);
        }
        for (int32_t p = 0; p < pl->part_cap; p++)
            if (pl->part[p].committed_early)
                aac_dlq_forget(pl->dlq, p, pl->part[p].stored);
        commit_to_kafka(pl, o, n);
        aac_metrics_add(pl->metrics, AAC_M_EVENTS_WRITTEN, res.inserted);
        aac_metrics_add(pl->metrics, AAC_M_EVENTS_DUPLICATE, res.duplicates);
        aac_metrics_add(pl->metrics, AAC_M_BATCHES, 1);
        aac_metrics_observe_batch(pl->metrics, pl->item_cnt, secs);
        /* the delay of the rows committed, not of those dead-lettered */
        for (size_t r = 0; r < aac_rows_count(pl->rows); r++)
            if (!aac_rows_rejected(pl->rows, r))
                aac_metrics_observe_delay(
                    pl->metrics, now - (double)pl->items[aac_rows_tag(pl->rows, r)].event_us / 1e6);
        count_dead_letters(pl);
        aac_metrics_set_pg_up(pl->metrics, true);
        aac_metrics_committed(pl->metrics, now);
        pl->last_pg_ok = aac_mono_ms();
        aac_debug("batch committed", AAC_KV_UINT("events", pl->item_cnt),
                  AAC_KV_UINT("inserted", res.inserted), AAC_KV_UINT("duplicates", res.duplicates),
                  AAC_KV_UINT("rejected", res.rejected), AAC_KV_UINT("partitions", n),
                  AAC_KV_INT("round_trips", res.round_trips), AAC_KV_INT("writers", res.writers),
                  AAC_KV_DBL("ms", secs * 1000));
        batch_clear(pl);
        resume(pl);
        publish_partitions(pl);
        /* the isolation is over once the failing message was found, or
         * when the failure went away by itself */
        if (pl->cap_events && ++pl->cap_successes >= 10)
            pl->cap_events = 0;
        rc = 0;
        goto out;
    }

    partly_committed(pl, o, n, &res);
    if (res.dead_letters_pending && dlq_fatal(pl))
        goto out;
    if (res.cls == AAC_CLASS_FATAL) {
        char what[700];
        snprintf(what, sizeof(what), "%s", res.errstr);
        go_fatal(pl, what, fatal_hint(res.sqlstate));
        goto out;
    }
    if (res.fenced) {
        aac_warn("batch fenced", AAC_KV_STR("detail", res.errstr));
        refence(pl);
        goto out;
    }
    bool counted = !res.outage && !res.dead_letters_pending &&
                   aac_classify_sqlstate_counts_against_message(res.sqlstate);
    if (counted && !aac_retry_may_retry(&pl->retry, ++pl->attempts) &&
        aac_rows_live(pl->rows) > 0) {
        exhaust(pl, &res);
        goto out;
    }
    back_off(pl, &res, counted);
out:
    if (o != offs)
        free(o);
    return rc;
}

/* --- stored offsets ------------------------------------------------------ */

static bool wants_offset(const part_t *pt)
{
    return pt->need_offset;
}

/* Reads the stored offsets of the assigned partitions that still need
 * them, of those in `only` when given (an assignment being applied: the
 * partitions held back earlier keep their own retry). Returns the number
 * read (ids/offs filled), 0 when none waits, -1 when PostgreSQL could not
 * be read (the partitions stay held back). */
static int fetch_offsets(pipeline_t *pl, const rd_kafka_topic_partition_list_t *only, int32_t *ids,
                         int64_t *offs, size_t max)
{
    size_t n = 0, waiting = 0;
    aac_pgsink_result_t res;

    if (!pl->offsets_wanted)
        return 0; /* the common case, checked on every loop */
    for (int32_t p = 0; p < pl->part_cap; p++)
        if (pl->part[p].assigned && pl->part[p].need_offset) {
            waiting++;
            if (!only && n < max)
                ids[n++] = p;
        }
    for (int i = 0; only && i < only->cnt && n < max; i++) {
        part_t *pt = part_get(pl, only->elems[i].partition);
        if (pt && pt->assigned && pt->need_offset)
            ids[n++] = only->elems[i].partition;
    }
    pl->offsets_wanted = waiting > n; /* others wait, or more than one call's worth */
    if (!n)
        return 0;
    if (aac_pgsink_fetch_offsets(pl->sink, pl->cfg->kafka.group_id, pl->cfg->kafka.topic, ids, n,
                                 offs, &res) != 0) {
        if (res.cls == AAC_CLASS_FATAL) {
            go_fatal(pl, res.errstr, fatal_hint(res.sqlstate));
            return -1;
        }
        int delay = outage_delay_ms(pl, ++pl->offset_attempts);
        pl->offsets_retry_at = aac_mono_ms() + delay;
        aac_metrics_retry(pl->metrics, AAC_CLASS_TRANSIENT);
        aac_metrics_set_pg_up(pl->metrics, false);
        aac_metrics_set_paused_outage(pl->metrics, true);
        aac_metrics_set_error(pl->metrics, res.cls, "postgres_unavailable", res.errstr);
        pl->offsets_wanted = true;
        aac_warn("could not read stored offsets, partitions held back",
                 AAC_KV_UINT("partitions", n), AAC_KV_INT("delay_ms", delay),
                 AAC_KV_STR("error", res.errstr));
        return -1;
    }
    pl->offset_attempts = 0;
    pl->offsets_retry_at = 0;
    aac_metrics_set_pg_up(pl->metrics, true);
    if (!pl->retry_at)
        aac_metrics_set_paused_outage(pl->metrics, false);
    for (size_t i = 0; i < n; i++) {
        part_t *pt = &pl->part[ids[i]];
        pt->need_offset = false;
        pt->stored = offs[i];
        pt->next = offs[i];
        pt->check_gap = true;
        aac_info("partition ready", AAC_KV_INT("partition", ids[i]),
                 AAC_KV_INT("stored_offset", offs[i]));
    }
    return (int)n;
}

/* For partitions held back (assigned while PostgreSQL could not be read,
 * after a fence, or after a seek that did not take effect): read the
 * stored offsets, seek there and let them run. */
static void load_offsets(pipeline_t *pl)
{
    int32_t ids[1024];
    int64_t offs[1024];
    int n = fetch_offsets(pl, NULL, ids, offs, 1024);
    if (n <= 0)
        return;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(n);
    for (int i = 0; i < n; i++) {
        part_t *pt = &pl->part[ids[i]];
        /* none stored: where discarding began (or where a dropped batch
         * began), else where the assignment already points (Kafka's
         * committed offset, else auto.offset.reset) */
        int64_t to = offs[i] >= 0 ? offs[i] : pt->resume_at;
        pt->resume_at = -1;
        if (to >= 0 && !seek_to(pl, ids[i], to))
            continue; /* held again, retried later */
        rd_kafka_topic_partition_list_add(l, pl->cfg->kafka.topic, ids[i]);
    }
    if (!pl->paused && l->cnt)
        rd_kafka_resume_partitions(pl->rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    publish_partitions(pl);
}

/* --- rebalance ----------------------------------------------------------- */

/* librdkafka keeps a partition paused by the application across its
 * revocation and a later assignment: a partition assigned again after it
 * was held back would stay paused for good. Resumes those of `parts`
 * whose position is known. */
static void resume_ready(pipeline_t *pl, const rd_kafka_topic_partition_list_t *parts)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(parts->cnt);
    for (int i = 0; i < parts->cnt; i++) {
        part_t *pt = part_get(pl, parts->elems[i].partition);
        if (pt && pt->assigned && !pt->need_offset)
            rd_kafka_topic_partition_list_add(l, pl->cfg->kafka.topic, parts->elems[i].partition);
    }
    if (l->cnt)
        rd_kafka_resume_partitions(pl->rk, l);
    rd_kafka_topic_partition_list_destroy(l);
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    pipeline_t *pl = opaque;
    bool cooperative = !strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE");
    rd_kafka_error_t *e = NULL;

    aac_metrics_add(pl->metrics, AAC_M_REBALANCES, 1);
    pl->ever_assigned = true;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        for (int i = 0; i < parts->cnt; i++) {
            part_t *pt = part_get(pl, parts->elems[i].partition);
            if (!pt)
                continue;
            *pt = (part_t){.assigned = true,
                           .need_offset = true,
                           .next = -1,
                           .stored = -1,
                           .batch_first = -1,
                           .resume_at = -1};
            /* no stored offset: Kafka's committed one, else auto.offset.reset */
            parts->elems[i].offset = RD_KAFKA_OFFSET_INVALID;
        }
        pl->offsets_wanted = true;
        /* PostgreSQL's offsets are the truth: start each partition there */
        int32_t ids[1024];
        int64_t offs[1024];
        int n = fetch_offsets(pl, parts, ids, offs, 1024);
        for (int i = 0; i < n; i++) {
            rd_kafka_topic_partition_t *tp =
                rd_kafka_topic_partition_list_find(parts, pl->cfg->kafka.topic, ids[i]);
            if (tp && offs[i] >= 0)
                tp->offset = offs[i];
        }
        if (cooperative)
            e = rd_kafka_incremental_assign(rk, parts);
        else
            rd_kafka_assign(rk, parts);
        /* unknown position (PostgreSQL down): held back until it is known */
        rd_kafka_topic_partition_list_t *held = assigned_list(pl, wants_offset);
        if (held->cnt)
            rd_kafka_pause_partitions(rk, held);
        if (pl->paused)
            rd_kafka_pause_partitions(rk, parts);
        else
            resume_ready(pl, parts);
        rd_kafka_topic_partition_list_destroy(held);
        aac_info("partitions assigned", AAC_KV_INT("count", parts->cnt),
                 AAC_KV_STR("protocol", cooperative ? "cooperative" : "eager"),
                 AAC_KV_INT("held_back", n < 0 ? parts->cnt : 0));
    } else {
        /* the open batch holds revoked partitions: write it now or drop
         * it, before they are released */
        bool touches = !cooperative;
        for (int i = 0; i < parts->cnt && !touches; i++) {
            int32_t p = parts->elems[i].partition;
            touches = p < pl->part_cap && pl->part[p].batch_first >= 0;
        }
        if (touches && pl->item_cnt && flush(pl) != 0)
            batch_drop(pl, "partitions revoked");
        for (int i = 0; i < parts->cnt; i++) {
            part_t *pt = part_get(pl, parts->elems[i].partition);
            if (!pt)
                continue;
            aac_dlq_forget(pl->dlq, parts->elems[i].partition, INT64_MAX);
            *pt = (part_t){.next = -1, .stored = -1, .batch_first = -1, .resume_at = -1};
        }
        if (cooperative)
            e = rd_kafka_incremental_unassign(rk, parts);
        else
            rd_kafka_assign(rk, NULL);
        aac_info("partitions revoked", AAC_KV_INT("count", parts->cnt),
                 AAC_KV_STR("reason", err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS
                                          ? "rebalance"
                                          : rd_kafka_err2name(err)));
    }
    if (e) {
        aac_error("could not apply the assignment", AAC_KV_STR("error", rd_kafka_error_string(e)));
        rd_kafka_error_destroy(e);
    }
    publish_partitions(pl);
}

/* --- messages ------------------------------------------------------------ */

/* Called for a message whose offset is not the next one expected. When
 * the broker deleted messages before they were consumed (retention),
 * librdkafka resets the position to the earliest offset and the stream
 * jumps: the low watermark, cached from fetch responses, is then above the
 * offset we expected. Other jumps (transaction markers, compaction) are
 * normal and not reported. A message below the expected offset is
 * followed only when the log really starts over (its end is below what
 * we stored: the topic was recreated); otherwise the fetch position is
 * wrong, and the partition is sought back: the stored offset never moves
 * backwards. Returns true when the message must be dropped. */
static bool check_gap(pipeline_t *pl, part_t *pt, const rd_kafka_message_t *rkm)
{
    int64_t lo = -1, hi = -1;
    if (rkm->offset < pt->next) {
        if (rd_kafka_query_watermark_offsets(pl->rk, pl->cfg->kafka.topic, rkm->partition, &lo, &hi,
                                             2000) != RD_KAFKA_RESP_ERR_NO_ERROR ||
            hi >= pt->next) {
            aac_warn("fetched below the stored offset, seeking back",
                     AAC_KV_INT("partition", rkm->partition),
                     AAC_KV_INT("expected_offset", pt->next),
                     AAC_KV_INT("actual_offset", rkm->offset), AAC_KV_INT("high_watermark", hi));
            seek_to(pl, rkm->partition, pt->next);
            return true;
        }
        /* the partition's log starts over below what we stored */
        aac_error("partition offsets went backwards (topic recreated?), following the broker",
                  AAC_KV_INT("partition", rkm->partition), AAC_KV_INT("expected_offset", pt->next),
                  AAC_KV_INT("actual_offset", rkm->offset), AAC_KV_INT("high_watermark", hi));
        pt->next = rkm->offset;
        return false;
    }
    if (rd_kafka_get_watermark_offsets(pl->rk, pl->cfg->kafka.topic, rkm->partition, &lo, &hi) !=
            RD_KAFKA_RESP_ERR_NO_ERROR ||
        lo < 0)
        rd_kafka_query_watermark_offsets(pl->rk, pl->cfg->kafka.topic, rkm->partition, &lo, &hi,
                                         2000);
    if (lo <= pt->next) {
        aac_debug("offsets skipped (transaction markers or compaction)",
                  AAC_KV_INT("partition", rkm->partition), AAC_KV_INT("expected_offset", pt->next),
                  AAC_KV_INT("actual_offset", rkm->offset));
        return false;
    }
    int64_t gap = (lo < rkm->offset ? lo : rkm->offset) - pt->next;
    aac_warn("offsets lost to retention before they were consumed",
             AAC_KV_INT("partition", rkm->partition), AAC_KV_INT("expected_offset", pt->next),
             AAC_KV_INT("actual_offset", rkm->offset), AAC_KV_INT("gap", gap),
             AAC_KV_INT("low_watermark", lo));
    aac_metrics_add(pl->metrics, AAC_M_RETENTION_GAP, (uint64_t)gap);
    return false;
}

/* Takes ownership of rkm. */
static void handle_message(pipeline_t *pl, rd_kafka_message_t *rkm)
{
    if (rkm->err) {
        rd_kafka_resp_err_t err = rkm->err;
        if (err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            aac_class_t cls = aac_classify_kafka(err);
            aac_warn("consumer error", AAC_KV_STR("error", rd_kafka_err2name(err)),
                     AAC_KV_STR("detail", rd_kafka_message_errstr(rkm)),
                     AAC_KV_STR("class", aac_class_str(cls)));
            if (cls == AAC_CLASS_FATAL) {
                char what[512];
                snprintf(what, sizeof(what), "kafka: %s", rd_kafka_message_errstr(rkm));
                go_fatal(pl, what,
                         "check the Kafka credentials and that the consumer may read the topic "
                         "and use the group");
            } else {
                aac_metrics_set_error(pl->metrics, cls, rd_kafka_err2name(err),
                                      rd_kafka_message_errstr(rkm));
            }
        }
        rd_kafka_message_destroy(rkm);
        return;
    }
    part_t *pt = part_get(pl, rkm->partition);
    if (!pt || !pt->assigned) {
        rd_kafka_message_destroy(rkm);
        return;
    }
    if (pt->need_offset || pl->retry_at) {
        /* not processed now (position unknown, or backing off): remember
         * where discarding began, to be fetched again from there */
        if (pt->resume_at < 0)
            pt->resume_at = pt->next >= 0 ? pt->next : rkm->offset;
        rd_kafka_message_destroy(rkm);
        return;
    }
    bool first = pt->check_gap;
    pt->check_gap = false;
    /* nothing stored for this group: it starts where the log does */
    if (first && pt->next < 0 && rkm->offset > 0)
        aac_info("partition starts above offset 0: earlier messages were deleted before this "
                 "group stored any",
                 AAC_KV_INT("partition", rkm->partition), AAC_KV_INT("first_offset", rkm->offset));
    /* a jump forward, or a first message below the stored position */
    if (pt->next >= 0 && (rkm->offset > pt->next || (first && rkm->offset < pt->next)) &&
        check_gap(pl, pt, rkm)) {
        rd_kafka_message_destroy(rkm);
        return;
    }
    if (pt->next >= 0 && rkm->offset < pt->next) {
        rd_kafka_message_destroy(rkm); /* already processed */
        return;
    }
    batch_add(pl, rkm, pt);
}

static bool batch_full(const pipeline_t *pl)
{
    size_t max = (size_t)pl->cfg->batch.max_events;
    if (pl->cap_events > 0 && (size_t)pl->cap_events < max)
        max = (size_t)pl->cap_events;
    return pl->item_cnt >= max || pl->batch_bytes >= (size_t)pl->cfg->batch.max_bytes;
}

/* While idle: tell readiness whether PostgreSQL still answers (an outage
 * would otherwise show only with the next write), and keep monthly
 * partitions created ahead of the events. */
static void idle_upkeep(pipeline_t *pl, int64_t now)
{
    aac_pgsink_result_t res;
    if (now - pl->last_pg_ok >= PING_IDLE_MS) {
        pl->last_pg_ok = now; /* at most one ping per interval, failed or not */
        bool up = aac_pgsink_ping(pl->sink, &res) == 0;
        aac_metrics_set_pg_up(pl->metrics, up);
        if (!up)
            aac_metrics_set_error(pl->metrics, res.cls, "postgres_unavailable", res.errstr);
    }
    if (now >= pl->partitions_at) {
        char err[512];
        pl->partitions_at = now + PARTITIONS_EVERY_MS;
        int n = aac_partitions_ensure(pl->cfg, pl->cfg->partitions.months_ahead, err, sizeof(err));
        if (n < 0)
            /* the default partition still takes every row: not fatal */
            aac_warn("could not create partitions ahead, retrying later", AAC_KV_STR("error", err));
        else if (n > 0)
            aac_info("partitions created ahead", AAC_KV_INT("count", n));
    }
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
    if (aac_kstats_parse(json, json_len, pl->cfg->kafka.topic, &ks, err, sizeof(err)) != 0) {
        aac_debug("could not read librdkafka statistics", AAC_KV_STR("error", err));
        return 0;
    }
    for (size_t i = 0; i < ks.lag_cnt; i++)
        aac_metrics_set_lag(pl->metrics, ks.lag[i].partition, ks.lag[i].lag);
    /* recovers broker_up while no message arrives to say so */
    if (ks.brokers)
        set_broker_up(pl, ks.brokers_up > 0);
    return 0;
}

static rd_kafka_t *consumer_new(pipeline_t *pl, char *errstr, size_t size)
{
    const aac_config_t *cfg = pl->cfg;
    char err[512];
    /* our defaults, which the configuration's properties may change */
    static const char *const defaults[][2] = {
        {"auto.offset.reset", "earliest"},
        {"queued.max.messages.kbytes", "16384"},
        {"partition.assignment.strategy", "cooperative-sticky"},
        {"client.id", "agent-actions-consumer"},
        {"statistics.interval.ms", "5000"}, /* consumer lag for /metrics: stats_cb */
    };
    rd_kafka_conf_t *conf = aac_kafkaconf_new(cfg, defaults, sizeof(defaults) / sizeof(defaults[0]),
                                              &cfg->kafka.consumer_properties, errstr, size);
    if (!conf)
        return NULL;
    /* not overridable: the offsets live in PostgreSQL with the rows */
    if (aac_kafkaconf_set(conf, "group.id", cfg->kafka.group_id, errstr, size) ||
        aac_kafkaconf_set(conf, "enable.auto.commit", "false", errstr, size) ||
        aac_kafkaconf_set(conf, "enable.auto.offset.store", "false", errstr, size))
        goto fail;
    rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
    rd_kafka_conf_set_error_cb(conf, error_cb);
    rd_kafka_conf_set_offset_commit_cb(conf, offset_commit_cb);
    rd_kafka_conf_set_stats_cb(conf, stats_cb);
    rd_kafka_conf_set_opaque(conf, pl);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    if (!rk) {
        snprintf(errstr, size, "could not create the Kafka consumer: %.400s", err);
        goto fail;
    }
    rd_kafka_poll_set_consumer(rk);
    return rk;
fail:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

static void install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

/* On shutdown: write the open batch if it can be done in time. */
static void drain(pipeline_t *pl, int64_t deadline)
{
    set_paused(pl, true);
    while (pl->item_cnt && !pl->fatal && aac_mono_ms() < deadline && signals_seen < 2) {
        if (!pl->retry_at || aac_mono_ms() >= pl->retry_at) {
            if (flush(pl) == 0)
                break;
        }
        rd_kafka_message_t *rkm = rd_kafka_consumer_poll(pl->rk, 50);
        if (rkm)
            rd_kafka_message_destroy(rkm);
        aac_dlq_poll(pl->dlq, 0);
    }
    if (pl->item_cnt) {
        aac_warn("shutdown: batch not written in time, left uncommitted",
                 AAC_KV_UINT("events", pl->item_cnt));
        batch_clear(pl);
    }
}

/* Leaves the group and destroys the consumer. librdkafka 2.0.2 (Debian
 * 12's) aborts on an assertion when a cooperative-sticky consumer is
 * closed or destroyed before its first assignment (librdkafka#4312, fixed
 * in 2.3.0), so wait for that assignment within the deadline; if it never
 * comes, leave the handle to the process's exit rather than crash. */
static void close_consumer(pipeline_t *pl, int64_t deadline)
{
    while (!pl->ever_assigned && !pl->fatal && aac_mono_ms() < deadline && signals_seen < 2) {
        rd_kafka_message_t *rkm = rd_kafka_consumer_poll(pl->rk, 50);
        if (rkm)
            rd_kafka_message_destroy(rkm); /* nothing is processed now */
    }
    batch_clear(pl);
    if (!pl->ever_assigned) {
        aac_warn("leaving without closing the Kafka consumer: it was never assigned, and "
                 "librdkafka 2.0.2 cannot close it then (librdkafka#4312); the group drops "
                 "this member after session.timeout.ms");
        abandoned_rk = pl->rk;
        pl->rk = NULL;
        return;
    }
    /* leaves the group: the revocation finds no open batch */
    rd_kafka_consumer_close(pl->rk);
    rd_kafka_destroy(pl->rk);
    pl->rk = NULL;
}

int aac_pipeline_run(const aac_config_t *cfg, aac_metrics_t *metrics)
{
    pipeline_t pl_, *pl = &pl_;
    char errstr[512];
    int status = AAC_EXIT_FAILURE;
    aac_pgsink_result_t res;
    aac_event_limits_t lim = {(size_t)cfg->event.max_message_bytes, cfg->event.max_depth};

    memset(pl, 0, sizeof(*pl));
    pl->cfg = cfg;
    pl->metrics = metrics;
    pl->retry = aac_retry_policy_from_config(cfg);
    pl->rnd = (unsigned)getpid() ^ (unsigned)aac_mono_ms();
    pl->broker_up = true; /* as aac_metrics_new() starts it */
    install_signals();

    pl->parser = aac_event_parser_new(&lim);
    pl->rows = aac_rows_new();
    pl->sink = aac_pgsink_new(cfg);
    if (!pl->parser || !pl->rows || !pl->sink) {
        aac_error("out of memory");
        goto out;
    }

    /* a wrong password or a missing schema is found before joining */
    while (aac_pgsink_check_schema(pl->sink, &res) != 0) {
        if (res.cls == AAC_CLASS_FATAL) {
            go_fatal(pl, res.errstr, fatal_hint(res.sqlstate));
            status = AAC_EXIT_FATAL;
            goto out;
        }
        aac_metrics_set_error(metrics, res.cls, "postgres_unavailable", res.errstr);
        int delay = outage_delay_ms(pl, ++pl->outage_attempts);
        aac_warn("PostgreSQL not available at start, waiting", AAC_KV_INT("delay_ms", delay),
                 AAC_KV_STR("error", res.errstr));
        /* waiting for a dependency is alive, not stalled: /health stays 200 */
        for (int64_t end = aac_mono_ms() + delay; aac_mono_ms() < end && !signals_seen;) {
            aac_metrics_polled(metrics, aac_now());
            aac_notify_alive(aac_mono_ms());
            usleep(20000);
        }
        if (signals_seen) {
            status = AAC_EXIT_OK;
            goto out;
        }
    }
    pl->outage_attempts = 0;
    aac_metrics_set_pg_up(metrics, true);
    pl->last_pg_ok = aac_mono_ms();
    idle_upkeep(pl, pl->last_pg_ok); /* partitions ahead before the first event */

    pl->dlq = aac_dlq_new(cfg, errstr, sizeof(errstr));
    if (!pl->dlq) {
        aac_error("could not create the dead-letter producer", AAC_KV_STR("error", errstr));
        status = AAC_EXIT_FATAL;
        goto out;
    }
    pl->rk = consumer_new(pl, errstr, sizeof(errstr));
    if (!pl->rk) {
        aac_error("could not create the Kafka consumer", AAC_KV_STR("error", errstr));
        status = AAC_EXIT_FATAL;
        goto out;
    }
    rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(topics, cfg->kafka.topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t err = rd_kafka_subscribe(pl->rk, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (err) {
        aac_error("could not subscribe", AAC_KV_STR("topic", cfg->kafka.topic),
                  AAC_KV_STR("error", rd_kafka_err2str(err)));
        status = AAC_EXIT_FATAL;
        goto out;
    }
    aac_info("consumer started", AAC_KV_STR("topic", cfg->kafka.topic),
             AAC_KV_STR("group", cfg->kafka.group_id),
             AAC_KV_STR("dlq_topic", cfg->kafka.dlq_topic),
             AAC_KV_INT("batch_max_events", cfg->batch.max_events),
             AAC_KV_INT("linger_ms", cfg->batch.linger_ms));

    while (!signals_seen && !pl->fatal) {
        int64_t now = aac_mono_ms();
        int timeout = POLL_MAX_MS;
        if (pl->item_cnt && !pl->retry_at)
            timeout = pl->batch_deadline > now ? (int)(pl->batch_deadline - now) : 0;
        if (timeout > POLL_MAX_MS)
            timeout = POLL_MAX_MS;

        rd_kafka_message_t *rkm = rd_kafka_consumer_poll(pl->rk, timeout);
        aac_metrics_polled(metrics, aac_now());
        aac_notify_alive(aac_mono_ms()); /* WATCHDOG=1 from this loop, never a timer */
        if (rkm) {
            set_broker_up(pl, true);
            handle_message(pl, rkm);
        }
        aac_dlq_poll(pl->dlq, 0);
        if (pl->fatal || dlq_fatal(pl))
            break;

        now = aac_mono_ms();
        if (pl->offsets_retry_at <= now)
            load_offsets(pl);
        /* joined, and every assigned partition's stored offset read */
        if (pl->ever_assigned && !pl->offsets_wanted)
            aac_notify_ready("consuming");
        if (!pl->retry_at && !pl->item_cnt)
            idle_upkeep(pl, now);
        if (pl->fatal)
            break;
        if (pl->retry_at) {
            if (now >= pl->retry_at)
                flush(pl);
            continue;
        }
        if (pl->item_cnt && (batch_full(pl) || now >= pl->batch_deadline))
            flush(pl);
    }

    aac_notify_stopping(pl->fatal ? "stopping: fatal error" : "stopping: shutdown requested");
    if (pl->fatal) {
        status = AAC_EXIT_FATAL;
        batch_clear(pl);
    } else {
        aac_info("shutting down", AAC_KV_UINT("events_in_batch", pl->item_cnt));
        drain(pl, aac_mono_ms() + cfg->service.shutdown_timeout_ms);
        status = AAC_EXIT_OK;
    }
out:
    if (pl->rk) {
        batch_clear(pl);
        close_consumer(pl, aac_mono_ms() + cfg->service.shutdown_timeout_ms);
    }
    aac_dlq_destroy(pl->dlq);
    aac_pgsink_destroy(pl->sink);
    aac_rows_destroy(pl->rows);
    aac_event_parser_destroy(pl->parser);
    free(pl->items);
    free(pl->errs);
    free(pl->part);
    if (pl->fatal)
        status = AAC_EXIT_FATAL;
    aac_info("stopped", AAC_KV_INT("status", status));
    return status;
}
