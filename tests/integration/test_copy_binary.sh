#!/usr/bin/env bash
# The copyrow encoder against PostgreSQL: the same events COPYed in the text
# format into one table and in the binary format into agent_actions give
# exactly the same rows; and a row the database refuses in a binary COPY is
# named by its tuple number ("line N" in the error's CONTEXT), as in text,
# which is what lets the sink isolate it.
#
# The events: gen_events.py's, the contract's valid samples
# (tests/data/events/valid.jsonl) and the edge cases below: the bytes text
# COPY escapes, non-ASCII text, absent and null optional fields, unknown
# fields (extra), derived event ids, timestamps from 0001 to 9999 across
# 1970 and 2000, and, through copyrow_load's "!" lines, values the parser
# never gives (negative durations, extreme partitions and offsets). Each
# load runs several COPY commands in one transaction, each sent as header,
# several slices of rows, trailer.
source "$(dirname "$0")/lib.sh"
fresh_db
migrate_up

load=$AAC_BUILD/copyrow_load
[ -x "$load" ] || fail "$load is not built"
events=$TEST_DIR/events.txt
C='"correlation_id":"f2b1c1de-1111-4c0b-9a52-3f3c7c1d0b11"'

{
  python3 "$AAC_SRC/tests/integration/gen_events.py" --count 300 --seed copy | cut -f2-
  cat "$AAC_SRC/tests/data/events/valid.jsonl"
  sed "s/@C@/$C/" <<'EOF'
{@C@,"agent_name":"tab\there","action_type":"tool_call","action_name":"nl\nhere cr\r","action_details":{"k":"back\\slash \t \n \r","raw":"C:\\work\\x"},"project_path":"C:\\work\\acme\\","working_directory":"/tmp/with\ttab","timestamp":"2026-11-21T10:00:00Z"}
{@C@,"agent_name":"caf\u00e9 😀 日本","action_type":"success","action_name":"\u00e9\ud83d\ude00\u0001\u001f","action_details":{"emoji":"😀","esc":"\u00e9\u0041"},"project_name":"проект","timestamp":"2026-01-01T00:00:00.5+05:30"}
{@C@,"agent_name":"a","action_type":"decision","action_name":"b","timestamp":"1969-12-31T23:59:59.999999Z"}
{"event_id":null,"session_id":null,"duration_ms":null,"debug_mode":null,"project_path":null,"action_details":null,@C@,"agent_name":"nulls","action_type":"error","action_name":"b","timestamp":"1900-02-28T12:34:56.000001Z"}
{@C@,"agent_name":"extra","action_type":"error","action_name":"b","foo":1,"bar":{"x":"a\tb","y":[1,2.50,"\\"]},"baz":null,"we\tird":"\u00e9","timestamp":"0001-01-01T00:00:00Z"}
{@C@,"agent_name":"zero","action_type":"tool_call","action_name":"b","duration_ms":0,"debug_mode":false,"project_path":"/","project_name":"","timestamp":"9999-12-31T23:59:59.999999Z"}
{@C@,"agent_name":"max","action_type":"tool_call","action_name":"b","duration_ms":2147483647,"debug_mode":true,"timestamp":"1999-12-31T23:59:59.999999Z"}
{@C@,"agent_name":"y2k","action_type":"tool_call","action_name":"b","timestamp":"2000-01-01T00:00:00Z"}
{@C@,"agent_name":"leap","action_type":"tool_call","action_name":"b","timestamp":"2016-12-31T23:59:60Z"}
{@C@,"agent_name":"epoch","action_type":"tool_call","action_name":"b","session_id":"0F8FAD5B-D9CB-469F-A165-70867728950E","timestamp":"1970-01-01T00:00:00Z"}
{@C@,"agent_name":"future","action_type":"tool_call","action_name":"b","timestamp":"5000-06-15T12:00:00-12:00"}
{@C@,"agent_name":"numbers","action_type":"decision","action_name":"b","action_details":{"n":123456789012345678901234567890,"f":-0.000001,"e":1e10,"z":-0,"t":true,"a":[]},"timestamp":"2026-11-21T10:00:01Z"}
{@C@,"agent_name":"\\N","action_type":"decision","action_name":"\\.","project_path":"\\N","working_directory":"\r\n","timestamp":"2026-11-21T10:00:02Z"}
!duration_ms=-1
{@C@,"agent_name":"neg1","action_type":"tool_call","action_name":"b","timestamp":"2026-11-21T10:00:03Z"}
!duration_ms=-2147483648
{@C@,"agent_name":"negmin","action_type":"tool_call","action_name":"b","duration_ms":5,"timestamp":"2026-11-21T10:00:04Z"}
!partition=2147483647
!offset=9223372036854775807
{@C@,"agent_name":"maxpos","action_type":"tool_call","action_name":"b","timestamp":"2026-11-21T10:00:05Z"}
!partition=-2147483648
!offset=-9223372036854775808
{@C@,"agent_name":"minpos","action_type":"tool_call","action_name":"b","timestamp":"2026-11-21T10:00:06Z"}
EOF
} >"$events"

