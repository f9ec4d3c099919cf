/*
 * writers: the writer threads and the batches in flight.
 *
 * The consume thread closes a batch and submits it; a writer thread takes
 * it, writes it in one transaction with its partitions' offsets
 * (pgsink.h), after confirming its dead letters, and commits it in the
 * order the batches were closed (flights.h holds the rules). The consume
 * thread then settles what committed, oldest first, and decides on what
 * did not (failpolicy.h): write again (requeue) or take every batch out
 * (drop). The module owns its mutex: these functions are its only entry
 * points, all called from the consume thread.
 *
 * What a writer may hold while it waits. A writer whose batch is staged
 * (its rows copied, the transaction open, their locks held) waits for the
 * earlier batch to commit. If that wait were only inside the service, a
 * lock the earlier batch needs, queued behind DDL that waits for the later
 * batch's locks (partition upkeep at a month's turn, `partitions drop`),
 * would close a circle PostgreSQL cannot see, broken only by lock_timeout
 * (never at 0). So every batch's writer holds a session advisory lock
 * named after the batch (its "turn", taken before its first statement,
 * released after its COMMIT or ROLLBACK), and a later writer waits for
 * the earlier batch by waiting for that lock, inside PostgreSQL: the
 * deadlock detector sees the circle and breaks it within deadlock_timeout,
 * and lock_timeout bounds the wait like any other. With one writer no
 * batch ever waits for another and no turn is taken.
 */
#ifndef AAC_WRITERS_H
#define AAC_WRITERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "aac/batch.h"
#include "aac/config.h"
#include "aac/dlq.h"
#include "aac/flights.h"
#include "aac/positions.h"
#include "aac/timeacct.h"

#define AAC_WRITERS_MAX 8
/* how long a commit waits for dead-letter reports: the configuration's
 * figure, which http.liveness_timeout_ms must exceed (config.h) */
#define AAC_WRITERS_DLQ_WAIT_MS AAC_CONFIG_DEAD_LETTER_WAIT_MS

typedef struct aac_writers_s aac_writers_t;

/* `writers` threads (1..AAC_WRITERS_MAX), at most max_in_flight batches.
 * cfg and dlq are borrowed and must outlive the writers; so must ta, whose
 * account 1 + n writer n keeps (timeacct.h; NULL: none). NULL when out of
 * memory. */
aac_writers_t *aac_writers_new(const aac_config_t *cfg, aac_dlq_t *dlq, int writers,
                               int max_in_flight, aac_timeacct_t *ta);

/* Starts the threads, each with its own PostgreSQL connection. */
int aac_writers_start(aac_writers_t *ws);

/* Stops the threads: what they are writing is cancelled (every writer at
 * once, then waited for; a statement a writer would start afterwards is
 * refused), and their connections are closed. What is in flight stays
 * for aac_writers_settle/drop. Idempotent. */
void aac_writers_stop(aac_writers_t *ws);

/* Stops the threads and frees everything, the batches still
 * in flight included. NULL-safe. */
void aac_writers_destroy(aac_writers_t *ws);

/* Hands batch b to the writers (taken when this returns true). `extra`
 * allows one batch over max_in_flight (a revocation or shutdown writes
 * what it holds). False when there is no room. */
bool aac_writers_submit(aac_writers_t *ws, aac_batch_t *b, bool extra);

/* The oldest batch when it committed: its flight copied to *out, whose
 * batch is then the caller's. */
bool aac_writers_settle(aac_writers_t *ws, aac_flight_t *out);

/* The oldest batch when it did not commit and no writer is writing any
 * more: its flight (the batch stays in flight; the caller may change it,
 * e.g. reject rows, until it requeues or drops). NULL otherwise. */
aac_flight_t *aac_writers_failure(aac_writers_t *ws);

/* Marks the failure decided on (failpolicy.h: counted once). */
void aac_writers_failure_counted(aac_writers_t *ws);

/* Writes the failed batch and every later one again. Refused (-1) while a
 * writer writes. */
int aac_writers_requeue(aac_writers_t *ws);

/* Takes every batch in flight out, oldest first, into out[] (room for
 * max_in_flight + 1); returns how many. Refused (-1) while a writer
 * writes: a batch is never reset under its writer. */
int aac_writers_drop(aac_writers_t *ws, aac_batch_t **out);

/* Batches in flight, and those a writer is on. */
void aac_writers_counts(aac_writers_t *ws, int *in_flight, int *writing);

/* Batches after the oldest rolled back for its failure. */
int aac_writers_later_cancelled(aac_writers_t *ws);

/* Whether a batch in flight holds one of the `cnt` (topic, partition). */
bool aac_writers_hold_any(aac_writers_t *ws, const aac_pkey_t *keys, size_t cnt);

/* Monotonic ms since which the longest-stuck writer has been in its
 * current call (a statement, a connection, the wait for its dead letters:
 * each has its own bound), or `now` when none is busy. */
int64_t aac_writers_busy_since(aac_writers_t *ws, int64_t now);

/* Waits up to timeout_ms for a writer to finish a batch, unless one
 * finished since the last call returned. Never returns at once otherwise:
 * a caller looping on it does not spin (while a failed batch waits for its
 * retry, say). */
void aac_writers_wait(aac_writers_t *ws, int timeout_ms);

#endif
