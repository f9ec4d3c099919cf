#!/usr/bin/env bash
# A shutdown keeps to service.shutdown_timeout_ms, whatever the writers are
# waiting for (issue 19, items 2, 3 and 6):
#  1. the earlier batch's COPY blocked on a lock with statement and lock
#     timeouts off, the later batch staged and waiting for it: the writers
#     were cancelled and joined one at a time, so when the waiting one was
#     joined first the shutdown waited for the blocked statement (for ever
#     here). Three rounds: each time the writers take the batches in
#     whatever order their threads wake.
#  2. a writer confirming its dead letters (the dead-letter broker answers
#     4 s late) when the stop comes: the cancel found no statement, was
#     lost, and the batch was committed after the deadline.
#  3. a failed batch waiting for its retry past the deadline: the drain
#     spun at 100 % of a core until the deadline.
#  4. a revocation waiting for a blocked batch when SIGTERM comes (eager
#     protocol: a second member joins): the revocation ignored the
#     shutdown and waited for ever.
#  5. the upkeep thread's count of the default partition waiting for a
#     lock (lock timeout off) when SIGTERM comes: the stop joined the
#     thread, so the shutdown waited for the lock (for ever here).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/faults_lib.sh"
fresh_db
migrate_up
make_topics 1
gen=$AAC_SRC/tests/integration/gen_events.py
# months of their own, whatever today's date
sql "SELECT count(*) FROM aac_ensure_partitions('2030-01-01', 2)" >/dev/null
stored() { sql "SELECT coalesce(sum(next_offset), 0) FROM consumer_offsets WHERE consumer_group = '$GROUP'"; }
sink_waiting() {
  sql "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()
       AND application_name LIKE '%/sink' AND (state = 'idle in transaction' OR wait_event = 'advisory')"
}
copy_blocked() {
  sql "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()
       AND application_name LIKE '%/sink' AND wait_event_type = 'Lock' AND wait_event <> 'advisory'"
}
# stop_within NAME MS: SIGTERM, and the exit within MS milliseconds
stop_within() {
  local pid t0 ms rc=0
  pid=$(consumer_pid "$1")
  t0=$(date +%s%N)
  kill -TERM "$pid"
  for _ in $(seq 1 $(($2 / 100))); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && fail "$1 still running $2 ms after SIGTERM"
  wait "$pid" || rc=$?
  ms=$((($(date +%s%N) - t0) / 1000000))
  assert_eq "$rc" 0 "$1's exit status"
  echo "$1 stopped in $ms ms"
}
settings=(AAC_POSTGRES_STATEMENT_TIMEOUT_MS=0 AAC_POSTGRES_LOCK_TIMEOUT_MS=0
  AAC_SERVICE_SHUTDOWN_TIMEOUT_MS=2000 AAC_BATCH_WRITERS=2)

# --- 1. a blocked batch, a staged one waiting for it --------------------------
# each round on a topic of its own, read from its start
lock_table agent_actions_p203001
for round in 1 2 3; do
  topic=$TOPIC-r$round
  broker_ctl topic-create "$topic" 1 >/dev/null
  start_consumer "r$round" "${settings[@]}" AAC_KAFKA_TOPIC="$topic" AAC_KAFKA_GROUP_ID="$GROUP-r$round"
  wait_for 1 60 grep -c 'msg="partitions assigned"' "$TEST_DIR/r$round.log"
  python3 "$gen" --count 20 --month 2030-01 --seed "r$round" >"$TEST_DIR/a$round"
  python3 "$gen" --count 20 --start 20 --month 2030-02 --seed "r$round" >"$TEST_DIR/b$round"
  produce "$TEST_DIR/a$round" "$topic"
  wait_for 1 30 copy_blocked
  produce "$TEST_DIR/b$round" "$topic"
  wait_for 1 30 sink_waiting
  stop_within "r$round" 8000
  grep -q 'msg="shutdown: batch not written in time, left uncommitted"' "$TEST_DIR/r$round.log" ||
    fail "round $round: the blocked batches were not left uncommitted"
done
unlock_table
assert_eq "$(rows)" 0 "rows written while the first month was locked"

