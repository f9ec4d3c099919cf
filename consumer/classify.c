/*
 * classify: maps every failure the service meets to PERMANENT, TRANSIENT or
 * FATAL (see classify.h). Pure functions over tables and switches: no I/O,
 * no state, safe from any thread.
 *
 * The guiding question for each code: would trying the same message again,
 * later, on the same configuration ever succeed? Yes: TRANSIENT. No, and it
 * is the message's fault: PERMANENT (dead-letter it). No, and it is ours
 * (credentials, schema, topic configuration): FATAL, because retrying or
 * dead-lettering would only empty the topic into the dead-letter queue.
 */
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "aac/classify.h"

static const char *const reason_names[AAC_REASON__CNT] = {
    [AAC_REASON_NONE] = "none",
    [AAC_REASON_INVALID_JSON] = "invalid_json",
    [AAC_REASON_INVALID_UTF8] = "invalid_utf8",
    [AAC_REASON_NOT_AN_OBJECT] = "not_an_object",
    [AAC_REASON_DUPLICATE_KEY] = "duplicate_key",
    [AAC_REASON_TOO_LARGE] = "too_large",
    [AAC_REASON_NUL_CHARACTER] = "nul_character",
    [AAC_REASON_EMPTY_MESSAGE] = "empty_message",
    [AAC_REASON_MISSING_FIELD] = "missing_field",
    [AAC_REASON_WRONG_TYPE] = "wrong_type",
    [AAC_REASON_INVALID_UUID] = "invalid_uuid",
    [AAC_REASON_INVALID_TIMESTAMP] = "invalid_timestamp",
    [AAC_REASON_UNKNOWN_ACTION_TYPE] = "unknown_action_type",
    [AAC_REASON_OUT_OF_RANGE] = "out_of_range",
    [AAC_REASON_TOO_LONG] = "too_long",
    [AAC_REASON_TOO_SHORT] = "too_short",
    [AAC_REASON_TOO_DEEP] = "too_deep",
    [AAC_REASON_UNSUPPORTED_VERSION] = "unsupported_version",
    [AAC_REASON_INVALID_UNICODE_ESCAPE] = "invalid_unicode_escape",
    [AAC_REASON_DB_REJECTED] = "db_rejected",
    [AAC_REASON_RETRIES_EXHAUSTED] = "retries_exhausted",
    [AAC_REASON_INVALID_FRAME] = "invalid_frame",
    [AAC_REASON_MISSING_FRAME] = "missing_frame",
    [AAC_REASON_RESERVED_FIELD] = "reserved_field",
};

const char *aac_reason_str(aac_reason_t reason)
{
    if ((int)reason < 0 || reason >= AAC_REASON__CNT || !reason_names[reason])
        return "unknown";
    return reason_names[reason];
}

aac_reason_t aac_reason_from_str(const char *s)
{
    if (!s)
        return AAC_REASON_NONE;
    for (int r = 0; r < AAC_REASON__CNT; r++)
        if (reason_names[r] && strcmp(reason_names[r], s) == 0)
            return (aac_reason_t)r;
    return AAC_REASON_NONE;
}

const char *aac_class_str(aac_class_t cls)
{
    switch (cls) {
    case AAC_CLASS_OK:
        return "ok";
    case AAC_CLASS_PERMANENT:
        return "permanent";
    case AAC_CLASS_TRANSIENT:
        return "transient";
    case AAC_CLASS_FATAL:
        return "fatal";
    default:
        return "unknown";
    }
}

aac_class_t aac_classify_reason(aac_reason_t reason)
{
    if (reason == AAC_REASON_NONE)
        return AAC_CLASS_OK;
    /* Every validation reason is a property of the bytes, so no retry can
     * change it; db_rejected is a row error the database will repeat;
     * retries_exhausted has already spent its transient budget. An unknown
     * code is treated the same way rather than retried forever. */
    return AAC_CLASS_PERMANENT;
}

/* ---- SQLSTATE ---- */

static bool sqlstate_valid(const char *s)
{
    return s && strlen(s) == 5;
}

