/*
 * log: the one encoder of the service's log lines, logfmt or JSON, on
 * stderr. Each record is rendered into a local buffer and written with one
 * write(2), so records from several threads never interleave within a
 * line. Every value goes through aac_utf8_escape; nothing else in the
 * service formats a log line.
 */
#include "aac/log.h"

#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "aac/rfc3339.h"
#include "aac/utf8.h"

aac_log_level_t aac_log_level = AAC_LOG_INFO;
static aac_log_format_t log_format = AAC_LOG_FORMAT_LOGFMT;

static const char *const level_names[] = {"debug", "info", "warn", "error", "off"};
static const char *const format_names[] = {"logfmt", "json"};

void aac_log_set_level(aac_log_level_t level)
{
    aac_log_level = level;
}

void aac_log_set_format(aac_log_format_t format)
{
    log_format = format;
}

const char *aac_log_level_str(aac_log_level_t level)
{
    if ((unsigned)level > AAC_LOG_OFF)
        return "unknown";
    return level_names[level];
}

int aac_log_level_parse(const char *s, aac_log_level_t *level)
{
    for (int i = 0; i <= AAC_LOG_OFF; i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *level = (aac_log_level_t)i;
            return 0;
        }
    }
    if (strcmp(s, "warning") == 0) {
        *level = AAC_LOG_WARN;
        return 0;
    }
    return -1;
}

const char *aac_log_format_str(aac_log_format_t format)
{
    if ((unsigned)format > AAC_LOG_FORMAT_JSON)
        return "unknown";
    return format_names[format];
}

int aac_log_format_parse(const char *s, aac_log_format_t *format)
{
    for (int i = 0; i <= AAC_LOG_FORMAT_JSON; i++) {
        if (strcmp(s, format_names[i]) == 0) {
            *format = (aac_log_format_t)i;
            return 0;
        }
    }
    return -1;
}

/* --- rendering: no stdio and no allocation up to the fields, so that
 * aac_log_signal_safe may use it ----------------------------------------- */

typedef struct line_s {
    char *buf;
    size_t len;
    size_t cap; /* bytes usable for fields: the closing "}\n" or "\n" is kept free */
    bool json;
} line_t;

static bool put(line_t *l, const char *s, size_t n)
{
    if (l->len + n > l->cap)
        return false;
    memcpy(l->buf + l->len, s, n);
    l->len += n;
    return true;
}

static bool put_str(line_t *l, const char *s)
{
    return put(l, s, strlen(s));
}

static void put_ts(line_t *l, const struct timespec *ts)
{
    char buf[AAC_RFC3339_SIZE]; /* aac_rfc3339_format is async-signal-safe */
    size_t n = aac_rfc3339_format((int64_t)ts->tv_sec * 1000000 + ts->tv_nsec / 1000, 3, buf);
    put(l, buf, n);
}

/* Keys are literals of the callers; whatever is not [A-Za-z0-9_.-] becomes
 * '_' so that a typo cannot break the line. */
static bool put_key(line_t *l, const char *key)
{
    size_t start = l->len;
    if (!put(l, l->json ? ",\"" : " ", l->json ? 2 : 1))
        return false;
    if (!key || !*key)
        key = "_";
    for (const char *k = key; *k; k++) {
        char c = *k;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '.' || c == '-';
        if (!put(l, ok ? &c : "_", 1))
            goto full;
    }
    if (put(l, l->json ? "\":" : "=", l->json ? 2 : 1))
        return true;
full:
    l->len = start;
    return false;
}

/* A string value: always quoted in JSON; in logfmt quoted when `force`,
 * when empty, or when it holds anything but bare characters. A value cut
 * for lack of room ends in "...". Returns 0, 1 when cut, -1 when nothing
 * fitted. */
