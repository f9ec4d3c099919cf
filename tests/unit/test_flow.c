/*
 * test_flow: the group-commit policy. When the open batch closes, and how
 * long the consume thread's poll may wait.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "aac/flow.h"

/* 10 events opened at t=1000, two writers, both free, nothing in flight
 * (at most 2), 5 ms linger. */
static aac_flow_t base(void)
{
    return (aac_flow_t){.events = 10,
                        .bytes = 6000,
                        .max_events = 5000,
                        .max_bytes = 16 << 20,
                        .now = 1000,
                        .open_since = 1000,
                        .linger_ms = 5,
                        .writers = 2,
                        .writing = 0,
                        .in_flight = 0,
                        .max_in_flight = 2};
}

static void test_full(void **state)
{
    (void)state;
    aac_flow_t f = base();
    assert_false(aac_flow_full(&f));
    f.events = 5000;
    assert_true(aac_flow_full(&f));
    f = base();
    f.bytes = 16 << 20;
    assert_true(aac_flow_full(&f));
    /* a retry's cap makes the same batch full */
    f = base();
    f.max_events = 10;
    assert_true(aac_flow_full(&f));
}

static void test_close_when_full_even_with_writers_busy(void **state)
{
    (void)state;
    aac_flow_t f = base();
    f.events = 5000;
    f.writing = 2;
    assert_true(aac_flow_should_close(&f));
}

static void test_never_close_empty(void **state)
{
    (void)state;
    aac_flow_t f = base();
    f.events = 0;
    f.now = 999999;
    f.drained = true;
    assert_false(aac_flow_should_close(&f));
}

static void test_linger(void **state)
{
    (void)state;
    aac_flow_t f = base();
    f.now = 1004; /* 4 of 5 ms */
    assert_false(aac_flow_should_close(&f));
    f.now = 1005;
    assert_true(aac_flow_should_close(&f));
    /* no writer free: wait, however long */
    f.writing = 2;
    f.now = 90000;
    assert_false(aac_flow_should_close(&f));
    /* one free writer is enough */
    f.writing = 1;
    assert_true(aac_flow_should_close(&f));
}

/* No linger: close once the poll found librdkafka's queue empty. */
static void test_no_linger_closes_when_drained(void **state)
{
    (void)state;
    aac_flow_t f = base();
    f.linger_ms = 0;
    assert_false(aac_flow_should_close(&f));
    f.drained = true;
    assert_true(aac_flow_should_close(&f));
    f.writing = 2;
    assert_false(aac_flow_should_close(&f));
}

static void test_poll_timeout(void **state)
{
    (void)state;
    aac_flow_t f = base();
    f.now = 1002;
    assert_int_equal(aac_flow_poll_timeout(&f), 3); /* linger left */
    f.now = 1009;
    assert_int_equal(aac_flow_poll_timeout(&f), 0); /* overdue: no wait */
    f.linger_ms = 100000;
    assert_int_equal(aac_flow_poll_timeout(&f), AAC_FLOW_POLL_MAX_MS);
    /* writers all busy: poll briefly to notice one finishing */
    f = base();
    f.writing = 2;
    assert_int_equal(aac_flow_poll_timeout(&f), AAC_FLOW_POLL_WRITING_MS);
    /* nothing open, a writer busy */
    f.events = 0;
    f.writing = 1;
    assert_int_equal(aac_flow_poll_timeout(&f), AAC_FLOW_POLL_WRITING_MS);
    /* idle */
    f.writing = 0;
    assert_int_equal(aac_flow_poll_timeout(&f), AAC_FLOW_POLL_MAX_MS);
    /* a retry due in 30 ms shortens the wait; one past due makes it 0 */
    f.backing_off = true;
    f.retry_at = f.now + 30;
    assert_int_equal(aac_flow_poll_timeout(&f), 30);
    f.retry_at = f.now - 5;
    assert_int_equal(aac_flow_poll_timeout(&f), 0);
    /* a retry far away does not lengthen it */
    f.retry_at = f.now + 60000;
    assert_int_equal(aac_flow_poll_timeout(&f), AAC_FLOW_POLL_MAX_MS);
}

/* A batch that cannot close (max_in_flight reached, or a retry pending)
 * neither closes nor makes the poll return at once: with an empty queue
 * the consume loop would spin. */
static void test_cannot_close_does_not_spin(void **state)
{
    (void)state;
    aac_flow_t f = base();
    f.now = 1009; /* linger spent */
    f.in_flight = 2;
    f.writing = 1; /* one written, one waiting for the commit order */
    assert_false(aac_flow_should_close(&f));
    assert_int_equal(aac_flow_poll_timeout(&f), AAC_FLOW_POLL_WRITING_MS);
    f.writing = 0; /* both done, not yet settled */
    assert_int_equal(aac_flow_poll_timeout(&f), AAC_FLOW_POLL_WRITING_MS);
    /* full still closes nothing past max_in_flight */
    f.events = 5000;
    assert_false(aac_flow_should_close(&f));

    f = base();
    f.now = 1009;
    f.backing_off = true;
    f.retry_at = f.now + 30;
    assert_false(aac_flow_should_close(&f));
    assert_int_equal(aac_flow_poll_timeout(&f), 30); /* until the retry, not 0 */
}

/* memory.max_mb: the open batch and those in flight hold their share:
 * no room for more, the batch closes when it can, else the loop waits
 * for a writer; never a batch of nothing. */
static void test_memory_budget(void **state)
{
    (void)state;
    aac_flow_t f = base();
    f.max_held = 32 << 20;
    f.held = (32 << 20) - 1;
    assert_false(aac_flow_full(&f));
    f.held = 32 << 20;
    assert_true(aac_flow_full(&f));
    f.writing = 2; /* full closes even with both writers busy */
    assert_true(aac_flow_should_close(&f));
    f.in_flight = 2; /* no room in flight: wait */
    assert_false(aac_flow_should_close(&f));
    f.events = 0;
    assert_true(aac_flow_full(&f));
    assert_false(aac_flow_should_close(&f));
    f = base(); /* no budget given: never full by it */
    f.held = (size_t)1 << 40;
    assert_false(aac_flow_full(&f));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full),
        cmocka_unit_test(test_close_when_full_even_with_writers_busy),
        cmocka_unit_test(test_never_close_empty),
        cmocka_unit_test(test_linger),
        cmocka_unit_test(test_no_linger_closes_when_drained),
        cmocka_unit_test(test_poll_timeout),
        cmocka_unit_test(test_cannot_close_does_not_spin),
        cmocka_unit_test(test_memory_budget),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
