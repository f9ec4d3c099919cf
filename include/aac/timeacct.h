/*
 * timeacct: a time account of every thread of the service, by activity,
 * so that an operator sees where the time goes without a profiler
 * (aac_thread_seconds_total{thread, activity} in /metrics).
 *
 * Each thread with an account says what it does from now on:
 * aac_timeacct_switch(th, AAC_ACT_COPY) reads the monotonic clock once and
 * adds the time since the thread's last switch to the activity it leaves.
 * So every nanosecond of a thread's life, from its first switch to its
 * stop, is in exactly one activity, and the activities of a thread add up
 * to its lifetime. The totals are counters of nanoseconds that only grow.
 * Any thread reads them with aac_timeacct_read(), without a lock and
 * without waiting for the owner; the time of the activity in progress is
 * counted up to the read (a writer idle for an hour shows that hour while
 * it is still idle).
 *
 * Cost: one clock read (clock_gettime through the vDSO) and one
 * uncontended compare-and-swap per switch; bench/bench_timeacct.c
 * measures it (docs/benchmark.md, "Where the time goes").
 *
 * Threads. Account 0 is the consume thread ("consume"); accounts 1..8 are
 * the writer threads ("writer-0".."writer-7"). Each account has one owner
 * thread, the only one that may switch or stop it; a reader may be any
 * thread. A thread that never switched is not reported.
 *
 * The activities of each thread (what a high share of each means:
 * docs/operations.md, "Where the time goes"):
 *
 * consume thread
 *   poll         in rd_kafka_consumer_poll() for a message already
 *                fetched, with the callbacks it runs (statistics, errors,
 *                Kafka offset commits), the rebalance callback excepted
 *   idle         in rd_kafka_consumer_poll() waiting for a message to
 *                arrive: librdkafka's fetch queue was empty
 *   parse        a message into the open batch: its position checked,
 *                parsed and validated, its COPY row encoded
 *   submit       the open batch closed and handed to the writers (its
 *                offsets checked, its keys compared with the batches in
 *                flight)
 *   settle       committed batches settled (positions, Kafka commit,
 *                metrics), failures decided on and carried out
 *   wait_writer  no room for another batch (batch.max_in_flight batches
 *                closed and not committed): waiting for a writer
 *   rebalance    the rebalance callback (stored offsets read, what holds a
 *                revoked partition written first), and the stored offsets
 *                of partitions held back read again
 *   other        the rest of the loop: the dead-letter producer's poll,
 *                liveness stamps, the flow decisions, the idle ping, the
 *                drain at shutdown
 *
 * writer threads
 *   idle          no batch to write: waiting for the consume thread
 *   turn          taking the batch's turn, the advisory lock a later batch
 *                waits on (one round trip, only with two writers or more)
 *   wait_keys     before staging, waiting for an earlier batch that
 *                inserts one of the same keys (the key-overlap rule)
 *   copy          BEGIN and COPY of the rows (aac_pgsink_stage), with the
 *                staging table after a duplicate, the isolation of rows
 *                the database refuses, and a reconnection
 *   dead_letters  the batch's dead letters sent and their delivery
 *                 confirmed before the commit
 *   wait_earlier  staged, waiting for the earlier batch to commit (commits
 *                 go in the order batches were closed), in the service or
 *                 inside PostgreSQL on that batch's turn
 *   commit        the offsets (fenced) and the rollups stored, COMMIT
 *                 (aac_pgsink_commit)
 *   other         a batch rolled back, the connection at start, the
 *                 bookkeeping between two batches
 *
 * A switch to an activity that is not its thread's counts as `other`.
 */
