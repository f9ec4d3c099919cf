/*
 * retry: exponential backoff with full jitter (see retry.h).
 */
#include "aac/retry.h"

#include <math.h>

aac_retry_policy_t aac_retry_policy_from_config(const aac_config_t *cfg)
{
    aac_retry_policy_t p = {
        .max_attempts = cfg->retry.max_attempts,
        .initial_backoff_ms = cfg->retry.initial_backoff_ms,
        .multiplier = cfg->retry.multiplier,
        .max_backoff_ms = cfg->retry.max_backoff_ms,
        .jitter = cfg->retry.jitter,
    };
    return p;
}

int aac_retry_cap_ms(const aac_retry_policy_t *p, int n)
{
    if (n < 1)
        n = 1;
    /* computed in double and clamped, so a large n cannot overflow */
    double d = (double)p->initial_backoff_ms * pow(p->multiplier, (double)(n - 1));
    if (!(d < (double)p->max_backoff_ms))
        return p->max_backoff_ms;
    return (int)d;
}

int aac_retry_delay_ms(const aac_retry_policy_t *p, int n, double unit)
{
    int cap = aac_retry_cap_ms(p, n);
    if (!p->jitter)
        return cap;
    if (unit < 0 || unit >= 1)
        unit = 0;
    return (int)(unit * (double)(cap + 1));
}

bool aac_retry_may_retry(const aac_retry_policy_t *p, int attempts)
{
    return attempts < p->max_attempts;
}
