#!/usr/bin/env bash
# Confluent-framed events (event.framing auto, the default) through the
# real service: a producer using Confluent's JSON Schema serializer sends
# byte 0x00, the schema id (4 bytes, big-endian), then the JSON.
#
# Checks: framed and plain events on one topic are all stored exactly once,
# in binary COPY and then in text COPY; each framed row's extra holds the
# schema id as the number _aac_confluent_schema_id beside the producer's
# own unknown fields, plain rows have none. Four dead letters with their
# reasons: a frame cut short (invalid_frame), a frame before invalid JSON
# (invalid_json, byte counted from the value's start), a frame before an
# event without correlation_id (missing_field), a producer's own
# _aac_confluent_schema_id (reserved_field). `dlq inspect` names the schema
# id of the framed ones (line and --json) and none for the others;
# `dlq replay` sends a framed dead letter's bytes back unchanged, frame
# included. With event.framing confluent a plain event is dead-lettered
# (missing_frame) and a framed one stored; with none a framed one is
# dead-lettered (nul_character, the message naming the frame) and a plain
# one stored. `validate` reads lines as plain JSON whatever event.framing
# says, and check-config shows the key.
source "$(dirname "$0")/lib.sh"
fresh_db
migrate_up
make_topics 2
PY=/usr/bin/python3 # Debian's, with python3-confluent-kafka

dlq() {
  env AAC_KAFKA_BOOTSTRAP_SERVERS="$AAC_TEST_BOOTSTRAP" AAC_KAFKA_TOPIC="$TOPIC" \
    AAC_LOG_LEVEL=warn "$AAC_BIN" dlq "$@"
}
dlq_count() { topic_count "$TOPIC.dlq"; }

# produce.py PHASE: the phase's messages, raw bytes; event ids to ids, each
# dead letter's value to <key>.bin
cat >"$TEST_DIR/produce.py" <<'PY'
import json
import struct
import sys

bootstrap, topic, phase, src, out = sys.argv[1:6]
sys.path.insert(0, src + "/tests/integration")
from gen_events import event  # noqa: E402
from confluent_kafka import Producer  # noqa: E402


def frame(schema_id, body):
    return b"\x00" + struct.pack(">I", schema_id) + body


msgs, ids = [], []


def add(i, schema_id=None, extra=None, drop=None, key=None):
    session, ev = event(i, "framing")
    if extra:
        ev.update(extra)
    if drop:
        del ev[drop]
    else:
        ids.append(ev["event_id"])
    body = json.dumps(ev, separators=(",", ":")).encode()
    value = body if schema_id is None else frame(schema_id, body)
    msgs.append((key or str(session).encode(), value))
    return value


if phase == "1":
    for i in range(0, 30):
        add(i, 42)
    for i in range(30, 40):
        add(i, 0x01020304, {"tenant": "acme"})
    for i in range(40, 60):
        add(i)
    dead = {
        b"truncated": b"\x00\x00\x00",
        b"framed-bad-json": frame(7, b'{"a":}'),
        b"framed-missing": add(60, 42, drop="correlation_id", key=b"framed-missing"),
        b"reserved": add(61, None, {"_aac_confluent_schema_id": 5}, key=b"reserved"),
    }
    ids.remove(json.loads(dead[b"reserved"])["event_id"])
    msgs = [m for m in msgs if m[0] not in dead] + list(dead.items())
    for k, v in dead.items():
        open("%s/%s.bin" % (out, k.decode()), "wb").write(v)
elif phase in ("3", "4"):  # one framed and one plain, keyed by what they are
    base = 200 if phase == "3" else 300
    add(base, 5, key=b"framed-" + phase.encode())
    add(base + 1, key=b"plain-" + phase.encode())
    ids.pop(1 if phase == "3" else 0)  # the one this framing dead-letters
else:
    for i in range(100, 120):
        add(i, 99, {"tenant": "beta"})
    for i in range(120, 130):
        add(i)

failed = []
p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True})
for k, v in msgs:
    p.produce(topic, value=v, key=k, on_delivery=lambda err, m: err and failed.append(err))
left = p.flush(30)
with open(out + "/ids", "a") as f:
    f.writelines(i + "\n" for i in ids)
print(len(msgs))
sys.exit(1 if failed or left else 0)
PY
produce_phase() {
  "$PY" "$TEST_DIR/produce.py" "$AAC_TEST_BOOTSTRAP" "$TOPIC" "$1" "$AAC_SRC" "$TEST_DIR" \
    >"$TEST_DIR/produce$1.out" || fail "producer phase $1: $(cat "$TEST_DIR/produce$1.out")"
}

