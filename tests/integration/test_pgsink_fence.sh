#!/usr/bin/env bash
# The offsets fence in PostgreSQL itself (issue 19, item 1): a batch commits
# only when consumer_offsets still holds the offset it expects, and never
# stores a smaller one than that, unless the batch says the log started
# over. The consume thread refuses such a batch before it is written
# (positions.h, unit-tested); this is the database's own refusal behind it,
# driven through pgsink by fence_probe.
source "$(dirname "$0")/lib.sh"
fresh_db
migrate_up
make_topics 1
python3 "$AAC_SRC/tests/integration/gen_events.py" --count 3 >"$TEST_DIR/events"
produce "$TEST_DIR/events"
probe() { "$AAC_BUILD/fence_probe" "$AAC_TEST_BOOTSTRAP" "$TOPIC" "$@"; }
stored() { sql "SELECT next_offset FROM consumer_offsets WHERE consumer_group = 'fence-probe'"; }
sql "INSERT INTO consumer_offsets (consumer_group, topic, kafka_partition, next_offset)
     VALUES ('fence-probe', '$TOPIC', 0, 10)" >/dev/null

rc=0; out=$(probe 9 3 0) || rc=$?
assert_eq "$out/$rc" "fenced/3" "a fence that does not match"
rc=0; out=$(probe 10 3 0) || rc=$?
assert_eq "$out/$rc" "fenced/3" "a batch storing 3 below the stored 10"
assert_eq "$(stored)" 10 "stored offset after the refusals"
assert_eq "$(rows)" 0 "rows after the refusals"
rc=0; out=$(probe 10 3 1) || rc=$?
assert_eq "$out/$rc" "committed/0" "the same batch after the log started over"
assert_eq "$(stored)" 3 "stored offset after the restart"
assert_eq "$(rows)" 3 "rows after the restart"
pass "the fence refuses a mismatch and a step backwards, and follows a restart"
