/*
 * test_secretfile: a secret read from a file keeps every byte but one
 * trailing newline, and the bound is exact: a file of size - 1 bytes
 * fits, newline included, one byte more is refused; errors name the setting and the file, never
 * the content, and leave the buffer wiped.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "aac/secretfile.h"

static char tmpdir[] = "/tmp/aac-test-secretfile.XXXXXX";

static const char *write_bytes(const char *content, size_t len)
{
    static char path[512];
    snprintf(path, sizeof(path), "%s/secret", tmpdir);
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(content, 1, len, fp), len);
    fclose(fp);
    return path;
}

static void test_newlines(void **state)
{
    (void)state;
    static const struct {
        const char *file;
        const char *want; /* NULL: refused */
    } cases[] = {
        {"pw", "pw"},         {"pw\n", "pw"},   {"pw\r\n", "pw"},   {"pw\n\n", "pw\n"},
        {"p w \t", "p w \t"}, {"\npw", "\npw"}, {"pw\r", "pw\r"},   {"\n", NULL},
        {"", NULL},           {"\r\n", NULL},   {"a\nb\n", "a\nb"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char buf[64], err[256] = "";
        const char *path = write_bytes(cases[i].file, strlen(cases[i].file));
        long n = aac_secretfile_read("test.secret_file", path, buf, sizeof(buf), err, sizeof(err));
        if (!cases[i].want) {
            if (n >= 0)
                fail_msg("case %zu: accepted \"%s\"", i, buf);
            assert_non_null(strstr(err, "test.secret_file \""));
            assert_non_null(strstr(err, "\" is empty"));
            continue;
        }
        if (n < 0)
            fail_msg("case %zu: %s", i, err);
        assert_int_equal(n, strlen(cases[i].want));
        assert_string_equal(buf, cases[i].want);
    }
}

/* buf of 10 bytes: a file of 9 fits, of 10 does not, newline or none. */
static void test_bound(void **state)
{
    (void)state;
    static const struct {
        const char *file;
        long want; /* -1: too large */
    } cases[] = {
        {"123456789", 9},    {"12345678\n", 8},    {"1234567\r\n", 7},   {"1234567890", -1},
        {"123456789\n", -1}, {"12345678\r\n", -1}, {"12345678\n\n", -1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char buf[10], err[256] = "";
        const char *path = write_bytes(cases[i].file, strlen(cases[i].file));
        long n = aac_secretfile_read("k", path, buf, sizeof(buf), err, sizeof(err));
        if (n != cases[i].want)
            fail_msg("case %zu (\"%s\"): got %ld, want %ld (%s)", i, cases[i].file, n,
                     cases[i].want, err);
        if (n < 0) {
            assert_non_null(strstr(err, "is too large (more than 9 bytes)"));
            assert_null(strstr(err, "1234"));
            for (size_t b = 0; b < sizeof(buf); b++)
                assert_int_equal(buf[b], 0); /* wiped */
        }
    }
}

static void test_refused(void **state)
{
    (void)state;
    char buf[64], err[256];
    assert_int_equal(
        aac_secretfile_read("a.b_file", "/nonexistent/x", buf, sizeof(buf), err, sizeof(err)), -1);
    assert_string_equal(err,
                        "could not open a.b_file \"/nonexistent/x\": No such file or directory");
    assert_int_equal(aac_secretfile_read("a.b_file", tmpdir, buf, sizeof(buf), err, sizeof(err)),
                     -1);
    assert_non_null(strstr(err, "could not read a.b_file \"/tmp/aac-test-secretfile."));
    assert_non_null(strstr(err, ": Is a directory"));
    const char *path = write_bytes("Nul\0Secret\n", 11);
    assert_int_equal(aac_secretfile_read("a.b_file", path, buf, sizeof(buf), err, sizeof(err)), -1);
    assert_non_null(strstr(err, "contains a NUL byte"));
    assert_null(strstr(err, "Secret"));

    /* the allocating form: the same rules, the caller's bound */
    path = write_bytes("0123456789\n", 11);
    char *s = aac_secretfile_load("a.b_file", path, 11, err, sizeof(err));
    assert_non_null(s);
    assert_string_equal(s, "0123456789");
    aac_secretfile_free(s);
    assert_null(aac_secretfile_load("a.b_file", path, 10, err, sizeof(err)));
    assert_non_null(strstr(err, "is too large (more than 10 bytes)"));
    aac_secretfile_free(NULL);
}

int main(void)
{
    assert_non_null(mkdtemp(tmpdir));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_newlines),
        cmocka_unit_test(test_bound),
        cmocka_unit_test(test_refused),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    char path[600];
    snprintf(path, sizeof(path), "%s/secret", tmpdir);
    unlink(path);
    rmdir(tmpdir);
    return rc;
}
