/*
 * test_log: the encoder of log lines, logfmt and JSON, table-driven and
 * without a clock (aac_log_render takes the time).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "aac/log.h"

static const struct timespec epoch = {0, 0};

/* Renders msg "m" at info with the fields and compares the whole line. */
static void expect_line(aac_log_format_t f, const aac_log_kv_t *kv, const char *fields)
{
    char buf[1024], want[1024];
    if (f == AAC_LOG_FORMAT_JSON)
        snprintf(want, sizeof(want),
                 "{\"ts\":\"1970-01-01T00:00:00.000Z\",\"level\":\"info\",\"msg\":\"m\"%s}\n",
                 fields);
    else
        snprintf(want, sizeof(want), "ts=1970-01-01T00:00:00.000Z level=info msg=\"m\"%s\n",
                 fields);
    size_t n = aac_log_render(buf, sizeof(buf), f, &epoch, AAC_LOG_INFO, "m", kv);
    assert_string_equal(buf, want);
    assert_int_equal(n, strlen(want));
}

static const struct {
    const char *in;
    const char *logfmt; /* the value as written after k= */
    const char *json;   /* the value as written after "k": */
} strings[] = {
    {"plain", "plain", "\"plain\""},
    {"", "\"\"", "\"\""},
    {NULL, "\"\"", "\"\""},
    {"two words", "\"two words\"", "\"two words\""},
    {"a=b", "\"a=b\"", "\"a=b\""},
    {"\"", "\"\\\"\"", "\"\\\"\""},
    /* libpq's message, the reason for this module */
    {"connection to server at \"127.0.0.1\", port 1 failed",
     "\"connection to server at \\\"127.0.0.1\\\", port 1 failed\"",
     "\"connection to server at \\\"127.0.0.1\\\", port 1 failed\""},
    {"C:\\dir", "\"C:\\\\dir\"", "\"C:\\\\dir\""},
    {"l1\nl2\r\tx", "\"l1\\nl2\\r\\tx\"", "\"l1\\nl2\\r\\tx\""},
    {"\x01\x1f\x7f", "\"\\x01\\x1f\\x7f\"", "\"\\u0001\\u001f\\u007f\""},
    {"-_.:/,;[]{}()", "-_.:/,;[]{}()", "\"-_.:/,;[]{}()\""},
    /* well-formed UTF-8 passes through, bare in logfmt */
    {"caf\xc3\xa9\xe2\x86\x92\xf0\x9f\x98\x80", "caf\xc3\xa9\xe2\x86\x92\xf0\x9f\x98\x80",
     "\"caf\xc3\xa9\xe2\x86\x92\xf0\x9f\x98\x80\""},
    /* ill-formed: a stray byte, a cut sequence, an overlong form, a surrogate */
    {"a\xff", "\"a\\xff\"", "\"a\\ufffd\""},
    {"\xc3", "\"\\xc3\"", "\"\\ufffd\""},
    {"\xc0\xaf", "\"\\xc0\\xaf\"", "\"\\ufffd\\ufffd\""},
    {"\xed\xa0\x80", "\"\\xed\\xa0\\x80\"", "\"\\ufffd\\ufffd\\ufffd\""},
};

static void test_string_values(void **state)
{
    (void)state;
    char fields[256];
    for (size_t i = 0; i < sizeof(strings) / sizeof(strings[0]); i++) {
        const aac_log_kv_t kv[] = {AAC_KV_STR("k", strings[i].in), AAC_KV_END};
        snprintf(fields, sizeof(fields), " k=%s", strings[i].logfmt);
        expect_line(AAC_LOG_FORMAT_LOGFMT, kv, fields);
        snprintf(fields, sizeof(fields), ",\"k\":%s", strings[i].json);
        expect_line(AAC_LOG_FORMAT_JSON, kv, fields);
    }
}

