#!/usr/bin/env bash
# Offsets lost to retention are reported, never skipped silently: the
# consumer stores 2,000 events and stops; the broker then receives far more
# than it keeps (the development broker drops a partition's oldest data
# beyond ~5 MB, as retention would), so the stored offset no longer exists.
# Restarted, the consumer warns with partition, expected and actual offsets
# and the exact gap, and stores everything still available.
source "$(dirname "$0")/lib.sh"
fresh_db
migrate_up
make_topics 1
gen=$AAC_SRC/tests/integration/gen_events.py

python3 "$gen" --count 2000 >"$TEST_DIR/first"
produce "$TEST_DIR/first"
start_consumer c1
wait_rows 2000 60
stop_consumer c1

python3 "$gen" --count 16000 --start 2000 >"$TEST_DIR/second"
produce "$TEST_DIR/second"
low=$(kcat -b "$AAC_TEST_BOOTSTRAP" -C -t "$TOPIC" -o beginning -c 1 -e -q -f '%o' 2>/dev/null)
[ "$low" -gt 2000 ] || fail "the broker kept everything (low watermark $low); produce more"

start_consumer c2
wait_rows $((2000 + 18000 - low)) 120
sleep 1
grep -q "msg=\"offsets lost to retention before they were consumed\" topic=$TOPIC partition=0 expected_offset=2000 actual_offset=$low gap=$((low - 2000))" \
  "$TEST_DIR/c2.log" || fail "no retention warning with the exact gap: $(grep -i retention "$TEST_DIR/c2.log")"
assert_eq "$(sql "SELECT min(kafka_offset) FROM agent_actions WHERE kafka_offset >= 2000")" "$low" "first offset after the gap"
assert_eq "$(rows)" $((2000 + 18000 - low)) "rows"
stop_consumer c2
pass "gap of $((low - 2000)) offsets reported"
