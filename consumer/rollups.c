/*
 * rollups: see include/aac/rollups.h. The SQL that does the work lives in
 * migration 0003 (aac_rollups_rebuild, aac_rollups_check); this module
 * decides the windows and the transactions, and prints.
 */
#include "aac/rollups.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "aac/log.h"
#include "aac/pgconn.h"
#include "aac/rfc3339.h"

#define HOUR_US        3600000000LL
#define MAX_STEP_HOURS 744 /* a month: one transaction never holds more */

#define USAGE_SYNOPSIS                                                                             \
    "usage: agent-actions-consumer rollups rebuild --since TIME --until TIME [--step-hours N]\n"   \
    "       agent-actions-consumer rollups check --since TIME --until TIME\n"                      \
    "       agent-actions-consumer rollups prune [--older-than-months N]\n"

static void usage(FILE *fp)
{
    fputs(USAGE_SYNOPSIS
          "\n"
          "The service keeps the rollups (aac_rollup_hourly, aac_rollup_durations_hourly)\n"
          "in the transaction of each batch; rows changed by hand, or written while\n"
          "rollups.enabled was false, are not in them.\n"
          "\n"
          "  rebuild  make the rollups of the UTC hours from SINCE to UNTIL again from the\n"
          "           raw rows, N hours per transaction (default 1): safe while the\n"
          "           service writes (each step locks the rollups; a batch committing\n"
          "           meanwhile waits, then adds its rows). Prints one line per step.\n"
          "  check    compare the rollups of the UTC hours from SINCE to UNTIL with an\n"
          "           aggregate over the raw rows, in one snapshot; print each key that\n"
          "           differs and exit 1, or print that they match and exit 0\n"
          "  prune    delete the rollup hours older than the current month and the N\n"
          "           previous months (default rollups.retention_months,\n"
          "           AAC_ROLLUPS_RETENTION_MONTHS; 0 there means keep everything, so N\n"
          "           must then be given); the service's upkeep does the same\n"
          "\n"
          "TIME: YYYY-MM-DD, YYYY-MM-DDTHH or an RFC 3339 timestamp; SINCE is rounded\n"
          "down and UNTIL up to a whole UTC hour.\n"
          "Exit status: 0 success, 1 failure (or, for check, a difference), 2 usage error.\n",
          fp);
}

static int usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "rollups%s%s: ", cmd ? " " : "", cmd ? cmd : "");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fputs(USAGE_SYNOPSIS, stderr);
    return 2;
}

typedef struct args_s {
    const char *cmd;
    int64_t since_us, until_us; /* whole hours; INT64_MIN: not given */
    int step_hours;
    int months; /* -1: not given */
} args_t;

/* TIME as µs: "YYYY-MM-DD", "YYYY-MM-DDTHH" or RFC 3339. */
static bool parse_time(const char *s, int64_t *us, char *why, size_t whysz)
{
    char full[AAC_RFC3339_SIZE + 8];
    size_t n = strlen(s);
    if (n == 10)
        snprintf(full, sizeof(full), "%sT00:00:00Z", s);
    else if (n == 13 && s[10] == 'T')
        snprintf(full, sizeof(full), "%s:00:00Z", s);
    else
        snprintf(full, sizeof(full), "%.*s", (int)(sizeof(full) - 1), s);
    return aac_rfc3339_parse(full, strlen(full), us, why, whysz);
}

static int64_t floor_hour(int64_t us)
{
    int64_t h = us / HOUR_US;
    if (us < 0 && h * HOUR_US != us)
        h--;
    return h * HOUR_US;
}

