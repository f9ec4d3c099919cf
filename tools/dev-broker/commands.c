/*
 * commands: the control commands of the development broker. Each one parses
 * its words, calls the librdkafka mock API on the cluster and answers with
 * one line. The mock's setters either take the cluster lock or hand an op to
 * the cluster thread and wait, so they are safe from the main thread.
 */
#include "devbroker.h"

#include "aac/log.h"
#include "aac/utf8.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

int devbroker_parse_int(const char *s, long min, long max, int *out)
{
    char *end;
    long v;

    if (!s || !*s)
        return -1;
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || *end || v < min || v > max)
        return -1;
    *out = (int)v;
    return 0;
}

/* Checking here gives a clear error instead of a topic no client can use. */
int devbroker_topic_name_valid(const char *name)
{
    size_t n = strlen(name);

    if (n == 0 || n > AAC_DEVBROKER_TOPIC_NAME_MAX || strcmp(name, ".") == 0 ||
        strcmp(name, "..") == 0)
        return 0;
    for (const char *p = name; *p; p++) {
        if (!isalnum((unsigned char)*p) && *p != '.' && *p != '_' && *p != '-')
            return 0;
    }
    return 1;
}

/*
 * Names for Kafka protocol request types (ApiKey), as the protocol guide
 * spells them. librdkafka's own table is internal, so it is repeated here;
 * the numbers are fixed by the protocol.
 */
static const struct api_key {
    const char *name;
    int16_t key;
} api_keys[] = {
    {"Produce", 0},
    {"Fetch", 1},
    {"ListOffsets", 2},
    {"Metadata", 3},
    {"LeaderAndIsr", 4},
    {"StopReplica", 5},
    {"UpdateMetadata", 6},
    {"ControlledShutdown", 7},
    {"OffsetCommit", 8},
    {"OffsetFetch", 9},
    {"FindCoordinator", 10},
    {"JoinGroup", 11},
    {"Heartbeat", 12},
    {"LeaveGroup", 13},
    {"SyncGroup", 14},
    {"DescribeGroups", 15},
    {"ListGroups", 16},
    {"SaslHandshake", 17},
    {"ApiVersions", 18},
    {"CreateTopics", 19},
    {"DeleteTopics", 20},
    {"DeleteRecords", 21},
    {"InitProducerId", 22},
    {"OffsetForLeaderEpoch", 23},
    {"AddPartitionsToTxn", 24},
    {"AddOffsetsToTxn", 25},
    {"EndTxn", 26},
    {"WriteTxnMarkers", 27},
    {"TxnOffsetCommit", 28},
    {"DescribeAcls", 29},
    {"CreateAcls", 30},
    {"DeleteAcls", 31},
    {"DescribeConfigs", 32},
    {"AlterConfigs", 33},
    {"AlterReplicaLogDirs", 34},
    {"DescribeLogDirs", 35},
    {"SaslAuthenticate", 36},
    {"CreatePartitions", 37},
    {"CreateDelegationToken", 38},
    {"RenewDelegationToken", 39},
    {"ExpireDelegationToken", 40},
    {"DescribeDelegationToken", 41},
    {"DeleteGroups", 42},
    {"ElectLeaders", 43},
    {"IncrementalAlterConfigs", 44},
    {"AlterPartitionReassignments", 45},
    {"ListPartitionReassignments", 46},
    {"OffsetDelete", 47},
};

/* Accepts a name from api_keys (any case) or a number. */
static int parse_api_key(const char *s, int16_t *key)
{
    int v;

    for (size_t i = 0; i < sizeof(api_keys) / sizeof(api_keys[0]); i++) {
        if (strcasecmp(s, api_keys[i].name) == 0) {
            *key = api_keys[i].key;
            return 0;
        }
    }
    if (devbroker_parse_int(s, 0, INT16_MAX, &v) == 0) {
        *key = (int16_t)v;
        return 0;
    }
    return -1;
}

static const char *api_key_name(int16_t key)
{
    for (size_t i = 0; i < sizeof(api_keys) / sizeof(api_keys[0]); i++) {
        if (api_keys[i].key == key)
            return api_keys[i].name;
    }
    return "unknown";
}

/* Accepts librdkafka's error names without the RD_KAFKA_RESP_ERR_ prefix
 * (NOT_COORDINATOR, _TRANSPORT; any case; the prefix is tolerated) or a
 * number that librdkafka knows. */
