#!/usr/bin/env bash
# migrate: up/down round trip, stepping, concurrent runs, changed files,
# failing and malformed migrations, and the partition functions of 0001.
source "$(dirname "$0")/lib.sh"

mig() { "$AAC_BIN" migrate "$@"; }
migrations=$AAC_SRC/migrations
nfiles=$(find "$migrations" -name '[0-9][0-9][0-9][0-9]_*.up.sql' | wc -l)

# The only lines that legitimately differ between two dumps of the same
# schema: pg_dump (15.14 and later) brackets its output with \restrict and
# \unrestrict lines carrying a random key, new for every dump.
dump() { pg_dump --schema-only | sed -e '/^\\restrict /d' -e '/^\\unrestrict /d' >"$1"; }

# Runs a command expecting failure: sets $out and $err, checks the status.
expect_fail() {
  local want=$1; shift
  local rc=0
  "$@" >"$TEST_DIR/out" 2>"$TEST_DIR/err" || rc=$?
  out=$(cat "$TEST_DIR/out"); err=$(cat "$TEST_DIR/err")
  [ "$rc" = "$want" ] || fail "'$*' exited $rc, expected $want; stderr: $err"
  [ "$(grep -c . "$TEST_DIR/err")" -le "$(( want == 2 ? 5 : 1 ))" ] ||
    fail "'$*' printed more than one error line: $err"
}

# A copy of the real 0001 plus test-only ones, in $TEST_DIR/$1: these
# sections test the mechanism, so later real migrations must not shift
# their version lists.
mig_copy() {
  local d=$TEST_DIR/$1
  rm -rf "$d"; mkdir -p "$d"
  cp "$migrations"/0001_*.sql "$d"/
  echo "$d"
}

# ---- (1) round trip: up, dump, down all, up, dump: identical -------------
fresh_db migrate_roundtrip
status=$(mig status)
echo "$status" | grep -Eq '^0001 +agent_actions +pending$' || fail "status before up: $status"
mig up >"$TEST_DIR/up.out"
grep -q '^applied 0001_agent_actions' "$TEST_DIR/up.out" || fail "up output: $(cat "$TEST_DIR/up.out")"
assert_eq "$(sql 'SELECT count(*) FROM schema_migrations')" "$nfiles" "migrations recorded"
status=$(mig status)
echo "$status" | grep -Eq '^0001 +agent_actions +applied [0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{8} UTC$' ||
  fail "status after up: $status"
echo "$status" | grep -q 'pending\|changed' && fail "status after up: $status"
mig up | grep -q '^nothing to apply' || fail "second up did something"
dump "$TEST_DIR/a.sql"
mig down all >/dev/null
assert_eq "$(sql "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE n.nspname = 'public' AND c.relname <> 'schema_migrations'
  AND c.relname NOT LIKE 'schema_migrations_%'")" "0" "relations left after down all"
assert_eq "$(sql "SELECT count(*) FROM pg_proc WHERE proname LIKE 'aac\_%'")" "0" \
  "functions left after down all"
assert_eq "$(sql 'SELECT count(*) FROM schema_migrations')" "0" "rows left after down all"
mig down | grep -q '^nothing to revert' || fail "down with nothing applied"
mig up >/dev/null
dump "$TEST_DIR/b.sql"
diff -u "$TEST_DIR/a.sql" "$TEST_DIR/b.sql" >"$TEST_DIR/ab.diff" ||
  fail "schema after down+up differs from the first up: $(head -40 "$TEST_DIR/ab.diff")"
grep -q 'PARTITION BY RANGE (event_time)' "$TEST_DIR/a.sql" || fail "agent_actions not partitioned"
pass "round trip"

# ---- (2) stepping: up 1, down 1 -----------------------------------------
d=$(mig_copy stepping)
cat >"$d/9001_test_extra.up.sql" <<'SQL'
CREATE TABLE test_extra (id integer PRIMARY KEY);
SQL
echo 'DROP TABLE test_extra;' >"$d/9001_test_extra.down.sql"
cat >"$d/9002_test_view.up.sql" <<'SQL'
CREATE VIEW test_view AS SELECT id FROM test_extra;
SQL
echo 'DROP VIEW test_view;' >"$d/9002_test_view.down.sql"
export AAC_POSTGRES_MIGRATIONS_DIR=$d
fresh_db migrate_stepping
mig up 1 >/dev/null
versions() { sql "SELECT string_agg(version::text, ',' ORDER BY version) FROM schema_migrations"; }
assert_eq "$(versions)" "1" "after up 1"
mig up 1 >/dev/null
assert_eq "$(versions)" "1,9001" "after up 1 twice"
mig status | grep -Eq '^9002 +test_view +pending$' || fail "status: 9002 not pending"
mig up >/dev/null
assert_eq "$(versions)" "1,9001,9002" "after up"
mig down 1 | grep -q '^reverted 9002_test_view' || fail "down 1 did not revert 9002"
assert_eq "$(sql "SELECT to_regclass('test_view') IS NULL AND to_regclass('test_extra') IS NOT NULL")" "t" "down 1 objects"
mig down 1 >/dev/null
assert_eq "$(versions)" "1" "after down 1 twice"
assert_eq "$(sql "SELECT to_regclass('test_extra') IS NULL AND to_regclass('agent_actions') IS NOT NULL")" "t" "down 1 twice objects"
mig up 2 >/dev/null
mig down 2 >/dev/null
assert_eq "$(versions)" "1" "up 2, down 2"
unset AAC_POSTGRES_MIGRATIONS_DIR
pass "up N / down N"

