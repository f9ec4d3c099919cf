/*
 * kafkaconf: librdkafka configurations from the service's configuration.
 *
 * The consumer's and the dead-letter producer's are built whole here,
 * defaults, properties and forced settings, and aac_kafkaconf_check()
 * builds them the same way, so what `check-config` accepts is what the
 * clients get.
 */
#include "aac/kafkaconf.h"

#include <stdio.h>
#include <stdlib.h>

#include "aac/log.h"

#define STATS_INTERVAL_MS "5000"

/* librdkafka calls this on its own threads; aac_log is thread-safe. */
static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    aac_log_level_t lv = level <= 3 ? AAC_LOG_ERROR : level <= 5 ? AAC_LOG_WARN : AAC_LOG_DEBUG;
    AAC_LOG_AT(lv, "librdkafka", AAC_KV_STR("client", rd_kafka_name(rk)),
               AAC_KV_STR("facility", fac), AAC_KV_STR("detail", buf));
}

const char *const aac_kafkaconf_consumer_defaults[AAC_KAFKACONF_CONSUMER_DEFAULT_CNT][2] = {
    {"auto.offset.reset", "earliest"},
    {"queued.max.messages.kbytes", "8192"}, /* the fetch queue's bound (memory.max_mb) */
    {"partition.assignment.strategy", "cooperative-sticky"},
    {"client.id", "agent-actions-consumer"},
    /* consumer lag for /metrics, from the statistics callback */
    {"statistics.interval.ms", STATS_INTERVAL_MS},
};

const char *const aac_kafkaconf_producer_defaults[AAC_KAFKACONF_PRODUCER_DEFAULT_CNT][2] = {
    {"client.id", "agent-actions-consumer-dlq"},
    /* a batch waits for its dead letters before it commits */
    {"linger.ms", "0"},
    {"message.timeout.ms", "30000"},
};

int aac_kafkaconf_set(rd_kafka_conf_t *conf, const char *name, const char *value, char *errstr,
                      size_t errstr_size)
{
    char err[256];
    if (rd_kafka_conf_set(conf, name, value, err, sizeof(err)) != RD_KAFKA_CONF_OK) {
        snprintf(errstr, errstr_size, "kafka property %s: %s", name, err);
        return -1;
    }
    return 0;
}

static int set_list(rd_kafka_conf_t *conf, const aac_kvlist_t *l, char *errstr, size_t size)
{
    for (size_t i = 0; l && i < l->cnt; i++)
        if (aac_kafkaconf_set(conf, l->kv[i].key, l->kv[i].value, errstr, size))
            return -1;
    return 0;
}

rd_kafka_conf_t *aac_kafkaconf_new(const aac_config_t *cfg, const char *const (*defaults)[2],
                                   size_t ndefaults, const aac_kvlist_t *own, char *errstr,
                                   size_t errstr_size)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    for (size_t i = 0; i < ndefaults; i++)
        if (aac_kafkaconf_set(conf, defaults[i][0], defaults[i][1], errstr, errstr_size))
            goto fail;
    if (aac_kafkaconf_set(conf, "bootstrap.servers", cfg->kafka.bootstrap_servers, errstr,
                          errstr_size) ||
        set_list(conf, &cfg->kafka.properties, errstr, errstr_size) ||
        set_list(conf, own, errstr, errstr_size))
        goto fail;
    rd_kafka_conf_set_log_cb(conf, log_cb);
    return conf;
fail:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

int aac_kafkaconf_set_forced_producer(rd_kafka_conf_t *conf, char *errstr, size_t errstr_size)
{
    for (size_t i = 0; i < AAC_CONFIG_FORCED_PRODUCER_CNT; i++)
        if (aac_kafkaconf_set(conf, aac_config_forced_producer[i][0],
                              aac_config_forced_producer[i][1], errstr, errstr_size))
            return -1;
    return 0;
}

int aac_kafkaconf_set_forced(rd_kafka_conf_t *conf, const char *group_id, char *errstr,
                             size_t errstr_size)
{
    if (aac_kafkaconf_set(conf, "group.id", group_id, errstr, errstr_size))
        return -1;
    for (size_t i = 0; i < AAC_CONFIG_FORCED_CONSUMER_CNT; i++)
        if (aac_kafkaconf_set(conf, aac_config_forced_consumer[i][0],
                              aac_config_forced_consumer[i][1], errstr, errstr_size))
            return -1;
    return 0;
}

/* Whether the configuration gives librdkafka property `name` itself. */
static bool given(const aac_config_t *cfg, const char *name)
{
    return aac_kvlist_get(&cfg->kafka.properties, name) ||
           aac_kvlist_get(&cfg->kafka.consumer_properties, name);
}

