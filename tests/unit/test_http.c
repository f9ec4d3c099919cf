/*
 * test_http: the health, readiness and metrics server on an ephemeral
 * loopback port, driven by a raw-socket client: status codes, JSON bodies
 * (parsed back with yajl), the exposition text, 404/405, the header limit,
 * the request timeout, and that every closed connection is accounted for.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <yajl/yajl_tree.h>

#include "aac/clock.h"
#include "aac/http.h"
#include "aac/metrics.h"
#include "aac/timeacct.h"

#define TIMEOUT_MS 300

typedef struct fixture_s {
    aac_config_t cfg;
    aac_metrics_t *m;
    aac_http_t *h;
    char body[256 * 1024];
    char head[8192];
} fixture_t;

static int dial(int port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    return fd;
}

/* Reads until EOF or `timeout_ms`; returns bytes read (-1: timed out). */
static ssize_t read_all(int fd, char *buf, size_t size, int timeout_ms)
{
    size_t n = 0;
    int64_t end = aac_mono_ms() + timeout_ms;
    for (;;) {
        int left = (int)(end - aac_mono_ms());
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (left <= 0 || poll(&p, 1, left) <= 0)
            return -1;
        ssize_t r = read(fd, buf + n, size - 1 - n);
        if (r < 0 && errno == ECONNRESET)
            r = 0;
        if (r <= 0) {
            buf[n] = '\0';
            return (ssize_t)n;
        }
        n += (size_t)r;
        if (n == size - 1)
            return (ssize_t)n;
    }
}

/* Sends `req` verbatim and returns the status code (0: closed without an
 * answer); the headers go to f->head, the body to f->body. */
static int exchange(fixture_t *f, const char *req)
{
    static char buf[300 * 1024];
    int fd = dial(aac_http_port(f->h));
    ssize_t w = write(fd, req, strlen(req));
    assert_int_equal(w, (ssize_t)strlen(req));
    ssize_t n = read_all(fd, buf, sizeof(buf), 5000);
    close(fd);
    assert_true(n >= 0);
    f->head[0] = f->body[0] = '\0';
    if (n == 0)
        return 0;
    char *sep = strstr(buf, "\r\n\r\n");
    assert_non_null(sep);
    size_t hl = (size_t)(sep - buf);
    assert_true(hl < sizeof(f->head));
    memcpy(f->head, buf, hl);
    f->head[hl] = '\0';
    snprintf(f->body, sizeof(f->body), "%s", sep + 4);
    int code = 0;
    assert_int_equal(sscanf(buf, "HTTP/1.%*d %d", &code), 1);
    return code;
}

static int get(fixture_t *f, const char *path)
{
    char req[512];
    snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", path);
    return exchange(f, req);
}

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    char err[256];
    assert_non_null(f);
    f->cfg.http.enabled = true;
    f->cfg.http.address = "127.0.0.1";
    f->cfg.http.port = 0;
    f->cfg.http.liveness_timeout_ms = 2000;
    f->cfg.http.request_timeout_ms = TIMEOUT_MS;
    f->m = aac_metrics_new();
    assert_non_null(f->m);
    f->h = aac_http_start(&f->cfg, f->m, err, sizeof(err));
    if (!f->h)
        fail_msg("aac_http_start: %s", err);
    assert_true(aac_http_port(f->h) > 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    aac_http_stop(f->h);
    aac_metrics_destroy(f->m);
    free(f);
    return 0;
}

static yajl_val parse_json(const char *body)
{
    char err[256];
    yajl_val v = yajl_tree_parse(body, err, sizeof(err));
    if (!v)
        fail_msg("invalid JSON (%s): %s", err, body);
    return v;
}

static const char *json_string(yajl_val root, const char *key)
{
    const char *path[] = {key, NULL};
    yajl_val v = yajl_tree_get(root, path, yajl_t_string);
    assert_non_null(v);
    return YAJL_GET_STRING(v);
}

static bool json_bool(yajl_val root, const char *key)
{
    const char *path[] = {key, NULL};
    yajl_val v = yajl_tree_get(root, path, yajl_t_any);
    if (!v || (!YAJL_IS_TRUE(v) && !YAJL_IS_FALSE(v)))
        fail_msg("\"%s\" is not a boolean", key);
    return YAJL_IS_TRUE(v);
}

