/*
 * clock: the service's two clocks, so that no module writes its own.
 *
 * aac_now() is the wall clock (what a timestamp or a metric's "seconds
 * since the epoch" reports); aac_mono_ms() is the monotonic clock every
 * deadline, timeout and elapsed time is measured with (it does not jump
 * when the wall clock is set). Both are thread-safe and do not allocate.
 */
#ifndef AAC_CLOCK_H
#define AAC_CLOCK_H

#include <stdint.h>

/* Current time as unix seconds, with the fraction (CLOCK_REALTIME). */
double aac_now(void);

/* The same wall clock in whole microseconds since the epoch (for RFC 3339
 * timestamps, exact where a double would round). */
int64_t aac_now_us(void);

/* Milliseconds on CLOCK_MONOTONIC: only differences mean anything. */
int64_t aac_mono_ms(void);

/* The same clock in nanoseconds (timeacct.h's clock: one vDSO call, about
 * 20 ns, no system call). */
int64_t aac_mono_ns(void);

#endif
