/*
 * pipeline: the consume loop and its writers (see pipeline.h).
 *
 * The consume thread polls Kafka, parses and validates each message into
 * the open batch, and closes the batch when it is full or when a writer is
 * free (group commit: at low load a write carries what has arrived, at
 * high load batches fill while the previous one is written). A closed
 * batch goes to the writer threads, each with its own PostgreSQL
 * connection; at most batch.max_in_flight batches are closed and not yet
 * committed, so memory stays bounded. write_batch() follows one batch from
 * its rows to its commit.
 *
 * Order: batches commit in the order they were closed. A writer does not
 * commit a batch while an earlier one is unsettled, and rolls it back when
 * an earlier one failed: no partition's offset ever moves past a batch
 * that was not written. Two batches sharing a primary key are never
 * written at once (their transactions would wait for each other).
 *
 * The consume thread owns everything else: the consumer, the partitions'
 * positions, the retry state, and what happens after a write (settle).
 * librdkafka calls the rebalance callback from rd_kafka_consumer_poll() on
 * that thread. Per partition the loop keeps `next` (the next offset to
 * process), `stored` (what consumer_offsets holds, as far as this instance
 * knows) and `pending` (what it will hold once the batches in flight
 * commit: the fence of the next batch). A batch that cannot be written is
 * retried, or dropped with every later one, its partitions rewound to the
 * first offsets dropped. Nothing is ever committed that was not written.
 */
#include "aac/pipeline.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "aac/batch.h"
#include "aac/classify.h"
#include "aac/clock.h"
#include "aac/dlq.h"
#include "aac/event.h"
#include "aac/flow.h"
#include "aac/kafkaconf.h"
#include "aac/kstats.h"
#include "aac/log.h"
#include "aac/notify.h"
#include "aac/partitions.h"
#include "aac/pgsink.h"
#include "aac/retry.h"
#include "aac/signals.h"

#define MAX_PARTITIONS      100000 /* bound on partition ids this instance tracks */
#define DLQ_WAIT_MS         5000   /* how long a commit waits for dead-letter reports */
#define OUTAGE_MAX_DELAY_MS 5000   /* backoff cap while a dependency is down */
#define PING_IDLE_MS        5000   /* check PostgreSQL when nothing was written for this long */
#define PARTITIONS_EVERY_MS (6 * 3600 * 1000) /* partitions ahead: at start and then */
#define MAX_WRITERS         8

typedef struct part_s {
    bool assigned;
    bool need_offset;  /* stored offset not yet read from PostgreSQL */
    bool check_gap;    /* first message since assignment or seek */
    int64_t next;      /* next offset to process, -1: take what comes */
    int64_t stored;    /* consumer_offsets' value as far as we know, -1: none */
    int64_t pending;   /* its value once the batches in flight commit, -1: stored */
    int64_t resume_at; /* seek here on resume: messages were discarded */
} part_t;

typedef enum {
    FLIGHT_QUEUED,  /* closed, waiting for a writer */
    FLIGHT_WRITING, /* a writer has it */
    FLIGHT_DONE,    /* written or not: see committed */
} flight_state_t;

/* A closed batch on its way to PostgreSQL. The writer that takes it owns
 * it until FLIGHT_DONE; the consume thread reads it only then. */
typedef struct flight_s {
    aac_batch_t *batch;
    flight_state_t state;
    bool after_previous; /* shares a key with an earlier batch: written after it */
    bool committed;
    bool cancelled;            /* rolled back because an earlier batch failed */
    bool dead_letters_pending; /* its dead letters were not confirmed */
    bool waited;               /* its commit waited for an earlier batch being written */
    int writer;                /* which writer had it last */
    aac_pgsink_result_t res;
    double secs; /* spent writing */
} flight_t;

typedef struct pipeline_s pipeline_t;

typedef struct writer_s {
    pipeline_t *pl;
    aac_pgsink_t *sink;
    pthread_t thread;
    bool started;
    bool busy;          /* under pl->mu */
    int64_t busy_since; /* monotonic ms its batch was taken, under pl->mu */
} writer_t;

struct pipeline_s {
    const aac_config_t *cfg;
    aac_metrics_t *metrics;
    rd_kafka_t *rk;
    aac_dlq_t *dlq;
    aac_pgsink_t *sink; /* the consume thread's: offsets, pings */
    aac_event_parser_t *parser;

    part_t *part;
    int32_t part_cap;

    aac_batch_t *open;  /* being built */
    int64_t open_since; /* monotonic ms of its first event */
    aac_batch_t **spare;
    int spare_cnt;

    /* the batches in flight, in the order they were closed, and the
     * writers; pl->mu guards ring, ring_head, ring_cnt, halted, stopping
     * and the flights' state */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    flight_t *ring;
    int ring_cap, ring_head, ring_cnt;
    int max_in_flight;
    bool halted;   /* a batch failed: writers take no new one */
    bool stopping; /* writers exit */
    writer_t writer[MAX_WRITERS];
    int writers;

    aac_retry_state_t retry;   /* writes */
    aac_retry_state_t offsets; /* reads of stored offsets */
    bool paused;               /* partitions paused by this loop */
    int fatal;                 /* set: stop with AAC_EXIT_FATAL */
    int64_t last_pg_ok;        /* monotonic ms of the last PostgreSQL success */
    int64_t partitions_at;     /* monotonic ms of the next partition upkeep */
    bool ever_assigned;        /* the group has completed a join for this member */
    bool offsets_wanted;       /* some assigned partition waits for its stored offset */
    bool broker_up;            /* what the metrics were last told */
};

