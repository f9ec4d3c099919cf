/*
 * test_timeacct: each interval goes to the activity it was spent in, on a
 * clock the test moves by hand; the activity in progress is counted by a
 * read once, not again by the owner's next switch; a clock read that a
 * reader overtook, and the clock's wrap, charge nothing twice; readers
 * racing an owner see totals that never go down and add up to the owner's
 * lifetime; the names and the activities of each thread.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "aac/timeacct.h"
#include "aac/writers.h"

_Static_assert(AAC_TIMEACCT_WRITERS >= AAC_WRITERS_MAX, "an account for every writer");

/* A clock the test sets; with step > 0, every read moves it on by step
 * (any thread: it never returns the same time twice). */
typedef struct fake_clock_s {
    _Atomic int64_t t;
    int64_t step;
} fake_clock_t;

static int64_t fake_now(void *arg)
{
    fake_clock_t *c = arg;
    return atomic_fetch_add(&c->t, c->step);
}

typedef struct fixture_s {
    fake_clock_t clock;
    aac_timeacct_t *ta;
    aac_timeacct_snapshot_t s;
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    atomic_init(&f->clock.t, 1000);
    f->ta = aac_timeacct_new(fake_now, &f->clock);
    assert_non_null(f->ta);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    aac_timeacct_destroy(f->ta);
    free(f);
    return 0;
}

static void at(fixture_t *f, int64_t t)
{
    atomic_store(&f->clock.t, t);
}

static uint64_t total(const aac_timeacct_snapshot_t *s, int th)
{
    uint64_t n = 0;
    for (int a = 0; a < AAC_ACT__CNT; a++)
        n += s->ns[th][a];
    return n;
}

static void test_switch_charges_the_activity_left(void **state)
{
    fixture_t *f = *state;
    aac_timeacct_thread_t *c = aac_timeacct_thread(f->ta, AAC_TIMEACCT_CONSUME);

    at(f, 1000);
    assert_int_equal(aac_timeacct_switch(c, AAC_ACT_POLL), AAC_ACT_OTHER); /* none before */
    at(f, 1300);
    assert_int_equal(aac_timeacct_switch(c, AAC_ACT_PARSE), AAC_ACT_POLL);
    at(f, 1350);
    assert_int_equal(aac_timeacct_switch(c, AAC_ACT_POLL), AAC_ACT_PARSE);
    at(f, 1360);
    assert_int_equal(aac_timeacct_switch(c, AAC_ACT_POLL), AAC_ACT_POLL); /* the same: goes on */
    at(f, 1550);
    aac_timeacct_read(f->ta, &f->s);
    assert_true(f->s.started[AAC_TIMEACCT_CONSUME]);
    /* the poll in progress counted up to the read */
    assert_int_equal(f->s.ns[0][AAC_ACT_POLL], 300 + 200);
    assert_int_equal(f->s.ns[0][AAC_ACT_PARSE], 50);
    assert_int_equal(f->s.ns[0][AAC_ACT_IDLE], 0);
    assert_int_equal(total(&f->s, 0), 550);
    /* no other thread switched: none started, nothing counted */
    for (int i = 1; i < AAC_TIMEACCT_THREADS; i++) {
        assert_false(f->s.started[i]);
        assert_int_equal(total(&f->s, i), 0);
    }
}

static void test_writers_have_their_own_accounts(void **state)
{
    fixture_t *f = *state;
    aac_timeacct_thread_t *w0 = aac_timeacct_writer(f->ta, 0), *w7 = aac_timeacct_writer(f->ta, 7);

    assert_ptr_equal(w0, aac_timeacct_thread(f->ta, 1));
    assert_ptr_equal(w7, aac_timeacct_thread(f->ta, AAC_TIMEACCT_THREADS - 1));
    assert_null(aac_timeacct_writer(f->ta, 8));
    assert_null(aac_timeacct_writer(f->ta, -1));
    assert_null(aac_timeacct_thread(f->ta, AAC_TIMEACCT_THREADS));
    assert_null(aac_timeacct_thread(NULL, 0));

    at(f, 0);
    aac_timeacct_switch(w0, AAC_ACT_IDLE);
    aac_timeacct_switch(w7, AAC_ACT_COPY);
    at(f, 40);
    aac_timeacct_switch(w0, AAC_ACT_WAIT_EARLIER);
    at(f, 100);
    aac_timeacct_switch(w0, AAC_ACT_COMMIT);
    at(f, 130);
    aac_timeacct_read(f->ta, &f->s);
    assert_int_equal(f->s.ns[1][AAC_ACT_IDLE], 40);
    assert_int_equal(f->s.ns[1][AAC_ACT_WAIT_EARLIER], 60);
    assert_int_equal(f->s.ns[1][AAC_ACT_COMMIT], 30);
    assert_int_equal(f->s.ns[8][AAC_ACT_COPY], 130);
    assert_int_equal(total(&f->s, 8), 130);
    assert_false(f->s.started[AAC_TIMEACCT_CONSUME]);
    assert_false(f->s.started[2]);
}

