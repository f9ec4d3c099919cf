/*
 * migrate: applies and reverts the numbered SQL migrations in
 * postgres.migrations_dir and records them in schema_migrations.
 *
 * A migration is a pair NNNN_name.up.sql / NNNN_name.down.sql (NNNN: four
 * digits, 0001 upwards; name: letters, digits, '_' and '-'). Other files
 * ending in .sql are an error; files not ending in .sql are ignored.
 *
 * Each migration runs in one transaction with its schema_migrations row:
 * BEGIN, the file (one multi-statement PQexec: a migration file is trusted
 * code, not data), INSERT (or DELETE for down), COMMIT. A file must not
 * contain transaction control; one that ends the transaction is refused.
 * `up` and `down` hold a session advisory lock (AAC_MIGRATE_LOCK_KEY) for
 * the whole run, so concurrent runs queue and the later ones find nothing
 * to do. The up file's SHA-256 (computed by the server, sha256() over the
 * exact bytes sent as a binary bytea parameter) is recorded; a file whose
 * content changed after it was applied stops `up` and `down` and is
 * flagged by `status`.
 *
 * Migration sessions have no statement timeout (a migration may build an
 * index on a large table) but keep postgres.lock_timeout_ms, so a DDL
 * statement stuck behind a long transaction fails instead of queueing every
 * writer behind it. Waiting for the advisory lock is exempt from it.
 */
#include "aac/migrate.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aac/classify.h"
#include "aac/clock.h"
#include "aac/log.h"
#include "aac/mem.h"
#include "aac/notify.h"
#include "aac/pgconn.h"
#include "aac/retry.h"

/* Where `cmake --install` puts the migrations, relative to the directory
 * of the binary (bin/ → share/agent-actions-consumer/migrations). */
#ifndef AAC_MIGRATIONS_FROM_BIN
#define AAC_MIGRATIONS_FROM_BIN "../share/agent-actions-consumer/migrations"
#endif
/* The build tree, whose binaries read the source tree's migrations. */
#ifndef AAC_BUILD_DIR
#define AAC_BUILD_DIR ""
#endif
#ifndef AAC_SOURCE_MIGRATIONS_DIR
#define AAC_SOURCE_MIGRATIONS_DIR "migrations"
#endif

/* pg_advisory_lock() key of `migrate up`/`down`: "aac_migr" in ASCII. */
#define AAC_MIGRATE_LOCK_KEY "7016998955928610674"

#define BYTEAOID 17

typedef struct mig_s {
    int version;
    char name[128]; /* without number and suffix */
    char up[160];   /* file names, "0001_name.up.sql" */
    char down[160];
    int have_up;
    int have_down;
} mig_t;

typedef struct migset_s {
    const char *dir;
    mig_t *m; /* sorted by version */
    size_t cnt;
} migset_t;

typedef struct applied_s {
    int version;
    char name[128];
    char checksum[65];
    char applied_at[40];
} applied_t;

typedef struct applied_list_s {
    applied_t *a; /* sorted by version */
    size_t cnt;
} applied_list_t;

/* ---- migration files ---- */

