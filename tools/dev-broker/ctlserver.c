/*
 * ctlserver: the control socket of the development broker, on libevent (the
 * event library the service's HTTP server uses). One Unix-domain listener,
 * at most AAC_DEVBROKER_MAX_CLIENTS bufferevents, a timer that serves the
 * librdkafka handle, and a timer that ends the loop once the signals module
 * has counted SIGINT or SIGTERM.
 *
 * Per connection: lines are run while there is room for their replies
 * (AAC_DEVBROKER_OUT_MAX), and at most AAC_DEVBROKER_LINE_MAX bytes are
 * read ahead (the read high-water mark), so a client that writes but never
 * reads can't make the broker buffer without bound. Connections idle for
 * AAC_DEVBROKER_CLIENT_IDLE_MS are dropped.
 */
#include "devbroker.h"

#include "aac/log.h"
#include "aac/signals.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* One control connection. Bytes read but not yet a full line wait in the
 * bufferevent's input, replies not yet written in its output. */
struct ctl_client {
    struct ctl_server *srv;
    struct bufferevent *bev;
    int closing; /* run nothing more; shut down once the output is flushed */
    int eof;     /* the client has sent everything it will send */
    int shut;    /* closing, flushed, and our side shut down: draining */
};

struct ctl_server {
    int lfd;
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    struct devbroker *db; /* set while devbroker_serve runs */
    struct ctl_client *clients[AAC_DEVBROKER_MAX_CLIENTS];
    int nclients;
};

static const struct timeval idle_tv = {AAC_DEVBROKER_CLIENT_IDLE_MS / 1000,
                                       (AAC_DEVBROKER_CLIENT_IDLE_MS % 1000) * 1000};
static const struct timeval drain_tv = {AAC_DEVBROKER_DRAIN_MS / 1000,
                                        (AAC_DEVBROKER_DRAIN_MS % 1000) * 1000};

static void client_free(struct ctl_client *c)
{
    struct ctl_server *srv = c->srv;

    for (int i = 0; i < srv->nclients; i++) {
        if (srv->clients[i] == c) {
            srv->clients[i] = srv->clients[--srv->nclients];
            srv->clients[srv->nclients] = NULL;
            break;
        }
    }
    bufferevent_free(c->bev); /* closes the socket */
    free(c);
}

static void client_reply(struct ctl_client *c, const char *reply)
{
    size_t n = strlen(reply);

    /* client_lines keeps REPLY_MAX + 1 free before running a command */
    if (n > AAC_DEVBROKER_REPLY_MAX - 1)
        n = AAC_DEVBROKER_REPLY_MAX - 1;
    evbuffer_add(bufferevent_get_output(c->bev), reply, n);
    evbuffer_add(bufferevent_get_output(c->bev), "\n", 1);
}

/* Runs the complete lines in the input while there is room for their
 * replies; the rest waits until the output drains. A last line without a
 * newline at EOF is refused, not run: it may be a command cut short by a
 * dying client ("rtt 1 10" of "rtt 1 1000"). */
static void client_lines(struct ctl_client *c)
{
    struct evbuffer *in = bufferevent_get_input(c->bev);
    struct evbuffer *out = bufferevent_get_output(c->bev);
    char reply[AAC_DEVBROKER_REPLY_MAX];
    char line[AAC_DEVBROKER_LINE_MAX + 1];

    while (!c->closing &&
           evbuffer_get_length(out) + AAC_DEVBROKER_REPLY_MAX + 1 <= AAC_DEVBROKER_OUT_MAX) {
        struct evbuffer_ptr nl = evbuffer_search(in, "\n", 1, NULL);
        size_t inlen = evbuffer_get_length(in), len;

        /* the read high-water mark keeps inlen <= LINE_MAX, so a newline
         * found is within the limit */
        if (nl.pos >= 0 && (size_t)nl.pos < AAC_DEVBROKER_LINE_MAX) {
            len = (size_t)nl.pos;
        } else if (inlen >= AAC_DEVBROKER_LINE_MAX) {
            /* no newline within the limit: the rest of the stream can't be
             * framed reliably, so answer once and hang up */
            client_reply(c, "error: line too long (limit 1023 bytes)");
            aac_warn("control line refused", AAC_KV_STR("reason", "too long"),
                     AAC_KV_INT("limit", AAC_DEVBROKER_LINE_MAX - 1));
            evbuffer_drain(in, inlen);
            c->closing = 1;
            return;
        } else if (c->eof && inlen > 0) {
            client_reply(c, "error: command not terminated by a newline, not run");
            aac_warn("control line refused",
                     AAC_KV_STR("reason", "no newline before end of input"));
            evbuffer_drain(in, inlen);
            return;
        } else {
            return;
        }
        evbuffer_remove(in, line, len);
        evbuffer_drain(in, 1);
        line[len] = '\0';
        if (memchr(line, '\0', len)) {
            client_reply(c, "error: line contains a NUL byte");
            continue;
        }
        if (len > 0 && line[len - 1] == '\r')
            line[len - 1] = '\0';
        devbroker_dispatch(c->srv->db, line, reply, sizeof(reply));
        client_reply(c, reply);
    }
}

