/*
 * test_utf8: the one string escaper (JSON, logfmt, YAML) on control bytes,
 * quotes, backslashes, well-formed and ill-formed UTF-8, its cut on a
 * full buffer, and the stdio writer built on it; sequence lengths and the
 * whole-buffer check.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aac/utf8.h"

typedef struct esc_case_s {
    const char *in;
    size_t len; /* 0: strlen */
    const char *json;
    const char *logfmt;
    const char *yaml; /* NULL: as json */
} esc_case_t;

static const esc_case_t esc_cases[] = {
    {"plain", 0, "plain", "plain", NULL},
    {"q\"b\\", 0, "q\\\"b\\\\", "q\\\"b\\\\", NULL},
    {"\n\r\t", 0, "\\n\\r\\t", "\\n\\r\\t", NULL},
    {"\x01\x1f\x7f\b\f", 0, "\\u0001\\u001f\\u007f\\u0008\\u000c", "\\x01\\x1f\\x7f\\x08\\x0c",
     NULL},
    {"a\0b", 3, "a\\u0000b", "a\\x00b", NULL},
    /* well-formed UTF-8 is copied: 2, 3 and 4 bytes */
    {"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 0, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80",
     "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", NULL},
    /* ill-formed: a stray continuation, an overlong '/', a surrogate, a cut sequence */
    {"\x80", 0, "\\ufffd", "\\x80", NULL},
    {"\xc0\xaf", 0, "\\ufffd\\ufffd", "\\xc0\\xaf", NULL},
    {"\xed\xa0\x80", 0, "\\ufffd\\ufffd\\ufffd", "\\xed\\xa0\\x80", NULL},
    {"x\xe2\x82", 0, "x\\ufffd\\ufffd", "x\\xe2\\x82", NULL},
    /* what YAML may not carry raw: C1 controls (NEL among them), the line
     * and paragraph separators, the BOM, U+FFFE and U+FFFF; NBSP is fine */
    {"\xc2\x80\xc2\x85\xc2\x9f\xc2\xa0", 0, "\xc2\x80\xc2\x85\xc2\x9f\xc2\xa0",
     "\xc2\x80\xc2\x85\xc2\x9f\xc2\xa0", "\\u0080\\u0085\\u009f\xc2\xa0"},
    {"\xe2\x80\xa8\xe2\x80\xa9\xef\xbb\xbf\xef\xbf\xbe\xef\xbf\xbf\xef\xbf\xbd", 0,
     "\xe2\x80\xa8\xe2\x80\xa9\xef\xbb\xbf\xef\xbf\xbe\xef\xbf\xbf\xef\xbf\xbd",
     "\xe2\x80\xa8\xe2\x80\xa9\xef\xbb\xbf\xef\xbf\xbe\xef\xbf\xbf\xef\xbf\xbd",
     "\\u2028\\u2029\\ufeff\\ufffe\\uffff\xef\xbf\xbd"},
};

static void test_escape_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(esc_cases) / sizeof(esc_cases[0]); i++) {
        const esc_case_t *c = &esc_cases[i];
        size_t n = c->len ? c->len : strlen(c->in), out = 999;
        char buf[128];
        assert_int_equal(aac_utf8_escape(buf, sizeof buf, c->in, n, AAC_UTF8_ESC_JSON, &out), n);
        assert_string_equal(buf, c->json);
        assert_int_equal(out, strlen(c->json));
        assert_int_equal(aac_utf8_escape(buf, sizeof buf, c->in, n, AAC_UTF8_ESC_LOGFMT, &out), n);
        assert_string_equal(buf, c->logfmt);
        assert_int_equal(out, strlen(c->logfmt));
        const char *yaml = c->yaml ? c->yaml : c->json;
        assert_int_equal(aac_utf8_escape(buf, sizeof buf, c->in, n, AAC_UTF8_ESC_YAML, &out), n);
        assert_string_equal(buf, yaml);
        assert_int_equal(out, strlen(yaml));
    }
}

/* A full buffer stops the escaper before an escape or a character that does
 * not fit whole; what was written is NUL-terminated and resumable. */
static void test_escape_cut(void **state)
{
    (void)state;
    char buf[8];
    size_t out;
    /* "ab" fits, the 6-byte \u0001 would need 8 bytes with the NUL */
    assert_int_equal(aac_utf8_escape(buf, 8, "ab\x01z", 4, AAC_UTF8_ESC_JSON, &out), 2);
    assert_string_equal(buf, "ab");
    assert_int_equal(out, 2);
    /* a 4-byte character is never split */
    assert_int_equal(aac_utf8_escape(buf, 6, "ab\xf0\x9f\x98\x80", 6, AAC_UTF8_ESC_JSON, &out), 2);
    assert_string_equal(buf, "ab");
    assert_int_equal(aac_utf8_escape(buf, 7, "ab\xf0\x9f\x98\x80", 6, AAC_UTF8_ESC_JSON, &out), 6);
    assert_int_equal(out, 6);
    /* size 1: only the NUL; size 0: nothing written at all */
    assert_int_equal(aac_utf8_escape(buf, 1, "a", 1, AAC_UTF8_ESC_JSON, &out), 0);
    assert_string_equal(buf, "");
    buf[0] = 'X';
    assert_int_equal(aac_utf8_escape(buf, 0, "a", 1, AAC_UTF8_ESC_JSON, NULL), 0);
    assert_int_equal(buf[0], 'X');
}

