/*
 * http: health, readiness and Prometheus metrics (see http.h).
 *
 * The HTTP thread owns everything in this file: the event_base, the evhttp
 * server, its listener and the connection count. It shares nothing with
 * the consume thread but the aac_metrics_t, which it only reads through
 * aac_metrics_snapshot(): a copy taken under the metrics mutex, rendered
 * afterwards with no lock held. It never touches Kafka or PostgreSQL, so a
 * stuck dependency cannot slow an answer down. A scrape of /metrics also
 * reads the process's own figures from /proc (procstat.h), here, into
 * buffers on this thread's stack.
 *
 * A slow or hostile client is bounded by evhttp's limits (header and body
 * sizes, a read/write timeout of http.request_timeout_ms on every
 * connection) and by a cap on open connections. libevent 2.1 has no
 * evhttp_set_max_connections (it came with 2.2), so the cap is kept here:
 * each connection's bufferevent is made by bev_cb (counted), and its close
 * callback (uncounted) is hooked once evhttp has built the connection; at
 * the cap the listener stops accepting, and the kernel's backlog holds new
 * clients until a connection closes. accept() failing for want of file
 * descriptors pauses the listener for a second instead of spinning.
 */
#include "aac/http.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <event2/thread.h>

#include "aac/classify.h"
#include "aac/clock.h"
#include "aac/log.h"
#include "aac/mem.h"
#include "aac/procstat.h"
#include "aac/rfc3339.h"
#include "aac/signals.h"
#include "aac/utf8.h"

#define MAX_HEADERS_SIZE 8192 /* request line and headers; more: 4xx and close */
#define MAX_BODY_SIZE    4096 /* GETs carry none */
#define MAX_CONNECTIONS  2048 /* open at once; beyond, accepting waits */
#define ACCEPT_PAUSE_MS  1000 /* after accept() fails (out of descriptors) */

#define CONTENT_TYPE_JSON    "application/json"
#define CONTENT_TYPE_METRICS "text/plain; version=0.0.4; charset=utf-8"

struct aac_http_s {
    aac_metrics_t *m;
    int liveness_timeout_ms;
    int port;
    aac_procstat_sys_t sys; /* boot time, clock ticks, page size: read once */

    struct event_base *base;
    struct evhttp *http;
    struct evconnlistener *lev; /* owned by evhttp */
    struct event *stop_ev;      /* activated by aac_http_stop(), from any thread */
    struct event *attach_ev;    /* hooks the close callback of new connections */
    struct event *resume_ev;    /* ends an accept pause */

    /* new connections' bufferevents, one reference each, until attach_cb */
    struct bufferevent **pending;
    size_t pending_cnt, pending_cap;

    int conns;              /* open connections that will report their close */
    bool paused_full;       /* at MAX_CONNECTIONS */
    bool paused_error;      /* accept() failed */
    uint64_t limit_reached; /* times the cap stopped accepting */
    uint64_t accept_errors;

    pthread_t thread;
    bool thread_started;
};

static pthread_once_t evthread_once = PTHREAD_ONCE_INIT;
static int evthread_rc;

static void libevent_log_cb(int severity, const char *msg)
{
    aac_log_level_t lv = severity >= EVENT_LOG_ERR    ? AAC_LOG_ERROR
                         : severity >= EVENT_LOG_WARN ? AAC_LOG_WARN
                                                      : AAC_LOG_DEBUG;
    AAC_LOG_AT(lv, "libevent", AAC_KV_STR("detail", msg));
}

static void evthread_init(void)
{
    /* event_active() and event_base_loopbreak() from another thread need
     * libevent's locking, which must be enabled before any base exists */
    evthread_rc = evthread_use_pthreads();
    event_set_log_callback(libevent_log_cb);
}

/* --- connection accounting (HTTP thread) --------------------------------- */

static void listener_update(aac_http_t *h)
{
    if (h->paused_full || h->paused_error)
        evconnlistener_disable(h->lev);
    else
        evconnlistener_enable(h->lev);
}

static void conn_closed(aac_http_t *h)
{
    h->conns--;
    if (h->paused_full && h->conns < MAX_CONNECTIONS) {
        h->paused_full = false;
        listener_update(h);
    }
}

static void close_cb(struct evhttp_connection *evcon, void *arg)
{
    (void)evcon;
    conn_closed(arg);
}

/* Called by evhttp for each accepted connection, before it builds the
 * connection around the bufferevent returned. */
