/*
 * dlqtool: `dlq inspect` and `dlq replay` (see dlqtool.h).
 *
 * The reader (dlqreader.h) makes one pass over the dead-letter topic;
 * each message is read (dlqletter.h), matched against the filters
 * (dlqargs.h), then listed or replayed. The replay producer is idempotent
 * with acks=all; the tool exits only when every message it produced has a
 * delivery report.
 *
 * The replay record (what earlier runs replayed) is read from the replay
 * group's committed offsets when replay starts, into the ledger
 * (dlqrecord.h). Every dead letter read is queued there, in order, with
 * whether it is replayed now, was replayed before, or is left; after each
 * batch (record_commit: every COMMIT_EVERY replays or each second, and at
 * the end) the tool waits for the batch's delivery reports, settles the
 * ledger and commits each partition's rebuilt record. Before a replay
 * that could start a new range, it asks the ledger whether the record
 * would still fit in its metadata (aac_dlqrecord_ledger_tight).
 */
#include "aac/dlqtool.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "aac/clock.h"
#include "aac/dlqargs.h"
#include "aac/dlqletter.h"
#include "aac/dlqreader.h"
#include "aac/dlqrecord.h"
#include "aac/kafkaconf.h"
#include "aac/log.h"
#include "aac/signals.h"

#define PROGRESS_EVERY 1000   /* messages between progress lines (or each second) */
#define COMMIT_EVERY   1000   /* replays between commits of the record (or each second) */
#define QUEUE_MAX      100000 /* dead letters read between commits of the record, at most */

typedef struct tool_s {
    const aac_config_t *cfg;
    const aac_dlqargs_t *o;
    const char *topic;
    aac_dlqreader_t *reader;
    rd_kafka_t *producer;
    /* counts */
    int64_t read, selected, replayed, skipped_replayed, skipped_no_topic, delivered, failed;
    int64_t skipped_recorded; /* in the replay record: replayed by an earlier run */
    int last_err;
    int64_t progress_ms, progress_read; /* when the last progress line was printed */
    /* the replay record (replay only) */
    const char *group;              /* the replay group */
    aac_dlqrecord_ledger_t *ledger; /* every partition's, and what was read since the commit */
    int64_t produced_since_commit;  /* replays queued since the last commit */
    int64_t commit_ms;              /* when the record was last committed */
    bool record_full;               /* stopped: a partition's record has no room left */
    bool record_found;              /* some partition had a record when the run started */
    int64_t copies;                 /* dead letters read that are copies of replayed ones */
    int32_t full_partition;
} tool_t;

static void dr_msg_cb(rd_kafka_t *rk, const rd_kafka_message_t *rkm, void *opaque)
{
    tool_t *t = opaque;
    size_t i = (size_t)(uintptr_t)rkm->_private;
    (void)rk;
    if (t->ledger)
        aac_dlqrecord_ledger_delivered(t->ledger, i, !rkm->err);
    if (rkm->err) {
        t->failed++;
        t->last_err = rkm->err;
        aac_warn("replayed message not delivered",
                 AAC_KV_STR("topic", rd_kafka_topic_name(rkm->rkt)),
                 AAC_KV_STR("error", rd_kafka_err2name(rkm->err)));
    } else {
        t->delivered++;
    }
}

