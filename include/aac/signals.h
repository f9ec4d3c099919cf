/*
 * signals: the one place that handles the process's signals.
 *
 * A long-running command (run, dlq replay) calls aac_signals_install() and
 * checks aac_signals_received() in its loop: the first SIGTERM or SIGINT
 * asks it to finish what it is doing and return. A second one exits the
 * process at once with status 130 (the only exit outside main.c: a signal
 * handler can do nothing else). The service ignores SIGPIPE, so that a
 * write to a closed socket fails with EPIPE instead of killing it; a tool
 * whose output goes to a pipe keeps the default, so that `| head` ends it.
 *
 * Threads the service starts are created with aac_signals_thread_create(),
 * which blocks the signals in them, so that every signal reaches the thread
 * that waits for it and a blocking call there is interrupted.
 */
#ifndef AAC_SIGNALS_H
#define AAC_SIGNALS_H

#include <pthread.h>
#include <stdbool.h>

/* Installs the handlers of SIGTERM and SIGINT, and ignores SIGPIPE when
 * ignore_sigpipe. The count starts at 0. */
void aac_signals_install(bool ignore_sigpipe);

/* SIGTERM and SIGINT received since aac_signals_install(): 0 or 1 (a
 * second one does not return). Async-signal-safe. */
int aac_signals_received(void);

/* pthread_create() with SIGTERM, SIGINT, SIGHUP and SIGPIPE blocked in the
 * new thread. Returns pthread_create()'s error number. */
int aac_signals_thread_create(pthread_t *thread, void *(*fn)(void *), void *arg);

#endif