static struct bufferevent *bev_cb(struct event_base *base, void *arg)
{
    aac_http_t *h = arg;
    struct bufferevent *bev;

    if (aac_grow((void **)&h->pending, &h->pending_cap, h->pending_cnt + 1, sizeof(*h->pending)))
        return NULL; /* evhttp makes its own, uncounted */
    bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (!bev)
        return NULL;
    /* kept alive until attach_cb, even if evhttp frees it at once */
    bufferevent_incref(bev);
    h->pending[h->pending_cnt++] = bev;
    h->conns++;
    if (h->conns >= MAX_CONNECTIONS && !h->paused_full) {
        h->paused_full = true;
        h->limit_reached++;
        listener_update(h);
    }
    event_active(h->attach_ev, EV_TIMEOUT, 0);
    return bev;
}

/* Runs right after the accept callback: evhttp has set the bufferevent's
 * callbacks with the connection as their argument, or, if it failed to
 * build the connection, freed it (which clears the callbacks). */
static void attach_cb(evutil_socket_t fd, short what, void *arg)
{
    aac_http_t *h = arg;
    (void)fd;
    (void)what;
    for (size_t i = 0; i < h->pending_cnt; i++) {
        void *cbarg = NULL;
        bufferevent_getcb(h->pending[i], NULL, NULL, NULL, &cbarg);
        if (cbarg)
            evhttp_connection_set_closecb(cbarg, close_cb, h);
        else
            conn_closed(h);
        bufferevent_decref(h->pending[i]);
    }
    h->pending_cnt = 0;
}

static void resume_cb(evutil_socket_t fd, short what, void *arg)
{
    aac_http_t *h = arg;
    (void)fd;
    (void)what;
    h->paused_error = false;
    listener_update(h);
}

static void accept_error_cb(struct evconnlistener *lev, void *arg)
{
    aac_http_t *h = arg;
    int err = EVUTIL_SOCKET_ERROR();
    struct timeval tv = {ACCEPT_PAUSE_MS / 1000, (ACCEPT_PAUSE_MS % 1000) * 1000};
    (void)lev;
    h->accept_errors++;
    aac_warn("could not accept an HTTP connection, pausing",
             AAC_KV_STR("error", evutil_socket_error_to_string(err)),
             AAC_KV_INT("pause_ms", ACCEPT_PAUSE_MS), AAC_KV_INT("open_connections", h->conns));
    h->paused_error = true;
    listener_update(h);
    evtimer_add(h->resume_ev, &tv);
}

static void stop_cb(evutil_socket_t fd, short what, void *arg)
{
    aac_http_t *h = arg;
    (void)fd;
    (void)what;
    event_base_loopbreak(h->base);
}

/* --- rendering ----------------------------------------------------------- */

/* RFC 3339 UTC with milliseconds, or null. */
static void json_time(struct evbuffer *b, double t)
{
    if (t <= 0) {
        evbuffer_add_printf(b, "null");
        return;
    }
    char buf[AAC_RFC3339_SIZE];
    /* floored to the microsecond, then truncated to the millisecond */
    aac_rfc3339_format((int64_t)floor(t * 1e6), 3, buf);
    evbuffer_add_printf(b, "\"%s\"", buf);
}

/* A JSON string; invalid UTF-8 (a message cut mid-character) becomes U+FFFD. */
static void json_str(struct evbuffer *b, const char *str)
{
    char buf[256];
    size_t n = strlen(str), out;
    evbuffer_add(b, "\"", 1);
    while (n) {
        size_t used = aac_utf8_escape(buf, sizeof(buf), str, n, AAC_UTF8_ESC_JSON, &out);
        evbuffer_add(b, buf, out);
        str += used;
        n -= used;
    }
    evbuffer_add(b, "\"", 1);
}

static uint64_t dead_letters_total(const aac_metrics_snapshot_t *s)
{
    uint64_t n = 0;
    for (int i = 0; i < AAC_REASON__CNT; i++)
        n += s->dead_letters[i];
    return n;
}