static int parse_err(const char *s, rd_kafka_resp_err_t *err)
{
    const struct rd_kafka_err_desc *descs;
    size_t cnt;
    int v;

    if (strncasecmp(s, "RD_KAFKA_RESP_ERR_", 18) == 0)
        s += 18;
    /* Kafka renamed it in KIP-392; 2.0.2's table only has the old name */
    if (strcasecmp(s, "NOT_LEADER_OR_FOLLOWER") == 0)
        s = "NOT_LEADER_FOR_PARTITION";
    rd_kafka_get_err_descs(&descs, &cnt);
    for (size_t i = 0; i < cnt; i++) {
        if (descs[i].name && strcasecmp(s, descs[i].name) == 0) {
            *err = descs[i].code;
            return 0;
        }
    }
    if (devbroker_parse_int(s, INT_MIN, INT_MAX, &v) == 0) {
        for (size_t i = 0; i < cnt; i++) {
            if (descs[i].name && (int)descs[i].code == v) {
                *err = descs[i].code;
                return 0;
            }
        }
    }
    return -1;
}

/* A broker id 1..brokers, or "all"/-1 where the mock accepts every broker. */
static int parse_broker(const struct devbroker *db, const char *s, int allow_all, int32_t *id)
{
    int v;

    if (allow_all && (strcmp(s, "all") == 0 || strcmp(s, "-1") == 0)) {
        *id = -1;
        return 0;
    }
    if (devbroker_parse_int(s, 1, db->brokers, &v) < 0)
        return -1;
    *id = v;
    return 0;
}

/*
 * Control commands. Each handler gets the words of the line (argv[0] is the
 * command) after the dispatcher checked the word count, writes the text that
 * follows "ok " or "error: " into `reply`, and returns 0 or -1.
 */
typedef int (*cmd_fn)(struct devbroker *db, int argc, char **argv, char *reply, size_t size);

struct cmd {
    const char *name;
    const char *args;
    int min_args;
    int max_args;
    cmd_fn fn;
};

static int cmd_help(struct devbroker *db, int argc, char **argv, char *reply, size_t size);

static int cmd_ping(struct devbroker *db, int argc, char **argv, char *reply, size_t size)
{
    (void)db;
    (void)argc;
    (void)argv;
    snprintf(reply, size, "pong");
    return 0;
}

static int cmd_topic_create(struct devbroker *db, int argc, char **argv, char *reply, size_t size)
{
    int partitions, replication = db->replication;
    rd_kafka_resp_err_t err;

    if (!devbroker_topic_name_valid(argv[1])) {
        snprintf(reply, size, "invalid topic name (use 1-249 of [a-zA-Z0-9._-])");
        return -1;
    }
    if (devbroker_parse_int(argv[2], 1, AAC_DEVBROKER_MAX_PARTITIONS, &partitions) < 0) {
        snprintf(reply, size, "PARTITIONS must be an integer from 1 to %d",
                 AAC_DEVBROKER_MAX_PARTITIONS);
        return -1;
    }
    if (argc > 3 && devbroker_parse_int(argv[3], 1, db->brokers, &replication) < 0) {
        snprintf(reply, size, "REPLICATION must be an integer from 1 to %d (the broker count)",
                 db->brokers);
        return -1;
    }
    err = rd_kafka_mock_topic_create(db->mc, argv[1], partitions, replication);
    if (err) {
        snprintf(reply, size, "could not create topic %s: %s", argv[1], rd_kafka_err2name(err));
        return -1;
    }
    snprintf(reply, size, "topic=%s partitions=%d replication=%d", argv[1], partitions,
             replication);
    return 0;
}

static int cmd_broker_updown(struct devbroker *db, int argc, char **argv, char *reply, size_t size)
{
    int up = strcmp(argv[0], "broker-up") == 0;
    rd_kafka_resp_err_t err;
    int32_t id;

    (void)argc;
    if (parse_broker(db, argv[1], 1, &id) < 0) {
        snprintf(reply, size, "BROKER must be a broker id from 1 to %d, or all", db->brokers);
        return -1;
    }
    err = up ? rd_kafka_mock_broker_set_up(db->mc, id) : rd_kafka_mock_broker_set_down(db->mc, id);
    if (err) {
        snprintf(reply, size, "could not set broker %s %s: %s", argv[1], up ? "up" : "down",
                 rd_kafka_err2name(err));
        return -1;
    }
    snprintf(reply, size, "broker=%s %s", argv[1], up ? "up" : "down");
    return 0;
}

