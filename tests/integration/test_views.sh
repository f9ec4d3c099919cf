#!/usr/bin/env bash
# The analytics views (migrations 0002 and 0003: most answer from the
# rollups the consumer keeps), checked number by number on a crafted set of
# events that went through the consumer. The generator below computes every
# expected figure itself (counts, rates, the duration histogram's
# percentiles and their distance to percentile_cont, UTC hour buckets),
# independently of PostgreSQL, and the test compares the views' rows with
# them exactly; then the rollups against the raw rows (aac_rollups_check)
# and the hourly balance of what was consumed. The set includes a redelivered event (one
# row), an invalid event (dead-lettered, in no view), events without
# session, project or duration, and timestamps written with a +02:00
# offset (bucketed by their UTC hour).
source "$(dirname "$0")/lib.sh"
fresh_db
migrate_up
make_topics 3

cat >"$TEST_DIR/gen.py" <<'PY'
import json, random, sys, uuid
from datetime import datetime, timedelta, timezone
from decimal import Decimal, ROUND_HALF_UP

events_path, expected_path = sys.argv[1], sys.argv[2]
rnd = random.Random(7)
NS = uuid.UUID("0b6f3c0e-6a43-4c1e-9d0e-1f2a3b4c5d6e")
agents = ["alpha", "beta", "gamma"]
actions = ["bash", "edit", "read", "plan"]
types = ["tool_call", "decision", "error", "success"]
sessions = [str(uuid.uuid5(NS, f"session/{k}")) for k in range(4)]
base = datetime(2026, 11, 20, 8, 0, 0, tzinfo=timezone.utc)

rows, lines = [], []
for i in range(80):
    t = base + timedelta(seconds=i * 331 + rnd.randint(0, 60), microseconds=i * 1000 + 7)
    r = {
        "event_id": str(uuid.uuid5(NS, f"event/{i}")),
        "correlation_id": str(uuid.uuid5(NS, f"corr/{i // 3}")),
        "agent_name": agents[rnd.randrange(3)],
        "action_type": types[rnd.randrange(4)],
        "action_name": actions[rnd.randrange(4)],
        "time": t,
        "i": i,
    }
    ev = {k: r[k] for k in ("event_id", "correlation_id", "agent_name", "action_type", "action_name")}
    if i % 9 != 4:
        r["duration_ms"] = rnd.randint(1, 4000)
        ev["duration_ms"] = r["duration_ms"]
    if i % 6 != 5:
        r["session_id"] = sessions[i % 4]
        ev["session_id"] = r["session_id"]
        r["project_name"] = f"proj-{i % 4 % 3}"   # a session stays in one project
        ev["project_path"] = f"/home/dev/{r['project_name']}"
    if r["action_type"] == "error":
        ev["action_details"] = {"error": f"failure {i}", "exit_code": i % 5}
    if i % 5 == 0:   # the same instant written at +02:00
        ev["timestamp"] = (t.astimezone(timezone(timedelta(hours=2)))).isoformat()
    else:
        ev["timestamp"] = t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    rows.append(r)
    lines.append(f"{r.get('session_id', 'none')}\t{json.dumps(ev, separators=(',', ':'))}")
lines.append(lines[10])  # a producer's retry: stored once
bad = json.loads(lines[3].split("\t", 1)[1]); del bad["agent_name"]
lines.append("none\t" + json.dumps(bad))  # invalid: dead-lettered, in no view
open(events_path, "w").write("\n".join(lines) + "\n")

def ts(t): return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
def rate(a, b):
    return "" if b == 0 else str((Decimal(a) / Decimal(b)).quantize(Decimal("0.0001"), ROUND_HALF_UP))
def counts(rs): return [sum(1 for r in rs if r["action_type"] == k) for k in types]
def group(key):
    g = {}
    for r in rows:
        g.setdefault(key(r), []).append(r)
    return g
def pct(vals, p):
    v = sorted(vals); pos = p * (len(v) - 1); lo = int(pos); hi = min(lo + 1, len(v) - 1)
    return v[lo] + (pos - lo) * (v[hi] - v[lo])
def bucket(ms):   # 0..7 exact, then four per power of two (docs/queries.md)
    if ms < 8: return max(ms, 0)
    e = ms.bit_length() - 1
    return 8 + (e - 3) * 4 + ((ms >> (e - 2)) & 3)
