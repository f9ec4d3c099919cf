/*
 * signals: see include/aac/signals.h.
 */
#include "aac/signals.h"

#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "aac/log.h"

#define EXIT_SECOND_SIGNAL 130 /* 128 + SIGINT, as a shell reports it */

static volatile sig_atomic_t received;

static void on_signal(int sig)
{
    (void)sig;
    if (received) {
        /* nothing unwritten is committed: an open transaction dies with us */
        aac_log_signal_safe(AAC_LOG_WARN, "second signal, exiting at once");
        _exit(EXIT_SECOND_SIGNAL);
    }
    received = 1;
}

void aac_signals_install(bool ignore_sigpipe)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    received = 0;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    if (ignore_sigpipe)
        signal(SIGPIPE, SIG_IGN);
}

int aac_signals_received(void)
{
    return received;
}

int aac_signals_thread_create(pthread_t *thread, void *(*fn)(void *), void *arg)
{
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGHUP);
    sigaddset(&block, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    int err = pthread_create(thread, NULL, fn, arg);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return err;
}
