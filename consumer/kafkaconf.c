/*
 * kafkaconf: librdkafka configurations from the service's configuration.
 */
#include "aac/kafkaconf.h"

#include <stdio.h>

#include "aac/log.h"

/* librdkafka calls this on its own threads; aac_log is thread-safe. */
static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    aac_log_level_t lv = level <= 3 ? AAC_LOG_ERROR : level <= 5 ? AAC_LOG_WARN : AAC_LOG_DEBUG;
    AAC_LOG_AT(lv, "librdkafka", AAC_KV_STR("client", rd_kafka_name(rk)),
               AAC_KV_STR("facility", fac), AAC_KV_STR("detail", buf));
}

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
