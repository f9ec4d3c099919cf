/*
 * test_metrics: the health rule (liveness, readiness and its reasons, an
 * idle member) and the snapshot it is derived from.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "aac/metrics.h"

/* A snapshot of a service that is up: joined, both dependencies answer,
 * polled 1 s before now. */
static aac_metrics_snapshot_t *healthy(double now)
{
    static aac_metrics_snapshot_t s;
    memset(&s, 0, sizeof(s));
    s.started_at = now - 100;
    s.alive_at = now - 1;
    s.joined = s.broker_up = s.pg_up = true;
    return &s;
}

static void test_ready_when_nothing_is_wrong(void **state)
{
    (void)state;
    aac_health_t h;
    aac_metrics_health(healthy(1000), 1000, 5000, &h);
    assert_true(h.alive);
    assert_true(h.ready);
    assert_int_equal(h.reason_cnt, 0);
}

static void test_each_reason_alone(void **state)
{
    (void)state;
    static const char *const want[] = {"not_joined", "broker_unreachable", "postgres_unavailable",
                                       "paused_by_outage"};
    for (int i = 0; i < 4; i++) {
        aac_metrics_snapshot_t *s = healthy(1000);
        if (i == 0)
            s->joined = false;
        if (i == 1)
            s->broker_up = false;
        if (i == 2)
            s->pg_up = false;
        if (i == 3)
            s->paused_outage = true;
        aac_health_t h;
        aac_metrics_health(s, 1000, 5000, &h);
        assert_true(h.alive); /* readiness only: the loop still polls */
        assert_false(h.ready);
        assert_int_equal(h.reason_cnt, 1);
        assert_string_equal(h.reasons[0], want[i]);
    }
}

static void test_liveness_bound(void **state)
{
    (void)state;
    aac_health_t h;
    aac_metrics_snapshot_t *s = healthy(1000);
    s->alive_at = 1000 - 5.0; /* exactly the timeout: still alive */
    aac_metrics_health(s, 1000, 5000, &h);
    assert_true(h.alive);
    assert_true(h.ready);
    s->alive_at = 1000 - 5.001;
    aac_metrics_health(s, 1000, 5000, &h);
    assert_false(h.alive);
    assert_false(h.ready);
    assert_int_equal(h.reason_cnt, 1);
    assert_string_equal(h.reasons[0], "consume_loop_stalled");
}

static void test_before_first_poll_start_counts(void **state)
{
    (void)state;
    aac_health_t h;
    aac_metrics_snapshot_t *s = healthy(1000);
    s->alive_at = 0; /* never stamped */
    s->started_at = 1000 - 2;
    aac_metrics_health(s, 1000, 5000, &h);
    assert_true(h.alive);
    s->started_at = 1000 - 6;
    aac_metrics_health(s, 1000, 5000, &h);
    assert_false(h.alive);
}

static void test_all_reasons_in_order(void **state)
{
    (void)state;
    aac_health_t h;
    aac_metrics_snapshot_t s;
    memset(&s, 0, sizeof(s));
    s.started_at = 1;
    s.paused_outage = true;
    aac_metrics_health(&s, 1000, 5000, &h);
    assert_false(h.alive);
    assert_false(h.ready);
    assert_int_equal(h.reason_cnt, 5);
    assert_string_equal(h.reasons[0], "not_joined");
    assert_string_equal(h.reasons[4], "consume_loop_stalled");
}

/* The rule reads the state the setters wrote, through a snapshot. */
static void test_from_the_setters(void **state)
{
    (void)state;
    aac_metrics_t *m = aac_metrics_new();
    assert_non_null(m);
    aac_metrics_snapshot_t *s = malloc(sizeof(*s));
    assert_non_null(s);
    aac_health_t h;
    aac_metrics_snapshot(m, s);
    aac_metrics_health(s, s->started_at, 5000, &h);
    assert_false(h.ready);
    aac_metrics_set_joined(m, true);
    aac_metrics_set_broker_up(m, true);
    aac_metrics_set_pg_up(m, true);
    aac_metrics_alive(m, s->started_at + 1);
    aac_metrics_snapshot(m, s);
    aac_metrics_health(s, s->started_at + 2, 5000, &h);
    assert_true(h.ready);
    aac_metrics_set_paused_outage(m, true);
    aac_metrics_snapshot(m, s);
    aac_metrics_health(s, s->started_at + 2, 5000, &h);
    assert_false(h.ready);
    assert_string_equal(h.reasons[0], "paused_by_outage");
    free(s);
    aac_metrics_destroy(m);
}

/* A member the group gave no partition (more instances than partitions)
 * is where the group wants it: ready, and idle. */
static void test_idle_member_is_ready(void **state)
{
    (void)state;
    aac_health_t h;
    aac_metrics_snapshot_t *s = healthy(1000);
    s->partition_cnt = 0;
    aac_metrics_health(s, 1000, 5000, &h);
    assert_true(h.ready);
    assert_true(h.idle);
    assert_int_equal(h.partitions, 0);

    /* holding partitions: not idle; a partition listed as revoked does not count */
    s->partition_cnt = 3;
    s->partitions[0] = (aac_partition_state_t){.partition = 0, .assigned = true, .lag = -1};
    s->partitions[1] = (aac_partition_state_t){.partition = 4, .assigned = true, .lag = -1};
    s->partitions[2] = (aac_partition_state_t){.partition = 5, .assigned = false, .lag = -1};
    aac_metrics_health(s, 1000, 5000, &h);
    assert_true(h.ready);
    assert_false(h.idle);
    assert_int_equal(h.partitions, 2);

    /* not joined yet: neither ready nor idle */
    s->joined = false;
    s->partition_cnt = 0;
    aac_metrics_health(s, 1000, 5000, &h);
    assert_false(h.ready);
    assert_false(h.idle);
    assert_string_equal(h.reasons[0], "not_joined");
}

/* last_batch_at is when a batch was last closed and handed to the
 * writers, last_commit_at when one was last committed: each its own. */
static void test_batch_closed_apart_from_commit(void **state)
{
    (void)state;
    aac_metrics_t *m = aac_metrics_new();
    assert_non_null(m);
    aac_metrics_snapshot_t *s = malloc(sizeof(*s));
    assert_non_null(s);
    aac_metrics_snapshot(m, s);
    assert_true(s->last_batch_at == 0 && s->last_commit_at == 0);
    aac_metrics_batch_closed(m, 1795000000.0);
    aac_metrics_snapshot(m, s);
    assert_true(s->last_batch_at == 1795000000.0);
    assert_true(s->last_commit_at == 0); /* closed, not committed */
    aac_metrics_committed(m, 1795000001.5);
    aac_metrics_batch_closed(m, 1795000001.0); /* the next one, closed meanwhile */
    aac_metrics_snapshot(m, s);
    assert_true(s->last_commit_at == 1795000001.5);
    assert_true(s->last_batch_at == 1795000001.0);
    aac_metrics_committed(m, 1795000002.0);
    aac_metrics_snapshot(m, s);
    assert_true(s->last_batch_at == 1795000001.0); /* a commit closes no batch */
    free(s);
    aac_metrics_destroy(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ready_when_nothing_is_wrong),
        cmocka_unit_test(test_idle_member_is_ready),
        cmocka_unit_test(test_batch_closed_apart_from_commit),
        cmocka_unit_test(test_each_reason_alone),
        cmocka_unit_test(test_liveness_bound),
        cmocka_unit_test(test_before_first_poll_start_counts),
        cmocka_unit_test(test_all_reasons_in_order),
        cmocka_unit_test(test_from_the_setters),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
