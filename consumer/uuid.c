/*
 * uuid: SHA-1, name-based UUIDs (version 5) and their text form.
 *
 * SHA-1 is here only because RFC 4122 version 5 UUIDs are defined with it:
 * the derived event_id must be the same value any other implementation
 * (Python's uuid.uuid5, PostgreSQL's uuid-ossp) computes, so it is not used
 * for anything that needs collision resistance. Writing the ~80 lines
 * ourselves keeps a crypto library out of the hot path's dependencies.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "aac/event.h"

/* Streaming state: uuid_v5 hashes namespace and name without copying. */
typedef struct sha1_s {
    uint32_t h[5];
    uint64_t total; /* bytes */
    uint8_t buf[64];
    size_t used;
} sha1_t;

static uint32_t rol32(uint32_t x, int n)
{
    return (x << n) | (x >> (32 - n));
}

static void sha1_block(uint32_t h[5], const uint8_t *p)
{
    uint32_t w[80];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | (uint32_t)p[4 * i + 3];
    for (int i = 16; i < 80; i++)
        w[i] = rol32(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);

    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
    for (int i = 0; i < 80; i++) {
        uint32_t f, k;
        if (i < 20) {
            f = (b & c) | (~b & d);
            k = 0x5A827999;
        } else if (i < 40) {
            f = b ^ c ^ d;
            k = 0x6ED9EBA1;
        } else if (i < 60) {
            f = (b & c) | (b & d) | (c & d);
            k = 0x8F1BBCDC;
        } else {
            f = b ^ c ^ d;
            k = 0xCA62C1D6;
        }
        uint32_t t = rol32(a, 5) + f + e + k + w[i];
        e = d;
        d = c;
        c = rol32(b, 30);
        b = a;
        a = t;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
}

static void sha1_init(sha1_t *s)
{
    s->h[0] = 0x67452301;
    s->h[1] = 0xEFCDAB89;
    s->h[2] = 0x98BADCFE;
    s->h[3] = 0x10325476;
    s->h[4] = 0xC3D2E1F0;
    s->total = 0;
    s->used = 0;
}

static void sha1_update(sha1_t *s, const void *data, size_t len)
{
    const uint8_t *p = data;
    s->total += len;
    if (s->used > 0) {
        size_t n = 64 - s->used < len ? 64 - s->used : len;
        memcpy(s->buf + s->used, p, n);
        s->used += n;
        p += n;
        len -= n;
        if (s->used < 64)
            return;
        sha1_block(s->h, s->buf);
        s->used = 0;
    }
    for (; len >= 64; p += 64, len -= 64)
        sha1_block(s->h, p);
    memcpy(s->buf, p, len);
    s->used = len;
}

static void sha1_final(sha1_t *s, uint8_t out[20])
{
    uint64_t bits = s->total * 8;
    uint8_t pad = 0x80;
    sha1_update(s, &pad, 1);
    pad = 0;
    while (s->used != 56)
        sha1_update(s, &pad, 1);
    uint8_t len_be[8];
    for (int i = 0; i < 8; i++)
        len_be[i] = (uint8_t)(bits >> (56 - 8 * i));
    sha1_update(s, len_be, 8);
    for (int i = 0; i < 5; i++) {
        out[4 * i] = (uint8_t)(s->h[i] >> 24);
        out[4 * i + 1] = (uint8_t)(s->h[i] >> 16);
        out[4 * i + 2] = (uint8_t)(s->h[i] >> 8);
        out[4 * i + 3] = (uint8_t)s->h[i];
    }
}

void aac_sha1(const void *data, size_t len, uint8_t out[20])
{
    sha1_t s;
    sha1_init(&s);
    sha1_update(&s, data, len);
    sha1_final(&s, out);
}

void aac_uuid_v5(const uint8_t ns[16], const void *name, size_t len, uint8_t out[16])
{
    sha1_t s;
    uint8_t digest[20];
    sha1_init(&s);
    sha1_update(&s, ns, 16);
    sha1_update(&s, name, len);
    sha1_final(&s, digest);
    memcpy(out, digest, 16);
    out[6] = (uint8_t)((out[6] & 0x0F) | 0x50); /* version 5 */
    out[8] = (uint8_t)((out[8] & 0x3F) | 0x80); /* RFC 4122 variant */
}

void aac_uuid_format(const uint8_t uuid[16], char out[37])
{
    static const char hex[] = "0123456789abcdef";
    char *o = out;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            *o++ = '-';
        *o++ = hex[uuid[i] >> 4];
        *o++ = hex[uuid[i] & 0x0F];
    }
    *o = '\0';
}

/* Hex digit values, -1 elsewhere: a table, because random hex digits make
 * a digit-or-letter branch mispredict on every character (it showed as a
 * seventh of parse time in bench_event). */
static const int8_t hexval[256] = {
    ['0'] = 0,  ['1'] = 1,  ['2'] = 2,  ['3'] = 3,  ['4'] = 4,  ['5'] = 5,  ['6'] = 6,  ['7'] = 7,
    ['8'] = 8,  ['9'] = 9,  ['a'] = 10, ['b'] = 11, ['c'] = 12, ['d'] = 13, ['e'] = 14, ['f'] = 15,
    ['A'] = 10, ['B'] = 11, ['C'] = 12, ['D'] = 13, ['E'] = 14, ['F'] = 15,
};
static bool hex_ok(unsigned char c)
{
    return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f');
}

int aac_uuid_parse(const char *s, size_t len, uint8_t out[16])
{
    /* Only the canonical 8-4-4-4-12 form: braces and "urn:uuid:" are what
     * PostgreSQL's uuid input also accepts, but two spellings of one id in
     * the topic would make producers' logs disagree with the table. */
    if (len != 36)
        return -1;
    int j = 0, bad = 0;
    for (int i = 0; i < 36;) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return -1;
            i++;
            continue;
        }
        unsigned char a = (unsigned char)s[i], b = (unsigned char)s[i + 1];
        bad |= !hex_ok(a) || !hex_ok(b);
        out[j++] = (uint8_t)(hexval[a] << 4 | hexval[b]);
        i += 2;
    }
    return bad ? -1 : 0;
}
