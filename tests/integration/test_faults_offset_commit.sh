#!/usr/bin/env bash
# Fault: every Kafka offset commit fails (OffsetCommit answered with
# REQUEST_TIMED_OUT, 1000 times over) while events are consumed, and the
# consumer is then restarted.
#
# The Kafka commit is informational: PostgreSQL holds the offsets, stored in
# the same transaction as the rows. Checks: commit failures were counted
# (aac_kafka_commit_errors_total > 0, so the fault happened); every valid
# event stored exactly once, the invalid ones dead-lettered once each; and
# the restarted consumer starts from PostgreSQL's offsets although Kafka
# has none: it consumes only the new events (consumed == 1000, duplicates
# == 0), where trusting Kafka would have read all 3,000 again.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/faults_lib.sh"
fresh_db
migrate_up
make_topics 4

gen=$AAC_SRC/tests/integration/gen_events.py
python3 "$gen" --count 3000 --invalid-every 100 --ids "$TEST_DIR/ids" >"$TEST_DIR/first"
python3 "$gen" --count 1000 --start 3000 --invalid-every 100 --ids "$TEST_DIR/ids" >"$TEST_DIR/second"

on_exit broker_ctl clear-errors OffsetCommit
broker_ctl request-error OffsetCommit REQUEST_TIMED_OUT 1000 >/dev/null
produce "$TEST_DIR/first"
start_consumer_http c1
wait_rows 2970 60
metrics --wait 15 'aac_kafka_commit_errors_total>0' 'aac_events_written_total==2970' \
  'aac_dead_letters_total{reason="missing_field"}==30' || fail "/metrics of the first consumer"
wait_for 3000 30 sql "SELECT coalesce(sum(next_offset), 0) FROM consumer_offsets WHERE consumer_group = '$GROUP' AND topic = '$TOPIC'"
stop_consumer c1

# --- restart: the offsets come from PostgreSQL -----------------------------------
produce "$TEST_DIR/second"
start_consumer_http c2
wait_rows 3960 60
sleep 2 # anything read again would show up now
check_exactly_once "$TEST_DIR/ids"
metrics --wait 10 'aac_events_consumed_total==1000' 'aac_events_duplicate_total==0' \
  'aac_events_written_total==990' 'aac_dead_letters_total{reason="missing_field"}==10' ||
  fail "/metrics of the restarted consumer: it read again what PostgreSQL had stored"
source_invalid "$TEST_DIR/invalid"
assert_eq "$(wc -l <"$TEST_DIR/invalid")" 40 "invalid messages on the source topic"
check_dead_letters "$TEST_DIR/invalid" missing_field
left=$(broker_ctl clear-errors OffsetCommit 2>&1 || true)
stop_consumer c2
pass "Kafka commits failing: 3960 rows once, 40 dead letters, restart from PostgreSQL's offsets ($left)"
