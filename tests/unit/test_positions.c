/*
 * test_positions: where each partition stands, and that it only moves
 * forward (issue 19, item 1).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "aac/positions.h"

/* Partition 3 assigned, its stored offset 100 read. */
static void ready_at_100(aac_positions_t *ps)
{
    aac_positions_init(ps);
    assert_int_equal(aac_positions_assign(ps, 3), 0);
    assert_true(aac_positions_wants_offset(ps, 3));
    assert_int_equal(aac_positions_held(ps), 1);
    assert_int_equal(aac_positions_loaded(ps, 3, 100), 100);
    assert_true(aac_positions_ready(ps, 3));
    assert_int_equal(aac_positions_held(ps), 0);
}

/* Takes offsets [from, to) of partition 3. */
static void take(aac_positions_t *ps, int64_t from, int64_t to)
{
    for (int64_t o = from; o < to; o++) {
        aac_admit_t a = aac_positions_admit(ps, 3, o, false);
        assert_true(a == AAC_ADMIT_TAKE || a == AAC_ADMIT_CHECK);
        aac_positions_took(ps, 3, o);
    }
}

static aac_batch_part_t part(int64_t first, int64_t next)
{
    return (aac_batch_part_t){
        .topic = "t", .partition = 3, .key = 3, .first = first, .next = next, .expected_old = -9};
}

static void test_fences_chain(void **state)
{
    (void)state;
    aac_positions_t ps;
    ready_at_100(&ps);
    take(&ps, 100, 200);
    aac_batch_part_t a = part(100, 200);
    assert_int_equal(aac_positions_submit(&ps, &a, 1), 0);
    assert_int_equal(a.expected_old, 100);
    take(&ps, 200, 250);
    aac_batch_part_t b = part(200, 250);
    assert_int_equal(aac_positions_submit(&ps, &b, 1), 0);
    assert_int_equal(b.expected_old, 200); /* what the batch before it stores */
    aac_positions_committed(&ps, &a, 1);
    assert_int_equal(ps.p[3].stored, 200);
    assert_int_equal(ps.p[3].pending, 250);
    aac_positions_committed(&ps, &b, 1);
    assert_int_equal(ps.p[3].stored, 250);
    assert_int_equal(ps.p[3].pending, -1);
    aac_positions_free(&ps);
}

/* Issue 19, item 1: a batch in flight, rows in the open batch, and a seek
 * that does not take effect. The position is known: it is kept and the
 * seek tried again to the same place; the stored offset is not read again
 * (PostgreSQL's is behind the batch in flight), and nothing below the
 * position is taken again. */
static void test_failed_seek_keeps_the_position(void **state)
{
    (void)state;
    aac_positions_t ps;
    ready_at_100(&ps);
    take(&ps, 100, 200);
    aac_batch_part_t a = part(100, 200);
    assert_int_equal(aac_positions_submit(&ps, &a, 1), 0);
    take(&ps, 200, 250);

    aac_positions_seek_failed(&ps, 3, 250);
    assert_false(aac_positions_ready(&ps, 3));
    assert_false(aac_positions_wants_offset(&ps, 3)); /* not read from PostgreSQL */
    assert_int_equal(aac_positions_loaded(&ps, 3, 100), -2);
    assert_int_equal(aac_positions_seek_due(&ps, 3), 250);
    assert_int_equal(aac_positions_held(&ps), 1);
    /* meanwhile, what arrives is discarded, not taken */
    assert_int_equal(aac_positions_admit(&ps, 3, 250, false), AAC_ADMIT_DISCARD);
    assert_int_equal(ps.p[3].next, 250);

    aac_positions_sought(&ps, 3);
    assert_true(aac_positions_ready(&ps, 3));
    assert_int_equal(aac_positions_held(&ps), 0);
    /* a message below the position is the fetcher's, never taken */
    assert_int_equal(aac_positions_admit(&ps, 3, 100, false), AAC_ADMIT_CHECK);
    assert_int_equal(aac_positions_jump(&ps, 3, 100, 0, 1000), AAC_JUMP_SEEK_BACK);
    assert_int_equal(aac_positions_admit(&ps, 3, 101, false), AAC_ADMIT_SKIP);
    assert_int_equal(aac_positions_admit(&ps, 3, 250, false), AAC_ADMIT_TAKE);
    aac_positions_took(&ps, 3, 250);
    aac_batch_part_t b = part(200, 251);
    assert_int_equal(aac_positions_submit(&ps, &b, 1), 0);
    assert_int_equal(b.expected_old, 200);
    aac_positions_free(&ps);
}