static void render_status(struct evbuffer *b, const char *status, const aac_health_t *st,
                          const aac_metrics_snapshot_t *s, double now)
{
    double alive_at = s->alive_at > 0 ? s->alive_at : s->started_at;
    bool first;

    evbuffer_add_printf(b, "{\"status\":\"%s\",\"version\":\"%s\",\"uptime_seconds\":%.3f,", status,
                        AAC_VERSION, now - s->started_at);
    evbuffer_add_printf(b, "\"alive\":%s,\"ready\":%s,\"seconds_since_alive\":%.3f,\"reasons\":[",
                        st->alive ? "true" : "false", st->ready ? "true" : "false", now - alive_at);
    for (size_t i = 0; i < st->reason_cnt; i++)
        evbuffer_add_printf(b, "%s\"%s\"", i ? "," : "", st->reasons[i]);
    evbuffer_add_printf(b, "],\"joined\":%s,\"idle\":%s,\"partitions\":%zu",
                        s->joined ? "true" : "false", st->idle ? "true" : "false", st->partitions);
    evbuffer_add_printf(b, ",\"partitions_assigned\":[");
    first = true;
    for (size_t i = 0; i < s->partition_cnt; i++)
        if (s->partitions[i].assigned) {
            evbuffer_add_printf(b, "%s%" PRId32, first ? "" : ",", s->partitions[i].partition);
            first = false;
        }
    evbuffer_add_printf(b, "],\"partitions_paused\":[");
    first = true;
    for (size_t i = 0; i < s->partition_cnt; i++)
        if (s->partitions[i].assigned && s->partitions[i].paused) {
            evbuffer_add_printf(b, "%s%" PRId32, first ? "" : ",", s->partitions[i].partition);
            first = false;
        }
    /* partitions_assigned and _paused name partitions of every topic:
     * the assignment says which topic each is of */
    evbuffer_add_printf(b, "],\"assignment\":[");
    first = true;
    for (size_t i = 0; i < s->partition_cnt; i++)
        if (s->partitions[i].assigned) {
            evbuffer_add_printf(b, "%s{\"topic\":", first ? "" : ",");
            json_str(b, s->partitions[i].topic);
            evbuffer_add_printf(b, ",\"partition\":%" PRId32 ",\"paused\":%s}",
                                s->partitions[i].partition,
                                s->partitions[i].paused ? "true" : "false");
            first = false;
        }
    evbuffer_add_printf(b, "],\"last_batch_at\":");
    json_time(b, s->last_batch_at);
    evbuffer_add_printf(b, ",\"last_commit_at\":");
    json_time(b, s->last_commit_at);
    evbuffer_add_printf(b, ",\"last_error\":");
    if (s->last_error_class[0]) {
        evbuffer_add_printf(b, "{\"class\":");
        json_str(b, s->last_error_class);
        evbuffer_add_printf(b, ",\"reason\":");
        json_str(b, s->last_error_reason);
        evbuffer_add_printf(b, ",\"message\":");
        json_str(b, s->last_error_message);
        evbuffer_add_printf(b, "}");
    } else {
        evbuffer_add_printf(b, "null");
    }
    evbuffer_add_printf(b,
                        ",\"counters\":{\"consumed\":%" PRIu64 ",\"written\":%" PRIu64
                        ",\"duplicates\":%" PRIu64 ",\"dead_lettered\":%" PRIu64
                        ",\"invalid\":%" PRIu64 ",\"batches\":%" PRIu64 "}",
                        s->counter[AAC_M_EVENTS_CONSUMED], s->counter[AAC_M_EVENTS_WRITTEN],
                        s->counter[AAC_M_EVENTS_DUPLICATE], dead_letters_total(s),
                        s->counter[AAC_M_EVENTS_INVALID], s->counter[AAC_M_BATCHES]);
    /* aac_thread_seconds_total's figures, by thread then activity */
    evbuffer_add_printf(b, ",\"thread_seconds\":{");
    first = true;
    for (int i = 0; i < AAC_TIMEACCT_THREADS; i++) {
        const aac_activity_t *acts;
        size_t n = aac_timeacct_activities(i, &acts);
        if (!s->threads.started[i])
            continue;
        evbuffer_add_printf(b, "%s\"%s\":{", first ? "" : ",", aac_timeacct_thread_name(i));
        for (size_t k = 0; k < n; k++)
            evbuffer_add_printf(b, "%s\"%s\":%.6f", k ? "," : "", aac_activity_str(acts[k]),
                                (double)s->threads.ns[i][acts[k]] / 1e9);
        evbuffer_add_printf(b, "}");
        first = false;
    }
    evbuffer_add_printf(b, "}}\n");
}