# ---- (3) concurrent runs ----------------------------------------------------
fresh_db migrate_concurrent
pids=()
for i in 1 2 3; do
  mig up >"$TEST_DIR/conc$i.out" 2>"$TEST_DIR/conc$i.err" &
  pids+=($!); TEST_PIDS+=($!)
done
for i in 0 1 2; do
  wait "${pids[$i]}" || fail "concurrent migrate up $((i + 1)) failed: $(cat "$TEST_DIR/conc$((i + 1)).err")"
done
assert_eq "$(sql 'SELECT count(*) = count(DISTINCT version) AND count(*) = '"$nfiles"' FROM schema_migrations')" \
  "t" "each migration recorded once"
assert_eq "$(cat "$TEST_DIR"/conc*.out | grep -c '^applied 0001_agent_actions')" "1" "0001 applied by one run"
pass "concurrent up"

# ---- (4) a changed migration file ------------------------------------------
d=$(mig_copy changed)
export AAC_POSTGRES_MIGRATIONS_DIR=$d
fresh_db migrate_changed
mig up >/dev/null
echo '-- an edit after the fact' >>"$d/0001_agent_actions.up.sql"
printf 'CREATE TABLE test_after (id int);\n' >"$d/9001_after.up.sql"
printf 'DROP TABLE test_after;\n' >"$d/9001_after.down.sql"
expect_fail 1 mig up
echo "$err" | grep -q '0001_agent_actions.up.sql has changed since it was applied' ||
  fail "up on a changed file: $err"
assert_eq "$(sql "SELECT count(*) FROM schema_migrations WHERE version = 9001")" "0" "up applied nothing"
expect_fail 1 mig status
echo "$out" | grep -Eq '^0001 +agent_actions +applied .* changed$' || fail "status: $out"
echo "$out" | grep -Eq '^9001 +after +pending$' || fail "status: $out"
echo "$err" | grep -q '0001_agent_actions.up.sql has changed' || fail "status error: $err"
unset AAC_POSTGRES_MIGRATIONS_DIR
pass "changed file refused"

# ---- (5) a failing migration, malformed directories, usage ----------------
d=$(mig_copy broken)
cat >"$d/0099_broken.up.sql" <<'SQL'
CREATE TABLE broken_first (id integer);
INSERT INTO broken_first VALUES (1);

SELECT * FROM no_such_table;
SQL
echo 'DROP TABLE broken_first;' >"$d/0099_broken.down.sql"
export AAC_POSTGRES_MIGRATIONS_DIR=$d
fresh_db migrate_broken
expect_fail 1 mig up
echo "$err" | grep -q 'migration 0099_broken.up.sql failed at line 4: relation "no_such_table" does not exist (SQLSTATE 42P01)' ||
  fail "error of a failing migration: $err"
assert_eq "$(sql "SELECT to_regclass('broken_first') IS NULL")" "t" "partial state left by 0099"
assert_eq "$(versions)" "1" "recorded after failure"
# a file that commits on its own is refused and rolled back
printf 'CREATE TABLE broken_first (id integer);\nCOMMIT;\n' >"$d/0099_broken.up.sql"
expect_fail 1 mig up
echo "$err" | grep -q 'must not contain' || fail "transaction control: $err"
assert_eq "$(sql "SELECT count(*) FROM schema_migrations WHERE version = 99")" "0" "0099 recorded"

rm "$d/0099_broken.down.sql"
expect_fail 1 mig status
echo "$err" | grep -q 'migration 0099_broken .*has no down file "0099_broken.down.sql"' || fail "missing half: $err"
echo 'SELECT 1;' >"$d/0099_broken.down.sql"
printf 'SELECT 1;\n' >"$d/0099_other.up.sql"
printf 'SELECT 1;\n' >"$d/0099_other.down.sql"
expect_fail 1 mig up
echo "$err" | grep -q 'duplicate migration version 0099' || fail "duplicate: $err"
rm "$d"/0099_other.*
printf 'SELECT 1;\n' >"$d/12_short.up.sql"
expect_fail 1 mig up
echo "$err" | grep -q 'invalid migration file name "12_short.up.sql"' || fail "malformed: $err"
rm "$d/12_short.up.sql"
export AAC_POSTGRES_MIGRATIONS_DIR=$TEST_DIR/no-such-dir
expect_fail 1 mig status
echo "$err" | grep -q 'could not open migrations directory' || fail "missing dir: $err"
unset AAC_POSTGRES_MIGRATIONS_DIR
expect_fail 2 mig
expect_fail 2 mig sideways
expect_fail 2 mig up zero
expect_fail 2 mig down 0
expect_fail 2 mig status extra
mig --help | grep -q 'usage:' || fail "--help"
pass "failing and malformed migrations"

