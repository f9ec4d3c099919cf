/*
 * pgsink: batches of events into PostgreSQL, exactly once.
 *
 * A batch is written in one transaction: its rows (COPY), then, after the
 * caller has confirmed the batch's dead letters, the next offset of each of
 * its partitions, then COMMIT. A failed COPY leaves the transaction aborted,
 * so isolating a bad row costs a ROLLBACK and a new attempt without it:
 * two COPYs for one bad row when PostgreSQL names the failing line (it does
 * for input and constraint errors), a halving search when it does not.
 */
#include "aac/pgsink.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "aac/clock.h"
#include "aac/log.h"
#include "aac/mem.h"
#include "aac/pgconn.h"
#include "aac/rollup.h"

/* Batches written through the staging table after the last duplicate seen,
 * before trying the direct COPY again. */
#define STAGING_STICKY_BATCHES 50

#define COLUMNS AAC_COPYROW_COLUMNS

/* The name commit_sql is prepared under, once per connection: parsing and
 * planning its ~10 kB (the histogram's 120 columns) cost more than
 * running it, on every batch. */
#define COMMIT_STMT "aac_commit"

struct aac_pgsink_s {
    const aac_config_t *cfg;
    PGconn *conn;
    bool stage_ready; /* the temporary staging table exists on conn */
    int staging_left; /* batches still to write through staging */
    size_t *live;     /* scratch: indexes of the rows this sink sends */
    size_t live_cap;
    size_t staged_live, staged_inserted; /* of the open transaction */
    /* which rows the open transaction inserted: every live one on the
     * direct path; on the staging path those its INSERT returned, by
     * batch row (what the rollups count: rollup.h) */
    bool staged_all;
    uint8_t *inserted;
    size_t inserted_cap;
    uint64_t *found; /* scratch: the staging INSERT's (topic, partition, offset) keys */
    size_t found_cap, found_cnt;
    aac_rollup_t *rollup;
    char *commit_sql;     /* the offsets' fence and the rollups, built once */
    bool commit_prepared; /* commit_sql is prepared on conn as COMMIT_STMT */
    bool staged_through_stage;
    bool begin_pending; /* the next COPY opens the transaction: one round trip less */
    bool turn_held;     /* a session advisory lock of aac_pgsink_take_turn */
    /* a cancel request may come from another thread (shutdown) */
    pthread_mutex_t cancel_lock;
    PGcancel *cancel;
    bool cancelled;          /* under cancel_lock: every later statement is refused */
    _Atomic int64_t stmt_at; /* monotonic ms the last statement began (any thread reads) */
};

/* Fills s->live with the batch's live rows; returns their count, or
 * (size_t)-1 when out of memory. */
static size_t rows_live(aac_pgsink_t *s, const aac_batch_t *b)
{
    size_t n = 0, cnt = aac_batch_row_count(b);
    if (aac_grow((void **)&s->live, &s->live_cap, cnt ? cnt : 1, sizeof(size_t)))
        return (size_t)-1;
    for (size_t i = 0; i < cnt; i++)
        if (!aac_batch_row_rejected(b, i))
            s->live[n++] = i;
    return n;
}

/* --- the sink --------------------------------------------------------------- */

aac_pgsink_t *aac_pgsink_new(const aac_config_t *cfg)
{
    aac_pgsink_t *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->cfg = cfg;
    pthread_mutex_init(&s->cancel_lock, NULL);
    if (!(s->rollup = aac_rollup_new())) {
        pthread_mutex_destroy(&s->cancel_lock);
        free(s);
        return NULL;
    }
    return s;
}

static void disconnect(aac_pgsink_t *s)
{
    pthread_mutex_lock(&s->cancel_lock);
    if (s->cancel)
        PQfreeCancel(s->cancel);
    s->cancel = NULL;
    pthread_mutex_unlock(&s->cancel_lock);
    if (s->conn)
        PQfinish(s->conn);
    s->conn = NULL;
    s->stage_ready = false;
    s->commit_prepared = false;
    s->turn_held = false; /* the session's advisory locks went with it */
}

void aac_pgsink_destroy(aac_pgsink_t *s)
{
    if (!s)
        return;
    disconnect(s);
    pthread_mutex_destroy(&s->cancel_lock);
    free(s->live);
    free(s->inserted);
    free(s->found);
    free(s->commit_sql);
    aac_rollup_destroy(s->rollup);
    free(s);
}

void aac_pgsink_cancel(aac_pgsink_t *s)
{
    char err[256];
    pthread_mutex_lock(&s->cancel_lock);
    s->cancelled = true;
    if (s->cancel && !PQcancel(s->cancel, err, sizeof(err)))
        aac_debug("could not cancel the write", AAC_KV_STR("error", err));
    pthread_mutex_unlock(&s->cancel_lock);
}

static bool connected(const aac_pgsink_t *s)
{
    return s->conn && PQstatus(s->conn) == CONNECTION_OK;
}

