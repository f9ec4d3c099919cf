/*
 * test_batch: a batch's bookkeeping (partitions' offset ranges, rows,
 * rejects, the primary-key overlap test) over real librdkafka messages.
 *
 * A batch owns rd_kafka_message_t, which only librdkafka makes: the test
 * produces to an in-process librdkafka mock cluster (rdkafka_mock.h, the
 * real Kafka protocol over loopback TCP) and consumes the messages back
 * with an assigned consumer, afresh for each test (a batch destroys the
 * messages it took). No group join, no commits, about a second.
 */
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

#include "aac/batch.h"

#define TOPIC      "batch-test"
#define PARTITIONS 3
#define PER_PART   20

typedef struct fixture_s {
    rd_kafka_t *host; /* hosts the mock cluster */
    rd_kafka_mock_cluster_t *mc;
    rd_kafka_t *consumer;
    rd_kafka_message_t *msg[PARTITIONS][PER_PART]; /* this test's, until taken */
    /* this test's batches: destroyed after it also when an assertion
     * failed, since rd_kafka_destroy() waits for every message */
    aac_batch_t *batch[4];
} fixture_t;

static void quiet_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk, (void)level, (void)fac, (void)buf;
}

static rd_kafka_conf_t *conf_new(const char *bootstraps)
{
    char err[256];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(c, quiet_log);
    if (bootstraps)
        assert_int_equal(rd_kafka_conf_set(c, "bootstrap.servers", bootstraps, err, sizeof(err)),
                         RD_KAFKA_CONF_OK);
    return c;
}

