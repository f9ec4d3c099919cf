/*
 * log: one logfmt line per record on stderr.
 *
 *   ts=2026-11-21T10:00:00.123Z level=info msg="batch written" rows=500
 *
 * The level check happens in the macro, so the arguments of a disabled
 * record are never evaluated. Safe to call from any thread (librdkafka's
 * log callback runs on its own threads). Never pass a password, a
 * connection string or a message payload.
 */
#ifndef AAC_LOG_H
#define AAC_LOG_H

#include <stdarg.h>
#include <stddef.h>

typedef enum {
    AAC_LOG_DEBUG = 0,
    AAC_LOG_INFO,
    AAC_LOG_WARN,
    AAC_LOG_ERROR,
    AAC_LOG_OFF
} aac_log_level_t;

extern aac_log_level_t aac_log_level;

void aac_log_set_level(aac_log_level_t level);
/* "debug", "info", "warn", "error", "off". */
const char *aac_log_level_str(aac_log_level_t level);
/* Returns 0 and sets *level, or -1 when `s` names no level. */
int aac_log_level_parse(const char *s, aac_log_level_t *level);

/* Writes one record: `msg` is quoted; `fields` is a printf format of
 * further logfmt pairs ("rows=%d partition=%d"), or NULL. */
void aac_log_write(aac_log_level_t level, const char *msg, const char *fields, ...)
    __attribute__((format(printf, 3, 4)));
void aac_log_vwrite(aac_log_level_t level, const char *msg, const char *fields, va_list ap);

/* Quotes `s` for use as a logfmt value: wraps it in double quotes and
 * escapes quotes, backslashes and control characters, truncating to fit
 * `size`. Returns `buf`. */
const char *aac_log_quote(char *buf, size_t size, const char *s);

#define AAC_LOG_AT(lvl, ...)                                                                       \
    do {                                                                                           \
        if ((lvl) >= aac_log_level)                                                                \
            aac_log_write((lvl), __VA_ARGS__);                                                     \
    } while (0)

/* aac_debug("msg", "key=%d", v) or aac_info("msg", NULL) */
#define aac_debug(...) AAC_LOG_AT(AAC_LOG_DEBUG, __VA_ARGS__)
#define aac_info(...)  AAC_LOG_AT(AAC_LOG_INFO, __VA_ARGS__)
#define aac_warn(...)  AAC_LOG_AT(AAC_LOG_WARN, __VA_ARGS__)
#define aac_error(...) AAC_LOG_AT(AAC_LOG_ERROR, __VA_ARGS__)

#endif