/* Parses "NNNN_name.up.sql"; returns 1 (up), 0 (down) or -1. */
static int parse_name(const char *fname, int *version, char *name, size_t name_size)
{
    size_t len = strlen(fname), stem;
    int dir;

    if (len > 7 && strcmp(fname + len - 7, ".up.sql") == 0) {
        dir = 1;
        stem = len - 7;
    } else if (len > 9 && strcmp(fname + len - 9, ".down.sql") == 0) {
        dir = 0;
        stem = len - 9;
    } else {
        return -1;
    }
    if (stem < 6 || fname[4] != '_' || stem - 5 >= name_size)
        return -1;
    *version = 0;
    for (int i = 0; i < 4; i++) {
        if (fname[i] < '0' || fname[i] > '9')
            return -1;
        *version = *version * 10 + (fname[i] - '0');
    }
    if (*version == 0)
        return -1;
    for (size_t i = 5; i < stem; i++) {
        char c = fname[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return -1;
    }
    memcpy(name, fname + 5, stem - 5);
    name[stem - 5] = '\0';
    return dir;
}

static int mig_cmp(const void *a, const void *b)
{
    const mig_t *x = a, *y = b;
    return (x->version > y->version) - (x->version < y->version);
}

static void migset_free(migset_t *set)
{
    free(set->m);
    set->m = NULL;
    set->cnt = 0;
}

/* The entry of `version` in set, appended when new; NULL (errstr set)
 * when it exists under another name or memory runs out. */
static mig_t *migset_slot(migset_t *set, size_t *cap, int version, const char *name, char *errstr,
                          size_t errstr_size)
{
    mig_t *m;

    for (size_t i = 0; i < set->cnt; i++) {
        m = &set->m[i];
        if (m->version != version)
            continue;
        if (strcmp(m->name, name) != 0) {
            snprintf(errstr, errstr_size,
                     "duplicate migration version %04d in \"%s\": \"%s\" and \"%s\"", version,
                     set->dir, m->name, name);
            return NULL;
        }
        return m;
    }
    if (aac_grow((void **)&set->m, cap, set->cnt + 1, sizeof(*set->m)) != 0) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    m = &set->m[set->cnt++];
    memset(m, 0, sizeof(*m));
    m->version = version;
    snprintf(m->name, sizeof(m->name), "%s", name);
    snprintf(m->up, sizeof(m->up), "%04d_%s.up.sql", version, name);
    snprintf(m->down, sizeof(m->down), "%04d_%s.down.sql", version, name);
    return m;
}

/* Adds one .sql file of the directory to set. */
static int migset_add(migset_t *set, size_t *cap, const char *fn, char *errstr, size_t errstr_size)
{
    char name[128];
    int version, dirn;
    mig_t *m;

    dirn = parse_name(fn, &version, name, sizeof(name));
    if (dirn < 0) {
        snprintf(errstr, errstr_size,
                 "invalid migration file name \"%s\" in \"%s\": expected "
                 "NNNN_name.up.sql or NNNN_name.down.sql (name: letters, digits, _ and -)",
                 fn, set->dir);
        return -1;
    }
    m = migset_slot(set, cap, version, name, errstr, errstr_size);
    if (!m)
        return -1;
    if (dirn == 1)
        m->have_up = 1;
    else
        m->have_down = 1;
    return 0;
}

/* Every migration of a sorted set has both files. */
static int migset_check_pairs(const migset_t *set, char *errstr, size_t errstr_size)
{
    for (size_t i = 0; i < set->cnt; i++) {
        const mig_t *m = &set->m[i];
        if (!m->have_up || !m->have_down) {
            snprintf(errstr, errstr_size, "migration %04d_%s in \"%s\" has no %s file \"%s\"",
                     m->version, m->name, set->dir, m->have_up ? "down" : "up",
                     m->have_up ? m->down : m->up);
            return -1;
        }
    }
    return 0;
}

/* Reads the directory into set: every pair complete, no duplicate
 * version, no malformed .sql name. */
static int migset_load(migset_t *set, const char *dir, char *errstr, size_t errstr_size)
{
    DIR *d = NULL;
    struct dirent *de;
    size_t cap = 0;
    int ret = -1;

    set->dir = dir;
    set->m = NULL;
    set->cnt = 0;
    d = opendir(dir);
    if (!d) {
        snprintf(errstr, errstr_size, "could not open migrations directory \"%s\": %s", dir,
                 strerror(errno));
        goto done;
    }
    while ((de = readdir(d)) != NULL) {
        const char *fn = de->d_name;
        size_t len = strlen(fn);

        if (fn[0] == '.' || len < 4 || strcmp(fn + len - 4, ".sql") != 0)
            continue;
        if (migset_add(set, &cap, fn, errstr, errstr_size) != 0)
            goto done;
    }
    if (set->cnt == 0) {
        snprintf(errstr, errstr_size, "no migration files in \"%s\"", dir);
        goto done;
    }
    qsort(set->m, set->cnt, sizeof(*set->m), mig_cmp);
    if (migset_check_pairs(set, errstr, errstr_size) != 0)
        goto done;
    ret = 0;

done:
    if (d)
        closedir(d);
    if (ret != 0)
        migset_free(set);
    return ret;
}

static const mig_t *migset_find(const migset_t *set, int version)
{
    for (size_t i = 0; i < set->cnt; i++) {
        if (set->m[i].version == version)
            return &set->m[i];
    }
    return NULL;
}

/* Reads dir/fname into a NUL-terminated malloc'd buffer. */
static char *read_file(const char *dir, const char *fname, size_t *len, char *errstr,
                       size_t errstr_size)
{
    char path[4096];
    FILE *fp = NULL;
    char *buf = NULL;
    long size;

    snprintf(path, sizeof(path), "%s/%s", dir, fname);
    fp = fopen(path, "rb");
    if (!fp)
        goto fail;
    if (fseek(fp, 0, SEEK_END) != 0 || (size = ftell(fp)) < 0 || fseek(fp, 0, SEEK_SET) != 0)
        goto fail;
    buf = malloc((size_t)size + 1);
    if (!buf) {
        errno = ENOMEM;
        goto fail;
    }
    if (fread(buf, 1, (size_t)size, fp) != (size_t)size) {
        if (!ferror(fp))
            errno = EIO; /* shrank while being read */
        goto fail;
    }
    buf[size] = '\0';
    *len = (size_t)size;
    fclose(fp);
    return buf;

fail:
    snprintf(errstr, errstr_size, "could not read migration file \"%s\": %s", path,
             strerror(errno));
    if (fp)
        fclose(fp);
    free(buf);
    return NULL;
}

/* ---- server helpers ---- */

/* What the last failure of this process's migrate run means for a retry
 * (aac_migrate_up_wait): TRANSIENT when the SQLSTATE says so, and an
 * outage (failed_outage) when PostgreSQL could not be reached or the
 * connection broke; FATAL otherwise, including failures with no server
 * involved (a changed file, a missing one). */
static aac_class_t failed_class = AAC_CLASS_FATAL;
static bool failed_outage;
static char failed_sqlstate[6]; /* "" when the server said none */

/* conn NULL: the connection could not be opened. */
static void note_failure(const PGconn *conn, const char *sqlstate)
{
    snprintf(failed_sqlstate, sizeof(failed_sqlstate), "%s", sqlstate);
    failed_outage = (conn ? PQstatus(conn) == CONNECTION_BAD : !sqlstate[0]) ||
                    aac_classify_sqlstate_is_outage(sqlstate);
    failed_class = failed_outage ? AAC_CLASS_TRANSIENT : aac_classify_sqlstate(sqlstate);
    if (failed_class != AAC_CLASS_TRANSIENT)
        failed_class = AAC_CLASS_FATAL; /* e.g. a data error in a migration file */
}

static void result_error(const PGresult *res, const PGconn *conn, char sqlstate[6], char *msg,
                         size_t size)
{
    aac_pgconn_result_error(res, conn, sqlstate, msg, size);
    note_failure(conn, sqlstate);
}

/* Runs a parameterless command; on failure writes "<what>: <reason>". */
static int exec_cmd(PGconn *conn, const char *sql, const char *what, char *errstr,
                    size_t errstr_size)
{
    PGresult *res = PQexec(conn, sql);
    int ret = -1;

    if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK) {
        char sqlstate[6], msg[512];

        result_error(res, conn, sqlstate, msg, sizeof(msg));
        snprintf(errstr, errstr_size, "%s: %s%s%s%s", what, msg, sqlstate[0] ? " (SQLSTATE " : "",
                 sqlstate, sqlstate[0] ? ")" : "");
        goto done;
    }
    ret = 0;

done:
    PQclear(res);
    return ret;
}

