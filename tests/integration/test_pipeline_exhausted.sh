#!/usr/bin/env bash
# A message whose own write keeps failing transiently (here a trigger that
# raises a plain exception for it: SQLSTATE P0001, which the service
# retries) is dead-lettered as retries_exhausted after retry.max_attempts,
# once the batch has been halved down to it; every other event is written
# exactly once.
source "$(dirname "$0")/lib.sh"
fresh_db
migrate_up
make_topics 1
psql -qX -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
CREATE FUNCTION test_flaky() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.action_name = 'flaky' THEN RAISE EXCEPTION 'flaky write'; END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER test_flaky BEFORE INSERT ON agent_actions FOR EACH ROW EXECUTE FUNCTION test_flaky();
SQL
python3 "$AAC_SRC/tests/integration/gen_events.py" --count 300 --ids "$TEST_DIR/ids.all" \
  >"$TEST_DIR/events"
sed -i '200s/"action_name":"action_[0-9]*"/"action_name":"flaky"/' "$TEST_DIR/events"
flaky_id=$(sed -n '200p' "$TEST_DIR/events" | grep -o '"event_id":"[^"]*"' | cut -d'"' -f4)
grep -v "$flaky_id" "$TEST_DIR/ids.all" >"$TEST_DIR/ids"
produce "$TEST_DIR/events"

start_consumer c1 AAC_BATCH_MAX_EVENTS=64 AAC_BATCH_LINGER_MS=200 AAC_RETRY_INITIAL_BACKOFF_MS=10 \
  AAC_RETRY_MAX_BACKOFF_MS=50
wait_rows 299 120
wait_for 1 30 topic_count "$TOPIC.dlq"
sleep 1
check_exactly_once "$TEST_DIR/ids"
check_rollups
kcat -b "$AAC_TEST_BOOTSTRAP" -C -t "$TOPIC.dlq" -e -q -f '%h\n' 2>/dev/null >"$TEST_DIR/dlq"
assert_eq "$(wc -l <"$TEST_DIR/dlq")" 1 "dead letters"
for h in aac.error.reason=retries_exhausted aac.error.class=permanent aac.attempts=5 \
  aac.original.offset=199; do
  grep -q "$h" "$TEST_DIR/dlq" || fail "header $h missing: $(cat "$TEST_DIR/dlq")"
done
grep -q 'flaky write' "$TEST_DIR/dlq" || fail "the database's message is not in the dead letter"
stop_consumer c1
pass "isolated and dead-lettered after 5 attempts"
