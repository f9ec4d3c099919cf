/*
 * test_dlqletter: a dead letter as the `dlq` commands read it back: the
 * replay-count bound, which headers are the service's own, and the
 * headers a replay carries. No broker. (Reading what dlq.c writes:
 * test_dlq.)
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

#include "aac/dlqletter.h"

static void test_replay_count(void **state)
{
    (void)state;
    assert_int_equal(aac_dlqletter_replay_count(NULL, 0), 0);
    assert_int_equal(aac_dlqletter_replay_count("", 0), 0);
    assert_int_equal(aac_dlqletter_replay_count("1", 1), 1);
    assert_int_equal(aac_dlqletter_replay_count("12xyz", 2), 12);
    assert_int_equal(aac_dlqletter_replay_count("-1", 2), INT_MAX);
    assert_int_equal(aac_dlqletter_replay_count("1e3", 3), INT_MAX);
    assert_int_equal(aac_dlqletter_replay_count("99999999999999999999", 20), INT_MAX);
    assert_true(aac_dlqletter_is_own_header("aac.error.reason"));
    assert_true(aac_dlqletter_is_own_header("aac.replay.count"));
    assert_false(aac_dlqletter_is_own_header("traceparent"));
    assert_false(aac_dlqletter_is_own_header("aacx"));
    assert_false(aac_dlqletter_is_own_header(NULL));
}

/* The header at index i of h, its value as a string ("(null)" for none). */
static const char *header_at(const rd_kafka_headers_t *h, size_t i, const char **name)
{
    static char buf[256];
    const void *v;
    size_t n;
    if (rd_kafka_header_get_all(h, i, name, &v, &n) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return NULL;
    if (!v)
        return "(null)";
    snprintf(buf, sizeof(buf), "%.*s", (int)n, (const char *)v);
    return buf;
}

/* A replay keeps the original headers, in order, null values too, and
 * drops every aac.* one (a replayed copy's own aac.replay* included); it
 * adds where it came from and the next replay count. */
static void test_replay_headers(void **state)
{
    (void)state;
    rd_kafka_headers_t *h = rd_kafka_headers_new(8);
    rd_kafka_header_add(h, "traceparent", -1, "00-abc-def-01", -1);
    rd_kafka_header_add(h, "aac.error.reason", -1, "missing_field", -1);
    rd_kafka_header_add(h, "empty", -1, NULL, 0);
    rd_kafka_header_add(h, "aac.replay.count", -1, "1", -1);
    rd_kafka_header_add(h, "aac.replayed.from", -1, "0:5", -1);
    rd_kafka_header_add(h, "tenant", -1, "a", -1);
    rd_kafka_header_add(h, "tenant", -1, "b", -1);

    rd_kafka_message_t m;
    memset(&m, 0, sizeof(m));
    m.partition = 3;
    m.offset = INT64_C(123456789012);
    aac_dlqletter_t l;
    aac_dlqletter_read_headers(&l, h, -1);
    assert_int_equal(l.replay_count, 1);
    l.rkm = &m;

    static const char *const want[][2] = {
        {"traceparent", "00-abc-def-01"},
        {"empty", "(null)"},
        {"tenant", "a"},
        {"tenant", "b"},
        {AAC_DLQLETTER_H_REPLAYED_FROM, "3:123456789012"},
        {AAC_DLQLETTER_H_REPLAY_COUNT, "2"},
    };
    rd_kafka_headers_t *out = aac_dlqletter_replay_headers(&l);
    const char *name;
    size_t i;
    for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        assert_string_equal(header_at(out, i, &name), want[i][1]);
        assert_string_equal(name, want[i][0]);
    }
    assert_null(header_at(out, i, &name)); /* nothing more */
    rd_kafka_headers_destroy(out);
    rd_kafka_headers_destroy(h);

    /* no headers at all: only the replay's two, a first replay */
    aac_dlqletter_read_headers(&l, NULL, -1);
    l.rkm = &m;
    out = aac_dlqletter_replay_headers(&l);
    assert_string_equal(header_at(out, 0, &name), "3:123456789012");
    assert_string_equal(header_at(out, 1, &name), "1");
    assert_string_equal(name, AAC_DLQLETTER_H_REPLAY_COUNT);
    assert_null(header_at(out, 2, &name));
    rd_kafka_headers_destroy(out);
}

/* Prints l as inspect does, line or JSON, into a string. */
static char *printed(const aac_dlqletter_t *l, bool json)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    if (json)
        aac_dlqletter_print_json(f, "agent-actions.dlq", l, false);
    else
        aac_dlqletter_print_line(f, l, false);
    fclose(f);
    return buf;
}

/* inspect names the schema id of a framed dead letter, read from its
 * value (0x00, then 4 bytes big-endian), in both formats; none for a
 * plain value or a frame cut short. */
static void test_print_schema_id(void **state)
{
    (void)state;
    rd_kafka_headers_t *h = rd_kafka_headers_new(4);
    rd_kafka_header_add(h, "aac.error.reason", -1, "missing_field", -1);
    static const struct {
        const char *value;
        size_t len;
        const char *line, *json;
    } cases[] = {
        {"\0\0\0\x01\x2c{}", 7, " value_bytes=7 schema_id=300 ",
         ",\"value_bytes\":7,\"schema_id\":300,"},
        {"\0\xff\xff\xff\xff{}", 7, " schema_id=4294967295 ", ",\"schema_id\":4294967295,"},
        {"\0\0\0\0\0", 5, " schema_id=0 ", ",\"schema_id\":0,"},
        {"{}", 2, " value_bytes=2 schema_id=- ", ",\"value_bytes\":2,\"schema_id\":null,"},
        {"\0\0\0", 3, " value_bytes=3 schema_id=- ", ",\"schema_id\":null,"},
        {NULL, 0, " value_bytes=0 schema_id=- ", ",\"schema_id\":null,"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        rd_kafka_message_t m;
        memset(&m, 0, sizeof(m));
        m.partition = 1;
        m.offset = 9;
        m.payload = (void *)cases[i].value;
        m.len = cases[i].len;
        /* not from librdkafka: an error code makes rd_kafka_message_timestamp
         * answer -1 without looking behind the struct */
        m.err = RD_KAFKA_RESP_ERR__BAD_MSG;
        aac_dlqletter_t l;
        aac_dlqletter_read_headers(&l, h, -1);
        l.rkm = &m;
        char *line = printed(&l, false), *json = printed(&l, true);
        if (!strstr(line, cases[i].line))
            fail_msg("case %zu: line lacks \"%s\": %s", i, cases[i].line, line);
        if (!strstr(json, cases[i].json))
            fail_msg("case %zu: JSON lacks \"%s\": %s", i, cases[i].json, json);
        assert_non_null(strstr(line, "reason=\"missing_field\""));
        free(line);
        free(json);
    }
    rd_kafka_headers_destroy(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_replay_count),
        cmocka_unit_test(test_replay_headers),
        cmocka_unit_test(test_print_schema_id),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
