/*
 * config: the service's configuration.
 *
 * One table in config.c describes every key: its YAML path, type, default,
 * bounds, whether it is a secret, and so its environment variable. The
 * libcyaml schema is derived from that table, so a key cannot exist in one
 * place and not the other.
 *
 * Precedence, lowest first: built-in default, the YAML file, the
 * environment (AAC_<SECTION>_<KEY>, e.g. AAC_BATCH_MAX_EVENTS; librdkafka
 * properties as AAC_KAFKA_PROPERTIES_<NAME> with dots written as
 * underscores, e.g. AAC_KAFKA_PROPERTIES_SECURITY_PROTOCOL). libpq's own
 * variables (PGHOST, PGPASSWORD, ...) apply to every postgres key left empty.
 *
 * Secrets from files: a librdkafka property NAME_file (sasl.password_file,
 * ssl.key.password_file, ...; AAC_KAFKA_PROPERTIES_SASL_PASSWORD_FILE) is
 * replaced at load by NAME holding the file's content (aac_secretfile);
 * postgres.password_file and postgres.uri_file are checked at load and
 * read by pgconn at each connection. A file that cannot be used is a
 * configuration error naming the key and the file.
 */
#ifndef AAC_CONFIG_H
#define AAC_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "aac/event.h"
#include "aac/log.h"

#define AAC_CONFIG_DEFAULT_PATH "/etc/agent-actions-consumer/agent-actions-consumer.yaml"
#define AAC_CONFIG_ENV_PATH     "AAC_CONFIG" /* overrides the default path */

typedef struct aac_kv_s {
    char *key;
    char *value;
    char *file; /* the file value was read from (the property NAME_file), else NULL */
} aac_kv_t;

typedef struct aac_kvlist_s {
    aac_kv_t *kv;
    size_t cnt;
} aac_kvlist_t;

/* Consumer settings the exactly-once design depends on (offsets are stored
 * in PostgreSQL with the rows, never by librdkafka): the configuration
 * refuses another value, and aac_kafkaconf_set_forced() sets them on every
 * consumer the service makes. {name, value}. */
#define AAC_CONFIG_FORCED_CONSUMER_CNT 2
extern const char *const aac_config_forced_consumer[AAC_CONFIG_FORCED_CONSUMER_CNT][2];

/* Producer settings a dead letter depends on (written once and durably):
 * the configuration refuses another value in kafka.properties or
 * kafka.producer_properties, and aac_kafkaconf_set_forced_producer() sets
 * them on every producer the service makes. {name, value}. */
#define AAC_CONFIG_FORCED_PRODUCER_CNT 2
extern const char *const aac_config_forced_producer[AAC_CONFIG_FORCED_PRODUCER_CNT][2];

/* How long a batch waits for the delivery reports of its dead letters
 * before it gives up and is retried (the pipeline's wait). */
#define AAC_CONFIG_DEAD_LETTER_WAIT_MS 5000

/* How much longer than the longest legal wait http.liveness_timeout_ms
 * must be: the time for a timeout's error to come back. */
#define AAC_CONFIG_LIVENESS_MARGIN_MS 1000

