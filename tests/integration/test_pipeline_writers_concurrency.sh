#!/usr/bin/env bash
# Two writers: whole batches are written at once on two connections and
# commit in the order they were closed. A batch that fails (a failure
# injected for one partition's rows) while a later one is written must
# make the later one roll back, and both are written again in order; a
# producer's duplicate must still be stored once. Every valid event once,
# no dead letter but the invalid events', each once, a flood of them too.
# Also run under ThreadSanitizer.
source "$(dirname "$0")/lib.sh"
fresh_db
migrate_up
make_topics 6

# The first row ever inserted waits 2 s, then fails with a serialization
# failure (transient, not the messages' fault): meanwhile the second
# writer writes the next batch, which must then roll back and wait. A
# sequence counts the rows tried: it is not rolled back with the
# transaction.
psql -qX -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
CREATE SEQUENCE injected_failures;
CREATE FUNCTION inject() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF nextval('injected_failures') = 1 THEN
    PERFORM pg_sleep(2);
    RAISE EXCEPTION 'injected failure' USING ERRCODE = '40001';
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

# a backlog: every batch fills to 2000 events; the second is closed well
# within the first one's 2 s, even on a slow (ThreadSanitizer) build
start_consumer c1 AAC_LOG_LEVEL=debug AAC_BATCH_MAX_EVENTS=2000 AAC_BATCH_LINGER_MS=3000 \
  AAC_BATCH_WRITERS=2 AAC_RETRY_INITIAL_BACKOFF_MS=20
valid=$(wc -l <"$TEST_DIR/ids")
wait_rows "$valid" 120
# the producer's resends come once the backlog is written
produce "$TEST_DIR/dups"
wait_for $total 30 sql "SELECT coalesce(sum(next_offset), 0) FROM consumer_offsets WHERE consumer_group = '$GROUP' AND topic = '$TOPIC'"
check_exactly_once "$TEST_DIR/ids"
assert_eq "$(topic_count "$TOPIC.dlq")" $((n / 200 + 700)) "dead letters (the invalid events, once each)"

log=$TEST_DIR/c1.log
grep -q 'msg="batch committed".*writer=1' "$log" || fail "the second writer never committed a batch"
grep -q 'msg="batch committed".*writer=0' "$log" || fail "the first writer never committed a batch"
grep -q 'msg="batch not written, retrying".*injected failure' "$log" || fail "the injection never fired"
grep -q 'msg="batch not written, retrying".*later_rolled_back=1' "$log" ||
  fail "the batch written beside the failing one was not rolled back"
grep -q 'retries_exhausted' "$log" && fail "a transient failure counted against the messages"
waited=$(grep -c 'msg="batch committed".*waited_for_earlier=true' "$log" || true)
stop_consumer c1
pass "$valid events once; a failure rolled back the batch written beside it; $waited batches waited to commit after an earlier one"
