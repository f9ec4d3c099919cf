#!/usr/bin/env bash
# The rollups count a row only if its batch inserted it, also with several
# topics (issue 20 item 2, issue 22 item 1): a producer's resend on one
# topic and a new event at the same partition and offset of another topic,
# in one batch. The resend sends the batch through the staging table; its
# INSERT returns the origins of the rows it inserted, and matching them on
# (partition, offset) alone counted the resend as inserted too.
source "$(dirname "$0")/lib.sh"
fresh_db
migrate_up
gen=$AAC_SRC/tests/integration/gen_events.py
C=$TOPIC-c
D=$TOPIC-d
for t in "$C" "$D"; do
  broker_ctl topic-create "$t" 1 >/dev/null
  broker_ctl topic-create "$t.dlq" 1 >/dev/null
done
stored() { sql "SELECT coalesce(sum(next_offset), 0) FROM consumer_offsets WHERE consumer_group = '$GROUP'"; }
python3 "$gen" --count 3 --seed R >"$TEST_DIR/three"
head -n 1 "$TEST_DIR/three" >"$TEST_DIR/x"
tail -n 2 "$TEST_DIR/three" >"$TEST_DIR/y"

# X stored first, at C:0:0
produce "$TEST_DIR/x" "$C"
start_consumer c1 AAC_KAFKA_TOPIC="$C, $D"
wait_for 1 60 stored
stop_consumer c1
# then, in one batch (it lingers 2 s for more): X again at C:0:1, and two
# new events at D:0:0 and D:0:1
produce "$TEST_DIR/x" "$C"
produce "$TEST_DIR/y" "$D"
start_consumer c2 AAC_KAFKA_TOPIC="$C, $D" AAC_BATCH_LINGER_MS=2000 AAC_LOG_LEVEL=debug
wait_for 4 60 stored
assert_eq "$(grep -c 'msg="duplicate event in batch, writing through the staging table"' "$TEST_DIR/c2.log")" 1 \
  "batches through the staging table"
assert_eq "$(grep -c 'msg="batch closed"' "$TEST_DIR/c2.log")" 1 "batches (the three messages in one)"
assert_eq "$(rows)" 3 "rows"
assert_eq "$(sql "SELECT sum(events) FROM aac_rollup_hourly")" 3 "events in the rollups"
assert_eq "$(sql "SELECT sum(duplicates) FROM aac_ingest_hourly")" 1 "duplicates counted"
check_rollups
stop_consumer c2
pass "a resend beside another topic's new event at the same partition and offset: counted once"
