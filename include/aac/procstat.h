/*
 * procstat: the process metrics every Prometheus client library exports
 * (process_cpu_seconds_total, process_virtual_memory_bytes,
 * process_resident_memory_bytes, process_start_time_seconds,
 * process_open_fds, process_max_fds), read from Linux's /proc the way the
 * Go and Python clients read them:
 *
 *   /proc/self/stat    utime + stime (field 14, 15) / clock ticks: CPU
 *                      seconds; vsize (23): virtual memory bytes; rss (24)
 *                      * page size: resident memory bytes; starttime (22) /
 *                      clock ticks + the boot time: start time
 *   /proc/stat         btime, the boot time (read once)
 *   /proc/self/fd      its entries: open descriptors (the one reading the
 *                      directory included, as the libraries count it)
 *   /proc/self/limits  "Max open files", the soft limit
 *
 * The parsers are pure (NUL-terminated text in, numbers out) and tested on
 * fixed text. aac_procstat_read() reads /proc into buffers on its stack
 * and lists /proc/self/fd with getdents64: nothing is allocated, and every
 * read is bounded. The HTTP thread calls it on every scrape of /metrics;
 * it takes no lock and shares nothing.
 */
#ifndef AAC_PROCSTAT_H
#define AAC_PROCSTAT_H

#include <stdbool.h>
#include <stddef.h>

/* Descriptors counted in /proc/self/fd at most (the kernel's default
 * fs.nr_open): a scrape stays bounded; beyond, the count stops there. */
#define AAC_PROCSTAT_MAX_FDS 1048576

/* What does not change while the process runs. */
typedef struct aac_procstat_sys_s {
    double boot_time; /* /proc/stat's btime, Unix seconds; 0: unknown */
    long clock_ticks; /* sysconf(_SC_CLK_TCK) */
    long page_size;   /* sysconf(_SC_PAGESIZE) */
} aac_procstat_sys_t;

/* One reading. A group whose file could not be read or parsed is left
 * out (its flag false), as the client libraries leave the metric out. */
typedef struct aac_procstat_s {
    bool stat_ok; /* the four below, from /proc/self/stat */
    double cpu_seconds;
    double virtual_memory_bytes;
    double resident_memory_bytes;
    double start_time_seconds; /* Unix; 0 when the boot time is unknown */
    bool fds_ok;
    double open_fds;
    bool limits_ok;
    double max_fds; /* the soft limit; +Inf for "unlimited" */
} aac_procstat_t;

/* Fills `sys`: the clock ticks and page size, and the boot time from
 * /proc/stat (0 when it cannot be read). Call once; any thread. */
void aac_procstat_sys(aac_procstat_sys_t *sys);

/* Reads the process's figures now into `out`. Any thread; no allocation. */
void aac_procstat_read(const aac_procstat_sys_t *sys, aac_procstat_t *out);

/* --- pure parsers (unit-tested) ---------------------------------------- */

/* /proc/PID/stat: sets cpu_seconds, virtual_memory_bytes,
 * resident_memory_bytes and start_time_seconds of `out` with `sys`'s
 * ticks, page size and boot time. The fields are counted from the last
 * ')' (the command name may hold spaces and parentheses). Returns 0, or -1
 * when the text is not such a line (nothing set). */
int aac_procstat_parse_stat(const char *text, const aac_procstat_sys_t *sys, aac_procstat_t *out)
    __attribute__((warn_unused_result));

/* /proc/PID/limits: the soft limit of "Max open files" in *max_fds (+Inf
 * for "unlimited"). Returns 0, or -1 when there is no such line. */
int aac_procstat_parse_limits(const char *text, double *max_fds)
    __attribute__((warn_unused_result));

/* /proc/stat (or any run of its lines): the "btime" line's value in
 * *boot_time. Returns 0, or -1 when there is no such line. */
int aac_procstat_parse_boot_time(const char *text, double *boot_time)
    __attribute__((warn_unused_result));

#endif
