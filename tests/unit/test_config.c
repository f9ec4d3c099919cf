/*
 * test_config: every bad-configuration case gets one specific line naming
 * the key, the file and line, and what is wrong; good ones load with the
 * documented precedence; secrets never appear in check-config's dump; the
 * shipped config file documents exactly the built-in defaults; secrets
 * given as files are read at load, and a file that cannot be used is a
 * configuration error naming the key and the file.
 */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "aac/config.h"

#define SHIPPED_CONFIG AAC_TEST_DATA_DIR "/../../config/agent-actions-consumer.yaml"

static char tmpdir[] = "/tmp/aac-test-config.XXXXXX";

static const char *write_file(const char *name, const char *content)
{
    static char path[512];
    snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(content, fp);
    fclose(fp);
    return path;
}

static char *dump(const aac_config_t *cfg)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&buf, &len);
    assert_non_null(fp);
    aac_config_dump(cfg, fp);
    fclose(fp);
    return buf;
}

typedef struct bad_case_s {
    const char *name;
    const char *yaml;      /* NULL: no file written */
    const char *env[2];    /* "NAME=value" */
    const char *expect[3]; /* substrings of the error line */
} bad_case_t;

static const bad_case_t bad_cases[] = {
    {"unknown key",
     "batch:\n  max_events: 10\n  max_event: 5\n",
     {0},
     {":3: batch.max_event: unknown key", NULL}},
    {"unknown section", "batches:\n  max_events: 10\n", {0}, {":1:", "batches", "unknown key"}},
    {"wrong type (text for integer)",
     "batch:\n  linger_ms: soon\n",
     {0},
     {":2: batch.linger_ms: expected an integer, got \"soon\"", NULL}},
    {"wrong type (sequence for scalar)",
     "kafka:\n  topic: [a, b]\n",
     {0},
     {"topic", "wrong type", NULL}},
    {"wrong type (mapping for a key, on the lines below it)",
     "kafka:\n  topic:\n    a: b\n",
     {0},
     {":2: kafka.topic: wrong type: expected a scalar value here", NULL}},
    {"wrong type (scalar for a section)",
     "kafka: 5\n",
     {0},
     {":1: kafka: wrong type: expected a mapping here", NULL}},
    {"wrong type (scalar for a property map)",
     "kafka:\n  properties: security.protocol=ssl\n",
     {0},
     {":2: kafka.properties: wrong type: expected a mapping, got a scalar", NULL}},
    {"wrong type (sequence for a property map)",
     "kafka:\n  consumer_properties:\n    - a\n",
     {0},
     {":3: kafka.consumer_properties: wrong type: expected a mapping, got a sequence", NULL}},
    {"unknown key holding a sequence",
     "batch:\n  max_events: 7\n  unknown: {a: [1]}\n",
     {0},
     {":3: batch.unknown: unknown key", NULL}},
    {"wrong type (mapping as property value)",
     "kafka:\n  properties:\n    security.protocol:\n      a: b\n",
     {0},
     {":4: kafka.properties.security.protocol: wrong type", NULL}},
    {"wrong type (boolean)",
     "retry:\n  jitter: maybe\n",
     {0},
     {":2: retry.jitter: expected true or false", NULL}},
    {"out of range",
     "batch:\n  max_events: 0\n",
     {0},
     {":2: batch.max_events: 0 is out of range (1 to 1000000)", NULL}},
    {"out of range (double)",
     "retry:\n  multiplier: 0.5\n",
     {0},
     {"retry.multiplier: 0.5 is out of range", NULL}},
    {"integer overflow",
     "http:\n  port: 99999999999999999999\n",
     {0},
     {"http.port: expected an integer", NULL}},
    {"missing required value",
     "kafka:\n  topic: \"\"\n",
     {0},
     {":2: kafka.topic: a value is required", NULL}},
    {"malformed YAML", "batch:\n  max_events: 10\n linger_ms: [\n", {0}, {"malformed YAML", NULL}},
    {"not a mapping", "- a\n- b\n", {0}, {":1: wrong type: the document must be a mapping", NULL}},
    {"duplicate key",
     "batch:\n  max_events: 10\n  max_events: 20\n",
     {0},
     {":3: batch.max_events: duplicate key", NULL}},
    {"bad log level",
     "log:\n  level: verbose\n",
     {0},
     {":2: log.level: expected one of debug", NULL}},
    {"bad framing",
     "event:\n  max_depth: 8\n  framing: avro\n",
     {0},
     {":3: event.framing: expected auto, none or confluent, got \"avro\"", NULL}},
    {"framing is case-sensitive, as log.format",
     NULL,
     {"AAC_EVENT_FRAMING=Confluent", NULL},
     {"environment variable AAC_EVENT_FRAMING: event.framing: expected auto, none or confluent",
      NULL}},
    {"env: wrong type",
     NULL,
     {"AAC_BATCH_MAX_EVENTS=lots", NULL},
     {"environment variable AAC_BATCH_MAX_EVENTS: batch.max_events: expected an integer", NULL}},
    {"env: unknown setting",
     NULL,
     {"AAC_BATCH_MAX_EVENT=5", NULL},
     {"environment variable AAC_BATCH_MAX_EVENT: unknown setting", NULL}},
    {"env: out of range",
     NULL,
     {"AAC_HTTP_PORT=70000", NULL},
     {"AAC_HTTP_PORT: http.port: 70000 is out of range", NULL}},
    {"keepalives_idle_s below 1",
     "postgres:\n  keepalives_idle_s: 0\n",
     {0},
     {":2: postgres.keepalives_idle_s: 0 is out of range (1 to 32767)", NULL}},
    {"keepalives_idle_s above Linux's limit",
     "postgres:\n  keepalives_idle_s: 32768\n",
     {0},
     {":2: postgres.keepalives_idle_s: 32768 is out of range (1 to 32767)", NULL}},
    {"keepalives_interval_s below 1",
     "postgres:\n  keepalives_interval_s: 0\n",
     {0},
     {":2: postgres.keepalives_interval_s: 0 is out of range (1 to 32767)", NULL}},
    {"keepalives_interval_s above Linux's limit",
     "postgres:\n  keepalives_interval_s: 32768\n",
     {0},
     {":2: postgres.keepalives_interval_s: 32768 is out of range (1 to 32767)", NULL}},
    {"keepalives_count below 1",
     "postgres:\n  keepalives_count: 0\n",
     {0},
     {":2: postgres.keepalives_count: 0 is out of range (1 to 127)", NULL}},
    {"keepalives_count above Linux's limit",
     NULL,
     {"AAC_POSTGRES_KEEPALIVES_COUNT=128", NULL},
     {"AAC_POSTGRES_KEEPALIVES_COUNT: postgres.keepalives_count: 128 is out of range (1 to 127)",
      NULL}},
    {"tcp_user_timeout_ms negative",
     "postgres:\n  tcp_user_timeout_ms: -1\n",
     {0},
     {":2: postgres.tcp_user_timeout_ms: -1 is out of range (0 to 3600000)", NULL}},
    {"tcp_user_timeout_ms above an hour",
     NULL,
     {"AAC_POSTGRES_TCP_USER_TIMEOUT_MS=3600001", NULL},
     {"postgres.tcp_user_timeout_ms: 3600001 is out of range (0 to 3600000)", NULL}},
    {"forced property",
     "kafka:\n  consumer_properties:\n    enable.auto.commit: \"true\"\n",
     {0},
     {"enable.auto.commit cannot be changed", NULL}},
    {"forced property in the list both clients get",
     "kafka:\n  properties:\n    enable.auto.offset.store: \"true\"\n",
     {0},
     {"kafka.properties: enable.auto.offset.store cannot be changed", NULL}},
    {"forced producer property",
     "kafka:\n  producer_properties:\n    acks: \"1\"\n",
     {0},
     {"kafka.producer_properties: acks cannot be changed: a dead letter is written once and "
      "durably, which needs acks=all",
      NULL}},
    {"forced producer property in the list both clients get",
     NULL,
     {"AAC_KAFKA_PROPERTIES_ENABLE_IDEMPOTENCE=false", NULL},
     {"kafka.properties: enable.idempotence cannot be changed", NULL}},
    {"property duplicating a key",
     NULL,
     {"AAC_KAFKA_PROPERTIES_GROUP_ID=x", NULL},
     {"set group.id with kafka.group_id", NULL}},
    {"dlq equals topic",
     "kafka:\n  topic: t\n  dlq_topic: t\n",
     {0},
     {"kafka.dlq_topic: must differ from kafka.topic", NULL}},
};

