/*
 * test_event: the event contract, case by case. Most cases start from one
 * valid event and change a single member (override "key=RAW", or "key=" to
 * drop it), so each row shows exactly what it tests; whole-message cases
 * give the raw bytes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "aac/event.h"
#include "aac/rfc3339.h"
#include "aac/uuid.h"

static const char *const base[][2] = {
    {"event_id", "\"0f8fad5b-d9cb-469f-a165-70867728950e\""},
    {"correlation_id", "\"7c9e6679-7425-40de-944b-e07fc1f90ae7\""},
    {"session_id", "\"16fd2706-8baf-433b-82eb-8c7fada847da\""},
    {"agent_name", "\"planner\""},
    {"action_type", "\"tool_call\""},
    {"action_name", "\"read_file\""},
    {"action_details", "{\"path\":\"/src/main.c\",\"lines\":[1,20]}"},
    {"duration_ms", "42"},
    {"debug_mode", "false"},
    {"project_path", "\"/home/dev/acme\""},
    {"working_directory", "\"/home/dev/acme/src\""},
    {"timestamp", "\"2024-05-01T12:00:00.123456Z\""},
};
#define NBASE (sizeof base / sizeof base[0])

/* Builds the base event with overrides "key=RAW\n..." applied: a key of
 * the base is replaced (or dropped when RAW is empty), a new key appended. */
static char *build(const char *overrides)
{
    size_t cap = 1 << 16;
    char *out = malloc(cap);
    assert_non_null(out);
    char ov[8192];
    snprintf(ov, sizeof ov, "%s", overrides ? overrides : "");
    const char *okey[32], *oval[32];
    int no = 0;
    for (char *line = strtok(ov, "\n"); line && no < 32; line = strtok(NULL, "\n")) {
        char *eq = strchr(line, '=');
        assert_non_null(eq);
        *eq = '\0';
        okey[no] = line;
        oval[no++] = eq + 1;
    }
    size_t n = 0;
    bool used[32] = {0};
    n += (size_t)snprintf(out + n, cap - n, "{");
    bool first = true;
    for (size_t i = 0; i < NBASE; i++) {
        const char *v = base[i][1];
        for (int k = 0; k < no; k++)
            if (strcmp(okey[k], base[i][0]) == 0) {
                v = oval[k];
                used[k] = true;
            }
        if (!*v)
            continue;
        n += (size_t)snprintf(out + n, cap - n, "%s\"%s\":%s", first ? "" : ",", base[i][0], v);
        first = false;
    }
    for (int k = 0; k < no; k++)
        if (!used[k] && *oval[k])
            n += (size_t)snprintf(out + n, cap - n, "%s\"%s\":%s", first ? "" : ",", okey[k],
                                  oval[k]);
    snprintf(out + n, cap - n, "}");
    return out;
}

static char *repeat(const char *unit, int times)
{
    size_t u = strlen(unit);
    char *s = malloc(u * (size_t)times + 3);
    assert_non_null(s);
    s[0] = '"';
    for (int i = 0; i < times; i++)
        memcpy(s + 1 + u * (size_t)i, unit, u);
    s[1 + u * (size_t)times] = '"';
    s[2 + u * (size_t)times] = '\0';
    return s;
}

typedef struct {
    const char *name;
    const char *overrides; /* applied to the base event, or */
    const char *raw;       /* the whole message when not NULL */
    size_t raw_len;        /* for raw with NUL bytes; 0: strlen */
    aac_reason_t want;
    const char *path;
    const char *msg_has; /* a substring of the message, or NULL */
} case_t;

static aac_event_parser_t *new_parser(void)
{
    aac_event_limits_t lim = {.max_message_bytes = 8192, .max_depth = 8};
    aac_event_parser_t *p = aac_event_parser_new(&lim);
    assert_non_null(p);
    return p;
}

static void run_cases(aac_event_parser_t *p, const case_t *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const case_t *c = &cases[i];
        char *msg = c->raw ? NULL : build(c->overrides);
        const char *m = c->raw ? c->raw : msg;
        size_t len = c->raw_len ? c->raw_len : strlen(m);
        aac_event_t ev;
        aac_event_error_t err;
        aac_reason_t r = aac_event_parse(p, "agent-actions", 0, 7, m, len, &ev, &err);
        if (r != c->want || (c->path && strcmp(err.path, c->path) != 0) ||
            (c->msg_has && !strstr(err.message, c->msg_has)))
            fail_msg("case '%s': got %s %s: %s (want %s %s%s%s)", c->name, aac_reason_str(r),
                     err.path, err.message, aac_reason_str(c->want), c->path ? c->path : "",
                     c->msg_has ? " containing " : "", c->msg_has ? c->msg_has : "");
        if (r != AAC_REASON_NONE) {
            /* every message is one line, lowercase first, no final period */
            assert_null(strchr(err.message, '\n'));
            size_t ml = strlen(err.message);
            assert_true(ml > 0 && err.message[ml - 1] != '.');
            assert_true(err.path[0] == '$');
        }
        free(msg);
    }
}

