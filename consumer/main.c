/*
 * main: the launcher. Parses the command line, loads the configuration and
 * hands over to the module that owns the subcommand. Only this file exits,
 * but for a second SIGTERM/SIGINT, which signals.c's handler ends with
 * _exit(130) (a handler can do nothing else).
 *
 * Exit statuses: 0 success; 1 failure; 2 bad usage or configuration;
 * 3 fatal dependency error; 130 a second signal (see docs/operations.md).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <string.h>
#include <unistd.h>

#include "aac/config.h"
#include "aac/dlqtool.h"
#include "aac/http.h"
#include "aac/kafkaconf.h"
#include "aac/log.h"
#include "aac/metrics.h"
#include "aac/migrate.h"
#include "aac/notify.h"
#include "aac/partitions.h"
#include "aac/rollups.h"
#include "aac/pgconn.h"
#include "aac/pipeline.h"
#include "aac/validate.h"

#define EXIT_USAGE 2
#define GO_ON      (-1) /* not an exit status: carry on */

/* How a command takes the configuration. */
typedef enum {
    CFG_NONE,   /* needs none */
    CFG_PERSON, /* loaded first; a bad one is told in plain text */
    /* loaded first; the command is the service, whose stderr is its log, so
     * a bad configuration is told in a log line */
    CFG_SERVICE
} cfg_need_t;

typedef struct command_s {
    const char *name;
    const char *synopsis; /* the words after the name, for the usage text */
    const char *summary;  /* one line, for the usage text */
    const char *help;     /* the answer to COMMAND --help; NULL: the handler
                           * answers it (given no configuration) */
    /* NULL, or checks the command's words before the configuration is
     * loaded: returns GO_ON, or the exit status of an error or of an
     * answer that needs no configuration */
    int (*check)(int argc, char **argv);
    cfg_need_t config;
    /* cfg is NULL for CFG_NONE; argv[0] is the command's name */
    int (*handler)(const aac_config_t *cfg, int argc, char **argv);
} command_t;

/* --- the commands main.c answers itself ----------------------------------- */

static int unexpected(const char *cmd, const char *word)
{
    fprintf(stderr, "agent-actions-consumer: %s: unexpected argument \"%s\"\n", cmd, word);
    return EXIT_USAGE;
}

static int version_main(const aac_config_t *cfg, int argc, char **argv)
{
    (void)cfg;
    (void)argc;
    (void)argv;
    printf("agent-actions-consumer %s\n", AAC_VERSION);
    return 0;
}

/* check-config [--list-env]: --list-env loads nothing */
static int check_config_check(int argc, char **argv)
{
    bool list_env = argc >= 2 && !strcmp(argv[1], "--list-env");
    if (argc > 1 + list_env)
        return unexpected(argv[0], argv[1 + list_env]);
    if (list_env) {
        aac_config_list_env(stdout);
        return 0;
    }
    return GO_ON;
}

static int check_config_main(const aac_config_t *cfg, int argc, char **argv)
{
    char errstr[1024];
    (void)argc;
    (void)argv;
    /* librdkafka's properties are judged by librdkafka, as run would */
    if (aac_kafkaconf_check(cfg, errstr, sizeof(errstr)) != 0) {
        fprintf(stderr, "agent-actions-consumer: %s\n", errstr);
        return EXIT_USAGE;
    }
    aac_config_dump(cfg, stdout);
    return 0;
}

/* run [--migrate] */
static int run_check(int argc, char **argv)
{
    bool migrate_first = argc >= 2 && !strcmp(argv[1], "--migrate");
    if (argc > 1 + migrate_first)
        return unexpected(argv[0], argv[1 + migrate_first]);
    return GO_ON;
}