static void test_bad_configs(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
        const bad_case_t *c = &bad_cases[i];
        char err[1024] = "";
        const char *path = c->yaml ? write_file("bad.yaml", c->yaml) : NULL;
        for (int e = 0; e < 2 && c->env[e]; e++)
            putenv((char *)c->env[e]);
        aac_config_t *cfg = aac_config_load(path, err, sizeof(err));
        for (int e = 0; e < 2 && c->env[e]; e++) {
            char name[128];
            snprintf(name, sizeof(name), "%.*s", (int)strcspn(c->env[e], "="), c->env[e]);
            unsetenv(name);
        }
        if (cfg) {
            aac_config_destroy(cfg);
            fail_msg("case \"%s\": loaded, expected an error", c->name);
        }
        if (strchr(err, '\n'))
            fail_msg("case \"%s\": error is not one line: %s", c->name, err);
        if (path && !strstr(err, path) && c->yaml && strstr(c->expect[0], ":") == c->expect[0])
            fail_msg("case \"%s\": error does not name the file: %s", c->name, err);
        for (int k = 0; k < 3 && c->expect[k]; k++)
            if (!strstr(err, c->expect[k]))
                fail_msg("case \"%s\": error \"%s\" lacks \"%s\"", c->name, err, c->expect[k]);
    }
}

static void test_unreadable_file(void **state)
{
    (void)state;
    char err[1024];
    assert_null(aac_config_load("/nonexistent/aac.yaml", err, sizeof(err)));
    assert_non_null(strstr(err, "cannot read /nonexistent/aac.yaml: No such file or directory"));
    /* a directory opens, but is no configuration of defaults */
    assert_null(aac_config_load(tmpdir, err, sizeof(err)));
    assert_non_null(strstr(err, "cannot read /tmp/aac-test-config."));
    assert_non_null(strstr(err, ": Is a directory"));
}

