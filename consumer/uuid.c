/*
 * uuid: name-based UUIDs (version 5) and the text form of every UUID.
 *
 * libuuid does what it does no slower on the hot path; the rest is ours.
 * Measured with bench/bench_event (ns per operation, best of 5, 4096
 * different inputs, one core of a shared 2-core Xeon, 2026-12-02, three
 * runs' range):
 *
 *   version 5      hand-written SHA-1 465-587, uuid_generate_sha1 229-402:
 *                  libuuid's (aac_uuid_v5). Only events without event_id
 *                  pay it. Same bytes as Python's uuid.uuid5 (test_uuid.c).
 *   parse          aac_uuid_parse 15-23, uuid_parse_range 317-420: ours.
 *                  Every event parses three; libuuid checks each byte
 *                  with isxdigit, then converts each field with strtoul.
 *   format         aac_uuid_format 9-12, uuid_unparse_lower 18-26: ours,
 *                  a 16-byte loop. Every COPY text row formats three.
 */
#include "aac/uuid.h"

#include <stdint.h>

#include <uuid/uuid.h>

void aac_uuid_v5(const uint8_t ns[16], const void *name, size_t len, uint8_t out[16])
{
    uuid_generate_sha1(out, ns, name, len);
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

/* Each hex digit's value with bit 0x10 set, 0 for any other byte: the
 * digits of a byte and their validity come from two loads and no branch
 * (random hex digits make a digit-or-letter branch mispredict on every
 * other character: 167-174 ns per UUID with that branch, 15-23 without). */
static const uint8_t hexval[256] = {
    ['0'] = 0x10, ['1'] = 0x11, ['2'] = 0x12, ['3'] = 0x13, ['4'] = 0x14, ['5'] = 0x15,
    ['6'] = 0x16, ['7'] = 0x17, ['8'] = 0x18, ['9'] = 0x19, ['a'] = 0x1A, ['b'] = 0x1B,
    ['c'] = 0x1C, ['d'] = 0x1D, ['e'] = 0x1E, ['f'] = 0x1F, ['A'] = 0x1A, ['B'] = 0x1B,
    ['C'] = 0x1C, ['D'] = 0x1D, ['E'] = 0x1E, ['F'] = 0x1F,
};

/* Where each of the 16 bytes' two digits start in 8-4-4-4-12. */
static const uint8_t hexpos[16] = {0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34};

int aac_uuid_parse(const char *s, size_t len, uint8_t out[16])
{
    /* Only the canonical 8-4-4-4-12 form: braces and "urn:uuid:" are what
     * PostgreSQL's uuid input also accepts, but two spellings of one id in
     * the topic would make producers' logs disagree with the table. */
    if (len != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-')
        return -1;
    unsigned valid = 0x10;
    for (int j = 0; j < 16; j++) {
        uint8_t hi = hexval[(unsigned char)s[hexpos[j]]];
        uint8_t lo = hexval[(unsigned char)s[hexpos[j] + 1]];
        valid &= hi & lo;
        out[j] = (uint8_t)(hi << 4 | (lo & 0x0F));
    }
    return valid ? 0 : -1;
}
