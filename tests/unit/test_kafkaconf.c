/*
 * test_kafkaconf: a client configuration is built in the documented order,
 * and the forced consumer settings win over anything set before them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "aac/config.h"
#include "aac/kafkaconf.h"

static void expect(rd_kafka_conf_t *c, const char *name, const char *want)
{
    char v[256];
    size_t n = sizeof(v);
    assert_int_equal(rd_kafka_conf_get(c, name, v, &n), RD_KAFKA_CONF_OK);
    assert_string_equal(v, want);
}

static void test_forced_win(void **state)
{
    (void)state;
    char err[256];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    /* as if a property list had changed them */
    assert_int_equal(aac_kafkaconf_set(c, "enable.auto.commit", "true", err, sizeof(err)), 0);
    assert_int_equal(aac_kafkaconf_set(c, "enable.auto.offset.store", "true", err, sizeof(err)), 0);
    assert_int_equal(aac_kafkaconf_set(c, "group.id", "theirs", err, sizeof(err)), 0);
    assert_int_equal(aac_kafkaconf_set_forced(c, "ours", err, sizeof(err)), 0);
    expect(c, "group.id", "ours");
    for (size_t i = 0; i < AAC_CONFIG_FORCED_CONSUMER_CNT; i++)
        expect(c, aac_config_forced_consumer[i][0], aac_config_forced_consumer[i][1]);
    expect(c, "enable.auto.commit", "false");
    expect(c, "enable.auto.offset.store", "false");
    rd_kafka_conf_destroy(c);
}

/* defaults < bootstrap.servers < kafka.properties < the client's own list */
static void test_order(void **state)
{
    (void)state;
    char err[256];
    aac_config_t *cfg = aac_config_load(NULL, err, sizeof(err));
    assert_non_null(cfg);
    static const char *const defaults[][2] = {{"client.id", "default-id"},
                                              {"socket.timeout.ms", "1111"}};
    char k1[] = "socket.timeout.ms", v1[] = "2222", k2[] = "no.such.property", v2[] = "1";
    aac_kv_t own_kv[] = {{.key = k1, .value = v1}};
    aac_kvlist_t own = {own_kv, 1};
    rd_kafka_conf_t *c = aac_kafkaconf_new(cfg, defaults, 2, &own, err, sizeof(err));
    assert_non_null(c);
    expect(c, "client.id", "default-id");
    expect(c, "socket.timeout.ms", "2222");
    expect(c, "bootstrap.servers", cfg->kafka.bootstrap_servers);
    rd_kafka_conf_destroy(c);

    aac_kv_t bad_kv[] = {{.key = k2, .value = v2}};
    aac_kvlist_t bad = {bad_kv, 1};
    assert_null(aac_kafkaconf_new(cfg, defaults, 2, &bad, err, sizeof(err)));
    assert_non_null(strstr(err, "no.such.property"));
    aac_config_destroy(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forced_win),
        cmocka_unit_test(test_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
