/*
 * test_dlqrecord: the replay record: its text and lookups, the tracker
 * that rebuilds it from the dead letters read, and a run's ledger. No
 * broker.
 */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "aac/dlqrecord.h"

/* The record's text and its lookups. */
static void test_record(void **state)
{
    aac_dlqrecord_t rec, back;
    char buf[AAC_DLQRECORD_MAX + 1];
    (void)state;

    int wt = aac_dlqrecord_key("wrong_type", 0);
    int wt1 = aac_dlqrecord_key("wrong_type", 1);
    int none = aac_dlqrecord_key(NULL, 0);
    assert_int_not_equal(wt, wt1);
    assert_int_equal(aac_dlqrecord_key("no_such_reason", 0), none);
    /* replay counts beyond the last generation share its key */
    assert_int_equal(aac_dlqrecord_key("wrong_type", 3), aac_dlqrecord_key("wrong_type", INT_MAX));
    assert_int_equal(aac_dlqrecord_key("wrong_type", -1), wt);

    memset(&rec, 0, sizeof(rec));
    assert_int_equal(aac_dlqrecord_format(&rec, buf, sizeof(buf)), 13);
    assert_string_equal(buf, "aac.replay.v1");
    assert_int_equal(aac_dlqrecord_add(&rec, wt, 0, 5), 0);
    assert_int_equal(aac_dlqrecord_add(&rec, wt, 5, 7), 0); /* touches: merged */
    assert_int_equal(aac_dlqrecord_add(&rec, wt, 10, 12), 0);
    assert_int_equal(aac_dlqrecord_add(&rec, wt, 11, 20), 0); /* overlaps: merged */
    assert_int_equal(aac_dlqrecord_add(&rec, wt, 30, 30), 0); /* empty: ignored */
    assert_int_equal(aac_dlqrecord_add(&rec, wt1, 40, 41), 0);
    assert_int_equal(aac_dlqrecord_add(&rec, none, 1, 2), 0);
    assert_int_equal(rec.set[wt].n, 2);
    int n = aac_dlqrecord_format(&rec, buf, sizeof(buf));
    assert_string_equal(buf, "aac.replay.v1 none=1-2;wrong_type=0-7,10-20;wrong_type.1=40-41");
    assert_int_equal(n, (int)strlen(buf));
    assert_int_equal(aac_dlqrecord_format(&rec, buf, (size_t)n), -1); /* no room for NUL */

    static const struct {
        int64_t off;
        bool has;
    } look[] = {{-1, false}, {0, true},  {6, true},   {7, false}, {9, false},
                {10, true},  {19, true}, {20, false}, {40, false}};
    for (size_t i = 0; i < sizeof(look) / sizeof(look[0]); i++)
        assert_int_equal(aac_dlqrecord_has(&rec, wt, look[i].off), look[i].has);
    assert_true(aac_dlqrecord_has(&rec, wt1, 40));
    assert_false(aac_dlqrecord_has(&rec, wt1, 6)); /* another key's range */
    assert_false(aac_dlqrecord_has(&rec, -1, 6));

    n = aac_dlqrecord_format(&rec, buf, sizeof(buf));
    memset(&back, 0, sizeof(back));
    assert_int_equal(aac_dlqrecord_parse(&back, buf, (size_t)n), 0);
    char buf2[AAC_DLQRECORD_MAX + 1];
    aac_dlqrecord_format(&back, buf2, sizeof(buf2));
    assert_string_equal(buf, buf2);
    aac_dlqrecord_clear(&back);
    aac_dlqrecord_clear(&rec);
    assert_int_equal(rec.set[wt].n, 0);

    /* nothing committed yet, or a record without ranges: empty */
    assert_int_equal(aac_dlqrecord_parse(&back, NULL, 0), 0);
    assert_int_equal(aac_dlqrecord_parse(&back, "aac.replay.v1", 13), 0);
    assert_false(aac_dlqrecord_has(&back, wt, 0));
    /* not NUL-terminated: only len bytes */
    assert_int_equal(aac_dlqrecord_parse(&back, "aac.replay.v1 db_rejected.2=3-4xyz", 31), 0);
    assert_true(aac_dlqrecord_has(&back, aac_dlqrecord_key("db_rejected", 2), 3));
    aac_dlqrecord_clear(&back);

    static const char *const bad[] = {
        "something else",
        "aac.replay.v2 wrong_type=0-1",
        "aac.replay.v1wrong_type=0-1",
        "aac.replay.v1 ",
        "aac.replay.v1 nope=0-1",
        "aac.replay.v1 wrong_type.9=0-1",
        "aac.replay.v1 wrong_type=",
        "aac.replay.v1 wrong_type=1-1",
        "aac.replay.v1 wrong_type=2-1",
        "aac.replay.v1 wrong_type=0-2,1-3",
        "aac.replay.v1 wrong_type=0-2,2-3", /* touching: never written so */
        "aac.replay.v1 wrong_type=-1-3",
        "aac.replay.v1 wrong_type=0-99999999999999999999",
        "aac.replay.v1 wrong_type=0-1;",
        "aac.replay.v1 wrong_type=0-1,",
        "aac.replay.v1 wrong_type=0-1;wrong_type=5-6",
        "aac.replay.v1 wrong_type=0-1 ",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(&back, 0, sizeof(back));
        assert_int_equal(aac_dlqrecord_parse(&back, bad[i], strlen(bad[i])), -1);
        assert_int_equal(back.set[wt].n, 0); /* left empty */
    }
}

