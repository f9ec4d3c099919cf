/*
 * log: logfmt records on stderr. Each record is formatted into a local
 * buffer and written with one write(2), so records from several threads
 * never interleave within a line.
 */
#include "aac/log.h"

#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

aac_log_level_t aac_log_level = AAC_LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error", "off"};

void aac_log_set_level(aac_log_level_t level)
{
    aac_log_level = level;
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

const char *aac_log_quote(char *buf, size_t size, const char *s)
{
    size_t o = 0;
    if (size < 3) {
        if (size)
            buf[0] = '\0';
        return buf;
    }
    buf[o++] = '"';
    for (; s && *s && o + 3 < size; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            if (o + 4 >= size)
                break;
            buf[o++] = '\\';
            buf[o++] = (char)c;
        } else if (c < 0x20 || c == 0x7f) {
            /* a control character would break the one-line-per-record rule */
            if (o + 5 >= size)
                break;
            o += (size_t)snprintf(buf + o, size - o, "\\x%02x", c);
        } else {
            buf[o++] = (char)c;
        }
    }
    buf[o++] = '"';
    buf[o] = '\0';
    return buf;
}

void aac_log_vwrite(aac_log_level_t level, const char *msg, const char *fields, va_list ap)
{
    char line[4096];
    char qmsg[1024];
    struct timeval tv;
    struct tm tm;
    size_t o;
    int n;

    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    o = strftime(line, sizeof(line), "ts=%Y-%m-%dT%H:%M:%S", &tm);
    n = snprintf(line + o, sizeof(line) - o, ".%03dZ level=%s msg=%s", (int)(tv.tv_usec / 1000),
                 aac_log_level_str(level), aac_log_quote(qmsg, sizeof(qmsg), msg));
    o += (size_t)n;
    if (fields && *fields && o + 2 < sizeof(line)) {
        line[o++] = ' ';
        n = vsnprintf(line + o, sizeof(line) - o, fields, ap);
        if (n > 0)
            o += (size_t)n;
    }
    if (o > sizeof(line) - 2)
        o = sizeof(line) - 2;
    /* a field value may not contain a newline: keep the record on one line */
    for (size_t i = 0; i < o; i++)
        if (line[i] == '\n' || line[i] == '\r')
            line[i] = ' ';
    line[o++] = '\n';
    /* one write per record; a short write to stderr is not worth retrying */
    if (write(STDERR_FILENO, line, o) < 0)
        return;
}

void aac_log_write(aac_log_level_t level, const char *msg, const char *fields, ...)
{
    va_list ap;
    va_start(ap, fields);
    aac_log_vwrite(level, msg, fields, ap);
    va_end(ap);
}