/* Every statement starts here. Once cancelled, a sink sends nothing
 * more: a cancel that came between two statements is not lost on the
 * next one. Otherwise the statement's start is stamped (liveness counts
 * from it: aac_pgsink_stmt_at). */
static bool refused(aac_pgsink_t *s, aac_pgsink_result_t *res)
{
    pthread_mutex_lock(&s->cancel_lock);
    bool c = s->cancelled;
    pthread_mutex_unlock(&s->cancel_lock);
    if (!c)
        atomic_store_explicit(&s->stmt_at, aac_mono_ms(), memory_order_relaxed);
    if (c && res) {
        snprintf(res->sqlstate, sizeof(res->sqlstate), "57014");
        snprintf(res->errstr, sizeof(res->errstr), "cancelled: the writers are stopping");
        res->cls = AAC_CLASS_TRANSIENT;
    }
    return c;
}

/* Fills res from a failed result (NULL: the connection failed) and drops
 * a connection that is no longer usable. */
static void fail_from(aac_pgsink_t *s, const PGresult *pr, const char *what,
                      aac_pgsink_result_t *res)
{
    char msg[400];
    aac_pgconn_result_error(pr, s->conn, res->sqlstate, msg, sizeof(msg));
    snprintf(res->errstr, sizeof(res->errstr), "%s: %s%s%s%s", what, msg,
             res->sqlstate[0] ? " (SQLSTATE " : "", res->sqlstate, res->sqlstate[0] ? ")" : "");
    res->cls = aac_classify_sqlstate(res->sqlstate);
    res->outage = aac_classify_sqlstate_is_outage(res->sqlstate);
    if (!s->conn || PQstatus(s->conn) != CONNECTION_OK) {
        res->cls = AAC_CLASS_TRANSIENT;
        res->outage = true;
        disconnect(s);
    }
}

int aac_pgsink_connect(aac_pgsink_t *s, aac_pgsink_result_t *res)
{
    char err[400];
    if (refused(s, res))
        return -1;
    if (connected(s))
        return 0;
    disconnect(s);
    s->conn = aac_pgconn_open(s->cfg, "sink", res->sqlstate, err, sizeof(err));
    if (!s->conn) {
        snprintf(res->errstr, sizeof(res->errstr), "%s", err); /* pgconn says what failed */
        res->cls = aac_classify_sqlstate(res->sqlstate);
        res->outage = aac_classify_sqlstate_is_outage(res->sqlstate);
        return -1;
    }
    PGcancel *c = PQgetCancel(s->conn);
    pthread_mutex_lock(&s->cancel_lock);
    s->cancel = c;
    pthread_mutex_unlock(&s->cancel_lock);
    return 0;
}

/* Runs a command; returns 0 or -1 with *res filled. */
static int exec_cmd(aac_pgsink_t *s, const char *sql, const char *what, aac_pgsink_result_t *res)
{
    if (refused(s, res))
        return -1;
    PGresult *pr = PQexec(s->conn, sql);
    res->round_trips++;
    if (PQresultStatus(pr) != PGRES_COMMAND_OK && PQresultStatus(pr) != PGRES_TUPLES_OK) {
        fail_from(s, pr, what, res);
        PQclear(pr);
        return -1;
    }
    PQclear(pr);
    return 0;
}

int aac_pgsink_ping(aac_pgsink_t *s, aac_pgsink_result_t *res)
{
    memset(res, 0, sizeof(*res));
    if (aac_pgsink_connect(s, res) != 0)
        return -1;
    return exec_cmd(s, "SELECT 1", "PostgreSQL did not answer", res);
}

int aac_pgsink_check_schema(aac_pgsink_t *s, aac_pgsink_result_t *res)
{
    /* Every table a batch writes, and the privileges its statements need
     * (an upsert: INSERT, SELECT and UPDATE). CASE, not AND: only CASE
     * guarantees has_table_privilege() is not called on a table that is
     * missing (it would raise 42P01 itself). One privilege per call: given
     * a list, it answers whether the user holds any of them. The newest
     * migration's tables last: the first missing one is named. */
    static const char sql[] =
        "SELECT t.name, to_regclass(t.name) IS NOT NULL,"
        "       CASE WHEN to_regclass(t.name) IS NOT NULL"
        "            THEN has_table_privilege(t.name, 'INSERT')"
        "                 AND (NOT t.upsert OR (has_table_privilege(t.name, 'SELECT')"
        "                                       AND has_table_privilege(t.name, 'UPDATE'))) END"
        " FROM (VALUES (1, 'agent_actions', false), (2, 'consumer_offsets', true),"
        "              (3, 'aac_dead_letters_hourly', true), (4, 'aac_ingest_hourly', true),"
        "              (5, 'aac_rollup_hourly', true), (6, 'aac_rollup_durations_hourly', true))"
        "      AS t(i, name, upsert) ORDER BY t.i";
    memset(res, 0, sizeof(*res));
    if (aac_pgsink_connect(s, res) != 0)
        return -1;
    PGresult *pr = PQexec(s->conn, sql);
    if (PQresultStatus(pr) != PGRES_TUPLES_OK) {
        fail_from(s, pr, "could not check the schema", res);
        PQclear(pr);
        return -1;
    }
    /* what to do is the fatal line's action (classify) */
    for (int r = 0; r < PQntuples(pr); r++) {
        const char *name = PQgetvalue(pr, r, 0);
        bool exists = PQgetvalue(pr, r, 1)[0] == 't', may = PQgetvalue(pr, r, 2)[0] == 't';
        if (exists && may)
            continue;
        snprintf(res->sqlstate, sizeof(res->sqlstate), "%s", exists ? "42501" : "42P01");
        res->cls = aac_classify_sqlstate(res->sqlstate);
        snprintf(res->errstr, sizeof(res->errstr),
                 exists ? "permission denied for table %s" : "relation \"%s\" does not exist",
                 name);
        PQclear(pr);
        return -1;
    }
    PQclear(pr);
    return 0;
}

