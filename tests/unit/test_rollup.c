/*
 * test_rollup: the duration histogram (buckets, merge, the percentile read
 * and its bound), a batch's groups, and the build's parameters.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "aac/rollup.h"

/* percentile_cont over the exact values (sorted in place). */
static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static double exact_percentile(int64_t *v, size_t n, double p)
{
    if (!n)
        return -1;
    qsort(v, n, sizeof(*v), cmp_i64);
    double pos = p * (double)(n - 1);
    size_t k = (size_t)pos;
    if (k >= n - 1)
        return (double)v[n - 1];
    double f = pos - (double)k;
    return (double)v[k] + f * (double)(v[k + 1] - v[k]);
}

static void test_buckets(void **state)
{
    (void)state;
    for (int64_t v = 0; v < 8; v++)
        assert_int_equal(aac_hist_bucket(v), v);
    assert_int_equal(aac_hist_bucket(-5), 0);
    assert_int_equal(aac_hist_bucket(8), 8);
    assert_int_equal(aac_hist_bucket(9), 8);
    assert_int_equal(aac_hist_bucket(10), 9);
    assert_int_equal(aac_hist_bucket(15), 11);
    assert_int_equal(aac_hist_bucket(16), 12);
    assert_int_equal(aac_hist_bucket(INT32_MAX), AAC_HIST_BUCKETS - 1);
    /* every value lies in its bucket's bounds, the buckets tile the range
     * in order, and the middle is within 12.5 % of every value in it */
    int64_t prev_hi = -1;
    for (int b = 0; b < AAC_HIST_BUCKETS; b++) {
        int64_t lo, hi;
        aac_hist_bounds(b, &lo, &hi);
        assert_int_equal(lo, prev_hi + 1);
        assert_true(hi >= lo);
        assert_int_equal(aac_hist_bucket(lo), b);
        assert_int_equal(aac_hist_bucket(hi), b);
        double mid = aac_hist_mid(b);
        assert_true(mid - (double)lo <= 0.125 * (double)lo + 1e-9);
        assert_true((double)hi - mid <= 0.125 * (double)hi + 1e-9);
        prev_hi = hi;
    }
    assert_int_equal(prev_hi, INT32_MAX);
}

/* Histograms add up: the histogram of two sets is the sum of theirs, so a
 * merged rollup equals one computed over all the rows at once. */
static void test_merge_is_exact(void **state)
{
    (void)state;
    uint64_t a[AAC_HIST_BUCKETS] = {0}, b[AAC_HIST_BUCKETS] = {0}, all[AAC_HIST_BUCKETS] = {0};
    srand(3);
    for (int i = 0; i < 5000; i++) {
        int64_t v = rand() % 100000;
        (i % 3 ? a : b)[aac_hist_bucket(v)]++;
        all[aac_hist_bucket(v)]++;
    }
    for (int k = 0; k < AAC_HIST_BUCKETS; k++)
        assert_int_equal(a[k] + b[k], all[k]);
    uint64_t sum[AAC_HIST_BUCKETS];
    for (int k = 0; k < AAC_HIST_BUCKETS; k++)
        sum[k] = a[k] + b[k];
    for (double p = 0; p <= 1.0; p += 0.05)
        assert_true(aac_hist_percentile(sum, p) == aac_hist_percentile(all, p));
}

/* The stated bound, on known distributions: within 12.5 % of
 * percentile_cont over the exact values. */
static void check_bound(int64_t *v, size_t n)
{
    uint64_t h[AAC_HIST_BUCKETS] = {0};
    for (size_t i = 0; i < n; i++)
        h[aac_hist_bucket(v[i])]++;
    static const double ps[] = {0, 0.01, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 1};
    for (size_t i = 0; i < sizeof(ps) / sizeof(ps[0]); i++) {
        double want = exact_percentile(v, n, ps[i]), got = aac_hist_percentile(h, ps[i]);
        assert_true(got >= 0);
        if (!(got - want <= 0.125 * want + 1e-9 && want - got <= 0.125 * want + 1e-9))
            fail_msg("p%.3f: histogram %.3f, exact %.3f", ps[i], got, want);
    }
}

