/*
 * test_pgconn: what aac_pgconn_check refuses before any connection is
 * tried: a postgres.uri (or uri_file) that is not a connection URI libpq
 * parses, with a message that never quotes it (it may hold the password);
 * and what it accepts. No server: libpq parses URIs offline.
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

#include "aac/config.h"
#include "aac/pgconn.h"

static void test_uri_check(void **state)
{
    (void)state;
    static const struct {
        const char *uri;
        int ok;
    } cases[] = {
        {"postgresql://aac:Pw-S3cret@db.internal:5432/aac?sslmode=verify-full", 1},
        {"postgres://aac:Pw-S3cret@db.internal/aac", 1},
        {"postgresql:///aac?host=/run/postgresql", 1},
        {"postgresql://aac:Pw-S3cret@[::1]:5432/aac", 1},
        {"host=db.internal password=Pw-S3cret", 0},       /* key=value, not a URI */
        {"aac", 0},                                       /* a bare database name */
        {"postgresql://aac:Pw-S3cret@[::1/aac", 0},       /* unclosed IPv6 bracket */
        {"postgresql://aac:Pw-S3cret@h/aac?nosuch=1", 0}, /* unknown parameter */
        {"postgresql://aac:Pw-S3cret@h/aac?sslmode", 0},  /* parameter without value */
        {"postgresql://aac:Pw-S3cret%zz@h/aac", 0},       /* bad percent-encoding */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char err[1024] = "";
        setenv("AAC_POSTGRES_URI", cases[i].uri, 1);
        aac_config_t *cfg = aac_config_load(NULL, err, sizeof(err));
        unsetenv("AAC_POSTGRES_URI");
        if (!cfg)
            fail_msg("case %zu: %s", i, err);
        int rc = aac_pgconn_check(cfg, err, sizeof(err));
        aac_config_destroy(cfg);
        if (cases[i].ok && rc != 0)
            fail_msg("case %zu (%s): refused: %s", i, cases[i].uri, err);
        if (!cases[i].ok) {
            if (rc == 0)
                fail_msg("case %zu (%s): accepted", i, cases[i].uri);
            assert_non_null(
                strstr(err, "config: postgres.uri is not a valid PostgreSQL connection URI"));
            assert_null(strstr(err, "S3cret"));
            assert_null(strstr(err, "db.internal"));
        }
    }
}

/* The URI from a file: the same check, naming the file's key. */
static void test_uri_file_check(void **state)
{
    (void)state;
    char dir[] = "/tmp/aac-test-pgconn.XXXXXX", path[600], err[1024];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/uri", dir);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs("host=h password=File-S3cret\n", fp);
    fclose(fp);
    setenv("AAC_POSTGRES_URI_FILE", path, 1);
    aac_config_t *cfg = aac_config_load(NULL, err, sizeof(err));
    assert_non_null(cfg);
    assert_int_equal(aac_pgconn_check(cfg, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "postgres.uri_file is not a valid PostgreSQL connection URI"));
    assert_null(strstr(err, "S3cret"));
    aac_config_destroy(cfg);

    fp = fopen(path, "w");
    assert_non_null(fp);
    fputs("postgresql://u:File-S3cret@h/d\n", fp);
    fclose(fp);
    cfg = aac_config_load(NULL, err, sizeof(err));
    unsetenv("AAC_POSTGRES_URI_FILE");
    assert_non_null(cfg);
    assert_int_equal(aac_pgconn_check(cfg, err, sizeof(err)), 0);
    aac_config_destroy(cfg);
    /* no URI at all: nothing to check */
    cfg = aac_config_load(NULL, err, sizeof(err));
    assert_non_null(cfg);
    assert_int_equal(aac_pgconn_check(cfg, err, sizeof(err)), 0);
    aac_config_destroy(cfg);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    unsetenv("AAC_CONFIG");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_uri_check),
        cmocka_unit_test(test_uri_file_check),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
