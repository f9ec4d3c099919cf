/*
 * dlqletter: a dead letter as the `dlq` commands read it back: what its
 * headers say, how it is printed, and the headers its replay carries.
 *
 * The producer writes a dead letter's headers from the table in dlq.h
 * (aac_dlq_headers, the one place their names are spelled); this module
 * reads them back (the last header of each name), prints a dead letter as
 * one logfmt-like line or one JSON line, every value bounded and escaped
 * and the payload only when asked for, and builds a replay's headers: the
 * original ones without aac.*, plus the two below. No Kafka client and no
 * clock; unit-tested in test_dlqletter.c and, against what dlq.c writes,
 * in test_dlq.c.
 *
 * (aac_dlq_letter_t, in dlq.h, is what the producer is told to write;
 * aac_dlqletter_t here is what is read back from a message.)
 */
#ifndef AAC_DLQLETTER_H
#define AAC_DLQLETTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <librdkafka/rdkafka.h>

/* Headers a replayed message carries. */
#define AAC_DLQLETTER_H_REPLAYED_FROM "aac.replayed.from" /* "<dlq partition>:<offset>" */
#define AAC_DLQLETTER_H_REPLAY_COUNT  "aac.replay.count"  /* 1 on the first replay */

/* A dead letter read: the message and what its headers say (values cut
 * to the buffers, "" when absent). */
typedef struct aac_dlqletter_s {
    const rd_kafka_message_t *rkm;  /* borrowed; NULL when read from headers alone */
    const rd_kafka_headers_t *hdrs; /* borrowed, the message's; NULL when none */
    char reason[64], cls[32], failed_at[64], orig_topic[256];
    int64_t failed_at_ms; /* aac.failed.at; else the message's timestamp; INT64_MIN: neither */
    int replay_count;     /* aac_dlqletter_replay_count() of aac.replay.count */
} aac_dlqletter_t;

/* Reads the dead letter `rkm` (its headers and timestamp); `l` borrows
 * the message and its headers for as long as it is used. */
void aac_dlqletter_read(aac_dlqletter_t *l, const rd_kafka_message_t *rkm);

/* Reads the headers `h` (NULL: none) alone, l->rkm left NULL;
 * timestamp_ms is the dead letter's own Kafka timestamp (-1: none), its
 * failure time when aac.failed.at is absent or not an RFC 3339 time. */
void aac_dlqletter_read_headers(aac_dlqletter_t *l, const rd_kafka_headers_t *h,
                                int64_t timestamp_ms);

/* The aac.replay.count of a dead letter: 0 when absent, the number when it
 * is a non-negative decimal, INT_MAX when it is garbage (so it is skipped
 * rather than replayed forever). `value` need not be NUL-terminated. */
int aac_dlqletter_replay_count(const void *value, size_t size);

/* True for a header the replay drops (the aac.* ones). */
bool aac_dlqletter_is_own_header(const char *name);

/* The headers of the dead letter's replay (l read from a message): its
 * own in order without the aac.* ones, then aac.replayed.from and
 * aac.replay.count (its replay count plus one). The caller owns the list
 * (rd_kafka_headers_destroy, or rd_kafka_producev takes it). */
rd_kafka_headers_t *aac_dlqletter_replay_headers(const aac_dlqletter_t *l);

/* Writes the header fields of an `inspect --json` line: ,"<field>":<value>
 * for each of aac_dlq_headers in order, then "replayed_from"; a string (cut
 * at 1024 bytes, escaped) or, for an integer header, a JSON number; null
 * when the header is absent (or, for an integer, not a number). */
void aac_dlqletter_json_headers(FILE *f, const rd_kafka_headers_t *h);

/* Prints the dead letter (l read from a message) as one JSON line: where
 * it is on `dlq_topic`, its aac headers, key, size, the schema id of the
 * value's Confluent frame (aac_event_frame_read; null when none) and every
 * header; the value (first 4096 bytes) only with show_value. */
void aac_dlqletter_print_json(FILE *f, const char *dlq_topic, const aac_dlqletter_t *l,
                              bool show_value);

/* The same as one line of field=value pairs, values quoted and cut
 * (schema_id=- when the value has no frame). */
void aac_dlqletter_print_line(FILE *f, const aac_dlqletter_t *l, bool show_value);

#endif
