/*
 * positions: where each assigned partition stands, and the rules by which
 * that moves.
 *
 * Per partition: `next`, the next offset to process; `stored`, what
 * consumer_offsets holds as far as this instance knows; `pending`, what it
 * will hold once the batches in flight commit (the fence the next batch
 * expects); and whether the position is known at all.
 *
 * The rules, each in one function here:
 * - a partition's position only moves forward (aac_positions_admit takes
 *   no message below `next`), except by an explicit rewind to the first
 *   offset of a batch that was dropped unwritten (aac_positions_rewind), or
 *   when the log itself starts over below it (a topic deleted and created
 *   again: aac_positions_jump says RESTART, and the next commit is allowed
 *   to store less, batch part `rewind`);
 * - a position known locally is kept: a seek that did not take effect is
 *   tried again to the same place (need_seek); the stored offset is read
 *   from PostgreSQL only when the position is not known (a new assignment,
 *   or after a fence: need_offset), and never while a batch of the
 *   partition is in flight;
 * - each batch's commit expects what the batch before it stores
 *   (aac_positions_submit), and a batch never stores less than that.
 *
 * A partition is named by a key: a small number that stands for its
 * (topic, partition) in every function below (aac_positions_key), so one
 * table serves any number of topics.
 *
 * Pure state: no clients, no clock. The consume thread owns the table;
 * the unit tests drive it alone.
 */
#ifndef AAC_POSITIONS_H
#define AAC_POSITIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "aac/batch.h"

#define AAC_POSITIONS_MAX 100000 /* bound on (topic, partition) keys and partition ids */

typedef struct aac_position_s {
    bool assigned;
    bool need_offset;  /* position unknown: read the stored offset, then seek */
    bool need_seek;    /* position known, the fetcher elsewhere: seek to seek_to again */
    bool check_gap;    /* the next message is the first since an assignment or a seek */
    bool restarted;    /* the log started over below `stored`: the next batch may store less */
    int64_t next;      /* next offset to process, -1: take what comes */
    int64_t stored;    /* consumer_offsets' value as far as we know, -1: none */
    int64_t pending;   /* its value once the batches in flight commit, -1: stored */
    int64_t resume_at; /* messages from here on were discarded: fetch them again */
    int64_t seek_to;   /* where the pending seek goes (need_seek) */
} aac_position_t;

typedef struct aac_pkey_s {
    const char *topic; /* interned: stable for the table's life */
    int32_t partition;
} aac_pkey_t;

typedef struct aac_positions_s {
    aac_position_t *p; /* by key */
    int32_t cap;
    int32_t held; /* assigned partitions with need_offset or need_seek */
    /* the keys: (topic, partition) of each, the topics' names, an index */
    aac_pkey_t *key;
    int32_t key_cnt, key_cap;
    char **topic;
    size_t topic_cnt;
    int32_t *slot; /* key + 1, 0 empty; open addressing */
    size_t slots;
} aac_positions_t;

void aac_positions_init(aac_positions_t *ps);
void aac_positions_free(aac_positions_t *ps);

/* The key of (topic, partition), made on first use; -1 when out of
 * memory or past AAC_POSITIONS_MAX keys. Keys are never reused. */
int32_t aac_positions_key(aac_positions_t *ps, const char *topic, int32_t partition);
/* The key of (topic, partition) when it has one, else -1. */
int32_t aac_positions_lookup(const aac_positions_t *ps, const char *topic, int32_t partition);
/* What key k stands for (k < key_cnt). */
const char *aac_positions_topic(const aac_positions_t *ps, int32_t k);
int32_t aac_positions_partition(const aac_positions_t *ps, int32_t k);

/* Partition p's position, or NULL when p is out of range or not yet
 * tracked (find) / out of memory (get, which makes room). */
const aac_position_t *aac_positions_find(const aac_positions_t *ps, int32_t p);
aac_position_t *aac_positions_get(aac_positions_t *ps, int32_t p);

/* Whether p is assigned, and whether messages may flow from it now (its
 * position known and the fetcher there). */
bool aac_positions_assigned(const aac_positions_t *ps, int32_t p);
bool aac_positions_ready(const aac_positions_t *ps, int32_t p);

/* An assignment: p's position is unknown until aac_positions_loaded().
 * Returns -1 when p cannot be tracked. */
