/*
 * migrate: schema migrations from numbered file pairs
 * (NNNN_name.up.sql / NNNN_name.down.sql) in the migrations directory.
 *
 * schema_migrations records version, name, checksum (SHA-256 of the up
 * file) and applied_at. Each migration runs in its own transaction; a
 * session advisory lock serialises concurrent `migrate up` runs; a migration
 * whose file changed after it was applied is refused.
 */
#ifndef AAC_MIGRATE_H
#define AAC_MIGRATE_H

#include <stddef.h>
#include <stdio.h>

#include "aac/config.h"

/* Applies up to `steps` pending migrations (0: all). Progress lines go to
 * `out`. Returns 0, or -1 with the reason in errstr. */
int aac_migrate_up(const aac_config_t *cfg, int steps, FILE *out, char *errstr, size_t errstr_size);

/* Reverts the last `steps` applied migrations (0 means 1). */
int aac_migrate_down(const aac_config_t *cfg, int steps, FILE *out, char *errstr,
                     size_t errstr_size);

/* Prints one line per migration: version, name, applied or pending, and
 * "changed" when the file no longer matches its recorded checksum. */
int aac_migrate_status(const aac_config_t *cfg, FILE *out, char *errstr, size_t errstr_size);

/* The migrations directory used when postgres.migrations_dir is empty:
 * DIR/../share/agent-actions-consumer/migrations where DIR holds the
 * running binary (/usr/bin → /usr/share/...), so an installed binary reads
 * what was installed with it, whatever the prefix or DESTDIR; a binary run
 * from its build tree reads the source tree's migrations/. Writes the path
 * to buf; returns 0, or -1 when /proc/self/exe cannot be read (buf then
 * holds /usr/share/agent-actions-consumer/migrations). */
int aac_migrate_default_dir(char *buf, size_t size);

/* `run --migrate`: applies every pending migration before consuming,
 * waiting out an unreachable PostgreSQL for as long as it takes (backoff
 * from the retry section; pings that extend systemd's start timeout, see
 * notify.h; SIGTERM meanwhile ends the process with its default action,
 * and each migration is one transaction). Logs through the log module.
 * Returns an exit status: 0 applied (or nothing to apply); 1 another
 * transient failure (a lock timeout...) still there after
 * retry.max_attempts tries; 2 the migrations directory cannot be read; 3
 * a failure that waiting cannot fix (wrong credentials, no such database,
 * a failing or changed migration), logged as every status-3 stop of `run`
 * is: msg="fatal error, stopping" with error= and action=. */
int aac_migrate_up_wait(const aac_config_t *cfg);

/* `agent-actions-consumer migrate up [N] | down [N] | status`: argv[0] is
 * "migrate". Returns the process exit status (0 ok, 1 failure, 2 usage). */
int aac_migrate_main(const aac_config_t *cfg, int argc, char **argv);

#endif
