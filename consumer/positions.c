/*
 * positions: see include/aac/positions.h.
 */
#include "aac/positions.h"

#include <stdlib.h>
#include <string.h>

static const aac_position_t unassigned = {
    .next = -1, .stored = -1, .pending = -1, .resume_at = -1, .seek_to = -1};

void aac_positions_init(aac_positions_t *ps)
{
    *ps = (aac_positions_t){0};
}

void aac_positions_free(aac_positions_t *ps)
{
    free(ps->p);
    free(ps->key);
    for (size_t i = 0; i < ps->topic_cnt; i++)
        free(ps->topic[i]);
    free(ps->topic);
    free(ps->slot);
    *ps = (aac_positions_t){0};
}

static size_t key_hash(const char *topic, int32_t partition)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (const char *c = topic; *c; c++)
        h = (h ^ (unsigned char)*c) * 0x100000001b3ULL;
    h ^= (uint64_t)(uint32_t)partition * 0x9E3779B97F4A7C15ULL;
    return (size_t)(h ^ (h >> 29));
}

int32_t aac_positions_lookup(const aac_positions_t *ps, const char *topic, int32_t partition)
{
    if (!ps->slots)
        return -1;
    for (size_t i = key_hash(topic, partition) & (ps->slots - 1); ps->slot[i];
         i = (i + 1) & (ps->slots - 1)) {
        const aac_pkey_t *k = &ps->key[ps->slot[i] - 1];
        if (k->partition == partition && !strcmp(k->topic, topic))
            return ps->slot[i] - 1;
    }
    return -1;
}

/* The interned copy of a topic's name (few topics: a list). */
static const char *intern_topic(aac_positions_t *ps, const char *topic)
{
    for (size_t i = 0; i < ps->topic_cnt; i++)
        if (!strcmp(ps->topic[i], topic))
            return ps->topic[i];
    char *t = strdup(topic);
    char **l = t ? realloc(ps->topic, (ps->topic_cnt + 1) * sizeof(*l)) : NULL;
    if (!l) {
        free(t);
        return NULL;
    }
    ps->topic = l;
    l[ps->topic_cnt++] = t;
    return t;
}

/* Keeps the index at most half full. */
static int reindex(aac_positions_t *ps)
{
    if ((size_t)(ps->key_cnt + 1) * 2 <= ps->slots)
        return 0;
    size_t n = ps->slots ? ps->slots * 2 : 64;
    int32_t *slot = calloc(n, sizeof(*slot));
    if (!slot)
        return -1;
    for (int32_t k = 0; k < ps->key_cnt; k++) {
        size_t i = key_hash(ps->key[k].topic, ps->key[k].partition) & (n - 1);
        while (slot[i])
            i = (i + 1) & (n - 1);
        slot[i] = k + 1;
    }
    free(ps->slot);
    ps->slot = slot;
    ps->slots = n;
    return 0;
}

int32_t aac_positions_key(aac_positions_t *ps, const char *topic, int32_t partition)
{
    int32_t k = aac_positions_lookup(ps, topic, partition);
    if (k >= 0)
        return k;
    if (partition < 0 || ps->key_cnt >= AAC_POSITIONS_MAX || reindex(ps) != 0)
        return -1;
    if (ps->key_cnt >= ps->key_cap) {
        int32_t n = ps->key_cap ? ps->key_cap * 2 : 16;
        aac_pkey_t *nk = realloc(ps->key, (size_t)n * sizeof(*nk));
        if (!nk)
            return -1;
        ps->key = nk;
        ps->key_cap = n;
    }
    const char *t = intern_topic(ps, topic);
    if (!t)
        return -1;
    k = ps->key_cnt++;
    ps->key[k] = (aac_pkey_t){t, partition};
    size_t i = key_hash(t, partition) & (ps->slots - 1);
    while (ps->slot[i])
        i = (i + 1) & (ps->slots - 1);
    ps->slot[i] = k + 1;
    return k;
}

const char *aac_positions_topic(const aac_positions_t *ps, int32_t k)
{
    return ps->key[k].topic;
}

int32_t aac_positions_partition(const aac_positions_t *ps, int32_t k)
{
    return ps->key[k].partition;
}

const aac_position_t *aac_positions_find(const aac_positions_t *ps, int32_t p)
{
    return p >= 0 && p < ps->cap ? &ps->p[p] : NULL;
}

