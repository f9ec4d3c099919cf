/*
 * dlqtool: `dlq inspect` and `dlq replay` (see dlqtool.h).
 *
 * One reader (a consumer that never joins its group: it assigns every
 * partition of the dead-letter topic itself) walks the topic from the low
 * to the high watermark read at start; each message is matched against
 * the filters, then listed or replayed. The replay producer is idempotent
 * with acks=all; the tool exits only when every message it produced has a
 * delivery report. Everything printed is bounded: header values, keys and
 * (with --show-value) values are cut at fixed sizes, and the payload is
 * never printed unless asked for.
 *
 * The replay record (what earlier runs replayed) is read from the replay
 * group's committed offsets when replay starts. Every dead letter read is
 * queued, in order, with whether it is replayed now, was replayed before,
 * or is left; after each batch (record_commit: every COMMIT_EVERY replays
 * or each second, and at the end) the tool waits for the batch's delivery
 * reports, feeds the queue to each partition's tracker and commits the
 * rebuilt record. Before a replay that could start a new range, it checks
 * that the record would still fit in its metadata (record_tight).
 */
#include "aac/dlqtool.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "aac/clock.h"
#include "aac/dlq.h"
#include "aac/kafkaconf.h"
#include "aac/log.h"
#include "aac/mem.h"
#include "aac/rfc3339.h"
#include "aac/signals.h"
#include "aac/utf8.h"

#define META_TIMEOUT_MS 10000
#define IDLE_TIMEOUT_MS 30000 /* no message and no end of partition for this long: give up */
#define HDR_MAX_PRINT   1024  /* bytes of a header value printed */
#define KEY_MAX_PRINT   256
#define VALUE_MAX_PRINT 4096
#define PROGRESS_EVERY  1000 /* messages between progress lines (or each second) */
#define MAX_PARTITIONS  4096

static const char usage_text[] =
    "usage: agent-actions-consumer [--config FILE] dlq inspect [FILTERS] [--json] [--show-value]\n"
    "       agent-actions-consumer [--config FILE] dlq replay [FILTERS] [--to TOPIC]\n"
    "                              [--max-replays N] [--group NAME] [--from-beginning]\n"
    "                              (--dry-run | --yes)\n"
    "\n"
    "Lists or replays the messages of the dead-letter topic (kafka.dlq_topic), every\n"
    "partition from its beginning to its end when the command starts.\n"
    "\n"
    "filters:\n"
    "  --reason CODE      aac.error.reason is CODE (repeatable, or CODE,CODE; reason\n"
    "                     codes in docs/event-contract.md)\n"
    "  --since TIME       failed at or after TIME (RFC 3339 with an offset,\n"
    "                     e.g. 2026-11-21T10:00:00Z)\n"
    "  --until TIME       failed before TIME\n"
    "  --limit N          list or replay at most N messages (inspect: default 1000;\n"
    "                     0: no limit)\n"
    "  --topic TOPIC      read this dead-letter topic instead of kafka.dlq_topic\n"
    "\n"
    "inspect (and replay --dry-run) prints one line per message: where it is on the\n"
    "dead-letter topic, where it came from and why it failed; never the payload\n"
    "unless --show-value (first 4096 bytes). --json prints JSON lines instead.\n"
    "\n"
    "replay publishes the selected messages to their original topic\n"
    "(aac.original.topic, or --to TOPIC) with their original key, value and headers,\n"
    "minus the aac.* ones, plus aac.replayed.from=<partition>:<offset> and\n"
    "aac.replay.count=<n>. A message already replayed --max-replays times (default 1)\n"
    "is skipped, so one that is still invalid cannot loop. It shows its progress on\n"
    "stderr, waits for every delivery and ends with \"replayed N, skipped M: why\".\n"
    "\n"
    "replay records what it replayed in the committed offsets of a consumer group of\n"
    "its own (--group, default \"<kafka.group_id>.replay\"), after each batch of\n"
    "delivered messages, and skips what is recorded: running the same replay twice\n"
    "publishes nothing the second time. --from-beginning replays the selected\n"
    "messages even when recorded.\n"
    "--dry-run lists what it would replay; --yes is required to publish.\n"
    "\n"
    "Exit status: 0 done, 1 failure (Kafka unreachable, a delivery failed), 2 bad\n"
    "arguments.\n";

/* --- pure parts ---------------------------------------------------------- */

/* An RFC 3339 time as the event contract accepts it (the one parser),
 * in Unix milliseconds, floored. */
static bool parse_time_ms(const char *s, size_t len, int64_t *ms, char *why, size_t whysz)
{
    int64_t us;
    if (!aac_rfc3339_parse(s, len, &us, why, whysz))
        return false;
    *ms = us >= 0 ? us / 1000 : -((-us + 999) / 1000);
    return true;
}

bool aac_dlqtool_match(const aac_dlqtool_opts_t *o, const char *reason, int64_t failed_at_ms)
{
    if (!o->any_reason) {
        aac_reason_t r = reason ? aac_reason_from_str(reason) : AAC_REASON_NONE;
        if (r == AAC_REASON_NONE || !o->reason[r])
            return false;
    }
    if (o->since_ms != INT64_MIN || o->until_ms != INT64_MAX) {
        if (failed_at_ms == INT64_MIN)
            return false;
        if (failed_at_ms < o->since_ms || failed_at_ms >= o->until_ms)
            return false;
    }
    return true;
}

int aac_dlqtool_replay_count(const void *value, size_t size)
{
    const char *s = value;
    long v = 0;
    if (!s || size == 0)
        return 0;
    for (size_t i = 0; i < size; i++) {
        if (s[i] < '0' || s[i] > '9' || v > 1000000)
            return INT_MAX;
        v = v * 10 + (s[i] - '0');
    }
    return (int)v;
}

bool aac_dlqtool_is_own_header(const char *name)
{
    return name && strncmp(name, AAC_DLQ_HEADER_PREFIX, strlen(AAC_DLQ_HEADER_PREFIX)) == 0;
}

/* --- the replay record --------------------------------------------------- */

#define RECORD_TAG "aac.replay.v1"

int aac_dlqtool_record_key(const char *reason, int replay_count)
{
    aac_reason_t r = reason ? aac_reason_from_str(reason) : AAC_REASON_NONE;
    int gen = replay_count < 0 ? 0 : replay_count;
    if (gen >= AAC_DLQTOOL_RECORD_GENS)
        gen = AAC_DLQTOOL_RECORD_GENS - 1;
    return (int)r * AAC_DLQTOOL_RECORD_GENS + gen;
}

void aac_dlqtool_record_clear(aac_dlqtool_record_t *rec)
{
    for (int k = 0; k < AAC_DLQTOOL_RECORD_KEYS; k++) {
        free(rec->set[k].r);
        rec->set[k].r = NULL;
        rec->set[k].n = rec->set[k].cap = 0;
    }
}

int aac_dlqtool_record_add(aac_dlqtool_record_t *rec, int key, int64_t start, int64_t end)
{
    if (key < 0 || key >= AAC_DLQTOOL_RECORD_KEYS || start >= end)
        return 0;
    aac_dlqtool_ranges_t *s = &rec->set[key];
    if (s->n && start <= s->r[s->n - 1].end) {
        if (end > s->r[s->n - 1].end)
            s->r[s->n - 1].end = end;
        return 0;
    }
    if (aac_grow((void **)&s->r, &s->cap, s->n + 1, sizeof(*s->r)) != 0)
        return -1;
    s->r[s->n].start = start;
    s->r[s->n].end = end;
    s->n++;
    return 0;
}