static rd_kafka_t *producer_new(tool_t *t, char *errstr, size_t size)
{
    static const char *const defaults[][2] = {
        {"client.id", "agent-actions-consumer-dlq-replay"},
        {"linger.ms", "5"},
        {"message.timeout.ms", "60000"},
    };
    char err[512];
    rd_kafka_conf_t *conf =
        aac_kafkaconf_new(t->cfg, defaults, 3, &t->cfg->kafka.producer_properties, errstr, size);
    if (!conf)
        return NULL;
    /* not overridable: a replayed message is written once and durably */
    if (aac_kafkaconf_set(conf, "enable.idempotence", "true", errstr, size) ||
        aac_kafkaconf_set(conf, "acks", "all", errstr, size))
        goto fail;
    rd_kafka_conf_set_dr_msg_cb(conf, dr_msg_cb);
    rd_kafka_conf_set_opaque(conf, t);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    if (!rk) {
        snprintf(errstr, size, "could not create the replay producer: %.400s", err);
        goto fail;
    }
    return rk;
fail:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

/* Reads the replay record: the metadata of the replay group's committed
 * offsets on the dead-letter topic. */
static int record_load(tool_t *t, char *errstr, size_t size)
{
    const int32_t nparts = aac_dlqreader_partitions(t->reader);
    rd_kafka_topic_partition_list_t *l = NULL;
    rd_kafka_resp_err_t err;
    int rc = -1;

    if (!(t->ledger = aac_dlqrecord_ledger_new(nparts, aac_dlqreader_starts(t->reader))) ||
        !(l = rd_kafka_topic_partition_list_new(nparts))) {
        snprintf(errstr, size, "out of memory");
        goto out;
    }
    for (int32_t p = 0; p < nparts; p++)
        rd_kafka_topic_partition_list_add(l, t->topic, p);
    if ((err = aac_dlqreader_committed(t->reader, l))) {
        snprintf(errstr, size, "could not read the replay record (group %s): %s", t->group,
                 rd_kafka_err2str(err));
        goto out;
    }
    for (int i = 0; i < l->cnt; i++) {
        const rd_kafka_topic_partition_t *e = &l->elems[i];
        if (e->partition < 0 || e->partition >= nparts)
            continue;
        if (e->err) {
            snprintf(errstr, size,
                     "could not read the replay record (group %s) of %s partition %d: %s", t->group,
                     t->topic, e->partition, rd_kafka_err2str(e->err));
            goto out;
        }
        if (aac_dlqrecord_ledger_load(t->ledger, e->partition, e->metadata, e->metadata_size)) {
            snprintf(errstr, size,
                     "cannot read the replay record of %s partition %d: the metadata committed "
                     "by group %s is not one (a group of another tool? choose another --group)",
                     t->topic, e->partition, t->group);
            goto out;
        }
        t->record_found |= e->metadata_size > 0;
    }
    rc = 0;
out:
    if (l)
        rd_kafka_topic_partition_list_destroy(l);
    return rc;
}

static void progress(tool_t *t, bool force);

/* Waits for every delivery report, then settles the ledger: the dead
 * letters queued since the last call go to their partitions' trackers (a
 * replay delivered counts as replayed; one that failed does not). Returns
 * 0, or -1 when out of memory. */
static int record_settle(tool_t *t)
{
    while (t->producer && rd_kafka_outq_len(t->producer) > 0) {
        rd_kafka_flush(t->producer, 1000);
        progress(t, true);
    }
    if (aac_dlqrecord_ledger_settle(t->ledger) != 0)
        return -1;
    t->produced_since_commit = 0;
    t->commit_ms = aac_mono_ms();
    return 0;
}

/* Adds partition p's rebuilt record to the commit list `l` (nothing when
 * nothing of it was read), formatted in buf (AAC_DLQRECORD_MAX + 1
 * bytes). Returns 0, or -1 with errstr. */
static int record_add_partition(tool_t *t, int32_t p, rd_kafka_topic_partition_list_t *l, char *buf,
                                char *errstr, size_t size)
{
    int64_t offset;
    int n = aac_dlqrecord_ledger_result(t->ledger, p, buf, &offset);

    if (n == 0)
        return 0; /* nothing read: its record stays as it is */
    if (n == AAC_DLQRECORD_ENOMEM) {
        snprintf(errstr, size, "out of memory");
        return -1;
    }
    if (n < 0) {
        /* aac_dlqrecord_ledger_tight() is meant to stop the run before this */
        snprintf(errstr, size,
                 "could not record the replay of %s partition %d: its record needs more than "
                 "%d bytes; what was replayed since the last commit may be replayed again",
                 t->topic, p, AAC_DLQRECORD_MAX);
        return -1;
    }
    rd_kafka_topic_partition_t *e = rd_kafka_topic_partition_list_add(l, t->topic, p);
    e->offset = offset;
    if (!(e->metadata = malloc((size_t)n))) {
        snprintf(errstr, size, "out of memory");
        return -1;
    }
    memcpy(e->metadata, buf, (size_t)n);
    e->metadata_size = (size_t)n;
    return 0;
}

/* Commits the list of records `l` in the replay group. Returns 0, or -1
 * with errstr. */
static int record_send(tool_t *t, rd_kafka_topic_partition_list_t *l, char *errstr, size_t size)
{
    rd_kafka_resp_err_t err;
    if (l->cnt && (err = aac_dlqreader_commit(t->reader, l))) {
        snprintf(errstr, size,
                 "could not commit the replay record (group %s): %s; what was replayed since the "
                 "last commit may be replayed again",
                 t->group, rd_kafka_err2str(err));
        return -1;
    }
    for (int i = 0; i < l->cnt; i++)
        if (l->elems[i].err) {
            snprintf(errstr, size,
                     "could not commit the replay record (group %s) of %s partition %d: %s; what "
                     "was replayed since the last commit may be replayed again",
                     t->group, t->topic, l->elems[i].partition, rd_kafka_err2str(l->elems[i].err));
            return -1;
        }
    aac_debug("replay record committed", AAC_KV_STR("group", t->group),
              AAC_KV_STR("topic", t->topic), AAC_KV_INT("partitions", l->cnt));
    return 0;
}

/* Waits for every delivery report, then brings the record up to date with
 * the dead letters read since the last call and commits it (a replay
 * delivered counts; one that failed does not, and is replayed by the next
 * run). Returns 0, or -1 with errstr. */
static int record_commit(tool_t *t, char *errstr, size_t size)
{
    const int32_t nparts = aac_dlqreader_partitions(t->reader);
    rd_kafka_topic_partition_list_t *l = NULL;
    char *buf = NULL;
    int rc = -1;

    if (record_settle(t) != 0 || !(l = rd_kafka_topic_partition_list_new(nparts)) ||
        !(buf = malloc(AAC_DLQRECORD_MAX + 1))) {
        snprintf(errstr, size, "out of memory");
        goto out;
    }
    for (int32_t p = 0; p < nparts; p++)
        if (record_add_partition(t, p, l, buf, errstr, size) != 0)
            goto out;
    rc = record_send(t, l, errstr, size);
out:
    free(buf);
    if (l)
        rd_kafka_topic_partition_list_destroy(l);
    return rc;
}

static void progress(tool_t *t, bool force)
{
    int64_t now = aac_mono_ms();
    if (!force && t->read - t->progress_read < PROGRESS_EVERY && now - t->progress_ms < 1000)
        return;
    t->progress_ms = now;
    t->progress_read = t->read;
    fprintf(stderr,
            "dlq replay: read %" PRId64 "/%" PRId64 ", replayed %" PRId64 " (delivered %" PRId64
            "), skipped %" PRId64 "\n",
            t->read, aac_dlqreader_total(t->reader), t->replayed, t->delivered,
            t->skipped_recorded + t->skipped_replayed + t->skipped_no_topic);
}

/* Publishes one dead letter back. Returns 0, or -1 on a local error. */
static int replay_one(tool_t *t, const aac_dlqletter_t *l, const char *to, size_t qi)
{
    const rd_kafka_message_t *rkm = l->rkm;
    rd_kafka_headers_t *h = aac_dlqletter_replay_headers(l);

    for (;;) {
        rd_kafka_resp_err_t err = rd_kafka_producev(
            t->producer, RD_KAFKA_V_TOPIC(to), RD_KAFKA_V_KEY(rkm->key, rkm->key_len),
            RD_KAFKA_V_VALUE(rkm->payload, rkm->len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_OPAQUE((void *)(uintptr_t)qi), RD_KAFKA_V_END);
        if (!err)
            return 0; /* the headers now belong to the message */
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            rd_kafka_headers_destroy(h);
            aac_error("could not replay a dead letter", AAC_KV_INT("dlq_partition", rkm->partition),
                      AAC_KV_INT("dlq_offset", rkm->offset), AAC_KV_STR("topic", to),
                      AAC_KV_STR("error", rd_kafka_err2name(err)));
            return -1;
        }
        rd_kafka_poll(t->producer, 100); /* let deliveries make room */
        progress(t, false);
    }
}

/* Prints a selected dead letter (inspect, replay --dry-run). */
static void list_one(const tool_t *t, const aac_dlqletter_t *l)
{
    if (t->o->json)
        aac_dlqletter_print_json(stdout, t->topic, l, t->o->show_value);
    else
        aac_dlqletter_print_line(stdout, l, t->o->show_value);
}

/* True when a selected dead letter is not replayed: in the record (and
 * not --from-beginning), at the replay bound, or without a target topic
 * (`to`: the topic it would go to, NULL: none). Counts and logs why. */
static bool replay_skipped(tool_t *t, const aac_dlqletter_t *l, const char *to, bool recorded)
{
    const rd_kafka_message_t *rkm = l->rkm;
    if (recorded && !t->o->from_beginning) {
        t->skipped_recorded++;
        aac_debug("skipped: in the replay record", AAC_KV_INT("dlq_partition", rkm->partition),
                  AAC_KV_INT("dlq_offset", rkm->offset), AAC_KV_STR("group", t->group));
        return true;
    }
    if (l->replay_count >= t->o->max_replays) {
        t->skipped_replayed++;
        aac_debug("skipped: already replayed", AAC_KV_INT("dlq_partition", rkm->partition),
                  AAC_KV_INT("dlq_offset", rkm->offset),
                  AAC_KV_INT("replay_count", l->replay_count));
        return true;
    }
    if (!to || !aac_dlqreader_topic_exists(t->reader, to)) {
        /* producing to a missing topic could auto-create it */
        t->skipped_no_topic++;
        aac_warn("skipped: no target topic", AAC_KV_INT("dlq_partition", rkm->partition),
                 AAC_KV_INT("dlq_offset", rkm->offset),
                 AAC_KV_STR("topic", to ? to : "(no aac.original.topic header)"));
        return true;
    }
    return false;
}

/* Replays a dead letter of record key `key` to `to`, queued for the
 * record. Returns 0, 1 when the record has no room for it (the run ends
 * before it), or -1 on an error (errstr). */
static int replay_recorded(tool_t *t, const aac_dlqletter_t *l, int key, const char *to,
                           bool recorded, char *errstr, size_t size)
{
    const int32_t p = l->rkm->partition;
    if (aac_dlqrecord_ledger_tight(t->ledger, p, key)) {
        if (record_commit(t, errstr, size))
            return -1;
        if (aac_dlqrecord_ledger_tight(t->ledger, p, key)) {
            t->record_full = true;
            t->full_partition = p;
            return 1; /* not read: the tracker stops before it */
        }
    }
    long i = aac_dlqrecord_ledger_queue(t->ledger, p, key, l->rkm->offset, recorded, true);
    if (i < 0) {
        snprintf(errstr, size, "out of memory");
        return -1;
    }
    if (replay_one(t, l, to, (size_t)i) != 0) {
        aac_dlqrecord_ledger_delivered(t->ledger, (size_t)i, false);
        snprintf(errstr, size, "could not replay to topic %s", to);
        return -1;
    }
    t->produced_since_commit++;
    return 0;
}

/* Handles one message of the dead-letter topic. Returns 1 when the run
 * ends here (--limit reached, the record full), -1 on an error (errstr),
 * 0 otherwise. */
static int handle(tool_t *t, const rd_kafka_message_t *rkm, char *errstr, size_t size)
{
    const aac_dlqargs_t *o = t->o;
    aac_dlqletter_t l;

    t->read++;
    aac_dlqletter_read(&l, rkm);
    if (l.replay_count > 0)
        t->copies++;
    const char *reason = l.reason[0] ? l.reason : NULL;
    int key = aac_dlqrecord_key(reason, l.replay_count);
    bool recorded =
        t->ledger && aac_dlqrecord_ledger_has(t->ledger, rkm->partition, key, rkm->offset);
    const char *to = o->to ? o->to : l.orig_topic[0] ? l.orig_topic : NULL;

    if (aac_dlqargs_match(o, reason, l.failed_at_ms)) {
        t->selected++;
        if (o->cmd == AAC_DLQARGS_INSPECT) {
            list_one(t, &l);
            return o->limit && t->selected >= o->limit ? 1 : 0;
        }
        if (!replay_skipped(t, &l, to, recorded)) {
            int rc = 0;
            if (o->dry_run)
                list_one(t, &l);
            else
                rc = replay_recorded(t, &l, key, to, recorded, errstr, size);
            if (rc != 0)
                return rc;
            t->replayed++;
            return o->limit && t->replayed >= o->limit ? 1 : 0;
        }
    }
    /* not replayed now: the record keeps what it said of it */
    if (t->ledger && !o->dry_run &&
        aac_dlqrecord_ledger_queue(t->ledger, rkm->partition, key, rkm->offset, recorded, false) <
            0) {
        snprintf(errstr, size, "out of memory");
        return -1;
    }
    return 0;
}

static int run(tool_t *t, char *errstr, size_t size)
{
    int rc = 0;

    while (!aac_dlqreader_done(t->reader) && !aac_signals_received()) {
        rd_kafka_message_t *rkm;
        int got = aac_dlqreader_next(t->reader, 100, &rkm, errstr, size);
        if (t->producer) {
            rd_kafka_poll(t->producer, 0);
            progress(t, false);
        }
        if (got < 0)
            return -1;
        if (got == 0)
            continue;
        if (rkm) {
            int r = handle(t, rkm, errstr, size);
            rd_kafka_message_destroy(rkm);
            if (r != 0) {
                rc = r < 0 ? -1 : 0;
                break;
            }
        }
        if (t->ledger && !t->o->dry_run &&
            (t->produced_since_commit >= COMMIT_EVERY ||
             aac_dlqrecord_ledger_queued(t->ledger) >= QUEUE_MAX ||
             (t->produced_since_commit > 0 && aac_mono_ms() - t->commit_ms >= 1000)) &&
            record_commit(t, errstr, size)) {
            rc = -1;
            break;
        }
    }
    if (aac_signals_received() && !rc) {
        snprintf(errstr, size, "interrupted");
        rc = -1;
    }
    return rc;
}

/* Creates the reader (and the producer for a replay), assigns the
 * dead-letter topic and reads the replay record. Returns 0, or -1 with
 * errstr. */
static int tool_open(tool_t *t, char *errstr, size_t size)
{
    const aac_dlqargs_t *o = t->o;
    if (!(t->reader = aac_dlqreader_new(t->cfg, t->topic, t->group, errstr, size)))
        return -1;
    if (o->cmd == AAC_DLQARGS_REPLAY && !o->dry_run &&
        !(t->producer = producer_new(t, errstr, size)))
        return -1;
    if (aac_dlqreader_assign(t->reader, errstr, size) != 0)
        return -1;
    if (o->cmd == AAC_DLQARGS_REPLAY && record_load(t, errstr, size) != 0)
        return -1;
    if (o->to && !aac_dlqreader_topic_exists(t->reader, o->to)) {
        snprintf(errstr, size, "topic %s (--to) does not exist", o->to);
        return -1;
    }
    return 0;
}

static void tool_close(tool_t *t)
{
    aac_dlqreader_destroy(t->reader);
    if (t->producer)
        rd_kafka_destroy(t->producer);
    aac_dlqrecord_ledger_destroy(t->ledger);
}

/* After the run (rc its result, errstr its error): every message produced
 * gets a report within message.timeout.ms; then what was delivered goes
 * into the record, even after an error or an interruption. Returns the
 * run's result, -1 when the commit failed. */
static int final_commit(tool_t *t, int rc, char *errstr, size_t size)
{
    char cerr[1024];
    if (!t->producer || record_commit(t, cerr, sizeof(cerr)) == 0)
        return rc;
    if (rc == 0)
        snprintf(errstr, size, "%s", cerr);
    else
        fprintf(stderr, "agent-actions-consumer: dlq replay: %s\n", cerr);
    return -1;
}

/* replay's summary on stdout: "replayed N, skipped M: why". */
static void print_replay_summary(const tool_t *t)
{
    const aac_dlqargs_t *o = t->o;
    int64_t skipped = t->skipped_recorded + t->skipped_replayed + t->skipped_no_topic;
    const char *sep = ": ";
    printf("%s %" PRId64 ", skipped %" PRId64, o->dry_run ? "would replay" : "replayed",
           o->dry_run ? t->replayed : t->delivered, skipped);
    if (t->skipped_recorded) {
        printf("%s%" PRId64 " replayed by an earlier run (recorded in replay group %s; "
               "--from-beginning replays them again)",
               sep, t->skipped_recorded, t->group);
        sep = ", ";
    }
    if (t->skipped_replayed) {
        printf("%s%" PRId64 " at the replay bound (aac.replay.count >= %d, --max-replays)", sep,
               t->skipped_replayed, o->max_replays);
        sep = ", ";
    }
    if (t->skipped_no_topic)
        printf("%s%" PRId64 " without an existing target topic (aac.original.topic or --to)", sep,
               t->skipped_no_topic);
    putchar('\n');
}

/* replay's report: the summary, what was read, the warnings; the run's
 * result rc becomes -1 when the record filled up or a delivery failed.
 * Returns it. */
static int report_replay(const tool_t *t, int rc, char *errstr, size_t size)
{
    const aac_dlqargs_t *o = t->o;
    print_replay_summary(t);
    fprintf(stderr,
            "dlq replay: %s: read %" PRId64 ", selected %" PRId64 " (the others not matching "
            "the filters); replay group %s%s%s%s\n",
            t->topic, t->read, t->selected, t->group,
            o->from_beginning ? " (--from-beginning: its record ignored)" : "",
            o->limit && t->replayed >= o->limit ? "; stopped at --limit" : "",
            t->record_full ? "; stopped: the replay record is full" : "");
    if (!t->record_found && t->copies > 0 && !o->from_beginning)
        fprintf(stderr,
                "agent-actions-consumer: dlq replay: warning: replay group %s had no record, "
                "yet %" PRId64 " dead letters are copies of replayed messages: if an earlier "
                "replay used another --group, or its record expired (offsets.retention.minutes "
                "of the brokers), what it replayed %s again (see docs/dead-letters.md)\n",
                t->group, t->copies, o->dry_run ? "would be replayed" : "may have been replayed");
    if (t->record_full && rc == 0) {
        snprintf(errstr, size,
                 "stopped early: the replay record of %s partition %" PRId32
                 " has no room for another range (%d bytes); see docs/dead-letters.md",
                 t->topic, t->full_partition, AAC_DLQRECORD_MAX);
        rc = -1;
    }
    if (t->failed) {
        fprintf(stderr,
                "agent-actions-consumer: dlq replay: %" PRId64 " of %" PRId64
                " replayed messages not delivered: %s\n",
                t->failed, t->replayed, rd_kafka_err2str((rd_kafka_resp_err_t)t->last_err));
        rc = -1;
        errstr[0] = '\0';
    }
    return rc;
}

static void report_inspect(const tool_t *t)
{
    fprintf(stderr, "dlq inspect: %s: read %" PRId64 ", listed %" PRId64 "%s\n", t->topic, t->read,
            t->selected, t->o->limit && t->selected >= t->o->limit ? " (stopped at --limit)" : "");
}

int aac_dlqtool_main(const aac_config_t *cfg, int argc, char **argv)
{
    aac_dlqargs_t o;
    char errstr[1024], group[300];
    tool_t t;
    int rc;

    if (aac_dlqargs_parse(argc, argv, &o, errstr, sizeof(errstr)) != 0) {
        fprintf(stderr, "agent-actions-consumer: %s\n", errstr);
        return 2;
    }
    if (o.help) {
        fputs(aac_dlqargs_usage, stdout);
        return 0;
    }
    if (!cfg)
        return 2;

    memset(&t, 0, sizeof(t));
    t.cfg = cfg;
    t.o = &o;
    t.topic = o.topic ? o.topic : cfg->kafka.dlq_topic;
    if (!*t.topic) {
        fprintf(stderr,
                "dlq %s: kafka.topic names several topics or a pattern, each with its own "
                "dead-letter topic (<topic>.dlq): give --topic DEAD_LETTER_TOPIC\n",
                o.cmd == AAC_DLQARGS_REPLAY ? "replay" : "inspect");
        return 2;
    }
    if (o.cmd == AAC_DLQARGS_REPLAY) {
        snprintf(group, sizeof(group), "%s.replay", cfg->kafka.group_id);
        t.group = o.group ? o.group : group;
    }
    /* SIGINT and SIGTERM end the run (a second one stops it at once);
     * `dlq inspect | head` ends at the pipe */
    aac_signals_install(false);

    rc = tool_open(&t, errstr, sizeof(errstr));
    if (rc == 0) {
        rc = run(&t, errstr, sizeof(errstr));
        fflush(stdout);
        rc = final_commit(&t, rc, errstr, sizeof(errstr));
        if (o.cmd == AAC_DLQARGS_INSPECT)
            report_inspect(&t);
        else
            rc = report_replay(&t, rc, errstr, sizeof(errstr));
        fflush(stdout);
    }
    if (rc != 0 && errstr[0])
        fprintf(stderr, "agent-actions-consumer: dlq %s: %s\n",
                o.cmd == AAC_DLQARGS_INSPECT ? "inspect" : "replay", errstr);
    tool_close(&t);
    return rc == 0 ? 0 : 1;
}
