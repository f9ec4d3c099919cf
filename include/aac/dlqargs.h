/*
 * dlqargs: the options of `dlq inspect` and `dlq replay`, and the filters
 * they select dead letters with.
 *
 *   dlq inspect [FILTERS] [--json] [--show-value]
 *   dlq replay  [FILTERS] [--to TOPIC] [--dry-run] [--yes] [--max-replays N]
 *               [--group NAME] [--from-beginning]
 *
 * This module owns every option: its name, its value's rule, which
 * command takes it, the checks of the options together, the defaults, the
 * usage text, and what the filters (--reason, --since, --until) let
 * through. Pure: no clock, no I/O; unit-tested in test_dlqargs.c. What the
 * commands then do is dlqtool.h's.
 */
#ifndef AAC_DLQARGS_H
#define AAC_DLQARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "aac/classify.h"

#define AAC_DLQARGS_DEFAULT_INSPECT_LIMIT 1000 /* lines `inspect` prints unless --limit */
#define AAC_DLQARGS_DEFAULT_MAX_REPLAYS   1    /* replays of one message unless --max-replays */

typedef enum { AAC_DLQARGS_INSPECT = 1, AAC_DLQARGS_REPLAY } aac_dlqargs_cmd_t;

typedef struct aac_dlqargs_s {
    aac_dlqargs_cmd_t cmd;
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
    int max_replays;     /* skip when aac.replay.count >= this */
    const char *group;   /* --group: the replay group; NULL: "<kafka.group_id>.replay" */
    bool from_beginning; /* --from-beginning: replay what the record says was replayed */
} aac_dlqargs_t;

/* What `dlq --help` prints. */
extern const char aac_dlqargs_usage[];

/* Parses `dlq inspect|replay ...` (argv[0] is "dlq"). Returns 0 and fills
 * `o` (argv strings are borrowed, not copied), or -1 with one line in
 * errstr (a usage error: exit status 2). */
int aac_dlqargs_parse(int argc, char **argv, aac_dlqargs_t *o, char *errstr, size_t errstr_size);

/* True when a dead letter with this aac.error.reason (NULL: header absent)
 * and failure time (Unix ms; INT64_MIN: unknown) passes the filters. An
 * unknown time never passes a time filter. */
bool aac_dlqargs_match(const aac_dlqargs_t *o, const char *reason, int64_t failed_at_ms);

#endif