/* Formats a PostgreSQL array literal of integers. */
static char *int_array(const int64_t *v, const int32_t *v32, size_t cnt)
{
    char *buf = malloc(cnt * 21 + 3), *o = buf;
    if (!buf)
        return NULL;
    *o++ = '{';
    for (size_t i = 0; i < cnt; i++) /* at most 21 bytes each, with the comma */
        o += sprintf(o, "%s%" PRId64, i ? "," : "", v ? v[i] : (int64_t)v32[i]);
    *o++ = '}';
    *o = '\0';
    return buf;
}

/* Formats a PostgreSQL array literal of strings, each quoted. */
static char *text_array(const char *(*get)(const void *, size_t), const void *v, size_t cnt)
{
    size_t n = 3;
    for (size_t i = 0; i < cnt; i++)
        n += 2 * strlen(get(v, i)) + 3;
    char *buf = malloc(n), *o = buf;
    if (!buf)
        return NULL;
    *o++ = '{';
    for (size_t i = 0; i < cnt; i++) {
        if (i)
            *o++ = ',';
        *o++ = '"';
        for (const char *c = get(v, i); *c; c++) {
            if (*c == '"' || *c == '\\')
                *o++ = '\\';
            *o++ = *c;
        }
        *o++ = '"';
    }
    *o++ = '}';
    *o = '\0';
    return buf;
}

static const char *key_topic(const void *v, size_t i)
{
    return ((const aac_pkey_t *)v)[i].topic;
}

static const char *part_topic(const void *v, size_t i)
{
    return ((const aac_batch_part_t *)v)[i].topic;
}

int aac_pgsink_fetch_offsets(aac_pgsink_t *s, const char *group, const aac_pkey_t *keys, size_t cnt,
                             int64_t *offsets, aac_pgsink_result_t *res)
{
    static const char sql[] =
        "SELECT t.i, c.next_offset FROM unnest($2::text[], $3::int[]) WITH ORDINALITY"
        " AS t(topic, p, i) JOIN consumer_offsets c ON c.consumer_group = $1"
        " AND c.topic = t.topic AND c.kafka_partition = t.p";
    memset(res, 0, sizeof(*res));
    for (size_t i = 0; i < cnt; i++)
        offsets[i] = -1;
    if (aac_pgsink_connect(s, res) != 0)
        return -1;
    int32_t *p = malloc((cnt ? cnt : 1) * sizeof(*p));
    for (size_t i = 0; p && i < cnt; i++)
        p[i] = keys[i].partition;
    char *topics = text_array(key_topic, keys, cnt), *parts = p ? int_array(NULL, p, cnt) : NULL;
    free(p);
    if (!topics || !parts) {
        free(topics);
        free(parts);
        res->cls = AAC_CLASS_TRANSIENT;
        snprintf(res->errstr, sizeof(res->errstr), "out of memory");
        return -1;
    }
    const char *params[3] = {group, topics, parts};
    PGresult *pr =
        refused(s, res) ? NULL : PQexecParams(s->conn, sql, 3, NULL, params, NULL, NULL, 0);
    free(topics);
    free(parts);
    if (!pr)
        return -1;
    if (PQresultStatus(pr) != PGRES_TUPLES_OK) {
        fail_from(s, pr, "could not read the stored offsets", res);
        PQclear(pr);
        return -1;
    }
    for (int r = 0; r < PQntuples(pr); r++) {
        size_t i = strtoul(PQgetvalue(pr, r, 0), NULL, 10);
        if (i >= 1 && i <= cnt)
            offsets[i - 1] = strtoll(PQgetvalue(pr, r, 1), NULL, 10);
    }
    PQclear(pr);
    return 0;
}

/* Outcome of sending some rows. */
typedef enum { SEND_OK, SEND_ROW_ERROR, SEND_DUPLICATE, SEND_FAILED } send_t;

/* COPY data goes out in messages of at most this many bytes: one
 * CopyData message may not exceed PostgreSQL's 1 GB message limit, nor
 * PQputCopyData's int length, whatever batch.max_bytes is. */
#define COPY_CHUNK_BYTES (1024 * 1024)

/* Sends n bytes of COPY data in bounded messages; returns PQputCopyData's
 * result (1 when all was queued). */
