/*
 * upkeep: the database housekeeping the service does while it runs, on a
 * thread and a schedule of its own, whatever the load: the monthly
 * partitions ahead of the events (partitions.h) and the rollups' retention
 * (rollups.h) every partitions.upkeep_interval_s, and every AAC_UPKEEP_COUNT_EVERY_MS (or
 * that interval, when shorter) the number of rows that landed in agent_actions_default (a month
 * without a partition), for the metric aac_default_partition_rows.
 *
 * Before, upkeep ran on the consume thread when it was idle, so a steady
 * stream starved it: months ran out, rows went to the default partition,
 * and the upkeep that finally ran moved them under locks that stop the
 * writers. Its own thread and connections keep it off the consume
 * thread's path; a failure is logged and tried again after
 * AAC_UPKEEP_RETRY_MS.
 */
#ifndef AAC_UPKEEP_H
#define AAC_UPKEEP_H

#include "aac/config.h"
#include "aac/metrics.h"

#define AAC_UPKEEP_COUNT_EVERY_MS 60000
#define AAC_UPKEEP_RETRY_MS       60000
#define AAC_UPKEEP_COUNT_CAP      1000000 /* rows counted at most */

typedef struct aac_upkeep_s aac_upkeep_t;

/* Starts the thread. The partitions were ensured at start by the caller:
 * the first upkeep here is one interval later; the first count at once.
 * cfg and m are borrowed. NULL when the thread could not start. */
aac_upkeep_t *aac_upkeep_start(const aac_config_t *cfg, aac_metrics_t *m);

/* Stops the thread and frees it: a statement in progress is cancelled
 * (pgconn.h's interrupt), so the stop takes a cancel's round trip, not
 * the lock timeout (a connection being opened is not cancelled: up to
 * postgres.connect_timeout_s). NULL-safe. */
void aac_upkeep_stop(aac_upkeep_t *u);

#endif
