/*
 * dlqtool: the operators' dead-letter tools, `agent-actions-consumer dlq`.
 *
 *   dlq inspect [FILTERS] [--json] [--show-value]
 *   dlq replay  [FILTERS] [--to TOPIC] [--dry-run] [--yes] [--max-replays N]
 *               [--group NAME] [--from-beginning]
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
 *
 * `replay` remembers what it replayed, so the same replay run twice
 * publishes nothing the second time: the replay record, kept as the
 * committed offsets' metadata of a consumer group of its own on the
 * dead-letter topic (--group, default "<kafka.group_id>.replay"), holds for
 * each dead-letter partition and each (reason, replay count) the offset
 * ranges already replayed. It is committed after each batch of confirmed
 * deliveries. --from-beginning replays recorded messages again.
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

#include <stdio.h>

#include <librdkafka/rdkafka.h>

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
    int max_replays;     /* skip when aac.replay.count >= this */
    const char *group;   /* --group: the replay group; NULL: "<kafka.group_id>.replay" */
    bool from_beginning; /* --from-beginning: replay what the record says was replayed */
} aac_dlqtool_opts_t;

/* Parses `dlq inspect|replay ...` (argv[0] is "dlq"). Returns 0 and fills
 * `o` (argv strings are borrowed, not copied), or -1 with one line in
 * errstr (a usage error: exit status 2). */
int aac_dlqtool_parse_args(int argc, char **argv, aac_dlqtool_opts_t *o, char *errstr,
                           size_t errstr_size);

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

/* What the tools read of a dead letter's headers (aac_dlq_headers, the
 * last header of each name; values cut to the buffers, "" when absent). */
typedef struct aac_dlqtool_letter_s {
    char reason[64], cls[32], failed_at[64], orig_topic[256];
    int64_t failed_at_ms; /* aac.failed.at; else the message's timestamp; INT64_MIN: neither */
    int replay_count;     /* aac_dlqtool_replay_count() of aac.replay.count */
} aac_dlqtool_letter_t;

/* Reads the dead letter's headers `h` (NULL: none); timestamp_ms is the
 * dead letter's own Kafka timestamp (-1: none), its failure time when
 * aac.failed.at is absent or not an RFC 3339 time. */
void aac_dlqtool_letter_read(aac_dlqtool_letter_t *l, const rd_kafka_headers_t *h,
                             int64_t timestamp_ms);

/* Writes the header fields of an `inspect --json` line: ,"<field>":<value>
 * for each of aac_dlq_headers in order, then "replayed_from"; a string (cut
 * at 1024 bytes, escaped) or, for an integer header, a JSON number; null
 * when the header is absent (or, for an integer, not a number). */
void aac_dlqtool_json_headers(FILE *f, const rd_kafka_headers_t *h);

/* --- the replay record --------------------------------------------------
 *
 * One per dead-letter partition: for each key (a reason code and the
 * replay count of the dead letter, see aac_dlqtool_record_key()), the
 * sorted, disjoint offset ranges [start, end) of the dead letters of that
 * key already replayed. A range may span offsets of other keys: only
 * dead letters of its own key are looked up in it. Stored as text in the
 * metadata of the replay group's committed offset (at most
 * AAC_DLQTOOL_RECORD_MAX bytes, the brokers' default
 * offset.metadata.max.bytes being 4096):
 *
 *   aac.replay.v1 wrong_type=0-2000;missing_field=12-13,40-2000;db_rejected.1=7-9
 */
#define AAC_DLQTOOL_RECORD_GENS 4 /* replay counts kept apart: 0, 1, 2, 3 and more */
#define AAC_DLQTOOL_RECORD_KEYS (AAC_REASON__CNT * AAC_DLQTOOL_RECORD_GENS)
#define AAC_DLQTOOL_RECORD_MAX  4000

typedef struct aac_dlqtool_range_s {
    int64_t start, end; /* [start, end) */
} aac_dlqtool_range_t;

typedef struct aac_dlqtool_ranges_s {
    aac_dlqtool_range_t *r; /* sorted, disjoint, not touching */
    size_t n, cap;
} aac_dlqtool_ranges_t;

typedef struct aac_dlqtool_record_s {
    aac_dlqtool_ranges_t set[AAC_DLQTOOL_RECORD_KEYS];
} aac_dlqtool_record_t;

/* The key of a dead letter: its aac.error.reason (NULL or unknown: the
 * "none" key) and its aac.replay.count, so the copies of replayed messages
 * that came back are kept apart from the originals. */
int aac_dlqtool_record_key(const char *reason, int replay_count);

/* Frees the ranges; the record is then empty. Accepts a zeroed record. */
void aac_dlqtool_record_clear(aac_dlqtool_record_t *rec);

/* Appends [start, end) to the ranges of `key`, merged with the last one
 * when they touch or overlap. start must not be below the last range's
 * start. Returns 0, or -1 when out of memory. */
int aac_dlqtool_record_add(aac_dlqtool_record_t *rec, int key, int64_t start, int64_t end);

/* True when `offset` is in a range of `key`. */
bool aac_dlqtool_record_has(const aac_dlqtool_record_t *rec, int key, int64_t offset);

/* Parses the stored text (`s` need not be NUL-terminated; NULL or empty:
 * an empty record) into an empty `rec`. Returns 0, or -1 when the text is
 * not a record (unknown key, unsorted or overlapping ranges...). */
int aac_dlqtool_record_parse(aac_dlqtool_record_t *rec, const char *s, size_t len);

/* Writes the text of `rec` (NUL-terminated) into buf. Returns its length,
 * or -1 when it does not fit in `size` bytes. */
int aac_dlqtool_record_format(const aac_dlqtool_record_t *rec, char *buf, size_t size);

/* Rebuilds the record of one dead-letter partition as the tool reads it.
 * aac_dlqtool_tracker_apply() is called for every dead letter read, in
 * offset order, with whether it is replayed (recorded before, or its
 * replay delivered now); _result() gives the record to commit: the ranges
 * rebuilt from what was read, then the old record's ranges beyond it
 * (messages not read this time, --limit say, keep their state). Pure. */
typedef struct aac_dlqtool_tracker_s {
    aac_dlqtool_record_t built;
    bool open[AAC_DLQTOOL_RECORD_KEYS]; /* the key's last dead letter is replayed */
    int64_t pos;                        /* offset after the last one applied */
    int64_t first_gap;                  /* first one not replayed; -1: none */
} aac_dlqtool_tracker_t;

void aac_dlqtool_tracker_init(aac_dlqtool_tracker_t *t, int64_t start);
int aac_dlqtool_tracker_apply(aac_dlqtool_tracker_t *t, int key, int64_t offset, bool replayed);
/* Fills the empty `out` from the tracker and the `old` record; *offset
 * gets the offset to commit: the first dead letter read and not replayed,
 * else where reading stopped. Returns 0 or -1 (out of memory). */
int aac_dlqtool_tracker_result(const aac_dlqtool_tracker_t *t, const aac_dlqtool_record_t *old,
                               aac_dlqtool_record_t *out, int64_t *offset);
void aac_dlqtool_tracker_clear(aac_dlqtool_tracker_t *t);

/* `agent-actions-consumer dlq ...`: argv[0] is "dlq". Returns the exit
 * status: 0 done (every replayed message delivered), 1 failure (Kafka
 * unreachable, a delivery failed), 2 bad arguments. `cfg` may be NULL
 * only with --help. */
int aac_dlqtool_main(const aac_config_t *cfg, int argc, char **argv);

#endif
