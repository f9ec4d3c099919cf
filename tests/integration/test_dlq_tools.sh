#!/usr/bin/env bash
# `dlq inspect` and `dlq replay` against a real dead-letter topic.
#
# Checks: inspect lists every dead letter (35: 20 missing_field, 10
# db_rejected, 5 invalid_json), filters by reason and time, bounds its
# output (--limit, never the payload unless --show-value), prints valid JSON
# lines with --json, and ends on an empty topic instead of waiting; bad
# arguments exit 2 with one line. replay --dry-run publishes nothing;
# after the cause is fixed (the CHECK constraint dropped) replaying the
# db_rejected ones stores them exactly once, with their key, value and
# original headers, without aac.error.* and with aac.replayed.from and
# aac.replay.count=1. Replaying messages that are still invalid puts them
# back on the dead-letter topic carrying aac.replay.count=1, and a further
# replay skips them (the loop bound) unless --max-replays allows more.
# (Running the same replay twice: test_dlq_replay_twice.sh.)
source "$(dirname "$0")/lib.sh"
fresh_db
migrate_up
make_topics 2
sql "ALTER TABLE agent_actions ADD CONSTRAINT test_no_poison CHECK (action_name <> 'poison')" >/dev/null

dlq() {
  env AAC_KAFKA_BOOTSTRAP_SERVERS="$AAC_TEST_BOOTSTRAP" AAC_KAFKA_TOPIC="$TOPIC" \
    AAC_LOG_LEVEL=warn "$AAC_BIN" dlq "$@"
}
dlq_count() { topic_count "$TOPIC.dlq"; }

gen=$AAC_SRC/tests/integration/gen_events.py
# 1000 events, every 50th missing correlation_id (20); 500 more, every
# 50th refused by the CHECK constraint (10, db_rejected)
python3 "$gen" --count 1000 --invalid-every 50 --ids "$TEST_DIR/ids" >"$TEST_DIR/events"
python3 "$gen" --count 500 --start 1000 --poison-every 50 --ids "$TEST_DIR/ids" >"$TEST_DIR/poison"
grep '"action_name":"poison"' "$TEST_DIR/poison" | grep -o '"event_id":"[^"]*"' | cut -d'"' -f4 \
  >"$TEST_DIR/poison_ids"
assert_eq "$(wc -l <"$TEST_DIR/poison_ids")" 10 "generator: poison events"
# 5 that are not JSON at all, with a header of their own that must survive
printf 'k%d\tnot json %d\n' 1 1 2 2 3 3 4 4 5 5 >"$TEST_DIR/garbage"
produce "$TEST_DIR/events"
produce "$TEST_DIR/poison"
kcat -b "$AAC_TEST_BOOTSTRAP" -P -t "$TOPIC" -K $'\t' -H traceparent=00-abc-def-01 \
  -l "$TEST_DIR/garbage" || fail "kcat"

start_consumer c1
wait_rows 1470 60
wait_for 35 30 dlq_count

# --- inspect ------------------------------------------------------------------
t0=$(date +%s)
dlq inspect >"$TEST_DIR/all" 2>"$TEST_DIR/all.err" || fail "inspect: $(cat "$TEST_DIR/all.err")"
assert_eq "$(wc -l <"$TEST_DIR/all")" 35 "inspect lines"
[ $(($(date +%s) - t0)) -le 15 ] || fail "inspect took $(($(date +%s) - t0)) s"
grep -q 'read 35, listed 35' "$TEST_DIR/all.err" || fail "inspect summary: $(cat "$TEST_DIR/all.err")"
assert_eq "$(grep -c 'reason="missing_field"' "$TEST_DIR/all")" 20 "missing_field lines"
assert_eq "$(grep -c 'reason="db_rejected"' "$TEST_DIR/all")" 10 "db_rejected lines"
assert_eq "$(grep -c 'reason="invalid_json"' "$TEST_DIR/all")" 5 "invalid_json lines"
grep -q "origin=\"$TOPIC:[01]:[0-9]*\"" "$TEST_DIR/all" || fail "origin: $(head -n 1 "$TEST_DIR/all")"
# no payload without --show-value: no event field, no garbage text
grep -q -e 'agent_name' -e 'not json' "$TEST_DIR/all" && fail "inspect printed a payload"
dlq inspect --show-value --reason invalid_json >"$TEST_DIR/values" 2>/dev/null
assert_eq "$(grep -c 'value="not json [1-5]"' "$TEST_DIR/values")" 5 "--show-value"