static void test_rejections(void **state)
{
    (void)state;
    aac_event_parser_t *p = new_parser();
    char big[9000];
    memset(big, ' ', sizeof big);
    big[0] = '{';
    big[sizeof big - 1] = '}';
    static const char nul_raw[] = "{\"a\":\"x\0y\"}";
    char *deep = build("action_details={\"a\":{\"b\":{\"c\":{\"d\":{\"e\":{\"f\":{\"g\":{}}}}}}}}");
    char *agent129 = repeat("a", 129);
    char ov129[512];
    snprintf(ov129, sizeof ov129, "agent_name=%s", agent129);
    char *long_path = repeat("p", 501);
    char ovpath[1024];
    snprintf(ovpath, sizeof ovpath, "project_path=%s", long_path);
    char *long_pn = repeat("n", 256);
    char ovpn[1024];
    snprintf(ovpn, sizeof ovpn, "project_name=%s", long_pn);
    char *long_wd = repeat("w", 501);
    char ovwd[1024];
    snprintf(ovwd, sizeof ovwd, "working_directory=%s", long_wd);

    const case_t cases[] = {
        {"empty", NULL, "", 0, AAC_REASON_EMPTY_MESSAGE, "$", "empty"},
        {"whitespace only", NULL, " \n\t ", 0, AAC_REASON_EMPTY_MESSAGE, "$", NULL},
        {"too large", NULL, big, sizeof big, AAC_REASON_TOO_LARGE, "$",
         "message is 9000 bytes, more than the limit of 8192"},
        {"invalid utf8 in string", NULL, "{\"a\":\"\xc3\x28\"}", 0, AAC_REASON_INVALID_UTF8, "$",
         "byte 6"},
        {"invalid utf8 outside strings", NULL, "{\"a\":1,\xff}", 0, AAC_REASON_INVALID_UTF8, "$",
         NULL},
        {"overlong utf8", NULL, "{\"a\":\"\xc0\xaf\"}", 0, AAC_REASON_INVALID_UTF8, "$", NULL},
        {"utf8 surrogate", NULL, "{\"a\":\"\xed\xa0\x80\"}", 0, AAC_REASON_INVALID_UTF8, "$", NULL},
        {"truncated utf8", NULL, "{\"a\":\"\xe2\x82", 0, AAC_REASON_INVALID_UTF8, "$", NULL},
        {"above U+10FFFF", NULL, "{\"a\":\"\xf4\x90\x80\x80\"}", 0, AAC_REASON_INVALID_UTF8, "$",
         NULL},
        {"raw NUL", NULL, nul_raw, sizeof nul_raw - 1, AAC_REASON_NUL_CHARACTER, "$", "NUL"},
        {"escaped NUL", "agent_name=\"a\\u0000b\"", NULL, 0, AAC_REASON_NUL_CHARACTER,
         "$.agent_name", "\\u0000"},
        {"escaped NUL in details", "action_details={\"a\":[\"x\",\"\\u0000\"]}", NULL, 0,
         AAC_REASON_NUL_CHARACTER, "$.action_details.a[1]", NULL},
        {"escaped NUL in key", "action_details={\"k\\u0000\":1}", NULL, 0, AAC_REASON_NUL_CHARACTER,
         NULL, NULL},
        {"lone high surrogate", "action_details={\"t\":\"\\ud800\"}", NULL, 0,
         AAC_REASON_INVALID_UNICODE_ESCAPE, "$.action_details.t", "high surrogate"},
        {"lone low surrogate", "agent_name=\"\\udc00\"", NULL, 0, AAC_REASON_INVALID_UNICODE_ESCAPE,
         "$.agent_name", "low surrogate"},
        {"high then non-low", "action_details={\"t\":\"\\ud800\\u0041\"}", NULL, 0,
         AAC_REASON_INVALID_UNICODE_ESCAPE, "$.action_details.t", NULL},
        {"reversed pair", "x=\"\\ude00\\ud83d\"", NULL, 0, AAC_REASON_INVALID_UNICODE_ESCAPE, "$.x",
         NULL},
        {"surrogate in unknown key", "action_details={\"\\ud800\":1}", NULL, 0,
         AAC_REASON_INVALID_UNICODE_ESCAPE, NULL, NULL},
        {"invalid json", NULL, "{\"a\":}", 0, AAC_REASON_INVALID_JSON, "$", "not valid JSON"},
        {"truncated json", NULL, "{\"a\":1", 0, AAC_REASON_INVALID_JSON, "$", NULL},
        {"trailing garbage", NULL, "{} x", 0, AAC_REASON_INVALID_JSON, "$", NULL},
        {"two objects", NULL, "{}{}", 0, AAC_REASON_INVALID_JSON, "$", NULL},
        {"comment", NULL, "{/*c*/}", 0, AAC_REASON_INVALID_JSON, "$", NULL},
        {"single quotes", NULL, "{'a':1}", 0, AAC_REASON_INVALID_JSON, "$", NULL},
        {"leading zero", NULL, "{\"a\":01}", 0, AAC_REASON_INVALID_JSON, "$", NULL},
        {"bare control char", NULL, "{\"a\":\"x\ty\"}", 0, AAC_REASON_INVALID_JSON, "$", NULL},
        {"vertical tab between tokens", NULL, "{\v}", 0, AAC_REASON_INVALID_JSON, "$",
         "vertical tab at byte 1"},
        {"form feed in details", "action_details={\"a\":\f1}", NULL, 0, AAC_REASON_INVALID_JSON,
         "$", "form feed"},
        {"vertical tab after unknown", "x=1\v", NULL, 0, AAC_REASON_INVALID_JSON, "$", NULL},
        {"bom", NULL, "\xef\xbb\xbf{}", 0, AAC_REASON_INVALID_JSON, "$", NULL},
        {"array", NULL, "[1,2]", 0, AAC_REASON_NOT_AN_OBJECT, "$", "array"},
        {"string", NULL, "\"x\"", 0, AAC_REASON_NOT_AN_OBJECT, "$", "string"},
        {"number", NULL, "12", 0, AAC_REASON_NOT_AN_OBJECT, "$", "number"},
        {"null", NULL, "null", 0, AAC_REASON_NOT_AN_OBJECT, "$", "null"},
        {"true", NULL, "true", 0, AAC_REASON_NOT_AN_OBJECT, "$", "boolean"},
        {"duplicate top-level", "agent_name=\"a\",\"agent_name\":\"b\"", NULL, 0,
         AAC_REASON_DUPLICATE_KEY, "$.agent_name", "\"agent_name\" appears more than once"},
        {"duplicate in details", "action_details={\"a\":{\"b\":1,\"b\":2}}", NULL, 0,
         AAC_REASON_DUPLICATE_KEY, "$.action_details.a.b", NULL},
        {"duplicate via escape", "action_details={\"ab\":1,\"a\\u0062\":2}", NULL, 0,
         AAC_REASON_DUPLICATE_KEY, "$.action_details.ab", NULL},
        {"duplicate in array obj", "action_details={\"l\":[{},{\"x\":1,\"x\":1}]}", NULL, 0,
         AAC_REASON_DUPLICATE_KEY, "$.action_details.l[1].x", NULL},
        {"duplicate odd key", "x y={\"k\":1,\"k\":2}", NULL, 0, AAC_REASON_DUPLICATE_KEY,
         "$[\"x y\"].k", NULL},
        /* a key's path is escaped by the one escaper (aac_utf8_escape) */
        {"duplicate escaped key", "action_details={\"a\\nb\\u0001\\\"\u00e9\":{\"x\":1,\"x\":2}}",
         NULL, 0, AAC_REASON_DUPLICATE_KEY, "$.action_details[\"a\\nb\\u0001\\\"\u00e9\"].x", NULL},
        {"same key different objects", "action_details={\"a\":{\"k\":1},\"b\":{\"k\":1},\"k\":3}",
         NULL, 0, AAC_REASON_NONE, NULL, NULL},
        /* the name extra keeps a frame's schema id under: no producer's field,
         * whatever its value, framed or not */
        {"reserved name", "_aac_confluent_schema_id=42", NULL, 0, AAC_REASON_RESERVED_FIELD,
         "$._aac_confluent_schema_id", "_aac_confluent_schema_id is reserved for the schema id"},
        {"reserved name null", "_aac_confluent_schema_id=null", NULL, 0, AAC_REASON_RESERVED_FIELD,
         "$._aac_confluent_schema_id", NULL},
        {"reserved name string", "_aac_confluent_schema_id=\"42\"", NULL, 0,
         AAC_REASON_RESERVED_FIELD, "$._aac_confluent_schema_id", NULL},
        {"reserved name bool", "_aac_confluent_schema_id=true", NULL, 0, AAC_REASON_RESERVED_FIELD,
         "$._aac_confluent_schema_id", NULL},
        {"reserved name object", "_aac_confluent_schema_id={\"id\":1}", NULL, 0,
         AAC_REASON_RESERVED_FIELD, "$._aac_confluent_schema_id", NULL},
        {"reserved name array", "_aac_confluent_schema_id=[]", NULL, 0, AAC_REASON_RESERVED_FIELD,
         "$._aac_confluent_schema_id", NULL},
        {"reserved name escaped", "\\u005faac_confluent_schema_id=1", NULL, 0,
         AAC_REASON_RESERVED_FIELD, "$._aac_confluent_schema_id", NULL},
        {"reserved name, a duplicate key after it wins", "_aac_confluent_schema_id=1\nx=1,\"x\":2",
         NULL, 0, AAC_REASON_DUPLICATE_KEY, "$.x", NULL},
        {"reserved name below the top level", "action_details={\"_aac_confluent_schema_id\":1}",
         NULL, 0, AAC_REASON_NONE, NULL, NULL},
        {"a name like the reserved one", "_aac_confluent_schema_ID=1", NULL, 0, AAC_REASON_NONE,
         NULL, NULL},
        {"too deep", NULL, deep, 0, AAC_REASON_TOO_DEEP, "$.action_details.a.b.c.d.e.f.g",
         "deeper than 8"},
        {"too deep arrays", "x=[[[[[[[[1]]]]]]]]", NULL, 0, AAC_REASON_TOO_DEEP,
         "$.x[0][0][0][0][0][0][0]", NULL},
        {"depth at limit", "x=[[[[[[[1]]]]]]]", NULL, 0, AAC_REASON_NONE, NULL, NULL},
        {"huge exponent", "action_details={\"n\":1e131072}", NULL, 0, AAC_REASON_OUT_OF_RANGE,
         "$.action_details.n", "131072 digits"},
        {"largest exponent", "action_details={\"n\":9.99e131071}", NULL, 0, AAC_REASON_NONE, NULL,
         NULL},
        {"tiny exponent", "action_details={\"n\":[1.5e-16383]}", NULL, 0, AAC_REASON_OUT_OF_RANGE,
         "$.action_details.n[0]", "16383"},
        {"smallest scale", "action_details={\"n\":1.5e-16382}", NULL, 0, AAC_REASON_NONE, NULL,
         NULL},
        {"zero huge neg exponent", "x=0e-16384", NULL, 0, AAC_REASON_OUT_OF_RANGE, "$.x", NULL},
        {"zero huge exponent", "x=0e1073741823", NULL, 0, AAC_REASON_OUT_OF_RANGE, "$.x", NULL},
        {"zero big exponent ok", "x=0e1073741822", NULL, 0, AAC_REASON_NONE, NULL, NULL},
        {"exponent overflow", "x=1e99999999999999999999999", NULL, 0, AAC_REASON_OUT_OF_RANGE,
         "$.x", NULL},
        {"1e1001 is fine for pg 15", "x=1e1001", NULL, 0, AAC_REASON_NONE, NULL, NULL},
        {"missing correlation_id", "correlation_id=", NULL, 0, AAC_REASON_MISSING_FIELD,
         "$.correlation_id", "correlation_id is required"},
        {"null correlation_id", "correlation_id=null", NULL, 0, AAC_REASON_MISSING_FIELD,
         "$.correlation_id", "got null"},
        {"missing agent_name", "agent_name=", NULL, 0, AAC_REASON_MISSING_FIELD, "$.agent_name",
         NULL},
        {"missing action_type", "action_type=", NULL, 0, AAC_REASON_MISSING_FIELD, "$.action_type",
         NULL},
        {"missing action_name", "action_name=", NULL, 0, AAC_REASON_MISSING_FIELD, "$.action_name",
         NULL},
        {"missing timestamp", "timestamp=", NULL, 0, AAC_REASON_MISSING_FIELD, "$.timestamp", NULL},
        {"empty object", NULL, "{}", 0, AAC_REASON_MISSING_FIELD, "$.correlation_id", NULL},
        {"agent_name number", "agent_name=5", NULL, 0, AAC_REASON_WRONG_TYPE, "$.agent_name",
         "agent_name must be a string, got number"},
        {"agent_name object", "agent_name={}", NULL, 0, AAC_REASON_WRONG_TYPE, "$.agent_name",
         "got object"},
        {"action_type number", "action_type=1", NULL, 0, AAC_REASON_WRONG_TYPE, "$.action_type",
         NULL},
        {"action_details array", "action_details=[]", NULL, 0, AAC_REASON_WRONG_TYPE,
         "$.action_details", "must be an object, got array"},
        {"action_details string", "action_details=\"{}\"", NULL, 0, AAC_REASON_WRONG_TYPE,
         "$.action_details", NULL},
        {"debug_mode string", "debug_mode=\"true\"", NULL, 0, AAC_REASON_WRONG_TYPE, "$.debug_mode",
         NULL},
        {"debug_mode number", "debug_mode=1", NULL, 0, AAC_REASON_WRONG_TYPE, "$.debug_mode", NULL},
        {"event_id number", "event_id=1", NULL, 0, AAC_REASON_WRONG_TYPE, "$.event_id", NULL},
        {"timestamp number", "timestamp=1714564800", NULL, 0, AAC_REASON_WRONG_TYPE, "$.timestamp",
         NULL},
        {"duration 1.5", "duration_ms=1.5", NULL, 0, AAC_REASON_WRONG_TYPE, "$.duration_ms",
         "integer"},
        {"duration 1.0", "duration_ms=1.0", NULL, 0, AAC_REASON_WRONG_TYPE, "$.duration_ms", NULL},
        {"duration 1e3", "duration_ms=1e3", NULL, 0, AAC_REASON_WRONG_TYPE, "$.duration_ms", NULL},
        {"duration string", "duration_ms=\"12\"", NULL, 0, AAC_REASON_WRONG_TYPE, "$.duration_ms",
         "got string"},
        {"duration -1", "duration_ms=-1", NULL, 0, AAC_REASON_OUT_OF_RANGE, "$.duration_ms",
         "0 to 2147483647, got \"-1\""},
        {"duration 2^31", "duration_ms=2147483648", NULL, 0, AAC_REASON_OUT_OF_RANGE,
         "$.duration_ms", NULL},
        {"duration huge", "duration_ms=99999999999999999999999", NULL, 0, AAC_REASON_OUT_OF_RANGE,
         "$.duration_ms", NULL},
        {"bad uuid", "correlation_id=\"abc\"", NULL, 0, AAC_REASON_INVALID_UUID, "$.correlation_id",
         "got \"abc\""},
        {"session unknown", "session_id=\"unknown\"", NULL, 0, AAC_REASON_INVALID_UUID,
         "$.session_id", NULL},
        {"braced uuid", "event_id=\"{0f8fad5b-d9cb-469f-a165-70867728950e}\"", NULL, 0,
         AAC_REASON_INVALID_UUID, "$.event_id", NULL},
        {"urn uuid", "event_id=\"urn:uuid:0f8fad5b-d9cb-469f-a165-70867728950e\"", NULL, 0,
         AAC_REASON_INVALID_UUID, "$.event_id", NULL},
        {"no offset", "timestamp=\"2024-05-01T12:00:00\"", NULL, 0, AAC_REASON_INVALID_TIMESTAMP,
         "$.timestamp", "no UTC offset"},
        {"7 fraction digits", "timestamp=\"2024-05-01T12:00:00.1234567Z\"", NULL, 0,
         AAC_REASON_INVALID_TIMESTAMP, "$.timestamp", "7 fraction digits"},
        {"2023-02-29", "timestamp=\"2023-02-29T00:00:00Z\"", NULL, 0, AAC_REASON_INVALID_TIMESTAMP,
         "$.timestamp", "day 29"},
        {"1900-02-29", "timestamp=\"1900-02-29T00:00:00Z\"", NULL, 0, AAC_REASON_INVALID_TIMESTAMP,
         "$.timestamp", NULL},
        {"april 31", "timestamp=\"2024-04-31T00:00:00Z\"", NULL, 0, AAC_REASON_INVALID_TIMESTAMP,
         "$.timestamp", NULL},
        {"month 13", "timestamp=\"2024-13-01T00:00:00Z\"", NULL, 0, AAC_REASON_INVALID_TIMESTAMP,
         "$.timestamp", NULL},
        {"hour 24", "timestamp=\"2024-01-01T24:00:00Z\"", NULL, 0, AAC_REASON_INVALID_TIMESTAMP,
         "$.timestamp", NULL},
        {"minute 60", "timestamp=\"2024-01-01T00:60:00Z\"", NULL, 0, AAC_REASON_INVALID_TIMESTAMP,
         "$.timestamp", NULL},
        {"second 61", "timestamp=\"2024-01-01T00:00:61Z\"", NULL, 0, AAC_REASON_INVALID_TIMESTAMP,
         "$.timestamp", NULL},
        {"offset 24:00", "timestamp=\"2024-01-01T00:00:00+24:00\"", NULL, 0,
         AAC_REASON_INVALID_TIMESTAMP, "$.timestamp", NULL},
        {"offset no colon", "timestamp=\"2024-01-01T00:00:00+0100\"", NULL, 0,
         AAC_REASON_INVALID_TIMESTAMP, "$.timestamp", NULL},
        {"year 0", "timestamp=\"0000-06-01T00:00:00Z\"", NULL, 0, AAC_REASON_INVALID_TIMESTAMP,
         "$.timestamp", NULL},
        {"utc before year 1", "timestamp=\"0001-01-01T00:30:00+01:00\"", NULL, 0,
         AAC_REASON_INVALID_TIMESTAMP, "$.timestamp", "outside"},
        {"utc after 9999", "timestamp=\"9999-12-31T23:30:00-01:00\"", NULL, 0,
         AAC_REASON_INVALID_TIMESTAMP, "$.timestamp", NULL},
        {"empty fraction", "timestamp=\"2024-01-01T00:00:00.Z\"", NULL, 0,
         AAC_REASON_INVALID_TIMESTAMP, "$.timestamp", NULL},
        {"date only", "timestamp=\"2024-01-01\"", NULL, 0, AAC_REASON_INVALID_TIMESTAMP,
         "$.timestamp", NULL},
        {"trailing text", "timestamp=\"2024-01-01T00:00:00Zx\"", NULL, 0,
         AAC_REASON_INVALID_TIMESTAMP, "$.timestamp", NULL},
        {"unknown action_type", "action_type=\"tool\"", NULL, 0, AAC_REASON_UNKNOWN_ACTION_TYPE,
         "$.action_type", "got \"tool\""},
        {"action_type case", "action_type=\"Tool_Call\"", NULL, 0, AAC_REASON_UNKNOWN_ACTION_TYPE,
         "$.action_type", NULL},
        {"action_type escaped", "action_type=\"t\\t\\\\\\u007f\u00e9\"", NULL, 0,
         AAC_REASON_UNKNOWN_ACTION_TYPE, "$.action_type", "got \"t\\t\\\\\\u007f\u00e9\""},
        {"agent_name 129", ov129, NULL, 0, AAC_REASON_TOO_LONG, "$.agent_name",
         "agent_name must be 1 to 128 characters, got 129"},
        {"project_path 501", ovpath, NULL, 0, AAC_REASON_TOO_LONG, "$.project_path", "at most 500"},
        {"project_name 256", ovpn, NULL, 0, AAC_REASON_TOO_LONG, "$.project_name", NULL},
        {"working_directory 501", ovwd, NULL, 0, AAC_REASON_TOO_LONG, "$.working_directory", NULL},
        {"agent_name empty", "agent_name=\"\"", NULL, 0, AAC_REASON_TOO_SHORT, "$.agent_name",
         "got 0"},
        {"action_name empty", "action_name=\"\"", NULL, 0, AAC_REASON_TOO_SHORT, "$.action_name",
         NULL},
        {"schema_version 2", "schema_version=2", NULL, 0, AAC_REASON_UNSUPPORTED_VERSION,
         "$.schema_version", "got \"2\""},
        {"schema_version 1.0", "schema_version=1.0", NULL, 0, AAC_REASON_UNSUPPORTED_VERSION,
         "$.schema_version", NULL},
        {"schema_version string", "schema_version=\"1\"", NULL, 0, AAC_REASON_WRONG_TYPE,
         "$.schema_version", NULL},
        {"schema_version 1", "schema_version=1", NULL, 0, AAC_REASON_NONE, NULL, NULL},
        {"schema_version null", "schema_version=null", NULL, 0, AAC_REASON_NONE, NULL, NULL},
        /* a syntax error later in the message wins over an earlier field error */
        {"doc error wins", NULL, "{\"agent_name\":5,", 0, AAC_REASON_INVALID_JSON, "$", NULL},
        /* the first field error in document order is reported */
        {"first field error", "agent_name=5\naction_name=6", NULL, 0, AAC_REASON_WRONG_TYPE,
         "$.agent_name", NULL},
    };
    run_cases(p, cases, sizeof cases / sizeof cases[0]);
    free(deep);
    free(agent129);
    free(long_path);
    free(long_pn);
    free(long_wd);
    aac_event_parser_destroy(p);
}

