/*
 * pgconn: opening a PostgreSQL connection from the configuration.
 *
 * Precedence, highest first: each postgres key that has a value (host,
 * port, dbname, user, password or password_file, sslmode, sslrootcert,
 * sslcert, sslkey, sslcrl), then what postgres.uri (or the content of
 * postgres.uri_file) says, then libpq's own environment and defaults
 * (PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE, PGSSLMODE, ~/.pgpass,
 * ...). The password comes from postgres.password, else
 * postgres.password_file, else the URI, else libpq. Secret files are read
 * again for every connection, so a rotated file applies to the next one.
 * Neither the URI nor any password is ever logged or put in an error.
 */
#ifndef AAC_PGCONN_H
#define AAC_PGCONN_H

#include <stddef.h>

#include <libpq-fe.h>

#include "aac/config.h"

/* Opens a connection with TCP keepalives and tcp_user_timeout
 * (postgres.keepalives_*, tcp_user_timeout_ms), so that no call on it waits
 * for ever on a host that stopped answering, and sets the session's
 * statement and lock timeouts and the same keepalives on the server's end.
 * On failure returns NULL, writes the reason to errstr and, when the server
 * sent one, the SQLSTATE to sqlstate[6] ("" otherwise). The caller owns
 * the connection (PQfinish). `purpose` is appended to application_name. */
PGconn *aac_pgconn_open(const aac_config_t *cfg, const char *purpose, char sqlstate[6],
                        char *errstr, size_t errstr_size);

/* Checks what aac_pgconn_open would refuse before connecting: a
 * postgres.uri (or uri_file content) that is not a connection URI libpq
 * parses. Returns 0, or -1 with "config: ..." in errstr, which never
 * quotes the URI. For start-up, so that such a mistake is a configuration
 * error (exit 2) rather than a connection failure retried for ever. */
int aac_pgconn_check(const aac_config_t *cfg, char *errstr, size_t errstr_size);

/* Copies a result's SQLSTATE into sqlstate[6] ("" when there is none) and
 * its primary message, one line, into errstr. */
void aac_pgconn_result_error(const PGresult *res, const PGconn *conn, char sqlstate[6],
                             char *errstr, size_t errstr_size);

/* An interrupt for the connections of work that has no deadline of its
 * own (the upkeep's maintenance statements wait for locks as long as
 * lock_timeout allows, for ever at 0), so that the thread that stops it
 * keeps its own deadline. The owner of the connections watches each one
 * it opens; any thread may fire: the statement in progress is cancelled
 * (57014) and every later watch fails, so the owner's next step stops. A
 * fire that meets no statement is lost: fire again until the owner is
 * done. */
typedef struct aac_pgconn_interrupt_s aac_pgconn_interrupt_t;

aac_pgconn_interrupt_t *aac_pgconn_interrupt_new(void);
void aac_pgconn_interrupt_destroy(aac_pgconn_interrupt_t *it); /* NULL-safe */

/* Watches conn, or none with NULL (before PQfinish). Returns -1, watching
 * nothing, once fired. NULL-safe in `it`. */
int aac_pgconn_interrupt_watch(aac_pgconn_interrupt_t *it, PGconn *conn);

/* Cancels what the watched connection runs, and refuses later watches. */
void aac_pgconn_interrupt_fire(aac_pgconn_interrupt_t *it);

#endif
