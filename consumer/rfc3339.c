/*
 * rfc3339: the one RFC 3339 parser and formatter, and the calendar they
 * share (proleptic Gregorian, H. Hinnant's days_from_civil and
 * civil_from_days). The parser accepts exactly what the event contract
 * accepts (docs/event-contract.md, "Timestamps"); the formatter writes
 * UTC and is async-signal-safe, so that the log's signal path can use it.
 */
#include "aac/rfc3339.h"

#include <stdio.h>
#include <string.h>

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    /* H. Hinnant's algorithm: proleptic Gregorian, days since 1970-01-01 */
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static bool digits(const char *s, size_t n, int *v)
{
    int x = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        x = x * 10 + (s[i] - '0');
    }
    *v = x;
    return true;
}

#define US_PER_DAY INT64_C(86400000000)

/* A timestamp's fields as written, before any range check. */
typedef struct stamp_s {
    int y, mo, d, h, mi, sec;
    int64_t frac; /* microseconds */
    int sign;     /* of the offset: 0 for Z */
    int oh, om;
} stamp_t;

#define WHY_SHAPE "must be RFC 3339 like 2024-05-01T12:00:00.123Z"

/* The optional fraction at s[*i]: 1 to 6 digits after a '.'. */
static bool scan_fraction(const char *s, size_t n, size_t *i, int64_t *frac, char *why,
                          size_t whysz)
{
    *frac = 0;
    if (*i == n || s[*i] != '.')
        return true;
    size_t fs = ++*i;
    while (*i < n && s[*i] >= '0' && s[*i] <= '9')
        ++*i;
    size_t fl = *i - fs;
    if (fl == 0) {
        snprintf(why, whysz, "has a decimal point with no digits after it");
        return false;
    }
    if (fl > 6) {
        snprintf(why, whysz, "has %zu fraction digits; at most 6 (microseconds) are allowed", fl);
        return false;
    }
    for (size_t k = 0; k < 6; k++)
        *frac = *frac * 10 + (k < fl ? s[fs + k] - '0' : 0);
    return true;
}

/* The UTC offset at s[i], which must end the text: Z, z, +hh:mm, -hh:mm. */
static bool scan_offset(const char *s, size_t n, size_t i, stamp_t *t, char *why, size_t whysz)
{
    t->sign = t->oh = t->om = 0;
    if (i == n) {
        snprintf(why, whysz, "has no UTC offset; add Z or +hh:mm");
        return false;
    }
    if (s[i] == 'Z' || s[i] == 'z') {
        i++;
    } else if (s[i] == '+' || s[i] == '-') {
        t->sign = s[i] == '-' ? -1 : 1;
        if (n - i != 6 || !digits(s + i + 1, 2, &t->oh) || s[i + 3] != ':' ||
            !digits(s + i + 4, 2, &t->om)) {
            snprintf(why, whysz, "has a malformed UTC offset; expected +hh:mm or -hh:mm");
            return false;
        }
        i += 6;
    } else {
        snprintf(why, whysz, WHY_SHAPE);
        return false;
    }
    if (i != n) {
        snprintf(why, whysz, "has unexpected characters after the UTC offset");
        return false;
    }
    return true;
}

/* The text's syntax into *t: date, time, fraction, offset. */
static bool scan_stamp(const char *s, size_t n, stamp_t *t, char *why, size_t whysz)
{
    if (n < 19 || !digits(s, 4, &t->y) || s[4] != '-' || !digits(s + 5, 2, &t->mo) || s[7] != '-' ||
        !digits(s + 8, 2, &t->d) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
        !digits(s + 11, 2, &t->h) || s[13] != ':' || !digits(s + 14, 2, &t->mi) || s[16] != ':' ||
        !digits(s + 17, 2, &t->sec)) {
        snprintf(why, whysz, WHY_SHAPE);
        return false;
    }
    size_t i = 19;
    return scan_fraction(s, n, &i, &t->frac, why, whysz) && scan_offset(s, n, i, t, why, whysz);
}

