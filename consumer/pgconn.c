/*
 * pgconn: opens PostgreSQL connections from the `postgres` configuration
 * section and formats their errors.
 *
 * Only keys with a value are passed to libpq, so everything left empty
 * falls through to libpq's environment (PGHOST, PGPASSWORD, ...) and its
 * defaults. The password file is read here, never logged, and wiped from
 * memory after use. Nothing in this module logs the connection parameters.
 *
 * Keepalives and tcp_user_timeout are always set, on both ends: they are
 * what ends a blocking libpq call on a host whose packets vanish (the call
 * then fails as a lost connection, which the callers treat as an outage).
 *
 * SQLSTATE of a failed connection: libpq keeps the server's ErrorResponse
 * of a failed startup (28P01 invalid password, 28000 no pg_hba entry,
 * 3D000 unknown database, 53300 too many connections, 57P03 starting up)
 * in an internal result that no public function returns. With verbosity
 * PQERRORS_VERBOSE, though, libpq formats that response as
 * "SEVERITY:  SQLSTATE: message", a documented layout whose SQLSTATE does
 * not depend on the server's language, so the code is taken from there.
 * When the server asked for a password and none was available, libpq fails
 * on the client side ("no password supplied") without any SQLSTATE;
 * PQconnectionNeedsPassword() tells that case, reported as 28P01, the code
 * the server gives a wrong password: both mean "fix the credentials".
 * Connection failures without a server response (refused, timeout, DNS)
 * leave sqlstate "".
 */
#include "aac/pgconn.h"

#include <ctype.h>
#include <stdbool.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aac/clock.h"
#include "aac/log.h"
#include "aac/secretfile.h"

/* Copies the first line of `msg` into errstr, without its newline. */
static void copy_first_line(char *errstr, size_t errstr_size, const char *prefix, const char *msg)
{
    size_t len;

    if (!errstr_size)
        return;
    len = strcspn(msg, "\r\n");
    snprintf(errstr, errstr_size, "%s%.*s", prefix, (int)len, msg);
}

/* libpq's default notice processor prints to stderr, which is the log:
 * a notice, or an error the server sends outside a query ("terminating
 * connection due to administrator command"), becomes a log line instead. */
static void notice_cb(void *arg, const PGresult *res)
{
    const char *sev = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
    const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    (void)arg;
    if (sev && (!strcmp(sev, "WARNING") || !strcmp(sev, "ERROR") || !strcmp(sev, "FATAL") ||
                !strcmp(sev, "PANIC")))
        aac_warn("postgres message", AAC_KV_STR("severity", sev), AAC_KV_STR("sqlstate", state),
                 AAC_KV_STR("detail", msg ? msg : PQresultErrorMessage(res)));
    else
        aac_debug("postgres notice", AAC_KV_STR("severity", sev), AAC_KV_STR("sqlstate", state),
                  AAC_KV_STR("detail", msg ? msg : PQresultErrorMessage(res)));
}

/* Drives a connection started with PQconnectStartParams to its end, the
 * loop the libpq manual describes. libpq ignores connect_timeout on this
 * path, so the deadline (the whole attempt, all hosts included) is kept
 * here. Returns 0 when connected, -1 on failure (reason in the conn), -2
 * when the deadline passed. */
static int wait_connect(PGconn *conn, int timeout_s)
{
    PostgresPollingStatusType st = PGRES_POLLING_WRITING;
    int64_t start = aac_mono_ms();

    for (;;) {
        struct pollfd pfd;
        int ms = -1, rc;

        if (st == PGRES_POLLING_OK)
            return 0;
        if (st == PGRES_POLLING_FAILED)
            return -1;
        pfd.fd = PQsocket(conn);
        if (pfd.fd < 0)
            return -1;
        pfd.events = st == PGRES_POLLING_READING ? POLLIN : POLLOUT;
        pfd.revents = 0;
        if (timeout_s > 0) {
            long left = (long)((int64_t)timeout_s * 1000 - (aac_mono_ms() - start));

            if (left <= 0)
                return -2;
            ms = (int)left;
        }
        rc = poll(&pfd, 1, ms);
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc < 0)
            return -1;
        if (rc == 0)
            return -2;
        st = PQconnectPoll(conn);
    }
}

