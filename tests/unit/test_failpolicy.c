/*
 * test_failpolicy: what happens to a batch that did not commit, the same
 * in the loop and in a revocation; each failure counted once.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "aac/failpolicy.h"

static aac_retry_state_t state3(void)
{
    aac_retry_policy_t p = {3, 100, 2.0, 30000, false};
    aac_retry_state_t st;
    aac_retry_state_init(&st, &p, 5000, 1);
    return st;
}

/* A row error (22P02): counted against the messages. */
static aac_failure_t row_error(size_t live)
{
    aac_failure_t f = {.cls = AAC_CLASS_TRANSIENT, .live = live};
    memcpy(f.sqlstate, "22P02", 6);
    return f;
}

static void test_what_no_retry_mends(void **state)
{
    (void)state;
    aac_retry_state_t st = state3();
    aac_failure_t f = row_error(10);
    f.cls = AAC_CLASS_FATAL;
    assert_int_equal(aac_failpolicy_decide(&f, AAC_FAILMODE_LOOP, &st, 0).action, AAC_FAIL_STOP);
    f = row_error(10);
    f.dead_letters_pending = f.dlq_fatal = true;
    assert_int_equal(aac_failpolicy_decide(&f, AAC_FAILMODE_REVOKE, &st, 0).action, AAC_FAIL_STOP);
    f = row_error(10);
    f.fenced = true;
    assert_int_equal(aac_failpolicy_decide(&f, AAC_FAILMODE_REVOKE_LAST, &st, 0).action,
                     AAC_FAIL_REFENCE);
    assert_int_equal(st.attempts, 0);
    assert_int_equal(st.outage_attempts, 0);
}

static void test_loop_counts_and_waits(void **state)
{
    (void)state;
    aac_retry_state_t st = state3();
    aac_failure_t f = row_error(10);
    aac_fail_decision_t d = aac_failpolicy_decide(&f, AAC_FAILMODE_LOOP, &st, 1000);
    assert_int_equal(d.action, AAC_FAIL_WAIT);
    assert_true(d.counted);
    assert_false(d.outage);
    assert_string_equal(d.why, "write_failed");
    assert_int_equal(st.attempts, 1);
    assert_int_equal(st.retry_at, 1100);
    /* an outage is never counted against the messages */
    f.outage = true;
    memcpy(f.sqlstate, "08006", 6);
    d = aac_failpolicy_decide(&f, AAC_FAILMODE_LOOP, &st, 2000);
    assert_int_equal(d.action, AAC_FAIL_WAIT);
    assert_false(d.counted);
    assert_true(d.outage);
    assert_string_equal(d.why, "postgres_unavailable");
    assert_int_equal(st.attempts, 1);
    assert_int_equal(st.outage_attempts, 1);
    /* nor a lock timeout */
    f = row_error(10);
    memcpy(f.sqlstate, "55P03", 6);
    d = aac_failpolicy_decide(&f, AAC_FAILMODE_LOOP, &st, 3000);
    assert_string_equal(d.why, "postgres_contention");
    assert_int_equal(st.attempts, 1);
    /* dead letters not confirmed: waited for, not counted */
    f = row_error(10);
    f.dead_letters_pending = true;
    d = aac_failpolicy_decide(&f, AAC_FAILMODE_LOOP, &st, 3000);
    assert_string_equal(d.why, "dead_letter_unavailable");
    assert_int_equal(st.attempts, 1);
}

static void test_exhausted_halves_then_gives_up(void **state)
{
    (void)state;
    aac_retry_state_t st = state3();
    aac_failure_t f = row_error(10);
    for (int i = 0; i < 2; i++)
        assert_int_equal(aac_failpolicy_decide(&f, AAC_FAILMODE_LOOP, &st, 0).action,
                         AAC_FAIL_WAIT);
    assert_int_equal(aac_failpolicy_decide(&f, AAC_FAILMODE_LOOP, &st, 0).action, AAC_FAIL_HALVE);
    assert_int_equal(st.cap_events, 5);
    f = row_error(1);
    for (int i = 0; i < 2; i++)
        aac_failpolicy_decide(&f, AAC_FAILMODE_LOOP, &st, 0);
    assert_int_equal(aac_failpolicy_decide(&f, AAC_FAILMODE_LOOP, &st, 0).action, AAC_FAIL_GIVE_UP);
}

/* Issue 19, item 6: a revocation during a retry's backoff looked at the
 * same failure again and counted it a second time, so an event could be
 * dead-lettered after max_attempts - 1 real tries. */
static void test_revocation_does_not_count_twice(void **state)
{
    (void)state;
    aac_retry_state_t st = state3();
    aac_failure_t f = row_error(1);
    /* two real tries failed, each counted once, in the loop */
    assert_int_equal(aac_failpolicy_decide(&f, AAC_FAILMODE_LOOP, &st, 0).action, AAC_FAIL_WAIT);
    assert_int_equal(aac_failpolicy_decide(&f, AAC_FAILMODE_LOOP, &st, 0).action, AAC_FAIL_WAIT);
    assert_int_equal(st.attempts, 2);
    /* the second waits for its retry (counted) when a revocation comes:
     * written again at once, not counted again, not given up */
    f.counted = true;
    aac_fail_decision_t d = aac_failpolicy_decide(&f, AAC_FAILMODE_REVOKE, &st, 0);
    assert_int_equal(d.action, AAC_FAIL_REQUEUE);
    assert_int_equal(st.attempts, 2);
    /* the third real try fails: counted now, and only now given up */
    f.counted = false;
    assert_int_equal(aac_failpolicy_decide(&f, AAC_FAILMODE_LOOP, &st, 0).action, AAC_FAIL_GIVE_UP);
    assert_int_equal(st.attempts, 3);
}

static void test_revocation(void **state)
{
    (void)state;
    aac_retry_state_t st = state3();
    aac_failure_t f = row_error(10);
    /* the first failure is tried once more at once (counted) */
    aac_fail_decision_t d = aac_failpolicy_decide(&f, AAC_FAILMODE_REVOKE, &st, 0);
    assert_int_equal(d.action, AAC_FAIL_REQUEUE);
    assert_int_equal(st.attempts, 1);
    /* the second gives the batches up: the partitions go */
    d = aac_failpolicy_decide(&f, AAC_FAILMODE_REVOKE_LAST, &st, 0);
    assert_int_equal(d.action, AAC_FAIL_DROP);
    assert_int_equal(st.attempts, 1);
    /* a batch rolled back for an earlier one is written again, uncounted */
    f.cancelled = true;
    d = aac_failpolicy_decide(&f, AAC_FAILMODE_LOOP, &st, 0);
    assert_int_equal(d.action, AAC_FAIL_REQUEUE);
    assert_int_equal(st.attempts, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_what_no_retry_mends),
        cmocka_unit_test(test_loop_counts_and_waits),
        cmocka_unit_test(test_exhausted_halves_then_gives_up),
        cmocka_unit_test(test_revocation_does_not_count_twice),
        cmocka_unit_test(test_revocation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
