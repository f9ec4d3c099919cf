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
    aac_str_t extra;      /* JSON object of unknown top-level fields, or len 0 */
    uint32_t extra_count; /* number of unknown top-level fields */
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

/* Parses and validates one message value. topic/partition/offset name the
 * message's origin; they derive event_id when the event has none.
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
