/*
 * retry: exponential backoff with full jitter (see retry.h).
 */
#include "aac/retry.h"

#include <math.h>
#include <string.h>

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

void aac_retry_state_init(aac_retry_state_t *st, const aac_retry_policy_t *p, int outage_cap_ms,
                          unsigned seed)
{
    memset(st, 0, sizeof(*st));
    st->policy = *p;
    st->outage_cap_ms = outage_cap_ms;
    st->rnd = seed;
}

static double unit_rand(aac_retry_state_t *st)
{
    st->rnd = st->rnd * 1103515245u + 12345u;
    return (double)((st->rnd >> 8) & 0xffffff) / (double)0x1000000;
}

aac_retry_action_t aac_retry_failed(aac_retry_state_t *st, aac_retry_kind_t kind, size_t live,
                                    int64_t now_ms)
{
    if (kind == AAC_RETRY_OUTAGE) {
        /* the wait is for the dependency, not for a message: capped lower */
        aac_retry_policy_t p = st->policy;
        if (p.max_backoff_ms > st->outage_cap_ms)
            p.max_backoff_ms = st->outage_cap_ms;
        st->delay_ms = aac_retry_delay_ms(&p, ++st->outage_attempts, unit_rand(st));
        st->retry_at = now_ms + st->delay_ms;
        return AAC_RETRY_WAIT;
    }
    if (aac_retry_may_retry(&st->policy, ++st->attempts) || live == 0) {
        st->delay_ms = aac_retry_delay_ms(&st->policy, st->attempts, unit_rand(st));
        st->retry_at = now_ms + st->delay_ms;
        return AAC_RETRY_WAIT;
    }
    st->delay_ms = 0;
    if (live > 1) {
        st->cap_events = (int)(live / 2);
        st->cap_successes = 0;
        st->attempts = 0;
        st->retry_at = 0;
        return AAC_RETRY_HALVE;
    }
    /* found: the event given up, the cap has done its work; attempts stay
     * until the success, for the dead letter's count */
    st->cap_events = 0;
    st->retry_at = now_ms;
    return AAC_RETRY_GIVE_UP;
}

void aac_retry_succeeded(aac_retry_state_t *st)
{
    st->attempts = 0;
    st->outage_attempts = 0;
    st->retry_at = 0;
    /* the isolation is over once the failing event was found, or when the
     * failure went away by itself */
    if (st->cap_events && ++st->cap_successes >= AAC_RETRY_CAP_LIFT)
        st->cap_events = 0;
}

void aac_retry_begin(aac_retry_state_t *st)
{
    st->retry_at = 0;
}

void aac_retry_forget_attempts(aac_retry_state_t *st)
{
    st->attempts = 0;
}

bool aac_retry_waiting(const aac_retry_state_t *st)
{
    return st->retry_at != 0;
}

bool aac_retry_due(const aac_retry_state_t *st, int64_t now_ms)
{
    return st->retry_at != 0 && now_ms >= st->retry_at;
}

size_t aac_retry_batch_max(const aac_retry_state_t *st, size_t max)
{
    return st->cap_events > 0 && (size_t)st->cap_events < max ? (size_t)st->cap_events : max;
}