static aac_event_t parse_ok(aac_event_parser_t *p, const char *msg)
{
    aac_event_t ev;
    aac_event_error_t err;
    aac_reason_t r = aac_event_parse(p, "agent-actions", 3, 12345, msg, strlen(msg), &ev, &err);
    if (r != AAC_REASON_NONE)
        fail_msg("%s %s: %s in %.200s", aac_reason_str(r), err.path, err.message, msg);
    return ev;
}

static void assert_str(aac_str_t s, const char *want)
{
    if (!want) {
        assert_null(s.ptr);
        return;
    }
    assert_non_null(s.ptr);
    if (s.len != strlen(want) || memcmp(s.ptr, want, s.len) != 0)
        fail_msg("got '%.*s', want '%s'", (int)s.len, s.ptr, want);
}

static void test_valid_base(void **state)
{
    (void)state;
    aac_event_parser_t *p = new_parser();
    char *m = build(NULL);
    aac_event_t ev = parse_ok(p, m);
    char u[37];
    aac_uuid_format(ev.event_id, u);
    assert_string_equal(u, "0f8fad5b-d9cb-469f-a165-70867728950e");
    assert_false(ev.event_id_derived);
    aac_uuid_format(ev.correlation_id, u);
    assert_string_equal(u, "7c9e6679-7425-40de-944b-e07fc1f90ae7");
    assert_true(ev.has_session_id);
    assert_str(ev.agent_name, "planner");
    assert_int_equal(ev.action_type, AAC_ACTION_TOOL_CALL);
    assert_str(ev.action_name, "read_file");
    assert_str(ev.action_details, "{\"path\":\"/src/main.c\",\"lines\":[1,20]}");
    assert_true(ev.has_duration_ms);
    assert_int_equal(ev.duration_ms, 42);
    assert_int_equal(ev.debug_mode, 0);
    assert_str(ev.project_path, "/home/dev/acme");
    assert_str(ev.project_name, "acme");
    assert_str(ev.working_directory, "/home/dev/acme/src");
    /* python3: datetime(2024,5,1,12,0,0,123456,tzinfo=utc).timestamp() */
    assert_int_equal(ev.timestamp_us, INT64_C(1714564800123456));
    assert_int_equal(ev.extra.len, 0);
    assert_int_equal(ev.extra_count, 0);
    free(m);
    aac_event_parser_destroy(p);
}

