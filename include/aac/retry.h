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

#endif
