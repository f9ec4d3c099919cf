/*
 * pgsink: writes batches of validated events to PostgreSQL, each batch in
 * one transaction together with the next offset of every partition in it.
 *
 * A write goes in phases that the caller runs in a line, each on the same
 * thread: aac_pgsink_stage() opens the transaction and COPYs the batch's
 * rows; the caller then makes sure the batch's dead letters are delivered
 * (the rows the database refused are among the batch's rejects now); then
 * aac_pgsink_commit() stores the offsets and commits, or
 * aac_pgsink_rollback() gives the transaction up.
 *
 * The fast path COPYs straight into agent_actions. A batch that meets a
 * duplicate (event_id, event_time) falls back to COPY into a temporary
 * table and INSERT ... ON CONFLICT DO NOTHING, and the sink stays on that
 * path while duplicates keep coming. A row the database rejects (a data or
 * integrity error, SQLSTATE class 22 or 23) is isolated, using the line
 * number PostgreSQL reports for COPY errors (halving the batch when it
 * reports none), marked rejected in the batch, and the rest is written.
 *
 * The offsets are stored with a fence: a partition's stored offset must
 * still be the one the batch expects (aac_batch_part_t.expected_old), or
 * the transaction is rolled back and the write reported as fenced (another
 * instance took the partition over), so two instances can never both
 * write a batch.
 *
 * A sink is one connection, used by one thread at a time; only
 * aac_pgsink_cancel() may be called from another.
 */
#ifndef AAC_PGSINK_H
#define AAC_PGSINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "aac/batch.h"
#include "aac/classify.h"
#include "aac/config.h"
#include "aac/positions.h"

typedef struct aac_pgsink_s aac_pgsink_t;

/* The rows of one batch, in COPY text format, with an index by row. */
typedef struct aac_pgsink_result_s {
    aac_class_t cls; /* AAC_CLASS_OK, TRANSIENT or FATAL */
    bool outage;     /* TRANSIENT because PostgreSQL is unreachable */
    bool fenced;     /* offsets moved under us: drop the batch, re-read */
    char sqlstate[6];
    char errstr[512];
    size_t inserted;    /* rows written (by a commit) */
    size_t duplicates;  /* rows skipped by ON CONFLICT DO NOTHING (by a commit) */
    size_t rejected;    /* rows newly isolated as rejected (by a stage) */
    int round_trips;    /* statements sent, for the bisection's cost */
    size_t rollup_keys; /* rollup rows the commit upserted (rollup.h) */
    double rollup_secs; /* the commit's rollup build and statement */
} aac_pgsink_result_t;

aac_pgsink_t *aac_pgsink_new(const aac_config_t *cfg);
void aac_pgsink_destroy(aac_pgsink_t *s); /* NULL-safe; closes the connection */

/* Asks the server to cancel what the sink's connection is running (from
 * any thread): the call in progress then fails as TRANSIENT, and so does
 * every later call (a cancel is for good: it stops a writer). */
void aac_pgsink_cancel(aac_pgsink_t *s);

/* Connects when not connected. Returns 0, or -1 with *res describing the
 * failure (outage, or FATAL for authentication and the like). */
int aac_pgsink_connect(aac_pgsink_t *s, aac_pgsink_result_t *res);

/* Checks that PostgreSQL answers (SELECT 1), reconnecting when needed.
 * Returns 0, or -1 with *res. */
int aac_pgsink_ping(aac_pgsink_t *s, aac_pgsink_result_t *res);

/* Checks that the schema this service writes exists (FATAL when not:
 * migrations were not applied) and that the sink can write to it. */
int aac_pgsink_check_schema(aac_pgsink_t *s, aac_pgsink_result_t *res);

/* Reads the stored next offsets of the (topic, partition) `keys` for the
 * group: offsets[i] = stored value or -1 when none. Returns 0 or -1
 * (*res). */
int aac_pgsink_fetch_offsets(aac_pgsink_t *s, const char *group, const aac_pkey_t *keys, size_t cnt,
                             int64_t *offsets, aac_pgsink_result_t *res);

/* Opens a transaction and writes the batch's live rows, rejecting in the
 * batch the rows the database refuses. Returns 0 with the transaction
 * open, or -1 with *res (TRANSIENT: retry later; FATAL: stop) and nothing
 * open. The rows rejected stay rejected across retries. */
int aac_pgsink_stage(aac_pgsink_t *s, aac_batch_t *b, aac_pgsink_result_t *res);

/* Stores the batch's offsets (fenced) and commits the open transaction.
 * Returns 0, or -1 with *res (TRANSIENT, FATAL, or fenced). */
int aac_pgsink_commit(aac_pgsink_t *s, const aac_batch_t *b, const char *group,
                      aac_pgsink_result_t *res);

/* Rolls back the open transaction, if any. */
void aac_pgsink_rollback(aac_pgsink_t *s);

/* Turns (see writers.h): a session advisory lock on (instance, batch),
 * taken before a batch's first statement and let go by the commit that
 * ends it, or by aac_pgsink_release_turn(); another writer waits for it
 * inside PostgreSQL with aac_pgsink_await_turn(). Each returns 0, or -1
 * with *res (a lock or statement timeout, a deadlock, an outage). */
int aac_pgsink_take_turn(aac_pgsink_t *s, int32_t instance, uint64_t batch,
                         aac_pgsink_result_t *res);
int aac_pgsink_await_turn(aac_pgsink_t *s, int32_t instance, uint64_t batch,
                          aac_pgsink_result_t *res);
void aac_pgsink_release_turn(aac_pgsink_t *s); /* no-op when none is held */

/* Monotonic ms the sink's last statement (or connection) began, 0 before
 * the first: each call is bounded on its own (statement_timeout_ms,
 * connect_timeout_s), so liveness counts from there. Any thread. */
int64_t aac_pgsink_stmt_at(aac_pgsink_t *s);

#endif