static void test_typed_values(void **state)
{
    (void)state;
    const aac_log_kv_t kv[] = {AAC_KV_INT("i", INT64_MIN),
                               AAC_KV_UINT("u", UINT64_MAX),
                               AAC_KV_DBL("d", 12.5),
                               AAC_KV_BOOL("b", 1),
                               AAC_KV_BOOL("f", 0),
                               AAC_KV_STR("s", "x"),
                               AAC_KV_END};
    expect_line(AAC_LOG_FORMAT_LOGFMT, kv,
                " i=-9223372036854775808 u=18446744073709551615 d=12.5 b=true f=false s=x");
    expect_line(AAC_LOG_FORMAT_JSON, kv,
                ",\"i\":-9223372036854775808,\"u\":18446744073709551615,\"d\":12.5,\"b\":true,"
                "\"f\":false,\"s\":\"x\"");
    /* JSON has no NaN */
    const aac_log_kv_t nan_kv[] = {AAC_KV_DBL("d", NAN), AAC_KV_END};
    expect_line(AAC_LOG_FORMAT_JSON, nan_kv, ",\"d\":null");
    expect_line(AAC_LOG_FORMAT_LOGFMT, nan_kv, " d=nan");
    /* no fields at all */
    expect_line(AAC_LOG_FORMAT_LOGFMT, (const aac_log_kv_t[]){AAC_KV_END}, "");
    expect_line(AAC_LOG_FORMAT_JSON, NULL, "");
}

static void test_keys(void **state)
{
    (void)state;
    const aac_log_kv_t kv[] = {AAC_KV_INT("a.b-c_D9", 1), AAC_KV_INT("bad key=\"", 2),
                               AAC_KV_INT("", 3), AAC_KV_END};
    expect_line(AAC_LOG_FORMAT_LOGFMT, kv, " a.b-c_D9=1 bad_key__=2 _=3");
    expect_line(AAC_LOG_FORMAT_JSON, kv, ",\"a.b-c_D9\":1,\"bad_key__\":2,\"_\":3");
}

static void test_header(void **state)
{
    (void)state;
    static const struct {
        struct timespec ts;
        aac_log_level_t level;
        const char *msg;
        const char *logfmt, *json;
    } cases[] = {
        {{951782400, 999999999},
         AAC_LOG_ERROR,
         "stopped",
         "ts=2000-02-29T00:00:00.999Z level=error msg=\"stopped\"\n",
         "{\"ts\":\"2000-02-29T00:00:00.999Z\",\"level\":\"error\",\"msg\":\"stopped\"}\n"},
        {{1767225599, 5000000},
         AAC_LOG_WARN,
         "say \"hi\"\n",
         "ts=2025-12-31T23:59:59.005Z level=warn msg=\"say \\\"hi\\\"\\n\"\n",
         "{\"ts\":\"2025-12-31T23:59:59.005Z\",\"level\":\"warn\",\"msg\":\"say "
         "\\\"hi\\\"\\n\"}\n"},
        {{4102444800, 0},
         AAC_LOG_DEBUG,
         "",
         "ts=2100-01-01T00:00:00.000Z level=debug msg=\"\"\n",
         "{\"ts\":\"2100-01-01T00:00:00.000Z\",\"level\":\"debug\",\"msg\":\"\"}\n"},
    };
    char buf[512];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        aac_log_render(buf, sizeof(buf), AAC_LOG_FORMAT_LOGFMT, &cases[i].ts, cases[i].level,
                       cases[i].msg, NULL);
        assert_string_equal(buf, cases[i].logfmt);
        aac_log_render(buf, sizeof(buf), AAC_LOG_FORMAT_JSON, &cases[i].ts, cases[i].level,
                       cases[i].msg, NULL);
        assert_string_equal(buf, cases[i].json);
    }
}

/* A record too long for the buffer is cut at a field, the cut value ends
 * in "...", and the line still ends as a line must. */
static void test_truncation(void **state)
{
    (void)state;
    char big[3000], buf[1024];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    big[500] = '"'; /* escapes must not be split either */
    const aac_log_kv_t kv[] = {AAC_KV_INT("n", 7), AAC_KV_STR("big", big), AAC_KV_INT("after", 1),
                               AAC_KV_END};
    for (int f = 0; f <= AAC_LOG_FORMAT_JSON; f++) {
        for (size_t size = 128; size <= sizeof(buf); size += 61) {
            size_t n =
                aac_log_render(buf, size, (aac_log_format_t)f, &epoch, AAC_LOG_INFO, "message", kv);
            assert_true(n < size);
            assert_int_equal(strlen(buf), n);
            const char *end = f == AAC_LOG_FORMAT_JSON ? "...\"}\n" : "...\"\n";
            const char *tail = f == AAC_LOG_FORMAT_JSON ? "}\n" : "\n";
            assert_true(n >= strlen(end));
            /* either the big value was cut, or there was no room to start it */
            if (strstr(buf, "big"))
                assert_string_equal(buf + n - strlen(end), end);
            else
                assert_string_equal(buf + n - strlen(tail), tail);
            assert_null(strstr(buf, "after"));
            assert_ptr_equal(strchr(buf, '\n'), buf + n - 1); /* one line */
            /* an escape is whole: no backslash right before the closing "..." */
            const char *dots = strstr(buf, "...\"");
            if (dots)
                assert_true(dots[-1] != '\\' || dots[-2] == '\\');
        }
    }
}

