#!/usr/bin/env bash
# A batch committed with its dead letters, a later one failing, then a
# rebalance revokes partitions (issue 11, item 6, in the pipeline's
# terms). The revocation tries the failed batch once more, drops it, and
# forgets the revoked partitions' dead-letter records: neither the retry
# nor the next owner may send a committed batch's dead letters again.
# Partition 5's rows fail (a serialization failure, retried for as long as
# it lasts) until y has joined and x has given partitions up. Checks:
# every invalid event dead-lettered exactly once, every valid event stored
# once, offsets complete.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/faults_lib.sh"
fresh_db
migrate_up
make_topics 6

psql -qX -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
CREATE TABLE inject_on (on_ boolean);
INSERT INTO inject_on VALUES (true);
CREATE FUNCTION inject() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.kafka_partition = 5 AND (SELECT on_ FROM inject_on) THEN
    RAISE EXCEPTION 'injected failure' USING ERRCODE = '40001';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER inject BEFORE INSERT ON agent_actions FOR EACH ROW EXECUTE FUNCTION inject();
SQL

# The invalid events go to every partition but 5: a dead letter of a part
# that never commits is sent again by whoever consumes it next (the batch
# that held it was not committed), which is not what this test is about.
gen=$AAC_SRC/tests/integration/gen_events.py
python3 "$gen" --count 3000 --invalid-every 20 --ids "$TEST_DIR/ids" | cut -f2 |
  awk -v dir="$TEST_DIR" '
    /"correlation_id"/ { print > (dir "/p" (v++ % 6)); next }
    { split("0 1 2 3 4", q, " "); print > (dir "/p" q[(b++ % 5) + 1]) }'
for p in 0 1 2 3 4; do
  kcat -b "$AAC_TEST_BOOTSTRAP" -P -t "$TOPIC" -p $p -z none -l "$TEST_DIR/p$p" || fail "produce p$p"
done
start_consumer x AAC_LOG_LEVEL=debug AAC_BATCH_MAX_EVENTS=5000 AAC_BATCH_WRITERS=2 \
  AAC_RETRY_INITIAL_BACKOFF_MS=200
first=$(cat "$TEST_DIR"/p[0-4] | wc -l)
wait_for $first 60 sql "SELECT coalesce(sum(next_offset), 0) FROM consumer_offsets WHERE consumer_group = '$GROUP' AND topic = '$TOPIC'"
kcat -b "$AAC_TEST_BOOTSTRAP" -P -t "$TOPIC" -p 5 -z none -l "$TEST_DIR/p5" || fail "produce p5"
check_topic_complete "$TOPIC" 3000
retrying() { if grep -q 'msg="batch not written, retrying"' "$TEST_DIR/x.log"; then echo 1; else echo 0; fi; }
wait_for 1 60 retrying
start_consumer y AAC_BATCH_WRITERS=2
revoked() { grep -c 'msg="partitions revoked"' "$TEST_DIR/x.log" || true; }
wait_for 1 60 revoked
sql "UPDATE inject_on SET on_ = false" >/dev/null

valid=$(wc -l <"$TEST_DIR/ids")
wait_rows "$valid" 60
wait_for 3000 30 sql "SELECT coalesce(sum(next_offset), 0) FROM consumer_offsets WHERE consumer_group = '$GROUP' AND topic = '$TOPIC'"
sleep 2 # a repeated dead letter would show up now
check_exactly_once "$TEST_DIR/ids"
check_rollups
source_invalid "$TEST_DIR/invalid"
assert_eq "$(wc -l <"$TEST_DIR/invalid")" 150 "invalid messages on the source topic"
check_dead_letters "$TEST_DIR/invalid" missing_field
stop_consumer x
stop_consumer y
dropped=$(grep -c 'msg="batch dropped unwritten".*reason="partitions revoked"' "$TEST_DIR/x.log" || true)
pass "$valid events once, 150 dead letters once, across a revocation ($dropped failing batches dropped by it)"
