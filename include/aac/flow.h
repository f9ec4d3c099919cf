/*
 * flow: when the consume thread closes the open batch and how long it may
 * wait in a poll: the group-commit policy, apart from the threads and
 * clients it steers so that it can be tested alone.
 *
 * A batch closes when it is full, or when a writer is free and the batch
 * has waited batch.linger_ms (with no linger: once what librdkafka had
 * fetched is taken). At low load each write then carries what arrived
 * during the last one; at high load batches fill while the writers are
 * busy. Letting the second writer take non-full batches too halves the
 * delay at 20,000 events/s (docs/benchmark.md), as each write's round
 * trips and WAL flush overlap another's.
 */
#ifndef AAC_FLOW_H
#define AAC_FLOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AAC_FLOW_POLL_MAX_MS     100 /* the longest poll: signals, upkeep */
#define AAC_FLOW_POLL_WRITING_MS 2   /* while a writer works: notice it finishing */

/* What the consume thread knows at one turn of its loop. */
typedef struct aac_flow_s {
    size_t events, bytes;         /* in the open batch */
    size_t max_events, max_bytes; /* batch.max_events (after a retry's cap), max_bytes */
    size_t held, max_held;        /* memory of the open batch and those in flight, and
                                     their share of memory.max_mb */
    int64_t now, open_since;      /* monotonic ms; open_since: the batch's first event */
    int linger_ms;                /* batch.linger_ms */
    int writers, writing;         /* writer threads, and those on a batch */
    int in_flight, max_in_flight; /* batches closed and not settled; batch.max_in_flight */
    bool drained;                 /* the last poll returned nothing */
    bool backing_off;             /* a failed batch waits for its retry */
    int64_t retry_at;             /* monotonic ms of that retry */
} aac_flow_t;

/* No room for one more event: the batch is full, or the batches hold
 * their share of the memory budget. */
bool aac_flow_full(const aac_flow_t *f);

/* The open batch should close now (see above); never when it is empty,
 * while a failed batch waits for its retry, or with max_in_flight batches
 * in flight. */
bool aac_flow_should_close(const aac_flow_t *f);

/* How long the next poll may wait, in [0, AAC_FLOW_POLL_MAX_MS]: until the
 * open batch's linger ends when it could close, briefly while batches are
 * in flight (to notice one settling), and not past a due retry. A batch
 * that cannot close never makes it 0: the loop would spin on an empty
 * queue. */
int aac_flow_poll_timeout(const aac_flow_t *f);

#endif