aac_position_t *aac_positions_get(aac_positions_t *ps, int32_t p)
{
    if (p < 0 || p >= AAC_POSITIONS_MAX)
        return NULL;
    if (p >= ps->cap) {
        int32_t n = ps->cap ? ps->cap : 16;
        while (n <= p)
            n *= 2;
        aac_position_t *np = realloc(ps->p, (size_t)n * sizeof(*np));
        if (!np)
            return NULL;
        for (int32_t i = ps->cap; i < n; i++)
            np[i] = unassigned;
        ps->p = np;
        ps->cap = n;
    }
    return &ps->p[p];
}

/* The position of an assigned partition, else NULL. */
static aac_position_t *assigned(const aac_positions_t *ps, int32_t p)
{
    aac_position_t *pt = p >= 0 && p < ps->cap ? &ps->p[p] : NULL;
    return pt && pt->assigned ? pt : NULL;
}

static bool held(const aac_position_t *pt)
{
    return pt->assigned && (pt->need_offset || pt->need_seek);
}

/* Applies a change to pt, keeping the count of held partitions. */
#define CHANGE(ps, pt, stmt)                                                                       \
    do {                                                                                           \
        bool was_ = held(pt);                                                                      \
        stmt;                                                                                      \
        (ps)->held += (int32_t)held(pt) - (int32_t)was_;                                           \
    } while (0)

bool aac_positions_assigned(const aac_positions_t *ps, int32_t p)
{
    return assigned(ps, p) != NULL;
}

bool aac_positions_ready(const aac_positions_t *ps, int32_t p)
{
    const aac_position_t *pt = assigned(ps, p);
    return pt && !pt->need_offset && !pt->need_seek;
}

int32_t aac_positions_held(const aac_positions_t *ps)
{
    return ps->held;
}

int aac_positions_assign(aac_positions_t *ps, int32_t p)
{
    aac_position_t *pt = aac_positions_get(ps, p);
    if (!pt)
        return -1;
    CHANGE(ps, pt, {
        *pt = unassigned;
        pt->assigned = true;
        pt->need_offset = true;
    });
    return 0;
}

void aac_positions_revoke(aac_positions_t *ps, int32_t p)
{
    aac_position_t *pt = p >= 0 && p < ps->cap ? &ps->p[p] : NULL;
    if (pt)
        CHANGE(ps, pt, *pt = unassigned);
}

aac_admit_t aac_positions_admit(aac_positions_t *ps, int32_t p, int64_t offset, bool backing_off)
{
    aac_position_t *pt = assigned(ps, p);
    if (!pt)
        return AAC_ADMIT_IGNORE;
    if (pt->need_offset || pt->need_seek || backing_off) {
        /* where discarding began, to be fetched again from there */
        if (pt->resume_at < 0)
            pt->resume_at = pt->next >= 0 ? pt->next : offset;
        return AAC_ADMIT_DISCARD;
    }
    bool first = pt->check_gap;
    pt->check_gap = false;
    if (pt->next < 0 || offset == pt->next)
        return AAC_ADMIT_TAKE;
    if (offset > pt->next || first)
        return AAC_ADMIT_CHECK;
    return AAC_ADMIT_SKIP;
}

aac_jump_t aac_positions_jump(const aac_positions_t *ps, int32_t p, int64_t offset, int64_t lo,
                              int64_t hi)
{
    const aac_position_t *pt = assigned(ps, p);
    if (!pt || pt->next < 0)
        return AAC_JUMP_FORWARD;
    if (offset < pt->next)
        /* only a log whose end is below what we reached starts over;
         * otherwise the fetch position is wrong, and never followed */
        return hi >= 0 && hi < pt->next ? AAC_JUMP_RESTART : AAC_JUMP_SEEK_BACK;
    return lo > pt->next ? AAC_JUMP_LOST : AAC_JUMP_FORWARD;
}

int64_t aac_positions_lost(const aac_positions_t *ps, int32_t p, int64_t offset, int64_t lo)
{
    const aac_position_t *pt = assigned(ps, p);
    if (!pt || pt->next < 0)
        return 0;
    int64_t end = lo < offset ? lo : offset;
    return end > pt->next ? end - pt->next : 0;
}

void aac_positions_restart(aac_positions_t *ps, int32_t p, int64_t offset)
{
    aac_position_t *pt = assigned(ps, p);
    if (!pt)
        return;
    pt->next = offset;
    pt->restarted = true;
}

