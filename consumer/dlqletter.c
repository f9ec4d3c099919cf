/*
 * dlqletter: a dead letter as the dlq commands read it (see dlqletter.h).
 *
 * Header names come from aac_dlq_headers (dlq.h); what is printed of a
 * header, key or value is cut at a fixed size (HDR_MAX_PRINT...) and
 * escaped by the one escaper, JSON or logfmt.
 */
#include "aac/dlqletter.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "aac/dlq.h"
#include "aac/event.h"
#include "aac/rfc3339.h"
#include "aac/utf8.h"

#define HDR_MAX_PRINT   1024 /* bytes of a header value printed */
#define KEY_MAX_PRINT   256
#define VALUE_MAX_PRINT 4096

/* --- reading ------------------------------------------------------------- */

static const char *hname(aac_dlq_header_t which)
{
    return aac_dlq_headers[which].name;
}

/* Copies the last header `name` into buf (NUL-terminated, cut to size);
 * "" when absent. Returns true when present. */
static bool header_str(const rd_kafka_headers_t *h, const char *name, char *buf, size_t size)
{
    const void *v;
    size_t n;
    buf[0] = '\0';
    if (!h || rd_kafka_header_get_last(h, name, &v, &n) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return false;
    if (!v)
        n = 0;
    if (n >= size)
        n = size - 1;
    memcpy(buf, v, n);
    buf[n] = '\0'; /* an embedded NUL ends it early: fine for matching */
    return true;
}

int aac_dlqletter_replay_count(const void *value, size_t size)
{
    const char *s = value;
    long v = 0;
    if (!s || size == 0)
        return 0;
    for (size_t i = 0; i < size; i++) {
        if (s[i] < '0' || s[i] > '9' || v > 1000000)
            return INT_MAX;
        v = v * 10 + (s[i] - '0');
    }
    return (int)v;
}

void aac_dlqletter_read_headers(aac_dlqletter_t *l, const rd_kafka_headers_t *h,
                                int64_t timestamp_ms)
{
    const void *v;
    size_t n;
    memset(l, 0, sizeof(*l));
    l->hdrs = h;
    header_str(h, hname(AAC_DLQ_H_ERROR_REASON), l->reason, sizeof(l->reason));
    header_str(h, hname(AAC_DLQ_H_ERROR_CLASS), l->cls, sizeof(l->cls));
    header_str(h, hname(AAC_DLQ_H_ORIGINAL_TOPIC), l->orig_topic, sizeof(l->orig_topic));
    l->failed_at_ms = INT64_MIN;
    if (header_str(h, hname(AAC_DLQ_H_FAILED_AT), l->failed_at, sizeof(l->failed_at)) &&
        !aac_rfc3339_parse_ms(l->failed_at, strlen(l->failed_at), &l->failed_at_ms, NULL, 0))
        l->failed_at_ms = INT64_MIN;
    /* no usable header: the dead letter's own timestamp is when it was written */
    if (l->failed_at_ms == INT64_MIN && timestamp_ms >= 0)
        l->failed_at_ms = timestamp_ms;
    l->replay_count = 0;
    if (h && rd_kafka_header_get_last(h, AAC_DLQLETTER_H_REPLAY_COUNT, &v, &n) ==
                 RD_KAFKA_RESP_ERR_NO_ERROR)
        l->replay_count = aac_dlqletter_replay_count(v, v ? n : 0);
}

void aac_dlqletter_read(aac_dlqletter_t *l, const rd_kafka_message_t *rkm)
{
    rd_kafka_timestamp_type_t tt;
    rd_kafka_headers_t *h;
    if (rd_kafka_message_headers(rkm, &h) != RD_KAFKA_RESP_ERR_NO_ERROR)
        h = NULL;
    aac_dlqletter_read_headers(l, h, rd_kafka_message_timestamp(rkm, &tt));
    l->rkm = rkm;
}

/* --- the replay's headers ------------------------------------------------ */

bool aac_dlqletter_is_own_header(const char *name)
{
    return name && strncmp(name, AAC_DLQ_HEADER_PREFIX, strlen(AAC_DLQ_HEADER_PREFIX)) == 0;
}

rd_kafka_headers_t *aac_dlqletter_replay_headers(const aac_dlqletter_t *l)
{
    const rd_kafka_message_t *rkm = l->rkm;
    rd_kafka_headers_t *h = rd_kafka_headers_new(8);
    const char *name;
    const void *v;
    size_t n;
    char buf[64];

    for (size_t i = 0; l->hdrs && rd_kafka_header_get_all(l->hdrs, i, &name, &v, &n) ==
                                      RD_KAFKA_RESP_ERR_NO_ERROR;
         i++)
        if (!aac_dlqletter_is_own_header(name))
            rd_kafka_header_add(h, name, -1, v, v ? (ssize_t)n : 0);
    snprintf(buf, sizeof(buf), "%" PRId32 ":%" PRId64, rkm->partition, rkm->offset);
    rd_kafka_header_add(h, AAC_DLQLETTER_H_REPLAYED_FROM, -1, buf, -1);
    snprintf(buf, sizeof(buf), "%d", l->replay_count + 1);
    rd_kafka_header_add(h, AAC_DLQLETTER_H_REPLAY_COUNT, -1, buf, -1);
    return h;
}

/* --- printing ------------------------------------------------------------ */

/* Writes `n` bytes of `p` as a quoted string, at most `max` of them, with
 * the one escaper (aac_utf8_escape): JSON (invalid UTF-8 as U+FFFD) or
 * logfmt (invalid bytes as \xNN). Returns true when it was cut. */
static bool put_str(FILE *f, const void *p, size_t n, size_t max, bool json)
{
    bool cut = n > max;
    aac_utf8_fput_quoted(f, p, cut ? max : n, json ? AAC_UTF8_ESC_JSON : AAC_UTF8_ESC_LOGFMT);
    return cut;
}

/* The schema id of the value's Confluent frame, read from its first bytes
 * by the parser's own rule (aac_event_frame_read) whatever event.framing
 * the consumer had; false when the value has no whole frame. */
static bool frame_schema_id(const rd_kafka_message_t *rkm, uint32_t *id)
{
    return rkm->payload && aac_event_frame_read(rkm->payload, rkm->len, id) == AAC_EVENT_FRAME_OK;
}

/* A header value as a JSON number when it is one, else null. */
static void put_json_int(FILE *f, const rd_kafka_headers_t *h, const char *name)
{
    char buf[32], *end;
    if (!header_str(h, name, buf, sizeof(buf)) || !buf[0]) {
        fputs("null", f);
        return;
    }
    errno = 0;
    long long v = strtoll(buf, &end, 10);
    if (errno || *end)
        fputs("null", f);
    else
        fprintf(f, "%lld", v);
}

static void put_json_hdr(FILE *f, const rd_kafka_headers_t *h, const char *name)
{
    const void *v;
    size_t n;
    if (!h || rd_kafka_header_get_last(h, name, &v, &n) != RD_KAFKA_RESP_ERR_NO_ERROR || !v)
        fputs("null", f);
    else
        put_str(f, v, n, HDR_MAX_PRINT, true);
}

void aac_dlqletter_json_headers(FILE *f, const rd_kafka_headers_t *h)
{
    for (int i = 0; i < AAC_DLQ_H__CNT; i++) {
        fprintf(f, ",\"%s\":", aac_dlq_headers[i].field);
        if (aac_dlq_headers[i].integer)
            put_json_int(f, h, aac_dlq_headers[i].name);
        else
            put_json_hdr(f, h, aac_dlq_headers[i].name);
    }
    fputs(",\"replayed_from\":", f);
    put_json_hdr(f, h, AAC_DLQLETTER_H_REPLAYED_FROM);
}

void aac_dlqletter_print_json(FILE *f, const char *dlq_topic, const aac_dlqletter_t *l,
                              bool show_value)
{
    const rd_kafka_message_t *rkm = l->rkm;
    rd_kafka_timestamp_type_t tt;
    fputs("{\"dlq_topic\":", f);
    put_str(f, dlq_topic, strlen(dlq_topic), 256, true);
    fprintf(f,
            ",\"dlq_partition\":%" PRId32 ",\"dlq_offset\":%" PRId64 ",\"timestamp_ms\":%" PRId64,
            rkm->partition, rkm->offset, rd_kafka_message_timestamp(rkm, &tt));
    aac_dlqletter_json_headers(f, l->hdrs);
    fprintf(f, ",\"replay_count\":%d,\"key\":", l->replay_count);
    if (rkm->key)
        put_str(f, rkm->key, rkm->key_len, KEY_MAX_PRINT, true);
    else
        fputs("null", f);
    fprintf(f, ",\"value_bytes\":%zu", rkm->len);
    uint32_t id;
    if (frame_schema_id(rkm, &id))
        fprintf(f, ",\"schema_id\":%" PRIu32, id);
    else
        fputs(",\"schema_id\":null", f);
    if (show_value) {
        fputs(",\"value\":", f);
        bool cut = rkm->payload ? put_str(f, rkm->payload, rkm->len, VALUE_MAX_PRINT, true) : false;
        if (!rkm->payload)
            fputs("null", f);
        fprintf(f, ",\"value_truncated\":%s", cut ? "true" : "false");
    }
    /* every header, in order, names repeated as they are */
    fputs(",\"headers\":[", f);
    const char *name;
    const void *v;
    size_t n;
    for (size_t i = 0;
         l->hdrs && i < 256 &&
         rd_kafka_header_get_all(l->hdrs, i, &name, &v, &n) == RD_KAFKA_RESP_ERR_NO_ERROR;
         i++) {
        fputs(i ? ",[" : "[", f);
        put_str(f, name, strlen(name), 256, true);
        fputc(',', f);
        if (v)
            put_str(f, v, n, HDR_MAX_PRINT, true);
        else
            fputs("null", f);
        fputc(']', f);
    }
    fputs("]}\n", f);
}

/* " <field>=<value>" of a line, the value quoted and cut at `max` bytes;
 * "-" when the header is absent. */
static void put_hdr_field(FILE *f, const rd_kafka_headers_t *h, aac_dlq_header_t which, size_t max)
{
    const void *v;
    size_t n;
    fprintf(f, " %s=", aac_dlq_headers[which].field);
    if (!h || rd_kafka_header_get_last(h, hname(which), &v, &n) != RD_KAFKA_RESP_ERR_NO_ERROR || !v)
        fputs("-", f);
    else
        put_str(f, v, n, max, false);
}

void aac_dlqletter_print_line(FILE *f, const aac_dlqletter_t *l, bool show_value)
{
    const rd_kafka_message_t *rkm = l->rkm;
    char part[32], off[32];
    fprintf(f, "dlq=%" PRId32 ":%" PRId64, rkm->partition, rkm->offset);
    put_hdr_field(f, l->hdrs, AAC_DLQ_H_FAILED_AT, 64);
    put_hdr_field(f, l->hdrs, AAC_DLQ_H_ERROR_REASON, 64);
    put_hdr_field(f, l->hdrs, AAC_DLQ_H_ERROR_CLASS, 32);
    header_str(l->hdrs, hname(AAC_DLQ_H_ORIGINAL_PARTITION), part, sizeof(part));
    header_str(l->hdrs, hname(AAC_DLQ_H_ORIGINAL_OFFSET), off, sizeof(off));
    fputs(" origin=", f);
    char origin[320];
    snprintf(origin, sizeof(origin), "%s:%s:%s", l->orig_topic[0] ? l->orig_topic : "-",
             part[0] ? part : "-", off[0] ? off : "-");
    put_str(f, origin, strlen(origin), sizeof(origin), false);
    put_hdr_field(f, l->hdrs, AAC_DLQ_H_ATTEMPTS, 16);
    fprintf(f, " replays=%d", l->replay_count);
    put_hdr_field(f, l->hdrs, AAC_DLQ_H_ERROR_PATH, 256);
    fputs(" key=", f);
    if (rkm->key)
        put_str(f, rkm->key, rkm->key_len, KEY_MAX_PRINT, false);
    else
        fputs("-", f);
    fprintf(f, " value_bytes=%zu", rkm->len);
    uint32_t id;
    if (frame_schema_id(rkm, &id))
        fprintf(f, " schema_id=%" PRIu32, id);
    else
        fputs(" schema_id=-", f);
    put_hdr_field(f, l->hdrs, AAC_DLQ_H_ERROR_MESSAGE, 512);
    if (show_value) {
        fputs(" value=", f);
        if (rkm->payload)
            put_str(f, rkm->payload, rkm->len, VALUE_MAX_PRINT, false);
        else
            fputs("-", f);
    }
    fputc('\n', f);
}
