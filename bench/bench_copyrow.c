/*
 * bench_copyrow: what aac_copyrow_put() costs per row in the text and the
 * binary COPY format, on one core, over the generated events of
 * bench_gen.h (parsed once, then encoded again and again into a buffer
 * grown beforehand, as the sink does). The two formats alternate within
 * each run, so both see the same machine; prints ns/row and bytes/row of
 * each, best of --runs, and their ratio.
 *
 *   bench_copyrow [--seconds S] [--runs N] [--events N]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aac/copyrow.h"
#include "aac/event.h"
#include "bench_gen.h"

static const char TOPIC[] = "agent-actions";

/* The parser's strings live until its next call: each event keeps copies. */
static aac_str_t own(aac_str_t s)
{
    if (!s.ptr)
        return s;
    char *p = malloc(s.len ? s.len : 1);
    if (!p)
        exit(1);
    memcpy(p, s.ptr, s.len);
    return (aac_str_t){p, s.len};
}

static void disown(aac_event_t *ev)
{
    free((char *)ev->agent_name.ptr);
    free((char *)ev->action_name.ptr);
    free((char *)ev->action_details.ptr);
    free((char *)ev->project_path.ptr);
    free((char *)ev->project_name.ptr);
    free((char *)ev->working_directory.ptr);
    free((char *)ev->extra.ptr);
}

/* Encodes every event once in format f into buf; returns the bytes. */
static size_t encode_all(aac_copy_format_t f, const aac_event_t *ev, size_t n, char *buf)
{
    char *o = buf;
    for (size_t i = 0; i < n; i++)
        o = aac_copyrow_put(o, f, &ev[i], TOPIC, sizeof TOPIC - 1, (int32_t)(i & 7),
                            (int64_t)i + 1000000);
    return (size_t)(o - buf);
}

int main(int argc, char **argv)
{
    double seconds = 1.0;
    int runs = 5;
    size_t nev = 4096;
    if (bench_options(argc, argv, "bench_copyrow", &seconds, &runs, &nev) != 0)
        return 2;
    bench_msg_t *msgs = calloc(nev, sizeof *msgs);
    aac_event_t *ev = calloc(nev, sizeof *ev);
    aac_event_parser_t *p = aac_event_parser_new(NULL);
    if (!msgs || !ev || !p)
        return 1;
    bench_generate(msgs, nev);
    size_t cap = 0;
    for (size_t i = 0; i < nev; i++) {
        aac_event_error_t err;
        if (aac_event_parse(p, TOPIC, 0, (int64_t)i, msgs[i].buf, msgs[i].len, &ev[i], &err)) {
            fprintf(stderr, "bench_copyrow: event %zu rejected: %s %s: %s\n", i,
                    aac_reason_str(err.reason), err.path, err.message);
            return 1;
        }
        ev[i].agent_name = own(ev[i].agent_name);
        ev[i].action_name = own(ev[i].action_name);
        ev[i].action_details = own(ev[i].action_details);
        ev[i].project_path = own(ev[i].project_path);
        ev[i].project_name = own(ev[i].project_name);
        ev[i].working_directory = own(ev[i].working_directory);
        ev[i].extra = own(ev[i].extra);
        size_t t = aac_copyrow_bound(AAC_COPY_TEXT, &ev[i], sizeof TOPIC - 1);
        size_t b = aac_copyrow_bound(AAC_COPY_BINARY, &ev[i], sizeof TOPIC - 1);
        cap += t > b ? t : b;
    }
    char *buf = malloc(cap);
    if (!buf)
        return 1;
    size_t bytes[2] = {encode_all(AAC_COPY_TEXT, ev, nev, buf),
                       encode_all(AAC_COPY_BINARY, ev, nev, buf)};

    /* ns per row, best of the runs; half of each run per format, in
     * slices of the event set, alternating */
    double best[2] = {1e30, 1e30};
    for (int r = 0; r < runs; r++) {
        double spent[2] = {0, 0};
        size_t rows[2] = {0, 0};
        double t_end = bench_now() + seconds;
        do {
            for (int f = 0; f < 2; f++) {
                double t0 = bench_now();
                size_t n = encode_all((aac_copy_format_t)f, ev, nev, buf);
                spent[f] += bench_now() - t0;
                rows[f] += nev;
                if (n != bytes[f]) /* keeps the work observable */
                    return 1;
            }
        } while (bench_now() < t_end);
        for (int f = 0; f < 2; f++) {
            double ns = spent[f] * 1e9 / (double)rows[f];
            best[f] = ns < best[f] ? ns : best[f];
        }
    }
    printf("rows: %zu events, text %.0f bytes/row, binary %.0f bytes/row\n", nev,
           (double)bytes[0] / (double)nev, (double)bytes[1] / (double)nev);
    printf("text ns/row: %.1f\nbinary ns/row: %.1f\ntext/binary time ratio: %.2f\n", best[0],
           best[1], best[0] / best[1]);
    printf("(best of %d runs of %.1f s, both formats alternating, one core)\n", runs, seconds);
    free(buf);
    for (size_t i = 0; i < nev; i++)
        disown(&ev[i]);
    free(ev);
    aac_event_parser_destroy(p);
    bench_free(msgs, nev);
    free(msgs);
    return 0;
}
