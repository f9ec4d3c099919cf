/*
 * dlq: the dead-letter producer.
 *
 * A message that can never be written goes to the dead-letter topic with
 * its original key, value and headers unchanged, plus headers saying where
 * it came from and why (see docs/dead-letters.md). The producer is
 * idempotent with acks=all.
 *
 * Each dead letter is tracked by its source (partition, offset) until the
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

aac_dlq_state_t aac_dlq_state(const aac_dlq_t *dlq, int32_t partition, int64_t offset);

/* Serves delivery reports for up to timeout_ms. */
void aac_dlq_poll(aac_dlq_t *dlq, int timeout_ms);

/* Forgets the dead letters of `partition` below `next_offset` (committed),
 * or of every partition when partition < 0 and next_offset < 0. */
void aac_dlq_forget(aac_dlq_t *dlq, int32_t partition, int64_t next_offset);

/* The last delivery error, or 0. */
int aac_dlq_last_error(const aac_dlq_t *dlq);

/* The producer's fatal error, or 0 when none was raised. On one, returns
 * the broker's (or librdkafka's) underlying error code, puts what happened
 * in errstr (when not NULL; NUL-terminated) and what to do about it in
 * *hint (when not NULL; a static string). Once raised it stays: the
 * producer must be destroyed. Cheap enough to call on every loop. */
int aac_dlq_fatal(const aac_dlq_t *dlq, char *errstr, size_t errstr_size, const char **hint);

#endif
