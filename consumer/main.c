/*
 * main: the launcher. Parses the command line, loads the configuration and
 * hands over to the module that owns the subcommand. Only this file exits.
 *
 * Exit statuses: 0 success; 1 failure; 2 bad usage or configuration;
 * 3 fatal dependency error (see docs/operations.md).
 */
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
#include "aac/log.h"
#include "aac/metrics.h"
#include "aac/migrate.h"
#include "aac/notify.h"
#include "aac/partitions.h"
#include "aac/pipeline.h"
#include "aac/validate.h"

#define EXIT_USAGE 2

static const char usage_text[] =
    "usage: agent-actions-consumer [--config FILE] COMMAND [ARGS]\n"
    "\n"
    "Consumes AI-agent action events from Kafka into PostgreSQL.\n"
    "\n"
    "commands:\n"
    "  run [--migrate]                       consume events into PostgreSQL until "
    "SIGTERM\n"
    "  migrate up [N] | down [N] | status   apply, revert or list schema migrations\n"
    "  partitions ensure | drop | list       manage the monthly partitions of agent_actions\n"
    "  check-config [--list-env]             print the effective configuration, secrets "
    "redacted\n"
    "  validate [--json] [FILE...]           check JSON-lines events against the contract\n"
    "  dlq inspect | replay [FILTERS]        list or replay dead-lettered messages\n"
    "  version                               print the version\n"
    "\n"
    "options (every command):\n"
    "  -c, --config FILE   YAML configuration (default: $" AAC_CONFIG_ENV_PATH
    ", else " AAC_CONFIG_DEFAULT_PATH " when it exists)\n"
    "  -h, --help          help for the command\n"
    "\n"
    "Every key can be set with an environment variable AAC_<SECTION>_<KEY>;\n"
    "see config/agent-actions-consumer.yaml.\n";

static void usage(FILE *out)
{
    fputs(usage_text, out);
}

/* Removes `--config FILE` / `--config=FILE` / `-c FILE` from argv wherever
 * it appears, so every subcommand takes it. Returns -1 when FILE is missing. */
static int take_config_arg(int *argc, char **argv, const char **path)
{
    int o = 0;
    for (int i = 0; i < *argc; i++) {
        if (!strcmp(argv[i], "--config") || !strcmp(argv[i], "-c")) {
            if (i + 1 >= *argc)
                return -1;
            *path = argv[++i];
            continue;
        }
        if (!strncmp(argv[i], "--config=", 9)) {
            *path = argv[i] + 9;
            continue;
        }
        argv[o++] = argv[i];
    }
    *argc = o;
    argv[o] = NULL;
    return 0;
}

static bool wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
            return true;
    return false;
}

/* Loads the configuration and sets up the log. `service`: the caller is
 * `run`, whose stderr is the service log, so a bad configuration is told in
 * a log line (in AAC_LOG_FORMAT's format when that variable names one); the
 * other commands are run by a person and tell it in plain text. */