cols="event_id, correlation_id, session_id, agent_name, action_type, action_name, action_details,
  duration_ms, debug_mode, project_path, project_name, working_directory, event_time, extra,
  kafka_topic, kafka_partition, kafka_offset"
sql "CREATE TABLE text_rows (LIKE agent_actions INCLUDING ALL)" >/dev/null

out_text=$("$load" --format text --table text_rows --copies 2 --slices 3 "$events") ||
  fail "text COPY failed: $out_text"
out_bin=$("$load" --format binary --table agent_actions --copies 3 --slices 4 "$events") ||
  fail "binary COPY failed: $out_bin"
# 300 generated + 32 samples + 17 edge cases; 23 samples repeat one
# (event_id, timestamp) and are given new ids by copyrow_load
assert_eq "$out_text" "rows 349 renamed 23" "text load"
assert_eq "$out_bin" "rows 349 renamed 23" "binary load"

assert_eq "$(sql "SELECT count(*) FROM text_rows")" 349 "text rows stored"
assert_eq "$(sql "SELECT count(*) FROM agent_actions")" 349 "binary rows stored"
assert_eq "$(sql "SELECT count(*) FROM (SELECT $cols FROM text_rows EXCEPT ALL
  SELECT $cols FROM agent_actions) d")" 0 "text rows missing from the binary table"
assert_eq "$(sql "SELECT count(*) FROM (SELECT $cols FROM agent_actions EXCEPT ALL
  SELECT $cols FROM text_rows) d")" 0 "binary rows missing from the text table"
# jsonb equality is semantic: the stored texts are compared too
assert_eq "$(sql "SELECT count(*) FROM text_rows t JOIN agent_actions b USING (event_id, event_time)
  WHERE t.action_details::text IS DISTINCT FROM b.action_details::text
     OR t.extra::text IS DISTINCT FROM b.extra::text")" 0 "jsonb texts"

# The edge cases are in the binary table with the values they were sent
# with (not only equal to the text table's)
check() { assert_eq "$(sql "SET TimeZone = 'UTC'; $1")" "$2" "$1"; }
check "SELECT agent_name = E'tab\\there' AND action_name = E'nl\\nhere cr\\r'
  AND action_details->>'k' = E'back\\\\slash \\t \\n \\r' AND project_name = 'acme'
  AND working_directory = E'/tmp/with\\ttab' FROM agent_actions WHERE agent_name LIKE 'tab%'" t
check "SELECT agent_name || '|' || action_name || '|' || project_name FROM agent_actions
  WHERE correlation_id = 'f2b1c1de-1111-4c0b-9a52-3f3c7c1d0b11' AND action_type = 'success'" \
  "café 😀 日本|é😀$(printf '\001\037')|проект"
check "SELECT event_time FROM agent_actions WHERE agent_name = 'a'" "1969-12-31 23:59:59.999999+00"
check "SELECT event_time FROM agent_actions WHERE agent_name = 'nulls'" "1900-02-28 12:34:56.000001+00"
check "SELECT event_time || ' ' || extra::text FROM agent_actions WHERE agent_name = 'extra'" \
  '0001-01-01 00:00:00+00 {"bar": {"x": "a\tb", "y": [1, 2.50, "\\"]}, "baz": null, "foo": 1, "we\tird": "é"}'
check "SELECT event_time || ' ' || duration_ms || ' ' || debug_mode || ' [' || project_name || ']'
  FROM agent_actions WHERE agent_name = 'zero'" "9999-12-31 23:59:59.999999+00 0 false []"
check "SELECT event_time || ' ' || duration_ms || ' ' || debug_mode FROM agent_actions
  WHERE agent_name = 'max'" "1999-12-31 23:59:59.999999+00 2147483647 true"