bool aac_dlqtool_record_has(const aac_dlqtool_record_t *rec, int key, int64_t offset)
{
    if (key < 0 || key >= AAC_DLQTOOL_RECORD_KEYS)
        return false;
    const aac_dlqtool_range_t *r = rec->set[key].r;
    size_t lo = 0, hi = rec->set[key].n;
    while (lo < hi) { /* the first range ending after offset */
        size_t mid = lo + (hi - lo) / 2;
        if (r[mid].end <= offset)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < rec->set[key].n && r[lo].start <= offset;
}

/* The key named "<reason>" or "<reason>.<gen>" ("none" for no reason). */
static int key_from_name(const char *s, size_t n)
{
    char name[64];
    int gen = 0;
    if (n >= 2 && s[n - 2] == '.' && s[n - 1] >= '1' && s[n - 1] < '0' + AAC_DLQTOOL_RECORD_GENS) {
        gen = s[n - 1] - '0';
        n -= 2;
    }
    if (n == 0 || n >= sizeof(name))
        return -1;
    memcpy(name, s, n);
    name[n] = '\0';
    if (!strcmp(name, "none"))
        return gen;
    aac_reason_t r = aac_reason_from_str(name);
    return r == AAC_REASON_NONE ? -1 : (int)r * AAC_DLQTOOL_RECORD_GENS + gen;
}

static int parse_offset(const char **p, const char *end, int64_t *out)
{
    int64_t v = 0;
    const char *s = *p;
    if (s == end || *s < '0' || *s > '9')
        return -1;
    for (; s < end && *s >= '0' && *s <= '9'; s++) {
        if (v > (INT64_MAX - 9) / 10)
            return -1;
        v = v * 10 + (*s - '0');
    }
    *p = s;
    *out = v;
    return 0;
}

int aac_dlqtool_record_parse(aac_dlqtool_record_t *rec, const char *s, size_t len)
{
    const char *p = s, *end = s + len;
    size_t tag = strlen(RECORD_TAG);

    if (!s || len == 0)
        return 0;
    if (len < tag || memcmp(s, RECORD_TAG, tag) != 0)
        return -1;
    p += tag;
    if (p == end)
        return 0;
    if (*p++ != ' ' || p == end)
        goto fail;
    while (p < end) {
        const char *eq = memchr(p, '=', (size_t)(end - p));
        int key = eq ? key_from_name(p, (size_t)(eq - p)) : -1;
        if (key < 0 || rec->set[key].n)
            goto fail; /* unknown or repeated key */
        p = eq + 1;
        for (;;) {
            int64_t a, b;
            if (parse_offset(&p, end, &a) || p == end || *p++ != '-' || parse_offset(&p, end, &b) ||
                a >= b)
                goto fail;
            if (rec->set[key].n && a <= rec->set[key].r[rec->set[key].n - 1].end)
                goto fail; /* unsorted, overlapping or touching */
            if (aac_dlqtool_record_add(rec, key, a, b))
                goto fail;
            if (p == end || *p == ';')
                break;
            if (*p++ != ',')
                goto fail;
        }
        if (p < end && ++p == end)
            goto fail; /* a trailing ';' */
    }
    return 0;
fail:
    aac_dlqtool_record_clear(rec);
    return -1;
}

int aac_dlqtool_record_format(const aac_dlqtool_record_t *rec, char *buf, size_t size)
{
    size_t n = 0;
    bool first = true;
    int w = snprintf(buf, size, "%s", RECORD_TAG);
    if (w < 0 || (size_t)w >= size)
        return -1;
    n = (size_t)w;
    for (int k = 0; k < AAC_DLQTOOL_RECORD_KEYS; k++) {
        if (!rec->set[k].n)
            continue;
        aac_reason_t r = (aac_reason_t)(k / AAC_DLQTOOL_RECORD_GENS);
        int gen = k % AAC_DLQTOOL_RECORD_GENS;
        char name[64];
        snprintf(name, sizeof(name), "%s", r == AAC_REASON_NONE ? "none" : aac_reason_str(r));
        if (gen)
            snprintf(name + strlen(name), sizeof(name) - strlen(name), ".%d", gen);
        w = snprintf(buf + n, size - n, "%s%s=", first ? " " : ";", name);
        if (w < 0 || (size_t)w >= size - n)
            return -1;
        n += (size_t)w;
        first = false;
        for (size_t i = 0; i < rec->set[k].n; i++) {
            w = snprintf(buf + n, size - n, "%s%" PRId64 "-%" PRId64, i ? "," : "",
                         rec->set[k].r[i].start, rec->set[k].r[i].end);
            if (w < 0 || (size_t)w >= size - n)
                return -1;
            n += (size_t)w;
        }
    }
    return (int)n;
}

void aac_dlqtool_tracker_init(aac_dlqtool_tracker_t *t, int64_t start)
{
    memset(t, 0, sizeof(*t));
    t->pos = start;
    t->first_gap = -1;
}

int aac_dlqtool_tracker_apply(aac_dlqtool_tracker_t *t, int key, int64_t offset, bool replayed)
{
    if (key < 0 || key >= AAC_DLQTOOL_RECORD_KEYS || offset < t->pos)
        return 0; /* out of order: ignored, it stays as the old record says */
    t->pos = offset + 1;
    if (!replayed) {
        t->open[key] = false;
        if (t->first_gap < 0)
            t->first_gap = offset;
        return 0;
    }
    aac_dlqtool_ranges_t *s = &t->built.set[key];
    if (t->open[key] && s->n) {
        /* nothing of this key in between was left out: one range */
        s->r[s->n - 1].end = offset + 1;
        return 0;
    }
    t->open[key] = true;
    return aac_dlqtool_record_add(&t->built, key, offset, offset + 1);
}

int aac_dlqtool_tracker_result(const aac_dlqtool_tracker_t *t, const aac_dlqtool_record_t *old,
                               aac_dlqtool_record_t *out, int64_t *offset)
{
    for (int k = 0; k < AAC_DLQTOOL_RECORD_KEYS; k++) {
        const aac_dlqtool_ranges_t *s = &t->built.set[k];
        for (size_t i = 0; i < s->n; i++) {
            int64_t end = s->r[i].end;
            if (i == s->n - 1 && t->open[k])
                end = t->pos; /* every later one read was of another key */
            if (aac_dlqtool_record_add(out, k, s->r[i].start, end))
                return -1;
        }
        for (size_t i = 0; old && i < old->set[k].n; i++) {
            const aac_dlqtool_range_t *r = &old->set[k].r[i];
            if (r->end > t->pos &&
                aac_dlqtool_record_add(out, k, r->start > t->pos ? r->start : t->pos, r->end))
                return -1;
        }
    }
    *offset = t->first_gap >= 0 ? t->first_gap : t->pos;
    return 0;
}

void aac_dlqtool_tracker_clear(aac_dlqtool_tracker_t *t)
{
    aac_dlqtool_record_clear(&t->built);
}

/* A non-negative decimal within [min, max]. */
static int parse_long(const char *s, long min, long max, long *out)
{
    char *end;
    if (!s || !*s || *s == '-' || *s == '+')
        return -1;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

static int add_reasons(aac_dlqtool_opts_t *o, const char *cmd, const char *list, char *errstr,
                       size_t size)
{
    const char *p = list;
    for (;;) {
        const char *c = strchr(p, ',');
        size_t n = c ? (size_t)(c - p) : strlen(p);
        char code[64];
        if (n == 0 || n >= sizeof(code)) {
            snprintf(errstr, size, "dlq %s: --reason: empty or overlong code in \"%.100s\"", cmd,
                     list);
            return -1;
        }
        memcpy(code, p, n);
        code[n] = '\0';
        aac_reason_t r = aac_reason_from_str(code);
        if (r == AAC_REASON_NONE) {
            snprintf(errstr, size,
                     "dlq %s: --reason: unknown reason code \"%s\" (see docs/event-contract.md)",
                     cmd, code);
            return -1;
        }
        o->reason[r] = true;
        o->any_reason = false;
        if (!c)
            return 0;
        p = c + 1;
    }
}

/* The options of inspect and replay; a value of 0 is kept for getopt's
 * "no such option", so the codes start at 1. */
enum {
    O_JSON = 1,
    O_SHOW_VALUE,
    O_DRY_RUN,
    O_YES,
    O_FROM_BEGINNING,
    O_REASON,
    O_SINCE,
    O_UNTIL,
    O_LIMIT,
    O_TOPIC,
    O_TO,
    O_MAX_REPLAYS,
    O_GROUP,
    O__END
};

static const struct option dlq_options[] = {
    {"json", no_argument, NULL, O_JSON},
    {"show-value", no_argument, NULL, O_SHOW_VALUE},
    {"dry-run", no_argument, NULL, O_DRY_RUN},
    {"yes", no_argument, NULL, O_YES},
    {"from-beginning", no_argument, NULL, O_FROM_BEGINNING},
    {"reason", required_argument, NULL, O_REASON},
    {"since", required_argument, NULL, O_SINCE},
    {"until", required_argument, NULL, O_UNTIL},
    {"limit", required_argument, NULL, O_LIMIT},
    {"topic", required_argument, NULL, O_TOPIC},
    {"to", required_argument, NULL, O_TO},
    {"max-replays", required_argument, NULL, O_MAX_REPLAYS},
    {"group", required_argument, NULL, O_GROUP},
    {NULL, 0, NULL, 0},
};

static const char *opt_name(int code)
{
    for (const struct option *op = dlq_options; op->name; op++)
        if (op->val == code)
            return op->name;
    return "?";
}

/* The options that only `replay` takes. */
static bool replay_only(int c)
{
    return c == O_TO || c == O_MAX_REPLAYS || c == O_DRY_RUN || c == O_YES || c == O_GROUP ||
           c == O_FROM_BEGINNING;
}

/* Sets an option without a value. Returns false when `c` is not one. */
static bool apply_flag(aac_dlqtool_opts_t *o, int c)
{
    switch (c) {
    case O_JSON:
        o->json = true;
        return true;
    case O_SHOW_VALUE:
        o->show_value = true;
        return true;
    case O_DRY_RUN:
        o->dry_run = true;
        return true;
    case O_YES:
        o->yes = true;
        return true;
    case O_FROM_BEGINNING:
        o->from_beginning = true;
        return true;
    default:
        return false;
    }
}

/* --since or --until `val` into *ms. */
static int apply_time(const char *cmd, const char *name, const char *val, int64_t *ms, char *errstr,
                      size_t size)
{
    char why[96];
    if (parse_time_ms(val, strlen(val), ms, why, sizeof(why)))
        return 0;
    snprintf(errstr, size,
             "dlq %s: --%s \"%.100s\" %s (an RFC 3339 time as in the event "
             "contract, e.g. 2026-11-21T10:00:00Z)",
             cmd, name, val, why);
    return -1;
}

/* --group, --topic or --to `val` (what it names: "group" or "topic"). */
static int apply_name(const char *cmd, const char *opt, const char *what, const char *val,
                      const char **out, char *errstr, size_t size)
{
    if (!*val || strlen(val) > 249) {
        snprintf(errstr, size, "dlq %s: --%s needs a %s name (1 to 249 characters)", cmd, opt,
                 what);
        return -1;
    }
    *out = val;
    return 0;
}

/* Sets the option `c` that takes the value `val`. Returns 0, or -1 with
 * errstr. */
static int apply_value(aac_dlqtool_opts_t *o, const char *cmd, int c, const char *val, char *errstr,
                       size_t size)
{
    const char *name = opt_name(c);
    long v;
    switch (c) {
    case O_GROUP:
        return apply_name(cmd, name, "group", val, &o->group, errstr, size);
    case O_TOPIC:
        return apply_name(cmd, name, "topic", val, &o->topic, errstr, size);
    case O_TO:
        return apply_name(cmd, name, "topic", val, &o->to, errstr, size);
    case O_REASON:
        return add_reasons(o, cmd, val, errstr, size);
    case O_SINCE:
        return apply_time(cmd, name, val, &o->since_ms, errstr, size);
    case O_UNTIL:
        return apply_time(cmd, name, val, &o->until_ms, errstr, size);
    case O_LIMIT:
        if (parse_long(val, 0, LONG_MAX, &o->limit) == 0)
            return 0;
        snprintf(errstr, size, "dlq %s: --limit \"%.100s\" is not a number >= 0", cmd, val);
        return -1;
    case O_MAX_REPLAYS:
        if (parse_long(val, 1, 1000000, &v) == 0) {
            o->max_replays = (int)v;
            return 0;
        }
        snprintf(errstr, size, "dlq %s: --max-replays \"%.100s\" is not a number from 1 to 1000000",
                 cmd, val);
        return -1;
    default:
        return 0; /* every code of dlq_options is handled above or by apply_flag */
    }
}

/* The message for what getopt_long returned as '?' (unknown, or a value
 * given to an option that takes none) or ':' (a value missing). */
static void getopt_error(int c, const char *cmd, char **sub_argv, char *errstr, size_t size)
{
    if (c == ':')
        snprintf(errstr, size, "dlq %s: --%s needs a value", cmd, opt_name(optopt));
    else if (optopt >= O_JSON && optopt < O__END)
        snprintf(errstr, size, "dlq %s: --%s takes no value", cmd, opt_name(optopt));
    else if (optopt)
        snprintf(errstr, size, "dlq %s: unknown argument \"-%c\" (see --help)", cmd, optopt);
    else
        snprintf(errstr, size, "dlq %s: unknown argument \"%.100s\" (see --help)", cmd,
                 sub_argv[optind - 1]);
}

/* Reads the options after the command with getopt_long ("+": no
 * reordering, the first word that is not an option is an error; ":": a
 * missing value is told apart; opterr = 0: every message is ours). Sets
 * *limit_set when --limit was given. Returns 0, or -1 with errstr. */
static int parse_options(int sub_argc, char **sub_argv, aac_dlqtool_opts_t *o, bool *limit_set,
                         char *errstr, size_t size)
{
    const char *cmd = sub_argv[0];
    int c, idx;
    opterr = 0;
    optind = 0; /* glibc: start afresh (tests parse many times) */
    while ((c = getopt_long(sub_argc, sub_argv, "+:", dlq_options, &idx)) != -1) {
        if (c == '?' || c == ':') {
            getopt_error(c, cmd, sub_argv, errstr, size);
            return -1;
        }
        if (replay_only(c) && o->cmd != AAC_DLQTOOL_REPLAY) {
            snprintf(errstr, size, "dlq %s: --%s applies to replay only", cmd, opt_name(c));
            return -1;
        }
        *limit_set |= c == O_LIMIT;
        if (!apply_flag(o, c) && apply_value(o, cmd, c, optarg, errstr, size))
            return -1;
    }
    if (optind < sub_argc) {
        snprintf(errstr, size, "dlq %s: unknown argument \"%.100s\" (see --help)", cmd,
                 sub_argv[optind]);
        return -1;
    }
    return 0;
}

/* The checks of the options together, once each is read. */
static int check_options(const aac_dlqtool_opts_t *o, const char *cmd, char *errstr, size_t size)
{
    if (o->since_ms != INT64_MIN && o->until_ms != INT64_MAX && o->since_ms >= o->until_ms) {
        snprintf(errstr, size, "dlq %s: --since must be before --until", cmd);
        return -1;
    }
    if (o->cmd == AAC_DLQTOOL_REPLAY && o->dry_run && o->yes) {
        snprintf(errstr, size, "dlq replay: --dry-run and --yes exclude each other");
        return -1;
    }
    if (o->cmd == AAC_DLQTOOL_REPLAY && !o->dry_run && !o->yes) {
        snprintf(errstr, size,
                 "dlq replay: nothing published: add --yes to publish, or --dry-run to list what "
                 "would be");
        return -1;
    }
    return 0;
}

int aac_dlqtool_parse_args(int argc, char **argv, aac_dlqtool_opts_t *o, char *errstr,
                           size_t errstr_size)
{
    bool limit_set = false;

    memset(o, 0, sizeof(*o));
    o->any_reason = true;
    o->since_ms = INT64_MIN;
    o->until_ms = INT64_MAX;
    o->max_replays = AAC_DLQTOOL_DEFAULT_MAX_REPLAYS;
    errstr[0] = '\0';

    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            o->help = true;
            return 0;
        }
    if (argc < 2) {
        snprintf(errstr, errstr_size, "dlq: missing command: inspect or replay (see --help)");
        return -1;
    }
    if (!strcmp(argv[1], "inspect"))
        o->cmd = AAC_DLQTOOL_INSPECT;
    else if (!strcmp(argv[1], "replay"))
        o->cmd = AAC_DLQTOOL_REPLAY;
    else {
        snprintf(errstr, errstr_size, "dlq: unknown command \"%.100s\": inspect or replay",
                 argv[1]);
        return -1;
    }
    if (parse_options(argc - 1, argv + 1, o, &limit_set, errstr, errstr_size) ||
        check_options(o, argv[1], errstr, errstr_size))
        return -1;
    if (o->cmd == AAC_DLQTOOL_INSPECT && !limit_set)
        o->limit = AAC_DLQTOOL_DEFAULT_INSPECT_LIMIT;
    return 0;
}

/* --- output -------------------------------------------------------------- */

/* Writes `n` bytes of `p` as a quoted string, at most `max` of them, with
 * the one escaper (aac_utf8_escape): JSON (invalid UTF-8 as U+FFFD) or
 * logfmt (invalid bytes as \xNN). Returns true when it was cut. */
static bool put_str(FILE *f, const void *p, size_t n, size_t max, bool json)
{
    bool cut = n > max;
    aac_utf8_fput_quoted(f, p, cut ? max : n, json ? AAC_UTF8_ESC_JSON : AAC_UTF8_ESC_LOGFMT);
    return cut;
}

/* --- a dead letter's view ----------------------------------------------- */

static const char *hname(aac_dlq_header_t which)
{
    return aac_dlq_headers[which].name;
}

/* A dead letter read from the topic: the message and what its headers say. */
typedef struct letter_s {
    const rd_kafka_message_t *rkm;
    rd_kafka_headers_t *hdrs; /* the message's; NULL when none */
    aac_dlqtool_letter_t d;
} letter_t;

/* Copies the last header `name` into buf (NUL-terminated, cut to size);
 * "" when absent. Returns true when present. */
static bool header_str(const rd_kafka_headers_t *h, const char *name, char *buf, size_t size)
{
    const void *v;
    size_t n;
    buf[0] = '\0';
    if (!h || rd_kafka_header_get_last(h, name, &v, &n) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return false;
    if (!v)
        n = 0;
    if (n >= size)
        n = size - 1;
    memcpy(buf, v, n);
    buf[n] = '\0'; /* an embedded NUL ends it early: fine for matching */
    return true;
}

void aac_dlqtool_letter_read(aac_dlqtool_letter_t *l, const rd_kafka_headers_t *h,
                             int64_t timestamp_ms)
{
    const void *v;
    size_t n;
    memset(l, 0, sizeof(*l));
    header_str(h, hname(AAC_DLQ_H_ERROR_REASON), l->reason, sizeof(l->reason));
    header_str(h, hname(AAC_DLQ_H_ERROR_CLASS), l->cls, sizeof(l->cls));
    header_str(h, hname(AAC_DLQ_H_ORIGINAL_TOPIC), l->orig_topic, sizeof(l->orig_topic));
    l->failed_at_ms = INT64_MIN;
    if (header_str(h, hname(AAC_DLQ_H_FAILED_AT), l->failed_at, sizeof(l->failed_at)) &&
        !parse_time_ms(l->failed_at, strlen(l->failed_at), &l->failed_at_ms, NULL, 0))
        l->failed_at_ms = INT64_MIN;
    /* no usable header: the dead letter's own timestamp is when it was written */
    if (l->failed_at_ms == INT64_MIN && timestamp_ms >= 0)
        l->failed_at_ms = timestamp_ms;
    l->replay_count = 0;
    if (h && rd_kafka_header_get_last(h, AAC_DLQTOOL_H_REPLAY_COUNT, &v, &n) ==
                 RD_KAFKA_RESP_ERR_NO_ERROR)
        l->replay_count = aac_dlqtool_replay_count(v, v ? n : 0);
}

static void letter_read(letter_t *l, const rd_kafka_message_t *rkm)
{
    rd_kafka_timestamp_type_t tt;
    l->rkm = rkm;
    if (rd_kafka_message_headers(rkm, &l->hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR)
        l->hdrs = NULL;
    aac_dlqtool_letter_read(&l->d, l->hdrs, rd_kafka_message_timestamp(rkm, &tt));
}

/* A header value as a JSON number when it is one, else null. */
static void put_json_int(FILE *f, const rd_kafka_headers_t *h, const char *name)
{
    char buf[32], *end;
    if (!header_str(h, name, buf, sizeof(buf)) || !buf[0]) {
        fputs("null", f);
        return;
    }
    errno = 0;
    long long v = strtoll(buf, &end, 10);
    if (errno || *end)
        fputs("null", f);
    else
        fprintf(f, "%lld", v);
}

static void put_json_hdr(FILE *f, const rd_kafka_headers_t *h, const char *name)
{
    const void *v;
    size_t n;
    if (!h || rd_kafka_header_get_last(h, name, &v, &n) != RD_KAFKA_RESP_ERR_NO_ERROR || !v)
        fputs("null", f);
    else
        put_str(f, v, n, HDR_MAX_PRINT, true);
}

void aac_dlqtool_json_headers(FILE *f, const rd_kafka_headers_t *h)
{
    for (int i = 0; i < AAC_DLQ_H__CNT; i++) {
        fprintf(f, ",\"%s\":", aac_dlq_headers[i].field);
        if (aac_dlq_headers[i].integer)
            put_json_int(f, h, aac_dlq_headers[i].name);
        else
            put_json_hdr(f, h, aac_dlq_headers[i].name);
    }
    fputs(",\"replayed_from\":", f);
    put_json_hdr(f, h, AAC_DLQTOOL_H_REPLAYED_FROM);
}

static void print_json(FILE *f, const char *dlq_topic, const letter_t *l, bool show_value)
{
    const rd_kafka_message_t *rkm = l->rkm;
    rd_kafka_timestamp_type_t tt;
    fputs("{\"dlq_topic\":", f);
    put_str(f, dlq_topic, strlen(dlq_topic), 256, true);
    fprintf(f,
            ",\"dlq_partition\":%" PRId32 ",\"dlq_offset\":%" PRId64 ",\"timestamp_ms\":%" PRId64,
            rkm->partition, rkm->offset, rd_kafka_message_timestamp(rkm, &tt));
    aac_dlqtool_json_headers(f, l->hdrs);
    fprintf(f, ",\"replay_count\":%d,\"key\":", l->d.replay_count);
    if (rkm->key)
        put_str(f, rkm->key, rkm->key_len, KEY_MAX_PRINT, true);
    else
        fputs("null", f);
    fprintf(f, ",\"value_bytes\":%zu", rkm->len);
    if (show_value) {
        fputs(",\"value\":", f);
        bool cut = rkm->payload ? put_str(f, rkm->payload, rkm->len, VALUE_MAX_PRINT, true) : false;
        if (!rkm->payload)
            fputs("null", f);
        fprintf(f, ",\"value_truncated\":%s", cut ? "true" : "false");
    }
    /* every header, in order, names repeated as they are */
    fputs(",\"headers\":[", f);
    const char *name;
    const void *v;
    size_t n;
    for (size_t i = 0;
         l->hdrs && i < 256 &&
         rd_kafka_header_get_all(l->hdrs, i, &name, &v, &n) == RD_KAFKA_RESP_ERR_NO_ERROR;
         i++) {
        fputs(i ? ",[" : "[", f);
        put_str(f, name, strlen(name), 256, true);
        fputc(',', f);
        if (v)
            put_str(f, v, n, HDR_MAX_PRINT, true);
        else
            fputs("null", f);
        fputc(']', f);
    }
    fputs("]}\n", f);
}

/* " <field>=<value>" of a line, the value quoted and cut at `max` bytes;
 * "-" when the header is absent. */
static void put_hdr_field(FILE *f, const rd_kafka_headers_t *h, aac_dlq_header_t which, size_t max)
{
    const void *v;
    size_t n;
    fprintf(f, " %s=", aac_dlq_headers[which].field);
    if (!h || rd_kafka_header_get_last(h, hname(which), &v, &n) != RD_KAFKA_RESP_ERR_NO_ERROR || !v)
        fputs("-", f);
    else
        put_str(f, v, n, max, false);
}

static void print_line(FILE *f, const letter_t *l, bool show_value)
{
    const rd_kafka_message_t *rkm = l->rkm;
    char part[32], off[32];
    fprintf(f, "dlq=%" PRId32 ":%" PRId64, rkm->partition, rkm->offset);
    put_hdr_field(f, l->hdrs, AAC_DLQ_H_FAILED_AT, 64);
    put_hdr_field(f, l->hdrs, AAC_DLQ_H_ERROR_REASON, 64);
    put_hdr_field(f, l->hdrs, AAC_DLQ_H_ERROR_CLASS, 32);
    header_str(l->hdrs, hname(AAC_DLQ_H_ORIGINAL_PARTITION), part, sizeof(part));
    header_str(l->hdrs, hname(AAC_DLQ_H_ORIGINAL_OFFSET), off, sizeof(off));
    fputs(" origin=", f);
    char origin[320];
    snprintf(origin, sizeof(origin), "%s:%s:%s", l->d.orig_topic[0] ? l->d.orig_topic : "-",
             part[0] ? part : "-", off[0] ? off : "-");
    put_str(f, origin, strlen(origin), sizeof(origin), false);
    put_hdr_field(f, l->hdrs, AAC_DLQ_H_ATTEMPTS, 16);
    fprintf(f, " replays=%d", l->d.replay_count);
    put_hdr_field(f, l->hdrs, AAC_DLQ_H_ERROR_PATH, 256);
    fputs(" key=", f);
    if (rkm->key)
        put_str(f, rkm->key, rkm->key_len, KEY_MAX_PRINT, false);
    else
        fputs("-", f);
    fprintf(f, " value_bytes=%zu", rkm->len);
    put_hdr_field(f, l->hdrs, AAC_DLQ_H_ERROR_MESSAGE, 512);
    if (show_value) {
        fputs(" value=", f);
        if (rkm->payload)
            put_str(f, rkm->payload, rkm->len, VALUE_MAX_PRINT, false);
        else
            fputs("-", f);
    }
    fputc('\n', f);
}

/* --- Kafka --------------------------------------------------------------- */

/* A dead letter read, waiting for the record: its replay's delivery
 * report decides whether it counts as replayed. */
typedef enum { E_LEFT, E_RECORDED, E_PENDING, E_DELIVERED, E_FAILED } entry_state_t;
typedef struct entry_s {
    int64_t offset;
    int32_t partition;
    int16_t key;
    uint8_t recorded; /* in the record already (replayed by an earlier run) */
    uint8_t state;    /* entry_state_t */
} entry_t;

#define RANGE_TEXT_MAX 68   /* one more key and range in the record's text, at most */
#define COMMIT_EVERY   1000 /* replays between commits of the record (or each second) */
#define QUEUE_MAX      100000

typedef struct tool_s {
    const aac_config_t *cfg;
    const aac_dlqtool_opts_t *o;
    const char *topic;
    rd_kafka_t *reader;
    rd_kafka_t *producer;
    const struct rd_kafka_metadata *md; /* every topic, read at start */
    int32_t nparts;
    int64_t *hi;   /* per partition: stop before this offset */
    bool *done;    /* per partition */
    int32_t left;  /* partitions not done */
    int64_t total; /* messages expected, sum of hi - lo */
    /* counts */
    int64_t read, selected, replayed, skipped_replayed, skipped_no_topic, delivered, failed;
    int64_t skipped_recorded; /* in the replay record: replayed by an earlier run */
    int last_err;
    int64_t progress_ms, progress_read; /* when the last progress line was printed */
    /* the replay record (replay only), per dead-letter partition */
    const char *group;          /* the replay group */
    int64_t *lo;                /* where reading starts */
    aac_dlqtool_record_t *old;  /* as committed before this run */
    aac_dlqtool_tracker_t *trk; /* rebuilt from what is read */
    bool *spec_open;            /* [p * KEYS + key]: the tracker's open[] once the
                                 * entries queued are applied, deliveries assumed */
    int64_t *est_len;           /* bound on the record's text once they are */
    entry_t *q;                 /* dead letters read since the last commit, in order */
    size_t qn, qcap;
    int64_t produced_since_commit; /* replays queued since the last commit */
    int64_t commit_ms;             /* when the record was last committed */
    bool record_full;              /* stopped: a partition's record has no room left */
    bool record_found;             /* some partition had a record when the run started */
    int64_t copies;                /* dead letters read that are copies of replayed ones */
    int32_t full_partition;
} tool_t;

static void dr_msg_cb(rd_kafka_t *rk, const rd_kafka_message_t *rkm, void *opaque)
{
    tool_t *t = opaque;
    size_t i = (size_t)(uintptr_t)rkm->_private;
    (void)rk;
    if (i < t->qn && t->q[i].state == E_PENDING)
        t->q[i].state = rkm->err ? E_FAILED : E_DELIVERED;
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

static rd_kafka_t *reader_new(const tool_t *t, char *errstr, size_t size)
{
    static const char *const defaults[][2] = {
        {"client.id", "agent-actions-consumer-dlq-reader"},
    };
    char err[512];
    rd_kafka_conf_t *conf = aac_kafkaconf_new(t->cfg, defaults, 1, NULL, errstr, size);
    if (!conf)
        return NULL;
    /* librdkafka wants a group for assign(); the reader never joins it (no
     * subscribe). For replay it is the replay group, where the record is
     * committed; inspect commits nothing. */
    if (aac_kafkaconf_set_forced(conf, t->group ? t->group : "agent-actions-consumer-dlq-tool",
                                 errstr, size) ||
        aac_kafkaconf_set(conf, "enable.partition.eof", "true", errstr, size) ||
        aac_kafkaconf_set(conf, "auto.offset.reset", "earliest", errstr, size))
        goto fail;
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    if (!rk) {
        snprintf(errstr, size, "could not create the dead-letter reader: %.400s", err);
        goto fail;
    }
    rd_kafka_poll_set_consumer(rk);
    return rk;
fail:
    rd_kafka_conf_destroy(conf);
    return NULL;
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

/* The metadata of `name` in the cluster listing, NULL when absent. */
static const rd_kafka_metadata_topic_t *find_topic(const tool_t *t, const char *name)
{
    for (int i = 0; t->md && i < t->md->topic_cnt; i++)
        if (!strcmp(t->md->topics[i].topic, name))
            return &t->md->topics[i];
    return NULL;
}

/* Lists the cluster's topics (all of them: asking for one by name may
 * auto-create it), finds the dead-letter topic's partitions and their
 * watermarks, and assigns the non-empty ones from their beginning. */
static int reader_assign(tool_t *t, char *errstr, size_t size)
{
    const rd_kafka_metadata_topic_t *mt;
    rd_kafka_topic_partition_list_t *l = NULL;
    rd_kafka_resp_err_t err;
    int rc = -1;

    err = rd_kafka_metadata(t->reader, 1, NULL, &t->md, META_TIMEOUT_MS);
    if (err) {
        t->md = NULL;
        snprintf(errstr, size, "could not list the topics: %s", rd_kafka_err2str(err));
        return -1;
    }
    if (!(mt = find_topic(t, t->topic))) {
        snprintf(errstr, size, "topic %s does not exist", t->topic);
        return -1;
    }
    if (mt->err) {
        snprintf(errstr, size, "could not read topic %s: %s", t->topic, rd_kafka_err2str(mt->err));
        return -1;
    }
    t->nparts = mt->partition_cnt;
    if (t->nparts <= 0 || t->nparts > MAX_PARTITIONS) {
        snprintf(errstr, size, "topic %s has %d partitions", t->topic, t->nparts);
        return -1;
    }
    t->hi = calloc((size_t)t->nparts, sizeof(*t->hi));
    t->lo = calloc((size_t)t->nparts, sizeof(*t->lo));
    t->done = calloc((size_t)t->nparts, sizeof(*t->done));
    l = rd_kafka_topic_partition_list_new(t->nparts);
    if (!t->hi || !t->lo || !t->done || !l) {
        snprintf(errstr, size, "out of memory");
        goto out;
    }
    for (int32_t p = 0; p < t->nparts; p++)
        t->done[p] = true; /* until listed with messages */
    for (int i = 0; i < mt->partition_cnt; i++) {
        int32_t p = mt->partitions[i].id;
        int64_t lo, hi;
        if (p < 0 || p >= t->nparts)
            continue;
        err = rd_kafka_query_watermark_offsets(t->reader, t->topic, p, &lo, &hi, META_TIMEOUT_MS);
        if (err) {
            snprintf(errstr, size, "could not read the offsets of %s partition %d: %s", t->topic, p,
                     rd_kafka_err2str(err));
            goto out;
        }
        t->hi[p] = hi;
        t->lo[p] = lo;
        if (hi <= lo)
            continue;
        t->done[p] = false;
        t->left++;
        t->total += hi - lo;
        rd_kafka_topic_partition_list_add(l, t->topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    }
    if (l->cnt && (err = rd_kafka_assign(t->reader, l))) {
        snprintf(errstr, size, "could not assign %s: %s", t->topic, rd_kafka_err2str(err));
        goto out;
    }
    rc = 0;
out:
    if (l)
        rd_kafka_topic_partition_list_destroy(l);
    return rc;
}

/* A bound on the length of a record's text as replays go on: `n` (its
 * length now, -1: too long) plus the digits the end of each key's last
 * range may gain when it is extended. RANGE_TEXT_MAX covers what a new
 * key or range adds. */
static int64_t text_bound(const aac_dlqtool_record_t *rec, int n)
{
    int64_t len = n < 0 ? AAC_DLQTOOL_RECORD_MAX + 1 : n;
    for (int k = 0; k < AAC_DLQTOOL_RECORD_KEYS; k++)
        if (rec->set[k].n)
            len += 19;
    return len;
}

/* Reads the replay record: the metadata of the replay group's committed
 * offsets on the dead-letter topic. */
static int record_load(tool_t *t, char *errstr, size_t size)
{
    rd_kafka_topic_partition_list_t *l;
    rd_kafka_resp_err_t err;
    char buf[AAC_DLQTOOL_RECORD_MAX + 1];
    int rc = -1;

    t->old = calloc((size_t)t->nparts, sizeof(*t->old));
    t->trk = calloc((size_t)t->nparts, sizeof(*t->trk));
    t->spec_open = calloc((size_t)t->nparts * AAC_DLQTOOL_RECORD_KEYS, sizeof(*t->spec_open));
    t->est_len = calloc((size_t)t->nparts, sizeof(*t->est_len));
    if (!(l = rd_kafka_topic_partition_list_new(t->nparts)) || !t->old || !t->trk ||
        !t->spec_open || !t->est_len) {
        snprintf(errstr, size, "out of memory");
        goto out;
    }
    for (int32_t p = 0; p < t->nparts; p++) {
        aac_dlqtool_tracker_init(&t->trk[p], t->lo[p]);
        rd_kafka_topic_partition_list_add(l, t->topic, p);
    }
    if ((err = rd_kafka_committed(t->reader, l, META_TIMEOUT_MS))) {
        snprintf(errstr, size, "could not read the replay record (group %s): %s", t->group,
                 rd_kafka_err2str(err));
        goto out;
    }
    for (int i = 0; i < l->cnt; i++) {
        const rd_kafka_topic_partition_t *e = &l->elems[i];
        if (e->partition < 0 || e->partition >= t->nparts)
            continue;
        if (e->err) {
            snprintf(errstr, size,
                     "could not read the replay record (group %s) of %s partition %d: %s", t->group,
                     t->topic, e->partition, rd_kafka_err2str(e->err));
            goto out;
        }
        if (aac_dlqtool_record_parse(&t->old[e->partition], e->metadata, e->metadata_size)) {
            snprintf(errstr, size,
                     "cannot read the replay record of %s partition %d: the metadata committed "
                     "by group %s is not one (a group of another tool? choose another --group)",
                     t->topic, e->partition, t->group);
            goto out;
        }
        int n = aac_dlqtool_record_format(&t->old[e->partition], buf, sizeof(buf));
        t->est_len[e->partition] = text_bound(&t->old[e->partition], n);
        t->record_found |= e->metadata_size > 0;
    }
    rc = 0;
out:
    if (l)
        rd_kafka_topic_partition_list_destroy(l);
    return rc;
}

/* Queues a dead letter read for the record; keeps the bound on the
 * record's text. Returns its index, or -1 when out of memory. */
static long record_queue(tool_t *t, int32_t p, int key, int64_t offset, bool recorded,
                         entry_state_t state)
{
    bool *open = &t->spec_open[(size_t)p * AAC_DLQTOOL_RECORD_KEYS + (size_t)key];
    if (aac_grow((void **)&t->q, &t->qcap, t->qn + 1, sizeof(*t->q)) != 0)
        return -1;
    t->q[t->qn] = (entry_t){.offset = offset,
                            .partition = p,
                            .key = (int16_t)key,
                            .recorded = recorded,
                            .state = state};
    if (state == E_LEFT && !recorded) {
        *open = false;
    } else {
        if (!recorded && !*open)
            t->est_len[p] += RANGE_TEXT_MAX; /* may start a key and a range */
        *open = true;
    }
    return (long)t->qn++;
}

/* True when replaying one more dead letter of `key` on `p` may not fit
 * in the record until it is next committed. */
static bool record_tight(const tool_t *t, int32_t p, int key)
{
    return !t->spec_open[(size_t)p * AAC_DLQTOOL_RECORD_KEYS + (size_t)key] &&
           t->est_len[p] + RANGE_TEXT_MAX > AAC_DLQTOOL_RECORD_MAX;
}

static void progress(tool_t *t, bool force);

/* Waits for every delivery report, then feeds the dead letters queued
 * since the last call to their partitions' trackers (a replay delivered
 * counts as replayed; one that failed does not) and empties the queue.
 * Returns 0, or -1 when out of memory. */
static int record_settle(tool_t *t)
{
    while (t->producer && rd_kafka_outq_len(t->producer) > 0) {
        rd_kafka_flush(t->producer, 1000);
        progress(t, true);
    }
    for (size_t i = 0; i < t->qn; i++) {
        const entry_t *e = &t->q[i];
        bool replayed = e->recorded || e->state == E_DELIVERED;
        if (aac_dlqtool_tracker_apply(&t->trk[e->partition], e->key, e->offset, replayed))
            return -1;
    }
    t->qn = 0;
    t->produced_since_commit = 0;
    t->commit_ms = aac_mono_ms();
    return 0;
}

/* Adds partition p's rebuilt record to the commit list `l` (nothing when
 * nothing of it was read), formatted in buf (AAC_DLQTOOL_RECORD_MAX + 1
 * bytes). Returns 0, or -1 with errstr. */
static int record_add_partition(tool_t *t, int32_t p, rd_kafka_topic_partition_list_t *l, char *buf,
                                char *errstr, size_t size)
{
    aac_dlqtool_record_t rec;
    int64_t offset;
    int n;

    if (t->trk[p].pos == t->lo[p])
        return 0; /* nothing read: its record stays as it is */
    memset(&rec, 0, sizeof(rec));
    if (aac_dlqtool_tracker_result(&t->trk[p], &t->old[p], &rec, &offset)) {
        aac_dlqtool_record_clear(&rec);
        snprintf(errstr, size, "out of memory");
        return -1;
    }
    n = aac_dlqtool_record_format(&rec, buf, AAC_DLQTOOL_RECORD_MAX + 1);
    t->est_len[p] = text_bound(&rec, n);
    aac_dlqtool_record_clear(&rec);
    if (n < 0) {
        /* record_tight() is meant to stop the run before this */
        snprintf(errstr, size,
                 "could not record the replay of %s partition %d: its record needs more than "
                 "%d bytes; what was replayed since the last commit may be replayed again",
                 t->topic, p, AAC_DLQTOOL_RECORD_MAX);
        return -1;
    }
    memcpy(&t->spec_open[(size_t)p * AAC_DLQTOOL_RECORD_KEYS], t->trk[p].open,
           sizeof(t->trk[p].open));
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
    if (l->cnt && (err = rd_kafka_commit(t->reader, l, 0))) {
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
    rd_kafka_topic_partition_list_t *l = NULL;
    char *buf = NULL;
    int rc = -1;

    if (record_settle(t) != 0 || !(l = rd_kafka_topic_partition_list_new(t->nparts)) ||
        !(buf = malloc(AAC_DLQTOOL_RECORD_MAX + 1))) {
        snprintf(errstr, size, "out of memory");
        goto out;
    }
    for (int32_t p = 0; p < t->nparts; p++)
        if (record_add_partition(t, p, l, buf, errstr, size) != 0)
            goto out;
    rc = record_send(t, l, errstr, size);
out:
    free(buf);
    if (l)
        rd_kafka_topic_partition_list_destroy(l);
    return rc;
}

static void mark_done(tool_t *t, int32_t p)
{
    if (p >= 0 && p < t->nparts && !t->done[p]) {
        t->done[p] = true;
        t->left--;
    }
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
            t->read, t->total, t->replayed, t->delivered,
            t->skipped_recorded + t->skipped_replayed + t->skipped_no_topic);
}

/* Publishes one dead letter back. Returns 0, or -1 on a local error. */
static int replay_one(tool_t *t, const letter_t *l, const char *to, size_t qi)
{
    const rd_kafka_message_t *rkm = l->rkm;
    rd_kafka_headers_t *h = rd_kafka_headers_new(8);
    const char *name;
    const void *v;
    size_t n;
    char buf[64];

    for (size_t i = 0; l->hdrs && rd_kafka_header_get_all(l->hdrs, i, &name, &v, &n) ==
                                      RD_KAFKA_RESP_ERR_NO_ERROR;
         i++)
        if (!aac_dlqtool_is_own_header(name))
            rd_kafka_header_add(h, name, -1, v, v ? (ssize_t)n : 0);
    snprintf(buf, sizeof(buf), "%" PRId32 ":%" PRId64, rkm->partition, rkm->offset);
    rd_kafka_header_add(h, AAC_DLQTOOL_H_REPLAYED_FROM, -1, buf, -1);
    snprintf(buf, sizeof(buf), "%d", l->d.replay_count + 1);
    rd_kafka_header_add(h, AAC_DLQTOOL_H_REPLAY_COUNT, -1, buf, -1);

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
static void list_one(const tool_t *t, const letter_t *l)
{
    if (t->o->json)
        print_json(stdout, t->topic, l, t->o->show_value);
    else
        print_line(stdout, l, t->o->show_value);
}

/* True when a selected dead letter is not replayed: in the record (and
 * not --from-beginning), at the replay bound, or without a target topic
 * (`to`: the topic it would go to, NULL: none). Counts and logs why. */
static bool replay_skipped(tool_t *t, const letter_t *l, const char *to, bool recorded)
{
    const rd_kafka_message_t *rkm = l->rkm;
    if (recorded && !t->o->from_beginning) {
        t->skipped_recorded++;
        aac_debug("skipped: in the replay record", AAC_KV_INT("dlq_partition", rkm->partition),
                  AAC_KV_INT("dlq_offset", rkm->offset), AAC_KV_STR("group", t->group));
        return true;
    }
    if (l->d.replay_count >= t->o->max_replays) {
        t->skipped_replayed++;
        aac_debug("skipped: already replayed", AAC_KV_INT("dlq_partition", rkm->partition),
                  AAC_KV_INT("dlq_offset", rkm->offset),
                  AAC_KV_INT("replay_count", l->d.replay_count));
        return true;
    }
    if (!to || !find_topic(t, to)) {
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
static int replay_recorded(tool_t *t, const letter_t *l, int key, const char *to, bool recorded,
                           char *errstr, size_t size)
{
    const int32_t p = l->rkm->partition;
    if (record_tight(t, p, key)) {
        if (record_commit(t, errstr, size))
            return -1;
        if (record_tight(t, p, key)) {
            t->record_full = true;
            t->full_partition = p;
            return 1; /* not read: the tracker stops before it */
        }
    }
    long i = record_queue(t, p, key, l->rkm->offset, recorded, E_PENDING);
    if (i < 0) {
        snprintf(errstr, size, "out of memory");
        return -1;
    }
    if (replay_one(t, l, to, (size_t)i) != 0) {
        t->q[i].state = E_FAILED;
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
    const aac_dlqtool_opts_t *o = t->o;
    letter_t l;

    t->read++;
    letter_read(&l, rkm);
    if (l.d.replay_count > 0)
        t->copies++;
    const char *reason = l.d.reason[0] ? l.d.reason : NULL;
    int key = aac_dlqtool_record_key(reason, l.d.replay_count);
    bool recorded = t->old && aac_dlqtool_record_has(&t->old[rkm->partition], key, rkm->offset);
    const char *to = o->to ? o->to : l.d.orig_topic[0] ? l.d.orig_topic : NULL;

    if (aac_dlqtool_match(o, reason, l.d.failed_at_ms)) {
        t->selected++;
        if (o->cmd == AAC_DLQTOOL_INSPECT) {
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
    if (t->trk && !o->dry_run &&
        record_queue(t, rkm->partition, key, rkm->offset, recorded,
                     recorded ? E_RECORDED : E_LEFT) < 0) {
        snprintf(errstr, size, "out of memory");
        return -1;
    }
    return 0;
}

static int run(tool_t *t, char *errstr, size_t size)
{
    int64_t idle_since = aac_mono_ms();
    int rc = 0;

    while (t->left > 0 && !aac_signals_received()) {
        rd_kafka_message_t *rkm = rd_kafka_consumer_poll(t->reader, 100);
        if (t->producer) {
            rd_kafka_poll(t->producer, 0);
            progress(t, false);
        }
        if (!rkm) {
            if (aac_mono_ms() - idle_since > IDLE_TIMEOUT_MS) {
                snprintf(errstr, size,
                         "could not read %s: nothing received for %d s with %" PRId32
                         " partition(s) unfinished (broker unreachable?)",
                         t->topic, IDLE_TIMEOUT_MS / 1000, t->left);
                return -1;
            }
            continue;
        }
        idle_since = aac_mono_ms();
        if (rkm->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            mark_done(t, rkm->partition);
        } else if (rkm->err) {
            aac_class_t cls = aac_classify_kafka(rkm->err);
            if (cls == AAC_CLASS_FATAL || rkm->err == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC ||
                rkm->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
                snprintf(errstr, size, "could not read %s: %s", t->topic,
                         rd_kafka_message_errstr(rkm));
                rd_kafka_message_destroy(rkm);
                return -1;
            }
            aac_warn("kafka error while reading", AAC_KV_STR("topic", t->topic),
                     AAC_KV_STR("error", rd_kafka_err2name(rkm->err)));
        } else if (rkm->partition >= 0 && rkm->partition < t->nparts && !t->done[rkm->partition]) {
            int r = handle(t, rkm, errstr, size);
            if (rkm->offset + 1 >= t->hi[rkm->partition])
                mark_done(t, rkm->partition);
            if (r != 0) {
                rd_kafka_message_destroy(rkm);
                rc = r < 0 ? -1 : 0;
                break;
            }
        }
        rd_kafka_message_destroy(rkm);
        if (t->trk && !t->o->dry_run &&
            (t->produced_since_commit >= COMMIT_EVERY || t->qn >= QUEUE_MAX ||
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

/* SIGINT and SIGTERM end the run (a second one stops it at once). */
/* Creates the reader (and the producer for a replay), assigns the
 * dead-letter topic and reads the replay record. Returns 0, or -1 with
 * errstr. */
static int tool_open(tool_t *t, char *errstr, size_t size)
{
    const aac_dlqtool_opts_t *o = t->o;
    if (!(t->reader = reader_new(t, errstr, size)))
        return -1;
    if (o->cmd == AAC_DLQTOOL_REPLAY && !o->dry_run &&
        !(t->producer = producer_new(t, errstr, size)))
        return -1;
    if (reader_assign(t, errstr, size) != 0)
        return -1;
    if (o->cmd == AAC_DLQTOOL_REPLAY && record_load(t, errstr, size) != 0)
        return -1;
    if (o->to && !find_topic(t, o->to)) {
        snprintf(errstr, size, "topic %s (--to) does not exist", o->to);
        return -1;
    }
    return 0;
}

static void tool_close(tool_t *t)
{
    if (t->reader) {
        rd_kafka_consumer_close(t->reader);
        rd_kafka_destroy(t->reader);
    }
    if (t->producer)
        rd_kafka_destroy(t->producer);
    if (t->md)
        rd_kafka_metadata_destroy(t->md);
    for (int32_t p = 0; p < t->nparts; p++) {
        if (t->old)
            aac_dlqtool_record_clear(&t->old[p]);
        if (t->trk)
            aac_dlqtool_tracker_clear(&t->trk[p]);
    }
    free(t->old);
    free(t->trk);
    free(t->spec_open);
    free(t->est_len);
    free(t->q);
    free(t->hi);
    free(t->lo);
    free(t->done);
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
    const aac_dlqtool_opts_t *o = t->o;
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
    const aac_dlqtool_opts_t *o = t->o;
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
                 t->topic, t->full_partition, AAC_DLQTOOL_RECORD_MAX);
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
    aac_dlqtool_opts_t o;
    char errstr[1024], group[300];
    tool_t t;
    int rc;

    if (aac_dlqtool_parse_args(argc, argv, &o, errstr, sizeof(errstr)) != 0) {
        fprintf(stderr, "agent-actions-consumer: %s\n", errstr);
        return 2;
    }
    if (o.help) {
        fputs(usage_text, stdout);
        return 0;
    }
    if (!cfg)
        return 2;

    memset(&t, 0, sizeof(t));
    t.cfg = cfg;
    t.o = &o;
    t.topic = o.topic ? o.topic : cfg->kafka.dlq_topic;
    if (o.cmd == AAC_DLQTOOL_REPLAY) {
        snprintf(group, sizeof(group), "%s.replay", cfg->kafka.group_id);
        t.group = o.group ? o.group : group;
    }
    aac_signals_install(false); /* `dlq inspect | head` ends at the pipe */

    rc = tool_open(&t, errstr, sizeof(errstr));
    if (rc == 0) {
        rc = run(&t, errstr, sizeof(errstr));
        fflush(stdout);
        rc = final_commit(&t, rc, errstr, sizeof(errstr));
        if (o.cmd == AAC_DLQTOOL_INSPECT)
            report_inspect(&t);
        else
            rc = report_replay(&t, rc, errstr, sizeof(errstr));
        fflush(stdout);
    }
    if (rc != 0 && errstr[0])
        fprintf(stderr, "agent-actions-consumer: dlq %s: %s\n",
                o.cmd == AAC_DLQTOOL_INSPECT ? "inspect" : "replay", errstr);
    tool_close(&t);
    return rc == 0 ? 0 : 1;
}