# --- phase 1: binary COPY (the default) ------------------------------------
produce_phase 1
assert_eq "$(cat "$TEST_DIR/produce1.out")" 64 "messages produced in phase 1"
start_consumer c1
wait_rows 60 60
wait_for 4 30 dlq_count
stop_consumer c1

# --- phase 2: text COPY ------------------------------------------------------
produce_phase 2
start_consumer c2 AAC_POSTGRES_BINARY_COPY=false
wait_rows 90 60
sleep 1 # anything late would show up now
stop_consumer c2
check_exactly_once "$TEST_DIR/ids"
assert_eq "$(dlq_count)" 4 "dead letters"

# --- the rows -------------------------------------------------------------------
id_count() { sql "SELECT count(*) FROM agent_actions WHERE extra->'_aac_confluent_schema_id' = '$1'::jsonb"; }
assert_eq "$(id_count 42)" 30 "rows with schema id 42 (binary COPY)"
assert_eq "$(id_count 16909060)" 10 "rows with schema id 0x01020304 (binary COPY)"
assert_eq "$(id_count 99)" 20 "rows with schema id 99 (text COPY)"
assert_eq "$(sql "SELECT count(*) FROM agent_actions WHERE extra IS NULL")" 30 "plain rows without extra"
# the schema id is a JSON number, the producer's own fields kept beside it
assert_eq "$(sql "SELECT count(*) FROM agent_actions WHERE extra ? '_aac_confluent_schema_id' AND jsonb_typeof(extra->'_aac_confluent_schema_id') <> 'number'")" 0 "schema id type"
assert_eq "$(sql "SELECT count(*) FROM agent_actions WHERE extra = '{\"tenant\":\"acme\",\"_aac_confluent_schema_id\":16909060}'::jsonb")" 10 "extra of framed rows with a field of their own (binary)"
assert_eq "$(sql "SELECT count(*) FROM agent_actions WHERE extra = '{\"tenant\":\"beta\",\"_aac_confluent_schema_id\":99}'::jsonb")" 20 "extra of framed rows with a field of their own (text)"
assert_eq "$(sql "SELECT count(*) FROM agent_actions WHERE extra = '{\"_aac_confluent_schema_id\":42}'::jsonb")" 30 "extra of framed rows without fields of their own"
# the rest of a framed row is the JSON after the frame
assert_eq "$(sql "SELECT count(*) FROM agent_actions WHERE extra ? '_aac_confluent_schema_id' AND (agent_name !~ '^agent-[0-6]$' OR action_details->>'note' IS DISTINCT FROM E'tab\\there')")" 0 "framed rows' fields"

# --- dlq inspect ----------------------------------------------------------------
dlq inspect >"$TEST_DIR/inspect" 2>"$TEST_DIR/inspect.err" || fail "inspect: $(cat "$TEST_DIR/inspect.err")"
assert_eq "$(wc -l <"$TEST_DIR/inspect")" 4 "inspect lines"
line() { grep -F "key=\"$1\"" "$TEST_DIR/inspect" || fail "no dead letter with key $1: $(cat "$TEST_DIR/inspect")"; }
has() { grep -qF -- "$2" <<<"$1" || fail "inspect line lacks $2: $1"; }
l=$(line truncated)
has "$l" 'reason="invalid_frame"'
has "$l" 'value_bytes=3 schema_id=- '
has "$l" 'message="confluent frame needs 5 bytes (magic byte 0x00, 4-byte schema id), got 3"'
l=$(line framed-bad-json)
has "$l" 'reason="invalid_json"'
has "$l" ' schema_id=7 '
has "$l" 'at byte 11"'
l=$(line framed-missing)
has "$l" 'reason="missing_field"'
has "$l" ' schema_id=42 '
has "$l" 'path="$.correlation_id"'
l=$(line reserved)
has "$l" 'reason="reserved_field"'
has "$l" ' schema_id=- '
has "$l" 'path="$._aac_confluent_schema_id"'
dlq inspect --json >"$TEST_DIR/inspect.json" 2>/dev/null || fail "inspect --json"
"$PY" - "$TEST_DIR/inspect.json" <<'PY' || fail "inspect --json: schema ids"
import json, sys
got = {d["key"]: (d["reason"], d["schema_id"]) for d in map(json.loads, open(sys.argv[1]))}
want = {"truncated": ("invalid_frame", None), "framed-bad-json": ("invalid_json", 7),
        "framed-missing": ("missing_field", 42), "reserved": ("reserved_field", None)}
if got != want:
    sys.exit("got %r, want %r" % (got, want))
PY
dlq inspect --reason invalid_frame,reserved_field >"$TEST_DIR/two" 2>/dev/null ||
  fail "inspect --reason with the new codes"
