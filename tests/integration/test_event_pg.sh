#!/usr/bin/env bash
# Proves the event contract's promise: a message that passes validation never
# causes a database error. Every valid sample (tests/data/events/valid*.jsonl
# and the valid files of the fuzz seed corpus) goes through
# `validate --normalized`, and every normalized value is cast the way the
# service stores it (::uuid, ::timestamptz, ::jsonb, text) with zero errors
# allowed. Then the edge cases the parser rejects are shown to be rejected
# by PostgreSQL too, which is what justifies each rule.
source "$(dirname "$0")/lib.sh"
fresh_db

work=$TEST_DIR
samples=$work/samples.jsonl
cat "$AAC_SRC"/tests/data/events/valid*.jsonl >"$samples"
for f in "$AAC_SRC"/tests/fuzz/corpus/*; do
  cat "$f" >>"$samples"
  echo >>"$samples"
done

# exit 1 is expected: the corpus holds invalid seeds too
"$AAC_BIN" validate --normalized "$samples" >"$work/normalized.jsonl" || [ $? -eq 1 ] ||
  fail "validate --normalized failed"
grep '"valid":true' "$work/normalized.jsonl" >"$work/valid.jsonl" || true
nvalid=$(wc -l <"$work/valid.jsonl")
[ "$nvalid" -ge 40 ] || fail "expected at least 40 valid samples, got $nvalid"

# One line per row, read verbatim: CSV with quote and delimiter bytes that
# never occur in the data.
psql -qX -v ON_ERROR_STOP=1 <<SQL || fail "a validated event did not load into PostgreSQL"
CREATE TEMP TABLE raw (line text);
\copy raw (line) FROM '$work/valid.jsonl' WITH (FORMAT csv, QUOTE E'\x01', DELIMITER E'\x02')
CREATE TABLE stored AS
SELECT (j->>'event_id')::uuid              AS event_id,
       (j->>'event_id_derived')::boolean   AS event_id_derived,
       (j->>'correlation_id')::uuid        AS correlation_id,
       (j->>'session_id')::uuid            AS session_id,
       (j->>'agent_name')::text            AS agent_name,
       (j->>'action_type')::text           AS action_type,
       (j->>'action_name')::text           AS action_name,
       (j->'action_details')::text::jsonb  AS action_details,
       (j->>'duration_ms')::integer        AS duration_ms,
       (j->>'debug_mode')::boolean         AS debug_mode,
       (j->>'project_path')::text          AS project_path,
       (j->>'project_name')::varchar(255)  AS project_name,
       (j->>'working_directory')::text     AS working_directory,
       (j->>'timestamp')::timestamptz      AS ts,
       (j->'extra')::text::jsonb           AS extra
FROM (SELECT line::jsonb AS j FROM raw) s;
SQL
loaded=$(sql "SELECT count(*) FROM stored")
assert_eq "$loaded" "$nvalid" "rows loaded"
# the stored timestamp is the normalized one, to the microsecond
bad=$(psql -qXAt -c "SET timezone = 'UTC'" -c "SELECT count(*) FROM stored WHERE to_char(ts, 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') IS NULL")
assert_eq "$bad" "0" "timestamps"

# What the parser rejects, PostgreSQL rejects too.
expect_pg_error() {
  if psql -qXAt -v ON_ERROR_STOP=1 -c "$1" >/dev/null 2>"$work/pgerr"; then
    fail "PostgreSQL accepted $1, so rejecting it is not justified"
  fi
  grep -q "$2" "$work/pgerr" || fail "unexpected PostgreSQL error for $1: $(cat "$work/pgerr")"
}
expect_pg_error "SELECT '{\"a\":\"\\ud800\"}'::jsonb" "invalid input syntax for type json"
expect_pg_error "SELECT '{\"a\":\"\\udc00\"}'::jsonb" "invalid input syntax for type json"
expect_pg_error "SELECT '{\"a\":\"\\u0000\"}'::jsonb" "unsupported Unicode escape sequence"
expect_pg_error "SELECT '{\"a\":1e131072}'::jsonb" "value overflows numeric format"
expect_pg_error "SELECT '{\"a\":1.5e-16383}'::jsonb" "value overflows numeric format"
expect_pg_error "SELECT '{\"a\":0e1073741823}'::jsonb" "value overflows numeric format"
expect_pg_error "SELECT '0000-12-31T23:00:00Z'::timestamptz" "out of range"
# ... and accepts the limits the parser accepts
sql "SELECT '{\"a\":1e131071, \"b\":1.5e-16382, \"c\":0e-16383, \"d\":1e1001}'::jsonb IS NOT NULL" >/dev/null ||
  fail "PostgreSQL rejected numbers at the limit"
# jsonb silently keeps the last of duplicate keys: why duplicate_key exists
assert_eq "$(sql "SELECT '{\"a\":1,\"a\":2}'::jsonb::text")" '{"a": 2}' "jsonb duplicate keys"

# and the parser's verdict on the same inputs
check_reject() {
  local line=$1 want=$2 got
  # validate exits 1 for an invalid line: expected here
  got=$({ printf '%s\n' "$line" | "$AAC_BIN" validate --json || true; } |
    sed -n 's/.*"reason":"\([a-z_]*\)".*/\1/p')
  assert_eq "$got" "$want" "validate on $line"
}
base='"correlation_id":"7c9e6679-7425-40de-944b-e07fc1f90ae7","agent_name":"a","action_type":"error","action_name":"b","timestamp":"2024-05-01T12:00:00Z"'
check_reject "{$base,\"action_details\":{\"a\":\"\\ud800\"}}" invalid_unicode_escape
check_reject "{$base,\"action_details\":{\"a\":\"\\udc00\"}}" invalid_unicode_escape
check_reject "{$base,\"action_details\":{\"a\":\"\\u0000\"}}" nul_character
check_reject "{$base,\"action_details\":{\"a\":1e131072}}" out_of_range
check_reject "{$base,\"action_details\":{\"a\":1.5e-16383}}" out_of_range
check_reject "{$base,\"action_details\":{\"a\":1,\"a\":2}}" duplicate_key
check_reject "{\"correlation_id\":\"7c9e6679-7425-40de-944b-e07fc1f90ae7\",\"agent_name\":\"a\",\"action_type\":\"error\",\"action_name\":\"b\",\"timestamp\":\"0001-01-01T00:00:00+01:00\"}" invalid_timestamp

pass "$nvalid validated events stored without error; rejected edge cases fail in PostgreSQL too"