static void test_precedence(void **state)
{
    (void)state;
    char err[1024];
    const char *path = write_file("good.yaml", "batch:\n  max_events: 100\n  linger_ms: 7\n"
                                               "kafka:\n  topic: events\n"
                                               "  properties:\n    client.id: from-file\n"
                                               "    socket.timeout.ms: 1000\n");
    setenv("AAC_BATCH_LINGER_MS", "9", 1);
    setenv("AAC_KAFKA_PROPERTIES_CLIENT_ID", "from-env", 1);
    aac_config_t *cfg = aac_config_load(path, err, sizeof(err));
    unsetenv("AAC_BATCH_LINGER_MS");
    unsetenv("AAC_KAFKA_PROPERTIES_CLIENT_ID");
    if (!cfg)
        fail_msg("%s", err);
    assert_int_equal(cfg->batch.max_events, 100);            /* file over default */
    assert_int_equal(cfg->batch.linger_ms, 9);               /* environment over file */
    assert_int_equal(cfg->retry.max_attempts, 5);            /* default */
    assert_string_equal(cfg->kafka.dlq_topic, "events.dlq"); /* derived */
    assert_string_equal(aac_kvlist_get(&cfg->kafka.properties, "client.id"), "from-env");
    assert_string_equal(aac_kvlist_get(&cfg->kafka.properties, "socket.timeout.ms"), "1000");
    aac_config_destroy(cfg);
}

/* The connection's keepalives and TCP_USER_TIMEOUT: defaults, both ends of
 * each range accepted, and the environment over the file. */
static void test_postgres_keepalives(void **state)
{
    (void)state;
    char err[1024];
    aac_config_t *cfg = aac_config_load(NULL, err, sizeof(err));
    if (!cfg)
        fail_msg("%s", err);
    assert_int_equal(cfg->postgres.keepalives_idle_s, 10);
    assert_int_equal(cfg->postgres.keepalives_interval_s, 5);
    assert_int_equal(cfg->postgres.keepalives_count, 3);
    assert_int_equal(cfg->postgres.tcp_user_timeout_ms, 20000);
    aac_config_destroy(cfg);

    static const struct {
        const char *yaml;
        int idle, interval, count, user_timeout;
    } edges[] = {
        {"postgres:\n  keepalives_idle_s: 1\n  keepalives_interval_s: 1\n"
         "  keepalives_count: 1\n  tcp_user_timeout_ms: 0\n",
         1, 1, 1, 0},
        {"postgres:\n  keepalives_idle_s: 32767\n  keepalives_interval_s: 32767\n"
         "  keepalives_count: 127\n  tcp_user_timeout_ms: 3600000\n"
         "http:\n  liveness_timeout_ms: 65535000\n",
         32767, 32767, 127, 3600000},
    };
    for (size_t i = 0; i < sizeof(edges) / sizeof(edges[0]); i++) {
        cfg = aac_config_load(write_file("keepalives.yaml", edges[i].yaml), err, sizeof(err));
        if (!cfg)
            fail_msg("edge %zu: %s", i, err);
        assert_int_equal(cfg->postgres.keepalives_idle_s, edges[i].idle);
        assert_int_equal(cfg->postgres.keepalives_interval_s, edges[i].interval);
        assert_int_equal(cfg->postgres.keepalives_count, edges[i].count);
        assert_int_equal(cfg->postgres.tcp_user_timeout_ms, edges[i].user_timeout);
        aac_config_destroy(cfg);
    }

    setenv("AAC_POSTGRES_TCP_USER_TIMEOUT_MS", "4500", 1);
    setenv("AAC_POSTGRES_KEEPALIVES_IDLE_S", "2", 1);
    cfg = aac_config_load(write_file("keepalives.yaml", "postgres:\n  keepalives_idle_s: 30\n"),
                          err, sizeof(err));
    unsetenv("AAC_POSTGRES_TCP_USER_TIMEOUT_MS");
    unsetenv("AAC_POSTGRES_KEEPALIVES_IDLE_S");
    if (!cfg)
        fail_msg("%s", err);
    assert_int_equal(cfg->postgres.tcp_user_timeout_ms, 4500);
    assert_int_equal(cfg->postgres.keepalives_idle_s, 2);
    aac_config_destroy(cfg);
}

static void test_secrets_redacted(void **state)
{
    (void)state;
    char err[1024];
    const char *path = write_file("secret.yaml", "postgres:\n  password: hunter2-file\n"
                                                 "kafka:\n  properties:\n"
                                                 "    sasl.password: s3cr3t-sasl\n"
                                                 "    ssl.key.password: k3y-pass\n"
                                                 "    sasl.username: alice\n");
    setenv("AAC_KAFKA_PRODUCER_PROPERTIES_SASL_OAUTHBEARER_CLIENT_SECRET", "oauth-s3cret", 1);
    aac_config_t *cfg = aac_config_load(path, err, sizeof(err));
    unsetenv("AAC_KAFKA_PRODUCER_PROPERTIES_SASL_OAUTHBEARER_CLIENT_SECRET");
    if (!cfg)
        fail_msg("%s", err);
    char *out = dump(cfg);
    assert_null(strstr(out, "hunter2"));
    assert_null(strstr(out, "s3cr3t"));
    assert_null(strstr(out, "k3y-pass"));
    assert_null(strstr(out, "oauth-s3cret"));
    assert_non_null(strstr(out, "sasl.username: \"alice\""));
    assert_non_null(strstr(out, "sasl.password: \"[redacted]\""));
    assert_non_null(strstr(out, "password: \"[redacted]\""));
    free(out);
    aac_config_destroy(cfg);
}