/* Produces PER_PART messages to each partition: value "p<partition>-<i>". */
static void produce_all(const char *bootstraps)
{
    char err[256], val[32];
    rd_kafka_t *p = rd_kafka_new(RD_KAFKA_PRODUCER, conf_new(bootstraps), err, sizeof(err));
    assert_non_null(p);
    for (int part = 0; part < PARTITIONS; part++)
        for (int i = 0; i < PER_PART; i++) {
            int n = snprintf(val, sizeof(val), "p%d-%d", part, i);
            assert_int_equal(
                rd_kafka_producev(p, RD_KAFKA_V_TOPIC(TOPIC), RD_KAFKA_V_PARTITION(part),
                                  RD_KAFKA_V_VALUE(val, (size_t)n),
                                  RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END),
                RD_KAFKA_RESP_ERR_NO_ERROR);
        }
    assert_int_equal(rd_kafka_flush(p, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_destroy(p);
}

static int setup(void **state)
{
    char err[256];
    fixture_t *f = calloc(1, sizeof(*f));
    f->host = rd_kafka_new(RD_KAFKA_PRODUCER, conf_new(NULL), err, sizeof(err));
    assert_non_null(f->host);
    f->mc = rd_kafka_mock_cluster_new(f->host, 1);
    assert_non_null(f->mc);
    assert_int_equal(rd_kafka_mock_topic_create(f->mc, TOPIC, PARTITIONS, 1),
                     RD_KAFKA_RESP_ERR_NO_ERROR);
    const char *bs = rd_kafka_mock_cluster_bootstraps(f->mc);
    produce_all(bs);

    rd_kafka_conf_t *c = conf_new(bs);
    assert_int_equal(rd_kafka_conf_set(c, "group.id", "test-batch", err, sizeof(err)),
                     RD_KAFKA_CONF_OK);
    assert_int_equal(rd_kafka_conf_set(c, "enable.auto.commit", "false", err, sizeof(err)),
                     RD_KAFKA_CONF_OK);
    f->consumer = rd_kafka_new(RD_KAFKA_CONSUMER, c, err, sizeof(err));
    assert_non_null(f->consumer);
    rd_kafka_poll_set_consumer(f->consumer);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    rd_kafka_consumer_close(f->consumer);
    rd_kafka_destroy(f->consumer);
    rd_kafka_mock_cluster_destroy(f->mc);
    rd_kafka_destroy(f->host);
    free(f);
    return 0;
}

/* Before each test: every message of the topic, consumed afresh. */
static int take_all(void **state)
{
    fixture_t *f = *state;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(PARTITIONS);
    for (int p = 0; p < PARTITIONS; p++)
        rd_kafka_topic_partition_list_add(l, TOPIC, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    assert_int_equal(rd_kafka_assign(f->consumer, l), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(l);
    int got = 0;
    for (int i = 0; i < 300 && got < PARTITIONS * PER_PART; i++) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(f->consumer, 100);
        if (!m)
            continue;
        if (m->err || m->partition < 0 || m->partition >= PARTITIONS || m->offset < 0 ||
            m->offset >= PER_PART || f->msg[m->partition][m->offset]) {
            rd_kafka_message_destroy(m);
            continue;
        }
        f->msg[m->partition][m->offset] = m;
        got++;
    }
    assert_int_equal(got, PARTITIONS * PER_PART);
    return 0;
}

static int drop_rest(void **state)
{
    fixture_t *f = *state;
    for (int i = 0; i < 4; i++) {
        aac_batch_destroy(f->batch[i]);
        f->batch[i] = NULL;
    }
    for (int p = 0; p < PARTITIONS; p++)
        for (int o = 0; o < PER_PART; o++) {
            if (f->msg[p][o])
                rd_kafka_message_destroy(f->msg[p][o]);
            f->msg[p][o] = NULL;
        }
    rd_kafka_assign(f->consumer, NULL);
    return 0;
}

/* The message at partition/offset; the caller (a batch) takes it. */
static rd_kafka_message_t *message_at(fixture_t *f, int32_t partition, int64_t offset)
{
    rd_kafka_message_t *m = f->msg[partition][offset];
    assert_non_null(m);
    f->msg[partition][offset] = NULL;
    return m;
}

static aac_batch_t *batch_new(fixture_t *f, aac_copy_format_t format)
{
    for (int i = 0; i < 4; i++)
        if (!f->batch[i])
            return f->batch[i] = aac_batch_new(format);
    fail_msg("more than 4 batches in one test");
    return NULL;
}

/* An event whose primary key is (id byte `id`, timestamp `ts`). */
static aac_event_t event(uint8_t id, int64_t ts)
{
    aac_event_t ev;
    memset(&ev, 0, sizeof(ev));
    memset(ev.event_id, id, sizeof(ev.event_id));
    memset(ev.correlation_id, 0x11, sizeof(ev.correlation_id));
    ev.agent_name = (aac_str_t){"agent", 5};
    ev.action_type = AAC_ACTION_TOOL_CALL;
    ev.action_name = (aac_str_t){"read_file", 9};
    ev.action_details = (aac_str_t){"{}", 2};
    ev.debug_mode = -1;
    ev.timestamp_us = ts;
    return ev;
}

static void add(fixture_t *f, aac_batch_t *b, int32_t p, int64_t off, uint8_t id, int64_t ts)
{
    aac_event_t ev = event(id, ts);
    assert_int_equal(aac_batch_add_event(b, message_at(f, p, off), &ev), 0);
}

static void add_bad(fixture_t *f, aac_batch_t *b, int32_t p, int64_t off, const char *path)
{
    aac_event_error_t err = {.reason = AAC_REASON_MISSING_FIELD};
    snprintf(err.path, sizeof(err.path), "%s", path);
    snprintf(err.message, sizeof(err.message), "missing required field");
    assert_int_equal(aac_batch_add_invalid(b, message_at(f, p, off), &err), 0);
}

/* Each partition's range runs from its first message to its last + 1,
 * also when the batch goes back to a partition it left. */
static void test_partition_ranges(void **state)
{
    fixture_t *f = *state;
    aac_batch_t *b = batch_new(f, AAC_COPY_TEXT);
    add(f, b, 0, 3, 1, 1000);
    add(f, b, 0, 4, 2, 1000);
    add(f, b, 1, 7, 3, 1000);
    add_bad(f, b, 0, 5, "$.agent_name"); /* back to partition 0 */
    add(f, b, 2, 0, 4, 1000);
    add(f, b, 1, 9, 5, 1000); /* a gap (8 skipped) still ends the range at 10 */

    assert_int_equal(aac_batch_count(b), 6);
    assert_int_equal(aac_batch_part_count(b), 3);
    const aac_batch_part_t *p0 = aac_batch_part(b, TOPIC, 0), *p1 = aac_batch_part(b, TOPIC, 1),
                           *p2 = aac_batch_part(b, TOPIC, 2);
    assert_non_null(p0);
    assert_non_null(p1);
    assert_non_null(p2);
    assert_null(aac_batch_part(b, TOPIC, 3));
    assert_int_equal(p0->first, 3);
    assert_int_equal(p0->next, 6);
    assert_int_equal(p1->first, 7);
    assert_int_equal(p1->next, 10);
    assert_int_equal(p2->first, 0);
    assert_int_equal(p2->next, 1);
    assert_int_equal(p0->expected_old, -1);
    /* the parts are in the order the batch met the partitions */
    assert_int_equal(aac_batch_parts_const(b)[0].partition, 0);
    assert_int_equal(aac_batch_parts_const(b)[1].partition, 1);
    assert_int_equal(aac_batch_parts_const(b)[2].partition, 2);

    /* the values' bytes: "p0-3" ... "p1-9", 4 bytes each */
    assert_int_equal(aac_batch_bytes(b), 6 * 4);
}

/* Rows are the valid events, in order, each with its message; invalid
 * ones are rejects only. The rows' data is what copyrow writes. */
static void test_rows_and_rejects(void **state)
{
    fixture_t *f = *state;
    aac_batch_t *b = batch_new(f, AAC_COPY_TEXT);
    add(f, b, 0, 0, 1, 1000);
    add_bad(f, b, 0, 1, "$.timestamp");
    add(f, b, 0, 2, 2, 2000);
    add(f, b, 1, 0, 3, 3000);

    assert_int_equal(aac_batch_count(b), 4);
    assert_int_equal(aac_batch_row_count(b), 3);
    assert_int_equal(aac_batch_live_rows(b), 3);
    assert_int_equal(aac_batch_row_item(b, 0), 0);
    assert_int_equal(aac_batch_row_item(b, 1), 2); /* item 1 is the invalid one */
    assert_int_equal(aac_batch_row_item(b, 2), 3);
    assert_int_equal(aac_batch_event_us(b, 2), 2000);
    assert_int_equal(aac_batch_event_us(b, 1), 0);
    assert_int_equal(aac_batch_message(b, 3)->partition, 1);
    assert_int_equal(aac_batch_message(b, 3)->offset, 0);

    assert_int_equal(aac_batch_reject_count(b), 1);
    const aac_batch_reject_t *rj = aac_batch_reject(b, 0);
    assert_int_equal(rj->item, 1);
    assert_int_equal(rj->reason, AAC_REASON_MISSING_FIELD);
    assert_int_equal(rj->attempts, 1);
    assert_string_equal(rj->sqlstate, "");
    assert_string_equal(rj->path, "$.timestamp");

    /* the span of rows 0..2 is the three rows encoded one after another */
    char want[4096], *o = want;
    int64_t offs[3] = {0, 2, 0};
    int32_t parts[3] = {0, 0, 1};
    uint8_t ids[3] = {1, 2, 3};
    int64_t ts[3] = {1000, 2000, 3000};
    for (int i = 0; i < 3; i++) {
        aac_event_t ev = event(ids[i], ts[i]);
        assert_true(aac_copyrow_bound(AAC_COPY_TEXT, &ev, strlen(TOPIC)) < 1000);
        o = aac_copyrow_put(o, AAC_COPY_TEXT, &ev, TOPIC, strlen(TOPIC), parts[i], offs[i]);
    }
    size_t len;
    const char *span = aac_batch_row_span(b, 0, 2, &len);
    assert_int_equal(len, (size_t)(o - want));
    assert_memory_equal(span, want, len);
    size_t len1;
    const char *one = aac_batch_row_span(b, 1, 1, &len1);
    assert_true(one > span && one + len1 < span + len);

    /* the database refuses row 1: it leaves the live rows and joins the rejects */
    assert_int_equal(aac_batch_reject_row(b, 1, AAC_REASON_DB_REJECTED, "22001",
                                          "value too long for type character varying(128)", 3),
                     0);
    assert_true(aac_batch_row_rejected(b, 1));
    assert_false(aac_batch_row_rejected(b, 0));
    assert_int_equal(aac_batch_live_rows(b), 2);
    assert_int_equal(aac_batch_row_count(b), 3);
    assert_int_equal(aac_batch_reject_count(b), 2);
    rj = aac_batch_reject(b, 1);
    assert_int_equal(rj->item, 2);
    assert_int_equal(rj->reason, AAC_REASON_DB_REJECTED);
    assert_int_equal(rj->attempts, 3);
    assert_string_equal(rj->sqlstate, "22001");
    assert_string_equal(rj->path, "$");
}

/* A long database message is cut to the reject's room, not overrun. */
static void test_reject_bounds(void **state)
{
    fixture_t *f = *state;
    aac_batch_t *b = batch_new(f, AAC_COPY_BINARY);
    add(f, b, 2, 5, 9, 1);
    char big[2000];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(aac_batch_reject_row(b, 0, AAC_REASON_RETRIES_EXHAUSTED, NULL, big, 5), 0);
    const aac_batch_reject_t *rj = aac_batch_reject(b, 0);
    assert_int_equal(strlen(rj->message), sizeof(rj->message) - 1);
    assert_string_equal(rj->sqlstate, "");
    assert_int_equal(aac_batch_live_rows(b), 0);
    assert_int_equal(aac_batch_format(b), AAC_COPY_BINARY);
}

/* A reset batch is empty and takes new messages; its old ones are gone
 * (ASan reports a leak or a double free otherwise). */
static void test_reset(void **state)
{
    fixture_t *f = *state;
    aac_batch_t *b = batch_new(f, AAC_COPY_TEXT);
    for (int i = 0; i < 10; i++)
        add(f, b, 1, i, (uint8_t)i, 1000);
    add_bad(f, b, 1, 10, "$");
    assert_int_equal(aac_batch_reject_row(b, 0, AAC_REASON_DB_REJECTED, "23514", "check", 1), 0);
    aac_batch_reset(b);
    assert_int_equal(aac_batch_count(b), 0);
    assert_int_equal(aac_batch_bytes(b), 0);
    assert_int_equal(aac_batch_row_count(b), 0);
    assert_int_equal(aac_batch_live_rows(b), 0);
    assert_int_equal(aac_batch_reject_count(b), 0);
    assert_int_equal(aac_batch_part_count(b), 0);
    assert_null(aac_batch_part(b, TOPIC, 1));
    add(f, b, 2, 3, 7, 1000);
    assert_int_equal(aac_batch_part(b, TOPIC, 2)->first, 3);
    assert_int_equal(aac_batch_live_rows(b), 1);
    size_t len;
    aac_batch_row_span(b, 0, 0, &len);
    aac_event_t ev = event(7, 1000);
    char want[1024];
    assert_int_equal(
        len,
        (size_t)(aac_copyrow_put(want, AAC_COPY_TEXT, &ev, TOPIC, strlen(TOPIC), 2, 3) - want));
    aac_batch_destroy(NULL); /* NULL-safe */
}

/* The overlap test: the same (event_id, event_time) in both batches, and
 * only then; a key rejected in the batch being written is no longer its. */
static void test_keys_overlap(void **state)
{
    fixture_t *f = *state;
    aac_batch_t *a = batch_new(f, AAC_COPY_TEXT);
    aac_batch_t *b = batch_new(f, AAC_COPY_TEXT);
    aac_batch_t *empty = batch_new(f, AAC_COPY_TEXT);
    for (int i = 0; i < 15; i++)
        add(f, a, 0, i, (uint8_t)(i + 1), 1000);
    add(f, b, 1, 0, 100, 1000);
    add(f, b, 1, 1, 5, 2000); /* event_id of a's 5th, another time: another key */
    assert_false(aac_batch_keys_overlap(b, a));
    assert_false(aac_batch_keys_overlap(a, b));
    assert_false(aac_batch_keys_overlap(a, empty));
    assert_false(aac_batch_keys_overlap(empty, a));

    add(f, b, 1, 2, 12, 1000); /* a's 12th key */
    assert_true(aac_batch_keys_overlap(b, a));
    assert_true(aac_batch_keys_overlap(a, b));

    /* rejected in b (the batch asking): its key is not b's any more */
    assert_int_equal(aac_batch_reject_row(b, 2, AAC_REASON_DB_REJECTED, "22001", "x", 1), 0);
    assert_false(aac_batch_keys_overlap(b, a));
    /* rejected in `other`: still counts, a writer may be rejecting it now */
    assert_true(aac_batch_keys_overlap(a, b));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_partition_ranges, take_all, drop_rest),
        cmocka_unit_test_setup_teardown(test_rows_and_rejects, take_all, drop_rest),
        cmocka_unit_test_setup_teardown(test_reject_bounds, take_all, drop_rest),
        cmocka_unit_test_setup_teardown(test_reset, take_all, drop_rest),
        cmocka_unit_test_setup_teardown(test_keys_overlap, take_all, drop_rest),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