check "SELECT event_time FROM agent_actions WHERE agent_name = 'y2k'" "2000-01-01 00:00:00+00"
check "SELECT event_time FROM agent_actions WHERE agent_name = 'leap'" "2017-01-01 00:00:00+00"
check "SELECT event_time || ' ' || session_id FROM agent_actions WHERE agent_name = 'epoch'" \
  "1970-01-01 00:00:00+00 0f8fad5b-d9cb-469f-a165-70867728950e"
check "SELECT event_time FROM agent_actions WHERE agent_name = 'future'" "5000-06-16 00:00:00+00"
check "SELECT action_details->>'n' || ' ' || (action_details->'f')::text FROM agent_actions
  WHERE agent_name = 'numbers'" "123456789012345678901234567890 -0.000001"
check "SELECT action_name || project_path || length(working_directory) FROM agent_actions
  WHERE agent_name = '\\N'" '\.\N2'
check "SELECT string_agg(agent_name || ' ' || duration_ms, ',' ORDER BY agent_name) FROM agent_actions
  WHERE duration_ms < 0" "neg1 -1,negmin -2147483648"
check "SELECT string_agg(agent_name || ' ' || kafka_partition || ' ' || kafka_offset, ','
  ORDER BY agent_name) FROM agent_actions WHERE agent_name IN ('maxpos', 'minpos')" \
  "maxpos 2147483647 9223372036854775807,minpos -2147483648 -9223372036854775808"
# NULL is not "": absent fields and explicit empty strings stay apart
check "SELECT count(*) FILTER (WHERE session_id IS NULL), count(*) FILTER (WHERE duration_ms IS NULL),
  count(*) FILTER (WHERE debug_mode IS NULL), count(*) FILTER (WHERE extra IS NOT NULL),
  count(*) FILTER (WHERE project_name = ''), count(*) FILTER (WHERE project_name IS NULL),
  count(*) FILTER (WHERE action_details = '{}')
  FROM agent_actions WHERE agent_name IN ('a', 'nulls', 'extra', 'zero')" "4|3|3|1|1|3|4"
# derived event ids: the same in both tables (EXCEPT above) and as documented
check "SELECT count(*) FROM agent_actions WHERE agent_name IN ('a', 'nulls')
  AND event_id::text ~ '^[0-9a-f]{8}-[0-9a-f]{4}-5'" 2

# A refused row is named by its tuple number, in both formats: 40 events,
# the 23rd bad, sent in 3 slices (it is in the second), one COPY.
bad_line=23
bad_load() { # FORMAT DIRECTIVE: prints copyrow_load's report
  local f=$TEST_DIR/bad.txt
  python3 "$AAC_SRC/tests/integration/gen_events.py" --count 40 --start 1000 --seed bad |
    cut -f2- | awk -v n=$bad_line -v d="$2" 'NR == n { print d } { print }' >"$f"
  local rc=0
  "$load" --format "$1" --table agent_actions --copies 1 --slices 3 "$f" || rc=$?
  [ "$rc" = 3 ] || fail "$1 COPY with $2: exit status $rc, expected 3 (refused)"
}
for fmt in text binary; do
  for c in "!action_type=99 23514" '!action_details={"a": 22P02' \
    "!duration_ms=3000000000 22003/22P03"; do
    directive=${c% *} want_state=${c##* }
    out=$(bad_load "$fmt" "$directive")
    state=$(sed -n 's/^sqlstate: //p' <<<"$out")
    case $want_state in
      */*) [ "$state" = "${want_state%/*}" ] && [ "$fmt" = text ] ||
        { [ "$state" = "${want_state#*/}" ] && [ "$fmt" = binary ]; } ||
        fail "$fmt $directive: SQLSTATE $state, expected $want_state (text/binary)" ;;
      *) assert_eq "$state" "$want_state" "$fmt $directive: SQLSTATE" ;;
    esac
    # the CONTEXT may have lines before COPY's (jsonb adds "JSON data, line 1")
    grep -Eq "^(context: )?COPY agent_actions, line $bad_line([,:]|\$)" <<<"$out" ||
      fail "$fmt $directive: CONTEXT does not name line $bad_line: $out"
  done
done
# the refused COPYs stored nothing
assert_eq "$(sql "SELECT count(*) FROM agent_actions")" 349 "rows after the refused COPYs"
pass "349 rows identical in text and binary; refused rows named by line in both formats"
