/*
 * utf8: well-formedness (RFC 3629) of one sequence or of a whole buffer,
 * both by one rule (seq_len), and escaping text for the inside of a JSON,
 * logfmt or YAML double-quoted string.
 */
#include "aac/utf8.h"

#include <stdint.h>
#include <string.h>

/* The length of the well-formed sequence that starts with the non-ASCII
 * byte s[0], or 0. The second byte's range rules out overlong forms (E0,
 * F0), surrogates (ED) and code points beyond U+10FFFF (F4); C0, C1 and F5
 * to FF begin nothing (RFC 3629, table 3-7 of the Unicode standard). */
static inline size_t seq_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0], lo = 0x80, hi = 0xbf;
    size_t k;
    if (c >= 0xc2 && c <= 0xdf) {
        k = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
        k = 3;
        if (c == 0xe0)
            lo = 0xa0;
        else if (c == 0xed)
            hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        k = 4;
        if (c == 0xf0)
            lo = 0x90;
        else if (c == 0xf4)
            hi = 0x8f;
    } else {
        return 0;
    }
    if (k > n || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t j = 2; j < k; j++)
        if ((s[j] & 0xc0) != 0x80)
            return 0;
    return k;
}

size_t aac_utf8_len(const unsigned char *s, size_t n)
{
    return s[0] < 0x80 ? 1 : seq_len(s, n);
}

aac_utf8_check_t aac_utf8_check(const unsigned char *s, size_t n, size_t *at)
{
    size_t i = 0;
    while (i < n) {
        /* ASCII fast path, 8 bytes at a time, also spotting zero bytes */
        while (i + 8 <= n) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            if (w & 0x8080808080808080ULL)
                break;
            if ((w - 0x0101010101010101ULL) & ~w & 0x8080808080808080ULL)
                break; /* a zero byte */
            i += 8;
        }
        if (i >= n)
            break;
        if (s[i] == 0) {
            *at = i;
            return AAC_UTF8_NUL;
        }
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        size_t k = seq_len(s + i, n - i);
        if (k == 0) {
            *at = i;
            return AAC_UTF8_INVALID;
        }
        i += k;
    }
    return AAC_UTF8_OK;
}

/* The code point of the well-formed k-byte sequence at u when YAML may not
 * carry it raw in a double-quoted scalar, else 0: the C1 controls (YAML
 * 1.1 allows only U+0085 of them, and reads it as a line break, as it does
 * U+2028 and U+2029, which a double-quoted scalar folds into a space), the
 * byte order mark, and the non-characters U+FFFE and U+FFFF. */
static unsigned yaml_unsafe(const unsigned char *u, size_t k)
{
    unsigned cp;
    if (k == 2)
        cp = (u[0] & 0x1fu) << 6 | (u[1] & 0x3fu);
    else if (k == 3)
        cp = (u[0] & 0x0fu) << 12 | (u[1] & 0x3fu) << 6 | (u[2] & 0x3fu);
    else
        return 0;
    if (cp <= 0x9f || cp == 0x2028 || cp == 0x2029 || cp == 0xfeff || cp >= 0xfffe)
        return cp;
    return 0;
}

size_t aac_utf8_escape(char *dst, size_t size, const char *s, size_t n, aac_utf8_esc_t how,
                       size_t *out_len)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *u = (const unsigned char *)s;
    size_t o = 0, i = 0;
    /* async-signal-safe: no stdio, no allocation (aac_log_signal_safe) */
    while (i < n) {
        char tmp[8];
        size_t k = 1, t = 0;
        unsigned char c = u[i];
        unsigned cp;
        if (c == '"' || c == '\\') {
            tmp[t++] = '\\';
            tmp[t++] = (char)c;
        } else if (c == '\n' || c == '\r' || c == '\t') {
            tmp[t++] = '\\';
            tmp[t++] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
        } else if (c < 0x20 || c == 0x7f || (c >= 0x80 && !(k = aac_utf8_len(u + i, n - i)))) {
            k = 1;
            if (how != AAC_UTF8_ESC_LOGFMT && c >= 0x80) {
                memcpy(tmp, "\\ufffd", 6);
                t = 6;
            } else {
                tmp[t++] = '\\';
                if (how != AAC_UTF8_ESC_LOGFMT) {
                    memcpy(tmp + t, "u00", 3);
                    t += 3;
                } else {
                    tmp[t++] = 'x';
                }
                tmp[t++] = hex[c >> 4];
                tmp[t++] = hex[c & 0xf];
            }
        } else if (how == AAC_UTF8_ESC_YAML && k > 1 && (cp = yaml_unsafe(u + i, k))) {
            tmp[t++] = '\\';
            tmp[t++] = 'u';
            for (int sh = 12; sh >= 0; sh -= 4)
                tmp[t++] = hex[(cp >> sh) & 0xf];
        }
        if (t == 0) {
            if (o + k >= size)
                break;
            memcpy(dst + o, s + i, k);
            o += k;
        } else {
            if (o + t >= size)
                break;
            memcpy(dst + o, tmp, t);
            o += t;
        }
        i += k;
    }
    if (size)
        dst[o] = '\0';
    if (out_len)
        *out_len = o;
    return i;
}

void aac_utf8_fput_quoted(FILE *f, const char *s, size_t n, aac_utf8_esc_t how)
{
    char buf[256];
    size_t out;
    fputc('"', f);
    while (n) {
        /* an escape is at most 6 bytes: every call consumes something */
        size_t used = aac_utf8_escape(buf, sizeof(buf), s, n, how, &out);
        fwrite(buf, 1, out, f);
        s += used;
        n -= used;
    }
    fputc('"', f);
}
