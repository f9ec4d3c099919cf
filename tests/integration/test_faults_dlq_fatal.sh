#!/usr/bin/env bash
# Fault: the dead-letter producer hits a fatal error. The broker answers
# its first Produce request with OUT_OF_ORDER_SEQUENCE_NUMBER; for the
# request at the head of the line librdkafka's idempotent producer can no
# longer tell what was written, so it raises a fatal error and fails every
# later produce for good (librdkafka 2.0.2, rdkafka_request.c). The
# dead-letter topic has one partition, so that first request carries base
# sequence 0, the next one to be acknowledged: always fatal.
#
# The error is injected at the broker leading the dead-letter partition
# (pinned), not cluster-wide: the mock consults a broker's own error stack
# before the cluster's, and a broker that ever had one for Produce (the
# shared broker keeps one from test_devbroker, used up) never takes the
# cluster's. With a cluster-level error, whenever the random leader was that
# broker the dead letters were simply delivered and the consumer ran on.
#
# First, the same at start: the broker refuses the producer an id
# (InitProducerId: CLUSTER_AUTHORIZATION_FAILED, fatal too). The consumer
# must stop at once, saying which permission is missing, not run until the
# first invalid event and then retry that batch forever.
#
# Checks: the consumer stops by itself with exit status 3 and logs exactly
# one "fatal error, stopping" line naming the dead-letter producer and the
# broker's error; nothing is committed past an invalid event whose dead
# letter was not delivered, and the rows stored are exactly the valid
# events below the committed offsets (the batch holding the undelivered
# dead letters is not committed, its valid rows neither). Restarted
# without the fault, the consumer stores every valid event exactly once and
# dead-letters every invalid one exactly once.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/faults_lib.sh"
fresh_db
migrate_up
make_topics 4
DLQ_BROKER=1
broker_ctl partition-leader "$TOPIC.dlq" 0 "$DLQ_BROKER" >/dev/null

# --- at start: no producer id --------------------------------------------------
# cluster-level: InitProducerId goes to any broker, and no test gives a
# broker InitProducerId errors of its own (see above)
on_exit broker_ctl clear-errors InitProducerId
broker_ctl request-error InitProducerId CLUSTER_AUTHORIZATION_FAILED 1 >/dev/null
start_consumer c0 AAC_KAFKA_GROUP_ID="$GROUP-c0"
wait_exit c0 20
broker_ctl clear-errors InitProducerId >/dev/null
assert_eq "$EXIT_STATUS" 3 "exit status when the dead-letter producer gets no producer id"
check_fatal c0 "IdempotentWrite"
grep 'msg="fatal error, stopping"' "$TEST_DIR/c0.log" | grep -qF CLUSTER_AUTHORIZATION_FAILED ||
  fail "the fatal line does not name the broker's error: $(grep 'fatal error' "$TEST_DIR/c0.log")"
echo "no producer id: $(grep -o 'action=.*' "$TEST_DIR/c0.log")"

gen=$AAC_SRC/tests/integration/gen_events.py
python3 "$gen" --count 200 --ids "$TEST_DIR/ids" >"$TEST_DIR/before"
python3 "$gen" --count 200 --start 200 --invalid-every 25 --ids "$TEST_DIR/ids" >"$TEST_DIR/during"
produce "$TEST_DIR/before"
start_consumer c1
wait_rows 200 60
wait_for 200 30 sql "SELECT coalesce(sum(next_offset), 0) FROM consumer_offsets WHERE consumer_group = '$GROUP' AND topic = '$TOPIC'"
stop_consumer c1
produce "$TEST_DIR/during"
source_invalid "$TEST_DIR/invalid"
assert_eq "$(wc -l <"$TEST_DIR/invalid")" 8 "invalid events on the source topic"

