/*
 * test_uuid: UUIDv5 (libuuid's) against values computed by other
 * implementations (RFC 9562's example, Python's uuid.uuid5), and the text
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
#include <uuid/uuid.h>

#include "aac/event.h"
#include "aac/uuid.h"

/* libuuid's uuid_generate_sha1, which aac_uuid_v5 is, against RFC 9562's
 * example (appendix A.4) and Python's uuid.uuid5: names of no bytes, of
 * exactly one SHA-1 block with the namespace (48 + 16 = 64 bytes: the
 * padding spills into a second block) and longer than three blocks. */
static void test_libuuid_v5_vectors(void **state)
{
    (void)state;
    static const struct {
        const char *ns, *name, *want;
    } cases[] = {
        {"6ba7b810-9dad-11d1-80b4-00c04fd430c8", "www.example.com",
         "2ed6657d-e927-568b-95e1-2665a8aea6a2"},
        {"6ba7b814-9dad-11d1-80b4-00c04fd430c8", "", "b4bdf874-8c03-5bd8-8fd7-5e409dfd82c0"},
        {"6ba7b812-9dad-11d1-80b4-00c04fd430c8", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
         "e0c791fb-9e10-5a2b-8ddb-eeda3783c45a"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint8_t ns[16], out[16], ours[16];
        char s[37];
        assert_int_equal(aac_uuid_parse(cases[i].ns, 36, ns), 0);
        uuid_generate_sha1(out, ns, cases[i].name, strlen(cases[i].name));
        uuid_unparse_lower(out, s);
        assert_string_equal(s, cases[i].want);
        aac_uuid_v5(ns, cases[i].name, strlen(cases[i].name), ours);
        assert_memory_equal(ours, out, 16);
    }
    /* a long topic's name: 237 bytes, four blocks with the namespace */
    char name[240];
    memset(name, 't', sizeof name);
    memcpy(name, "agent-actions/", 14);
    memcpy(name + 214, "/11/9223372036854775807", 23);
    uint8_t out[16];
    char s[37];
    aac_uuid_v5(aac_event_id_namespace, name, 237, out);
    aac_uuid_format(out, s);
    assert_string_equal(s, "67109e92-b06b-5f1b-8035-eb31f0d0c8cd");
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
        /* a non-digit in either half of a byte, anywhere */
        {"xf8fad5b-d9cb-469f-a165-70867728950e", 0},
        {"0x8fad5b-d9cb-469f-a165-70867728950e", 0},
        {"0f8fad5b-d9cb-469f-aG65-70867728950e", 0},
        {"0f8fad5b-d9cb-469f-a165- 0867728950e", 0},
        {"0f8fad5b-d9cb-469f-a165-7086772895\xc3\xa9", 0},
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
        cmocka_unit_test(test_libuuid_v5_vectors),
        cmocka_unit_test(test_uuid_v5_vectors),
        cmocka_unit_test(test_uuid_parse_forms),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
