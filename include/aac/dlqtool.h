/*
 * dlqtool: the operators' dead-letter tools, `agent-actions-consumer dlq`.
 *
 *   dlq inspect [FILTERS] [--json] [--show-value]
 *   dlq replay  [FILTERS] [--to TOPIC] [--dry-run] [--yes] [--max-replays N]
 *
 * Both read the dead-letter topic (kafka.dlq_topic, or --topic) on every
 * partition from its low watermark to the high watermark seen at start, and
 * stop there: messages dead-lettered while the tool runs (a replayed
 * message failing again, say) are left for the next run. `inspect` prints
 * one bounded line (or JSON line) per selected message; `replay` publishes
 * the selected ones back to their original topic with the original key,
 * value and non-aac headers, plus aac.replayed.from and aac.replay.count,
 * through an idempotent acks=all producer, and waits for every delivery.
 * A message whose headers show it was already replayed --max-replays times
 * (default 1) is skipped, so a message that stays invalid cannot loop.
 * See docs/dead-letters.md.
 *
 * The parsing and selection functions below are pure (no clock, no I/O)
 * and unit-tested; aac_dlqtool_main() does the Kafka work.
 */
#ifndef AAC_DLQTOOL_H
#define AAC_DLQTOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "aac/classify.h"
#include "aac/config.h"

#define AAC_DLQTOOL_DEFAULT_INSPECT_LIMIT 1000 /* lines `inspect` prints unless --limit */
#define AAC_DLQTOOL_DEFAULT_MAX_REPLAYS   1    /* replays of one message unless --max-replays */

/* Headers the tool adds to a replayed message. */
#define AAC_DLQTOOL_H_REPLAYED_FROM "aac.replayed.from" /* "<dlq partition>:<offset>" */
#define AAC_DLQTOOL_H_REPLAY_COUNT  "aac.replay.count"  /* 1 on the first replay */

typedef enum { AAC_DLQTOOL_INSPECT = 1, AAC_DLQTOOL_REPLAY } aac_dlqtool_cmd_t;

typedef struct aac_dlqtool_opts_s {
    aac_dlqtool_cmd_t cmd;
    bool help;                    /* --help: print the usage, do nothing else */
    bool reason[AAC_REASON__CNT]; /* --reason: the codes selected */
    bool any_reason;              /* no --reason given: every code */
    int64_t since_ms;             /* --since, Unix ms, inclusive; INT64_MIN: none */
    int64_t until_ms;             /* --until, Unix ms, exclusive; INT64_MAX: none */
    long limit;                   /* messages listed or replayed; 0: no limit */
    bool json, show_value;        /* listing format (inspect, replay --dry-run) */
    const char *topic;            /* --topic: dead-letter topic; NULL: kafka.dlq_topic */
    const char *to;               /* --to: replay target; NULL: aac.original.topic */
    bool dry_run, yes;
    int max_replays; /* skip when aac.replay.count >= this */
} aac_dlqtool_opts_t;

/* Parses `dlq inspect|replay ...` (argv[0] is "dlq"). Returns 0 and fills
 * `o` (argv strings are borrowed, not copied), or -1 with one line in
 * errstr (a usage error: exit status 2). */
int aac_dlqtool_parse_args(int argc, char **argv, aac_dlqtool_opts_t *o, char *errstr,
                           size_t errstr_size);

/* Parses an RFC 3339 time ("2026-11-21T10:00:00Z", fractional seconds and a
 * numeric offset allowed, 't'/'z' in either case) or a date
 * ("2026-11-21", midnight UTC) into Unix milliseconds. Returns 0 or -1. */
int aac_dlqtool_parse_time(const char *s, size_t len, int64_t *ms);

/* True when a dead letter with this aac.error.reason (NULL: header absent)
 * and failure time (Unix ms; INT64_MIN: unknown) passes the filters. An
 * unknown time never passes a time filter. */
bool aac_dlqtool_match(const aac_dlqtool_opts_t *o, const char *reason, int64_t failed_at_ms);

/* The aac.replay.count of a dead letter: 0 when absent, the number when it
 * is a non-negative decimal, INT_MAX when it is garbage (so it is skipped
 * rather than replayed forever). `value` need not be NUL-terminated. */
int aac_dlqtool_replay_count(const void *value, size_t size);

/* True for a header the replay drops (the aac.* ones). */
bool aac_dlqtool_is_own_header(const char *name);

/* `agent-actions-consumer dlq ...`: argv[0] is "dlq". Returns the exit
 * status: 0 done (every replayed message delivered), 1 failure (Kafka
 * unreachable, a delivery failed), 2 bad arguments. `cfg` may be NULL
 * only with --help. */
int aac_dlqtool_main(const aac_config_t *cfg, int argc, char **argv);

#endif