/* The failure of a migration file, with its line when the server gave a
 * position: "migration 0002_x.up.sql failed at line 3: ... (SQLSTATE ...)". */
static void file_error(const PGresult *res, const PGconn *conn, const char *fname, const char *sql,
                       char *errstr, size_t errstr_size)
{
    char sqlstate[6], msg[512], where[32] = "";
    const char *pos = res ? PQresultErrorField(res, PG_DIAG_STATEMENT_POSITION) : NULL;

    result_error(res, conn, sqlstate, msg, sizeof(msg));
    if (pos) {
        long chars = strtol(pos, NULL, 10), line = 1;
        const unsigned char *p = (const unsigned char *)sql;

        /* the position counts characters, so skip UTF-8 continuation bytes */
        for (; *p && chars > 1; p++) {
            if ((*p & 0xC0) != 0x80)
                chars--;
            if (*p == '\n')
                line++;
        }
        snprintf(where, sizeof(where), " at line %ld", line);
    }
    snprintf(errstr, errstr_size, "migration %s failed%s: %s%s%s%s", fname, where, msg,
             sqlstate[0] ? " (SQLSTATE " : "", sqlstate, sqlstate[0] ? ")" : "");
}

static void notice_cb(void *arg, const PGresult *res)
{
    FILE *out = arg;
    const char *sev = PQresultErrorField(res, PG_DIAG_SEVERITY);
    const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);

    fprintf(out, "  %s: %s\n", sev ? sev : "NOTICE", msg ? msg : "");
}

static PGconn *connect_db(const aac_config_t *cfg, FILE *out, char *errstr, size_t errstr_size)
{
    char sqlstate[6];
    PGconn *conn = aac_pgconn_open(cfg, "migrate", sqlstate, errstr, errstr_size);

    if (!conn) {
        /* refused or timed out (no SQLSTATE) is an outage; a wrong password is not */
        note_failure(NULL, sqlstate);
        return NULL;
    }
    PQsetNoticeReceiver(conn, notice_cb, out);
    if (exec_cmd(conn, "SET statement_timeout = 0", "could not disable the statement timeout",
                 errstr, errstr_size) != 0) {
        PQfinish(conn);
        return NULL;
    }
    return conn;
}

/* Takes the migration lock, waiting (without lock_timeout) as long as
 * another run holds it. */
