/*
 * partitions: the monthly partitions of agent_actions, ahead and behind.
 *
 * agent_actions has one partition per UTC month (agent_actions_pYYYYMM)
 * plus a DEFAULT partition for months that have none (docs/schema.md). This
 * module creates the coming months ahead of time through the SQL function
 * aac_ensure_partitions() and drops months past the retention age through
 * aac_drop_partitions_older_than(); the functions themselves live in
 * migration 0001.
 *
 * Each function opens its own short connection (aac_pgconn_open, purpose
 * "partitions") and closes it, so a caller's connection is never held in a
 * transaction that locks agent_actions. Sessions run with no statement
 * timeout (moving rows out of the default partition may take a while) but
 * keep postgres.lock_timeout_ms. Not thread-safe with respect to the
 * configuration only in that `cfg` must not change during the call.
 */
#ifndef AAC_PARTITIONS_H
#define AAC_PARTITIONS_H

#include <stddef.h>
#include <stdio.h>

#include "aac/config.h"
#include "aac/pgconn.h"

/* Makes sure the monthly partitions of the current UTC month and the
 * `months_ahead` months after it exist (the service calls it at start and
 * then every partitions.upkeep_interval_s, upkeep.h). Each month is created in
 * its own transaction under a transaction-level advisory lock, so several
 * instances may call it at once. Rows of a new month already sitting in
 * the default partition are moved into it. Logs one info line per
 * partition created.
 * Returns the number of partitions created (0 when all existed), or -1 with
 * the reason in errstr. `intr` (NULL: none) interrupts it from another
 * thread (pgconn.h). Failing is not fatal for ingestion: rows of a month
 * without a partition land in agent_actions_default. */
int aac_partitions_ensure(const aac_config_t *cfg, int months_ahead, aac_pgconn_interrupt_t *intr,
                          char *errstr, size_t errstr_size) __attribute__((warn_unused_result));

/* How many rows sit in agent_actions_default (rows of a month with no
 * partition), counted up to `cap`. Returns the count, or -1 with errstr. */
long long aac_partitions_default_rows(const aac_config_t *cfg, long long cap,
                                      aac_pgconn_interrupt_t *intr, char *errstr,
                                      size_t errstr_size) __attribute__((warn_unused_result));

/* `agent-actions-consumer partitions ensure|drop|list ...`: argv[0] is
 * "partitions". Returns the process exit status (0 ok, 1 failure, 2
 * usage). */
int aac_partitions_main(const aac_config_t *cfg, int argc, char **argv);

#endif
