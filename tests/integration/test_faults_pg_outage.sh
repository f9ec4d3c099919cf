#!/usr/bin/env bash
# Fault: PostgreSQL stopped for 30 s mid-stream, then started again.
#
# Checks: the consumer stays alive through the outage (never exits), /ready
# answers 503 while PostgreSQL is down and 200 after, it resumes by itself,
# and at the end every valid event is stored exactly once, none of them
# dead-lettered because of the outage: the dead-letter topic holds exactly
# the 30 invalid messages (one each, headers right), and the metrics agree
# (written 2970, dead letters 30 missing_field and 0 retries_exhausted,
# transient retries counted). Uses a private PostgreSQL: the suite's shared
# one must never stop.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/faults_lib.sh"
private_pg_start
fresh_db
migrate_up
make_topics 4

gen=$AAC_SRC/tests/integration/gen_events.py
python3 "$gen" --count 3000 --invalid-every 100 --ids "$TEST_DIR/ids" >"$TEST_DIR/events"
head -n 1000 "$TEST_DIR/events" >"$TEST_DIR/before"
tail -n 2000 "$TEST_DIR/events" >"$TEST_DIR/during"
produce "$TEST_DIR/before"
start_consumer_http c1 AAC_RETRY_MAX_BACKOFF_MS=2000
wait_rows 990 60
wait_for 200 20 ready_code

# --- the outage ----------------------------------------------------------------
private_pg_stop
t0=$(date +%s)
produce "$TEST_DIR/during"
wait_for 503 15 ready_code
echo "/ready 503 $(($(date +%s) - t0)) s after PostgreSQL stopped"
while [ $(($(date +%s) - t0)) -lt 30 ]; do
  alive c1
  [ "$(ready_code)" = 503 ] || fail "/ready not 503 $(($(date +%s) - t0)) s into the outage"
  sleep 2
done
metrics 'aac_postgres_up==0' 'aac_ready==0' 'aac_up==1' 'aac_consumption_paused==1' \
  'aac_retries_total{class="transient"}>0' 'aac_events_written_total==990' \
  'aac_dead_letters_total{reason="retries_exhausted"}==0' || fail "/metrics during the outage"

# --- back ----------------------------------------------------------------------
private_pg_restart
t1=$(date +%s)
wait_rows 2970 90
echo "all rows $(($(date +%s) - t1)) s after PostgreSQL came back"
wait_for 200 20 ready_code
sleep 1 # anything late would show up now
alive c1
check_exactly_once "$TEST_DIR/ids"
check_rollups
source_invalid "$TEST_DIR/invalid"
assert_eq "$(wc -l <"$TEST_DIR/invalid")" 30 "invalid messages on the source topic"
check_dead_letters "$TEST_DIR/invalid" missing_field
metrics --wait 10 'aac_postgres_up==1' 'aac_ready==1' 'aac_consumption_paused==0' \
  'aac_events_written_total==2970' 'aac_dead_letters_total{reason="missing_field"}==30' \
  'aac_dead_letters_total{reason="retries_exhausted"}==0' \
  'aac_retries_total{class="transient"}>0' || fail "/metrics after the outage"
grep -q 'fatal error' "$TEST_DIR/c1.log" && fail "a fatal error was logged"
retries=$(grep -c 'batch not written, retrying' "$TEST_DIR/c1.log" || true)
stop_consumer c1
pass "30 s outage: 2970 rows once, 30 dead letters, $retries retries logged"
