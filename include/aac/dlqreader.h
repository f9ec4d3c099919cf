/*
 * dlqreader: one pass over the dead-letter topic for the `dlq` commands:
 * every partition from its low watermark to the high watermark read when
 * the pass starts, and no further.
 *
 * The reader is a consumer that never joins its group (no subscribe): it
 * lists the cluster's topics (all of them: asking for one by name may
 * auto-create it), reads each partition's watermarks and assigns the
 * non-empty ones from their beginning. A partition is done at its end or
 * once its last message before the high watermark is read, so messages
 * dead-lettered during the pass (a replayed message failing again, say)
 * are left for the next one. The pass fails when nothing arrives for
 * 30 s, when the topic goes away, or on a fatal error.
 *
 * Its group is where `dlq replay` keeps its record (dlqrecord.h):
 * _committed() and _commit() read and write that group's offsets and
 * their metadata; the reader itself commits nothing. Single-threaded.
 */
#ifndef AAC_DLQREADER_H
#define AAC_DLQREADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

#include "aac/config.h"

typedef struct aac_dlqreader_s aac_dlqreader_t;

/* Creates the reader of `topic` (borrowed: it must outlive the reader) in
 * consumer group `group` (NULL: a fixed name of the tool's; inspect
 * commits nothing). Nothing is read or assigned yet. Returns NULL with
 * the reason in errstr. */
aac_dlqreader_t *aac_dlqreader_new(const aac_config_t *cfg, const char *topic, const char *group,
                                   char *errstr, size_t errstr_size);
void aac_dlqreader_destroy(aac_dlqreader_t *rd); /* NULL-safe; closes the consumer */

/* Lists the topics, reads the watermarks of the topic's partitions and
 * assigns the non-empty ones. Returns 0, or -1 with errstr (the topic is
 * missing, has no partitions or more than 4096, Kafka unreachable). */
int aac_dlqreader_assign(aac_dlqreader_t *rd, char *errstr, size_t errstr_size);

/* After _assign(): the topic's partitions; where partition p starts
 * (its low watermark, an array of _partitions()); how many messages the
 * pass covers. */
int32_t aac_dlqreader_partitions(const aac_dlqreader_t *rd);
const int64_t *aac_dlqreader_starts(const aac_dlqreader_t *rd);
int64_t aac_dlqreader_total(const aac_dlqreader_t *rd);

/* True when `topic` was in the listing _assign() read. */
bool aac_dlqreader_topic_exists(const aac_dlqreader_t *rd, const char *topic);

/* True when every partition is read to where the pass ends. */
bool aac_dlqreader_done(const aac_dlqreader_t *rd);

/* Waits up to timeout_ms for the next message of the pass. Returns 1 when
 * something arrived: *rkm is then a message to handle (the caller destroys
 * it), or NULL (a partition's end, a passing error logged, a message past
 * the pass); 0 when nothing arrived; -1 with errstr when the pass cannot
 * go on. */
int aac_dlqreader_next(aac_dlqreader_t *rd, int timeout_ms, rd_kafka_message_t **rkm, char *errstr,
                       size_t errstr_size);

/* The group's committed offsets (and their metadata) of the partitions in
 * `l`, as rd_kafka_committed(); _commit() commits `l` synchronously, as
 * rd_kafka_commit(). */
rd_kafka_resp_err_t aac_dlqreader_committed(aac_dlqreader_t *rd,
                                            rd_kafka_topic_partition_list_t *l);
rd_kafka_resp_err_t aac_dlqreader_commit(aac_dlqreader_t *rd,
                                         const rd_kafka_topic_partition_list_t *l);

#endif
