/*
 * test_procstat: the process metrics' /proc parsing on fixed text (the
 * expected figures are what prometheus_client's ProcessCollector gives for
 * the same files), lines it must refuse, and one reading of this very
 * process checked against what the kernel says through other calls.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "aac/procstat.h"

static const aac_procstat_sys_t sys = {
    .boot_time = 1796392655, .clock_ticks = 100, .page_size = 4096};

/* utime 1234, stime 567, starttime 506294, vsize 912457728, rss 20480 */
#define STAT_TAIL                                                                                  \
    " S 1 4242 4242 0 -1 4194560 52311 0 3 0 1234 567 0 0 20 0 9 0 506294 912457728 20480 "        \
    "18446744073709551615 1 1 0 0 0 0 0 4096 17448 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n"

static void assert_near(double got, double want)
{
    if (fabs(got - want) > 1e-6 * (fabs(want) > 1 ? fabs(want) : 1))
        fail_msg("got %.9g, want %.9g", got, want);
}

static void test_stat(void **state)
{
    (void)state;
    aac_procstat_t ps = {0};
    assert_int_equal(aac_procstat_parse_stat("4242 (agent-actions-c)" STAT_TAIL, &sys, &ps), 0);
    assert_near(ps.cpu_seconds, 18.01);
    assert_near(ps.virtual_memory_bytes, 912457728);
    assert_near(ps.resident_memory_bytes, 20480.0 * 4096);
    assert_near(ps.start_time_seconds, 1796392655 + 5062.94);
}

/* The name is what the process set (prctl, or its file's name): spaces and
 * parentheses in it do not shift the fields, which count from the last ')'. */
static void test_stat_name_with_parentheses(void **state)
{
    (void)state;
    aac_procstat_t ps = {0};
    assert_int_equal(aac_procstat_parse_stat("77 (a) S 1 (b c)" STAT_TAIL, &sys, &ps), 0);
    assert_near(ps.cpu_seconds, 18.01);
    assert_near(ps.resident_memory_bytes, 20480.0 * 4096);
    assert_int_equal(aac_procstat_parse_stat("77 ())" STAT_TAIL, &sys, &ps), 0);
    assert_near(ps.virtual_memory_bytes, 912457728);
}

static void test_stat_ticks_and_boot_time(void **state)
{
    (void)state;
    aac_procstat_t ps = {0};
    /* no boot time: no start time; other tick and page sizes */
    aac_procstat_sys_t s = {.boot_time = 0, .clock_ticks = 1000, .page_size = 16384};
    assert_int_equal(aac_procstat_parse_stat("1 (x)" STAT_TAIL, &s, &ps), 0);
    assert_near(ps.cpu_seconds, 1.801);
    assert_near(ps.resident_memory_bytes, 20480.0 * 16384);
    assert_near(ps.start_time_seconds, 0);
    /* sysconf failed (-1): the libraries' defaults, 100 ticks and 4 KiB */
    s = (aac_procstat_sys_t){.boot_time = 1000, .clock_ticks = -1, .page_size = -1};
    assert_int_equal(aac_procstat_parse_stat("1 (x)" STAT_TAIL, &s, &ps), 0);
    assert_near(ps.cpu_seconds, 18.01);
    assert_near(ps.resident_memory_bytes, 20480.0 * 4096);
    assert_near(ps.start_time_seconds, 1000 + 5062.94);
}

static void test_stat_refused(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "4242 agent-actions-c S 1",                                 /* no name */
        "4242 (x) S 1 4242 4242 0 -1 4194560 52311 0 3 0 1234 567", /* cut before starttime */
        "4242 (x) S 1 4242 4242 0 -1 4194560 52311 0 3 0 1234 567 0 0 20 0 9 0 506294 "
        "912457728\n", /* cut before rss */
        "4242 (x) S 1 4242 4242 0 -1 4194560 52311 0 3 0 12x4 567 0 0 20 0 9 0 506294 1 2\n",
        "4242 (x) S 1 4242 4242 0 -1 4194560 52311 0 3 0 1234 567 0 0 20 0 9 0 506294 1 -2\n",
        /* 2^64: beyond any counter the kernel prints */
        "4242 (x) S 1 4242 4242 0 -1 4194560 52311 0 3 0 18446744073709551616 567 0 0 20 0 9 "
        "0 506294 1 2\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        aac_procstat_t ps = {.cpu_seconds = -7};
        if (aac_procstat_parse_stat(bad[i], &sys, &ps) != -1)
            fail_msg("accepted: %s", bad[i]);
        assert_near(ps.cpu_seconds, -7); /* nothing set */
    }
}