static int put_copy_data(PGconn *conn, const char *p, size_t n)
{
    int ok = 1;
    while (n && ok == 1) {
        size_t k = n < COPY_CHUNK_BYTES ? n : COPY_CHUNK_BYTES;
        ok = PQputCopyData(conn, p, (int)k);
        p += k;
        n -= k;
    }
    return ok;
}

/* Sends live rows [lo, hi) through COPY into `table`. On a row-level error
 * sets *bad_line to the 1-based line PostgreSQL reported (0 when none) and
 * fills sqlstate/msg. */
static send_t copy_rows(aac_pgsink_t *s, const aac_batch_t *b, size_t lo, size_t hi,
                        const char *table, size_t *bad_line, char sqlstate[6], char *msg,
                        size_t msg_size, aac_pgsink_result_t *res)
{
    char sql[sizeof(COLUMNS) + 96];
    PGresult *pr;
    aac_copy_format_t fmt = aac_batch_format(b);
    size_t hlen, tlen;
    const char *header = aac_copyrow_header(fmt, &hlen), *trailer = aac_copyrow_trailer(fmt, &tlen);
    snprintf(sql, sizeof(sql), "%sCOPY %s (" COLUMNS ") FROM STDIN%s",
             s->begin_pending ? "BEGIN; " : "", table, aac_copyrow_options(fmt));
    s->begin_pending = false;
    if (refused(s, res))
        return SEND_FAILED;
    pr = PQexec(s->conn, sql);
    res->round_trips++;
    if (PQresultStatus(pr) != PGRES_COPY_IN) {
        fail_from(s, pr, "could not start COPY", res);
        PQclear(pr);
        return SEND_FAILED;
    }
    PQclear(pr);
    /* contiguous live rows are sent as one slice */
    size_t i = lo;
    int ok = hlen ? put_copy_data(s->conn, header, hlen) : 1;
    while (i < hi && ok == 1) {
        size_t first = s->live[i], last = first;
        while (i + 1 < hi && s->live[i + 1] == last + 1) {
            i++;
            last++;
        }
        size_t len;
        const char *data = aac_batch_row_span(b, first, last, &len);
        ok = put_copy_data(s->conn, data, len);
        i++;
    }
    if (ok == 1 && tlen)
        ok = put_copy_data(s->conn, trailer, tlen);
    if (ok == 1)
        ok = PQputCopyEnd(s->conn, NULL);
    if (ok != 1) {
        /* the data did not go out: the connection is unusable, and a COPY
         * left open would answer PQgetResult with COPY_IN for ever */
        snprintf(res->errstr, sizeof(res->errstr), "could not send the batch: %.400s",
                 PQerrorMessage(s->conn));
        res->cls = AAC_CLASS_TRANSIENT;
        res->outage = true;
        disconnect(s);
        return SEND_FAILED;
    }
    pr = PQgetResult(s->conn);
    send_t out = SEND_OK;
    if (PQresultStatus(pr) != PGRES_COMMAND_OK) {
        aac_pgconn_result_error(pr, s->conn, sqlstate, msg, msg_size);
        if (aac_classify_sqlstate_is_row_error(sqlstate)) {
            out =
                aac_classify_sqlstate_is_duplicate_key(sqlstate) ? SEND_DUPLICATE : SEND_ROW_ERROR;
            *bad_line = aac_copyrow_error_line(PQresultErrorField(pr, PG_DIAG_CONTEXT));
        } else {
            fail_from(s, pr, "could not COPY the batch", res);
            out = SEND_FAILED;
        }
    }
    PQclear(pr);
    while ((pr = s->conn ? PQgetResult(s->conn) : NULL))
        PQclear(pr);
    return out;
}

/* A row's origin within its batch: the index of its (topic, partition)
 * among the batch's parts, and its offset. The topic counts: two topics
 * of one batch may each have a row at the same partition and offset. */
static uint64_t origin_key(size_t part, int64_t offset)
{
    return ((uint64_t)part << 44) ^ (uint64_t)offset;
}

/* The index of (topic, partition) among b's parts, or -1. */
static int64_t part_index(const aac_batch_t *b, const char *topic, int32_t partition)
{
    const aac_batch_part_t *p = aac_batch_part(b, topic, partition);
    return p ? p - aac_batch_parts_const(b) : -1;
}

