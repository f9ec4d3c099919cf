/*
 * batch: the events of one write, from poll to commit.
 *
 * A batch holds the messages consumed for it (owned until the batch is
 * reset: a dead letter is sent from the original), each valid event
 * encoded as a COPY row, one list of rejects (every event of the batch that
 * goes to the dead-letter topic instead: invalid ones, rows the database
 * refused, events whose retries ran out), and for each partition it covers
 * the first and next offset, with the stored offset its commit expects
 * (the fence, see pgsink.h).
 *
 * The consume thread builds a batch; once closed it is handed whole to
 * one writer thread at a time, never shared while written.
 */
#ifndef AAC_BATCH_H
#define AAC_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

#include "aac/classify.h"
#include "aac/copyrow.h"
#include "aac/event.h"
#include "aac/rollup.h"

typedef struct aac_batch_s aac_batch_t;

typedef struct aac_batch_part_s {
    const char *topic; /* the messages' (valid while the batch holds them) */
    int32_t partition;
    int32_t key;          /* its key in the consume thread's positions (positions.h) */
    int64_t first;        /* offset of the batch's first message of the partition */
    int64_t next;         /* the offset to store: its last message's + 1 */
    int64_t expected_old; /* what consumer_offsets must hold at commit, -1: none */
    bool rewind;          /* `next` may be below expected_old: the log started over */
} aac_batch_part_t;

typedef struct aac_batch_reject_s {
    size_t item;         /* the message's index in the batch */
    aac_reason_t reason; /* why: a validation reason, db_rejected, retries_exhausted */
    int attempts;
    char sqlstate[6]; /* the database's, "" for an invalid event */
    char path[128];   /* JSON path, "$" for the whole message */
    char message[300];
} aac_batch_reject_t;

/* Rows are encoded in `format` (see copyrow.h); each row's kafka_topic is
 * its message's topic. */
aac_batch_t *aac_batch_new(aac_copy_format_t format);
aac_copy_format_t aac_batch_format(const aac_batch_t *b);
void aac_batch_destroy(aac_batch_t *b); /* NULL-safe */

/* Empties the batch (its messages destroyed), keeping the buffers. */
void aac_batch_reset(aac_batch_t *b);

/* Adds a valid event, encoded as a row, with its message. Adds an invalid
 * one as a reject. Both take ownership of rkm, also when they fail (out of
 * memory: -1; the batch is then unusable until reset). */
int aac_batch_add_event(aac_batch_t *b, rd_kafka_message_t *rkm, const aac_event_t *ev);
int aac_batch_add_invalid(aac_batch_t *b, rd_kafka_message_t *rkm, const aac_event_error_t *err);

/* Messages ------------------------------------------------------------- */

size_t aac_batch_count(const aac_batch_t *b); /* messages */
size_t aac_batch_bytes(const aac_batch_t *b); /* their values' bytes */
/* What the batch holds for its events: the messages' values and their
 * encoded rows (the memory budget's measure, flow.h). */
size_t aac_batch_memory(const aac_batch_t *b);
const rd_kafka_message_t *aac_batch_message(const aac_batch_t *b, size_t item);
/* The event's own timestamp (µs since the epoch), 0 for an invalid one. */
int64_t aac_batch_event_us(const aac_batch_t *b, size_t item);

/* Partitions ----------------------------------------------------------- */

size_t aac_batch_part_count(const aac_batch_t *b);
aac_batch_part_t *aac_batch_parts(aac_batch_t *b);
const aac_batch_part_t *aac_batch_parts_const(const aac_batch_t *b);
/* The batch's range of (topic, partition), or NULL when it has none. */
const aac_batch_part_t *aac_batch_part(const aac_batch_t *b, const char *topic, int32_t partition);

/* Rows ------------------------------------------------------------------ */

size_t aac_batch_row_count(const aac_batch_t *b);
/* Rows neither rejected: what a write sends. */
size_t aac_batch_live_rows(const aac_batch_t *b);
bool aac_batch_row_rejected(const aac_batch_t *b, size_t row);
size_t aac_batch_row_item(const aac_batch_t *b, size_t row);
/* The COPY data of rows [first, last], which lie one after the other. */
const char *aac_batch_row_span(const aac_batch_t *b, size_t first, size_t last, size_t *len);

/* The batch's rollup groups, and what row `row` adds to the rollups (its
 * group, duration and time): rollup.h. */
const aac_rollup_groups_t *aac_batch_groups(const aac_batch_t *b);
aac_rollup_row_t aac_batch_rollup_row(const aac_batch_t *b, size_t row);

/* Rejects row `row`: it is not written, and goes to the dead-letter topic
 * with the batch's other rejects. Returns 0, or -1 when out of memory. */
int aac_batch_reject_row(aac_batch_t *b, size_t row, aac_reason_t reason, const char *sqlstate,
                         const char *message, int attempts);

/* Rejects --------------------------------------------------------------- */

size_t aac_batch_reject_count(const aac_batch_t *b);
const aac_batch_reject_t *aac_batch_reject(const aac_batch_t *b, size_t i);

/* Whether a primary key (event_id, event_time) of `b`'s live rows is also
 * one of `other`'s rows' (by a 64-bit hash: a collision only answers
 * true). Reads only what a writer never changes of `other`.
 * Two transactions inserting the same key wait for each other, so two
 * such batches are never written at once. Out of memory answers true. */
bool aac_batch_keys_overlap(aac_batch_t *b, const aac_batch_t *other);

#endif
