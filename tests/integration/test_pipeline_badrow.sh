#!/usr/bin/env bash
# A row the database rejects (valid JSON, refused by a constraint) does not
# fail its batch: only that row is dead-lettered (db_rejected, permanent),
# the other 999 are written, at the cost of a few round trips. Checked on
# both write paths: direct COPY, where PostgreSQL names the failing line,
# and the staging path taken after a duplicate, where a trigger's error
# names none and the batch is halved to find the row.
source "$(dirname "$0")/lib.sh"
fresh_db
migrate_up
make_topics 1
psql -qX -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
ALTER TABLE agent_actions ADD CONSTRAINT test_no_poison CHECK (action_name <> 'poison');
CREATE FUNCTION test_reject_poison2() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.action_name = 'poison2' THEN
    RAISE EXCEPTION 'poison2 refused' USING ERRCODE = '22023';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER test_reject_poison2 BEFORE INSERT ON agent_actions
  FOR EACH ROW EXECUTE FUNCTION test_reject_poison2();
SQL

gen=$AAC_SRC/tests/integration/gen_events.py
# batch 1: 1,000 events, the 500th refused by the CHECK constraint
python3 "$gen" --count 1000 --poison-every 500 --ids "$TEST_DIR/ids" | sed -n '1,1000p' \
  >"$TEST_DIR/batch1"
grep -c '"action_name":"poison"' "$TEST_DIR/batch1" | grep -qx 2 || fail "generator"
produce "$TEST_DIR/batch1"
start_consumer c1 AAC_LOG_LEVEL=debug AAC_BATCH_LINGER_MS=1000
wait_rows 998 60
sleep 1
grep 'msg="batch committed"' "$TEST_DIR/c1.log" >"$TEST_DIR/commits1"
grep -q 'events=1000 inserted=998 duplicates=0 rejected=2' "$TEST_DIR/commits1" ||
  fail "batch 1 not written in one piece: $(cat "$TEST_DIR/commits1")"
rt=$(grep -o 'round_trips=[0-9]*' "$TEST_DIR/commits1" | head -1 | cut -d= -f2)
# BEGIN COPY ROLLBACK, twice, then BEGIN COPY offsets COMMIT
[ "$rt" -le 10 ] || fail "isolating two rows took $rt round trips"

# batch 2: 5 duplicates of batch 1 (-> staging path) and one poison2 row
head -n 5 "$TEST_DIR/batch1" >"$TEST_DIR/batch2"
python3 "$gen" --count 200 --start 5000 --ids "$TEST_DIR/ids" >>"$TEST_DIR/batch2"
sed -i '100s/"action_name":"action_[0-9]*"/"action_name":"poison2"/' "$TEST_DIR/batch2"
poison2_id=$(sed -n '100p' "$TEST_DIR/batch2" | grep -o '"event_id":"[^"]*"' | cut -d'"' -f4)
grep -v "$poison2_id" "$TEST_DIR/ids" >"$TEST_DIR/ids.ok"
produce "$TEST_DIR/batch2"
wait_rows $((998 + 199)) 60
sleep 1
grep 'msg="batch committed"' "$TEST_DIR/c1.log" | tail -n 1 >"$TEST_DIR/commits2"
grep -q 'events=205 inserted=199 duplicates=5 rejected=1' "$TEST_DIR/commits2" ||
  fail "batch 2: $(cat "$TEST_DIR/commits2")"
check_exactly_once "$TEST_DIR/ids.ok"
check_rollups

# three dead letters, db_rejected, permanent, with the database's message
kcat -b "$AAC_TEST_BOOTSTRAP" -C -t "$TOPIC.dlq" -e -q -f '%h\n' 2>/dev/null >"$TEST_DIR/dlq"
assert_eq "$(wc -l <"$TEST_DIR/dlq")" 3 "dead letters"
assert_eq "$(grep -c 'aac.error.reason=db_rejected' "$TEST_DIR/dlq")" 3 "reason"
assert_eq "$(grep -c 'aac.error.class=permanent' "$TEST_DIR/dlq")" 3 "class"
grep -q 'test_no_poison' "$TEST_DIR/dlq" || fail "constraint name not in the dead letter's message"
grep -q 'poison2 refused' "$TEST_DIR/dlq" || fail "trigger message not in the dead letter"
stop_consumer c1
pass "bad rows isolated on both paths in $rt round trips"
