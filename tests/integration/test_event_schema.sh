#!/usr/bin/env bash
# The JSON Schema of the event contract (docs/event-contract.schema.json)
# agrees with `validate` on every example of tests/data/events except for
# the rules docs/event-contract.md lists as beyond JSON Schema; and the
# Python producer shown in that doc validates with it and produces exactly
# the events it accepts, to the development broker.
source "$(dirname "$0")/lib.sh"

/usr/bin/python3 "$AAC_SRC/tests/integration/check_event_schema.py" "$AAC_BIN" "$AAC_SRC" \
  >"$TEST_DIR/check.out" || fail "schema and validate disagree (above)"
summary=$(cat "$TEST_DIR/check.out")
echo "$summary"

# --- the documented producer -------------------------------------------------
prog=$TEST_DIR/produce_events.py
awk '/^<!-- producer.py/ { on = 1; next } on && /^```python$/ { copy = 1; next }
     copy && /^```$/ { exit } copy' "$AAC_SRC/docs/event-contract.md" >"$prog"
[ "$(wc -l <"$prog")" -ge 30 ] || fail "no producer block found in docs/event-contract.md"
make_topics 3
events=$TEST_DIR/events.jsonl
cat "$AAC_SRC"/tests/data/events/valid.jsonl "$AAC_SRC"/tests/data/events/invalid.jsonl >"$events"
rc=0
/usr/bin/python3 "$prog" "$AAC_SRC/docs/event-contract.schema.json" "$AAC_TEST_BOOTSTRAP" "$TOPIC" \
  <"$events" >"$TEST_DIR/produce.out" 2>"$TEST_DIR/produce.err" || rc=$?
assert_eq "$rc" 1 "producer exit status (some events refused)"
# what the schema accepts: the valid examples and the listed differences
# that are not duplicate keys (which the producer refuses itself)
want_sent=$((32 + 11 - 2))
assert_eq "$(cat "$TEST_DIR/produce.out")" "produced $want_sent, refused $((71 - want_sent)), failed 0" "producer summary"
assert_eq "$(topic_count "$TOPIC")" "$want_sent" "messages on $TOPIC"
grep -q "^line 34: not produced: " "$TEST_DIR/produce.err" || fail "$(head "$TEST_DIR/produce.err")"
# everything it produced that `validate` refuses is one of the listed rules
kcat -b "$AAC_TEST_BOOTSTRAP" -C -t "$TOPIC" -e -q -f '%s\n' >"$TEST_DIR/sent.jsonl" 2>/dev/null
n_bad=$("$AAC_BIN" validate --json "$TEST_DIR/sent.jsonl" | grep -c '"valid":false' || true)
assert_eq "$n_bad" 9 "produced events that validate refuses (listed rules, no duplicate keys)"
pass "$summary; producer sent $want_sent, refused $((71 - want_sent))"
