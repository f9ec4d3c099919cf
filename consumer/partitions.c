/*
 * partitions: creates the coming monthly partitions of agent_actions,
 * drops the ones past retention, and lists them; the `partitions`
 * subcommand and aac_partitions_ensure() for the service.
 *
 * The SQL functions of migration 0001 do the work; this module decides the
 * months and the transactions. Each month is ensured in its own short
 * transaction: aac_ensure_partitions() locks agent_actions against writers
 * until commit, so one transaction per month keeps that window to one
 * month's work. A transaction-level advisory lock ("aac_part") comes first,
 * because aac_ensure_partitions() checks whether a partition exists before
 * it locks the table: two instances ensuring the same month at once would
 * otherwise both try to create it, and the second would fail with
 * duplicate_table. Behind the advisory lock the second sees the committed
 * partition and skips it.
 *
 * Month arithmetic is done by the server, in UTC (the partition bounds are
 * UTC midnights), so the client's clock and time zone never matter.
 */
#include "aac/partitions.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "aac/log.h"
#include "aac/pgconn.h"

/* pg_advisory_xact_lock() key of ensure and drop: "aac_part" in ASCII. */
#define PARTITIONS_LOCK_KEY "7016998955978420852"

/* Where the "moved N rows" notices of aac_ensure_partitions() go. */
typedef struct notice_ctx_s {
    FILE *out; /* NULL: the log */
} notice_ctx_t;

static void notice_cb(void *arg, const PGresult *res)
{
    notice_ctx_t *nc = arg;
    const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);

    if (!msg)
        return;
    if (nc->out)
        fprintf(nc->out, "%s\n", msg);
    else
        aac_info("partition maintenance", AAC_KV_STR("detail", msg));
}

/* Runs a statement that returns no rows we need; -1 with errstr on error. */
static int exec_cmd(PGconn *conn, const char *sql, char *errstr, size_t errstr_size)
{
    PGresult *res = PQexec(conn, sql);
    int rc = 0;

    if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK) {
        char sqlstate[6], msg[512];

        aac_pgconn_result_error(res, conn, sqlstate, msg, sizeof(msg));
        snprintf(errstr, errstr_size, "%s%s%s%s", msg, sqlstate[0] ? " (SQLSTATE " : "", sqlstate,
                 sqlstate[0] ? ")" : "");
        rc = -1;
    }
    PQclear(res);
    return rc;
}

/* Opens the maintenance session: UTC, no statement timeout, the configured
 * lock timeout (set by aac_pgconn_open) kept. */
static PGconn *open_conn(const aac_config_t *cfg, notice_ctx_t *nc, aac_pgconn_interrupt_t *intr,
                         char *errstr, size_t errstr_size)
{
    char sqlstate[6], msg[768];
    PGconn *conn = aac_pgconn_open(cfg, "partitions", sqlstate, errstr, errstr_size);

    if (!conn)
        return NULL;
    if (aac_pgconn_interrupt_watch(intr, conn) != 0) {
        snprintf(errstr, errstr_size, "interrupted: the service is stopping");
        PQfinish(conn);
        return NULL;
    }
    PQsetNoticeReceiver(conn, notice_cb, nc);
    if (exec_cmd(conn, "SET statement_timeout = 0; SET TimeZone = 'UTC'", msg, sizeof(msg)) != 0) {
        snprintf(errstr, errstr_size, "could not set up the session: %s", msg);
        aac_pgconn_interrupt_watch(intr, NULL);
        PQfinish(conn);
        return NULL;
    }
    return conn;
}

/* Ensures the month `first` ("YYYY-MM-01", NULL: the current UTC month) and
 * the `ahead` months after it, one transaction each. Names of the created
 * partitions go to `out` ("created NAME"), or to the log when out is NULL.
 * Returns the number created or -1. */
