/*
 * dlqrecord: the replay record, what `dlq replay` remembers it replayed so
 * that the same replay run twice publishes nothing the second time.
 *
 * This module owns the record's rules: its text (parsed and formatted
 * here only), how it is rebuilt from the dead letters a run reads (the
 * tracker), and, for a whole run, the ledger: the records as committed
 * before it, the dead letters read since the last commit with whether
 * their replay was delivered, and the bound that keeps each partition's
 * text within AAC_DLQRECORD_MAX bytes. Pure: no clock, no Kafka client;
 * dlqtool.c reads the text from the replay group's committed offsets and
 * commits what the ledger gives back. Unit-tested in test_dlqrecord.c.
 *
 * One record per dead-letter partition: for each key (a reason code and
 * the replay count of the dead letter, see aac_dlqrecord_key()), the
 * sorted, disjoint offset ranges [start, end) of the dead letters of that
 * key already replayed. A range may span offsets of other keys: only
 * dead letters of its own key are looked up in it. Stored as text in the
 * metadata of the replay group's committed offset (at most
 * AAC_DLQRECORD_MAX bytes, the brokers' default offset.metadata.max.bytes
 * being 4096):
 *
 *   aac.replay.v1 wrong_type=0-2000;missing_field=12-13,40-2000;db_rejected.1=7-9
 */
#ifndef AAC_DLQRECORD_H
#define AAC_DLQRECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "aac/classify.h"

#define AAC_DLQRECORD_GENS 4 /* replay counts kept apart: 0, 1, 2, 3 and more */
#define AAC_DLQRECORD_KEYS (AAC_REASON__CNT * AAC_DLQRECORD_GENS)
#define AAC_DLQRECORD_MAX  4000

typedef struct aac_dlqrecord_range_s {
    int64_t start, end; /* [start, end) */
} aac_dlqrecord_range_t;

typedef struct aac_dlqrecord_ranges_s {
    aac_dlqrecord_range_t *r; /* sorted, disjoint, not touching */
    size_t n, cap;
} aac_dlqrecord_ranges_t;

typedef struct aac_dlqrecord_s {
    aac_dlqrecord_ranges_t set[AAC_DLQRECORD_KEYS];
} aac_dlqrecord_t;

/* The key of a dead letter: its aac.error.reason (NULL or unknown: the
 * "none" key) and its aac.replay.count, so the copies of replayed messages
 * that came back are kept apart from the originals. */
int aac_dlqrecord_key(const char *reason, int replay_count);

/* Frees the ranges; the record is then empty. Accepts a zeroed record. */
void aac_dlqrecord_clear(aac_dlqrecord_t *rec);

/* Appends [start, end) to the ranges of `key`, merged with the last one
 * when they touch or overlap. start must not be below the last range's
 * start. Returns 0, or -1 when out of memory. */
int aac_dlqrecord_add(aac_dlqrecord_t *rec, int key, int64_t start, int64_t end);

/* True when `offset` is in a range of `key`. */
bool aac_dlqrecord_has(const aac_dlqrecord_t *rec, int key, int64_t offset);

/* Parses the stored text (`s` need not be NUL-terminated; NULL or empty:
 * an empty record) into an empty `rec`. Returns 0, or -1 when the text is
 * not a record (unknown key, unsorted or overlapping ranges...). */
int aac_dlqrecord_parse(aac_dlqrecord_t *rec, const char *s, size_t len);

/* Writes the text of `rec` (NUL-terminated) into buf. Returns its length,
 * or -1 when it does not fit in `size` bytes. */
int aac_dlqrecord_format(const aac_dlqrecord_t *rec, char *buf, size_t size);

/* --- the tracker ----------------------------------------------------------
 *
 * Rebuilds the record of one dead-letter partition as the tool reads it.
 * aac_dlqrecord_tracker_apply() is called for every dead letter read, in
 * offset order, with whether it is replayed (recorded before, or its
 * replay delivered now); _result() gives the record to commit: the ranges
 * rebuilt from what was read, then the old record's ranges beyond it
 * (messages not read this time, --limit say, keep their state). */
typedef struct aac_dlqrecord_tracker_s {
    aac_dlqrecord_t built;
    bool open[AAC_DLQRECORD_KEYS]; /* the key's last dead letter is replayed */
    int64_t pos;                   /* offset after the last one applied */
    int64_t first_gap;             /* first one not replayed; -1: none */
} aac_dlqrecord_tracker_t;

