#!/usr/bin/env bash
# Graceful shutdown under load: SIGTERM stops fetching, finishes and commits
# the current batch, leaves the group and exits 0 within shutdown_timeout;
# what was committed matches the stored offsets exactly, and a restart
# completes the stream with no loss and no duplicate. A signal before the
# first assignment also exits cleanly. A second signal exits at once
# without committing the batch it interrupts.
source "$(dirname "$0")/lib.sh"
fresh_db
migrate_up
make_topics 8
python3 "$AAC_SRC/tests/integration/gen_events.py" --count 40000 --ids "$TEST_DIR/ids" \
  >"$TEST_DIR/events"
produce "$TEST_DIR/events"
check_topic_complete "$TOPIC" 40000

start_consumer c1 AAC_BATCH_MAX_EVENTS=2000
for _ in $(seq 1 300); do [ "$(rows)" -gt 0 ] && break; sleep 0.1; done
[ "$(rows)" -gt 0 ] || fail "nothing written"
t0=$(date +%s%N)
stop_consumer c1
ms=$((($(date +%s%N) - t0) / 1000000))
[ "$ms" -lt 10000 ] || fail "shutdown took ${ms} ms (timeout 10000)"
grep -q 'msg="shutting down"' "$TEST_DIR/c1.log" || fail "no shutdown logged"
stored=$(sql "SELECT sum(next_offset) FROM consumer_offsets WHERE consumer_group = '$GROUP'")
assert_eq "$(rows)" "$stored" "rows committed match the stored offsets"
[ "$stored" -lt 40000 ] || fail "the stream was over before the signal; nothing tested"

start_consumer c2
wait_rows 40000 120
sleep 1
check_exactly_once "$TEST_DIR/ids"
stop_consumer c2

# SIGTERM before the first assignment (the group join takes seconds): a
# clean exit, not librdkafka 2.0.2's abort on closing an unassigned
# cooperative-sticky consumer (librdkafka#4312)
start_consumer early
wait_for 1 30 grep -c 'msg="consumer started"' "$TEST_DIR/early.log"
grep -q 'msg="partitions assigned"' "$TEST_DIR/early.log" && fail "assigned too soon to test this"
stop_consumer early

# second signal: a batch stuck behind a table lock is abandoned at once
python3 "$AAC_SRC/tests/integration/gen_events.py" --count 100 --start 90000 >"$TEST_DIR/more"
start_consumer c3 AAC_POSTGRES_LOCK_TIMEOUT_MS=60000
wait_for 1 60 grep -c 'msg="partitions assigned"' "$TEST_DIR/c3.log"
psql -qX -c "BEGIN; LOCK TABLE agent_actions IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(20); COMMIT;" \
  >/dev/null 2>&1 &
locker=$!
TEST_PIDS+=($locker)
sleep 0.5
produce "$TEST_DIR/more"
wait_for 1 30 sql "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%COPY %'"
pid=$(consumer_pid c3)
kill -TERM "$pid"
sleep 0.5
t0=$(date +%s%N)
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
ms2=$((($(date +%s%N) - t0) / 1000000))
assert_eq "$rc" 130 "exit status after a second signal"
[ "$ms2" -lt 2000 ] || fail "second signal took ${ms2} ms"
# written from the signal handler, yet a log line like the others
grep -q '^ts=[0-9T:.-]*Z level=warn msg="second signal, exiting at once"$' "$TEST_DIR/c3.log" ||
  fail "no second-signal log line: $(tail -n 3 "$TEST_DIR/c3.log")"
sql "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(20)%' AND pid <> pg_backend_pid()" >/dev/null
wait "$locker" 2>/dev/null || true
sleep 1
assert_eq "$(rows)" 40000 "nothing of the abandoned batch committed"
pass "clean stop in ${ms} ms; second signal exited in ${ms2} ms"