/* The tracker rebuilds a partition's record from the messages read. */
static void test_tracker(void **state)
{
    aac_dlqrecord_t old, out;
    aac_dlqrecord_tracker_t t;
    char buf[AAC_DLQRECORD_MAX + 1];
    int64_t off;
    (void)state;
    int a = aac_dlqrecord_key("wrong_type", 0);
    int b = aac_dlqrecord_key("missing_field", 0);
    int a1 = aac_dlqrecord_key("wrong_type", 1);

    /* first run, --reason wrong_type, from offset 100: wrong_type ones
     * replayed, the missing_field ones between them do not split the range */
    memset(&old, 0, sizeof(old));
    aac_dlqrecord_tracker_init(&t, 100);
    const struct {
        int key;
        int64_t off;
        bool replayed;
    } run1[] = {{a, 100, true},  {b, 101, false}, {a, 102, true},
                {b, 103, false}, {a, 105, true},  {b, 106, false}};
    for (size_t i = 0; i < sizeof(run1) / sizeof(run1[0]); i++)
        assert_int_equal(
            aac_dlqrecord_tracker_apply(&t, run1[i].key, run1[i].off, run1[i].replayed), 0);
    memset(&out, 0, sizeof(out));
    assert_int_equal(aac_dlqrecord_tracker_result(&t, &old, &out, &off), 0);
    aac_dlqrecord_format(&out, buf, sizeof(buf));
    /* open to where reading stopped: nothing of wrong_type was left out */
    assert_string_equal(buf, "aac.replay.v1 wrong_type=100-107");
    assert_int_equal(off, 101); /* the first one not replayed */
    aac_dlqrecord_tracker_clear(&t);

    /* second run, every reason, reading from 100 again, --limit stopping
     * after 104: wrong_type recorded; 101 replayed, 103 not delivered;
     * the old record's range beyond 104 is kept */
    old = out;
    aac_dlqrecord_tracker_init(&t, 100);
    assert_int_equal(aac_dlqrecord_tracker_apply(&t, a, 100, true), 0);
    assert_int_equal(aac_dlqrecord_tracker_apply(&t, b, 101, true), 0);
    assert_int_equal(aac_dlqrecord_tracker_apply(&t, a, 102, true), 0);
    assert_int_equal(aac_dlqrecord_tracker_apply(&t, b, 103, false), 0);
    assert_int_equal(aac_dlqrecord_tracker_apply(&t, a1, 104, true), 0);
    assert_int_equal(aac_dlqrecord_tracker_apply(&t, a, 90, true), 0); /* out of order: ignored */
    memset(&out, 0, sizeof(out));
    assert_int_equal(aac_dlqrecord_tracker_result(&t, &old, &out, &off), 0);
    aac_dlqrecord_format(&out, buf, sizeof(buf));
    assert_string_equal(
        buf, "aac.replay.v1 missing_field=101-102;wrong_type=100-107;wrong_type.1=104-105");
    assert_int_equal(off, 103);
    assert_false(aac_dlqrecord_has(&out, b, 103)); /* replayed by the next run */
    assert_false(aac_dlqrecord_has(&out, b, 106));
    aac_dlqrecord_tracker_clear(&t);
    aac_dlqrecord_clear(&old);
    aac_dlqrecord_clear(&out);

    /* retention moved the start to 103: ranges below it are dropped, a
     * range across it is cut; nothing read: all of it beyond is kept */
    memset(&old, 0, sizeof(old));
    assert_int_equal(aac_dlqrecord_add(&old, a, 0, 50), 0);
    assert_int_equal(aac_dlqrecord_add(&old, a, 100, 110), 0);
    aac_dlqrecord_tracker_init(&t, 103);
    memset(&out, 0, sizeof(out));
    assert_int_equal(aac_dlqrecord_tracker_result(&t, &old, &out, &off), 0);
    aac_dlqrecord_format(&out, buf, sizeof(buf));
    assert_string_equal(buf, "aac.replay.v1 wrong_type=103-110");
    assert_int_equal(off, 103);
    aac_dlqrecord_tracker_clear(&t);
    aac_dlqrecord_clear(&old);
    aac_dlqrecord_clear(&out);
}