static int cmd_rtt(struct devbroker *db, int argc, char **argv, char *reply, size_t size)
{
    rd_kafka_resp_err_t err;
    int32_t id;
    int ms;

    (void)argc;
    if (parse_broker(db, argv[1], 1, &id) < 0) {
        snprintf(reply, size, "BROKER must be a broker id from 1 to %d, or all", db->brokers);
        return -1;
    }
    if (devbroker_parse_int(argv[2], 0, AAC_DEVBROKER_MAX_RTT_MS, &ms) < 0) {
        snprintf(reply, size, "MS must be an integer from 0 to %d", AAC_DEVBROKER_MAX_RTT_MS);
        return -1;
    }
    err = rd_kafka_mock_broker_set_rtt(db->mc, id, ms);
    if (err) {
        snprintf(reply, size, "could not set rtt: %s", rd_kafka_err2name(err));
        return -1;
    }
    snprintf(reply, size, "broker=%s rtt_ms=%d", argv[1], ms);
    return 0;
}

/* Parses APIKEY ERRCODE [COUNT] (count_s NULL: 1), shared by the two
 * request-error commands. */
static int parse_injection(const char *api_s, const char *err_s, const char *count_s, int16_t *key,
                           rd_kafka_resp_err_t *err, int *count, char *reply, size_t size)
{
    if (parse_api_key(api_s, key) < 0) {
        snprintf(reply, size, "unknown API key '%s' (a name such as Produce or a number)", api_s);
        return -1;
    }
    if (parse_err(err_s, err) < 0) {
        snprintf(reply, size,
                 "unknown error code '%s' (a librdkafka name such as NOT_COORDINATOR, or a "
                 "number)",
                 err_s);
        return -1;
    }
    *count = 1;
    if (count_s && devbroker_parse_int(count_s, 1, AAC_DEVBROKER_MAX_ERROR_COUNT, count) < 0) {
        snprintf(reply, size, "COUNT must be an integer from 1 to %d",
                 AAC_DEVBROKER_MAX_ERROR_COUNT);
        return -1;
    }
    return 0;
}

static int cmd_request_error(struct devbroker *db, int argc, char **argv, char *reply, size_t size)
{
    rd_kafka_resp_err_t err, *errs;
    int16_t key;
    int count;

    if (parse_injection(argv[1], argv[2], argc > 3 ? argv[3] : NULL, &key, &err, &count, reply,
                        size) < 0)
        return -1;
    errs = malloc(sizeof(*errs) * (size_t)count);
    if (!errs) {
        snprintf(reply, size, "out of memory");
        return -1;
    }
    for (int i = 0; i < count; i++)
        errs[i] = err;
    rd_kafka_mock_push_request_errors_array(db->mc, key, (size_t)count, errs);
    free(errs);
    snprintf(reply, size, "api=%s error=%s count=%d", api_key_name(key), rd_kafka_err2name(err),
             count);
    return 0;
}

static int cmd_broker_request_error(struct devbroker *db, int argc, char **argv, char *reply,
                                    size_t size)
{
    rd_kafka_resp_err_t err, rerr;
    int16_t key;
    int32_t id;
    int count, rtt;

    if (parse_broker(db, argv[1], 0, &id) < 0) {
        snprintf(reply, size, "BROKER must be a broker id from 1 to %d", db->brokers);
        return -1;
    }
    if (parse_injection(argv[2], argv[3], argc > 5 ? argv[5] : NULL, &key, &err, &count, reply,
                        size) < 0)
        return -1;
    if (devbroker_parse_int(argv[4], 0, AAC_DEVBROKER_MAX_RTT_MS, &rtt) < 0) {
        snprintf(reply, size, "RTT_MS must be an integer from 0 to %d", AAC_DEVBROKER_MAX_RTT_MS);
        return -1;
    }
    /* The variadic API takes (err, rtt) pairs; pushing them one at a time
     * appends in order, which is the same stack. */
    for (int i = 0; i < count; i++) {
        rerr = rd_kafka_mock_broker_push_request_error_rtts(db->mc, id, key, 1, err, rtt);
        if (rerr) {
            snprintf(reply, size, "could not push error %d of %d: %s", i + 1, count,
                     rd_kafka_err2name(rerr));
            return -1;
        }
    }
    snprintf(reply, size, "broker=%d api=%s error=%s rtt_ms=%d count=%d", (int)id,
             api_key_name(key), rd_kafka_err2name(err), rtt, count);
    return 0;
}

