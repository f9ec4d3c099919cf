/*
 * bench_produce: the benchmark's producer. Generates agent-action events
 * from a seed (bench_gen.h's generator primitives) and produces them to a
 * topic with librdkafka, as fast as it can (a backlog) or at a fixed rate
 * (a latency run).
 *
 * Every event's "timestamp" is the wall-clock time (CLOCK_REALTIME, in
 * microseconds) at which this tool hands it to librdkafka, so the delay
 * from produce to commit is pg_xact_commit_timestamp(xmin) - event_time
 * in PostgreSQL, per row (the server runs with track_commit_timestamp=on).
 * Everything else in an event depends only on the seed and its index.
 *
 * Shape: about 600 bytes on average, 200 to 2,000: one event in ten is a
 * minimal one (required fields, small details), the rest carry three
 * UUIDs, project fields and action_details with a file path, a line range,
 * the tool's input and a result preview whose length sets the size. A
 * fraction (--invalid-fraction) is invalid in one of four ways the
 * consumer dead-letters: not JSON, a missing required field, an unknown
 * action_type, a bad timestamp.
 *
 * Messages go round-robin to the topic's partitions (index % partitions),
 * so the development broker's per-partition retention is filled evenly.
 *
 * Prints one line of key=value figures at the end; exits 1 if any message
 * was not delivered, 2 on bad arguments.
 *
 *   bench_produce --bootstrap B --topic T --events N [--seed S]
 *                 [--invalid-fraction F] [--rate EVENTS_PER_S] [--wide]
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <librdkafka/rdkafka.h>

/* bench_gen.h's whole-batch generator is not used here, only its parts */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#include "bench_gen.h"
#pragma GCC diagnostic pop

#define EVENT_CAP 4096

typedef struct prod_stats_s {
    uint64_t delivered, failed;
    rd_kafka_resp_err_t first_err;
} prod_stats_t;

static void dr_msg_cb(rd_kafka_t *rk, const rd_kafka_message_t *rkm, void *opaque)
{
    prod_stats_t *st = opaque;
    (void)rk;
    if (rkm->err) {
        if (!st->failed)
            st->first_err = rkm->err;
        st->failed++;
    } else {
        st->delivered++;
    }
}