static long long json_int(yajl_val root, const char *key)
{
    const char *path[] = {key, NULL};
    yajl_val v = yajl_tree_get(root, path, yajl_t_number);
    if (!v || !YAJL_IS_INTEGER(v))
        fail_msg("\"%s\" is not an integer", key);
    return YAJL_GET_INTEGER(v);
}

static bool has_reason(yajl_val root, const char *reason)
{
    const char *path[] = {"reasons", NULL};
    yajl_val v = yajl_tree_get(root, path, yajl_t_array);
    assert_non_null(v);
    for (size_t i = 0; i < v->u.array.len; i++) {
        const char *s = YAJL_GET_STRING(v->u.array.values[i]);
        if (s && !strcmp(s, reason))
            return true;
    }
    return false;
}

static void make_ready(aac_metrics_t *m)
{
    aac_partition_state_t p[2] = {
        {.topic = "t", .partition = 0, .assigned = true, .lag = -1, .committed_offset = 10},
        {.topic = "t",
         .partition = 3,
         .assigned = true,
         .paused = true,
         .lag = -1,
         .committed_offset = -1}};
    aac_metrics_set_partitions(m, p, 2);
    aac_metrics_set_joined(m, true);
    aac_metrics_set_pg_up(m, true);
    aac_metrics_set_broker_up(m, true);
    aac_metrics_set_paused_outage(m, false);
    aac_metrics_alive(m, aac_now());
}

static void test_health(void **state)
{
    fixture_t *f = *state;

    /* before the first poll, the start time counts: alive */
    assert_int_equal(get(f, "/health"), 200);
    assert_non_null(strstr(f->head, "Content-Type: application/json"));
    yajl_val v = parse_json(f->body);
    assert_string_equal(json_string(v, "status"), "ok");
    assert_string_equal(json_string(v, "version"), AAC_VERSION);
    const char *lb[] = {"last_batch_at", NULL}, *sa[] = {"seconds_since_alive", NULL};
    assert_non_null(yajl_tree_get(v, lb, yajl_t_null));
    assert_non_null(yajl_tree_get(v, sa, yajl_t_number));
    assert_false(json_bool(v, "joined"));
    assert_false(json_bool(v, "idle")); /* not joined: not idle either */
    yajl_tree_free(v);

    /* last seen alive 10 s ago, beyond liveness_timeout_ms */
    aac_metrics_alive(f->m, aac_now() - 10);
    assert_int_equal(get(f, "/health"), 503);
    v = parse_json(f->body);
    assert_string_equal(json_string(v, "status"), "unhealthy");
    assert_true(has_reason(v, "consume_loop_stalled"));
    yajl_tree_free(v);

    aac_metrics_alive(f->m, aac_now());
    assert_int_equal(get(f, "/health?verbose=1"), 200);
}

