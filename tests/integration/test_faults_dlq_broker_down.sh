#!/usr/bin/env bash
# Fault: the broker leading the dead-letter topic goes down for 35 s while
# invalid (poison) messages arrive. The source partitions and the group's
# coordinator are moved to the other brokers first, so only dead-letter
# writes fail. 35 s is longer than the dead-letter producer's
# message.timeout.ms (30 s): a dead letter fails for good and is sent again.
#
# Checks: while the broker is down the consumer stays alive and nothing is
# committed past any poison message (consumer_offsets.next_offset <= its
# offset on its partition); no valid event is dead-lettered; after
# broker-up every poison message is on the dead-letter topic exactly once
# (headers right, original bytes) and every valid event is stored exactly
# once; the metrics agree, and count the deliveries that failed.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/faults_lib.sh"
fresh_db
migrate_up
make_topics 4

leader_of() {
  kcat -b "$AAC_TEST_BOOTSTRAP" -L -t "$1" -J 2>/dev/null |
    /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["topics"][0]["partitions"][int(sys.argv[1])]["leader"])' "$2"
}
dl=$(leader_of "$TOPIC.dlq" 0)
others=()
for b in 1 2 3; do [ "$b" = "$dl" ] || others+=("$b"); done
for p in 0 1 2 3; do
  broker_ctl partition-leader "$TOPIC" "$p" "${others[$((p % 2))]}" >/dev/null
done
broker_ctl coordinator group "$GROUP" "${others[0]}" >/dev/null
for p in 0 1 2 3; do
  wait_for "${others[$((p % 2))]}" 10 leader_of "$TOPIC" "$p"
done
echo "dead-letter topic led by broker $dl, source partitions by ${others[*]}"

gen=$AAC_SRC/tests/integration/gen_events.py
python3 "$gen" --count 1000 --ids "$TEST_DIR/ids" >"$TEST_DIR/before"
python3 "$gen" --count 1000 --start 1000 --invalid-every 100 --ids "$TEST_DIR/ids" >"$TEST_DIR/during"
produce "$TEST_DIR/before"
# backoff capped so that recovery after the outage is quick; max_attempts
# stays at its default: an unreachable dead-letter topic must not exhaust it
start_consumer_http c1 AAC_RETRY_MAX_BACKOFF_MS=5000
wait_rows 1000 60

# --- the dead-letter topic's broker goes down --------------------------------------
on_exit broker_ctl broker-up "$dl"
broker_ctl broker-down "$dl" >/dev/null
t0=$(date +%s)
produce "$TEST_DIR/during"
source_invalid "$TEST_DIR/invalid"
assert_eq "$(wc -l <"$TEST_DIR/invalid")" 10 "poison messages on the source topic"
# nothing committed past a poison message: checked every 2 s of the outage
checks=0
while [ $(($(date +%s) - t0)) -lt 35 ]; do
  alive c1
  while read -r p o; do
    next=$(sql "SELECT coalesce(max(next_offset), 0) FROM consumer_offsets
                WHERE consumer_group = '$GROUP' AND topic = '$TOPIC' AND kafka_partition = $p")
    [ "$next" -le "$o" ] || fail "offset $next committed on partition $p past poison message $o while the dead-letter topic was down"
  done <"$TEST_DIR/invalid"
  checks=$((checks + 1))
  sleep 2
done
# never a silent wait for the dead letters: each pass gives up after a bound
# with a warning, and the batch is retried, saying why
grep -q 'msg="dead letters not confirmed"' "$TEST_DIR/c1.log" ||
  fail "no \"dead letters not confirmed\" line while the dead-letter topic was down"
grep 'msg="batch not written, retrying"' "$TEST_DIR/c1.log" | grep -q 'reason=dead_letter_unavailable' ||
  fail "no retry for reason dead_letter_unavailable while the dead-letter topic was down"
during_rows=$(rows)
metrics 'aac_dead_letters_total{reason="missing_field"}==0' \
  'aac_dead_letters_total{reason="retries_exhausted"}==0' 'aac_up==1' ||
  fail "/metrics while the dead-letter topic was down"
echo "after 35 s down: $during_rows rows, offsets checked $checks times"

# --- back ----------------------------------------------------------------------------
broker_ctl broker-up "$dl" >/dev/null
t1=$(date +%s)
wait_rows 1990 90
echo "all rows $(($(date +%s) - t1)) s after broker-up"
wait_for 10 30 topic_count "$TOPIC.dlq"
sleep 2 # a duplicate dead letter would show up now
alive c1
check_exactly_once "$TEST_DIR/ids"
check_dead_letters "$TEST_DIR/invalid" missing_field
# the dead letters that timed out while the broker was down (30 s
# message.timeout.ms within 35 s down) were counted
metrics --wait 10 'aac_events_written_total==1990' \
  'aac_dead_letters_total{reason="missing_field"}==10' \
  'aac_dead_letter_delivery_failures_total>=1' \
  'aac_dead_letters_total{reason="retries_exhausted"}==0' || fail "/metrics after broker-up"
wait_for 2000 30 sql "SELECT coalesce(sum(next_offset), 0) FROM consumer_offsets WHERE consumer_group = '$GROUP' AND topic = '$TOPIC'"
retries=$(grep -c 'batch not written, retrying' "$TEST_DIR/c1.log" || true)
stop_consumer c1
pass "dead-letter broker down 35 s: nothing committed past poison, 10 dead letters once, 1990 rows once, $retries retries"
