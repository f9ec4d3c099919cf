#!/usr/bin/env bash
# A seek that does not take effect (issue 11, item 4). PostgreSQL stores
# offset 500 for a partition nobody committed to Kafka. The assignment's
# read of it fails (consumer_offsets locked), so the partition is assigned
# where Kafka says (nothing: auto.offset.reset, offset 0) and held back;
# librdkafka asks the coordinator for that offset, and the test delays the
# answer 3 s (under the 6 s session timeout: heartbeats wait behind it).
# The retry reads 500 and seeks while the partition's fetcher has not
# started: librdkafka answers that seek with a per-partition error (_STATE)
# and no error object. Taken for done, the partition ran from 0, "followed
# the broker backwards" and stored offsets below PostgreSQL's. It must be
# held until a seek takes effect: only offsets 500-999 written.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/faults_lib.sh"
fresh_db
migrate_up
make_topics 1

gen=$AAC_SRC/tests/integration/gen_events.py
python3 "$gen" --count 1000 >"$TEST_DIR/events"
produce "$TEST_DIR/events"
check_topic_complete "$TOPIC" 1000
sql "INSERT INTO consumer_offsets (consumer_group, topic, kafka_partition, next_offset) VALUES ('$GROUP', '$TOPIC', 0, 500)" >/dev/null

lock_table consumer_offsets

# the group's coordinator answers its next OffsetFetch (API key 9) 3 s late
broker_ctl coordinator group "$GROUP" 1 >/dev/null
broker_ctl broker-request-error 1 OffsetFetch 0 3000 1 >/dev/null
on_exit broker_ctl clear-errors OffsetFetch

start_consumer c1 AAC_POSTGRES_LOCK_TIMEOUT_MS=1000 AAC_RETRY_JITTER=false \
  AAC_RETRY_INITIAL_BACKOFF_MS=300
held() { grep -c 'msg="could not read stored offsets, partitions held back"' "$TEST_DIR/c1.log" || true; }
wait_for 1 30 held
unlock_table
wait_rows 500 60
wait_for 1000 30 sql "SELECT coalesce(sum(next_offset), 0) FROM consumer_offsets WHERE consumer_group = '$GROUP'"
sleep 1
assert_eq "$(sql "SELECT count(*), min(kafka_offset), max(kafka_offset) FROM agent_actions")" "500|500|999" \
  "rows written (count, first and last offset)"
grep -q 'msg="could not seek, partition held back"' "$TEST_DIR/c1.log" ||
  fail "no seek failed: the test did not reach the path it is about"
grep -q 'went backwards' "$TEST_DIR/c1.log" && fail "followed the broker below the stored offset"
grep -q 'msg="partitions revoked"' "$TEST_DIR/c1.log" && fail "the member lost its partition: the test's delay is too long"
stop_consumer c1
pass "a seek refused while the fetcher starts: held, retried, offsets 500-999 written once"
