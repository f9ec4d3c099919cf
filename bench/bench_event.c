/*
 * bench_event: parse+validate throughput of aac_event_parse() on one core,
 * over generated events (bench_gen.h). Prints events/s and MB/s, best of
 * --runs runs of --seconds each. The parser is warmed first, as in the
 * service, so the figure includes no allocation.
 *
 *   bench_event [--seconds S] [--runs N] [--events N]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aac/event.h"
#include "bench_gen.h"

int main(int argc, char **argv)
{
    double seconds = 1.0;
    int runs = 5;
    size_t nev = 4096;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
            seconds = atof(argv[++i]);
        else if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc)
            runs = atoi(argv[++i]);
        else if (strcmp(argv[i], "--events") == 0 && i + 1 < argc)
            nev = (size_t)atol(argv[++i]);
        else {
            fprintf(stderr, "usage: bench_event [--seconds S] [--runs N] [--events N]\n");
            return 2;
        }
    }
    if (seconds <= 0 || runs < 1 || nev < 1) {
        fprintf(stderr, "bench_event: bad arguments\n");
        return 2;
    }
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
    aac_event_parser_destroy(p);
    bench_free(msgs, nev);
    free(msgs);
    return 0;
}
