/*
 * test_dlq: the dead-letter producer's pure parts, no broker: the headers
 * a dead letter gets (names, values, order, bounds), the fatal-error hints,
 * and the round trip through the `dlq` tools' reading of the same headers.
 * Then the producer itself against an in-process librdkafka mock cluster
 * (rdkafka_mock.h, as test_batch uses it): failed deliveries counted once
 * each, and taken by the owner for its metrics.
 */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "aac/clock.h"
#include "aac/config.h"
#include "aac/dlq.h"
#include "aac/dlqletter.h"

/* 2026-11-21T10:00:00.123456Z */
#define FAILED_AT_US INT64_C(1795255200123456)

static aac_dlq_letter_t sample(void)
{
    aac_dlq_letter_t l = {
        .topic = "agent-actions",
        .partition = 7,
        .offset = INT64_C(123456789012),
        .timestamp_ms = INT64_C(1795255100999),
        .group = "agent-actions-consumer",
        .why = {AAC_CLASS_PERMANENT, AAC_REASON_MISSING_FIELD, "$.correlation_id",
                "correlation_id is required, got nothing", 3},
        .failed_at_us = FAILED_AT_US,
        .version = "1.2.3",
    };
    return l;
}

/* The value of the header at index i as a string (cmocka compares them). */
static char *value_at(const rd_kafka_headers_t *h, size_t i, const char **name)
{
    static char buf[4096];
    const void *v;
    size_t n;
    assert_int_equal(rd_kafka_header_get_all(h, i, name, &v, &n), RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_true(n < sizeof(buf));
    memcpy(buf, v ? v : "", v ? n : 0);
    buf[v ? n : 0] = '\0';
    return buf;
}

static size_t count(const rd_kafka_headers_t *h)
{
    const char *name;
    const void *v;
    size_t n, i = 0;
    while (rd_kafka_header_get_all(h, i, &name, &v, &n) == RD_KAFKA_RESP_ERR_NO_ERROR)
        i++;
    return i;
}

/* The last value of `name`, and its size in *size. */
static const char *last(const rd_kafka_headers_t *h, const char *name, size_t *size)
{
    const void *v;
    assert_int_equal(rd_kafka_header_get_last(h, name, &v, size), RD_KAFKA_RESP_ERR_NO_ERROR);
    return v ? v : "";
}

/* Every header, by the names docs/dead-letters.md gives (spelled here on
 * purpose: the table must not drift from the contract), in that order. */
static void test_headers(void **state)
{
    (void)state;
    static const char *const want[][2] = {
        {"aac.original.topic", "agent-actions"},
        {"aac.original.partition", "7"},
        {"aac.original.offset", "123456789012"},
        {"aac.original.timestamp", "1795255100999"},
        {"aac.consumer.group", "agent-actions-consumer"},
        {"aac.error.class", "permanent"},
        {"aac.error.reason", "missing_field"},
        {"aac.error.path", "$.correlation_id"},
        {"aac.error.message", "correlation_id is required, got nothing"},
        {"aac.attempts", "3"},
        {"aac.failed.at", "2026-11-21T10:00:00.123Z"},
        {"aac.service.version", "1.2.3"},
    };
    assert_int_equal(sizeof(want) / sizeof(want[0]), AAC_DLQ_H__CNT);
    aac_dlq_letter_t l = sample();
    rd_kafka_headers_t *h = rd_kafka_headers_new(0);
    aac_dlq_headers_add(h, &l);
    assert_int_equal(count(h), AAC_DLQ_H__CNT);
    for (size_t i = 0; i < AAC_DLQ_H__CNT; i++) {
        const char *name;
        const char *v = value_at(h, i, &name);
        assert_string_equal(name, want[i][0]);
        assert_string_equal(aac_dlq_headers[i].name, want[i][0]);
        assert_string_equal(v, want[i][1]);
    }
    rd_kafka_headers_destroy(h);

    /* other values: a DB rejection, no timestamp, a negative partition */
    l.why = (aac_dlq_reason_t){AAC_CLASS_PERMANENT, AAC_REASON_DB_REJECTED, "$",
                               "value too long (SQLSTATE 22001)", 12};
    l.timestamp_ms = -1;
    l.partition = 0;
    l.offset = 0;
    l.failed_at_us = 0;
    h = rd_kafka_headers_new(0);
    aac_dlq_headers_add(h, &l);
    size_t n;
    assert_string_equal(last(h, "aac.error.reason", &n), "db_rejected");
    assert_string_equal(last(h, "aac.error.path", &n), "$");
    assert_string_equal(last(h, "aac.attempts", &n), "12");
    assert_string_equal(last(h, "aac.original.timestamp", &n), "-1");
    assert_string_equal(last(h, "aac.original.partition", &n), "0");
    assert_string_equal(last(h, "aac.original.offset", &n), "0");
    assert_string_equal(last(h, "aac.failed.at", &n), "1970-01-01T00:00:00.000Z");
    rd_kafka_headers_destroy(h);
}

/* The table: unique names, all under the prefix the replay drops, unique
 * --json fields, the integer ones the numbers. */
static void test_table(void **state)
{
    (void)state;
    for (int i = 0; i < AAC_DLQ_H__CNT; i++) {
        const aac_dlq_header_info_t *a = &aac_dlq_headers[i];
        assert_non_null(a->name);
        assert_non_null(a->field);
        assert_true(aac_dlqletter_is_own_header(a->name));
        for (int j = 0; j < i; j++) {
            assert_string_not_equal(a->name, aac_dlq_headers[j].name);
            assert_string_not_equal(a->field, aac_dlq_headers[j].field);
        }
    }
    assert_true(aac_dlq_headers[AAC_DLQ_H_ORIGINAL_PARTITION].integer);
    assert_true(aac_dlq_headers[AAC_DLQ_H_ORIGINAL_OFFSET].integer);
    assert_true(aac_dlq_headers[AAC_DLQ_H_ORIGINAL_TIMESTAMP].integer);
    assert_true(aac_dlq_headers[AAC_DLQ_H_ATTEMPTS].integer);
    assert_false(aac_dlq_headers[AAC_DLQ_H_ORIGINAL_TOPIC].integer);
    assert_false(aac_dlq_headers[AAC_DLQ_H_FAILED_AT].integer);
    assert_false(aac_dlqletter_is_own_header("traceparent"));
}

/* NULL strings are written as empty values, never left out: a reader
 * finds every header on every dead letter. */
static void test_null_and_empty(void **state)
{
    (void)state;
    aac_dlq_letter_t l = sample();
    l.topic = NULL;
    l.group = NULL;
    l.version = NULL;
    l.why.path = NULL;
    l.why.message = "";
    rd_kafka_headers_t *h = rd_kafka_headers_new(0);
    aac_dlq_headers_add(h, &l);
    assert_int_equal(count(h), AAC_DLQ_H__CNT);
    static const aac_dlq_header_t empty[] = {AAC_DLQ_H_ORIGINAL_TOPIC, AAC_DLQ_H_CONSUMER_GROUP,
                                             AAC_DLQ_H_ERROR_PATH, AAC_DLQ_H_ERROR_MESSAGE,
                                             AAC_DLQ_H_SERVICE_VERSION};
    for (size_t i = 0; i < sizeof(empty) / sizeof(empty[0]); i++) {
        size_t n = 99;
        last(h, aac_dlq_headers[empty[i]].name, &n);
        assert_int_equal(n, 0);
    }
    size_t n;
    assert_string_equal(last(h, "aac.error.reason", &n), "missing_field");
    rd_kafka_headers_destroy(h);
}

/* The size of the header `name` once `text` is written as path and message. */
static size_t written(const char *text, const char *name)
{
    aac_dlq_letter_t l = sample();
    l.why.path = text;
    l.why.message = text;
    rd_kafka_headers_t *h = rd_kafka_headers_new(0);
    aac_dlq_headers_add(h, &l);
    size_t n;
    const char *v = last(h, name, &n);
    assert_memory_equal(v, text, n); /* a prefix of what was given */
    rd_kafka_headers_destroy(h);
    return n;
}

/* Path and message are cut at AAC_DLQ_TEXT_MAX bytes, never inside a
 * UTF-8 character; the other headers are not cut. */
static void test_long_text(void **state)
{
    (void)state;
    enum { N = AAC_DLQ_TEXT_MAX + 100 };
    char *s = malloc(N + 1);
    assert_non_null(s);

    memset(s, 'x', N);
    s[N] = '\0';
    assert_int_equal(written(s, "aac.error.message"), AAC_DLQ_TEXT_MAX);
    assert_int_equal(written(s, "aac.error.path"), AAC_DLQ_TEXT_MAX);
    s[AAC_DLQ_TEXT_MAX] = '\0'; /* exactly the bound: whole */
    assert_int_equal(written(s, "aac.error.message"), AAC_DLQ_TEXT_MAX);
    s[AAC_DLQ_TEXT_MAX - 1] = '\0';
    assert_int_equal(written(s, "aac.error.message"), AAC_DLQ_TEXT_MAX - 1);

    /* "é" (2 bytes) across the bound: left out whole */
    memset(s, 'x', N);
    memcpy(s + AAC_DLQ_TEXT_MAX - 1, "\xc3\xa9", 2);
    s[N] = '\0';
    assert_int_equal(written(s, "aac.error.message"), AAC_DLQ_TEXT_MAX - 1);
    /* "€" (3 bytes) ending at the bound: kept */
    memcpy(s + AAC_DLQ_TEXT_MAX - 3, "\xe2\x82\xac", 3);
    assert_int_equal(written(s, "aac.error.message"), AAC_DLQ_TEXT_MAX);
    /* bytes that begin no character count one each */
    memset(s, 0xff, N);
    assert_int_equal(written(s, "aac.error.message"), AAC_DLQ_TEXT_MAX);

    /* a long topic or group is not the error's text: whole */
    memset(s, 't', N);
    aac_dlq_letter_t l = sample();
    l.topic = s;
    rd_kafka_headers_t *h = rd_kafka_headers_new(0);
    aac_dlq_headers_add(h, &l);
    size_t n;
    last(h, "aac.original.topic", &n);
    assert_int_equal(n, N);
    rd_kafka_headers_destroy(h);
    free(s);
}

/* The original headers stay first, as they were; ours follow. */
static void test_after_original_headers(void **state)
{
    (void)state;
    aac_dlq_letter_t l = sample();
    rd_kafka_headers_t *h = rd_kafka_headers_new(0);
    rd_kafka_header_add(h, "traceparent", -1, "00-abc-def-01", -1);
    rd_kafka_header_add(h, "aac.error.reason", -1, "forged", -1);
    aac_dlq_headers_add(h, &l);
    assert_int_equal(count(h), AAC_DLQ_H__CNT + 2);
    const char *name;
    assert_string_equal(value_at(h, 0, &name), "00-abc-def-01");
    assert_string_equal(name, "traceparent");
    assert_string_equal(value_at(h, 1, &name), "forged");
    assert_string_equal(value_at(h, 2, &name), "agent-actions");
    assert_string_equal(name, "aac.original.topic");
    /* a reader takes the last one of a name: ours */
    aac_dlqletter_t d;
    aac_dlqletter_read_headers(&d, h, -1);
    assert_string_equal(d.reason, "missing_field");
    rd_kafka_headers_destroy(h);
}

static void test_fatal_hint(void **state)
{
    (void)state;
    static const struct {
        rd_kafka_resp_err_t err;
        const char *part;
    } cases[] = {
        {RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED, "IdempotentWrite"},
        {RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED, "IdempotentWrite"},
        {RD_KAFKA_RESP_ERR__UNSUPPORTED_FEATURE, "Kafka 0.11 or later"},
        {RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER, "restart the service"},
        {RD_KAFKA_RESP_ERR_UNKNOWN_PRODUCER_ID, "restart the service"},
        {RD_KAFKA_RESP_ERR__FENCED, "restart the service"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *hint = aac_dlq_fatal_hint(cases[i].err);
        assert_non_null(hint);
        if (!strstr(hint, cases[i].part))
            fail_msg("%s: \"%s\"", rd_kafka_err2name(cases[i].err), hint);
    }
    /* only authorization is told to fix permissions */
    assert_null(strstr(aac_dlq_fatal_hint(RD_KAFKA_RESP_ERR__UNSUPPORTED_FEATURE), "Idempotent"));
    assert_null(strstr(aac_dlq_fatal_hint(RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED),
                       "restart the service"));
}

/* What dlq.c writes, `dlq inspect` and `dlq replay` read back. */
static void test_round_trip(void **state)
{
    (void)state;
    aac_dlq_letter_t l = sample();
    rd_kafka_headers_t *h = rd_kafka_headers_new(0);
    aac_dlq_headers_add(h, &l);
    aac_dlqletter_t d;
    aac_dlqletter_read_headers(&d, h, 42);
    assert_string_equal(d.reason, "missing_field");
    assert_string_equal(d.cls, "permanent");
    assert_string_equal(d.orig_topic, "agent-actions");
    assert_string_equal(d.failed_at, "2026-11-21T10:00:00.123Z");
    assert_true(d.failed_at_ms == FAILED_AT_US / 1000); /* not the timestamp given */
    assert_int_equal(d.replay_count, 0);
    rd_kafka_header_add(h, AAC_DLQLETTER_H_REPLAY_COUNT, -1, "2", -1);
    aac_dlqletter_read_headers(&d, h, 42);
    assert_int_equal(d.replay_count, 2);
    rd_kafka_headers_destroy(h);

    /* an unreadable aac.failed.at: the dead letter's own timestamp */
    h = rd_kafka_headers_new(0);
    rd_kafka_header_add(h, "aac.failed.at", -1, "yesterday", -1);
    aac_dlqletter_read_headers(&d, h, 42);
    assert_true(d.failed_at_ms == 42);
    aac_dlqletter_read_headers(&d, h, -1);
    assert_true(d.failed_at_ms == INT64_MIN);
    rd_kafka_headers_destroy(h);
    /* no headers at all */
    aac_dlqletter_read_headers(&d, NULL, 7);
    assert_string_equal(d.reason, "");
    assert_string_equal(d.orig_topic, "");
    assert_true(d.failed_at_ms == 7);
    assert_int_equal(d.replay_count, 0);
}

/* inspect --json's header fields, from what dlq.c wrote: each field with
 * its value, numbers as numbers, text escaped. */
static void test_round_trip_json(void **state)
{
    (void)state;
    aac_dlq_letter_t l = sample();
    l.why.message = "got \"x\"\nthen \\";
    rd_kafka_headers_t *h = rd_kafka_headers_new(0);
    aac_dlq_headers_add(h, &l);
    char *out = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&out, &size);
    assert_non_null(f);
    aac_dlqletter_json_headers(f, h);
    fclose(f);
    assert_string_equal(out, ",\"original_topic\":\"agent-actions\""
                             ",\"original_partition\":7"
                             ",\"original_offset\":123456789012"
                             ",\"original_timestamp\":1795255100999"
                             ",\"consumer_group\":\"agent-actions-consumer\""
                             ",\"class\":\"permanent\""
                             ",\"reason\":\"missing_field\""
                             ",\"path\":\"$.correlation_id\""
                             ",\"message\":\"got \\\"x\\\"\\nthen \\\\\""
                             ",\"attempts\":3"
                             ",\"failed_at\":\"2026-11-21T10:00:00.123Z\""
                             ",\"service_version\":\"1.2.3\""
                             ",\"replayed_from\":null");
    free(out);
    rd_kafka_headers_destroy(h);

    /* absent headers and a number that is not one: null */
    h = rd_kafka_headers_new(0);
    rd_kafka_header_add(h, "aac.attempts", -1, "3x", -1);
    rd_kafka_header_add(h, AAC_DLQLETTER_H_REPLAYED_FROM, -1, "0:12", -1);
    f = open_memstream(&out, &size);
    assert_non_null(f);
    aac_dlqletter_json_headers(f, h);
    fclose(f);
    assert_non_null(strstr(out, ",\"attempts\":null,"));
    assert_non_null(strstr(out, ",\"original_topic\":null,"));
    assert_non_null(strstr(out, ",\"replayed_from\":\"0:12\""));
    free(out);
    rd_kafka_headers_destroy(h);
}

static void quiet_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk, (void)level, (void)fac, (void)buf;
}

