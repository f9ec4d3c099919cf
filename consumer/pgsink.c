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
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "aac/log.h"
#include "aac/pgconn.h"

/* Batches written through the staging table after the last duplicate seen,
 * before trying the direct COPY again. */
#define STAGING_STICKY_BATCHES 50

#define COLUMNS                                                                                    \
    "event_id, correlation_id, session_id, agent_name, action_type, action_name, "                 \
    "action_details, duration_ms, debug_mode, project_path, project_name, working_directory, "     \
    "event_time, extra, kafka_topic, kafka_partition, kafka_offset"

typedef struct row_s {
    size_t off; /* into buf */
    size_t len;
    size_t tag;
    int reject; /* index into rej, -1 when not rejected */
    int32_t partition;
    bool written; /* committed by an earlier call that failed elsewhere */
    uint64_t key; /* hash of the primary key (event_id, event_time) */
} row_t;

struct aac_rows_s {
    char *buf;
    size_t len, cap;
    row_t *row;
    size_t cnt, rcap;
    aac_row_reject_t *rej;
    size_t rej_cnt, rej_cap;
    size_t written_cnt;
};

struct aac_pgsink_s {
    const aac_config_t *cfg;
    PGconn *conn;
    bool stage_ready; /* the temporary staging table exists on conn */
    int staging_left; /* batches still to write through staging */
    size_t *live;     /* scratch: indexes of the rows this sink sends */
    size_t live_cap;
    /* writers 1.. (this sink is writer 0): their own connections, used
     * for the parts of a batch that are written in parallel */
    aac_pgsink_t *peer[AAC_PGSINK_MAX_WRITERS - 1];
    int writers;
    uint8_t *lane_of; /* scratch: partition -> writer */
    size_t lane_cap;
    uint32_t *slot; /* scratch: partition -> index in the offsets */
    size_t slot_cap;
    uint64_t *keys;    /* scratch: open-addressing set of row keys, with... */
    uint8_t *key_lane; /* ...the writer each key goes to */
    size_t keys_cap;
};

/* --- rows ------------------------------------------------------------------ */

aac_rows_t *aac_rows_new(void)
{
    return calloc(1, sizeof(aac_rows_t));
}

void aac_rows_destroy(aac_rows_t *rows)
{
    if (!rows)
        return;
    free(rows->buf);
    free(rows->row);
    free(rows->rej);
    free(rows);
}

void aac_rows_reset(aac_rows_t *rows)
{
    rows->len = 0;
    rows->cnt = 0;
    rows->rej_cnt = 0;
    rows->written_cnt = 0;
}

size_t aac_rows_count(const aac_rows_t *rows)
{
    return rows->cnt;
}

size_t aac_rows_tag(const aac_rows_t *rows, size_t i)
{
    return rows->row[i].tag;
}

const aac_row_reject_t *aac_rows_rejected(const aac_rows_t *rows, size_t i)
{
    return rows->row[i].reject < 0 ? NULL : &rows->rej[rows->row[i].reject];
}

bool aac_rows_written(const aac_rows_t *rows, size_t i)
{
    return rows->row[i].written;
}

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t n = *cap ? *cap : 64;
    while (n < need)
        n *= 2;
    void *q = realloc(*p, n * elem);
    if (!q)
        return -1;
    *p = q;
    *cap = n;
    return 0;
}

/* COPY text format: backslash, tab, newline and carriage return escaped. */
static char *put_escaped(char *o, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        switch (c) {
        case '\\':
            *o++ = '\\';
            *o++ = '\\';
            break;
        case '\t':
            *o++ = '\\';
            *o++ = 't';
            break;
        case '\n':
            *o++ = '\\';
            *o++ = 'n';
            break;
        case '\r':
            *o++ = '\\';
            *o++ = 'r';
            break;
        default:
            *o++ = c;
        }
    }
    return o;
}

static char *put_str(char *o, aac_str_t s)
{
    if (!s.ptr)
        return memcpy(o, "\\N", 2), o + 2;
    return put_escaped(o, s.ptr, s.len);
}

static char *put_lit(char *o, const char *s)
{
    size_t n = strlen(s);
    memcpy(o, s, n);
    return o + n;
}

static char *put_i64(char *o, int64_t v)
{
    char tmp[24];
    int n = 0;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    if (v < 0)
        *o++ = '-';
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    while (n)
        *o++ = tmp[--n];
    return o;
}

static char *put_2(char *o, int v)
{
    *o++ = (char)('0' + v / 10);
    *o++ = (char)('0' + v % 10);
    return o;
}

/* Microseconds since the epoch as "YYYY-MM-DD HH:MM:SS.ffffff+00", by
 * Howard Hinnant's days-to-civil algorithm (no time_t, no locale). */