# --- the fault ----------------------------------------------------------------
# every message is on the topic first: the dead-letter producer is the only
# client left to send a Produce request, and its first one fails
produce_errors_left() { broker_ctl error-count "$DLQ_BROKER" Produce | sed -n 's/.* count=//p'; }
# a broker's error stack cannot be cleared: when the test fails before the
# error is used, a throwaway produce uses it up, or the next test to produce
# to that broker would get it
drain_produce_errors() {
  for _ in 1 2 3; do
    [ "$(produce_errors_left)" = 0 ] && return
    echo drain | timeout 10 kcat -b "$AAC_TEST_BOOTSTRAP" -P -t "$TOPIC.dlq" \
      -X message.send.max.retries=0 || true
  done
}
on_exit drain_produce_errors
broker_ctl broker-request-error "$DLQ_BROKER" Produce OUT_OF_ORDER_SEQUENCE_NUMBER 0 1 >/dev/null
t0=$(date +%s%N)
start_consumer c2
wait_exit c2 30
ms=$((($(date +%s%N) - t0) / 1000000))
assert_eq "$(produce_errors_left)" 0 "injected Produce errors left on the dead-letter partition's leader"
assert_eq "$EXIT_STATUS" 3 "exit status after the dead-letter producer's fatal error"
check_fatal c2 "dead-letter producer"
grep 'msg="fatal error, stopping"' "$TEST_DIR/c2.log" | grep -qF OUT_OF_ORDER_SEQUENCE_NUMBER ||
  fail "the fatal line does not name the broker's error: $(grep 'fatal error' "$TEST_DIR/c2.log")"
grep -q 'msg="batch not written, retrying"' "$TEST_DIR/c2.log" &&
  fail "the batch was retried after the fatal error"
assert_eq "$(topic_count "$TOPIC.dlq")" 0 "dead letters written during the fault"

# nothing committed past an invalid event (none was dead-lettered), and
# the rows stored are exactly the valid events below the committed offsets
kcat -b "$AAC_TEST_BOOTSTRAP" -C -t "$TOPIC" -e -q -f '%p %o %s\n' 2>/dev/null |
  awk '{print $1, $2, ($0 ~ /"correlation_id"/) ? "valid" : "invalid"}' >"$TEST_DIR/source"
sql "SELECT kafka_partition, next_offset FROM consumer_offsets
     WHERE consumer_group = '$GROUP' AND topic = '$TOPIC'" | tr '|' ' ' >"$TEST_DIR/committed"
sql "SELECT kafka_partition, kafka_offset FROM agent_actions" | tr '|' ' ' |
  sort >"$TEST_DIR/stored"
awk 'FILENAME == ARGV[1] {next_[$1] = $2; next}
     $3 == "invalid" && ($1 in next_) && next_[$1] > $2 {
       print "offset " next_[$1] " committed on partition " $1 " past invalid event " $2; bad = 1 }
     $3 == "valid" && ($1 in next_) && $2 < next_[$1] {print $1, $2}
     END {exit bad}' "$TEST_DIR/committed" "$TEST_DIR/source" | sort >"$TEST_DIR/want_stored" ||
  fail "$(grep committed "$TEST_DIR/want_stored")"
diff -q "$TEST_DIR/stored" "$TEST_DIR/want_stored" >/dev/null ||
  fail "rows stored ($(wc -l <"$TEST_DIR/stored")) are not the valid events below the committed offsets ($(wc -l <"$TEST_DIR/want_stored"))"
[ "$(wc -l <"$TEST_DIR/stored")" -ge 200 ] || fail "rows committed before the fault lost"
echo "exit 3 after $ms ms, $(wc -l <"$TEST_DIR/stored") rows stored: $(grep -o 'action=.*' "$TEST_DIR/c2.log")"

# --- restarted without the fault -------------------------------------------
start_consumer c3
wait_rows "$(wc -l <"$TEST_DIR/ids")" 60
wait_for 8 30 topic_count "$TOPIC.dlq"
wait_for 400 30 sql "SELECT coalesce(sum(next_offset), 0) FROM consumer_offsets WHERE consumer_group = '$GROUP' AND topic = '$TOPIC'"
sleep 1 # a duplicate dead letter would show up now
alive c3
check_exactly_once "$TEST_DIR/ids"
check_dead_letters "$TEST_DIR/invalid" missing_field
stop_consumer c3
pass "dead-letter producer fatal at start and on a dead letter: exit 3 after $ms ms, one fatal line, nothing committed past it; after a restart 392 rows and 8 dead letters, each once"
