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
 *
 * The service's two clients have their whole configuration built here
 * (aac_kafkaconf_consumer, aac_kafkaconf_producer), so that `check-config`
 * and the start of `run` (aac_kafkaconf_check) judge exactly what the
 * clients will be given.
 */
#ifndef AAC_KAFKACONF_H
#define AAC_KAFKACONF_H

#include <stddef.h>

#include <librdkafka/rdkafka.h>

#include "aac/config.h"

/* The consumer's defaults, which kafka.properties and
 * kafka.consumer_properties may change. {name, value}. */
#define AAC_KAFKACONF_CONSUMER_DEFAULT_CNT 5
extern const char *const aac_kafkaconf_consumer_defaults[AAC_KAFKACONF_CONSUMER_DEFAULT_CNT][2];

/* The dead-letter producer's defaults, which kafka.properties and
 * kafka.producer_properties may change. {name, value}. */
#define AAC_KAFKACONF_PRODUCER_DEFAULT_CNT 3
extern const char *const aac_kafkaconf_producer_defaults[AAC_KAFKACONF_PRODUCER_DEFAULT_CNT][2];

/* Returns a new configuration (the caller owns it until rd_kafka_new()
 * takes it), or NULL with "kafka property NAME: reason" in errstr.
 * `defaults` holds `ndefaults` {name, value} pairs; `own` may be NULL. */
rd_kafka_conf_t *aac_kafkaconf_new(const aac_config_t *cfg, const char *const (*defaults)[2],
                                   size_t ndefaults, const aac_kvlist_t *own, char *errstr,
                                   size_t errstr_size);

/* The consumer's whole configuration: aac_kafkaconf_consumer_defaults,
 * bootstrap.servers, kafka.properties, kafka.consumer_properties, then
 * group.id and the settings of aac_config_forced_consumer. The caller sets
 * its callbacks and opaque, and owns the result until rd_kafka_new() takes
 * it. NULL with the reason in errstr (as aac_kafkaconf_new), also when
 * statistics.interval.ms is 0: the consumer's lag
 * (aac_consumer_lag_messages) and the news that a broker is back come
 * from librdkafka's statistics. */
rd_kafka_conf_t *aac_kafkaconf_consumer(const aac_config_t *cfg, char *errstr, size_t errstr_size);

/* The dead-letter producer's whole configuration:
 * aac_kafkaconf_producer_defaults, bootstrap.servers, kafka.properties,
 * kafka.producer_properties, then the settings of
 * aac_config_forced_producer. As aac_kafkaconf_consumer otherwise. */
rd_kafka_conf_t *aac_kafkaconf_producer(const aac_config_t *cfg, char *errstr, size_t errstr_size);

/* Builds both configurations as the service does and has librdkafka judge
 * each as rd_kafka_new() does (on a copy that names no broker, so nothing
 * connects and nothing is sent): an unknown property, a value librdkafka
 * refuses, or settings that cannot go together. Returns 0, or -1 with one
 * line in errstr naming the client and what librdkafka said. Any thread;
 * takes a few milliseconds (librdkafka starts and stops its threads). */
int aac_kafkaconf_check(const aac_config_t *cfg, char *errstr, size_t errstr_size);

/* Sets group.id and the settings no configuration may change
 * (aac_config_forced_consumer) on a consumer's configuration. Returns 0,
 * or -1 with the reason in errstr. */
int aac_kafkaconf_set_forced(rd_kafka_conf_t *conf, const char *group_id, char *errstr,
                             size_t errstr_size);

/* Sets the settings no configuration may change on a producer's
 * configuration (aac_config_forced_producer: idempotent, acks=all).
 * Returns 0, or -1 with the reason in errstr. */
int aac_kafkaconf_set_forced_producer(rd_kafka_conf_t *conf, char *errstr, size_t errstr_size);

/* Sets one property; returns 0, or -1 with the reason in errstr. */
int aac_kafkaconf_set(rd_kafka_conf_t *conf, const char *name, const char *value, char *errstr,
                      size_t errstr_size);

#endif