static void test_an_activity_not_the_threads_is_other(void **state)
{
    fixture_t *f = *state;
    aac_timeacct_thread_t *c = aac_timeacct_thread(f->ta, 0), *w = aac_timeacct_writer(f->ta, 1);

    at(f, 0);
    aac_timeacct_switch(c, AAC_ACT_COPY);       /* a writer's */
    aac_timeacct_switch(w, AAC_ACT_POLL);       /* the consume thread's */
    aac_timeacct_switch(w, (aac_activity_t)99); /* none */
    at(f, 10);
    /* what the switch says it left is what it was charged to */
    assert_int_equal(aac_timeacct_switch(c, AAC_ACT_IDLE), AAC_ACT_OTHER);
    assert_int_equal(aac_timeacct_switch(w, AAC_ACT_IDLE), AAC_ACT_OTHER);
    aac_timeacct_read(f->ta, &f->s);
    assert_int_equal(f->s.ns[0][AAC_ACT_OTHER], 10);
    assert_int_equal(f->s.ns[0][AAC_ACT_COPY], 0);
    assert_int_equal(f->s.ns[2][AAC_ACT_OTHER], 10);
    assert_int_equal(f->s.ns[2][AAC_ACT_POLL], 0);
}

static void test_read_counts_the_activity_in_progress_once(void **state)
{
    fixture_t *f = *state;
    aac_timeacct_thread_t *w = aac_timeacct_writer(f->ta, 0);

    at(f, 0);
    aac_timeacct_switch(w, AAC_ACT_IDLE);
    at(f, 100);
    aac_timeacct_read(f->ta, &f->s);
    assert_int_equal(f->s.ns[1][AAC_ACT_IDLE], 100);
    aac_timeacct_read(f->ta, &f->s); /* the same time: nothing more */
    assert_int_equal(f->s.ns[1][AAC_ACT_IDLE], 100);
    at(f, 250);
    /* the owner's switch charges only what the read had not */
    aac_timeacct_switch(w, AAC_ACT_COPY);
    aac_timeacct_read(f->ta, &f->s);
    assert_int_equal(f->s.ns[1][AAC_ACT_IDLE], 250);
    assert_int_equal(f->s.ns[1][AAC_ACT_COPY], 0);
    at(f, 400);
    aac_timeacct_read(f->ta, &f->s);
    assert_int_equal(f->s.ns[1][AAC_ACT_COPY], 150);
    assert_int_equal(total(&f->s, 1), 400);
}

static void test_clock_read_before_a_reader_moved_on(void **state)
{
    fixture_t *f = *state;
    aac_timeacct_thread_t *w = aac_timeacct_writer(f->ta, 0);

    at(f, 0);
    aac_timeacct_switch(w, AAC_ACT_IDLE);
    at(f, 500);
    aac_timeacct_read(f->ta, &f->s); /* counts idle up to 500 */
    /* the owner's clock read 480, before the reader's (it was preempted
     * between its read and its switch): the copy begins at 500, nothing is
     * counted twice and nothing goes back */
    at(f, 480);
    assert_int_equal(aac_timeacct_switch(w, AAC_ACT_COPY), AAC_ACT_IDLE);
    at(f, 600);
    aac_timeacct_read(f->ta, &f->s);
    assert_int_equal(f->s.ns[1][AAC_ACT_IDLE], 500);
    assert_int_equal(f->s.ns[1][AAC_ACT_COPY], 100);
    assert_int_equal(total(&f->s, 1), 600);
    /* and a reader behind the owner counts nothing */
    at(f, 590);
    aac_timeacct_read(f->ta, &f->s);
    assert_int_equal(f->s.ns[1][AAC_ACT_COPY], 100);
}

