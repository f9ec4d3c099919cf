/*
 * batch: the events of one write (see batch.h).
 *
 * Rows are encoded once, when the event is added, into one buffer, so a
 * write sends contiguous slices of it; a retry re-sends the same bytes.
 */
#include "aac/batch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct item_s {
    rd_kafka_message_t *rkm;
    int64_t event_us;
} item_t;

typedef struct row_s {
    size_t off; /* into buf */
    size_t len;
    size_t item;
    uint64_t key; /* hash of the primary key (event_id, event_time) */
    int reject;   /* index into rej, -1 when not rejected */
} row_t;

struct aac_batch_s {
    const char *topic;
    size_t topic_len;
    item_t *item;
    size_t cnt, cap;
    size_t bytes;
    char *buf;
    size_t len, bcap;
    row_t *row;
    size_t rcnt, rcap;
    aac_batch_reject_t *rej;
    size_t rej_cnt, rej_cap;
    size_t rows_rejected;
    aac_batch_part_t *part;
    size_t part_cnt, part_cap;
    size_t part_last; /* the part of the last message: consecutive ones share it */
    uint64_t *keys;   /* scratch of aac_batch_keys_overlap: open addressing */
    size_t keys_cap;
};

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

aac_batch_t *aac_batch_new(const char *topic)
{
    aac_batch_t *b = calloc(1, sizeof(*b));
    if (b) {
        b->topic = topic;
        b->topic_len = strlen(topic);
    }
    return b;
}

void aac_batch_reset(aac_batch_t *b)
{
    for (size_t i = 0; i < b->cnt; i++)
        rd_kafka_message_destroy(b->item[i].rkm);
    b->cnt = 0;
    b->bytes = 0;
    b->len = 0;
    b->rcnt = 0;
    b->rej_cnt = 0;
    b->rows_rejected = 0;
    b->part_cnt = 0;
    b->part_last = 0;
}

void aac_batch_destroy(aac_batch_t *b)
{
    if (!b)
        return;
    aac_batch_reset(b);
    free(b->item);
    free(b->buf);
    free(b->row);
    free(b->rej);
    free(b->part);
    free(b->keys);
    free(b);
}

/* --- encoding ------------------------------------------------------------ */

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

/* Appends ev as one COPY row at the end of the buffer. */
static int encode_row(aac_batch_t *b, const aac_event_t *ev, int32_t partition, int64_t offset,
                      size_t *len)
{
    /* escaping at most doubles a field; the rest is bounded by 256 bytes */
    size_t bound = 2 * (ev->agent_name.len + ev->action_name.len + ev->action_details.len +
                        ev->project_path.len + ev->project_name.len + ev->working_directory.len +
                        ev->extra.len + b->topic_len) +
                   512;
    if (grow((void **)&b->buf, &b->bcap, b->len + bound, 1) != 0)
        return -1;
    const char *topic = b->topic;
    size_t tlen = b->topic_len;
    char *start = b->buf + b->len, *o = start;
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

    *len = (size_t)(o - start);
    return 0;
}

/* --- adding -------------------------------------------------------------- */

/* The batch's part for rkm's partition, created or extended. */
static int track(aac_batch_t *b, const rd_kafka_message_t *rkm)
{
    aac_batch_part_t *pt = NULL;
    if (b->part_cnt && b->part[b->part_last].partition == rkm->partition) {
        pt = &b->part[b->part_last];
    } else {
        for (size_t i = 0; i < b->part_cnt && !pt; i++)
            if (b->part[i].partition == rkm->partition) {
                pt = &b->part[i];
                b->part_last = i;
            }
    }
    if (!pt) {
        if (grow((void **)&b->part, &b->part_cap, b->part_cnt + 1, sizeof(*b->part)) != 0)
            return -1;
        b->part_last = b->part_cnt;
        pt = &b->part[b->part_cnt++];
        *pt = (aac_batch_part_t){rkm->partition, rkm->offset, rkm->offset + 1, -1};
    }
    pt->next = rkm->offset + 1;
    return 0;
}

/* Takes rkm in as the next item; on failure destroys it. */
static int add_item(aac_batch_t *b, rd_kafka_message_t *rkm, int64_t event_us)
{
    if (grow((void **)&b->item, &b->cap, b->cnt + 1, sizeof(*b->item)) != 0 || track(b, rkm)) {
        rd_kafka_message_destroy(rkm);
        return -1;
    }
    b->item[b->cnt++] = (item_t){rkm, event_us};
    b->bytes += rkm->len;
    return 0;
}

int aac_batch_add_event(aac_batch_t *b, rd_kafka_message_t *rkm, const aac_event_t *ev)
{
    size_t len;
    if (grow((void **)&b->row, &b->rcap, b->rcnt + 1, sizeof(*b->row)) != 0 ||
        encode_row(b, ev, rkm->partition, rkm->offset, &len) != 0) {
        rd_kafka_message_destroy(rkm);
        return -1;
    }
    if (add_item(b, rkm, ev->timestamp_us) != 0)
        return -1;
    b->row[b->rcnt++] = (row_t){b->len, len, b->cnt - 1, row_key(ev), -1};
    b->len += len;
    return 0;
}

