/*
 * rollup: what each batch adds to the analytics rollups, computed from the
 * rows it inserted, in the transaction that inserts them (pgsink.h), so the
 * rollups are never ahead of or behind the raw rows (docs/queries.md).
 *
 * Three parts:
 * - the duration histogram: AAC_HIST_BUCKETS fixed log-scale buckets
 *   (exact below 8 ms, then four per power of two), mergeable by adding
 *   counts, so a rollup equals the same histogram computed over the raw
 *   rows, bit for bit; a percentile read from it is within 12.5 % of
 *   percentile_cont over the same rows (aac_hist_percentile);
 * - a batch's groups: each distinct (agent_name, action_type,
 *   action_name, project_name) of its rows, interned as the events are
 *   added (one hash lookup per event, the strings copied once per group),
 *   so that a row carries only its group and its duration;
 * - the build, on the writer at commit time: the rows inserted, aggregated
 *   by (UTC hour, group) and by (UTC hour, action_name), and the batch's
 *   dead letters by reason, as the text parameters of one statement
 *   (aac_rollup_sql) that upserts them in one sorted order.
 *
 * The histogram and group functions are pure; an aac_rollup_t belongs to
 * one writer thread.
 */
#ifndef AAC_ROLLUP_H
#define AAC_ROLLUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "aac/event.h"

/* --- the duration histogram ---------------------------------------------- */

#define AAC_HIST_BUCKETS 120 /* 0..7 exact, then 4 per power of two up to 2^31 */

/* The bucket of a duration in ms (negative: bucket 0). */
int aac_hist_bucket(int64_t ms);

/* The smallest and largest duration of bucket b. */
void aac_hist_bounds(int b, int64_t *lo, int64_t *hi);

/* The value a bucket stands for: the middle of its bounds. */
double aac_hist_mid(int b);

/* The percentile p (0..1) of the durations counted in `counts`, as
 * PostgreSQL's percentile_cont computes it over the values (interpolated
 * between the two nearest ranks), each value read as its bucket's middle:
 * within 12.5 % of percentile_cont over the exact values. -1 when there is
 * none. The SQL function aac_hist_percentile (migration 0003) is the same
 * computation. */
double aac_hist_percentile(const uint64_t counts[AAC_HIST_BUCKETS], double p);

/* --- a batch's groups -------------------------------------------------------- */

typedef struct aac_rollup_groups_s aac_rollup_groups_t;

aac_rollup_groups_t *aac_rollup_groups_new(void);
void aac_rollup_groups_destroy(aac_rollup_groups_t *g); /* NULL-safe */
void aac_rollup_groups_reset(aac_rollup_groups_t *g);   /* keeps the buffers */

/* The group of ev (interned), or -1 when out of memory. */
int32_t aac_rollup_groups_intern(aac_rollup_groups_t *g, const aac_event_t *ev);
size_t aac_rollup_groups_count(const aac_rollup_groups_t *g);

/* --- the build ------------------------------------------------------------- */

/* One row of a batch, as the rollups see it. */
typedef struct aac_rollup_row_s {
    int32_t group;       /* aac_rollup_groups_intern() */
    int32_t duration_ms; /* -1: none */
    int64_t event_us;    /* the event's time, µs since the epoch */
} aac_rollup_row_t;

typedef struct aac_rollup_s aac_rollup_t;

aac_rollup_t *aac_rollup_new(void);
void aac_rollup_destroy(aac_rollup_t *r); /* NULL-safe */

/* Starts a build for a batch whose groups are g. */
void aac_rollup_begin(aac_rollup_t *r, const aac_rollup_groups_t *g);
/* Adds one inserted row. Returns 0, or -1 when out of memory. */
int aac_rollup_add(aac_rollup_t *r, const aac_rollup_row_t *row);
/* Adds the batch's dead letters of one source topic and reason, and what
 * the batch consumed of a topic: messages, rows inserted, duplicates. The
 * strings must last until the build's statement ran. 0, or -1 when out of
 * memory. */
int aac_rollup_dead_letters(aac_rollup_t *r, const char *topic, const char *reason, uint64_t n);
int aac_rollup_consumed(aac_rollup_t *r, const char *topic, uint64_t messages, uint64_t inserted,
                        uint64_t duplicates);

/* Formats the build as the parameters of aac_rollup_sql(): the counts'
 * AAC_ROLLUP_COUNT_PARAMS, then, with `analytics`, the rollups'
 * (AAC_ROLLUP_PARAMS in all), as text valid until the next begin. Returns
 * how many, or -1 when out of memory. */
#define AAC_ROLLUP_COUNT_PARAMS 7
#define AAC_ROLLUP_PARAMS       25
int aac_rollup_params(aac_rollup_t *r, const char **params, bool analytics);

/* Rows the build upserts (rollup keys, histogram rows). */
size_t aac_rollup_keys(const aac_rollup_t *r);

/* The data-modifying WITH clauses that upsert the build, for a statement
 * that goes on with the offsets' fence (pgsink.c), its parameters numbered
 * from $first (AAC_ROLLUP_PARAMS of them), each upsert in the order of its
 * key: "name AS (INSERT ...), " pieces, the analytics rollups only when
 * `analytics` (rollups.enabled), the dead letters and what was consumed
 * always. Written into buf (NUL-terminated); returns its length, or -1
 * when size is too small. */
int aac_rollup_sql(char *buf, size_t size, int first, bool analytics);
#define AAC_ROLLUP_SQL_MAX 16384

#endif
