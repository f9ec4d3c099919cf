/*
 * copyrow: encodes one event as one row of COPY data, text or binary (see
 * include/aac/copyrow.h). Owns the byte layout of both formats and nothing
 * else: no allocation, no I/O, no libpq.
 *
 * The text encoder is pgsink.c's, moved here unchanged (its output is
 * compared byte for byte by tests/unit/test_copyrow.c). The binary encoder
 * writes each column in its type's send format (PostgreSQL's *send
 * functions), which the server reads without its text input functions:
 * that is what makes binary COPY cheaper on the server.
 */
#include "aac/copyrow.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "aac/uuid.h"

/* --- text --------------------------------------------------------------- */

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

static char *put_text_row(char *o, const aac_event_t *ev, const char *topic, size_t tlen,
                          int32_t partition, int64_t offset)
{
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
    return o;
}

/* --- binary ------------------------------------------------------------- */

/* Microseconds from the Unix epoch to PostgreSQL's, 2000-01-01 00:00 UTC. */
#define PG_EPOCH_OFFSET_US INT64_C(946684800000000)

static char *put_be16(char *o, uint16_t v)
{
    *o++ = (char)(v >> 8);
    *o++ = (char)v;
    return o;
}

static char *put_be32(char *o, uint32_t v)
{
    *o++ = (char)(v >> 24);
    *o++ = (char)(v >> 16);
    *o++ = (char)(v >> 8);
    *o++ = (char)v;
    return o;
}

static char *put_be64(char *o, uint64_t v)
{
    o = put_be32(o, (uint32_t)(v >> 32));
    return put_be32(o, (uint32_t)v);
}

static char *put_null(char *o)
{
    return put_be32(o, UINT32_MAX); /* length -1 */
}

/* A field of n bytes; n fits in int32 since a message is at most
 * event.max_message_bytes. */
static char *put_field(char *o, const void *p, size_t n)
{
    o = put_be32(o, (uint32_t)n);
    memcpy(o, p, n);
    return o + n;
}

/* text and varchar: the bytes, in the client encoding (UTF-8). */
static char *put_bin_str(char *o, aac_str_t s)
{
    return s.ptr ? put_field(o, s.ptr, s.len) : put_null(o);
}

/* jsonb: version 1, then the JSON text (jsonb_recv parses it as
 * jsonb_in would). */
static char *put_bin_jsonb(char *o, const char *s, size_t n)
{
    o = put_be32(o, (uint32_t)n + 1);
    *o++ = 1;
    memcpy(o, s, n);
    return o + n;
}

static char *put_bin_int4(char *o, int32_t v)
{
    o = put_be32(o, 4);
    return put_be32(o, (uint32_t)v);
}

static char *put_bin_int8(char *o, int64_t v)
{
    o = put_be32(o, 8);
    return put_be64(o, (uint64_t)v);
}

static char *put_binary_row(char *o, const aac_event_t *ev, const char *topic, size_t tlen,
                            int32_t partition, int64_t offset)
{
    o = put_be16(o, AAC_COPYROW_NCOLUMNS);
    o = put_field(o, ev->event_id, 16);
    o = put_field(o, ev->correlation_id, 16);
    o = ev->has_session_id ? put_field(o, ev->session_id, 16) : put_null(o);
    o = put_bin_str(o, ev->agent_name);
    const char *at = aac_action_type_str(ev->action_type); /* text column */
    o = put_field(o, at, strlen(at));
    o = put_bin_str(o, ev->action_name);
    if (ev->action_details.ptr && ev->action_details.len)
        o = put_bin_jsonb(o, ev->action_details.ptr, ev->action_details.len);
    else
        o = put_bin_jsonb(o, "{}", 2);
    if (!ev->has_duration_ms)
        o = put_null(o);
    else if (ev->duration_ms >= INT32_MIN && ev->duration_ms <= INT32_MAX)
        o = put_bin_int4(o, (int32_t)ev->duration_ms);
    else
        o = put_bin_int8(o, ev->duration_ms); /* refused by int4recv, see the header */
    if (ev->debug_mode < 0) {
        o = put_null(o);
    } else {
        o = put_be32(o, 1);
        *o++ = ev->debug_mode ? 1 : 0;
    }
    o = put_bin_str(o, ev->project_path);
    o = put_bin_str(o, ev->project_name);
    o = put_bin_str(o, ev->working_directory);
    /* unsigned: no overflow whatever the value; PostgreSQL checks the range */
    o = put_bin_int8(o, (int64_t)((uint64_t)ev->timestamp_us - (uint64_t)PG_EPOCH_OFFSET_US));
    o = ev->extra.len ? put_bin_jsonb(o, ev->extra.ptr, ev->extra.len) : put_null(o);
    o = put_field(o, topic, tlen);
    o = put_bin_int4(o, partition);
    return put_bin_int8(o, offset);
}

/* --- the interface ------------------------------------------------------- */

size_t aac_copyrow_bound(aac_copy_format_t f, const aac_event_t *ev, size_t topic_len)
{
    size_t var = ev->agent_name.len + ev->action_name.len + ev->action_details.len +
                 ev->project_path.len + ev->project_name.len + ev->working_directory.len +
                 ev->extra.len + topic_len;
    /* The fixed parts: text at most 230 bytes (3 uuids 108, action_type 9,
     * duration 20, debug_mode 2, timestamp 29, partition 11, offset 20,
     * separators 17, six \N 12, "{}" 2); binary at most 161 (field count
     * 2, 17 lengths 68, 3 uuids 48, action_type 9, duration 8, debug_mode
     * 1, timestamp 8, partition 4, offset 8, "{}" 2, 2 jsonb versions). */
    if (f == AAC_COPY_BINARY)
        return var + 256;
    return 2 * var + 256; /* escaping at most doubles a byte */
}

char *aac_copyrow_put(char *o, aac_copy_format_t f, const aac_event_t *ev, const char *topic,
                      size_t topic_len, int32_t partition, int64_t offset)
{
    if (f == AAC_COPY_BINARY)
        return put_binary_row(o, ev, topic, topic_len, partition, offset);
    return put_text_row(o, ev, topic, topic_len, partition, offset);
}

/* Signature "PGCOPY\n\377\r\n\0", flags 0 (no OIDs), header extension 0. */
static const char binary_header[19] = "PGCOPY\n\377\r\n\0"
                                      "\0\0\0\0"
                                      "\0\0\0\0";

const char *aac_copyrow_header(aac_copy_format_t f, size_t *len)
{
    if (f == AAC_COPY_BINARY) {
        *len = sizeof binary_header;
        return binary_header;
    }
    *len = 0;
    return "";
}

const char *aac_copyrow_trailer(aac_copy_format_t f, size_t *len)
{
    if (f == AAC_COPY_BINARY) {
        *len = 2;
        return "\377\377"; /* field count -1 */
    }
    *len = 0;
    return "";
}

const char *aac_copyrow_options(aac_copy_format_t f)
{
    return f == AAC_COPY_BINARY ? " WITH (FORMAT binary)" : "";
}

size_t aac_copyrow_error_line(const char *context)
{
    const char *copy = context ? strstr(context, "COPY ") : NULL;
    const char *ln = copy ? strstr(copy, ", line ") : NULL;
    if (!ln || ln[7] < '1' || ln[7] > '9')
        return 0;
    char *end;
    errno = 0;
    unsigned long long n = strtoull(ln + 7, &end, 10);
    if (errno || n > SIZE_MAX)
        return 0;
    return (size_t)n;
}
