/*
 * classify: the one place that decides what a failure means.
 *
 * Every failure the service meets (a validation reason, a PostgreSQL
 * SQLSTATE, a librdkafka error code) maps to exactly one class:
 *   PERMANENT  the message's own fault: dead-letter at once, never retried;
 *   TRANSIENT  something that may recover: retry with backoff;
 *   FATAL      configuration, schema or credentials: stop the service.
 * A TRANSIENT failure may also be an *outage* (the dependency itself is
 * unreachable); outages are never counted against a message's attempts.
 * No other module decides a class on its own.
 */
#ifndef AAC_CLASSIFY_H
#define AAC_CLASSIFY_H

#include <stdbool.h>

typedef enum {
    AAC_CLASS_OK = 0,
    AAC_CLASS_PERMANENT,
    AAC_CLASS_TRANSIENT,
    AAC_CLASS_FATAL,
    AAC_CLASS__CNT
} aac_class_t;

/* Stable reason codes: they appear in dead-letter headers, metrics labels
 * and the `validate` output, so never renumber or rename one. */
typedef enum {
    AAC_REASON_NONE = 0,
    /* whole-message rejections */
    AAC_REASON_INVALID_JSON,
    AAC_REASON_INVALID_UTF8,
    AAC_REASON_NOT_AN_OBJECT,
    AAC_REASON_DUPLICATE_KEY,
    AAC_REASON_TOO_LARGE,
    AAC_REASON_NUL_CHARACTER,
    AAC_REASON_EMPTY_MESSAGE,
    /* field rejections */
    AAC_REASON_MISSING_FIELD,
    AAC_REASON_WRONG_TYPE,
    AAC_REASON_INVALID_UUID,
    AAC_REASON_INVALID_TIMESTAMP,
    AAC_REASON_UNKNOWN_ACTION_TYPE,
    AAC_REASON_OUT_OF_RANGE,
    AAC_REASON_TOO_LONG,
    AAC_REASON_TOO_SHORT,
    AAC_REASON_TOO_DEEP,
    AAC_REASON_UNSUPPORTED_VERSION,
    AAC_REASON_INVALID_UNICODE_ESCAPE,
    /* failures met after validation */
    AAC_REASON_DB_REJECTED,       /* a row-level database error (SQLSTATE 22/23) */
    AAC_REASON_RETRIES_EXHAUSTED, /* transient failures beyond max_attempts */
    /* added later, so numbered after the ones above (event.framing) */
    AAC_REASON_INVALID_FRAME,  /* a Confluent frame cut short (1 to 4 bytes) */
    AAC_REASON_MISSING_FRAME,  /* event.framing confluent, and no frame */
    AAC_REASON_RESERVED_FIELD, /* a producer's field named like one of ours */
    AAC_REASON__CNT
} aac_reason_t;

/* "invalid_json", ...; never NULL ("unknown" outside the range). */
const char *aac_reason_str(aac_reason_t reason);
/* Inverse of aac_reason_str(); returns AAC_REASON_NONE when unknown. */
aac_reason_t aac_reason_from_str(const char *s);

/* "ok", "permanent", "transient", "fatal". */
const char *aac_class_str(aac_class_t cls);

aac_class_t aac_classify_reason(aac_reason_t reason);

/* Maps a five-character SQLSTATE (PG_DIAG_SQLSTATE). NULL or "" means the
 * server sent none: the connection itself failed (TRANSIENT, outage). */
aac_class_t aac_classify_sqlstate(const char *sqlstate);
/* True when the SQLSTATE says PostgreSQL itself is unavailable (connection
 * failure, shutdown, too many connections) rather than this statement. */
bool aac_classify_sqlstate_is_outage(const char *sqlstate);
/* True when a failed write may be the messages' own doing and so counts
 * against their retry.max_attempts, which ends in a dead letter: only an
 * error about a row's values (classes 22, 23, 54, and P0 raised by a
 * trigger). Every other failure is a condition of the server (outages,
 * statement timeouts, out of memory, internal errors, aborted
 * transactions, contention, a full disk, a read-only server, I/O errors):
 * retried for as long as it lasts, never dead-lettered. */
bool aac_classify_sqlstate_counts_against_message(const char *sqlstate);

/* True when the SQLSTATE is a row-level data error, the kind a batch
 * bisection isolates (classes 22 and 23). */
bool aac_classify_sqlstate_is_row_error(const char *sqlstate);

/* True for 23505 unique_violation, a row whose key is stored already. A
 * write that does not skip stored keys (COPY straight into the table)
 * does it again through one that does (ON CONFLICT DO NOTHING); where a
 * write skips them, a 23505 is another unique constraint: a row error. */
bool aac_classify_sqlstate_is_duplicate_key(const char *sqlstate);

/* What the operator should do about a FATAL SQLSTATE (the `action` of the
 * "fatal error, stopping" line); never NULL. */
const char *aac_classify_sqlstate_action(const char *sqlstate);

/* Maps an rd_kafka_resp_err_t (passed as int so that callers need not
 * include rdkafka.h). */
aac_class_t aac_classify_kafka(int rd_kafka_resp_err);
bool aac_classify_kafka_is_outage(int rd_kafka_resp_err);

#endif
