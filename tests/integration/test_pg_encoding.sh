#!/usr/bin/env bash
# The service always speaks UTF-8 to PostgreSQL (issue 19, item 8). Its
# connections never set client_encoding, so PGCLIENTENCODING=LATIN1 in its
# environment made the server read the UTF-8 rows as LATIN1 ("café" stored
# as "cafÃ©"), and in a LATIN1 database the rows went in unconverted.
#  1. a UTF-8 database, PGCLIENTENCODING=LATIN1 in the service's
#     environment: the text is stored as sent;
#  2. a LATIN1 database: what LATIN1 can hold is stored, converted ("é",
#     also written as a \u escape in action_details); a character it cannot
#     hold is the row's own problem: dead-lettered as db_rejected.
source "$(dirname "$0")/lib.sh"
unset PGCLIENTENCODING
usql() { PGCLIENTENCODING=UTF8 sql "$@"; }
gen=$AAC_SRC/tests/integration/gen_events.py

# events: agent_name "café-<i>", one escaped é in action_details, and with
# "cjk" a name LATIN1 cannot hold
make_events() { # FILE START COUNT [cjk]
  python3 "$gen" --count "$3" --start "$2" --seed enc | python3 -c '
import json, sys
cjk = len(sys.argv) > 1
for line in sys.stdin:
    key, value = line.rstrip("\n").split("\t", 1)
    e = json.loads(value)
    e["agent_name"] = ("日本-" if cjk else "café-") + e["event_id"][:8]
    e["action_details"] = {"note": "\u00e9t\u00e9"}
    # raw UTF-8 in the names, a \u escape inside action_details
    text = json.dumps(e, ensure_ascii=False, separators=(",", ":"))
    text = text.replace("\"été\"", "\"\\u00e9t\\u00e9\"")
    print(key + "\t" + text)
' ${4:+cjk} >"$1"
}

# --- 1. UTF-8 database, PGCLIENTENCODING=LATIN1 --------------------------------
fresh_db
migrate_up
make_topics 1
make_events "$TEST_DIR/e1" 0 20
produce "$TEST_DIR/e1"
start_consumer c1 PGCLIENTENCODING=LATIN1
wait_rows 20 60
stop_consumer c1
assert_eq "$(usql "SELECT count(*) FROM agent_actions WHERE agent_name LIKE 'café-%' AND octet_length(agent_name) = 14")" 20 \
  "names stored as sent (UTF-8 database, PGCLIENTENCODING=LATIN1)"
assert_eq "$(usql "SELECT count(*) FROM agent_actions WHERE action_details->>'note' = 'été'")" 20 \
  "action_details stored as sent"

# --- 2. LATIN1 database ----------------------------------------------------------
db=${TEST_NAME}_latin1
psql -qX -d postgres -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" \
  -c "CREATE DATABASE \"$db\" ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0" >/dev/null
export PGDATABASE=$db
migrate_up
TOPIC=$TOPIC-latin1
GROUP=$GROUP-latin1
make_topics 1
make_events "$TEST_DIR/e2" 100 20
make_events "$TEST_DIR/e3" 200 2 cjk
produce "$TEST_DIR/e2"
produce "$TEST_DIR/e3"
start_consumer c2
wait_rows 20 60
wait_for 22 30 sql "SELECT coalesce(sum(next_offset), 0) FROM consumer_offsets WHERE consumer_group = '$GROUP'"
wait_for 2 30 topic_count "$TOPIC.dlq"
stop_consumer c2
assert_eq "$(usql "SELECT count(*) FROM agent_actions WHERE agent_name LIKE 'café-%' AND action_details->>'note' = 'été'")" 20 \
  "rows stored, converted (LATIN1 database)"
reasons=$(kcat -b "$AAC_TEST_BOOTSTRAP" -C -t "$TOPIC.dlq" -e -q -f '%h\n' 2>/dev/null |
  tr ',' '\n' | sed -n 's/^aac.error.reason=//p' | sort | uniq -c | tr -s ' ')
assert_eq "$reasons" " 2 db_rejected" "dead letters of the names LATIN1 cannot hold"
pass "UTF-8 always: stored as sent under PGCLIENTENCODING=LATIN1, converted into a LATIN1 database, the unstorable dead-lettered"