/* Finds "  XXXXX: " (the SQLSTATE of a verbose error message) in msg. */
static void sqlstate_from_message(const char *msg, char sqlstate[6])
{
    const char *p;

    sqlstate[0] = '\0';
    for (p = strstr(msg, ":  "); p; p = strstr(p + 1, ":  ")) {
        const char *s = p + 3;
        int i;

        for (i = 0; i < 5; i++) {
            if (!isdigit((unsigned char)s[i]) && !isupper((unsigned char)s[i]))
                break;
        }
        if (i == 5 && s[5] == ':' && s[6] == ' ') {
            memcpy(sqlstate, s, 5);
            sqlstate[5] = '\0';
            return;
        }
    }
}

/* The first line of a verbose connection error without its "XXXXX: ". */
static void connection_error(const char *msg, const char *sqlstate, char *errstr,
                             size_t errstr_size)
{
    char line[512];
    char *p;

    copy_first_line(line, sizeof(line), "", msg);
    if (sqlstate[0]) {
        char code[10];

        snprintf(code, sizeof(code), "  %s: ", sqlstate);
        p = strstr(line, code);
        if (p)
            memmove(p + 2, p + 9, strlen(p + 9) + 1);
        snprintf(errstr, errstr_size, "could not connect to PostgreSQL: %s (SQLSTATE %s)", line,
                 sqlstate);
    } else {
        snprintf(errstr, errstr_size, "could not connect to PostgreSQL: %s", line);
    }
}

/* libpq's keywords and values for one connection, and the text the values
 * point into. `password` and `uri` hold the content of postgres.password_file
 * and postgres.uri_file: wiped as soon as the connection no longer needs
 * them. */
typedef struct conn_params_s {
    const char *keys[32];
    const char *vals[32];
    int n;
    bool expand; /* the first dbname is postgres.uri */
    char port[16], appname[256];
    char password[AAC_SECRETFILE_MAX_PASSWORD + 1], uri[AAC_SECRETFILE_MAX_PASSWORD + 1];
    char ka_idle[16], ka_interval[16], ka_count[16], user_timeout[16];
} conn_params_t;

/* Appends a keyword unless its value is empty, so libpq's default applies. */
static void add_key(conn_params_t *cp, const char *key, const char *val)
{
    if (val && *val) {
        cp->keys[cp->n] = key;
        cp->vals[cp->n] = val;
        cp->n++;
    }
}

static bool is_set(const char *s)
{
    return s && *s;
}

/* The password, from postgres.password or else postgres.password_file;
 * none leaves it to the URI's, else libpq (PGPASSWORD, ~/.pgpass). */
static int add_password(conn_params_t *cp, const aac_config_t *cfg, char *errstr,
                        size_t errstr_size)
{
    if (is_set(cfg->postgres.password)) {
        add_key(cp, "password", cfg->postgres.password);
    } else if (is_set(cfg->postgres.password_file)) {
        if (aac_secretfile_read("postgres.password_file", cfg->postgres.password_file, cp->password,
                                sizeof(cp->password), errstr, errstr_size) < 0)
            return -1;
        add_key(cp, "password", cp->password);
    }
    return 0;
}

/* Checks that a connection URI parses, without ever quoting it: libpq's
 * own message may hold the URI, password included. */
static int check_uri(const char *setting, const char *uri, char *errstr, size_t errstr_size)
{
    char *err = NULL;
    PQconninfoOption *opts = PQconninfoParse(uri, &err);
    bool prefix = !strncmp(uri, "postgresql://", 13) || !strncmp(uri, "postgres://", 11);

    if (opts)
        PQconninfoFree(opts);
    if (err)
        PQfreemem(err);
    if (!prefix || !opts) {
        snprintf(errstr, errstr_size,
                 "%s is not a valid PostgreSQL connection URI "
                 "(postgresql://[user[:password]@][host][:port][/dbname][?param=value&...]; "
                 "libpq's reason is not shown, as it may quote the password)",
                 setting);
        return -1;
    }
    return 0;
}

