/*
 * test_copyrow: the COPY row encoder. The text row of a representative
 * event against the literal pgsink writes; the binary row decoded field by
 * field (count, NULL markers, uuid bytes, the timestamp's epoch shift on
 * both sides of 1970 and 2000, jsonb's version byte, big-endian integers of
 * each column's width); the bound against rows of maximal escaping, in
 * buffers of exactly the bound's size so AddressSanitizer sees any overrun.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "aac/copyrow.h"

#define S(lit) ((aac_str_t){lit, sizeof(lit) - 1})

static const uint8_t EVENT_ID[16] = {0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
                                     0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff};
static const uint8_t CORR_ID[16] = {0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x40, 0x00,
                                    0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01};
static const uint8_t SESSION_ID[16] = {0xf0, 0xe1, 0xd2, 0xc3, 0xb4, 0xa5, 0x96, 0x87,
                                       0x78, 0x69, 0x5a, 0x4b, 0x3c, 0x2d, 0x1e, 0x0f};

/* Every kind of field set, with bytes the text format must escape. */
static aac_event_t representative(void)
{
    aac_event_t ev;
    memset(&ev, 0, sizeof ev);
    memcpy(ev.event_id, EVENT_ID, 16);
    memcpy(ev.correlation_id, CORR_ID, 16);
    memcpy(ev.session_id, SESSION_ID, 16);
    ev.has_session_id = true;
    ev.agent_name = S("code\treviewer");
    ev.action_type = AAC_ACTION_DECISION;
    ev.action_name = S("bash\r");
    ev.action_details = S("{\"cmd\":\"ls\\n\",\"p\":\"C:\\\\w\"}");
    ev.duration_ms = 42;
    ev.has_duration_ms = true;
    ev.debug_mode = 1;
    ev.project_path = S("/home/dev/caf\xc3\xa9");
    ev.project_name = S("caf\xc3\xa9");
    ev.working_directory = S("/tmp/a\nb");
    ev.timestamp_us = INT64_C(1795255200123456); /* 2026-11-21T10:00:00.123456Z */
    ev.extra = S("{\"x\":1,\"y\":\"a\\tb\"}");
    ev.extra_count = 2;
    return ev;
}

/* Only what the parser always sets: every optional field absent. */
static aac_event_t minimal(void)
{
    aac_event_t ev;
    memset(&ev, 0, sizeof ev);
    memcpy(ev.event_id, EVENT_ID, 16);
    memcpy(ev.correlation_id, CORR_ID, 16);
    ev.agent_name = S("a");
    ev.action_type = AAC_ACTION_TOOL_CALL;
    ev.action_name = S("b");
    ev.debug_mode = -1;
    ev.timestamp_us = -1; /* 1969-12-31T23:59:59.999999Z */
    return ev;
}

/* Encodes into a heap buffer of exactly the bound (ASan catches overruns);
 * returns it, its length in *n. */
static char *encode(aac_copy_format_t f, const aac_event_t *ev, const char *topic,
                    int32_t partition, int64_t offset, size_t *n)
{
    size_t tlen = strlen(topic);
    size_t bound = aac_copyrow_bound(f, ev, tlen);
    char *buf = malloc(bound);
    assert_non_null(buf);
    char *end = aac_copyrow_put(buf, f, ev, topic, tlen, partition, offset);
    assert_true(end >= buf);
    *n = (size_t)(end - buf);
    assert_true(*n <= bound);
    return buf;
}

static void assert_text_row(const aac_event_t *ev, const char *topic, int32_t partition,
                            int64_t offset, const char *want)
{
    size_t n;
    char *row = encode(AAC_COPY_TEXT, ev, topic, partition, offset, &n);
    char *got = malloc(n + 1);
    assert_non_null(got);
    memcpy(got, row, n);
    got[n] = '\0';
    assert_string_equal(got, want);
    assert_int_equal(n, strlen(want));
    free(got);
    free(row);
}