# ---- (6) partitions: default rows moved, ON CONFLICT, COPY, retention ------
fresh_db migrate_partitions
mig up >/dev/null
ins() {
  psql -qXAt -v ON_ERROR_STOP=1 -c "INSERT INTO agent_actions (event_id, correlation_id,
    agent_name, action_type, action_name, event_time, kafka_topic, kafka_partition,
    kafka_offset) VALUES ('$1', '$1', 'agent', 'tool_call', 'bash', '$2', 't', 0, 1)
    ON CONFLICT (event_id, event_time) DO NOTHING RETURNING 1" | wc -l
}
e1=6f1c4f3e-0000-4000-8000-000000000001
e2=6f1c4f3e-0000-4000-8000-000000000002
assert_eq "$(ins $e1 '2099-07-15 12:00:00+00')" "1" "first insert"
assert_eq "$(ins $e2 '2099-07-31 23:59:59.999999+00')" "1" "insert at the end of the month"
assert_eq "$(ins $e1 '2099-08-01 00:00:00+00')" "1" "insert in the next month"
assert_eq "$(sql "SELECT count(*) FROM agent_actions_default")" "3" "rows in default"
assert_eq "$(sql "SELECT string_agg(p, ',') FROM aac_ensure_partitions('2099-07-20', 1) p")" \
  "agent_actions_p209907" "partitions created"
assert_eq "$(sql "SELECT string_agg(tableoid::regclass::text || '/' || event_id, ',' ORDER BY event_time)
  FROM agent_actions WHERE event_time >= '2099-01-01'")" \
  "agent_actions_p209907/$e1,agent_actions_p209907/$e2,agent_actions_default/$e1" "rows after the move"
assert_eq "$(sql "SELECT count(*) FROM pg_indexes WHERE tablename = 'agent_actions_p209907'")" "5" \
  "indexes of the new partition"
assert_eq "$(sql "SELECT count(*) FROM aac_ensure_partitions('2099-07-01', 2)")" "1" "idempotent"
assert_eq "$(sql "SELECT count(*) FROM agent_actions_default")" "0" "default emptied"
# a redelivery is one row; the same id with another timestamp is another row
assert_eq "$(ins $e1 '2099-07-15 12:00:00+00')" "0" "redelivery inserted"
assert_eq "$(ins $e2 '2099-07-31 23:59:59.999999+00')" "0" "redelivery inserted"
assert_eq "$(sql "SELECT count(*) FROM agent_actions WHERE event_id = '$e1'")" "2" "rows of e1"
# COPY into the parent routes rows to their partitions
printf '%s\t%s\tagent\tdecision\tplan\t2099-07-02 00:00:00+00\tt\t1\t7\n' \
  6f1c4f3e-0000-4000-8000-000000000003 6f1c4f3e-0000-4000-8000-000000000003 |
  psql -qX -v ON_ERROR_STOP=1 -c "\\copy agent_actions (event_id, correlation_id, agent_name, action_type,
    action_name, event_time, kafka_topic, kafka_partition, kafka_offset) FROM STDIN"
assert_eq "$(sql "SELECT tableoid::regclass FROM agent_actions WHERE kafka_offset = 7")" \
  "agent_actions_p209907" "COPY routing"
assert_eq "$(psql -qXAt -c "INSERT INTO agent_actions (event_id, correlation_id, agent_name,
  action_type, action_name, event_time, kafka_topic, kafka_partition, kafka_offset) VALUES
  (gen_random_uuid(), gen_random_uuid(), 'a', 'launch', 'x', now(), 't', 0, 1)" 2>&1 |
  grep -c 'agent_actions_action_type_check')" "1" "action_type check"
# retention drops whole months before the cutoff, never the default
assert_eq "$(sql "SELECT string_agg(p, ',' ORDER BY p) FROM aac_drop_partitions_older_than('2099-08-01') p" |
  tr ',' '\n' | tail -n 1)" "agent_actions_p209907" "dropped partitions"
assert_eq "$(sql "SELECT count(*) FROM agent_actions")" "1" "rows after retention"
assert_eq "$(sql "SELECT to_regclass('agent_actions_default') IS NOT NULL")" "t" "default kept"
pass "partitions"
