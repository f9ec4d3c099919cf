/*
 * test_kafkaconf: a client configuration is built in the documented order,
 * and the forced consumer settings win over anything set before them; a
 * property read from a file reaches librdkafka under its own name.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

/* A property given as NAME_file reaches librdkafka as NAME with the file's
 * content, in the consumer's and the producer's configuration alike. */
static void test_property_file(void **state)
{
    (void)state;
    char dir[] = "/tmp/aac-test-kafkaconf.XXXXXX", path[600], err[512];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/secret", dir);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs("Sasl-From-File-9c\n", fp);
    fclose(fp);
    setenv("AAC_KAFKA_PROPERTIES_SASL_PASSWORD_FILE", path, 1);
    setenv("AAC_KAFKA_PROPERTIES_SASL_USERNAME", "alice", 1);
    setenv("AAC_KAFKA_PROPERTIES_SECURITY_PROTOCOL", "sasl_plaintext", 1);
    setenv("AAC_KAFKA_PRODUCER_PROPERTIES_CLIENT_ID_FILE", path, 1);
    aac_config_t *cfg = aac_config_load(NULL, err, sizeof(err));
    unsetenv("AAC_KAFKA_PROPERTIES_SASL_PASSWORD_FILE");
    unsetenv("AAC_KAFKA_PROPERTIES_SASL_USERNAME");
    unsetenv("AAC_KAFKA_PROPERTIES_SECURITY_PROTOCOL");
    unsetenv("AAC_KAFKA_PRODUCER_PROPERTIES_CLIENT_ID_FILE");
    if (!cfg)
        fail_msg("%s", err);
    rd_kafka_conf_t *consumer =
        aac_kafkaconf_new(cfg, NULL, 0, &cfg->kafka.consumer_properties, err, sizeof(err));
    rd_kafka_conf_t *producer =
        aac_kafkaconf_new(cfg, NULL, 0, &cfg->kafka.producer_properties, err, sizeof(err));
    assert_non_null(consumer);
    assert_non_null(producer);
    expect(consumer, "sasl.password", "Sasl-From-File-9c");
    expect(producer, "sasl.password", "Sasl-From-File-9c");
    expect(producer, "client.id", "Sasl-From-File-9c");
    rd_kafka_conf_destroy(consumer);
    rd_kafka_conf_destroy(producer);
    aac_config_destroy(cfg);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forced_win),
        cmocka_unit_test(test_order),
        cmocka_unit_test(test_property_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
