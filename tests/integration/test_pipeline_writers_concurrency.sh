#!/usr/bin/env bash
# Two writers: large batches are split by partition over two connections,
# each part committed with its own partitions' offsets. A part that fails
# while the other commits (a failure injected for one partition's rows)
# must leave the committed part alone and write only the rest on retry; a
# producer's duplicate must still be stored once. Every valid event once,
# no dead letter but the invalid events', each once, a flood of them too. Also run under ThreadSanitizer.
source "$(dirname "$0")/lib.sh"
fresh_db
migrate_up
make_topics 6

# The rows of partition 2 fail the first 3 times they are inserted, with a
# serialization failure (transient, not the messages' fault). A sequence
# counts the attempts: it is not rolled back with the transaction.
psql -qX -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
CREATE SEQUENCE injected_failures;
CREATE FUNCTION inject() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.kafka_partition = 2 THEN
    IF nextval('injected_failures') <= 3 THEN
      RAISE EXCEPTION 'injected failure' USING ERRCODE = '40001';
    END IF;
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER inject BEFORE INSERT ON agent_actions FOR EACH ROW EXECUTE FUNCTION inject();
SQL

gen=$AAC_SRC/tests/integration/gen_events.py
n=6000
python3 "$gen" --count $n --invalid-every 200 --ids "$TEST_DIR/ids" >"$TEST_DIR/events"
head -n 30 "$TEST_DIR/events" >"$TEST_DIR/dups" # a producer resending
# a flood of 700 invalid events: the dead-letter tracker holds them all
python3 "$gen" --count 700 --start 100000 --invalid-every 1 >"$TEST_DIR/poison"
produce "$TEST_DIR/events"
produce "$TEST_DIR/poison"
check_topic_complete "$TOPIC" $((n + 700))
total=$((n + 30 + 700))

# a long linger: every batch fills to 2000 events over several partitions, so
# the first one holding partition 2 is split over both writers even on a slow
# (ThreadSanitizer) build, and the injected failure hits a split batch
start_consumer c1 AAC_LOG_LEVEL=debug AAC_BATCH_MAX_EVENTS=2000 AAC_BATCH_LINGER_MS=3000 \
  AAC_BATCH_WRITERS=2 AAC_RETRY_INITIAL_BACKOFF_MS=20
valid=$(wc -l <"$TEST_DIR/ids")
wait_rows "$valid" 120
# the producer's resends come once the backlog is written: in a batch, a
# duplicate makes its writer's part take the slower path after the others,
# and a batch whose other part holds one never commits in part
produce "$TEST_DIR/dups"
wait_for $total 30 sql "SELECT coalesce(sum(next_offset), 0) FROM consumer_offsets WHERE consumer_group = '$GROUP' AND topic = '$TOPIC'"
check_exactly_once "$TEST_DIR/ids"
assert_eq "$(topic_count "$TOPIC.dlq")" $((n / 200 + 700)) "dead letters (the invalid events, once each)"

log=$TEST_DIR/c1.log
grep -q 'msg="batch committed".*writers=2' "$log" || fail "no batch was split over two writers"
grep -q 'msg="batch committed in part"' "$log" || fail "the injected failure never left a part committed"
[ "$(sql "SELECT last_value FROM injected_failures")" -ge 3 ] || fail "the injection never fired"
grep -q 'retries_exhausted' "$log" && fail "a transient failure counted against the messages"
split=$(grep -c 'msg="batch committed".*writers=2' "$log")
parts=$(grep -c 'msg="batch committed in part"' "$log")
stop_consumer c1
pass "$valid events once; $split batches split over 2 writers, $parts committed in part after an injected failure"