/* The shipped file must document every key with its real default. */
static void test_shipped_file_matches_defaults(void **state)
{
    (void)state;
    char err[1024];
    aac_config_t *shipped = aac_config_load(SHIPPED_CONFIG, err, sizeof(err));
    if (!shipped)
        fail_msg("%s", err);
    aac_config_t *defaults = aac_config_load(NULL, err, sizeof(err));
    assert_non_null(defaults);
    char *a = dump(shipped), *b = dump(defaults);
    assert_string_equal(a, b);

    FILE *fp = fopen(SHIPPED_CONFIG, "r");
    assert_non_null(fp);
    char text[16384];
    size_t n = fread(text, 1, sizeof(text) - 1, fp);
    text[n] = '\0';
    fclose(fp);
    /* every "  key:" of the dump appears in the file, as a key or comment */
    for (char *line = strtok(b, "\n"); line; line = strtok(NULL, "\n")) {
        if (strncmp(line, "  ", 2) != 0 || line[2] == ' ')
            continue;
        char key[128];
        snprintf(key, sizeof(key), "%.*s:", (int)strcspn(line + 2, ":"), line + 2);
        if (!strstr(text, key))
            fail_msg("config/agent-actions-consumer.yaml does not document %s", key);
    }
    free(a);
    free(b);
    aac_config_destroy(shipped);
    aac_config_destroy(defaults);
}

/* check-config's dump is YAML the loader reads back to the same values,
 * whatever bytes they hold: control bytes, quotes, backslashes, DEL,
 * UTF-8 (with the characters YAML may not carry raw: C1 controls, line
 * and paragraph separators, the BOM, U+FFFE, U+FFFF), property names
 * with YAML's own punctuation; an ill-formed byte, which only the
 * environment can bring, comes back as U+FFFD. */
static void test_dump_round_trip(void **state)
{
    (void)state;
    static const char weird[] = "a\x01\x1f\t\n\r\"q\" b\\s \x7f # c: d 'e' "
                                "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80 \xc2\x80\xc2\x85"
                                "\xc2\x9f \xe2\x80\xa8\xe2\x80\xa9 \xef\xbb\xbf\xef\xbf\xbe"
                                "\xef\xbf\xbf -";
    char err[1024];
    /* from a file: a property name that needs quoting, its value escaped */
    const char *path = write_file("weird.yaml", "kafka:\n  properties:\n"
                                                "    \"a: b #c\": \"\\t\\u0085x\"\n"
                                                "    \"-\": x\n");
    setenv("AAC_POSTGRES_HOST", weird, 1);
    /* kafka.topic takes names Kafka accepts, and ^patterns: anything */
    char pattern[sizeof(weird) + 1] = "^";
    strcat(pattern, weird + 1);
    for (char *c = pattern; *c; c++)
        if (*c == ',')
            *c = ';'; /* a comma separates topics */
    setenv("AAC_KAFKA_TOPIC", pattern, 1);
    setenv("AAC_KAFKA_CONSUMER_PROPERTIES_CLIENT_ID", weird, 1);
    aac_config_t *cfg = aac_config_load(path, err, sizeof(err));
    unsetenv("AAC_POSTGRES_HOST");
    unsetenv("AAC_KAFKA_TOPIC");
    unsetenv("AAC_KAFKA_CONSUMER_PROPERTIES_CLIENT_ID");
    if (!cfg)
        fail_msg("%s", err);
    char *first = dump(cfg);
    aac_config_t *back = aac_config_load(write_file("dump.yaml", first), err, sizeof(err));
    if (!back)
        fail_msg("the dump does not load: %s\n%s", err, first);
    assert_string_equal(back->postgres.host, weird);
    assert_string_equal(back->kafka.topic, pattern);
    assert_string_equal(back->kafka.dlq_topic, cfg->kafka.dlq_topic);
    assert_string_equal(aac_kvlist_get(&back->kafka.consumer_properties, "client.id"), weird);
    assert_string_equal(aac_kvlist_get(&back->kafka.properties, "a: b #c"), "\t\xc2\x85x");
    assert_string_equal(aac_kvlist_get(&back->kafka.properties, "-"), "x");
    assert_int_equal(back->kafka.properties.cnt, 2);
    /* and the dump of what was read back is the same text */
    char *second = dump(back);
    assert_string_equal(first, second);
    free(first);
    free(second);
    aac_config_destroy(cfg);
    aac_config_destroy(back);

    setenv("AAC_POSTGRES_DBNAME", "x\xff\xc3(y", 1);
    cfg = aac_config_load(NULL, err, sizeof(err));
    unsetenv("AAC_POSTGRES_DBNAME");
    if (!cfg)
        fail_msg("%s", err);
    first = dump(cfg);
    back = aac_config_load(write_file("dump.yaml", first), err, sizeof(err));
    if (!back)
        fail_msg("the dump does not load: %s\n%s", err, first);
    assert_string_equal(back->postgres.dbname, "x\xef\xbf\xbd\xef\xbf\xbd(y");
    free(first);
    aac_config_destroy(cfg);
    aac_config_destroy(back);
}

