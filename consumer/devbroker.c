/*
 * devbroker: the development Kafka broker. Owns one librdkafka mock cluster
 * (rdkafka_mock.h) for the life of the process, the bootstrap file that tells
 * clients where it listens, and a Unix-domain control socket that takes
 * one-line fault-injection commands. Also implements `dev-broker ctl`, the
 * client for that socket.
 *
 * Threads: the mock cluster runs its own threads (one per cluster plus
 * librdkafka's); the main thread only serves the control socket with poll()
 * and calls the mock API, whose setters either take the cluster lock or hand
 * an op to the cluster thread and wait, so they are safe from here.
 *
 * The mock keeps data in memory only: a restart of this process loses every
 * topic and offset. Consumers may come and go freely; this process doesn't
 * care who is connected.
 */
#include "aac/devbroker.h"
#include "aac/log.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define AAC_DEVBROKER_DEFAULT_BROKERS 3
/* librdkafka 2.0.2's mock auto-creates topics with 4 partitions and has no
 * API to change that; --default-partitions can only apply to --topic. */
#define AAC_DEVBROKER_MOCK_AUTO_PARTITIONS 4
#define AAC_DEVBROKER_MAX_BROKERS          64
#define AAC_DEVBROKER_MAX_PARTITIONS       10000
#define AAC_DEVBROKER_MAX_TOPICS           256
#define AAC_DEVBROKER_MAX_ERROR_COUNT      100000
#define AAC_DEVBROKER_MAX_RTT_MS           600000
/* Kafka's own limit on topic names. */
#define AAC_DEVBROKER_TOPIC_NAME_MAX 249

/* Control protocol bounds: a line longer than LINE_MAX is refused, at most
 * MAX_CLIENTS connections are served at once, an idle one is dropped so a
 * stuck client can't hold a slot forever. */
#define AAC_DEVBROKER_LINE_MAX       1024
#define AAC_DEVBROKER_REPLY_MAX      2048
#define AAC_DEVBROKER_OUT_MAX        (4 * AAC_DEVBROKER_REPLY_MAX)
#define AAC_DEVBROKER_MAX_CLIENTS    16
#define AAC_DEVBROKER_MAX_ARGS       8
#define AAC_DEVBROKER_CLIENT_IDLE_MS 60000
#define AAC_DEVBROKER_DRAIN_MS       2000
#define AAC_DEVBROKER_POLL_MS        250
#define AAC_DEVBROKER_CTL_TIMEOUT_MS 15000
#define AAC_DEVBROKER_READY_WAIT_MS  5000

static volatile sig_atomic_t stop_signal;

