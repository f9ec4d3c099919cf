/*
 * utf8: the one UTF-8 rule (RFC 3629: no overlong forms, no surrogates,
 * nothing beyond U+10FFFF), applied one sequence at a time (for code that
 * prints text it did not validate: log fields, JSON answers, dead-letter
 * headers) or to a whole message (event validation), and the one string
 * escaper for JSON, logfmt and YAML.
 */
#ifndef AAC_UTF8_H
#define AAC_UTF8_H

#include <stddef.h>
#include <stdio.h>

/* The length of the well-formed UTF-8 sequence at s (1 to 4 bytes, at most
 * n), or 0 when it is not one: overlong forms, surrogates and code points
 * beyond U+10FFFF are not well-formed. n must be at least 1. */
size_t aac_utf8_len(const unsigned char *s, size_t n);

typedef enum {
    AAC_UTF8_OK,
    AAC_UTF8_NUL,    /* well-formed, but a NUL byte at *at */
    AAC_UTF8_INVALID /* the byte at *at begins no well-formed sequence */
} aac_utf8_check_t;

/* Checks a whole buffer by the same rule as aac_utf8_len, and finds NUL
 * bytes: what PostgreSQL text cannot store. Stops at the first problem and
 * sets *at to its offset. Fast on ASCII (8 bytes a step): the consume
 * path runs it over every message. */
aac_utf8_check_t aac_utf8_check(const unsigned char *s, size_t n, size_t *at);

typedef enum {
    AAC_UTF8_ESC_JSON,   /* inside a JSON string: \u00XX, invalid UTF-8 as \ufffd */
    AAC_UTF8_ESC_LOGFMT, /* inside a quoted logfmt value: \xXX for both */
    /* inside a YAML double-quoted scalar: as JSON (a JSON string is one),
     * and also \uXXXX for what YAML may not carry raw there: the C1
     * controls, U+2028, U+2029 (line breaks to YAML), U+FEFF, U+FFFE and
     * U+FFFF; libyaml reads every result back as the same text */
    AAC_UTF8_ESC_YAML
} aac_utf8_esc_t;

/* Escapes s[0..n) for the inside of a double-quoted string: \" \\ \n \r
 * \t, other control bytes and DEL as \u00XX (JSON, YAML) or \xXX (logfmt);
 * well-formed UTF-8 is copied (YAML: but for the characters named above),
 * an ill-formed byte becomes \ufffd (JSON, YAML) or \xXX (logfmt). Never splits an escape or a
 * character: stops at the first one that does not fit in size - 1 bytes. dst is NUL-terminated when
 * size > 0. Returns the number of input bytes consumed (n when all fit) and sets *out_len, when not
 * NULL, to the bytes written. */
size_t aac_utf8_escape(char *dst, size_t size, const char *s, size_t n, aac_utf8_esc_t how,
                       size_t *out_len);

/* Writes s[0..n) to f between double quotes, escaped as aac_utf8_escape
 * does (for a JSON document or a logfmt line written with stdio). */
void aac_utf8_fput_quoted(FILE *f, const char *s, size_t n, aac_utf8_esc_t how);

#endif
