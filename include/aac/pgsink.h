/*
 * pgsink: writes batches of validated events to PostgreSQL, each batch in
 * one transaction together with the next offset of every partition in it.
 *
 * The fast path COPYs straight into agent_actions. A batch that meets a
 * duplicate (event_id, event_time) falls back to COPY into a temporary
 * table and INSERT ... ON CONFLICT DO NOTHING, and the sink stays on that
 * path while duplicates keep coming. A row the database rejects (a data or
 * integrity error, SQLSTATE class 22 or 23) is isolated, using the line
 * number PostgreSQL reports for COPY errors (halving the batch when it
 * reports none), and the rest of the batch is written.
 *
 * The offsets are stored with a fence: a partition's stored offset must
 * still be the one this instance read or wrote last, or the transaction is
 * rolled back and the batch reported as fenced (another instance took the
 * partition over), so two instances can never both write a batch.
 *
 * A large batch over several partitions is split by partition between
 * batch.writers connections, each part with its own rows and offsets in
 * its own transaction, written at once from one thread per connection:
 * each part is exactly-once by itself, as partitions are independent. A
 * write can then fail in part: the offsets and rows committed are marked
 * (offset.committed, aac_rows_written()) and a retry skips them.
 *
 * One sink per consume thread; it owns its PGconns and threads, which live
 * only within aac_pgsink_write().
 */
#ifndef AAC_PGSINK_H
#define AAC_PGSINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "aac/classify.h"
#include "aac/config.h"
#include "aac/event.h"

typedef struct aac_pgsink_s aac_pgsink_t;

/* The rows of one batch, in COPY text format, with an index by row. */
typedef struct aac_rows_s aac_rows_t;

/* Connections that write one batch in parallel, at most (batch.writers). */
#define AAC_PGSINK_MAX_WRITERS 8

typedef struct aac_pgsink_offset_s {
    int32_t partition;
    int64_t next_offset;  /* to store */
    int64_t expected_old; /* the stored value this instance believes in, -1: none */
    bool committed;       /* out: stored, even when the write as a whole failed */
} aac_pgsink_offset_t;

typedef struct aac_pgsink_result_s {
    aac_class_t cls;           /* AAC_CLASS_OK, TRANSIENT or FATAL */
    bool outage;               /* TRANSIENT because PostgreSQL is unreachable */
    bool fenced;               /* offsets moved under us: drop the batch, re-read */
    bool dead_letters_pending; /* the caller's before_commit refused */
    char sqlstate[6];
    char errstr[512];
    size_t inserted;   /* rows written, also by a write that failed in part */
    size_t duplicates; /* rows skipped by ON CONFLICT DO NOTHING */
    size_t rejected;   /* rows newly isolated as rejected by this call */
    int round_trips;   /* statements sent, for the bisection's cost */
    int writers;       /* connections the batch was split over */
} aac_pgsink_result_t;

/* Called before any offset of the batch is stored (after the rows are
 * inserted on one connection; before the writers start when several write
 * at once, and again before a part with newly rejected rows commits): the
 * caller makes sure every dead letter of the batch, including the rows
 * rejected so far, is delivered. Return 0 to go on, -1 to roll back (the
 * batch is then retried later). */
typedef int(aac_pgsink_before_commit_cb)(void *opaque, const aac_rows_t *rows);

aac_pgsink_t *aac_pgsink_new(const aac_config_t *cfg);
void aac_pgsink_destroy(aac_pgsink_t *s); /* NULL-safe; closes the connection */

/* Connects when not connected. Returns 0, or -1 with *res describing the
 * failure (outage, or FATAL for authentication and the like). */
int aac_pgsink_connect(aac_pgsink_t *s, aac_pgsink_result_t *res);

/* Checks that PostgreSQL answers (SELECT 1), reconnecting when needed.
 * Returns 0, or -1 with *res. */
int aac_pgsink_ping(aac_pgsink_t *s, aac_pgsink_result_t *res);

/* Checks that the schema this service writes exists (FATAL when not:
 * migrations were not applied) and that the sink can write to it. */
int aac_pgsink_check_schema(aac_pgsink_t *s, aac_pgsink_result_t *res);

/* Reads the stored next offsets of `partitions` for the group and topic:
 * offsets[i] = stored value or -1 when none. Returns 0 or -1 (*res). */
int aac_pgsink_fetch_offsets(aac_pgsink_t *s, const char *group, const char *topic,
                             const int32_t *partitions, size_t cnt, int64_t *offsets,
                             aac_pgsink_result_t *res);

/* Writes the rows neither rejected nor written and stores the offsets,
 * in one transaction per writer. `offsets` must list every partition with
 * a row to write, sorted or not. Returns 0 when all committed; -1
 * otherwise with *res saying why (TRANSIENT: retry later; FATAL: stop;
 * fenced), and the parts that did commit marked. Rows rejected by the
 * database are marked in `rows` (aac_rows_rejected()) and stay rejected
 * across retries. before_commit is called from the calling thread only. */
int aac_pgsink_write(aac_pgsink_t *s, aac_rows_t *rows, const char *group, const char *topic,
                     aac_pgsink_offset_t *offsets, size_t offset_cnt,
                     aac_pgsink_before_commit_cb *before_commit, void *opaque,
                     aac_pgsink_result_t *res);

/* Rows ------------------------------------------------------------------ */

aac_rows_t *aac_rows_new(void);
void aac_rows_destroy(aac_rows_t *rows); /* NULL-safe */
void aac_rows_reset(aac_rows_t *rows);   /* keeps the buffers */

/* Appends one event as a row; `tag` is the caller's (its batch index).
 * Returns 0, or -1 when out of memory. */
int aac_rows_add(aac_rows_t *rows, const aac_event_t *ev, const char *topic, int32_t partition,
                 int64_t offset, size_t tag);

size_t aac_rows_count(const aac_rows_t *rows);
size_t aac_rows_tag(const aac_rows_t *rows, size_t i);

/* Row i's database rejection, or NULL when it was not rejected. */
typedef struct aac_row_reject_s {
    aac_reason_t reason; /* db_rejected, or the caller's (retries_exhausted) */
    char sqlstate[6];
    char message[256];
} aac_row_reject_t;
const aac_row_reject_t *aac_rows_rejected(const aac_rows_t *rows, size_t i);

/* Marks row i rejected by the caller: it is not written and the batch's
 * before_commit sees it like a row the database rejected. Returns 0 or -1
 * when out of memory. */
int aac_rows_reject(aac_rows_t *rows, size_t i, aac_reason_t reason, const char *sqlstate,
                    const char *message);

/* Whether row i was committed by a write that failed in another part. */
bool aac_rows_written(const aac_rows_t *rows, size_t i);

/* The number of rows neither rejected nor written. */
size_t aac_rows_live(const aac_rows_t *rows);

#endif