/* Keeps the origin of each row the staging INSERT returned. */
static int record_found(aac_pgsink_t *s, const aac_batch_t *b, const PGresult *pr)
{
    size_t n = (size_t)PQntuples(pr), k = 0;
    if (aac_grow((void **)&s->found, &s->found_cap, n ? n : 1, sizeof(*s->found)) != 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        int64_t part = part_index(b, PQgetvalue(pr, (int)i, 0),
                                  (int32_t)strtol(PQgetvalue(pr, (int)i, 1), NULL, 10));
        if (part >= 0) /* always: the staged rows are the batch's */
            s->found[k++] = origin_key((size_t)part, strtoll(PQgetvalue(pr, (int)i, 2), NULL, 10));
    }
    s->found_cnt = k;
    return 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Marks the live rows the last staging INSERT returned as inserted. */
static int mark_inserted(aac_pgsink_t *s, const aac_batch_t *b, size_t live)
{
    if (aac_grow((void **)&s->inserted, &s->inserted_cap, aac_batch_row_count(b) + 1, 1) != 0)
        return -1;
    memset(s->inserted, 0, aac_batch_row_count(b));
    qsort(s->found, s->found_cnt, sizeof(*s->found), cmp_u64);
    const char *topic = NULL; /* of the last row: rows come in runs of one partition */
    int32_t partition = -1;
    int64_t part = -1;
    for (size_t i = 0; i < live; i++) {
        const rd_kafka_message_t *rkm = aac_batch_message(b, aac_batch_row_item(b, s->live[i]));
        const char *t = rd_kafka_topic_name(rkm->rkt);
        if (rkm->partition != partition || t != topic) {
            topic = t;
            partition = rkm->partition;
            part = part_index(b, topic, partition);
        }
        uint64_t k = origin_key((size_t)part, rkm->offset);
        s->inserted[s->live[i]] =
            bsearch(&k, s->found, s->found_cnt, sizeof(*s->found), cmp_u64) != NULL;
    }
    return 0;
}

/* Sends live rows [lo, hi) by the current path (direct or staging). */
static send_t send_rows(aac_pgsink_t *s, const aac_batch_t *b, size_t lo, size_t hi, bool staging,
                        size_t *bad_line, char sqlstate[6], char *msg, size_t msg_size,
                        size_t *inserted, aac_pgsink_result_t *res)
{
    *bad_line = 0;
    *inserted = 0;
    if (lo >= hi)
        return SEND_OK;
    if (!staging) {
        send_t r = copy_rows(s, b, lo, hi, "agent_actions", bad_line, sqlstate, msg, msg_size, res);
        if (r == SEND_OK)
            *inserted = hi - lo;
        return r;
    }
    send_t r = copy_rows(s, b, lo, hi, "aac_stage", bad_line, sqlstate, msg, msg_size, res);
    if (r != SEND_OK)
        return r;
    if (refused(s, res))
        return SEND_FAILED;
    /* RETURNING: which rows were new, for the rollups (a duplicate counts
     * nowhere) */
    PGresult *pr = PQexec(s->conn, "INSERT INTO agent_actions (" COLUMNS ") SELECT " COLUMNS
                                   " FROM aac_stage ON CONFLICT DO NOTHING"
                                   " RETURNING kafka_topic, kafka_partition, kafka_offset");
    res->round_trips++;
    if (PQresultStatus(pr) != PGRES_TUPLES_OK) {
        aac_pgconn_result_error(pr, s->conn, sqlstate, msg, msg_size);
        if (aac_classify_sqlstate_is_row_error(sqlstate)) {
            PQclear(pr);
            return SEND_ROW_ERROR; /* no line: the caller halves */
        }
        fail_from(s, pr, "could not insert the batch", res);
        PQclear(pr);
        return SEND_FAILED;
    }
    *inserted = (size_t)PQntuples(pr);
    if (record_found(s, b, pr) != 0) {
        PQclear(pr);
        snprintf(res->errstr, sizeof(res->errstr), "out of memory");
        res->cls = AAC_CLASS_TRANSIENT;
        return SEND_FAILED;
    }
    PQclear(pr);
    /* the next send in this transaction must not see these rows again */
    if (exec_cmd(s, "TRUNCATE aac_stage", "could not clear the staging table", res) != 0)
        return SEND_FAILED;
    return SEND_OK;
}

/* Creates the session's staging table, outside any transaction: created
 * inside one, a rollback would take it away. */
static int ensure_stage(aac_pgsink_t *s, aac_pgsink_result_t *res)
{
    if (s->stage_ready)
        return 0;
    /* Columns and defaults only: a copy of agent_actions' CHECK
     * constraints would be the ones of the moment the session made the
     * table, refusing rows after a constraint was dropped (a dead letter
     * replayed once the cause is fixed) and letting through one added
     * since. The INSERT into agent_actions applies the constraints of the
     * moment; a row it refuses is found by halving (no line number). */
    if (exec_cmd(s,
                 "CREATE TEMP TABLE IF NOT EXISTS aac_stage "
                 "(LIKE agent_actions INCLUDING DEFAULTS) ON COMMIT DELETE ROWS",
                 "could not create the staging table", res) != 0)
        return -1;
    s->stage_ready = true;
    return 0;
}

/* Finds the first bad live row in [lo, hi) by halving, each probe in its
 * own rolled-back transaction. Returns its position, or hi when the range
 * now passes (the error was not reproducible), or (size_t)-1 on failure. */
static size_t bisect(aac_pgsink_t *s, const aac_batch_t *b, size_t lo, size_t hi, bool staging,
                     char sqlstate[6], char *msg, size_t msg_size, aac_pgsink_result_t *res)
{
    size_t good = lo; /* rows [lo, good) pass together */
    size_t bad = hi;  /* rows [lo, bad) fail */
    bool known_bad = false;
    while (bad - good > 1 || !known_bad) {
        size_t mid = known_bad ? good + (bad - good) / 2 : hi;
        size_t line, ins;
        char st[6], m[256];
        if (exec_cmd(s, "BEGIN", "could not begin", res) != 0)
            return (size_t)-1;
        send_t r = send_rows(s, b, lo, mid, staging, &line, st, m, sizeof(m), &ins, res);
        if (r == SEND_FAILED)
            return (size_t)-1;
        if (exec_cmd(s, "ROLLBACK", "could not roll back", res) != 0)
            return (size_t)-1;
        if (r == SEND_OK) {
            if (!known_bad)
                return hi;
            good = mid;
        } else {
            bad = mid;
            known_bad = true;
            snprintf(sqlstate, 6, "%s", st);
            snprintf(msg, msg_size, "%s", m);
            if (line >= 1 && line <= mid - lo)
                return lo + line - 1;
        }
    }
    return good;
}

/* Formats a PostgreSQL array literal of booleans. */
static char *bool_array(const aac_batch_part_t *part, size_t cnt)
{
    char *buf = malloc(cnt * 2 + 3), *o = buf;
    if (!buf)
        return NULL;
    *o++ = '{';
    for (size_t i = 0; i < cnt; i++) {
        if (i)
            *o++ = ',';
        *o++ = part[i].rewind ? 't' : 'f';
    }
    *o++ = '}';
    *o = '\0';
    return buf;
}

/* The statement that ends every batch: the offsets' fence, and what the
 * batch adds to the rollups and the hourly counts (rollup.h), built once.
 * The fence: a partition's row is updated only while it still holds the
 * offset this instance last read or wrote, and never to a smaller offset
 * (unless the log started over: r); a partition new to the table is
 * inserted only if nobody inserted it meanwhile. When it does not match,
 * the caller rolls the whole transaction back, rollups included. */
static const char *commit_sql(aac_pgsink_t *s)
{
    static const char head[] =
        "WITH t AS (SELECT * FROM unnest($2::text[], $3::int[], $4::bigint[], $5::bigint[],"
        " $6::bool[]) AS t(topic, p, n, s, r)), ";
    static const char tail[] =
        "u AS (UPDATE consumer_offsets c SET next_offset = t.n, updated_at = now() FROM t"
        " WHERE c.consumer_group = $1 AND c.topic = t.topic AND c.kafka_partition = t.p"
        " AND c.next_offset = t.s AND (t.n >= c.next_offset OR t.r) RETURNING 1),"
        " i AS (INSERT INTO consumer_offsets (consumer_group, topic, kafka_partition, next_offset)"
        " SELECT $1, t.topic, t.p, t.n FROM t WHERE t.s < 0 ON CONFLICT DO NOTHING RETURNING 1)"
        " SELECT (SELECT count(*) FROM u) + (SELECT count(*) FROM i)";
    if (s->commit_sql)
        return s->commit_sql;
    size_t size = sizeof(head) + AAC_ROLLUP_SQL_MAX + sizeof(tail);
    char *sql = malloc(size);
    if (!sql)
        return NULL;
    memcpy(sql, head, sizeof(head));
    int n = aac_rollup_sql(sql + sizeof(head) - 1, AAC_ROLLUP_SQL_MAX, 7, s->cfg->rollups.enabled);
    if (n < 0) {
        free(sql);
        return NULL;
    }
    memcpy(sql + sizeof(head) - 1 + n, tail, sizeof(tail));
    return s->commit_sql = sql;
}

/* The topic of a batch's message. */
static const char *item_topic(const aac_batch_t *b, size_t item)
{
    return rd_kafka_topic_name(aac_batch_message(b, item)->rkt);
}

/* What the batch adds to the rollups: the rows the open transaction
 * inserted (a duplicate counts nowhere), its dead letters, what it
 * consumed, by source topic. */
static int build_rollup(aac_pgsink_t *s, const aac_batch_t *b)
{
    aac_rollup_t *r = s->rollup;
    aac_rollup_begin(r, aac_batch_groups(b));
    for (size_t i = 0; i < s->staged_live; i++) {
        size_t row = s->live[i];
        bool ins = s->staged_all || s->inserted[row];
        if (aac_rollup_consumed(r, item_topic(b, aac_batch_row_item(b, row)), 0, ins, !ins) != 0)
            return -1;
        if (!ins || !s->cfg->rollups.enabled)
            continue;
        aac_rollup_row_t rr = aac_batch_rollup_row(b, row);
        if (aac_rollup_add(r, &rr) != 0)
            return -1;
    }
    for (size_t i = 0; i < aac_batch_reject_count(b); i++) {
        const aac_batch_reject_t *rj = aac_batch_reject(b, i);
        if (aac_rollup_dead_letters(r, item_topic(b, rj->item), aac_reason_str(rj->reason), 1))
            return -1;
    }
    for (size_t i = 0; i < aac_batch_count(b); i++)
        if (aac_rollup_consumed(r, item_topic(b, i), 1, 0, 0) != 0)
            return -1;
    return 0;
}

/* Stores the batch's offsets, its rollups and counts in the open
 * transaction, in one statement. */
static int store_batch(aac_pgsink_t *s, const aac_batch_t *b, const char *group,
                       aac_pgsink_result_t *res)
{
    size_t cnt = aac_batch_part_count(b), n = cnt ? cnt : 1;
    const aac_batch_part_t *part = aac_batch_parts_const(b);
    int32_t *parts = malloc(n * sizeof(*parts));
    int64_t *next = malloc(n * sizeof(*next)), *old = malloc(n * sizeof(*old));
    char *a = NULL, *bb = NULL, *c = NULL, *r = NULL, *t = NULL;
    const char *params[6 + AAC_ROLLUP_PARAMS];
    const char *sql = commit_sql(s);
    int rc = -1, np;
    int64_t t0 = aac_mono_ms();
    if (!parts || !next || !old || !sql)
        goto oom;
    for (size_t i = 0; i < cnt; i++) {
        parts[i] = part[i].partition;
        next[i] = part[i].next;
        old[i] = part[i].expected_old;
    }
    a = int_array(NULL, parts, cnt);
    bb = int_array(next, NULL, cnt);
    c = int_array(old, NULL, cnt);
    r = bool_array(part, cnt);
    t = text_array(part_topic, part, cnt);
    if (!a || !bb || !c || !r || !t || build_rollup(s, b) != 0 ||
        (np = aac_rollup_params(s->rollup, params + 6, s->cfg->rollups.enabled)) < 0)
        goto oom;
    res->rollup_keys = aac_rollup_keys(s->rollup);
    if (refused(s, res))
        goto out;
    params[0] = group;
    params[1] = t;
    params[2] = a;
    params[3] = bb;
    params[4] = c;
    params[5] = r;
    PGresult *pr;
    if (!s->commit_prepared) {
        pr = PQprepare(s->conn, COMMIT_STMT, sql, 0, NULL);
        res->round_trips++;
        if (PQresultStatus(pr) != PGRES_COMMAND_OK) {
            fail_from(s, pr, "could not prepare the offsets and rollups statement", res);
            PQclear(pr);
            goto out;
        }
        PQclear(pr);
        s->commit_prepared = true;
    }
    pr = PQexecPrepared(s->conn, COMMIT_STMT, 6 + np, params, NULL, NULL, 0);
    res->round_trips++;
    res->rollup_secs = (double)(aac_mono_ms() - t0) / 1000.0;
    if (PQresultStatus(pr) != PGRES_TUPLES_OK) {
        fail_from(s, pr, "could not store the offsets and rollups", res);
        PQclear(pr);
        goto out;
    }
    size_t stored = strtoul(PQgetvalue(pr, 0, 0), NULL, 10);
    PQclear(pr);
    if (stored != cnt) {
        res->fenced = true;
        res->cls = AAC_CLASS_TRANSIENT;
        snprintf(res->errstr, sizeof(res->errstr),
                 "stored offsets changed under this instance (%zu of %zu partitions matched "
                 "the offset this instance expected, moving forward): another consumer wrote "
                 "them; the batch is dropped",
                 stored, cnt);
        goto out;
    }
    rc = 0;
    goto out;
oom:
    res->cls = AAC_CLASS_TRANSIENT;
    snprintf(res->errstr, sizeof(res->errstr), "out of memory");
out:
    free(parts);
    free(next);
    free(old);
    free(a);
    free(bb);
    free(c);
    free(r);
    free(t);
    return rc;
}

static int out_of_memory(aac_pgsink_result_t *res)
{
    res->cls = AAC_CLASS_TRANSIENT;
    snprintf(res->errstr, sizeof(res->errstr), "out of memory");
    return -1;
}

/* Rolls back whatever is open; the connection stays when it still works. */
static void rollback(aac_pgsink_t *s)
{
    if (s->conn && PQtransactionStatus(s->conn) != PQTRANS_IDLE && !refused(s, NULL))
        PQclear(PQexec(s->conn, "ROLLBACK"));
}

int aac_pgsink_stage(aac_pgsink_t *s, aac_batch_t *b, aac_pgsink_result_t *res)
{
    bool staging = s->staging_left > 0;
    size_t live, ins = 0;
    memset(res, 0, sizeof(*res));
    if (aac_pgsink_connect(s, res) != 0)
        return -1;

    for (;;) {
        size_t line = 0;
        char st[6] = "", msg[256] = "";
        live = rows_live(s, b);
        if (live == (size_t)-1)
            return out_of_memory(res);
        if (staging && ensure_stage(s, res) != 0)
            return -1;
        s->begin_pending = true;
        send_t r = send_rows(s, b, 0, live, staging, &line, st, msg, sizeof(msg), &ins, res);
        if (r == SEND_OK && s->begin_pending) { /* nothing to copy */
            s->begin_pending = false;
            if (exec_cmd(s, "BEGIN", "could not begin a transaction", res) != 0)
                return -1;
        }
        if (r == SEND_OK)
            break;
        if (r == SEND_FAILED) {
            rollback(s);
            return -1;
        }
        if (exec_cmd(s, "ROLLBACK", "could not roll back", res) != 0)
            return -1;
        if (r == SEND_DUPLICATE && !staging) {
            staging = true;
            aac_debug("duplicate event in batch, writing through the staging table");
            continue;
        }
        /* a row-level error: isolate the row and try again without it */
        size_t bad;
        if (line >= 1 && line <= live) {
            bad = line - 1;
        } else {
            bad = bisect(s, b, 0, live, staging, st, msg, sizeof(msg), res);
            if (bad == (size_t)-1) {
                rollback(s); /* a probe's transaction may be open, aborted */
                return -1;
            }
            if (bad >= live)
                continue; /* passed this time: write it */
        }
        size_t row = s->live[bad];
        if (aac_batch_reject_row(b, row, AAC_REASON_DB_REJECTED, st, msg, 1) != 0)
            return out_of_memory(res);
        res->rejected++;
        const rd_kafka_message_t *rkm = aac_batch_message(b, aac_batch_row_item(b, row));
        aac_warn("row rejected by the database", AAC_KV_INT("partition", rkm->partition),
                 AAC_KV_INT("offset", rkm->offset), AAC_KV_STR("sqlstate", st));
    }
    s->staged_live = live;
    s->staged_inserted = ins;
    s->staged_through_stage = staging;
    s->staged_all = !staging;
    if (staging && mark_inserted(s, b, live) != 0) {
        rollback(s);
        return out_of_memory(res);
    }
    return 0;
}

int aac_pgsink_commit(aac_pgsink_t *s, const aac_batch_t *b, const char *group,
                      aac_pgsink_result_t *res)
{
    if (store_batch(s, b, group, res) != 0) {
        rollback(s);
        return -1;
    }
    /* the turn goes with the commit: no round trip of its own */
    if (exec_cmd(s, s->turn_held ? "COMMIT; SELECT pg_advisory_unlock_all()" : "COMMIT",
                 "could not commit", res) != 0)
        return -1;
    s->turn_held = false;
    res->inserted = s->staged_inserted;
    res->duplicates = s->staged_live - s->staged_inserted;
    if (s->staged_through_stage)
        s->staging_left = res->duplicates ? STAGING_STICKY_BATCHES : s->staging_left - 1;
    return 0;
}

void aac_pgsink_rollback(aac_pgsink_t *s)
{
    rollback(s);
}

int aac_pgsink_take_turn(aac_pgsink_t *s, int32_t instance, uint64_t batch,
                         aac_pgsink_result_t *res)
{
    char k1[16], k2[16];
    snprintf(k1, sizeof(k1), "%" PRId32, instance);
    snprintf(k2, sizeof(k2), "%" PRId32, (int32_t)(uint32_t)batch);
    const char *params[2] = {k1, k2};
    if (aac_pgsink_connect(s, res) != 0)
        return -1;
    PGresult *pr = PQexecParams(s->conn, "SELECT pg_advisory_lock($1::int, $2::int)", 2, NULL,
                                params, NULL, NULL, 0);
    res->round_trips++;
    if (PQresultStatus(pr) != PGRES_TUPLES_OK) {
        fail_from(s, pr, "could not take the batch's turn", res);
        PQclear(pr);
        return -1;
    }
    PQclear(pr);
    s->turn_held = true;
    return 0;
}

int aac_pgsink_await_turn(aac_pgsink_t *s, int32_t instance, uint64_t batch,
                          aac_pgsink_result_t *res)
{
    char k1[16], k2[16];
    snprintf(k1, sizeof(k1), "%" PRId32, instance);
    snprintf(k2, sizeof(k2), "%" PRId32, (int32_t)(uint32_t)batch);
    const char *params[2] = {k1, k2};
    if (aac_pgsink_connect(s, res) != 0)
        return -1;
    /* shared, and let go at once: several may wait for the same turn */
    PGresult *pr = PQexecParams(s->conn,
                                "SELECT pg_advisory_lock_shared($1::int, $2::int), "
                                "pg_advisory_unlock_shared($1::int, $2::int)",
                                2, NULL, params, NULL, NULL, 0);
    res->round_trips++;
    if (PQresultStatus(pr) != PGRES_TUPLES_OK) {
        fail_from(s, pr, "could not wait for the earlier batch", res);
        PQclear(pr);
        return -1;
    }
    PQclear(pr);
    return 0;
}

int64_t aac_pgsink_stmt_at(aac_pgsink_t *s)
{
    return atomic_load_explicit(&s->stmt_at, memory_order_relaxed);
}

void aac_pgsink_release_turn(aac_pgsink_t *s)
{
    if (!s->turn_held)
        return;
    s->turn_held = false;
    /* a connection that is gone took the lock with it */
    if (connected(s) && !refused(s, NULL))
        PQclear(PQexec(s->conn, "SELECT pg_advisory_unlock_all()"));
}