/* A sample value in the exposition format (Go's ParseFloat syntax). */
static const char *fmt_value(char *buf, size_t size, double v)
{
    if (isinf(v))
        return v > 0 ? "+Inf" : "-Inf";
    if (isnan(v))
        return "NaN";
    snprintf(buf, size, "%.15g", v);
    return buf;
}

static void family(struct evbuffer *b, const char *name, const char *type, const char *help)
{
    evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void counter(struct evbuffer *b, const char *name, const char *help, uint64_t v)
{
    family(b, name, "counter", help);
    evbuffer_add_printf(b, "%s %" PRIu64 "\n", name, v);
}

static void counter_f(struct evbuffer *b, const char *name, const char *help, double v)
{
    char buf[40];
    family(b, name, "counter", help);
    evbuffer_add_printf(b, "%s %s\n", name, fmt_value(buf, sizeof(buf), v));
}

static void gauge(struct evbuffer *b, const char *name, const char *help, double v)
{
    char buf[40];
    family(b, name, "gauge", help);
    evbuffer_add_printf(b, "%s %s\n", name, fmt_value(buf, sizeof(buf), v));
}

static void histogram(struct evbuffer *b, const char *name, const char *help,
                      const aac_hist_snapshot_t *hs, const double *bounds)
{
    char buf[40];
    family(b, name, "histogram", help);
    for (int i = 0; i < AAC_METRICS_BUCKETS; i++) {
        /* the last bound (1e300) is +Inf */
        const char *le =
            i == AAC_METRICS_BUCKETS - 1 ? "+Inf" : fmt_value(buf, sizeof(buf), bounds[i]);
        evbuffer_add_printf(b, "%s_bucket{le=\"%s\"} %" PRIu64 "\n", name, le, hs->bucket[i]);
    }
    evbuffer_add_printf(b, "%s_sum %s\n%s_count %" PRIu64 "\n", name,
                        fmt_value(buf, sizeof(buf), hs->sum), name, hs->count);
}

/* What happened to the events: consumed, written, invalid, dead-lettered,
 * retried. */
static void render_events(struct evbuffer *b, const aac_metrics_snapshot_t *s)
{
    counter(b, "aac_events_consumed_total", "Messages taken from Kafka into a batch.",
            s->counter[AAC_M_EVENTS_CONSUMED]);
    counter(b, "aac_consumed_bytes_total",
            "Bytes of the message values taken from Kafka into a batch (keys and headers not "
            "counted).",
            s->counter[AAC_M_BYTES_CONSUMED]);
    counter(b, "aac_events_written_total", "Events inserted into PostgreSQL.",
            s->counter[AAC_M_EVENTS_WRITTEN]);
    counter(b, "aac_events_duplicate_total",
            "Events skipped because their event_id was already stored.",
            s->counter[AAC_M_EVENTS_DUPLICATE]);
    counter(b, "aac_events_invalid_total", "Messages that failed validation.",
            s->counter[AAC_M_EVENTS_INVALID]);
    counter(b, "aac_unknown_fields_total", "Unknown top-level event fields kept in extra.",
            s->counter[AAC_M_UNKNOWN_FIELDS]);

    family(b, "aac_dead_letters_total", "counter",
           "Messages sent to the dead-letter topic, by reason code.");
    for (int r = 1; r < AAC_REASON__CNT; r++)
        evbuffer_add_printf(b, "aac_dead_letters_total{reason=\"%s\"} %" PRIu64 "\n",
                            aac_reason_str((aac_reason_t)r), s->dead_letters[r]);
    counter(b, "aac_dead_letter_delivery_failures_total",
            "Dead letters the producer failed to deliver to the dead-letter topic (each failed "
            "delivery; the dead letter is sent again, its batch not committed meanwhile).",
            s->counter[AAC_M_DLQ_DELIVERY_FAILED]);
    counter(b, "aac_kafka_fetch_wakes_total",
            "Times the consume thread woke librdkafka's fetchers because its queue ran low "
            "(kafka.fetch_wake_ms).",
            s->counter[AAC_M_FETCH_WAKES]);
    family(b, "aac_retries_total", "counter", "Retried operations, by failure class.");
    for (int c = 1; c < AAC_CLASS__CNT; c++)
        evbuffer_add_printf(b, "aac_retries_total{class=\"%s\"} %" PRIu64 "\n",
                            aac_class_str((aac_class_t)c), s->retries[c]);
}

static void render_batches(struct evbuffer *b, const aac_metrics_snapshot_t *s)
{
    counter(b, "aac_batches_total", "Batches committed to PostgreSQL.", s->counter[AAC_M_BATCHES]);
    histogram(b, "aac_batch_size_messages", "Messages per committed batch.", &s->batch_size,
              aac_metrics_batch_size_bounds);
    histogram(b, "aac_batch_write_duration_seconds",
              "Time to write and commit one batch to PostgreSQL.", &s->batch_seconds,
              aac_metrics_seconds_bounds);
    histogram(b, "aac_rollup_rows", "Rollup rows upserted per committed batch (hour and key).",
              &s->rollup_rows, aac_metrics_batch_size_bounds);
    histogram(b, "aac_rollup_duration_seconds",
              "Time to build one batch's rollups and run the statement that stores them with "
              "its offsets.",
              &s->rollup_seconds, aac_metrics_seconds_bounds);
    histogram(b, "aac_end_to_end_delay_seconds",
              "Delay from an event's timestamp to its database commit.", &s->delay_seconds,
              aac_metrics_seconds_bounds);
}

/* The lag of each assigned partition whose lag is known, as `name`. */
static void render_lag(struct evbuffer *b, const aac_metrics_snapshot_t *s, const char *name,
                       const char *help)
{
    family(b, name, "gauge", help);
    for (size_t i = 0; i < s->partition_cnt; i++)
        if (s->partitions[i].assigned && s->partitions[i].lag >= 0)
            evbuffer_add_printf(b, "%s{topic=\"%s\",partition=\"%" PRId32 "\"} %" PRId64 "\n", name,
                                s->partitions[i].topic, s->partitions[i].partition,
                                s->partitions[i].lag);
}

/* The assignment: lag, stored offsets and pauses per partition, and when
 * the service last committed and was last seen alive. */
static void render_partitions(struct evbuffer *b, const aac_metrics_snapshot_t *s)
{
    size_t assigned = 0;

    render_lag(b, s, "aac_consumer_lag_messages",
               "Messages between the partition's high watermark and the committed offset.");
    family(b, "aac_committed_offset", "gauge",
           "Next offset of the partition stored in PostgreSQL (consumer_offsets.next_offset), "
           "as of the last batch committed or the assignment.");
    for (size_t i = 0; i < s->partition_cnt; i++)
        if (s->partitions[i].assigned && s->partitions[i].committed_offset >= 0)
            evbuffer_add_printf(
                b, "aac_committed_offset{topic=\"%s\",partition=\"%" PRId32 "\"} %" PRId64 "\n",
                s->partitions[i].topic, s->partitions[i].partition,
                s->partitions[i].committed_offset);
    family(b, "aac_partition_paused", "gauge",
           "1 while an assigned partition is paused (outage back-off or position unknown).");
    for (size_t i = 0; i < s->partition_cnt; i++)
        if (s->partitions[i].assigned) {
            assigned++;
            evbuffer_add_printf(b,
                                "aac_partition_paused{topic=\"%s\",partition=\"%" PRId32 "\"} %d\n",
                                s->partitions[i].topic, s->partitions[i].partition,
                                s->partitions[i].paused ? 1 : 0);
        }
    gauge(b, "aac_partitions_assigned", "Partitions assigned to this instance.", (double)assigned);
    gauge(b, "aac_consumption_paused", "1 while consumption is paused by an outage.",
          s->paused_outage ? 1 : 0);
    gauge(b, "aac_last_commit_timestamp_seconds",
          "Time of the last successful batch commit since the Unix epoch; 0 before the first.",
          s->last_commit_at);
    gauge(b, "aac_last_alive_timestamp_seconds",
          "Last time the service was seen alive since the Unix epoch: the consume loop turning, "
          "less the time the oldest write in progress has taken; 0 before the first.",
          s->alive_at);
}

static void render_group(struct evbuffer *b, const aac_metrics_snapshot_t *s)
{
    counter(b, "aac_retention_gap_offsets_total",
            "Offsets deleted by retention before they were consumed.",
            s->counter[AAC_M_RETENTION_GAP]);
    counter(b, "aac_fenced_batches_total",
            "Batches dropped because another instance had taken the partition over.",
            s->counter[AAC_M_FENCED]);
    counter(b, "aac_rebalances_total", "Consumer group rebalance callbacks.",
            s->counter[AAC_M_REBALANCES]);
    counter(b, "aac_kafka_commit_errors_total",
            "Failed asynchronous offset commits to Kafka (PostgreSQL holds the offsets).",
            s->counter[AAC_M_KAFKA_COMMIT_ERRORS]);
    if (s->default_rows >= 0)
        gauge(b, "aac_default_partition_rows",
              "Rows in agent_actions_default (months without a partition), counted every "
              "minute up to 1000000.",
              (double)s->default_rows);
}

/* Where each thread's time went (timeacct.h): a series per activity of
 * every thread that has run, none for a writer that never started. */
static void render_threads(struct evbuffer *b, const aac_timeacct_snapshot_t *ts)
{
    char buf[40];
    family(b, "aac_thread_seconds_total", "counter",
           "Seconds each thread of the service spent in each activity since it started "
           "(activities: docs/operations.md).");
    for (int i = 0; i < AAC_TIMEACCT_THREADS; i++) {
        const aac_activity_t *acts;
        size_t n = aac_timeacct_activities(i, &acts);
        for (size_t k = 0; k < n && ts->started[i]; k++)
            evbuffer_add_printf(b, "aac_thread_seconds_total{thread=\"%s\",activity=\"%s\"} %s\n",
                                aac_timeacct_thread_name(i), aac_activity_str(acts[k]),
                                fmt_value(buf, sizeof(buf), (double)ts->ns[i][acts[k]] / 1e9));
    }
}

static void render_health(struct evbuffer *b, const aac_health_t *st,
                          const aac_metrics_snapshot_t *s)
{
    gauge(b, "aac_up",
          "1 while the service was seen alive within http.liveness_timeout_ms (/health 200).",
          st->alive ? 1 : 0);
    gauge(b, "aac_ready", "1 while /ready answers 200.", st->ready ? 1 : 0);
    gauge(b, "aac_group_joined",
          "1 once the consumer group has completed a join for this member, with partitions "
          "or without (aac_partitions_assigned says how many).",
          s->joined ? 1 : 0);
    gauge(b, "aac_broker_up", "1 while a Kafka broker is reachable.", s->broker_up ? 1 : 0);
    gauge(b, "aac_postgres_up", "1 while the last PostgreSQL contact succeeded.", s->pg_up ? 1 : 0);
}

/* The process metrics of the Prometheus client libraries, with their
 * names, types and help texts (procstat.h). A group whose /proc file could
 * not be read is left out, as they leave it out; the start time falls
 * back to when the metrics were created. */
static void render_process(struct evbuffer *b, const aac_procstat_t *ps,
                           const aac_metrics_snapshot_t *s)
{
    if (ps->stat_ok) {
        counter_f(b, "process_cpu_seconds_total",
                  "Total user and system CPU time spent in seconds.", ps->cpu_seconds);
        gauge(b, "process_virtual_memory_bytes", "Virtual memory size in bytes.",
              ps->virtual_memory_bytes);
        gauge(b, "process_resident_memory_bytes", "Resident memory size in bytes.",
              ps->resident_memory_bytes);
    }
    gauge(b, "process_start_time_seconds", "Start time of the process since unix epoch in seconds.",
          ps->stat_ok && ps->start_time_seconds > 0 ? ps->start_time_seconds
                                                    : floor(s->started_at));
    if (ps->fds_ok)
        gauge(b, "process_open_fds", "Number of open file descriptors.", ps->open_fds);
    if (ps->limits_ok)
        gauge(b, "process_max_fds", "Maximum number of open file descriptors.", ps->max_fds);
}

/* Names replaced by ones that carry their unit, still served for one
 * release (docs/operations.md, "Deprecated names"): same values, HELP says
 * which name to use. */
static void render_deprecated(struct evbuffer *b, const aac_metrics_snapshot_t *s)
{
    histogram(b, "aac_batch_size",
              "Deprecated, use aac_batch_size_messages (the same values); removed in the next "
              "release.",
              &s->batch_size, aac_metrics_batch_size_bounds);
    render_lag(b, s, "aac_consumer_lag",
               "Deprecated, use aac_consumer_lag_messages (the same values); removed in the next "
               "release.");
    gauge(b, "aac_last_poll_timestamp_seconds",
          "Deprecated, use aac_last_alive_timestamp_seconds (the same values); removed in the "
          "next release.",
          s->alive_at);
}

static void render_metrics(struct evbuffer *b, const aac_http_t *h, const aac_health_t *st,
                           const aac_metrics_snapshot_t *s, const aac_procstat_t *ps)
{
    family(b, "aac_build_info", "gauge", "Build of the running service; the value is always 1.");
    evbuffer_add_printf(b, "aac_build_info{version=\"%s\"} 1\n", AAC_VERSION);
    render_process(b, ps, s);

    render_events(b, s);
    render_batches(b, s);
    render_partitions(b, s);
    render_group(b, s);
    render_threads(b, &s->threads);
    render_health(b, st, s);
    render_deprecated(b, s);
    /* the HTTP server's own families last: aac_http_accept_errors_total
     * ends every exposition (a client can tell a whole one) */
    gauge(b, "aac_http_connections", "Open connections to this HTTP server.", (double)h->conns);
    counter(b, "aac_http_connection_limit_reached_total",
            "Times the HTTP server stopped accepting at its connection limit.", h->limit_reached);
    counter(b, "aac_http_accept_errors_total", "Failed accepts of HTTP connections.",
            h->accept_errors);
}

/* --- requests ------------------------------------------------------------ */

enum route { ROUTE_NONE, ROUTE_HEALTH, ROUTE_READY, ROUTE_METRICS };

static enum route route_of(struct evhttp_request *req)
{
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    if (!path)
        return ROUTE_NONE;
    if (!strcmp(path, "/health"))
        return ROUTE_HEALTH;
    if (!strcmp(path, "/ready"))
        return ROUTE_READY;
    if (!strcmp(path, "/metrics"))
        return ROUTE_METRICS;
    return ROUTE_NONE;
}

static void reply(struct evhttp_request *req, int code, const char *reason, const char *type,
                  struct evbuffer *body)
{
    struct evkeyvalq *hdr = evhttp_request_get_output_headers(req);
    evhttp_add_header(hdr, "Content-Type", type);
    evhttp_add_header(hdr, "Cache-Control", "no-store");
    if (evhttp_request_get_command(req) == EVHTTP_REQ_HEAD) {
        /* evhttp 2.1 would send the body: give its length, send none */
        char len[24];
        snprintf(len, sizeof(len), "%zu", evbuffer_get_length(body));
        evhttp_add_header(hdr, "Content-Length", len);
        evbuffer_drain(body, evbuffer_get_length(body));
    }
    evhttp_send_reply(req, code, reason, body);
}

static void request_cb(struct evhttp_request *req, void *arg)
{
    aac_http_t *h = arg;
    enum route rt = route_of(req);
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    struct evbuffer *body = evbuffer_new();
    aac_metrics_snapshot_t *s = NULL;

    if (!body) {
        evhttp_send_error(req, HTTP_SERVUNAVAIL, NULL);
        return;
    }
    if (rt == ROUTE_NONE) {
        evbuffer_add_printf(body, "{\"error\":\"not found\"}\n");
        reply(req, HTTP_NOTFOUND, "Not Found", CONTENT_TYPE_JSON, body);
        goto out;
    }
    if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "GET, HEAD");
        evbuffer_add_printf(body, "{\"error\":\"method not allowed\"}\n");
        reply(req, HTTP_BADMETHOD, "Method Not Allowed", CONTENT_TYPE_JSON, body);
        goto out;
    }
    /* ~10 KiB: off the stack of a thread that may serve many requests */
    s = malloc(sizeof(*s));
    if (!s) {
        evhttp_send_error(req, HTTP_SERVUNAVAIL, NULL);
        goto out;
    }
    aac_metrics_snapshot(h->m, s); /* the only lock taken; released on return */
    double now = aac_now();
    aac_health_t st;
    aac_metrics_health(s, now, h->liveness_timeout_ms, &st);
    switch (rt) {
    case ROUTE_HEALTH:
        render_status(body, st.alive ? "ok" : "unhealthy", &st, s, now);
        reply(req, st.alive ? HTTP_OK : HTTP_SERVUNAVAIL, st.alive ? "OK" : "Service Unavailable",
              CONTENT_TYPE_JSON, body);
        break;
    case ROUTE_READY:
        render_status(body, st.ready ? "ready" : "not_ready", &st, s, now);
        reply(req, st.ready ? HTTP_OK : HTTP_SERVUNAVAIL, st.ready ? "OK" : "Service Unavailable",
              CONTENT_TYPE_JSON, body);
        break;
    default: {
        aac_procstat_t ps; /* read now, on this thread: no lock, nothing allocated */
        aac_procstat_read(&h->sys, &ps);
        render_metrics(body, h, &st, s, &ps);
        reply(req, HTTP_OK, "OK", CONTENT_TYPE_METRICS, body);
        break;
    }
    }
