/*
 * dlqargs: the options of `dlq inspect` and `dlq replay` (see dlqargs.h).
 *
 * getopt_long reads one table of options (dlq_options); a value is checked
 * as it is read (apply_value), then the options together (check_options).
 * Every message names the command and the option, on one line.
 */
#include "aac/dlqargs.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aac/rfc3339.h"

/* --- the options --------------------------------------------------------- */

const char aac_dlqargs_usage[] =
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
    "dead-letter topic, where it came from, why it failed and the schema id of a\n"
    "Confluent-framed value (schema_id=); never the payload unless --show-value\n"
    "(first 4096 bytes). --json prints JSON lines instead.\n"
    "\n"
    "replay publishes the selected messages to their original topic\n"
    "(aac.original.topic, or --to TOPIC) with their original key, value (byte for\n"
    "byte, a frame included) and headers, minus the aac.* ones, plus\n"
    "aac.replayed.from=<partition>:<offset> and aac.replay.count=<n>. A message\n"
    "already replayed --max-replays times (default 1) is skipped, so one that is\n"
    "still invalid cannot loop. It shows its progress on stderr, waits for every\n"
    "delivery and ends with \"replayed N, skipped M: why\".\n"
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

static int add_reasons(aac_dlqargs_t *o, const char *cmd, const char *list, char *errstr,
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
static bool apply_flag(aac_dlqargs_t *o, int c)
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
    if (aac_rfc3339_parse_ms(val, strlen(val), ms, why, sizeof(why)))
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
static int apply_value(aac_dlqargs_t *o, const char *cmd, int c, const char *val, char *errstr,
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
static int parse_options(int sub_argc, char **sub_argv, aac_dlqargs_t *o, bool *limit_set,
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
        if (replay_only(c) && o->cmd != AAC_DLQARGS_REPLAY) {
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
static int check_options(const aac_dlqargs_t *o, const char *cmd, char *errstr, size_t size)
{
    if (o->since_ms != INT64_MIN && o->until_ms != INT64_MAX && o->since_ms >= o->until_ms) {
        snprintf(errstr, size, "dlq %s: --since must be before --until", cmd);
        return -1;
    }
    if (o->cmd == AAC_DLQARGS_REPLAY && o->dry_run && o->yes) {
        snprintf(errstr, size, "dlq replay: --dry-run and --yes exclude each other");
        return -1;
    }
    if (o->cmd == AAC_DLQARGS_REPLAY && !o->dry_run && !o->yes) {
        snprintf(errstr, size,
                 "dlq replay: nothing published: add --yes to publish, or --dry-run to list what "
                 "would be");
        return -1;
    }
    return 0;
}

int aac_dlqargs_parse(int argc, char **argv, aac_dlqargs_t *o, char *errstr, size_t errstr_size)
{
    bool limit_set = false;

    memset(o, 0, sizeof(*o));
    o->any_reason = true;
    o->since_ms = INT64_MIN;
    o->until_ms = INT64_MAX;
    o->max_replays = AAC_DLQARGS_DEFAULT_MAX_REPLAYS;
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
        o->cmd = AAC_DLQARGS_INSPECT;
    else if (!strcmp(argv[1], "replay"))
        o->cmd = AAC_DLQARGS_REPLAY;
    else {
        snprintf(errstr, errstr_size, "dlq: unknown command \"%.100s\": inspect or replay",
                 argv[1]);
        return -1;
    }
    if (parse_options(argc - 1, argv + 1, o, &limit_set, errstr, errstr_size) ||
        check_options(o, argv[1], errstr, errstr_size))
        return -1;
    if (o->cmd == AAC_DLQARGS_INSPECT && !limit_set)
        o->limit = AAC_DLQARGS_DEFAULT_INSPECT_LIMIT;
    return 0;
}

/* --- the filters --------------------------------------------------------- */

bool aac_dlqargs_match(const aac_dlqargs_t *o, const char *reason, int64_t failed_at_ms)
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
