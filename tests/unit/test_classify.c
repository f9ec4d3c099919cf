/*
 * test_classify: every reason code, the SQLSTATEs the service meets and the
 * librdkafka codes, case by case. A change to any row is a change in how the
 * service treats a failure in production, so each one is spelled out.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <librdkafka/rdkafka.h>

#include "aac/classify.h"

#define P AAC_CLASS_PERMANENT
#define T AAC_CLASS_TRANSIENT
#define F AAC_CLASS_FATAL

static void test_reasons(void **state)
{
    (void)state;
    static const struct {
        aac_reason_t r;
        const char *name;
        aac_class_t cls;
    } cases[] = {
        {AAC_REASON_NONE, "none", AAC_CLASS_OK},
        {AAC_REASON_INVALID_JSON, "invalid_json", P},
        {AAC_REASON_INVALID_UTF8, "invalid_utf8", P},
        {AAC_REASON_NOT_AN_OBJECT, "not_an_object", P},
        {AAC_REASON_DUPLICATE_KEY, "duplicate_key", P},
        {AAC_REASON_TOO_LARGE, "too_large", P},
        {AAC_REASON_NUL_CHARACTER, "nul_character", P},
        {AAC_REASON_EMPTY_MESSAGE, "empty_message", P},
        {AAC_REASON_MISSING_FIELD, "missing_field", P},
        {AAC_REASON_WRONG_TYPE, "wrong_type", P},
        {AAC_REASON_INVALID_UUID, "invalid_uuid", P},
        {AAC_REASON_INVALID_TIMESTAMP, "invalid_timestamp", P},
        {AAC_REASON_UNKNOWN_ACTION_TYPE, "unknown_action_type", P},
        {AAC_REASON_OUT_OF_RANGE, "out_of_range", P},
        {AAC_REASON_TOO_LONG, "too_long", P},
        {AAC_REASON_TOO_SHORT, "too_short", P},
        {AAC_REASON_TOO_DEEP, "too_deep", P},
        {AAC_REASON_UNSUPPORTED_VERSION, "unsupported_version", P},
        {AAC_REASON_INVALID_UNICODE_ESCAPE, "invalid_unicode_escape", P},
        {AAC_REASON_DB_REJECTED, "db_rejected", P},
        {AAC_REASON_RETRIES_EXHAUSTED, "retries_exhausted", P},
        {AAC_REASON_INVALID_FRAME, "invalid_frame", P},
        {AAC_REASON_MISSING_FRAME, "missing_frame", P},
        {AAC_REASON_RESERVED_FIELD, "reserved_field", P},
    };
    /* the table must cover the enum: a new reason needs a row here */
    assert_int_equal(sizeof cases / sizeof cases[0], AAC_REASON__CNT);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(cases[i].r, (aac_reason_t)i); /* stable numbering */
        assert_string_equal(aac_reason_str(cases[i].r), cases[i].name);
        assert_int_equal(aac_reason_from_str(cases[i].name), cases[i].r);
        if (aac_classify_reason(cases[i].r) != cases[i].cls)
            fail_msg("reason %s: class %s", cases[i].name,
                     aac_class_str(aac_classify_reason(cases[i].r)));
    }
    assert_string_equal(aac_reason_str(AAC_REASON__CNT), "unknown");
    assert_string_equal(aac_reason_str((aac_reason_t)-1), "unknown");
    assert_int_equal(aac_reason_from_str("nonsense"), AAC_REASON_NONE);
    assert_int_equal(aac_reason_from_str(NULL), AAC_REASON_NONE);
    assert_string_equal(aac_class_str(AAC_CLASS_OK), "ok");
    assert_string_equal(aac_class_str(P), "permanent");
    assert_string_equal(aac_class_str(T), "transient");
    assert_string_equal(aac_class_str(F), "fatal");
    assert_string_equal(aac_class_str(AAC_CLASS__CNT), "unknown");
}