static const char limits[] =
    "Limit                     Soft Limit           Hard Limit           Units     \n"
    "Max cpu time              unlimited            unlimited            seconds   \n"
    "Max file size             unlimited            unlimited            bytes     \n"
    "Max stack size            8388608              unlimited            bytes     \n"
    "Max processes             96369                96369                processes \n"
    "Max open files            20000                1048576              files     \n"
    "Max locked memory         8388608              8388608              bytes     \n"
    "Max realtime timeout      unlimited            unlimited            us        \n";

static void test_limits(void **state)
{
    (void)state;
    double v = 0;
    /* the soft limit, the one open() is refused at */
    assert_int_equal(aac_procstat_parse_limits(limits, &v), 0);
    assert_near(v, 20000);
    assert_int_equal(aac_procstat_parse_limits("Max open files            unlimited            "
                                               "unlimited            files     \n",
                                               &v),
                     0);
    assert_true(isinf(v) && v > 0);
    /* first line, no final newline */
    assert_int_equal(aac_procstat_parse_limits("Max open files 1024 4096 files", &v), 0);
    assert_near(v, 1024);

    assert_int_equal(aac_procstat_parse_limits("", &v), -1);
    assert_int_equal(aac_procstat_parse_limits("Max open filesystems 7 7 x\n", &v), -1);
    assert_int_equal(aac_procstat_parse_limits(" Max open files 7 7 files\n", &v), -1);
    assert_int_equal(aac_procstat_parse_limits("Max open files 7k 7 files\n", &v), -1);
    assert_int_equal(aac_procstat_parse_limits("Max open files\n", &v), -1);
}

static void test_boot_time(void **state)
{
    (void)state;
    double v = 0;
    static const char stat[] = "cpu  1012 0 2003 880412 57 0 31 0 0 0\n"
                               "cpu0 506 0 1001 440206 28 0 15 0 0 0\n"
                               "intr 1914327 9 0 0 0 0 0 0 0 1 0 0 0 0 0 0 0 33 0 0 0\n"
                               "ctxt 3411262\n"
                               "btime 1796392655\n"
                               "processes 22101\n";
    assert_int_equal(aac_procstat_parse_boot_time(stat, &v), 0);
    assert_near(v, 1796392655);
    assert_int_equal(aac_procstat_parse_boot_time("btime 1796392655", &v), 0);
    assert_int_equal(aac_procstat_parse_boot_time("cpu 1 2 3\nctxt 5\n", &v), -1);
    assert_int_equal(aac_procstat_parse_boot_time("btimex 5\n", &v), -1);
    assert_int_equal(aac_procstat_parse_boot_time("intr 1 btime 5\n", &v), -1);
}

static double cpu_now(void)
{
    struct rusage ru;
    assert_int_equal(getrusage(RUSAGE_SELF, &ru), 0);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* This process, read as a scrape reads it. */
static void test_read_self(void **state)
{
    (void)state;
    aac_procstat_sys_t s;
    aac_procstat_t a, b;
    struct rlimit rl;

    aac_procstat_sys(&s);
    assert_true(s.boot_time > 1e9);
    assert_true(s.clock_ticks > 0);
    aac_procstat_read(&s, &a);
    assert_true(a.stat_ok && a.fds_ok && a.limits_ok);

    /* the soft limit of open files, as getrlimit gives it */
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
    if (rl.rlim_cur == RLIM_INFINITY)
        assert_true(isinf(a.max_fds));
    else
        assert_near(a.max_fds, (double)rl.rlim_cur);

    /* one more descriptor open: one more counted */
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    aac_procstat_read(&s, &b);
    assert_near(b.open_fds, a.open_fds + 1);
    close(fd);
    aac_procstat_read(&s, &b);
    assert_near(b.open_fds, a.open_fds);

    /* started within the last hour, not in the future */
    assert_true(a.start_time_seconds <= (double)time(NULL) + 1);
    assert_true(a.start_time_seconds > (double)time(NULL) - 3600);
    assert_true(a.resident_memory_bytes > 0);
    assert_true(a.virtual_memory_bytes >= a.resident_memory_bytes);

    /* 0.2 s of CPU burnt: counted, to the kernel's tick */
    double c0 = cpu_now();
    volatile uint64_t x = 0;
    while (cpu_now() < c0 + 0.2)
        for (int i = 0; i < 100000; i++)
            x += (uint64_t)i;
    aac_procstat_read(&s, &b);
    assert_true(b.cpu_seconds >= a.cpu_seconds + 0.15);
    assert_true(b.cpu_seconds <= cpu_now() + 0.02);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stat),
        cmocka_unit_test(test_stat_name_with_parentheses),
        cmocka_unit_test(test_stat_ticks_and_boot_time),
        cmocka_unit_test(test_stat_refused),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_boot_time),
        cmocka_unit_test(test_read_self),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