/* A consumer left to the process's exit (see close_consumer): kept
 * reachable so that leak checkers do not report it. */
static rd_kafka_t *abandoned_rk;

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
            np[i] = (part_t){.next = -1, .stored = -1, .pending = -1, .resume_at = -1};
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

/* Schedules the next read of stored offsets: after the outage backoff's
 * next delay, but never sooner than 100 ms, and never later than a read
 * already scheduled. */
static void offsets_retry_later(pipeline_t *pl)
{
    int64_t now = aac_mono_ms(), was = pl->offsets.retry_at;
    aac_retry_failed(&pl->offsets, AAC_RETRY_OUTAGE, 0, now);
    if (pl->offsets.retry_at < now + 100)
        pl->offsets.retry_at = now + 100;
    if (was && was < pl->offsets.retry_at)
        pl->offsets.retry_at = was;
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
    offsets_retry_later(pl);
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

/* --- writing: on the writer threads --------------------------------------- */

static flight_t *flight_at(pipeline_t *pl, int i)
{
    return &pl->ring[(pl->ring_head + i) % pl->ring_cap];
}

/* f's place in the ring: how many batches were closed before it and are
 * not yet settled. Under pl->mu. */
static int flight_pos(pipeline_t *pl, const flight_t *f)
{
    int idx = (int)(f - pl->ring);
    return (idx - pl->ring_head + pl->ring_cap) % pl->ring_cap;
}

/* Waits until every batch closed before f is written or not; returns
 * whether all of them committed. Under pl->mu. */
static bool wait_earlier(pipeline_t *pl, flight_t *f)
{
    for (;;) {
        bool settled = true, committed = true;
        int pos = flight_pos(pl, f);
        for (int i = 0; i < pos; i++) {
            const flight_t *e = flight_at(pl, i);
            if (e->state != FLIGHT_DONE)
                settled = false;
            else if (!e->committed)
                committed = false;
        }
        if (!committed)
            return false; /* no need to wait: f cannot commit now */
        if (settled)
            return true;
        f->waited = true;
        pthread_cond_wait(&pl->cv, &pl->mu);
    }
}

static bool earlier_committed(pipeline_t *pl, flight_t *f)
{
    pthread_mutex_lock(&pl->mu);
    bool ok = wait_earlier(pl, f);
    pthread_mutex_unlock(&pl->mu);
    return ok;
}

/* Makes sure every dead letter of the batch is delivered: the invalid
 * events, the rows the database refused, the events whose retries ran
 * out. Returns 0, or -1 when some are not confirmed in DLQ_WAIT_MS (or
 * can never be: the producer's fatal error). Without `wait`, only sends
 * what is not yet on its way and returns 0. */
static int confirm_dead_letters(pipeline_t *pl, const aac_batch_t *b, bool wait)
{
    int64_t deadline = aac_mono_ms() + DLQ_WAIT_MS;
    size_t n = aac_batch_reject_count(b);

    for (;;) {
        size_t pending = 0;
        for (size_t i = 0; i < n; i++) {
            const aac_batch_reject_t *rj = aac_batch_reject(b, i);
            const rd_kafka_message_t *rkm = aac_batch_message(b, rj->item);
            if (aac_dlq_state(pl->dlq, rkm->partition, rkm->offset) == AAC_DLQ_DELIVERED)
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
            aac_dlq_send(pl->dlq, rkm, &why); /* no-op while in flight */
        }
        if (!pending || !wait)
            return 0;
        if (aac_dlq_fatal(pl->dlq, NULL, 0, NULL))
            return -1; /* never delivered now: the consume thread stops */
        if (aac_mono_ms() >= deadline) {
            int err = aac_dlq_last_error(pl->dlq);
            aac_warn(
                "dead letters not confirmed", AAC_KV_UINT("pending", pending),
                AAC_KV_STR("error", err ? rd_kafka_err2name((rd_kafka_resp_err_t)err) : "timeout"));
            return -1;
        }
        /* briefly: the consume thread polls the producer too, and may
         * serve the report this call would have waited for */
        aac_dlq_poll(pl->dlq, 1);
    }
}

/* One batch from its rows to its commit. The outcome is left in f for
 * the consume thread (settle_flights). */
static void write_batch(pipeline_t *pl, writer_t *w, flight_t *f)
{
    aac_batch_t *b = f->batch;
    aac_pgsink_result_t *res = &f->res;
    int64_t t0 = aac_mono_ms();

    memset(res, 0, sizeof(*res));
    f->committed = f->cancelled = f->dead_letters_pending = f->waited = false;
    f->writer = (int)(w - pl->writer);
    /* a key an earlier batch also inserts: its transaction and ours would
     * wait for each other, so this one starts once that one is through */
    if (f->after_previous && !earlier_committed(pl, f)) {
        f->cancelled = true;
        goto out;
    }
    /* the invalid events' dead letters travel while the rows are copied */
    confirm_dead_letters(pl, b, false);
    if (aac_pgsink_stage(w->sink, b, res) != 0)
        goto out;
    if (confirm_dead_letters(pl, b, true) != 0) {
        aac_pgsink_rollback(w->sink);
        f->dead_letters_pending = true;
        res->cls = AAC_CLASS_TRANSIENT;
        snprintf(res->errstr, sizeof(res->errstr),
                 "dead letters of the batch not confirmed yet: not committing");
        goto out;
    }
    /* commits in the order the batches were closed, never past one that
     * was not written */
    if (!earlier_committed(pl, f)) {
        aac_pgsink_rollback(w->sink);
        f->cancelled = true;
        goto out;
    }
    f->committed =
        aac_pgsink_commit(w->sink, b, pl->cfg->kafka.group_id, pl->cfg->kafka.topic, res) == 0;
out:
    f->secs = (double)(aac_mono_ms() - t0) / 1000.0;
}

/* The oldest batch waiting for a writer, unless a failure halted them.
 * Under pl->mu. */
static flight_t *next_queued(pipeline_t *pl)
{
    if (pl->halted)
        return NULL;
    for (int i = 0; i < pl->ring_cnt; i++)
        if (flight_at(pl, i)->state == FLIGHT_QUEUED)
            return flight_at(pl, i);
    return NULL;
}

static void *writer_main(void *arg)
{
    writer_t *w = arg;
    pipeline_t *pl = w->pl;
    aac_pgsink_result_t res;
    /* connected from the start: an instance holds its connections for
     * good, and a failure here is only tried again with the first batch */
    aac_pgsink_connect(w->sink, &res);
    pthread_mutex_lock(&pl->mu);
    for (;;) {
        flight_t *f;
        while (!pl->stopping && !(f = next_queued(pl)))
            pthread_cond_wait(&pl->cv, &pl->mu);
        if (pl->stopping)
            break;
        f->state = FLIGHT_WRITING;
        w->busy = true;
        w->busy_since = aac_mono_ms();
        pthread_mutex_unlock(&pl->mu);

        write_batch(pl, w, f);

        pthread_mutex_lock(&pl->mu);
        f->state = FLIGHT_DONE;
        w->busy = false;
        if (!f->committed)
            pl->halted = true; /* nothing later may start before the consume thread decides */
        pthread_cond_broadcast(&pl->cv);
    }
    pthread_mutex_unlock(&pl->mu);
    return NULL;
}

static int start_writers(pipeline_t *pl)
{
    for (int i = 0; i < pl->writers; i++) {
        writer_t *w = &pl->writer[i];
        w->pl = pl;
        if (!(w->sink = aac_pgsink_new(pl->cfg)))
            return -1;
        if (aac_signals_thread_create(&w->thread, writer_main, w) != 0)
            return -1;
        w->started = true;
    }
    return 0;
}

/* Stops the writers once they are done with what they write (cancelled
 * first when `cancel`), and closes their connections. */
static void stop_writers(pipeline_t *pl, bool cancel)
{
    pthread_mutex_lock(&pl->mu);
    pl->stopping = true;
    pthread_cond_broadcast(&pl->cv);
    pthread_mutex_unlock(&pl->mu);
    for (int i = 0; i < pl->writers; i++) {
        writer_t *w = &pl->writer[i];
        if (cancel && w->sink)
            aac_pgsink_cancel(w->sink);
        if (w->started)
            pthread_join(w->thread, NULL);
        w->started = false;
        aac_pgsink_destroy(w->sink);
        w->sink = NULL;
    }
}

/* --- batches: on the consume thread ---------------------------------------- */

static aac_copy_format_t copy_format(const aac_config_t *cfg)
{
    return cfg->postgres.binary_copy ? AAC_COPY_BINARY : AAC_COPY_TEXT;
}

static aac_batch_t *batch_take(pipeline_t *pl)
{
    if (pl->spare_cnt)
        return pl->spare[--pl->spare_cnt];
    return aac_batch_new(pl->cfg->kafka.topic, copy_format(pl->cfg));
}

/* Empties b and keeps it for reuse (the buffers stay allocated). */
static void batch_give(pipeline_t *pl, aac_batch_t *b)
{
    aac_batch_reset(b);
    if (pl->spare_cnt < pl->ring_cap + 1)
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
        .max_bytes = (size_t)cfg->batch.max_bytes,
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

/* Batches closed and not yet settled, and those a writer is on. */
static void flights_count(pipeline_t *pl, int *in_flight, int *writing)
{
    int w = 0;
    pthread_mutex_lock(&pl->mu);
    *in_flight = pl->ring_cnt;
    for (int i = 0; i < pl->ring_cnt; i++)
        if (flight_at(pl, i)->state != FLIGHT_DONE)
            w++;
    pthread_mutex_unlock(&pl->mu);
    *writing = w;
}

/* Closes the open batch and hands it to the writers. Each of its
 * partitions' commit expects what the batch before it will store. `extra`
 * allows one batch over max_in_flight (a revocation or shutdown writes
 * what it holds). Returns false when there is no room. */
static bool submit(pipeline_t *pl, bool extra)
{
    aac_batch_t *b = pl->open;
    aac_batch_t *next = batch_take(pl);
    if (!next)
        return false; /* out of memory: try again later */
    pthread_mutex_lock(&pl->mu);
    if (pl->ring_cnt >= pl->max_in_flight + (extra ? 1 : 0)) {
        pthread_mutex_unlock(&pl->mu);
        batch_give(pl, next);
        return false;
    }
    aac_batch_part_t *bp = aac_batch_parts(b);
    for (size_t i = 0; i < aac_batch_part_count(b); i++) {
        part_t *pt = &pl->part[bp[i].partition];
        bp[i].expected_old = pt->pending >= 0 ? pt->pending : pt->stored;
        pt->pending = bp[i].next;
    }
    bool after = false;
    for (int i = 0; i < pl->ring_cnt && !after && pl->writers > 1; i++)
        after = aac_batch_keys_overlap(b, flight_at(pl, i)->batch);
    flight_t *f = &pl->ring[(pl->ring_head + pl->ring_cnt++) % pl->ring_cap];
    memset(f, 0, sizeof(*f));
    f->batch = b;
    f->state = FLIGHT_QUEUED;
    f->after_previous = after;
    int in_flight = pl->ring_cnt;
    pthread_cond_broadcast(&pl->cv);
    pthread_mutex_unlock(&pl->mu);
    aac_debug("batch closed", AAC_KV_UINT("events", aac_batch_count(b)),
              AAC_KV_INT("in_flight", in_flight), AAC_KV_BOOL("shared_keys", after));
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
        rd_kafka_topic_partition_list_add(l, pl->cfg->kafka.topic, bp[i].partition)->offset =
            bp[i].next;
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

/* A batch committed: its offsets are stored, its dead letters delivered. */
static void settle_committed(pipeline_t *pl, flight_t *f)
{
    aac_batch_t *b = f->batch;
    const aac_batch_part_t *bp = aac_batch_parts_const(b);
    size_t n = aac_batch_part_count(b);
    double now = aac_now();

    for (size_t i = 0; i < n; i++) {
        part_t *pt = &pl->part[bp[i].partition];
        pt->stored = bp[i].next;
        if (pt->pending == bp[i].next)
            pt->pending = -1; /* nothing later in flight for it */
        aac_dlq_forget(pl->dlq, bp[i].partition, bp[i].next);
    }
    commit_to_kafka(pl, b);
    aac_metrics_add(pl->metrics, AAC_M_EVENTS_WRITTEN, f->res.inserted);
    aac_metrics_add(pl->metrics, AAC_M_EVENTS_DUPLICATE, f->res.duplicates);
    aac_metrics_add(pl->metrics, AAC_M_BATCHES, 1);
    aac_metrics_observe_batch(pl->metrics, aac_batch_count(b), f->secs);
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
              AAC_KV_BOOL("shared_keys", f->after_previous),
              AAC_KV_BOOL("waited_for_earlier", f->waited), AAC_KV_DBL("ms", f->secs * 1000));
    bool was_retrying = pl->retry.attempts || pl->retry.outage_attempts || pl->paused;
    aac_retry_succeeded(&pl->retry);
    if (was_retrying)
        resume(pl);
    publish_partitions(pl);
}

/* Drops every batch in flight (none is being written) and the open one:
 * their partitions go back to the first offset dropped, sought there at
 * once when `seek` (else load_offsets() seeks), so the messages are
 * consumed again. */
static void drop_all(pipeline_t *pl, const char *why, bool seek)
{
    size_t events = aac_batch_count(pl->open);
    pthread_mutex_lock(&pl->mu);
    int cnt = pl->ring_cnt;
    aac_batch_t *drop[cnt + 1];
    for (int i = 0; i < cnt; i++)
        drop[i] = flight_at(pl, i)->batch;
    pl->ring_cnt = 0;
    pl->halted = false;
    pthread_mutex_unlock(&pl->mu);
    drop[cnt] = pl->open;
    for (int i = 0; i < cnt; i++)
        events += aac_batch_count(drop[i]);
    if (events)
        aac_warn("batch dropped unwritten", AAC_KV_UINT("events", events),
                 AAC_KV_INT("batches", cnt + (aac_batch_count(pl->open) > 0)),
                 AAC_KV_STR("reason", why));
    /* the latest first: the earliest batch's first offset is the lowest */
    for (int i = cnt; i >= 0; i--) {
        const aac_batch_part_t *bp = aac_batch_parts_const(drop[i]);
        for (size_t k = 0; k < aac_batch_part_count(drop[i]); k++) {
            part_t *pt = &pl->part[bp[k].partition];
            pt->next = bp[k].first;
            pt->pending = -1;
        }
    }
    if (seek)
        for (int32_t p = 0; p < pl->part_cap; p++) {
            part_t *pt = &pl->part[p];
            bool dropped = false;
            for (int i = 0; i <= cnt && !dropped; i++)
                dropped = aac_batch_part(drop[i], p) != NULL;
            if (dropped && pt->assigned && !pt->need_offset)
                seek_to(pl, p, pt->next);
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
 * going on; a partition with nothing stored any more starts where its
 * first dropped batch began. */
static void refence(pipeline_t *pl)
{
    drop_all(pl, "fenced", false);
    for (int32_t p = 0; p < pl->part_cap; p++) {
        part_t *pt = &pl->part[p];
        if (!pt->assigned)
            continue;
        if (pt->next >= 0 && (pt->resume_at < 0 || pt->next < pt->resume_at))
            pt->resume_at = pt->next;
        pt->need_offset = true;
        pl->offsets_wanted = true;
    }
    pl->offsets.retry_at = 0;
    aac_metrics_add(pl->metrics, AAC_M_FENCED, 1);
}

/* Writes the failed batch and every later one again, now. */
static void requeue(pipeline_t *pl)
{
    aac_retry_begin(&pl->retry);
    pthread_mutex_lock(&pl->mu);
    for (int i = 0; i < pl->ring_cnt; i++)
        if (flight_at(pl, i)->state == FLIGHT_DONE)
            flight_at(pl, i)->state = FLIGHT_QUEUED;
    pl->halted = false;
    pthread_cond_broadcast(&pl->cv);
    pthread_mutex_unlock(&pl->mu);
}

/* How many batches after the oldest were rolled back for its failure. */
static int later_cancelled(pipeline_t *pl)
{
    int n = 0;
    pthread_mutex_lock(&pl->mu);
    for (int i = 1; i < pl->ring_cnt; i++)
        n += flight_at(pl, i)->state == FLIGHT_DONE && flight_at(pl, i)->cancelled;
    pthread_mutex_unlock(&pl->mu);
    return n;
}

/* f failed retry.max_attempts times for reasons that may be its rows'
 * own: each of its rows goes to the dead-letter topic, the rest of the
 * work is requeued at once. */
static void give_up(pipeline_t *pl, flight_t *f)
{
    aac_pgsink_result_t *res = &f->res;
    aac_batch_t *b = f->batch;
    char msg[300];
    snprintf(msg, sizeof(msg), "write failed %d times: %.250s", pl->retry.attempts, res->errstr);
    for (size_t r = 0; r < aac_batch_row_count(b); r++) {
        if (aac_batch_row_rejected(b, r))
            continue;
        const rd_kafka_message_t *rkm = aac_batch_message(b, aac_batch_row_item(b, r));
        aac_warn("event dead-lettered after its retries", AAC_KV_INT("partition", rkm->partition),
                 AAC_KV_INT("offset", rkm->offset), AAC_KV_INT("attempts", pl->retry.attempts));
        if (aac_batch_reject_row(b, r, AAC_REASON_RETRIES_EXHAUSTED, res->sqlstate, msg,
                                 pl->retry.attempts) != 0) {
            aac_error("out of memory, dropping the batch");
            drop_all(pl, "out of memory", true);
            return;
        }
    }
    requeue(pl); /* the rest goes at once */
}

/* The oldest batch in flight failed (f), and no writer is on any batch.
 * Decides: stop, drop, or retry (at once when `urgent`: a revocation or
 * shutdown waits for it). */
static void failed(pipeline_t *pl, flight_t *f, bool urgent)
{
    aac_pgsink_result_t *res = &f->res;
    if (f->dead_letters_pending && dlq_fatal(pl))
        return;
    if (res->cls == AAC_CLASS_FATAL) {
        char what[700];
        snprintf(what, sizeof(what), "%s", res->errstr);
        go_fatal(pl, what, aac_classify_sqlstate_action(res->sqlstate));
        return;
    }
    if (res->fenced) {
        aac_warn("batch fenced", AAC_KV_STR("detail", res->errstr));
        refence(pl);
        return;
    }
    if (f->cancelled) { /* never the oldest's own outcome; retried */
        requeue(pl);
        return;
    }
    bool counted = !res->outage && !f->dead_letters_pending &&
                   aac_classify_sqlstate_counts_against_message(res->sqlstate);
    const char *why = f->dead_letters_pending ? "dead_letter_unavailable"
                      : res->outage           ? "postgres_unavailable"
                      : counted               ? "write_failed"
                                              : "postgres_contention";
    size_t live = aac_batch_live_rows(f->batch);
    int64_t now = aac_mono_ms();
    aac_metrics_retry(pl->metrics, AAC_CLASS_TRANSIENT);
    aac_metrics_set_error(pl->metrics, AAC_CLASS_TRANSIENT, why, res->errstr);
    switch (
        aac_retry_failed(&pl->retry, counted ? AAC_RETRY_COUNTED : AAC_RETRY_OUTAGE, live, now)) {
    case AAC_RETRY_HALVE:
        aac_warn("batch keeps failing, retrying it in smaller batches",
                 AAC_KV_UINT("events", aac_batch_count(f->batch)),
                 AAC_KV_INT("attempts", pl->retry.policy.max_attempts),
                 AAC_KV_INT("next_batch_max", pl->retry.cap_events),
                 AAC_KV_STR("error", res->errstr));
        drop_all(pl, "retries exhausted, halving", true);
        return;
    case AAC_RETRY_GIVE_UP:
        give_up(pl, f);
        return;
    case AAC_RETRY_WAIT:
        break;
    }
    if (!counted) {
        aac_metrics_set_paused_outage(pl->metrics, true);
        if (res->outage && !f->dead_letters_pending)
            aac_metrics_set_pg_up(pl->metrics, false);
    }
    aac_warn("batch not written, retrying", AAC_KV_UINT("events", aac_batch_count(f->batch)),
             AAC_KV_STR("reason", why), AAC_KV_INT("later_rolled_back", later_cancelled(pl)),
             AAC_KV_INT("attempt", counted ? pl->retry.attempts : pl->retry.outage_attempts),
             AAC_KV_INT("delay_ms", urgent ? 0 : pl->retry.delay_ms),
             AAC_KV_STR("error", res->errstr[0] ? res->errstr : "unknown"));
    set_paused(pl, true);
    if (urgent)
        requeue(pl);
    return;
}

/* Settles the batches the writers committed, oldest first. Returns the
 * oldest batch when it failed and no writer is on any batch any more (the
 * caller decides: failed()), else NULL. */
static flight_t *settle_flights(pipeline_t *pl)
{
    for (;;) {
        flight_t done, *failure = NULL;
        bool have = false;
        pthread_mutex_lock(&pl->mu);
        if (pl->ring_cnt && flight_at(pl, 0)->state == FLIGHT_DONE) {
            if (flight_at(pl, 0)->committed) {
                done = *flight_at(pl, 0);
                pl->ring_head = (pl->ring_head + 1) % pl->ring_cap;
                pl->ring_cnt--;
                have = true;
                pthread_cond_broadcast(&pl->cv);
            } else {
                failure = flight_at(pl, 0);
                for (int i = 0; i < pl->ring_cnt; i++)
                    if (flight_at(pl, i)->state == FLIGHT_WRITING)
                        failure = NULL; /* it finishes first */
            }
        }
        pthread_mutex_unlock(&pl->mu);
        if (!have)
            return failure;
        settle_committed(pl, &done);
        batch_give(pl, done.batch);
    }
}

/* Tells /health and the systemd watchdog that the service is alive: the
 * consume loop turns, and no write has been stuck for longer than what
 * this says. A writer blocked in one batch (a PostgreSQL that stopped
 * answering) holds the stamp where its batch began, as when the loop
 * itself wrote. */
static void stamp_alive(pipeline_t *pl)
{
    int64_t now = aac_mono_ms(), since = now;
    pthread_mutex_lock(&pl->mu);
    for (int i = 0; i < pl->writers; i++)
        if (pl->writer[i].busy && pl->writer[i].busy_since < since)
            since = pl->writer[i].busy_since;
    pthread_mutex_unlock(&pl->mu);
    aac_metrics_polled(pl->metrics, aac_now() - (double)(now - since) / 1000.0);
    aac_notify_alive(since); /* WATCHDOG=1 from this loop, never a timer */
}

/* Waits up to timeout_ms for a writer to finish a batch. */
static void wait_writers(pipeline_t *pl, int timeout_ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += (long)timeout_ms * 1000000L;
    ts.tv_sec += ts.tv_nsec / 1000000000L;
    ts.tv_nsec %= 1000000000L;
    pthread_mutex_lock(&pl->mu);
    bool any = false;
    for (int i = 0; i < pl->ring_cnt && !any; i++)
        any = flight_at(pl, i)->state == FLIGHT_WRITING ||
              (flight_at(pl, i)->state == FLIGHT_QUEUED && !pl->halted);
    if (any)
        pthread_cond_timedwait(&pl->cv, &pl->mu, &ts);
    pthread_mutex_unlock(&pl->mu);
}

static int ring_count(pipeline_t *pl)
{
    pthread_mutex_lock(&pl->mu);
    int cnt = pl->ring_cnt;
    pthread_mutex_unlock(&pl->mu);
    return cnt;
}

/* Writes whatever holds the partitions being revoked (or every batch, for
 * an eager revocation) before they go: the open batch is closed and the
 * batches in flight are waited for; a failure is tried once more at once,
 * then the batches are dropped. */
static void write_before_revoke(pipeline_t *pl)
{
    int failures = 0;
    if (pl->stopping)
        return; /* closing after the writers stopped: nothing is written */
    if (aac_batch_count(pl->open) && !submit(pl, true))
        drop_all(pl, "out of memory", true);
    while (!pl->fatal && ring_count(pl)) {
        flight_t *f = settle_flights(pl);
        if (f && failures++ == 0) {
            failed(pl, f, true);
            continue;
        }
        if (f) {
            if (f->res.fenced || f->res.cls == AAC_CLASS_FATAL)
                failed(pl, f, false); /* drops all after a fence, or stops */
            else if (!(f->dead_letters_pending && dlq_fatal(pl)))
                drop_all(pl, "partitions revoked", true);
            break;
        }
        stamp_alive(pl);
        wait_writers(pl, 50);
    }
}

/* Whether a batch in flight or the open one holds one of `parts`. */
static bool holds_any(pipeline_t *pl, const rd_kafka_topic_partition_list_t *parts)
{
    bool any = false;
    pthread_mutex_lock(&pl->mu);
    for (int i = 0; i <= pl->ring_cnt && !any; i++) {
        const aac_batch_t *b = i < pl->ring_cnt ? flight_at(pl, i)->batch : pl->open;
        for (int k = 0; k < parts->cnt && !any; k++)
            any = aac_batch_part(b, parts->elems[k].partition) != NULL;
    }
    pthread_mutex_unlock(&pl->mu);
    return any;
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
            go_fatal(pl, res.errstr, aac_classify_sqlstate_action(res.sqlstate));
            return -1;
        }
        aac_retry_failed(&pl->offsets, AAC_RETRY_OUTAGE, 0, aac_mono_ms());
        int delay = pl->offsets.delay_ms;
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
    aac_retry_succeeded(&pl->offsets);
    aac_metrics_set_pg_up(pl->metrics, true);
    if (!aac_retry_waiting(&pl->retry))
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

/* --- the open batch ------------------------------------------------------- */

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
        part_t *pt = &pl->part[bp[k].partition];
        pt->next = bp[k].first;
        if (pt->assigned && !pt->need_offset)
            seek_to(pl, bp[k].partition, bp[k].first);
    }
    aac_batch_reset(b);
}

/* Takes ownership of rkm. A message that could not be added (out of
 * memory) drops the batches, rewound to include it, so nothing is
 * skipped. */
static void batch_add(pipeline_t *pl, rd_kafka_message_t *rkm, part_t *pt)
{
    aac_event_t ev;
    aac_event_error_t err;
    int32_t partition = rkm->partition;
    int64_t offset = rkm->offset;
    int rc;

    aac_reason_t r = aac_event_parse(pl->parser, pl->cfg->kafka.topic, partition, offset,
                                     rkm->payload, rkm->len, &ev, &err);
    if (r == AAC_REASON_NONE) {
        if (ev.extra_count)
            aac_metrics_add(pl->metrics, AAC_M_UNKNOWN_FIELDS, ev.extra_count);
        rc = aac_batch_add_event(pl->open, rkm, &ev);
    } else {
        aac_metrics_add(pl->metrics, AAC_M_EVENTS_INVALID, 1);
        aac_debug("invalid event", AAC_KV_INT("partition", partition), AAC_KV_INT("offset", offset),
                  AAC_KV_STR("reason", aac_reason_str(r)), AAC_KV_STR("path", err.path));
        rc = aac_batch_add_invalid(pl->open, rkm, &err);
    }
    if (rc != 0) {
        aac_error("out of memory, dropping the batch");
        drop_open(pl, "out of memory");
        /* the batch may not list this message: rewind to it too */
        if (pt->next < 0 || offset < pt->next) {
            pt->next = offset;
            if (!pt->need_offset)
                seek_to(pl, partition, offset);
        }
        return;
    }
    if (aac_batch_count(pl->open) == 1)
        pl->open_since = aac_mono_ms();
    pt->next = offset + 1;
    aac_metrics_add(pl->metrics, AAC_M_EVENTS_CONSUMED, 1);
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
    if (pt->need_offset || aac_retry_waiting(&pl->retry)) {
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

/* An assignment: each partition starts where PostgreSQL's stored offset
 * says, or is held back until that is known. */
static rd_kafka_error_t *on_assign(pipeline_t *pl, rd_kafka_t *rk,
                                   rd_kafka_topic_partition_list_t *parts, bool cooperative)
{
    rd_kafka_error_t *e = NULL;
    for (int i = 0; i < parts->cnt; i++) {
        part_t *pt = part_get(pl, parts->elems[i].partition);
        if (!pt)
            continue;
        *pt = (part_t){.assigned = true,
                       .need_offset = true,
                       .next = -1,
                       .stored = -1,
                       .pending = -1,
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
        part_t *pt = part_get(pl, parts->elems[i].partition);
        if (!pt)
            continue;
        aac_dlq_forget(pl->dlq, parts->elems[i].partition, INT64_MAX);
        *pt = (part_t){.next = -1, .stored = -1, .pending = -1, .resume_at = -1};
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
    if (aac_kafkaconf_set_forced(conf, cfg->kafka.group_id, errstr, size))
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

/* On shutdown: write what was consumed if it can be done in time. */
static void drain(pipeline_t *pl, int64_t deadline)
{
    set_paused(pl, true);
    if (aac_batch_count(pl->open) && !submit(pl, true))
        drop_open(pl, "out of memory");
    while (ring_count(pl) && !pl->fatal && aac_mono_ms() < deadline) {
        flight_t *f = settle_flights(pl);
        if (f && !aac_retry_waiting(&pl->retry))
            failed(pl, f, false);
        if (aac_retry_due(&pl->retry, aac_mono_ms()))
            requeue(pl);
        /* stays in the group meanwhile; nothing new is processed */
        rd_kafka_message_t *rkm = rd_kafka_consumer_poll(pl->rk, 0);
        if (rkm)
            rd_kafka_message_destroy(rkm);
        aac_dlq_poll(pl->dlq, 0);
        stamp_alive(pl);
        wait_writers(pl, 20);
    }
    int left = ring_count(pl);
    if (left && !pl->fatal) {
        /* a write still going is cancelled: its transaction rolls back */
        stop_writers(pl, true);
        settle_flights(pl);
        if ((left = ring_count(pl)))
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

/* Forgets every batch, unwritten; the writers are stopped. */
static void discard_all(pipeline_t *pl)
{
    for (int i = 0; i < pl->ring_cnt; i++)
        batch_give(pl, flight_at(pl, i)->batch);
    pl->ring_cnt = 0;
    if (pl->open)
        aac_batch_reset(pl->open);
}

/* Frees every batch; the writers are stopped. */
static void free_batches(pipeline_t *pl)
{
    for (int i = 0; i < pl->ring_cnt; i++)
        aac_batch_destroy(flight_at(pl, i)->batch);
    pl->ring_cnt = 0;
    aac_batch_destroy(pl->open);
    pl->open = NULL;
    for (int i = 0; i < pl->spare_cnt; i++)
        aac_batch_destroy(pl->spare[i]);
    pl->spare_cnt = 0;
}

/* Sets up pl for cfg: everything but the clients and the writers. */
static int pipeline_init(pipeline_t *pl, const aac_config_t *cfg, aac_metrics_t *metrics)
{
    aac_event_limits_t lim = {(size_t)cfg->event.max_message_bytes, cfg->event.max_depth};
    aac_retry_policy_t policy = aac_retry_policy_from_config(cfg);
    unsigned seed = (unsigned)getpid() ^ (unsigned)aac_mono_ms();

    memset(pl, 0, sizeof(*pl));
    pl->cfg = cfg;
    pl->metrics = metrics;
    aac_retry_state_init(&pl->retry, &policy, OUTAGE_MAX_DELAY_MS, seed);
    aac_retry_state_init(&pl->offsets, &policy, OUTAGE_MAX_DELAY_MS, seed * 7u + 1u);
    pl->broker_up = true; /* as aac_metrics_new() starts it */
    pl->writers = cfg->batch.writers < 1             ? 1
                  : cfg->batch.writers > MAX_WRITERS ? MAX_WRITERS
                                                     : cfg->batch.writers;
    pl->max_in_flight = cfg->batch.max_in_flight < 1 ? 1 : cfg->batch.max_in_flight;
    pl->ring_cap = pl->max_in_flight + 2; /* a revocation or shutdown may add one */
    pthread_mutex_init(&pl->mu, NULL);
    pthread_cond_init(&pl->cv, NULL);

    pl->parser = aac_event_parser_new(&lim);
    pl->sink = aac_pgsink_new(cfg);
    pl->ring = calloc((size_t)pl->ring_cap, sizeof(*pl->ring));
    pl->spare = calloc((size_t)pl->ring_cap + 1, sizeof(*pl->spare));
    pl->open = aac_batch_new(cfg->kafka.topic, copy_format(cfg));
    if (!pl->parser || !pl->sink || !pl->ring || !pl->spare || !pl->open) {
        aac_error("out of memory");
        return -1;
    }
    return 0;
}

static void pipeline_free(pipeline_t *pl)
{
    stop_writers(pl, true);
    free_batches(pl);
    aac_dlq_destroy(pl->dlq);
    aac_pgsink_destroy(pl->sink);
    aac_event_parser_destroy(pl->parser);
    free(pl->ring);
    free(pl->spare);
    free(pl->part);
    pthread_cond_destroy(&pl->cv);
    pthread_mutex_destroy(&pl->mu);
}

/* Waits until PostgreSQL answers and the schema is there, so that a wrong
 * password or a missing schema is found before joining. Returns -1 when
 * it does, else the exit status (fatal, or a signal while waiting). */
static int wait_for_postgres(pipeline_t *pl)
{
    aac_pgsink_result_t res;
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
            aac_metrics_polled(pl->metrics, aac_now());
            aac_notify_alive(aac_mono_ms());
            usleep(20000);
        }
        if (aac_signals_received())
            return AAC_EXIT_OK;
    }
    aac_retry_succeeded(&pl->retry);
    aac_metrics_set_pg_up(pl->metrics, true);
    pl->last_pg_ok = aac_mono_ms();
    idle_upkeep(pl, pl->last_pg_ok); /* partitions ahead before the first event */
    return -1;
}

/* Creates the dead-letter producer, the writers and the consumer, and
 * subscribes. Returns -1 when all is up, else the exit status. */
static int start_clients(pipeline_t *pl)
{
    const aac_config_t *cfg = pl->cfg;
    char errstr[512];
    pl->dlq = aac_dlq_new(cfg, errstr, sizeof(errstr));
    if (!pl->dlq) {
        aac_error("could not create the dead-letter producer", AAC_KV_STR("error", errstr));
        return AAC_EXIT_FATAL;
    }
    if (start_writers(pl) != 0) {
        aac_error("could not start the writers");
        return AAC_EXIT_FAILURE;
    }
    pl->rk = consumer_new(pl, errstr, sizeof(errstr));
    if (!pl->rk) {
        aac_error("could not create the Kafka consumer", AAC_KV_STR("error", errstr));
        return AAC_EXIT_FATAL;
    }
    rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(topics, cfg->kafka.topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t err = rd_kafka_subscribe(pl->rk, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (err) {
        aac_error("could not subscribe", AAC_KV_STR("topic", cfg->kafka.topic),
                  AAC_KV_STR("error", rd_kafka_err2str(err)));
        return AAC_EXIT_FATAL;
    }
    aac_info("consumer started", AAC_KV_STR("topic", cfg->kafka.topic),
             AAC_KV_STR("group", cfg->kafka.group_id),
             AAC_KV_STR("dlq_topic", cfg->kafka.dlq_topic),
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

        flight_t *f = settle_flights(pl);
        if (f && !aac_retry_waiting(&pl->retry))
            failed(pl, f, false);
        if (pl->fatal)
            break;
        if (aac_retry_due(&pl->retry, now))
            requeue(pl);
        flights_count(pl, &in_flight, &writing);
        aac_flow_t flow = flow_of(pl, now, in_flight, writing, drained);
        if (aac_flow_should_close(&flow) && submit(pl, false)) {
            flights_count(pl, &in_flight, &writing);
            flow = flow_of(pl, now, in_flight, writing, drained);
        }
        if (!flow.backing_off && aac_flow_full(&flow)) {
            /* no room for what comes next: wait for a writer, not for
             * Kafka (librdkafka keeps fetching into its queue) */
            stamp_alive(pl);
            wait_writers(pl, AAC_FLOW_POLL_MAX_MS);
            continue;
        }
        rd_kafka_message_t *rkm = rd_kafka_consumer_poll(pl->rk, aac_flow_poll_timeout(&flow));
        stamp_alive(pl);
        drained = !rkm;
        if (rkm) {
            set_broker_up(pl, true);
            handle_message(pl, rkm);
        }
        aac_dlq_poll(pl->dlq, 0);
        if (pl->fatal || dlq_fatal(pl))
            break;

        now = aac_mono_ms();
        if (pl->offsets.retry_at <= now)
            load_offsets(pl);
        /* joined, and every assigned partition's stored offset read */
        if (pl->ever_assigned && !pl->offsets_wanted)
            aac_notify_ready("consuming");
        if (!in_flight && !aac_batch_count(pl->open) && !aac_retry_waiting(&pl->retry))
            idle_upkeep(pl, now);
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
                 AAC_KV_INT("batches_in_flight", ring_count(pl)));
        drain(pl, aac_mono_ms() + cfg->service.shutdown_timeout_ms);
    }
    status = AAC_EXIT_OK;
out:
    if (pl->rk) {
        /* what is left is not written: the revocation finds nothing */
        stop_writers(pl, true);
        discard_all(pl);
        close_consumer(pl, aac_mono_ms() + cfg->service.shutdown_timeout_ms);
    }
    pipeline_free(pl);
    if (pl->fatal)
        status = AAC_EXIT_FATAL;
    aac_info("stopped", AAC_KV_INT("status", status));
    return status;
}
