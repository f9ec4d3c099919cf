/*
 * test_rfc3339: the one RFC 3339 parser (the event contract's rule) and
 * formatter: fractions of 0, 3 and 6 digits, truncation, times before
 * 1970, the calendar's edges, and that formatting then parsing gives the
 * same instant back. The contract's full table is in test_event.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdbool.h>
#include <string.h>

#include "aac/rfc3339.h"

static void test_format(void **state)
{
    (void)state;
    static const struct {
        int64_t us;
        int digits;
        const char *want;
    } cases[] = {
        {0, 0, "1970-01-01T00:00:00Z"},
        {0, 3, "1970-01-01T00:00:00.000Z"},
        {0, 6, "1970-01-01T00:00:00.000000Z"},
        {1714564800123456, 6, "2024-05-01T12:00:00.123456Z"},
        {1714564800123999, 3, "2024-05-01T12:00:00.123Z"}, /* truncated, not rounded */
        {1714564800999999, 0, "2024-05-01T12:00:00Z"},
        {-1, 6, "1969-12-31T23:59:59.999999Z"},
        {-1000, 3, "1969-12-31T23:59:59.999Z"},
        {951782400000000, 3, "2000-02-29T00:00:00.000Z"},
        {-62135596800000000, 6, "0001-01-01T00:00:00.000000Z"},
        {253402300799999999, 6, "9999-12-31T23:59:59.999999Z"},
        {1714564800000000, 7, "2024-05-01T12:00:00Z"}, /* other digit counts: none */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char out[AAC_RFC3339_SIZE];
        memset(out, 'X', sizeof(out));
        size_t n = aac_rfc3339_format(cases[i].us, cases[i].digits, out);
        assert_string_equal(out, cases[i].want);
        assert_int_equal(n, strlen(cases[i].want));
    }
}

static void test_parse(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        bool ok;
        int64_t us;
        const char *why;
    } cases[] = {
        {"2024-05-01T12:00:00.123456Z", true, 1714564800123456, NULL},
        {"2024-05-01 12:00:00.1z", true, 1714564800100000, NULL},
        {"2024-05-01T14:00:00+02:00", true, 1714564800000000, NULL},
        {"2024-05-01T12:00:00-00:00", true, 1714564800000000, NULL},
        {"9999-12-31T23:59:59.999999Z", true, 253402300799999999, NULL},
        {"2024-05-01", false, 0, "must be RFC 3339 like 2024-05-01T12:00:00.123Z"},
        {"2024-05-01T12:00:00.1234567Z", false, 0,
         "has 7 fraction digits; at most 6 (microseconds) are allowed"},
        {"1900-02-29T00:00:00Z", false, 0, "has day 29, but 1900-02 has 28 days"},
        {"9999-12-31T23:00:00-01:00", false, 0,
         "is outside 0001-01-01 to 9999-12-31 once converted to UTC"},
        {"2024-05-01T12:00:00+24:00", false, 0, "has UTC offset 24:00 out of range"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int64_t us = 42;
        char why[96] = "";
        bool ok = aac_rfc3339_parse(cases[i].s, strlen(cases[i].s), &us, why, sizeof(why));
        assert_int_equal(ok, cases[i].ok);
        if (ok)
            assert_true(us == cases[i].us);
        else
            assert_string_equal(why, cases[i].why);
    }
    /* not NUL-terminated: only n bytes count */
    int64_t us;
    assert_true(aac_rfc3339_parse("1970-01-01T00:00:01Zxx", 20, &us, NULL, 0));
    assert_true(us == 1000000);
}

/* Milliseconds are floored, before 1970 too; what the parser refuses,
 * this refuses with the same reason. */
static void test_parse_ms(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        int64_t ms;
    } cases[] = {
        {"1970-01-01T00:00:00Z", 0},
        {"1970-01-01T00:00:00.0009Z", 0},
        {"1970-01-01T00:00:00.001Z", 1},
        {"1969-12-31T23:59:59.9995Z", -1},
        {"1969-12-31T23:59:59.999Z", -1},
        {"1969-12-31T23:59:59.998999Z", -2},
        {"2026-11-21T10:00:00.123456Z", 1795255200123},
        {"0001-01-01T00:00:00Z", -62135596800000},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int64_t ms = 42;
        assert_true(aac_rfc3339_parse_ms(cases[i].s, strlen(cases[i].s), &ms, NULL, 0));
        if (ms != cases[i].ms)
            fail_msg("%s: got %lld", cases[i].s, (long long)ms);
    }
    int64_t ms = 42;
    char why[96] = "";
    assert_false(aac_rfc3339_parse_ms("2024-05-01", 10, &ms, why, sizeof(why)));
    assert_string_equal(why, "must be RFC 3339 like 2024-05-01T12:00:00.123Z");
    assert_true(ms == 42); /* untouched */
}

/* What the formatter writes, the parser reads back as the same instant. */
static void test_round_trip(void **state)
{
    (void)state;
    for (int64_t us = -62135596800000000; us < 253402300799999999;
         us += 7777777777777 + us % 1000003) {
        char out[AAC_RFC3339_SIZE];
        int64_t back = 0;
        size_t n = aac_rfc3339_format(us, 6, out);
        assert_true(aac_rfc3339_parse(out, n, &back, NULL, 0));
        if (back != us)
            fail_msg("%lld -> %s -> %lld", (long long)us, out, (long long)back);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_parse_ms),
        cmocka_unit_test(test_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