static rd_kafka_conf_t *mock_conf(const char *bootstraps)
{
    char err[256];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(c, quiet_log);
    if (bootstraps)
        assert_int_equal(rd_kafka_conf_set(c, "bootstrap.servers", bootstraps, err, sizeof(err)),
                         RD_KAFKA_CONF_OK);
    return c;
}

/* Polls the producer until the dead letter of (0, offset) is no longer in
 * flight, for up to 10 s; returns its state. */
static aac_dlq_state_t settle(aac_dlq_t *dlq, int64_t offset)
{
    int64_t end = aac_mono_ms() + 10000;
    aac_dlq_state_t st;
    while ((st = aac_dlq_state(dlq, "src", 0, offset)) == AAC_DLQ_IN_FLIGHT) {
        if (aac_mono_ms() > end)
            fail_msg("dead letter at offset %lld still in flight after 10 s", (long long)offset);
        aac_dlq_poll(dlq, 50);
    }
    return st;
}

/* Sends `rkm` as a dead letter until it is delivered, as a writer does
 * (a failed one may be sent again); returns how many attempts failed. */
static uint64_t deliver(aac_dlq_t *dlq, const rd_kafka_message_t *rkm, const aac_dlq_reason_t *why)
{
    uint64_t failed = 0;
    for (int i = 0; i < 20; i++) {
        assert_int_equal(aac_dlq_send(dlq, rkm, why), 0);
        if (settle(dlq, rkm->offset) == AAC_DLQ_DELIVERED)
            return failed;
        failed++;
    }
    fail_msg("dead letter at offset %lld not delivered in 20 attempts", (long long)rkm->offset);
    return failed;
}