static void stop_cb(int sig)
{
    stop_signal = sig;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Parses a whole decimal integer within [min, max]; no trailing junk, so
 * "3x" or "" are errors rather than 3 or 0. */
static int parse_int(const char *s, long min, long max, int *out)
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

/* Kafka accepts [a-zA-Z0-9._-] up to 249 characters; checking here gives a
 * clear error instead of a topic no client can use. */
static int topic_name_valid(const char *name)
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
    if (parse_int(s, 0, INT16_MAX, &v) == 0) {
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
    if (parse_int(s, INT_MIN, INT_MAX, &v) == 0) {
        for (size_t i = 0; i < cnt; i++) {
            if (descs[i].name && (int)descs[i].code == v) {
                *err = descs[i].code;
                return 0;
            }
        }
    }
    return -1;
}

/* State shared by the control commands. */
struct devbroker {
    rd_kafka_t *rk;
    rd_kafka_mock_cluster_t *mc;
    int brokers;
    int replication;
};

/* A broker id 1..brokers, or "all"/-1 where the mock accepts every broker. */
static int parse_broker(const struct devbroker *db, const char *s, int allow_all, int32_t *id)
{
    int v;

    if (allow_all && (strcmp(s, "all") == 0 || strcmp(s, "-1") == 0)) {
        *id = -1;
        return 0;
    }
    if (parse_int(s, 1, db->brokers, &v) < 0)
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

    if (!topic_name_valid(argv[1])) {
        snprintf(reply, size, "invalid topic name (use 1-249 of [a-zA-Z0-9._-])");
        return -1;
    }
    if (parse_int(argv[2], 1, AAC_DEVBROKER_MAX_PARTITIONS, &partitions) < 0) {
        snprintf(reply, size, "PARTITIONS must be an integer from 1 to %d",
                 AAC_DEVBROKER_MAX_PARTITIONS);
        return -1;
    }
    if (argc > 3 && parse_int(argv[3], 1, db->brokers, &replication) < 0) {
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
    if (parse_int(argv[2], 0, AAC_DEVBROKER_MAX_RTT_MS, &ms) < 0) {
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
    if (count_s && parse_int(count_s, 1, AAC_DEVBROKER_MAX_ERROR_COUNT, count) < 0) {
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
    if (parse_int(argv[4], 0, AAC_DEVBROKER_MAX_RTT_MS, &rtt) < 0) {
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
    if (!topic_name_valid(argv[1])) {
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
    if (!topic_name_valid(argv[1])) {
        snprintf(reply, size, "invalid topic name");
        return -1;
    }
    if (parse_int(argv[2], 0, AAC_DEVBROKER_MAX_PARTITIONS - 1, &partition) < 0) {
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

/*
 * Runs one command line and writes the one-line answer ("ok ..." or
 * "error: ...", no newline) into `reply`. Splits `line` in place.
 */
static void ctl_dispatch(struct devbroker *db, char *line, char *reply, size_t size)
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
    aac_log_quote(qcmd, sizeof(qcmd), argv[0]);
    if (!c) {
        aac_warn("unknown control command", "command=%s", qcmd);
        snprintf(reply, size, "error: unknown command %s (try help)", qcmd);
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
        char qtext[512];
        aac_log_quote(qtext, sizeof(qtext), text);
        if (rc == 0)
            aac_info("control command done", "command=%s result=%s", c->name, qtext);
        else
            aac_warn("control command failed", "command=%s reason=%s", c->name, qtext);
    }
}

/* One control connection: bytes read but not yet a full line, and replies
 * not yet written (the client may be slow to read). */
struct ctl_client {
    int fd;
    int closing; /* run nothing more; close once `out` is flushed */
    int eof;     /* the client has sent everything it will send */
    int shut;    /* closing, flushed, and our side shut down: draining */
    int64_t last_ms;
    size_t inlen, outlen;
    char in[AAC_DEVBROKER_LINE_MAX];
    char out[AAC_DEVBROKER_OUT_MAX];
};

struct ctl_server {
    int lfd;
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    struct ctl_client *clients[AAC_DEVBROKER_MAX_CLIENTS];
    int nclients;
};

static void ctl_client_close(struct ctl_server *srv, int i)
{
    close(srv->clients[i]->fd);
    free(srv->clients[i]);
    srv->clients[i] = srv->clients[--srv->nclients];
    srv->clients[srv->nclients] = NULL;
}

static void ctl_client_reply(struct ctl_client *c, const char *reply)
{
    size_t n = strlen(reply);

    /* ctl_client_lines keeps REPLY_MAX + 1 free before running a command */
    if (n > AAC_DEVBROKER_REPLY_MAX - 1)
        n = AAC_DEVBROKER_REPLY_MAX - 1;
    memcpy(c->out + c->outlen, reply, n);
    c->outlen += n;
    c->out[c->outlen++] = '\n';
}

/* Runs the complete lines in c->in while there is room for their replies;
 * the rest waits for the client to read. A last line without a newline at
 * EOF is refused, not run: it may be a command cut short by a dying client
 * ("rtt 1 10" of "rtt 1 1000"). */
static void ctl_client_lines(struct devbroker *db, struct ctl_client *c, int eof)
{
    char reply[AAC_DEVBROKER_REPLY_MAX];
    char line[AAC_DEVBROKER_LINE_MAX + 1];

    while (!c->closing && c->outlen + AAC_DEVBROKER_REPLY_MAX + 1 <= sizeof(c->out)) {
        char *nl = memchr(c->in, '\n', c->inlen);
        size_t len, used;

        if (nl) {
            len = (size_t)(nl - c->in);
            used = len + 1;
        } else if (c->inlen == sizeof(c->in)) {
            /* no newline within the limit: the rest of the stream can't be
             * framed reliably, so answer once and hang up */
            ctl_client_reply(c, "error: line too long (limit 1023 bytes)");
            aac_warn("control line refused", "reason=\"too long\" limit=%d",
                     AAC_DEVBROKER_LINE_MAX - 1);
            c->inlen = 0;
            c->closing = 1;
            return;
        } else if (eof && c->inlen > 0) {
            ctl_client_reply(c, "error: command not terminated by a newline, not run");
            aac_warn("control line refused", "reason=\"no newline before end of input\"");
            c->inlen = 0;
            return;
        } else {
            return;
        }
        memcpy(line, c->in, len);
        line[len] = '\0';
        memmove(c->in, c->in + used, c->inlen - used);
        c->inlen -= used;
        if (memchr(line, '\0', len)) {
            ctl_client_reply(c, "error: line contains a NUL byte");
            continue;
        }
        if (len > 0 && line[len - 1] == '\r')
            line[len - 1] = '\0';
        ctl_dispatch(db, line, reply, sizeof(reply));
        ctl_client_reply(c, reply);
    }
}

/*
 * Opens the control socket at `path`, mode 0600 (it can take brokers down,
 * so only this user may talk to it). A socket file nobody listens on is a
 * leftover of a killed broker and is replaced; a live one means another
 * broker owns the path, which is an error rather than a silent takeover.
 */
static int ctl_server_open(struct ctl_server *srv, const char *path, char *errstr,
                           size_t errstr_size)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    struct stat st;
    mode_t old_umask;
    int fd, probe, rc;

    srv->lfd = -1;
    if (strlen(path) >= sizeof(sun.sun_path)) {
        snprintf(errstr, errstr_size, "control socket path is longer than %zu bytes",
                 sizeof(sun.sun_path) - 1);
        return -1;
    }
    memcpy(sun.sun_path, path, strlen(path) + 1);
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            snprintf(errstr, errstr_size, "cannot use %s as control socket: not a socket", path);
            return -1;
        }
        probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (probe >= 0 && connect(probe, (struct sockaddr *)&sun, sizeof(sun)) == 0) {
            close(probe);
            snprintf(errstr, errstr_size,
                     "cannot use %s as control socket: another process serves it", path);
            return -1;
        }
        if (probe >= 0)
            close(probe);
        unlink(path);
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        snprintf(errstr, errstr_size, "could not create control socket: %s", strerror(errno));
        return -1;
    }
    /* umask rather than chmod after bind: no window where others may
     * connect. No other thread exists yet to be surprised by it. */
    old_umask = umask(077);
    rc = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
    umask(old_umask);
    if (rc < 0 || listen(fd, AAC_DEVBROKER_MAX_CLIENTS) < 0) {
        snprintf(errstr, errstr_size, "could not listen on control socket %s: %s", path,
                 strerror(errno));
        close(fd);
        if (rc == 0)
            unlink(path);
        return -1;
    }
    srv->lfd = fd;
    memcpy(srv->path, path, strlen(path) + 1);
    return 0;
}

static void ctl_server_close(struct ctl_server *srv)
{
    while (srv->nclients > 0)
        ctl_client_close(srv, srv->nclients - 1);
    if (srv->lfd >= 0) {
        close(srv->lfd);
        unlink(srv->path);
        srv->lfd = -1;
    }
}

static void ctl_server_accept(struct ctl_server *srv)
{
    static const char full[] = "error: too many control clients\n";
    struct ctl_client *c;
    int fd;

    for (;;) {
        fd = accept(srv->lfd, NULL, NULL);
        if (fd < 0) {
            if (errno == ECONNABORTED || errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                aac_warn("could not accept control connection", "error=\"%s\"", strerror(errno));
            return;
        }
        if (fcntl(fd, F_SETFL, O_NONBLOCK) < 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
            close(fd);
            continue;
        }
        if (srv->nclients == AAC_DEVBROKER_MAX_CLIENTS) {
            /* best effort: the client learns why before the close */
            if (send(fd, full, sizeof(full) - 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
            }
            close(fd);
            aac_warn("control connection refused", "reason=\"too many clients\" limit=%d",
                     AAC_DEVBROKER_MAX_CLIENTS);
            continue;
        }
        c = calloc(1, sizeof(*c));
        if (!c) {
            close(fd);
            continue;
        }
        c->fd = fd;
        c->last_ms = now_ms();
        srv->clients[srv->nclients++] = c;
    }
}

/* Whether to read more from `c`: only while its replies have room, so a
 * client that writes but never reads can't make us buffer without bound. */
static int ctl_client_wants_read(const struct ctl_client *c)
{
    if (c->eof)
        return 0;
    if (c->closing)
        return 1; /* draining, see ctl_client_io */
    return c->inlen < sizeof(c->in) && c->outlen + AAC_DEVBROKER_REPLY_MAX + 1 <= sizeof(c->out);
}

/* Returns -1 when the connection must be dropped now. */
static int ctl_client_flush(struct ctl_client *c)
{
    ssize_t n;

    while (c->outlen > 0) {
        n = send(c->fd, c->out, c->outlen, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -1;
        }
        memmove(c->out, c->out + n, c->outlen - (size_t)n);
        c->outlen -= (size_t)n;
        c->last_ms = now_ms();
    }
    return 0;
}

/* Handles poll events on one client. Returns -1 when it should be closed:
 * done, gone, or broken. */
static int ctl_client_io(struct devbroker *db, struct ctl_client *c, short revents)
{
    ssize_t n;

    if (revents & POLLERR)
        return -1;
    if (revents & POLLIN) {
        /* a closing client's input is read and dropped: closing with unread
         * input would send a reset that can destroy our last reply before
         * the client reads it */
        if (c->closing)
            c->inlen = 0;
        n = recv(c->fd, c->in + c->inlen, sizeof(c->in) - c->inlen, MSG_DONTWAIT);
        if (n > 0) {
            c->inlen += (size_t)n;
            if (c->closing)
                c->inlen = 0;
            else
                c->last_ms = now_ms();
        } else if (n == 0) {
            c->eof = 1;
        } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            return -1;
        }
    } else if (revents & POLLHUP) {
        /* peer closed both ways while we weren't reading: nobody to answer */
        return -1;
    }
    /* Until the socket is full or the lines run out: a flush makes room for
     * more replies, and a client with lines pending but nothing to send and
     * nothing to read would get no poll event to resume it. */
    do {
        ctl_client_lines(db, c, c->eof);
        if (ctl_client_flush(c) < 0)
            return -1;
    } while (c->outlen == 0 && c->inlen > 0 && !c->closing &&
             (c->eof || memchr(c->in, '\n', c->inlen)));
    if (c->outlen > 0)
        return 0;
    if (c->eof && (c->closing || c->inlen == 0))
        return -1;
    if (c->closing && !c->shut) {
        /* the reply is out: tell the client, then wait for its EOF */
        shutdown(c->fd, SHUT_WR);
        c->shut = 1;
        c->last_ms = now_ms();
    }
    return 0;
}

/*
 * The main loop: serves the control socket (if any) until a signal sets
 * stop_signal. The poll timeout bounds how long a signal that arrives just
 * before poll() goes unnoticed. Returns 0, or -1 if poll itself fails.
 */
static int serve(struct devbroker *db, struct ctl_server *srv)
{
    struct pollfd pfds[1 + AAC_DEVBROKER_MAX_CLIENTS];
    int64_t now;
    int n, rc;

    while (!stop_signal) {
        n = 0;
        if (srv->lfd >= 0) {
            pfds[n++] = (struct pollfd){.fd = srv->lfd, .events = POLLIN};
            for (int i = 0; i < srv->nclients; i++) {
                struct ctl_client *c = srv->clients[i];
                short ev = 0;
                if (ctl_client_wants_read(c))
                    ev |= POLLIN;
                if (c->outlen > 0)
                    ev |= POLLOUT;
                pfds[n++] = (struct pollfd){.fd = c->fd, .events = ev};
            }
        }
        rc = poll(n ? pfds : NULL, (nfds_t)n, AAC_DEVBROKER_POLL_MS);
        if (rc < 0 && errno != EINTR) {
            aac_error("could not poll control socket", "error=\"%s\"", strerror(errno));
            return -1;
        }
        /* serves the handle's events, e.g. errors to log; it produces nothing */
        rd_kafka_poll(db->rk, 0);
        if (srv->lfd < 0 || rc <= 0)
            goto idle;
        /* backwards: closing slot i moves the last client into it, and that
         * one has already been handled */
        for (int i = srv->nclients - 1; i >= 0; i--) {
            if (pfds[1 + i].revents && ctl_client_io(db, srv->clients[i], pfds[1 + i].revents) < 0)
                ctl_client_close(srv, i);
        }
        if (pfds[0].revents & POLLIN)
            ctl_server_accept(srv);
    idle:
        now = now_ms();
        for (int i = srv->nclients - 1; i >= 0; i--) {
            const struct ctl_client *c = srv->clients[i];
            if (c->shut && now - c->last_ms > AAC_DEVBROKER_DRAIN_MS) {
                ctl_client_close(srv, i);
            } else if (now - c->last_ms > AAC_DEVBROKER_CLIENT_IDLE_MS) {
                aac_info("control connection idle, closing", "idle_ms=%d",
                         AAC_DEVBROKER_CLIENT_IDLE_MS);
                ctl_client_close(srv, i);
            }
        }
    }
    return 0;
}

/*
 * Connects to every address in `bootstraps` ("127.0.0.1:port,...") until all
 * accept or the wait runs out. The mock listens before cluster_new returns,
 * but the bootstrap file promises a broker that accepts connections, so
 * check rather than trust.
 */
static int bootstrap_probe(const char *bootstraps, char *errstr, size_t errstr_size)
{
    int64_t deadline = now_ms() + AAC_DEVBROKER_READY_WAIT_MS;
    char list[4096], *save = NULL, *addr, *colon;
    struct sockaddr_in sin;
    int fd, port, ok;

    if (strlen(bootstraps) >= sizeof(list)) {
        snprintf(errstr, errstr_size, "bootstrap list too long");
        return -1;
    }
    memcpy(list, bootstraps, strlen(bootstraps) + 1);
    for (addr = strtok_r(list, ",", &save); addr; addr = strtok_r(NULL, ",", &save)) {
        colon = strrchr(addr, ':');
        if (!colon || parse_int(colon + 1, 1, 65535, &port) < 0) {
            snprintf(errstr, errstr_size, "unexpected bootstrap address %s", addr);
            return -1;
        }
        *colon = '\0';
        memset(&sin, 0, sizeof(sin));
        sin.sin_family = AF_INET;
        sin.sin_port = htons((uint16_t)port);
        if (inet_pton(AF_INET, addr, &sin.sin_addr) != 1) {
            snprintf(errstr, errstr_size, "unexpected bootstrap host %s", addr);
            return -1;
        }
        for (;;) {
            fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
            if (fd < 0) {
                snprintf(errstr, errstr_size, "could not create socket: %s", strerror(errno));
                return -1;
            }
            ok = connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0;
            close(fd);
            if (ok)
                break;
            if (now_ms() > deadline) {
                snprintf(errstr, errstr_size, "mock broker %s:%d does not accept connections: %s",
                         addr, port, strerror(errno));
                return -1;
            }
            nanosleep(&(struct timespec){.tv_nsec = 50 * 1000000}, NULL);
        }
    }
    return 0;
}

/* Writes `text` to `path` through a temporary file and rename(), so a reader
 * polling for the file sees nothing or all of it, never a partial line. */
static int write_file_atomic(const char *path, const char *text, char *errstr, size_t errstr_size)
{
    char tmp[PATH_MAX];
    size_t len = strlen(text), off = 0;
    ssize_t n;
    int fd;

    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >= sizeof(tmp)) {
        snprintf(errstr, errstr_size, "bootstrap file path too long");
        return -1;
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        snprintf(errstr, errstr_size, "could not create %.256s: %s", tmp, strerror(errno));
        return -1;
    }
    while (off < len) {
        n = write(fd, text + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            snprintf(errstr, errstr_size, "could not write %.256s: %s", tmp, strerror(errno));
            goto fail;
        }
        off += (size_t)n;
    }
    if (close(fd) < 0) {
        fd = -1;
        snprintf(errstr, errstr_size, "could not write %.256s: %s", tmp, strerror(errno));
        goto fail;
    }
    fd = -1;
    if (rename(tmp, path) < 0) {
        snprintf(errstr, errstr_size, "could not rename %.256s to %.200s: %s", tmp, path,
                 strerror(errno));
        goto fail;
    }
    return 0;
fail:
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    return -1;
}

/* librdkafka's log callback: runs on its threads; aac_log is thread-safe. */
static void rdkafka_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    aac_log_level_t lvl;
    char qfac[64];

    (void)rk;
    if (level <= 3)
        lvl = AAC_LOG_ERROR;
    else if (level == 4)
        lvl = AAC_LOG_WARN;
    else if (level <= 6)
        lvl = AAC_LOG_INFO;
    else
        lvl = AAC_LOG_DEBUG;
    /* expected: the handle only hosts the mock cluster and never connects */
    if (strcmp(fac, "CONFWARN") == 0 && strstr(buf, "bootstrap.servers"))
        lvl = AAC_LOG_DEBUG;
    AAC_LOG_AT(lvl, buf, "component=librdkafka fac=%s", aac_log_quote(qfac, sizeof(qfac), fac));
}

struct topic_opt {
    char name[AAC_DEVBROKER_TOPIC_NAME_MAX + 1];
    int partitions; /* 0: --default-partitions */
};

struct options {
    int brokers;
    int default_partitions;
    int debug;
    int help;
    const char *bootstrap_file;
    const char *control;
    int ntopics;
    struct topic_opt topics[AAC_DEVBROKER_MAX_TOPICS];
};

static void print_usage(FILE *f)
{
    fprintf(
        f,
        "usage: agent-actions-consumer dev-broker [--brokers N] [--bootstrap-file FILE]\n"
        "           [--control SOCKET] [--topic NAME[:PARTITIONS]]... [--default-partitions N]\n"
        "           [--debug] [--help]\n"
        "       agent-actions-consumer dev-broker ctl SOCKET COMMAND [ARGS...]\n"
        "\n"
        "Runs a librdkafka mock Kafka cluster on 127.0.0.1 (random ports) until SIGINT or\n"
        "SIGTERM. Data lives in memory only.\n"
        "\n"
        "  --brokers N             number of brokers, ids 1..N (default %d)\n"
        "  --bootstrap-file FILE   write the bootstrap address list here once the brokers\n"
        "                          accept connections (removed again at exit)\n"
        "  --control SOCKET        serve one-line commands on this Unix socket\n"
        "  --topic NAME[:P]        create a topic with P partitions (repeatable)\n"
        "  --default-partitions N  partitions for --topic without :P (default %d); topics\n"
        "                          that clients auto-create always get %d (librdkafka 2.0.2)\n"
        "  --debug                 log at debug level, with librdkafka's mock debug log\n"
        "\n"
        "Control commands (`dev-broker ctl SOCKET help` lists them): ping, topic-create,\n"
        "broker-down, broker-up, rtt, request-error, broker-request-error, error-count,\n"
        "clear-errors, topic-error, coordinator, partition-leader. See docs/dev-broker.md.\n",
        AAC_DEVBROKER_DEFAULT_BROKERS, AAC_DEVBROKER_MOCK_AUTO_PARTITIONS,
        AAC_DEVBROKER_MOCK_AUTO_PARTITIONS);
}

/* Takes "--name VALUE" or "--name=VALUE". Returns the value, or NULL when
 * argv[*i] is not this option; sets *missing if the value is absent. */
static const char *opt_value(int argc, char **argv, int *i, const char *name, int *missing)
{
    size_t n = strlen(name);

    if (strncmp(argv[*i], name, n) != 0)
        return NULL;
    if (argv[*i][n] == '=')
        return argv[*i] + n + 1;
    if (argv[*i][n] != '\0')
        return NULL;
    if (*i + 1 >= argc) {
        *missing = 1;
        return NULL;
    }
    return argv[++*i];
}

static int parse_options(int argc, char **argv, struct options *o, char *errstr, size_t errstr_size)
{
    const char *v;
    int missing = 0;

    memset(o, 0, sizeof(*o));
    o->brokers = AAC_DEVBROKER_DEFAULT_BROKERS;
    o->default_partitions = AAC_DEVBROKER_MOCK_AUTO_PARTITIONS;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];

        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            o->help = 1;
        } else if (strcmp(arg, "--debug") == 0) {
            o->debug = 1;
        } else if ((v = opt_value(argc, argv, &i, "--brokers", &missing))) {
            if (parse_int(v, 1, AAC_DEVBROKER_MAX_BROKERS, &o->brokers) < 0) {
                snprintf(errstr, errstr_size,
                         "--brokers: expected an integer from 1 to %d, got '%s'",
                         AAC_DEVBROKER_MAX_BROKERS, v);
                return -1;
            }
        } else if ((v = opt_value(argc, argv, &i, "--default-partitions", &missing))) {
            if (parse_int(v, 1, AAC_DEVBROKER_MAX_PARTITIONS, &o->default_partitions) < 0) {
                snprintf(errstr, errstr_size,
                         "--default-partitions: expected an integer from 1 to %d, got '%s'",
                         AAC_DEVBROKER_MAX_PARTITIONS, v);
                return -1;
            }
        } else if ((v = opt_value(argc, argv, &i, "--bootstrap-file", &missing))) {
            if (!*v) {
                snprintf(errstr, errstr_size, "--bootstrap-file: empty path");
                return -1;
            }
            o->bootstrap_file = v;
        } else if ((v = opt_value(argc, argv, &i, "--control", &missing))) {
            if (!*v || strlen(v) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
                snprintf(errstr, errstr_size, "--control: path must be 1 to %zu bytes",
                         sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
                return -1;
            }
            o->control = v;
        } else if ((v = opt_value(argc, argv, &i, "--topic", &missing))) {
            struct topic_opt *t = &o->topics[o->ntopics];
            const char *colon = strchr(v, ':');
            size_t len = colon ? (size_t)(colon - v) : strlen(v);

            if (o->ntopics == AAC_DEVBROKER_MAX_TOPICS) {
                snprintf(errstr, errstr_size, "--topic: at most %d topics",
                         AAC_DEVBROKER_MAX_TOPICS);
                return -1;
            }
            if (len > AAC_DEVBROKER_TOPIC_NAME_MAX) {
                snprintf(errstr, errstr_size, "--topic: name longer than %d characters",
                         AAC_DEVBROKER_TOPIC_NAME_MAX);
                return -1;
            }
            memcpy(t->name, v, len);
            t->name[len] = '\0';
            if (!topic_name_valid(t->name)) {
                snprintf(errstr, errstr_size,
                         "--topic: invalid topic name '%s' (use [a-zA-Z0-9._-])", t->name);
                return -1;
            }
            t->partitions = 0;
            if (colon &&
                parse_int(colon + 1, 1, AAC_DEVBROKER_MAX_PARTITIONS, &t->partitions) < 0) {
                snprintf(errstr, errstr_size,
                         "--topic %s: partitions must be an integer from 1 to %d", v,
                         AAC_DEVBROKER_MAX_PARTITIONS);
                return -1;
            }
            o->ntopics++;
        } else {
            if (missing)
                snprintf(errstr, errstr_size, "%s: missing value", arg);
            else
                snprintf(errstr, errstr_size, "unknown argument '%s'", arg);
            return -1;
        }
        if (missing) {
            snprintf(errstr, errstr_size, "%s: missing value", arg);
            return -1;
        }
    }
    for (int i = 0; i < o->ntopics; i++) {
        if (o->topics[i].partitions == 0)
            o->topics[i].partitions = o->default_partitions;
    }
    return 0;
}

/*
 * Runs the broker until a signal. Order matters: the control socket is
 * listening and the topics exist before the bootstrap file appears, because
 * whoever waits for that file (servers.sh) uses both right away.
 */
static int run(const struct options *o)
{
    struct devbroker db = {.brokers = o->brokers, .replication = o->brokers < 3 ? o->brokers : 3};
    struct ctl_server srv = {.lfd = -1};
    struct sigaction sa = {.sa_handler = stop_cb}, old_int, old_term, old_pipe;
    struct sigaction ign = {.sa_handler = SIG_IGN};
    char errstr[512], bootstraps[4096], line[4098], qpath[256];
    rd_kafka_conf_t *conf;
    rd_kafka_resp_err_t err;
    int wrote_file = 0, rc = 1;

    if (o->debug)
        aac_log_set_level(AAC_LOG_DEBUG);
    stop_signal = 0;
    /* no SA_RESTART: poll() should return EINTR and look at the flag */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    /* a control client that hangs up early must not kill the broker */
    sigaction(SIGPIPE, &ign, &old_pipe);

    if (o->control && ctl_server_open(&srv, o->control, errstr, sizeof(errstr)) < 0) {
        aac_error("could not open control socket", "reason=%s",
                  aac_log_quote(qpath, sizeof(qpath), errstr));
        goto out;
    }

    conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "client.id", "aac-dev-broker", errstr, sizeof(errstr)) ||
        (o->debug && rd_kafka_conf_set(conf, "debug", "mock", errstr, sizeof(errstr)))) {
        rd_kafka_conf_destroy(conf);
        aac_error("could not configure librdkafka", "reason=%s",
                  aac_log_quote(qpath, sizeof(qpath), errstr));
        goto out;
    }
    rd_kafka_conf_set_log_cb(conf, rdkafka_log_cb);
    /* The mock cluster needs a handle for bookkeeping only; this producer
     * never produces. rd_kafka_new() owns conf only when it succeeds. */
    db.rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!db.rk) {
        rd_kafka_conf_destroy(conf);
        aac_error("could not create librdkafka handle", "reason=%s",
                  aac_log_quote(qpath, sizeof(qpath), errstr));
        goto out;
    }
    db.mc = rd_kafka_mock_cluster_new(db.rk, o->brokers);
    if (!db.mc) {
        aac_error("could not create mock cluster", "brokers=%d hint=\"see the librdkafka log\"",
                  o->brokers);
        goto out;
    }
    if (o->default_partitions != AAC_DEVBROKER_MOCK_AUTO_PARTITIONS)
        aac_warn("auto-created topics keep the mock's partition count",
                 "default_partitions=%d auto_create_partitions=%d "
                 "reason=\"librdkafka 2.0.2 has no setting for it\"",
                 o->default_partitions, AAC_DEVBROKER_MOCK_AUTO_PARTITIONS);
    for (int i = 0; i < o->ntopics; i++) {
        err = rd_kafka_mock_topic_create(db.mc, o->topics[i].name, o->topics[i].partitions,
                                         db.replication);
        if (err) {
            aac_error("could not create topic", "topic=%s partitions=%d error=%s",
                      o->topics[i].name, o->topics[i].partitions, rd_kafka_err2name(err));
            goto out;
        }
        aac_info("topic created", "topic=%s partitions=%d replication=%d", o->topics[i].name,
                 o->topics[i].partitions, db.replication);
    }

    snprintf(bootstraps, sizeof(bootstraps), "%s", rd_kafka_mock_cluster_bootstraps(db.mc));
    if (bootstrap_probe(bootstraps, errstr, sizeof(errstr)) < 0) {
        aac_error("mock cluster not reachable", "reason=%s",
                  aac_log_quote(qpath, sizeof(qpath), errstr));
        goto out;
    }
    snprintf(line, sizeof(line), "%s\n", bootstraps);
    if (o->bootstrap_file) {
        if (write_file_atomic(o->bootstrap_file, line, errstr, sizeof(errstr)) < 0) {
            aac_error("could not write bootstrap file", "reason=%s",
                      aac_log_quote(qpath, sizeof(qpath), errstr));
            goto out;
        }
        wrote_file = 1;
    }
    fputs(line, stdout);
    fflush(stdout);
    aac_info("dev broker ready", "bootstrap=%s brokers=%d topics=%d control=%s", bootstraps,
             o->brokers, o->ntopics,
             aac_log_quote(qpath, sizeof(qpath), o->control ? o->control : ""));

    if (serve(&db, &srv) < 0)
        goto out;
    aac_info("dev broker stopping", "signal=%d", (int)stop_signal);
    rc = 0;

