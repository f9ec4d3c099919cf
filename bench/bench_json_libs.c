/*
 * bench_json_libs: the same generated events (bench_gen.h) through three
 * JSON libraries, each doing the work the consumer needs: parse with
 * duplicate keys rejected, pull out the fields, and turn action_details
 * back into text for the jsonb column.
 *   yajl     our real path: aac_event_parse() (SAX, full validation);
 *   jansson  json_loadb(JSON_REJECT_DUPLICATES) + field access + json_dumps;
 *   json-c   json_tokener_parse_ex + field access + to_json_string
 *            (json-c cannot reject duplicate keys at all).
 * yajl does strictly more checking than the other two here.
 *
 * jansson and json-c both export json_object_get() (and other names), so
 * they cannot be linked into one program: json-c is loaded with dlopen()
 * and RTLD_DEEPBIND, which keeps its internal calls on its own symbols.
 *
 *   bench_json_libs [--seconds S] [--runs N]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dlfcn.h>
#include <jansson.h>

#include "aac/event.h"
#include "bench_gen.h"

#define NEV 4096

static bench_msg_t msgs[NEV];
static volatile size_t sink;

static aac_event_parser_t *parser;

static int run_yajl(size_t k)
{
    aac_event_t ev;
    aac_event_error_t err;
    if (aac_event_parse(parser, "bench", 0, (int64_t)k, msgs[k].buf, msgs[k].len, &ev, &err))
        return -1;
    sink += ev.agent_name.len + ev.action_details.len;
    return 0;
}

static int run_jansson(size_t k)
{
    json_error_t e;
    json_t *root = json_loadb(msgs[k].buf, msgs[k].len, JSON_REJECT_DUPLICATES, &e);
    if (!root)
        return -1;
    static const char *const strs[] = {"event_id",     "correlation_id",    "session_id",
                                       "agent_name",   "action_type",       "action_name",
                                       "project_path", "working_directory", "timestamp"};
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) {
        const char *s = json_string_value(json_object_get(root, strs[i]));
        sink += s ? strlen(s) : 0;
    }
    sink += (size_t)json_integer_value(json_object_get(root, "duration_ms"));
    sink += json_is_true(json_object_get(root, "debug_mode"));
    char *d = json_dumps(json_object_get(root, "action_details"), JSON_COMPACT);
    sink += d ? strlen(d) : 0;
    free(d);
    json_decref(root);
    return 0;
}

/* json-c through dlopen(): opaque pointers and the functions we call */
typedef struct jc_s {
    void *(*tokener_new)(void);
    void (*tokener_free)(void *);
    void (*tokener_reset)(void *);
    void *(*parse_ex)(void *, const char *, int);
    int (*get_ex)(void *, const char *, void **);
    int (*get_string_len)(void *);
    int64_t (*get_int64)(void *);
    int (*get_boolean)(void *);
    const char *(*to_string_ext)(void *, int);
    int (*put)(void *);
} jc_t;

static jc_t jc;
static void *tok;

static int jc_load(void)
{
    void *h = dlopen("libjson-c.so.5", RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
    if (!h)
        return -1;
#define SYM(f, name)                                                                               \
    if (!(*(void **)&jc.f = dlsym(h, name)))                                                       \
        return -1;
    SYM(tokener_new, "json_tokener_new")
    SYM(tokener_free, "json_tokener_free")
    SYM(tokener_reset, "json_tokener_reset")
    SYM(parse_ex, "json_tokener_parse_ex")
    SYM(get_ex, "json_object_object_get_ex")
    SYM(get_string_len, "json_object_get_string_len")
    SYM(get_int64, "json_object_get_int64")
    SYM(get_boolean, "json_object_get_boolean")
    SYM(to_string_ext, "json_object_to_json_string_ext")
    SYM(put, "json_object_put")
#undef SYM
    return 0;
}

static int run_jsonc(size_t k)
{
    jc.tokener_reset(tok);
    void *root = jc.parse_ex(tok, msgs[k].buf, (int)msgs[k].len);
    if (!root)
        return -1;
    static const char *const strs[] = {"event_id",     "correlation_id",    "session_id",
                                       "agent_name",   "action_type",       "action_name",
                                       "project_path", "working_directory", "timestamp"};
    void *v;
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
        if (jc.get_ex(root, strs[i], &v))
            sink += (size_t)jc.get_string_len(v);
    if (jc.get_ex(root, "duration_ms", &v))
        sink += (size_t)jc.get_int64(v);
    if (jc.get_ex(root, "debug_mode", &v))
        sink += (size_t)jc.get_boolean(v);
    if (jc.get_ex(root, "action_details", &v))
        sink += strlen(jc.to_string_ext(v, 0 /* JSON_C_TO_STRING_PLAIN */));
    jc.put(root);
    return 0;
}

static double measure(int (*fn)(size_t), double seconds, int runs)
{
    for (size_t k = 0; k < NEV; k++)
        if (fn(k) != 0) {
            fprintf(stderr, "bench_json_libs: event %zu rejected\n", k);
            exit(1);
        }
    double best = 0;
    for (int r = 0; r < runs; r++) {
        size_t done = 0;
        double t0 = bench_now(), t;
        do {
            for (size_t i = 0; i < 256; i++)
                fn((done + i) % NEV);
            done += 256;
            t = bench_now() - t0;
        } while (t < seconds);
        if ((double)done / t > best)
            best = (double)done / t;
    }
    return best;
}

int main(int argc, char **argv)
{
    double seconds = 1.0;
    int runs = 3;
    if (bench_options(argc, argv, "bench_json_libs", &seconds, &runs, NULL) != 0)
        return 2;
    bench_generate(msgs, NEV);
    size_t bytes = 0;
    for (size_t i = 0; i < NEV; i++)
        bytes += msgs[i].len;
    parser = aac_event_parser_new(NULL);
    if (jc_load() != 0) {
        fprintf(stderr, "bench_json_libs: cannot load json-c: %s\n", dlerror());
        return 1;
    }
    tok = jc.tokener_new();
    if (!parser || !tok)
        return 1;
    double y = measure(run_yajl, seconds, runs);
    double j = measure(run_jansson, seconds, runs);
    double c = measure(run_jsonc, seconds, runs);
    double mean = (double)bytes / NEV;
    printf("%zu events, mean %.0f bytes; best of %d runs of %.1f s, one core\n", (size_t)NEV, mean,
           runs, seconds);
    printf("%-34s %12s %8s %8s\n", "library", "events/s", "MB/s", "vs yajl");
    printf("%-34s %12.0f %8.1f %8.2f\n", "yajl SAX (aac_event_parse)", y, y * mean / 1e6, 1.0);
    printf("%-34s %12.0f %8.1f %8.2f\n", "jansson (reject dups + dumps)", j, j * mean / 1e6, j / y);
    printf("%-34s %12.0f %8.1f %8.2f\n", "json-c (tokener + to_string)", c, c * mean / 1e6, c / y);
    jc.tokener_free(tok);
    aac_event_parser_destroy(parser);
    bench_free(msgs, NEV);
    return 0;
}