static aac_config_t *load_config(const char *path, bool service)
{
    char errstr[1024];
    aac_config_t *cfg;
    aac_log_format_t lf;

    if (!path)
        path = getenv(AAC_CONFIG_ENV_PATH);
    if (!path && access(AAC_CONFIG_DEFAULT_PATH, F_OK) == 0)
        path = AAC_CONFIG_DEFAULT_PATH;
    cfg = aac_config_load(path, errstr, sizeof(errstr));
    if (!cfg) {
        if (!service) {
            fprintf(stderr, "agent-actions-consumer: %s\n", errstr);
            return NULL;
        }
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

int main(int argc, char **argv)
{
    const char *config_path = NULL;
    aac_config_t *cfg = NULL;
    const char *cmd;
    int rc;

    if (take_config_arg(&argc, argv, &config_path) != 0) {
        fprintf(stderr, "agent-actions-consumer: --config needs a file name\n");
        return EXIT_USAGE;
    }
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    cmd = argv[1];
    argc--;
    argv++;

    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
        if (wants_help(argc, argv)) {
            puts("usage: agent-actions-consumer version\n\nPrints the version.");
            return 0;
        }
        printf("agent-actions-consumer %s\n", AAC_VERSION);
        return 0;
    }
    if (!strcmp(cmd, "check-config")) {
        if (wants_help(argc, argv)) {
            puts("usage: agent-actions-consumer [--config FILE] check-config [--list-env]\n\n"
                 "Loads the configuration (file, then AAC_* environment variables), prints\n"
                 "the effective values with every secret redacted, and exits 0; on a bad\n"
                 "configuration prints one line saying what is wrong and exits 2.\n\n"
                 "--list-env prints the name of every environment variable the service\n"
                 "reads (a trailing _<NAME> stands for any librdkafka property) and loads\n"
                 "nothing.");
            return 0;
        }
        if (argc == 2 && !strcmp(argv[1], "--list-env")) {
            aac_config_list_env(stdout);
            return 0;
        }
        if (argc > 1) {
            fprintf(stderr, "agent-actions-consumer: check-config: unexpected argument \"%s\"\n",
                    argv[1]);
            return EXIT_USAGE;
        }
        if (!(cfg = load_config(config_path, false)))
            return EXIT_USAGE;
        aac_config_dump(cfg, stdout);
        aac_config_destroy(cfg);
        return 0;
    }
    if (!strcmp(cmd, "run")) {
        if (wants_help(argc, argv)) {
            puts("usage: agent-actions-consumer [--config FILE] run [--migrate]\n\n"
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
                 "consume loop and STOPPING=1 on shutdown (docs/operations.md).");
            return 0;
        }
        bool migrate_first = argc == 2 && !strcmp(argv[1], "--migrate");
        if (argc > 1 && !migrate_first) {
            fprintf(stderr, "agent-actions-consumer: run: unexpected argument \"%s\"\n", argv[1]);
            return EXIT_USAGE;
        }
        if (!(cfg = load_config(config_path, true)))
            return EXIT_USAGE;
        if (migrate_first && (rc = aac_migrate_up_wait(cfg)) != 0) {
            aac_notify_stopping("stopping: migrations failed");
            aac_config_destroy(cfg);
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
        if (!metrics) {
            aac_config_destroy(cfg);
            return AAC_EXIT_FAILURE;
        }
        aac_http_t *http = NULL;
        if (cfg->http.enabled) {
            char errstr[512];
            /* a port taken or an address not ours is a configuration error */
            if (!(http = aac_http_start(cfg, metrics, errstr, sizeof(errstr)))) {
                aac_error("could not start the HTTP server", AAC_KV_STR("error", errstr));
                aac_metrics_destroy(metrics);
                aac_config_destroy(cfg);
                return EXIT_USAGE;
            }
        }
        rc = aac_pipeline_run(cfg, metrics);
        aac_http_stop(http);
        aac_metrics_destroy(metrics);
        aac_config_destroy(cfg);
        return rc;
    }
    if (!strcmp(cmd, "dlq")) {
        /* --help needs no configuration */
        if (wants_help(argc, argv))
            return aac_dlqtool_main(NULL, argc, argv);
        if (!(cfg = load_config(config_path, false)))
            return EXIT_USAGE;
        rc = aac_dlqtool_main(cfg, argc, argv);
        aac_config_destroy(cfg);
        return rc;
    }
    if (!strcmp(cmd, "migrate") || !strcmp(cmd, "validate") || !strcmp(cmd, "partitions")) {
        if (!(cfg = load_config(config_path, false)))
            return EXIT_USAGE;
        if (!strcmp(cmd, "migrate"))
            rc = aac_migrate_main(cfg, argc, argv);
        else if (!strcmp(cmd, "partitions"))
            rc = aac_partitions_main(cfg, argc, argv);
        else
            rc = aac_validate_main(cfg, argc, argv);
        aac_config_destroy(cfg);
        return rc;
    }
    fprintf(stderr, "agent-actions-consumer: unknown command \"%s\" (see --help)\n", cmd);
    return EXIT_USAGE;
}