assert_eq "$(dlq inspect --reason missing_field 2>/dev/null | wc -l)" 20 "--reason missing_field"
assert_eq "$(dlq inspect --reason db_rejected,invalid_json 2>/dev/null | wc -l)" 15 "--reason a,b"
assert_eq "$(dlq inspect --reason retries_exhausted 2>/dev/null | wc -l)" 0 "--reason none"
assert_eq "$(dlq inspect --limit 3 2>/dev/null | wc -l)" 3 "--limit"
assert_eq "$(dlq inspect --since 2099-01-01T00:00:00Z 2>/dev/null | wc -l)" 0 "--since future"
assert_eq "$(dlq inspect --until 2099-01-01T00:00:00+01:00 --since 2000-01-01T00:00:00Z 2>/dev/null | wc -l)" 35 "--until future"

dlq inspect --json >"$TEST_DIR/all.json" 2>/dev/null
/usr/bin/python3 - "$TEST_DIR/all.json" "$TOPIC" <<'PY' || fail "inspect --json"
import json, sys
lines = open(sys.argv[1]).read().splitlines()
topic = sys.argv[2]
assert len(lines) == 35, len(lines)
seen = set()
for l in lines:
    d = json.loads(l)
    assert d["dlq_topic"] == topic + ".dlq", d
    assert d["original_topic"] == topic, d
    assert d["class"] == "permanent", d
    assert d["reason"] in ("missing_field", "db_rejected", "invalid_json"), d
    assert isinstance(d["original_partition"], int) and isinstance(d["original_offset"], int), d
    assert d["attempts"] >= 1 and d["replay_count"] == 0, d
    assert d["failed_at"].endswith("Z") and d["service_version"], d
    assert "value" not in d and d["value_bytes"] > 0, d
    names = [h[0] for h in d["headers"]]
    for n in ("aac.original.topic", "aac.original.partition", "aac.original.offset",
              "aac.original.timestamp", "aac.consumer.group", "aac.error.class",
              "aac.error.reason", "aac.error.path", "aac.error.message", "aac.attempts",
              "aac.failed.at", "aac.service.version"):
        assert n in names, (n, names)
    if d["reason"] == "invalid_json":
        assert ["traceparent", "00-abc-def-01"] in d["headers"], d["headers"]
    seen.add((d["original_partition"], d["original_offset"]))
assert len(seen) == 35, "each source message dead-lettered once"
PY

# an empty dead-letter topic: ends at once; an unknown one: exit 1
broker_ctl topic-create "$TOPIC.empty" 3 >/dev/null
out=$(dlq inspect --topic "$TOPIC.empty" 2>&1) || fail "inspect of an empty topic: $out"
echo "$out" | grep -q 'read 0, listed 0' || fail "empty topic: $out"
rc=0; out=$(dlq inspect --topic "$TOPIC.nosuch" 2>&1) || rc=$?
assert_eq "$rc" 1 "exit status for an unknown topic ($out)"

# bad arguments: exit 2, one line
for args in "" "frobnicate" "inspect --reason nope" "inspect --since yesterday" "inspect --since 2026-11-21" \
  "inspect --limit x" "inspect --to x" "replay" "replay --yes --dry-run" "replay --max-replays 0 --yes"; do
  rc=0
  # shellcheck disable=SC2086
  out=$(dlq $args 2>&1) || rc=$?
  assert_eq "$rc" 2 "exit status of 'dlq $args'"
  assert_eq "$(echo "$out" | wc -l)" 1 "lines printed by 'dlq $args'"
done
dlq --help | grep -q 'max-replays' || fail "dlq --help"
dlq replay --help | grep -q 'dry-run' || fail "dlq replay --help"

