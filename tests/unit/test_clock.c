/*
 * test_clock: the wall clock agrees with time(2) and has a fraction; the
 * monotonic clock never goes back and counts milliseconds, and in
 * nanoseconds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <time.h>
#include <unistd.h>

#include "aac/clock.h"

static void test_wall_clock(void **state)
{
    (void)state;
    time_t before = time(NULL);
    double now = aac_now();
    time_t after = time(NULL);
    assert_true(now >= (double)before && now < (double)after + 1.0);
    /* the fraction is kept: two reads 2 ms apart differ by about that */
    usleep(2000);
    double later = aac_now();
    assert_true(later - now >= 0.0019 && later - now < 1.0);
}

static void test_monotonic_ms(void **state)
{
    (void)state;
    int64_t t0 = aac_mono_ms(), prev = t0;
    for (int i = 0; i < 1000; i++) {
        int64_t t = aac_mono_ms();
        assert_true(t >= prev);
        prev = t;
    }
    usleep(20000);
    int64_t waited = aac_mono_ms() - t0;
    assert_true(waited >= 20 && waited < 5000);
}

static void test_monotonic_ns(void **state)
{
    (void)state;
    int64_t t0 = aac_mono_ns(), prev = t0, ms0 = aac_mono_ms();
    for (int i = 0; i < 1000; i++) {
        int64_t t = aac_mono_ns();
        assert_true(t >= prev);
        prev = t;
    }
    /* the same clock as aac_mono_ms, in nanoseconds */
    assert_true(t0 / 1000000 >= ms0 - 1 && t0 / 1000000 <= ms0 + 1);
    usleep(2000);
    int64_t waited = aac_mono_ns() - t0;
    assert_true(waited >= 2000000 && waited < 5000000000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wall_clock),
        cmocka_unit_test(test_monotonic_ms),
        cmocka_unit_test(test_monotonic_ns),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
