#!/usr/bin/env bash
# Two batches in flight (issue 12, item 6); also run under ThreadSanitizer.
# A statement trigger makes every write take at least 0.6 s, so that while
# one batch is written the next is closed and waits for it (two in flight)
# and a third is built. Each of these happens while the log shows two
# batches in flight:
#   1. SIGTERM: exit 0 within shutdown_timeout_ms; the rows stored are
#      exactly those below the stored offsets;
#   2. kill -9: the same, whatever the moment;
#   3. an eager rebalance (a second instance joins): every partition is
#      revoked with a batch being written, one waiting and one being built.
# After each, the rest is written without the trigger: every event once.
source "$(dirname "$0")/lib.sh"
fresh_db
migrate_up
make_topics 8
gen=$AAC_SRC/tests/integration/gen_events.py

slow() {
  psql -qX -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
CREATE OR REPLACE FUNCTION slow() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_sleep(0.6);
  RETURN NULL;
END $$;
CREATE TRIGGER slow BEFORE INSERT ON agent_actions FOR EACH STATEMENT EXECUTE FUNCTION slow();
SQL
}
fast() { sql "DROP TRIGGER slow ON agent_actions" >/dev/null; }
two_in_flight() { if grep -q 'msg="batch closed".*in_flight=2' "$TEST_DIR/$1.log"; then echo 1; else echo 0; fi; }
stored() { sql "SELECT coalesce(sum(next_offset), 0) FROM consumer_offsets WHERE consumer_group = '$GROUP' AND topic = '$TOPIC'"; }
# in one snapshot: no row lies at or above its partition's stored offset,
# and as many rows as the stored offsets count (all events here are valid)
consistent() {
  assert_eq "$(sql "SELECT (SELECT count(*) FROM agent_actions a LEFT JOIN consumer_offsets o
                      ON o.consumer_group = '$GROUP' AND o.topic = a.kafka_topic
                     AND o.kafka_partition = a.kafka_partition
                      WHERE o.next_offset IS NULL OR a.kafka_offset >= o.next_offset)
                  || ' ' || (SELECT count(*) FROM agent_actions)
                  - (SELECT coalesce(sum(next_offset), 0) FROM consumer_offsets
                      WHERE consumer_group = '$GROUP' AND topic = '$TOPIC')")" "0 0" \
    "rows above the stored offsets, and rows minus stored offsets, after $1"
}
opts=(AAC_LOG_LEVEL=debug AAC_BATCH_MAX_EVENTS=1000 AAC_BATCH_WRITERS=2 AAC_BATCH_MAX_IN_FLIGHT=2)
total=0
produce_set() {
  python3 "$gen" --count 10000 --start "$total" --ids "$TEST_DIR/ids" >"$TEST_DIR/set$total"
  produce "$TEST_DIR/set$total"
  total=$((total + 10000))
  check_topic_complete "$TOPIC" "$total"
}

# --- 1. SIGTERM ------------------------------------------------------------
produce_set
slow
start_consumer c1 "${opts[@]}"
wait_for 1 60 two_in_flight c1
t0=$(date +%s%N)
stop_consumer c1
ms=$((($(date +%s%N) - t0) / 1000000))
[ "$ms" -lt 10000 ] || fail "shutdown with two batches in flight took ${ms} ms (timeout 10000)"
grep 'msg="shutting down"' "$TEST_DIR/c1.log" | grep -q 'batches_in_flight=[12]' ||
  fail "nothing was in flight at the signal: $(grep 'shutting down' "$TEST_DIR/c1.log")"
consistent SIGTERM
[ "$(stored)" -lt "$total" ] || fail "the stream was over before the signal; nothing tested"
term="$(grep -o 'batches_in_flight=[0-9]*' "$TEST_DIR/c1.log") stopped in ${ms} ms at $(stored) of $total"

# --- 2. kill -9 -------------------------------------------------------------
produce_set
start_consumer c2 "${opts[@]}"
wait_for 1 60 two_in_flight c2
before=$(stored)
kill -9 "$(consumer_pid c2)"
wait "$(consumer_pid c2)" 2>/dev/null || true
consistent "kill -9"
[ "$(stored)" -lt "$total" ] || fail "the stream was over before the kill; nothing tested"
killed="killed at $(stored) of $total (from $before)"

# --- 3. eager rebalance ------------------------------------------------------
produce_set
eager=(AAC_KAFKA_CONSUMER_PROPERTIES_PARTITION_ASSIGNMENT_STRATEGY=range
  AAC_KAFKA_CONSUMER_PROPERTIES_SESSION_TIMEOUT_MS=6000
  AAC_KAFKA_CONSUMER_PROPERTIES_MAX_POLL_INTERVAL_MS=10000
  AAC_KAFKA_CONSUMER_PROPERTIES_HEARTBEAT_INTERVAL_MS=500)
start_consumer x "${opts[@]}" "${eager[@]}"
wait_for 1 60 two_in_flight x
start_consumer y "${opts[@]}" "${eager[@]}"
revoked() { if grep -q 'msg="partitions revoked"' "$TEST_DIR/x.log"; then echo 1; else echo 0; fi; }
wait_for 1 60 revoked
consistent rebalance
fast
wait_rows "$total" 120
wait_for "$total" 30 stored
sleep 1
check_exactly_once "$TEST_DIR/ids"
check_rollups
kill -0 "$(consumer_pid x)" || fail "x died"
kill -0 "$(consumer_pid y)" || fail "y died"
stop_consumer x
stop_consumer y
pass "two batches in flight: SIGTERM $term; $killed; eager rebalance, then $total events once"