/* A secret file of `len` bytes of 'x' then `tail` (e.g. "\n"). */
static const char *write_secret(const char *name, size_t len, const char *tail)
{
    char *buf = malloc(len + strlen(tail) + 1);
    assert_non_null(buf);
    memset(buf, 'x', len);
    strcpy(buf + len, tail);
    const char *path = write_file(name, buf);
    free(buf);
    return path;
}

/* Kafka properties given as NAME_file: read at load into NAME, from the
 * file and from the environment (a trailing _FILE), one trailing newline
 * removed; check-config shows the file's name, never the content, and its
 * dump loads back to the same values. */
static void test_property_files(void **state)
{
    (void)state;
    char err[1024], sasl[512], key[512], oauth[512];
    snprintf(sasl, sizeof(sasl), "%s", write_file("sasl", "Sasl-S3cret-a1\n"));
    snprintf(key, sizeof(key), "%s", write_file("keypw", "Key-S3cret-b2\r\n"));
    snprintf(oauth, sizeof(oauth), "%s", write_file("oauth", "Oauth-S3cret-c3"));
    char yaml[2048];
    snprintf(yaml, sizeof(yaml),
             "kafka:\n  properties:\n    sasl.username: alice\n    sasl.password_file: %s\n"
             "  consumer_properties:\n    ssl.key.password_file: \"%s\"\n",
             sasl, key);
    const char *path = write_file("files.yaml", yaml);
    setenv("AAC_KAFKA_PRODUCER_PROPERTIES_SASL_OAUTHBEARER_CLIENT_SECRET_FILE", oauth, 1);
    aac_config_t *cfg = aac_config_load(path, err, sizeof(err));
    unsetenv("AAC_KAFKA_PRODUCER_PROPERTIES_SASL_OAUTHBEARER_CLIENT_SECRET_FILE");
    if (!cfg)
        fail_msg("%s", err);
    assert_string_equal(aac_kvlist_get(&cfg->kafka.properties, "sasl.password"), "Sasl-S3cret-a1");
    assert_null(aac_kvlist_get(&cfg->kafka.properties, "sasl.password_file"));
    assert_string_equal(aac_kvlist_get(&cfg->kafka.consumer_properties, "ssl.key.password"),
                        "Key-S3cret-b2");
    assert_string_equal(
        aac_kvlist_get(&cfg->kafka.producer_properties, "sasl.oauthbearer.client.secret"),
        "Oauth-S3cret-c3");
    assert_int_equal(cfg->kafka.properties.cnt, 2);
    char *out = dump(cfg);
    assert_null(strstr(out, "S3cret"));
    char want[600];
    snprintf(want, sizeof(want), "    sasl.password_file: \"%s\"\n", sasl);
    if (!strstr(out, want))
        fail_msg("the dump lacks '%s':\n%s", want, out);
    snprintf(want, sizeof(want), "    sasl.oauthbearer.client.secret_file: \"%s\"\n", oauth);
    assert_non_null(strstr(out, want));
    assert_non_null(strstr(out, "sasl.username: \"alice\""));
    /* the dump is a configuration that reads the same files again */
    aac_config_t *back = aac_config_load(write_file("files-dump.yaml", out), err, sizeof(err));
    if (!back)
        fail_msg("the dump does not load: %s\n%s", err, out);
    assert_string_equal(aac_kvlist_get(&back->kafka.consumer_properties, "ssl.key.password"),
                        "Key-S3cret-b2");
    char *again = dump(back);
    assert_string_equal(out, again);
    free(out);
    free(again);
    aac_config_destroy(back);
    aac_config_destroy(cfg);

    /* the bound: a file of 64 KiB (a PEM key fits), not a byte more */
    cfg = aac_config_load(NULL, err, sizeof(err));
    assert_non_null(cfg);
    aac_config_destroy(cfg);
    setenv("AAC_KAFKA_PROPERTIES_SSL_KEY_PEM_FILE", write_secret("big", 65535, "\n"), 1);
    cfg = aac_config_load(NULL, err, sizeof(err));
    unsetenv("AAC_KAFKA_PROPERTIES_SSL_KEY_PEM_FILE");
    if (!cfg)
        fail_msg("64 KiB refused: %s", err);
    assert_int_equal(strlen(aac_kvlist_get(&cfg->kafka.properties, "ssl.key.pem")), 65535);
    aac_config_destroy(cfg);
}

/* PostgreSQL's new keys: the URI is a secret, the files are checked at
 * load, and the environment sets each one. */