static void test_text_representative(void **state)
{
    (void)state;
    aac_event_t ev = representative();
    assert_text_row(&ev, "agent-actions", 3, 12345,
                    "00112233-4455-6677-8899-aabbccddeeff\t"
                    "10000000-0000-4000-8000-000000000001\t"
                    "f0e1d2c3-b4a5-9687-7869-5a4b3c2d1e0f\t"
                    "code\\treviewer\t"
                    "decision\t"
                    "bash\\r\t"
                    "{\"cmd\":\"ls\\\\n\",\"p\":\"C:\\\\\\\\w\"}\t"
                    "42\t"
                    "t\t"
                    "/home/dev/caf\xc3\xa9\t"
                    "caf\xc3\xa9\t"
                    "/tmp/a\\nb\t"
                    "2026-11-21 10:00:00.123456+00\t"
                    "{\"x\":1,\"y\":\"a\\\\tb\"}\t"
                    "agent-actions\t"
                    "3\t"
                    "12345\n");
}

static void test_text_absent_fields(void **state)
{
    (void)state;
    aac_event_t ev = minimal();
    ev.project_name = S(""); /* present but empty: "", not \N */
    assert_text_row(&ev, "t\\x", -7, INT64_MAX,
                    "00112233-4455-6677-8899-aabbccddeeff\t"
                    "10000000-0000-4000-8000-000000000001\t"
                    "\\N\t"
                    "a\t"
                    "tool_call\t"
                    "b\t"
                    "{}\t"
                    "\\N\t"
                    "\\N\t"
                    "\\N\t"
                    "\t"
                    "\\N\t"
                    "1969-12-31 23:59:59.999999+00\t"
                    "\\N\t"
                    "t\\\\x\t"
                    "-7\t"
                    "9223372036854775807\n");
}

