/*
 * bench_timeacct: what the time accounts (timeacct.h) cost, on one core.
 *
 *   clock      one read of the monotonic clock (aac_mono_ns), the floor
 *   switch     aac_timeacct_switch() between two activities, as the
 *              consume thread does twice per message (poll, parse)
 *   switch+rd  the same while another thread reads every account each
 *              millisecond (a scrape a thousand times a second)
 *   read       aac_timeacct_read() of all nine accounts, every one running
 *
 * ns per call, best of --runs runs of --seconds each. Then the share on the
 * consume thread: the parser over generated events (bench_gen.h), alone
 * and with the three switches per message the consume loop makes (poll,
 * parse, other), alternating within each run so that both see the same
 * machine; events/s of each, the share measured, and the share the
 * switch's ns predict. Parsing is only part of what the consume thread
 * does per message (docs/benchmark.md: 4.7 CPU us in all), so both shares
 * are upper bounds.
 *
 *   bench_timeacct [--seconds S] [--runs N] [--events N]
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aac/clock.h"
#include "aac/event.h"
#include "aac/timeacct.h"
#include "bench_gen.h"

#define BLOCK 4096 /* calls between two looks at the time */

static volatile uint64_t sink; /* keeps the timed results alive */

#define TIME_OP(ns, secs, runs, op) BENCH_TIME_OP(ns, secs, runs, BLOCK, op)

typedef struct scraper_s {
    aac_timeacct_t *ta;
    _Atomic bool stop;
    uint64_t reads;
} scraper_t;

static void *scraper_main(void *arg)
{
    scraper_t *sc = arg;
    aac_timeacct_snapshot_t s;
    struct timespec ms = {0, 1000000};
    while (!atomic_load(&sc->stop)) {
        aac_timeacct_read(sc->ta, &s);
        sink += s.ns[0][AAC_ACT_POLL];
        sc->reads++;
        nanosleep(&ms, NULL);
    }
    return NULL;
}

/* Parses msgs[from..from+n) (k mod nev), switching as the consume loop
 * does for each message when `th` is given: poll, parse, the rest. */
static void parse_some(aac_event_parser_t *p, const bench_msg_t *msgs, size_t nev, size_t from,
                       size_t n, aac_timeacct_thread_t *th)
{
    aac_event_t ev;
    aac_event_error_t err;
    for (size_t i = 0; i < n; i++) {
        size_t k = (from + i) % nev;
        if (th)
            aac_timeacct_switch(th, AAC_ACT_POLL);
        aac_event_parse(p, "bench", 0, (int64_t)k, msgs[k].buf, msgs[k].len, &ev, &err);
        if (th)
            aac_timeacct_switch(th, AAC_ACT_PARSE);
        sink += (uint64_t)ev.duration_ms;
        if (th)
            aac_timeacct_switch(th, AAC_ACT_OTHER);
    }
}

int main(int argc, char **argv)
{
    double seconds = 1.0;
    int runs = 5;
    size_t nev = 4096;
    if (bench_options(argc, argv, "bench_timeacct", &seconds, &runs, &nev) != 0)
        return 2;

    aac_timeacct_t *ta = aac_timeacct_new(NULL, NULL);
    if (!ta)
        return 1;
    aac_timeacct_thread_t *th = aac_timeacct_thread(ta, AAC_TIMEACCT_CONSUME);
    double clock_ns, switch_ns, contended_ns, read_ns;

    TIME_OP(clock_ns, seconds, runs, sink += (uint64_t)aac_mono_ns());
    TIME_OP(switch_ns, seconds, runs,
            aac_timeacct_switch(th, (k & 1) ? AAC_ACT_PARSE : AAC_ACT_POLL));

    scraper_t sc = {.ta = ta};
    pthread_t scraper;
    atomic_init(&sc.stop, false);
    if (pthread_create(&scraper, NULL, scraper_main, &sc) != 0)
        return 1;
    TIME_OP(contended_ns, seconds, runs,
            aac_timeacct_switch(th, (k & 1) ? AAC_ACT_PARSE : AAC_ACT_POLL));
    atomic_store(&sc.stop, true);
    pthread_join(scraper, NULL);

    for (int i = 0; i < AAC_TIMEACCT_WRITERS; i++)
        aac_timeacct_switch(aac_timeacct_writer(ta, i), AAC_ACT_IDLE);
    aac_timeacct_snapshot_t snap;
    TIME_OP(read_ns, seconds / 8, runs, aac_timeacct_read(ta, &snap);
            sink += snap.ns[0][AAC_ACT_POLL]);

    printf("clock ns/op: %.1f\n", clock_ns);
    printf("switch ns/op: %.1f\n", switch_ns);
    printf("switch while read every ms ns/op: %.1f (%llu reads)\n", contended_ns,
           (unsigned long long)sc.reads);
    printf("read of 9 accounts ns/op: %.1f\n", read_ns);

    /* the share on the consume thread: parsing alone, and with the switches */
    bench_msg_t *msgs = calloc(nev, sizeof *msgs);
    aac_event_parser_t *p = aac_event_parser_new(NULL);
    if (!msgs || !p)
        return 1;
    bench_generate(msgs, nev);
    parse_some(p, msgs, nev, 0, nev, NULL); /* warm */
    double plain = 1e30, accounted = 1e30;
    for (int r = 0; r < runs; r++) {
        double t[2] = {0, 0};
        size_t n[2] = {0, 0}, from = 0;
        do {
            for (int mode = 0; mode < 2; mode++) {
                double t0 = bench_now();
                parse_some(p, msgs, nev, from, 256, mode ? th : NULL);
                t[mode] += bench_now() - t0;
                n[mode] += 256;
                from += 256;
            }
        } while (t[0] + t[1] < seconds);
        if (t[0] / (double)n[0] * 1e9 < plain)
            plain = t[0] / (double)n[0] * 1e9;
        if (t[1] / (double)n[1] * 1e9 < accounted)
            accounted = t[1] / (double)n[1] * 1e9;
    }
    printf("parse events/s: %.0f alone, %.0f with 3 switches per event\n", 1e9 / plain,
           1e9 / accounted);
    printf("share of the parse's time: %.1f%% measured, %.1f%% from the switch's ns\n",
           100 * (accounted - plain) / plain, 100 * 3 * switch_ns / plain);
    printf("(best of %d runs of %.2f s, one core)\n", runs, seconds);

    aac_event_parser_destroy(p);
    bench_free(msgs, nev);
    free(msgs);
    aac_timeacct_destroy(ta);
    return 0;
}