static void test_percentile_bound(void **state)
{
    (void)state;
    enum { N = 20000 };
    int64_t *v = malloc(N * sizeof(*v));
    srand(11);
    for (size_t i = 0; i < N; i++) /* uniform 0..5 s, as the benchmark's events */
        v[i] = rand() % 5000;
    check_bound(v, N);
    for (size_t i = 0; i < N; i++) /* heavy-tailed: 1 ms .. ~10 min */
        v[i] = (int64_t)(1 << (rand() % 20)) + rand() % 1000;
    check_bound(v, N);
    for (size_t i = 0; i < N; i++) /* one value */
        v[i] = 1234;
    check_bound(v, N);
    for (size_t i = 0; i < N; i++) /* two modes, small values exact */
        v[i] = i % 2 ? rand() % 8 : 300000 + rand() % 1000;
    check_bound(v, N);
    check_bound(v, 1);
    check_bound(v, 2);
    free(v);
    uint64_t none[AAC_HIST_BUCKETS] = {0};
    assert_true(aac_hist_percentile(none, 0.5) < 0);
}

static aac_event_t ev(const char *agent, aac_action_type_t type, const char *action,
                      const char *project)
{
    aac_event_t e;
    memset(&e, 0, sizeof(e));
    e.agent_name = (aac_str_t){agent, strlen(agent)};
    e.action_type = type;
    e.action_name = (aac_str_t){action, strlen(action)};
    if (project)
        e.project_name = (aac_str_t){project, strlen(project)};
    return e;
}

static void test_groups(void **state)
{
    (void)state;
    aac_rollup_groups_t *g = aac_rollup_groups_new();
    aac_event_t a = ev("coder", AAC_ACTION_TOOL_CALL, "bash", "acme");
    int32_t ga = aac_rollup_groups_intern(g, &a);
    assert_int_equal(aac_rollup_groups_intern(g, &a), ga);
    /* each field tells groups apart; no project is not an empty one */
    aac_event_t others[] = {ev("coder", AAC_ACTION_ERROR, "bash", "acme"),
                            ev("coder", AAC_ACTION_TOOL_CALL, "bash", NULL),
                            ev("coder", AAC_ACTION_TOOL_CALL, "bash", ""),
                            ev("code", AAC_ACTION_TOOL_CALL, "rbash", "acme"),
                            ev("coder", AAC_ACTION_TOOL_CALL, "bas", "hacme")};
    for (size_t i = 0; i < 5; i++) {
        int32_t gi = aac_rollup_groups_intern(g, &others[i]);
        assert_int_equal(gi, (int32_t)i + 1);
        assert_int_equal(aac_rollup_groups_intern(g, &others[i]), gi);
    }
    /* many groups: the table grows and keeps them apart */
    char name[32];
    for (int i = 0; i < 3000; i++) {
        snprintf(name, sizeof(name), "agent-%d", i);
        aac_event_t e = ev(name, AAC_ACTION_DECISION, "plan", NULL);
        assert_int_equal(aac_rollup_groups_intern(g, &e), 6 + i);
    }
    assert_int_equal(aac_rollup_groups_count(g), 3006);
    aac_rollup_groups_reset(g);
    assert_int_equal(aac_rollup_groups_count(g), 0);
    assert_int_equal(aac_rollup_groups_intern(g, &others[0]), 0);
    aac_rollup_groups_destroy(g);
}

/* Rows aggregate by (hour, group) and (hour, action); strings are quoted
 * for PostgreSQL's array syntax whatever they hold. */