assert_eq "$(wc -l <"$TEST_DIR/two")" 2 "inspect --reason invalid_frame,reserved_field"

# --- dlq replay: the value's bytes, frame included --------------------------------
broker_ctl topic-create "$TOPIC.replayed" 1 >/dev/null
dlq replay --reason missing_field --to "$TOPIC.replayed" --yes >"$TEST_DIR/replay.out" 2>&1 ||
  fail "replay: $(cat "$TEST_DIR/replay.out")"
grep -q '^replayed 1, skipped 0' "$TEST_DIR/replay.out" || fail "replay: $(cat "$TEST_DIR/replay.out")"
"$PY" - "$AAC_TEST_BOOTSTRAP" "$TOPIC.replayed" "$TEST_DIR/framed-missing.bin" <<'PY' ||
import sys
from confluent_kafka import Consumer, TopicPartition
bootstrap, topic, orig = sys.argv[1:4]
c = Consumer({"bootstrap.servers": bootstrap, "group.id": "framing-check", "enable.auto.commit": False})
c.assign([TopicPartition(topic, 0, 0)])
m = c.poll(30)
c.close()
if m is None or m.error():
    sys.exit("no replayed message: %r" % (m and m.error()))
want = open(orig, "rb").read()
if m.value() != want or m.key() != b"framed-missing":
    sys.exit("replayed %r %r, original %r" % (m.key(), m.value()[:40], want[:40]))
PY
  fail "the replayed value differs from the dead letter's (frame included)"

# --- confluent, then none, through the service -----------------------------------
produce_phase 3
start_consumer c3 AAC_EVENT_FRAMING=confluent
wait_for 5 30 dlq_count
wait_rows 91 30
stop_consumer c3
produce_phase 4
start_consumer c4 AAC_EVENT_FRAMING=none
wait_for 6 30 dlq_count
wait_rows 92 30
stop_consumer c4
assert_eq "$(sql "SELECT count(*) FROM agent_actions WHERE extra->'_aac_confluent_schema_id' = '5'")" 1 "confluent: the framed event stored"
dlq inspect >"$TEST_DIR/inspect2" 2>/dev/null || fail "inspect"
l=$(grep -F 'key="plain-3"' "$TEST_DIR/inspect2") || fail "confluent: the plain event not dead-lettered"
has "$l" 'reason="missing_frame"'
has "$l" 'message="message has no confluent frame: it starts with byte 0x7b, not the magic byte 0x00 (event.framing is confluent)"'
l=$(grep -F 'key="framed-4"' "$TEST_DIR/inspect2") || fail "none: the framed event not dead-lettered"
has "$l" 'reason="nul_character"'
has "$l" ' schema_id=5 '
has "$l" 'it starts like a confluent frame (schema id 5), which event.framing none does not read'
grep -qF -e 'key="plain-4"' -e 'key="framed-3"' "$TEST_DIR/inspect2" && fail "a stored event was dead-lettered too"
check_exactly_once "$TEST_DIR/ids"

# --- validate and check-config --------------------------------------------------
plain=$("$PY" "$AAC_SRC/tests/integration/gen_events.py" --count 1 | cut -f2)
{ printf '\0\0\0\0\x2a%s\n' "$plain"; printf '%s\n' "$plain"; } >"$TEST_DIR/lines"
AAC_EVENT_FRAMING=confluent "$AAC_BIN" validate "$TEST_DIR/lines" >"$TEST_DIR/validate.out" 2>&1 &&
  fail "validate accepted a framed line"
grep -q ':1: nul_character \$: message contains a NUL byte at byte 0; it starts like a confluent frame (schema id 42)' \
  "$TEST_DIR/validate.out" || fail "validate, framed line: $(cat "$TEST_DIR/validate.out")"
grep -q ':2: OK$' "$TEST_DIR/validate.out" || fail "validate, plain line: $(cat "$TEST_DIR/validate.out")"
"$AAC_BIN" validate --help | grep -q 'event.framing does not apply' || fail "validate --help says nothing of framing"
"$AAC_BIN" check-config | grep -qx '  framing: auto' || fail "check-config: no event.framing"
AAC_EVENT_FRAMING=confluent "$AAC_BIN" check-config | grep -qx '  framing: confluent' ||
  fail "check-config: AAC_EVENT_FRAMING not applied"
out=$(AAC_EVENT_FRAMING=avro "$AAC_BIN" check-config 2>&1) && fail "AAC_EVENT_FRAMING=avro accepted"
grep -qF 'event.framing: expected auto, none or confluent, got "avro"' <<<"$out" || fail "bad framing: $out"

pass "60 framed and 30 plain events stored once (binary and text COPY), 4 dead letters, schema ids in extra and dlq inspect, replay byte for byte"