/* The fence never stores less than what precedes it, unless the log
 * itself started over. */
static void test_submit_refuses_backwards(void **state)
{
    (void)state;
    aac_positions_t ps;
    ready_at_100(&ps);
    take(&ps, 100, 200);
    aac_batch_part_t a = part(100, 200);
    assert_int_equal(aac_positions_submit(&ps, &a, 1), 0);
    aac_batch_part_t back = part(200, 150);
    assert_int_equal(aac_positions_submit(&ps, &back, 1), -1);
    assert_int_equal(ps.p[3].pending, 200); /* nothing changed */
    assert_int_equal(back.expected_old, -9);
    /* an unassigned partition is refused too */
    aac_batch_part_t other = {.topic = "t", .partition = 4, .key = 4, .first = 0, .next = 1};
    assert_int_equal(aac_positions_submit(&ps, &other, 1), -1);
    aac_positions_free(&ps);
}

static void test_restart_may_store_less(void **state)
{
    (void)state;
    aac_positions_t ps;
    ready_at_100(&ps);
    /* the topic was deleted and created again: its log ends at 5 */
    aac_positions_sought(&ps, 3);
    assert_int_equal(aac_positions_admit(&ps, 3, 0, false), AAC_ADMIT_CHECK);
    assert_int_equal(aac_positions_jump(&ps, 3, 0, 0, 5), AAC_JUMP_RESTART);
    aac_positions_restart(&ps, 3, 0);
    take(&ps, 0, 5);
    aac_batch_part_t a = part(0, 5);
    assert_int_equal(aac_positions_submit(&ps, &a, 1), 0);
    assert_true(a.rewind);
    assert_int_equal(a.expected_old, 100);
    /* only that batch: the next one moves forward again */
    take(&ps, 5, 6);
    aac_batch_part_t b = part(5, 6);
    assert_int_equal(aac_positions_submit(&ps, &b, 1), 0);
    assert_false(b.rewind);
    aac_positions_free(&ps);
}

static void test_jumps(void **state)
{
    (void)state;
    aac_positions_t ps;
    ready_at_100(&ps);
    /* forward: markers or compaction when the log starts at or below next */
    assert_int_equal(aac_positions_jump(&ps, 3, 120, 50, 500), AAC_JUMP_FORWARD);
    assert_int_equal(aac_positions_jump(&ps, 3, 120, -1, -1), AAC_JUMP_FORWARD);
    /* retention: the log now starts above next */
    assert_int_equal(aac_positions_jump(&ps, 3, 130, 120, 500), AAC_JUMP_LOST);
    assert_int_equal(aac_positions_lost(&ps, 3, 130, 120), 20);
    assert_int_equal(aac_positions_lost(&ps, 3, 110, 120), 10);
    /* below: seek back unless the log ends below next; unknown: seek back */
    assert_int_equal(aac_positions_jump(&ps, 3, 10, 0, 100), AAC_JUMP_SEEK_BACK);
    assert_int_equal(aac_positions_jump(&ps, 3, 10, -1, -1), AAC_JUMP_SEEK_BACK);
    assert_int_equal(aac_positions_jump(&ps, 3, 10, 0, 99), AAC_JUMP_RESTART);
    aac_positions_free(&ps);
}