static void test_build_params(void **state)
{
    (void)state;
    aac_rollup_groups_t *g = aac_rollup_groups_new();
    aac_rollup_t *r = aac_rollup_new();
    aac_event_t a = ev("we\"ird\\,{x}", AAC_ACTION_ERROR, "bash", NULL);
    aac_event_t b = ev("coder", AAC_ACTION_SUCCESS, "bash", "acme");
    int32_t ga = aac_rollup_groups_intern(g, &a), gb = aac_rollup_groups_intern(g, &b);
    const int64_t h10 = 1764583200LL * 1000000; /* 2025-12-01T10:00:00Z */
    aac_rollup_begin(r, g);
    aac_rollup_row_t rows[] = {{ga, 5, h10 + 1},
                               {ga, -1, h10 + 3599999999LL},
                               {ga, 100, h10 + 3600000000LL},
                               {gb, 7, h10 + 2}};
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(aac_rollup_add(r, &rows[i]), 0);
    assert_int_equal(aac_rollup_dead_letters(r, "t", "missing_field", 2), 0);
    assert_int_equal(aac_rollup_dead_letters(r, "t", "missing_field", 1), 0);
    assert_int_equal(aac_rollup_dead_letters(r, "u", "invalid_json", 1), 0);
    assert_int_equal(aac_rollup_consumed(r, "t", 6, 3, 0), 0);
    assert_int_equal(aac_rollup_consumed(r, "u", 1, 0, 0), 0);
    assert_int_equal(aac_rollup_consumed(r, "t", 1, 1, 0), 0);
    /* (10:00, a), (11:00, a), (10:00, b); (10:00, bash), (11:00, bash) */
    assert_int_equal(aac_rollup_keys(r), 5);
    const char *p[AAC_ROLLUP_PARAMS];
    assert_int_equal(aac_rollup_params(r, p, false), AAC_ROLLUP_COUNT_PARAMS);
    /* dead letters by (topic, reason), what each topic consumed */
    assert_string_equal(p[0], "{\"t\",\"u\"}");
    assert_string_equal(p[1], "{\"missing_field\",\"invalid_json\"}");
    assert_string_equal(p[2], "{3,1}");
    assert_string_equal(p[3], "{\"t\",\"u\"}");
    assert_string_equal(p[4], "{7,1}");
    assert_string_equal(p[5], "{4,0}");
    assert_string_equal(p[6], "{0,0}");
    assert_int_equal(aac_rollup_params(r, p, true), AAC_ROLLUP_PARAMS);
    const char **fine = p + AAC_ROLLUP_COUNT_PARAMS;
    assert_string_equal(fine[0], "{1764583200,1764586800,1764583200}");
    assert_string_equal(fine[1], "{\"we\\\"ird\\\\,{x}\",\"we\\\"ird\\\\,{x}\",\"coder\"}");
    assert_string_equal(fine[2], "{error,error,success}");
    assert_string_equal(fine[4], "{NULL,NULL,\"acme\"}");
    assert_string_equal(fine[5], "{2,1,1}");   /* events */
    assert_string_equal(fine[6], "{1,1,1}");   /* timed */
    assert_string_equal(fine[7], "{5,100,7}"); /* sum */
    assert_string_equal(fine[8], "{5,100,7}"); /* min */
    const char **coarse = fine + 12;
    assert_string_equal(coarse[0], "{1764583200,1764586800}");
    assert_string_equal(coarse[1], "{\"bash\",\"bash\"}");
    assert_string_equal(coarse[2], "{2,1}");
    assert_string_equal(coarse[3], "{12,100}");
    assert_int_equal(strncmp(coarse[5], "{{0,0,0,0,0,1,0,1,0", 19), 0);
    char sql[AAC_ROLLUP_SQL_MAX];
    assert_true(aac_rollup_sql(sql, sizeof(sql), 7, true) > 0);
    assert_non_null(strstr(sql, "$31::int4[]")); /* the last parameter: 6 + 25 */
    assert_null(strstr(sql, "$32"));
    assert_int_equal(aac_rollup_sql(sql, 100, 7, true), -1);
    aac_rollup_destroy(r);
    aac_rollup_groups_destroy(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buckets),          cmocka_unit_test(test_merge_is_exact),
        cmocka_unit_test(test_percentile_bound), cmocka_unit_test(test_groups),
        cmocka_unit_test(test_build_params),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