static void test_ready(void **state)
{
    fixture_t *f = *state;

    assert_int_equal(get(f, "/ready"), 503);
    yajl_val v = parse_json(f->body);
    assert_string_equal(json_string(v, "status"), "not_ready");
    assert_true(has_reason(v, "not_joined"));
    assert_true(has_reason(v, "postgres_unavailable"));
    assert_false(has_reason(v, "broker_unreachable"));
    yajl_tree_free(v);

    make_ready(f->m);
    aac_metrics_committed(f->m, 1795000000.25);
    assert_int_equal(get(f, "/ready"), 200);
    v = parse_json(f->body);
    assert_string_equal(json_string(v, "status"), "ready");
    assert_string_equal(json_string(v, "last_commit_at"), "2026-11-18T11:06:40.250Z");
    const char *pa[] = {"partitions_assigned", NULL}, *pp[] = {"partitions_paused", NULL};
    yajl_val a = yajl_tree_get(v, pa, yajl_t_array), p = yajl_tree_get(v, pp, yajl_t_array);
    assert_int_equal(a->u.array.len, 2);
    assert_int_equal(p->u.array.len, 1);
    assert_int_equal(YAJL_GET_INTEGER(p->u.array.values[0]), 3);
    assert_true(json_bool(v, "joined"));
    assert_false(json_bool(v, "idle"));
    assert_int_equal(json_int(v, "partitions"), 2);
    /* committed, and no batch closed since the start: its own time */
    const char *lb[] = {"last_batch_at", NULL};
    assert_non_null(yajl_tree_get(v, lb, yajl_t_null));
    yajl_tree_free(v);

    aac_metrics_batch_closed(f->m, 1795000007.5);
    assert_int_equal(get(f, "/ready"), 200);
    v = parse_json(f->body);
    assert_string_equal(json_string(v, "last_batch_at"), "2026-11-18T11:06:47.500Z");
    assert_string_equal(json_string(v, "last_commit_at"), "2026-11-18T11:06:40.250Z");
    yajl_tree_free(v);

    /* joined with no partition (a member beyond the partition count):
     * ready, and it says it is idle */
    aac_metrics_set_partitions(f->m, NULL, 0);
    assert_int_equal(get(f, "/ready"), 200);
    v = parse_json(f->body);
    assert_true(json_bool(v, "joined"));
    assert_true(json_bool(v, "idle"));
    assert_int_equal(json_int(v, "partitions"), 0);
    assert_int_equal(yajl_tree_get(v, pa, yajl_t_array)->u.array.len, 0);
    yajl_tree_free(v);
    assert_int_equal(get(f, "/health"), 200);
    v = parse_json(f->body);
    assert_true(json_bool(v, "idle"));
    yajl_tree_free(v);

    aac_metrics_set_paused_outage(f->m, true);
    aac_metrics_set_pg_up(f->m, false);
    aac_metrics_set_broker_up(f->m, false);
    assert_int_equal(get(f, "/ready"), 503);
    v = parse_json(f->body);
    assert_true(has_reason(v, "paused_by_outage"));
    assert_true(has_reason(v, "postgres_unavailable"));
    assert_true(has_reason(v, "broker_unreachable"));
    assert_false(has_reason(v, "not_joined"));
    yajl_tree_free(v);
    /* liveness is separate: the loop still polls */
    assert_int_equal(get(f, "/health"), 200);
}

static void test_error_is_escaped(void **state)
{
    fixture_t *f = *state;
    /* a quote, a newline, a tab and a UTF-8 sequence cut in the middle */
    aac_metrics_set_error(f->m, AAC_CLASS_TRANSIENT, "postgres_unavailable",
                          "server said \"no\"\n\tbye \xc3\xa9 \xe2\x82");
    assert_int_equal(get(f, "/health"), 200);
    yajl_val v = parse_json(f->body);
    const char *cls[] = {"last_error", "class", NULL}, *msg[] = {"last_error", "message", NULL};
    assert_string_equal(YAJL_GET_STRING(yajl_tree_get(v, cls, yajl_t_string)), "transient");
    assert_string_equal(YAJL_GET_STRING(yajl_tree_get(v, msg, yajl_t_string)),
                        "server said \"no\"\n\tbye \xc3\xa9 \xef\xbf\xbd\xef\xbf\xbd");
    yajl_tree_free(v);
}

/* The value of the unlabelled sample `name` in an exposition. */
static double sample(const char *body, const char *name)
{
    char key[128];
    snprintf(key, sizeof(key), "\n%s ", name);
    const char *p = strstr(body, key);
    if (!p)
        fail_msg("no sample %s in /metrics", name);
    return strtod(p + strlen(key), NULL);
}

