/*
 * test_fetchwake: the wake is on only when the credentials it gives back
 * are the consumer's own (no SASL, or SASL with both username and
 * password), and off with fetch_wake_ms 0; the low mark is half the
 * queue's bound in messages of the mean size, and at least 1; a consumer's queue is
 * watched and woken when it holds fewer, no more often than the interval. (That a wake makes a
 * stopped fetcher fetch at once is test_fetch_wake.sh's, against the development broker.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "aac/fetchwake.h"

static rd_kafka_conf_t *conf_with(const char *const *kv)
{
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    char err[256];
    for (; kv && kv[0]; kv += 2)
        if (rd_kafka_conf_set(c, kv[0], kv[1], err, sizeof(err)) != RD_KAFKA_CONF_OK)
            fail_msg("%s: %s", kv[0], err);
    return c;
}

static bool enabled_with(const char *const *kv, int interval_ms)
{
    rd_kafka_conf_t *c = conf_with(kv);
    aac_fetchwake_t *fw = aac_fetchwake_new(c, interval_ms);
    assert_non_null(fw);
    bool on = aac_fetchwake_enabled(fw);
    aac_fetchwake_destroy(fw);
    rd_kafka_conf_destroy(c);
    return on;
}

static void test_when_enabled(void **state)
{
    (void)state;
    assert_true(enabled_with(NULL, 20));
    assert_false(enabled_with(NULL, 0));
    assert_true(enabled_with((const char *const[]){"security.protocol", "ssl", NULL}, 20));
    /* username and password unused without SASL: whatever they are */
    assert_true(enabled_with((const char *const[]){"sasl.username", "u", NULL}, 20));
    const char *const sasl_full[] = {"security.protocol", "sasl_ssl",      "sasl.mechanisms",
                                     "SCRAM-SHA-512",     "sasl.username", "alice",
                                     "sasl.password",     "s3cret",        NULL};
    assert_true(enabled_with(sasl_full, 20));
    assert_false(enabled_with(sasl_full, 0));
    const char *const sasl_user_only[] = {"security.protocol", "SASL_PLAINTEXT", "sasl.username",
                                          "alice", NULL};
    assert_false(enabled_with(sasl_user_only, 20));
    const char *const sasl_none[] = {"security.protocol", "sasl_plaintext", "sasl.mechanisms",
                                     "GSSAPI", NULL};
    assert_false(enabled_with(sasl_none, 20));
}

static void test_low_mark(void **state)
{
    (void)state;
    rd_kafka_conf_t *c =
        conf_with((const char *const[]){"queued.max.messages.kbytes", "8192", NULL});
    aac_fetchwake_t *fw = aac_fetchwake_new(c, 20);
    assert_int_equal(aac_fetchwake_low(fw, 512), 8192);
    assert_int_equal(aac_fetchwake_low(fw, 1024), 4096);
    assert_int_equal(aac_fetchwake_low(fw, 0), 4096); /* none seen yet: 1 KiB */
    /* messages larger than half the bound: an empty queue still wakes */
    assert_int_equal(aac_fetchwake_low(fw, 8 << 20), 1);
    aac_fetchwake_destroy(fw);
    rd_kafka_conf_destroy(c);
}

/* A consumer with no broker to reach: its queue stays empty, below any
 * low mark, so every tick an interval apart wakes, and none in between. */
static void test_tick_interval(void **state)
{
    (void)state;
    char err[256];
    rd_kafka_conf_t *c = conf_with((const char *const[]){"bootstrap.servers", "127.0.0.1:1",
                                                         "group.id", "test-fetchwake", NULL});
    aac_fetchwake_t *fw = aac_fetchwake_new(c, 20);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, err, sizeof(err));
    if (!rk)
        fail_msg("%s", err);
    assert_false(aac_fetchwake_tick(fw, 1000, 10, 6000)); /* not attached */
    aac_fetchwake_attach(fw, rk);
    assert_true(aac_fetchwake_tick(fw, 1000, 10, 6000));
    assert_false(aac_fetchwake_tick(fw, 1019, 10, 6000));
    assert_true(aac_fetchwake_tick(fw, 1020, 10, 6000));
    aac_fetchwake_detach(fw);
    assert_false(aac_fetchwake_tick(fw, 5000, 10, 6000));
    aac_fetchwake_destroy(fw);
    rd_kafka_destroy(rk);

    /* fetch_wake_ms 0: never */
    c = conf_with((const char *const[]){"bootstrap.servers", "127.0.0.1:1", "group.id",
                                        "test-fetchwake", NULL});
    fw = aac_fetchwake_new(c, 0);
    assert_non_null(rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, err, sizeof(err)));
    aac_fetchwake_attach(fw, rk);
    assert_false(aac_fetchwake_tick(fw, 1000, 10, 6000));
    aac_fetchwake_destroy(fw);
    rd_kafka_destroy(rk);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_when_enabled),
        cmocka_unit_test(test_low_mark),
        cmocka_unit_test(test_tick_interval),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
