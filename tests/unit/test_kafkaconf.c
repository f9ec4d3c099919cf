/*
 * test_kafkaconf: a client configuration is built in the documented order,
 * and the forced consumer settings win over anything set before them; a
 * property read from a file reaches librdkafka under its own name; the
 * service's two clients are built whole here, and the check that
 * check-config and run make finds what librdkafka would refuse.
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

/* Loads the defaults with `env` set ("NAME=value", NULL-terminated). */
static aac_config_t *load_with(const char *const *env)
{
    char err[512];
    for (const char *const *e = env; *e; e++)
        assert_int_equal(putenv((char *)*e), 0);
    aac_config_t *cfg = aac_config_load(NULL, err, sizeof(err));
    for (const char *const *e = env; *e; e++) {
        char name[128];
        snprintf(name, sizeof(name), "%.*s", (int)(strchr(*e, '=') - *e), *e);
        unsetenv(name);
    }
    if (!cfg)
        fail_msg("%s", err);
    return cfg;
}

/* The consumer: our five defaults, the properties over them, the forced
 * settings over those. */
static void test_consumer_whole(void **state)
{
    (void)state;
    char err[512];
    aac_config_t *cfg = load_with((const char *const[]){
        "AAC_KAFKA_CONSUMER_PROPERTIES_AUTO_OFFSET_RESET=latest",
        "AAC_KAFKA_PROPERTIES_CLIENT_ID=mine", "AAC_KAFKA_GROUP_ID=g1", NULL});
    rd_kafka_conf_t *c = aac_kafkaconf_consumer(cfg, err, sizeof(err));
    assert_non_null(c);
    expect(c, "auto.offset.reset", "largest"); /* librdkafka's spelling of latest */
    expect(c, "client.id", "mine");
    expect(c, "queued.max.messages.kbytes", "8192");
    expect(c, "fetch.max.bytes", "4194304");
    expect(c, "partition.assignment.strategy", "cooperative-sticky");
    expect(c, "statistics.interval.ms", "5000");
    expect(c, "group.id", "g1");
    for (size_t i = 0; i < AAC_CONFIG_FORCED_CONSUMER_CNT; i++)
        expect(c, aac_config_forced_consumer[i][0], aac_config_forced_consumer[i][1]);
    rd_kafka_conf_destroy(c);
    aac_config_destroy(cfg);
}

/* memory.max_mb's shares for librdkafka, unless the properties say. */
static void test_memory_budget(void **state)
{
    (void)state;
    char err[512];
    aac_config_t *cfg = load_with((const char *const[]){"AAC_MEMORY_MAX_MB=32", NULL});
    rd_kafka_conf_t *c = aac_kafkaconf_consumer(cfg, err, sizeof(err));
    assert_non_null(c);
    expect(c, "queued.max.messages.kbytes", "4096");
    expect(c, "fetch.max.bytes", "2097152");
    rd_kafka_conf_destroy(c);
    aac_config_destroy(cfg);
    cfg = load_with((const char *const[]){
        "AAC_MEMORY_MAX_MB=32", "AAC_KAFKA_PROPERTIES_FETCH_MAX_BYTES=2000000",
        "AAC_KAFKA_CONSUMER_PROPERTIES_QUEUED_MAX_MESSAGES_KBYTES=100", NULL});
    assert_non_null(c = aac_kafkaconf_consumer(cfg, err, sizeof(err)));
    expect(c, "queued.max.messages.kbytes", "100");
    expect(c, "fetch.max.bytes", "2000000");
    rd_kafka_conf_destroy(c);
    aac_config_destroy(cfg);
}

/* The dead-letter producer: its defaults, then idempotent with acks=all. */
static void test_producer_whole(void **state)
{
    (void)state;
    char err[512];
    aac_config_t *cfg =
        load_with((const char *const[]){"AAC_KAFKA_PRODUCER_PROPERTIES_LINGER_MS=7", NULL});
    rd_kafka_conf_t *c = aac_kafkaconf_producer(cfg, err, sizeof(err));
    assert_non_null(c);
    expect(c, "client.id", "agent-actions-consumer-dlq");
    expect(c, "linger.ms", "7");
    expect(c, "message.timeout.ms", "30000");
    expect(c, "enable.idempotence", "true");
    expect(c, "acks", "-1"); /* librdkafka's spelling of all */
    rd_kafka_conf_destroy(c);
    aac_config_destroy(cfg);
}

/* statistics.interval.ms 0 would silently remove the lag metrics */
static void test_statistics_off_refused(void **state)
{
    (void)state;
    char err[512];
    aac_config_t *cfg = load_with(
        (const char *const[]){"AAC_KAFKA_CONSUMER_PROPERTIES_STATISTICS_INTERVAL_MS=00", NULL});
    assert_null(aac_kafkaconf_consumer(cfg, err, sizeof(err)));
    assert_non_null(strstr(err, "kafka property statistics.interval.ms: 0 turns"));
    assert_int_equal(aac_kafkaconf_check(cfg, err, sizeof(err)), -1);
    aac_config_destroy(cfg);
}

typedef struct check_case_s {
    const char *env;    /* NULL: the defaults */
    const char *expect; /* a substring of the error; NULL: passes */
} check_case_t;

/* What check-config and run refuse before any client exists: each case
 * names the property. */
static void test_check(void **state)
{
    (void)state;
    static const check_case_t cases[] = {
        {NULL, NULL},
        {"AAC_KAFKA_PROPERTIES_SECURITY_PROTOCOL=plaintext", NULL},
        /* misspelled, in the list both clients get */
        {"AAC_KAFKA_PROPERTIES_SOCKET_TIMEOUT_MX=5", "kafka property socket.timeout.mx: No such"},
        /* a value librdkafka refuses */
        {"AAC_KAFKA_CONSUMER_PROPERTIES_AUTO_OFFSET_RESET=middle",
         "kafka property auto.offset.reset: Invalid value"},
        /* the producer's list only: the consumer alone would not find it */
        {"AAC_KAFKA_PRODUCER_PROPERTIES_LINGER_MX=5", "kafka property linger.mx: No such"},
        /* each valid alone, refused together by rd_kafka_new() */
        {"AAC_KAFKA_PRODUCER_PROPERTIES_MAX_IN_FLIGHT_REQUESTS_PER_CONNECTION=10",
         "the dead-letter producer's configuration: `max.in.flight`"},
        {"AAC_KAFKA_CONSUMER_PROPERTIES_FETCH_MAX_BYTES=1000",
         "the consumer's configuration: `fetch.max.bytes`"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char err[512] = "";
        aac_config_t *cfg = load_with((const char *const[]){cases[i].env, NULL});
        int rc = aac_kafkaconf_check(cfg, err, sizeof(err));
        if (!cases[i].expect && rc != 0)
            fail_msg("%s: refused: %s", cases[i].env ? cases[i].env : "defaults", err);
        if (cases[i].expect && (rc != -1 || !strstr(err, cases[i].expect)))
            fail_msg("%s: rc %d, error \"%s\"", cases[i].env, rc, err);
        aac_config_destroy(cfg);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forced_win),     cmocka_unit_test(test_order),
        cmocka_unit_test(test_property_file),  cmocka_unit_test(test_consumer_whole),
        cmocka_unit_test(test_producer_whole), cmocka_unit_test(test_statistics_off_refused),
        cmocka_unit_test(test_check),          cmocka_unit_test(test_memory_budget),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
