/*
 * test_uuid: SHA-1 against the FIPS 180 vectors, UUIDv5 against values
 * computed by other implementations (Python's uuid.uuid5), and the text
 * forms the contract accepts and rejects.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "aac/event.h"

static void hex(const uint8_t *d, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", d[i]);
}

static void test_sha1_vectors(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        const char *want;
    } cases[] = {
        {"abc", "a9993e364706816aba3e25717850c26c9cd0d89d"},
        {"", "da39a3ee5e6b4b0d3255bfef95601890afd80709"},
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "84983e441c3bd26ebaae4aa1f95129e5e54670f1"},
        /* 64 bytes exactly: padding spills into a second block */
        {"0123456789012345678901234567890123456789012345678901234567890123",
         "cf0800f7644ace3cb4c3fa33388d3ba0ea3c8b6e"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint8_t d[20];
        char h[41];
        aac_sha1(cases[i].in, strlen(cases[i].in), d);
        hex(d, 20, h);
        assert_string_equal(h, cases[i].want);
    }
}

static void test_sha1_million_a(void **state)
{
    (void)state;
    size_t n = 1000000;
    char *buf = malloc(n);
    assert_non_null(buf);
    memset(buf, 'a', n);
    uint8_t d[20];
    char h[41];
    aac_sha1(buf, n, d);
    hex(d, 20, h);
    assert_string_equal(h, "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
    free(buf);
}

static void test_uuid_v5_vectors(void **state)
{
    (void)state;
    uint8_t dns[16], url[16], out[16];
    char s[37];
    assert_int_equal(aac_uuid_parse("6ba7b810-9dad-11d1-80b4-00c04fd430c8", 36, dns), 0);
    assert_int_equal(aac_uuid_parse("6ba7b811-9dad-11d1-80b4-00c04fd430c8", 36, url), 0);

    aac_uuid_v5(dns, "python.org", 10, out);
    aac_uuid_format(out, s);
    assert_string_equal(s, "886313e1-3b8a-5372-9b90-0c9aee199e5d");

    /* the event-id namespace is itself UUIDv5(NAMESPACE_URL, its URL) */
    const char *ns_url = "https://github.com/agent-actions-consumer/event-id/v1";
    aac_uuid_v5(url, ns_url, strlen(ns_url), out);
    assert_memory_equal(out, aac_event_id_namespace, 16);
    aac_uuid_format(aac_event_id_namespace, s);
    assert_string_equal(s, "166b33e6-7310-5190-b8a6-331b4efca447");

    /* python3: uuid.uuid5(UUID('166b33e6-...'), 'agent-actions/3/12345') */
    aac_uuid_v5(aac_event_id_namespace, "agent-actions/3/12345", 21, out);
    aac_uuid_format(out, s);
    assert_string_equal(s, "7b6961f3-1f38-5ce7-8399-b7b5bd58b6f2");
}

static void test_uuid_parse_forms(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        int ok;
    } cases[] = {
        {"0f8fad5b-d9cb-469f-a165-70867728950e", 1},
        {"0F8FAD5B-D9CB-469F-A165-70867728950E", 1},
        {"0f8fAD5b-d9cb-469f-a165-70867728950e", 1},
        {"{0f8fad5b-d9cb-469f-a165-70867728950e}", 0},
        {"urn:uuid:0f8fad5b-d9cb-469f-a165-70867728950e", 0},
        {"0f8fad5bd9cb469fa16570867728950e", 0},
        {"0f8fad5b-d9cb-469f-a165-70867728950", 0},
        {"0f8fad5b-d9cb-469f-a165-70867728950g", 0},
        {"0f8fad5b+d9cb-469f-a165-70867728950e", 0},
        {"0f8fad5b-d9cb-469fa-165-70867728950e", 0},
        {"unknown", 0},
        {"", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint8_t u[16];
        int r = aac_uuid_parse(cases[i].s, strlen(cases[i].s), u);
        if ((r == 0) != cases[i].ok)
            fail_msg("case %zu %s: got %d", i, cases[i].s, r);
        if (r == 0) {
            char s[37];
            aac_uuid_format(u, s);
            for (int k = 0; k < 36; k++) {
                char c = cases[i].s[k];
                if (c >= 'A' && c <= 'F')
                    c = (char)(c - 'A' + 'a');
                assert_int_equal(s[k], c);
            }
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha1_vectors),
        cmocka_unit_test(test_sha1_million_a),
        cmocka_unit_test(test_uuid_v5_vectors),
        cmocka_unit_test(test_uuid_parse_forms),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
