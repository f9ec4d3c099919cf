/*
 * test_notify: the sd_notify datagrams, read from a socket of the test's
 * own (a path and an abstract name), with the clock passed in.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "aac/notify.h"

typedef struct {
    int fd;
    char path[108]; /* "" for an abstract socket */
} listener_t;

static void listen_on(listener_t *l, const char *name, bool abstract)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    socklen_t len;

    l->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    assert_true(l->fd >= 0);
    if (abstract) {
        /* sun_path[0] = 0, then the name, no terminator */
        memcpy(a.sun_path + 1, name, strlen(name));
        len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(name));
        l->path[0] = '\0';
    } else {
        snprintf(l->path, sizeof(l->path), "%s", name);
        snprintf(a.sun_path, sizeof(a.sun_path), "%s", name);
        unlink(name);
        len = sizeof(a);
    }
    assert_int_equal(bind(l->fd, (struct sockaddr *)&a, len), 0);
}

static void listener_close(listener_t *l)
{
    close(l->fd);
    if (l->path[0])
        unlink(l->path);
}

/* The next datagram, or "" when none is waiting. */
static const char *next_msg(listener_t *l)
{
    static char buf[512];
    ssize_t n = recv(l->fd, buf, sizeof(buf) - 1, 0);
    buf[n > 0 ? n : 0] = '\0';
    return buf;
}

static void set_env(const char *sock, const char *usec, const char *pid)
{
    if (sock)
        setenv("NOTIFY_SOCKET", sock, 1);
    else
        unsetenv("NOTIFY_SOCKET");
    if (usec)
        setenv("WATCHDOG_USEC", usec, 1);
    else
        unsetenv("WATCHDOG_USEC");
    if (pid)
        setenv("WATCHDOG_PID", pid, 1);
    else
        unsetenv("WATCHDOG_PID");
    aac_notify_init();
}

static void test_disabled_without_socket(void **state)
{
    (void)state;
    set_env(NULL, "1000000", NULL);
    assert_false(aac_notify_enabled());
    assert_int_equal(aac_notify_ping_interval_ms(), 0);
    assert_int_equal(aac_notify_send("READY=1"), 0);
    aac_notify_ready("x");
    aac_notify_alive(0);
    aac_notify_stopping("x");
    /* not a path nor an abstract name: ignored too */
    set_env("vsock:2:1234", NULL, NULL);
    assert_false(aac_notify_enabled());
}

static void test_path_socket_sequence(void **state)
{
    (void)state;
    char name[64];
    listener_t l;

    snprintf(name, sizeof(name), "/tmp/aac-test-notify-%d.sock", (int)getpid());
    listen_on(&l, name, false);
    set_env(name, "2000000", NULL); /* 2 s watchdog: ping every 1 s */
    assert_true(aac_notify_enabled());
    assert_int_equal(aac_notify_watchdog_usec(), 2000000);
    assert_int_equal(aac_notify_ping_interval_ms(), 1000);

    /* before READY: each ping also extends the start timeout */
    aac_notify_alive(5000);
    assert_string_equal(next_msg(&l), "WATCHDOG=1\nEXTEND_TIMEOUT_USEC=2000000");
    aac_notify_alive(5999); /* too soon: nothing */
    assert_string_equal(next_msg(&l), "");

    aac_notify_ready("consuming");
    assert_string_equal(next_msg(&l), "READY=1\nSTATUS=consuming");
    aac_notify_ready("again"); /* once only */
    assert_string_equal(next_msg(&l), "");

    aac_notify_alive(6000);
    assert_string_equal(next_msg(&l), "WATCHDOG=1");
    aac_notify_alive(6500);
    assert_string_equal(next_msg(&l), "");
    aac_notify_alive(7000);
    assert_string_equal(next_msg(&l), "WATCHDOG=1");

    aac_notify_stopping("shutting down");
    assert_string_equal(next_msg(&l), "STOPPING=1\nSTATUS=shutting down");
    aac_notify_stopping("again");
    assert_string_equal(next_msg(&l), "");
    listener_close(&l);
}

static void test_abstract_socket(void **state)
{
    (void)state;
    char name[64], env[80];
    listener_t l;

    snprintf(name, sizeof(name), "aac-test-notify-%d", (int)getpid());
    listen_on(&l, name, true);
    snprintf(env, sizeof(env), "@%s", name);
    set_env(env, NULL, NULL);
    assert_true(aac_notify_enabled());
    /* no watchdog: pings only before READY, to extend the start timeout */
    assert_int_equal(aac_notify_ping_interval_ms(), 10000);
    aac_notify_alive(0);
    assert_string_equal(next_msg(&l), "EXTEND_TIMEOUT_USEC=20000000");
    aac_notify_ready(NULL);
    assert_string_equal(next_msg(&l), "READY=1\nSTATUS=ready");
    assert_int_equal(aac_notify_ping_interval_ms(), 0);
    aac_notify_alive(60000);
    assert_string_equal(next_msg(&l), "");
    listener_close(&l);
}

static void test_watchdog_for_another_pid(void **state)
{
    (void)state;
    char pid[32];

    snprintf(pid, sizeof(pid), "%d", (int)getpid() + 1);
    set_env("@aac-test-unused", "1000000", pid);
    assert_int_equal(aac_notify_watchdog_usec(), 0);
    snprintf(pid, sizeof(pid), "%d", (int)getpid());
    set_env("@aac-test-unused", "1000000", pid);
    assert_int_equal(aac_notify_watchdog_usec(), 1000000);
    set_env("@aac-test-unused", "garbage", NULL);
    assert_int_equal(aac_notify_watchdog_usec(), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_disabled_without_socket),
        cmocka_unit_test(test_path_socket_sequence),
        cmocka_unit_test(test_abstract_socket),
        cmocka_unit_test(test_watchdog_for_another_pid),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    unsetenv("NOTIFY_SOCKET");
    aac_notify_init(); /* closes the socket */
    return rc;
}
