/*
 * notify: sd_notify's datagram protocol, without libsystemd (see
 * include/aac/notify.h and sd_notify(3)). Owns the notification socket,
 * the watchdog interval read from the environment, and the time of the
 * last ping. Used from the consume thread only.
 */
#include "aac/notify.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* Pings to extend the start timeout when no watchdog is configured. */
#define START_PING_MS 10000

static struct {
    bool inited;
    int fd;                  /* -1: disabled */
    struct sockaddr_un addr; /* where datagrams go */
    socklen_t addr_len;
    uint64_t watchdog_usec; /* 0: no watchdog for this process */
    bool ready_sent, stopping_sent;
    int64_t last_ping_ms; /* INT64_MIN before the first */
} st = {.fd = -1};

/* Parses a positive decimal number of microseconds; 0 when invalid. */
static uint64_t parse_usec(const char *s)
{
    char *end;
    unsigned long long v;

    if (!s || !*s)
        return 0;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno || *end || end == s)
        return 0;
    return (uint64_t)v;
}

void aac_notify_init(void)
{
    const char *path = getenv("NOTIFY_SOCKET");
    const char *pid = getenv("WATCHDOG_PID");
    size_t len;

    if (st.fd >= 0)
        close(st.fd);
    memset(&st, 0, sizeof(st));
    st.fd = -1;
    st.inited = true;
    st.last_ping_ms = INT64_MIN;

    st.watchdog_usec = parse_usec(getenv("WATCHDOG_USEC"));
    /* WATCHDOG_PID names the process the watchdog is for; absent means us */
    if (st.watchdog_usec && pid && *pid && parse_usec(pid) != (uint64_t)getpid())
        st.watchdog_usec = 0;

    if (!path || (path[0] != '/' && path[0] != '@'))
        return; /* unset, or a form (vsock) this service does not speak */
    len = strlen(path);
    if (len < 2 || len > sizeof(st.addr.sun_path))
        return;
    st.addr.sun_family = AF_UNIX;
    memcpy(st.addr.sun_path, path, len);
    if (path[0] == '@')
        st.addr.sun_path[0] = '\0'; /* abstract namespace: no NUL terminator counted */
    st.addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len +
                              (path[0] == '/' && len < sizeof(st.addr.sun_path) ? 1 : 0));
    st.fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
}

static void ensure_init(void)
{
    if (!st.inited)
        aac_notify_init();
}

bool aac_notify_enabled(void)
{
    ensure_init();
    return st.fd >= 0;
}

uint64_t aac_notify_watchdog_usec(void)
{
    ensure_init();
    return st.watchdog_usec;
}

int aac_notify_send(const char *state)
{
    ensure_init();
    if (st.fd < 0)
        return 0;
    ssize_t n;
    do
        n = sendto(st.fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&st.addr,
                   st.addr_len);
    while (n < 0 && errno == EINTR);
    return n < 0 ? -1 : 0;
}

int64_t aac_notify_ping_interval_ms(void)
{
    ensure_init();
    if (st.fd < 0)
        return 0;
    if (st.watchdog_usec) {
        int64_t ms = (int64_t)(st.watchdog_usec / 2000);
        return ms > 0 ? ms : 1;
    }
    return st.ready_sent ? 0 : START_PING_MS;
}

void aac_notify_ready(const char *status)
{
    char buf[256];

    ensure_init();
    if (st.ready_sent)
        return;
    st.ready_sent = true;
    snprintf(buf, sizeof(buf), "READY=1\nSTATUS=%s", status ? status : "ready");
    aac_notify_send(buf);
}

void aac_notify_alive(int64_t now_ms)
{
    char buf[96];
    int64_t every = aac_notify_ping_interval_ms();

    if (every <= 0)
        return;
    if (st.last_ping_ms != INT64_MIN && now_ms - st.last_ping_ms < every)
        return;
    st.last_ping_ms = now_ms;
    if (st.ready_sent)
        aac_notify_send("WATCHDOG=1");
    else if (st.watchdog_usec) {
        snprintf(buf, sizeof(buf), "WATCHDOG=1\nEXTEND_TIMEOUT_USEC=%llu",
                 (unsigned long long)every * 2000);
        aac_notify_send(buf);
    } else {
        snprintf(buf, sizeof(buf), "EXTEND_TIMEOUT_USEC=%llu", (unsigned long long)every * 2000);
        aac_notify_send(buf);
    }
}

void aac_notify_stopping(const char *status)
{
    char buf[256];

    ensure_init();
    if (st.stopping_sent)
        return;
    st.stopping_sent = true;
    snprintf(buf, sizeof(buf), "STOPPING=1\nSTATUS=%s", status ? status : "stopping");
    aac_notify_send(buf);
}
