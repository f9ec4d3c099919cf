/*
 * test_dlqargs: the options of `dlq inspect|replay`: parsing, the exact
 * messages of a bad command line, RFC 3339 times for --since/--until, and
 * the filters. No broker.
 */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "aac/dlqargs.h"

static int parse(aac_dlqargs_t *o, char *err, const char *line);

/* --since and --until take what the event contract takes for a timestamp
 * (the one parser, aac_rfc3339_parse): a bare date, more than six fraction
 * digits and years outside 0001..9999 are refused, as they are in events. */
static void test_parse_time(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        int ok;
        int64_t ms;
        const char *why; /* a part of the error when refused */
    } cases[] = {
        {"1970-01-01T00:00:00Z", 1, 0, NULL},
        {"2026-11-21T10:00:00Z", 1, 1795255200000, NULL},
        {"2026-11-21t10:00:00z", 1, 1795255200000, NULL},
        {"2026-11-21T10:00:00.5Z", 1, 1795255200500, NULL},
        {"2026-11-21T10:00:00.123456Z", 1, 1795255200123, NULL},
        {"2026-11-21T12:30:00+02:30", 1, 1795255200000, NULL},
        {"2026-11-21T07:00:00-03:00", 1, 1795255200000, NULL},
        {"2024-02-29T00:00:00Z", 1, 1709164800000, NULL}, /* leap day */
        {"2016-12-31T23:59:60Z", 1, 1483228800000, NULL}, /* leap second: next minute */
        {"1969-12-31T23:59:59.9995Z", 1, -1, NULL},       /* floored to the ms */
        {"0001-01-01T00:00:00Z", 1, -62135596800000, NULL},
        {"2026-11-21", 0, 0, "must be RFC 3339"},                /* was midnight UTC */
        {"2026-11-21T10:00:00.123456789Z", 0, 0, "at most 6"},   /* was truncated */
        {"0000-12-31T00:00:00Z", 0, 0, "year 0000"},             /* was accepted */
        {"0001-01-01T00:00:00+01:00", 0, 0, "converted to UTC"}, /* was accepted */
        {"2023-02-29T00:00:00Z", 0, 0, "has day 29, but 2023-02 has 28 days"},
        {"2026-13-01T00:00:00Z", 0, 0, "month 13"},
        {"2026-11-21T24:00:00Z", 0, 0, "out of range"},
        {"2026-11-21T10:00:00", 0, 0, "no UTC offset"},
        {"2026-11-21T10:00:00.Z", 0, 0, "no digits"},
        {"2026-11-21T10:00Z", 0, 0, "must be RFC 3339"},
        {"2026-11-21T10:00:00+0200", 0, 0, "malformed UTC offset"},
        {"2026-11-21T10:00:00Zjunk", 0, 0, "unexpected characters"},
        {"yesterday", 0, 0, "must be RFC 3339"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        aac_dlqargs_t o;
        char line[128], err[256] = "";
        snprintf(line, sizeof(line), "dlq inspect --since %s --until=%s", cases[i].s, cases[i].s);
        if (cases[i].ok) {
            /* since == until is refused; the time itself must parse */
            assert_int_equal(parse(&o, err, line), -1);
            assert_non_null(strstr(err, "--since must be before --until"));
            snprintf(line, sizeof(line), "dlq inspect --since %s", cases[i].s);
            assert_int_equal(parse(&o, err, line), 0);
            if (o.since_ms != cases[i].ms)
                fail_msg("%s: got %lld", cases[i].s, (long long)o.since_ms);
            snprintf(line, sizeof(line), "dlq inspect --until=%s", cases[i].s);
            assert_int_equal(parse(&o, err, line), 0);
            assert_true(o.until_ms == cases[i].ms);
        } else {
            assert_int_equal(parse(&o, err, line), -1);
            if (!strstr(err, cases[i].why) || !strstr(err, "dlq inspect: --since \""))
                fail_msg("%s: error \"%s\"", cases[i].s, err);
        }
    }
}

static int parse(aac_dlqargs_t *o, char *err, const char *line)
{
    static char buf[1024];
    char *argv[32];
    int argc = 0;
    snprintf(buf, sizeof(buf), "%s", line);
    for (char *p = strtok(buf, " "); p && argc < 31; p = strtok(NULL, " "))
        argv[argc++] = p;
    argv[argc] = NULL;
    return aac_dlqargs_parse(argc, argv, o, err, 256);
}

