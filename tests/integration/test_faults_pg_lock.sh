#!/usr/bin/env bash
# Fault: agent_actions locked by another session (LOCK TABLE ... ACCESS
# EXCLUSIVE held 15 s) while events arrive, with postgres.lock_timeout_ms
# 1000, so every write attempt fails with lock_not_available (55P03).
#
# Checks: the writes really failed on the lock (lock_not_available in the
# log, transient retries counted) and none was stored while it was held;
# with the default retry policy (5 attempts) the 15 s of failures are not
# counted against the messages: no valid event is dead-lettered
# (retries_exhausted stays 0); all arrive once the lock is gone, exactly
# once; the dead-letter topic holds exactly the invalid messages.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/faults_lib.sh"
fresh_db
migrate_up
make_topics 4

gen=$AAC_SRC/tests/integration/gen_events.py
python3 "$gen" --count 3000 --invalid-every 100 --ids "$TEST_DIR/ids" >"$TEST_DIR/events"
head -n 1000 "$TEST_DIR/events" >"$TEST_DIR/before"
tail -n 2000 "$TEST_DIR/events" >"$TEST_DIR/during"
produce "$TEST_DIR/before"
start_consumer_http c1 AAC_POSTGRES_LOCK_TIMEOUT_MS=1000
wait_rows 990 60

# --- the lock --------------------------------------------------------------------
psql -qX -v ON_ERROR_STOP=1 >"$TEST_DIR/locker.log" 2>&1 <<'SQL' &
BEGIN;
LOCK TABLE agent_actions IN ACCESS EXCLUSIVE MODE;
SELECT pg_sleep(15);
COMMIT;
SQL
locker=$!
TEST_PIDS+=("$locker")
wait_for 1 10 sql "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE c.relname = 'agent_actions' AND l.mode = 'AccessExclusiveLock' AND l.granted"
t0=$(date +%s)
produce "$TEST_DIR/during"
sleep 8
alive c1
assert_eq "$(PGOPTIONS="-c lock_timeout=200" sql "SELECT count(*) FROM agent_actions" 2>/dev/null || echo locked)" \
  locked "the table is readable: the lock is not held"
grep -qE 'lock timeout|55P03' "$TEST_DIR/c1.log" || fail "no write failed on the lock: $(tail -n 5 "$TEST_DIR/c1.log")"
metrics 'aac_retries_total{class="transient"}>=3' 'aac_events_written_total==990' \
  'aac_dead_letters_total{reason="retries_exhausted"}==0' || fail "/metrics during the lock"
wait "$locker" || fail "the locking session failed: $(cat "$TEST_DIR/locker.log")"
echo "lock held $(($(date +%s) - t0)) s after the events arrived"

# --- released ----------------------------------------------------------------------
wait_rows 2970 60
sleep 1
alive c1
check_exactly_once "$TEST_DIR/ids"
source_invalid "$TEST_DIR/invalid"
assert_eq "$(wc -l <"$TEST_DIR/invalid")" 30 "invalid messages on the source topic"
check_dead_letters "$TEST_DIR/invalid" missing_field
metrics --wait 10 'aac_events_written_total==2970' 'aac_ready==1' \
  'aac_dead_letters_total{reason="missing_field"}==30' \
  'aac_dead_letters_total{reason="retries_exhausted"}==0' || fail "/metrics after the lock"
retries=$(grep -c 'batch not written, retrying' "$TEST_DIR/c1.log" || true)
stop_consumer c1
pass "15 s table lock: $retries failed attempts, none counted against a message; 2970 rows once, 30 dead letters"
