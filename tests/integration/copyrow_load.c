/*
 * copyrow_load: loads events into a table through COPY with the copyrow
 * encoder, for tests/integration/test_copy_binary.sh.
 *
 *   copyrow_load --format text|binary --table NAME [--copies C] [--slices S]
 *                [--topic T] FILE
 *
 * FILE holds one event (JSON) per line, each parsed by aac_event_parse()
 * with partition line % 7 and offset line * 1000003 (line counts events
 * from 0). A line "!field=value" changes the next event after parsing, to
 * reach values the parser never gives: duration_ms, action_type (the enum's
 * number), action_details (raw text), partition, offset. An event that
 * repeats an earlier (event_id, timestamp) gets a new event_id (UUIDv5 of
 * "dup/<line>"), so the primary key holds. Every event must parse, or the
 * program fails.
 *
 * The rows go out in one transaction of C COPY commands (rows split evenly),
 * each sent as the header, S PQputCopyData() slices of whole rows, the
 * trailer. Prints "rows N renamed D" when every COPY stored its rows. When
 * the database refuses a COPY, prints its SQLSTATE, CONTEXT and message on
 * lines "sqlstate: ", "context: ", "message: " and exits 3. Other failures
 * exit 1; usage 2. The connection comes from the PG* environment.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "aac/copyrow.h"
#include "aac/mem.h"
#include "aac/uuid.h"

typedef struct override_s {
    bool duration, action_type, details, partition, offset;
    int64_t duration_ms, partition_v, offset_v;
    int action_type_v;
    char *details_v;
} override_t;

typedef struct load_s {
    char *buf;
    size_t len, cap;
    size_t *row_end; /* row i ends at row_end[i] */
    size_t rows, rows_cap;
    uint8_t (*key)[24]; /* event_id and timestamp of each row */
} load_t;

static int64_t parse_i64(const char *s, const char *what)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end) {
        fprintf(stderr, "copyrow_load: invalid %s \"%s\"\n", what, s);
        exit(1);
    }
    return v;
}

static void directive(override_t *ov, const char *line)
{
    const char *eq = strchr(line, '=');
    if (!eq) {
        fprintf(stderr, "copyrow_load: directive without '=': %s\n", line);
        exit(1);
    }
    size_t k = (size_t)(eq - line - 1);
    const char *name = line + 1, *v = eq + 1;
    if (k == 11 && !strncmp(name, "duration_ms", k)) {
        ov->duration = true;
        ov->duration_ms = parse_i64(v, name);
    } else if (k == 11 && !strncmp(name, "action_type", k)) {
        ov->action_type = true;
        ov->action_type_v = (int)parse_i64(v, name);
    } else if (k == 14 && !strncmp(name, "action_details", k)) {
        ov->details = true;
        free(ov->details_v);
        ov->details_v = strdup(v);
        if (!ov->details_v)
            exit(1);
    } else if (k == 9 && !strncmp(name, "partition", k)) {
        ov->partition = true;
        ov->partition_v = parse_i64(v, name);
    } else if (k == 6 && !strncmp(name, "offset", k)) {
        ov->offset = true;
        ov->offset_v = parse_i64(v, name);
    } else {
        fprintf(stderr, "copyrow_load: unknown directive: %s\n", line);
        exit(1);
    }
}

static bool seen(const load_t *l, const uint8_t key[24])
{
    for (size_t i = 0; i < l->rows; i++)
        if (!memcmp(l->key[i], key, 24))
            return true;
    return false;
}