static char *put_timestamp(char *o, int64_t us)
{
    int64_t secs = us >= 0 ? us / 1000000 : -((-us + 999999) / 1000000);
    int64_t frac = us - secs * 1000000;
    int64_t days = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400);
    int64_t sod = secs - days * 86400;
    int64_t z = days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = yoe + era * 400;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int d = (int)(doy - (153 * mp + 2) / 5 + 1);
    int m = (int)(mp < 10 ? mp + 3 : mp - 9);
    y += m <= 2;
    o = put_2(o, (int)(y / 100));
    o = put_2(o, (int)(y % 100));
    *o++ = '-';
    o = put_2(o, m);
    *o++ = '-';
    o = put_2(o, d);
    *o++ = ' ';
    o = put_2(o, (int)(sod / 3600));
    *o++ = ':';
    o = put_2(o, (int)(sod / 60 % 60));
    *o++ = ':';
    o = put_2(o, (int)(sod % 60));
    *o++ = '.';
    for (int64_t div = 100000; div; div /= 10)
        *o++ = (char)('0' + frac / div % 10);
    return put_lit(o, "+00");
}

/* A 64-bit hash of the row's primary key (FNV-1a over event_id and the
 * timestamp): equal keys, equal hashes; a collision only costs a batch
 * written through one connection (see plan_lanes). */
static uint64_t row_key(const aac_event_t *ev)
{
    uint64_t h = 1469598103934665603ull;
    for (int i = 0; i < 16; i++)
        h = (h ^ ev->event_id[i]) * 1099511628211ull;
    uint64_t t = (uint64_t)ev->timestamp_us;
    for (int i = 0; i < 8; i++, t >>= 8)
        h = (h ^ (t & 0xff)) * 1099511628211ull;
    return h | 1; /* 0 marks an empty slot */
}

int aac_rows_add(aac_rows_t *rows, const aac_event_t *ev, const char *topic, int32_t partition,
                 int64_t offset, size_t tag)
{
    size_t tlen = strlen(topic);
    /* escaping at most doubles a field; the rest is bounded by 256 bytes */
    size_t bound = 2 * (ev->agent_name.len + ev->action_name.len + ev->action_details.len +
                        ev->project_path.len + ev->project_name.len + ev->working_directory.len +
                        ev->extra.len + tlen) +
                   512;
    if (grow((void **)&rows->buf, &rows->cap, rows->len + bound, 1) != 0 ||
        grow((void **)&rows->row, &rows->rcap, rows->cnt + 1, sizeof(row_t)) != 0)
        return -1;

    char *start = rows->buf + rows->len, *o = start;
    char uuid[37];
    aac_uuid_format(ev->event_id, uuid);
    o = put_lit(o, uuid);
    *o++ = '\t';
    aac_uuid_format(ev->correlation_id, uuid);
    o = put_lit(o, uuid);
    *o++ = '\t';
    if (ev->has_session_id) {
        aac_uuid_format(ev->session_id, uuid);
        o = put_lit(o, uuid);
    } else {
        o = put_lit(o, "\\N");
    }
    *o++ = '\t';
    o = put_str(o, ev->agent_name);
    *o++ = '\t';
    o = put_lit(o, aac_action_type_str(ev->action_type));
    *o++ = '\t';
    o = put_str(o, ev->action_name);
    *o++ = '\t';
    if (ev->action_details.ptr && ev->action_details.len)
        o = put_escaped(o, ev->action_details.ptr, ev->action_details.len);
    else
        o = put_lit(o, "{}");
    *o++ = '\t';
    o = ev->has_duration_ms ? put_i64(o, ev->duration_ms) : put_lit(o, "\\N");
    *o++ = '\t';
    o = put_lit(o, ev->debug_mode < 0 ? "\\N" : ev->debug_mode ? "t" : "f");
    *o++ = '\t';
    o = put_str(o, ev->project_path);
    *o++ = '\t';
    o = put_str(o, ev->project_name);
    *o++ = '\t';
    o = put_str(o, ev->working_directory);
    *o++ = '\t';
    o = put_timestamp(o, ev->timestamp_us);
    *o++ = '\t';
    if (ev->extra.len)
        o = put_escaped(o, ev->extra.ptr, ev->extra.len);
    else
        o = put_lit(o, "\\N");
    *o++ = '\t';
    o = put_escaped(o, topic, tlen);
    *o++ = '\t';
    o = put_i64(o, partition);
    *o++ = '\t';
    o = put_i64(o, offset);
    *o++ = '\n';

    row_t *r = &rows->row[rows->cnt++];
    r->key = row_key(ev);
    r->off = rows->len;
    r->len = (size_t)(o - start);
    r->tag = tag;
    r->reject = -1;
    r->partition = partition;
    r->written = false;
    rows->len += r->len;
    return 0;
}

int aac_rows_reject(aac_rows_t *rows, size_t i, aac_reason_t reason, const char *sqlstate,
                    const char *msg)
{
    if (grow((void **)&rows->rej, &rows->rej_cap, rows->rej_cnt + 1, sizeof(aac_row_reject_t)))
        return -1;
    aac_row_reject_t *rj = &rows->rej[rows->rej_cnt];
    rj->reason = reason;
    snprintf(rj->sqlstate, sizeof(rj->sqlstate), "%s", sqlstate);
    snprintf(rj->message, sizeof(rj->message), "%s", msg);
    rows->row[i].reject = (int)rows->rej_cnt++;
    return 0;
}

