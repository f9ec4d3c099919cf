#!/usr/bin/env bash
# The rollups are exact, the same promise as the rows (issue 20): after
# each step below they equal an aggregate over the raw rows
# (check_rollups: `rollups check` and the hourly balance of messages).
#  1. a stream with 2 % producer resends (counted nowhere), 1 % invalid
#     events and 2 % rows the database refuses (dead letters: counted
#     nowhere), late and future events (their own hours, the future one in
#     the default partition), the two sides of an hour boundary, events
#     without duration or project, names that need quoting;
#  2. the refused rows made acceptable and sent back with `dlq replay`:
#     stored, and counted once;
#  3. `rollups rebuild` run over and over while the service writes: nothing
#     counted twice or not at all;
#  4. a row inserted by hand: `rollups check` names its key and exits 1,
#     `rollups rebuild` of its hour mends it; written with rollups.enabled
#     false, the same.
source "$(dirname "$0")/lib.sh"
fresh_db
migrate_up
make_topics 4
gen=$AAC_SRC/tests/integration/gen_events.py
sql "ALTER TABLE agent_actions ADD CONSTRAINT test_no_poison CHECK (action_name <> 'poison')" >/dev/null
dlq() {
  env AAC_KAFKA_BOOTSTRAP_SERVERS="$AAC_TEST_BOOTSTRAP" AAC_KAFKA_TOPIC="$TOPIC" \
    AAC_LOG_LEVEL=warn "$AAC_BIN" dlq "$@"
}
stored() { sql "SELECT coalesce(sum(next_offset), 0) FROM consumer_offsets WHERE consumer_group = '$GROUP'"; }

# --- 1. the stream ---------------------------------------------------------------
python3 "$gen" --count 3000 --invalid-every 100 --poison-every 50 --ids "$TEST_DIR/ids" \
  >"$TEST_DIR/stream"
# 2 % resends (60): the same lines again, later in the stream; 30 invalid,
# 30 refused by the constraint
awk 'NR % 50 == 7' "$TEST_DIR/stream" >"$TEST_DIR/resends"
python3 - "$TEST_DIR/special" "$TEST_DIR/ids" <<'PY'
import json, sys, uuid
out, ids = open(sys.argv[1], "w"), open(sys.argv[2], "a")
NS = uuid.UUID("0b6f3c0e-6a43-4c1e-9d0e-aaaaaaaaaaaa")
def ev(i, ts, **kw):
    e = {"event_id": str(uuid.uuid5(NS, str(i))), "correlation_id": str(uuid.uuid5(NS, f"c{i}")),
         "agent_name": kw.get("agent", "edge"), "action_type": kw.get("type", "error"),
         "action_name": kw.get("action", "edge_case"), "timestamp": ts}
    if "duration" in kw: e["duration_ms"] = kw["duration"]
    if "project" in kw: e["project_path"] = "/srv/" + kw["project"]
    ids.write(e["event_id"] + "\n")
    out.write("k\t" + json.dumps(e, ensure_ascii=False) + "\n")
ev(1, "2020-01-01T00:00:00Z", duration=5, project="old")                 # late
ev(2, "2099-05-01T12:34:56.5Z", duration=70000)                           # future
ev(3, "2026-11-20T10:59:59.999999Z", duration=1)                          # hour boundary
ev(4, "2026-11-20T11:00:00Z", duration=2)
ev(5, "2026-11-20T11:00:00.000001Z")                                      # no duration, no project
ev(6, "2026-11-20T11:30:00Z", agent='we"ird\\,{x} é', action="a,b}", duration=0, project="p q")
PY
cat "$TEST_DIR/stream" "$TEST_DIR/resends" "$TEST_DIR/special" >"$TEST_DIR/all"
total=$(wc -l <"$TEST_DIR/all")
produce "$TEST_DIR/all"
valid=$(wc -l <"$TEST_DIR/ids")
start_consumer c1
wait_for "$total" 60 stored
wait_rows "$valid" 30
check_exactly_once "$TEST_DIR/ids"
check_rollups
assert_eq "$(sql "SELECT sum(messages), sum(rows_inserted), sum(duplicates), sum(dead_letters)
  FROM aac_ingest_balance")" "$total|$valid|60|60" "messages, rows, duplicates, dead letters"
assert_eq "$(sql "SELECT reason || '=' || sum(dead_letters) FROM aac_dead_letters_hourly
  GROUP BY reason ORDER BY reason" | tr '\n' ' ')" "db_rejected=30 missing_field=30 " \
  "dead letters by reason"
