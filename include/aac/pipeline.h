/*
 * pipeline: the consume loop, from a Kafka consumer group to PostgreSQL.
 *
 * Messages are parsed and validated as they arrive and gathered into a
 * batch, which closes at batch.max_events, batch.max_bytes or
 * batch.linger_ms. A batch is written in one transaction with the next
 * offset of each of its partitions (see pgsink.h); invalid messages and
 * rows the database rejects go to the dead-letter topic, confirmed before
 * that transaction commits. On every assignment the consumer starts from
 * the offsets stored in PostgreSQL, so a restart at any moment neither
 * loses nor repeats an event. Offsets are committed to Kafka afterwards,
 * asynchronously, for lag tools only.
 *
 * While a dependency is failing, the loop pauses its partitions and keeps
 * polling, so it stays in its group whatever the backoff.
 */
#ifndef AAC_PIPELINE_H
#define AAC_PIPELINE_H

#include "aac/config.h"
#include "aac/metrics.h"

/* Exit statuses of `run`. */
#define AAC_EXIT_OK      0
#define AAC_EXIT_FAILURE 1
#define AAC_EXIT_FATAL   3 /* a FATAL dependency error: see the last log line */

/* Runs until SIGTERM or SIGINT (graceful: the current batch is written and
 * committed, the group left, within service.shutdown_timeout_ms; a second
 * signal exits at once) or a FATAL error. `metrics` is updated throughout
 * and may be read by another thread. Returns an exit status. */
int aac_pipeline_run(const aac_config_t *cfg, aac_metrics_t *metrics);

#endif