static void test_sqlstates(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        aac_class_t cls;
        bool outage;
        bool row;
    } cases[] = {
        {NULL, T, true, false}, /* libpq: connection lost, no SQLSTATE */
        {"", T, true, false},        {"00000", AAC_CLASS_OK, false, false},
        {"08000", T, true, false},  /* connection_exception */
        {"08003", T, true, false},  /* connection_does_not_exist */
        {"08006", T, true, false},  /* connection_failure */
        {"08001", T, true, false},  /* sqlclient_unable_to_establish_sqlconnection */
        {"08P01", T, true, false},  /* protocol_violation */
        {"57P01", T, true, false},  /* admin_shutdown */
        {"57P02", T, true, false},  /* crash_shutdown */
        {"57P03", T, true, false},  /* cannot_connect_now */
        {"57P04", F, false, false}, /* database_dropped */
        {"57014", T, false, false}, /* query_canceled (statement_timeout) */
        {"55P03", T, false, false}, /* lock_not_available (lock_timeout) */
        {"53300", T, true, false},  /* too_many_connections */
        {"53100", T, false, false}, /* disk_full */
        {"53200", T, false, false}, /* out_of_memory */
        {"40001", T, false, false}, /* serialization_failure */
        {"40P01", T, false, false}, /* deadlock_detected */
        {"40000", T, false, false}, /* transaction_rollback */
        {"22001", P, false, true},  /* string_data_right_truncation */
        {"22P02", P, false, true},  /* invalid_text_representation */
        {"22021", P, false, true},  /* character_not_in_repertoire */
        {"22003", P, false, true},  /* numeric_value_out_of_range */
        {"22008", P, false, true},  /* datetime_field_overflow */
        {"23502", P, false, true},  /* not_null_violation */
        {"23505", P, false, true},  /* unique_violation: see classify.c */
        {"23514", P, false, true},  /* check_violation */
        {"28000", F, false, false}, /* invalid_authorization_specification */
        {"28P01", F, false, false}, /* invalid_password */
        {"3D000", F, false, false}, /* invalid_catalog_name */
        {"3F000", F, false, false}, /* invalid_schema_name */
        {"42501", F, false, false}, /* insufficient_privilege */
        {"42P01", F, false, false}, /* undefined_table */
        {"42703", F, false, false}, /* undefined_column */
        {"42601", F, false, false}, /* syntax_error */
        {"0A000", F, false, false}, /* feature_not_supported */
        {"54000", P, false, false}, /* program_limit_exceeded */
        {"54001", P, false, false}, /* statement_too_complex */
        {"58000", T, false, false}, /* system_error */
        {"58030", T, false, false}, /* io_error */
        {"XX000", T, false, false}, /* internal_error */
        {"XX001", T, false, false}, /* data_corrupted */
        {"25P02", T, false, false}, /* in_failed_sql_transaction */
        {"25006", T, false, false}, /* read_only_sql_transaction */
        {"P0001", T, false, false}, /* raise_exception: unknown to us */
        {"ZZZZZ", T, false, false},  {"0800", T, false, false}, /* malformed */
        {"080000", T, false, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *s = cases[i].s;
        /* counted against a message: only an error about the row's
         * values; never a condition of the server (issue 11, item 3:
         * 57014, 53200, XX000 and 25P02 were counted) */
        bool counted = s && strlen(s) == 5 &&
                       (!strncmp(s, "22", 2) || !strncmp(s, "23", 2) || !strncmp(s, "54", 2) ||
                        !strncmp(s, "P0", 2));
        if (aac_classify_sqlstate_counts_against_message(s) != counted)
            fail_msg("sqlstate %s: counts against message %d, expected %d", s ? s : "(null)",
                     aac_classify_sqlstate_counts_against_message(s), counted);
        if (aac_classify_sqlstate(s) != cases[i].cls ||
            aac_classify_sqlstate_is_outage(s) != cases[i].outage ||
            aac_classify_sqlstate_is_row_error(s) != cases[i].row)
            fail_msg("sqlstate %s: class %s outage %d row %d", s ? s : "(null)",
                     aac_class_str(aac_classify_sqlstate(s)), aac_classify_sqlstate_is_outage(s),
                     aac_classify_sqlstate_is_row_error(s));
    }
}

