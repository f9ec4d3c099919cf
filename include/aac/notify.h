/*
 * notify: the service manager's notification protocol (sd_notify), spoken
 * directly: one datagram per message to the AF_UNIX socket named by
 * $NOTIFY_SOCKET (a path, or an abstract name written with a leading '@').
 * No libsystemd. Without $NOTIFY_SOCKET every call does nothing, so the
 * same binary runs under systemd (Type=notify), under a container runtime
 * or by hand.
 *
 *   READY=1     once, when the consumer holds its assignment and has read
 *               its stored offsets (what /ready means, minus the outages)
 *   WATCHDOG=1  from the consume loop itself, at most every half of
 *               $WATCHDOG_USEC, so that a loop blocked for longer than
 *               WatchdogSec= stops the pings and systemd restarts it
 *   EXTEND_TIMEOUT_USEC=...  with the pings sent before READY=1: a start
 *               that waits for PostgreSQL or Kafka is alive and is not cut
 *               by TimeoutStartSec=, a start whose loop is blocked is
 *   STOPPING=1  when shutdown begins
 *
 * The state is process-wide and belongs to the consume thread (the only
 * caller); nothing here logs or allocates in the ping path.
 */
#ifndef AAC_NOTIFY_H
#define AAC_NOTIFY_H

#include <stdbool.h>
#include <stdint.h>

/* Reads $NOTIFY_SOCKET, $WATCHDOG_USEC and $WATCHDOG_PID (a watchdog meant
 * for another process is ignored, as sd_watchdog_enabled() does). Called
 * once before the other functions; calling it again re-reads them (tests). */
void aac_notify_init(void);

/* True when $NOTIFY_SOCKET names a socket. */
bool aac_notify_enabled(void);

/* The watchdog interval in microseconds, 0 when none is configured. */
uint64_t aac_notify_watchdog_usec(void);

/* Sends `state` (one or more "KEY=value" lines) as one datagram. Returns 0
 * when sent or when notification is disabled, -1 when the send failed. */
int aac_notify_send(const char *state);

/* Sends READY=1 with a STATUS= line, once; later calls do nothing. */
void aac_notify_ready(const char *status);

/* Called on every turn of the consume loop (and of any wait that is part
 * of it), with a monotonic clock in milliseconds. Sends WATCHDOG=1 when the
 * last ping is older than the ping interval: half of $WATCHDOG_USEC, or
 * 10 s without a watchdog while READY=1 has not been sent (then only to
 * extend the start timeout). Before READY=1 each ping carries
 * EXTEND_TIMEOUT_USEC of twice the interval. */
void aac_notify_alive(int64_t now_ms);

/* Sends STOPPING=1 with a STATUS= line, once. */
void aac_notify_stopping(const char *status);

/* The ping interval in milliseconds (0: no pings), for tests. */
int64_t aac_notify_ping_interval_ms(void);

#endif
