#!/usr/bin/env bash
# A batch fenced because its partition's consumer_offsets row was deleted
# (issue 11, item 2), while the loop was backing off from a failed write
# (partitions paused). The batch is dropped, the stored offset re-read
# comes back empty, and the partition must be sought back to the dropped
# batch's first offset: librdkafka's position is already past it, and a
# resume would go on from there, so the event was never written and
# nothing reported it. Checks: every event once, and fetching started
# again exactly there (no earlier event read again).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/faults_lib.sh"
fresh_db
migrate_up
make_topics 1

gen=$AAC_SRC/tests/integration/gen_events.py
python3 "$gen" --count 500 --ids "$TEST_DIR/ids" >"$TEST_DIR/first"
python3 "$gen" --count 1 --start 500 --ids "$TEST_DIR/ids" >"$TEST_DIR/second"
python3 "$gen" --count 100 --start 501 --ids "$TEST_DIR/ids" >"$TEST_DIR/third"
produce "$TEST_DIR/first"
start_consumer c1 AAC_LOG_LEVEL=debug AAC_POSTGRES_LOCK_TIMEOUT_MS=500 AAC_RETRY_JITTER=false \
  AAC_RETRY_INITIAL_BACKOFF_MS=300
wait_rows 500 60
wait_for 500 30 sql "SELECT coalesce(sum(next_offset), 0) FROM consumer_offsets WHERE consumer_group = '$GROUP'"

# the next write fails on a lock: the loop pauses and backs off
lock_table agent_actions
produce "$TEST_DIR/second"
retrying() { grep -c 'msg="batch not written, retrying"' "$TEST_DIR/c1.log" || true; }
wait_for 1 30 retrying

# meanwhile an operator (or a script) deletes the group's offsets; the
# lock goes, and the retry meets the fence
assert_eq "$(sql "WITH d AS (DELETE FROM consumer_offsets WHERE consumer_group = '$GROUP' RETURNING 1) SELECT count(*) FROM d")" 1 "offset rows deleted"
unlock_table
wait_for 1 30 bash -c "grep -c 'msg=\"batch fenced\"' '$TEST_DIR/c1.log' | head -c 1"
sleep 1
produce "$TEST_DIR/third"
wait_rows 601 60
sleep 1
check_exactly_once "$TEST_DIR/ids"
check_rollups
assert_eq "$(sql "SELECT next_offset FROM consumer_offsets WHERE consumer_group = '$GROUP'")" 601 "stored offset"
grep -q 'duplicate event in batch' "$TEST_DIR/c1.log" &&
  fail "events before the dropped batch were read and written again"
stop_consumer c1
pass "fenced batch over a deleted offset row, while backing off, written again: 601 events once"