static bool has_class(const char *s, const char *cls)
{
    return s[0] == cls[0] && s[1] == cls[1];
}

aac_class_t aac_classify_sqlstate(const char *s)
{
    /* No SQLSTATE: libpq produced the error itself (connection lost, server
     * gone) before the server could say anything. */
    if (!s || !*s)
        return AAC_CLASS_TRANSIENT;
    if (!sqlstate_valid(s))
        return AAC_CLASS_TRANSIENT; /* garbage: bounded by max_attempts */
    if (strcmp(s, "00000") == 0)
        return AAC_CLASS_OK;

    /* Exact codes first: they are the exceptions inside their classes. */
    static const struct {
        const char *code;
        aac_class_t cls;
    } exact[] = {
        {"57P01", AAC_CLASS_TRANSIENT}, /* admin_shutdown */
        {"57P02", AAC_CLASS_TRANSIENT}, /* crash_shutdown */
        {"57P03", AAC_CLASS_TRANSIENT}, /* cannot_connect_now (starting up) */
        {"57P04", AAC_CLASS_FATAL},     /* database_dropped */
        {"57014", AAC_CLASS_TRANSIENT}, /* query_canceled: statement_timeout */
        {"55P03", AAC_CLASS_TRANSIENT}, /* lock_not_available: lock_timeout */
        {"40001", AAC_CLASS_TRANSIENT}, /* serialization_failure */
        {"40P01", AAC_CLASS_TRANSIENT}, /* deadlock_detected */
        {"3D000", AAC_CLASS_FATAL},     /* invalid_catalog_name: no such database */
        {"42501", AAC_CLASS_FATAL},     /* insufficient_privilege */
        {"42P01", AAC_CLASS_FATAL},     /* undefined_table: migrations not applied */
        {"XX000", AAC_CLASS_TRANSIENT}, /* internal_error: may be a server bug
                                           that a retry on a fresh plan avoids */
        /* 23505 unique_violation stays PERMANENT with the rest of class 23.
         * On the sink's direct COPY it means a duplicate, which pgsink
         * handles before asking here (aac_classify_sqlstate_is_duplicate_key:
         * the batch goes again through the staging table, INSERT ... ON
         * CONFLICT DO NOTHING); any other 23505 is a different unique
         * constraint the row violates, and a retry would violate it again. */
    };
    for (size_t i = 0; i < sizeof exact / sizeof exact[0]; i++)
        if (strcmp(s, exact[i].code) == 0)
            return exact[i].cls;

    static const struct {
        const char *cls_code;
        aac_class_t cls;
    } classes[] = {
        {"08", AAC_CLASS_TRANSIENT}, /* connection_exception */
        {"53", AAC_CLASS_TRANSIENT}, /* insufficient_resources (disk full, OOM,
                                        too many connections) */
        {"40", AAC_CLASS_TRANSIENT}, /* transaction_rollback */
        {"58", AAC_CLASS_TRANSIENT}, /* system_error (I/O) */
        {"25", AAC_CLASS_TRANSIENT}, /* invalid_transaction_state: our session's
                                        state, not the row; a new transaction
                                        will do */
        {"57", AAC_CLASS_TRANSIENT}, /* operator_intervention */
        {"XX", AAC_CLASS_TRANSIENT}, /* internal_error family */
        {"22", AAC_CLASS_PERMANENT}, /* data_exception: this row's values */
        {"23", AAC_CLASS_PERMANENT}, /* integrity_constraint_violation */
        {"54", AAC_CLASS_PERMANENT}, /* program_limit_exceeded: this row is too
                                        big or complex, and will stay so */
        {"28", AAC_CLASS_FATAL},     /* invalid_authorization_specification */
        {"42", AAC_CLASS_FATAL},     /* syntax_error_or_access_rule_violation:
                                        our SQL or schema is wrong */
        {"3D", AAC_CLASS_FATAL},     {"3F", AAC_CLASS_FATAL}, /* invalid_schema_name */
        {"0A", AAC_CLASS_FATAL}, /* feature_not_supported: server too old */
    };
    for (size_t i = 0; i < sizeof classes / sizeof classes[0]; i++)
        if (has_class(s, classes[i].cls_code))
            return classes[i].cls;
    /* Unknown: retry; max_attempts bounds the cost of being wrong. */
    return AAC_CLASS_TRANSIENT;
}

