/*
 * test_dlqtool: the dead-letter tools' pure parts: argument parsing, RFC
 * 3339 times, the filters and the replay-count bound. No broker.
 */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "aac/dlqtool.h"

static void test_parse_time(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        int ok;
        int64_t ms;
    } cases[] = {
        {"1970-01-01T00:00:00Z", 1, 0},
        {"2026-11-21T10:00:00Z", 1, 1795255200000},
        {"2026-11-21t10:00:00z", 1, 1795255200000},
        {"2026-11-21 10:00:00Z", 1, 1795255200000},
        {"2026-11-21T10:00:00.5Z", 1, 1795255200500},
        {"2026-11-21T10:00:00.123456789Z", 1, 1795255200123},
        {"2026-11-21T12:30:00+02:30", 1, 1795255200000},
        {"2026-11-21T07:00:00-03:00", 1, 1795255200000},
        {"2026-11-21", 1, 1795219200000},
        {"2024-02-29T00:00:00Z", 1, 1709164800000}, /* leap day */
        {"1969-12-31T23:59:59Z", 1, -1000},
        {"2023-02-29T00:00:00Z", 0, 0}, /* no such day */
        {"2026-13-01T00:00:00Z", 0, 0},
        {"2026-11-21T24:00:00Z", 0, 0},
        {"2026-11-21T10:00:00", 0, 0}, /* offset missing */
        {"2026-11-21T10:00:00.Z", 0, 0},
        {"2026-11-21T10:00Z", 0, 0},
        {"2026-11-21T10:00:00+0200", 0, 0},
        {"2026-11-21T10:00:00Zjunk", 0, 0},
        {"yesterday", 0, 0},
        {"", 0, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int64_t ms = 42;
        int rc = aac_dlqtool_parse_time(cases[i].s, strlen(cases[i].s), &ms);
        if (cases[i].ok) {
            assert_int_equal(rc, 0);
            assert_int_equal(ms, cases[i].ms);
        } else {
            assert_int_equal(rc, -1);
        }
    }
    /* not NUL-terminated: only `len` bytes count */
    int64_t ms;
    assert_int_equal(aac_dlqtool_parse_time("2026-11-21T10:00:00Zxx", 20, &ms), 0);
    assert_int_equal(ms, 1795255200000);
}

static int parse(aac_dlqtool_opts_t *o, char *err, const char *line)
{
    static char buf[1024];
    char *argv[32];
    int argc = 0;
    snprintf(buf, sizeof(buf), "%s", line);
    for (char *p = strtok(buf, " "); p && argc < 31; p = strtok(NULL, " "))
        argv[argc++] = p;
    argv[argc] = NULL;
    return aac_dlqtool_parse_args(argc, argv, o, err, 256);
}

static void test_args_ok(void **state)
{
    aac_dlqtool_opts_t o;
    char err[256];
    (void)state;

    assert_int_equal(parse(&o, err, "dlq inspect"), 0);
    assert_int_equal(o.cmd, AAC_DLQTOOL_INSPECT);
    assert_true(o.any_reason);
    assert_int_equal(o.limit, AAC_DLQTOOL_DEFAULT_INSPECT_LIMIT);
    assert_true(o.since_ms == INT64_MIN && o.until_ms == INT64_MAX);
    assert_null(o.topic);

    assert_int_equal(parse(&o, err,
                           "dlq inspect --reason missing_field --reason=invalid_json,db_rejected "
                           "--since 2026-11-21 --until=2026-11-22T00:00:00Z --limit 0 --json "
                           "--show-value --topic other.dlq"),
                     0);
    assert_false(o.any_reason);
    assert_true(o.reason[AAC_REASON_MISSING_FIELD]);
    assert_true(o.reason[AAC_REASON_INVALID_JSON]);
    assert_true(o.reason[AAC_REASON_DB_REJECTED]);
    assert_false(o.reason[AAC_REASON_RETRIES_EXHAUSTED]);
    assert_int_equal(o.since_ms, 1795219200000);
    assert_int_equal(o.until_ms, 1795305600000);
    assert_int_equal(o.limit, 0);
    assert_true(o.json && o.show_value);
    assert_string_equal(o.topic, "other.dlq");

    assert_int_equal(parse(&o, err, "dlq replay --yes"), 0);
    assert_int_equal(o.cmd, AAC_DLQTOOL_REPLAY);
    assert_int_equal(o.limit, 0); /* replay: no default limit */
    assert_int_equal(o.max_replays, AAC_DLQTOOL_DEFAULT_MAX_REPLAYS);
    assert_null(o.to);

    assert_int_equal(parse(&o, err, "dlq replay --dry-run --to fixed --max-replays 3 --limit 7"),
                     0);
    assert_true(o.dry_run);
    assert_string_equal(o.to, "fixed");
    assert_int_equal(o.max_replays, 3);
    assert_int_equal(o.limit, 7);

    assert_int_equal(parse(&o, err, "dlq replay --bogus --help"), 0);
    assert_true(o.help);
}

