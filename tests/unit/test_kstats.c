/*
 * test_kstats: librdkafka statistics JSON to lag and broker state, on a
 * document captured from librdkafka 2.0.2 against the development broker
 * (tests/data/kstats/consumer_stats.json: topic "t1", 3 partitions, only
 * partition 1 with a committed offset, broker 1 not yet connected).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "aac/kstats.h"

static char *slurp(const char *name, size_t *len)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/kstats/%s", AAC_TEST_DATA_DIR, name);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static void test_real_sample(void **state)
{
    (void)state;
    size_t len;
    char *json = slurp("consumer_stats.json", &len);
    aac_kstats_t ks;
    char err[256];

    assert_int_equal(aac_kstats_parse(json, len, "t1", &ks, err, sizeof(err)), 0);
    /* two configured brokers, one UP; the logical GroupCoordinator not counted */
    assert_int_equal(ks.brokers, 2);
    assert_int_equal(ks.brokers_up, 1);
    /* partitions 0 and 2 have no committed offset (lag -1), "-1" is the
     * unassigned placeholder: only partition 1 is known */
    assert_int_equal(ks.lag_cnt, 1);
    assert_int_equal(ks.lag[0].partition, 1);
    assert_int_equal(ks.lag[0].lag, 16);

    /* another topic: brokers still read, no lag */
    assert_int_equal(aac_kstats_parse(json, len, "other", &ks, err, sizeof(err)), 0);
    assert_int_equal(ks.brokers_up, 1);
    assert_int_equal(ks.lag_cnt, 0);
    free(json);
}

/* Every topic when none is named (several topics, or a pattern), each lag
 * with its topic. */
static void test_every_topic(void **state)
{
    (void)state;
    static const char doc[] =
        "{\"brokers\":{},\"topics\":{\"a\":{\"partitions\":{\"0\":{\"partition\":0,"
        "\"consumer_lag\":5},\"-1\":{\"partition\":-1,\"consumer_lag\":-1}}},"
        "\"b.x\":{\"partitions\":{\"0\":{\"partition\":0,\"consumer_lag\":9},"
        "\"2\":{\"partition\":2,\"consumer_lag\":-1}}}}}";
    aac_kstats_t ks;
    char err[256];
    assert_int_equal(aac_kstats_parse(doc, sizeof(doc) - 1, NULL, &ks, err, sizeof(err)), 0);
    assert_int_equal(ks.lag_cnt, 2);
    assert_string_equal(ks.lag[0].topic, "a");
    assert_int_equal(ks.lag[0].lag, 5);
    assert_string_equal(ks.lag[1].topic, "b.x");
    assert_int_equal(ks.lag[1].partition, 0);
    assert_int_equal(ks.lag[1].lag, 9);
    assert_int_equal(aac_kstats_parse(doc, sizeof(doc) - 1, "b.x", &ks, err, sizeof(err)), 0);
    assert_int_equal(ks.lag_cnt, 1);
    assert_string_equal(ks.lag[0].topic, "b.x");
}

static void test_not_nul_terminated(void **state)
{
    (void)state;
    static const char doc[] = "{\"brokers\":{\"b:1/1\":{\"nodeid\":1,\"state\":\"UP\","
                              "\"source\":\"learned\"}},\"topics\":{\"t\":{\"partitions\":{"
                              "\"3\":{\"partition\":3,\"consumer_lag\":7}}}}}XXXX";
    aac_kstats_t ks;
    char err[256];
    assert_int_equal(aac_kstats_parse(doc, sizeof(doc) - 1 - 4, "t", &ks, err, sizeof(err)), 0);
    assert_int_equal(ks.brokers, 1);
    assert_int_equal(ks.brokers_up, 1);
    assert_int_equal(ks.lag_cnt, 1);
    assert_int_equal(ks.lag[0].partition, 3);
    assert_int_equal(ks.lag[0].lag, 7);
}

static void test_rejects(void **state)
{
    (void)state;
    static const char *const bad[] = {"", "{", "[]", "{\"topics\":{}}", "null", "{\"a\":1}"};
    aac_kstats_t ks;
    char err[256];
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        assert_int_equal(aac_kstats_parse(bad[i], strlen(bad[i]), "t", &ks, err, sizeof(err)), -1);
        assert_non_null(strstr(err, "could not parse statistics"));
        assert_null(strchr(err, '\n'));
        assert_int_equal(ks.lag_cnt, 0);
    }
}

static void test_odd_values_skipped(void **state)
{
    (void)state;
    /* wrong types, negative and oversized ids: skipped, not fatal */
    static const char doc[] =
        "{\"brokers\":{\"x\":1,\"y\":{\"state\":\"UP\",\"source\":\"internal\"}},"
        "\"topics\":{\"t\":{\"partitions\":{"
        "\"-1\":{\"partition\":-1,\"consumer_lag\":-1},"
        "\"0\":{\"partition\":0,\"consumer_lag\":\"5\"},"
        "\"1\":{\"partition\":1,\"consumer_lag\":0},"
        "\"9\":{\"partition\":99999999999,\"consumer_lag\":3}}}}}";
    aac_kstats_t ks;
    char err[256];
    assert_int_equal(aac_kstats_parse(doc, strlen(doc), "t", &ks, err, sizeof(err)), 0);
    assert_int_equal(ks.brokers, 0);
    assert_int_equal(ks.lag_cnt, 1);
    assert_int_equal(ks.lag[0].partition, 1);
    assert_int_equal(ks.lag[0].lag, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_real_sample),        cmocka_unit_test(test_every_topic),
        cmocka_unit_test(test_not_nul_terminated), cmocka_unit_test(test_rejects),
        cmocka_unit_test(test_odd_values_skipped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