static int ensure_months(PGconn *conn, const char *first, int ahead, FILE *out, char *errstr,
                         size_t errstr_size)
{
    static const char sql[] =
        "SELECT name FROM aac_ensure_partitions((date_trunc('month', coalesce($1::date,"
        " (now() AT TIME ZONE 'UTC')::date)) + make_interval(months => $2::int))::date, 1) name";
    char step[16], msg[768];
    int created = 0;

    for (int i = 0; i <= ahead; i++) {
        const char *params[2] = {first, step};
        PGresult *res;

        snprintf(step, sizeof(step), "%d", i);
        if (exec_cmd(conn, "BEGIN; SELECT pg_advisory_xact_lock(" PARTITIONS_LOCK_KEY ")", msg,
                     sizeof(msg)) != 0)
            goto fail;
        res = PQexecParams(conn, sql, 2, NULL, params, NULL, NULL, 0);
        if (PQresultStatus(res) != PGRES_TUPLES_OK) {
            char sqlstate[6];

            aac_pgconn_result_error(res, conn, sqlstate, msg, sizeof(msg));
            PQclear(res);
            snprintf(msg + strlen(msg), sizeof(msg) - strlen(msg), " (SQLSTATE %s)", sqlstate);
            goto fail;
        }
        for (int r = 0; r < PQntuples(res); r++) {
            if (out)
                fprintf(out, "created %s\n", PQgetvalue(res, r, 0));
            else
                aac_info("partition created", AAC_KV_STR("partition", PQgetvalue(res, r, 0)));
            created++;
        }
        PQclear(res);
        if (exec_cmd(conn, "COMMIT", msg, sizeof(msg)) != 0)
            goto fail;
    }
    return created;

fail:
    snprintf(errstr, errstr_size, "could not create the partitions of agent_actions: %s", msg);
    /* a failed transaction is still open; the caller closes the connection */
    return -1;
}

int aac_partitions_ensure(const aac_config_t *cfg, int months_ahead, aac_pgconn_interrupt_t *intr,
                          char *errstr, size_t errstr_size)
{
    notice_ctx_t nc = {.out = NULL};
    PGconn *conn;
    int rc;

    if (months_ahead < 0) {
        snprintf(errstr, errstr_size, "cannot ensure partitions: months_ahead %d is negative",
                 months_ahead);
        return -1;
    }
    conn = open_conn(cfg, &nc, intr, errstr, errstr_size);
    if (!conn)
        return -1;
    rc = ensure_months(conn, NULL, months_ahead, NULL, errstr, errstr_size);
    aac_pgconn_interrupt_watch(intr, NULL);
    PQfinish(conn);
    return rc;
}

long long aac_partitions_default_rows(const aac_config_t *cfg, long long cap,
                                      aac_pgconn_interrupt_t *intr, char *errstr,
                                      size_t errstr_size)
{
    /* bounded: an alert needs "some", not the exact count of a flood */
    static const char sql[] =
        "SELECT count(*) FROM (SELECT 1 FROM agent_actions_default LIMIT $1::bigint) d";
    notice_ctx_t nc = {.out = NULL};
    char arg[24], sqlstate[6], msg[512];
    const char *params[1] = {arg};
    long long n = -1;
    PGconn *conn = open_conn(cfg, &nc, intr, errstr, errstr_size);

    if (!conn)
        return -1;
    snprintf(arg, sizeof(arg), "%lld", cap);
    PGresult *res = PQexecParams(conn, sql, 1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) == PGRES_TUPLES_OK) {
        n = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    } else {
        aac_pgconn_result_error(res, conn, sqlstate, msg, sizeof(msg));
        snprintf(errstr, errstr_size, "could not count the rows of agent_actions_default: %s", msg);
    }
    PQclear(res);
    aac_pgconn_interrupt_watch(intr, NULL);
    PQfinish(conn);
    return n;
}

/* Drops the monthly partitions whose whole month lies before the current
 * UTC month minus `months`; with dry_run, reports them and rolls back.
 * Prints "dropped NAME" (or "would drop NAME") per partition. Returns the
 * number or -1. */