static int cmd_error_count(struct devbroker *db, int argc, char **argv, char *reply, size_t size)
{
    rd_kafka_resp_err_t err;
    size_t cnt = 0;
    int16_t key;
    int32_t id;

    (void)argc;
    if (parse_broker(db, argv[1], 0, &id) < 0) {
        snprintf(reply, size, "BROKER must be a broker id from 1 to %d", db->brokers);
        return -1;
    }
    if (parse_api_key(argv[2], &key) < 0) {
        snprintf(reply, size, "unknown API key '%s'", argv[2]);
        return -1;
    }
    err = rd_kafka_mock_broker_error_stack_cnt(db->mc, id, key, &cnt);
    if (err) {
        snprintf(reply, size, "could not count errors: %s", rd_kafka_err2name(err));
        return -1;
    }
    snprintf(reply, size, "broker=%d api=%s count=%zu", (int)id, api_key_name(key), cnt);
    return 0;
}

static int cmd_clear_errors(struct devbroker *db, int argc, char **argv, char *reply, size_t size)
{
    int16_t key;

    (void)argc;
    if (parse_api_key(argv[1], &key) < 0) {
        snprintf(reply, size, "unknown API key '%s'", argv[1]);
        return -1;
    }
    rd_kafka_mock_clear_request_errors(db->mc, key);
    snprintf(reply, size, "api=%s cleared", api_key_name(key));
    return 0;
}

static int cmd_topic_error(struct devbroker *db, int argc, char **argv, char *reply, size_t size)
{
    rd_kafka_resp_err_t err;

    (void)argc;
    if (!devbroker_topic_name_valid(argv[1])) {
        snprintf(reply, size, "invalid topic name");
        return -1;
    }
    if (parse_err(argv[2], &err) < 0) {
        snprintf(reply, size, "unknown error code '%s'", argv[2]);
        return -1;
    }
    rd_kafka_mock_topic_set_error(db->mc, argv[1], err);
    snprintf(reply, size, "topic=%s error=%s", argv[1], rd_kafka_err2name(err));
    return 0;
}

static int cmd_coordinator(struct devbroker *db, int argc, char **argv, char *reply, size_t size)
{
    rd_kafka_resp_err_t err;
    int32_t id;

    (void)argc;
    if (strcmp(argv[1], "group") != 0 && strcmp(argv[1], "transaction") != 0) {
        snprintf(reply, size, "coordinator type must be group or transaction");
        return -1;
    }
    if (parse_broker(db, argv[3], 0, &id) < 0) {
        snprintf(reply, size, "BROKER must be a broker id from 1 to %d", db->brokers);
        return -1;
    }
    err = rd_kafka_mock_coordinator_set(db->mc, argv[1], argv[2], id);
    if (err) {
        snprintf(reply, size, "could not set coordinator: %s", rd_kafka_err2name(err));
        return -1;
    }
    snprintf(reply, size, "%s=%s coordinator=%d", argv[1], argv[2], (int)id);
    return 0;
}

static int cmd_partition_leader(struct devbroker *db, int argc, char **argv, char *reply,
                                size_t size)
{
    rd_kafka_resp_err_t err;
    int partition;
    int32_t id;

    (void)argc;
    if (!devbroker_topic_name_valid(argv[1])) {
        snprintf(reply, size, "invalid topic name");
        return -1;
    }
    if (devbroker_parse_int(argv[2], 0, AAC_DEVBROKER_MAX_PARTITIONS - 1, &partition) < 0) {
        snprintf(reply, size, "PARTITION must be an integer from 0 to %d",
                 AAC_DEVBROKER_MAX_PARTITIONS - 1);
        return -1;
    }
    /* "none" (-1) makes the partition leaderless, as the mock allows. */
    if (strcmp(argv[3], "none") == 0 || strcmp(argv[3], "-1") == 0) {
        id = -1;
    } else if (parse_broker(db, argv[3], 0, &id) < 0) {
        snprintf(reply, size, "BROKER must be a broker id from 1 to %d, or none", db->brokers);
        return -1;
    }
    err = rd_kafka_mock_partition_set_leader(db->mc, argv[1], partition, id);
    if (err) {
        snprintf(reply, size, "could not set leader of %s [%d]: %s", argv[1], partition,
                 rd_kafka_err2name(err));
        return -1;
    }
    snprintf(reply, size, "topic=%s partition=%d leader=%d", argv[1], partition, (int)id);
    return 0;
}