out:
    ctl_server_close(&srv);
    /* the file means "a broker is up there"; don't leave a stale one */
    if (wrote_file)
        unlink(o->bootstrap_file);
    if (db.mc)
        rd_kafka_mock_cluster_destroy(db.mc);
    if (db.rk)
        rd_kafka_destroy(db.rk);
    if (rc == 0)
        aac_info("dev broker stopped", NULL);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    sigaction(SIGPIPE, &old_pipe, NULL);
    return rc;
}

/*
 * `dev-broker ctl SOCKET COMMAND [ARGS...]`: sends the words joined by
 * spaces as one line, prints the one-line reply. Exit status: 0 for "ok",
 * 1 for "error" (or anything else), 2 when the broker can't be reached or
 * doesn't answer.
 */
static int ctl_main(int argc, char **argv)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    char line[AAC_DEVBROKER_LINE_MAX + 1], reply[AAC_DEVBROKER_REPLY_MAX + 1];
    int64_t deadline;
    size_t len = 0, got = 0;
    ssize_t n;
    int fd;

    if (argc < 2) {
        fprintf(stderr, "dev-broker ctl: usage: dev-broker ctl SOCKET COMMAND [ARGS...]\n");
        return 2;
    }
    if (strlen(argv[0]) >= sizeof(sun.sun_path)) {
        fprintf(stderr, "dev-broker ctl: socket path longer than %zu bytes\n",
                sizeof(sun.sun_path) - 1);
        return 2;
    }
    memcpy(sun.sun_path, argv[0], strlen(argv[0]) + 1);
    for (int i = 1; i < argc; i++) {
        size_t alen = strlen(argv[i]);
        /* the protocol splits on blanks and ends at a newline */
        if (alen == 0 || strpbrk(argv[i], " \t\r\n")) {
            fprintf(stderr,
                    "dev-broker ctl: argument %d is empty or contains a blank or line "
                    "break\n",
                    i);
            return 2;
        }
        if (len + alen + 2 > sizeof(line) - 1) {
            fprintf(stderr, "dev-broker ctl: command longer than %d bytes\n",
                    AAC_DEVBROKER_LINE_MAX - 1);
            return 2;
        }
        if (i > 1)
            line[len++] = ' ';
        memcpy(line + len, argv[i], alen);
        len += alen;
    }
    line[len++] = '\n';

    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
        fprintf(stderr, "dev-broker ctl: could not connect to %s: %s\n", argv[0], strerror(errno));
        if (fd >= 0)
            close(fd);
        return 2;
    }
    for (size_t off = 0; off < len; off += (size_t)n) {
        n = send(fd, line + off, len - off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) {
            n = 0;
            continue;
        }
        if (n < 0) {
            fprintf(stderr, "dev-broker ctl: could not send to %s: %s\n", argv[0], strerror(errno));
            close(fd);
            return 2;
        }
    }
    /* one command per connection: EOF tells the broker we are done */
    shutdown(fd, SHUT_WR);
    deadline = now_ms() + AAC_DEVBROKER_CTL_TIMEOUT_MS;
    while (got < sizeof(reply) - 1 && !memchr(reply, '\n', got)) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int64_t left = deadline - now_ms();
        if (left <= 0 || poll(&pfd, 1, (int)left) == 0) {
            fprintf(stderr, "dev-broker ctl: no reply from %s within %d ms\n", argv[0],
                    AAC_DEVBROKER_CTL_TIMEOUT_MS);
            close(fd);
            return 2;
        }
        n = recv(fd, reply + got, sizeof(reply) - 1 - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    reply[got] = '\0';
    if (!memchr(reply, '\n', got)) {
        fprintf(stderr, "dev-broker ctl: no complete reply from %s\n", argv[0]);
        return 2;
    }
    *strchr(reply, '\n') = '\0';
    printf("%s\n", reply);
    fflush(stdout);
    if (strncmp(reply, "ok", 2) == 0 && (reply[2] == ' ' || reply[2] == '\0'))
        return 0;
    return 1;
}

int aac_devbroker_main(int argc, char **argv)
{
    struct options *o;
    char errstr[512];
    int rc;

    if (argc >= 2 && strcmp(argv[1], "ctl") == 0)
        return ctl_main(argc - 2, argv + 2);
    /* heap: the topic table is large for a stack frame */
    o = malloc(sizeof(*o));
    if (!o) {
        fprintf(stderr, "dev-broker: out of memory\n");
        return 1;
    }
    if (parse_options(argc, argv, o, errstr, sizeof(errstr)) < 0) {
        fprintf(stderr, "dev-broker: %s (see --help)\n", errstr);
        free(o);
        return 2;
    }
    if (o->help) {
        print_usage(stdout);
        free(o);
        return 0;
    }
    rc = run(o);
    free(o);
    return rc;
}