static void test_metrics(void **state)
{
    fixture_t *f = *state;

    make_ready(f->m);
    aac_metrics_add(f->m, AAC_M_EVENTS_CONSUMED, 12);
    aac_metrics_add(f->m, AAC_M_BYTES_CONSUMED, 3456);
    aac_metrics_add(f->m, AAC_M_DLQ_DELIVERY_FAILED, 2);
    aac_metrics_add(f->m, AAC_M_EVENTS_WRITTEN, 10);
    aac_metrics_add(f->m, AAC_M_BATCHES, 1);
    aac_metrics_dead_letter(f->m, AAC_REASON_MISSING_FIELD);
    aac_metrics_dead_letter(f->m, AAC_REASON_MISSING_FIELD);
    aac_metrics_retry(f->m, AAC_CLASS_TRANSIENT);
    aac_metrics_observe_batch(f->m, 12, 0.02);
    aac_metrics_observe_delay(f->m, 7200);
    aac_metrics_set_lag(f->m, "t", 3, 42);

    assert_int_equal(get(f, "/metrics"), 200);
    assert_non_null(strstr(f->head, "Content-Type: text/plain; version=0.0.4; charset=utf-8"));
    static const char *const want[] = {
        "# TYPE aac_events_consumed_total counter\naac_events_consumed_total 12\n",
        "# TYPE aac_consumed_bytes_total counter\naac_consumed_bytes_total 3456\n",
        "\naac_events_written_total 10\n",
        "# TYPE aac_dead_letter_delivery_failures_total counter\n"
        "aac_dead_letter_delivery_failures_total 2\n",
        "\naac_dead_letters_total{reason=\"missing_field\"} 2\n",
        "\naac_dead_letters_total{reason=\"retries_exhausted\"} 0\n",
        "\naac_retries_total{class=\"transient\"} 1\n",
        "# TYPE aac_batch_size_messages histogram\n",
        "\naac_batch_size_messages_bucket{le=\"10\"} 0\naac_batch_size_messages_bucket{le=\"50\"} "
        "1\n",
        "\naac_batch_size_messages_bucket{le=\"+Inf\"} 1\naac_batch_size_messages_sum 12\n"
        "aac_batch_size_messages_count 1\n",
        "\naac_batch_write_duration_seconds_bucket{le=\"0.025\"} 1\n",
        "\naac_end_to_end_delay_seconds_bucket{le=\"300\"} 0\n",
        "\naac_end_to_end_delay_seconds_bucket{le=\"+Inf\"} 1\n",
        "# TYPE aac_consumer_lag_messages "
        "gauge\naac_consumer_lag_messages{topic=\"t\",partition=\"3\"} 42\n",
        /* the stored offset of partition 0; partition 3's is not known */
        "# TYPE aac_committed_offset gauge\naac_committed_offset{topic=\"t\",partition=\"0\"} "
        "10\n# HELP",
        /* the names before they carried their unit, one release more */
        "# HELP aac_batch_size Deprecated, use aac_batch_size_messages",
        "\naac_batch_size_bucket{le=\"10\"} 0\naac_batch_size_bucket{le=\"50\"} 1\n",
        "\naac_batch_size_bucket{le=\"+Inf\"} 1\naac_batch_size_sum 12\naac_batch_size_count 1\n",
        "# HELP aac_consumer_lag Deprecated, use aac_consumer_lag_messages",
        "\naac_consumer_lag{topic=\"t\",partition=\"3\"} 42\n",
        /* the client libraries' process family, their help texts */
        "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n"
        "# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total ",
        "# TYPE process_virtual_memory_bytes gauge\nprocess_virtual_memory_bytes ",
        "# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes ",
        "# HELP process_start_time_seconds Start time of the process since unix epoch in "
        "seconds.\n# TYPE process_start_time_seconds gauge\n",
        "# TYPE process_open_fds gauge\nprocess_open_fds ",
        "# TYPE process_max_fds gauge\nprocess_max_fds ",
        "\naac_partition_paused{topic=\"t\",partition=\"0\"} "
        "0\naac_partition_paused{topic=\"t\",partition=\"3\"} 1\n",
        "\naac_partitions_assigned 2\n",
        "\naac_group_joined 1\n",
        "# TYPE aac_last_alive_timestamp_seconds gauge\naac_last_alive_timestamp_seconds 1",
        "\naac_build_info{version=\"" AAC_VERSION "\"} 1\n",
        "\naac_ready 1\n",
        "\naac_postgres_up 1\n",
        "\naac_http_connections 1\n",
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        if (!strstr(f->body, want[i]))
            fail_msg("missing from /metrics: %s\n---\n%s", want[i], f->body);
    /* the HTTP server's families last: a client tells a whole exposition by
     * its last line (test_http_concurrency's) */
    const char *tail = "\naac_http_accept_errors_total 0\n";
    size_t bl = strlen(f->body), tl = strlen(tail);
    assert_true(bl > tl && !strcmp(f->body + bl - tl, tail));
    /* unknown lag, unknown stored offset: no series */
    assert_null(strstr(f->body, "aac_consumer_lag_messages{topic=\"t\",partition=\"0\"}"));
    assert_null(strstr(f->body, "aac_consumer_lag{topic=\"t\",partition=\"0\"}"));
    assert_null(strstr(f->body, "aac_committed_offset{topic=\"t\",partition=\"3\"}"));

    /* the process's figures are this process's: its open-files limit, its
     * descriptors (the scrape's socket among them), its start */
    struct rlimit rl;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
    if (rl.rlim_cur != RLIM_INFINITY)
        assert_true(sample(f->body, "process_max_fds") == (double)rl.rlim_cur);
    assert_true(sample(f->body, "process_open_fds") >= 4);
    double start = sample(f->body, "process_start_time_seconds");
    assert_true(start > (double)time(NULL) - 3600 && start <= (double)time(NULL) + 1);
    assert_true(sample(f->body, "process_resident_memory_bytes") > 0);
    assert_true(sample(f->body, "process_cpu_seconds_total") >= 0);
    /* HELP and TYPE before every family, no label from outside the fixed sets */
    assert_null(strstr(f->body, "1e+300"));
}

static _Atomic int64_t fixed_ns; /* the time accounts' clock in test_thread_seconds */

static int64_t fixed_clock(void *arg)
{
    (void)arg;
    return atomic_load(&fixed_ns);
}

static void test_thread_seconds(void **state)
{
    fixture_t *f = *state;
    aac_timeacct_t *ta = aac_metrics_timeacct(f->m);

    /* no thread has run: the family and no series; none in /health */
    assert_int_equal(get(f, "/metrics"), 200);
    assert_non_null(strstr(f->body, "# TYPE aac_thread_seconds_total counter\n# HELP"));
    assert_null(strstr(f->body, "aac_thread_seconds_total{"));
    assert_int_equal(get(f, "/health"), 200);
    yajl_val v = parse_json(f->body);
    const char *ts[] = {"thread_seconds", NULL};
    yajl_val o = yajl_tree_get(v, ts, yajl_t_object);
    assert_non_null(o);
    assert_int_equal(o->u.object.len, 0);
    yajl_tree_free(v);

    aac_timeacct_set_clock(ta, fixed_clock, NULL);
    atomic_store(&fixed_ns, INT64_C(5000000000));
    aac_timeacct_switch(aac_timeacct_thread(ta, AAC_TIMEACCT_CONSUME), AAC_ACT_POLL);
    aac_timeacct_switch(aac_timeacct_writer(ta, 1), AAC_ACT_IDLE);
    atomic_store(&fixed_ns, INT64_C(6500000000));
    aac_timeacct_switch(aac_timeacct_thread(ta, AAC_TIMEACCT_CONSUME), AAC_ACT_PARSE);
    atomic_store(&fixed_ns, INT64_C(6750000001));

    assert_int_equal(get(f, "/metrics"), 200);
    static const char *const want[] = {
        "# HELP aac_thread_seconds_total Seconds each thread of the service spent in each "
        "activity",
        "\naac_thread_seconds_total{thread=\"consume\",activity=\"poll\"} 1.5\n"
        "aac_thread_seconds_total{thread=\"consume\",activity=\"idle\"} 0\n"
        "aac_thread_seconds_total{thread=\"consume\",activity=\"parse\"} 0.250000001\n"
        "aac_thread_seconds_total{thread=\"consume\",activity=\"submit\"} 0\n"
        "aac_thread_seconds_total{thread=\"consume\",activity=\"settle\"} 0\n"
        "aac_thread_seconds_total{thread=\"consume\",activity=\"wait_writer\"} 0\n"
        "aac_thread_seconds_total{thread=\"consume\",activity=\"rebalance\"} 0\n"
        "aac_thread_seconds_total{thread=\"consume\",activity=\"other\"} 0\n"
        "aac_thread_seconds_total{thread=\"writer-1\",activity=\"idle\"} 1.750000001\n"
        "aac_thread_seconds_total{thread=\"writer-1\",activity=\"turn\"} 0\n"
        "aac_thread_seconds_total{thread=\"writer-1\",activity=\"wait_keys\"} 0\n"
        "aac_thread_seconds_total{thread=\"writer-1\",activity=\"copy\"} 0\n"
        "aac_thread_seconds_total{thread=\"writer-1\",activity=\"dead_letters\"} 0\n"
        "aac_thread_seconds_total{thread=\"writer-1\",activity=\"wait_earlier\"} 0\n"
        "aac_thread_seconds_total{thread=\"writer-1\",activity=\"commit\"} 0\n"
        "aac_thread_seconds_total{thread=\"writer-1\",activity=\"other\"} 0\n# HELP",
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        if (!strstr(f->body, want[i]))
            fail_msg("missing from /metrics: %s\n---\n%s", want[i], f->body);
    /* writer-0 never ran */
    assert_null(strstr(f->body, "thread=\"writer-0\""));

    assert_int_equal(get(f, "/health"), 200);
    v = parse_json(f->body);
    o = yajl_tree_get(v, ts, yajl_t_object);
    assert_non_null(o);
    assert_int_equal(o->u.object.len, 2);
    const char *poll[] = {"thread_seconds", "consume", "poll", NULL},
               *idle[] = {"thread_seconds", "writer-1", "idle", NULL},
               *other[] = {"thread_seconds", "writer-1", "other", NULL};
    assert_true(YAJL_GET_DOUBLE(yajl_tree_get(v, poll, yajl_t_number)) == 1.5);
    assert_true(YAJL_GET_DOUBLE(yajl_tree_get(v, idle, yajl_t_number)) == 1.75);
    assert_non_null(yajl_tree_get(v, other, yajl_t_number));
    /* every activity of the thread, named as in /metrics */
    const char *consume[] = {"thread_seconds", "consume", NULL};
    assert_int_equal(YAJL_GET_OBJECT(yajl_tree_get(v, consume, yajl_t_object))->len, 8);
    yajl_tree_free(v);
}

static void test_routes_and_methods(void **state)
{
    fixture_t *f = *state;

    assert_int_equal(get(f, "/"), 404);
    assert_int_equal(get(f, "/metrics/x"), 404);
    assert_int_equal(get(f, "/HEALTH"), 404);
    assert_int_equal(exchange(f, "POST /metrics HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n"
                                 "Connection: close\r\n\r\n{}"),
                     405);
    assert_non_null(strstr(f->head, "Allow: GET, HEAD"));
    assert_int_equal(exchange(f, "DELETE /ready HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"),
                     405);
    /* HEAD: the headers without the body */
    assert_int_equal(exchange(f, "HEAD /health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"),
                     200);
    assert_string_equal(f->body, "");
    assert_non_null(strstr(f->head, "Content-Length: "));
    assert_null(strstr(f->head, "Content-Length: 0"));
    /* HTTP/1.0 without Host */
    assert_int_equal(exchange(f, "GET /health HTTP/1.0\r\n\r\n"), 200);
}

static void test_limits(void **state)
{
    fixture_t *f = *state;
    static char req[32 * 1024];
    int code;

    /* headers beyond the limit: refused, never served */
    int n = snprintf(req, sizeof(req), "GET /health HTTP/1.1\r\nHost: t\r\nX-Big: ");
    memset(req + n, 'a', 16 * 1024);
    snprintf(req + n + 16 * 1024, sizeof(req) - (size_t)n - 16 * 1024, "\r\n\r\n");
    code = exchange(f, req);
    assert_true(code == 0 || (code >= 400 && code < 500));
    /* a body beyond the limit */
    n = snprintf(req, sizeof(req),
                 "POST /health HTTP/1.1\r\nHost: t\r\nContent-Length: 20000\r\n\r\n");
    memset(req + n, 'b', 20000);
    req[n + 20000] = '\0';
    code = exchange(f, req);
    assert_true(code == 0 || (code >= 400 && code < 500));
    /* garbage */
    code = exchange(f, "\x01\x02 nonsense\r\n\r\n");
    assert_true(code == 0 || (code >= 400 && code < 500));
    /* the server is still fine */
    assert_int_equal(get(f, "/health"), 200);
}

static void test_idle_client_dropped(void **state)
{
    fixture_t *f = *state;
    char buf[256];
    int idle = dial(aac_http_port(f->h));
    int partial = dial(aac_http_port(f->h));
    assert_int_equal(write(partial, "GET /hea", 8), 8);

    /* others are served at once meanwhile */
    int64_t t0 = aac_mono_ms();
    assert_int_equal(get(f, "/health"), 200);
    assert_true(aac_mono_ms() - t0 < 50);

    /* both closed after request_timeout_ms (the partial one may get 408) */
    t0 = aac_mono_ms();
    assert_true(read_all(idle, buf, sizeof(buf), 3000) >= 0);
    assert_true(read_all(partial, buf, sizeof(buf), 3000) >= 0);
    int64_t waited = aac_mono_ms() - t0;
    assert_true(waited >= TIMEOUT_MS - 100);
    assert_true(waited < TIMEOUT_MS + 1500);
    close(idle);
    close(partial);
}

static int metric_value(fixture_t *f, const char *name)
{
    assert_int_equal(get(f, "/metrics"), 200);
    char key[128];
    snprintf(key, sizeof(key), "\n%s ", name);
    const char *p = strstr(f->body, key);
    assert_non_null(p);
    return atoi(p + strlen(key));
}

/* Every way a connection ends gives its slot back. */
static void test_connections_accounted(void **state)
{
    fixture_t *f = *state;
    enum { N = 40 };
    int fd[N];
    char buf[4096];

    for (int i = 0; i < N; i++) {
        fd[i] = dial(aac_http_port(f->h));
        switch (i % 5) {
        case 0: /* idle: timed out by the server */
            break;
        case 1: /* keep-alive request, then the client closes */
            assert_int_equal(write(fd[i], "GET /health HTTP/1.1\r\nHost: t\r\n\r\n", 33), 33);
            break;
        case 2: /* half a request, then the client closes */
            assert_int_equal(write(fd[i], "GET /ready HT", 13), 13);
            break;
        case 3: /* oversized headers */
            memset(buf, 'x', sizeof(buf));
            assert_int_equal(write(fd[i], "GET / HTTP/1.1\r\nX: ", 19), 19);
            for (int k = 0; k < 4; k++)
                assert_int_equal(write(fd[i], buf, sizeof(buf)), (ssize_t)sizeof(buf));
            break;
        default: /* a normal request */
            assert_int_equal(write(fd[i], "GET /metrics HTTP/1.0\r\n\r\n", 25), 25);
            break;
        }
    }
    usleep(100 * 1000);
    assert_true(metric_value(f, "aac_http_connections") > 1);
    for (int i = 0; i < N; i++)
        if (i % 5 == 1 || i % 5 == 2)
            close(fd[i]);
    usleep((TIMEOUT_MS + 400) * 1000);
    for (int i = 0; i < N; i++)
        if (i % 5 != 1 && i % 5 != 2)
            close(fd[i]);
    usleep(100 * 1000);
    /* only the connection asking */
    assert_int_equal(metric_value(f, "aac_http_connections"), 1);
}

static void test_port_taken(void **state)
{
    fixture_t *f = *state;
    aac_config_t cfg = f->cfg;
    char err[256];
    cfg.http.port = aac_http_port(f->h);
    assert_null(aac_http_start(&cfg, f->m, err, sizeof(err)));
    assert_non_null(strstr(err, "could not listen on http.address 127.0.0.1 port"));
    assert_non_null(strstr(err, "in use"));
    cfg.http.address = "192.0.2.1"; /* not an address of this host */
    cfg.http.port = 0;
    assert_null(aac_http_start(&cfg, f->m, err, sizeof(err)));
    assert_non_null(strstr(err, "could not listen"));
}

static void test_stop_at_once(void **state)
{
    fixture_t *f = *state;
    char err[256];
    /* stopped before its thread ever ran: no lost wake-up, nothing leaked */
    for (int i = 0; i < 20; i++) {
        aac_http_t *h = aac_http_start(&f->cfg, f->m, err, sizeof(err));
        assert_non_null(h);
        aac_http_stop(h);
    }
    aac_http_stop(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_health, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ready, setup, teardown),
        cmocka_unit_test_setup_teardown(test_error_is_escaped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_metrics, setup, teardown),
        cmocka_unit_test_setup_teardown(test_thread_seconds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_routes_and_methods, setup, teardown),
        cmocka_unit_test_setup_teardown(test_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idle_client_dropped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connections_accounted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_port_taken, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_at_once, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
