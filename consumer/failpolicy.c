/*
 * failpolicy: see include/aac/failpolicy.h.
 */
#include "aac/failpolicy.h"

aac_fail_decision_t aac_failpolicy_decide(const aac_failure_t *f, aac_failmode_t mode,
                                          aac_retry_state_t *retry, int64_t now_ms)
{
    aac_fail_decision_t d = {.action = AAC_FAIL_WAIT};
    /* what no retry mends */
    if ((f->dead_letters_pending && f->dlq_fatal) || f->cls == AAC_CLASS_FATAL) {
        d.action = AAC_FAIL_STOP;
        d.why = "fatal";
        return d;
    }
    if (f->fenced) {
        d.action = AAC_FAIL_REFENCE;
        d.why = "fenced";
        return d;
    }
    if (mode == AAC_FAILMODE_REVOKE_LAST) {
        d.action = AAC_FAIL_DROP;
        d.why = "partitions_revoked";
        return d;
    }
    if (f->cancelled) { /* an earlier batch's failure, decided on when it was the oldest */
        d.action = AAC_FAIL_REQUEUE;
        d.why = "cancelled";
        return d;
    }
    d.counted = !f->outage && !f->dead_letters_pending &&
                aac_classify_sqlstate_counts_against_message(f->sqlstate);
    d.outage = !d.counted;
    d.why = f->dead_letters_pending ? "dead_letter_unavailable"
            : f->outage             ? "postgres_unavailable"
            : d.counted             ? "write_failed"
                                    : "postgres_contention";
    if (f->counted) {
        /* decided on already and waiting for its retry: a revocation
         * tries it now, without counting it a second time */
        d.action = mode == AAC_FAILMODE_REVOKE ? AAC_FAIL_REQUEUE : AAC_FAIL_WAIT;
        return d;
    }
    switch (aac_retry_failed(retry, d.counted ? AAC_RETRY_COUNTED : AAC_RETRY_OUTAGE, f->live,
                             now_ms)) {
    case AAC_RETRY_HALVE:
        d.action = AAC_FAIL_HALVE;
        break;
    case AAC_RETRY_GIVE_UP:
        d.action = AAC_FAIL_GIVE_UP;
        break;
    case AAC_RETRY_WAIT:
        d.action = mode == AAC_FAILMODE_REVOKE ? AAC_FAIL_REQUEUE : AAC_FAIL_WAIT;
        break;
    }
    return d;
}

const char *aac_fail_action_str(aac_fail_action_t a)
{
    switch (a) {
    case AAC_FAIL_STOP:
        return "stop";
    case AAC_FAIL_REFENCE:
        return "refence";
    case AAC_FAIL_REQUEUE:
        return "requeue";
    case AAC_FAIL_WAIT:
        return "wait";
    case AAC_FAIL_HALVE:
        return "halve";
    case AAC_FAIL_GIVE_UP:
        return "give_up";
    case AAC_FAIL_DROP:
        return "drop";
    }
    return "unknown";
}