static void test_minimal_and_nulls(void **state)
{
    (void)state;
    aac_event_parser_t *p = new_parser();
    const char *min = "{\"correlation_id\":\"7C9E6679-7425-40DE-944B-E07FC1F90AE7\","
                      "\"agent_name\":\"a\",\"action_type\":\"success\",\"action_name\":\"b\","
                      "\"timestamp\":\"2024-02-29T12:00:00Z\"}";
    aac_event_t ev = parse_ok(p, min);
    char u[37];
    assert_true(ev.event_id_derived);
    aac_uuid_format(ev.event_id, u);
    /* python3: uuid.uuid5(UUID('166b33e6-7310-5190-b8a6-331b4efca447'),
     *                     'agent-actions/3/12345') */
    assert_string_equal(u, "7b6961f3-1f38-5ce7-8399-b7b5bd58b6f2");
    aac_uuid_format(ev.correlation_id, u);
    assert_string_equal(u, "7c9e6679-7425-40de-944b-e07fc1f90ae7");
    assert_false(ev.has_session_id);
    assert_false(ev.has_duration_ms);
    assert_int_equal(ev.debug_mode, -1);
    assert_str(ev.action_details, "{}");
    assert_str(ev.project_path, NULL);
    assert_str(ev.project_name, NULL);
    assert_str(ev.working_directory, NULL);
    assert_int_equal(ev.timestamp_us, INT64_C(1709208000000000));
    assert_int_equal(ev.action_type, AAC_ACTION_SUCCESS);

    /* null is absent for every optional field */
    char *m = build("event_id=null\nsession_id=null\naction_details=null\nduration_ms=null\n"
                    "debug_mode=null\nproject_path=null\nproject_name=null\n"
                    "working_directory=null\nschema_version=null");
    ev = parse_ok(p, m);
    assert_true(ev.event_id_derived);
    assert_false(ev.has_session_id);
    assert_str(ev.action_details, "{}");
    assert_false(ev.has_duration_ms);
    assert_int_equal(ev.debug_mode, -1);
    assert_str(ev.project_path, NULL);
    assert_str(ev.project_name, NULL);
    assert_str(ev.working_directory, NULL);
    free(m);

    /* deterministic: the same origin derives the same id */
    uint8_t first[16];
    ev = parse_ok(p, min);
    memcpy(first, ev.event_id, 16);
    ev = parse_ok(p, min);
    assert_memory_equal(first, ev.event_id, 16);
    aac_event_parser_destroy(p);
}

