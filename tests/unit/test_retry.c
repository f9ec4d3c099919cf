/*
 * test_retry: the delay sequence and its bounds, without a clock.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "aac/retry.h"

static const aac_retry_policy_t defaults = {5, 100, 2.0, 30000, false};

static void test_sequence_without_jitter(void **state)
{
    (void)state;
    static const int want[] = {100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 30000, 30000};
    for (int n = 1; n <= 11; n++)
        assert_int_equal(aac_retry_delay_ms(&defaults, n, 0.5), want[n - 1]);
    /* far beyond the cap: no overflow, still the cap */
    assert_int_equal(aac_retry_delay_ms(&defaults, 10000, 0.5), 30000);
    assert_int_equal(aac_retry_cap_ms(&defaults, 0), 100);
}

static void test_multiplier_and_cap(void **state)
{
    (void)state;
    aac_retry_policy_t p = {3, 50, 3.0, 1000, false};
    assert_int_equal(aac_retry_delay_ms(&p, 1, 0), 50);
    assert_int_equal(aac_retry_delay_ms(&p, 2, 0), 150);
    assert_int_equal(aac_retry_delay_ms(&p, 3, 0), 450);
    assert_int_equal(aac_retry_delay_ms(&p, 4, 0), 1000);
    aac_retry_policy_t flat = {3, 250, 1.0, 1000, false};
    assert_int_equal(aac_retry_delay_ms(&flat, 7, 0), 250);
}

static void test_full_jitter_bounds(void **state)
{
    (void)state;
    aac_retry_policy_t p = defaults;
    p.jitter = true;
    for (int n = 1; n <= 12; n++) {
        int cap = aac_retry_cap_ms(&p, n);
        assert_int_equal(aac_retry_delay_ms(&p, n, 0.0), 0);
        assert_true(aac_retry_delay_ms(&p, n, 0.999999) <= cap);
        assert_true(aac_retry_delay_ms(&p, n, 0.999999) >= cap - 1);
        int mid = aac_retry_delay_ms(&p, n, 0.5);
        assert_true(mid >= cap / 2 - 1 && mid <= cap / 2 + 1);
    }
    /* an out-of-range draw cannot escape the bounds */
    assert_int_equal(aac_retry_delay_ms(&p, 3, 1.5), 0);
    assert_int_equal(aac_retry_delay_ms(&p, 3, -0.1), 0);
}

static void test_attempts(void **state)
{
    (void)state;
    assert_true(aac_retry_may_retry(&defaults, 0));
    assert_true(aac_retry_may_retry(&defaults, 4));
    assert_false(aac_retry_may_retry(&defaults, 5));
}

/* An outage: never counted, retried for as long as it lasts, at a pace
 * capped at the outage cap; a success starts the sequence over. */
static void test_state_outage(void **state)
{
    (void)state;
    aac_retry_state_t st;
    aac_retry_state_init(&st, &defaults, 5000, 1);
    assert_false(aac_retry_waiting(&st));
    static const int want[] = {100, 200, 400, 800, 1600, 3200, 5000, 5000};
    for (int i = 0; i < 1000; i++) {
        assert_int_equal(aac_retry_failed(&st, AAC_RETRY_OUTAGE, 5000, 1000), AAC_RETRY_WAIT);
        assert_int_equal(st.delay_ms, i < 8 ? want[i] : 5000);
        assert_int_equal(st.retry_at, 1000 + st.delay_ms);
    }
    assert_int_equal(st.attempts, 0);
    assert_true(aac_retry_waiting(&st));
    assert_false(aac_retry_due(&st, 1000 + 4999));
    assert_true(aac_retry_due(&st, 1000 + 5000));
    assert_int_equal(aac_retry_batch_max(&st, 5000), 5000);
    aac_retry_succeeded(&st);
    assert_false(aac_retry_waiting(&st));
    assert_false(aac_retry_due(&st, 1000000));
    aac_retry_failed(&st, AAC_RETRY_OUTAGE, 1, 2000);
    assert_int_equal(st.delay_ms, 100);
}

/* Counted failures: max_attempts tries, then halving down to one event,
 * which is given up; the cap lifts after AAC_RETRY_CAP_LIFT successes. */
