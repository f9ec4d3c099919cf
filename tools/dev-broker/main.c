/*
 * aac-dev-broker: the development Kafka broker. Owns one librdkafka mock
 * cluster (rdkafka_mock.h) for the life of the process, the bootstrap file
 * that tells clients where it listens, and a Unix-domain control socket that
 * takes one-line fault-injection commands (commands.c, ctlserver.c).
 * `aac-dev-broker ctl` is the client for that socket (ctl.c).
 *
 * Threads: the mock cluster runs its own threads (one per cluster plus
 * librdkafka's); the main thread only runs the event loop of the control
 * socket and calls the mock API from it.
 *
 * The mock keeps data in memory only: a restart of this process loses every
 * topic and offset. Consumers may come and go freely; this process doesn't
 * care who is connected.
 */
#include "devbroker.h"

#include "aac/clock.h"
#include "aac/log.h"
#include "aac/signals.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/*
 * Connects to every address in `bootstraps` ("127.0.0.1:port,...") until all
 * accept or the wait runs out. The mock listens before cluster_new returns,
 * but the bootstrap file promises a broker that accepts connections, so
 * check rather than trust.
 */
static int bootstrap_probe(const char *bootstraps, char *errstr, size_t errstr_size)
{
    int64_t deadline = aac_mono_ms() + AAC_DEVBROKER_READY_WAIT_MS;
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
        if (!colon || devbroker_parse_int(colon + 1, 1, 65535, &port) < 0) {
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
            if (aac_mono_ms() > deadline) {
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
    AAC_LOG_AT(lvl, "librdkafka", AAC_KV_STR("facility", fac), AAC_KV_STR("detail", buf));
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
        "usage: aac-dev-broker [--brokers N] [--bootstrap-file FILE]\n"
        "           [--control SOCKET] [--topic NAME[:PARTITIONS]]... [--default-partitions N]\n"
        "           [--debug] [--help]\n"
        "       aac-dev-broker ctl SOCKET COMMAND [ARGS...]\n"
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
        "Control commands (`aac-dev-broker ctl SOCKET help` lists them): ping, topic-create,\n"
        "broker-down, broker-up, rtt, request-error, broker-request-error, error-count,\n"
        "clear-errors, topic-error, coordinator, partition-leader. See docs/dev-broker.md.\n",
        AAC_DEVBROKER_DEFAULT_BROKERS, AAC_DEVBROKER_MOCK_AUTO_PARTITIONS,
        AAC_DEVBROKER_MOCK_AUTO_PARTITIONS);
}

/* --topic NAME[:PARTITIONS]: appends to o->topics (partitions 0: the
 * default, filled in once every option is read). */
static int topic_option(struct options *o, const char *v, char *errstr, size_t errstr_size)
{
    struct topic_opt *t = &o->topics[o->ntopics];
    const char *colon = strchr(v, ':');
    size_t len = colon ? (size_t)(colon - v) : strlen(v);

    if (o->ntopics == AAC_DEVBROKER_MAX_TOPICS) {
        snprintf(errstr, errstr_size, "--topic: at most %d topics", AAC_DEVBROKER_MAX_TOPICS);
        return -1;
    }
    if (len > AAC_DEVBROKER_TOPIC_NAME_MAX) {
        snprintf(errstr, errstr_size, "--topic: name longer than %d characters",
                 AAC_DEVBROKER_TOPIC_NAME_MAX);
        return -1;
    }
    memcpy(t->name, v, len);
    t->name[len] = '\0';
    if (!devbroker_topic_name_valid(t->name)) {
        snprintf(errstr, errstr_size, "--topic: invalid topic name '%s' (use [a-zA-Z0-9._-])",
                 t->name);
        return -1;
    }
    t->partitions = 0;
    if (colon &&
        devbroker_parse_int(colon + 1, 1, AAC_DEVBROKER_MAX_PARTITIONS, &t->partitions) < 0) {
        snprintf(errstr, errstr_size, "--topic %s: partitions must be an integer from 1 to %d", v,
                 AAC_DEVBROKER_MAX_PARTITIONS);
        return -1;
    }
    o->ntopics++;
    return 0;
}

/* One option with its value v; returns 0, or -1 with errstr. */
static int take_option(struct options *o, int c, const char *v, char *errstr, size_t errstr_size)
{
    switch (c) {
    case 'h':
        o->help = 1;
        return 0;
    case 'd':
        o->debug = 1;
        return 0;
    case 'b':
        if (devbroker_parse_int(v, 1, AAC_DEVBROKER_MAX_BROKERS, &o->brokers) == 0)
            return 0;
        snprintf(errstr, errstr_size, "--brokers: expected an integer from 1 to %d, got '%s'",
                 AAC_DEVBROKER_MAX_BROKERS, v);
        return -1;
    case 'p':
        if (devbroker_parse_int(v, 1, AAC_DEVBROKER_MAX_PARTITIONS, &o->default_partitions) == 0)
            return 0;
        snprintf(errstr, errstr_size,
                 "--default-partitions: expected an integer from 1 to %d, got '%s'",
                 AAC_DEVBROKER_MAX_PARTITIONS, v);
        return -1;
    case 'f':
        if (*v) {
            o->bootstrap_file = v;
            return 0;
        }
        snprintf(errstr, errstr_size, "--bootstrap-file: empty path");
        return -1;
    case 'c':
        if (*v && strlen(v) < sizeof(((struct sockaddr_un *)0)->sun_path)) {
            o->control = v;
            return 0;
        }
        snprintf(errstr, errstr_size, "--control: path must be 1 to %zu bytes",
                 sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
        return -1;
    default: /* 't' */
        return topic_option(o, v, errstr, errstr_size);
    }
}

static int parse_options(int argc, char **argv, struct options *o, char *errstr, size_t errstr_size)
{
    static const struct option opts[] = {
        {"help", no_argument, NULL, 'h'},
        {"debug", no_argument, NULL, 'd'},
        {"brokers", required_argument, NULL, 'b'},
        {"default-partitions", required_argument, NULL, 'p'},
        {"bootstrap-file", required_argument, NULL, 'f'},
        {"control", required_argument, NULL, 'c'},
        {"topic", required_argument, NULL, 't'},
        {NULL, 0, NULL, 0},
    };
    int c;

    memset(o, 0, sizeof(*o));
    o->brokers = AAC_DEVBROKER_DEFAULT_BROKERS;
    o->default_partitions = AAC_DEVBROKER_MOCK_AUTO_PARTITIONS;
    opterr = 0;
    optind = 0;
    /* ":": a missing value told apart from an unknown option */
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        if (c == ':') {
            snprintf(errstr, errstr_size, "%s: missing value", argv[optind - 1]);
            return -1;
        }
        if (c == '?') {
            snprintf(errstr, errstr_size, "unknown argument '%s'", argv[optind - 1]);
            return -1;
        }
        if (take_option(o, c, optarg, errstr, errstr_size) < 0)
            return -1;
    }
    if (optind < argc) {
        snprintf(errstr, errstr_size, "unknown argument '%s'", argv[optind]);
        return -1;
    }
    for (int i = 0; i < o->ntopics; i++) {
        if (o->topics[i].partitions == 0)
            o->topics[i].partitions = o->default_partitions;
    }
    return 0;
}

/* Creates the librdkafka handle, the mock cluster and the topics of
 * --topic in db. Returns 0, or -1 after logging why. */
static int cluster_start(struct devbroker *db, const struct options *o)
{
    char errstr[512];
    rd_kafka_resp_err_t err;
    rd_kafka_conf_t *conf = rd_kafka_conf_new();

    if (rd_kafka_conf_set(conf, "client.id", "aac-dev-broker", errstr, sizeof(errstr)) ||
        (o->debug && rd_kafka_conf_set(conf, "debug", "mock", errstr, sizeof(errstr)))) {
        rd_kafka_conf_destroy(conf);
        aac_error("could not configure librdkafka", AAC_KV_STR("reason", errstr));
        return -1;
    }
    rd_kafka_conf_set_log_cb(conf, rdkafka_log_cb);
    /* The mock cluster needs a handle for bookkeeping only; this producer
     * never produces. rd_kafka_new() owns conf only when it succeeds. */
    db->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!db->rk) {
        rd_kafka_conf_destroy(conf);
        aac_error("could not create librdkafka handle", AAC_KV_STR("reason", errstr));
        return -1;
    }
    db->mc = rd_kafka_mock_cluster_new(db->rk, o->brokers);
    if (!db->mc) {
        aac_error("could not create mock cluster", AAC_KV_INT("brokers", o->brokers),
                  AAC_KV_STR("hint", "see the librdkafka log"));
        return -1;
    }
    if (o->default_partitions != AAC_DEVBROKER_MOCK_AUTO_PARTITIONS)
        aac_warn("auto-created topics keep the mock's partition count",
                 AAC_KV_INT("default_partitions", o->default_partitions),
                 AAC_KV_INT("auto_create_partitions", AAC_DEVBROKER_MOCK_AUTO_PARTITIONS),
                 AAC_KV_STR("reason", "librdkafka 2.0.2 has no setting for it"));
    for (int i = 0; i < o->ntopics; i++) {
        err = rd_kafka_mock_topic_create(db->mc, o->topics[i].name, o->topics[i].partitions,
                                         db->replication);
        if (err) {
            aac_error("could not create topic", AAC_KV_STR("topic", o->topics[i].name),
                      AAC_KV_INT("partitions", o->topics[i].partitions),
                      AAC_KV_STR("error", rd_kafka_err2name(err)));
            return -1;
        }
        aac_info("topic created", AAC_KV_STR("topic", o->topics[i].name),
                 AAC_KV_INT("partitions", o->topics[i].partitions),
                 AAC_KV_INT("replication", db->replication));
    }
    return 0;
}