static int parse_args(args_t *a, int argc, char **argv)
{
    enum { O_SINCE = 1, O_UNTIL, O_STEP, O_MONTHS };
    static const struct option window[] = {{"since", required_argument, NULL, O_SINCE},
                                           {"until", required_argument, NULL, O_UNTIL},
                                           {"step-hours", required_argument, NULL, O_STEP},
                                           {NULL, 0, NULL, 0}};
    static const struct option prune[] = {{"older-than-months", required_argument, NULL, O_MONTHS},
                                          {NULL, 0, NULL, 0}};
    bool is_prune = !strcmp(a->cmd, "prune"), is_check = !strcmp(a->cmd, "check");
    char why[128], *end;
    int c;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+:", is_prune ? prune : window, NULL)) != -1) {
        switch (c) {
        case O_SINCE:
        case O_UNTIL: {
            int64_t us;
            if (!parse_time(optarg, &us, why, sizeof(why)))
                return usage_error(a->cmd,
                                   "--%s: not YYYY-MM-DD, YYYY-MM-DDTHH or an RFC 3339 time (%s)",
                                   c == O_SINCE ? "since" : "until", why);
            if (c == O_SINCE)
                a->since_us = floor_hour(us);
            else
                a->until_us = floor_hour(us) + (floor_hour(us) == us ? 0 : HOUR_US);
            break;
        }
        case O_STEP:
            errno = 0;
            a->step_hours = (int)strtol(optarg, &end, 10);
            if (is_check || errno || *end || a->step_hours < 1 || a->step_hours > MAX_STEP_HOURS)
                return usage_error(a->cmd, "--step-hours needs a number from 1 to %d",
                                   MAX_STEP_HOURS);
            break;
        case O_MONTHS:
            errno = 0;
            a->months = (int)strtol(optarg, &end, 10);
            if (errno || *end || a->months < 0 || a->months > 1200)
                return usage_error(a->cmd, "--older-than-months needs a number from 0 to 1200");
            break;
        case ':':
            return usage_error(a->cmd, "%s needs a value", argv[optind - 1]);
        default:
            return usage_error(a->cmd, "unexpected argument \"%s\"", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return usage_error(a->cmd, "unexpected argument \"%s\"", argv[optind]);
    if (is_prune)
        return -1;
    if (a->since_us == INT64_MIN || a->until_us == INT64_MIN)
        return usage_error(a->cmd, "--since and --until are needed");
    if (a->until_us <= a->since_us)
        return usage_error(a->cmd, "--until must come after --since");
    return -1;
}

/* The maintenance session: UTC, no statement timeout (a window may take
 * long), the configured lock timeout kept. */
static PGconn *open_conn(const aac_config_t *cfg, aac_pgconn_interrupt_t *intr, char *errstr,
                         size_t size)
{
    char sqlstate[6];
    PGconn *conn = aac_pgconn_open(cfg, "rollups", sqlstate, errstr, size);
    if (!conn)
        return NULL;
    if (aac_pgconn_interrupt_watch(intr, conn) != 0) {
        snprintf(errstr, size, "interrupted: the service is stopping");
        PQfinish(conn);
        return NULL;
    }
    PGresult *r = PQexec(conn, "SET statement_timeout = 0; SET TimeZone = 'UTC'");
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    if (!ok) {
        snprintf(errstr, size, "could not set up the session: %s", PQerrorMessage(conn));
        aac_pgconn_interrupt_watch(intr, NULL);
        PQfinish(conn);
        return NULL;
    }
    return conn;
}

/* errstr from a failed result, with its SQLSTATE. */
static void result_error(PGconn *conn, const PGresult *r, const char *what, char *errstr,
                         size_t size)
{
    char sqlstate[6], msg[512];
    aac_pgconn_result_error(r, conn, sqlstate, msg, sizeof(msg));
    snprintf(errstr, size, "%s: %s%s%s%s", what, msg, sqlstate[0] ? " (SQLSTATE " : "", sqlstate,
             sqlstate[0] ? ")" : "");
}

static void fmt_hour(int64_t us, char out[AAC_RFC3339_SIZE])
{
    aac_rfc3339_format(us, 0, out);
}

static int rebuild(PGconn *conn, const args_t *a, char *errstr, size_t size)
{
    long long total = 0;
    for (int64_t from = a->since_us; from < a->until_us;) {
        int64_t to = from + (int64_t)a->step_hours * HOUR_US;
        if (to > a->until_us)
            to = a->until_us;
        char f[24], t[24], hf[AAC_RFC3339_SIZE], ht[AAC_RFC3339_SIZE];
        snprintf(f, sizeof(f), "%" PRId64, from / 1000000);
        snprintf(t, sizeof(t), "%" PRId64, to / 1000000);
        const char *params[2] = {f, t};
        /* one statement: one transaction, the lock held until it ends */
        PGresult *r = PQexecParams(conn,
                                   "SELECT aac_rollups_rebuild(to_timestamp($1::bigint), "
                                   "to_timestamp($2::bigint))",
                                   2, NULL, params, NULL, NULL, 0);
        fmt_hour(from, hf);
        fmt_hour(to, ht);
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            char what[128];
            snprintf(what, sizeof(what), "could not rebuild %s .. %s", hf, ht);
            result_error(conn, r, what, errstr, size);
            PQclear(r);
            return -1;
        }
        long long n = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
        PQclear(r);
        printf("rebuilt %s .. %s: %lld rollup rows\n", hf, ht, n);
        fflush(stdout);
        total += n;
        from = to;
    }
    printf("rebuilt %lld rollup rows\n", total);
    return 0;
}

/* Returns 0 when they match, 1 when they differ, -1 on failure. */
static int check(PGconn *conn, const args_t *a, char *errstr, size_t size)
{
    char f[24], t[24], hf[AAC_RFC3339_SIZE], ht[AAC_RFC3339_SIZE];
    snprintf(f, sizeof(f), "%" PRId64, a->since_us / 1000000);
    snprintf(t, sizeof(t), "%" PRId64, a->until_us / 1000000);
    fmt_hour(a->since_us, hf);
    fmt_hour(a->until_us, ht);
    const char *params[2] = {f, t};
    /* the rollups and the rows read at one moment: a batch commits both */
    PGresult *r = PQexec(conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        result_error(conn, r, "could not begin", errstr, size);
        PQclear(r);
        return -1;
    }
    PQclear(r);
    r = PQexecParams(conn,
                     "SELECT rollup, to_char(hour, 'YYYY-MM-DD\"T\"HH24\":00:00Z\"'), key, "
                     "coalesce(stored, '(missing)'), coalesce(expected, '(missing)') "
                     "FROM aac_rollups_check(to_timestamp($1::bigint), to_timestamp($2::bigint))",
                     2, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        result_error(conn, r, "could not compare the rollups with the raw rows", errstr, size);
        PQclear(r);
        return -1;
    }
    int n = PQntuples(r);
    for (int i = 0; i < n; i++)
        printf("%s %s %s: rollup %s, raw rows %s\n", PQgetvalue(r, i, 0), PQgetvalue(r, i, 1),
               PQgetvalue(r, i, 2), PQgetvalue(r, i, 3), PQgetvalue(r, i, 4));
    PQclear(r);
    PQclear(PQexec(conn, "COMMIT"));
    if (n) {
        printf("%d rollup keys differ from the raw rows between %s and %s\n", n, hf, ht);
        return 1;
    }
    printf("the rollups match the raw rows between %s and %s\n", hf, ht);
    return 0;
}

static long long prune(PGconn *conn, int months, char *errstr, size_t size)
{
#define PRUNE(table)                                                                               \
    "DELETE FROM " table " WHERE hour < (date_trunc('month', now() AT TIME ZONE 'UTC')"            \
    " - make_interval(months => $1::int)) AT TIME ZONE 'UTC'"
    static const char *const sql[] = {PRUNE("aac_rollup_hourly"),
                                      PRUNE("aac_rollup_durations_hourly"),
                                      PRUNE("aac_dead_letters_hourly"), PRUNE("aac_ingest_hourly")};
#undef PRUNE
    char arg[16];
    const char *params[1] = {arg};
    long long total = 0;
    snprintf(arg, sizeof(arg), "%d", months);
    for (size_t i = 0; i < sizeof(sql) / sizeof(sql[0]); i++) {
        PGresult *r = PQexecParams(conn, sql[i], 1, NULL, params, NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            result_error(conn, r, "could not prune the rollups", errstr, size);
            PQclear(r);
            return -1;
        }
        total += strtoll(PQcmdTuples(r), NULL, 10);
        PQclear(r);
    }
    return total;
}

long long aac_rollups_prune(const aac_config_t *cfg, int months, aac_pgconn_interrupt_t *intr,
                            char *errstr, size_t errstr_size)
{
    PGconn *conn = open_conn(cfg, intr, errstr, errstr_size);
    if (!conn)
        return -1;
    long long n = prune(conn, months, errstr, errstr_size);
    aac_pgconn_interrupt_watch(intr, NULL);
    PQfinish(conn);
    return n;
}

int aac_rollups_main(const aac_config_t *cfg, int argc, char **argv)
{
    char errstr[1024] = "";
    args_t a = {.since_us = INT64_MIN, .until_us = INT64_MIN, .step_hours = 1, .months = -1};
    int rc;

    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        }
    if (argc < 2)
        return usage_error(NULL, "missing command");
    a.cmd = argv[1];
    if (strcmp(a.cmd, "rebuild") && strcmp(a.cmd, "check") && strcmp(a.cmd, "prune"))
        return usage_error(NULL, "unknown command \"%s\"", a.cmd);
    if ((rc = parse_args(&a, argc - 1, argv + 1)) >= 0)
        return rc;
    if (!strcmp(a.cmd, "prune") && a.months < 0) {
        a.months = cfg->rollups.retention_months;
        if (a.months == 0)
            return usage_error(a.cmd, "rollups.retention_months is 0 (keep everything): give "
                                      "--older-than-months N");
    }
    PGconn *conn = open_conn(cfg, NULL, errstr, sizeof(errstr));
    int status = 1; /* 1 until done; check: 1 also when they differ */
    if (!conn) {
        fprintf(stderr, "rollups %s: %s\n", a.cmd, errstr);
        return 1;
    }
    if (!strcmp(a.cmd, "rebuild")) {
        if (rebuild(conn, &a, errstr, sizeof(errstr)) == 0)
            status = 0;
    } else if (!strcmp(a.cmd, "check")) {
        rc = check(conn, &a, errstr, sizeof(errstr));
        if (rc >= 0) {
            status = rc;
            errstr[0] = '\0';
        }
    } else {
        long long n = prune(conn, a.months, errstr, sizeof(errstr));
        if (n >= 0) {
            printf("pruned %lld rows older than %d months\n", n, a.months);
            status = 0;
        }
    }
    PQfinish(conn);
    fflush(stdout);
    if (status && errstr[0])
        fprintf(stderr, "rollups %s: %s\n", a.cmd, errstr);
    return status;
}
