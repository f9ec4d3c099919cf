/*
 * aac-dev-broker: the development Kafka broker, a librdkafka mock cluster
 * (rdkafka_mock.h) that speaks the real Kafka protocol over TCP on loopback.
 * A development and test tool, built beside the service but never linked
 * into it nor installed with it (docs/dev-broker.md).
 *
 * Modules: main.c (options, startup, shutdown), commands.c (the control
 * commands on the mock cluster), ctlserver.c (the control socket server,
 * on libevent), ctl.c (`aac-dev-broker ctl`, the client).
 */
#ifndef AAC_TOOLS_DEVBROKER_H
#define AAC_TOOLS_DEVBROKER_H

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <stddef.h>
#include <stdint.h>

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
#define AAC_DEVBROKER_STOP_CHECK_MS  20 /* how often the loop looks for a stop signal */
#define AAC_DEVBROKER_CTL_TIMEOUT_MS 15000
#define AAC_DEVBROKER_READY_WAIT_MS  5000

/* State shared by the control commands. */
struct devbroker {
    rd_kafka_t *rk;
    rd_kafka_mock_cluster_t *mc;
    int brokers;
    int replication;
};

/* Parses a whole decimal integer within [min, max]; no trailing junk, so
 * "3x" or "" are errors rather than 3 or 0. */
int devbroker_parse_int(const char *s, long min, long max, int *out);

/* Kafka accepts [a-zA-Z0-9._-] up to 249 characters. */
int devbroker_topic_name_valid(const char *name);

/* Runs one command line and writes the one-line answer ("ok ..." or
 * "error: ...", no newline) into `reply`. Splits `line` in place. */
void devbroker_dispatch(struct devbroker *db, char *line, char *reply, size_t size);

/* The control socket server (ctlserver.c). */
struct ctl_server;

/* Listens on `path` (mode 0600). NULL and a message in errstr on failure. */
struct ctl_server *ctl_server_open(const char *path, char *errstr, size_t errstr_size);

/* Closes every connection, the socket, and removes the socket file. */
void ctl_server_close(struct ctl_server *srv);

/* Serves the control socket (srv may be NULL: no socket) and polls the
 * librdkafka handle until SIGINT or SIGTERM (aac_signals_received(), which
 * main.c installed); returns at once if one came already. Returns 0, or -1
 * if the event loop fails. */
int devbroker_serve(struct devbroker *db, struct ctl_server *srv);

/* `aac-dev-broker ctl SOCKET COMMAND [ARGS...]`; argv[0] is SOCKET.
 * Returns the exit status. */
int devbroker_ctl_main(int argc, char **argv);

#endif
