#!/usr/bin/env bash
# Fault: the consumer's PostgreSQL connections killed with
# pg_terminate_backend, over and over, while events stream in.
#
# Checks: at least 5 of the consumer's backends were actually terminated
# mid-stream; the consumer never exits and reconnects by itself; every
# valid event is stored exactly once; the dead-letter topic holds exactly
# the invalid messages (one each, headers right) and nothing because of a
# killed connection; the metrics agree (written, dead letters by reason,
# no retries_exhausted, transient retries counted).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/faults_lib.sh"
fresh_db
migrate_up
make_topics 4

gen=$AAC_SRC/tests/integration/gen_events.py
python3 "$gen" --count 6000 --invalid-every 100 --ids "$TEST_DIR/ids" >"$TEST_DIR/events"
split -l 500 -d "$TEST_DIR/events" "$TEST_DIR/chunk."
# small batches: many writes, so the kills land on all of them (COPY,
# offsets, commit) and not only between batches
start_consumer_http c1 AAC_BATCH_MAX_EVENTS=100 AAC_BATCH_LINGER_MS=20
wait_for 200 30 ready_code

# the killer: every 0.3 s, every backend of the consumer in this database
: >"$TEST_DIR/kills"
(
  while [ ! -f "$TEST_DIR/stop_killing" ]; do
    psql -qXAt -c "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))
                   FROM pg_stat_activity
                   WHERE datname = current_database() AND pid <> pg_backend_pid()
                     AND application_name LIKE 'agent-actions-consumer/%'" \
      >>"$TEST_DIR/kills" 2>/dev/null || true
    sleep 0.3
  done
) &
killer=$!
TEST_PIDS+=("$killer")
on_exit touch "$TEST_DIR/stop_killing"

for f in "$TEST_DIR"/chunk.*; do
  produce "$f"
  sleep 0.4
  alive c1
done
# keep killing until a good part of the stream is in, then let it finish
rows_at_least() { [ "$(rows 2>/dev/null || echo 0)" -ge "$1" ] && echo yes; }
wait_for yes 60 rows_at_least 3000
touch "$TEST_DIR/stop_killing"
wait "$killer" || true
kills=$(awk '{s += $1} END {print s + 0}' "$TEST_DIR/kills")
echo "backends terminated: $kills"
[ "$kills" -ge 5 ] || fail "only $kills backends were terminated: the fault did not happen"

wait_rows 5940 90
sleep 1
alive c1
check_exactly_once "$TEST_DIR/ids"
check_rollups
source_invalid "$TEST_DIR/invalid"
assert_eq "$(wc -l <"$TEST_DIR/invalid")" 60 "invalid messages on the source topic"
check_dead_letters "$TEST_DIR/invalid" missing_field
metrics --wait 10 'aac_events_written_total==5940' 'aac_postgres_up==1' 'aac_ready==1' \
  'aac_dead_letters_total{reason="missing_field"}==60' \
  'aac_dead_letters_total{reason="retries_exhausted"}==0' \
  'aac_dead_letters_total{reason="db_rejected"}==0' \
  'aac_retries_total{class="transient"}>0' || fail "/metrics"
grep -q 'fatal error' "$TEST_DIR/c1.log" && fail "a fatal error was logged"
retries=$(grep -c 'batch not written, retrying' "$TEST_DIR/c1.log" || true)
stop_consumer c1
pass "$kills backends killed: 5940 rows once, 60 dead letters, $retries batch retries"