static void test_state_counted_halving(void **state)
{
    (void)state;
    aac_retry_state_t st;
    aac_retry_state_init(&st, &defaults, 5000, 1);
    size_t live = 1000;
    int halvings = 0;
    for (;;) {
        for (int n = 1; n < defaults.max_attempts; n++) {
            assert_int_equal(aac_retry_failed(&st, AAC_RETRY_COUNTED, live, 10), AAC_RETRY_WAIT);
            assert_int_equal(st.attempts, n);
            assert_int_equal(st.delay_ms, aac_retry_delay_ms(&defaults, n, 0));
        }
        aac_retry_action_t a = aac_retry_failed(&st, AAC_RETRY_COUNTED, live, 10);
        if (live == 1) {
            assert_int_equal(a, AAC_RETRY_GIVE_UP);
            assert_int_equal(st.attempts, defaults.max_attempts); /* for the dead letter */
            assert_true(aac_retry_due(&st, 10));
            break;
        }
        assert_int_equal(a, AAC_RETRY_HALVE);
        assert_int_equal(st.cap_events, (int)(live / 2));
        assert_int_equal(st.attempts, 0);
        assert_false(aac_retry_waiting(&st));
        assert_int_equal(aac_retry_batch_max(&st, 5000), live / 2);
        assert_int_equal(aac_retry_batch_max(&st, 3), live / 2 < 3 ? live / 2 : 3);
        live /= 2;
        halvings++;
    }
    assert_int_equal(halvings, 9); /* 1000 -> 500 -> ... -> 1 */
    assert_int_equal(st.cap_events, 0);
    aac_retry_succeeded(&st);
    assert_int_equal(st.attempts, 0);

    /* a cap that finds nothing lifts after AAC_RETRY_CAP_LIFT commits */
    aac_retry_state_init(&st, &defaults, 5000, 1);
    for (int n = 0; n < defaults.max_attempts; n++)
        aac_retry_failed(&st, AAC_RETRY_COUNTED, 100, 10);
    assert_int_equal(st.cap_events, 50);
    for (int i = 1; i < AAC_RETRY_CAP_LIFT; i++) {
        aac_retry_succeeded(&st);
        assert_int_equal(st.cap_events, 50);
    }
    aac_retry_succeeded(&st);
    assert_int_equal(st.cap_events, 0);
    assert_int_equal(aac_retry_batch_max(&st, 5000), 5000);
}

/* Outages in between do not count, and forgetting drops the count. */
static void test_state_mixed(void **state)
{
    (void)state;
    aac_retry_state_t st;
    aac_retry_state_init(&st, &defaults, 5000, 7);
    aac_retry_failed(&st, AAC_RETRY_COUNTED, 10, 0 + 1);
    aac_retry_failed(&st, AAC_RETRY_OUTAGE, 10, 1);
    aac_retry_failed(&st, AAC_RETRY_OUTAGE, 10, 1);
    assert_int_equal(st.attempts, 1);
    assert_int_equal(st.outage_attempts, 2);
    aac_retry_forget_attempts(&st);
    assert_int_equal(st.attempts, 0);
    /* nothing live: counted failures wait, never halve nor give up */
    for (int n = 0; n < 3 * defaults.max_attempts; n++)
        assert_int_equal(aac_retry_failed(&st, AAC_RETRY_COUNTED, 0, 1), AAC_RETRY_WAIT);
    /* with jitter the delay stays within [0, cap] */
    aac_retry_policy_t j = defaults;
    j.jitter = true;
    aac_retry_state_init(&st, &j, 5000, 42);
    for (int n = 1; n < 20; n++) {
        aac_retry_failed(&st, AAC_RETRY_OUTAGE, 1, 1);
        assert_in_range(st.delay_ms, 0, n <= 7 ? aac_retry_cap_ms(&defaults, n) : 5000);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sequence_without_jitter),
        cmocka_unit_test(test_multiplier_and_cap),
        cmocka_unit_test(test_full_jitter_bounds),
        cmocka_unit_test(test_attempts),
        cmocka_unit_test(test_state_outage),
        cmocka_unit_test(test_state_counted_halving),
        cmocka_unit_test(test_state_mixed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
