/*
 * test_flights: the order in which batches commit, and who may touch a
 * batch when. The ring never looks inside a batch, so distinct addresses
 * stand for batches here.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "aac/flights.h"

static aac_batch_t *batch(int i)
{
    static char storage[8];
    return (aac_batch_t *)(void *)&storage[i];
}

/* Three flights in a ring for three, the first two taken by writers. */
static void three(aac_flights_t *fl, aac_flight_t **f)
{
    assert_int_equal(aac_flights_init(fl, 3), 0);
    for (int i = 0; i < 3; i++)
        assert_non_null(f[i] = aac_flights_push(fl, batch(i), false, false));
    assert_ptr_equal(aac_flights_take(fl), f[0]);
    assert_ptr_equal(aac_flights_take(fl), f[1]);
}

static void finish(aac_flights_t *fl, aac_flight_t *f, bool committed)
{
    f->committed = committed;
    aac_flights_finish(fl, f);
}

static void test_room(void **state)
{
    (void)state;
    aac_flights_t fl;
    assert_int_equal(aac_flights_init(&fl, 2), 0);
    assert_non_null(aac_flights_push(&fl, batch(0), false, false));
    assert_non_null(aac_flights_push(&fl, batch(1), false, false));
    assert_null(aac_flights_push(&fl, batch(2), false, false));
    /* a revocation or a shutdown closes what it holds: one more */
    assert_non_null(aac_flights_push(&fl, batch(2), false, true));
    assert_null(aac_flights_push(&fl, batch(3), false, true));
    assert_int_equal(aac_flights_count(&fl), 3);
    assert_int_equal(aac_flights_at(&fl, 0)->seq + 2, aac_flights_at(&fl, 2)->seq);
    aac_flights_free(&fl);
}

static void test_take_oldest_queued(void **state)
{
    (void)state;
    aac_flights_t fl;
    aac_flight_t *f[3];
    three(&fl, f);
    assert_int_equal(aac_flights_writing(&fl), 2);
    assert_ptr_equal(aac_flights_take(&fl), f[2]);
    assert_null(aac_flights_take(&fl));
    aac_flights_free(&fl);
}

/* The rule of the order: no batch commits past one that was not written. */
static void test_commit_order(void **state)
{
    (void)state;
    aac_flights_t fl;
    aac_flight_t *f[3], *blk = NULL;
    three(&fl, f);
    assert_int_equal(aac_flights_order(&fl, f[0], &blk), AAC_ORDER_GO);
    assert_null(blk);
    assert_int_equal(aac_flights_order(&fl, f[1], &blk), AAC_ORDER_WAIT);
    assert_ptr_equal(blk, f[0]);
    finish(&fl, f[0], true);
    assert_int_equal(aac_flights_order(&fl, f[1], &blk), AAC_ORDER_GO);
    /* the third waits for the second, not for the settled first */
    assert_int_equal(aac_flights_order(&fl, f[2], &blk), AAC_ORDER_WAIT);
    assert_ptr_equal(blk, f[1]);
    aac_flights_free(&fl);
}

static void test_earlier_failure_cancels(void **state)
{
    (void)state;
    aac_flights_t fl;
    aac_flight_t *f[3], *blk;
    three(&fl, f);
    finish(&fl, f[0], false);
    assert_true(fl.halted);
    assert_int_equal(aac_flights_order(&fl, f[1], &blk), AAC_ORDER_CANCEL);
    /* the third may not even start while the writers are halted */
    assert_null(aac_flights_take(&fl));
    /* a cancel wins over a wait on a batch still being written */
    aac_flights_t fl2;
    aac_flight_t *g[3];
    three(&fl2, g);
    assert_ptr_equal(aac_flights_take(&fl2), g[2]);
    finish(&fl2, g[0], false);
    assert_int_equal(aac_flights_order(&fl2, g[2], &blk), AAC_ORDER_CANCEL);
    aac_flights_free(&fl);
    aac_flights_free(&fl2);
}

/* Only the oldest, committed, is settled: a later batch that committed is
 * never settled (its offsets never believed stored) before an earlier
 * one. */
static void test_pop_in_order(void **state)
{
    (void)state;
    aac_flights_t fl;
    aac_flight_t *f[3], out;
    three(&fl, f);
    finish(&fl, f[1], true); /* cannot happen by the order rule; pop must still refuse */
    assert_false(aac_flights_pop(&fl, &out));
    finish(&fl, f[0], true);
    assert_true(aac_flights_pop(&fl, &out));
    assert_ptr_equal(out.batch, batch(0));
    assert_true(aac_flights_pop(&fl, &out));
    assert_ptr_equal(out.batch, batch(1));
    assert_false(aac_flights_pop(&fl, &out));
    assert_int_equal(aac_flights_count(&fl), 1);
    aac_flights_free(&fl);
}

static void test_failure_only_when_no_writer_writes(void **state)
{
    (void)state;
    aac_flights_t fl;
    aac_flight_t *f[3];
    three(&fl, f);
    finish(&fl, f[0], false);
    assert_null(aac_flights_failure(&fl)); /* the second is still being written */
    f[1]->cancelled = true;
    finish(&fl, f[1], false);
    assert_ptr_equal(aac_flights_failure(&fl), f[0]);
    aac_flights_free(&fl);
}

/* Batches are never changed or taken out under a writer (issue 19, item
 * 7: the revoke path dropped batches that writers were still writing). */
static void test_no_drop_or_requeue_while_writing(void **state)
{
    (void)state;
    aac_flights_t fl;
    aac_flight_t *f[3];
    aac_batch_t *out[4];
    three(&fl, f);
    assert_int_equal(aac_flights_drop(&fl, out), -1);
    assert_int_equal(aac_flights_requeue(&fl), -1);
    assert_int_equal(aac_flights_count(&fl), 3);
    finish(&fl, f[0], false);
    assert_int_equal(aac_flights_drop(&fl, out), -1);
    finish(&fl, f[1], false);
    assert_int_equal(aac_flights_drop(&fl, out), 3);
    assert_ptr_equal(out[0], batch(0));
    assert_ptr_equal(out[2], batch(2));
    assert_int_equal(aac_flights_count(&fl), 0);
    assert_false(fl.halted);
    aac_flights_free(&fl);
}

static void test_requeue(void **state)
{
    (void)state;
    aac_flights_t fl;
    aac_flight_t *f[3];
    three(&fl, f);
    finish(&fl, f[0], false);
    f[1]->cancelled = true;
    finish(&fl, f[1], false);
    f[0]->counted = true;
    assert_int_equal(aac_flights_requeue(&fl), 0);
    assert_false(fl.halted);
    /* the oldest again first, and its new outcome counts anew */
    assert_ptr_equal(aac_flights_take(&fl), f[0]);
    assert_false(f[0]->counted);
    assert_false(f[0]->committed);
    assert_ptr_equal(aac_flights_take(&fl), f[1]);
    assert_false(f[1]->cancelled);
    assert_ptr_equal(aac_flights_take(&fl), f[2]);
    aac_flights_free(&fl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_room),
        cmocka_unit_test(test_take_oldest_queued),
        cmocka_unit_test(test_commit_order),
        cmocka_unit_test(test_earlier_failure_cancels),
        cmocka_unit_test(test_pop_in_order),
        cmocka_unit_test(test_failure_only_when_no_writer_writes),
        cmocka_unit_test(test_no_drop_or_requeue_while_writing),
        cmocka_unit_test(test_requeue),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