static void test_args_ok(void **state)
{
    aac_dlqargs_t o;
    char err[256];
    (void)state;

    assert_int_equal(parse(&o, err, "dlq inspect"), 0);
    assert_int_equal(o.cmd, AAC_DLQARGS_INSPECT);
    assert_true(o.any_reason);
    assert_int_equal(o.limit, AAC_DLQARGS_DEFAULT_INSPECT_LIMIT);
    assert_true(o.since_ms == INT64_MIN && o.until_ms == INT64_MAX);
    assert_null(o.topic);

    assert_int_equal(
        parse(&o, err,
              "dlq inspect --reason missing_field --reason=invalid_json,db_rejected "
              "--since 2026-11-21T00:00:00Z --until=2026-11-22T00:00:00Z --limit 0 --json "
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
    assert_int_equal(o.cmd, AAC_DLQARGS_REPLAY);
    assert_int_equal(o.limit, 0); /* replay: no default limit */
    assert_int_equal(o.max_replays, AAC_DLQARGS_DEFAULT_MAX_REPLAYS);
    assert_null(o.to);

    assert_int_equal(parse(&o, err, "dlq replay --dry-run --to fixed --max-replays 3 --limit 7"),
                     0);
    assert_true(o.dry_run);
    assert_string_equal(o.to, "fixed");
    assert_int_equal(o.max_replays, 3);
    assert_int_equal(o.limit, 7);

    assert_null(o.group);
    assert_false(o.from_beginning);

    assert_int_equal(parse(&o, err, "dlq replay --yes --group=ops.replay --from-beginning"), 0);
    assert_string_equal(o.group, "ops.replay");
    assert_true(o.from_beginning);

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
        "dlq inspect --since 2026-11-22T00:00:00Z --until 2026-11-21T00:00:00Z",
        "dlq inspect --since 2026-11-21",
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
        "dlq replay --yes --group",
        "dlq replay --yes --group=",
        "dlq replay --yes --from-beginning=1",
        "dlq inspect --group g",
        "dlq inspect --from-beginning",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        aac_dlqargs_t o;
        char err[256] = "";
        assert_int_equal(parse(&o, err, bad[i]), -1);
        assert_true(err[0] != '\0');
        assert_null(strchr(err, '\n')); /* one line */
    }
}

/* The exact messages, the same as before getopt_long took over. */
static void test_args_messages(void **state)
{
    (void)state;
    static const struct {
        const char *line, *want;
    } cases[] = {
        {"dlq inspect --json=yes", "dlq inspect: --json takes no value"},
        {"dlq inspect --limit", "dlq inspect: --limit needs a value"},
        {"dlq inspect extra", "dlq inspect: unknown argument \"extra\" (see --help)"},
        {"dlq inspect --json extra", "dlq inspect: unknown argument \"extra\" (see --help)"},
        {"dlq inspect --bogus", "dlq inspect: unknown argument \"--bogus\" (see --help)"},
        {"dlq inspect --bogus=1", "dlq inspect: unknown argument \"--bogus=1\" (see --help)"},
        {"dlq inspect -x", "dlq inspect: unknown argument \"-x\" (see --help)"},
        {"dlq inspect --dry-run", "dlq inspect: --dry-run applies to replay only"},
        {"dlq replay --yes --to=", "dlq replay: --to needs a topic name (1 to 249 characters)"},
        {"dlq replay --yes --max-replays=0",
         "dlq replay: --max-replays \"0\" is not a number from 1 to 1000000"},
        {"dlq frob", "dlq: unknown command \"frob\": inspect or replay"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        aac_dlqargs_t o;
        char err[256] = "";
        assert_int_equal(parse(&o, err, cases[i].line), -1);
        assert_string_equal(err, cases[i].want);
    }
    /* a value may begin with '-'; parsing twice starts afresh */
    for (int k = 0; k < 2; k++) {
        aac_dlqargs_t o;
        char err[256] = "";
        assert_int_equal(parse(&o, err, "dlq inspect --topic -odd --limit 3"), 0);
        assert_string_equal(o.topic, "-odd");
        assert_int_equal(o.limit, 3);
    }
}

static void test_match(void **state)
{
    aac_dlqargs_t o;
    char err[256];
    (void)state;

    assert_int_equal(parse(&o, err, "dlq inspect"), 0);
    assert_true(aac_dlqargs_match(&o, "missing_field", 5));
    assert_true(aac_dlqargs_match(&o, NULL, INT64_MIN)); /* no filter: anything */

    assert_int_equal(parse(&o, err, "dlq inspect --reason missing_field,retries_exhausted"), 0);
    assert_true(aac_dlqargs_match(&o, "missing_field", 0));
    assert_true(aac_dlqargs_match(&o, "retries_exhausted", 0));
    assert_false(aac_dlqargs_match(&o, "invalid_json", 0));
    assert_false(aac_dlqargs_match(&o, NULL, 0));
    assert_false(aac_dlqargs_match(&o, "garbage", 0));

    assert_int_equal(parse(&o, err,
                           "dlq inspect --since 1970-01-01T00:00:01Z "
                           "--until 1970-01-01T00:00:02Z"),
                     0);
    assert_false(aac_dlqargs_match(&o, "x", 999));
    assert_true(aac_dlqargs_match(&o, "x", 1000)); /* since: inclusive */
    assert_true(aac_dlqargs_match(&o, "x", 1999));
    assert_false(aac_dlqargs_match(&o, "x", 2000)); /* until: exclusive */
    assert_false(aac_dlqargs_match(&o, "x", INT64_MIN));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_time), cmocka_unit_test(test_args_ok),
        cmocka_unit_test(test_args_bad),   cmocka_unit_test(test_args_messages),
        cmocka_unit_test(test_match),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
