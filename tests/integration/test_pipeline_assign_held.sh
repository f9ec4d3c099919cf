#!/usr/bin/env bash
# An incremental assignment while another partition still waits for its
# stored offset (issue 11, item 1). Consumer x joins while consumer_offsets
# is locked, so the partition it gets (pA) is held back, retried every 5 s.
# y leaves and the lock goes: x's next assignment (pB) reads its offset at
# once. That read must cover only pB: reading pA too looked it up in the
# new assignment, where it is not (a crash when pA has a stored offset, a
# partition paused for good when it has none). Checks: x survives, /metrics
# showed p1 paused while held, every event once, offsets complete.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/faults_lib.sh"
fresh_db
migrate_up
make_topics 2

gen=$AAC_SRC/tests/integration/gen_events.py
python3 "$gen" --count 400 --ids "$TEST_DIR/ids" >"$TEST_DIR/first"
produce "$TEST_DIR/first"
start_consumer y
wait_rows 400 60 # y stored offsets for both partitions

# consumer_offsets locked: x's reads of stored offsets fail after 3 s
lock_table consumer_offsets

start_consumer_http x AAC_POSTGRES_LOCK_TIMEOUT_MS=3000 AAC_RETRY_JITTER=false \
  AAC_RETRY_INITIAL_BACKOFF_MS=5000
held() { grep -c 'msg="could not read stored offsets, partitions held back"' "$TEST_DIR/x.log" || true; }
for _ in $(seq 1 300); do [ "$(held)" -ge 1 ] && break; sleep 0.1; done
[ "$(held)" -ge 1 ] || fail "x was never held back: $(tail -n 5 "$TEST_DIR/x.log")"
# the one partition x holds shows paused (which one is the assignor's choice)
paused_cnt() { curl -s "$METRICS_URL" | grep -c '^aac_partition_paused{topic="[^"]*",partition="[0-9]*"} 1$' || true; }
wait_for 1 5 paused_cnt
metrics 'aac_partitions_assigned==1' || fail "/metrics of x while its partition is held back"

# y leaves; the broker completes that rebalance (~5 s) while x's first retry
# waits on the lock (3 s, from 5 s after the first failure), so x applies
# its new assignment right after that retry failed: the lock goes then, and
# the assignment's read finds PostgreSQL answering, with the first partition
# still held back until the next retry, 5 s later
stop_consumer y
for _ in $(seq 1 200); do [ "$(held)" -ge 2 ] && break; sleep 0.05; done
[ "$(held)" -ge 2 ] || fail "x's retry did not fail on the lock: $(tail -n 5 "$TEST_DIR/x.log")"
unlock_table
python3 "$gen" --count 400 --start 400 --ids "$TEST_DIR/ids" >"$TEST_DIR/second"
produce "$TEST_DIR/second"
wait_rows 800 60
alive x
sleep 1
check_exactly_once "$TEST_DIR/ids"
wait_for 800 30 sql "SELECT coalesce(sum(next_offset), 0) FROM consumer_offsets WHERE consumer_group = '$GROUP' AND topic = '$TOPIC'"
metrics --wait 10 'aac_partitions_assigned==2' "aac_partition_paused{topic=\"$TOPIC\",partition=\"0\"}==0" \
  "aac_partition_paused{topic=\"$TOPIC\",partition=\"1\"}==0" || fail "/metrics of x at the end"
[ "$(grep -c 'msg="partitions assigned" count=1' "$TEST_DIR/x.log")" -ge 2 ] ||
  fail "x had no second, incremental assignment"
stop_consumer x
pass "held-back partition and an incremental assignment: 800 events once"
