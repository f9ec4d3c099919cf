#!/usr/bin/env bash
# A backlog is read without librdkafka's once-a-second pauses (fetchwake.h):
# with a fetch queue far smaller than one message set, librdkafka 2.0.2
# stops fetching after every set and looks again only a second later; the
# consume thread's wakes make it fetch at once. 3,000 events in 150 sets of
# 20 on one partition: with the wakes (the default, fetch_wake_ms 20) they
# are stored within 40 s (a few seconds here); without them it takes
# minutes (150 pauses of up to a second: FETCH_WAKE_MS=0 bash this-file to
# see it fail). Every event is stored once, and aac_kafka_fetch_wakes_total
# counts the wakes.
source "$(dirname "$0")/lib.sh"
fresh_db
migrate_up
make_topics 1

python3 "$AAC_SRC/tests/integration/gen_events.py" --count 3000 --ids "$TEST_DIR/ids" \
  >"$TEST_DIR/events"
# message sets of 20: a fetch returns at least one whole set
kcat -b "$AAC_TEST_BOOTSTRAP" -P -t "$TOPIC" -K $'\t' -z none -X linger.ms=100 \
  -X batch.num.messages=20 -l "$TEST_DIR/events" || fail "kcat could not produce"
check_topic_complete "$TOPIC" 3000

port=$(free_port)
P=AAC_KAFKA_CONSUMER_PROPERTIES
start_consumer c1 AAC_HTTP_ENABLED=true AAC_HTTP_ADDRESS=127.0.0.1 AAC_HTTP_PORT="$port" \
  AAC_KAFKA_FETCH_WAKE_MS="${FETCH_WAKE_MS:-20}" AAC_BATCH_MAX_EVENTS=100 \
  "${P}_QUEUED_MAX_MESSAGES_KBYTES=1" "${P}_MAX_PARTITION_FETCH_BYTES=1024" \
  "${P}_FETCH_MAX_BYTES=1024" "${P}_MESSAGE_MAX_BYTES=1000"
wait_rows 3000 40
check_exactly_once "$TEST_DIR/ids"
wakes=$(curl -fs "http://127.0.0.1:$port/metrics" | awk '/^aac_kafka_fetch_wakes_total / { print $2 }')
[ -n "$wakes" ] && [ "$wakes" -gt 0 ] || fail "aac_kafka_fetch_wakes_total is '$wakes'"
stop_consumer c1
pass "3000 events, $wakes wakes"
