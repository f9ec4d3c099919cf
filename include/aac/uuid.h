/*
 * uuid: the text form of UUIDs and name-based (version 5) UUIDs. Parse and
 * format are ours, version 5 is libuuid's; consumer/uuid.c says why, with
 * the figures. Thread-safe, no allocation.
 */
#ifndef AAC_UUID_H
#define AAC_UUID_H

#include <stddef.h>
#include <stdint.h>

/* Formats a UUID as 36 lowercase characters plus NUL into out[37]. */
void aac_uuid_format(const uint8_t uuid[16], char out[37]);

/* Name-based UUID version 5 (RFC 4122 section 4.3, SHA-1). */
void aac_uuid_v5(const uint8_t ns[16], const void *name, size_t len, uint8_t out[16]);

/* Parses the canonical 8-4-4-4-12 text form, hex digits in either case;
 * returns 0, or -1 for anything else (braces, "urn:uuid:", no hyphens). */
int aac_uuid_parse(const char *s, size_t len, uint8_t out[16]);

#endif