/* What may end in a dead letter: the row's own values, nothing the
 * server goes through (a slow or sick database must never cost an event). */
static void test_counts_against_message(void **state)
{
    (void)state;
    static const char *const counted[] = {"22P02", "22001", "23505", "23514",
                                          "54000", "54001", "P0001"};
    static const char *const server[] = {"57014", "53200", "XX000", "XX001", "25P02", "40001",
                                         "40P01", "55P03", "53100", "58030", "25006", "57P01",
                                         "08006", "53300", "0A000", "",      "ZZZZZ"};
    for (size_t i = 0; i < sizeof counted / sizeof counted[0]; i++)
        if (!aac_classify_sqlstate_counts_against_message(counted[i]))
            fail_msg("%s should count against the message", counted[i]);
    for (size_t i = 0; i < sizeof server / sizeof server[0]; i++)
        if (aac_classify_sqlstate_counts_against_message(server[i]))
            fail_msg("%s is the server's condition, not the message's", server[i]);
    assert_false(aac_classify_sqlstate_counts_against_message(NULL));
}

/* 23505 alone is a key stored already; the rest of class 23 is not */
static void test_duplicate_key(void **state)
{
    (void)state;
    assert_true(aac_classify_sqlstate_is_duplicate_key("23505"));
    assert_true(aac_classify_sqlstate_is_row_error("23505"));
    static const char *const not_dup[] = {"23502", "23503", "23514", "23P01", "22001",
                                          "40001", "",      "2350",  "235050"};
    for (size_t i = 0; i < sizeof not_dup / sizeof not_dup[0]; i++)
        assert_false(aac_classify_sqlstate_is_duplicate_key(not_dup[i]));
    assert_false(aac_classify_sqlstate_is_duplicate_key(NULL));
}

/* Every FATAL SQLSTATE the service names has its own action; the rest get
 * the general one. */
static void test_fatal_actions(void **state)
{
    (void)state;
    static const struct {
        const char *sqlstate, *words;
    } want[] = {
        {"28P01", "postgres.password"},       {"28000", "postgres.user"},   {"42P01", "migrate up"},
        {"42501", "grant the database user"}, {"3D000", "postgres.dbname"},
    };
    const char *general = aac_classify_sqlstate_action("57P04");
    assert_string_equal(general, "correct the configuration and restart");
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        assert_int_equal(aac_classify_sqlstate(want[i].sqlstate), AAC_CLASS_FATAL);
        const char *a = aac_classify_sqlstate_action(want[i].sqlstate);
        assert_non_null(strstr(a, want[i].words));
        assert_string_not_equal(a, general);
    }
    assert_string_equal(aac_classify_sqlstate_action(NULL), general);
    assert_string_equal(aac_classify_sqlstate_action(""), general);
}

