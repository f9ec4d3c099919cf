#!/usr/bin/env bash
# Growth of agent_actions: an event years ahead of every partition lands in
# the default partition through the consumer; `partitions ensure` for its
# month moves it out (row count unchanged); `partitions ensure` creates the
# months ahead from the configuration; `partitions drop` removes old months
# (dry run first), never the default partition nor recent months; `list`
# and the usage errors.
source "$(dirname "$0")/lib.sh"
fresh_db
migrate_up
make_topics 2

part() { sql "SELECT tableoid::regclass FROM agent_actions WHERE event_id = '$1'"; }
exists() { sql "SELECT count(*) FROM pg_class WHERE relname = '$1'"; }
ev() { # key, event_id, timestamp
  printf '%s\t{"event_id":"%s","correlation_id":"%s","agent_name":"a","action_type":"tool_call","action_name":"bash","timestamp":"%s"}\n' \
    "$1" "$2" "$2" "$3"
}

# ---- (1) an event outside every partition still lands ------------------------
now_id=7e1f0000-0000-4000-8000-000000000001
far_id=7e1f0000-0000-4000-8000-000000000002
this_month=$(date -u +%Y%m)
{
  ev k1 "$now_id" "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  ev k2 "$far_id" "2031-03-15T12:00:00Z"
} >"$TEST_DIR/events"
produce "$TEST_DIR/events"
start_consumer c1
wait_rows 2 60
assert_eq "$(part "$now_id")" "agent_actions_p$this_month" "event of this month"
assert_eq "$(part "$far_id")" "agent_actions_default" "event years ahead"

# ---- (2) ensure for that month moves it; rows unchanged ------------------------
"$AAC_BIN" partitions ensure --from 2031-03 --months 0 >"$TEST_DIR/ensure.out" 2>&1 ||
  fail "ensure --from: $(cat "$TEST_DIR/ensure.out")"
grep -qx 'created agent_actions_p203103' "$TEST_DIR/ensure.out" || fail "ensure output: $(cat "$TEST_DIR/ensure.out")"
grep -q 'moved 1 rows from agent_actions_default into agent_actions_p203103' "$TEST_DIR/ensure.out" ||
  fail "no move reported: $(cat "$TEST_DIR/ensure.out")"
assert_eq "$(rows)" 2 "rows after the move"
assert_eq "$(part "$far_id")" "agent_actions_p203103" "moved row's partition"
assert_eq "$(sql "SELECT count(*) FROM agent_actions_default")" 0 "default emptied"
# the consumer keeps writing into the new partition, and a redelivery is still one row
ev k3 7e1f0000-0000-4000-8000-000000000003 "2031-03-20T00:00:00Z" >"$TEST_DIR/more"
ev k2 "$far_id" "2031-03-15T12:00:00Z" >>"$TEST_DIR/more"
produce "$TEST_DIR/more"
wait_rows 3 60
sleep 1
assert_eq "$(rows)" 3 "rows after more events"
assert_eq "$(part 7e1f0000-0000-4000-8000-000000000003)" "agent_actions_p203103" "new row's partition"
stop_consumer c1
# idempotent
assert_eq "$("$AAC_BIN" partitions ensure --from 2031-03 --months 0)" "" "second ensure"

# ---- (3) months ahead from the configuration ------------------------------------
# 0001 created the previous month through three ahead; six ahead adds three
want=$(for i in 4 5 6; do echo "created agent_actions_p$(date -u -d "$(date -u +%Y-%m-01) +$i month" +%Y%m)"; done)
got=$(AAC_PARTITIONS_MONTHS_AHEAD=6 "$AAC_BIN" partitions ensure) || fail "ensure: $got"
assert_eq "$got" "$want" "ensure with months_ahead=6"
got=$("$AAC_BIN" partitions ensure --months 6) || fail "ensure --months: $got"
assert_eq "$got" "" "ensure --months 6 after months_ahead=6"