/* A dead letter whose delivery fails (its topic's broker down beyond
 * message.timeout.ms) is counted once; the count is taken once; a
 * delivered one is not counted. */
static void test_failed_deliveries_counted(void **state)
{
    (void)state;
    char err[512];
    rd_kafka_t *host = rd_kafka_new(RD_KAFKA_PRODUCER, mock_conf(NULL), err, sizeof(err));
    assert_non_null(host);
    rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(host, 1);
    assert_non_null(mc);
    assert_int_equal(rd_kafka_mock_topic_create(mc, "src", 1, 1), RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(rd_kafka_mock_topic_create(mc, "src.dlq", 1, 1), RD_KAFKA_RESP_ERR_NO_ERROR);
    const char *bs = rd_kafka_mock_cluster_bootstraps(mc);

    /* two source messages, consumed back: what a dead letter is made of */
    rd_kafka_t *p = rd_kafka_new(RD_KAFKA_PRODUCER, mock_conf(bs), err, sizeof(err));
    assert_non_null(p);
    for (int i = 0; i < 2; i++)
        assert_int_equal(rd_kafka_producev(p, RD_KAFKA_V_TOPIC("src"), RD_KAFKA_V_PARTITION(0),
                                           RD_KAFKA_V_VALUE("{bad", 4),
                                           RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                           RD_KAFKA_V_END),
                         RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(rd_kafka_flush(p, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_destroy(p);
    rd_kafka_conf_t *cc = mock_conf(bs);
    assert_int_equal(rd_kafka_conf_set(cc, "group.id", "test-dlq", err, sizeof(err)),
                     RD_KAFKA_CONF_OK);
    rd_kafka_t *c = rd_kafka_new(RD_KAFKA_CONSUMER, cc, err, sizeof(err));
    assert_non_null(c);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, "src", 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
    assert_int_equal(rd_kafka_assign(c, l), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_message_t *msg[2] = {NULL, NULL};
    for (int i = 0; i < 300 && !(msg[0] && msg[1]); i++) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 100);
        if (m && !m->err && m->offset >= 0 && m->offset < 2 && !msg[m->offset])
            msg[m->offset] = m;
        else if (m)
            rd_kafka_message_destroy(m);
    }
    assert_non_null(msg[0]);
    assert_non_null(msg[1]);

    /* the service's producer, its deliveries given up after 500 ms, */
    setenv("AAC_KAFKA_BOOTSTRAP_SERVERS", bs, 1);
    setenv("AAC_KAFKA_TOPIC", "src", 1);
    setenv("AAC_KAFKA_PRODUCER_PROPERTIES_MESSAGE_TIMEOUT_MS", "500", 1);
    /* and back within that once the broker is */
    setenv("AAC_KAFKA_PRODUCER_PROPERTIES_RECONNECT_BACKOFF_MAX_MS", "100", 1);
    setenv("AAC_KAFKA_PRODUCER_PROPERTIES_RECONNECT_BACKOFF_MS", "20", 1);
    aac_config_t *cfg = aac_config_load(NULL, err, sizeof(err));
    unsetenv("AAC_KAFKA_BOOTSTRAP_SERVERS");
    unsetenv("AAC_KAFKA_TOPIC");
    unsetenv("AAC_KAFKA_PRODUCER_PROPERTIES_MESSAGE_TIMEOUT_MS");
    unsetenv("AAC_KAFKA_PRODUCER_PROPERTIES_RECONNECT_BACKOFF_MAX_MS");
    unsetenv("AAC_KAFKA_PRODUCER_PROPERTIES_RECONNECT_BACKOFF_MS");
    if (!cfg)
        fail_msg("%s", err);
    aac_dlq_t *dlq = aac_dlq_new(cfg, err, sizeof(err));
    if (!dlq)
        fail_msg("%s", err);
    aac_dlq_reason_t why = {AAC_CLASS_PERMANENT, AAC_REASON_INVALID_JSON, "", "not JSON", 1};

    /* delivered: nothing counted (but the attempts that failed first, if
     * the producer was slow to start) */
    uint64_t failed = deliver(dlq, msg[0], &why);
    assert_int_equal(aac_dlq_take_failed(dlq), failed);

    /* the broker down: the delivery times out, counted once, taken once */
    assert_int_equal(rd_kafka_mock_broker_set_down(mc, 1), RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(aac_dlq_send(dlq, msg[1], &why), 0);
    assert_int_equal(settle(dlq, 1), AAC_DLQ_FAILED);
    assert_int_equal(aac_dlq_last_error(dlq), RD_KAFKA_RESP_ERR__MSG_TIMED_OUT);
    assert_int_equal(aac_dlq_take_failed(dlq), 1);
    assert_int_equal(aac_dlq_take_failed(dlq), 0);

    /* sent again once the broker is back: delivered, nothing more counted */
    assert_int_equal(rd_kafka_mock_broker_set_up(mc, 1), RD_KAFKA_RESP_ERR_NO_ERROR);
    failed = deliver(dlq, msg[1], &why);
    assert_int_equal(aac_dlq_take_failed(dlq), failed);

    aac_dlq_destroy(dlq);
    aac_config_destroy(cfg);
    rd_kafka_message_destroy(msg[0]);
    rd_kafka_message_destroy(msg[1]);
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(host);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_headers),
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_null_and_empty),
        cmocka_unit_test(test_long_text),
        cmocka_unit_test(test_after_original_headers),
        cmocka_unit_test(test_fatal_hint),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_round_trip_json),
        cmocka_unit_test(test_failed_deliveries_counted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