static void test_names(void **state)
{
    (void)state;
    aac_log_format_t f;
    aac_log_level_t l;
    assert_int_equal(aac_log_format_parse("json", &f), 0);
    assert_int_equal(f, AAC_LOG_FORMAT_JSON);
    assert_int_equal(aac_log_format_parse("logfmt", &f), 0);
    assert_int_equal(f, AAC_LOG_FORMAT_LOGFMT);
    assert_int_equal(aac_log_format_parse("JSON", &f), -1);
    assert_int_equal(aac_log_format_parse("", &f), -1);
    assert_string_equal(aac_log_format_str(AAC_LOG_FORMAT_JSON), "json");
    assert_int_equal(aac_log_level_parse("warning", &l), 0);
    assert_int_equal(l, AAC_LOG_WARN);
    assert_int_equal(aac_log_level_parse("verbose", &l), -1);
}

/* The macro does not evaluate the fields of a disabled level. */
static int evaluated;
static const char *touch(void)
{
    evaluated++;
    return "x";
}

static void test_level_gate(void **state)
{
    (void)state;
    aac_log_level_t saved = aac_log_level;
    aac_log_set_level(AAC_LOG_OFF);
    aac_error("never", AAC_KV_STR("k", touch()));
    aac_debug("never");
    assert_int_equal(evaluated, 0);
    aac_log_set_level(saved);
}

/* What aac_log_kv and aac_log_signal_safe write to stderr: one line each,
 * in the format set. */
static void test_written(void **state)
{
    (void)state;
    int fds[2], saved = dup(STDERR_FILENO);
    char got[4096];
    assert_int_equal(pipe(fds), 0);
    assert_true(dup2(fds[1], STDERR_FILENO) >= 0);
    aac_log_set_format(AAC_LOG_FORMAT_JSON);
    aac_log_signal_safe(AAC_LOG_WARN, "second signal");
    aac_info("two\nlines", AAC_KV_STR("error", "at \"x\""), AAC_KV_INT("n", 3));
    aac_log_set_format(AAC_LOG_FORMAT_LOGFMT);
    aac_log_signal_safe(AAC_LOG_WARN, "second signal");
    dup2(saved, STDERR_FILENO);
    close(saved);
    close(fds[1]);
    ssize_t n = read(fds[0], got, sizeof(got) - 1);
    close(fds[0]);
    assert_true(n > 0);
    got[n] = '\0';
    char *l1 = got, *l2 = strchr(l1, '\n') + 1, *l3 = strchr(l2, '\n') + 1;
    assert_ptr_equal(strchr(l3, '\n'), got + n - 1);
    /* "{"ts":"2026-01-01T00:00:00.000Z","level":...: the time is the clock's */
    assert_memory_equal(l1, "{\"ts\":\"", 7);
    assert_memory_equal(l1 + 7 + 24, "\",\"level\":\"warn\",\"msg\":\"second signal\"}\n", 40);
    assert_memory_equal(l2 + 7 + 24,
                        "\",\"level\":\"info\",\"msg\":\"two\\nlines\",\"error\":\"at "
                        "\\\"x\\\"\",\"n\":3}\n",
                        (size_t)(l3 - l2) - 31);
    assert_memory_equal(l3, "ts=", 3);
    assert_string_equal(l3 + 3 + 24, " level=warn msg=\"second signal\"\n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_string_values), cmocka_unit_test(test_typed_values),
        cmocka_unit_test(test_keys),          cmocka_unit_test(test_header),
        cmocka_unit_test(test_truncation),    cmocka_unit_test(test_names),
        cmocka_unit_test(test_level_gate),    cmocka_unit_test(test_written),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