# --- replay --------------------------------------------------------------------
before=$(topic_count "$TOPIC")
out=$(dlq replay --dry-run --reason db_rejected 2>/dev/null)
echo "$out" | tail -n 1 | grep -qx 'would replay 10, skipped 0' || fail "dry run: $out"
assert_eq "$(echo "$out" | grep -c 'reason="db_rejected"')" 10 "dry-run listing"
assert_eq "$(topic_count "$TOPIC")" "$before" "a dry run published"

# the cause fixed: the db_rejected ones go in
sql "ALTER TABLE agent_actions DROP CONSTRAINT test_no_poison" >/dev/null
dlq replay --reason db_rejected --yes >"$TEST_DIR/replay1" 2>"$TEST_DIR/replay1.err" ||
  fail "replay: $(cat "$TEST_DIR/replay1.err")"
assert_eq "$(tail -n 1 "$TEST_DIR/replay1")" "replayed 10, skipped 0" "replay of db_rejected"
grep -q '^dlq replay: read' "$TEST_DIR/replay1.err" || fail "no progress on stderr"
cat "$TEST_DIR/ids" "$TEST_DIR/poison_ids" >"$TEST_DIR/ids.all"
wait_rows 1480 60
sleep 1
check_exactly_once "$TEST_DIR/ids.all"
# what went back: key, value and no aac.* but the replay's two headers
kcat -b "$AAC_TEST_BOOTSTRAP" -C -t "$TOPIC" -e -q -f '%k\t%s\t%h\n' 2>/dev/null |
  grep 'aac.replay.count' >"$TEST_DIR/replayed" || true
assert_eq "$(wc -l <"$TEST_DIR/replayed")" 10 "replayed messages on $TOPIC"
grep -q 'aac.error' "$TEST_DIR/replayed" && fail "aac.error.* headers replayed"
assert_eq "$(grep -c 'aac.replay.count=1' "$TEST_DIR/replayed")" 10 "aac.replay.count"
assert_eq "$(grep -cE 'aac.replayed.from=0:[0-9]+' "$TEST_DIR/replayed")" 10 "aac.replayed.from"
cut -f1,2 "$TEST_DIR/replayed" | sort >"$TEST_DIR/replayed.kv"
grep '"action_name":"poison"' "$TEST_DIR/poison" | sort >"$TEST_DIR/poison.kv"
cmp -s "$TEST_DIR/replayed.kv" "$TEST_DIR/poison.kv" || fail "replayed key or value differs from the original"

# still-invalid messages: replayed once, dead-lettered again, then skipped
mark=$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)
out=$(dlq replay --reason missing_field,invalid_json --yes 2>/dev/null)
assert_eq "$out" "replayed 25, skipped 0" "replay of invalid messages"
wait_for 60 30 dlq_count
dlq inspect --json --since "$mark" >"$TEST_DIR/again.json" 2>/dev/null
/usr/bin/python3 - "$TEST_DIR/again.json" <<'PY' || fail "dead letters of replayed messages"
import json, sys
ds = [json.loads(l) for l in open(sys.argv[1])]
assert len(ds) == 25, len(ds)
for d in ds:
    assert d["replay_count"] == 1, d
    assert d["replayed_from"].startswith("0:"), d
    if d["reason"] == "invalid_json":
        assert ["traceparent", "00-abc-def-01"] in d["headers"], d["headers"]
assert len({d["replayed_from"] for d in ds}) == 25
PY
out=$(dlq replay --since "$mark" --yes 2>/dev/null)
assert_eq "$out" "replayed 0, skipped 25: 25 at the replay bound (aac.replay.count >= 1, --max-replays)" "the loop bound"
out=$(dlq replay --since "$mark" --max-replays 2 --limit 5 --yes 2>/dev/null)
assert_eq "$out" "replayed 5, skipped 0" "--max-replays 2 --limit 5"
wait_for 65 30 dlq_count
assert_eq "$(dlq inspect --json --limit 0 2>/dev/null | grep -c '"replay_count":2')" 5 "second-generation dead letters"
sleep 1
check_exactly_once "$TEST_DIR/ids.all"
assert_eq "$(dlq_count)" 65 "dead letters at the end"
stop_consumer c1
pass "35 dead letters inspected; 10 replayed into the table once; 25 invalid replayed, bounded"