static void test_postgres_tls_and_uri(void **state)
{
    (void)state;
    char err[1024], ca[512], uri[512];
    snprintf(ca, sizeof(ca), "%s", write_file("ca.crt", "-----BEGIN CERTIFICATE-----\n"));
    snprintf(uri, sizeof(uri), "%s",
             write_file("uri", "postgresql://aac:Uri-S3cret-d4@db.internal/aac\n"));
    setenv("AAC_POSTGRES_URI", "postgresql://aac:Env-S3cret-e5@db.internal:6432/aac", 1);
    setenv("AAC_POSTGRES_SSLROOTCERT", ca, 1);
    setenv("AAC_POSTGRES_SSLCERT", ca, 1);
    setenv("AAC_POSTGRES_SSLKEY", ca, 1);
    setenv("AAC_POSTGRES_SSLCRL", ca, 1);
    setenv("AAC_POSTGRES_SSLMODE", "verify-full", 1);
    aac_config_t *cfg = aac_config_load(NULL, err, sizeof(err));
    unsetenv("AAC_POSTGRES_URI");
    unsetenv("AAC_POSTGRES_SSLCERT");
    unsetenv("AAC_POSTGRES_SSLKEY");
    unsetenv("AAC_POSTGRES_SSLCRL");
    if (!cfg)
        fail_msg("%s", err);
    assert_string_equal(cfg->postgres.uri, "postgresql://aac:Env-S3cret-e5@db.internal:6432/aac");
    assert_string_equal(cfg->postgres.sslrootcert, ca);
    assert_string_equal(cfg->postgres.sslcert, ca);
    assert_string_equal(cfg->postgres.sslkey, ca);
    assert_string_equal(cfg->postgres.sslcrl, ca);
    char *out = dump(cfg);
    assert_null(strstr(out, "S3cret"));
    assert_non_null(strstr(out, "  uri: \"[redacted]\"\n"));
    free(out);
    aac_config_destroy(cfg);

    setenv("AAC_POSTGRES_URI_FILE", uri, 1);
    cfg = aac_config_load(NULL, err, sizeof(err));
    unsetenv("AAC_POSTGRES_URI_FILE");
    unsetenv("AAC_POSTGRES_SSLROOTCERT");
    unsetenv("AAC_POSTGRES_SSLMODE");
    if (!cfg)
        fail_msg("%s", err);
    assert_string_equal(cfg->postgres.uri_file, uri); /* the name only: read per connection */
    out = dump(cfg);
    assert_null(strstr(out, "S3cret"));
    free(out);
    aac_config_destroy(cfg);

    /* libpq 16's "system" names no file */
    cfg = aac_config_load(write_file("system.yaml", "postgres:\n  sslrootcert: system\n"), err,
                          sizeof(err));
    if (!cfg)
        fail_msg("%s", err);
    aac_config_destroy(cfg);
}

/* A secret file that cannot be used: one line naming the key and the
 * file, never the content. */
static void test_secret_files_refused(void **state)
{
    (void)state;
    char empty[512], nul[512], big[512], pgbig[512], dir[512], ok[512];
    snprintf(empty, sizeof(empty), "%s", write_file("empty", "\n"));
    snprintf(ok, sizeof(ok), "%s", write_file("ok", "Ok-S3cret-f6\n"));
    snprintf(big, sizeof(big), "%s", write_secret("big1", 65537, ""));
    snprintf(pgbig, sizeof(pgbig), "%s", write_secret("pgbig", 4096, "\n"));
    snprintf(dir, sizeof(dir), "%s", tmpdir);
    snprintf(nul, sizeof(nul), "%s/nul", tmpdir);
    FILE *fp = fopen(nul, "w");
    assert_non_null(fp);
    fwrite("Nul-S3cret\0g7\n", 1, 14, fp);
    fclose(fp);

    char yaml_both[1024], yaml_empty_name[256];
    snprintf(yaml_both, sizeof(yaml_both),
             "kafka:\n  producer_properties:\n    sasl.password: Inline-S3cret\n"
             "    sasl.password_file: %s\n",
             ok);
    snprintf(yaml_empty_name, sizeof(yaml_empty_name),
             "kafka:\n  properties:\n    sasl.password_file: \"\"\n");
    struct {
        const char *name, *yaml, *var, *val, *expect[3];
    } cases[] = {
        {"missing",
         NULL,
         "AAC_KAFKA_PROPERTIES_SASL_PASSWORD_FILE",
         "/nonexistent/pw",
         {"could not open kafka.properties.sasl.password_file \"/nonexistent/pw\": No such file",
          NULL}},
        {"empty",
         NULL,
         "AAC_KAFKA_CONSUMER_PROPERTIES_SSL_KEY_PASSWORD_FILE",
         empty,
         {"kafka.consumer_properties.ssl.key.password_file \"", "\" is empty", NULL}},
        {"NUL byte",
         NULL,
         "AAC_KAFKA_PROPERTIES_SASL_PASSWORD_FILE",
         nul,
         {"kafka.properties.sasl.password_file \"", "contains a NUL byte", NULL}},
        {"too large",
         NULL,
         "AAC_KAFKA_PROPERTIES_SSL_KEY_PEM_FILE",
         big,
         {"kafka.properties.ssl.key.pem_file \"", "is too large (more than 65536 bytes)", NULL}},
        {"a directory",
         NULL,
         "AAC_KAFKA_PROPERTIES_SASL_PASSWORD_FILE",
         dir,
         {"could not read kafka.properties.sasl.password_file \"", "Is a directory", NULL}},
        {"both NAME and NAME_file",
         yaml_both,
         NULL,
         NULL,
         {"kafka.producer_properties: sasl.password and sasl.password_file are both set", NULL}},
        {"no file name",
         yaml_empty_name,
         NULL,
         NULL,
         {"kafka.properties.sasl.password_file: the name of a file is required", NULL}},
        {"postgres password file missing",
         NULL,
         "AAC_POSTGRES_PASSWORD_FILE",
         "/nonexistent/pg",
         {"could not open postgres.password_file \"/nonexistent/pg\": No such file", NULL}},
        {"postgres password file too large",
         NULL,
         "AAC_POSTGRES_PASSWORD_FILE",
         pgbig,
         {"postgres.password_file \"", "is too large (more than 4096 bytes)", NULL}},
        {"postgres uri file empty",
         NULL,
         "AAC_POSTGRES_URI_FILE",
         empty,
         {"postgres.uri_file \"", "\" is empty", NULL}},
        {"postgres sslrootcert missing",
         NULL,
         "AAC_POSTGRES_SSLROOTCERT",
         "/nonexistent/ca.crt",
         {"could not open postgres.sslrootcert \"/nonexistent/ca.crt\": No such file", NULL}},
        {"postgres sslkey missing",
         NULL,
         "AAC_POSTGRES_SSLKEY",
         "/nonexistent/client.key",
         {"could not open postgres.sslkey \"/nonexistent/client.key\"", NULL}},
        {"postgres uri and uri_file",
         "postgres:\n  uri: postgresql://a:Uri-S3cret@h/d\n",
         "AAC_POSTGRES_URI_FILE",
         ok,
         {"postgres.uri and postgres.uri_file are both set", NULL}},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char err[1024] = "";
        const char *path = cases[i].yaml ? write_file("refused.yaml", cases[i].yaml) : NULL;
        if (cases[i].var)
            setenv(cases[i].var, cases[i].val, 1);
        aac_config_t *cfg = aac_config_load(path, err, sizeof(err));
        if (cases[i].var)
            unsetenv(cases[i].var);
        if (cfg) {
            aac_config_destroy(cfg);
            fail_msg("case \"%s\": loaded, expected an error", cases[i].name);
        }
        if (strchr(err, '\n') || strstr(err, "S3cret"))
            fail_msg("case \"%s\": not one line, or shows the secret: %s", cases[i].name, err);
        for (int k = 0; k < 3 && cases[i].expect[k]; k++)
            if (!strstr(err, cases[i].expect[k]))
                fail_msg("case \"%s\": error \"%s\" lacks \"%s\"", cases[i].name, err,
                         cases[i].expect[k]);
    }
}

