/*
 * failpolicy: what happens to a batch that did not commit.
 *
 * One decision, made in one function for the consume loop, a revocation
 * and the shutdown alike, from what the write reported (fatal, fenced,
 * rolled back for an earlier batch, dead letters unconfirmed, PostgreSQL
 * unreachable, or an error that may be the rows' own) and the retry state
 * (retry.h), which it updates: each failure is counted once, whichever
 * path looks at it again.
 *
 * Pure: no clients, no threads; the clock is passed in. The caller carries
 * the decision out (pipeline.c).
 */
#ifndef AAC_FAILPOLICY_H
#define AAC_FAILPOLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "aac/classify.h"
#include "aac/retry.h"

typedef enum {
    AAC_FAILMODE_LOOP,       /* the consume loop, or the shutdown's drain: retry on schedule */
    AAC_FAILMODE_REVOKE,     /* partitions are revoked: try once more at once */
    AAC_FAILMODE_REVOKE_LAST /* the revocation's second failure: give the batches up */
} aac_failmode_t;

/* What the write of the oldest batch in flight reported. */
typedef struct aac_failure_s {
    aac_class_t cls;           /* TRANSIENT or FATAL */
    bool fenced;               /* another instance stored these partitions' offsets */
    bool outage;               /* PostgreSQL unreachable */
    bool cancelled;            /* rolled back for an earlier batch: not its own failure */
    bool dead_letters_pending; /* its dead letters were not confirmed */
    bool dlq_fatal;            /* the dead-letter producer failed for good */
    bool counted;              /* this failure was decided on already (flights.h) */
    char sqlstate[6];
    size_t live; /* rows it still had to write */
} aac_failure_t;

typedef enum {
    AAC_FAIL_STOP,    /* stop the service: a fatal error */
    AAC_FAIL_REFENCE, /* drop every batch, re-read the stored offsets */
    AAC_FAIL_REQUEUE, /* write it and every later batch again, now */
    AAC_FAIL_WAIT,    /* pause; write them again at the retry's time */
    AAC_FAIL_HALVE,   /* drop every batch; read again in smaller batches */
    AAC_FAIL_GIVE_UP, /* dead-letter the batch's rows, write the rest at once */
    AAC_FAIL_DROP,    /* drop every batch: their partitions go */
} aac_fail_action_t;

typedef struct aac_fail_decision_s {
    aac_fail_action_t action;
    bool counted;    /* counted against the messages (retry.max_attempts) */
    bool outage;     /* a dependency is down: the partitions stay paused meanwhile */
    const char *why; /* for metrics and logs: dead_letter_unavailable, postgres_unavailable,
                        write_failed, postgres_contention, fenced, fatal, cancelled,
                        partitions_revoked */
} aac_fail_decision_t;

/* Decides, counting the failure in *retry unless f->counted (the caller
 * then marks it counted). */
aac_fail_decision_t aac_failpolicy_decide(const aac_failure_t *f, aac_failmode_t mode,
                                          aac_retry_state_t *retry, int64_t now_ms);

const char *aac_fail_action_str(aac_fail_action_t a);

#endif