/* A run's ledger: what was recorded before, queued as read, settled once
 * the delivery reports are in; a replay counts only once delivered. */
static void test_ledger(void **state)
{
    (void)state;
    const int64_t start[2] = {10, 0};
    char buf[AAC_DLQRECORD_MAX + 1];
    int64_t off = -1;
    int wt = aac_dlqrecord_key("wrong_type", 0);
    int mf = aac_dlqrecord_key("missing_field", 0);

    aac_dlqrecord_ledger_t *lg = aac_dlqrecord_ledger_new(2, start);
    assert_non_null(lg);
    assert_int_equal(aac_dlqrecord_ledger_load(lg, 0, "aac.replay.v1 wrong_type=10-12", 30), 0);
    assert_int_equal(aac_dlqrecord_ledger_load(lg, 1, NULL, 0), 0); /* nothing committed */
    assert_int_equal(aac_dlqrecord_ledger_load(lg, 1, "other", 5), -1);
    assert_int_equal(aac_dlqrecord_ledger_load(lg, 2, NULL, 0), -1); /* no such partition */
    assert_true(aac_dlqrecord_ledger_has(lg, 0, wt, 11));
    assert_false(aac_dlqrecord_ledger_has(lg, 0, wt, 12));
    assert_false(aac_dlqrecord_ledger_has(lg, 0, mf, 11)); /* another key */
    assert_false(aac_dlqrecord_ledger_has(lg, 1, wt, 11));
    assert_false(aac_dlqrecord_ledger_has(lg, 5, wt, 11));

    /* 10, 11 recorded; 12 left; 13 delivered; 14 failed; 15 never reported */
    assert_int_equal(aac_dlqrecord_ledger_queue(lg, 0, wt, 10, true, false), 0);
    assert_int_equal(aac_dlqrecord_ledger_queue(lg, 0, wt, 11, true, false), 1);
    assert_int_equal(aac_dlqrecord_ledger_queue(lg, 0, mf, 12, false, false), 2);
    assert_int_equal(aac_dlqrecord_ledger_queue(lg, 0, mf, 13, false, true), 3);
    assert_int_equal(aac_dlqrecord_ledger_queue(lg, 0, mf, 14, false, true), 4);
    assert_int_equal(aac_dlqrecord_ledger_queue(lg, 0, mf, 15, false, true), 5);
    aac_dlqrecord_ledger_delivered(lg, 3, true);
    aac_dlqrecord_ledger_delivered(lg, 4, false);
    aac_dlqrecord_ledger_delivered(lg, 4, true); /* reported already: stays failed */
    aac_dlqrecord_ledger_delivered(lg, 2, true); /* not a replay: stays left */
    aac_dlqrecord_ledger_delivered(lg, 99, true);
    assert_int_equal(aac_dlqrecord_ledger_queued(lg), 6);
    assert_int_equal(aac_dlqrecord_ledger_settle(lg), 0);
    assert_int_equal(aac_dlqrecord_ledger_queued(lg), 0);

    int n = aac_dlqrecord_ledger_result(lg, 0, buf, &off);
    assert_string_equal(buf, "aac.replay.v1 missing_field=13-14;wrong_type=10-16");
    assert_int_equal(n, (int)strlen(buf));
    assert_int_equal(off, 12); /* the first one not replayed */
    assert_int_equal(aac_dlqrecord_ledger_result(lg, 1, buf, &off), 0); /* nothing read */

    /* a second batch goes on from the first */
    assert_int_equal(aac_dlqrecord_ledger_queue(lg, 0, mf, 16, false, true), 0);
    aac_dlqrecord_ledger_delivered(lg, 0, true);
    assert_int_equal(aac_dlqrecord_ledger_settle(lg), 0);
    aac_dlqrecord_ledger_result(lg, 0, buf, &off);
    assert_string_equal(buf, "aac.replay.v1 missing_field=13-14,16-17;wrong_type=10-17");
    assert_int_equal(off, 12);
    aac_dlqrecord_ledger_destroy(lg);
    aac_dlqrecord_ledger_destroy(NULL);
}

