/*
 * utf8: one UTF-8 sequence at a time, for code that prints text it did not
 * validate (log fields, JSON answers, dead-letter headers).
 */
#ifndef AAC_UTF8_H
#define AAC_UTF8_H

#include <stddef.h>

/* The length of the well-formed UTF-8 sequence at s (1 to 4 bytes, at most
 * n), or 0 when it is not one: overlong forms, surrogates and code points
 * beyond U+10FFFF are not well-formed. n must be at least 1. */
size_t aac_utf8_len(const unsigned char *s, size_t n);

#endif