# --- 2. dead letters unconfirmed at the stop -------------------------------------
python3 "$gen" --count 20 --month 2030-02 --ids "$TEST_DIR/ids" >"$TEST_DIR/base"
produce "$TEST_DIR/base"
n=20
start_consumer c2 "${settings[@]}" AAC_SERVICE_SHUTDOWN_TIMEOUT_MS=1000
wait_for 1 60 grep -c 'msg="partitions assigned"' "$TEST_DIR/c2.log"
wait_for 20 60 stored
# the dead-letter partition on broker 3, the source on broker 2: only the
# dead-letter producer meets broker 3's delay. A broker's own error stack
# cannot be cleared, and a broker that has one never takes the cluster's
# (test_devbroker and test_faults_dlq_fatal rely on broker 1 having none,
# test_devbroker gives broker 3 one): the delay is used up before the end
broker_ctl partition-leader "$TOPIC.dlq" 0 3 >/dev/null
broker_ctl partition-leader "$TOPIC" 0 2 >/dev/null
produce_errors_left() { broker_ctl error-count 3 Produce | sed -n 's/.* count=//p'; }
drain_produce_errors() {
  for _ in 1 2 3; do
    [ "$(produce_errors_left)" = 0 ] && return
    echo drain | timeout 10 kcat -b "$AAC_TEST_BOOTSTRAP" -P -t "$TOPIC.dlq" \
      -X message.send.max.retries=0 || true
  done
}
on_exit drain_produce_errors
broker_ctl broker-request-error 3 Produce 0 4000 1 >/dev/null
python3 "$gen" --count 20 --start $n --invalid-every 10 --month 2030-02 --ids "$TEST_DIR/ids" \
  >"$TEST_DIR/c"
produce "$TEST_DIR/c"
wait_for 1 30 sink_waiting # staged, confirming its dead letters
stop_within c2 6000
assert_eq "$(produce_errors_left)" 0 "the dead-letter delay left on broker 3"
assert_eq "$(rows)" 20 "rows committed after the deadline (the cancel was lost)"
grep -q 'msg="shutdown: batch not written in time, left uncommitted"' "$TEST_DIR/c2.log" ||
  fail "the batch confirming its dead letters was not left uncommitted"

# --- 3. a failed batch waiting for its retry: the drain does not spin ----------------
start_consumer c3 AAC_POSTGRES_LOCK_TIMEOUT_MS=200 AAC_RETRY_JITTER=false \
  AAC_RETRY_INITIAL_BACKOFF_MS=8000 AAC_SERVICE_SHUTDOWN_TIMEOUT_MS=4000
wait_for 1 60 grep -c 'msg="partitions assigned"' "$TEST_DIR/c3.log"
wait_for $((n + 20)) 60 stored
lock_table agent_actions
python3 "$gen" --count 5 --start $((n + 20)) --month 2030-02 --ids "$TEST_DIR/ids" >"$TEST_DIR/d"
produce "$TEST_DIR/d"
wait_for 1 30 grep -c 'msg="batch not written, retrying"' "$TEST_DIR/c3.log"
pid=$(consumer_pid c3)
ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
kill -TERM "$pid"
sleep 0.3
t0=$(ticks)
sleep 3
t1=$(ticks)
hz=$(getconf CLK_TCK)
echo "drain CPU: $((t1 - t0)) ticks in 3 s ($hz per s)"
[ $((t1 - t0)) -lt $((hz * 3 / 4)) ] || fail "the drain used $((t1 - t0)) ticks of CPU in 3 s (spinning)"
wait "$pid" || fail "c3 exited with status $?"
unlock_table

# --- 4. a revocation waiting for a blocked batch when SIGTERM comes ----------------
eager=(AAC_KAFKA_CONSUMER_PROPERTIES_PARTITION_ASSIGNMENT_STRATEGY=range)
start_consumer_http c4 "${settings[@]}" "${eager[@]}"
wait_for 1 60 grep -c 'msg="partitions assigned"' "$TEST_DIR/c4.log"
lock_table agent_actions
python3 "$gen" --count 5 --start $((n + 25)) --month 2030-02 --ids "$TEST_DIR/ids" >"$TEST_DIR/e"
produce "$TEST_DIR/e"
wait_for 1 30 copy_blocked
start_consumer c5 "${eager[@]}"
rebalances() { curl -s "$METRICS_URL" | awk '$1 == "aac_rebalances_total" {print $2}'; }
wait_for 2 30 rebalances # assigned, then the revocation began
stop_within c4 12000
unlock_table
stop_consumer c5

# --- 5. the upkeep waiting for a lock when SIGTERM comes -----------------------
start_consumer c7 "${settings[@]}" AAC_PARTITIONS_UPKEEP_INTERVAL_S=1
wait_for 1 60 grep -c 'msg="partitions assigned"' "$TEST_DIR/c7.log"
lock_table agent_actions_default
upkeep_blocked() {
  sql "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()
       AND application_name LIKE '%/partitions' AND wait_event_type = 'Lock'"
}
wait_for 1 30 upkeep_blocked # its count, every second, now waits
stop_within c7 4000
assert_eq "$(upkeep_blocked)" 0 "upkeep statements still waiting after the stop"
unlock_table

# nothing lost: every event once, after a clean run
start_consumer c6
wait_rows "$(wc -l <"$TEST_DIR/ids")" 60
wait_for $((n + 30)) 30 stored
check_exactly_once "$TEST_DIR/ids"
stop_consumer c6
pass "shutdown within its deadline: blocked writers (3 rounds), unconfirmed dead letters, a retry waiting (no spin), a revocation waiting, the upkeep waiting"