# the edge cases, each in its own hour, counted once
assert_eq "$(sql "SELECT to_char(hour AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24'), sum(events)
  FROM aac_rollup_hourly WHERE agent_name IN ('edge', 'we\"ird\\,{x} é')
  GROUP BY 1 ORDER BY 1" | tr '\n' ' ')" \
  "2020-01-01 00|1 2026-11-20 10|1 2026-11-20 11|3 2099-05-01 12|1 " "edge-case hours"
assert_eq "$(sql "SELECT count(*) FROM agent_actions_default")" 2 "rows in the default partition (2020, 2099)"
assert_eq "$(sql "SELECT events, timed_events, duration_min IS NULL FROM aac_rollup_hourly
  WHERE project_name IS NULL AND action_type = 'error' AND agent_name = 'edge'
  AND hour = '2026-11-20 11:00+00'")" "2|1|f" "NULL project, one NULL duration"
assert_eq "$(sql "SELECT action_name, project_name FROM aac_rollup_hourly WHERE agent_name = 'we\"ird\\,{x} é'")" \
  "a,b}|p q" "names that need quoting"

# --- 2. the refused rows, fixed and replayed ------------------------------------------
sql "ALTER TABLE agent_actions DROP CONSTRAINT test_no_poison" >/dev/null
dlq replay --reason db_rejected --yes >"$TEST_DIR/replay" 2>&1 || { cat "$TEST_DIR/replay"; fail "dlq replay"; }
wait_rows $((valid + 30)) 60
wait_for $((total + 30)) 30 stored
check_rollups
assert_eq "$(sql "SELECT sum(events) FROM aac_rollup_hourly WHERE action_name = 'poison'")" 30 \
  "replayed events counted once"
assert_eq "$(sql "SELECT count(*) FROM agent_actions WHERE action_name = 'poison'")" 30 \
  "replayed events stored once"

# --- 3. rebuild while the service writes ---------------------------------------------
python3 "$gen" --count 4000 --start 10000 --ids "$TEST_DIR/ids2" >"$TEST_DIR/more"
split -l 200 "$TEST_DIR/more" "$TEST_DIR/more."
(
  for f in "$TEST_DIR"/more.*; do
    kcat -b "$AAC_TEST_BOOTSTRAP" -P -t "$TOPIC" -K $'\t' -z none -l "$f" 2>/dev/null
    sleep 0.2
  done
) &
producer=$!
TEST_PIDS+=($producer)
rebuilds=0
while kill -0 "$producer" 2>/dev/null || [ "$rebuilds" -lt 2 ]; do
  "$AAC_BIN" rollups rebuild --since 2026-11-01 --until 2026-12-01 --step-hours 24 \
    >"$TEST_DIR/rebuild.log" 2>&1 || { cat "$TEST_DIR/rebuild.log"; fail "rollups rebuild"; }
  rebuilds=$((rebuilds + 1))
done
wait_rows $((valid + 30 + 4000)) 60
check_rollups
echo "rebuilt the month $rebuilds times while 4000 events were written"

# --- 4. rows that bypass the rollups ------------------------------------------------------
sql "INSERT INTO agent_actions (event_id, correlation_id, agent_name, action_type, action_name,
     event_time, kafka_topic, kafka_partition, kafka_offset)
     VALUES (gen_random_uuid(), gen_random_uuid(), 'by-hand', 'success', 'manual',
             '2026-11-25T08:15:00Z', 'manual', 0, 0)" >/dev/null
rc=0
out=$("$AAC_BIN" rollups check --since 2026-11-25 --until 2026-11-26) || rc=$?
assert_eq "$rc" 1 "rollups check exit status with a row inserted by hand"
echo "$out" | grep -q '^aac_rollup_hourly 2026-11-25T08:00:00Z by-hand / success / manual / (no project): rollup (missing), raw rows events=1' ||
  fail "rollups check does not name the key: $out"
"$AAC_BIN" rollups rebuild --since 2026-11-25T08 --until 2026-11-25T09 >/dev/null
check_rollups
stop_consumer c1
python3 "$gen" --count 50 --start 20000 --month 2026-10 >"$TEST_DIR/off"
produce "$TEST_DIR/off"
start_consumer c2 AAC_ROLLUPS_ENABLED=false
wait_rows $((valid + 30 + 4000 + 1 + 50)) 60
stop_consumer c2
rc=0
"$AAC_BIN" rollups check --since 2026-10-01 --until 2026-11-01 >/dev/null || rc=$?
assert_eq "$rc" 1 "rollups check after writing with rollups.enabled false"
"$AAC_BIN" rollups rebuild --since 2026-10-01 --until 2026-11-01 --step-hours 168 >/dev/null
check_rollups
pass "rollups exact through resends, dead letters, a replay, edge-case hours, $rebuilds rebuilds while writing, rows by hand"
