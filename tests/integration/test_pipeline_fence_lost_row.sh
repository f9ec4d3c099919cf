#!/usr/bin/env bash
# A batch fenced because its partition's consumer_offsets row was deleted
# (issue 11, item 2): the batch is dropped, the stored offset re-read comes
# back empty, and the partition must be sought back to the dropped batch's
# first offset: librdkafka's position is already past it, and without the
# seek those events were never written and nothing reported them.
source "$(dirname "$0")/lib.sh"
fresh_db
migrate_up
make_topics 1

gen=$AAC_SRC/tests/integration/gen_events.py
python3 "$gen" --count 500 --ids "$TEST_DIR/ids" >"$TEST_DIR/first"
python3 "$gen" --count 500 --start 500 --ids "$TEST_DIR/ids" >"$TEST_DIR/second"
produce "$TEST_DIR/first"
start_consumer c1
wait_rows 500 60
wait_for 500 30 sql "SELECT coalesce(sum(next_offset), 0) FROM consumer_offsets WHERE consumer_group = '$GROUP'"

# an operator (or a script) deletes the group's offsets while it runs
assert_eq "$(sql "WITH d AS (DELETE FROM consumer_offsets WHERE consumer_group = '$GROUP' RETURNING 1) SELECT count(*) FROM d")" 1 "offset rows deleted"
produce "$TEST_DIR/second"
wait_rows 1000 60
sleep 1
check_exactly_once "$TEST_DIR/ids"
assert_eq "$(sql "SELECT next_offset FROM consumer_offsets WHERE consumer_group = '$GROUP'")" 1000 "stored offset"
grep -q 'msg="batch fenced"' "$TEST_DIR/c1.log" || fail "the batch was not fenced: $(tail -n 5 "$TEST_DIR/c1.log")"
stop_consumer c1
pass "fenced batch over a deleted offset row written again: 1000 events once"