static void test_stop_ends_the_count(void **state)
{
    fixture_t *f = *state;
    aac_timeacct_thread_t *w = aac_timeacct_writer(f->ta, 3);

    at(f, 0);
    aac_timeacct_switch(w, AAC_ACT_COMMIT);
    at(f, 70);
    aac_timeacct_stop(w);
    at(f, 1000);
    aac_timeacct_read(f->ta, &f->s);
    assert_true(f->s.started[4]); /* still reported, with its totals */
    assert_int_equal(f->s.ns[4][AAC_ACT_COMMIT], 70);
    assert_int_equal(total(&f->s, 4), 70);
    aac_timeacct_stop(w); /* again: nothing */
    /* started again: from its first switch */
    assert_int_equal(aac_timeacct_switch(w, AAC_ACT_IDLE), AAC_ACT_OTHER);
    at(f, 1005);
    aac_timeacct_read(f->ta, &f->s);
    assert_int_equal(f->s.ns[4][AAC_ACT_IDLE], 5);
    assert_int_equal(total(&f->s, 4), 75);
}

static void test_clock_wraps(void **state)
{
    fixture_t *f = *state;
    aac_timeacct_thread_t *c = aac_timeacct_thread(f->ta, 0);
    const int64_t wrap = INT64_C(1) << 59; /* the accounts keep times modulo 2^59 */

    at(f, wrap - 100);
    aac_timeacct_switch(c, AAC_ACT_SETTLE);
    at(f, wrap + 50);
    aac_timeacct_switch(c, AAC_ACT_SUBMIT);
    /* the longest interval measured: half the range (9 years) */
    const int64_t half = (INT64_C(1) << 58) - 1;
    at(f, wrap + 50 + half);
    aac_timeacct_switch(c, AAC_ACT_OTHER);
    at(f, wrap + 80 + half);
    aac_timeacct_read(f->ta, &f->s);
    assert_int_equal(f->s.ns[0][AAC_ACT_SETTLE], 150);
    assert_int_equal(f->s.ns[0][AAC_ACT_SUBMIT], half);
    assert_int_equal(f->s.ns[0][AAC_ACT_OTHER], 30);
}

static void test_null_is_a_no_op(void **state)
{
    (void)state;
    aac_timeacct_snapshot_t s;
    assert_int_equal(aac_timeacct_switch(NULL, AAC_ACT_COPY), AAC_ACT_OTHER);
    aac_timeacct_stop(NULL);
    memset(&s, 0xff, sizeof(s));
    aac_timeacct_read(NULL, &s);
    assert_false(s.started[0]);
    assert_int_equal(s.ns[0][0], 0);
    aac_timeacct_destroy(NULL);
}

static void test_names_and_activities(void **state)
{
    (void)state;
    static const char *const consume[] = {"poll",   "idle",        "parse",     "submit",
                                          "settle", "wait_writer", "rebalance", "other"};
    static const char *const writer[] = {"idle",         "turn",         "wait_keys", "copy",
                                         "dead_letters", "wait_earlier", "commit",    "other"};
    const aac_activity_t *acts;

    assert_string_equal(aac_timeacct_thread_name(AAC_TIMEACCT_CONSUME), "consume");
    assert_string_equal(aac_timeacct_thread_name(1), "writer-0");
    assert_string_equal(aac_timeacct_thread_name(8), "writer-7");
    assert_string_equal(aac_timeacct_thread_name(9), "");
    assert_string_equal(aac_timeacct_thread_name(-1), "");
    assert_int_equal(aac_timeacct_activities(0, &acts), 8);
    for (size_t k = 0; k < 8; k++)
        assert_string_equal(aac_activity_str(acts[k]), consume[k]);
    for (int i = 1; i < AAC_TIMEACCT_THREADS; i++) {
        assert_int_equal(aac_timeacct_activities(i, &acts), 8);
        for (size_t k = 0; k < 8; k++)
            assert_string_equal(aac_activity_str(acts[k]), writer[k]);
    }
    assert_int_equal(aac_timeacct_activities(AAC_TIMEACCT_THREADS, &acts), 0);
    assert_null(acts);
    /* every activity has its own name, and each is some thread's */
    for (int a = 0; a < AAC_ACT__CNT; a++) {
        bool somewhere = false;
        for (int b = a + 1; b < AAC_ACT__CNT; b++)
            assert_string_not_equal(aac_activity_str((aac_activity_t)a),
                                    aac_activity_str((aac_activity_t)b));
        for (int i = 0; i < 2; i++) {
            size_t n = aac_timeacct_activities(i, &acts);
            for (size_t k = 0; k < n; k++)
                somewhere |= acts[k] == (aac_activity_t)a;
        }
        assert_true(somewhere);
    }
    assert_string_equal(aac_activity_str((aac_activity_t)AAC_ACT__CNT), "other");
}