/* After any event on `c`: runs what can run, then closes the connection
 * when it is done, or starts the hang-up of a closing one. May free `c`. */
static void client_settle(struct ctl_client *c)
{
    client_lines(c);
    /* the write callback comes back once the output is flushed */
    if (evbuffer_get_length(bufferevent_get_output(c->bev)) > 0)
        return;
    if (c->eof && (c->closing || evbuffer_get_length(bufferevent_get_input(c->bev)) == 0)) {
        client_free(c);
        return;
    }
    if (c->closing && !c->shut) {
        /* the reply is out: tell the client, then wait a little for its EOF;
         * closing with unread input would send a reset that can destroy our
         * last reply before the client reads it */
        shutdown(bufferevent_getfd(c->bev), SHUT_WR);
        c->shut = 1;
        bufferevent_set_timeouts(c->bev, &drain_tv, NULL);
    }
}

static void client_read_cb(struct bufferevent *bev, void *arg)
{
    struct ctl_client *c = arg;

    /* a closing client's input is read and dropped, see client_settle */
    if (c->closing)
        evbuffer_drain(bufferevent_get_input(bev), evbuffer_get_length(bufferevent_get_input(bev)));
    client_settle(c);
}

/* Called when the output has drained: room for more replies. */
static void client_write_cb(struct bufferevent *bev, void *arg)
{
    (void)bev;
    client_settle(arg);
}

static void client_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct ctl_client *c = arg;

    (void)bev;
    if (what & BEV_EVENT_TIMEOUT) {
        /* a shut connection's drain time is up; anything else sat idle */
        if (!c->shut)
            aac_info("control connection idle, closing",
                     AAC_KV_INT("idle_ms", AAC_DEVBROKER_CLIENT_IDLE_MS));
        client_free(c);
    } else if (what & BEV_EVENT_EOF) {
        c->eof = 1;
        client_settle(c);
    } else if (what & BEV_EVENT_ERROR) {
        /* gone or broken: nobody to answer */
        client_free(c);
    }
}

static void accept_cb(struct evconnlistener *lev, evutil_socket_t fd, struct sockaddr *addr,
                      int addrlen, void *arg)
{
    static const char full[] = "error: too many control clients\n";
    struct ctl_server *srv = arg;
    struct ctl_client *c;

    (void)addr;
    (void)addrlen;
    if (srv->nclients == AAC_DEVBROKER_MAX_CLIENTS) {
        /* best effort: the client learns why before the close */
        if (send(fd, full, sizeof(full) - 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
        }
        close(fd);
        aac_warn("control connection refused", AAC_KV_STR("reason", "too many clients"),
                 AAC_KV_INT("limit", AAC_DEVBROKER_MAX_CLIENTS));
        return;
    }
    c = calloc(1, sizeof(*c));
    if (c)
        c->bev = bufferevent_socket_new(evconnlistener_get_base(lev), fd, BEV_OPT_CLOSE_ON_FREE);
    if (!c || !c->bev) {
        aac_warn("could not accept control connection", AAC_KV_STR("error", "out of memory"));
        free(c);
        close(fd);
        return;
    }
    c->srv = srv;
    bufferevent_setcb(c->bev, client_read_cb, client_write_cb, client_event_cb, c);
    /* at most one line ahead: a client that never reads can't make us
     * buffer its commands */
    bufferevent_setwatermark(c->bev, EV_READ, 0, AAC_DEVBROKER_LINE_MAX);
    bufferevent_set_timeouts(c->bev, &idle_tv, &idle_tv);
    if (bufferevent_enable(c->bev, EV_READ) < 0) {
        bufferevent_free(c->bev);
        free(c);
        return;
    }
    srv->clients[srv->nclients++] = c;
}

static void accept_error_cb(struct evconnlistener *lev, void *arg)
{
    (void)lev;
    (void)arg;
    aac_warn("could not accept control connection", AAC_KV_STR("error", strerror(errno)));
}

/*
 * Opens the control socket at `path`, mode 0600 (it can take brokers down,
 * so only this user may talk to it). A socket file nobody listens on is a
 * leftover of a killed broker and is replaced; a live one means another
 * broker owns the path, which is an error rather than a silent takeover.
 * Connections wait in the backlog until devbroker_serve runs.
 */
struct ctl_server *ctl_server_open(const char *path, char *errstr, size_t errstr_size)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    struct ctl_server *srv;
    struct stat st;
    mode_t old_umask;
    int fd, probe, rc;

    if (strlen(path) >= sizeof(sun.sun_path)) {
        snprintf(errstr, errstr_size, "control socket path is longer than %zu bytes",
                 sizeof(sun.sun_path) - 1);
        return NULL;
    }
    memcpy(sun.sun_path, path, strlen(path) + 1);
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            snprintf(errstr, errstr_size, "cannot use %s as control socket: not a socket", path);
            return NULL;
        }
        probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (probe >= 0 && connect(probe, (struct sockaddr *)&sun, sizeof(sun)) == 0) {
            close(probe);
            snprintf(errstr, errstr_size,
                     "cannot use %s as control socket: another process serves it", path);
            return NULL;
        }
        if (probe >= 0)
            close(probe);
        unlink(path);
    }
    srv = calloc(1, sizeof(*srv));
    if (!srv) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    /* non-blocking: the listener accepts until EAGAIN */
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        snprintf(errstr, errstr_size, "could not create control socket: %s", strerror(errno));
        free(srv);
        return NULL;
    }
    /* umask rather than chmod after bind: no window where others may
     * connect. No other thread exists yet to be surprised by it. */
    old_umask = umask(077);
    rc = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
    umask(old_umask);
    if (rc < 0 || listen(fd, AAC_DEVBROKER_MAX_CLIENTS) < 0) {
        snprintf(errstr, errstr_size, "could not listen on control socket %s: %s", path,
                 strerror(errno));
        close(fd);
        if (rc == 0)
            unlink(path);
        free(srv);
        return NULL;
    }
    srv->lfd = fd;
    memcpy(srv->path, path, strlen(path) + 1);
    return srv;
}