static int64_t realtime_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void put_timestamp(char out[64], int64_t us)
{
    time_t secs = (time_t)(us / 1000000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    snprintf(out, 64, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(us % 1000000));
}

/* The target size of the next event: 10% 200..300 (minimal events), 75%
 * 400..700, 13% 700..1,200, 2% 1,200..2,000; about 600 on average. */
static size_t target_size(void)
{
    uint64_t r = bench_next() % 100;
    if (r < 10)
        return 200 + bench_next() % 100;
    if (r < 85)
        return 400 + bench_next() % 300;
    if (r < 98)
        return 700 + bench_next() % 500;
    return 1200 + bench_next() % 800;
}

/* Writes the next event into buf (EVENT_CAP bytes), stamped ts_us;
 * returns its length and sets *valid. */
/* --wide: 50 agents and 300 action names instead of 5 and 5, so that a
 * batch's events fall into nearly as many rollup keys as there are events
 * (the rollups' worst case). */
static bool wide;

static size_t make_event(char *buf, double invalid_fraction, int64_t ts_us, bool *valid)
{
    static const char *const agents[] = {"planner", "coder", "reviewer", "tester", "researcher"};
    static const char *const types[] = {"tool_call", "tool_call", "tool_call",
                                        "decision",  "error",     "success"};
    static const char *const tools[] = {"read_file", "edit_file", "run_command", "grep",
                                        "list_dir"};
    char eid[37], cid[37], sid[37], input[128], preview[2048], ts[64];
    size_t want = target_size();
    bool minimal = want < 300;
    int invalid = 0;
    /* drawn for every event, so the valid ones do not depend on F */
    double u = (double)(bench_next() >> 11) / 9007199254740992.0;
    int kind = (int)(bench_next() % 4);
    if (u < invalid_fraction)
        invalid = 1 + kind;

    bench_uuid(eid);
    bench_uuid(cid);
    bench_uuid(sid);
    bench_text(input, minimal ? 14 + bench_next() % 10 : 20 + bench_next() % 60);
    unsigned line = (unsigned)(bench_next() % 2000);
    const char *agent = agents[bench_next() % 5];
    const char *type = invalid == 3 ? "tool_invocation" : types[bench_next() % 6];
    const char *tool = tools[bench_next() % 5];
    char wide_agent[16], wide_tool[16];
    if (wide) {
        snprintf(wide_agent, sizeof(wide_agent), "agent-%02u", (unsigned)(bench_next() % 50));
        snprintf(wide_tool, sizeof(wide_tool), "tool-%03u", (unsigned)(bench_next() % 300));
        agent = wide_agent;
        tool = wide_tool;
    }
    unsigned module = (unsigned)(bench_next() % 97), duration = (unsigned)(bench_next() % 5000);
    put_timestamp(ts, ts_us);
    if (invalid == 4)
        memcpy(ts + 10, "X", 1); /* "2026-01-02X..." */

    /* the event without its preview, to size the preview */
    int base;
    if (minimal)
        base = snprintf(NULL, 0,
                        "{\"correlation_id\":\"%s\",\"agent_name\":\"%s\",\"action_type\":\"%s\","
                        "\"action_name\":\"%s\",\"action_details\":{\"file_path\":\"src/m%u.c\","
                        "\"line_range\":[%u,%u],\"tool_input\":{\"query\":\"%s\"},"
                        "\"result_preview\":\"\"},\"timestamp\":\"%s\"}",
                        cid, agent, type, tool, module, line, line + 40, input, ts);
    else
        base = snprintf(NULL, 0,
                        "{\"event_id\":\"%s\",\"correlation_id\":\"%s\",\"session_id\":\"%s\","
                        "\"agent_name\":\"%s\",\"action_type\":\"%s\",\"action_name\":\"%s\","
                        "\"action_details\":{\"file_path\":\"/home/dev/acme/src/module_%u.c\","
                        "\"line_range\":[%u,%u],\"tool_input\":{\"query\":\"%s\"},"
                        "\"result_preview\":\"\"},\"duration_ms\":%u,\"debug_mode\":false,"
                        "\"project_path\":\"/home/dev/acme\","
                        "\"working_directory\":\"/home/dev/acme/src\",\"timestamp\":\"%s\"}",
                        eid, cid, sid, agent, type, tool, module, line, line + 40, input, duration,
                        ts);
    size_t plen = want > (size_t)base + 16 ? want - (size_t)base : 16;
    if (plen > sizeof(preview))
        plen = sizeof(preview);
    bench_text(preview, plen);

    int len;
    if (minimal)
        len = snprintf(buf, EVENT_CAP,
                       "{\"correlation_id\":\"%s\",\"agent_name\":\"%s\",\"action_type\":\"%s\","
                       "\"action_name\":\"%s\",\"action_details\":{\"file_path\":\"src/m%u.c\","
                       "\"line_range\":[%u,%u],\"tool_input\":{\"query\":\"%s\"},"
                       "\"result_preview\":\"%s\"},\"timestamp\":\"%s\"}",
                       cid, agent, type, tool, module, line, line + 40, input, preview, ts);
    else
        len = snprintf(buf, EVENT_CAP,
                       "{\"event_id\":\"%s\",\"correlation_id\":\"%s\",\"session_id\":\"%s\","
                       "\"agent_name\":\"%s\",\"action_type\":\"%s\",\"action_name\":\"%s\","
                       "\"action_details\":{\"file_path\":\"/home/dev/acme/src/module_%u.c\","
                       "\"line_range\":[%u,%u],\"tool_input\":{\"query\":\"%s\"},"
                       "\"result_preview\":\"%s\"},\"duration_ms\":%u,\"debug_mode\":false,"
                       "\"project_path\":\"/home/dev/acme\","
                       "\"working_directory\":\"/home/dev/acme/src\",\"timestamp\":\"%s\"}",
                       eid, cid, sid, agent, type, tool, module, line, line + 40, input, preview,
                       duration, ts);
    if (len < 0 || len >= EVENT_CAP)
        len = EVENT_CAP - 1;
    if (invalid == 1) {
        len = len / 2; /* cut in the middle: not JSON */
    } else if (invalid == 2) {
        /* "correlation_id" renamed: the required field is missing */
        char *p = strstr(buf, "\"correlation_id\"");
        if (p)
            p[1] = 'x';
    }
    *valid = invalid == 0;
    return (size_t)len;
}

static int partition_count(rd_kafka_t *rk, const char *topic)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    int n = -1;
    if (!rkt)
        return -1;
    for (int attempt = 0; attempt < 20 && n < 0; attempt++) {
        if (rd_kafka_metadata(rk, 0, rkt, &md, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
            if (md->topic_cnt == 1 && !md->topics[0].err && md->topics[0].partition_cnt > 0)
                n = md->topics[0].partition_cnt;
            rd_kafka_metadata_destroy(md);
        }
    }
    rd_kafka_topic_destroy(rkt);
    return n;
}

static void usage(void)
{
    fprintf(stderr, "usage: bench_produce --bootstrap B --topic T --events N [--seed S]\n"
                    "                     [--invalid-fraction F] [--rate EVENTS_PER_S] [--wide]\n");
}

int main(int argc, char **argv)
{
    const char *bootstrap = NULL, *topic = NULL;
    uint64_t events = 0, seed = 1;
    double invalid_fraction = 0, rate = 0;
    char errstr[512];
    int status = 1;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--wide")) {
            wide = true;
            continue;
        }
        if (!v) {
            usage();
            return 2;
        }
        if (!strcmp(a, "--bootstrap"))
            bootstrap = v;
        else if (!strcmp(a, "--topic"))
            topic = v;
        else if (!strcmp(a, "--events"))
            events = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--seed"))
            seed = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--invalid-fraction"))
            invalid_fraction = atof(v);
        else if (!strcmp(a, "--rate"))
            rate = atof(v);
        else {
            usage();
            return 2;
        }
        i++;
    }
    if (!bootstrap || !topic || !events || invalid_fraction < 0 || invalid_fraction > 1 ||
        rate < 0) {
        usage();
        return 2;
    }
    /* xorshift needs a non-zero state; mix the seed so 1, 2, 3 differ widely */
    bench_rng = (seed + 1) * 0x9E3779B97F4A7C15ULL;
    for (int i = 0; i < 8; i++)
        bench_next();

    prod_stats_t st = {0};
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    static const char *const props[][2] = {
        {"linger.ms", "5"},
        {"batch.size", "1000000"},
        {"batch.num.messages", "10000"},
        {"queue.buffering.max.messages", "1000000"},
        {"queue.buffering.max.kbytes", "1048576"},
        {"compression.codec", "none"},
        {"acks", "all"},
    };
    if (rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, errstr, sizeof(errstr)) !=
        RD_KAFKA_CONF_OK) {
        fprintf(stderr, "bench_produce: %s\n", errstr);
        rd_kafka_conf_destroy(conf);
        return 2;
    }
    for (size_t i = 0; i < sizeof(props) / sizeof(props[0]); i++)
        if (rd_kafka_conf_set(conf, props[i][0], props[i][1], errstr, sizeof(errstr)) !=
            RD_KAFKA_CONF_OK) {
            fprintf(stderr, "bench_produce: %s: %s\n", props[i][0], errstr);
            rd_kafka_conf_destroy(conf);
            return 2;
        }
    rd_kafka_conf_set_dr_msg_cb(conf, dr_msg_cb);
    rd_kafka_conf_set_opaque(conf, &st);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!rk) {
        fprintf(stderr, "bench_produce: could not create the producer: %s\n", errstr);
        rd_kafka_conf_destroy(conf);
        return 1;
    }
    int parts = partition_count(rk, topic);
    if (parts < 1) {
        fprintf(stderr, "bench_produce: could not read the partitions of topic %s\n", topic);
        rd_kafka_destroy(rk);
        return 1;
    }

    char *buf = malloc(EVENT_CAP);
    uint64_t valid = 0, bytes = 0, valid_bytes = 0, min_len = UINT64_MAX, max_len = 0;
    uint64_t behind_max_us = 0;
    double t0 = bench_now();
    for (uint64_t i = 0; i < events && buf; i++) {
        if (rate > 0) {
            /* event i is due at t0 + i/rate: wait for it, then stamp it */
            double due = t0 + (double)i / rate;
            double now = bench_now();
            if (now < due) {
                rd_kafka_poll(rk, 0);
                struct timespec ts = {0, (long)((due - now) * 1e9)};
                nanosleep(&ts, NULL);
            } else if ((uint64_t)((now - due) * 1e6) > behind_max_us) {
                behind_max_us = (uint64_t)((now - due) * 1e6);
            }
        }
        bool ok;
        size_t len = make_event(buf, invalid_fraction, realtime_us(), &ok);
        for (;;) {
            rd_kafka_resp_err_t err = rd_kafka_producev(
                rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION((int32_t)(i % (uint64_t)parts)),
                RD_KAFKA_V_VALUE(buf, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                RD_KAFKA_V_END);
            if (!err)
                break;
            if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                fprintf(stderr, "bench_produce: could not produce: %s\n", rd_kafka_err2str(err));
                goto done;
            }
            rd_kafka_poll(rk, 10);
        }
        valid += ok;
        bytes += len;
        valid_bytes += ok ? len : 0;
        if (ok) { /* the invalid ones include halves of events */
            min_len = len < min_len ? len : min_len;
            max_len = len > max_len ? len : max_len;
        }
        if ((i & 1023) == 0)
            rd_kafka_poll(rk, 0);
    }
    status = 0;
