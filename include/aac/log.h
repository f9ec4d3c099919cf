/*
 * log: one line per record on stderr, logfmt (the default) or JSON.
 *
 *   ts=2026-11-21T10:00:00.123Z level=info msg="batch written" rows=500
 *   {"ts":"2026-11-21T10:00:00.123Z","level":"info","msg":"batch written","rows":500}
 *
 * Fields are typed key/value pairs and the module encodes every value, so
 * a caller cannot emit an unescaped one:
 *
 *   aac_warn("could not connect", AAC_KV_STR("error", PQerrorMessage(conn)),
 *            AAC_KV_INT("attempt", n));
 *   aac_info("stopped");
 *
 * String values are escaped (quotes, backslashes, control bytes, invalid
 * UTF-8) and, in logfmt, quoted when they hold a space, '=', a quote, a
 * backslash or a control byte, or are empty; msg is always quoted. Keys are
 * literals of [A-Za-z0-9_.-] (anything else becomes '_').
 *
 * The level check happens in the macro, so the arguments of a disabled
 * record are never evaluated. Safe to call from any thread (librdkafka's
 * log callback runs on its own threads): each record is built in a local
 * buffer and written with one write(2). Never pass a password, a
 * connection string or a message payload.
 */
#ifndef AAC_LOG_H
#define AAC_LOG_H

#include <stddef.h>
#include <time.h>

typedef enum {
    AAC_LOG_DEBUG = 0,
    AAC_LOG_INFO,
    AAC_LOG_WARN,
    AAC_LOG_ERROR,
    AAC_LOG_OFF
} aac_log_level_t;

typedef enum { AAC_LOG_FORMAT_LOGFMT = 0, AAC_LOG_FORMAT_JSON } aac_log_format_t;

extern aac_log_level_t aac_log_level;

/* Set once at start, before other threads log. */
void aac_log_set_level(aac_log_level_t level);
void aac_log_set_format(aac_log_format_t format);
/* "debug", "info", "warn", "error", "off". */
const char *aac_log_level_str(aac_log_level_t level);
/* Returns 0 and sets *level, or -1 when `s` names no level. */
int aac_log_level_parse(const char *s, aac_log_level_t *level);
/* "logfmt", "json". */
const char *aac_log_format_str(aac_log_format_t format);
/* Returns 0 and sets *format, or -1 when `s` names no format. */
int aac_log_format_parse(const char *s, aac_log_format_t *format);

/* One field. `type` comes first so that a stray string where a field
 * belongs does not compile: aac_warn("m", "k=%s", s) is an error. */
typedef enum {
    AAC_KV_T_END = 0,
    AAC_KV_T_STR,  /* free text: escaped and quoted as needed; NULL logs "" */
    AAC_KV_T_INT,  /* signed integer */
    AAC_KV_T_UINT, /* unsigned integer (size_t, uint64_t) */
    AAC_KV_T_DBL,  /* %g; JSON null when not finite */
    AAC_KV_T_BOOL  /* true / false */
} aac_log_kv_type_t;

typedef struct aac_log_kv_s {
    aac_log_kv_type_t type;
    const char *key;
    union {
        const char *s;
        long long i;
        unsigned long long u;
        double d;
    } v;
} aac_log_kv_t;

#define AAC_KV_STR(k, x)  ((aac_log_kv_t){AAC_KV_T_STR, (k), {.s = (x)}})
#define AAC_KV_INT(k, x)  ((aac_log_kv_t){AAC_KV_T_INT, (k), {.i = (long long)(x)}})
#define AAC_KV_UINT(k, x) ((aac_log_kv_t){AAC_KV_T_UINT, (k), {.u = (unsigned long long)(x)}})
#define AAC_KV_DBL(k, x)  ((aac_log_kv_t){AAC_KV_T_DBL, (k), {.d = (double)(x)}})
#define AAC_KV_BOOL(k, x) ((aac_log_kv_t){AAC_KV_T_BOOL, (k), {.i = (x) ? 1 : 0}})
#define AAC_KV_END        ((aac_log_kv_t){AAC_KV_T_END, NULL, {.s = NULL}})

/* Writes one record; `kv` ends with AAC_KV_END. Use the macros below. */
void aac_log_kv(aac_log_level_t level, const char *msg, const aac_log_kv_t *kv);

/* Renders one record, newline included, into buf (NUL-terminated) and
 * returns its length. A record that does not fit is cut at a field: a cut
 * string value ends in "..." and the line still parses. size must be at
 * least 128. For aac_log_kv and the unit tests. */
size_t aac_log_render(char *buf, size_t size, aac_log_format_t format, const struct timespec *ts,
                      aac_log_level_t level, const char *msg, const aac_log_kv_t *kv);

/* Async-signal-safe: writes a record with no fields (msg should be a
 * literal). For signal handlers, which may not call aac_log_kv. */
void aac_log_signal_safe(aac_log_level_t level, const char *msg);

#define AAC_LOG_MSG_(m, ...) (m)
#define AAC_LOG_KVS_(m, ...) __VA_ARGS__

/* AAC_LOG_AT(level, "msg", AAC_KV_...(...), ...): the fields are optional. */
#define AAC_LOG_AT(lvl, ...)                                                                       \
    do {                                                                                           \
        if ((lvl) >= aac_log_level)                                                                \
            aac_log_kv((lvl), AAC_LOG_MSG_(__VA_ARGS__, 0),                                        \
                       (const aac_log_kv_t[]){AAC_LOG_KVS_(__VA_ARGS__, AAC_KV_END)});             \
    } while (0)

#define aac_debug(...) AAC_LOG_AT(AAC_LOG_DEBUG, __VA_ARGS__)
#define aac_info(...)  AAC_LOG_AT(AAC_LOG_INFO, __VA_ARGS__)
#define aac_warn(...)  AAC_LOG_AT(AAC_LOG_WARN, __VA_ARGS__)
#define aac_error(...) AAC_LOG_AT(AAC_LOG_ERROR, __VA_ARGS__)

#endif