/* Tells where the brokers listen, once they accept connections: the
 * bootstrap file (*wrote_file set), stdout and the log. Returns 0, or -1
 * after logging why. */
static int announce(const struct devbroker *db, const struct options *o, int *wrote_file)
{
    char errstr[512], bootstraps[4096], line[4098];

    snprintf(bootstraps, sizeof(bootstraps), "%s", rd_kafka_mock_cluster_bootstraps(db->mc));
    if (bootstrap_probe(bootstraps, errstr, sizeof(errstr)) < 0) {
        aac_error("mock cluster not reachable", AAC_KV_STR("reason", errstr));
        return -1;
    }
    snprintf(line, sizeof(line), "%s\n", bootstraps);
    if (o->bootstrap_file) {
        if (write_file_atomic(o->bootstrap_file, line, errstr, sizeof(errstr)) < 0) {
            aac_error("could not write bootstrap file", AAC_KV_STR("reason", errstr));
            return -1;
        }
        *wrote_file = 1;
    }
    fputs(line, stdout);
    fflush(stdout);
    aac_info("dev broker ready", AAC_KV_STR("bootstrap", bootstraps),
             AAC_KV_INT("brokers", o->brokers), AAC_KV_INT("topics", o->ntopics),
             AAC_KV_STR("control", o->control ? o->control : ""));
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
    struct ctl_server *srv = NULL;
    char errstr[512];
    int wrote_file = 0, rc = 1;

    if (o->debug)
        aac_log_set_level(AAC_LOG_DEBUG);
    /* a signal during startup is seen when the loop starts; a control
     * client that hangs up early must not kill the broker (SIGPIPE) */
    aac_signals_install(true);

    if (o->control && !(srv = ctl_server_open(o->control, errstr, sizeof(errstr)))) {
        aac_error("could not open control socket", AAC_KV_STR("reason", errstr));
        goto out;
    }
    if (cluster_start(&db, o) < 0 || announce(&db, o, &wrote_file) < 0 ||
        devbroker_serve(&db, srv) < 0)
        goto out;
    aac_info("dev broker stopping");
    rc = 0;

out:
    ctl_server_close(srv);
    /* the file means "a broker is up there"; don't leave a stale one */
    if (wrote_file)
        unlink(o->bootstrap_file);
    if (db.mc)
        rd_kafka_mock_cluster_destroy(db.mc);
    if (db.rk)
        rd_kafka_destroy(db.rk);
    if (rc == 0)
        aac_info("dev broker stopped");
    return rc;
}

int main(int argc, char **argv)
{
    struct options *o;
    char errstr[512];
    int rc;

    if (argc >= 2 && strcmp(argv[1], "ctl") == 0)
        return devbroker_ctl_main(argc - 2, argv + 2);
    /* heap: the topic table is large for a stack frame */
    o = malloc(sizeof(*o));
    if (!o) {
        fprintf(stderr, "aac-dev-broker: out of memory\n");
        return 1;
    }
    if (parse_options(argc, argv, o, errstr, sizeof(errstr)) < 0) {
        fprintf(stderr, "aac-dev-broker: %s (see --help)\n", errstr);
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