static void test_admit(void **state)
{
    (void)state;
    aac_positions_t ps;
    aac_positions_init(&ps);
    assert_int_equal(aac_positions_admit(&ps, 3, 0, false), AAC_ADMIT_IGNORE);
    assert_int_equal(aac_positions_assign(&ps, 3), 0);
    /* position unknown: discarded, remembered */
    assert_int_equal(aac_positions_admit(&ps, 3, 40, false), AAC_ADMIT_DISCARD);
    assert_int_equal(ps.p[3].resume_at, 40);
    /* nothing stored: seek to where discarding began */
    assert_int_equal(aac_positions_loaded(&ps, 3, -1), 40);
    aac_positions_sought(&ps, 3);
    assert_int_equal(aac_positions_admit(&ps, 3, 40, false), AAC_ADMIT_TAKE);
    aac_positions_took(&ps, 3, 40);
    /* backing off: discarded from next on, sought back there on resume */
    assert_int_equal(aac_positions_admit(&ps, 3, 41, true), AAC_ADMIT_DISCARD);
    assert_int_equal(aac_positions_admit(&ps, 3, 42, true), AAC_ADMIT_DISCARD);
    assert_int_equal(aac_positions_resume(&ps, 3), 41);
    assert_int_equal(aac_positions_resume(&ps, 3), -1);
    assert_null(aac_positions_get(&ps, AAC_POSITIONS_MAX));
    assert_int_equal(aac_positions_assign(&ps, -1), -1);
    aac_positions_free(&ps);
}

static void test_refence_and_rewind(void **state)
{
    (void)state;
    aac_positions_t ps;
    ready_at_100(&ps);
    take(&ps, 100, 200);
    aac_batch_part_t a = part(100, 200);
    assert_int_equal(aac_positions_submit(&ps, &a, 1), 0);
    take(&ps, 200, 220);
    /* the open batch dropped alone: back to its first, the flight stays */
    aac_positions_rewind(&ps, 3, 200, false);
    assert_int_equal(ps.p[3].next, 200);
    assert_int_equal(ps.p[3].pending, 200);
    /* everything dropped, then a fence: unknown again, read from
     * PostgreSQL, and what was not committed is fetched again */
    aac_positions_rewind(&ps, 3, 100, true);
    assert_int_equal(ps.p[3].pending, -1);
    aac_positions_refence(&ps, 3);
    assert_true(aac_positions_wants_offset(&ps, 3));
    assert_int_equal(ps.p[3].resume_at, 100);
    /* another instance stored 150 meanwhile */
    assert_int_equal(aac_positions_loaded(&ps, 3, 150), 150);
    assert_int_equal(ps.p[3].next, 150);
    aac_positions_revoke(&ps, 3);
    assert_false(aac_positions_assigned(&ps, 3));
    assert_int_equal(aac_positions_held(&ps), 0);
    aac_positions_free(&ps);
}

/* Keys stand for (topic, partition) pairs, any number of topics. */
static void test_keys(void **state)
{
    (void)state;
    aac_positions_t ps;
    aac_positions_init(&ps);
    assert_int_equal(aac_positions_lookup(&ps, "a", 0), -1);
    int32_t a0 = aac_positions_key(&ps, "a", 0), b0 = aac_positions_key(&ps, "b", 0),
            a1 = aac_positions_key(&ps, "a", 1);
    assert_true(a0 >= 0 && b0 >= 0 && a1 >= 0);
    assert_true(a0 != b0 && a0 != a1 && b0 != a1);
    assert_int_equal(aac_positions_key(&ps, "a", 0), a0);
    assert_int_equal(aac_positions_lookup(&ps, "b", 0), b0);
    assert_string_equal(aac_positions_topic(&ps, b0), "b");
    assert_int_equal(aac_positions_partition(&ps, a1), 1);
    /* the same partition of two topics moves apart */
    assert_int_equal(aac_positions_assign(&ps, a0), 0);
    assert_int_equal(aac_positions_loaded(&ps, a0, 10), 10);
    assert_int_equal(aac_positions_assign(&ps, b0), 0);
    assert_true(aac_positions_ready(&ps, a0));
    assert_false(aac_positions_ready(&ps, b0));
    char name[16];
    for (int i = 0; i < 500; i++) {
        snprintf(name, sizeof(name), "t%d", i % 7);
        int32_t k = aac_positions_key(&ps, name, i);
        assert_int_equal(aac_positions_lookup(&ps, name, i), k);
    }
    assert_int_equal(aac_positions_key(&ps, "a", -1), -1);
    aac_positions_free(&ps);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fences_chain),
        cmocka_unit_test(test_failed_seek_keeps_the_position),
        cmocka_unit_test(test_submit_refuses_backwards),
        cmocka_unit_test(test_restart_may_store_less),
        cmocka_unit_test(test_jumps),
        cmocka_unit_test(test_admit),
        cmocka_unit_test(test_refence_and_rewind),
        cmocka_unit_test(test_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