bool aac_classify_sqlstate_is_outage(const char *s)
{
    if (!s || !*s)
        return true;
    if (!sqlstate_valid(s))
        return false;
    if (has_class(s, "08"))
        return true;
    return strcmp(s, "57P01") == 0 || strcmp(s, "57P02") == 0 || strcmp(s, "57P03") == 0 ||
           strcmp(s, "53300") == 0;
}

bool aac_classify_sqlstate_counts_against_message(const char *s)
{
    /* Only an error about a row's own values may ever cost a message its
     * place: data exceptions (22), integrity violations (23), program
     * limits such as a value too large to index (54), and an exception a
     * trigger or rule raises about the row (P0). Anything else is a
     * condition of the server (statement timeouts, out of memory, internal
     * errors, aborted transactions, locks, a full disk): it lasts as long
     * as it lasts, and the batch waits for it, never dead-lettered. */
    return sqlstate_valid(s) &&
           (has_class(s, "22") || has_class(s, "23") || has_class(s, "54") || has_class(s, "P0"));
}

bool aac_classify_sqlstate_is_row_error(const char *s)
{
    return sqlstate_valid(s) && (has_class(s, "22") || has_class(s, "23"));
}

bool aac_classify_sqlstate_is_duplicate_key(const char *s)
{
    return s && strcmp(s, "23505") == 0;
}

const char *aac_classify_sqlstate_action(const char *s)
{
    if (!s)
        s = "";
    if (has_class(s, "28"))
        return "check postgres.user and its password (postgres.password, postgres.password_file "
               "or PGPASSWORD)";
    if (!strcmp(s, "42P01"))
        return "apply the migrations: agent-actions-consumer migrate up";
    if (!strcmp(s, "42501"))
        return "grant the database user INSERT on agent_actions and SELECT, INSERT, UPDATE "
               "on consumer_offsets";
    if (!strcmp(s, "3D000"))
        return "create the database or correct postgres.dbname (PGDATABASE)";
    return "correct the configuration and restart";
}

/* ---- librdkafka ---- */