static char *fput(const char *s, size_t n, aac_utf8_esc_t how)
{
    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);
    assert_non_null(f);
    aac_utf8_fput_quoted(f, s, n, how);
    assert_int_equal(fclose(f), 0);
    return text;
}

static void test_fput_quoted(void **state)
{
    (void)state;
    char *t = fput("", 0, AAC_UTF8_ESC_JSON);
    assert_string_equal(t, "\"\"");
    free(t);
    t = fput("a\"\n\xff", 4, AAC_UTF8_ESC_JSON);
    assert_string_equal(t, "\"a\\\"\\n\\ufffd\"");
    free(t);
    t = fput("a\"\n\xff", 4, AAC_UTF8_ESC_LOGFMT);
    assert_string_equal(t, "\"a\\\"\\n\\xff\"");
    free(t);
    /* longer than the writer's 256-byte chunk, escapes across its edges */
    char in[1000], want[6002];
    size_t w = 0;
    want[w++] = '"';
    for (size_t i = 0; i < sizeof in; i++) {
        in[i] = i % 3 ? 'x' : '\x02';
        if (i % 3) {
            want[w++] = 'x';
        } else {
            memcpy(want + w, "\\u0002", 6);
            w += 6;
        }
    }
    want[w++] = '"';
    want[w] = '\0';
    t = fput(in, sizeof in, AAC_UTF8_ESC_JSON);
    assert_string_equal(t, want);
    free(t);
}

static void test_len(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        size_t want;
    } cases[] = {
        {"a", 1},
        {"\x7f", 1},
        {"\xc2\x80", 2},
        {"\xdf\xbf", 2},
        {"\xe0\xa0\x80", 3},
        {"\xef\xbf\xbf", 3},
        {"\xf0\x90\x80\x80", 4},
        {"\xf4\x8f\xbf\xbf", 4},
        {"\xc1\xbf", 0},         /* overlong */
        {"\xe0\x9f\xbf", 0},     /* overlong */
        {"\xf0\x8f\xbf\xbf", 0}, /* overlong */
        {"\xed\xa0\x80", 0},     /* surrogate */
        {"\xed\xbf\xbf", 0},     /* surrogate */
        {"\xf4\x90\x80\x80", 0}, /* above U+10FFFF */
        {"\xf5\x80\x80\x80", 0},
        {"\x80", 0},
        {"\xc3", 0}, /* cut */
        {"\xc3(", 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_int_equal(aac_utf8_len((const unsigned char *)cases[i].s, strlen(cases[i].s)),
                         cases[i].want);
    /* n bounds the look: a complete sequence is not one when n cuts it */
    assert_int_equal(aac_utf8_len((const unsigned char *)"\xe2\x82\xac", 2), 0);
}

/* The whole-buffer check: the same rule as aac_utf8_len, the offset of the
 * first problem, NUL found in the ASCII fast path and outside it. */
static void test_check(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        size_t len; /* 0: strlen */
        aac_utf8_check_t want;
        size_t at;
    } cases[] = {
        {"", 0, AAC_UTF8_OK, 0},
        {"{\"a\":\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"}", 0, AAC_UTF8_OK, 0},
        {"0123456789abcdef\xc3", 0, AAC_UTF8_INVALID, 16}, /* cut at the end */
        {"0123456789abcdef\xc3(", 0, AAC_UTF8_INVALID, 16},
        {"ab\xc0\xaf", 0, AAC_UTF8_INVALID, 2},
        {"ab\xed\xa0\x80", 0, AAC_UTF8_INVALID, 2},
        {"ab\xf4\x90\x80\x80", 0, AAC_UTF8_INVALID, 2},
        {"\xc3\xa9\xff", 0, AAC_UTF8_INVALID, 2},
        {"0123456\0abcdefgh", 16, AAC_UTF8_NUL, 7},     /* inside an 8-byte word */
        {"\xc3\xa9\0", 3, AAC_UTF8_NUL, 2},             /* after a non-ASCII byte */
        {"0123456789abcdefgh\0", 19, AAC_UTF8_NUL, 18}, /* in the tail */
        {"\xc3\xa9\0\xff", 4, AAC_UTF8_NUL, 2},         /* the first problem wins */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t n = cases[i].len ? cases[i].len : strlen(cases[i].s), at = 12345;
        assert_int_equal(aac_utf8_check((const unsigned char *)cases[i].s, n, &at), cases[i].want);
        if (cases[i].want != AAC_UTF8_OK)
            assert_int_equal(at, cases[i].at);
    }
    /* every two-byte string: the check agrees with aac_utf8_len */
    for (unsigned a = 0x80; a < 0x100; a++)
        for (unsigned b = 0; b < 0x100; b++) {
            unsigned char s2[2] = {(unsigned char)a, (unsigned char)b};
            size_t at = 0;
            bool ok = aac_utf8_len(s2, 2) == 2;
            assert_int_equal(aac_utf8_check(s2, 2, &at) == AAC_UTF8_OK, ok);
        }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escape_table), cmocka_unit_test(test_escape_cut),
        cmocka_unit_test(test_fput_quoted),  cmocka_unit_test(test_len),
        cmocka_unit_test(test_check),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