static int drop_older(PGconn *conn, int months, bool dry_run, FILE *out, char *errstr,
                      size_t errstr_size)
{
    static const char sql[] =
        "SELECT c.cutoff, d.name FROM (SELECT (date_trunc('month', now() AT TIME ZONE 'UTC')"
        " - make_interval(months => $1::int))::date AS cutoff) c"
        " LEFT JOIN LATERAL aac_drop_partitions_older_than(c.cutoff) d(name) ON true";
    char arg[16], msg[768];
    const char *params[1] = {arg};
    PGresult *res = NULL;
    int n = 0;

    snprintf(arg, sizeof(arg), "%d", months);
    if (exec_cmd(conn, "BEGIN; SELECT pg_advisory_xact_lock(" PARTITIONS_LOCK_KEY ")", msg,
                 sizeof(msg)) != 0)
        goto fail;
    res = PQexecParams(conn, sql, 1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        char sqlstate[6];

        aac_pgconn_result_error(res, conn, sqlstate, msg, sizeof(msg));
        snprintf(msg + strlen(msg), sizeof(msg) - strlen(msg), " (SQLSTATE %s)", sqlstate);
        goto fail;
    }
    for (int r = 0; r < PQntuples(res); r++) {
        if (PQgetisnull(res, r, 1))
            continue;
        fprintf(out, "%s %s\n", dry_run ? "would drop" : "dropped", PQgetvalue(res, r, 1));
        n++;
    }
    if (n == 0 && PQntuples(res) > 0)
        fprintf(out, "no partition ends before %s\n", PQgetvalue(res, 0, 0));
    if (exec_cmd(conn, dry_run ? "ROLLBACK" : "COMMIT", msg, sizeof(msg)) != 0)
        goto fail;
    PQclear(res);
    return n;

fail:
    PQclear(res);
    snprintf(errstr, errstr_size, "could not drop old partitions of agent_actions: %s", msg);
    return -1;
}

/* One line per partition: name, bounds (UTC), estimated rows, total size
 * with indexes. Row counts are the planner's estimates: counting a
 * billion-row month exactly would read it all. */
static int list_partitions(PGconn *conn, FILE *out, char *errstr, size_t errstr_size)
{
    static const char sql[] =
        "SELECT c.relname,"
        " coalesce(substring(b.bound FROM $re$FROM \\('([^']+)'\\)$re$), b.bound),"
        " coalesce(substring(b.bound FROM $re$TO \\('([^']+)'\\)$re$), ''),"
        " CASE WHEN c.reltuples < 0 THEN '?' ELSE c.reltuples::bigint::text END,"
        " pg_size_pretty(pg_total_relation_size(c.oid))"
        " FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid,"
        " LATERAL (SELECT pg_get_expr(c.relpartbound, c.oid) AS bound) b"
        " WHERE i.inhparent = 'agent_actions'::regclass"
        " ORDER BY b.bound = 'DEFAULT', 2";
    PGresult *res = PQexec(conn, sql);

    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        char sqlstate[6], msg[512];

        aac_pgconn_result_error(res, conn, sqlstate, msg, sizeof(msg));
        snprintf(errstr, errstr_size,
                 "could not list the partitions of agent_actions: %s (SQLSTATE %s)", msg, sqlstate);
        PQclear(res);
        return -1;
    }
    fprintf(out, "%-24s %-25s %-25s %12s %10s\n", "partition", "from", "to", "rows (est.)", "size");
    for (int r = 0; r < PQntuples(res); r++)
        fprintf(out, "%-24s %-25s %-25s %12s %10s\n", PQgetvalue(res, r, 0), PQgetvalue(res, r, 1),
                PQgetvalue(res, r, 2), PQgetvalue(res, r, 3), PQgetvalue(res, r, 4));
    PQclear(res);
    return 0;
}

/* ---- the subcommand ---- */

