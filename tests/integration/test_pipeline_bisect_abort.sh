#!/usr/bin/env bash
# A bisect probe that fails for a reason not the row's own (issue 19, item
# 5). The batch goes through the staging table (its first event is stored
# already), where PostgreSQL names no failing line, so the bad row is found
# by halving, each probe in a transaction of its own. A trigger makes the
# first probe fail with 55P03 (lock not available) instead of the row's
# 22023. The bisect returned with that probe's aborted transaction open:
# the next write on the connection failed with 25P02 (current transaction
# is aborted). Now it rolls back: no 25P02, the poison row alone is
# dead-lettered, and everything else is stored once.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/faults_lib.sh"
fresh_db
migrate_up
make_topics 1
gen=$AAC_SRC/tests/integration/gen_events.py
python3 "$gen" --count 10 --poison-every 10 --ids "$TEST_DIR/ids" >"$TEST_DIR/events"
read -r eid ts < <(head -n 1 "$TEST_DIR/events" | cut -f2 |
  python3 -c 'import json, sys; e = json.load(sys.stdin); print(e["event_id"], e["timestamp"])')
psql -qX -v ON_ERROR_STOP=1 >/dev/null <<SQL
INSERT INTO agent_actions (event_id, correlation_id, agent_name, action_type, action_name,
                           event_time, kafka_topic, kafka_partition, kafka_offset)
VALUES ('$eid', '$eid', 'earlier', 'success', 'earlier', '$ts', 'earlier', 0, 0);
CREATE SEQUENCE probe_seq;
CREATE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql AS \$\$
BEGIN
    IF NEW.action_name = 'poison' THEN
        IF nextval('probe_seq') = 2 THEN
            RAISE EXCEPTION 'probe held up' USING ERRCODE = '55P03';
        END IF;
        RAISE EXCEPTION 'poison row' USING ERRCODE = '22023';
    END IF;
    RETURN NEW;
END
\$\$;
CREATE TRIGGER poison BEFORE INSERT ON agent_actions FOR EACH ROW EXECUTE FUNCTION poison();
SQL

produce "$TEST_DIR/events"
start_consumer c1 AAC_BATCH_WRITERS=1 AAC_RETRY_JITTER=false AAC_RETRY_INITIAL_BACKOFF_MS=100
wait_for 10 60 sql "SELECT coalesce(sum(next_offset), 0) FROM consumer_offsets WHERE consumer_group = '$GROUP'"
wait_for 1 30 topic_count "$TOPIC.dlq"
[ "$(sql "SELECT last_value FROM probe_seq")" -ge 3 ] ||
  fail "the probes did not reach the trigger as planned: $(sql "SELECT last_value FROM probe_seq")"
grep -q '55P03' "$TEST_DIR/c1.log" || fail "no probe failed with 55P03: the test missed its path"
if grep -q '25P02' "$TEST_DIR/c1.log"; then
  grep '25P02' "$TEST_DIR/c1.log" | head -n 3 >&2
  fail "a write met the aborted transaction a probe left open (25P02)"
fi
check_exactly_once "$TEST_DIR/ids"
assert_eq "$(sql "SELECT agent_name FROM agent_actions WHERE event_id = '$eid'")" earlier "the stored event"
reason=$(kcat -b "$AAC_TEST_BOOTSTRAP" -C -t "$TOPIC.dlq" -e -q -f '%h\n' 2>/dev/null |
  tr ',' '\n' | sed -n 's/^aac.error.reason=//p')
assert_eq "$reason" db_rejected "the dead letter's reason"
stop_consumer c1
pass "a probe failing with 55P03 rolled back; poison row dead-lettered, 9 rows stored once"