static int take_lock(PGconn *conn, FILE *out, char *errstr, size_t errstr_size)
{
    PGresult *res = NULL;
    char saved[64];
    int ret = -1;

    res = PQexec(conn, "SELECT pg_try_advisory_lock(" AAC_MIGRATE_LOCK_KEY
                       "), current_setting('lock_timeout')");
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        char sqlstate[6], msg[512];

        result_error(res, conn, sqlstate, msg, sizeof(msg));
        snprintf(errstr, errstr_size, "could not take the migration lock: %s", msg);
        goto done;
    }
    if (strcmp(PQgetvalue(res, 0, 0), "t") == 0) {
        ret = 0;
        goto done;
    }
    snprintf(saved, sizeof(saved), "%s", PQgetvalue(res, 0, 1));
    PQclear(res);
    res = NULL;

    fprintf(out, "waiting for another migrate run to finish\n");
    fflush(out);
    if (exec_cmd(conn, "SET lock_timeout = 0", "could not take the migration lock", errstr,
                 errstr_size) != 0 ||
        exec_cmd(conn, "SELECT pg_advisory_lock(" AAC_MIGRATE_LOCK_KEY ")",
                 "could not take the migration lock", errstr, errstr_size) != 0)
        goto done;
    {
        const char *params[1] = {saved};

        res = PQexecParams(conn, "SELECT set_config('lock_timeout', $1, false)", 1, NULL, params,
                           NULL, NULL, 0);
        if (PQresultStatus(res) != PGRES_TUPLES_OK) {
            char sqlstate[6], msg[512];

            result_error(res, conn, sqlstate, msg, sizeof(msg));
            snprintf(errstr, errstr_size, "could not restore lock_timeout: %s", msg);
            goto done;
        }
    }
    ret = 0;

done:
    PQclear(res);
    return ret;
}

/* 1 when schema_migrations exists (in the search path), 0 if not, -1. */
static int table_exists(PGconn *conn, char *errstr, size_t errstr_size)
{
    PGresult *res = PQexec(conn, "SELECT to_regclass('schema_migrations') IS NOT NULL");
    int ret = -1;

    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        char sqlstate[6], msg[512];

        result_error(res, conn, sqlstate, msg, sizeof(msg));
        snprintf(errstr, errstr_size, "could not look up schema_migrations: %s", msg);
        goto done;
    }
    ret = strcmp(PQgetvalue(res, 0, 0), "t") == 0;

done:
    PQclear(res);
    return ret;
}

static int load_applied(PGconn *conn, applied_list_t *al, char *errstr, size_t errstr_size)
{
    PGresult *res = NULL;
    int ret = -1, n;

    al->a = NULL;
    al->cnt = 0;
    n = table_exists(conn, errstr, errstr_size);
    if (n <= 0) {
        ret = n;
        goto done;
    }
    res = PQexec(conn, "SELECT version, name, checksum,"
                       " to_char(applied_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS')"
                       " FROM schema_migrations ORDER BY version");
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        char sqlstate[6], msg[512];

        result_error(res, conn, sqlstate, msg, sizeof(msg));
        snprintf(errstr, errstr_size, "could not read schema_migrations: %s", msg);
        goto done;
    }
    n = PQntuples(res);
    if (n > 0) {
        al->a = calloc((size_t)n, sizeof(*al->a));
        if (!al->a) {
            snprintf(errstr, errstr_size, "out of memory");
            goto done;
        }
    }
    for (int i = 0; i < n; i++) {
        applied_t *a = &al->a[i];

        a->version = atoi(PQgetvalue(res, i, 0));
        snprintf(a->name, sizeof(a->name), "%s", PQgetvalue(res, i, 1));
        snprintf(a->checksum, sizeof(a->checksum), "%s", PQgetvalue(res, i, 2));
        snprintf(a->applied_at, sizeof(a->applied_at), "%s UTC", PQgetvalue(res, i, 3));
    }
    al->cnt = (size_t)n;
    ret = 0;

done:
    PQclear(res);
    return ret;
}

static const applied_t *applied_find(const applied_list_t *al, int version)
{
    for (size_t i = 0; i < al->cnt; i++) {
        if (al->a[i].version == version)
            return &al->a[i];
    }
    return NULL;
}

/* SHA-256 hex of the exact bytes of `data`, computed by the server. */
static int checksum(PGconn *conn, const char *data, size_t len, char out[65], char *errstr,
                    size_t errstr_size)
{
    const Oid types[1] = {BYTEAOID};
    const char *vals[1] = {data};
    const int lens[1] = {(int)len};
    const int fmts[1] = {1};
    PGresult *res = NULL;
    int ret = -1;

    if (len > INT_MAX) {
        snprintf(errstr, errstr_size, "migration file too large");
        goto done;
    }
    res = PQexecParams(conn, "SELECT encode(sha256($1), 'hex')", 1, types, vals, lens, fmts, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        char sqlstate[6], msg[512];

        result_error(res, conn, sqlstate, msg, sizeof(msg));
        snprintf(errstr, errstr_size, "could not compute a checksum: %s", msg);
        goto done;
    }
    snprintf(out, 65, "%s", PQgetvalue(res, 0, 0));
    ret = 0;

done:
    PQclear(res);
    return ret;
}

/* Checksum of a migration's up file. */
static int file_checksum(PGconn *conn, const migset_t *set, const mig_t *m, char out[65],
                         char *errstr, size_t errstr_size)
{
    size_t len;
    char *sql = read_file(set->dir, m->up, &len, errstr, errstr_size);
    int ret;

    if (!sql)
        return -1;
    ret = checksum(conn, sql, len, out, errstr, errstr_size);
    free(sql);
    return ret;
}