/* The calendar and the clock: every field within its range. */
static bool check_stamp(const stamp_t *t, char *why, size_t whysz)
{
    static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (t->y < 1) {
        snprintf(why, whysz, "has year 0000; years 0001 to 9999 are allowed");
        return false;
    }
    if (t->mo < 1 || t->mo > 12) {
        snprintf(why, whysz, "has month %02d", t->mo);
        return false;
    }
    bool leap = (t->y % 4 == 0 && t->y % 100 != 0) || t->y % 400 == 0;
    int dmax = mdays[t->mo - 1] + (t->mo == 2 && leap);
    if (t->d < 1 || t->d > dmax) {
        snprintf(why, whysz, "has day %02d, but %04d-%02d has %d days", t->d, t->y, t->mo, dmax);
        return false;
    }
    if (t->h > 23 || t->mi > 59 || t->sec > 60) {
        snprintf(why, whysz, "has time %02d:%02d:%02d out of range", t->h, t->mi, t->sec);
        return false;
    }
    if (t->oh > 23 || t->om > 59) {
        snprintf(why, whysz, "has UTC offset %02d:%02d out of range", t->oh, t->om);
        return false;
    }
    return true;
}

bool aac_rfc3339_parse(const char *s, size_t n, int64_t *us, char *why, size_t whysz)
{
    stamp_t st;
    if (!scan_stamp(s, n, &st, why, whysz) || !check_stamp(&st, why, whysz))
        return false;
    /* A leap second (:60) counts as the first instant of the next minute,
     * which is what PostgreSQL's timestamptz input does with it. */
    int64_t t = days_from_civil(st.y, (unsigned)st.mo, (unsigned)st.d) * US_PER_DAY +
                ((int64_t)st.h * 3600 + st.mi * 60 + st.sec) * 1000000 + st.frac;
    t -= (int64_t)st.sign * ((int64_t)st.oh * 3600 + st.om * 60) * 1000000;
    /* in UTC too: PostgreSQL rejects year 0 on input, so the normalized
     * form must stay within 0001..9999 */
    if (t < days_from_civil(1, 1, 1) * US_PER_DAY ||
        t >= days_from_civil(10000, 1, 1) * US_PER_DAY) {
        snprintf(why, whysz, "is outside 0001-01-01 to 9999-12-31 once converted to UTC");
        return false;
    }
    *us = t;
    return true;
}

bool aac_rfc3339_parse_ms(const char *s, size_t n, int64_t *ms, char *why, size_t whysz)
{
    int64_t us;
    if (!aac_rfc3339_parse(s, n, &us, why, whysz))
        return false;
    *ms = us >= 0 ? us / 1000 : -((-us + 999) / 1000);
    return true;
}

/* Days since 1970-01-01 to a civil date (H. Hinnant). */
static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

/* Writes v as exactly width digits (the lowest ones), no stdio. */
static char *put_digits(char *o, int64_t v, int width)
{
    for (int i = width - 1; i >= 0; i--) {
        o[i] = (char)('0' + v % 10);
        v /= 10;
    }
    return o + width;
}

size_t aac_rfc3339_format(int64_t us, int frac_digits, char out[AAC_RFC3339_SIZE])
{
    int64_t days = us / US_PER_DAY, rem = us % US_PER_DAY, y;
    unsigned m, d;
    if (rem < 0) {
        rem += US_PER_DAY;
        days--;
    }
    civil_from_days(days, &y, &m, &d);
    if (y < 0)
        y = 0;
    else if (y > 9999)
        y = 9999;
    int64_t secs = rem / 1000000;
    char *o = out;
    o = put_digits(o, y, 4);
    *o++ = '-';
    o = put_digits(o, m, 2);
    *o++ = '-';
    o = put_digits(o, d, 2);
    *o++ = 'T';
    o = put_digits(o, secs / 3600, 2);
    *o++ = ':';
    o = put_digits(o, secs / 60 % 60, 2);
    *o++ = ':';
    o = put_digits(o, secs % 60, 2);
    if (frac_digits == 3 || frac_digits == 6) {
        *o++ = '.';
        o = put_digits(o, frac_digits == 3 ? rem % 1000000 / 1000 : rem % 1000000, frac_digits);
    }
    *o++ = 'Z';
    *o = '\0';
    return (size_t)(o - out);
}
