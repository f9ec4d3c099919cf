/*
 * dlqrecord: the replay record, its tracker and a run's ledger (see
 * dlqrecord.h).
 *
 * The ledger keeps for each partition what its record's text would be
 * once every replay queued is delivered: spec_open (the tracker's open[]
 * by then) and est_len (a bound on the text's length). A replay that
 * starts a key or a range adds RANGE_TEXT_MAX to the bound; _result()
 * resets it from the text it formats.
 */
#include "aac/dlqrecord.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aac/mem.h"

/* --- the record ---------------------------------------------------------- */

#define RECORD_TAG "aac.replay.v1"

int aac_dlqrecord_key(const char *reason, int replay_count)
{
    aac_reason_t r = reason ? aac_reason_from_str(reason) : AAC_REASON_NONE;
    int gen = replay_count < 0 ? 0 : replay_count;
    if (gen >= AAC_DLQRECORD_GENS)
        gen = AAC_DLQRECORD_GENS - 1;
    return (int)r * AAC_DLQRECORD_GENS + gen;
}

void aac_dlqrecord_clear(aac_dlqrecord_t *rec)
{
    for (int k = 0; k < AAC_DLQRECORD_KEYS; k++) {
        free(rec->set[k].r);
        rec->set[k].r = NULL;
        rec->set[k].n = rec->set[k].cap = 0;
    }
}

int aac_dlqrecord_add(aac_dlqrecord_t *rec, int key, int64_t start, int64_t end)
{
    if (key < 0 || key >= AAC_DLQRECORD_KEYS || start >= end)
        return 0;
    aac_dlqrecord_ranges_t *s = &rec->set[key];
    if (s->n && start <= s->r[s->n - 1].end) {
        if (end > s->r[s->n - 1].end)
            s->r[s->n - 1].end = end;
        return 0;
    }
    if (aac_grow((void **)&s->r, &s->cap, s->n + 1, sizeof(*s->r)) != 0)
        return -1;
    s->r[s->n].start = start;
    s->r[s->n].end = end;
    s->n++;
    return 0;
}