# ---- (4) retention ---------------------------------------------------------------
# three old months with rows, and an old row in the default partition
sql "SELECT count(*) FROM aac_ensure_partitions('2020-01-01', 3)" >/dev/null
psql -qX -v ON_ERROR_STOP=1 -c "INSERT INTO agent_actions (event_id, correlation_id, agent_name,
  action_type, action_name, event_time, kafka_topic, kafka_partition, kafka_offset)
  SELECT gen_random_uuid(), gen_random_uuid(), 'old', 'success', 'bash', t, 'x', 0, 0
  FROM unnest(ARRAY['2020-01-10', '2020-02-10', '2020-03-10', '2020-03-31 23:59:59.999999+00',
                    '2019-05-05']::timestamptz[]) t" >/dev/null
assert_eq "$(sql "SELECT count(*) FROM agent_actions_default")" 1 "old row in default"
prev=$(date -u -d "$(date -u +%Y-%m-01) -1 month" +%Y%m)

out=$("$AAC_BIN" partitions drop --older-than-months 1 --dry-run) || fail "dry run: $out"
assert_eq "$out" "$(printf 'would drop agent_actions_p%s\n' 202001 202002 202003)" "dry run"
assert_eq "$(exists agent_actions_p202001)" 1 "dry run dropped"
assert_eq "$(rows)" 8 "rows after dry run"

# retention_months 0 (the default) means keep everything: drop needs a count
set +e
err=$("$AAC_BIN" partitions drop 2>&1); rc=$?
set -e
assert_eq "$rc" 2 "drop without a count"
echo "$err" | grep -q 'retention_months is 0' || fail "drop without a count: $err"

# the configured retention keeps the previous month
out=$(AAC_PARTITIONS_RETENTION_MONTHS=1 "$AAC_BIN" partitions drop) || fail "drop: $out"
assert_eq "$out" "$(printf 'dropped agent_actions_p%s\n' 202001 202002 202003)" "drop"
for p in agent_actions_p202001 agent_actions_p202002 agent_actions_p202003; do
  assert_eq "$(exists $p)" 0 "$p dropped"
done
assert_eq "$(exists "agent_actions_p$prev")" 1 "previous month kept"
assert_eq "$(exists agent_actions_default)" 1 "default partition kept"
assert_eq "$(sql "SELECT count(*) FROM agent_actions_default")" 1 "default's rows kept"
assert_eq "$(rows)" 4 "rows after drop"
out=$("$AAC_BIN" partitions drop --older-than-months 1) || fail "second drop: $out"
assert_eq "$out" "no partition ends before $(date -u -d "$(date -u +%Y-%m-01) -1 month" +%Y-%m-%d)" "second drop"

# ---- (5) list, help, usage errors ---------------------------------------------------
out=$("$AAC_BIN" partitions list) || fail "list: $out"
echo "$out" | grep -Eq "^agent_actions_p$this_month +[0-9-]+ 00:00:00\+00 +[0-9-]+ 00:00:00\+00 " ||
  fail "list: $out"
assert_eq "$(echo "$out" | tail -n 1 | awk '{print $1, $2}')" "agent_actions_default DEFAULT" "list ends with default"
"$AAC_BIN" partitions --help | grep -q 'partitions ensure' || fail "--help"
for bad in "" "frobnicate" "ensure --months x" "ensure --from 2031-13" "drop --older-than-months 0" \
  "drop --months 3" "list extra" "drop --dry-run=1" "ensure -x" "ensure --months"; do
  set +e
  # shellcheck disable=SC2086
  "$AAC_BIN" partitions $bad >/dev/null 2>&1; rc=$?
  set -e
  assert_eq "$rc" 2 "exit status of 'partitions $bad'"
done
# no server: status 1 and a reason
set +e
err=$(PGPORT=1 "$AAC_BIN" partitions list 2>&1); rc=$?
set -e
assert_eq "$rc" 1 "status without a server"
echo "$err" | grep -q '^partitions list: could not connect to PostgreSQL' || fail "no server: $err"
pass "default partition, ensure ahead and on demand, retention"