#ifndef AAC_TIMEACCT_H
#define AAC_TIMEACCT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    AAC_ACT_OTHER = 0,
    AAC_ACT_IDLE,
    /* the consume thread's */
    AAC_ACT_POLL,
    AAC_ACT_PARSE,
    AAC_ACT_SUBMIT,
    AAC_ACT_SETTLE,
    AAC_ACT_WAIT_WRITER,
    AAC_ACT_REBALANCE,
    /* the writers' */
    AAC_ACT_TURN,
    AAC_ACT_WAIT_KEYS,
    AAC_ACT_COPY,
    AAC_ACT_DEAD_LETTERS,
    AAC_ACT_WAIT_EARLIER,
    AAC_ACT_COMMIT,
    AAC_ACT__CNT
} aac_activity_t;

#define AAC_TIMEACCT_WRITERS 8 /* at least writers.h's AAC_WRITERS_MAX */
#define AAC_TIMEACCT_THREADS (1 + AAC_TIMEACCT_WRITERS)
#define AAC_TIMEACCT_CONSUME 0 /* the consume thread's account; writer n's is 1 + n */

typedef struct aac_timeacct_s aac_timeacct_t;               /* every thread's account */
typedef struct aac_timeacct_thread_s aac_timeacct_thread_t; /* one thread's */

/* A monotonic clock in nanoseconds; `arg` is the one given with it. */
typedef int64_t (*aac_timeacct_clock_fn)(void *arg);

/* What aac_timeacct_read() copies. */
typedef struct aac_timeacct_snapshot_s {
    bool started[AAC_TIMEACCT_THREADS]; /* the thread switched at least once */
    uint64_t ns[AAC_TIMEACCT_THREADS][AAC_ACT__CNT];
} aac_timeacct_snapshot_t;

/* The accounts of every thread, all empty, on `clock` (NULL:
 * aac_mono_ns(), CLOCK_MONOTONIC). NULL when out of memory. */
aac_timeacct_t *aac_timeacct_new(aac_timeacct_clock_fn clock, void *arg);
void aac_timeacct_destroy(aac_timeacct_t *ta); /* NULL-safe */

/* Replaces the clock (tests: a clock they move by hand). Only before any
 * account switched. */
void aac_timeacct_set_clock(aac_timeacct_t *ta, aac_timeacct_clock_fn clock, void *arg);

/* Account `i` (AAC_TIMEACCT_CONSUME, or 1 + n for writer n), borrowed
 * from ta; NULL when ta is NULL or i is out of range. Every function below
 * accepts NULL and then does nothing: a thread without an account runs
 * the same code. */
aac_timeacct_thread_t *aac_timeacct_thread(aac_timeacct_t *ta, int i);

/* Writer n's account: aac_timeacct_thread(ta, 1 + n). */
aac_timeacct_thread_t *aac_timeacct_writer(aac_timeacct_t *ta, int n);

/* The owner thread switches to `act`: the time since its last switch goes
 * to the activity it leaves. The first switch starts the account (and
 * marks the thread started); so does the first after aac_timeacct_stop().
 * Returns the activity left (AAC_ACT_OTHER when none was running), for a
 * callback that switches back when it returns. Owner thread only. */
aac_activity_t aac_timeacct_switch(aac_timeacct_thread_t *th, aac_activity_t act);

/* The owner thread ends (or stops being accounted): the time since its
 * last switch goes to that activity, and no time counts until the next
 * switch. The totals stay, and stay reported. Owner thread only. */
void aac_timeacct_stop(aac_timeacct_thread_t *th);

/* Copies every account's totals, the activity in progress counted up to
 * now. Any thread, any number at once, never blocking the owners; each
 * total read is at least what any earlier read returned. */
void aac_timeacct_read(aac_timeacct_t *ta, aac_timeacct_snapshot_t *out);

/* The activity's name, as the `activity` label says it ("wait_earlier"). */
const char *aac_activity_str(aac_activity_t act);

/* Thread i's name, as the `thread` label says it ("consume", "writer-3");
 * "" out of range. */
const char *aac_timeacct_thread_name(int i);

/* Thread i's activities, in the order they are reported: *acts points to
 * them; returns how many (0 out of range). */
size_t aac_timeacct_activities(int i, const aac_activity_t **acts);

#endif
