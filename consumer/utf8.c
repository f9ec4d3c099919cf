/*
 * utf8: well-formedness of one sequence (RFC 3629), and escaping text for
 * the inside of a JSON or logfmt string.
 */
#include "aac/utf8.h"

#include <stdint.h>
#include <string.h>

size_t aac_utf8_len(const unsigned char *s, size_t n)
{
    size_t len;
    uint32_t cp;
    if (s[0] < 0x80)
        return 1;
    if ((s[0] & 0xe0) == 0xc0)
        len = 2, cp = s[0] & 0x1f;
    else if ((s[0] & 0xf0) == 0xe0)
        len = 3, cp = s[0] & 0x0f;
    else if ((s[0] & 0xf8) == 0xf0)
        len = 4, cp = s[0] & 0x07;
    else
        return 0;
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
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
        if (c == '"' || c == '\\') {
            tmp[t++] = '\\';
            tmp[t++] = (char)c;
        } else if (c == '\n' || c == '\r' || c == '\t') {
            tmp[t++] = '\\';
            tmp[t++] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
        } else if (c < 0x20 || c == 0x7f || (c >= 0x80 && !(k = aac_utf8_len(u + i, n - i)))) {
            k = 1;
            if (how == AAC_UTF8_ESC_JSON && c >= 0x80) {
                memcpy(tmp, "\\ufffd", 6);
                t = 6;
            } else {
                tmp[t++] = '\\';
                if (how == AAC_UTF8_ESC_JSON) {
                    memcpy(tmp + t, "u00", 3);
                    t += 3;
                } else {
                    tmp[t++] = 'x';
                }
                tmp[t++] = hex[c >> 4];
                tmp[t++] = hex[c & 0xf];
            }
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
