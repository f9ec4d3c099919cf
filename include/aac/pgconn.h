/*
 * pgconn: opening a PostgreSQL connection from the configuration.
 *
 * Keys left empty fall through to libpq's own defaults and environment
 * (PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE, PGSSLMODE, ...). The
 * password comes from postgres.password, else postgres.password_file, else
 * libpq (PGPASSWORD, ~/.pgpass). The connection string is never logged.
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

/* Copies a result's SQLSTATE into sqlstate[6] ("" when there is none) and
 * its primary message, one line, into errstr. */
void aac_pgconn_result_error(const PGresult *res, const PGconn *conn, char sqlstate[6],
                             char *errstr, size_t errstr_size);

#endif
