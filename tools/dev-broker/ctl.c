/*
 * ctl: `aac-dev-broker ctl`, the client of the control socket. One command
 * per connection; no logging, its output is the broker's reply.
 */
#include "devbroker.h"

#include "aac/clock.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/*
 * `aac-dev-broker ctl SOCKET COMMAND [ARGS...]`: sends the words joined by
 * spaces as one line, prints the one-line reply. Exit status: 0 for "ok",
 * 1 for "error" (or anything else), 2 when the broker can't be reached or
 * doesn't answer.
 */
/* Joins the command's words (argv[1..]) into one line with its newline.
 * Returns its length, or 0 after saying why on stderr. */
static size_t command_line(int argc, char **argv, char *line, size_t size)
{
    size_t len = 0;
    for (int i = 1; i < argc; i++) {
        size_t alen = strlen(argv[i]);
        /* the protocol splits on blanks and ends at a newline */
        if (alen == 0 || strpbrk(argv[i], " \t\r\n")) {
            fprintf(stderr,
                    "aac-dev-broker ctl: argument %d is empty or contains a blank or line "
                    "break\n",
                    i);
            return 0;
        }
        if (len + alen + 2 > size - 1) {
            fprintf(stderr, "aac-dev-broker ctl: command longer than %d bytes\n",
                    AAC_DEVBROKER_LINE_MAX - 1);
            return 0;
        }
        if (i > 1)
            line[len++] = ' ';
        memcpy(line + len, argv[i], alen);
        len += alen;
    }
    line[len++] = '\n';
    return len;
}

/* Sends the line on fd and reads the one-line reply into reply (NUL
 * instead of its newline). Returns 0, or -1 after saying why on stderr. */
static int exchange(int fd, const char *path, const char *line, size_t len, char *reply,
                    size_t size)
{
    size_t got = 0;
    ssize_t n;
    for (size_t off = 0; off < len; off += (size_t)n) {
        n = send(fd, line + off, len - off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) {
            n = 0;
            continue;
        }
        if (n < 0) {
            fprintf(stderr, "aac-dev-broker ctl: could not send to %s: %s\n", path,
                    strerror(errno));
            return -1;
        }
    }
    /* one command per connection: EOF tells the broker we are done */
    shutdown(fd, SHUT_WR);
    int64_t deadline = aac_mono_ms() + AAC_DEVBROKER_CTL_TIMEOUT_MS;
    while (got < size - 1 && !memchr(reply, '\n', got)) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int64_t left = deadline - aac_mono_ms();
        if (left <= 0 || poll(&pfd, 1, (int)left) == 0) {
            fprintf(stderr, "aac-dev-broker ctl: no reply from %s within %d ms\n", path,
                    AAC_DEVBROKER_CTL_TIMEOUT_MS);
            return -1;
        }
        n = recv(fd, reply + got, size - 1 - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    reply[got] = '\0';
    if (!memchr(reply, '\n', got)) {
        fprintf(stderr, "aac-dev-broker ctl: no complete reply from %s\n", path);
        return -1;
    }
    *strchr(reply, '\n') = '\0';
    return 0;
}

int devbroker_ctl_main(int argc, char **argv)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    char line[AAC_DEVBROKER_LINE_MAX + 1], reply[AAC_DEVBROKER_REPLY_MAX + 1];
    size_t len;
    int fd, rc;

    if (argc < 2) {
        fprintf(stderr, "aac-dev-broker ctl: usage: aac-dev-broker ctl SOCKET COMMAND [ARGS...]\n");
        return 2;
    }
    if (strlen(argv[0]) >= sizeof(sun.sun_path)) {
        fprintf(stderr, "aac-dev-broker ctl: socket path longer than %zu bytes\n",
                sizeof(sun.sun_path) - 1);
        return 2;
    }
    memcpy(sun.sun_path, argv[0], strlen(argv[0]) + 1);
    if (!(len = command_line(argc, argv, line, sizeof(line))))
        return 2;

    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
        fprintf(stderr, "aac-dev-broker ctl: could not connect to %s: %s\n", argv[0],
                strerror(errno));
        if (fd >= 0)
            close(fd);
        return 2;
    }
    rc = exchange(fd, argv[0], line, len, reply, sizeof(reply));
    close(fd);
    if (rc < 0)
        return 2;
    printf("%s\n", reply);
    fflush(stdout);
    if (strncmp(reply, "ok", 2) == 0 && (reply[2] == ' ' || reply[2] == '\0'))
        return 0;
    return 1;
}
