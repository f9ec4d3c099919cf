/*
 * test_signals: the first stop signal is counted, the second exits with
 * 130, SIGPIPE is ignored only when asked, and a thread made by
 * aac_signals_thread_create() has the stop signals blocked. Each case runs
 * in a child process, since the handlers are the process's.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "aac/signals.h"

/* Runs fn in a child; returns its wait status. */
static int in_child(void (*fn)(void))
{
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        fn();
        _exit(0);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    return st;
}

static void first_then_second(void)
{
    aac_signals_install(false);
    if (aac_signals_received() != 0)
        _exit(10);
    raise(SIGTERM);
    if (aac_signals_received() != 1)
        _exit(11);
    raise(SIGINT); /* does not return */
    _exit(12);
}

static void test_second_signal_exits_130(void **state)
{
    (void)state;
    int st = in_child(first_then_second);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 130);
}

static void sigpipe_ignored(void)
{
    aac_signals_install(true);
    raise(SIGPIPE);
    _exit(aac_signals_received() == 0 ? 0 : 13);
}

static void sigpipe_default(void)
{
    aac_signals_install(false);
    raise(SIGPIPE);
    _exit(14);
}

static void test_sigpipe(void **state)
{
    (void)state;
    int st = in_child(sigpipe_ignored);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    st = in_child(sigpipe_default);
    assert_true(WIFSIGNALED(st));
    assert_int_equal(WTERMSIG(st), SIGPIPE);
}

static void *mask_of_thread(void *arg)
{
    sigset_t *out = arg;
    pthread_sigmask(SIG_SETMASK, NULL, out);
    return NULL;
}

static void test_thread_blocks_stop_signals(void **state)
{
    (void)state;
    sigset_t in_thread, here;
    pthread_t t;
    assert_int_equal(aac_signals_thread_create(&t, mask_of_thread, &in_thread), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    static const int sigs[] = {SIGTERM, SIGINT, SIGHUP, SIGPIPE};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        assert_int_equal(sigismember(&in_thread, sigs[i]), 1);
    /* the caller's own mask is left as it was */
    pthread_sigmask(SIG_SETMASK, NULL, &here);
    assert_int_equal(sigismember(&here, SIGTERM), 0);
    assert_int_equal(sigismember(&here, SIGINT), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_second_signal_exits_130),
        cmocka_unit_test(test_sigpipe),
        cmocka_unit_test(test_thread_blocks_stop_signals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
