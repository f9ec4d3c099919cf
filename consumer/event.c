/*
 * event: parses and validates one message value against the event contract,
 * version 1 (docs/event-contract.md), with yajl's SAX parser.
 *
 * The rule this module exists to keep: a message it accepts never makes
 * PostgreSQL fail. So beyond the contract's own fields it rejects what JSON
 * allows but jsonb, timestamptz or text refuse: NUL (raw or \u0000), lone
 * UTF-16 surrogate escapes, numbers beyond numeric's range, and duplicate
 * keys (which jsonb would silently collapse to the last one).
 *
 * Hot path: one parser per consume thread. Every per-message allocation,
 * yajl's own included (through yajl_alloc_funcs), comes from an arena that
 * is rewound at the start of each message; it grows only when a message
 * needs more than any before it. Nothing is malloc'ed per field.
 *
 * Raw text slices (action_details, the members of `extra`) are cut from the
 * input with yajl_get_bytes_consumed(): yajl's lexer advances it as it
 * reads, so inside a callback it is the offset just past the token that
 * triggered the callback. The whole message is fed in one yajl_parse()
 * call, so no token is split across buffers (tests/unit/test_event.c checks
 * the slices byte for byte).
 *
 * A Confluent frame (event.framing, see event.h) is read and stripped in
 * check_bytes(), before any other check sees the bytes: yajl, the UTF-8
 * and NUL checks all start after it. Its schema id becomes the last member
 * of `extra`, under a name no producer may use (F_RESERVED).
 */
#include <inttypes.h>
#include <limits.h>
#include <stdalign.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_parse.h>

#include "aac/event.h"
#include "aac/rfc3339.h"
#include "aac/utf8.h"
#include "aac/uuid.h"

/* UUIDv5(NAMESPACE_URL, "https://github.com/agent-actions-consumer/event-id/v1")
 * = 166b33e6-7310-5190-b8a6-331b4efca447 */
const uint8_t aac_event_id_namespace[16] = {0x16, 0x6b, 0x33, 0xe6, 0x73, 0x10, 0x51, 0x90,
                                            0xb8, 0xa6, 0x33, 0x1b, 0x4e, 0xfc, 0xa4, 0x47};

static const char *const action_type_names[AAC_ACTION__CNT] = {"tool_call", "decision", "error",
                                                               "success"};

const char *aac_action_type_str(aac_action_type_t t)
{
    if ((int)t < 0 || t >= AAC_ACTION__CNT)
        return "unknown";
    return action_type_names[t];
}

/* ---- framing ---- */

static const char *const framing_names[AAC_EVENT_FRAMING__CNT] = {"auto", "none", "confluent"};

const char *aac_event_framing_str(aac_event_framing_t f)
{
    if ((int)f < 0 || f >= AAC_EVENT_FRAMING__CNT)
        return "unknown";
    return framing_names[f];
}

int aac_event_framing_parse(const char *s, aac_event_framing_t *f)
{
    for (int i = 0; s && i < AAC_EVENT_FRAMING__CNT; i++)
        if (strcmp(s, framing_names[i]) == 0) {
            *f = (aac_event_framing_t)i;
            return 0;
        }
    return -1;
}

aac_event_frame_t aac_event_frame_read(const void *value, size_t len, uint32_t *schema_id)
{
    const unsigned char *v = value;
    if (!v || len == 0 || v[0] != AAC_EVENT_FRAME_MAGIC)
        return AAC_EVENT_FRAME_ABSENT;
    if (len < AAC_EVENT_FRAME_BYTES)
        return AAC_EVENT_FRAME_TRUNCATED;
    *schema_id = (uint32_t)v[1] << 24 | (uint32_t)v[2] << 16 | (uint32_t)v[3] << 8 | v[4];
    return AAC_EVENT_FRAME_OK;
}

/* ---- arena ---- */

typedef struct block_s {
    struct block_s *next;
    size_t cap;
    size_t used;
    alignas(max_align_t) unsigned char data[];
} block_t;

typedef struct arena_s {
    block_t *head; /* first block; the one kept across messages */
    block_t *cur;
    size_t total_used; /* this message, all blocks */
} arena_t;

#define ARENA_MIN_BLOCK (64 * 1024)
#define ARENA_ALIGN     16

static block_t *block_new(size_t cap)
{
    block_t *b = malloc(sizeof *b + cap);
    if (!b)
        return NULL;
    b->next = NULL;
    b->cap = cap;
    b->used = 0;
    return b;
}

