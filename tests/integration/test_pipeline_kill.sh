#!/usr/bin/env bash
# Killed with SIGKILL at any moment and restarted, again and again, the
# consumer still stores every valid event exactly once and loses none: 12
# kills while 100,000 events stream through, each kill once rows are
# visibly being written, then a final run to the end, then an exact check of
# every event_id. Every invalid event reaches the dead-letter topic (a kill
# between its delivery and the commit may repeat one, never lose one).
source "$(dirname "$0")/lib.sh"
fresh_db
migrate_up
# ~500-byte events keyed by 97 sessions: 32 partitions keep the fullest
# well under the development broker's 5 MB per-partition retention
make_topics 32

n=100000
python3 "$AAC_SRC/tests/integration/gen_events.py" --count $n --invalid-every 1000 \
  --ids "$TEST_DIR/ids" >"$TEST_DIR/events"
produce "$TEST_DIR/events"
check_topic_complete "$TOPIC" $n
valid=$(wc -l <"$TEST_DIR/ids")

# small batches: many transactions, so kills land in every phase
opts=(AAC_BATCH_MAX_EVENTS=300 AAC_BATCH_LINGER_MS=5
  AAC_KAFKA_CONSUMER_PROPERTIES_SESSION_TIMEOUT_MS=6000
  AAC_KAFKA_CONSUMER_PROPERTIES_MAX_POLL_INTERVAL_MS=10000
  AAC_KAFKA_CONSUMER_PROPERTIES_HEARTBEAT_INTERVAL_MS=500)

kills=0
for i in $(seq 1 12); do
  before=$(rows)
  [ "$before" -ge "$valid" ] && break
  start_consumer "run$i" "${opts[@]}"
  # wait for progress, then kill at a random moment of the writing
  for _ in $(seq 1 300); do [ "$(rows)" -gt "$before" ] && break; sleep 0.1; done
  # within half a second: the pipelined writers get through the stream
  # in about ten of these
  sleep "0.$((RANDOM % 5))$((RANDOM % 10))"
  kill -9 "$(consumer_pid "run$i")"
  wait "$(consumer_pid "run$i")" 2>/dev/null || true
  kills=$((kills + 1))
  echo "kill $kills at $(rows) rows"
done
[ "$kills" -ge 10 ] || fail "only $kills kills happened before the stream ended; make it longer"

start_consumer final "${opts[@]}"
wait_rows "$valid" 300
sleep 2
check_exactly_once "$TEST_DIR/ids"
check_rollups
stop_consumer final

# dead letters: every invalid offset present, repeats only as whole copies
kcat -b "$AAC_TEST_BOOTSTRAP" -C -t "$TOPIC.dlq" -e -q \
  -f '%h\n' 2>/dev/null | grep -o 'aac.original.partition=[0-9]*,aac.original.offset=[0-9]*' \
  | sort -u >"$TEST_DIR/dlq-origins"
assert_eq "$(wc -l <"$TEST_DIR/dlq-origins")" 100 "distinct dead-lettered messages"
pass "$kills kills, $valid events exactly once"