/* event.framing: auto by default; each value from the file and from
 * AAC_EVENT_FRAMING (over the file), and the dump says it back. */
static void test_event_framing(void **state)
{
    (void)state;
    char err[1024];
    aac_config_t *cfg = aac_config_load(NULL, err, sizeof(err));
    if (!cfg)
        fail_msg("%s", err);
    assert_int_equal(cfg->event.framing, AAC_EVENT_FRAMING_AUTO);
    char *out = dump(cfg);
    assert_non_null(strstr(out, "\nevent:\n  max_message_bytes: 1048576\n  max_depth: 32\n"
                                "  framing: auto\n"));
    free(out);
    aac_config_destroy(cfg);

    static const struct {
        const char *word;
        aac_event_framing_t want;
    } values[] = {{"auto", AAC_EVENT_FRAMING_AUTO},
                  {"none", AAC_EVENT_FRAMING_NONE},
                  {"confluent", AAC_EVENT_FRAMING_CONFLUENT}};
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        char yaml[64], want[64];
        snprintf(yaml, sizeof(yaml), "event:\n  framing: %s\n", values[i].word);
        cfg = aac_config_load(write_file("framing.yaml", yaml), err, sizeof(err));
        if (!cfg)
            fail_msg("%s: %s", values[i].word, err);
        assert_int_equal(cfg->event.framing, values[i].want);
        out = dump(cfg);
        snprintf(want, sizeof(want), "  framing: %s\n", values[i].word);
        assert_non_null(strstr(out, want));
        /* the dump loads back to the same value */
        aac_config_t *back = aac_config_load(write_file("dump.yaml", out), err, sizeof(err));
        if (!back)
            fail_msg("%s", err);
        assert_int_equal(back->event.framing, values[i].want);
        aac_config_destroy(back);
        free(out);
        aac_config_destroy(cfg);
    }

    setenv("AAC_EVENT_FRAMING", "confluent", 1);
    cfg =
        aac_config_load(write_file("framing.yaml", "event:\n  framing: none\n"), err, sizeof(err));
    unsetenv("AAC_EVENT_FRAMING");
    if (!cfg)
        fail_msg("%s", err);
    assert_int_equal(cfg->event.framing, AAC_EVENT_FRAMING_CONFLUENT);
    aac_config_destroy(cfg);

    /* listed among the environment variables */
    char *buf = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&buf, &len);
    assert_non_null(fp);
    aac_config_list_env(fp);
    fclose(fp);
    assert_non_null(strstr(buf, "AAC_EVENT_FRAMING\n"));
    free(buf);
}

static void test_empty_file_is_defaults(void **state)
{
    (void)state;
    char err[1024];
    aac_config_t *cfg =
        aac_config_load(write_file("empty.yaml", "\n# nothing\n"), err, sizeof(err));
    if (!cfg)
        fail_msg("%s", err);
    assert_int_equal(cfg->batch.max_events, 5000);
    aac_config_destroy(cfg);
    /* a property map left empty (null) is no map at all */
    cfg = aac_config_load(write_file("nullmaps.yaml", "kafka:\n  properties:\n"
                                                      "  consumer_properties: ~\n"
                                                      "  producer_properties: null\n"),
                          err, sizeof(err));
    if (!cfg)
        fail_msg("%s", err);
    assert_int_equal(cfg->kafka.properties.cnt, 0);
    assert_int_equal(cfg->kafka.consumer_properties.cnt, 0);
    aac_config_destroy(cfg);
}

