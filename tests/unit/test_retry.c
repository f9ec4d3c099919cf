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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sequence_without_jitter),
        cmocka_unit_test(test_multiplier_and_cap),
        cmocka_unit_test(test_full_jitter_bounds),
        cmocka_unit_test(test_attempts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