out:
    free(s);
    evbuffer_free(body);
}

/* --- the thread ---------------------------------------------------------- */

static void *loop_main(void *arg)
{
    aac_http_t *h = arg;
    event_base_loop(h->base, EVLOOP_NO_EXIT_ON_EMPTY);
    return NULL;
}

static int bound_port(struct evhttp_bound_socket *bs)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    evutil_socket_t fd = evhttp_bound_socket_get_fd(bs);
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
        return -1;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return -1;
}

aac_http_t *aac_http_start(const aac_config_t *cfg, aac_metrics_t *m, char *errstr,
                           size_t errstr_size)
{
    aac_http_t *h;
    struct evhttp_bound_socket *bs;
    struct timeval tv = {cfg->http.request_timeout_ms / 1000,
                         (cfg->http.request_timeout_ms % 1000) * 1000};
    int err;

    pthread_once(&evthread_once, evthread_init);
    if (evthread_rc != 0) {
        snprintf(errstr, errstr_size, "could not start the HTTP server: libevent threads");
        return NULL;
    }
    h = calloc(1, sizeof(*h));
    if (!h) {
        snprintf(errstr, errstr_size, "could not start the HTTP server: out of memory");
        return NULL;
    }
    h->m = m;
    h->liveness_timeout_ms = cfg->http.liveness_timeout_ms;
    aac_procstat_sys(&h->sys);
    if (!(h->base = event_base_new()) || !(h->http = evhttp_new(h->base)) ||
        !(h->stop_ev = event_new(h->base, -1, 0, stop_cb, h)) ||
        !(h->attach_ev = event_new(h->base, -1, 0, attach_cb, h)) ||
        !(h->resume_ev = evtimer_new(h->base, resume_cb, h))) {
        snprintf(errstr, errstr_size, "could not start the HTTP server: out of memory");
        goto fail;
    }
    evhttp_set_max_headers_size(h->http, MAX_HEADERS_SIZE);
    evhttp_set_max_body_size(h->http, MAX_BODY_SIZE);
    evhttp_set_timeout_tv(h->http, &tv);
    /* every method reaches request_cb, which answers 405 with Allow */
    evhttp_set_allowed_methods(h->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                            EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
                                            EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE |
                                            EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH);
    evhttp_set_gencb(h->http, request_cb, h);
    evhttp_set_bevcb(h->http, bev_cb, h);

    errno = 0;
    bs = evhttp_bind_socket_with_handle(h->http, cfg->http.address, (ev_uint16_t)cfg->http.port);
    if (!bs) {
        err = errno;
        snprintf(errstr, errstr_size, "could not listen on http.address %s port %d: %s",
                 cfg->http.address, cfg->http.port, err ? strerror(err) : "address not usable");
        goto fail;
    }
    h->port = bound_port(bs);
    h->lev = evhttp_bound_socket_get_listener(bs);
    evconnlistener_set_error_cb(h->lev, accept_error_cb);

    /* signals go to the consume thread; a write to a closed socket here
     * leaves a blocked SIGPIPE pending instead of killing the process */
    err = aac_signals_thread_create(&h->thread, loop_main, h);
    if (err) {
        snprintf(errstr, errstr_size, "could not start the HTTP thread: %s", strerror(err));
        goto fail;
    }
    h->thread_started = true;
    aac_info("http server listening", AAC_KV_STR("address", cfg->http.address),
             AAC_KV_INT("port", h->port));
    return h;
fail:
    aac_http_stop(h);
    return NULL;
}

int aac_http_port(const aac_http_t *h)
{
    return h->port;
}

void aac_http_stop(aac_http_t *h)
{
    if (!h)
        return;
    if (h->thread_started) {
        /* an active event is never lost, unlike a loopbreak that comes
         * before the loop has started */
        event_active(h->stop_ev, EV_TIMEOUT, 0);
        pthread_join(h->thread, NULL);
    }
    if (h->http)
        evhttp_free(h->http); /* closes every connection: close_cb runs */
    for (size_t i = 0; i < h->pending_cnt; i++)
        bufferevent_decref(h->pending[i]);
    free(h->pending);
    if (h->resume_ev)
        event_free(h->resume_ev);
    if (h->attach_ev)
        event_free(h->attach_ev);
    if (h->stop_ev)
        event_free(h->stop_ev);
    if (h->base)
        event_base_free(h->base);
    free(h);
}