/* The memory budget's shares for librdkafka (memory.max_mb): an eighth for
 * its queue of fetched messages, a sixteenth for one fetch, unless the
 * properties are given. The queue need not hold more: the consume thread
 * wakes the fetchers when it runs low (fetchwake.h), so it is refilled
 * while it still holds half (docs/benchmark.md, "Memory and the fetch
 * settings"). */
static int set_memory(rd_kafka_conf_t *conf, const aac_config_t *cfg, char *errstr, size_t size)
{
    char v[32];
    if (!given(cfg, "queued.max.messages.kbytes")) {
        snprintf(v, sizeof(v), "%d", cfg->memory.max_mb * 1024 / 8);
        if (aac_kafkaconf_set(conf, "queued.max.messages.kbytes", v, errstr, size))
            return -1;
    }
    if (!given(cfg, "fetch.max.bytes")) {
        snprintf(v, sizeof(v), "%d", cfg->memory.max_mb * 1024 / 16 * 1024);
        if (aac_kafkaconf_set(conf, "fetch.max.bytes", v, errstr, size))
            return -1;
    }
    return 0;
}

rd_kafka_conf_t *aac_kafkaconf_consumer(const aac_config_t *cfg, char *errstr, size_t errstr_size)
{
    char v[32];
    size_t n = sizeof(v);
    rd_kafka_conf_t *conf =
        aac_kafkaconf_new(cfg, aac_kafkaconf_consumer_defaults, AAC_KAFKACONF_CONSUMER_DEFAULT_CNT,
                          &cfg->kafka.consumer_properties, errstr, errstr_size);
    if (!conf)
        return NULL;
    if (set_memory(conf, cfg, errstr, errstr_size))
        goto fail;
    /* not overridable: the offsets live in PostgreSQL with the rows */
    if (aac_kafkaconf_set_forced(conf, cfg->kafka.group_id, errstr, errstr_size))
        goto fail;
    /* read back as librdkafka understood it ("0", "00", ...) */
    if (rd_kafka_conf_get(conf, "statistics.interval.ms", v, &n) == RD_KAFKA_CONF_OK &&
        strtol(v, NULL, 10) == 0) {
        snprintf(
            errstr, errstr_size,
            "kafka property statistics.interval.ms: 0 turns librdkafka's statistics off, "
            "and with them the consumer lag (aac_consumer_lag_messages) and the news that a broker "
            "is reachable again; give an interval in milliseconds (default " STATS_INTERVAL_MS ")");
        goto fail;
    }
    return conf;
fail:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

rd_kafka_conf_t *aac_kafkaconf_producer(const aac_config_t *cfg, char *errstr, size_t errstr_size)
{
    rd_kafka_conf_t *conf =
        aac_kafkaconf_new(cfg, aac_kafkaconf_producer_defaults, AAC_KAFKACONF_PRODUCER_DEFAULT_CNT,
                          &cfg->kafka.producer_properties, errstr, errstr_size);
    /* not overridable: a dead letter must be written once and durably */
    if (conf && aac_kafkaconf_set_forced_producer(conf, errstr, errstr_size)) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    return conf;
}

/* The check's clients log nothing: the real ones log the same lines. */
static void silent_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    (void)level;
    (void)fac;
    (void)buf;
}

/* Has librdkafka make a client of `conf` (taken) and destroys it at once.
 * The copy names no broker, so it connects nowhere. */
static int try_client(rd_kafka_type_t type, rd_kafka_conf_t *conf, const char *who, char *errstr,
                      size_t errstr_size)
{
    char err[512];
    if (aac_kafkaconf_set(conf, "bootstrap.servers", "", errstr, errstr_size)) {
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    rd_kafka_conf_set_log_cb(conf, silent_log_cb);
    rd_kafka_t *rk = rd_kafka_new(type, conf, err, sizeof(err));
    if (!rk) {
        snprintf(errstr, errstr_size, "kafka: the %s's configuration: %.400s", who, err);
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    /* never subscribed: there is no group to leave */
    rd_kafka_destroy_flags(rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
    return 0;
}

int aac_kafkaconf_check(const aac_config_t *cfg, char *errstr, size_t errstr_size)
{
    rd_kafka_conf_t *conf = aac_kafkaconf_consumer(cfg, errstr, errstr_size);
    if (!conf || try_client(RD_KAFKA_CONSUMER, conf, "consumer", errstr, errstr_size))
        return -1;
    conf = aac_kafkaconf_producer(cfg, errstr, errstr_size);
    if (!conf || try_client(RD_KAFKA_PRODUCER, conf, "dead-letter producer", errstr, errstr_size))
        return -1;
    return 0;
}
