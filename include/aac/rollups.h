/*
 * rollups: the `rollups` command (rebuild, check, prune) and the
 * retention the service's upkeep applies.
 *
 * The rollups are kept by the service in each batch's transaction
 * (rollup.h); rows inserted or deleted by hand, or written while
 * rollups.enabled was false, bypass them: `rollups rebuild` makes the
 * rollups of a window again from the raw rows, one transaction per step
 * (migration 0003's aac_rollups_rebuild(), which locks the rollups first:
 * safe while the service writes), and `rollups check` compares them with
 * the raw rows in one snapshot and exits 1 naming the keys that differ.
 * Each command opens its own connection (aac_pgconn_open, purpose
 * "rollups"), with no statement timeout and the configured lock timeout.
 */
#ifndef AAC_ROLLUPS_H
#define AAC_ROLLUPS_H

#include <stddef.h>

#include "aac/config.h"
#include "aac/pgconn.h"

/* `agent-actions-consumer rollups rebuild|check|prune ...`: argv[0] is
 * "rollups". Returns the exit status (0 ok, 1 failure or a difference
 * found, 2 usage). */
int aac_rollups_main(const aac_config_t *cfg, int argc, char **argv);

/* Deletes the rollup hours (and the hourly dead-letter and ingest counts)
 * older than the current UTC month and the `months` before it. Returns the
 * rows deleted, or -1 with errstr. `intr` (NULL: none): see pgconn.h. */
long long aac_rollups_prune(const aac_config_t *cfg, int months, aac_pgconn_interrupt_t *intr,
                            char *errstr, size_t errstr_size) __attribute__((warn_unused_result));

#endif