static int put_value(line_t *l, const char *s, bool force)
{
    static const char ellipsis[] = "...";
    size_t n = s ? strlen(s) : 0, out, room;
    if (l->len + 2 + sizeof(ellipsis) > l->cap)
        return -1;
    room = l->cap - l->len - 1 - (sizeof(ellipsis) - 1); /* the closing quote and "..." */
    l->buf[l->len] = '"';
    size_t used = aac_utf8_escape(l->buf + l->len + 1, room, s ? s : "", n,
                                  l->json ? AAC_UTF8_ESC_JSON : AAC_UTF8_ESC_LOGFMT, &out);
    bool cut = used < n;
    bool quote = l->json || force || cut || n == 0 || out != n;
    for (size_t i = 0; !quote && i < n; i++)
        quote = s[i] == ' ' || s[i] == '=';
    if (quote) {
        l->len += 1 + out;
        if (cut)
            put(l, ellipsis, sizeof(ellipsis) - 1);
        put(l, "\"", 1);
    } else {
        memmove(l->buf + l->len, l->buf + l->len + 1, out);
        l->len += out;
    }
    return cut;
}

static void put_header(line_t *l, const struct timespec *ts, aac_log_level_t level, const char *msg)
{
    put_str(l, l->json ? "{\"ts\":\"" : "ts=");
    put_ts(l, ts);
    put_str(l, l->json ? "\",\"level\":\"" : " level=");
    put_str(l, aac_log_level_str(level));
    put_str(l, l->json ? "\",\"msg\":" : " msg=");
    put_value(l, msg, true);
}

static size_t finish(line_t *l, size_t size)
{
    /* cap left room for these */
    if (l->json)
        l->buf[l->len++] = '}';
    l->buf[l->len++] = '\n';
    if (l->len < size)
        l->buf[l->len] = '\0';
    return l->len;
}

size_t aac_log_render(char *buf, size_t size, aac_log_format_t format, const struct timespec *ts,
                      aac_log_level_t level, const char *msg, const aac_log_kv_t *kv)
{
    line_t l = {buf, 0, size - 3, format == AAC_LOG_FORMAT_JSON};
    char num[64];

    put_header(&l, ts, level, msg);
    for (; kv && kv->type != AAC_KV_T_END; kv++) {
        size_t start = l.len;
        if (!put_key(&l, kv->key))
            break;
        const char *v = num;
        switch (kv->type) {
        case AAC_KV_T_STR:
            switch (put_value(&l, kv->v.s, false)) {
            case 0:
                continue;
            case -1:
                l.len = start;
                goto done;
            default:
                goto done; /* cut: the line is full */
            }
        case AAC_KV_T_INT:
            snprintf(num, sizeof(num), "%lld", kv->v.i);
            break;
        case AAC_KV_T_UINT:
            snprintf(num, sizeof(num), "%llu", kv->v.u);
            break;
        case AAC_KV_T_DBL:
            if (l.json && !isfinite(kv->v.d))
                v = "null";
            else
                snprintf(num, sizeof(num), "%g", kv->v.d);
            break;
        case AAC_KV_T_BOOL:
            v = kv->v.i ? "true" : "false";
            break;
        default:
            v = "null";
            break;
        }
        if (!put_str(&l, v)) {
            l.len = start;
            break;
        }
    }
done:
    return finish(&l, size);
}

void aac_log_kv(aac_log_level_t level, const char *msg, const aac_log_kv_t *kv)
{
    char line[8192];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    size_t n = aac_log_render(line, sizeof(line), log_format, &ts, level, msg, kv);
    /* one write per record; a short write to stderr is not worth retrying */
    if (write(STDERR_FILENO, line, n) < 0)
        return;
}

void aac_log_signal_safe(aac_log_level_t level, const char *msg)
{
    char buf[512];
    struct timespec ts;
    line_t l = {buf, 0, sizeof(buf) - 3, log_format == AAC_LOG_FORMAT_JSON};
    clock_gettime(CLOCK_REALTIME, &ts); /* async-signal-safe, unlike gettimeofday */
    put_header(&l, &ts, level, msg);
    size_t n = finish(&l, sizeof(buf));
    if (write(STDERR_FILENO, buf, n) < 0)
        return;
}
