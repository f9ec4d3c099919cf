#!/usr/bin/env bash
# The same events in two partitions, as a producer that resends without a
# key makes them (issue 11, item 9). Two transactions inserting the same
# keys in opposite orders wait for each other, and PostgreSQL breaks the
# deadlock (SQLSTATE 40P01) by failing one: a retry per such batch. A
# batch is written by one writer whole, and a batch sharing a key with an
# earlier one in flight is written only once that one is through: no
# deadlock, no retry, every event once.
source "$(dirname "$0")/lib.sh"
fresh_db
migrate_up
make_topics 2

gen=$AAC_SRC/tests/integration/gen_events.py
python3 "$gen" --count 2000 --ids "$TEST_DIR/ids" | cut -f2 >"$TEST_DIR/events"
tac "$TEST_DIR/events" >"$TEST_DIR/reversed"
kcat -b "$AAC_TEST_BOOTSTRAP" -P -t "$TOPIC" -p 0 -z none -l "$TEST_DIR/events" || fail "produce p0"
kcat -b "$AAC_TEST_BOOTSTRAP" -P -t "$TOPIC" -p 1 -z none -l "$TEST_DIR/reversed" || fail "produce p1"
check_topic_complete "$TOPIC" 4000

# batches of 250: consecutive ones often share keys, in opposite orders
start_consumer c1 AAC_LOG_LEVEL=debug AAC_BATCH_MAX_EVENTS=250 AAC_BATCH_WRITERS=2
wait_rows 2000 60
wait_for 4000 30 sql "SELECT coalesce(sum(next_offset), 0) FROM consumer_offsets WHERE consumer_group = '$GROUP' AND topic = '$TOPIC'"
check_exactly_once "$TEST_DIR/ids"
check_rollups
log=$TEST_DIR/c1.log
grep -q 'msg="batch committed"' "$log" || fail "no batch committed"
if grep -q '40P01\|deadlock' "$log"; then
  fail "the writers deadlocked: $(grep -m1 '40P01\|deadlock' "$log")"
fi
grep -q 'msg="batch not written' "$log" && fail "a batch was retried: $(grep -m1 'batch not written' "$log")"
shared=$(grep -c 'msg="batch committed".*shared_keys=true' "$log" || true)
stop_consumer c1
pass "2000 events in two partitions in opposite orders: once each, no deadlock, no retry ($shared batches shared keys with one in flight)"