static void test_lengths_in_characters(void **state)
{
    (void)state;
    aac_event_parser_t *p = new_parser();
    static const struct {
        const char *unit; /* one character */
        int times;
        aac_reason_t want;
    } cases[] = {
        {"a", 128, AAC_REASON_NONE},
        {"a", 129, AAC_REASON_TOO_LONG},
        {"\xc3\xa9", 128, AAC_REASON_NONE}, /* é: 2 bytes */
        {"\xc3\xa9", 129, AAC_REASON_TOO_LONG},
        {"\xe6\x97\xa5", 128, AAC_REASON_NONE},     /* 日: 3 bytes */
        {"\xf0\x9f\x98\x80", 128, AAC_REASON_NONE}, /* 😀: 4 bytes, one character */
        {"\xf0\x9f\x98\x80", 129, AAC_REASON_TOO_LONG},
        {"\\u00e9", 128, AAC_REASON_NONE},        /* escapes count decoded */
        {"\\ud83d\\ude00", 128, AAC_REASON_NONE}, /* a surrogate pair is one */
        {"\\ud83d\\ude00", 129, AAC_REASON_TOO_LONG},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        for (int f = 0; f < 2; f++) {
            char *v = repeat(cases[i].unit, cases[i].times);
            char ov[4096];
            snprintf(ov, sizeof ov, "%s=%s", f ? "action_name" : "agent_name", v);
            char *m = build(ov);
            aac_event_t ev;
            aac_event_error_t err;
            aac_reason_t r = aac_event_parse(p, "t", 0, 0, m, strlen(m), &ev, &err);
            if (r != cases[i].want)
                fail_msg("case %zu: %s %s", i, aac_reason_str(r), err.message);
            if (r == AAC_REASON_NONE) {
                aac_str_t s = f ? ev.action_name : ev.agent_name;
                size_t chars = 0;
                for (size_t k = 0; k < s.len; k++)
                    chars += ((unsigned char)s.ptr[k] & 0xC0) != 0x80;
                assert_int_equal(chars, cases[i].times);
            }
            free(m);
            free(v);
        }
    }
    aac_event_parser_destroy(p);
}

