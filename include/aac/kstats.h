/*
 * kstats: reads librdkafka's statistics JSON (statistics.interval.ms) for
 * what the health and metrics endpoints need: the consumer lag of each
 * partition of our topics and whether any broker connection is up.
 *
 * Pure: no I/O, no shared state. The pipeline's stats callback calls it on
 * the consume thread and hands the result to aac_metrics.
 */
#ifndef AAC_KSTATS_H
#define AAC_KSTATS_H

#include <stddef.h>
#include <stdint.h>

#define AAC_KSTATS_MAX_PARTITIONS 256 /* partitions beyond are ignored */

typedef struct aac_kstats_lag_s {
    char topic[250];
    int32_t partition;
    int64_t lag; /* messages between the high watermark and the committed offset */
} aac_kstats_lag_t;

typedef struct aac_kstats_s {
    int brokers;    /* broker connections from the configuration or learned from metadata */
    int brokers_up; /* of those, in state UP */
    size_t lag_cnt; /* partitions with a known lag (librdkafka's -1 "unknown" is left out) */
    aac_kstats_lag_t lag[AAC_KSTATS_MAX_PARTITIONS];
} aac_kstats_t;

/* Parses `json` (`len` bytes, NUL-terminated or not) and fills `out` for
 * `topic`, or for every topic when it is NULL. Returns 0, or -1 with the reason in errstr when the
 * text is not a librdkafka statistics object. */
int aac_kstats_parse(const char *json, size_t len, const char *topic, aac_kstats_t *out,
                     char *errstr, size_t errstr_size) __attribute__((warn_unused_result));

#endif
