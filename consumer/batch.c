/*
 * batch: the events of one write (see batch.h).
 *
 * Rows are encoded once, when the event is added, into one buffer, so a
 * write sends contiguous slices of it; a retry re-sends the same bytes.
 */
#include "aac/batch.h"
#include "aac/mem.h"

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
    uint64_t key;        /* hash of the primary key (event_id, event_time) */
    int reject;          /* index into rej, -1 when not rejected */
    int32_t group;       /* its rollup group (rollup.h) */
    int32_t duration_ms; /* -1: none */
} row_t;

struct aac_batch_s {
    aac_copy_format_t format;
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
    aac_rollup_groups_t *groups;
};

aac_batch_t *aac_batch_new(aac_copy_format_t format)
{
    aac_batch_t *b = calloc(1, sizeof(*b));
    if (!b)
        return NULL;
    b->format = format;
    if (!(b->groups = aac_rollup_groups_new())) {
        free(b);
        return NULL;
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
    aac_rollup_groups_reset(b->groups);
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
    aac_rollup_groups_destroy(b->groups);
    free(b);
}

/* --- encoding ------------------------------------------------------------ */

/* Appends ev, from message rkm, as one COPY row at the end of the buffer. */
static int encode_row(aac_batch_t *b, const aac_event_t *ev, const rd_kafka_message_t *rkm,
                      size_t *len)
{
    const char *topic = rd_kafka_topic_name(rkm->rkt);
    size_t topic_len = strlen(topic);
    size_t bound = aac_copyrow_bound(b->format, ev, topic_len);
    if (aac_grow((void **)&b->buf, &b->bcap, b->len + bound, 1) != 0)
        return -1;
    char *start = b->buf + b->len;
    char *end =
        aac_copyrow_put(start, b->format, ev, topic, topic_len, rkm->partition, rkm->offset);
    *len = (size_t)(end - start);
    return 0;
}

/* --- adding -------------------------------------------------------------- */

/* The batch's part for rkm's (topic, partition), created or extended. A
 * topic's handle is one per client: equal handles, equal topics. */
static int track(aac_batch_t *b, const rd_kafka_message_t *rkm)
{
    const char *topic = rd_kafka_topic_name(rkm->rkt);
    aac_batch_part_t *pt = NULL;
    if (b->part_cnt && b->part[b->part_last].partition == rkm->partition &&
        b->part[b->part_last].topic == topic) {
        pt = &b->part[b->part_last];
    } else {
        for (size_t i = 0; i < b->part_cnt && !pt; i++)
            if (b->part[i].partition == rkm->partition && !strcmp(b->part[i].topic, topic)) {
                pt = &b->part[i];
                b->part_last = i;
            }
    }
    if (!pt) {
        if (aac_grow((void **)&b->part, &b->part_cap, b->part_cnt + 1, sizeof(*b->part)) != 0)
            return -1;
        b->part_last = b->part_cnt;
        pt = &b->part[b->part_cnt++];
        *pt = (aac_batch_part_t){.topic = topic,
                                 .partition = rkm->partition,
                                 .key = -1,
                                 .first = rkm->offset,
                                 .next = rkm->offset + 1,
                                 .expected_old = -1};
    }
    pt->next = rkm->offset + 1;
    return 0;
}

/* Takes rkm in as the next item; on failure destroys it. */
static int add_item(aac_batch_t *b, rd_kafka_message_t *rkm, int64_t event_us)
{
    if (aac_grow((void **)&b->item, &b->cap, b->cnt + 1, sizeof(*b->item)) != 0 || track(b, rkm)) {
        rd_kafka_message_destroy(rkm);
        return -1;
    }
    b->item[b->cnt++] = (item_t){rkm, event_us};
    b->bytes += rkm->len;
    return 0;
}

/* A 64-bit hash of the row's primary key (FNV-1a over event_id and the
 * timestamp): equal keys, equal hashes. */
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

int aac_batch_add_event(aac_batch_t *b, rd_kafka_message_t *rkm, const aac_event_t *ev)
{
    size_t len;
    int32_t group;
    if (aac_grow((void **)&b->row, &b->rcap, b->rcnt + 1, sizeof(*b->row)) != 0 ||
        (group = aac_rollup_groups_intern(b->groups, ev)) < 0 ||
        encode_row(b, ev, rkm, &len) != 0) {
        rd_kafka_message_destroy(rkm);
        return -1;
    }
    if (add_item(b, rkm, ev->timestamp_us) != 0)
        return -1;
    int32_t duration = ev->has_duration_ms ? (int32_t)ev->duration_ms : -1;
    b->row[b->rcnt++] = (row_t){b->len, len, b->cnt - 1, row_key(ev), -1, group, duration};
    b->len += len;
    return 0;
}

static aac_batch_reject_t *new_reject(aac_batch_t *b)
{
    if (aac_grow((void **)&b->rej, &b->rej_cap, b->rej_cnt + 1, sizeof(*b->rej)) != 0)
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

const aac_rollup_groups_t *aac_batch_groups(const aac_batch_t *b)
{
    return b->groups;
}

aac_rollup_row_t aac_batch_rollup_row(const aac_batch_t *b, size_t row)
{
    const row_t *r = &b->row[row];
    return (aac_rollup_row_t){r->group, r->duration_ms, b->item[r->item].event_us};
}

aac_copy_format_t aac_batch_format(const aac_batch_t *b)
{
    return b->format;
}

size_t aac_batch_count(const aac_batch_t *b)
{
    return b->cnt;
}

size_t aac_batch_bytes(const aac_batch_t *b)
{
    return b->bytes;
}

size_t aac_batch_memory(const aac_batch_t *b)
{
    return b->bytes + b->len;
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

const aac_batch_part_t *aac_batch_part(const aac_batch_t *b, const char *topic, int32_t partition)
{
    for (size_t i = 0; i < b->part_cnt; i++)
        if (b->part[i].partition == partition && !strcmp(b->part[i].topic, topic))
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