static void test_timestamps(void **state)
{
    (void)state;
    aac_event_parser_t *p = new_parser();
    static const struct {
        const char *ts;
        int64_t us; /* python3 datetime.fromisoformat(...).timestamp() * 1e6 */
        const char *norm;
    } cases[] = {
        {"2024-05-01T12:00:00Z", INT64_C(1714564800000000), "2024-05-01T12:00:00.000000Z"},
        {"2024-05-01t12:00:00z", INT64_C(1714564800000000), NULL},
        {"2024-05-01 12:00:00Z", INT64_C(1714564800000000), NULL},
        {"2024-05-01T12:00:00.5Z", INT64_C(1714564800500000), "2024-05-01T12:00:00.500000Z"},
        {"2024-05-01T12:00:00.000001Z", INT64_C(1714564800000001), NULL},
        {"2024-05-01T17:45:00+05:45", INT64_C(1714564800000000), NULL},
        {"2024-05-01T12:00:00-00:00", INT64_C(1714564800000000), NULL},
        {"2024-05-02T02:00:00+14:00", INT64_C(1714564800000000), NULL},
        {"2024-05-01T00:00:00-12:00", INT64_C(1714564800000000), NULL},
        {"2024-02-29T00:00:00Z", INT64_C(1709164800000000), "2024-02-29T00:00:00.000000Z"},
        {"2000-02-29T00:00:00Z", INT64_C(951782400000000), NULL},
        {"1970-01-01T00:00:00Z", 0, "1970-01-01T00:00:00.000000Z"},
        {"1969-12-31T23:59:59.999999Z", -1, "1969-12-31T23:59:59.999999Z"},
        {"0001-01-01T00:00:00Z", INT64_C(-62135596800000000), "0001-01-01T00:00:00.000000Z"},
        {"9999-12-31T23:59:59.999999Z", INT64_C(253402300799999999), "9999-12-31T23:59:59.999999Z"},
        /* leap second: the next minute's first instant, as PostgreSQL does */
        {"2016-12-31T23:59:60Z", INT64_C(1483228800000000), "2017-01-01T00:00:00.000000Z"},
        {"2016-12-31T23:59:60.5Z", INT64_C(1483228800500000), NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char ov[128];
        snprintf(ov, sizeof ov, "timestamp=\"%s\"", cases[i].ts);
        char *m = build(ov);
        aac_event_t ev = parse_ok(p, m);
        if (ev.timestamp_us != cases[i].us)
            fail_msg("%s: got %lld", cases[i].ts, (long long)ev.timestamp_us);
        if (cases[i].norm) {
            char out[32];
            aac_rfc3339_format(ev.timestamp_us, 6, out);
            assert_string_equal(out, cases[i].norm);
        }
        free(m);
    }
    aac_event_parser_destroy(p);
}

static void test_durations_and_bools(void **state)
{
    (void)state;
    aac_event_parser_t *p = new_parser();
    char *m = build("duration_ms=0\ndebug_mode=true");
    aac_event_t ev = parse_ok(p, m);
    assert_true(ev.has_duration_ms);
    assert_int_equal(ev.duration_ms, 0);
    assert_int_equal(ev.debug_mode, 1);
    free(m);
    m = build("duration_ms=2147483647");
    ev = parse_ok(p, m);
    assert_int_equal(ev.duration_ms, 2147483647);
    free(m);
    m = build("duration_ms=-0");
    ev = parse_ok(p, m);
    assert_int_equal(ev.duration_ms, 0);
    free(m);
    aac_event_parser_destroy(p);
}

static void test_extra_kept_exactly(void **state)
{
    (void)state;
    aac_event_parser_t *p = new_parser();
    /* raw values and keys as in the input, whitespace between members
     * dropped, escapes kept */
    const char *msg =
        "{ \"z_first\" : 1.50 , \"correlation_id\":\"7c9e6679-7425-40de-944b-e07fc1f90ae7\","
        "\"agent_name\":\"a\",\"tags\": [ \"x\", {\"k\" : null} ] ,\"action_type\":\"error\","
        "\"action_name\":\"b\",\"timestamp\":\"2024-05-01T12:00:00Z\",\"n\\u00e9\":\"v\\\"q\","
        "\"t\":true,\"f\":false,\"nul\":null,\"o\":{},\"action_details\":{ \"a\" : [1, 2] } }";
    aac_event_t ev = parse_ok(p, msg);
    assert_str(ev.extra, "{\"z_first\":1.50,\"tags\":[ \"x\", {\"k\" : null} ],"
                         "\"n\\u00e9\":\"v\\\"q\",\"t\":true,\"f\":false,\"nul\":null,\"o\":{}}");
    assert_int_equal(ev.extra_count, 7);
    assert_str(ev.action_details, "{ \"a\" : [1, 2] }");
    assert_int_equal(ev.action_type, AAC_ACTION_ERROR);
    aac_event_parser_destroy(p);
}

static void test_project_name(void **state)
{
    (void)state;
    aac_event_parser_t *p = new_parser();
    static const struct {
        const char *path; /* JSON string body */
        const char *name; /* NULL: none */
    } cases[] = {
        {"/home/dev/acme", "acme"},
        {"/home/dev/acme/", "acme"},
        {"/home/dev/acme///", "acme"},
        {"acme", "acme"},
        {"/", NULL},
        {"", NULL},
        {"C:\\\\work\\\\acme", "acme"},
        {"C:\\\\work\\\\acme\\\\", "acme"},
        {"C:\\\\", NULL},
        {"/srv/caf\xc3\xa9", "caf\xc3\xa9"},
        {"/srv/a\\u00e9", "a\xc3\xa9"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char ov[256];
        snprintf(ov, sizeof ov, "project_path=\"%s\"", cases[i].path);
        char *m = build(ov);
        aac_event_t ev = parse_ok(p, m);
        assert_str(ev.project_name, cases[i].name);
        free(m);
    }
    /* an explicit project_name wins, even an empty one */
    char *m = build("project_name=\"given\"");
    aac_event_t ev = parse_ok(p, m);
    assert_str(ev.project_name, "given");
    free(m);
    /* a derived name longer than 255 characters is cut to 255 */
    char *seg = repeat("\xc3\xa9", 300);
    seg[strlen(seg) - 1] = '\0'; /* drop the closing quote */
    char ov[2048];
    snprintf(ov, sizeof ov, "project_path=\"/x/%s\"", seg + 1);
    m = build(ov);
    ev = parse_ok(p, m);
    assert_int_equal(ev.project_name.len, 255 * 2);
    free(m);
    free(seg);
    aac_event_parser_destroy(p);
}

/* Strings with escapes are decoded into the arena; the input buffer may be
 * reused by the caller right after the call. */
static void test_strings_survive_input_reuse(void **state)
{
    (void)state;
    aac_event_parser_t *p = new_parser();
    char *m = build("agent_name=\"plan\\u00e9r\"\naction_name=\"x\\ty\"");
    aac_event_t ev = parse_ok(p, m);
    memset(m, 'X', strlen(m));
    assert_str(ev.agent_name, "plan\xc3\xa9r");
    assert_str(ev.action_name, "x\ty");
    assert_str(ev.project_name, "acme");
    free(m);
    aac_event_parser_destroy(p);
}

/* The error path and message stay bounded and valid for hostile keys. */
static void test_error_bounds(void **state)
{
    (void)state;
    aac_event_parser_t *p = new_parser();
    char key[400];
    memset(key, 'k', sizeof key - 1);
    key[sizeof key - 1] = '\0';
    char msg[2048];
    snprintf(msg, sizeof msg,
             "{\"action_details\":{\"%s\":{\"\xe6\x97\xa5\xe6\x97\xa5\":1,\"\xe6\x97\xa5\xe6\x97"
             "\xa5\":2}}}",
             key);
    aac_event_t ev;
    aac_event_error_t err;
    aac_reason_t r = aac_event_parse(p, "t", 0, 0, msg, strlen(msg), &ev, &err);
    assert_int_equal(r, AAC_REASON_DUPLICATE_KEY);
    assert_true(strlen(err.path) < sizeof err.path);
    assert_non_null(strstr(err.path, "..."));
    /* a long bad value is quoted at most ~40 bytes */
    char *v = repeat("z", 300);
    char ov[512];
    snprintf(ov, sizeof ov, "correlation_id=%s", v);
    char *m = build(ov);
    r = aac_event_parse(p, "t", 0, 0, m, strlen(m), &ev, &err);
    assert_int_equal(r, AAC_REASON_INVALID_UUID);
    assert_true(strlen(err.message) < 150);
    assert_non_null(strstr(err.message, "...\""));
    free(v);
    free(m);
    aac_event_parser_destroy(p);
}

/* Growing: a big message after small ones, then small again; the parser
 * must stay correct across arena and key-table growth. */
static void test_growth(void **state)
{
    (void)state;
    aac_event_limits_t lim = {.max_message_bytes = 4 << 20, .max_depth = 32};
    aac_event_parser_t *p = aac_event_parser_new(&lim);
    assert_non_null(p);
    char *small = build(NULL);
    parse_ok(p, small);
    size_t cap = 3 << 20;
    char *big = malloc(cap);
    assert_non_null(big);
    size_t n = (size_t)snprintf(big, cap, "{\"big\":{");
    for (int i = 0; i < 60000; i++)
        n += (size_t)snprintf(big + n, cap - n, "%s\"k%d\":\"v\\u00e9%d\"", i ? "," : "", i, i);
    n += (size_t)snprintf(big + n, cap - n, "},%s", small + 1);
    aac_event_t ev = parse_ok(p, big);
    assert_true(ev.extra.len > 60000 * 8);
    assert_int_equal(ev.extra_count, 1);
    /* a duplicate far apart in a large object: k1 again at its end */
    size_t m = (size_t)snprintf(big, cap, "{\"big\":{");
    for (int i = 0; i < 60000; i++)
        m += (size_t)snprintf(big + m, cap - m, "%s\"k%d\":\"v\u00e9%d\"", i ? "," : "", i, i);
    m += (size_t)snprintf(big + m, cap - m, ",\"k1\":1},%s", small + 1);
    aac_event_error_t derr;
    assert_int_equal(aac_event_parse(p, "t", 0, 0, big, m, &ev, &derr), AAC_REASON_DUPLICATE_KEY);
    assert_string_equal(derr.path, "$.big.k1");
    char *dup = malloc(cap);
    assert_non_null(dup);
    int dn = snprintf(dup, cap, "{\"x\":{");
    for (int i = 0; i < 50000; i++)
        dn += snprintf(dup + dn, cap - (size_t)dn, "%s\"k%d\":%d", i ? "," : "", i, i);
    dn += snprintf(dup + dn, cap - (size_t)dn, ",\"k7\":0}}");
    aac_event_error_t err;
    assert_int_equal(aac_event_parse(p, "t", 0, 0, dup, (size_t)dn, &ev, &err),
                     AAC_REASON_DUPLICATE_KEY);
    assert_string_equal(err.path, "$.x.k7");
    for (int i = 0; i < 3; i++)
        parse_ok(p, small);
    free(dup);
    free(big);
    free(small);
    aac_event_parser_destroy(p);
}

static void test_defaults_and_null(void **state)
{
    (void)state;
    aac_event_parser_t *p = aac_event_parser_new(NULL);
    assert_non_null(p);
    aac_event_t ev;
    aac_event_error_t err;
    assert_int_equal(aac_event_parse(p, NULL, 0, 0, NULL, 0, &ev, &err), AAC_REASON_EMPTY_MESSAGE);
    char *m = build(NULL);
    assert_int_equal(aac_event_parse(p, NULL, 0, 0, m, strlen(m), &ev, NULL), AAC_REASON_NONE);
    free(m);
    aac_event_parser_destroy(p);
    aac_event_parser_destroy(NULL);
    assert_string_equal(aac_action_type_str(AAC_ACTION_DECISION), "decision");
    assert_string_equal(aac_action_type_str(AAC_ACTION__CNT), "unknown");
}

/* ---- Confluent framing (event.framing) ---- */

/* frame(id) + json into buf; returns its length. */
static size_t framed(char *buf, size_t cap, uint32_t id, const char *json)
{
    size_t n = strlen(json);
    assert_true(n + 5 <= cap);
    buf[0] = 0;
    buf[1] = (char)(id >> 24);
    buf[2] = (char)(id >> 16);
    buf[3] = (char)(id >> 8);
    buf[4] = (char)id;
    memcpy(buf + 5, json, n);
    return n + 5;
}

static aac_event_parser_t *framing_parser(aac_event_framing_t f)
{
    aac_event_parser_t *p = new_parser();
    aac_event_parser_set_framing(p, f);
    return p;
}

typedef struct {
    const char *name;
    aac_event_framing_t framing;
    const char *raw; /* the value; NUL bytes included, so raw_len */
    size_t raw_len;
    aac_reason_t want;
    const char *msg_has;
} frame_case_t;

#define RAW(s) s, sizeof s - 1

static void test_framing_rejections(void **state)
{
    (void)state;
    const aac_event_framing_t A = AAC_EVENT_FRAMING_AUTO, N = AAC_EVENT_FRAMING_NONE,
                              C = AAC_EVENT_FRAMING_CONFLUENT;
    const frame_case_t cases[] = {
        /* a frame cut short: its own reason, in both modes that read frames */
        {"0x00 alone", A, RAW("\0"), AAC_REASON_INVALID_FRAME,
         "confluent frame needs 5 bytes (magic byte 0x00, 4-byte schema id), got 1"},
        {"2 bytes", A, RAW("\0\0"), AAC_REASON_INVALID_FRAME, "got 2"},
        {"3 bytes", C, RAW("\0\0\0"), AAC_REASON_INVALID_FRAME, "needs 5 bytes"},
        {"4 bytes", A, RAW("\0\0\0*"), AAC_REASON_INVALID_FRAME, "got 4"},
        {"4 bytes, confluent", C, RAW("\0\0\0\0"), AAC_REASON_INVALID_FRAME, "got 4"},
        /* a whole frame and nothing (or only whitespace) after it */
        {"frame only", A, RAW("\0\0\0\0\x2a"), AAC_REASON_EMPTY_MESSAGE,
         "message is empty after its confluent frame (schema id 42); expected a JSON object"},
        {"frame then spaces", C, RAW("\0\0\0\0\x2a \n"), AAC_REASON_EMPTY_MESSAGE, "schema id 42"},
        /* confluent: a message without the frame */
        {"confluent, plain json", C, RAW("{\"a\":1}"), AAC_REASON_MISSING_FRAME,
         "message has no confluent frame: it starts with byte 0x7b, not the magic byte 0x00 "
         "(event.framing is confluent)"},
        {"confluent, whitespace", C, RAW(" "), AAC_REASON_MISSING_FRAME, "byte 0x20"},
        {"confluent, magic byte 1", C, RAW("\x01\0\0\0\x2a{}"), AAC_REASON_MISSING_FRAME,
         "byte 0x01"},
        /* zero bytes are empty in every mode */
        {"confluent, empty", C, "", 0, AAC_REASON_EMPTY_MESSAGE, "message is empty"},
        {"auto, empty", A, "", 0, AAC_REASON_EMPTY_MESSAGE, "message is empty"},
        /* none: a frame is what it was before framing existed, a NUL byte */
        {"none, framed", N, RAW("\0\0\0\0\x2a{\"a\":1}"), AAC_REASON_NUL_CHARACTER,
         "message contains a NUL byte at byte 0; it starts like a confluent frame (schema id "
         "42), which event.framing none does not read"},
        {"none, 0x00 alone", N, RAW("\0"), AAC_REASON_NUL_CHARACTER,
         "message contains a NUL byte at byte 0"},
        /* what follows a frame is checked as any message, positions
         * counted from the start of the value */
        {"framed, invalid json", A, RAW("\0\0\0\0\x2a{\"a\":}"), AAC_REASON_INVALID_JSON,
         "unallowed token at this point in JSON text at byte 11"},
        {"framed, truncated json", A, RAW("\0\0\0\0\x2a{\"a\":1"), AAC_REASON_INVALID_JSON,
         "premature EOF at byte 11"},
        {"framed, invalid utf8", A, RAW("\0\0\0\0\x2a{\"a\":\"\xc3(\"}"), AAC_REASON_INVALID_UTF8,
         "byte 0xc3 at byte 11"},
        {"framed, vertical tab", C, RAW("\0\0\0\0\x2a{\v}"), AAC_REASON_INVALID_JSON,
         "vertical tab at byte 6"},
        {"framed, NUL inside", A, RAW("\0\0\0\0\x2a{\"a\":\"\0\"}"), AAC_REASON_NUL_CHARACTER,
         "NUL byte at byte 11"},
        {"two frames", A, RAW("\0\0\0\0\x2a\0\0\0\0\x2b{}"), AAC_REASON_NUL_CHARACTER,
         "message contains a NUL byte at byte 5"},
        {"framed array", C, RAW("\0\0\0\0\x2a[1]"), AAC_REASON_NOT_AN_OBJECT, "array"},
        {"framed, missing field", A, RAW("\0\0\0\0\x2a{}"), AAC_REASON_MISSING_FIELD,
         "correlation_id is required"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const frame_case_t *c = &cases[i];
        aac_event_parser_t *p = framing_parser(c->framing);
        aac_event_t ev;
        aac_event_error_t err;
        aac_reason_t r = aac_event_parse(p, "t", 0, 0, c->raw, c->raw_len, &ev, &err);
        if (r != c->want || !strstr(err.message, c->msg_has))
            fail_msg("case '%s': got %s %s: %s (want %s containing %s)", c->name, aac_reason_str(r),
                     err.path, err.message, aac_reason_str(c->want), c->msg_has);
        assert_null(strchr(err.message, '\n'));
        aac_event_parser_destroy(p);
    }
}

/* The frame is stripped, its schema id read and kept as the last member
 * of extra (after the producer's own, whose count it does not change);
 * plain JSON is read exactly as before in auto. */
static void test_framing_accepted(void **state)
{
    (void)state;
    static char buf[1 << 16];
    char *m = build(NULL);
    char *mx = build("z_first=1.50\ntags=[ \"x\" ]");

    aac_event_parser_t *autop = framing_parser(AAC_EVENT_FRAMING_AUTO);
    aac_event_parser_t *conf = framing_parser(AAC_EVENT_FRAMING_CONFLUENT);
    aac_event_parser_t *none = framing_parser(AAC_EVENT_FRAMING_NONE);
    aac_event_parser_t *ps[] = {autop, conf};
    for (size_t k = 0; k < 2; k++) {
        aac_event_t ev;
        aac_event_error_t err;
        size_t n = framed(buf, sizeof buf, 42, m);
        assert_int_equal(aac_event_parse(ps[k], "t", 0, 0, buf, n, &ev, &err), AAC_REASON_NONE);
        assert_true(ev.has_schema_id);
        assert_int_equal(ev.schema_id, 42);
        assert_str(ev.extra, "{\"_aac_confluent_schema_id\":42}");
        assert_int_equal(ev.extra_count, 0);
        assert_str(ev.agent_name, "planner");
        assert_str(ev.action_details, "{\"path\":\"/src/main.c\",\"lines\":[1,20]}");

        /* every byte of the id counts, big-endian, unsigned */
        n = framed(buf, sizeof buf, 0x01020304u, mx);
        assert_int_equal(aac_event_parse(ps[k], "t", 0, 0, buf, n, &ev, &err), AAC_REASON_NONE);
        assert_int_equal(ev.schema_id, 16909060);
        assert_str(ev.extra, "{\"z_first\":1.50,\"tags\":[ \"x\" ],"
                             "\"_aac_confluent_schema_id\":16909060}");
        assert_int_equal(ev.extra_count, 2);
        n = framed(buf, sizeof buf, UINT32_MAX, mx);
        assert_int_equal(aac_event_parse(ps[k], "t", 0, 0, buf, n, &ev, &err), AAC_REASON_NONE);
        assert_str(ev.extra, "{\"z_first\":1.50,\"tags\":[ \"x\" ],"
                             "\"_aac_confluent_schema_id\":4294967295}");
        n = framed(buf, sizeof buf, 0, m);
        assert_int_equal(aac_event_parse(ps[k], "t", 0, 0, buf, n, &ev, &err), AAC_REASON_NONE);
        assert_true(ev.has_schema_id);
        assert_int_equal(ev.schema_id, 0);
        assert_str(ev.extra, "{\"_aac_confluent_schema_id\":0}");
    }

    /* auto and none read plain JSON the same way: no id, extra unchanged */
    aac_event_parser_t *plain[] = {autop, none};
    for (size_t k = 0; k < 2; k++) {
        aac_event_t ev;
        aac_event_error_t err;
        assert_int_equal(aac_event_parse(plain[k], "t", 0, 0, mx, strlen(mx), &ev, &err),
                         AAC_REASON_NONE);
        assert_false(ev.has_schema_id);
        assert_str(ev.extra, "{\"z_first\":1.50,\"tags\":[ \"x\" ]}");
        assert_int_equal(aac_event_parse(plain[k], "t", 0, 0, m, strlen(m), &ev, &err),
                         AAC_REASON_NONE);
        assert_int_equal(ev.extra.len, 0);
    }

    /* a framed message then a plain one on the same parser: nothing of
     * the frame is left over */
    aac_event_t ev;
    aac_event_error_t err;
    size_t n = framed(buf, sizeof buf, 7, m);
    assert_int_equal(aac_event_parse(autop, "t", 0, 0, buf, n, &ev, &err), AAC_REASON_NONE);
    assert_int_equal(aac_event_parse(autop, "t", 0, 0, m, strlen(m), &ev, &err), AAC_REASON_NONE);
    assert_false(ev.has_schema_id);
    assert_int_equal(ev.extra.len, 0);

    /* event.max_message_bytes counts the frame: 8192 bytes of value */
    static char pad[8200];
    size_t jl = 8192 - 5;
    pad[0] = '{';
    memset(pad + 1, ' ', jl - 2);
    pad[jl - 1] = '}';
    pad[jl] = '\0';
    n = framed(buf, sizeof buf, 1, pad);
    assert_int_equal(n, 8192);
    assert_int_equal(aac_event_parse(autop, "t", 0, 0, buf, n, &ev, &err),
                     AAC_REASON_MISSING_FIELD);
    pad[jl - 1] = ' ';
    pad[jl] = '}';
    pad[jl + 1] = '\0';
    n = framed(buf, sizeof buf, 1, pad);
    assert_int_equal(aac_event_parse(autop, "t", 0, 0, buf, n, &ev, &err), AAC_REASON_TOO_LARGE);
    assert_non_null(strstr(err.message, "message is 8193 bytes, more than the limit of 8192"));

    /* an unknown framing is taken as auto */
    aac_event_parser_set_framing(none, (aac_event_framing_t)77);
    n = framed(buf, sizeof buf, 9, m);
    assert_int_equal(aac_event_parse(none, "t", 0, 0, buf, n, &ev, &err), AAC_REASON_NONE);
    assert_int_equal(ev.schema_id, 9);

    aac_event_parser_destroy(autop);
    aac_event_parser_destroy(conf);
    aac_event_parser_destroy(none);
    free(m);
    free(mx);
}

/* The frame rule on its own (the dlq tools use it), and the names. */
static void test_frame_read_and_names(void **state)
{
    (void)state;
    uint32_t id = 12345;
    assert_int_equal(aac_event_frame_read(NULL, 0, &id), AAC_EVENT_FRAME_ABSENT);
    assert_int_equal(aac_event_frame_read("", 0, &id), AAC_EVENT_FRAME_ABSENT);
    assert_int_equal(aac_event_frame_read("{}", 2, &id), AAC_EVENT_FRAME_ABSENT);
    assert_int_equal(aac_event_frame_read("\x01\0\0\0\x01", 5, &id), AAC_EVENT_FRAME_ABSENT);
    for (size_t n = 1; n < 5; n++)
        assert_int_equal(aac_event_frame_read("\0\0\0\0\x01", n, &id), AAC_EVENT_FRAME_TRUNCATED);
    assert_int_equal(id, 12345); /* untouched unless a whole frame */
    assert_int_equal(aac_event_frame_read("\0\x80\0\x01\xff{}", 7, &id), AAC_EVENT_FRAME_OK);
    assert_int_equal(id, 0x800001ffu);

    aac_event_framing_t f = AAC_EVENT_FRAMING_NONE;
    assert_int_equal(aac_event_framing_parse("auto", &f), 0);
    assert_int_equal(f, AAC_EVENT_FRAMING_AUTO);
    assert_int_equal(aac_event_framing_parse("confluent", &f), 0);
    assert_int_equal(f, AAC_EVENT_FRAMING_CONFLUENT);
    assert_int_equal(aac_event_framing_parse("none", &f), 0);
    assert_int_equal(f, AAC_EVENT_FRAMING_NONE);
    assert_int_equal(aac_event_framing_parse("Auto", &f), -1);
    assert_int_equal(aac_event_framing_parse("", &f), -1);
    assert_int_equal(aac_event_framing_parse(NULL, &f), -1);
    assert_int_equal(f, AAC_EVENT_FRAMING_NONE);
    assert_string_equal(aac_event_framing_str(AAC_EVENT_FRAMING_AUTO), "auto");
    assert_string_equal(aac_event_framing_str(AAC_EVENT_FRAMING_NONE), "none");
    assert_string_equal(aac_event_framing_str(AAC_EVENT_FRAMING_CONFLUENT), "confluent");
    assert_string_equal(aac_event_framing_str(AAC_EVENT_FRAMING__CNT), "unknown");
}

/* The sample files: every line of valid.jsonl parses; each line of
 * invalid.jsonl fails with the reason (and path) in invalid.expected. */
static void test_sample_files(void **state)
{
    (void)state;
    aac_event_parser_t *p = aac_event_parser_new(NULL);
    assert_non_null(p);
    static char line[1 << 16];
    FILE *f = fopen(AAC_TEST_DATA_DIR "/events/valid.jsonl", "rb");
    assert_non_null(f);
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        size_t len = strcspn(line, "\n");
        n++;
        aac_event_t ev;
        aac_event_error_t err;
        aac_reason_t r = aac_event_parse(p, "t", 0, n, line, len, &ev, &err);
        if (r != AAC_REASON_NONE)
            fail_msg("valid.jsonl:%d: %s %s: %s", n, aac_reason_str(r), err.path, err.message);
    }
    fclose(f);
    assert_true(n >= 30);

    FILE *exp = fopen(AAC_TEST_DATA_DIR "/events/invalid.expected", "r");
    assert_non_null(exp);
    f = fopen(AAC_TEST_DATA_DIR "/events/invalid.jsonl", "rb");
    assert_non_null(f);
    char el[512];
    int lineno = 0, checked = 0;
    while (fgets(el, sizeof el, exp)) {
        int want_line;
        char want_reason[64], want_path[256];
        if (el[0] == '#' || sscanf(el, "%d: %63s %255s", &want_line, want_reason, want_path) != 3)
            continue;
        size_t len = 0;
        /* raw lines may hold NUL bytes: read byte by byte */
        while (lineno < want_line) {
            int c;
            len = 0;
            while ((c = fgetc(f)) != EOF && c != '\n')
                line[len++] = (char)c;
            lineno++;
            assert_true(c != EOF || lineno == want_line);
        }
        aac_event_t ev;
        aac_event_error_t err;
        aac_reason_t r = aac_event_parse(p, "t", 0, lineno, line, len, &ev, &err);
        if (strcmp(aac_reason_str(r), want_reason) != 0 ||
            (strcmp(want_path, "-") != 0 && strcmp(err.path, want_path) != 0))
            fail_msg("invalid.jsonl:%d: got %s %s, want %s %s", lineno, aac_reason_str(r), err.path,
                     want_reason, want_path);
        checked++;
    }
    fclose(f);
    fclose(exp);
    assert_true(checked >= 35);
    aac_event_parser_destroy(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rejections),
        cmocka_unit_test(test_valid_base),
        cmocka_unit_test(test_minimal_and_nulls),
        cmocka_unit_test(test_lengths_in_characters),
        cmocka_unit_test(test_timestamps),
        cmocka_unit_test(test_durations_and_bools),
        cmocka_unit_test(test_extra_kept_exactly),
        cmocka_unit_test(test_project_name),
        cmocka_unit_test(test_strings_survive_input_reuse),
        cmocka_unit_test(test_error_bounds),
        cmocka_unit_test(test_growth),
        cmocka_unit_test(test_defaults_and_null),
        cmocka_unit_test(test_sample_files),
        cmocka_unit_test(test_framing_rejections),
        cmocka_unit_test(test_framing_accepted),
        cmocka_unit_test(test_frame_read_and_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