/* postgres.uri, else the content of postgres.uri_file, as the first
 * keyword: every key set after it overrides its part of the URI. */
static int add_uri(conn_params_t *cp, const aac_config_t *cfg, char *errstr, size_t errstr_size)
{
    const char *uri = cfg->postgres.uri;
    const char *setting = "postgres.uri";

    if (!is_set(uri) && is_set(cfg->postgres.uri_file)) {
        setting = "postgres.uri_file";
        if (aac_secretfile_read(setting, cfg->postgres.uri_file, cp->uri, sizeof(cp->uri), errstr,
                                errstr_size) < 0)
            return -1;
        uri = cp->uri;
    }
    if (!is_set(uri))
        return 0;
    if (check_uri(setting, uri, errstr, errstr_size) != 0)
        return -1;
    add_key(cp, "dbname", uri);
    cp->expand = true;
    return 0;
}

/* Fills cp from the postgres section; -1 (errstr set) only when a secret
 * file or the URI cannot be used. Order: the URI first, then each key that
 * has a value (overriding the URI's), libpq's environment for the rest. */
static int build_params(conn_params_t *cp, const aac_config_t *cfg, const char *purpose,
                        char *errstr, size_t errstr_size)
{
    const char *purp = purpose ? purpose : "";

    if (add_uri(cp, cfg, errstr, errstr_size) != 0)
        return -1;
    add_key(cp, "host", cfg->postgres.host);
    if (cfg->postgres.port > 0) {
        snprintf(cp->port, sizeof(cp->port), "%d", cfg->postgres.port);
        add_key(cp, "port", cp->port);
    }
    add_key(cp, "dbname", cfg->postgres.dbname);
    add_key(cp, "user", cfg->postgres.user);
    if (add_password(cp, cfg, errstr, errstr_size) != 0)
        return -1;
    add_key(cp, "sslmode", cfg->postgres.sslmode);
    add_key(cp, "sslrootcert", cfg->postgres.sslrootcert);
    add_key(cp, "sslcert", cfg->postgres.sslcert);
    add_key(cp, "sslkey", cfg->postgres.sslkey);
    add_key(cp, "sslcrl", cfg->postgres.sslcrl);
    /* Events are UTF-8 and COPY sends them as they are: whatever the
     * database's encoding or PGCLIENTENCODING says, the connection speaks
     * UTF-8 (the server converts, or refuses a character it cannot store) */
    add_key(cp, "client_encoding", "UTF8");
    if (cfg->postgres.application_name && *cfg->postgres.application_name) {
        snprintf(cp->appname, sizeof(cp->appname), "%s/%s", cfg->postgres.application_name, purp);
        add_key(cp, "application_name", cp->appname);
    } else {
        /* PGAPPNAME, when set, wins over a fallback */
        snprintf(cp->appname, sizeof(cp->appname), "agent-actions-consumer/%s", purp);
        add_key(cp, "fallback_application_name", cp->appname);
    }
    /* A host that vanishes (network partition, frozen VM) neither closes
     * the connection nor answers: without these a blocking call waits for
     * ever (idle) or for the ~15 min of TCP retransmissions (sending). */
    snprintf(cp->ka_idle, sizeof(cp->ka_idle), "%d", cfg->postgres.keepalives_idle_s);
    snprintf(cp->ka_interval, sizeof(cp->ka_interval), "%d", cfg->postgres.keepalives_interval_s);
    snprintf(cp->ka_count, sizeof(cp->ka_count), "%d", cfg->postgres.keepalives_count);
    snprintf(cp->user_timeout, sizeof(cp->user_timeout), "%d", cfg->postgres.tcp_user_timeout_ms);
    add_key(cp, "keepalives", "1");
    add_key(cp, "keepalives_idle", cp->ka_idle);
    add_key(cp, "keepalives_interval", cp->ka_interval);
    add_key(cp, "keepalives_count", cp->ka_count);
    add_key(cp, "tcp_user_timeout", cp->user_timeout);
    cp->keys[cp->n] = NULL;
    cp->vals[cp->n] = NULL;
    return 0;
}

