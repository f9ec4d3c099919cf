/*
 * event: the agent-action event contract, version 1: parse, validate and
 * normalise one Kafka message value.
 *
 * The parser is built for the hot path: one aac_event_parser_t per consume
 * thread, reused for every message; no allocation per message or per field
 * once its buffers have grown to the largest message seen. The strings in
 * an aac_event_t point into the parser's buffers and stay valid only until
 * the next aac_event_parse() call on the same parser. Not thread-safe: one
 * parser per thread.
 *
 * Framing (event.framing): a producer that uses Confluent's JSON Schema
 * serializer puts a 5-byte frame before the JSON text: the magic byte 0x00,
 * then the schema id, 4 bytes big-endian. A JSON text never starts with
 * byte 0x00, so a message that does is a frame and any other is plain JSON:
 * that is the whole rule of AAC_EVENT_FRAMING_AUTO, and no plain message
 * can be misread. The frame is stripped before the JSON parser sees the
 * bytes; the schema id is kept in the event (and in `extra`, see below),
 * never looked up in a registry.
 */
#ifndef AAC_EVENT_H
#define AAC_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "aac/classify.h"

#define AAC_EVENT_DEFAULT_MAX_MESSAGE_BYTES (1024 * 1024)
#define AAC_EVENT_DEFAULT_MAX_DEPTH         32

#define AAC_EVENT_AGENT_NAME_MAX        128 /* characters (code points) */
#define AAC_EVENT_ACTION_NAME_MAX       128
#define AAC_EVENT_PROJECT_PATH_MAX      500
#define AAC_EVENT_PROJECT_NAME_MAX      255
#define AAC_EVENT_WORKING_DIRECTORY_MAX 500

/* The Confluent wire format: magic byte, then the schema id (big-endian). */
#define AAC_EVENT_FRAME_MAGIC 0x00
#define AAC_EVENT_FRAME_BYTES 5

/* The member of `extra` that holds a frame's schema id. The name is
 * reserved: a producer's own top-level field of that name is refused
 * (reserved_field), framed or not, so the member can only be ours. */
#define AAC_EVENT_SCHEMA_ID_KEY "_aac_confluent_schema_id"

/* event.framing: what may come before the JSON text of a message value. */
typedef enum {
    AAC_EVENT_FRAMING_AUTO = 0,  /* a frame when the first byte is 0x00, else plain JSON */
    AAC_EVENT_FRAMING_NONE,      /* plain JSON only: a frame's 0x00 is nul_character */
    AAC_EVENT_FRAMING_CONFLUENT, /* a frame on every message: missing_frame without */
    AAC_EVENT_FRAMING__CNT
} aac_event_framing_t;

/* "auto", "none", "confluent"; "unknown" outside the range. */
const char *aac_event_framing_str(aac_event_framing_t f);
/* Returns 0 and sets *f, or -1 when `s` names no framing. */
int aac_event_framing_parse(const char *s, aac_event_framing_t *f);

typedef enum {
    AAC_EVENT_FRAME_ABSENT = 0, /* does not start with the magic byte: plain JSON */
    AAC_EVENT_FRAME_OK,         /* a whole frame: *schema_id set */
    AAC_EVENT_FRAME_TRUNCATED   /* the magic byte, then fewer than 4 bytes */
} aac_event_frame_t;

/* What the first bytes of a message value say about a Confluent frame,
 * whatever event.framing is (the dlq tools read dead letters with it).
 * Pure; value may be NULL when len is 0. */
aac_event_frame_t aac_event_frame_read(const void *value, size_t len, uint32_t *schema_id);

typedef struct aac_str_s {
    const char *ptr; /* not NUL-terminated */
    size_t len;      /* bytes */
} aac_str_t;

typedef enum {
    AAC_ACTION_TOOL_CALL = 0,
    AAC_ACTION_DECISION,
    AAC_ACTION_ERROR,
    AAC_ACTION_SUCCESS,
    AAC_ACTION__CNT
} aac_action_type_t;

/* "tool_call", "decision", "error", "success". */
const char *aac_action_type_str(aac_action_type_t t);

typedef struct aac_event_s {
    uint8_t event_id[16];
    bool event_id_derived; /* absent: UUIDv5 of topic/partition/offset */
    uint8_t correlation_id[16];
    uint8_t session_id[16];
    bool has_session_id;
    aac_str_t agent_name;
    aac_action_type_t action_type;
    aac_str_t action_name;
    aac_str_t action_details; /* JSON object text, "{}" when absent */
    int64_t duration_ms;      /* valid when has_duration_ms */
    bool has_duration_ms;
    int8_t debug_mode;      /* -1 absent, 0 false, 1 true */
    aac_str_t project_path; /* ptr NULL when absent */
    aac_str_t project_name; /* derived from project_path when absent */
    aac_str_t working_directory;
    int64_t timestamp_us; /* microseconds since the Unix epoch, UTC */
    aac_str_t extra;      /* JSON object of unknown top-level fields, then the frame's
                           * AAC_EVENT_SCHEMA_ID_KEY member; or len 0 */
    uint32_t extra_count; /* number of unknown top-level fields (ours not counted) */
    uint32_t schema_id;   /* the Confluent frame's schema id, valid when has_schema_id */
    bool has_schema_id;
} aac_event_t;

typedef struct aac_event_error_s {
    aac_reason_t reason;
    char path[128];    /* JSON path of the field, "$" for the whole message */
    char message[256]; /* one line a producer's developer can act on */
} aac_event_error_t;

typedef struct aac_event_limits_s {
    size_t max_message_bytes; /* 0: AAC_EVENT_DEFAULT_MAX_MESSAGE_BYTES */
    int max_depth;            /* 0: AAC_EVENT_DEFAULT_MAX_DEPTH */
} aac_event_limits_t;

typedef struct aac_event_parser_s aac_event_parser_t;

/* Returns NULL only when out of memory. */
aac_event_parser_t *aac_event_parser_new(const aac_event_limits_t *limits);
void aac_event_parser_destroy(aac_event_parser_t *p); /* NULL-safe */

/* Sets how the parser reads a frame before the JSON text (event.framing),
 * from the next aac_event_parse() on; a new parser reads
 * AAC_EVENT_FRAMING_AUTO. An unknown value is taken as AUTO. */
void aac_event_parser_set_framing(aac_event_parser_t *p, aac_event_framing_t framing);

/* Parses and validates one message value, its frame first (the parser's
 * framing). topic/partition/offset name the message's origin; they derive
 * event_id when the event has none. Byte positions in error messages count
 * from the start of the value, frame included.
 * Returns AAC_REASON_NONE and fills *ev, or a reason and fills *err (path
 * and message always NUL-terminated). Never crashes on any input. */
aac_reason_t aac_event_parse(aac_event_parser_t *p, const char *topic, int32_t partition,
                             int64_t offset, const void *value, size_t len, aac_event_t *ev,
                             aac_event_error_t *err);

/* The namespace of derived event ids: UUIDv5(NAMESPACE_URL,
 * "https://github.com/agent-actions-consumer/event-id/v1"). Never change
 * it: a redelivered message must derive the id it derived the first time. */
extern const uint8_t aac_event_id_namespace[16];

#endif