/* Reads, parses and encodes FILE into l; returns the events renamed. */
static size_t encode_file(load_t *l, aac_copy_format_t f, const char *path, const char *topic)
{
    FILE *in = fopen(path, "r");
    if (!in) {
        fprintf(stderr, "copyrow_load: could not open %s: %s\n", path, strerror(errno));
        exit(1);
    }
    aac_event_parser_t *p = aac_event_parser_new(NULL);
    if (!p)
        exit(1);
    size_t tlen = strlen(topic), renamed = 0, keys_cap = 0;
    override_t ov = {0};
    char *line = NULL;
    size_t line_cap = 0;
    ssize_t n;
    int64_t idx = 0;
    while ((n = getline(&line, &line_cap, in)) > 0) {
        if (line[n - 1] == '\n')
            line[--n] = '\0';
        if (n == 0)
            continue;
        if (line[0] == '!') {
            directive(&ov, line);
            continue;
        }
        aac_event_t ev;
        aac_event_error_t err;
        int32_t partition = (int32_t)(idx % 7);
        int64_t offset = idx * 1000003;
        if (aac_event_parse(p, topic, partition, offset, line, (size_t)n, &ev, &err)) {
            fprintf(stderr, "copyrow_load: event %lld rejected: %s %s: %s\n", (long long)idx,
                    aac_reason_str(err.reason), err.path, err.message);
            exit(1);
        }
        idx++;
        if (ov.duration) {
            ev.has_duration_ms = true;
            ev.duration_ms = ov.duration_ms;
        }
        if (ov.action_type)
            ev.action_type = (aac_action_type_t)ov.action_type_v;
        if (ov.details)
            ev.action_details = (aac_str_t){ov.details_v, strlen(ov.details_v)};
        if (ov.partition)
            partition = (int32_t)ov.partition_v;
        if (ov.offset)
            offset = ov.offset_v;

        uint8_t key[24];
        memcpy(key, ev.event_id, 16);
        memcpy(key + 16, &ev.timestamp_us, 8);
        if (seen(l, key)) {
            char name[32];
            int k = snprintf(name, sizeof name, "dup/%lld", (long long)(idx - 1));
            aac_uuid_v5(aac_event_id_namespace, name, (size_t)k, ev.event_id);
            memcpy(key, ev.event_id, 16);
            renamed++;
        }
        size_t bound = aac_copyrow_bound(f, &ev, tlen);
        if (aac_grow((void **)&l->buf, &l->cap, l->len + bound, 1) ||
            aac_grow((void **)&l->row_end, &l->rows_cap, l->rows + 1, sizeof(size_t)) ||
            aac_grow((void **)&l->key, &keys_cap, l->rows + 1, 24))
            exit(1);
        char *end = aac_copyrow_put(l->buf + l->len, f, &ev, topic, tlen, partition, offset);
        l->len = (size_t)(end - l->buf);
        memcpy(l->key[l->rows], key, 24);
        l->row_end[l->rows++] = l->len;
        free(ov.details_v);
        memset(&ov, 0, sizeof ov);
    }
    if (ov.duration || ov.action_type || ov.details || ov.partition || ov.offset) {
        fprintf(stderr, "copyrow_load: directive after the last event\n");
        exit(1);
    }
    free(line);
    fclose(in);
    aac_event_parser_destroy(p);
    return renamed;
}

static void put(PGconn *conn, const char *p, size_t n)
{
    if (n && PQputCopyData(conn, p, (int)n) != 1) {
        fprintf(stderr, "copyrow_load: could not send COPY data: %s", PQerrorMessage(conn));
        exit(1);
    }
}

static void report(const PGresult *r)
{
    const char *st = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    const char *ctx = PQresultErrorField(r, PG_DIAG_CONTEXT);
    const char *msg = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
    printf("sqlstate: %s\ncontext: %s\nmessage: %s\n", st ? st : "", ctx ? ctx : "",
           msg ? msg : "");
}

/* One COPY command of rows [lo, hi) in `slices` slices; 0, or 3 when the
 * database refused it. */