static int run_main(const aac_config_t *cfg, int argc, char **argv)
{
    char errstr[1024];
    int rc;
    (void)argv;
    /* a property librdkafka refuses is a bad configuration: said before
     * waiting for anything, as check-config says it */
    if (aac_kafkaconf_check(cfg, errstr, sizeof(errstr)) != 0) {
        aac_error("could not load the configuration", AAC_KV_STR("error", errstr));
        return EXIT_USAGE;
    }
    if (argc == 2 && (rc = aac_migrate_up_wait(cfg)) != 0) { /* --migrate, by run_check */
        aac_notify_stopping("stopping: migrations failed");
        return rc;
    }
#ifdef __GLIBC__
    /* librdkafka and the writers run many threads, and glibc would give
     * each its own malloc arena, keeping freed fetch buffers spread over
     * them: two arenas hold the resident size down (docs/benchmark.md).
     * MALLOC_ARENA_MAX in the environment still decides. */
    if (!getenv("MALLOC_ARENA_MAX"))
        mallopt(M_ARENA_MAX, 2);
#endif
    aac_metrics_t *metrics = aac_metrics_new();
    if (!metrics)
        return AAC_EXIT_FAILURE;
    aac_http_t *http = NULL;
    if (cfg->http.enabled) {
        /* a port taken or an address not ours is a configuration error */
        if (!(http = aac_http_start(cfg, metrics, errstr, sizeof(errstr)))) {
            aac_error("could not start the HTTP server", AAC_KV_STR("error", errstr));
            aac_metrics_destroy(metrics);
            return EXIT_USAGE;
        }
    }
    rc = aac_pipeline_run(cfg, metrics);
    aac_http_stop(http);
    aac_metrics_destroy(metrics);
    return rc;
}

static int help_main(const aac_config_t *cfg, int argc, char **argv);

/* --- the table -------------------------------------------------------------- */

static const command_t commands[] = {
    {"run", "[--migrate]", "consume events into PostgreSQL until SIGTERM",
     "usage: agent-actions-consumer [--config FILE] run [--migrate]\n\n"
     "Consumes the events of kafka.topic into PostgreSQL until SIGTERM or SIGINT\n"
     "(the current batch is written and committed first; a second signal exits\n"
     "at once). Exit status: 0 after a clean shutdown, 1 on failure, 2 on a bad\n"
     "configuration, 3 on a fatal dependency error (wrong credentials, schema\n"
     "missing, permission denied), with one log line saying what to do.\n\n"
     "--migrate applies pending migrations first, waiting for PostgreSQL as\n"
     "long as it is unreachable; a failure that waiting cannot fix (wrong\n"
     "credentials, a failing migration) exits 3, an unreadable migrations\n"
     "directory 2. Under systemd (Type=notify) it sends READY=1 once the\n"
     "partitions and their stored offsets are known, WATCHDOG=1 from the\n"
     "consume loop and STOPPING=1 on shutdown (docs/operations.md).",
     run_check, CFG_SERVICE, run_main},
    {"migrate", "up [N] | down [N] | status", "apply, revert or list schema migrations", NULL, NULL,
     CFG_PERSON, aac_migrate_main},
    {"partitions", "ensure | drop | list", "manage the monthly partitions of agent_actions", NULL,
     NULL, CFG_PERSON, aac_partitions_main},
    {"rollups", "rebuild | check | prune", "rebuild, check or prune the analytics rollups", NULL,
     NULL, CFG_PERSON, aac_rollups_main},
    {"check-config", "[--list-env]", "print the effective configuration, secrets redacted",
     "usage: agent-actions-consumer [--config FILE] check-config [--list-env]\n\n"
     "Loads the configuration (file, then AAC_* environment variables), builds\n"
     "the Kafka consumer's and the dead-letter producer's librdkafka\n"
     "configurations as run does (without connecting), prints the effective\n"
     "values with every secret redacted, and exits 0; on a bad configuration\n"
     "(an unknown or invalid librdkafka property included) prints one line\n"
     "saying what is wrong and exits 2.\n\n"
     "--list-env prints the name of every environment variable the service\n"
     "reads (a trailing _<NAME> stands for any librdkafka property) and loads\n"
     "nothing.",
     check_config_check, CFG_PERSON, check_config_main},
    {"validate", "[--json] [FILE...]", "check JSON-lines events against the contract", NULL, NULL,
     CFG_PERSON, aac_validate_main},
    {"dlq", "inspect | replay [FILTERS]", "list or replay dead-lettered messages", NULL, NULL,
     CFG_PERSON, aac_dlqtool_main},
    {"version", "", "print the version",
     "usage: agent-actions-consumer version\n\nPrints the version.", NULL, CFG_NONE, version_main},
    {"help", "[COMMAND]", "this text, or the help of COMMAND",
     "usage: agent-actions-consumer help [COMMAND]\n\n"
     "Prints the list of commands, or the help of COMMAND.",
     NULL, CFG_NONE, help_main},
};
#define COMMAND_CNT (sizeof(commands) / sizeof(commands[0]))