static const struct cmd cmds[] = {
    {"ping", "", 0, 0, cmd_ping},
    {"help", "", 0, 0, cmd_help},
    {"topic-create", "NAME PARTITIONS [REPLICATION]", 2, 3, cmd_topic_create},
    {"broker-down", "ID|all", 1, 1, cmd_broker_updown},
    {"broker-up", "ID|all", 1, 1, cmd_broker_updown},
    {"rtt", "ID|all MS", 2, 2, cmd_rtt},
    {"request-error", "APIKEY ERRCODE [COUNT]", 2, 3, cmd_request_error},
    {"broker-request-error", "ID APIKEY ERRCODE RTT_MS [COUNT]", 4, 5, cmd_broker_request_error},
    {"error-count", "ID APIKEY", 2, 2, cmd_error_count},
    {"clear-errors", "APIKEY", 1, 1, cmd_clear_errors},
    {"topic-error", "TOPIC ERRCODE", 2, 2, cmd_topic_error},
    {"coordinator", "group|transaction KEY ID", 3, 3, cmd_coordinator},
    {"partition-leader", "TOPIC PARTITION ID|none", 3, 3, cmd_partition_leader},
};

static int cmd_help(struct devbroker *db, int argc, char **argv, char *reply, size_t size)
{
    size_t o;

    (void)db;
    (void)argc;
    (void)argv;
    o = (size_t)snprintf(reply, size, "commands:");
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]) && o < size; i++)
        o += (size_t)snprintf(reply + o, size - o, "%s %s%s%s", i ? ";" : "", cmds[i].name,
                              *cmds[i].args ? " " : "", cmds[i].args);
    return 0;
}

void devbroker_dispatch(struct devbroker *db, char *line, char *reply, size_t size)
{
    char *argv[AAC_DEVBROKER_MAX_ARGS + 1];
    char text[AAC_DEVBROKER_REPLY_MAX - 16]; /* room for the "error: " prefix */
    char qcmd[64];
    const struct cmd *c = NULL;
    int argc = 0, rc;
    char *save = NULL, *tok;

    for (tok = strtok_r(line, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
        if (argc == AAC_DEVBROKER_MAX_ARGS + 1) {
            snprintf(reply, size, "error: too many arguments");
            return;
        }
        argv[argc++] = tok;
    }
    if (argc == 0) {
        snprintf(reply, size, "error: empty command (try help)");
        return;
    }
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
        if (strcmp(argv[0], cmds[i].name) == 0) {
            c = &cmds[i];
            break;
        }
    }
    if (!c) {
        aac_warn("unknown control command", AAC_KV_STR("command", argv[0]));
        aac_utf8_escape(qcmd, sizeof(qcmd), argv[0], strlen(argv[0]), AAC_UTF8_ESC_LOGFMT, NULL);
        snprintf(reply, size, "error: unknown command \"%s\" (try help)", qcmd);
        return;
    }
    if (argc - 1 < c->min_args || argc - 1 > c->max_args) {
        snprintf(reply, size, "error: usage: %s%s%s", c->name, *c->args ? " " : "", c->args);
        return;
    }
    text[0] = '\0';
    rc = c->fn(db, argc, argv, text, sizeof(text));
    snprintf(reply, size, "%s%s", rc == 0 ? "ok " : "error: ", text);
    if (c->fn != cmd_ping && c->fn != cmd_help) {
        if (rc == 0)
            aac_info("control command done", AAC_KV_STR("command", c->name),
                     AAC_KV_STR("result", text));
        else
            aac_warn("control command failed", AAC_KV_STR("command", c->name),
                     AAC_KV_STR("reason", text));
    }
}
