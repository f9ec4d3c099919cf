/*
 * bench_event: parse+validate throughput of aac_event_parse() on one core,
 * over generated events (bench_gen.h). Prints events/s and MB/s, best of
 * --runs runs of --seconds each. The parser is warmed first, as in the
 * service, so the figure includes no allocation.
 *
 * Then the UUID operations of the hot path against libuuid's (issue 13:
 * use libuuid unless it is slower here), ns per operation, best of --runs
 * runs of a quarter of --seconds each, over 4096 different inputs: parsing
 * the text form (every event's three ids), formatting it (every COPY text
 * row's three ids) and deriving a version 5 id (events without event_id).
 * Each pair is first checked to give the same bytes.
 *
 *   bench_event [--seconds S] [--runs N] [--events N]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uuid/uuid.h>

#include "aac/event.h"
#include "aac/uuid.h"
#include "bench_gen.h"

#define NUUID 4096

static volatile unsigned uuid_sink; /* keeps the timed results alive */

#define TIME_OP(ns, secs, runs, op) BENCH_TIME_OP(ns, secs, runs, NUUID, op)

/* The UUID comparisons; returns 0, or 1 when a pair disagrees. */
static int bench_uuid_ops(double secs, int runs)
{
    static char str[NUUID][37], name[NUUID][32];
    static uint8_t bin[NUUID][16];
    static size_t name_len[NUUID];
    for (size_t k = 0; k < NUUID; k++) {
        bench_uuid(str[k]);
        if (aac_uuid_parse(str[k], 36, bin[k]) != 0)
            return 1;
        /* the name event.c derives an id from: topic/partition/offset */
        name_len[k] = (size_t)snprintf(name[k], sizeof name[k], "bench/%zu/%llu", k % 12,
                                       (unsigned long long)(bench_next() % 100000000));
    }
    for (size_t k = 0; k < NUUID; k++) {
        uint8_t a[16], b[16];
        char sa[37], sb[37];
        if (uuid_parse_range(str[k], str[k] + 36, b) != 0 || memcmp(bin[k], b, 16) != 0)
            return 1;
        aac_uuid_format(bin[k], sa);
        uuid_unparse_lower(bin[k], sb);
        if (strcmp(sa, sb) != 0 || strcmp(sa, str[k]) != 0)
            return 1;
        aac_uuid_v5(aac_event_id_namespace, name[k], name_len[k], a);
        uuid_generate_sha1(b, aac_event_id_namespace, name[k], name_len[k]);
        if (memcmp(a, b, 16) != 0)
            return 1;
    }
    double ours, lib;
    uint8_t u[16];
    char s[37];
    TIME_OP(ours, secs, runs, aac_uuid_parse(str[k], 36, u); uuid_sink += u[15]);
    TIME_OP(lib, secs, runs, uuid_parse_range(str[k], str[k] + 36, u); uuid_sink += u[15]);
    printf("uuid parse ns/op: aac_uuid_parse %.1f, libuuid uuid_parse_range %.1f\n", ours, lib);
    TIME_OP(ours, secs, runs, aac_uuid_format(bin[k], s); uuid_sink += (unsigned char)s[35]);
    TIME_OP(lib, secs, runs, uuid_unparse_lower(bin[k], s); uuid_sink += (unsigned char)s[35]);
    printf("uuid format ns/op: aac_uuid_format %.1f, libuuid uuid_unparse_lower %.1f\n", ours, lib);
    TIME_OP(ours, secs, runs, aac_uuid_v5(aac_event_id_namespace, name[k], name_len[k], u);
            uuid_sink += u[15]);
    TIME_OP(lib, secs, runs, uuid_generate_sha1(u, aac_event_id_namespace, name[k], name_len[k]);
            uuid_sink += u[15]);
    printf("uuid v5 ns/op: aac_uuid_v5 %.1f, libuuid uuid_generate_sha1 %.1f\n", ours, lib);
    return 0;
}

int main(int argc, char **argv)
{
    double seconds = 1.0;
    int runs = 5;
    size_t nev = 4096;
    if (bench_options(argc, argv, "bench_event", &seconds, &runs, &nev) != 0)
        return 2;
    bench_msg_t *msgs = calloc(nev, sizeof *msgs);
    if (!msgs)
        return 1;
    bench_generate(msgs, nev);
    size_t bytes = 0, minl = (size_t)-1, maxl = 0;
    for (size_t i = 0; i < nev; i++) {
        bytes += msgs[i].len;
        minl = msgs[i].len < minl ? msgs[i].len : minl;
        maxl = msgs[i].len > maxl ? msgs[i].len : maxl;
    }
    aac_event_parser_t *p = aac_event_parser_new(NULL);
    if (!p)
        return 1;
    aac_event_t ev;
    aac_event_error_t err;
    for (size_t i = 0; i < nev; i++) {
        if (aac_event_parse(p, "bench", 0, (int64_t)i, msgs[i].buf, msgs[i].len, &ev, &err)) {
            fprintf(stderr, "bench_event: event %zu rejected: %s %s: %s\n", i,
                    aac_reason_str(err.reason), err.path, err.message);
            return 1;
        }
    }
    printf("events: %zu generated, %zu..%zu bytes, mean %zu\n", nev, minl, maxl, bytes / nev);
    double best = 0, best_mb = 0;
    for (int r = 0; r < runs; r++) {
        size_t done = 0, done_bytes = 0;
        double t0 = bench_now(), t;
        do {
            for (size_t i = 0; i < 256; i++) {
                size_t k = (done + i) % nev;
                aac_event_parse(p, "bench", 0, (int64_t)k, msgs[k].buf, msgs[k].len, &ev, &err);
                done_bytes += msgs[k].len;
            }
            done += 256;
            t = bench_now() - t0;
        } while (t < seconds);
        double rate = (double)done / t, mb = (double)done_bytes / t / 1e6;
        if (rate > best) {
            best = rate;
            best_mb = mb;
        }
    }
    printf("events/s: %.0f\nMB/s: %.1f\n(best of %d runs of %.1f s, parse+validate, one core)\n",
           best, best_mb, runs, seconds);
    if (bench_uuid_ops(seconds / 4, runs) != 0) {
        fprintf(stderr, "bench_event: aac_uuid_* and libuuid disagree\n");
        return 1;
    }
    aac_event_parser_destroy(p);
    bench_free(msgs, nev);
    free(msgs);
    return 0;
}
