/*
 * flow: see include/aac/flow.h.
 */
#include "aac/flow.h"

bool aac_flow_full(const aac_flow_t *f)
{
    return f->events >= f->max_events || f->bytes >= f->max_bytes ||
           (f->max_held && f->held >= f->max_held);
}

bool aac_flow_should_close(const aac_flow_t *f)
{
    if (!f->events || f->backing_off || f->in_flight >= f->max_in_flight)
        return false;
    if (aac_flow_full(f))
        return true;
    return f->writing < f->writers && f->now - f->open_since >= f->linger_ms &&
           (f->drained || f->linger_ms > 0);
}

int aac_flow_poll_timeout(const aac_flow_t *f)
{
    int64_t t = AAC_FLOW_POLL_MAX_MS;
    bool could_close =
        f->events && f->writing < f->writers && f->in_flight < f->max_in_flight && !f->backing_off;
    if (could_close)
        t = f->open_since + f->linger_ms - f->now;
    else if (f->writing || f->in_flight)
        t = AAC_FLOW_POLL_WRITING_MS;
    if (f->backing_off && f->retry_at - f->now < t)
        t = f->retry_at - f->now;
    return t < 0 ? 0 : t > AAC_FLOW_POLL_MAX_MS ? AAC_FLOW_POLL_MAX_MS : (int)t;
}
