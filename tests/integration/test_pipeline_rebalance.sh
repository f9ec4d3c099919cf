#!/usr/bin/env bash
# Instances joining and leaving a running group mid-stream: a second and a
# third join, the second leaves cleanly, the third is killed with SIGKILL,
# a fourth joins; events keep arriving all along. Every valid event ends up
# stored exactly once. (The development broker finishes a rebalance after
# max.poll.interval.ms, hence the short timeouts.)
source "$(dirname "$0")/lib.sh"
fresh_db
migrate_up
make_topics 12

gen=$AAC_SRC/tests/integration/gen_events.py
opts=(AAC_BATCH_MAX_EVENTS=500 AAC_BATCH_LINGER_MS=20
  AAC_KAFKA_CONSUMER_PROPERTIES_SESSION_TIMEOUT_MS=6000
  AAC_KAFKA_CONSUMER_PROPERTIES_MAX_POLL_INTERVAL_MS=10000
  AAC_KAFKA_CONSUMER_PROPERTIES_HEARTBEAT_INTERVAL_MS=500)
chunk=0
produce_chunk() { # 8,000 more events
  python3 "$gen" --count 8000 --start $((chunk * 8000)) --invalid-every 500 \
    --ids "$TEST_DIR/ids" >"$TEST_DIR/chunk$chunk"
  produce "$TEST_DIR/chunk$chunk"
  chunk=$((chunk + 1))
}
assigned() { grep -c 'msg="partitions assigned"' "$TEST_DIR/$1.log" 2>/dev/null || true; }

produce_chunk
start_consumer c1 "${opts[@]}"
wait_rows_at_least() { for _ in $(seq 1 600); do [ "$(rows)" -ge "$1" ] && return 0; sleep 0.1; done; fail "rows stayed below $1"; }
wait_rows_at_least 1000
start_consumer c2 "${opts[@]}"
produce_chunk
start_consumer c3 "${opts[@]}"
wait_for 1 30 assigned c3
produce_chunk
stop_consumer c2                        # leaves the group cleanly
produce_chunk
kill -9 "$(consumer_pid c3)"            # dies holding partitions
start_consumer c4 "${opts[@]}"
produce_chunk
check_topic_complete "$TOPIC" $((chunk * 8000))
wait_rows "$(wc -l <"$TEST_DIR/ids")" 240
sleep 2
check_exactly_once "$TEST_DIR/ids"
check_rollups
assert_eq "$(sql "SELECT sum(next_offset) FROM consumer_offsets WHERE consumer_group = '$GROUP'")" \
  $((chunk * 8000)) "stored offsets cover every message"
stop_consumer c1
stop_consumer c4
pass "$(rows) events exactly once across 4 instances"