/* Every applied migration must still match its file. With require_files,
 * an applied migration without a file is an error too (the database is
 * ahead of this copy of the migrations). */
static int verify_applied(PGconn *conn, const migset_t *set, const applied_list_t *al,
                          int require_files, char *errstr, size_t errstr_size)
{
    for (size_t i = 0; i < al->cnt; i++) {
        const applied_t *a = &al->a[i];
        const mig_t *m = migset_find(set, a->version);
        char sum[65];

        if (!m) {
            if (!require_files)
                continue;
            snprintf(errstr, errstr_size,
                     "migration %04d_%s is applied but has no files in \"%s\"; the database is "
                     "newer than these migrations",
                     a->version, a->name, set->dir);
            return -1;
        }
        if (file_checksum(conn, set, m, sum, errstr, errstr_size) != 0)
            return -1;
        if (strcmp(sum, a->checksum) != 0) {
            snprintf(errstr, errstr_size,
                     "migration %s has changed since it was applied (checksum %.12s..., "
                     "recorded %.12s...); restore the file or write a new migration",
                     m->up, sum, a->checksum);
            return -1;
        }
    }
    return 0;
}

/* Runs a migration file inside the transaction run_one opened. On
 * failure *in_tx says whether a transaction is still open to roll back. */
static int exec_file(PGconn *conn, const char *sql, const char *fname, int *in_tx, char *errstr,
                     size_t errstr_size)
{
    PGresult *res = PQexec(conn, sql);

    switch (PQresultStatus(res)) {
    case PGRES_COMMAND_OK:
    case PGRES_TUPLES_OK:
    case PGRES_EMPTY_QUERY:
        break;
    case PGRES_COPY_IN:
    case PGRES_COPY_OUT:
    case PGRES_COPY_BOTH:
        if (PQresultStatus(res) == PGRES_COPY_IN)
            PQputCopyEnd(conn, "COPY is not supported in migration files");
        PQclear(res);
        while ((res = PQgetResult(conn)) != NULL)
            PQclear(res);
        snprintf(errstr, errstr_size, "migration %s failed: COPY is not supported in migrations",
                 fname);
        return -1;
    default:
        file_error(res, conn, fname, sql, errstr, errstr_size);
        PQclear(res);
        return -1;
    }
    PQclear(res);
    if (PQtransactionStatus(conn) != PQTRANS_INTRANS) {
        /* Its statements before the COMMIT are committed and cannot be
         * undone from here; say so rather than pretend a rollback. */
        *in_tx = PQtransactionStatus(conn) == PQTRANS_INERROR;
        snprintf(errstr, errstr_size,
                 "migration %s ended the transaction: migration files must not contain "
                 "BEGIN, COMMIT or ROLLBACK; what it ran before that is committed but not "
                 "recorded, revert it by hand",
                 fname);
        return -1;
    }
    return 0;
}

/* up: INSERTs the schema_migrations row (with the up file's checksum
 * `sum`); down: DELETEs it. */
static int record_migration(PGconn *conn, const mig_t *m, int up, const char *sum, char *errstr,
                            size_t errstr_size)
{
    char version[16];
    PGresult *res;
    int ret = 0;

    snprintf(version, sizeof(version), "%d", m->version);
    if (up) {
        const char *params[3] = {version, m->name, sum};

        res = PQexecParams(conn,
                           "INSERT INTO schema_migrations (version, name, checksum)"
                           " VALUES ($1, $2, $3)",
                           3, NULL, params, NULL, NULL, 0);
    } else {
        const char *params[1] = {version};

        res = PQexecParams(conn, "DELETE FROM schema_migrations WHERE version = $1", 1, NULL,
                           params, NULL, NULL, 0);
    }
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        char sqlstate[6], msg[512];

        result_error(res, conn, sqlstate, msg, sizeof(msg));
        snprintf(errstr, errstr_size, "could not record migration %04d_%s: %s", m->version, m->name,
                 msg);
        ret = -1;
    }
    PQclear(res);
    return ret;
}

static int commit_migration(PGconn *conn, const char *fname, char *errstr, size_t errstr_size)
{
    PGresult *res = PQexec(conn, "COMMIT");
    int ret = 0;

    if (PQresultStatus(res) != PGRES_COMMAND_OK || strcmp(PQcmdStatus(res), "COMMIT") != 0) {
        file_error(res, conn, fname, "", errstr, errstr_size);
        ret = -1;
    }
    PQclear(res);
    return ret;
}

/* Runs one file and the bookkeeping statement in one transaction.
 * up: INSERT the row; down: DELETE it. */