static void test_text_timestamps(void **state)
{
    (void)state;
    static const struct {
        int64_t us;
        const char *want;
    } cases[] = {
        {0, "1970-01-01 00:00:00.000000+00"},
        {-1, "1969-12-31 23:59:59.999999+00"},
        {INT64_C(946684799999999), "1999-12-31 23:59:59.999999+00"},
        {INT64_C(946684800000000), "2000-01-01 00:00:00.000000+00"},
        {INT64_C(-2203932303999999), "1900-02-28 12:34:56.000001+00"},
        {INT64_C(-62135596800000000), "0001-01-01 00:00:00.000000+00"},
        {INT64_C(253402300799999999), "9999-12-31 23:59:59.999999+00"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        aac_event_t ev = minimal();
        ev.timestamp_us = cases[i].us;
        size_t n;
        char *row = encode(AAC_COPY_TEXT, &ev, "t", 0, 0, &n);
        /* the 13th column: after 12 tabs */
        const char *p = row;
        for (int tabs = 0; tabs < 12; p++)
            tabs += *p == '\t';
        assert_memory_equal(p, cases[i].want, strlen(cases[i].want));
        assert_int_equal(p[strlen(cases[i].want)], '\t');
        free(row);
    }
}

/* --- binary decoding ---------------------------------------------------- */

typedef struct field_s {
    int32_t len; /* -1: NULL */
    const uint8_t *p;
} field_t;

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const uint8_t *p)
{
    return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

/* Splits one binary tuple of n bytes into its fields; checks the field
 * count and that the fields use up exactly n bytes. */
static void decode(const char *row, size_t n, field_t f[AAC_COPYROW_NCOLUMNS])
{
    const uint8_t *p = (const uint8_t *)row, *end = p + n;
    assert_true(n >= 2);
    assert_int_equal((p[0] << 8) | p[1], 17);
    p += 2;
    for (int i = 0; i < AAC_COPYROW_NCOLUMNS; i++) {
        assert_true(end - p >= 4);
        f[i].len = (int32_t)be32(p);
        p += 4;
        f[i].p = p;
        if (f[i].len >= 0) {
            assert_true(end - p >= f[i].len);
            p += f[i].len;
        } else {
            assert_int_equal(f[i].len, -1);
        }
    }
    assert_ptr_equal(p, end);
}

static void assert_field(const field_t *f, const void *want, size_t n)
{
    assert_int_equal(f->len, (int32_t)n);
    assert_memory_equal(f->p, want, n);
}

enum {
    C_EVENT_ID,
    C_CORRELATION_ID,
    C_SESSION_ID,
    C_AGENT_NAME,
    C_ACTION_TYPE,
    C_ACTION_NAME,
    C_ACTION_DETAILS,
    C_DURATION_MS,
    C_DEBUG_MODE,
    C_PROJECT_PATH,
    C_PROJECT_NAME,
    C_WORKING_DIRECTORY,
    C_EVENT_TIME,
    C_EXTRA,
    C_KAFKA_TOPIC,
    C_KAFKA_PARTITION,
    C_KAFKA_OFFSET,
};

static void test_binary_representative(void **state)
{
    (void)state;
    aac_event_t ev = representative();
    size_t n;
    char *row =
        encode(AAC_COPY_BINARY, &ev, "agent-actions", 0x01020304, INT64_C(0x0102030405060708), &n);
    field_t f[AAC_COPYROW_NCOLUMNS];
    decode(row, n, f);
    assert_field(&f[C_EVENT_ID], EVENT_ID, 16);
    assert_field(&f[C_CORRELATION_ID], CORR_ID, 16);
    assert_field(&f[C_SESSION_ID], SESSION_ID, 16);
    assert_field(&f[C_AGENT_NAME], "code\treviewer", 13); /* raw bytes, no escaping */
    assert_field(&f[C_ACTION_TYPE], "decision", 8);
    assert_field(&f[C_ACTION_NAME], "bash\r", 5);
    static const char details[] = "\001{\"cmd\":\"ls\\n\",\"p\":\"C:\\\\w\"}";
    assert_field(&f[C_ACTION_DETAILS], details, sizeof details - 1);
    assert_field(&f[C_DURATION_MS], "\0\0\0\x2a", 4);
    assert_field(&f[C_DEBUG_MODE], "\001", 1);
    assert_field(&f[C_PROJECT_PATH], "/home/dev/caf\xc3\xa9", 15);
    assert_field(&f[C_PROJECT_NAME], "caf\xc3\xa9", 5);
    assert_field(&f[C_WORKING_DIRECTORY], "/tmp/a\nb", 8);
    assert_int_equal(f[C_EVENT_TIME].len, 8);
    assert_int_equal(be64(f[C_EVENT_TIME].p), INT64_C(848570400123456));
    static const char extra[] = "\001{\"x\":1,\"y\":\"a\\tb\"}";
    assert_field(&f[C_EXTRA], extra, sizeof extra - 1);
    assert_field(&f[C_KAFKA_TOPIC], "agent-actions", 13);
    assert_field(&f[C_KAFKA_PARTITION], "\x01\x02\x03\x04", 4);
    assert_field(&f[C_KAFKA_OFFSET], "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
    free(row);
}

static void test_binary_absent_fields(void **state)
{
    (void)state;
    aac_event_t ev = minimal();
    ev.project_name = S(""); /* present but empty: length 0, not -1 */
    ev.debug_mode = 0;
    size_t n;
    char *row = encode(AAC_COPY_BINARY, &ev, "t", -1, 0, &n);
    field_t f[AAC_COPYROW_NCOLUMNS];
    decode(row, n, f);
    assert_int_equal(f[C_SESSION_ID].len, -1);
    assert_field(&f[C_ACTION_TYPE], "tool_call", 9);
    assert_field(&f[C_ACTION_DETAILS], "\001{}", 3); /* absent: '{}' as in text */
    assert_int_equal(f[C_DURATION_MS].len, -1);
    assert_field(&f[C_DEBUG_MODE], "\0", 1);
    assert_int_equal(f[C_PROJECT_PATH].len, -1);
    assert_int_equal(f[C_PROJECT_NAME].len, 0);
    assert_int_equal(f[C_WORKING_DIRECTORY].len, -1);
    assert_int_equal(f[C_EXTRA].len, -1);
    assert_field(&f[C_KAFKA_PARTITION], "\xff\xff\xff\xff", 4);
    assert_field(&f[C_KAFKA_OFFSET], "\0\0\0\0\0\0\0\0", 8);
    /* the NULLs are the only fields without bytes */
    int nulls = 0;
    for (int i = 0; i < AAC_COPYROW_NCOLUMNS; i++)
        nulls += f[i].len == -1;
    assert_int_equal(nulls, 5); /* session, duration, path, directory, extra */
    free(row);
}

/* timestamptz: microseconds since 2000-01-01 00:00:00 UTC. */
static void test_binary_timestamps(void **state)
{
    (void)state;
    static const struct {
        int64_t unix_us;
        int64_t pg_us;
    } cases[] = {
        {INT64_C(946684800000000), 0},                              /* 2000-01-01 */
        {INT64_C(946684799999999), -1},                             /* 1999-12-31T23:59:59.999999 */
        {0, INT64_C(-946684800000000)},                             /* 1970-01-01 */
        {-1, INT64_C(-946684800000001)},                            /* 1969-12-31T23:59:59.999999 */
        {INT64_C(-2203932303999999), INT64_C(-3150617103999999)},   /* 1900-02-28 */
        {INT64_C(-62135596800000000), INT64_C(-63082281600000000)}, /* 0001-01-01 */
        {INT64_C(253402300799999999), INT64_C(252455615999999999)}, /* 9999-12-31 */
        {INT64_C(1795255200123456), INT64_C(848570400123456)},      /* 2026-11-21 */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        aac_event_t ev = minimal();
        ev.timestamp_us = cases[i].unix_us;
        size_t n;
        char *row = encode(AAC_COPY_BINARY, &ev, "t", 0, 0, &n);
        field_t f[AAC_COPYROW_NCOLUMNS];
        decode(row, n, f);
        assert_int_equal(f[C_EVENT_TIME].len, 8);
        assert_int_equal(be64(f[C_EVENT_TIME].p), cases[i].pg_us);
        free(row);
    }
}

/* integer columns are int4 (4 bytes), bigint int8 (8), big-endian. */
static void test_binary_integers(void **state)
{
    (void)state;
    static const struct {
        int64_t duration;
        int32_t partition;
        int64_t offset;
        const char *dur, *part, *off;
        int dur_len;
    } cases[] = {
        {0, 0, 0, "\0\0\0\0", "\0\0\0\0", "\0\0\0\0\0\0\0\0", 4},
        {2147483647, 2147483647, INT64_MAX, "\x7f\xff\xff\xff", "\x7f\xff\xff\xff",
         "\x7f\xff\xff\xff\xff\xff\xff\xff", 4},
        {-2147483647 - 1, -2147483647 - 1, INT64_MIN, "\x80\0\0\0", "\x80\0\0\0",
         "\x80\0\0\0\0\0\0\0", 4},
        {-2, 258, 65536 + 255, "\xff\xff\xff\xfe", "\0\0\x01\x02", "\0\0\0\0\0\x01\0\xff", 4},
        /* outside int4: 8 bytes, which the integer column refuses */
        {INT64_C(2147483648), 1, 1, "\0\0\0\0\x80\0\0\0", "\0\0\0\x01", "\0\0\0\0\0\0\0\x01", 8},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        aac_event_t ev = minimal();
        ev.has_duration_ms = true;
        ev.duration_ms = cases[i].duration;
        size_t n;
        char *row = encode(AAC_COPY_BINARY, &ev, "t", cases[i].partition, cases[i].offset, &n);
        field_t f[AAC_COPYROW_NCOLUMNS];
        decode(row, n, f);
        assert_field(&f[C_DURATION_MS], cases[i].dur, (size_t)cases[i].dur_len);
        assert_field(&f[C_KAFKA_PARTITION], cases[i].part, 4);
        assert_field(&f[C_KAFKA_OFFSET], cases[i].off, 8);
        free(row);
    }
}

/* --- the bound ------------------------------------------------------------ */

/* Every string field made of bytes the text format doubles, every number
 * at its longest, an action_type out of range: the worst case of each
 * part, for several lengths. */
static void test_bound_worst_case(void **state)
{
    (void)state;
    static const char esc[] = "\\\t\n\r";
    for (size_t len = 0; len <= 4096; len = len ? len * 4 : 1) {
        char *s = malloc(len + 1);
        assert_non_null(s);
        for (size_t i = 0; i < len; i++)
            s[i] = esc[i % 4];
        s[len] = '\0';
        aac_str_t str = {s, len};
        aac_event_t ev = minimal();
        ev.has_session_id = true;
        ev.agent_name = ev.action_name = ev.action_details = str;
        ev.project_path = ev.project_name = ev.working_directory = ev.extra = str;
        ev.action_type = AAC_ACTION__CNT; /* "unknown" */
        ev.has_duration_ms = true;
        ev.duration_ms = INT64_MIN;
        ev.debug_mode = 0;
        ev.timestamp_us = INT64_C(-62135596800000000);
        for (int f = AAC_COPY_TEXT; f <= AAC_COPY_BINARY; f++) {
            size_t n;
            char *row = encode((aac_copy_format_t)f, &ev, s, INT32_MIN, INT64_MIN, &n);
            if (f == AAC_COPY_TEXT) {
                /* each of the 8 strings doubled, exactly */
                assert_true(n >= 16 * len);
                assert_true(n <= 16 * len + 256);
            } else {
                assert_true(n >= 8 * len);
            }
            free(row);
        }
        /* the absent forms too ("\N", "{}") */
        aac_event_t ab = minimal();
        ab.action_type = (aac_action_type_t)-1;
        for (int f = AAC_COPY_TEXT; f <= AAC_COPY_BINARY; f++) {
            size_t n;
            free(encode((aac_copy_format_t)f, &ab, s, INT32_MIN, INT64_MIN, &n));
        }
        free(s);
    }
}

static void test_header_trailer_options(void **state)
{
    (void)state;
    size_t n = 99;
    const char *h = aac_copyrow_header(AAC_COPY_BINARY, &n);
    assert_int_equal(n, 19);
    assert_memory_equal(h, "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0", 19);
    const char *t = aac_copyrow_trailer(AAC_COPY_BINARY, &n);
    assert_int_equal(n, 2);
    assert_memory_equal(t, "\xff\xff", 2);
    n = 99;
    aac_copyrow_header(AAC_COPY_TEXT, &n);
    assert_int_equal(n, 0);
    n = 99;
    aac_copyrow_trailer(AAC_COPY_TEXT, &n);
    assert_int_equal(n, 0);
    assert_string_equal(aac_copyrow_options(AAC_COPY_TEXT), "");
    assert_string_equal(aac_copyrow_options(AAC_COPY_BINARY), " WITH (FORMAT binary)");
}

/* A parsed event, as the service encodes it: the derived id and the
 * project name the parser fills are what the rows carry. */
static void test_parsed_event(void **state)
{
    (void)state;
    static const char msg[] =
        "{\"correlation_id\":\"f2b1c1de-1111-4c0b-9a52-3f3c7c1d0b11\",\"agent_name\":\"r\","
        "\"action_type\":\"error\",\"action_name\":\"x\",\"project_path\":\"/a/acme/\","
        "\"timestamp\":\"1960-01-01T00:00:00+01:00\",\"zz\":[1]}";
    aac_event_parser_t *p = aac_event_parser_new(NULL);
    assert_non_null(p);
    aac_event_t ev;
    aac_event_error_t err;
    assert_int_equal(aac_event_parse(p, "agent-actions", 3, 12345, msg, sizeof msg - 1, &ev, &err),
                     AAC_REASON_NONE);
    size_t n;
    char *row = encode(AAC_COPY_TEXT, &ev, "agent-actions", 3, 12345, &n);
    static const char want[] = "7b6961f3-1f38-5ce7-8399-b7b5bd58b6f2\t"
                               "f2b1c1de-1111-4c0b-9a52-3f3c7c1d0b11\t\\N\tr\terror\tx\t{}\t"
                               "\\N\t\\N\t/a/acme/\tacme\t\\N\t1959-12-31 23:00:00.000000+00\t"
                               "{\"zz\":[1]}\tagent-actions\t3\t12345\n";
    assert_int_equal(n, sizeof want - 1);
    assert_memory_equal(row, want, n);
    free(row);
    row = encode(AAC_COPY_BINARY, &ev, "agent-actions", 3, 12345, &n);
    field_t f[AAC_COPYROW_NCOLUMNS];
    decode(row, n, f);
    assert_field(&f[C_EVENT_ID], "\x7b\x69\x61\xf3\x1f\x38\x5c\xe7\x83\x99\xb7\xb5\xbd\x58\xb6\xf2",
                 16);
    assert_field(&f[C_PROJECT_NAME], "acme", 4);
    assert_field(&f[C_EXTRA], "\001{\"zz\":[1]}", 11);
    /* 1959-12-31T23:00:00Z: 1262307600 s before 2000 */
    assert_int_equal(be64(f[C_EVENT_TIME].p), INT64_C(-1262307600000000));
    free(row);
    aac_event_parser_destroy(p);
}

/* A framed message, as the service encodes it: the frame's schema id is
 * the last member of extra in both formats, after the producer's own
 * fields, or extra's only member when there are none. */
static void test_parsed_framed_event(void **state)
{
    (void)state;
    static const char msg[] =
        "\0\0\0\x01\x2c{\"correlation_id\":\"f2b1c1de-1111-4c0b-9a52-3f3c7c1d0b11\","
        "\"agent_name\":\"r\",\"action_type\":\"error\",\"action_name\":\"x\","
        "\"timestamp\":\"2026-01-01T00:00:00Z\",\"zz\":\"a\\tb\"}";
    static const char bare[] =
        "\0\0\0\0\x07{\"correlation_id\":\"f2b1c1de-1111-4c0b-9a52-3f3c7c1d0b11\","
        "\"agent_name\":\"r\",\"action_type\":\"error\",\"action_name\":\"x\","
        "\"timestamp\":\"2026-01-01T00:00:00Z\"}";
    aac_event_parser_t *p = aac_event_parser_new(NULL); /* event.framing auto */
    assert_non_null(p);
    aac_event_t ev;
    aac_event_error_t err;
    assert_int_equal(aac_event_parse(p, "agent-actions", 3, 12345, msg, sizeof msg - 1, &ev, &err),
                     AAC_REASON_NONE);
    size_t n;
    char *row = encode(AAC_COPY_TEXT, &ev, "agent-actions", 3, 12345, &n);
    static const char want_text[] =
        "\t2026-01-01 00:00:00.000000+00\t{\"zz\":\"a\\\\tb\",\"_aac_confluent_schema_id\":300}"
        "\tagent-actions\t3\t12345\n";
    assert_true(n > sizeof want_text - 1);
    assert_memory_equal(row + n - (sizeof want_text - 1), want_text, sizeof want_text - 1);
    free(row);
    row = encode(AAC_COPY_BINARY, &ev, "agent-actions", 3, 12345, &n);
    field_t f[AAC_COPYROW_NCOLUMNS];
    decode(row, n, f);
    static const char want_bin[] = "\001{\"zz\":\"a\\tb\",\"_aac_confluent_schema_id\":300}";
    assert_field(&f[C_EXTRA], want_bin, sizeof want_bin - 1);
    free(row);

    assert_int_equal(
        aac_event_parse(p, "agent-actions", 3, 12346, bare, sizeof bare - 1, &ev, &err),
        AAC_REASON_NONE);
    row = encode(AAC_COPY_TEXT, &ev, "agent-actions", 3, 12346, &n);
    static const char want_bare[] = "\t{\"_aac_confluent_schema_id\":7}\tagent-actions\t3\t12346\n";
    assert_memory_equal(row + n - (sizeof want_bare - 1), want_bare, sizeof want_bare - 1);
    free(row);
    row = encode(AAC_COPY_BINARY, &ev, "agent-actions", 3, 12346, &n);
    decode(row, n, f);
    assert_field(&f[C_EXTRA], "\001{\"_aac_confluent_schema_id\":7}", 31);
    free(row);
    aac_event_parser_destroy(p);
}

/* The row a failed COPY names, from its error's context */
static void test_error_line(void **state)
{
    (void)state;
    assert_int_equal(aac_copyrow_error_line("COPY agent_actions, line 17"), 17);
    assert_int_equal(aac_copyrow_error_line("COPY agent_actions, line 3, column action_details: "
                                            "\"{\"a\": 1\""),
                     3);
    /* a jsonb error: the JSON text's own line comes first */
    assert_int_equal(
        aac_copyrow_error_line("JSON data, line 1: {\"a\"...\nCOPY aac_stage, line 42, column "
                               "action_details: \"{\"a\"\""),
        42);
    assert_int_equal(aac_copyrow_error_line("COPY agent_actions, line 1"), 1);
    /* nothing usable */
    assert_int_equal(aac_copyrow_error_line(NULL), 0);
    assert_int_equal(aac_copyrow_error_line(""), 0);
    assert_int_equal(aac_copyrow_error_line("JSON data, line 1: x"), 0);
    assert_int_equal(aac_copyrow_error_line("COPY agent_actions"), 0);
    assert_int_equal(aac_copyrow_error_line("COPY agent_actions, line "), 0);
    assert_int_equal(aac_copyrow_error_line("COPY agent_actions, line 0"), 0);
    assert_int_equal(aac_copyrow_error_line("COPY agent_actions, line -3"), 0);
    assert_int_equal(aac_copyrow_error_line("COPY agent_actions, line 99999999999999999999999"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text_representative),    cmocka_unit_test(test_text_absent_fields),
        cmocka_unit_test(test_text_timestamps),        cmocka_unit_test(test_binary_representative),
        cmocka_unit_test(test_binary_absent_fields),   cmocka_unit_test(test_binary_timestamps),
        cmocka_unit_test(test_binary_integers),        cmocka_unit_test(test_bound_worst_case),
        cmocka_unit_test(test_header_trailer_options), cmocka_unit_test(test_parsed_event),
        cmocka_unit_test(test_parsed_framed_event),    cmocka_unit_test(test_error_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
