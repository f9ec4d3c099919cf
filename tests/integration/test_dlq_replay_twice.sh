#!/usr/bin/env bash
# `dlq replay` run twice publishes nothing the second time.
#
# 1,500 events: 20 invalid (missing_field), 10 refused by a CHECK
# constraint (db_rejected). After the constraint is dropped:
# - replay --reason db_rejected stores the 10; the same command again
#   publishes nothing (exact counts on the source and dead-letter topics)
#   and says why it skipped them;
# - a replay of every reason still replays the 20 missing_field ones (the
#   record is per message: the first run's filter did not use them up);
#   they are still invalid and come back as 20 copies;
# - the same again publishes nothing: 30 recorded, 20 copies at the loop
#   bound; the copies coming back are not replayed twice either;
# - --from-beginning replays again, once; then nothing again;
# - a dry run with another --group (no record) warns of the copies.
source "$(dirname "$0")/lib.sh"
fresh_db
migrate_up
# two dead-letter partitions: the record is kept per partition
broker_ctl topic-create "$TOPIC" 2 >/dev/null
broker_ctl topic-create "$TOPIC.dlq" 2 >/dev/null
sql "ALTER TABLE agent_actions ADD CONSTRAINT test_no_poison CHECK (action_name <> 'poison')" >/dev/null

dlq() {
  env AAC_KAFKA_BOOTSTRAP_SERVERS="$AAC_TEST_BOOTSTRAP" AAC_KAFKA_TOPIC="$TOPIC" \
    AAC_KAFKA_GROUP_ID="$GROUP" AAC_LOG_LEVEL=warn "$AAC_BIN" dlq "$@"
}
dlq_count() { topic_count "$TOPIC.dlq"; }
src_count() { topic_count "$TOPIC"; }
replay_group="$GROUP.replay"

gen=$AAC_SRC/tests/integration/gen_events.py
python3 "$gen" --count 1000 --invalid-every 50 --ids "$TEST_DIR/ids" >"$TEST_DIR/events"
python3 "$gen" --count 500 --start 1000 --poison-every 50 --ids "$TEST_DIR/ids" >"$TEST_DIR/poison"
grep '"action_name":"poison"' "$TEST_DIR/poison" | grep -o '"event_id":"[^"]*"' | cut -d'"' -f4 \
  >"$TEST_DIR/poison_ids"
cat "$TEST_DIR/ids" "$TEST_DIR/poison_ids" >"$TEST_DIR/ids.all"
produce "$TEST_DIR/events"
produce "$TEST_DIR/poison"
start_consumer c1
wait_rows 1470 60
wait_for 30 30 dlq_count
assert_eq "$(kcat -b "$AAC_TEST_BOOTSTRAP" -C -t "$TOPIC.dlq" -e -q -f '%p\n' 2>/dev/null | sort -u | wc -l)" 2 \
  "dead-letter partitions used"
sql "ALTER TABLE agent_actions DROP CONSTRAINT test_no_poison" >/dev/null

# replays $1 messages with "dlq replay ${@:2} --yes", checks the summary
# ($1 and the rest of the line), then the topics' counts once settled
replay() {
  local want_line=$1
  shift
  dlq replay "$@" --yes >"$TEST_DIR/out" 2>"$TEST_DIR/err" ||
    fail "dlq replay $*: $(cat "$TEST_DIR/err")"
  assert_eq "$(cat "$TEST_DIR/out")" "$want_line" "dlq replay $*"
}

# 1. db_rejected, then the same command again
replay "replayed 10, skipped 0" --reason db_rejected
assert_eq "$(src_count)" 1510 "source topic after the first replay"
wait_rows 1480 60
replay "replayed 0, skipped 10: 10 replayed by an earlier run (recorded in replay group $replay_group; --from-beginning replays them again)" --reason db_rejected
sleep 2 # anything published would be consumed (and dead-lettered) by now
assert_eq "$(src_count)" 1510 "source topic after the same replay again"
assert_eq "$(dlq_count)" 30 "dead-letter topic after the same replay again"
assert_eq "$(rows)" 1480 "rows after the same replay again"

# 2. every reason: the missing_field ones were not used up by step 1
replay "replayed 20, skipped 10: 10 replayed by an earlier run (recorded in replay group $replay_group; --from-beginning replays them again)"
assert_eq "$(src_count)" 1530 "source topic after replaying every reason"
wait_for 50 30 dlq_count # still invalid: 20 copies come back

# 3. the same again: nothing, the copies included
replay "replayed 0, skipped 50: 30 replayed by an earlier run (recorded in replay group $replay_group; --from-beginning replays them again), 20 at the replay bound (aac.replay.count >= 1, --max-replays)"
sleep 2
assert_eq "$(src_count)" 1530 "source topic after replaying every reason again"
assert_eq "$(dlq_count)" 50 "dead-letter topic after replaying every reason again"
grep -q "replay group $replay_group" "$TEST_DIR/err" || fail "stderr summary: $(cat "$TEST_DIR/err")"

# 4. the copies go round once more with --max-replays 2, once only
replay "replayed 20, skipped 30: 30 replayed by an earlier run (recorded in replay group $replay_group; --from-beginning replays them again)" --max-replays 2
wait_for 70 30 dlq_count
replay "replayed 0, skipped 70: 50 replayed by an earlier run (recorded in replay group $replay_group; --from-beginning replays them again), 20 at the replay bound (aac.replay.count >= 2, --max-replays)" --max-replays 2
sleep 2
assert_eq "$(src_count)" 1550 "source topic after --max-replays 2 twice"
assert_eq "$(dlq_count)" 70 "dead-letter topic after --max-replays 2 twice"

# 5. a dry run tells the same and publishes nothing
out=$(dlq replay --dry-run 2>/dev/null | tail -n 1)
assert_eq "$out" "would replay 0, skipped 70: 50 replayed by an earlier run (recorded in replay group $replay_group; --from-beginning replays them again), 20 at the replay bound (aac.replay.count >= 1, --max-replays)" "dry run"

# another --group has a record of its own (empty), and the tool warns that
# the copies on the topic show an earlier replay it knows nothing of
out=$(dlq replay --dry-run --group "$GROUP.other" 2>"$TEST_DIR/err" | tail -n 1)
assert_eq "$out" "would replay 30, skipped 40: 40 at the replay bound (aac.replay.count >= 1, --max-replays)" "dry run, another group"
grep -q "replay group $GROUP.other had no record, yet 40 dead letters are copies" "$TEST_DIR/err" ||
  fail "no warning of an unknown earlier replay: $(cat "$TEST_DIR/err")"
grep -q "had no record" <(dlq replay --dry-run 2>&1) && fail "warning with a record"

# 6. starting over replays again, once
replay "replayed 10, skipped 0" --reason db_rejected --from-beginning
assert_eq "$(src_count)" 1560 "source topic after --from-beginning"
replay "replayed 0, skipped 10: 10 replayed by an earlier run (recorded in replay group $replay_group; --from-beginning replays them again)" --reason db_rejected
sleep 2
assert_eq "$(src_count)" 1560 "source topic after --from-beginning, then the same without"
assert_eq "$(dlq_count)" 70 "dead letters at the end"
# the valid ones stored once whatever was replayed
check_exactly_once "$TEST_DIR/ids.all"
stop_consumer c1
pass "the same replay twice publishes nothing; --from-beginning replays again"