void aac_dlqrecord_tracker_init(aac_dlqrecord_tracker_t *t, int64_t start);
int aac_dlqrecord_tracker_apply(aac_dlqrecord_tracker_t *t, int key, int64_t offset, bool replayed);
/* Fills the empty `out` from the tracker and the `old` record; *offset
 * gets the offset to commit: the first dead letter read and not replayed,
 * else where reading stopped. Returns 0 or -1 (out of memory). */
int aac_dlqrecord_tracker_result(const aac_dlqrecord_tracker_t *t, const aac_dlqrecord_t *old,
                                 aac_dlqrecord_t *out, int64_t *offset);
void aac_dlqrecord_tracker_clear(aac_dlqrecord_tracker_t *t);

/* --- the ledger of a run ----------------------------------------------------
 *
 * Every partition's record as committed before the run, and a tracker
 * each. Every dead letter the run reads is queued, in order, with whether
 * it was in the record and whether it is being replayed; a replay counts
 * once its delivery is confirmed (_delivered). _settle() feeds the queue
 * to the trackers; _result() then gives each partition's text to commit.
 *
 * The text must stay within AAC_DLQRECORD_MAX bytes. The ledger keeps a
 * bound on each partition's text as if every replay queued were
 * delivered: _tight() says when one more replay could start a range that
 * may not fit; the caller then commits (settle, result) and, if it is
 * still tight, stops before that dead letter. */
typedef struct aac_dlqrecord_ledger_s aac_dlqrecord_ledger_t;

/* A ledger of `nparts` partitions (1 or more), partition p read from
 * start[p]; every record empty until loaded. NULL when out of memory. */
aac_dlqrecord_ledger_t *aac_dlqrecord_ledger_new(int32_t nparts, const int64_t *start);
void aac_dlqrecord_ledger_destroy(aac_dlqrecord_ledger_t *lg); /* NULL-safe */

/* Loads partition p's committed record from its text (as
 * aac_dlqrecord_parse: NULL or empty is an empty record). Returns 0, or -1
 * when p is out of range or the text is not a record. */
int aac_dlqrecord_ledger_load(aac_dlqrecord_ledger_t *lg, int32_t p, const char *text, size_t len);

/* True when the committed record of partition p has `offset` under `key`:
 * replayed by an earlier run. */
bool aac_dlqrecord_ledger_has(const aac_dlqrecord_ledger_t *lg, int32_t p, int key, int64_t offset);

/* True when replaying one more dead letter of `key` on p might not fit in
 * p's record until it is next committed. */
bool aac_dlqrecord_ledger_tight(const aac_dlqrecord_ledger_t *lg, int32_t p, int key);

/* Queues a dead letter read on p (in offset order): `recorded`, it is in
 * the committed record; `replaying`, its replay was produced and awaits
 * _delivered(). Returns its index in the queue, or -1 when out of memory. */
long aac_dlqrecord_ledger_queue(aac_dlqrecord_ledger_t *lg, int32_t p, int key, int64_t offset,
                                bool recorded, bool replaying);

/* The replay of the dead letter queued at index i was delivered (ok) or
 * failed; nothing when i is not a replay awaiting its report. */
void aac_dlqrecord_ledger_delivered(aac_dlqrecord_ledger_t *lg, size_t i, bool ok);

/* How many dead letters are queued since the last _settle(). */
size_t aac_dlqrecord_ledger_queued(const aac_dlqrecord_ledger_t *lg);

/* Feeds the queue to the trackers, in order: a dead letter counts as
 * replayed when it was recorded or its replay delivered (a replay not yet
 * reported counts as not replayed: call it once every report is in).
 * Empties the queue. Returns 0, or -1 when out of memory. */
int aac_dlqrecord_ledger_settle(aac_dlqrecord_ledger_t *lg);

#define AAC_DLQRECORD_ENOMEM (-1) /* out of memory */
#define AAC_DLQRECORD_E2BIG  (-2) /* the text needs more than AAC_DLQRECORD_MAX bytes */

/* Partition p's record to commit, as settled so far: its text in buf
 * (AAC_DLQRECORD_MAX + 1 bytes, NUL-terminated) and the offset to commit
 * with it in *offset. Returns the text's length; 0 when nothing of p was
 * read (its committed record stands); AAC_DLQRECORD_ENOMEM or
 * AAC_DLQRECORD_E2BIG (_tight() is meant to stop a run before that). */
int aac_dlqrecord_ledger_result(aac_dlqrecord_ledger_t *lg, int32_t p, char *buf, int64_t *offset);

#endif
