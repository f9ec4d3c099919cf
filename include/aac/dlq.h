/*
 * dlq: the dead-letter producer.
 *
 * A message that can never be written goes to the dead-letter topic
 * (kafka.dlq_topic, or its source topic's "<topic>.dlq" when that is empty) with
 * its original key, value and headers unchanged, plus headers saying where
 * it came from and why (see docs/dead-letters.md). The producer is
 * idempotent with acks=all.
 *
 * Each dead letter is tracked by its source (topic, partition, offset) until the
 * caller forgets it after committing: asking again for a message already
 * in flight or delivered produces nothing, so a batch retried after a
 * failed commit never writes a dead letter twice. Thread-safe: writer
 * threads send and confirm while the consume thread forgets.
 *
 * The idempotent producer can fail for good (a fatal error: the broker
 * refuses it a producer id, or its sequence numbers and the broker's no
 * longer agree). Every later send then fails, so no batch holding a dead
 * letter could ever commit: the caller checks aac_dlq_fatal() and stops.
 */
#ifndef AAC_DLQ_H
#define AAC_DLQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

#include "aac/classify.h"
#include "aac/config.h"

typedef struct aac_dlq_s aac_dlq_t;

typedef struct aac_dlq_reason_s {
    aac_class_t cls;
    aac_reason_t reason;
    const char *path;    /* JSON path or "" */
    const char *message; /* one line */
    int attempts;
} aac_dlq_reason_t;

/* The headers a dead letter carries after its original ones, in this
 * order. Their names are a contract (docs/dead-letters.md): this table is
 * the one place they are spelled, for the producer here and for the
 * `dlq` tools that read them back. Every value is a string. */
typedef enum {
    AAC_DLQ_H_ORIGINAL_TOPIC,     /* the topic it was consumed from */
    AAC_DLQ_H_ORIGINAL_PARTITION, /* its partition there, decimal */
    AAC_DLQ_H_ORIGINAL_OFFSET,    /* its offset there, decimal */
    AAC_DLQ_H_ORIGINAL_TIMESTAMP, /* its Kafka timestamp, Unix ms, decimal (-1: none) */
    AAC_DLQ_H_CONSUMER_GROUP,     /* kafka.group_id */
    AAC_DLQ_H_ERROR_CLASS,        /* aac_class_str() */
    AAC_DLQ_H_ERROR_REASON,       /* aac_reason_str() */
    AAC_DLQ_H_ERROR_PATH,         /* JSON path or "" */
    AAC_DLQ_H_ERROR_MESSAGE,      /* one line */
    AAC_DLQ_H_ATTEMPTS,           /* decimal */
    AAC_DLQ_H_FAILED_AT,          /* RFC 3339 UTC with milliseconds */
    AAC_DLQ_H_SERVICE_VERSION,    /* AAC_VERSION */
    AAC_DLQ_H__CNT
} aac_dlq_header_t;

typedef struct aac_dlq_header_info_s {
    const char *name;  /* on the wire, e.g. "aac.original.topic" */
    const char *field; /* its field in `dlq inspect --json`, e.g. "original_topic" */
    bool integer;      /* a decimal number: a JSON number there */
} aac_dlq_header_info_t;

/* Indexed by aac_dlq_header_t. */
extern const aac_dlq_header_info_t aac_dlq_headers[AAC_DLQ_H__CNT];

/* What every header the service or its tools add begins with; the replay
 * drops the headers that do (dlqletter.h). */
#define AAC_DLQ_HEADER_PREFIX "aac."

/* aac.error.path and aac.error.message are cut at this many bytes (at a
 * character boundary), so a dead letter's headers stay small whatever the
 * error said. */
#define AAC_DLQ_TEXT_MAX 1024

typedef enum {
    AAC_DLQ_UNKNOWN = 0, /* never sent */
    AAC_DLQ_IN_FLIGHT,
    AAC_DLQ_DELIVERED,
    AAC_DLQ_FAILED /* delivery failed; sending again is allowed */
} aac_dlq_state_t;

/* Creates the producer. Returns NULL with the reason in errstr. */
aac_dlq_t *aac_dlq_new(const aac_config_t *cfg, char *errstr, size_t errstr_size);
void aac_dlq_destroy(aac_dlq_t *dlq); /* NULL-safe; waits briefly for deliveries */

/* Sends `rkm` (a consumed message) as a dead letter unless it is already in
 * flight or delivered. Returns 0, or a librdkafka error code (queue full:
 * poll and try again). */
int aac_dlq_send(aac_dlq_t *dlq, const rd_kafka_message_t *rkm, const aac_dlq_reason_t *why);

aac_dlq_state_t aac_dlq_state(const aac_dlq_t *dlq, const char *topic, int32_t partition,
                              int64_t offset);

/* Serves delivery reports for up to timeout_ms. */
void aac_dlq_poll(aac_dlq_t *dlq, int timeout_ms);

/* Forgets the dead letters of (topic, partition) below `next_offset`
 * (committed), or every one when topic is NULL. */
void aac_dlq_forget(aac_dlq_t *dlq, const char *topic, int32_t partition, int64_t next_offset);

/* Dead letters whose delivery failed (a delivery report with an error:
 * the message timed out, the broker refused it) since the last call,
 * whichever thread served the reports; the count starts again from 0.
 * Records already forgotten (purged at the end, or by a revocation) are
 * not counted. The owner adds the result to its metrics
 * (AAC_M_DLQ_DELIVERY_FAILED); any thread. */
uint64_t aac_dlq_take_failed(aac_dlq_t *dlq);

/* The last delivery error, or 0. */
int aac_dlq_last_error(const aac_dlq_t *dlq);

/* The producer's fatal error, or 0 when none was raised. On one, returns
 * the broker's (or librdkafka's) underlying error code, puts what happened
 * in errstr (when not NULL; NUL-terminated) and what to do about it in
 * *hint (when not NULL; a static string). Once raised it stays: the
 * producer must be destroyed. Cheap enough to call on every loop. */
int aac_dlq_fatal(const aac_dlq_t *dlq, char *errstr, size_t errstr_size, const char **hint);

/* --- pure parts (no producer, no clock; unit-tested) --------------------- */

/* Everything a dead letter's headers say: where the message came from, why
 * it failed, when and by whom. Strings are borrowed; NULL is written as "". */
typedef struct aac_dlq_letter_s {
    const char *topic; /* the original topic */
    int32_t partition;
    int64_t offset;
    int64_t timestamp_ms; /* the original message's Kafka timestamp, -1: none */
    const char *group;    /* the consumer group that gave up on it */
    aac_dlq_reason_t why;
    int64_t failed_at_us; /* when it was dead-lettered, Unix microseconds */
    const char *version;  /* the service's */
} aac_dlq_letter_t;

/* Adds the AAC_DLQ_H__CNT headers of aac_dlq_headers, in that order, to `h`
 * (a list of one's own: rd_kafka_headers_new or _copy), with the values
 * `l` gives; aac.error.path and aac.error.message cut at AAC_DLQ_TEXT_MAX
 * bytes. */
void aac_dlq_headers_add(rd_kafka_headers_t *h, const aac_dlq_letter_t *l);

/* What to do about a fatal error of the producer, by its underlying
 * librdkafka error code (what aac_dlq_fatal returns): a static string. */
const char *aac_dlq_fatal_hint(int err);

#endif
