#!/usr/bin/env bash
# Fault: the consumer started against a database where the migrations were
# never applied (no agent_actions, no consumer_offsets).
#
# Checks: it stops by itself within 20 s with exit status 3 (FATAL, not a
# retry loop), logs exactly one "fatal error, stopping" line that tells the
# operator to run `migrate up` (once: in its action), creates nothing in the database and
# consumes nothing (no dead letter). Then, migrations applied, the same
# events go in exactly once: the failed start lost nothing.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/faults_lib.sh"
fresh_db
make_topics 2

gen=$AAC_SRC/tests/integration/gen_events.py
python3 "$gen" --count 500 --invalid-every 50 --ids "$TEST_DIR/ids" >"$TEST_DIR/events"
produce "$TEST_DIR/events"

t0=$(date +%s%N)
start_consumer c1
wait_exit c1 20
ms=$((($(date +%s%N) - t0) / 1000000))
assert_eq "$EXIT_STATUS" 3 "exit status without migrations"
check_fatal c1 "migrate up"
assert_eq "$(sql "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")" 0 "tables created"
assert_eq "$(topic_count "$TOPIC.dlq")" 0 "dead letters"
line=$(grep 'msg="fatal error, stopping"' "$TEST_DIR/c1.log")
# what to do is said once, in the action, not also in the error
assert_eq "$(echo "$line" | grep -o 'migrate up' | wc -l)" 1 "times the fatal line says 'migrate up'"
echo "$line" | grep -q 'error="relation \\"agent_actions\\" does not exist"' ||
  fail "fatal line does not name the missing relation: $line"
echo "exit 3 after $ms ms: $line"

# the fix: nothing was lost
migrate_up
start_consumer c2
wait_rows 490 60
wait_for 10 30 topic_count "$TOPIC.dlq"
sleep 1
check_exactly_once "$TEST_DIR/ids"
assert_eq "$(topic_count "$TOPIC.dlq")" 10 "dead letters after the fix"
stop_consumer c2
pass "no migrations: exit 3 in $ms ms saying 'migrate up'; after migrating, 490 rows once"