bool aac_dlqrecord_has(const aac_dlqrecord_t *rec, int key, int64_t offset)
{
    if (key < 0 || key >= AAC_DLQRECORD_KEYS)
        return false;
    const aac_dlqrecord_range_t *r = rec->set[key].r;
    size_t lo = 0, hi = rec->set[key].n;
    while (lo < hi) { /* the first range ending after offset */
        size_t mid = lo + (hi - lo) / 2;
        if (r[mid].end <= offset)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < rec->set[key].n && r[lo].start <= offset;
}

/* The key named "<reason>" or "<reason>.<gen>" ("none" for no reason). */
static int key_from_name(const char *s, size_t n)
{
    char name[64];
    int gen = 0;
    if (n >= 2 && s[n - 2] == '.' && s[n - 1] >= '1' && s[n - 1] < '0' + AAC_DLQRECORD_GENS) {
        gen = s[n - 1] - '0';
        n -= 2;
    }
    if (n == 0 || n >= sizeof(name))
        return -1;
    memcpy(name, s, n);
    name[n] = '\0';
    if (!strcmp(name, "none"))
        return gen;
    aac_reason_t r = aac_reason_from_str(name);
    return r == AAC_REASON_NONE ? -1 : (int)r * AAC_DLQRECORD_GENS + gen;
}

static int parse_offset(const char **p, const char *end, int64_t *out)
{
    int64_t v = 0;
    const char *s = *p;
    if (s == end || *s < '0' || *s > '9')
        return -1;
    for (; s < end && *s >= '0' && *s <= '9'; s++) {
        if (v > (INT64_MAX - 9) / 10)
            return -1;
        v = v * 10 + (*s - '0');
    }
    *p = s;
    *out = v;
    return 0;
}

int aac_dlqrecord_parse(aac_dlqrecord_t *rec, const char *s, size_t len)
{
    const char *p = s, *end = s + len;
    size_t tag = strlen(RECORD_TAG);

    if (!s || len == 0)
        return 0;
    if (len < tag || memcmp(s, RECORD_TAG, tag) != 0)
        return -1;
    p += tag;
    if (p == end)
        return 0;
    if (*p++ != ' ' || p == end)
        goto fail;
    while (p < end) {
        const char *eq = memchr(p, '=', (size_t)(end - p));
        int key = eq ? key_from_name(p, (size_t)(eq - p)) : -1;
        if (key < 0 || rec->set[key].n)
            goto fail; /* unknown or repeated key */
        p = eq + 1;
        for (;;) {
            int64_t a, b;
            if (parse_offset(&p, end, &a) || p == end || *p++ != '-' || parse_offset(&p, end, &b) ||
                a >= b)
                goto fail;
            if (rec->set[key].n && a <= rec->set[key].r[rec->set[key].n - 1].end)
                goto fail; /* unsorted, overlapping or touching */
            if (aac_dlqrecord_add(rec, key, a, b))
                goto fail;
            if (p == end || *p == ';')
                break;
            if (*p++ != ',')
                goto fail;
        }
        if (p < end && ++p == end)
            goto fail; /* a trailing ';' */
    }
    return 0;
fail:
    aac_dlqrecord_clear(rec);
    return -1;
}

int aac_dlqrecord_format(const aac_dlqrecord_t *rec, char *buf, size_t size)
{
    size_t n = 0;
    bool first = true;
    int w = snprintf(buf, size, "%s", RECORD_TAG);
    if (w < 0 || (size_t)w >= size)
        return -1;
    n = (size_t)w;
    for (int k = 0; k < AAC_DLQRECORD_KEYS; k++) {
        if (!rec->set[k].n)
            continue;
        aac_reason_t r = (aac_reason_t)(k / AAC_DLQRECORD_GENS);
        int gen = k % AAC_DLQRECORD_GENS;
        char name[64];
        snprintf(name, sizeof(name), "%s", r == AAC_REASON_NONE ? "none" : aac_reason_str(r));
        if (gen)
            snprintf(name + strlen(name), sizeof(name) - strlen(name), ".%d", gen);
        w = snprintf(buf + n, size - n, "%s%s=", first ? " " : ";", name);
        if (w < 0 || (size_t)w >= size - n)
            return -1;
        n += (size_t)w;
        first = false;
        for (size_t i = 0; i < rec->set[k].n; i++) {
            w = snprintf(buf + n, size - n, "%s%" PRId64 "-%" PRId64, i ? "," : "",
                         rec->set[k].r[i].start, rec->set[k].r[i].end);
            if (w < 0 || (size_t)w >= size - n)
                return -1;
            n += (size_t)w;
        }
    }
    return (int)n;
}

/* --- the tracker --------------------------------------------------------- */

void aac_dlqrecord_tracker_init(aac_dlqrecord_tracker_t *t, int64_t start)
{
    memset(t, 0, sizeof(*t));
    t->pos = start;
    t->first_gap = -1;
}

int aac_dlqrecord_tracker_apply(aac_dlqrecord_tracker_t *t, int key, int64_t offset, bool replayed)
{
    if (key < 0 || key >= AAC_DLQRECORD_KEYS || offset < t->pos)
        return 0; /* out of order: ignored, it stays as the old record says */
    t->pos = offset + 1;
    if (!replayed) {
        t->open[key] = false;
        if (t->first_gap < 0)
            t->first_gap = offset;
        return 0;
    }
    aac_dlqrecord_ranges_t *s = &t->built.set[key];
    if (t->open[key] && s->n) {
        /* nothing of this key in between was left out: one range */
        s->r[s->n - 1].end = offset + 1;
        return 0;
    }
    t->open[key] = true;
    return aac_dlqrecord_add(&t->built, key, offset, offset + 1);
}

int aac_dlqrecord_tracker_result(const aac_dlqrecord_tracker_t *t, const aac_dlqrecord_t *old,
                                 aac_dlqrecord_t *out, int64_t *offset)
{
    for (int k = 0; k < AAC_DLQRECORD_KEYS; k++) {
        const aac_dlqrecord_ranges_t *s = &t->built.set[k];
        for (size_t i = 0; i < s->n; i++) {
            int64_t end = s->r[i].end;
            if (i == s->n - 1 && t->open[k])
                end = t->pos; /* every later one read was of another key */
            if (aac_dlqrecord_add(out, k, s->r[i].start, end))
                return -1;
        }
        for (size_t i = 0; old && i < old->set[k].n; i++) {
            const aac_dlqrecord_range_t *r = &old->set[k].r[i];
            if (r->end > t->pos &&
                aac_dlqrecord_add(out, k, r->start > t->pos ? r->start : t->pos, r->end))
                return -1;
        }
    }
    *offset = t->first_gap >= 0 ? t->first_gap : t->pos;
    return 0;
}

void aac_dlqrecord_tracker_clear(aac_dlqrecord_tracker_t *t)
{
    aac_dlqrecord_clear(&t->built);
}

/* --- the ledger of a run ------------------------------------------------- */

/* A dead letter read, waiting to be settled: its replay's delivery
 * report decides whether it counts as replayed. */
typedef enum { E_LEFT, E_RECORDED, E_PENDING, E_DELIVERED, E_FAILED } entry_state_t;
typedef struct entry_s {
    int64_t offset;
    int32_t partition;
    int16_t key;
    uint8_t recorded; /* in the record already (replayed by an earlier run) */
    uint8_t state;    /* entry_state_t */
} entry_t;

#define RANGE_TEXT_MAX 68 /* one more key and range in the record's text, at most */

struct aac_dlqrecord_ledger_s {
    int32_t nparts;
    int64_t *start;               /* per partition: where reading starts */
    aac_dlqrecord_t *old;         /* as committed before this run */
    aac_dlqrecord_tracker_t *trk; /* rebuilt from what is read */
    bool *spec_open;              /* [p * KEYS + key]: the tracker's open[] once the
                                   * entries queued are applied, deliveries assumed */
    int64_t *est_len;             /* bound on the record's text once they are */
    entry_t *q;                   /* dead letters read since the last settle, in order */
    size_t qn, qcap;
};

/* A bound on the length of a record's text as replays go on: `n` (its
 * length now, -1: too long) plus the digits the end of each key's last
 * range may gain when it is extended. RANGE_TEXT_MAX covers what a new
 * key or range adds. */
static int64_t text_bound(const aac_dlqrecord_t *rec, int n)
{
    int64_t len = n < 0 ? AAC_DLQRECORD_MAX + 1 : n;
    for (int k = 0; k < AAC_DLQRECORD_KEYS; k++)
        if (rec->set[k].n)
            len += 19;
    return len;
}

aac_dlqrecord_ledger_t *aac_dlqrecord_ledger_new(int32_t nparts, const int64_t *start)
{
    aac_dlqrecord_ledger_t *lg = calloc(1, sizeof(*lg));
    if (!lg || nparts <= 0)
        goto fail;
    lg->nparts = nparts;
    lg->start = calloc((size_t)nparts, sizeof(*lg->start));
    lg->old = calloc((size_t)nparts, sizeof(*lg->old));
    lg->trk = calloc((size_t)nparts, sizeof(*lg->trk));
    lg->spec_open = calloc((size_t)nparts * AAC_DLQRECORD_KEYS, sizeof(*lg->spec_open));
    lg->est_len = calloc((size_t)nparts, sizeof(*lg->est_len));
    if (!lg->start || !lg->old || !lg->trk || !lg->spec_open || !lg->est_len)
        goto fail;
    for (int32_t p = 0; p < nparts; p++) {
        lg->start[p] = start[p];
        aac_dlqrecord_tracker_init(&lg->trk[p], start[p]);
    }
    return lg;
fail:
    aac_dlqrecord_ledger_destroy(lg);
    return NULL;
}

void aac_dlqrecord_ledger_destroy(aac_dlqrecord_ledger_t *lg)
{
    if (!lg)
        return;
    for (int32_t p = 0; p < lg->nparts; p++) {
        if (lg->old)
            aac_dlqrecord_clear(&lg->old[p]);
        if (lg->trk)
            aac_dlqrecord_tracker_clear(&lg->trk[p]);
    }
    free(lg->start);
    free(lg->old);
    free(lg->trk);
    free(lg->spec_open);
    free(lg->est_len);
    free(lg->q);
    free(lg);
}

int aac_dlqrecord_ledger_load(aac_dlqrecord_ledger_t *lg, int32_t p, const char *text, size_t len)
{
    char buf[AAC_DLQRECORD_MAX + 1];
    if (p < 0 || p >= lg->nparts || aac_dlqrecord_parse(&lg->old[p], text, len))
        return -1;
    int n = aac_dlqrecord_format(&lg->old[p], buf, sizeof(buf));
    lg->est_len[p] = text_bound(&lg->old[p], n);
    return 0;
}

bool aac_dlqrecord_ledger_has(const aac_dlqrecord_ledger_t *lg, int32_t p, int key, int64_t offset)
{
    return p >= 0 && p < lg->nparts && aac_dlqrecord_has(&lg->old[p], key, offset);
}

bool aac_dlqrecord_ledger_tight(const aac_dlqrecord_ledger_t *lg, int32_t p, int key)
{
    return !lg->spec_open[(size_t)p * AAC_DLQRECORD_KEYS + (size_t)key] &&
           lg->est_len[p] + RANGE_TEXT_MAX > AAC_DLQRECORD_MAX;
}

long aac_dlqrecord_ledger_queue(aac_dlqrecord_ledger_t *lg, int32_t p, int key, int64_t offset,
                                bool recorded, bool replaying)
{
    bool *open = &lg->spec_open[(size_t)p * AAC_DLQRECORD_KEYS + (size_t)key];
    entry_state_t state = replaying ? E_PENDING : recorded ? E_RECORDED : E_LEFT;
    if (aac_grow((void **)&lg->q, &lg->qcap, lg->qn + 1, sizeof(*lg->q)) != 0)
        return -1;
    lg->q[lg->qn] = (entry_t){.offset = offset,
                              .partition = p,
                              .key = (int16_t)key,
                              .recorded = recorded,
                              .state = state};
    if (state == E_LEFT && !recorded) {
        *open = false;
    } else {
        if (!recorded && !*open)
            lg->est_len[p] += RANGE_TEXT_MAX; /* may start a key and a range */
        *open = true;
    }
    return (long)lg->qn++;
}

void aac_dlqrecord_ledger_delivered(aac_dlqrecord_ledger_t *lg, size_t i, bool ok)
{
    if (i < lg->qn && lg->q[i].state == E_PENDING)
        lg->q[i].state = ok ? E_DELIVERED : E_FAILED;
}

size_t aac_dlqrecord_ledger_queued(const aac_dlqrecord_ledger_t *lg)
{
    return lg->qn;
}

int aac_dlqrecord_ledger_settle(aac_dlqrecord_ledger_t *lg)
{
    for (size_t i = 0; i < lg->qn; i++) {
        const entry_t *e = &lg->q[i];
        bool replayed = e->recorded || e->state == E_DELIVERED;
        if (aac_dlqrecord_tracker_apply(&lg->trk[e->partition], e->key, e->offset, replayed))
            return -1;
    }
    lg->qn = 0;
    return 0;
}

int aac_dlqrecord_ledger_result(aac_dlqrecord_ledger_t *lg, int32_t p, char *buf, int64_t *offset)
{
    aac_dlqrecord_t rec;
    int n;

    if (lg->trk[p].pos == lg->start[p])
        return 0; /* nothing read: its record stays as it is */
    memset(&rec, 0, sizeof(rec));
    if (aac_dlqrecord_tracker_result(&lg->trk[p], &lg->old[p], &rec, offset)) {
        aac_dlqrecord_clear(&rec);
        return AAC_DLQRECORD_ENOMEM;
    }
    n = aac_dlqrecord_format(&rec, buf, AAC_DLQRECORD_MAX + 1);
    lg->est_len[p] = text_bound(&rec, n);
    aac_dlqrecord_clear(&rec);
    if (n < 0)
        return AAC_DLQRECORD_E2BIG;
    memcpy(&lg->spec_open[(size_t)p * AAC_DLQRECORD_KEYS], lg->trk[p].open,
           sizeof(lg->trk[p].open));
    return n;
}