def mid(b):
    if b < 8: return float(b)
    e, k = 3 + (b - 8) // 4, (b - 8) % 4
    lo = (4 + k) << (e - 2)
    return (lo + lo + (1 << (e - 2)) - 1) / 2
def hist_pct(vals, p):   # percentile_cont over each value's bucket middle
    v = sorted(mid(bucket(x)) for x in vals); pos = p * (len(v) - 1); lo = int(pos)
    return v[lo] + (pos - lo) * (v[lo + 1] - v[lo]) if pos > lo and lo + 1 < len(v) else v[lo]
def cell(x): return "" if x is None else str(x)

out = []
out.append("== aac_agent_hourly")
for (h, a), rs in sorted(group(lambda r: (r["time"].strftime("%Y-%m-%d %H"), r["agent_name"])).items()):
    d = [r["duration_ms"] for r in rs if "duration_ms" in r]
    out.append("|".join(map(str, [h, a, len(rs), *counts(rs), sum(d) if d else ""])))
for name, key in (("aac_agent_outcomes", "agent_name"), ("aac_action_outcomes", "action_name")):
    out.append("== " + name)
    for k, rs in sorted(group(lambda r: r[key]).items()):
        tc, dc, ec, sc = counts(rs)
        extra = ([ts(min(r["time"] for r in rs)), ts(max(r["time"] for r in rs))]
                 if key == "agent_name" else [len({r["agent_name"] for r in rs})])
        out.append("|".join(map(str, [k, len(rs), sc, ec, rate(sc, sc + ec), rate(ec, sc + ec),
                                      rate(ec, len(rs)), *extra])))
out.append("== aac_action_durations")
for k, rs in sorted(group(lambda r: r["action_name"]).items()):
    d = [r["duration_ms"] for r in rs if "duration_ms" in r]
    avg = (Decimal(sum(d)) / Decimal(len(d))).quantize(Decimal("0.1"), ROUND_HALF_UP)
    for p in (0.5, 0.95, 0.99):   # the bound docs/queries.md states
        assert abs(hist_pct(d, p) - pct(d, p)) <= 0.125 * pct(d, p), (k, p)
    out.append("|".join(map(str, [k, len(d), *("%.3f" % hist_pct(d, p) for p in (0.5, 0.95, 0.99)),
                                  avg, max(d)])))
out.append("== aac_project_activity")
pg = group(lambda r: r.get("project_name"))
for k in sorted(pg, key=lambda x: (x is None, x or "")):
    rs = pg[k]
    out.append("|".join(map(str, [cell(k), ts(min(r["time"] for r in rs)), ts(max(r["time"] for r in rs)),
                                  len(rs), len({r["agent_name"] for r in rs}), *counts(rs)])))
out.append("== aac_project_sessions")
for k in sorted(pg, key=lambda x: (x is None, x or "")):
    out.append("|".join(map(str, [cell(k), len({r["session_id"] for r in pg[k] if "session_id" in r})])))
out.append("== aac_session_activity")
for k, rs in sorted(group(lambda r: r.get("session_id")).items(), key=lambda kv: kv[0] or ""):
    if k is None:
        continue
    first, last = min(r["time"] for r in rs), max(r["time"] for r in rs)
    span = last - first
    out.append("|".join(map(str, [k, min(r["agent_name"] for r in rs), min(r["project_name"] for r in rs),
                                  len({r["agent_name"] for r in rs}), ts(first), ts(last),
                                  "%d.%06d" % (span.days * 86400 + span.seconds, span.microseconds),
                                  len(rs), *counts(rs)])))
out.append("== aac_recent_errors")
errs = sorted((r for r in rows if r["action_type"] == "error"), key=lambda r: r["time"], reverse=True)
for r in errs[:5]:
    out.append("|".join([ts(r["time"]), r["agent_name"], r["action_name"], "failure %d" % r["i"],
                         r["event_id"]]))
out.append("== totals")
out.append(f"{len(rows)}|{sum(1 for r in rows if r['action_type'] == 'error')}")
open(expected_path, "w").write("\n".join(out) + "\n")
PY
python3 "$TEST_DIR/gen.py" "$TEST_DIR/events" "$TEST_DIR/expected"