/* Connects with cp's parameters within timeout_s; NULL on failure, with
 * errstr and, when known, sqlstate set. */
static PGconn *start_connection(const conn_params_t *cp, int timeout_s, char sqlstate[6],
                                char *errstr, size_t errstr_size)
{
    PGconn *conn;
    int rc = -1;

    /* Started non-blocking so that the verbosity is set before the server
     * answers (see the top of the file). */
    conn = PQconnectStartParams(cp->keys, cp->vals, cp->expand ? 1 : 0);
    if (!conn) {
        snprintf(errstr, errstr_size, "could not connect to PostgreSQL: out of memory");
        return NULL;
    }
    PQsetErrorVerbosity(conn, PQERRORS_VERBOSE);
    PQsetNoticeReceiver(conn, notice_cb, NULL);
    if (PQstatus(conn) != CONNECTION_BAD)
        rc = wait_connect(conn, timeout_s);
    if (rc == -2) {
        snprintf(errstr, errstr_size, "could not connect to PostgreSQL: timeout expired after %d s",
                 timeout_s);
        PQfinish(conn);
        return NULL;
    }
    if (rc != 0 || PQstatus(conn) != CONNECTION_OK) {
        sqlstate_from_message(PQerrorMessage(conn), sqlstate);
        if (!sqlstate[0] && PQconnectionNeedsPassword(conn))
            memcpy(sqlstate, "28P01", 6);
        connection_error(PQerrorMessage(conn), sqlstate, errstr, errstr_size);
        PQfinish(conn);
        return NULL;
    }
    PQsetErrorVerbosity(conn, PQERRORS_DEFAULT);
    return conn;
}

/* The same limits on the server's end, so that the backend of a
 * connection this side gave up on ends by itself and releases its locks
 * instead of holding them for the server's 2 h keepalive default. A
 * timeout of 0 keeps the server's (or the role's) default. */
static int set_session_limits(PGconn *conn, const aac_config_t *cfg, const conn_params_t *cp,
                              char sqlstate[6], char *errstr, size_t errstr_size)
{
    char stmt_ms[16], lock_ms[16];
    PGresult *res;
    int ret = 0;

    snprintf(stmt_ms, sizeof(stmt_ms), "%d", cfg->postgres.statement_timeout_ms);
    snprintf(lock_ms, sizeof(lock_ms), "%d", cfg->postgres.lock_timeout_ms);
    const char *params[6] = {cfg->postgres.statement_timeout_ms > 0 ? stmt_ms : NULL,
                             cfg->postgres.lock_timeout_ms > 0 ? lock_ms : NULL,
                             cp->ka_idle,
                             cp->ka_interval,
                             cp->ka_count,
                             cp->user_timeout};

    res = PQexecParams(conn,
                       "SELECT CASE WHEN $1::text IS NOT NULL"
                       " THEN set_config('statement_timeout', $1, false) END,"
                       " CASE WHEN $2::text IS NOT NULL"
                       " THEN set_config('lock_timeout', $2, false) END,"
                       " set_config('tcp_keepalives_idle', $3, false),"
                       " set_config('tcp_keepalives_interval', $4, false),"
                       " set_config('tcp_keepalives_count', $5, false),"
                       " set_config('tcp_user_timeout', $6, false)",
                       6, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        char msg[512];

        aac_pgconn_result_error(res, conn, sqlstate, msg, sizeof(msg));
        snprintf(errstr, errstr_size, "could not set the session timeouts: %s", msg);
        ret = -1;
    }
    PQclear(res);
    return ret;
}

