/*
 * fuzz_event: libFuzzer target for aac_event_parse(). Beyond "never
 * crashes", it checks what the database relies on for every accepted
 * input: strings are valid UTF-8 without NUL and within their limits,
 * action_details and extra are JSON objects without duplicate keys (checked
 * with a second, independent parse by yajl's tree API plus a key scan), and
 * the timestamp lies within 0001..9999 UTC. On rejection: the reason is a
 * known validation code and the path and message are NUL-terminated, one
 * line. Each input goes through the three event.framing modes: a schema id
 * only from a whole frame (and never with none), confluent accepting only
 * framed values, and the id as extra's last member.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_tree.h>

#include "aac/event.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static aac_event_parser_t *parsers[AAC_EVENT_FRAMING__CNT];

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "invariant failed: %s (line %d)\n", #c, __LINE__);                     \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static size_t utf8_valid_chars(aac_str_t s)
{
    size_t chars = 0;
    const unsigned char *p = (const unsigned char *)s.ptr;
    for (size_t i = 0; i < s.len;) {
        unsigned char c = p[i];
        size_t k = c < 0x80 ? 0 : (c & 0xE0) == 0xC0 ? 1 : (c & 0xF0) == 0xE0 ? 2 : 3;
        CHECK(c != 0);
        CHECK(c < 0x80 || (c >= 0xC2 && c <= 0xF4));
        CHECK(i + k < s.len);
        for (size_t j = 1; j <= k; j++)
            CHECK((p[i + j] & 0xC0) == 0x80);
        i += k + 1;
        chars++;
    }
    return chars;
}

static void check_str(aac_str_t s, size_t max, bool required)
{
    if (!s.ptr) {
        CHECK(!required);
        return;
    }
    size_t chars = utf8_valid_chars(s);
    CHECK(chars <= max);
    if (required)
        CHECK(chars >= 1);
}

/* No object in the tree has two equal keys (yajl_tree keeps both). */
static void check_no_dups(yajl_val v)
{
    if (YAJL_IS_OBJECT(v)) {
        for (size_t i = 0; i < v->u.object.len; i++) {
            for (size_t j = i + 1; j < v->u.object.len; j++)
                CHECK(strcmp(v->u.object.keys[i], v->u.object.keys[j]) != 0);
            check_no_dups(v->u.object.values[i]);
        }
    } else if (YAJL_IS_ARRAY(v)) {
        for (size_t i = 0; i < v->u.array.len; i++)
            check_no_dups(v->u.array.values[i]);
    }
}

static void check_object_text(aac_str_t s)
{
    CHECK(s.ptr && s.len >= 2);
    char *z = malloc(s.len + 1);
    CHECK(z);
    memcpy(z, s.ptr, s.len);
    z[s.len] = '\0';
    CHECK(strlen(z) == s.len); /* no NUL inside */
    /* yajl takes these as whitespace; PostgreSQL's json parser does not */
    CHECK(!memchr(z, '\v', s.len) && !memchr(z, '\f', s.len));
    char errbuf[128];
    yajl_val v = yajl_tree_parse(z, errbuf, sizeof errbuf);
    CHECK(v && YAJL_IS_OBJECT(v));
    check_no_dups(v);
    yajl_tree_free(v);
    free(z);
}

/* What a validation may answer: every reason but the database's. */
static bool validation_reason(aac_reason_t r)
{
    return (r > AAC_REASON_NONE && r < AAC_REASON_DB_REJECTED) ||
           (r >= AAC_REASON_INVALID_FRAME && r < AAC_REASON__CNT);
}

/* The frame's member closes extra: ,"<key>":<id>} or {"<key>":<id>}. */
static void check_schema_id_member(aac_str_t extra, uint32_t id)
{
    char want[64];
    int n = snprintf(want, sizeof want, "\"%s\":%u}", AAC_EVENT_SCHEMA_ID_KEY, (unsigned)id);
    CHECK(n > 0 && extra.len > (size_t)n);
    CHECK(memcmp(extra.ptr + extra.len - (size_t)n, want, (size_t)n) == 0);
    char before = extra.ptr[extra.len - (size_t)n - 1];
    CHECK(before == ',' || (before == '{' && extra.len == (size_t)n + 1));
}

static int parse_one(aac_event_framing_t framing, const uint8_t *data, size_t size)
{
    aac_event_parser_t *parser = parsers[framing];
    if (!parser) {
        aac_event_limits_t lim = {.max_message_bytes = 8192, .max_depth = 16};
        parser = parsers[framing] = aac_event_parser_new(&lim);
        CHECK(parser);
        aac_event_parser_set_framing(parser, framing);
    }
    uint32_t id = 0;
    aac_event_frame_t fr = aac_event_frame_read(data, size, &id);
    aac_event_t ev;
    aac_event_error_t err;
    aac_reason_t r = aac_event_parse(parser, "fuzz", 1, (int64_t)size, data, size, &ev, &err);
    if (r != AAC_REASON_NONE) {
        CHECK(validation_reason(r));
        CHECK(r != AAC_REASON_INVALID_FRAME ||
              (framing != AAC_EVENT_FRAMING_NONE && fr == AAC_EVENT_FRAME_TRUNCATED));
        CHECK(r != AAC_REASON_MISSING_FRAME ||
              (framing == AAC_EVENT_FRAMING_CONFLUENT && fr == AAC_EVENT_FRAME_ABSENT));
        CHECK(err.reason == r);
        CHECK(memchr(err.path, '\0', sizeof err.path) && err.path[0] == '$');
        CHECK(memchr(err.message, '\0', sizeof err.message) && err.message[0]);
        CHECK(!strchr(err.message, '\n'));
        aac_str_t ps = {err.path, strlen(err.path)}, ms = {err.message, strlen(err.message)};
        utf8_valid_chars(ps);
        utf8_valid_chars(ms);
        return 0;
    }
    check_str(ev.agent_name, AAC_EVENT_AGENT_NAME_MAX, true);
    check_str(ev.action_name, AAC_EVENT_ACTION_NAME_MAX, true);
    check_str(ev.project_path, AAC_EVENT_PROJECT_PATH_MAX, false);
    check_str(ev.project_name, AAC_EVENT_PROJECT_NAME_MAX, false);
    check_str(ev.working_directory, AAC_EVENT_WORKING_DIRECTORY_MAX, false);
    CHECK(ev.action_type >= 0 && ev.action_type < AAC_ACTION__CNT);
    CHECK(!ev.has_duration_ms || (ev.duration_ms >= 0 && ev.duration_ms <= 2147483647));
    CHECK(ev.debug_mode >= -1 && ev.debug_mode <= 1);
    /* 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59.999999Z */
    CHECK(ev.timestamp_us >= INT64_C(-62135596800000000));
    CHECK(ev.timestamp_us <= INT64_C(253402300799999999));
    check_object_text(ev.action_details);
    if (ev.extra.len)
        check_object_text(ev.extra);
    else
        CHECK(ev.extra_count == 0);
    /* a schema id exactly when a frame was read, and none under none */
    CHECK(ev.has_schema_id == (framing != AAC_EVENT_FRAMING_NONE && fr == AAC_EVENT_FRAME_OK));
    CHECK(framing != AAC_EVENT_FRAMING_CONFLUENT || ev.has_schema_id);
    if (ev.has_schema_id) {
        CHECK(ev.schema_id == id);
        check_schema_id_member(ev.extra, id);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    for (int f = 0; f < AAC_EVENT_FRAMING__CNT; f++)
        parse_one((aac_event_framing_t)f, data, size);
    return 0;
}
