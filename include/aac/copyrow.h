/*
 * copyrow: one aac_event_t as one row of PostgreSQL's COPY data, in the text
 * or the binary format, for the columns AAC_COPYROW_COLUMNS of agent_actions
 * (migrations/0001_agent_actions.up.sql) in that order.
 *
 * The encoder allocates nothing and never fails: the caller grows its buffer
 * to aac_copyrow_bound() bytes past its end, then aac_copyrow_put() writes
 * the row there and returns where it ended. The text rows are byte for byte
 * what pgsink's aac_rows_add() writes; the binary rows hold the same values
 * with the same NULLs, so a table loaded either way holds the same rows.
 *
 * One COPY command's data is aac_copyrow_header(), any number of rows sent
 * in any number of PQputCopyData() slices, then aac_copyrow_trailer(); the
 * command itself is "COPY <table> (" AAC_COPYROW_COLUMNS ") FROM STDIN"
 * followed by aac_copyrow_options(). PostgreSQL numbers the rows of each
 * command from 1 in both formats, so an error's CONTEXT ("COPY t, line N")
 * names the failing row either way.
 *
 * Pure functions of their arguments: safe from any thread.
 */
#ifndef AAC_COPYROW_H
#define AAC_COPYROW_H

#include <stddef.h>
#include <stdint.h>

#include "aac/event.h"

/* The columns aac_copyrow_put() writes, in its order. */
#define AAC_COPYROW_COLUMNS                                                                        \
    "event_id, correlation_id, session_id, agent_name, action_type, action_name, "                 \
    "action_details, duration_ms, debug_mode, project_path, project_name, working_directory, "     \
    "event_time, extra, kafka_topic, kafka_partition, kafka_offset"

/* How many columns that is: a binary row's field count. */
#define AAC_COPYROW_NCOLUMNS 17

typedef enum { AAC_COPY_TEXT, AAC_COPY_BINARY } aac_copy_format_t;

/* An upper bound of the bytes aac_copyrow_put() writes for ev with a topic
 * of topic_len bytes. Cheap (a sum of lengths): call it for every row. */
size_t aac_copyrow_bound(aac_copy_format_t f, const aac_event_t *ev, size_t topic_len);

/* Writes ev's row at o, which must have aac_copyrow_bound() bytes of room,
 * and returns the end of the row. topic (topic_len bytes, no NUL needed),
 * partition and offset fill kafka_topic, kafka_partition and kafka_offset.
 *
 * The values are written as given, not checked: ev must come from
 * aac_event_parse() (or hold what it could return) for PostgreSQL to accept
 * the row. A value the column cannot hold still makes a row that
 * PostgreSQL rejects, never one it stores differently: in binary, a
 * duration_ms outside int32 is sent as 8 bytes, which the integer column
 * refuses ("incorrect binary data format", SQLSTATE 22P03), as the text
 * format's out-of-range number is refused (22003). */
char *aac_copyrow_put(char *o, aac_copy_format_t f, const aac_event_t *ev, const char *topic,
                      size_t topic_len, int32_t partition, int64_t offset);

/* What one COPY command's data starts with: *len bytes, 0 for text; for
 * binary the signature, the flags and the header extension length (19). */
const char *aac_copyrow_header(aac_copy_format_t f, size_t *len);

/* What one COPY command's data ends with: *len bytes, 0 for text; for
 * binary the field count -1 (2). */
const char *aac_copyrow_trailer(aac_copy_format_t f, size_t *len);

/* The COPY options clause that goes after "FROM STDIN": "" for text,
 * " WITH (FORMAT binary)" for binary. */
const char *aac_copyrow_options(aac_copy_format_t f);

/* The row a failed COPY names in its error's context (PG_DIAG_CONTEXT:
 * "COPY agent_actions, line N[, column c: ...]"), counted from 1 over the
 * rows of that COPY; 0 when the context names none (NULL, another
 * statement, a number that does not parse). A jsonb error's context may
 * start with the JSON text's own "line 1": only the line after "COPY "
 * counts. */
size_t aac_copyrow_error_line(const char *context);

#endif