size_t aac_rows_live(const aac_rows_t *rows)
{
    return rows->cnt - rows->rej_cnt - rows->written_cnt;
}

/* Fills s->live with the rows still to write (neither rejected nor
 * written), of writer `lane`'s partitions when s->lane_of is given;
 * returns their count, or (size_t)-1 when out of memory. */
static size_t rows_live(aac_pgsink_t *s, const aac_rows_t *rows, const uint8_t *lane_of, int lane)
{
    size_t n = 0;
    if (grow((void **)&s->live, &s->live_cap, rows->cnt ? rows->cnt : 1, sizeof(size_t)))
        return (size_t)-1;
    for (size_t i = 0; i < rows->cnt; i++) {
        const row_t *r = &rows->row[i];
        if (r->reject < 0 && !r->written && (!lane_of || lane_of[r->partition] == lane))
            s->live[n++] = i;
    }
    return n;
}

/* --- the sink --------------------------------------------------------------- */

static aac_pgsink_t *sink_new(const aac_config_t *cfg)
{
    aac_pgsink_t *s = calloc(1, sizeof(*s));
    if (s) {
        s->cfg = cfg;
        s->writers = 1;
    }
    return s;
}

aac_pgsink_t *aac_pgsink_new(const aac_config_t *cfg)
{
    aac_pgsink_t *s = sink_new(cfg);
    if (!s)
        return NULL;
    int w = cfg->batch.writers;
    w = w < 1 ? 1 : w > AAC_PGSINK_MAX_WRITERS ? AAC_PGSINK_MAX_WRITERS : w;
    for (int i = 1; i < w; i++) {
        if (!(s->peer[i - 1] = sink_new(cfg))) {
            aac_pgsink_destroy(s);
            return NULL;
        }
    }
    s->writers = w;
    return s;
}

static void disconnect(aac_pgsink_t *s)
{
    if (s->conn)
        PQfinish(s->conn);
    s->conn = NULL;
    s->stage_ready = false;
}

void aac_pgsink_destroy(aac_pgsink_t *s)
{
    if (!s)
        return;
    for (int i = 0; i < AAC_PGSINK_MAX_WRITERS - 1; i++)
        aac_pgsink_destroy(s->peer[i]);
    disconnect(s);
    free(s->live);
    free(s->lane_of);
    free(s->slot);
    free(s->keys);
    free(s->key_lane);
    free(s);
}

static bool connected(const aac_pgsink_t *s)
{
    return s->conn && PQstatus(s->conn) == CONNECTION_OK;
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
    return 0;
}

/* Runs a command; returns 0 or -1 with *res filled. */
static int exec_cmd(aac_pgsink_t *s, const char *sql, const char *what, aac_pgsink_result_t *res)
{
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
    static const char sql[] =
        "SELECT to_regclass('agent_actions') IS NOT NULL, "
        "       to_regclass('consumer_offsets') IS NOT NULL, "
        "       to_regclass('agent_actions') IS NOT NULL AND "
        "         has_table_privilege('agent_actions', 'INSERT') AND "
        "         has_table_privilege('consumer_offsets', 'SELECT, INSERT, UPDATE')";
    memset(res, 0, sizeof(*res));
    if (aac_pgsink_connect(s, res) != 0)
        return -1;
    PGresult *pr = PQexec(s->conn, sql);
    if (PQresultStatus(pr) != PGRES_TUPLES_OK) {
        fail_from(s, pr, "could not check the schema", res);
        PQclear(pr);
        return -1;
    }
    bool have_actions = PQgetvalue(pr, 0, 0)[0] == 't';
    bool have_offsets = PQgetvalue(pr, 0, 1)[0] == 't';
    bool may_write = PQgetvalue(pr, 0, 2)[0] == 't';
    PQclear(pr);
    if (!have_actions || !have_offsets) {
        snprintf(res->sqlstate, sizeof(res->sqlstate), "42P01");
        res->cls = aac_classify_sqlstate(res->sqlstate);
        snprintf(res->errstr, sizeof(res->errstr),
                 "relation \"%s\" does not exist: apply the migrations first "
                 "(agent-actions-consumer migrate up)",
                 have_actions ? "consumer_offsets" : "agent_actions");
        return -1;
    }
    if (!may_write) {
        snprintf(res->sqlstate, sizeof(res->sqlstate), "42501");
        res->cls = aac_classify_sqlstate(res->sqlstate);
        snprintf(res->errstr, sizeof(res->errstr),
                 "permission denied: the database user needs INSERT on agent_actions and "
                 "SELECT, INSERT, UPDATE on consumer_offsets");
        return -1;
    }
    return 0;
}