typedef struct aac_config_s {
    struct {
        char *bootstrap_servers;
        char *group_id;
        char *topic;   /* as given: topics and ^regex patterns, comma-separated */
        char **topics; /* kafka.topic split, after loading: names and ^patterns */
        size_t topic_cnt;
        char *dlq_topic;         /* "" in the file: "<topic>.dlq", after loading when kafka.topic is
                                    one plain topic, else per source topic (aac_config_dlq_topic) */
        aac_kvlist_t properties; /* passed to consumer and producer */
        aac_kvlist_t consumer_properties; /* consumer only */
        aac_kvlist_t producer_properties; /* dead-letter producer only */
        int fetch_wake_ms; /* least time between two wakes of the fetchers, 0: none (fetchwake.h) */
    } kafka;
    struct {
        char *host;
        int port; /* 0: libpq default (PGPORT or 5432) */
        char *dbname;
        char *user;
        char *password; /* secret */
        char *password_file;
        char *sslmode;
        char *uri;      /* secret: postgresql://...; each key set above overrides its part */
        char *uri_file; /* a file holding the URI, read like password_file */
        char *sslrootcert;
        char *sslcert;
        char *sslkey;
        char *sslcrl;
        char *application_name;
        int connect_timeout_s;
        int statement_timeout_ms;
        int lock_timeout_ms;
        /* TCP keepalives and TCP_USER_TIMEOUT of every connection, on both
         * ends: how long a host whose packets vanish can hold a call */
        int keepalives_idle_s;
        int keepalives_interval_s;
        int keepalives_count;
        int tcp_user_timeout_ms; /* 0: the kernel's default (none) */
        bool binary_copy;        /* COPY in binary format, else text */
        char *migrations_dir;
    } postgres;
    struct {
        int max_events;
        int max_bytes;
        int linger_ms;
        int writers;
        int max_in_flight;
    } batch;
    struct {
        int max_attempts;
        int initial_backoff_ms;
        double multiplier;
        int max_backoff_ms;
        bool jitter;
    } retry;
    struct {
        int max_message_bytes;
        int max_depth;
        aac_event_framing_t framing; /* aac_event_parser_set_framing() */
    } event;
    struct {
        bool enabled;
        char *address;
        int port;
        int liveness_timeout_ms;
        int request_timeout_ms;
    } http;
    struct {
        aac_log_level_t level;
        aac_log_format_t format;
    } log;
    struct {
        int shutdown_timeout_ms;
    } service;
    struct {
        int months_ahead;      /* monthly partitions kept ready after the current one */
        int retention_months;  /* `partitions drop` keeps this many past months; 0: keep all */
        int upkeep_interval_s; /* partitions ensured ahead this often, whatever the load */
    } partitions;
    struct {
        int max_mb; /* what the service holds for events: librdkafka's fetch queue and
                       fetches, the batch being built and those in flight (flow.h) */
    } memory;
    struct {
        bool enabled;         /* each batch keeps the analytics rollups (rollup.h) */
        int retention_months; /* rollups older are deleted by the upkeep; 0: keep all */
    } rollups;
} aac_config_t;

/* Loads the configuration: defaults, then `path` (NULL: no file, defaults
 * and environment only), then the environment.
 * On failure returns NULL and writes one line to errstr naming the key, the
 * file and line where known, and what is wrong. The caller owns the result
 * and frees it with aac_config_destroy(). */
aac_config_t *aac_config_load(const char *path, char *errstr, size_t errstr_size);

void aac_config_destroy(aac_config_t *cfg); /* NULL-safe */

/* The longest a healthy service may wait in one call, in milliseconds:
 * the largest of a statement (postgres.statement_timeout_ms, when not 0),
 * a connection attempt (postgres.connect_timeout_s), a call to a host that
 * vanished (postgres.tcp_user_timeout_ms, or when 0 the keepalives:
 * idle + interval * count) and the wait for a batch's dead letters
 * (AAC_CONFIG_DEAD_LETTER_WAIT_MS). *which (when not NULL) names the
 * setting that bounds it. aac_config_load() refuses an
 * http.liveness_timeout_ms below this plus AAC_CONFIG_LIVENESS_MARGIN_MS,
 * so /health never fails during a legal wait. */
int64_t aac_config_longest_wait_ms(const aac_config_t *cfg, const char **which);

/* Writes the effective configuration as YAML, every secret redacted (the
 * postgres password and URI, and any librdkafka property that holds a
 * password, secret or key); a property read from a file is written as
 * NAME_file with the file's name, so the dump loads back the same. */
void aac_config_dump(const aac_config_t *cfg, FILE *out);

/* True when a librdkafka property name holds a secret. */
bool aac_config_is_secret_property(const char *name);

/* The dead-letter topic of messages from `source`: kafka.dlq_topic, or
 * "<source>.dlq" when that is empty (written into buf). */
const char *aac_config_dlq_topic(const aac_config_t *cfg, const char *source, char *buf,
                                 size_t size);

/* Whether `topic` is a dead-letter topic by the configuration (kafka.dlq_topic,
 * or any "*.dlq" when each source has its own): a ^pattern may match one,
 * and its messages are never consumed. */
bool aac_config_is_dlq_topic(const aac_config_t *cfg, const char *topic);

#define AAC_CONFIG_MAX_TOPICS 64

/* Looks up a property in a list; NULL when absent. */
const char *aac_kvlist_get(const aac_kvlist_t *l, const char *key);

/* Writes the documented environment variable names, one per line (the
 * docker-compose test checks its variables against this list). */
void aac_config_list_env(FILE *out);

#endif