#define USAGE_SYNOPSIS                                                                             \
    "usage: agent-actions-consumer partitions ensure [--months N] [--from YYYY-MM]\n"              \
    "       agent-actions-consumer partitions drop [--older-than-months N] [--dry-run]\n"          \
    "       agent-actions-consumer partitions list\n"

static void usage(FILE *fp)
{
    fputs(USAGE_SYNOPSIS
          "\n"
          "agent_actions has one partition per UTC month (agent_actions_pYYYYMM) and a\n"
          "default partition for rows of months that have none.\n"
          "\n"
          "  ensure   create the partitions of the month FROM (default: the current UTC\n"
          "           month) and the N months after it (default partitions.months_ahead,\n"
          "           AAC_PARTITIONS_MONTHS_AHEAD), skipping those that exist; rows of\n"
          "           those months already in the default partition are moved in.\n"
          "           Prints \"created NAME\" per partition created.\n"
          "  drop     drop the monthly partitions older than the current month and the N\n"
          "           previous months (default partitions.retention_months,\n"
          "           AAC_PARTITIONS_RETENTION_MONTHS; 0 there means keep everything, so\n"
          "           N must then be given). Their rows are deleted. The default partition\n"
          "           is never dropped. Prints \"dropped NAME\" per partition; --dry-run\n"
          "           prints \"would drop NAME\" and changes nothing.\n"
          "  list     one line per partition: bounds, estimated rows, size with indexes\n"
          "\n"
          "The service itself runs `ensure` at start and then every\n"
          "partitions.upkeep_interval_s (default 21600 s: 6 hours), on a thread of\n"
          "its own whatever the load.\n"
          "Exit status: 0 success, 1 failure, 2 usage error.\n",
          fp);
}

/* Each command's options, for getopt_long. */
enum { O_MONTHS = 1, O_FROM, O_OLDER_THAN_MONTHS, O_DRY_RUN };

static const struct option ensure_options[] = {
    {"months", required_argument, NULL, O_MONTHS},
    {"from", required_argument, NULL, O_FROM},
    {NULL, 0, NULL, 0},
};
static const struct option drop_options[] = {
    {"older-than-months", required_argument, NULL, O_OLDER_THAN_MONTHS},
    {"dry-run", no_argument, NULL, O_DRY_RUN},
    {NULL, 0, NULL, 0},
};
static const struct option list_options[] = {
    {NULL, 0, NULL, 0},
};

/* A whole number in [min, max]; -1 otherwise. */
static int parse_count(const char *s, int min, int max)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (!*s || *end || errno || v < min || v > max)
        return -1;
    return (int)v;
}

/* "YYYY-MM" into "YYYY-MM-01"; -1 when malformed. */
static int parse_month(const char *s, char *buf, size_t size)
{
    int y, m, n = 0;

    if (strlen(s) != 7 || sscanf(s, "%4d-%2d%n", &y, &m, &n) != 2 || n != 7 || y < 1000 || m < 1 ||
        m > 12)
        return -1;
    snprintf(buf, size, "%04d-%02d-01", y, m);
    return 0;
}

static int usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "partitions%s%s: ", cmd ? " " : "", cmd ? cmd : "");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fputs(USAGE_SYNOPSIS, stderr);
    return 2;
}

/* A command line of `partitions`, parsed. */
typedef struct part_args_s {
    const char *cmd;  /* ensure, drop or list */
    int months;       /* --months or --older-than-months; -1 when not given */
    const char *from; /* --from as "YYYY-MM-01" (in `first`), or NULL */
    char first[32];
    bool dry_run;
} part_args_t;

/* Parses the options after the command into *a; returns -1 when they are
 * good, else usage_error's exit status. */