static const command_t *command_find(const char *name)
{
    for (size_t i = 0; i < COMMAND_CNT; i++)
        if (!strcmp(commands[i].name, name))
            return &commands[i];
    return NULL;
}

static void usage(FILE *out)
{
    char head[64];
    fputs("usage: agent-actions-consumer [--config FILE] COMMAND [ARGS]\n"
          "\n"
          "Consumes AI-agent action events from Kafka into PostgreSQL.\n"
          "\n"
          "commands:\n",
          out);
    for (size_t i = 0; i < COMMAND_CNT; i++) {
        snprintf(head, sizeof(head), "%s %s", commands[i].name, commands[i].synopsis);
        fprintf(out, "  %-36s %s\n", head, commands[i].summary);
    }
    fputs("\n"
          "options (every command):\n"
          "  -c, --config FILE   YAML configuration (default: $" AAC_CONFIG_ENV_PATH
          ", else " AAC_CONFIG_DEFAULT_PATH " when it exists)\n"
          "  -h, --help          help for the command\n"
          "\n"
          "Every key can be set with an environment variable AAC_<SECTION>_<KEY>.\n"
          "The keys, their defaults and what they do are in the comments of\n"
          "  " AAC_CONFIG_DEFAULT_PATH "\n"
          "as installed; `check-config` prints the effective values.\n",
          out);
}

/* COMMAND --help: the table's text, or the handler's answer to a plain
 * "COMMAND --help", which needs no configuration. */
static int command_help(const command_t *cmd)
{
    char *argv[] = {(char *)cmd->name, "--help", NULL};
    if (cmd->help) {
        puts(cmd->help);
        return 0;
    }
    return cmd->handler(NULL, 2, argv);
}

static int unknown_command(const char *name)
{
    fprintf(stderr, "agent-actions-consumer: unknown command \"%s\" (see --help)\n", name);
    return EXIT_USAGE;
}

static int help_main(const aac_config_t *cfg, int argc, char **argv)
{
    const command_t *cmd;
    (void)cfg;
    if (argc < 2) {
        usage(stdout);
        return 0;
    }
    if (!(cmd = command_find(argv[1])))
        return unknown_command(argv[1]);
    return command_help(cmd);
}

/* --- the command line ------------------------------------------------------- */

typedef struct cmdline_s {
    const char *config_path; /* --config FILE; NULL when not given */
    bool help;               /* --help after the command */
    const command_t *cmd;
    int argc;    /* the command's words: argv[0] its name, then its own */
    char **argv; /* arguments, without --config and --help (allocated) */
} cmdline_t;

static int missing_config_file(void)
{
    fprintf(stderr, "agent-actions-consumer: --config needs a file name\n");
    return EXIT_USAGE;
}

/* The options before the command, by getopt_long: --config FILE (-c FILE,
 * --config=FILE), --help (-h), and --version, which is the command
 * `version`. Sets *first to the index of the command's word. */
