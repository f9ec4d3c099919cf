#!/usr/bin/env bash
# A normal stream: every valid event stored once with its Kafka origin, the
# invalid ones on the dead-letter topic with their headers, a producer's
# duplicate stored once, offsets stored in PostgreSQL and the consumer
# stopping cleanly on SIGTERM.
source "$(dirname "$0")/lib.sh"
fresh_db
migrate_up
make_topics 4

gen=$AAC_SRC/tests/integration/gen_events.py
python3 "$gen" --count 5000 --invalid-every 100 --ids "$TEST_DIR/ids" >"$TEST_DIR/events"
# the first 20 valid events again: a producer retrying its sends
head -n 20 "$TEST_DIR/events" >"$TEST_DIR/dups"
produce "$TEST_DIR/events"
produce "$TEST_DIR/dups"

start_consumer c1
wait_rows 4950 60
sleep 1 # anything late would show up now
check_exactly_once "$TEST_DIR/ids"

# origin columns: one row per (partition, offset), none of them the dups'
assert_eq "$(sql "SELECT count(DISTINCT (kafka_partition, kafka_offset)) FROM agent_actions")" 4950 "origins"
assert_eq "$(sql "SELECT count(*) FROM agent_actions WHERE kafka_topic IS DISTINCT FROM '$TOPIC'")" 0 "topic column"
# project_name derived from project_path
assert_eq "$(sql "SELECT count(*) FROM agent_actions WHERE project_name IS DISTINCT FROM regexp_replace(project_path, '.*/', '')")" 0 "project_name"
# a tab inside action_details survived COPY's escaping
assert_eq "$(sql "SELECT count(*) FROM agent_actions WHERE action_details->>'note' IS DISTINCT FROM E'tab\\there'")" 0 "escaping"

# offsets: every message (5020) accounted for in PostgreSQL
wait_for 5020 30 sql "SELECT coalesce(sum(next_offset), 0) FROM consumer_offsets WHERE consumer_group = '$GROUP' AND topic = '$TOPIC'"

# 50 invalid messages, each dead-lettered once with its context
assert_eq "$(topic_count "$TOPIC.dlq")" 50 "dead letters"
kcat -b "$AAC_TEST_BOOTSTRAP" -C -t "$TOPIC.dlq" -e -q -c 1 \
  -f '%h\n' >"$TEST_DIR/headers" 2>/dev/null
for h in aac.original.topic="$TOPIC" aac.error.class=permanent aac.error.reason=missing_field \
  aac.error.path='$.correlation_id' aac.consumer.group="$GROUP" aac.attempts=1 \
  aac.original.partition= aac.original.offset= aac.original.timestamp= aac.failed.at= \
  aac.error.message= aac.service.version=; do
  grep -q -- "$h" "$TEST_DIR/headers" || fail "dead-letter header $h missing: $(cat "$TEST_DIR/headers")"
done
# the value is the original bytes
orig=$(kcat -b "$AAC_TEST_BOOTSTRAP" -C -t "$TOPIC.dlq" -e -q -c 1 -f '%s' 2>/dev/null)
grep -qF -- "$orig" "$TEST_DIR/events" || fail "dead letter value differs from the original"

stop_consumer c1
grep -q 'msg="stopped" status=0' "$TEST_DIR/c1.log" || fail "no clean stop logged"
pass "5000 events, 50 dead letters, 20 duplicates ignored"
