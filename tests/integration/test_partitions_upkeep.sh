#!/usr/bin/env bash
# Partition upkeep runs on its own schedule whatever the load (issue 19,
# item 9). It ran on the consume thread only while nothing was open, in
# flight or waiting, so a steady stream starved it. Here a stream never lets
# the loop rest while a month ahead is missing: the upkeep (every 2 s for
# the test) creates it anyway, and the rows that land in the default
# partition show in aac_default_partition_rows.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/faults_lib.sh"
fresh_db
migrate_up
make_topics 2
gen=$AAC_SRC/tests/integration/gen_events.py
# the third month ahead (partitions.months_ahead is 3) goes missing
ahead=$(sql "SELECT 'agent_actions_p' || to_char(date_trunc('month', now() AT TIME ZONE 'UTC') + interval '3 months', 'YYYYMM')")
sql "DROP TABLE $ahead" >/dev/null
exists() { sql "SELECT to_regclass('$ahead') IS NOT NULL"; }
assert_eq "$(exists)" f "$ahead before the service"

start_consumer_http c1 AAC_PARTITIONS_UPKEEP_INTERVAL_S=2 AAC_BATCH_LINGER_MS=200
wait_for 1 60 grep -c 'msg="partitions assigned"' "$TEST_DIR/c1.log"
# the start's own upkeep has run: the partition is back; take it away
# again, then keep the loop busy
wait_for t 30 exists
sql "DROP TABLE $ahead" >/dev/null
python3 "$gen" --count 4000 --ids "$TEST_DIR/ids" >"$TEST_DIR/events"
(
  split -l 100 "$TEST_DIR/events" "$TEST_DIR/part."
  for f in "$TEST_DIR"/part.*; do
    kcat -b "$AAC_TEST_BOOTSTRAP" -P -t "$TOPIC" -K $'\t' -z none -l "$f" 2>/dev/null
    sleep 0.1
  done
) &
producer=$!
TEST_PIDS+=($producer)
wait_for t 20 exists
kill -0 "$producer" 2>/dev/null || fail "the stream ended before the partition came back: nothing tested"
wait "$producer" || true
wait_rows 4000 60
check_exactly_once "$TEST_DIR/ids"

# a row of a month with no partition (far ahead) shows in the metric
default_rows() { curl -s "$METRICS_URL" | awk '$1 == "aac_default_partition_rows" {print $2}'; }
assert_eq "$(default_rows)" 0 "aac_default_partition_rows with the default partition empty"
python3 "$gen" --count 3 --start 9000 --month 2099-05 >"$TEST_DIR/far"
produce "$TEST_DIR/far"
wait_for 3 30 default_rows
stop_consumer c1
pass "upkeep under a steady stream recreated $ahead; aac_default_partition_rows counted 3 far-future rows"