static void test_kafka(void **state)
{
    (void)state;
    static const struct {
        rd_kafka_resp_err_t e;
        aac_class_t cls;
        bool outage;
    } cases[] = {
        {RD_KAFKA_RESP_ERR_NO_ERROR, AAC_CLASS_OK, false},
        {RD_KAFKA_RESP_ERR__PARTITION_EOF, AAC_CLASS_OK, false},
        {RD_KAFKA_RESP_ERR__TRANSPORT, T, true},
        {RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN, T, true},
        {RD_KAFKA_RESP_ERR__RESOLVE, T, true},
        {RD_KAFKA_RESP_ERR__TIMED_OUT, T, true},
        {RD_KAFKA_RESP_ERR__MSG_TIMED_OUT, T, true},
        {RD_KAFKA_RESP_ERR__TIMED_OUT_QUEUE, T, true},
        {RD_KAFKA_RESP_ERR__WAIT_COORD, T, true},
        {RD_KAFKA_RESP_ERR_NOT_COORDINATOR, T, true},
        {RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE, T, true},
        {RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS, T, true},
        {RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE, T, true},
        {RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION, T, true},
        {RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT, T, true},
        {RD_KAFKA_RESP_ERR_NETWORK_EXCEPTION, T, true},
        {RD_KAFKA_RESP_ERR_BROKER_NOT_AVAILABLE, T, true},
        {RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS, T, true},
        {RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND, T, true},
        {RD_KAFKA_RESP_ERR_KAFKA_STORAGE_ERROR, T, true},
        {RD_KAFKA_RESP_ERR__QUEUE_FULL, T, false},
        {RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS, T, false},
        {RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION, T, false},
        {RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID, T, false},
        {RD_KAFKA_RESP_ERR_THROTTLING_QUOTA_EXCEEDED, T, false},
        {RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART, T, false},
        {RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION, T, false},
        {RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE, T, false},
        {RD_KAFKA_RESP_ERR__FAIL, T, false},
        {RD_KAFKA_RESP_ERR_UNKNOWN, T, false},
        {(rd_kafka_resp_err_t)12345, T, false},
        {RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED, F, false},
        {RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED, F, false},
        {RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED, F, false},
        {RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED, F, false},
        {RD_KAFKA_RESP_ERR_UNSUPPORTED_SASL_MECHANISM, F, false},
        {RD_KAFKA_RESP_ERR__AUTHENTICATION, F, false},
        {RD_KAFKA_RESP_ERR__SSL, F, false},
        {RD_KAFKA_RESP_ERR__FATAL, F, false},
        {RD_KAFKA_RESP_ERR__INVALID_ARG, F, false},
        {RD_KAFKA_RESP_ERR__NOT_CONFIGURED, F, false},
        {RD_KAFKA_RESP_ERR__FENCED, F, false},
        {RD_KAFKA_RESP_ERR_FENCED_INSTANCE_ID, F, false},
        {RD_KAFKA_RESP_ERR_INVALID_GROUP_ID, F, false},
        {RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE, P, false},
        {RD_KAFKA_RESP_ERR_INVALID_MSG_SIZE, P, false},
        {RD_KAFKA_RESP_ERR_INVALID_MSG, P, false},
        {RD_KAFKA_RESP_ERR_INVALID_RECORD, P, false},
        {RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE, P, false},
        {RD_KAFKA_RESP_ERR__BAD_MSG, P, false},
        {RD_KAFKA_RESP_ERR__VALUE_SERIALIZATION, P, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int e = (int)cases[i].e;
        if (aac_classify_kafka(e) != cases[i].cls ||
            aac_classify_kafka_is_outage(e) != cases[i].outage)
            fail_msg("kafka %d (%s): class %s outage %d", e, rd_kafka_err2name(cases[i].e),
                     aac_class_str(aac_classify_kafka(e)), aac_classify_kafka_is_outage(e));
        /* an outage is always transient */
        if (aac_classify_kafka_is_outage(e))
            assert_int_equal(aac_classify_kafka(e), T);
    }
    /* every code librdkafka knows: outage implies transient */
    for (int e = RD_KAFKA_RESP_ERR__BEGIN; e < RD_KAFKA_RESP_ERR_END_ALL; e++)
        if (aac_classify_kafka_is_outage(e))
            assert_int_equal(aac_classify_kafka(e), T);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reasons),
        cmocka_unit_test(test_sqlstates),
        cmocka_unit_test(test_counts_against_message),
        cmocka_unit_test(test_duplicate_key),
        cmocka_unit_test(test_fatal_actions),
        cmocka_unit_test(test_kafka),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