void aac_positions_took(aac_positions_t *ps, int32_t p, int64_t offset)
{
    aac_position_t *pt = assigned(ps, p);
    if (pt && offset >= pt->next)
        pt->next = offset + 1;
}

void aac_positions_sought(aac_positions_t *ps, int32_t p)
{
    aac_position_t *pt = assigned(ps, p);
    if (!pt)
        return;
    CHANGE(ps, pt, {
        pt->need_seek = false;
        pt->seek_to = -1;
        pt->check_gap = true;
    });
}

void aac_positions_seek_failed(aac_positions_t *ps, int32_t p, int64_t offset)
{
    aac_position_t *pt = assigned(ps, p);
    if (!pt || offset < 0)
        return;
    CHANGE(ps, pt, {
        pt->need_seek = true;
        pt->seek_to = offset;
        pt->check_gap = true;
    });
}

int64_t aac_positions_seek_due(const aac_positions_t *ps, int32_t p)
{
    const aac_position_t *pt = assigned(ps, p);
    return pt && pt->need_seek && !pt->need_offset ? pt->seek_to : -1;
}

bool aac_positions_wants_offset(const aac_positions_t *ps, int32_t p)
{
    const aac_position_t *pt = assigned(ps, p);
    return pt && pt->need_offset;
}

int64_t aac_positions_loaded(aac_positions_t *ps, int32_t p, int64_t stored)
{
    aac_position_t *pt = assigned(ps, p);
    if (!pt || !pt->need_offset || pt->pending >= 0)
        return -2;
    int64_t to = stored >= 0 ? stored : pt->resume_at;
    CHANGE(ps, pt, {
        pt->need_offset = false;
        pt->need_seek = false;
        pt->seek_to = -1;
        pt->stored = stored;
        pt->next = stored;
        pt->resume_at = -1;
        pt->restarted = false;
        pt->check_gap = true;
    });
    return to;
}

void aac_positions_refence(aac_positions_t *ps, int32_t p)
{
    aac_position_t *pt = assigned(ps, p);
    if (!pt)
        return;
    CHANGE(ps, pt, {
        if (pt->next >= 0 && (pt->resume_at < 0 || pt->next < pt->resume_at))
            pt->resume_at = pt->next;
        pt->need_offset = true;
        pt->need_seek = false;
        pt->seek_to = -1;
        pt->pending = -1;
    });
}

int64_t aac_positions_resume(aac_positions_t *ps, int32_t p)
{
    aac_position_t *pt = assigned(ps, p);
    if (!pt || pt->need_offset || pt->resume_at < 0)
        return -1; /* held partitions are sought when their offset is read */
    int64_t to = pt->next >= 0 ? pt->next : pt->resume_at;
    pt->resume_at = -1;
    return to;
}

int aac_positions_submit(aac_positions_t *ps, aac_batch_part_t *parts, size_t cnt)
{
    for (size_t i = 0; i < cnt; i++) {
        const aac_position_t *pt = assigned(ps, parts[i].key);
        if (!pt)
            return -1;
        int64_t old = pt->pending >= 0 ? pt->pending : pt->stored;
        if (parts[i].next < old && !pt->restarted)
            return -1; /* would move the stored offset backwards */
    }
    for (size_t i = 0; i < cnt; i++) {
        aac_position_t *pt = assigned(ps, parts[i].key);
        parts[i].expected_old = pt->pending >= 0 ? pt->pending : pt->stored;
        parts[i].rewind = pt->restarted;
        pt->restarted = false;
        pt->pending = parts[i].next;
    }
    return 0;
}

void aac_positions_committed(aac_positions_t *ps, const aac_batch_part_t *parts, size_t cnt)
{
    for (size_t i = 0; i < cnt; i++) {
        aac_position_t *pt = assigned(ps, parts[i].key);
        if (!pt)
            continue;
        pt->stored = parts[i].next;
        if (pt->pending == parts[i].next)
            pt->pending = -1; /* nothing later in flight for it */
    }
}

void aac_positions_rewind(aac_positions_t *ps, int32_t p, int64_t first, bool flights)
{
    aac_position_t *pt = assigned(ps, p);
    if (!pt)
        return;
    pt->next = first;
    if (flights)
        pt->pending = -1;
}