done:;
    double t1 = bench_now();
    rd_kafka_resp_err_t ferr = rd_kafka_flush(rk, 120000);
    double t2 = bench_now();
    uint64_t sent = st.delivered + st.failed;
    if (ferr || st.failed || sent == 0) {
        fprintf(stderr, "bench_produce: %" PRIu64 " of %" PRIu64 " messages not delivered (%s)\n",
                st.failed + (events - sent), events,
                rd_kafka_err2name(st.failed ? st.first_err : ferr));
        status = 1;
    }
    printf("produced=%" PRIu64 " valid=%" PRIu64 " invalid=%" PRIu64 " bytes=%" PRIu64
           " valid_bytes=%" PRIu64 " valid_min_bytes=%" PRIu64 " valid_max_bytes=%" PRIu64
           " avg_bytes=%.1f partitions=%d seconds=%.3f flush_seconds=%.3f"
           " events_per_s=%.0f behind_max_ms=%.1f\n",
           st.delivered, valid, st.delivered - valid, bytes, valid_bytes,
           min_len == UINT64_MAX ? 0 : min_len, max_len,
           st.delivered ? (double)bytes / (double)st.delivered : 0.0, parts, t2 - t0, t2 - t1,
           (double)st.delivered / (t2 - t0), (double)behind_max_us / 1000.0);
    free(buf);
    rd_kafka_destroy(rk);
    return status;
}