PGconn *aac_pgconn_open(const aac_config_t *cfg, const char *purpose, char sqlstate[6],
                        char *errstr, size_t errstr_size)
{
    conn_params_t cp;
    PGconn *conn = NULL;

    sqlstate[0] = '\0';
    cp.n = 0;
    cp.expand = false;
    cp.password[0] = '\0';
    cp.uri[0] = '\0';
    if (errstr_size)
        errstr[0] = '\0';

    if (build_params(&cp, cfg, purpose, errstr, errstr_size) == 0)
        conn =
            start_connection(&cp, cfg->postgres.connect_timeout_s, sqlstate, errstr, errstr_size);
    explicit_bzero(cp.password, sizeof(cp.password));
    explicit_bzero(cp.uri, sizeof(cp.uri));
    if (conn && set_session_limits(conn, cfg, &cp, sqlstate, errstr, errstr_size) != 0) {
        PQfinish(conn);
        conn = NULL;
    }
    return conn;
}

int aac_pgconn_check(const aac_config_t *cfg, char *errstr, size_t errstr_size)
{
    conn_params_t *cp = calloc(1, sizeof(*cp));
    char why[512];
    int ret = 0;

    if (!cp) {
        snprintf(errstr, errstr_size, "config: out of memory");
        return -1;
    }
    if (add_uri(cp, cfg, why, sizeof(why)) != 0) {
        snprintf(errstr, errstr_size, "config: %s", why);
        ret = -1;
    }
    explicit_bzero(cp->uri, sizeof(cp->uri));
    free(cp);
    return ret;
}

void aac_pgconn_result_error(const PGresult *res, const PGconn *conn, char sqlstate[6],
                             char *errstr, size_t errstr_size)
{
    const char *code = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;

    sqlstate[0] = '\0';
    if (code && strlen(code) == 5)
        memcpy(sqlstate, code, 6);
    if (!msg && res && *PQresultErrorMessage(res))
        msg = PQresultErrorMessage(res);
    if (!msg && conn)
        msg = PQerrorMessage(conn);
    if (!msg || !*msg) {
        if (res)
            msg = PQresStatus(PQresultStatus(res));
        else
            msg = "no result from the server";
    }
    copy_first_line(errstr, errstr_size, "", msg);
}

struct aac_pgconn_interrupt_s {
    pthread_mutex_t mu;
    PGcancel *cancel; /* of the watched connection, under mu */
    bool fired;       /* under mu */
};

aac_pgconn_interrupt_t *aac_pgconn_interrupt_new(void)
{
    aac_pgconn_interrupt_t *it = calloc(1, sizeof(*it));
    if (it)
        pthread_mutex_init(&it->mu, NULL);
    return it;
}

void aac_pgconn_interrupt_destroy(aac_pgconn_interrupt_t *it)
{
    if (!it)
        return;
    if (it->cancel)
        PQfreeCancel(it->cancel);
    pthread_mutex_destroy(&it->mu);
    free(it);
}

int aac_pgconn_interrupt_watch(aac_pgconn_interrupt_t *it, PGconn *conn)
{
    if (!it)
        return 0;
    /* made outside the lock: PQgetCancel only reads conn, which the
     * caller owns */
    PGcancel *c = conn ? PQgetCancel(conn) : NULL;
    pthread_mutex_lock(&it->mu);
    PGcancel *old = it->cancel;
    bool fired = it->fired;
    it->cancel = fired ? NULL : c;
    pthread_mutex_unlock(&it->mu);
    if (old)
        PQfreeCancel(old);
    if (fired && c)
        PQfreeCancel(c);
    return fired && conn ? -1 : 0;
}

void aac_pgconn_interrupt_fire(aac_pgconn_interrupt_t *it)
{
    char why[256];
    pthread_mutex_lock(&it->mu);
    it->fired = true;
    /* under the lock, so that the owner cannot free it meanwhile; a
     * cancel request is one short connection to the server */
    if (it->cancel && !PQcancel(it->cancel, why, sizeof(why)))
        aac_debug("could not cancel a maintenance statement", AAC_KV_STR("error", why));
    pthread_mutex_unlock(&it->mu);
}