/* Replays that each start a range, on four keys, with offsets gaining
 * digits: _tight() stops the run before the text outgrows its metadata
 * (a result never fails), and not long before. */
static void test_ledger_tight(void **state)
{
    (void)state;
    const int64_t start[1] = {99990};
    char buf[AAC_DLQRECORD_MAX + 1];
    int64_t off, o;
    int n = 0, keys[4];
    keys[0] = aac_dlqrecord_key("wrong_type", 0);
    keys[1] = aac_dlqrecord_key("missing_field", 0);
    keys[2] = aac_dlqrecord_key("wrong_type", 1);
    keys[3] = aac_dlqrecord_key(NULL, 3);

    aac_dlqrecord_ledger_t *lg = aac_dlqrecord_ledger_new(1, start);
    assert_non_null(lg);
    assert_int_equal(aac_dlqrecord_ledger_load(lg, 0, NULL, 0), 0);
    for (o = start[0];; o += 2) {
        int key = keys[(o / 2) % 4];
        if (aac_dlqrecord_ledger_tight(lg, 0, key)) {
            assert_int_equal(aac_dlqrecord_ledger_settle(lg), 0);
            n = aac_dlqrecord_ledger_result(lg, 0, buf, &off);
            assert_true(n > 0);
            if (aac_dlqrecord_ledger_tight(lg, 0, key))
                break; /* the run stops before this one */
        }
        long i = aac_dlqrecord_ledger_queue(lg, 0, key, o, false, true);
        assert_true(i >= 0);
        aac_dlqrecord_ledger_delivered(lg, (size_t)i, true);
        /* one of the same key left out: the next replay starts a range */
        assert_true(aac_dlqrecord_ledger_queue(lg, 0, key, o + 1, false, false) >= 0);
        if (o % 50 == 0) { /* commits now and then */
            assert_int_equal(aac_dlqrecord_ledger_settle(lg), 0);
            assert_true(aac_dlqrecord_ledger_result(lg, 0, buf, &off) > 0);
        }
    }
    assert_true(n > AAC_DLQRECORD_MAX - 200);
    assert_true(n <= AAC_DLQRECORD_MAX);
    assert_int_equal(off, start[0] + 1); /* the first one left out */

    /* every replay is in the text, nothing left out is */
    aac_dlqrecord_t rec;
    memset(&rec, 0, sizeof(rec));
    assert_int_equal(aac_dlqrecord_parse(&rec, buf, (size_t)n), 0);
    for (int64_t x = start[0]; x < o; x += 2) {
        int key = keys[(x / 2) % 4];
        assert_true(aac_dlqrecord_has(&rec, key, x));
        assert_false(aac_dlqrecord_has(&rec, key, x + 1));
    }
    aac_dlqrecord_clear(&rec);
    aac_dlqrecord_ledger_destroy(lg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_record),
        cmocka_unit_test(test_tracker),
        cmocka_unit_test(test_ledger),
        cmocka_unit_test(test_ledger_tight),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