static int parse_options(part_args_t *a, int sub_argc, char **sub_argv)
{
    /* "+" no reordering, ":" a missing value told apart, opterr = 0 every
     * message ours */
    const char *cmd = a->cmd, *val;
    const struct option *opts = !strcmp(cmd, "ensure") ? ensure_options
                                : !strcmp(cmd, "drop") ? drop_options
                                                       : list_options;
    int c;

    opterr = 0;
    optind = 0; /* glibc: start afresh */
    while ((c = getopt_long(sub_argc, sub_argv, "+:", opts, NULL)) != -1) {
        val = optarg;
        if (c == ':')
            c = -optopt; /* the value is missing */
        switch (c) {
        case O_MONTHS:
        case -O_MONTHS:
            if (c < 0 || (a->months = parse_count(val, 0, 1200)) < 0)
                return usage_error(cmd, "--months needs a number from 0 to 1200");
            break;
        case O_FROM:
        case -O_FROM:
            if (c < 0 || parse_month(val, a->first, sizeof(a->first)) != 0)
                return usage_error(cmd, "--from needs a month YYYY-MM, got \"%s\"",
                                   c < 0 ? "" : val);
            a->from = a->first;
            break;
        case O_OLDER_THAN_MONTHS:
        case -O_OLDER_THAN_MONTHS:
            if (c < 0 || (a->months = parse_count(val, 1, 1200)) < 0)
                return usage_error(cmd, "--older-than-months needs a number from 1 to 1200");
            break;
        case O_DRY_RUN:
            a->dry_run = true;
            break;
        default: /* '?': not an option of this command */
            if (optopt > 0 && optopt < 0x20)
                return usage_error(cmd, "unexpected argument \"%s\"", sub_argv[optind - 1]);
            if (optopt)
                return usage_error(cmd, "unexpected argument \"-%c\"", optopt);
            return usage_error(cmd, "unexpected argument \"%s\"", sub_argv[optind - 1]);
        }
    }
    if (optind < sub_argc)
        return usage_error(cmd, "unexpected argument \"%s\"", sub_argv[optind]);
    return -1;
}

/* The month count from the configuration when none was given; -1, or
 * usage_error's exit status. */
static int default_months(part_args_t *a, const aac_config_t *cfg)
{
    if (!strcmp(a->cmd, "ensure") && a->months < 0)
        a->months = cfg->partitions.months_ahead;
    if (!strcmp(a->cmd, "drop") && a->months < 0) {
        if (cfg->partitions.retention_months == 0)
            return usage_error(a->cmd, "partitions.retention_months is 0 (keep everything): give "
                                       "--older-than-months N");
        a->months = cfg->partitions.retention_months;
    }
    return -1;
}

int aac_partitions_main(const aac_config_t *cfg, int argc, char **argv)
{
    char errstr[1024];
    part_args_t a = {.months = -1};
    notice_ctx_t nc = {.out = stdout};
    PGconn *conn = NULL;
    int rc = 0;

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        }
    }
    if (argc < 2)
        return usage_error(NULL, "missing command");
    a.cmd = argv[1];
    if (strcmp(a.cmd, "ensure") && strcmp(a.cmd, "drop") && strcmp(a.cmd, "list"))
        return usage_error(NULL, "unknown command \"%s\"", a.cmd);
    if ((rc = parse_options(&a, argc - 1, argv + 1)) >= 0 || (rc = default_months(&a, cfg)) >= 0)
        return rc;

    conn = open_conn(cfg, &nc, NULL, errstr, sizeof(errstr));
    if (!conn)
        rc = 1;
    else if (!strcmp(a.cmd, "ensure"))
        rc = ensure_months(conn, a.from, a.months, stdout, errstr, sizeof(errstr)) < 0;
    else if (!strcmp(a.cmd, "drop"))
        rc = drop_older(conn, a.months, a.dry_run, stdout, errstr, sizeof(errstr)) < 0;
    else
        rc = list_partitions(conn, stdout, errstr, sizeof(errstr)) != 0;

    PQfinish(conn);
    fflush(stdout);
    if (rc) {
        fprintf(stderr, "partitions %s: %s\n", a.cmd, errstr);
        return 1;
    }
    return 0;
}