static aac_batch_reject_t *new_reject(aac_batch_t *b)
{
    if (grow((void **)&b->rej, &b->rej_cap, b->rej_cnt + 1, sizeof(*b->rej)) != 0)
        return NULL;
    return &b->rej[b->rej_cnt++];
}

int aac_batch_add_invalid(aac_batch_t *b, rd_kafka_message_t *rkm, const aac_event_error_t *err)
{
    aac_batch_reject_t *rj = new_reject(b);
    if (!rj) {
        rd_kafka_message_destroy(rkm);
        return -1;
    }
    if (add_item(b, rkm, 0) != 0) {
        b->rej_cnt--;
        return -1;
    }
    rj->item = b->cnt - 1;
    rj->reason = err->reason;
    rj->attempts = 1;
    rj->sqlstate[0] = '\0';
    snprintf(rj->path, sizeof(rj->path), "%s", err->path);
    snprintf(rj->message, sizeof(rj->message), "%s", err->message);
    return 0;
}

int aac_batch_reject_row(aac_batch_t *b, size_t row, aac_reason_t reason, const char *sqlstate,
                         const char *message, int attempts)
{
    aac_batch_reject_t *rj = new_reject(b);
    if (!rj)
        return -1;
    rj->item = b->row[row].item;
    rj->reason = reason;
    rj->attempts = attempts;
    snprintf(rj->sqlstate, sizeof(rj->sqlstate), "%s", sqlstate ? sqlstate : "");
    snprintf(rj->path, sizeof(rj->path), "$");
    snprintf(rj->message, sizeof(rj->message), "%s", message);
    b->row[row].reject = (int)(b->rej_cnt - 1);
    b->rows_rejected++;
    return 0;
}

/* --- reading ------------------------------------------------------------- */

size_t aac_batch_count(const aac_batch_t *b)
{
    return b->cnt;
}

size_t aac_batch_bytes(const aac_batch_t *b)
{
    return b->bytes;
}

const rd_kafka_message_t *aac_batch_message(const aac_batch_t *b, size_t item)
{
    return b->item[item].rkm;
}

int64_t aac_batch_event_us(const aac_batch_t *b, size_t item)
{
    return b->item[item].event_us;
}

size_t aac_batch_part_count(const aac_batch_t *b)
{
    return b->part_cnt;
}

aac_batch_part_t *aac_batch_parts(aac_batch_t *b)
{
    return b->part;
}

const aac_batch_part_t *aac_batch_parts_const(const aac_batch_t *b)
{
    return b->part;
}

const aac_batch_part_t *aac_batch_part(const aac_batch_t *b, int32_t partition)
{
    for (size_t i = 0; i < b->part_cnt; i++)
        if (b->part[i].partition == partition)
            return &b->part[i];
    return NULL;
}

size_t aac_batch_row_count(const aac_batch_t *b)
{
    return b->rcnt;
}

size_t aac_batch_live_rows(const aac_batch_t *b)
{
    return b->rcnt - b->rows_rejected;
}

bool aac_batch_row_rejected(const aac_batch_t *b, size_t row)
{
    return b->row[row].reject >= 0;
}

size_t aac_batch_row_item(const aac_batch_t *b, size_t row)
{
    return b->row[row].item;
}

const char *aac_batch_row_span(const aac_batch_t *b, size_t first, size_t last, size_t *len)
{
    *len = b->row[last].off + b->row[last].len - b->row[first].off;
    return b->buf + b->row[first].off;
}

size_t aac_batch_reject_count(const aac_batch_t *b)
{
    return b->rej_cnt;
}

const aac_batch_reject_t *aac_batch_reject(const aac_batch_t *b, size_t i)
{
    return &b->rej[i];
}

bool aac_batch_keys_overlap(aac_batch_t *b, const aac_batch_t *other)
{
    size_t need = 16;
    while (need < 2 * b->rcnt)
        need *= 2;
    if (need > b->keys_cap) {
        uint64_t *k = realloc(b->keys, need * sizeof(*k));
        if (!k)
            return true;
        b->keys = k;
        b->keys_cap = need;
    }
    memset(b->keys, 0, need * sizeof(*b->keys));
    for (size_t i = 0; i < b->rcnt; i++) {
        if (b->row[i].reject >= 0)
            continue;
        uint64_t key = b->row[i].key;
        size_t h = (size_t)(key ^ (key >> 29)) & (need - 1);
        while (b->keys[h] && b->keys[h] != key)
            h = (h + 1) & (need - 1);
        b->keys[h] = key;
    }
    /* every row of `other`, rejected or not: a writer may be rejecting
     * some right now, and only its keys never change */
    for (size_t i = 0; i < other->rcnt; i++) {
        uint64_t key = other->row[i].key;
        for (size_t h = (size_t)(key ^ (key >> 29)) & (need - 1); b->keys[h];
             h = (h + 1) & (need - 1))
            if (b->keys[h] == key)
                return true;
    }
    return false;
}