static int run_one(PGconn *conn, const migset_t *set, const mig_t *m, int up, FILE *out,
                   char *errstr, size_t errstr_size)
{
    const char *fname = up ? m->up : m->down;
    char *sql = NULL, sum[65] = "";
    size_t len;
    int in_tx = 0, ret = -1;
    int64_t t0 = aac_mono_ms();

    sql = read_file(set->dir, fname, &len, errstr, errstr_size);
    if (!sql)
        goto done;
    if (up && checksum(conn, sql, len, sum, errstr, errstr_size) != 0)
        goto done;
    if (exec_cmd(conn, "BEGIN", "could not begin a transaction", errstr, errstr_size) != 0)
        goto done;
    in_tx = 1;
    if (exec_file(conn, sql, fname, &in_tx, errstr, errstr_size) != 0 ||
        record_migration(conn, m, up, sum, errstr, errstr_size) != 0)
        goto done;
    in_tx = 0; /* COMMIT ends it whether it succeeds or not */
    if (commit_migration(conn, fname, errstr, errstr_size) != 0)
        goto done;
    fprintf(out, "%s %04d_%s (%ld ms)\n", up ? "applied" : "reverted", m->version, m->name,
            (long)(aac_mono_ms() - t0));
    fflush(out);
    ret = 0;

done:
    if (in_tx)
        PQclear(PQexec(conn, "ROLLBACK"));
    free(sql);
    return ret;
}

/* True when `path` is `dir` or inside it. */
static bool path_under(const char *path, const char *dir)
{
    size_t n = strlen(dir);
    return n && !strncmp(path, dir, n) && (path[n] == '/' || path[n] == '\0');
}

