/*
 * procstat: the client libraries' process metrics from /proc (see
 * procstat.h). The definitions are theirs: prometheus_client's
 * process_collector.py and client_golang's process_collector_procfs.go
 * read the same fields of the same files, so a dashboard built for any
 * exporter reads ours alike.
 *
 * Every file is read whole into a buffer on the stack (a /proc file is
 * produced at read time, in one piece for these sizes) and parsed there;
 * /proc/self/fd is listed with getdents64 into a stack buffer, since
 * opendir() would allocate on every scrape.
 */
#define _GNU_SOURCE /* getdents64, struct dirent64 */

#include "aac/procstat.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define STAT_BUF   2048 /* /proc/self/stat: 52 fields, the name at most 64 bytes */
#define LIMITS_BUF 4096 /* /proc/self/limits: 17 lines of 80 */
#define DENTS_BUF  4096

/* The fields of /proc/PID/stat after the command name, counted from 0 (the
 * state, field 3 in proc(5)). */
enum { F_UTIME = 11, F_STIME = 12, F_STARTTIME = 19, F_VSIZE = 20, F_RSS = 21, F__LAST = F_RSS };

/* An unsigned decimal spanning [s, end) exactly, in *out. */
static int decimal(const char *s, const char *end, double *out)
{
    uint64_t v = 0;
    if (s == end || end - s > 20)
        return -1;
    for (; s < end; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        uint64_t d = (uint64_t)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = (double)v;
    return 0;
}

static bool blank(char c)
{
    return c == ' ' || c == '\t';
}

int aac_procstat_parse_stat(const char *text, const aac_procstat_sys_t *sys, aac_procstat_t *out)
{
    const char *p = strrchr(text, ')');
    double f[F__LAST + 1] = {0};
    double ticks = sys->clock_ticks > 0 ? (double)sys->clock_ticks : 100;
    double page = sys->page_size > 0 ? (double)sys->page_size : 4096;

    if (!p)
        return -1;
    p++;
    for (int i = 0; i <= F__LAST; i++) {
        while (blank(*p))
            p++;
        const char *start = p;
        while (*p && !blank(*p) && *p != '\n')
            p++;
        if (p == start)
            return -1; /* the line ends early */
        if (i == F_UTIME || i == F_STIME || i == F_STARTTIME || i == F_VSIZE || i == F_RSS) {
            if (decimal(start, p, &f[i]) != 0)
                return -1;
        }
    }
    out->cpu_seconds = (f[F_UTIME] + f[F_STIME]) / ticks;
    out->virtual_memory_bytes = f[F_VSIZE];
    out->resident_memory_bytes = f[F_RSS] * page;
    out->start_time_seconds = sys->boot_time > 0 ? sys->boot_time + f[F_STARTTIME] / ticks : 0;
    return 0;
}

/* The value after `key` at the start of a line of `text`: its first
 * token, [*start, *end). Returns 0, or -1 when no line starts with key. */
static int line_value(const char *text, const char *key, const char **start, const char **end)
{
    size_t klen = strlen(key);
    for (const char *line = text; line; line = strchr(line, '\n')) {
        if (*line == '\n')
            line++;
        if (strncmp(line, key, klen) != 0)
            continue;
        const char *p = line + klen;
        if (!blank(*p))
            continue; /* a longer name */
        while (blank(*p))
            p++;
        *start = p;
        while (*p && !blank(*p) && *p != '\n')
            p++;
        *end = p;
        return 0;
    }
    return -1;
}

int aac_procstat_parse_limits(const char *text, double *max_fds)
{
    const char *s, *e;
    if (line_value(text, "Max open files", &s, &e) != 0)
        return -1;
    if ((size_t)(e - s) == strlen("unlimited") && !strncmp(s, "unlimited", (size_t)(e - s))) {
        *max_fds = INFINITY;
        return 0;
    }
    return decimal(s, e, max_fds);
}

int aac_procstat_parse_boot_time(const char *text, double *boot_time)
{
    const char *s, *e;
    if (line_value(text, "btime", &s, &e) != 0)
        return -1;
    return decimal(s, e, boot_time);
}

/* --- reading /proc ------------------------------------------------------- */

/* Reads `path` into buf (at most size - 1 bytes, NUL-terminated).
 * Returns 0, or -1 when it cannot be opened or read. */
static int read_small(const char *path, char *buf, size_t size)
{
    size_t n = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    while (n < size - 1) {
        ssize_t r = read(fd, buf + n, size - 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            close(fd);
            return -1;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    buf[n] = '\0';
    return 0;
}

/* The entries of /proc/self/fd but "." and "..", up to
 * AAC_PROCSTAT_MAX_FDS. */
static int count_fds(double *out)
{
    _Alignas(struct dirent64) char buf[DENTS_BUF];
    size_t n = 0;
    int fd = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    while (n < AAC_PROCSTAT_MAX_FDS) {
        ssize_t r = getdents64(fd, buf, sizeof(buf));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            close(fd);
            return -1;
        }
        if (r == 0)
            break;
        for (size_t off = 0; off < (size_t)r;) {
            const struct dirent64 *d = (const struct dirent64 *)(buf + off);
            if (d->d_reclen == 0)
                break;
            if (d->d_name[0] != '.')
                n++;
            off += d->d_reclen;
        }
    }
    close(fd);
    *out = (double)(n < AAC_PROCSTAT_MAX_FDS ? n : AAC_PROCSTAT_MAX_FDS);
    return 0;
}

void aac_procstat_sys(aac_procstat_sys_t *sys)
{
    char line[256];
    bool at_start = true;
    FILE *f;

    sys->clock_ticks = sysconf(_SC_CLK_TCK);
    sys->page_size = sysconf(_SC_PAGESIZE);
    sys->boot_time = 0;
    if (!(f = fopen("/proc/stat", "re")))
        return;
    /* line by line: the interrupt counters' line may be long, and a piece
     * of it that does not begin a line is never taken for "btime" */
    while (fgets(line, sizeof(line), f)) {
        double bt;
        if (at_start && aac_procstat_parse_boot_time(line, &bt) == 0) {
            sys->boot_time = bt;
            break;
        }
        at_start = strchr(line, '\n') != NULL;
    }
    fclose(f);
}

void aac_procstat_read(const aac_procstat_sys_t *sys, aac_procstat_t *out)
{
    char buf[LIMITS_BUF > STAT_BUF ? LIMITS_BUF : STAT_BUF];

    memset(out, 0, sizeof(*out));
    out->stat_ok = read_small("/proc/self/stat", buf, STAT_BUF) == 0 &&
                   aac_procstat_parse_stat(buf, sys, out) == 0;
    out->limits_ok = read_small("/proc/self/limits", buf, LIMITS_BUF) == 0 &&
                     aac_procstat_parse_limits(buf, &out->max_fds) == 0;
    out->fds_ok = count_fds(&out->open_fds) == 0;
}