static int global_options(int argc, char **argv, cmdline_t *cl, int *first)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    int c;
    /* "+": stop at the command; ":": a missing FILE told apart */
    opterr = 0;
    optind = 0;
    while ((c = getopt_long(argc, argv, "+:c:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            cl->config_path = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case 'V': /* its word stands for the command's name */
            cl->cmd = command_find("version");
            *first = optind - 1;
            return GO_ON;
        case ':':
            return missing_config_file();
        default: /* optopt: an unknown short option; else the word says it */
            if (optopt && !strchr("chV", optopt))
                fprintf(stderr, "agent-actions-consumer: unknown option \"-%c\" (see --help)\n",
                        optopt);
            else
                fprintf(stderr, "agent-actions-consumer: unknown option \"%s\" (see --help)\n",
                        argv[optind - 1]);
            return EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return EXIT_USAGE;
    }
    if (!(cl->cmd = command_find(argv[optind])))
        return unknown_command(argv[optind]);
    *first = optind;
    return GO_ON;
}

/* The global options after the command: --config FILE and --help may
 * follow it too (`check-config --config FILE`), anywhere before "--".
 * Every other word, the command's own options included, is kept in order
 * in cl->argv. getopt_long_only, with no short options: "-c" and "-h" are
 * --config and --help abbreviated, and a cluster such as "-xc" stays whole
 * for the command to refuse. */
static int command_options(int argc, char **argv, cmdline_t *cl)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c, start;
    if (!(cl->argv = calloc((size_t)argc + 1, sizeof(*cl->argv))))
        return AAC_EXIT_FAILURE;
    cl->argv[cl->argc++] = argv[0];
    /* "-": words that are no option come back in order, as option 1 */
    opterr = 0;
    optind = 0;
    for (;;) {
        start = optind ? optind : 1;
        if ((c = getopt_long_only(argc, argv, "-:", opts, NULL)) == -1)
            break;
        if (c == 'c')
            cl->config_path = optarg;
        else if (c == 'h')
            cl->help = true;
        else if (c == ':')
            return missing_config_file();
        else /* a word, or the command's own option: kept once getopt is past it */
            while (start < optind)
                cl->argv[cl->argc++] = argv[start++];
    }
    while (start < argc) /* "--" and what follows it */
        cl->argv[cl->argc++] = argv[start++];
    return GO_ON;
}

/* Loads the configuration and sets up the log; see cfg_need_t. */
static aac_config_t *load_config(const char *path, cfg_need_t need)
{
    char errstr[1024];
    aac_config_t *cfg;
    aac_log_format_t lf;

    if (!path)
        path = getenv(AAC_CONFIG_ENV_PATH);
    if (!path && access(AAC_CONFIG_DEFAULT_PATH, F_OK) == 0)
        path = AAC_CONFIG_DEFAULT_PATH;
    cfg = aac_config_load(path, errstr, sizeof(errstr));
    /* what libpq would refuse (a malformed postgres.uri) is a configuration
     * error too, not a connection failure retried for ever */
    if (cfg && aac_pgconn_check(cfg, errstr, sizeof(errstr)) != 0) {
        aac_config_destroy(cfg);
        cfg = NULL;
    }
    if (!cfg) {
        if (need != CFG_SERVICE) {
            fprintf(stderr, "agent-actions-consumer: %s\n", errstr);
            return NULL;
        }
        /* in AAC_LOG_FORMAT's format when that variable names one */
        const char *env = getenv("AAC_LOG_FORMAT");
        if (env && aac_log_format_parse(env, &lf) == 0)
            aac_log_set_format(lf);
        aac_error("could not load the configuration", AAC_KV_STR("error", errstr));
        return NULL;
    }
    aac_log_set_level(cfg->log.level);
    aac_log_set_format(cfg->log.format);
    return cfg;
}

static int command_run(const cmdline_t *cl)
{
    const command_t *cmd = cl->cmd;
    aac_config_t *cfg = NULL;
    int rc;

    if (cl->help)
        return command_help(cmd);
    if (cmd->check && (rc = cmd->check(cl->argc, cl->argv)) != GO_ON)
        return rc;
    if (cmd->config != CFG_NONE && !(cfg = load_config(cl->config_path, cmd->config)))
        return EXIT_USAGE;
    rc = cmd->handler(cfg, cl->argc, cl->argv);
    aac_config_destroy(cfg);
    return rc;
}

int main(int argc, char **argv)
{
    cmdline_t cl = {0};
    int first = 0;
    int rc = global_options(argc, argv, &cl, &first);
    if (rc == GO_ON)
        rc = command_options(argc - first, argv + first, &cl);
    if (rc == GO_ON)
        rc = command_run(&cl);
    free(cl.argv);
    return rc;
}