int aac_migrate_default_dir(char *buf, size_t size)
{
    char exe[PATH_MAX], build[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

    if (n <= 0) {
        snprintf(buf, size, "/usr/share/agent-actions-consumer/migrations");
        return -1;
    }
    exe[n] = '\0';
    *strrchr(exe, '/') = '\0'; /* readlink gives an absolute path */
    /* a binary of the build tree (never an installed one) */
    if (realpath(AAC_BUILD_DIR, build) && path_under(exe, build)) {
        snprintf(buf, size, "%s", AAC_SOURCE_MIGRATIONS_DIR);
        return 0;
    }
    snprintf(buf, size, "%s/%s", exe, AAC_MIGRATIONS_FROM_BIN);
    return 0;
}

static const char *migrations_dir(const aac_config_t *cfg)
{
    static char dflt[PATH_MAX + 64];

    if (cfg->postgres.migrations_dir && *cfg->postgres.migrations_dir)
        return cfg->postgres.migrations_dir;
    if (!dflt[0])
        aac_migrate_default_dir(dflt, sizeof(dflt));
    return dflt;
}

/* ---- commands ---- */

int aac_migrate_up(const aac_config_t *cfg, int steps, FILE *out, char *errstr, size_t errstr_size)
{
    migset_t set = {0};
    applied_list_t al = {0};
    PGconn *conn = NULL;
    int ret = -1, done_cnt = 0, max_applied = 0, exists;

    if (migset_load(&set, migrations_dir(cfg), errstr, errstr_size) != 0)
        goto done;
    conn = connect_db(cfg, out, errstr, errstr_size);
    if (!conn)
        goto done;
    if (take_lock(conn, out, errstr, errstr_size) != 0)
        goto done;
    /* under the lock: no two runs create it at once */
    if ((exists = table_exists(conn, errstr, errstr_size)) < 0)
        goto done;
    if (!exists && exec_cmd(conn,
                            "CREATE TABLE schema_migrations ("
                            " version integer PRIMARY KEY,"
                            " name text NOT NULL,"
                            " checksum text NOT NULL,"
                            " applied_at timestamptz NOT NULL DEFAULT now())",
                            "could not create schema_migrations", errstr, errstr_size) != 0)
        goto done;
    if (load_applied(conn, &al, errstr, errstr_size) != 0)
        goto done;
    if (verify_applied(conn, &set, &al, 1, errstr, errstr_size) != 0)
        goto done;
    if (al.cnt)
        max_applied = al.a[al.cnt - 1].version;

    for (size_t i = 0; i < set.cnt; i++) {
        const mig_t *m = &set.m[i];

        if (applied_find(&al, m->version))
            continue;
        if (m->version < max_applied) {
            snprintf(errstr, errstr_size,
                     "migration %s is pending but the later migration %04d is already applied",
                     m->up, max_applied);
            goto done;
        }
    }
    for (size_t i = 0; i < set.cnt && (steps <= 0 || done_cnt < steps); i++) {
        const mig_t *m = &set.m[i];

        if (applied_find(&al, m->version))
            continue;
        if (run_one(conn, &set, m, 1, out, errstr, errstr_size) != 0)
            goto done;
        done_cnt++;
    }
    if (done_cnt == 0)
        fprintf(out, "nothing to apply: all %zu migrations are applied\n", set.cnt);
    ret = 0;

done:
    if (conn)
        PQfinish(conn); /* also releases the advisory lock */
    free(al.a);
    migset_free(&set);
    return ret;
}

int aac_migrate_down(const aac_config_t *cfg, int steps, FILE *out, char *errstr,
                     size_t errstr_size)
{
    migset_t set = {0};
    applied_list_t al = {0};
    PGconn *conn = NULL;
    int ret = -1, done_cnt = 0;

    if (steps <= 0)
        steps = 1;
    if (migset_load(&set, migrations_dir(cfg), errstr, errstr_size) != 0)
        goto done;
    conn = connect_db(cfg, out, errstr, errstr_size);
    if (!conn)
        goto done;
    if (take_lock(conn, out, errstr, errstr_size) != 0)
        goto done;
    if (load_applied(conn, &al, errstr, errstr_size) != 0)
        goto done;
    if (verify_applied(conn, &set, &al, 0, errstr, errstr_size) != 0)
        goto done;
    for (size_t i = al.cnt; i > 0 && done_cnt < steps; i--) {
        const applied_t *a = &al.a[i - 1];
        const mig_t *m = migset_find(&set, a->version);

        if (!m) {
            snprintf(errstr, errstr_size,
                     "cannot revert migration %04d_%s: it has no files in \"%s\"", a->version,
                     a->name, set.dir);
            goto done;
        }
        if (run_one(conn, &set, m, 0, out, errstr, errstr_size) != 0)
            goto done;
        done_cnt++;
    }
    if (done_cnt == 0)
        fprintf(out, "nothing to revert: no migration is applied\n");
    ret = 0;

done:
    if (conn)
        PQfinish(conn);
    free(al.a);
    migset_free(&set);
    return ret;
}

int aac_migrate_status(const aac_config_t *cfg, FILE *out, char *errstr, size_t errstr_size)
{
    migset_t set = {0};
    applied_list_t al = {0};
    PGconn *conn = NULL;
    char first_bad[256] = "";
    int ret = -1;
    size_t i = 0, j = 0;

    if (migset_load(&set, migrations_dir(cfg), errstr, errstr_size) != 0)
        goto done;
    conn = connect_db(cfg, out, errstr, errstr_size);
    if (!conn)
        goto done;
    if (load_applied(conn, &al, errstr, errstr_size) != 0)
        goto done;

    /* merge the two sorted lists */
    while (i < set.cnt || j < al.cnt) {
        const mig_t *m = i < set.cnt ? &set.m[i] : NULL;
        const applied_t *a = j < al.cnt ? &al.a[j] : NULL;

        if (a && (!m || a->version < m->version)) {
            fprintf(out, "%04d  %-32s applied %s  missing: no files\n", a->version, a->name,
                    a->applied_at);
            if (!first_bad[0])
                snprintf(first_bad, sizeof(first_bad),
                         "migration %04d_%s is applied but has no files in \"%s\"", a->version,
                         a->name, set.dir);
            j++;
        } else if (a && a->version == m->version) {
            char sum[65];

            if (file_checksum(conn, &set, m, sum, errstr, errstr_size) != 0)
                goto done;
            if (strcmp(sum, a->checksum) != 0) {
                fprintf(out, "%04d  %-32s applied %s  changed\n", m->version, m->name,
                        a->applied_at);
                if (!first_bad[0])
                    snprintf(first_bad, sizeof(first_bad),
                             "migration %s has changed since it was applied", m->up);
            } else {
                fprintf(out, "%04d  %-32s applied %s\n", m->version, m->name, a->applied_at);
            }
            i++;
            j++;
        } else {
            fprintf(out, "%04d  %-32s pending\n", m->version, m->name);
            i++;
        }
    }
    if (first_bad[0]) {
        snprintf(errstr, errstr_size, "%s", first_bad);
        goto done;
    }
    ret = 0;

done:
    if (conn)
        PQfinish(conn);
    free(al.a);
    migset_free(&set);
    return ret;
}

/* What an operator does about a migrate run that failed for good. */
static const char *fatal_action(const char *sqlstate)
{
    /* the connection's: the same answers as the service's own */
    if (!strncmp(sqlstate, "28", 2) || !strcmp(sqlstate, "3D000"))
        return aac_classify_sqlstate_action(sqlstate);
    return "run agent-actions-consumer migrate status, and fix what it reports (a migration "
           "that fails, or one changed or missing since it was applied) or grant the "
           "migrating user what the error names";
}

int aac_migrate_up_wait(const aac_config_t *cfg)
{
    char errstr[1024];
    aac_retry_policy_t policy = aac_retry_policy_from_config(cfg);
    migset_t set = {0};

    /* an unreadable directory is the configuration's fault: say so first */
    if (migset_load(&set, migrations_dir(cfg), errstr, sizeof(errstr)) != 0) {
        aac_error("cannot apply migrations", AAC_KV_STR("error", errstr));
        return 2;
    }
    migset_free(&set);
    for (int attempt = 1, other = 0;; attempt++) {
        char *buf = NULL;
        size_t len = 0;
        FILE *out = open_memstream(&buf, &len);

        if (!out)
            return 1;
        failed_class = AAC_CLASS_FATAL;
        failed_outage = false;
        failed_sqlstate[0] = '\0';
        int rc = aac_migrate_up(cfg, 0, out, errstr, sizeof(errstr));
        fclose(out);
        /* one log line per migration applied, "nothing to apply" at debug */
        for (char *line = buf, *nl; line && *line; line = nl ? nl + 1 : NULL) {
            if ((nl = strchr(line, '\n')))
                *nl = '\0';
            if (!strncmp(line, "applied ", 8))
                aac_info("migration applied", AAC_KV_STR("migration", line + 8));
            else if (*line)
                aac_debug("migrate", AAC_KV_STR("output", line));
        }
        free(buf);
        if (rc == 0)
            return 0;
        if (failed_class != AAC_CLASS_TRANSIENT) {
            /* the line every status-3 stop of run logs (docs/operations.md) */
            char what[1100];
            snprintf(what, sizeof(what), "cannot apply migrations: %s", errstr);
            aac_error("fatal error, stopping", AAC_KV_STR("error", what),
                      AAC_KV_STR("action", fatal_action(failed_sqlstate)));
            return 3;
        }
        /* an outage is waited out for as long as it lasts; another
         * transient error (a lock timeout...) gets retry.max_attempts */
        if (failed_outage)
            other = 0;
        else if (!aac_retry_may_retry(&policy, ++other)) {
            aac_error("could not apply migrations, giving up", AAC_KV_INT("attempts", other),
                      AAC_KV_STR("error", errstr));
            return 1;
        }
        int delay = aac_retry_delay_ms(&policy, attempt, (double)(rand() % 1000) / 1000.0);
        aac_warn("PostgreSQL not available for migrations, waiting", AAC_KV_INT("attempt", attempt),
                 AAC_KV_INT("delay_ms", delay), AAC_KV_STR("error", errstr));
        /* waiting is alive: keep extending the start timeout */
        for (int64_t end = aac_mono_ms() + delay; aac_mono_ms() < end;) {
            aac_notify_alive(aac_mono_ms());
            usleep(20000);
        }
    }
}

/* ---- command line ---- */

#define USAGE_SYNOPSIS                                                                             \
    "usage: agent-actions-consumer migrate up [N|all]\n"                                           \
    "       agent-actions-consumer migrate down [N|all]\n"                                         \
    "       agent-actions-consumer migrate status\n"

static void usage(FILE *fp)
{
    fprintf(fp, USAGE_SYNOPSIS
            "\n"
            "  up [N]     apply the next N pending migrations (default: all)\n"
            "  down [N]   revert the last N applied migrations (default: 1)\n"
            "  status     list every migration: applied (when), pending, changed\n"
            "\n"
            "Migrations are read from postgres.migrations_dir\n"
            "(AAC_POSTGRES_MIGRATIONS_DIR), by default from the directory installed\n"
            "with the binary, ../share/agent-actions-consumer/migrations from its\n"
            "own (the source tree's migrations/ for a binary of the build tree);\n"
            "the database from the postgres section and libpq's PG* environment\n"
            "variables.\n");
}

/* "all" or a positive integer; -1 when neither. */
static int parse_steps(const char *s)
{
    char *end;
    long v;

    if (strcmp(s, "all") == 0)
        return INT_MAX;
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < 1 || v > INT_MAX)
        return -1;
    return (int)v;
}