static void *arena_alloc(arena_t *a, size_t size)
{
    size = (size + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    if (!a->cur) {
        a->head = a->cur = block_new(size > ARENA_MIN_BLOCK ? size : ARENA_MIN_BLOCK);
        if (!a->cur)
            return NULL;
    }
    if (a->cur->cap - a->cur->used < size) {
        size_t cap = a->cur->cap * 2;
        if (cap < size)
            cap = size;
        block_t *b = block_new(cap);
        if (!b)
            return NULL;
        a->cur->next = b;
        a->cur = b;
    }
    void *p = a->cur->data + a->cur->used;
    a->cur->used += size;
    a->total_used += size;
    return p;
}

/* Rewinds for the next message. When the last message spilled into more
 * blocks, they are merged into one block big enough for it, so a steady
 * stream of similar messages settles on one block and no malloc at all. */
static void arena_reset(arena_t *a)
{
    if (a->head && a->head->next) {
        size_t need = a->total_used + a->total_used / 2;
        block_t *b = a->head;
        while (b) {
            block_t *n = b->next;
            free(b);
            b = n;
        }
        a->head = a->cur = block_new(need > ARENA_MIN_BLOCK ? need : ARENA_MIN_BLOCK);
    }
    if (a->head)
        a->head->used = 0;
    a->cur = a->head;
    a->total_used = 0;
}

static void arena_free(arena_t *a)
{
    block_t *b = a->head;
    while (b) {
        block_t *n = b->next;
        free(b);
        b = n;
    }
    a->head = a->cur = NULL;
}

/* yajl's allocator: arena memory with a size header so realloc can copy;
 * free is a no-op because the arena is rewound per message. */
static void *yajl_malloc_cb(void *ctx, size_t sz)
{
    size_t *p = arena_alloc(ctx, sz + ARENA_ALIGN);
    if (!p)
        return NULL;
    *p = sz;
    return (unsigned char *)p + ARENA_ALIGN;
}

static void *yajl_realloc_cb(void *ctx, void *ptr, size_t sz)
{
    if (!ptr)
        return yajl_malloc_cb(ctx, sz);
    size_t old = *(size_t *)((unsigned char *)ptr - ARENA_ALIGN);
    if (sz <= old)
        return ptr;
    void *n = yajl_malloc_cb(ctx, sz);
    if (n)
        memcpy(n, ptr, old);
    return n;
}

static void yajl_free_cb(void *ctx, void *ptr)
{
    (void)ctx;
    (void)ptr;
}

/* ---- parser state ---- */

enum field {
    F_EVENT_ID,
    F_CORRELATION_ID,
    F_SESSION_ID,
    F_AGENT_NAME,
    F_ACTION_TYPE,
    F_ACTION_NAME,
    F_ACTION_DETAILS,
    F_DURATION_MS,
    F_DEBUG_MODE,
    F_PROJECT_PATH,
    F_PROJECT_NAME,
    F_WORKING_DIRECTORY,
    F_TIMESTAMP,
    F_SCHEMA_VERSION,
    F_RESERVED, /* AAC_EVENT_SCHEMA_ID_KEY: refused whatever its value */
    F_UNKNOWN,
    F__CNT
};

static const char *const field_names[F__CNT] = {
    "event_id",
    "correlation_id",
    "session_id",
    "agent_name",
    "action_type",
    "action_name",
    "action_details",
    "duration_ms",
    "debug_mode",
    "project_path",
    "project_name",
    "working_directory",
    "timestamp",
    "schema_version",
    AAC_EVENT_SCHEMA_ID_KEY,
    "",
};

typedef struct frame_s {
    bool is_array;
    uint32_t count;  /* array: elements completed so far = current index */
    uint32_t obj_id; /* object: its id in the duplicate-key table */
    const char *key; /* object: the current member's (decoded) key */
    size_t key_len;
} frame_t;

typedef struct keyent_s {
    uint32_t gen;
    uint32_t obj_id;
    uint32_t hash;
    uint32_t len;
    const char *key;
} keyent_t;

struct aac_event_parser_s {
    size_t max_message_bytes;
    int max_depth;
    aac_event_framing_t framing;
    arena_t arena;
    frame_t *frames; /* max_depth entries */
    keyent_t *keys;  /* open addressing, generation-stamped */
    size_t keys_cap; /* power of two */
    uint32_t gen;

    /* per message */
    yajl_handle h;
    const char *in; /* the arena's copy of the value's JSON text */
    size_t len;
    size_t base; /* bytes of the value before `in`: the frame, 0 or 5 */
    int depth;
    uint32_t obj_seq;
    size_t nkeys;
    size_t prev_end; /* bytes consumed at the previous callback */
    enum field field;
    size_t val_start; /* raw start of the current top-level container value */
    const char *ukey; /* raw text of the current unknown top-level key */
    size_t ukey_len;
    char *extra;
    size_t extra_len;
    uint32_t seen;   /* top-level fields present (null counts as present) */
    uint32_t nulled; /* top-level fields given as null */
    bool completing; /* inside yajl_complete_parse() */
    bool doc_failed;
    bool field_failed;
    const char *topic;
    aac_event_t *ev;
    aac_event_error_t *err;
    aac_event_error_t scratch;
};

aac_event_parser_t *aac_event_parser_new(const aac_event_limits_t *limits)
{
    aac_event_parser_t *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->max_message_bytes = limits && limits->max_message_bytes
                               ? limits->max_message_bytes
                               : AAC_EVENT_DEFAULT_MAX_MESSAGE_BYTES;
    p->max_depth =
        limits && limits->max_depth > 0 ? limits->max_depth : AAC_EVENT_DEFAULT_MAX_DEPTH;
    p->frames = calloc((size_t)p->max_depth + 1, sizeof *p->frames);
    p->keys_cap = 256;
    p->keys = calloc(p->keys_cap, sizeof *p->keys);
    if (!p->frames || !p->keys || !arena_alloc(&p->arena, 1)) {
        aac_event_parser_destroy(p);
        return NULL;
    }
    return p;
}

void aac_event_parser_set_framing(aac_event_parser_t *p, aac_event_framing_t framing)
{
    p->framing = (unsigned)framing < AAC_EVENT_FRAMING__CNT ? framing : AAC_EVENT_FRAMING_AUTO;
}

void aac_event_parser_destroy(aac_event_parser_t *p)
{
    if (!p)
        return;
    arena_free(&p->arena);
    free(p->frames);
    free(p->keys);
    free(p);
}

/* ---- text helpers ---- */

/* A bounded string builder that never splits a UTF-8 sequence, so a
 * truncated path or message is still valid UTF-8 (it goes into Kafka
 * headers and JSON output). */
typedef struct sb_s {
    char *buf;
    size_t cap; /* including the NUL */
    size_t len;
    bool truncated;
} sb_t;

static void sb_init(sb_t *sb, char *buf, size_t cap)
{
    sb->buf = buf;
    sb->cap = cap;
    sb->len = 0;
    sb->truncated = false;
    buf[0] = '\0';
}

static bool sb_put(sb_t *sb, const char *s, size_t n)
{
    if (sb->truncated || sb->len + n + 1 > sb->cap) {
        sb->truncated = true;
        return false;
    }
    memcpy(sb->buf + sb->len, s, n);
    sb->len += n;
    sb->buf[sb->len] = '\0';
    return true;
}

/* Appends s[0..n) escaped as inside a JSON string (the one escaper,
 * aac_utf8_escape); escapes and characters go whole or not at all. */
static bool sb_put_escaped(sb_t *sb, const char *s, size_t n)
{
    size_t out;
    if (sb->truncated)
        return false;
    size_t used =
        aac_utf8_escape(sb->buf + sb->len, sb->cap - sb->len, s, n, AAC_UTF8_ESC_JSON, &out);
    sb->len += out;
    if (used < n) {
        sb->truncated = true;
        return false;
    }
    return true;
}

/* A quoted snippet of payload for a message: at most ~40 bytes of it,
 * escaped, cut on a character boundary, ending in ..." when cut. */
static void snip(char *out, size_t outsz, const char *s, size_t n)
{
    sb_t sb;
    sb_init(&sb, out, outsz);
    sb_put(&sb, "\"", 1);
    size_t i = 0;
    while (i < n && sb.len < 41 && sb.len + 12 < outsz) {
        size_t k = aac_utf8_len((const unsigned char *)s + i, n - i);
        if (k == 0)
            k = 1; /* not reached: the message passed aac_utf8_check() */
        sb_put_escaped(&sb, s + i, k);
        i += k;
    }
    sb_put(&sb, i < n ? "...\"" : "\"", i < n ? 4 : 1);
}

static size_t utf8_chars(const char *s, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += ((unsigned char)s[i] & 0xC0) != 0x80;
    return c;
}

/* ---- errors ---- */

static bool is_ident(const char *k, size_t n)
{
    if (n == 0 || !((k[0] >= 'a' && k[0] <= 'z') || (k[0] >= 'A' && k[0] <= 'Z') || k[0] == '_'))
        return false;
    for (size_t i = 1; i < n; i++) {
        char c = k[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_'))
            return false;
    }
    return true;
}

static void path_key(sb_t *sb, const char *k, size_t n)
{
    if (is_ident(k, n)) {
        sb_put(sb, ".", 1);
        sb_put(sb, k, n);
    } else {
        sb_put(sb, "[\"", 2);
        sb_put_escaped(sb, k, n);
        sb_put(sb, "\"]", 2);
    }
}

/* The path of the value being parsed now: every open container's current
 * member key or element index. `upto` frames are rendered (depth for the
 * current value, depth-1 for the container itself). */
static void render_path(aac_event_parser_t *p, int upto, char *out, size_t outsz)
{
    sb_t sb;
    sb_init(&sb, out, outsz);
    sb_put(&sb, "$", 1);
    for (int i = 0; i < upto; i++) {
        frame_t *f = &p->frames[i];
        if (f->is_array) {
            char idx[16];
            int n = snprintf(idx, sizeof idx, "[%u]", f->count);
            sb_put(&sb, idx, (size_t)n);
        } else if (f->key) {
            path_key(&sb, f->key, f->key_len);
        }
    }
    if (sb.truncated) {
        /* mark it, keeping the result valid UTF-8 */
        size_t m = sb.len < outsz - 4 ? sb.len : outsz - 4;
        while (m > 0 && ((unsigned char)out[m] & 0xC0) == 0x80)
            m--;
        memcpy(out + m, "...", 4);
    }
}

static void set_msg(aac_event_error_t *e, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static void set_msg(aac_event_error_t *e, const char *fmt, va_list ap)
{
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    /* vsnprintf may have cut a multi-byte character in half */
    size_t n = strlen(e->message);
    if (n == sizeof e->message - 1) {
        size_t m = n;
        while (m > 0 && ((unsigned char)e->message[m - 1] & 0xC0) == 0x80)
            m--;
        if (m > 0 && (unsigned char)e->message[m - 1] >= 0xC0)
            e->message[m - 1] = '\0';
    }
}

/* A whole-document failure: stops the parse and wins over a field error.
 * Returns 0, which stops yajl, or is false to a caller that returns bool. */
static int doc_fail(aac_event_parser_t *p, aac_reason_t r, int upto, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int doc_fail(aac_event_parser_t *p, aac_reason_t r, int upto, const char *fmt, ...)
{
    aac_event_error_t *e = p->err;
    e->reason = r;
    if (upto < 0)
        snprintf(e->path, sizeof e->path, "$");
    else
        render_path(p, upto, e->path, sizeof e->path);
    va_list ap;
    va_start(ap, fmt);
    set_msg(e, fmt, ap);
    va_end(ap);
    p->doc_failed = true;
    return 0; /* tells yajl to stop */
}

/* A field failure: the first one is kept, and parsing goes on so that a
 * later whole-document problem (invalid JSON, a duplicate key...) is the
 * one reported: it is the more fundamental fault. */
static int field_fail(aac_event_parser_t *p, enum field f, aac_reason_t r, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int field_fail(aac_event_parser_t *p, enum field f, aac_reason_t r, const char *fmt, ...)
{
    if (p->field_failed)
        return 1;
    aac_event_error_t *e = p->err;
    e->reason = r;
    snprintf(e->path, sizeof e->path, "$.%s", field_names[f]);
    va_list ap;
    va_start(ap, fmt);
    set_msg(e, fmt, ap);
    va_end(ap);
    p->field_failed = true;
    return 1;
}

/* ---- lexical checks shared by every string and number ---- */

static int hex4(const char *s)
{
    int v = 0;
    for (int i = 0; i < 4; i++) {
        char c = s[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= c - '0';
        else if (c >= 'a' && c <= 'f')
            v |= c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            v |= c - 'A' + 10;
        else
            return -1;
    }
    return v;
}

/* The raw text of the token that ended at the current offset: from the
 * previous callback's end, past separators, to the current end. */
static void raw_token(aac_event_parser_t *p, const char **tok, size_t *tok_len)
{
    size_t end = yajl_get_bytes_consumed(p->h);
    size_t b = p->prev_end;
    if (p->completing || end < b) {
        /* A number that ended the input is only lexed when
         * yajl_complete_parse() feeds yajl one more byte of its own; the
         * offset then counts in that byte. The message is unterminated, so
         * it fails as invalid JSON anyway: slice nothing. */
        *tok = p->in + p->len;
        *tok_len = 0;
        return;
    }
    while (b < end && (p->in[b] == ' ' || p->in[b] == '\t' || p->in[b] == '\n' ||
                       p->in[b] == '\r' || p->in[b] == ',' || p->in[b] == ':'))
        b++;
    *tok = p->in + b;
    *tok_len = end - b;
}

/* Rejects \u0000 and unpaired surrogate escapes, which yajl accepts but
 * PostgreSQL's json parser refuses. `s` is the raw string token. Returns 1
 * to continue, 0 after failing the document. `upto` frames for the path. */
static int check_escapes(aac_event_parser_t *p, const char *s, size_t n, int upto)
{
    for (size_t i = 0; i + 1 < n; i++) {
        const char *bs = memchr(s + i, '\\', n - 1 - i);
        if (!bs)
            break;
        i = (size_t)(bs - s);
        if (s[i + 1] != 'u') {
            i++; /* skip the escaped character, which may be a backslash */
            continue;
        }
        if (i + 6 > n)
            break; /* yajl has already rejected a short escape */
        int cp = hex4(s + i + 2);
        if (cp == 0)
            return doc_fail(p, AAC_REASON_NUL_CHARACTER, upto,
                            "string contains \\u0000, which PostgreSQL text and jsonb cannot "
                            "store");
        if (cp >= 0xDC00 && cp <= 0xDFFF)
            return doc_fail(p, AAC_REASON_INVALID_UNICODE_ESCAPE, upto,
                            "string contains \\u%04x, a low surrogate without a high surrogate "
                            "before it",
                            (unsigned)cp);
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            int lo = (i + 12 <= n && s[i + 6] == '\\' && s[i + 7] == 'u') ? hex4(s + i + 8) : -1;
            if (lo < 0xDC00 || lo > 0xDFFF)
                return doc_fail(p, AAC_REASON_INVALID_UNICODE_ESCAPE, upto,
                                "string contains \\u%04x, a high surrogate not followed by a "
                                "low surrogate escape",
                                (unsigned)cp);
            i += 6; /* the pair's second half */
        }
        i += 5;
    }
    return 1;
}

/* PostgreSQL's numeric (which jsonb stores numbers as) holds at most
 * 131072 digits before the decimal point and 16383 after it, and its
 * input rejects exponents beyond +-(INT_MAX/2) even for zero. Checked
 * against PostgreSQL 15: 1e131071 and 1.5e-16382 load, 1e131072,
 * 1.5e-16383, 0e-16384 and 0e1073741823 fail with "value overflows numeric
 * format". Returns NULL when storable, else what is wrong. */
static const char *numeric_problem(const char *s, size_t n)
{
    size_t i = 0;
    if (i < n && s[i] == '-')
        i++;
    size_t int_start = i;
    while (i < n && s[i] >= '0' && s[i] <= '9')
        i++;
    size_t int_len = i - int_start;
    size_t frac_start = i, frac_len = 0;
    if (i < n && s[i] == '.') {
        frac_start = ++i;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        frac_len = i - frac_start;
    }
    int64_t exp = 0;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        bool neg = false;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            neg = s[i++] == '-';
        for (; i < n; i++) {
            if (exp < 100000000000LL)
                exp = exp * 10 + (s[i] - '0');
        }
        if (neg)
            exp = -exp;
    }
    if (exp >= INT_MAX / 2 || exp <= -(INT_MAX / 2))
        return "its exponent is beyond what PostgreSQL numeric accepts";
    int64_t dscale = (int64_t)frac_len - exp;
    if (dscale > 16383)
        return "it has more than 16383 digits after the decimal point, the limit of "
               "PostgreSQL numeric";
    /* decimal position of the first significant digit; zero has none and
     * is bound only by the checks above */
    int64_t first = INT64_MIN;
    for (size_t k = 0; k < int_len && first == INT64_MIN; k++)
        if (s[int_start + k] != '0')
            first = (int64_t)(int_len - 1 - k);
    for (size_t k = 0; k < frac_len && first == INT64_MIN; k++)
        if (s[frac_start + k] != '0')
            first = -(int64_t)(k + 1);
    if (first != INT64_MIN && first + exp >= 131072)
        return "it has more than 131072 digits before the decimal point, the limit of "
               "PostgreSQL numeric";
    return NULL;
}

/* ---- duplicate keys ---- */

static uint32_t key_hash(uint32_t obj, const char *k, size_t n)
{
    uint32_t h = 2166136261u ^ obj;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)k[i]) * 16777619u;
    return h;
}

static bool keys_grow(aac_event_parser_t *p)
{
    size_t cap = p->keys_cap * 2;
    keyent_t *t = calloc(cap, sizeof *t);
    if (!t)
        return false;
    for (size_t i = 0; i < p->keys_cap; i++) {
        keyent_t *e = &p->keys[i];
        if (e->gen != p->gen)
            continue;
        size_t j = e->hash & (cap - 1);
        while (t[j].gen == p->gen)
            j = (j + 1) & (cap - 1);
        t[j] = *e;
    }
    free(p->keys);
    p->keys = t;
    p->keys_cap = cap;
    return true;
}

/* Returns 1 when the key is new in its object, 0 when a duplicate, -1 when
 * out of memory. */
static int keys_insert(aac_event_parser_t *p, uint32_t obj, const char *k, size_t n)
{
    if ((p->nkeys + 1) * 2 > p->keys_cap && !keys_grow(p))
        return -1;
    uint32_t h = key_hash(obj, k, n);
    size_t j = h & (p->keys_cap - 1);
    for (;; j = (j + 1) & (p->keys_cap - 1)) {
        keyent_t *e = &p->keys[j];
        if (e->gen != p->gen) {
            e->gen = p->gen;
            e->obj_id = obj;
            e->hash = h;
            e->len = (uint32_t)n;
            e->key = k;
            p->nkeys++;
            return 1;
        }
        if (e->hash == h && e->obj_id == obj && e->len == n && memcmp(e->key, k, n) == 0)
            return 0;
    }
}

/* ---- top-level fields ---- */

static enum field field_lookup(const char *k, size_t n)
{
    /* keyed on length first: one memcmp per key on the hot path */
    switch (n) {
    case 8:
        if (memcmp(k, "event_id", 8) == 0)
            return F_EVENT_ID;
        break;
    case 9:
        if (memcmp(k, "timestamp", 9) == 0)
            return F_TIMESTAMP;
        break;
    case 10:
        if (memcmp(k, "session_id", 10) == 0)
            return F_SESSION_ID;
        if (memcmp(k, "agent_name", 10) == 0)
            return F_AGENT_NAME;
        if (memcmp(k, "debug_mode", 10) == 0)
            return F_DEBUG_MODE;
        break;
    case 11:
        if (memcmp(k, "action_type", 11) == 0)
            return F_ACTION_TYPE;
        if (memcmp(k, "action_name", 11) == 0)
            return F_ACTION_NAME;
        if (memcmp(k, "duration_ms", 11) == 0)
            return F_DURATION_MS;
        break;
    case 12:
        if (memcmp(k, "project_path", 12) == 0)
            return F_PROJECT_PATH;
        if (memcmp(k, "project_name", 12) == 0)
            return F_PROJECT_NAME;
        break;
    case 14:
        if (memcmp(k, "correlation_id", 14) == 0)
            return F_CORRELATION_ID;
        if (memcmp(k, "action_details", 14) == 0)
            return F_ACTION_DETAILS;
        if (memcmp(k, "schema_version", 14) == 0)
            return F_SCHEMA_VERSION;
        break;
    case 17:
        if (memcmp(k, "working_directory", 17) == 0)
            return F_WORKING_DIRECTORY;
        break;
    case sizeof AAC_EVENT_SCHEMA_ID_KEY - 1:
        if (memcmp(k, AAC_EVENT_SCHEMA_ID_KEY, sizeof AAC_EVENT_SCHEMA_ID_KEY - 1) == 0)
            return F_RESERVED;
        break;
    default:
        break;
    }
    return F_UNKNOWN;
}

/* Room in `extra` for its last member, the frame's schema id:
 * ,"_aac_confluent_schema_id":4294967295 and the closing brace. */
#define EXTRA_SCHEMA_ID_ROOM (sizeof AAC_EVENT_SCHEMA_ID_KEY + 16)

/* Appends one unknown member (raw key, raw value) to `extra`. */
static void extra_add(aac_event_parser_t *p, const char *val, size_t val_len)
{
    if (!p->extra) {
        /* the members' raw text plus braces and commas never exceeds the
         * message plus two bytes; then the schema id's member */
        p->extra = arena_alloc(&p->arena, p->len + 2 + EXTRA_SCHEMA_ID_ROOM);
        if (!p->extra)
            return;
        p->extra[p->extra_len++] = '{';
    } else {
        p->extra[p->extra_len++] = ',';
    }
    memcpy(p->extra + p->extra_len, p->ukey, p->ukey_len);
    p->extra_len += p->ukey_len;
    p->extra[p->extra_len++] = ':';
    memcpy(p->extra + p->extra_len, val, val_len);
    p->extra_len += val_len;
    p->ev->extra_count++;
}

static const char *const type_names[] = {"null", "boolean", "number", "string", "object", "array"};
enum jtype { J_NULL, J_BOOL, J_NUMBER, J_STRING, J_OBJECT, J_ARRAY };

/* A producer's own field under the name `extra` keeps for the frame's
 * schema id: no type is right for it, null included. */
static int reserved_field(aac_event_parser_t *p)
{
    return field_fail(p, F_RESERVED, AAC_REASON_RESERVED_FIELD,
                      "%s is reserved for the schema id of a confluent frame; give the field "
                      "another name",
                      AAC_EVENT_SCHEMA_ID_KEY);
}

static int wrong_type(aac_event_parser_t *p, enum field f, enum jtype got)
{
    const char *want;
    if (f == F_RESERVED)
        return reserved_field(p);
    switch (f) {
    case F_ACTION_DETAILS:
        want = "an object";
        break;
    case F_DURATION_MS:
        want = "an integer number of milliseconds";
        break;
    case F_DEBUG_MODE:
        want = "a boolean";
        break;
    case F_EVENT_ID:
    case F_CORRELATION_ID:
    case F_SESSION_ID:
        want = "a UUID string";
        break;
    case F_TIMESTAMP:
        want = "an RFC 3339 string";
        break;
    case F_SCHEMA_VERSION:
        want = "the number 1";
        break;
    default:
        want = "a string";
        break;
    }
    return field_fail(p, f, AAC_REASON_WRONG_TYPE, "%s must be %s, got %s", field_names[f], want,
                      type_names[got]);
}

/* Marks a top-level field as seen; null is "absent" for every field. */
static void mark_seen(aac_event_parser_t *p, enum field f, bool is_null)
{
    p->seen |= 1u << f;
    if (is_null)
        p->nulled |= 1u << f;
}

/* event_id, correlation_id, session_id: the canonical text form only. */
static int uuid_field(aac_event_parser_t *p, enum field f, const char *s, size_t n)
{
    aac_event_t *ev = p->ev;
    uint8_t *dst = f == F_EVENT_ID         ? ev->event_id
                   : f == F_CORRELATION_ID ? ev->correlation_id
                                           : ev->session_id;
    if (aac_uuid_parse(s, n, dst) != 0) {
        char sn[64];
        snip(sn, sizeof sn, s, n);
        return field_fail(p, f, AAC_REASON_INVALID_UUID,
                          "%s must be a UUID like 0f8fad5b-d9cb-469f-a165-70867728950e, got %s",
                          field_names[f], sn);
    }
    if (f == F_SESSION_ID)
        ev->has_session_id = true;
    return 1;
}

static int action_type_field(aac_event_parser_t *p, const char *s, size_t n)
{
    for (int t = 0; t < AAC_ACTION__CNT; t++)
        if (strlen(action_type_names[t]) == n && memcmp(action_type_names[t], s, n) == 0) {
            p->ev->action_type = (aac_action_type_t)t;
            return 1;
        }
    char sn[64];
    snip(sn, sizeof sn, s, n);
    return field_fail(p, F_ACTION_TYPE, AAC_REASON_UNKNOWN_ACTION_TYPE,
                      "action_type must be one of tool_call, decision, error, success, got %s", sn);
}

static int timestamp_field(aac_event_parser_t *p, const char *s, size_t n)
{
    char why[96];
    if (aac_rfc3339_parse(s, n, &p->ev->timestamp_us, why, sizeof why))
        return 1;
    char sn[64];
    snip(sn, sizeof sn, s, n);
    return field_fail(p, F_TIMESTAMP, AAC_REASON_INVALID_TIMESTAMP, "timestamp %s, got %s", why,
                      sn);
}

/* A free-text field of min..max characters, stored in *dst. */
static int text_field(aac_event_parser_t *p, enum field f, const char *s, size_t n, size_t min,
                      size_t max, aac_str_t *dst)
{
    size_t chars = utf8_chars(s, n);
    if (chars < min)
        return field_fail(p, f, AAC_REASON_TOO_SHORT, "%s must be %zu to %zu characters, got %zu",
                          field_names[f], min, max, chars);
    if (chars > max) {
        if (min)
            return field_fail(p, f, AAC_REASON_TOO_LONG,
                              "%s must be %zu to %zu characters, got %zu", field_names[f], min, max,
                              chars);
        return field_fail(p, f, AAC_REASON_TOO_LONG, "%s must be at most %zu characters, got %zu",
                          field_names[f], max, chars);
    }
    /* Decoded strings with escapes live in yajl's scratch buffer, which the
     * next string overwrites: keep a copy in the arena. */
    if (!(s >= p->in && s < p->in + p->len)) {
        char *c = arena_alloc(&p->arena, n ? n : 1);
        if (!c)
            return doc_fail(p, AAC_REASON_TOO_LARGE, -1, "out of memory");
        memcpy(c, s, n);
        s = c;
    }
    dst->ptr = s;
    dst->len = n;
    return 1;
}

static int string_field(aac_event_parser_t *p, enum field f, const char *s, size_t n)
{
    aac_event_t *ev = p->ev;
    switch (f) {
    case F_EVENT_ID:
    case F_CORRELATION_ID:
    case F_SESSION_ID:
        return uuid_field(p, f, s, n);
    case F_ACTION_TYPE:
        return action_type_field(p, s, n);
    case F_TIMESTAMP:
        return timestamp_field(p, s, n);
    case F_AGENT_NAME:
        return text_field(p, f, s, n, 1, AAC_EVENT_AGENT_NAME_MAX, &ev->agent_name);
    case F_ACTION_NAME:
        return text_field(p, f, s, n, 1, AAC_EVENT_ACTION_NAME_MAX, &ev->action_name);
    case F_PROJECT_PATH:
        return text_field(p, f, s, n, 0, AAC_EVENT_PROJECT_PATH_MAX, &ev->project_path);
    case F_PROJECT_NAME:
        return text_field(p, f, s, n, 0, AAC_EVENT_PROJECT_NAME_MAX, &ev->project_name);
    case F_WORKING_DIRECTORY:
        return text_field(p, f, s, n, 0, AAC_EVENT_WORKING_DIRECTORY_MAX, &ev->working_directory);
    default:
        return wrong_type(p, f, J_STRING);
    }
}

static int number_field(aac_event_parser_t *p, enum field f, const char *s, size_t n)
{
    aac_event_t *ev = p->ev;
    char sn[64];
    if (f == F_SCHEMA_VERSION) {
        if (n == 1 && s[0] == '1')
            return 1;
        snip(sn, sizeof sn, s, n);
        return field_fail(p, f, AAC_REASON_UNSUPPORTED_VERSION,
                          "schema_version must be 1 (the version this consumer reads), got %s", sn);
    }
    if (f != F_DURATION_MS)
        return wrong_type(p, f, J_NUMBER);
    bool neg = s[0] == '-';
    size_t i = neg;
    int64_t v = 0;
    bool big = false;
    for (; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
        v = v * 10 + (s[i] - '0');
        if (v > INT32_MAX) {
            big = true;
            v = INT32_MAX + INT64_C(1);
        }
    }
    snip(sn, sizeof sn, s, n);
    if (i != n)
        return field_fail(p, f, AAC_REASON_WRONG_TYPE,
                          "duration_ms must be an integer number of milliseconds, got %s", sn);
    if ((neg && v != 0) || big)
        return field_fail(p, f, AAC_REASON_OUT_OF_RANGE,
                          "duration_ms must be 0 to 2147483647, got %s", sn);
    ev->duration_ms = v;
    ev->has_duration_ms = true;
    return 1;
}

/* Common entry for every value: array index bookkeeping happens in
 * value_done(); here the depth-1 (top-level member) dispatch. */
static void value_done(aac_event_parser_t *p)
{
    if (p->depth > 0 && p->frames[p->depth - 1].is_array)
        p->frames[p->depth - 1].count++;
    if (!p->completing)
        p->prev_end = yajl_get_bytes_consumed(p->h);
}

static int top_not_object(aac_event_parser_t *p, const char *what)
{
    return doc_fail(p, AAC_REASON_NOT_AN_OBJECT, -1,
                    "message must be a JSON object, got %s at the top level", what);
}

/* A scalar at depth 1 that is the value of an unknown member. */
static void extra_scalar(aac_event_parser_t *p)
{
    const char *t;
    size_t tl;
    raw_token(p, &t, &tl);
    extra_add(p, t, tl);
}

static int null_cb(void *ctx)
{
    aac_event_parser_t *p = ctx;
    if (p->depth == 0)
        return top_not_object(p, "null");
    if (p->depth == 1) {
        mark_seen(p, p->field, true);
        if (p->field == F_UNKNOWN)
            extra_scalar(p);
        else if (p->field == F_RESERVED)
            reserved_field(p);
    }
    value_done(p);
    return 1;
}

static int boolean_cb(void *ctx, int b)
{
    aac_event_parser_t *p = ctx;
    if (p->depth == 0)
        return top_not_object(p, "a boolean");
    if (p->depth == 1) {
        mark_seen(p, p->field, false);
        if (p->field == F_DEBUG_MODE)
            p->ev->debug_mode = b ? 1 : 0;
        else if (p->field == F_UNKNOWN)
            extra_scalar(p);
        else
            wrong_type(p, p->field, J_BOOL);
    }
    value_done(p);
    return 1;
}

static int number_cb(void *ctx, const char *s, size_t n)
{
    aac_event_parser_t *p = ctx;
    if (p->depth == 0)
        return top_not_object(p, "a number");
    const char *why = numeric_problem(s, n);
    if (why) {
        char sn[64];
        snip(sn, sizeof sn, s, n);
        return doc_fail(p, AAC_REASON_OUT_OF_RANGE, p->depth, "number %s cannot be stored: %s", sn,
                        why);
    }
    if (p->depth == 1) {
        mark_seen(p, p->field, false);
        if (p->field == F_UNKNOWN)
            extra_scalar(p);
        else
            number_field(p, p->field, s, n);
    }
    value_done(p);
    return 1;
}

static bool in_input(aac_event_parser_t *p, const unsigned char *s)
{
    return (const char *)s >= p->in && (const char *)s < p->in + p->len;
}

static int string_cb(void *ctx, const unsigned char *s, size_t n)
{
    aac_event_parser_t *p = ctx;
    if (p->depth == 0)
        return top_not_object(p, "a string");
    const char *t = NULL;
    size_t tl = 0;
    bool escaped = !in_input(p, s);
    if (escaped || (p->depth == 1 && p->field == F_UNKNOWN)) {
        raw_token(p, &t, &tl);
        if (escaped && !check_escapes(p, t, tl, p->depth))
            return 0;
    }
    if (p->depth == 1) {
        mark_seen(p, p->field, false);
        if (p->field == F_UNKNOWN)
            extra_add(p, t, tl);
        else
            string_field(p, p->field, (const char *)s, n);
    }
    value_done(p);
    return !p->doc_failed;
}

static int start_container(aac_event_parser_t *p, bool is_array)
{
    if (p->depth == 0 && is_array)
        return top_not_object(p, "an array");
    if (p->depth >= p->max_depth)
        return doc_fail(p, AAC_REASON_TOO_DEEP, p->depth,
                        "nesting is deeper than %d levels (event.max_depth; the top-level object "
                        "is level 1)",
                        p->max_depth);
    if (p->depth == 1) {
        enum field f = p->field;
        mark_seen(p, f, false);
        p->val_start = yajl_get_bytes_consumed(p->h) - 1; /* the '{' or '[' */
        if (f != F_UNKNOWN && !(f == F_ACTION_DETAILS && !is_array))
            wrong_type(p, f, is_array ? J_ARRAY : J_OBJECT);
    }
    frame_t *fr = &p->frames[p->depth++];
    fr->is_array = is_array;
    fr->count = 0;
    fr->key = NULL;
    fr->key_len = 0;
    if (!is_array)
        fr->obj_id = p->obj_seq++;
    p->prev_end = yajl_get_bytes_consumed(p->h);
    return 1;
}

static int end_container(aac_event_parser_t *p)
{
    p->depth--;
    if (p->depth == 1) {
        /* a top-level member's container value just closed */
        size_t end = yajl_get_bytes_consumed(p->h);
        const char *raw = p->in + p->val_start;
        size_t rl = end - p->val_start;
        if (p->field == F_ACTION_DETAILS) {
            p->ev->action_details.ptr = raw;
            p->ev->action_details.len = rl;
        } else if (p->field == F_UNKNOWN) {
            extra_add(p, raw, rl);
        }
    }
    value_done(p);
    return 1;
}

static int start_map_cb(void *ctx)
{
    return start_container(ctx, false);
}

static int start_array_cb(void *ctx)
{
    return start_container(ctx, true);
}

static int end_cb(void *ctx)
{
    return end_container(ctx);
}

static int map_key_cb(void *ctx, const unsigned char *k, size_t n)
{
    aac_event_parser_t *p = ctx;
    frame_t *fr = &p->frames[p->depth - 1];
    const char *key = (const char *)k;
    const char *t = NULL;
    size_t tl = 0;
    bool escaped = !in_input(p, k);
    if (escaped || p->depth == 1)
        raw_token(p, &t, &tl);
    if (escaped) {
        fr->key = key;
        fr->key_len = n;
        if (!check_escapes(p, t, tl, p->depth))
            return 0;
        /* yajl reuses its decode buffer: keep the key for the duplicate
         * check and for error paths */
        char *c = arena_alloc(&p->arena, n ? n : 1);
        if (!c)
            return doc_fail(p, AAC_REASON_TOO_LARGE, -1, "out of memory");
        memcpy(c, k, n);
        key = c;
    }
    fr->key = key;
    fr->key_len = n;
    int r = keys_insert(p, fr->obj_id, key, n);
    if (r == 0) {
        char sn[64];
        snip(sn, sizeof sn, key, n);
        return doc_fail(p, AAC_REASON_DUPLICATE_KEY, p->depth,
                        "key %s appears more than once in the same object", sn);
    }
    if (r < 0)
        return doc_fail(p, AAC_REASON_TOO_LARGE, -1, "out of memory");
    if (p->depth == 1) {
        p->field = field_lookup(key, n);
        if (p->field == F_UNKNOWN) {
            p->ukey = t;
            p->ukey_len = tl;
        }
    }
    p->prev_end = yajl_get_bytes_consumed(p->h);
    return 1;
}

static const yajl_callbacks callbacks = {
    .yajl_null = null_cb,
    .yajl_boolean = boolean_cb,
    .yajl_number = number_cb, /* raw text: no overflow inside yajl */
    .yajl_string = string_cb,
    .yajl_start_map = start_map_cb,
    .yajl_map_key = map_key_cb,
    .yajl_end_map = end_cb,
    .yajl_start_array = start_array_cb,
    .yajl_end_array = end_cb,
};

/* yajl's own error text without its "lexical error: " prefix and newline. */
static void json_error(aac_event_parser_t *p)
{
    unsigned char *msg = yajl_get_error(p->h, 0, NULL, 0);
    const char *m = msg ? (const char *)msg : "syntax error";
    const char *c = strstr(m, ": ");
    if (c)
        m = c + 2;
    size_t ml = strcspn(m, "\n");
    while (ml > 0 && (m[ml - 1] == '.' || m[ml - 1] == ' '))
        ml--;
    /* an error found by yajl_complete_parse() is at the end of the input;
     * yajl's own offset then counts in the byte it fed itself */
    size_t at = p->base + (p->completing ? p->len : yajl_get_bytes_consumed(p->h));
    doc_fail(p, AAC_REASON_INVALID_JSON, -1, "message is not valid JSON: %.*s at byte %zu", (int)ml,
             m, at);
    if (msg)
        yajl_free_error(p->h, msg);
}

/* project_name from project_path: its last component, with '/' and '\'
 * both separators (Windows agents send C:\work\repo) and trailing
 * separators ignored; none for "/", "" or "C:\". Cut to 255 characters. */
static aac_str_t derive_project_name(aac_str_t path)
{
    aac_str_t r = {NULL, 0};
    size_t end = path.len;
    while (end > 0 && (path.ptr[end - 1] == '/' || path.ptr[end - 1] == '\\'))
        end--;
    size_t b = end;
    while (b > 0 && path.ptr[b - 1] != '/' && path.ptr[b - 1] != '\\')
        b--;
    if (b == end)
        return r;
    if (end - b == 2 && path.ptr[b + 1] == ':' && b == 0)
        return r; /* a bare drive letter, "C:" */
    r.ptr = path.ptr + b;
    r.len = end - b;
    size_t chars = 0, i = 0;
    for (; i < r.len; i++) {
        if (((unsigned char)r.ptr[i] & 0xC0) != 0x80 && ++chars > AAC_EVENT_PROJECT_NAME_MAX)
            break;
    }
    r.len = i;
    return r;
}

/* Clears *ev to its defaults and *err to no error. */
static void begin_message(aac_event_parser_t *p, aac_event_t *ev, aac_event_error_t *err)
{
    err->reason = AAC_REASON_NONE;
    err->path[0] = '\0';
    err->message[0] = '\0';
    p->err = err;
    p->doc_failed = p->field_failed = false;

    memset(ev, 0, sizeof *ev);
    ev->debug_mode = -1;
    ev->action_details.ptr = "{}";
    ev->action_details.len = 2;
    p->ev = ev;
}

/* The frame event.framing allows or requires at the start of the value:
 * strips it (p->base, *v and *len move past it) and keeps its schema id;
 * false when the frame is cut short, or missing where it is required. */
static bool read_frame(aac_event_parser_t *p, const unsigned char **v, size_t *len)
{
    p->base = 0;
    if (p->framing == AAC_EVENT_FRAMING_NONE || *len == 0)
        return true; /* empty: empty_message, whatever the framing */
    uint32_t id = 0;
    switch (aac_event_frame_read(*v, *len, &id)) {
    case AAC_EVENT_FRAME_OK:
        p->ev->schema_id = id;
        p->ev->has_schema_id = true;
        p->base = AAC_EVENT_FRAME_BYTES;
        *v += AAC_EVENT_FRAME_BYTES;
        *len -= AAC_EVENT_FRAME_BYTES;
        return true;
    case AAC_EVENT_FRAME_TRUNCATED:
        return doc_fail(p, AAC_REASON_INVALID_FRAME, -1,
                        "confluent frame needs %d bytes (magic byte 0x00, 4-byte schema id), got "
                        "%zu",
                        AAC_EVENT_FRAME_BYTES, *len);
    case AAC_EVENT_FRAME_ABSENT:
    default:
        if (p->framing != AAC_EVENT_FRAMING_CONFLUENT)
            return true;
        return doc_fail(p, AAC_REASON_MISSING_FRAME, -1,
                        "message has no confluent frame: it starts with byte 0x%02x, not the magic "
                        "byte 0x00 (event.framing is confluent)",
                        (*v)[0]);
    }
}

/* What is checked over the whole message before yajl sees it, its frame
 * read and stripped first: *v and *len are then the JSON text. False when
 * it fails (p->err says why). Positions in messages count the frame in. */
static bool check_bytes(aac_event_parser_t *p, const unsigned char **vp, size_t *lenp)
{
    if (*lenp > p->max_message_bytes)
        return doc_fail(p, AAC_REASON_TOO_LARGE, -1,
                        "message is %zu bytes, more than the limit of %zu "
                        "(event.max_message_bytes)",
                        *lenp, p->max_message_bytes);
    if (!*vp)
        *lenp = 0;
    if (!read_frame(p, vp, lenp))
        return false;
    const unsigned char *v = *vp;
    size_t len = *lenp;
    size_t ws = 0;
    while (ws < len && (v[ws] == ' ' || v[ws] == '\t' || v[ws] == '\n' || v[ws] == '\r'))
        ws++;
    if (ws == len) {
        if (p->ev->has_schema_id)
            return doc_fail(p, AAC_REASON_EMPTY_MESSAGE, -1,
                            "message is empty after its confluent frame (schema id %" PRIu32
                            "); expected a JSON object",
                            p->ev->schema_id);
        return doc_fail(p, AAC_REASON_EMPTY_MESSAGE, -1,
                        "message is empty; expected a JSON object");
    }
    /* over the whole message: yajl only checks inside strings, and a stray
     * byte between tokens must be reported as invalid_utf8, not invalid_json */
    size_t at = 0;
    aac_utf8_check_t u = aac_utf8_check(v, len, &at);
    if (u == AAC_UTF8_NUL) {
        uint32_t id;
        if (p->framing == AAC_EVENT_FRAMING_NONE && at == 0 &&
            aac_event_frame_read(v, len, &id) == AAC_EVENT_FRAME_OK)
            return doc_fail(p, AAC_REASON_NUL_CHARACTER, -1,
                            "message contains a NUL byte at byte 0; it starts like a confluent "
                            "frame (schema id %" PRIu32 "), which event.framing none does not read",
                            id);
        return doc_fail(p, AAC_REASON_NUL_CHARACTER, -1, "message contains a NUL byte at byte %zu",
                        p->base + at);
    }
    if (u == AAC_UTF8_INVALID)
        return doc_fail(p, AAC_REASON_INVALID_UTF8, -1,
                        "message is not valid UTF-8: byte 0x%02x at byte %zu begins no valid "
                        "sequence",
                        v[at], p->base + at);

    /* yajl takes a vertical tab or form feed as whitespace; JSON and
     * PostgreSQL's parser do not, and raw slices (action_details, extra)
     * would carry them into jsonb. Inside a string yajl rejects them. */
    const unsigned char *bad = memchr(v, '\v', len);
    const unsigned char *ff = memchr(v, '\f', bad ? (size_t)(bad - v) : len);
    if (ff)
        bad = ff;
    if (bad)
        return doc_fail(p, AAC_REASON_INVALID_JSON, -1,
                        "message is not valid JSON: a %s at byte %zu; JSON allows only space, tab, "
                        "CR and LF between tokens",
                        *bad == '\v' ? "vertical tab" : "form feed", p->base + (size_t)(bad - v));
    return true;
}

/* Runs yajl over an arena copy of the message, the callbacks filling
 * p->ev; false when the document or a field failed (p->err says why). */
static bool run_yajl(aac_event_parser_t *p, const char *topic, const void *value, size_t len)
{
    arena_reset(&p->arena);
    if (++p->gen == 0) {
        memset(p->keys, 0, p->keys_cap * sizeof *p->keys);
        p->gen = 1;
    }
    char *copy = arena_alloc(&p->arena, len);
    yajl_alloc_funcs af = {yajl_malloc_cb, yajl_realloc_cb, yajl_free_cb, &p->arena};
    p->h = copy ? yajl_alloc(&callbacks, &af, p) : NULL;
    if (!p->h)
        return doc_fail(p, AAC_REASON_TOO_LARGE, -1, "out of memory for a %zu-byte message", len);
    memcpy(copy, value, len);
    /* aac_utf8_check() has covered every byte, strings included */
    yajl_config(p->h, yajl_dont_validate_strings, 1);
    p->in = copy;
    p->len = len;
    p->depth = 0;
    p->obj_seq = 0;
    p->nkeys = 0;
    p->prev_end = 0;
    p->field = F_UNKNOWN;
    p->extra = NULL;
    p->extra_len = 0;
    p->seen = p->nulled = 0;
    p->topic = topic;

    yajl_status st = yajl_parse(p->h, (const unsigned char *)copy, len);
    if (st == yajl_status_ok) {
        p->completing = true;
        st = yajl_complete_parse(p->h);
    }
    if (st == yajl_status_error && !p->doc_failed)
        json_error(p);
    p->completing = false;
    yajl_free(p->h);
    p->h = NULL;
    return !p->doc_failed && !p->field_failed;
}

static const enum field required[] = {F_CORRELATION_ID, F_AGENT_NAME, F_ACTION_TYPE, F_ACTION_NAME,
                                      F_TIMESTAMP};

static bool check_required(aac_event_parser_t *p)
{
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++) {
        enum field f = required[i];
        if (!(p->seen & (1u << f)) || (p->nulled & (1u << f))) {
            field_fail(p, f, AAC_REASON_MISSING_FIELD, "%s is required, got %s", field_names[f],
                       (p->nulled & (1u << f)) ? "null" : "nothing");
            return false;
        }
    }
    return true;
}

/* Closes `extra`, the frame's schema id its last member; false only when
 * out of memory. */
static bool finish_extra(aac_event_parser_t *p)
{
    aac_event_t *ev = p->ev;
    if (ev->has_schema_id) {
        if (!p->extra) {
            p->extra = arena_alloc(&p->arena, EXTRA_SCHEMA_ID_ROOM + 2);
            if (!p->extra)
                return doc_fail(p, AAC_REASON_TOO_LARGE, -1, "out of memory");
            p->extra[p->extra_len++] = '{';
        } else {
            p->extra[p->extra_len++] = ',';
        }
        /* room: EXTRA_SCHEMA_ID_ROOM was kept for this member */
        int n = snprintf(p->extra + p->extra_len, EXTRA_SCHEMA_ID_ROOM, "\"%s\":%" PRIu32,
                         AAC_EVENT_SCHEMA_ID_KEY, ev->schema_id);
        p->extra_len += (size_t)n;
    }
    if (p->extra) {
        p->extra[p->extra_len++] = '}';
        ev->extra.ptr = p->extra;
        ev->extra.len = p->extra_len;
    }
    return true;
}

/* event_id = UUIDv5(aac_event_id_namespace, "topic/partition/offset") for
 * an event that has none; false only when out of memory. */
static bool derive_event_id(aac_event_parser_t *p, const char *topic, int32_t partition,
                            int64_t offset)
{
    aac_event_t *ev = p->ev;
    char name[320];
    int n = snprintf(name, sizeof name, "%s/%ld/%lld", topic ? topic : "", (long)partition,
                     (long long)offset);
    if (n >= (int)sizeof name) {
        /* topics are at most 249 bytes; stay exact for longer ones */
        char *big = arena_alloc(&p->arena, (size_t)n + 1);
        if (!big)
            return doc_fail(p, AAC_REASON_TOO_LARGE, -1, "out of memory");
        snprintf(big, (size_t)n + 1, "%s/%ld/%lld", topic, (long)partition, (long long)offset);
        aac_uuid_v5(aac_event_id_namespace, big, (size_t)n, ev->event_id);
    } else {
        aac_uuid_v5(aac_event_id_namespace, name, (size_t)n, ev->event_id);
    }
    ev->event_id_derived = true;
    return true;
}

aac_reason_t aac_event_parse(aac_event_parser_t *p, const char *topic, int32_t partition,
                             int64_t offset, const void *value, size_t len, aac_event_t *ev,
                             aac_event_error_t *err)
{
    if (!err)
        err = &p->scratch;
    begin_message(p, ev, err);
    const unsigned char *json = value;
    if (!check_bytes(p, &json, &len) || !run_yajl(p, topic, json, len) || !check_required(p))
        return err->reason;

    if (!finish_extra(p))
        return err->reason;
    if (!ev->project_name.ptr && ev->project_path.ptr)
        ev->project_name = derive_project_name(ev->project_path);
    if (!(p->seen & (1u << F_EVENT_ID)) || (p->nulled & (1u << F_EVENT_ID))) {
        if (!derive_event_id(p, topic, partition, offset))
            return err->reason;
    }
    return AAC_REASON_NONE;
}