produce "$TEST_DIR/events"
start_consumer c1
wait_rows 80 60
wait_for 1 30 topic_count "$TOPIC.dlq"
sleep 1 # anything late would show up now
assert_eq "$(rows)" 80 "rows stored"

TS="'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'"
q() { echo "== $1"; psql -qXAt -v ON_ERROR_STOP=1 -c "$2"; }
{
  q aac_agent_hourly "SELECT to_char(hour AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24'), agent_name,
    actions, tool_calls, decisions, errors, successes, total_duration_ms
    FROM aac_agent_hourly ORDER BY hour, agent_name"
  q aac_agent_outcomes "SELECT agent_name, actions, successes, errors, success_rate, error_rate,
    error_share, to_char(first_action AT TIME ZONE 'UTC', $TS),
    to_char(last_action AT TIME ZONE 'UTC', $TS) FROM aac_agent_outcomes ORDER BY agent_name"
  q aac_action_outcomes "SELECT action_name, actions, successes, errors, success_rate, error_rate,
    error_share, agents FROM aac_action_outcomes ORDER BY action_name"
  q aac_action_durations "SELECT action_name, timed_actions, round(p50_ms::numeric, 3),
    round(p95_ms::numeric, 3), round(p99_ms::numeric, 3), avg_ms, max_ms
    FROM aac_action_durations ORDER BY action_name"
  q aac_project_activity "SELECT project_name, to_char(first_action AT TIME ZONE 'UTC', $TS),
    to_char(last_action AT TIME ZONE 'UTC', $TS), actions, agents,
    tool_calls, decisions, errors, successes FROM aac_project_activity
    ORDER BY project_name NULLS LAST"
  q aac_project_sessions "SELECT project_name, sessions FROM aac_project_sessions
    ORDER BY project_name NULLS LAST"
  q aac_session_activity "SELECT session_id, agent_name, project_name, agents,
    to_char(first_action AT TIME ZONE 'UTC', $TS), to_char(last_action AT TIME ZONE 'UTC', $TS),
    to_char(extract(epoch FROM span), 'FM999999990.000000'), actions, tool_calls, decisions,
    errors, successes FROM aac_session_activity ORDER BY session_id::text"
  q aac_recent_errors "SELECT to_char(event_time AT TIME ZONE 'UTC', $TS), agent_name,
    action_name, action_details->>'error', event_id FROM aac_recent_errors LIMIT 5"
  q totals "SELECT count(*), count(*) FILTER (WHERE action_type = 'error') FROM agent_actions"
} >"$TEST_DIR/actual"

diff -u "$TEST_DIR/expected" "$TEST_DIR/actual" >"$TEST_DIR/views.diff" ||
  fail "views differ from the expected figures:
$(head -60 "$TEST_DIR/views.diff")"

# the rollups equal an aggregate over the raw rows, and every message
# consumed is a row, a duplicate or a dead letter
assert_eq "$(sql "SELECT count(*) FROM aac_rollups_check('-infinity', 'infinity')")" 0 \
  "rollup keys that differ from the raw rows"
assert_eq "$(sql "SELECT sum(messages), sum(rows_inserted), sum(duplicates), sum(dead_letters),
  sum(unaccounted) FROM aac_ingest_balance")" "82|80|1|1|0" "messages, rows, duplicates, dead letters, unaccounted"
assert_eq "$(sql "SELECT reason, dead_letters FROM aac_dead_letters_hourly")" "missing_field|1" \
  "dead letters in SQL"

# the hour buckets are UTC whatever the session's time zone
assert_eq "$(PGTZ=Asia/Kolkata psql -qXAt -c "SELECT count(*) FROM aac_agent_hourly
  WHERE extract(minute FROM hour AT TIME ZONE 'UTC') <> 0")" 0 "UTC hour buckets"
# every view has rows, so no section above was vacuously empty
for v in aac_agent_hourly aac_agent_outcomes aac_action_outcomes aac_action_durations \
  aac_project_activity aac_project_sessions aac_session_activity aac_recent_errors; do
  [ "$(grep -c . <(sed -n "/^== $v\$/,/^==/p" "$TEST_DIR/expected"))" -gt 2 ] ||
    fail "no expected rows for $v"
done

stop_consumer c1
pass "8 views on 80 events: $(($(wc -l <"$TEST_DIR/expected") - 8)) rows checked"