static void test_args_bad(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "dlq",
        "dlq list",
        "dlq inspect --reason",
        "dlq inspect --reason no_such_code",
        "dlq inspect --reason missing_field,",
        "dlq inspect --since yesterday",
        "dlq inspect --since 2026-11-22 --until 2026-11-21",
        "dlq inspect --limit -1",
        "dlq inspect --limit 10x",
        "dlq inspect --json=yes",
        "dlq inspect --to x",
        "dlq inspect --dry-run",
        "dlq inspect extra",
        "dlq replay", /* neither --yes nor --dry-run */
        "dlq replay --yes --dry-run",
        "dlq replay --yes --max-replays 0",
        "dlq replay --yes --to=",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        aac_dlqtool_opts_t o;
        char err[256] = "";
        assert_int_equal(parse(&o, err, bad[i]), -1);
        assert_true(err[0] != '\0');
        assert_null(strchr(err, '\n')); /* one line */
    }
}

static void test_match(void **state)
{
    aac_dlqtool_opts_t o;
    char err[256];
    (void)state;

    assert_int_equal(parse(&o, err, "dlq inspect"), 0);
    assert_true(aac_dlqtool_match(&o, "missing_field", 5));
    assert_true(aac_dlqtool_match(&o, NULL, INT64_MIN)); /* no filter: anything */

    assert_int_equal(parse(&o, err, "dlq inspect --reason missing_field,retries_exhausted"), 0);
    assert_true(aac_dlqtool_match(&o, "missing_field", 0));
    assert_true(aac_dlqtool_match(&o, "retries_exhausted", 0));
    assert_false(aac_dlqtool_match(&o, "invalid_json", 0));
    assert_false(aac_dlqtool_match(&o, NULL, 0));
    assert_false(aac_dlqtool_match(&o, "garbage", 0));

    assert_int_equal(parse(&o, err,
                           "dlq inspect --since 1970-01-01T00:00:01Z "
                           "--until 1970-01-01T00:00:02Z"),
                     0);
    assert_false(aac_dlqtool_match(&o, "x", 999));
    assert_true(aac_dlqtool_match(&o, "x", 1000)); /* since: inclusive */
    assert_true(aac_dlqtool_match(&o, "x", 1999));
    assert_false(aac_dlqtool_match(&o, "x", 2000)); /* until: exclusive */
    assert_false(aac_dlqtool_match(&o, "x", INT64_MIN));
}

static void test_replay_count(void **state)
{
    (void)state;
    assert_int_equal(aac_dlqtool_replay_count(NULL, 0), 0);
    assert_int_equal(aac_dlqtool_replay_count("", 0), 0);
    assert_int_equal(aac_dlqtool_replay_count("1", 1), 1);
    assert_int_equal(aac_dlqtool_replay_count("12xyz", 2), 12);
    assert_int_equal(aac_dlqtool_replay_count("-1", 2), INT_MAX);
    assert_int_equal(aac_dlqtool_replay_count("1e3", 3), INT_MAX);
    assert_int_equal(aac_dlqtool_replay_count("99999999999999999999", 20), INT_MAX);
    assert_true(aac_dlqtool_is_own_header("aac.error.reason"));
    assert_true(aac_dlqtool_is_own_header("aac.replay.count"));
    assert_false(aac_dlqtool_is_own_header("traceparent"));
    assert_false(aac_dlqtool_is_own_header("aacx"));
    assert_false(aac_dlqtool_is_own_header(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_time),   cmocka_unit_test(test_args_ok),
        cmocka_unit_test(test_args_bad),     cmocka_unit_test(test_match),
        cmocka_unit_test(test_replay_count),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