/* --- an owner and readers at once ----------------------------------------- */

#define RACE_SWITCHES 300000
#define RACE_READERS  2

typedef struct race_s {
    aac_timeacct_t *ta;
    fake_clock_t *clock;
    _Atomic bool done;
    int64_t first, last; /* the owner's clock at its first switch, after its stop */
    uint64_t reads[RACE_READERS];
    int wrong[RACE_READERS]; /* a total that went down */
} race_t;

typedef struct reader_arg_s {
    race_t *r;
    int id;
} reader_arg_t;

static void *owner_main(void *arg)
{
    race_t *r = arg;
    static const aac_activity_t seq[] = {AAC_ACT_IDLE, AAC_ACT_TURN, AAC_ACT_COPY,
                                         AAC_ACT_WAIT_EARLIER, AAC_ACT_COMMIT};
    aac_timeacct_thread_t *w = aac_timeacct_writer(r->ta, 0);
    r->first = atomic_load(&r->clock->t);
    for (int i = 0; i < RACE_SWITCHES; i++)
        aac_timeacct_switch(w, seq[i % 5]);
    aac_timeacct_stop(w);
    r->last = atomic_load(&r->clock->t);
    atomic_store(&r->done, true);
    return NULL;
}

static void *reader_main(void *arg)
{
    reader_arg_t *ra = arg;
    race_t *r = ra->r;
    aac_timeacct_snapshot_t prev, s;
    memset(&prev, 0, sizeof(prev));
    while (!atomic_load(&r->done)) {
        aac_timeacct_read(r->ta, &s);
        for (int a = 0; a < AAC_ACT__CNT; a++)
            if (s.ns[1][a] < prev.ns[1][a])
                r->wrong[ra->id]++;
        prev = s;
        r->reads[ra->id]++;
    }
    return NULL;
}

static void test_readers_racing_an_owner(void **state)
{
    fixture_t *f = *state;
    race_t r = {.ta = f->ta, .clock = &f->clock};
    reader_arg_t ra[RACE_READERS];
    pthread_t owner, readers[RACE_READERS];

    f->clock.step = 1; /* every read of the clock, by any thread, is a new time */
    atomic_init(&r.done, false);
    for (int i = 0; i < RACE_READERS; i++) {
        ra[i] = (reader_arg_t){&r, i};
        assert_int_equal(pthread_create(&readers[i], NULL, reader_main, &ra[i]), 0);
    }
    assert_int_equal(pthread_create(&owner, NULL, owner_main, &r), 0);
    pthread_join(owner, NULL);
    for (int i = 0; i < RACE_READERS; i++) {
        pthread_join(readers[i], NULL);
        assert_int_equal(r.wrong[i], 0);
        assert_true(r.reads[i] > 0);
    }
    /* every interval from the first switch to the stop is counted once:
     * the total is the owner's lifetime on the clock, give or take the
     * clock reads that readers made while it lived */
    aac_timeacct_read(f->ta, &f->s);
    uint64_t sum = total(&f->s, 1);
    assert_true(sum >= (uint64_t)RACE_SWITCHES);
    assert_true(sum <= (uint64_t)(r.last - r.first));
    for (int a = 0; a < AAC_ACT__CNT; a++) {
        bool ours = a == AAC_ACT_IDLE || a == AAC_ACT_TURN || a == AAC_ACT_COPY ||
                    a == AAC_ACT_WAIT_EARLIER || a == AAC_ACT_COMMIT;
        if (ours)
            assert_true(f->s.ns[1][a] >= RACE_SWITCHES / 10);
        else
            assert_int_equal(f->s.ns[1][a], 0);
    }
    /* stopped: no more time counts */
    aac_timeacct_read(f->ta, &f->s);
    assert_int_equal(total(&f->s, 1), sum);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_switch_charges_the_activity_left, setup, teardown),
        cmocka_unit_test_setup_teardown(test_writers_have_their_own_accounts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_an_activity_not_the_threads_is_other, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_counts_the_activity_in_progress_once, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_clock_read_before_a_reader_moved_on, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_ends_the_count, setup, teardown),
        cmocka_unit_test_setup_teardown(test_clock_wraps, setup, teardown),
        cmocka_unit_test(test_null_is_a_no_op),
        cmocka_unit_test(test_names_and_activities),
        cmocka_unit_test_setup_teardown(test_readers_racing_an_owner, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
