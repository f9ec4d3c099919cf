/*
 * bench_gen: realistic agent-action events for the benchmarks, generated
 * in memory from a fixed seed so every run and every library sees the same
 * bytes. Sizes spread from ~200 to ~2000 bytes, most near 600, like a
 * tool-call stream: a file path, a line range, the tool's input and a
 * preview of its result (with escapes and some non-ASCII text).
 */
#ifndef AAC_BENCH_GEN_H
#define AAC_BENCH_GEN_H

#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct bench_msg_s {
    char *buf;
    size_t len;
} bench_msg_t;

static uint64_t bench_rng = 0x9E3779B97F4A7C15ULL;

static uint64_t bench_next(void)
{
    bench_rng ^= bench_rng << 13;
    bench_rng ^= bench_rng >> 7;
    bench_rng ^= bench_rng << 17;
    return bench_rng;
}

static void bench_uuid(char out[37])
{
    static const char hex[] = "0123456789abcdef";
    uint64_t a = bench_next(), b = bench_next();
    for (int i = 0, j = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            out[i] = '-';
            continue;
        }
        uint64_t src = j < 16 ? a : b;
        out[i] = hex[(src >> ((j % 16) * 4)) & 15];
        j++;
    }
    out[14] = '4';
    out[36] = '\0';
}

static void bench_text(char *out, size_t n)
{
    static const char *const words[] = {
        "int", "return", "static", "const", "char", "if",         "(err)", "{",     "}",   "buf",
        "len", "size_t", "NULL",   "\\n",   "\\t",  "\\\"ok\\\"", "café",  "naïve", "for", "while"};
    size_t o = 0;
    while (o + 12 < n) {
        const char *w = words[bench_next() % (sizeof words / sizeof words[0])];
        size_t wl = strlen(w);
        memcpy(out + o, w, wl);
        o += wl;
        out[o++] = ' ';
    }
    out[o] = '\0';
}

/* Fills msgs[0..n) with generated events; free with bench_free(). */
static void bench_generate(bench_msg_t *msgs, size_t n)
{
    static const char *const agents[] = {"planner", "coder", "reviewer", "tester", "researcher"};
    static const char *const types[] = {"tool_call", "tool_call", "tool_call",
                                        "decision",  "error",     "success"};
    static const char *const tools[] = {"read_file", "edit_file", "run_command", "grep",
                                        "list_dir"};
    for (size_t i = 0; i < n; i++) {
        char eid[37], cid[37], sid[37], input[256], preview[1600];
        bench_uuid(eid);
        bench_uuid(cid);
        bench_uuid(sid);
        bench_text(input, 20 + bench_next() % 60);
        uint64_t r = bench_next() % 100;
        size_t plen = r < 85 ? 10 + bench_next() % 140 : 150 + bench_next() % 1300;
        bench_text(preview, plen);
        unsigned line = (unsigned)(bench_next() % 2000);
        char *buf = malloc(4096);
        int len = snprintf(
            buf, 4096,
            "{\"event_id\":\"%s\",\"correlation_id\":\"%s\",\"session_id\":\"%s\","
            "\"agent_name\":\"%s\",\"action_type\":\"%s\",\"action_name\":\"%s\","
            "\"action_details\":{\"file_path\":\"/home/dev/acme/src/module_%u.c\","
            "\"line_range\":[%u,%u],\"tool_input\":{\"query\":\"%s\"},"
            "\"result_preview\":\"%s\"},\"duration_ms\":%u,\"debug_mode\":false,"
            "\"project_path\":\"/home/dev/acme\",\"working_directory\":\"/home/dev/acme/src\","
            "\"timestamp\":\"2024-05-01T12:%02u:%02u.%06uZ\"}",
            eid, cid, sid, agents[bench_next() % 5], types[bench_next() % 6],
            tools[bench_next() % 5], (unsigned)(bench_next() % 97), line, line + 40, input, preview,
            (unsigned)(bench_next() % 5000), (unsigned)(i / 60 % 60), (unsigned)(i % 60),
            (unsigned)(bench_next() % 1000000));
        msgs[i].buf = buf;
        msgs[i].len = (size_t)len;
    }
}

static void bench_free(bench_msg_t *msgs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(msgs[i].buf);
}

/* The micro-benchmarks' common options: --seconds S (per run), --runs N
 * and, when events is not NULL, --events N. Returns 0, or 2 (the exit
 * status) after the usage line on stderr. */
static int bench_options(int argc, char **argv, const char *name, double *seconds, int *runs,
                         size_t *events)
{
    static const struct option opts[] = {
        {"seconds", required_argument, NULL, 's'},
        {"runs", required_argument, NULL, 'r'},
        {"events", required_argument, NULL, 'e'},
        {NULL, 0, NULL, 0},
    };
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 's')
            *seconds = atof(optarg);
        else if (c == 'r')
            *runs = atoi(optarg);
        else if (c == 'e' && events)
            *events = (size_t)atol(optarg);
        else
            break;
    }
    if (c != -1 || optind < argc || *seconds <= 0 || *runs < 1 || (events && *events < 1)) {
        fprintf(stderr, "usage: %s [--seconds S] [--runs N]%s\n", name,
                events ? " [--events N]" : "");
        return 2;
    }
    return 0;
}

static double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Sets `ns` to the ns per evaluation of `op` (which may use k, from 0 to
 * block - 1), best of `runs` runs of `secs` seconds each; the clock is
 * read once per `block` evaluations. */
#define BENCH_TIME_OP(ns, secs, runs, block, op)                                                   \
    do {                                                                                           \
        ns = 1e30;                                                                                 \
        for (int r_ = 0; r_ < (runs); r_++) {                                                      \
            size_t n_ = 0;                                                                         \
            double t0_ = bench_now(), t_;                                                          \
            do {                                                                                   \
                for (size_t k = 0; k < (block); k++) {                                             \
                    op;                                                                            \
                }                                                                                  \
                n_ += (block);                                                                     \
                t_ = bench_now() - t0_;                                                            \
            } while (t_ < (secs));                                                                 \
            if (t_ / (double)n_ * 1e9 < ns)                                                        \
                ns = t_ / (double)n_ * 1e9;                                                        \
        }                                                                                          \
    } while (0)

#endif
