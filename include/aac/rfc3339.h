/*
 * rfc3339: RFC 3339 timestamps, parsed and formatted by one module.
 *
 * What is accepted is the event contract's rule (docs/event-contract.md,
 * "Timestamps"): YYYY-MM-DD, T/t/space, hh:mm:ss, an optional fraction of
 * 1 to 6 digits, then Z/z or +hh:mm/-hh:mm; the calendar checked; a leap
 * second taken as the next minute's first instant; years 0001..9999 in
 * the given offset and once converted to UTC. The event parser and the
 * dlq commands' --since/--until use the same function.
 */
#ifndef AAC_RFC3339_H
#define AAC_RFC3339_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AAC_RFC3339_SIZE 32 /* "9999-12-31T23:59:59.999999Z" and the NUL, with room */

/* Parses s[0..n) (need not be NUL-terminated) into microseconds since the
 * epoch. On failure returns false and writes why it was refused into
 * why[whysz], a phrase to follow the field's name ("has no UTC offset; add
 * Z or +hh:mm"). */
bool aac_rfc3339_parse(const char *s, size_t n, int64_t *us, char *why, size_t whysz);

/* The same in milliseconds since the epoch, floored (1969-12-31T23:59:59.9995Z
 * is -1): the dlq commands' --since/--until and a dead letter's
 * aac.failed.at. */
bool aac_rfc3339_parse_ms(const char *s, size_t n, int64_t *ms, char *why, size_t whysz);

/* Writes us (microseconds since the epoch) in UTC as
 * YYYY-MM-DDThh:mm:ss, a fraction of frac_digits digits (3 or 6; any other
 * value: none, truncated, never rounded), then Z; NUL-terminated. Years
 * beyond 0000..9999 are clamped. Returns the length. Async-signal-safe:
 * no stdio, no gmtime_r. */
size_t aac_rfc3339_format(int64_t us, int frac_digits, char out[AAC_RFC3339_SIZE]);

#endif
