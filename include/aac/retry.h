/*
 * retry: the backoff policy for TRANSIENT failures.
 *
 * Delay before retry n (n = 1 after the first failure) is
 *   cap(n) = min(max_backoff_ms, initial_backoff_ms * multiplier^(n-1))
 * and, with jitter, a uniformly random value in [0, cap(n)] ("full
 * jitter"), so that instances that failed together do not retry together.
 * Pure functions: the random draw is passed in, so tests need no clock.
 */
#ifndef AAC_RETRY_H
#define AAC_RETRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "aac/config.h"

typedef struct aac_retry_policy_s {
    int max_attempts;
    int initial_backoff_ms;
    double multiplier;
    int max_backoff_ms;
    bool jitter;
} aac_retry_policy_t;

aac_retry_policy_t aac_retry_policy_from_config(const aac_config_t *cfg);

/* The cap for retry n (n >= 1), in milliseconds. */
int aac_retry_cap_ms(const aac_retry_policy_t *p, int n);

/* The delay before retry n; `unit` is a uniform random number in [0, 1),
 * used only with jitter. */
int aac_retry_delay_ms(const aac_retry_policy_t *p, int n, double unit);

/* True when a message that failed `attempts` times may be tried again. */
bool aac_retry_may_retry(const aac_retry_policy_t *p, int attempts);

/* The state of one line of retries (a batch's writes, or the reads of
 * stored offsets): what to do after each failure, and when. Two kinds of
 * failure: an outage (a dependency down or busy) is never counted against
 * the messages and is retried for as long as it lasts, at a pace capped at
 * outage_cap_ms; a counted failure (it may be the messages' own) is
 * retried max_attempts times, then the batch is retried in halves until
 * one event is alone, and that event is given up (dead-lettered). After a
 * halving, batches stay capped until AAC_RETRY_CAP_LIFT of them commit.
 * The clock is passed in: no test needs to sleep. */
typedef enum {
    AAC_RETRY_OUTAGE,
    AAC_RETRY_COUNTED,
} aac_retry_kind_t;

typedef enum {
    AAC_RETRY_WAIT,    /* try again at retry_at */
    AAC_RETRY_HALVE,   /* drop the batch; read it again in batches of cap_events */
    AAC_RETRY_GIVE_UP, /* one event failed every attempt: dead-letter it */
} aac_retry_action_t;

#define AAC_RETRY_CAP_LIFT 10

typedef struct aac_retry_state_s {
    aac_retry_policy_t policy;
    int outage_cap_ms;
    unsigned rnd;
    int attempts;        /* counted failures since the last success */
    int outage_attempts; /* outage failures since the last success */
    int64_t retry_at;    /* monotonic ms of the next attempt; 0: not waiting */
    int delay_ms;        /* the last delay chosen */
    int cap_events;      /* batch size while isolating a failing event; 0: none */
    int cap_successes;   /* batches committed under that cap */
} aac_retry_state_t;

void aac_retry_state_init(aac_retry_state_t *st, const aac_retry_policy_t *p, int outage_cap_ms,
                          unsigned seed);

/* Records a failure of the current attempt, `live` the events it still
 * had to write, at monotonic time now_ms. Returns what to do; retry_at
 * and delay_ms are set for AAC_RETRY_WAIT. A give-up is due now
 * (retry_at = now_ms): the rest of the batch goes at once. */
aac_retry_action_t aac_retry_failed(aac_retry_state_t *st, aac_retry_kind_t kind, size_t live,
                                    int64_t now_ms);

/* Records a success: the waiting and the counts start over. */
void aac_retry_succeeded(aac_retry_state_t *st);

/* The attempt scheduled is starting now: no longer waiting. */
void aac_retry_begin(aac_retry_state_t *st);

/* Forgets the counted attempts (the batch they were about is gone). */
void aac_retry_forget_attempts(aac_retry_state_t *st);

/* Whether an attempt is scheduled, and whether it is due at now_ms. */
bool aac_retry_waiting(const aac_retry_state_t *st);
bool aac_retry_due(const aac_retry_state_t *st, int64_t now_ms);

/* The most events a batch may hold now: max, or the isolation cap. */
size_t aac_retry_batch_max(const aac_retry_state_t *st, size_t max);

#endif