/* http.liveness_timeout_ms must be above the longest legal wait plus the
 * margin, whichever setting bounds that wait; at exactly the limit it
 * loads, 1 ms below it is refused, naming the setting. */
static void test_liveness_above_longest_wait(void **state)
{
    (void)state;
    static const struct {
        const char *postgres; /* YAML lines of the postgres section */
        int64_t wait;         /* the longest wait */
        const char *which;    /* the setting that bounds it */
        bool lower;           /* the error suggests lowering it */
    } cases[] = {
        {"", 60000, "postgres.statement_timeout_ms", true}, /* the defaults */
        {"  statement_timeout_ms: 0\n", 20000, "postgres.tcp_user_timeout_ms", true},
        {"  statement_timeout_ms: 0\n  tcp_user_timeout_ms: 0\n", 25000, "postgres.keepalives_*",
         true},
        {"  statement_timeout_ms: 1000\n  connect_timeout_s: 45\n", 45000,
         "postgres.connect_timeout_s", true},
        /* the first probe comes after idle: tcp_user_timeout ends nothing sooner */
        {"  statement_timeout_ms: 0\n  keepalives_idle_s: 30\n", 35000, "postgres.keepalives_*",
         true},
        {"  statement_timeout_ms: 1000\n  connect_timeout_s: 1\n  tcp_user_timeout_ms: 2000\n"
         "  keepalives_idle_s: 1\n  keepalives_interval_s: 1\n",
         AAC_CONFIG_DEAD_LETTER_WAIT_MS, "the wait for a batch's dead letters", false},
    };
    char err[1024], yaml[512];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        for (int below = 0; below <= 1; below++) {
            int64_t liveness = cases[i].wait + AAC_CONFIG_LIVENESS_MARGIN_MS - below;
            snprintf(yaml, sizeof(yaml),
                     "postgres:\n%s  application_name: x\nhttp:\n"
                     "  liveness_timeout_ms: %" PRId64 "\n",
                     cases[i].postgres, liveness);
            aac_config_t *cfg =
                aac_config_load(write_file("liveness.yaml", yaml), err, sizeof(err));
            if (!below) {
                if (!cfg)
                    fail_msg("case %zu at the limit: %s", i, err);
                const char *which = NULL;
                assert_int_equal(aac_config_longest_wait_ms(cfg, &which), cases[i].wait);
                assert_string_equal(which, cases[i].which);
                aac_config_destroy(cfg);
                continue;
            }
            if (cfg)
                fail_msg("case %zu: liveness %" PRId64 " accepted", i, liveness);
            char want[256];
            snprintf(want, sizeof(want),
                     "http.liveness_timeout_ms: %" PRId64 " is below %" PRId64
                     ": the service may wait %" PRId64 " ms in one call (%s)",
                     liveness, liveness + 1, cases[i].wait, cases[i].which);
            if (!strstr(err, want))
                fail_msg("case %zu: %s", i, err);
            assert_true((strstr(err, ", or lower ") != NULL) == cases[i].lower);
        }
    }
    /* the default leaves room for the default statement_timeout */
    aac_config_t *cfg = aac_config_load(NULL, err, sizeof(err));
    assert_non_null(cfg);
    assert_true(cfg->http.liveness_timeout_ms >=
                aac_config_longest_wait_ms(cfg, NULL) + AAC_CONFIG_LIVENESS_MARGIN_MS);
    aac_config_destroy(cfg);
}

/* A forced setting given its own value is accepted (case aside). */
static void test_forced_same_value(void **state)
{
    (void)state;
    char err[1024];
    aac_config_t *cfg = aac_config_load(
        write_file("forced.yaml", "kafka:\n  properties:\n    enable.auto.commit: \"False\"\n"
                                  "  producer_properties:\n    acks: ALL\n"
                                  "    enable.idempotence: \"true\"\n"),
        err, sizeof(err));
    if (!cfg)
        fail_msg("%s", err);
    aac_config_destroy(cfg);
}

int main(void)
{
    /* keep the caller's AAC_ variables out of the cases */
    unsetenv("AAC_CONFIG");
    assert_non_null(mkdtemp(tmpdir));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_configs),
        cmocka_unit_test(test_unreadable_file),
        cmocka_unit_test(test_precedence),
        cmocka_unit_test(test_postgres_keepalives),
        cmocka_unit_test(test_liveness_above_longest_wait),
        cmocka_unit_test(test_forced_same_value),
        cmocka_unit_test(test_secrets_redacted),
        cmocka_unit_test(test_shipped_file_matches_defaults),
        cmocka_unit_test(test_empty_file_is_defaults),
        cmocka_unit_test(test_event_framing),
        cmocka_unit_test(test_dump_round_trip),
        cmocka_unit_test(test_property_files),
        cmocka_unit_test(test_postgres_tls_and_uri),
        cmocka_unit_test(test_secret_files_refused),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
    if (system(cmd) != 0)
        return 1;
    return rc;
}