static int copy_rows(PGconn *conn, const load_t *l, aac_copy_format_t f, const char *table,
                     size_t lo, size_t hi, int slices)
{
    char *id = PQescapeIdentifier(conn, table, strlen(table));
    if (!id)
        exit(1);
    char sql[512];
    snprintf(sql, sizeof sql, "COPY %s (" AAC_COPYROW_COLUMNS ") FROM STDIN%s", id,
             aac_copyrow_options(f));
    PQfreemem(id);
    PGresult *r = PQexec(conn, sql);
    if (PQresultStatus(r) != PGRES_COPY_IN) {
        fprintf(stderr, "copyrow_load: could not start COPY: %s", PQerrorMessage(conn));
        exit(1);
    }
    PQclear(r);

    size_t hn, tn;
    const char *h = aac_copyrow_header(f, &hn), *t = aac_copyrow_trailer(f, &tn);
    put(conn, h, hn);
    size_t at = lo;
    for (int s = 1; s <= slices; s++) {
        size_t upto = lo + (hi - lo) * (size_t)s / (size_t)slices;
        size_t from = at ? l->row_end[at - 1] : 0, to = upto ? l->row_end[upto - 1] : 0;
        put(conn, l->buf + from, to - from);
        at = upto;
    }
    put(conn, t, tn);
    if (PQputCopyEnd(conn, NULL) != 1) {
        fprintf(stderr, "copyrow_load: could not end COPY: %s", PQerrorMessage(conn));
        exit(1);
    }
    int rc = 0;
    while ((r = PQgetResult(conn))) {
        if (PQresultStatus(r) == PGRES_COMMAND_OK) {
            long stored = atol(PQcmdTuples(r));
            if (stored != (long)(hi - lo)) {
                fprintf(stderr, "copyrow_load: COPY stored %ld rows of %zu\n", stored, hi - lo);
                exit(1);
            }
        } else {
            report(r);
            rc = 3;
        }
        PQclear(r);
    }
    return rc;
}

static void exec_ok(PGconn *conn, const char *sql)
{
    PGresult *r = PQexec(conn, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        fprintf(stderr, "copyrow_load: could not run %s: %s", sql, PQerrorMessage(conn));
        exit(1);
    }
    PQclear(r);
}

int main(int argc, char **argv)
{
    const char *fmt = NULL, *table = NULL, *topic = "agent-actions", *path = NULL;
    int copies = 1, slices = 2;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--format") && i + 1 < argc)
            fmt = argv[++i];
        else if (!strcmp(argv[i], "--table") && i + 1 < argc)
            table = argv[++i];
        else if (!strcmp(argv[i], "--copies") && i + 1 < argc)
            copies = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--slices") && i + 1 < argc)
            slices = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--topic") && i + 1 < argc)
            topic = argv[++i];
        else if (!path && argv[i][0] != '-')
            path = argv[i];
        else
            path = NULL, i = argc;
    }
    if (!fmt || (strcmp(fmt, "text") && strcmp(fmt, "binary")) || !table || !path || copies < 1 ||
        slices < 1) {
        fprintf(stderr, "usage: copyrow_load --format text|binary --table NAME [--copies C] "
                        "[--slices S] [--topic T] FILE\n");
        return 2;
    }
    aac_copy_format_t f = strcmp(fmt, "binary") ? AAC_COPY_TEXT : AAC_COPY_BINARY;
    load_t l = {0};
    size_t renamed = encode_file(&l, f, path, topic);

    PGconn *conn = PQconnectdb("");
    if (PQstatus(conn) != CONNECTION_OK) {
        fprintf(stderr, "copyrow_load: could not connect: %s", PQerrorMessage(conn));
        return 1;
    }
    exec_ok(conn, "BEGIN");
    int rc = 0;
    for (int c = 0; c < copies && !rc; c++) {
        size_t lo = l.rows * (size_t)c / (size_t)copies;
        size_t hi = l.rows * (size_t)(c + 1) / (size_t)copies;
        rc = copy_rows(conn, &l, f, table, lo, hi, slices);
    }
    if (!rc) {
        exec_ok(conn, "COMMIT");
        printf("rows %zu renamed %zu\n", l.rows, renamed);
    }
    PQfinish(conn);
    free(l.buf);
    free(l.row_end);
    free(l.key);
    return rc;
}