int aac_migrate_main(const aac_config_t *cfg, int argc, char **argv)
{
    char errstr[1024];
    const char *cmd;
    int steps = 0, rc;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        }
    }
    if (argc < 2) {
        fprintf(stderr, "migrate: missing command\n");
        fputs(USAGE_SYNOPSIS, stderr);
        return 2;
    }
    cmd = argv[1];
    if (strcmp(cmd, "up") == 0 || strcmp(cmd, "down") == 0) {
        if (argc > 3) {
            fprintf(stderr, "migrate %s: too many arguments\n", cmd);
            fputs(USAGE_SYNOPSIS, stderr);
            return 2;
        }
        if (argc == 3 && (steps = parse_steps(argv[2])) < 0) {
            fprintf(stderr, "migrate %s: invalid count \"%s\": expected a positive number or all\n",
                    cmd, argv[2]);
            fputs(USAGE_SYNOPSIS, stderr);
            return 2;
        }
        if (cmd[0] == 'u')
            rc = aac_migrate_up(cfg, steps == INT_MAX ? 0 : steps, stdout, errstr, sizeof(errstr));
        else
            rc = aac_migrate_down(cfg, steps == 0 ? 1 : steps, stdout, errstr, sizeof(errstr));
    } else if (strcmp(cmd, "status") == 0) {
        if (argc > 2) {
            fprintf(stderr, "migrate status: too many arguments\n");
            fputs(USAGE_SYNOPSIS, stderr);
            return 2;
        }
        rc = aac_migrate_status(cfg, stdout, errstr, sizeof(errstr));
    } else {
        fprintf(stderr, "migrate: unknown command \"%s\"\n", cmd);
        fputs(USAGE_SYNOPSIS, stderr);
        return 2;
    }
    fflush(stdout);
    if (rc != 0) {
        fprintf(stderr, "migrate %s: %s\n", cmd, errstr);
        return 1;
    }
    return 0;
}