int aac_positions_assign(aac_positions_t *ps, int32_t p);
/* A revocation: p is forgotten. */
void aac_positions_revoke(aac_positions_t *ps, int32_t p);

/* What to do with a message at `offset` of partition p. */
typedef enum {
    AAC_ADMIT_TAKE,    /* process it; then aac_positions_took() */
    AAC_ADMIT_SKIP,    /* below `next`: processed already */
    AAC_ADMIT_DISCARD, /* not now (position unknown, seek pending, backing off):
                          remembered in resume_at, fetched again later */
    AAC_ADMIT_CHECK,   /* a jump: read the watermarks, then aac_positions_jump() */
    AAC_ADMIT_IGNORE,  /* p is not assigned */
} aac_admit_t;

/* `backing_off`: a failed write waits for its retry, nothing is taken. */
aac_admit_t aac_positions_admit(aac_positions_t *ps, int32_t p, int64_t offset, bool backing_off);

/* What a jump means, from the broker's watermarks (lo, hi; -1 unknown). */
typedef enum {
    AAC_JUMP_FORWARD,   /* offsets skipped by transaction markers or compaction */
    AAC_JUMP_LOST,      /* deleted by retention before they were consumed */
    AAC_JUMP_SEEK_BACK, /* fetched below `next`: drop it, seek back to next */
    AAC_JUMP_RESTART,   /* the log starts over below `next`: follow it */
} aac_jump_t;

aac_jump_t aac_positions_jump(const aac_positions_t *ps, int32_t p, int64_t offset, int64_t lo,
                              int64_t hi);

/* For AAC_JUMP_LOST: how many offsets were lost. */
int64_t aac_positions_lost(const aac_positions_t *ps, int32_t p, int64_t offset, int64_t lo);

/* The log of p started over at `offset` (AAC_JUMP_RESTART): the position
 * follows it down, and the next batch of p may store less than `stored`. */
void aac_positions_restart(aac_positions_t *ps, int32_t p, int64_t offset);

/* The message at `offset` was processed (it is in the open batch). */
void aac_positions_took(aac_positions_t *ps, int32_t p, int64_t offset);

/* A seek of p to `offset` took effect, or not (tried again later by
 * aac_positions_seek_due, to the same place). */
void aac_positions_sought(aac_positions_t *ps, int32_t p);
void aac_positions_seek_failed(aac_positions_t *ps, int32_t p, int64_t offset);

/* Where p must be sought now: its pending seek, else -1. */
int64_t aac_positions_seek_due(const aac_positions_t *ps, int32_t p);

/* Whether p's stored offset must be read, and the read's result: `stored`
 * (-1: none). Returns the offset to seek to (stored, else where messages
 * were first discarded), or -1 when the position stays where the
 * assignment put it. Refused (-2) while a batch of p is in flight. */
bool aac_positions_wants_offset(const aac_positions_t *ps, int32_t p);
int64_t aac_positions_loaded(aac_positions_t *ps, int32_t p, int64_t stored);

/* After a fence (another instance wrote p): the position is unknown again;
 * what was processed and not committed is fetched again. Every batch of p
 * must have been dropped first. */
void aac_positions_refence(aac_positions_t *ps, int32_t p);

/* After a write succeeded following a retry: where p must be sought so
 * that the messages discarded meanwhile are fetched again, else -1. */
int64_t aac_positions_resume(aac_positions_t *ps, int32_t p);

/* A batch closes: each of its partitions (part->key) commits expecting what
 * the batch before it stores (part->expected_old) and may store less only
 * after a restart (part->rewind). Refused (-1, nothing changed) when a
 * part would store less than its predecessor without a restart, or names
 * a partition not assigned. */
int aac_positions_submit(aac_positions_t *ps, aac_batch_part_t *parts, size_t cnt);

/* A batch committed: its offsets are stored. */
void aac_positions_committed(aac_positions_t *ps, const aac_batch_part_t *parts, size_t cnt);

/* A batch was dropped unwritten: p goes back to `first`, the batch's first
 * offset of p (batches are dropped newest first, so the oldest's wins).
 * With `flights`, the batches in flight were dropped too: nothing of p is
 * pending any more. */
void aac_positions_rewind(aac_positions_t *ps, int32_t p, int64_t first, bool flights);

/* Assigned partitions whose position or fetcher is not known yet. */
int32_t aac_positions_held(const aac_positions_t *ps);

#endif
