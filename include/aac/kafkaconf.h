/*
 * kafkaconf: a librdkafka configuration built from ours, the same way for
 * every client the service creates (the consumer, the dead-letter
 * producer, the dlq tool's reader and replayer).
 *
 * Order, lowest first: the caller's defaults, bootstrap.servers,
 * kafka.properties, then the client's own list (consumer_properties or
 * producer_properties). Settings the caller must not let the user change
 * are set after this returns. librdkafka's log lines go to aac_log, tagged
 * with the client's name.
 */
#ifndef AAC_KAFKACONF_H
#define AAC_KAFKACONF_H

#include <stddef.h>

#include <librdkafka/rdkafka.h>

#include "aac/config.h"

/* Returns a new configuration (the caller owns it until rd_kafka_new()
 * takes it), or NULL with "kafka property NAME: reason" in errstr.
 * `defaults` holds `ndefaults` {name, value} pairs; `own` may be NULL. */
rd_kafka_conf_t *aac_kafkaconf_new(const aac_config_t *cfg, const char *const (*defaults)[2],
                                   size_t ndefaults, const aac_kvlist_t *own, char *errstr,
                                   size_t errstr_size);

/* Sets group.id and the settings no configuration may change
 * (aac_config_forced_consumer) on a consumer's configuration. Returns 0,
 * or -1 with the reason in errstr. */
int aac_kafkaconf_set_forced(rd_kafka_conf_t *conf, const char *group_id, char *errstr,
                             size_t errstr_size);

/* Sets one property; returns 0, or -1 with the reason in errstr. */
int aac_kafkaconf_set(rd_kafka_conf_t *conf, const char *name, const char *value, char *errstr,
                      size_t errstr_size);

#endif