aac_class_t aac_classify_kafka(int err)
{
    switch ((rd_kafka_resp_err_t)err) {
    case RD_KAFKA_RESP_ERR_NO_ERROR:
    case RD_KAFKA_RESP_ERR__PARTITION_EOF: /* informational */
    case RD_KAFKA_RESP_ERR__NOOP:
        return AAC_CLASS_OK;

    /* Configuration, credentials, or a state we cannot leave by retrying. */
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_DELEGATION_TOKEN_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_DELEGATION_TOKEN_AUTH_DISABLED:
    case RD_KAFKA_RESP_ERR_DELEGATION_TOKEN_EXPIRED:
    case RD_KAFKA_RESP_ERR_DELEGATION_TOKEN_NOT_FOUND:
    case RD_KAFKA_RESP_ERR_DELEGATION_TOKEN_OWNER_MISMATCH:
    case RD_KAFKA_RESP_ERR_DELEGATION_TOKEN_REQUEST_NOT_ALLOWED:
    case RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED:
    case RD_KAFKA_RESP_ERR_UNSUPPORTED_SASL_MECHANISM:
    case RD_KAFKA_RESP_ERR_ILLEGAL_SASL_STATE:
    case RD_KAFKA_RESP_ERR_SECURITY_DISABLED:
    case RD_KAFKA_RESP_ERR_UNACCEPTABLE_CREDENTIAL:
    case RD_KAFKA_RESP_ERR_PRINCIPAL_DESERIALIZATION_FAILURE:
    case RD_KAFKA_RESP_ERR_INVALID_PRINCIPAL_TYPE:
    case RD_KAFKA_RESP_ERR__AUTHENTICATION:
    case RD_KAFKA_RESP_ERR__SSL:
    case RD_KAFKA_RESP_ERR__FATAL:
    case RD_KAFKA_RESP_ERR__INVALID_ARG:
    case RD_KAFKA_RESP_ERR__NOT_CONFIGURED:
    case RD_KAFKA_RESP_ERR__UNSUPPORTED_FEATURE:
    case RD_KAFKA_RESP_ERR__CRIT_SYS_RESOURCE:
    case RD_KAFKA_RESP_ERR__FS:
    case RD_KAFKA_RESP_ERR__DESTROY:
    case RD_KAFKA_RESP_ERR__FENCED:
    case RD_KAFKA_RESP_ERR_PRODUCER_FENCED:
    case RD_KAFKA_RESP_ERR_FENCED_INSTANCE_ID:
    case RD_KAFKA_RESP_ERR_INVALID_GROUP_ID:
    case RD_KAFKA_RESP_ERR_INVALID_CONFIG:
    case RD_KAFKA_RESP_ERR_INVALID_REQUIRED_ACKS:
    case RD_KAFKA_RESP_ERR_INVALID_SESSION_TIMEOUT:
    case RD_KAFKA_RESP_ERR_INCONSISTENT_GROUP_PROTOCOL:
    case RD_KAFKA_RESP_ERR_UNSUPPORTED_VERSION:
    case RD_KAFKA_RESP_ERR_UNSUPPORTED_COMPRESSION_TYPE:
    case RD_KAFKA_RESP_ERR_TOPIC_DELETION_DISABLED:
    case RD_KAFKA_RESP_ERR_LISTENER_NOT_FOUND:
    case RD_KAFKA_RESP_ERR_GROUP_MAX_SIZE_REACHED:
        return AAC_CLASS_FATAL;

    /* The message itself cannot be stored by the broker. */
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_INVALID_MSG_SIZE:
    case RD_KAFKA_RESP_ERR_INVALID_MSG:
    case RD_KAFKA_RESP_ERR_INVALID_RECORD:
    case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_INVALID_TIMESTAMP:
    case RD_KAFKA_RESP_ERR_UNSUPPORTED_FOR_MESSAGE_FORMAT:
    case RD_KAFKA_RESP_ERR_POLICY_VIOLATION:
    case RD_KAFKA_RESP_ERR__BAD_MSG:
    case RD_KAFKA_RESP_ERR__BAD_COMPRESSION:
    case RD_KAFKA_RESP_ERR__KEY_SERIALIZATION:
    case RD_KAFKA_RESP_ERR__VALUE_SERIALIZATION:
    case RD_KAFKA_RESP_ERR__KEY_DESERIALIZATION:
    case RD_KAFKA_RESP_ERR__VALUE_DESERIALIZATION:
        return AAC_CLASS_PERMANENT;

    default:
        /* Broker unreachable, leader elections, coordinator moves, timeouts,
         * full local queues, rebalances, and any code we do not know:
         * retrying is right, and max_attempts bounds it. */
        return AAC_CLASS_TRANSIENT;
    }
}

bool aac_classify_kafka_is_outage(int err)
{
    switch ((rd_kafka_resp_err_t)err) {
    /* The cluster, or the broker that owns what we need, is unreachable or
     * has no leader right now: no message is at fault. */
    case RD_KAFKA_RESP_ERR__TRANSPORT:
    case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
    case RD_KAFKA_RESP_ERR__RESOLVE:
    case RD_KAFKA_RESP_ERR__TIMED_OUT:
    case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT:
    case RD_KAFKA_RESP_ERR__TIMED_OUT_QUEUE:
    case RD_KAFKA_RESP_ERR__WAIT_COORD:
    case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
    case RD_KAFKA_RESP_ERR_NETWORK_EXCEPTION:
    case RD_KAFKA_RESP_ERR_BROKER_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION:
    case RD_KAFKA_RESP_ERR_PREFERRED_LEADER_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_ELIGIBLE_LEADERS_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS:
    case RD_KAFKA_RESP_ERR_NOT_COORDINATOR:
    case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS:
    case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND:
    case RD_KAFKA_RESP_ERR_KAFKA_STORAGE_ERROR:
        return true;
    default:
        return false;
    }
}
