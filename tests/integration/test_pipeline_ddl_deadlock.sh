#!/usr/bin/env bash
# DDL queued at the wrong moment (issue 19, item 4). Two writers: batch 1's
# COPY waits for a row another session is inserting with the same key;
# batch 2 is staged (its rows copied, the transaction open) and waits for
# batch 1 to commit. Partition upkeep then asks for agent_actions (SHARE ROW
# EXCLUSIVE: it waits for batch 2's lock). The other session commits:
# batch 1 meets the duplicate and starts again through the staging table,
# which asks for agent_actions behind the DDL. Batch 1 waits for the DDL,
# the DDL for batch 2, batch 2 for batch 1. With batch 2's wait inside the
# service, PostgreSQL saw no circle and, with lock_timeout and
# statement_timeout off, the three waited for ever. Batch 2 now waits for
# batch 1's turn inside PostgreSQL: the deadlock detector breaks the circle
# within deadlock_timeout, and every event is stored once.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/faults_lib.sh"
fresh_db
migrate_up
make_topics 1
gen=$AAC_SRC/tests/integration/gen_events.py
sql "SELECT count(*) FROM aac_ensure_partitions('2030-01-01', 2)" >/dev/null
python3 "$gen" --count 20 --month 2030-01 --ids "$TEST_DIR/ids" >"$TEST_DIR/a"
python3 "$gen" --count 20 --start 20 --month 2030-02 --ids "$TEST_DIR/ids" >"$TEST_DIR/b"
read -r eid ts < <(head -n 1 "$TEST_DIR/a" | cut -f2 |
  python3 -c 'import json, sys; e = json.load(sys.stdin); print(e["event_id"], e["timestamp"])')

activity() {
  sql "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND $1"
}
copy_waits_for_row() { activity "application_name LIKE '%/sink' AND wait_event = 'transactionid'"; }
batch2_waits() {
  activity "application_name LIKE '%/sink' AND (state = 'idle in transaction' OR wait_event = 'advisory')"
}
ddl_waits() { activity "application_name = 'aac-ddl' AND wait_event_type = 'Lock'"; }

start_consumer c1 AAC_BATCH_WRITERS=2 AAC_POSTGRES_LOCK_TIMEOUT_MS=0 \
  AAC_POSTGRES_STATEMENT_TIMEOUT_MS=0 AAC_RETRY_JITTER=false AAC_RETRY_INITIAL_BACKOFF_MS=200
wait_for 1 60 grep -c 'msg="partitions assigned"' "$TEST_DIR/c1.log"

# another session inserts batch 1's first key, and commits when told
mkfifo "$TEST_DIR/other.in"
PGAPPNAME=aac-other psql -qX -v ON_ERROR_STOP=1 <"$TEST_DIR/other.in" >"$TEST_DIR/other.log" 2>&1 &
TEST_PIDS+=($!)
exec 3>"$TEST_DIR/other.in"
cat >&3 <<SQL
BEGIN;
INSERT INTO agent_actions (event_id, correlation_id, agent_name, action_type, action_name,
                           event_time, kafka_topic, kafka_partition, kafka_offset)
VALUES ('$eid', '$eid', 'other', 'success', 'other', '$ts', 'other', 0, 0);
SQL
wait_for 1 10 activity "application_name = 'aac-other' AND state = 'idle in transaction'"

produce "$TEST_DIR/a"
wait_for 1 30 copy_waits_for_row
produce "$TEST_DIR/b"
wait_for 1 30 batch2_waits

# partition upkeep for a month to come (what another instance does at a
# month's turn), with no lock timeout either
PGAPPNAME=aac-ddl psql -qX -v ON_ERROR_STOP=1 -c "SET lock_timeout = 0" \
  -c "SELECT count(*) FROM aac_ensure_partitions('2031-01-01', 1)" >"$TEST_DIR/ddl.log" 2>&1 &
ddl=$!
TEST_PIDS+=($ddl)
wait_for 1 10 ddl_waits

echo "COMMIT;" >&3
exec 3>&-

wait_rows 40 30
wait_for 40 30 sql "SELECT coalesce(sum(next_offset), 0) FROM consumer_offsets WHERE consumer_group = '$GROUP'"
ddl_rc=0
wait "$ddl" || ddl_rc=$?
check_exactly_once "$TEST_DIR/ids"
assert_eq "$(sql "SELECT agent_name FROM agent_actions WHERE event_id = '$eid'")" other \
  "the key the other session inserted"
# PostgreSQL either aborts one of the three (40P01) or, seeing that batch
# 1's request waits only behind the DDL's in the queue, grants it first
if [ "$ddl_rc" = 0 ]; then
  outcome="the DDL went through"
  grep -q '40P01' "$TEST_DIR/c1.log" && outcome="$outcome, a writer was the deadlock's victim"
else
  grep -q 'deadlock detected' "$TEST_DIR/ddl.log" || fail "the DDL failed otherwise: $(cat "$TEST_DIR/ddl.log")"
  outcome="the DDL was the deadlock's victim"
fi
stop_consumer c1
pass "DDL queued between two writers: PostgreSQL broke the circle ($outcome), 40 events stored once"