void ctl_server_close(struct ctl_server *srv)
{
    if (!srv)
        return;
    /* devbroker_serve has freed every connection with its event base */
    close(srv->lfd);
    unlink(srv->path);
    free(srv);
}

struct serve_ctx {
    struct event_base *base;
    struct devbroker *db;
};

/* SIGINT or SIGTERM (counted by the signals module) ends the loop. */
static void stop_cb(evutil_socket_t fd, short what, void *arg)
{
    struct serve_ctx *ctx = arg;

    (void)fd;
    (void)what;
    if (aac_signals_received())
        event_base_loopbreak(ctx->base);
}

/* Serves the handle's events, e.g. errors to log; it produces nothing. */
static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
    struct serve_ctx *ctx = arg;

    (void)fd;
    (void)what;
    rd_kafka_poll(ctx->db->rk, 0);
}

int devbroker_serve(struct devbroker *db, struct ctl_server *srv)
{
    static const struct timeval tick_tv = {0, AAC_DEVBROKER_POLL_MS * 1000};
    static const struct timeval stop_tv = {0, AAC_DEVBROKER_STOP_CHECK_MS * 1000};
    struct serve_ctx ctx = {.db = db};
    struct event *stop = NULL, *tick = NULL;
    struct evconnlistener *lev = NULL;
    int rc = -1;

    ctx.base = event_base_new();
    if (!ctx.base) {
        aac_error("could not create event base");
        return -1;
    }
    stop = event_new(ctx.base, -1, EV_PERSIST, stop_cb, &ctx);
    tick = event_new(ctx.base, -1, EV_PERSIST, tick_cb, &ctx);
    if (!stop || !tick || evtimer_add(stop, &stop_tv) < 0 || evtimer_add(tick, &tick_tv) < 0) {
        aac_error("could not set up the event loop");
        goto out;
    }
    if (srv) {
        srv->db = db;
        /* backlog 0: the socket listens already; not closed on free */
        lev = evconnlistener_new(ctx.base, accept_cb, srv, LEV_OPT_CLOSE_ON_EXEC, 0, srv->lfd);
        if (!lev) {
            aac_error("could not serve control socket");
            goto out;
        }
        evconnlistener_set_error_cb(lev, accept_error_cb);
    }
    /* a signal that came during startup */
    if (!aac_signals_received() && event_base_dispatch(ctx.base) < 0) {
        aac_error("event loop failed");
        goto out;
    }
    rc = 0;
out:
    while (srv && srv->nclients > 0)
        client_free(srv->clients[srv->nclients - 1]);
    /* bufferevent_free defers the release to the loop (its finalizers):
     * one more non-blocking turn runs them */
    event_base_loop(ctx.base, EVLOOP_NONBLOCK);
    if (lev)
        evconnlistener_free(lev);
    if (tick)
        event_free(tick);
    if (stop)
        event_free(stop);
    event_base_free(ctx.base);
    return rc;
}