/* Formats a PostgreSQL array literal of integers. */
static char *int_array(const int64_t *v, const int32_t *v32, size_t cnt)
{
    char *buf = malloc(cnt * 21 + 3), *o = buf;
    if (!buf)
        return NULL;
    *o++ = '{';
    for (size_t i = 0; i < cnt; i++) {
        if (i)
            *o++ = ',';
        o = put_i64(o, v ? v[i] : v32[i]);
    }
    *o++ = '}';
    *o = '\0';
    return buf;
}

int aac_pgsink_fetch_offsets(aac_pgsink_t *s, const char *group, const char *topic,
                             const int32_t *partitions, size_t cnt, int64_t *offsets,
                             aac_pgsink_result_t *res)
{
    static const char sql[] = "SELECT kafka_partition, next_offset FROM consumer_offsets "
                              "WHERE consumer_group = $1 AND topic = $2 "
                              "AND kafka_partition = ANY ($3::int[])";
    memset(res, 0, sizeof(*res));
    for (size_t i = 0; i < cnt; i++)
        offsets[i] = -1;
    if (aac_pgsink_connect(s, res) != 0)
        return -1;
    char *parts = int_array(NULL, partitions, cnt);
    if (!parts) {
        res->cls = AAC_CLASS_TRANSIENT;
        snprintf(res->errstr, sizeof(res->errstr), "out of memory");
        return -1;
    }
    const char *params[3] = {group, topic, parts};
    PGresult *pr = PQexecParams(s->conn, sql, 3, NULL, params, NULL, NULL, 0);
    free(parts);
    if (PQresultStatus(pr) != PGRES_TUPLES_OK) {
        fail_from(s, pr, "could not read the stored offsets", res);
        PQclear(pr);
        return -1;
    }
    for (int r = 0; r < PQntuples(pr); r++) {
        int32_t p = (int32_t)strtol(PQgetvalue(pr, r, 0), NULL, 10);
        int64_t off = strtoll(PQgetvalue(pr, r, 1), NULL, 10);
        for (size_t i = 0; i < cnt; i++)
            if (partitions[i] == p)
                offsets[i] = off;
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
static send_t copy_rows(aac_pgsink_t *s, aac_rows_t *rows, size_t lo, size_t hi, const char *table,
                        size_t *bad_line, char sqlstate[6], char *msg, size_t msg_size,
                        aac_pgsink_result_t *res)
{
    char sql[sizeof(COLUMNS) + 64];
    PGresult *pr;
    snprintf(sql, sizeof(sql), "COPY %s (" COLUMNS ") FROM STDIN", table);
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
    int ok = 1;
    while (i < hi && ok == 1) {
        size_t first = s->live[i], last = first;
        while (i + 1 < hi && s->live[i + 1] == last + 1) {
            i++;
            last++;
        }
        const row_t *a = &rows->row[first], *b = &rows->row[last];
        ok = put_copy_data(s->conn, rows->buf + a->off, b->off + b->len - a->off);
        i++;
    }
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
            out = !strcmp(sqlstate, "23505") ? SEND_DUPLICATE : SEND_ROW_ERROR;
            const char *ctx = PQresultErrorField(pr, PG_DIAG_CONTEXT);
            const char *ln = ctx ? strstr(ctx, ", line ") : NULL;
            *bad_line = ln ? (size_t)strtoul(ln + 7, NULL, 10) : 0;
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

/* Sends live rows [lo, hi) by the current path (direct or staging). */
static send_t send_rows(aac_pgsink_t *s, aac_rows_t *rows, size_t lo, size_t hi, bool staging,
                        size_t *bad_line, char sqlstate[6], char *msg, size_t msg_size,
                        size_t *inserted, aac_pgsink_result_t *res)
{
    *bad_line = 0;
    *inserted = 0;
    if (lo >= hi)
        return SEND_OK;
    if (!staging) {
        send_t r =
            copy_rows(s, rows, lo, hi, "agent_actions", bad_line, sqlstate, msg, msg_size, res);
        if (r == SEND_OK)
            *inserted = hi - lo;
        return r;
    }
    send_t r = copy_rows(s, rows, lo, hi, "aac_stage", bad_line, sqlstate, msg, msg_size, res);
    if (r != SEND_OK)
        return r;
    PGresult *pr = PQexec(s->conn, "INSERT INTO agent_actions (" COLUMNS ") SELECT " COLUMNS
                                   " FROM aac_stage ON CONFLICT DO NOTHING");
    res->round_trips++;
    if (PQresultStatus(pr) != PGRES_COMMAND_OK) {
        aac_pgconn_result_error(pr, s->conn, sqlstate, msg, msg_size);
        if (aac_classify_sqlstate_is_row_error(sqlstate)) {
            PQclear(pr);
            return SEND_ROW_ERROR; /* no line: the caller halves */
        }
        fail_from(s, pr, "could not insert the batch", res);
        PQclear(pr);
        return SEND_FAILED;
    }
    *inserted = strtoul(PQcmdTuples(pr), NULL, 10);
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
    /* CHECK constraints too, so that COPY names the failing line */
    if (exec_cmd(s,
                 "CREATE TEMP TABLE IF NOT EXISTS aac_stage "
                 "(LIKE agent_actions INCLUDING DEFAULTS INCLUDING CONSTRAINTS) "
                 "ON COMMIT DELETE ROWS",
                 "could not create the staging table", res) != 0)
        return -1;
    s->stage_ready = true;
    return 0;
}

/* Finds the first bad live row in [lo, hi) by halving, each probe in its
 * own rolled-back transaction. Returns its position, or hi when the range
 * now passes (the error was not reproducible), or (size_t)-1 on failure. */
static size_t bisect(aac_pgsink_t *s, aac_rows_t *rows, size_t lo, size_t hi, bool staging,
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
        send_t r = send_rows(s, rows, lo, mid, staging, &line, st, m, sizeof(m), &ins, res);
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

/* Stores the offsets of writer `lane`'s partitions (all when lane_of is
 * NULL) in the open transaction. */
static int store_offsets(aac_pgsink_t *s, const char *group, const char *topic,
                         const aac_pgsink_offset_t *offs, size_t offs_cnt, const uint8_t *lane_of,
                         int lane, aac_pgsink_result_t *res)
{
    /* The fence: a partition's row is updated only while it still holds the
     * offset this instance last read or wrote; a partition new to the table
     * is inserted only if nobody inserted it meanwhile. */
    static const char sql[] =
        "WITH t AS (SELECT * FROM unnest($3::int[], $4::bigint[], $5::bigint[]) AS t(p, n, s)),"
        " u AS (UPDATE consumer_offsets c SET next_offset = t.n, updated_at = now() FROM t"
        "       WHERE c.consumer_group = $1 AND c.topic = $2 AND c.kafka_partition = t.p"
        "         AND c.next_offset = t.s RETURNING 1),"
        " i AS (INSERT INTO consumer_offsets (consumer_group, topic, kafka_partition, "
        "next_offset)"
        "       SELECT $1, $2, t.p, t.n FROM t WHERE t.s < 0"
        "       ON CONFLICT DO NOTHING RETURNING 1)"
        " SELECT (SELECT count(*) FROM u) + (SELECT count(*) FROM i)";
    size_t cnt = 0, n = offs_cnt ? offs_cnt : 1;
    int32_t *parts = malloc(n * sizeof(*parts));
    int64_t *next = malloc(n * sizeof(*next)), *old = malloc(n * sizeof(*old));
    char *a = NULL, *b = NULL, *c = NULL;
    int rc = -1;
    if (!parts || !next || !old)
        goto oom;
    for (size_t i = 0; i < offs_cnt; i++) {
        if (lane_of && lane_of[offs[i].partition] != lane)
            continue;
        parts[cnt] = offs[i].partition;
        next[cnt] = offs[i].next_offset;
        old[cnt++] = offs[i].expected_old;
    }
    if (!cnt) {
        rc = 0;
        goto out;
    }
    a = int_array(NULL, parts, cnt);
    b = int_array(next, NULL, cnt);
    c = int_array(old, NULL, cnt);
    if (!a || !b || !c)
        goto oom;
    const char *params[5] = {group, topic, a, b, c};
    PGresult *pr = PQexecParams(s->conn, sql, 5, NULL, params, NULL, NULL, 0);
    res->round_trips++;
    if (PQresultStatus(pr) != PGRES_TUPLES_OK) {
        fail_from(s, pr, "could not store the offsets", res);
        PQclear(pr);
        goto out;
    }
    size_t stored = strtoul(PQgetvalue(pr, 0, 0), NULL, 10);
    PQclear(pr);
    if (stored != cnt) {
        res->fenced = true;
        res->cls = AAC_CLASS_TRANSIENT;
        snprintf(res->errstr, sizeof(res->errstr),
                 "stored offsets changed under this instance (%zu of %zu partitions matched): "
                 "another consumer wrote them; the batch is dropped",
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
    free(b);
    free(c);
    return rc;
}

static int out_of_memory(aac_pgsink_result_t *res)
{
    res->cls = AAC_CLASS_TRANSIENT;
    snprintf(res->errstr, sizeof(res->errstr), "out of memory");
    return -1;
}

static int dead_letters_pending(aac_pgsink_result_t *res)
{
    res->cls = AAC_CLASS_TRANSIENT;
    res->dead_letters_pending = true;
    snprintf(res->errstr, sizeof(res->errstr),
             "dead letters of the batch not confirmed yet: not committing");
    return -1;
}

/* Marks the rows in s->live[0, n) written and writer `lane`'s offsets
 * committed, once their transaction has committed. */
static void mark_committed(aac_pgsink_t *s, aac_rows_t *rows, size_t n, aac_pgsink_offset_t *offs,
                           size_t offs_cnt, const uint8_t *lane_of, int lane)
{
    for (size_t i = 0; i < n; i++)
        rows->row[s->live[i]].written = true;
    rows->written_cnt += n;
    for (size_t i = 0; i < offs_cnt; i++)
        if (!lane_of || lane_of[offs[i].partition] == lane)
            offs[i].committed = true;
}

/* Writes writer `lane`'s rows and offsets (all of them when lane_of is
 * NULL) in one transaction on s's connection, isolating the rows the
 * database rejects. *staging says which path to take and is set when a
 * duplicate moved the write to the staging table. Adds to *res. */
static int write_serial(aac_pgsink_t *s, aac_rows_t *rows, const uint8_t *lane_of, int lane,
                        const char *group, const char *topic, aac_pgsink_offset_t *offsets,
                        size_t offset_cnt, bool *staging,
                        aac_pgsink_before_commit_cb *before_commit, void *opaque,
                        aac_pgsink_result_t *res)
{
    size_t live, ins = 0;
    if (aac_pgsink_connect(s, res) != 0)
        return -1;

    for (;;) {
        size_t line = 0;
        char st[6] = "", msg[256] = "";
        live = rows_live(s, rows, lane_of, lane);
        if (live == (size_t)-1)
            return out_of_memory(res);
        if (*staging && ensure_stage(s, res) != 0)
            return -1;
        if (exec_cmd(s, "BEGIN", "could not begin a transaction", res) != 0)
            return -1;
        send_t r = send_rows(s, rows, 0, live, *staging, &line, st, msg, sizeof(msg), &ins, res);
        if (r == SEND_OK)
            break;
        if (r == SEND_FAILED) {
            if (s->conn)
                PQclear(PQexec(s->conn, "ROLLBACK"));
            return -1;
        }
        if (exec_cmd(s, "ROLLBACK", "could not roll back", res) != 0)
            return -1;
        if (r == SEND_DUPLICATE && !*staging) {
            *staging = true;
            aac_debug("duplicate event in batch, writing through the staging table");
            continue;
        }
        /* a row-level error: isolate the row and try again without it */
        size_t bad;
        if (line >= 1 && line <= live) {
            bad = line - 1;
        } else {
            bad = bisect(s, rows, 0, live, *staging, st, msg, sizeof(msg), res);
            if (bad == (size_t)-1)
                return -1;
            if (bad >= live)
                continue; /* passed this time: write it */
        }
        size_t idx = s->live[bad];
        if (aac_rows_reject(rows, idx, AAC_REASON_DB_REJECTED, st, msg) != 0)
            return out_of_memory(res);
        res->rejected++;
        aac_warn("row rejected by the database", AAC_KV_UINT("tag", rows->row[idx].tag),
                 AAC_KV_STR("sqlstate", st));
    }

    if (before_commit && before_commit(opaque, rows) != 0) {
        exec_cmd(s, "ROLLBACK", "could not roll back", res);
        return dead_letters_pending(res);
    }
    if (store_offsets(s, group, topic, offsets, offset_cnt, lane_of, lane, res) != 0) {
        if (s->conn)
            PQclear(PQexec(s->conn, "ROLLBACK"));
        return -1;
    }
    if (exec_cmd(s, "COMMIT", "could not commit", res) != 0)
        return -1;
    res->inserted += ins;
    res->duplicates += live - ins;
    mark_committed(s, rows, live, offsets, offset_cnt, lane_of, lane);
    return 0;
}

/* --- writing in parallel ---------------------------------------------------- */

/* Below this many rows per writer a batch goes through one connection: an
 * extra commit costs more than the parallel COPY gains. */
#define LANE_MIN_ROWS 100

typedef enum { LANE_COMMITTED, LANE_ROW_ERROR, LANE_DUPLICATE, LANE_FAILED } lane_outcome_t;

/* One writer's share of a batch: the rows and offsets of some partitions. */
typedef struct lane_s {
    aac_pgsink_t *sink;
    aac_rows_t *rows; /* shared and only read while the writers run */
    const uint8_t *lane_of;
    int lane;
    const char *group, *topic;
    aac_pgsink_offset_t *offsets; /* shared; each writer only reads */
    size_t offset_cnt;
    bool staging;
    size_t live;
    lane_outcome_t outcome;
    aac_pgsink_result_t res;
} lane_t;

/* The common case, run by each writer at once: COPY, offsets, COMMIT. A
 * row error or duplicate rolls back and is left to write_serial(). */
static void *lane_write(void *arg)
{
    lane_t *l = arg;
    aac_pgsink_t *s = l->sink;
    aac_pgsink_result_t *res = &l->res;
    size_t line, ins;
    char st[6], msg[256];

    l->outcome = LANE_FAILED;
    if (aac_pgsink_connect(s, res) != 0)
        return NULL;
    l->live = rows_live(s, l->rows, l->lane_of, l->lane);
    if (l->live == (size_t)-1) {
        out_of_memory(res);
        return NULL;
    }
    if (l->staging && ensure_stage(s, res) != 0)
        return NULL;
    if (exec_cmd(s, "BEGIN", "could not begin a transaction", res) != 0)
        return NULL;
    send_t r =
        send_rows(s, l->rows, 0, l->live, l->staging, &line, st, msg, sizeof(msg), &ins, res);
    if (r == SEND_OK &&
        store_offsets(s, l->group, l->topic, l->offsets, l->offset_cnt, l->lane_of, l->lane, res) ==
            0 &&
        exec_cmd(s, "COMMIT", "could not commit", res) == 0) {
        res->inserted = ins;
        res->duplicates = l->live - ins;
        l->outcome = LANE_COMMITTED;
        return NULL;
    }
    if (s->conn && PQtransactionStatus(s->conn) != PQTRANS_IDLE)
        PQclear(PQexec(s->conn, "ROLLBACK"));
    if (r == SEND_DUPLICATE)
        l->outcome = LANE_DUPLICATE;
    else if (r == SEND_ROW_ERROR)
        l->outcome = LANE_ROW_ERROR;
    return NULL;
}

static int cmp_load_desc(const void *a, const void *b)
{
    const size_t *x = a, *y = b; /* pairs (rows, offset index) */
    return x[0] < y[0] ? 1 : x[0] > y[0] ? -1 : (x[1] > y[1]) - (x[1] < y[1]);
}

/* Whether one primary key (event_id, event_time) has rows going to two
 * writers, per s->lane_of: a producer that resent an event without its
 * key put it in two partitions. Two transactions inserting the same keys
 * in different orders wait for each other (SQLSTATE 40P01), so such a
 * batch goes through one connection, where the duplicate is simply
 * skipped. Out of memory counts as split: one connection is always safe. */
static bool keys_split(aac_pgsink_t *s, const aac_rows_t *rows)
{
    size_t need = 16;
    while (need < 2 * rows->cnt)
        need *= 2;
    if (need > s->keys_cap) {
        uint64_t *k = realloc(s->keys, need * sizeof(*k));
        if (k)
            s->keys = k;
        uint8_t *l = realloc(s->key_lane, need);
        if (l)
            s->key_lane = l;
        if (!k || !l)
            return true;
        s->keys_cap = need;
    }
    memset(s->keys, 0, need * sizeof(*s->keys));
    for (size_t i = 0; i < rows->cnt; i++) {
        const row_t *r = &rows->row[i];
        if (r->reject >= 0 || r->written)
            continue;
        uint8_t lane = s->lane_of[r->partition];
        size_t h = (size_t)(r->key ^ (r->key >> 29)) & (need - 1);
        while (s->keys[h] && s->keys[h] != r->key)
            h = (h + 1) & (need - 1);
        if (!s->keys[h]) {
            s->keys[h] = r->key;
            s->key_lane[h] = lane;
        } else if (s->key_lane[h] != lane) {
            return true;
        }
    }
    return false;
}

/* Spreads the batch's partitions over the writers, largest first onto the
 * least loaded, into s->lane_of. Returns the number of writers to use
 * (1: write the batch through one connection). */
static int plan_lanes(aac_pgsink_t *s, const aac_rows_t *rows, const aac_pgsink_offset_t *offs,
                      size_t offs_cnt)
{
    size_t lanes = (size_t)s->writers;
    if (lanes > offs_cnt)
        lanes = offs_cnt;
    if (lanes > aac_rows_live(rows) / LANE_MIN_ROWS)
        lanes = aac_rows_live(rows) / LANE_MIN_ROWS;
    if (lanes < 2)
        return 1;

    int32_t maxp = 0;
    for (size_t i = 0; i < offs_cnt; i++)
        if (offs[i].partition > maxp)
            maxp = offs[i].partition;
    size_t need = (size_t)maxp + 1;
    if (grow((void **)&s->lane_of, &s->lane_cap, need, 1) != 0 ||
        grow((void **)&s->slot, &s->slot_cap, need, sizeof(uint32_t)) != 0)
        return 1;
    size_t *pairs = calloc(offs_cnt, 2 * sizeof(size_t));
    if (!pairs)
        return 1;
    memset(s->slot, 0xff, need * sizeof(uint32_t));
    for (size_t i = 0; i < offs_cnt; i++) {
        s->slot[offs[i].partition] = (uint32_t)i;
        pairs[2 * i + 1] = i;
    }
    for (size_t i = 0; i < rows->cnt; i++) {
        const row_t *r = &rows->row[i];
        if (r->reject >= 0 || r->written)
            continue;
        if (r->partition < 0 || r->partition > maxp || s->slot[r->partition] == UINT32_MAX) {
            free(pairs); /* a row of no listed partition: keep it all on one connection */
            return 1;
        }
        pairs[2 * s->slot[r->partition]]++;
    }
    qsort(pairs, offs_cnt, 2 * sizeof(size_t), cmp_load_desc);
    size_t load[AAC_PGSINK_MAX_WRITERS] = {0};
    for (size_t i = 0; i < offs_cnt; i++) {
        size_t best = 0;
        for (size_t k = 1; k < lanes; k++)
            if (load[k] < load[best])
                best = k;
        load[best] += pairs[2 * i];
        s->lane_of[offs[pairs[2 * i + 1]].partition] = (uint8_t)best;
    }
    free(pairs);
    return keys_split(s, rows) ? 1 : (int)lanes;
}

/* Adds a writer's result to the batch's: counts always, the failure when
 * it is worse than the one already there (FATAL, then fenced, then any). */
static void merge_result(aac_pgsink_result_t *into, const aac_pgsink_result_t *from, bool failed,
                         bool *have_failure)
{
    into->inserted += from->inserted;
    into->duplicates += from->duplicates;
    into->rejected += from->rejected;
    into->round_trips += from->round_trips;
    if (!failed)
        return;
    bool worse = !*have_failure || (from->cls == AAC_CLASS_FATAL && into->cls != AAC_CLASS_FATAL) ||
                 (from->fenced && !into->fenced && into->cls != AAC_CLASS_FATAL);
    if (worse) {
        size_t ins = into->inserted, dup = into->duplicates, rej = into->rejected;
        int rt = into->round_trips;
        *into = *from;
        into->inserted = ins;
        into->duplicates = dup;
        into->rejected = rej;
        into->round_trips = rt;
    }
    *have_failure = true;
}

static int write_parallel(aac_pgsink_t *s, int lanes, aac_rows_t *rows, const char *group,
                          const char *topic, aac_pgsink_offset_t *offsets, size_t offset_cnt,
                          bool *staging, aac_pgsink_before_commit_cb *before_commit, void *opaque,
                          aac_pgsink_result_t *res)
{
    lane_t lane[AAC_PGSINK_MAX_WRITERS];
    pthread_t th[AAC_PGSINK_MAX_WRITERS];
    bool started[AAC_PGSINK_MAX_WRITERS] = {false};
    bool have_failure = false;

    /* Dead letters first, no transaction open: the writers then commit on
     * their own. Rows rejected later go through before_commit again. */
    if (before_commit && before_commit(opaque, rows) != 0)
        return dead_letters_pending(res);
    for (int k = 0; k < lanes; k++) {
        lane[k] = (lane_t){.sink = k ? s->peer[k - 1] : s,
                           .rows = rows,
                           .lane_of = s->lane_of,
                           .lane = k,
                           .group = group,
                           .topic = topic,
                           .offsets = offsets,
                           .offset_cnt = offset_cnt,
                           .staging = *staging};
        if (k > 0)
            started[k] = pthread_create(&th[k], NULL, lane_write, &lane[k]) == 0;
    }
    lane_write(&lane[0]);
    for (int k = 1; k < lanes; k++) {
        if (started[k])
            pthread_join(th[k], NULL);
        else
            lane_write(&lane[k]); /* no thread: write it here, after the others */
    }

    /* Committed writers first, so that a failure below leaves their rows
     * marked written; then the rarer row errors and duplicates, one at a
     * time through the full path. */
    for (int k = 0; k < lanes; k++) {
        lane_t *l = &lane[k];
        if (l->outcome == LANE_COMMITTED)
            mark_committed(l->sink, rows, l->live, offsets, offset_cnt, s->lane_of, k);
        merge_result(res, &l->res, l->outcome == LANE_FAILED, &have_failure);
    }
    for (int k = 0; k < lanes && !have_failure; k++) {
        lane_t *l = &lane[k];
        if (l->outcome != LANE_ROW_ERROR && l->outcome != LANE_DUPLICATE)
            continue;
        bool st = *staging || l->outcome == LANE_DUPLICATE;
        aac_pgsink_result_t r;
        memset(&r, 0, sizeof(r));
        int rc = write_serial(l->sink, rows, s->lane_of, k, group, topic, offsets, offset_cnt, &st,
                              before_commit, opaque, &r);
        merge_result(res, &r, rc != 0, &have_failure);
        *staging = *staging || st;
    }
    return have_failure ? -1 : 0;
}

int aac_pgsink_write(aac_pgsink_t *s, aac_rows_t *rows, const char *group, const char *topic,
                     aac_pgsink_offset_t *offsets, size_t offset_cnt,
                     aac_pgsink_before_commit_cb *before_commit, void *opaque,
                     aac_pgsink_result_t *res)
{
    bool staging = s->staging_left > 0;
    int rc;
    memset(res, 0, sizeof(*res));
    for (size_t i = 0; i < offset_cnt; i++)
        offsets[i].committed = false;

    int lanes = s->writers > 1 ? plan_lanes(s, rows, offsets, offset_cnt) : 1;
    if (lanes > 1)
        rc = write_parallel(s, lanes, rows, group, topic, offsets, offset_cnt, &staging,
                            before_commit, opaque, res);
    else
        rc = write_serial(s, rows, NULL, 0, group, topic, offsets, offset_cnt, &staging,
                          before_commit, opaque, res);
    res->writers = lanes;
    if (rc == 0 && staging)
        s->staging_left = res->duplicates ? STAGING_STICKY_BATCHES : s->staging_left - 1;
    return rc;
}
