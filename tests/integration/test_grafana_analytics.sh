#!/usr/bin/env bash
# The analytics dashboard (config/grafana/dashboards/agent-actions-analytics.json)
# against a real PostgreSQL: every panel's SQL and the agent variable's,
# with their macros expanded as Grafana's PostgreSQL data source expands
# them for a fixed time range ($__timeFilter(col) -> col BETWEEN 'from' AND
# 'to', RFC 3339 in UTC, inclusive; $__interval from the range and the
# panel's maxDataPoints and minimum interval) and $agent as Grafana quotes a
# multi-value variable (All: its allValue), run as the read-only role that
# config/grafana/grafana-reader.sql makes (as docker-compose's
# grafana-reader does).
#
# Rows go into agent_actions with SQL (no consumer), aac_rollups_rebuild
# fills the rollups, and a generator below computes every panel's expected
# rows and columns from the same rows, independently of PostgreSQL (the
# histogram percentiles with their own bucket arithmetic): each panel's
# output must equal them exactly, with all agents and with two of them.
# The data puts rows on both sides of the range's ends (an error at 14:00:00
# exactly is in the drill-down, one at 14:30 only in the rollups' hour 14,
# one at 07:59:59.5 nowhere), an agent that only acts after the range (not
# in the variable), NULL durations and projects, more than 100 errors (the
# drill-down's LIMIT) and 12 tools (the busiest-10 panel leaves 2 out).
# EXPLAIN then shows that no panel but the drill-down reads agent_actions,
# and that each rollup read can be an index range scan on its hour.
source "$(dirname "$0")/lib.sh"
fresh_db
migrate_up

reader=${PGDATABASE}_reader
GRAFANA_PG_USER=$reader GRAFANA_PG_PASSWORD=unused-with-trust \
  psql -X -q -f "$AAC_SRC/config/grafana/grafana-reader.sql" >"$TEST_DIR/reader.log" 2>&1 ||
  fail "grafana-reader.sql: $(cat "$TEST_DIR/reader.log")"
# run twice, as compose does on every `up`
GRAFANA_PG_USER=$reader GRAFANA_PG_PASSWORD=unused-with-trust \
  psql -X -q -f "$AAC_SRC/config/grafana/grafana-reader.sql" >>"$TEST_DIR/reader.log" 2>&1 ||
  fail "grafana-reader.sql, second run: $(cat "$TEST_DIR/reader.log")"

cat >"$TEST_DIR/check.py" <<'PY'
import csv, io, json, math, random, re, subprocess, sys, uuid
from datetime import datetime, timedelta, timezone
from decimal import Decimal, ROUND_HALF_UP

dash_path, test_dir, reader = sys.argv[1], sys.argv[2], sys.argv[3]
UTC = timezone.utc
FROM = datetime(2026, 11, 20, 8, 0, 0, tzinfo=UTC)
TO = datetime(2026, 11, 20, 14, 0, 0, tzinfo=UTC)
problems = []

def psql(sql, user=None, csv_out=True):
    env = {"PGTZ": "UTC"}
    if user:
        env["PGUSER"] = user
    import os
    full = dict(os.environ, **env)
    args = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1"] + (["--csv"] if csv_out else ["-At"]) + ["-c", sql]
    r = subprocess.run(args, env=full, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"psql failed: {r.stderr.strip()}\n--- SQL:\n{sql}")
    return r.stdout

# ---- the rows ----------------------------------------------------------------
rnd = random.Random(20)
NS = uuid.UUID("6f7a2c1e-5b3d-4e8f-9a0b-1c2d3e4f5a6b")
agents = ["alpha", "beta", "gamma"]
tools = [f"tool_{c}" for c in "abcdefghijkl"]
medians = {t: 3 * 2.2 ** k for k, t in enumerate(tools)}   # 3 ms .. ~17 s
base = datetime(2026, 11, 20, 6, 0, 0, tzinfo=UTC)
rows = []
def add(i, t, agent, atype, tool, dur, project):
    details = ({"error": f"failure {i}", "exit_code": i % 5} if atype == "error"
               else {"command": f"ls {i}"})
    rows.append({"i": i, "time": t, "agent": agent, "type": atype, "tool": tool, "dur": dur,
                 "project": project, "details": details,
                 "event_id": str(uuid.uuid5(NS, f"event/{i}")),
                 "correlation_id": str(uuid.uuid5(NS, f"task/{i // 4}")),
                 "session_id": str(uuid.uuid5(NS, f"session/{agent}/{i // 50}")),
                 "partition": i % 3, "offset": i // 3})
for i in range(900):
    t = base + timedelta(seconds=i * 40 + rnd.randint(0, 30), microseconds=(i * 7919) % 1000000)
    tool = rnd.choices(tools, weights=range(12, 0, -1))[0]
    atype = rnd.choices(["tool_call", "decision", "error", "success"], weights=[50, 15, 20, 15])[0]
    r = rnd.random()
    if r < 0.10:
        dur = None
    elif r < 0.15:
        dur = rnd.randint(0, 7)      # exact buckets
    else:
        dur = max(1, min(600000, int(math.exp(rnd.gauss(math.log(medians[tool]), 1.0)))))
    add(i, t, rnd.choice(agents), atype, tool, dur, rnd.choices(["proj-a", "proj-b", None], weights=[50, 35, 15])[0])
# the range's ends, and an agent seen only after it
add(900, datetime(2026, 11, 20, 14, 0, 0, tzinfo=UTC), "alpha", "error", "tool_a", 1200, "proj-a")
add(901, datetime(2026, 11, 20, 8, 0, 0, tzinfo=UTC), "beta", "error", "tool_b", None, None)
add(902, datetime(2026, 11, 20, 7, 59, 59, 500000, tzinfo=UTC), "gamma", "error", "tool_c", 40, "proj-b")
add(903, datetime(2026, 11, 20, 16, 10, 0, tzinfo=UTC), "delta", "error", "tool_a", 90, "proj-c")
add(904, datetime(2026, 11, 20, 16, 20, 0, tzinfo=UTC), "delta", "tool_call", "tool_z", 5, "proj-c")
times = [r["time"] for r in rows]
assert len(set(times)) == len(times), "event times must be unique (the drill-down orders by them)"

def copyval(v):
    return "\\N" if v is None else str(v)
with open(f"{test_dir}/rows.copy", "w") as f:
    for r in rows:
        f.write("\t".join(map(copyval, [
            r["event_id"], r["correlation_id"], r["session_id"], r["agent"], r["type"], r["tool"],
            json.dumps(r["details"]), r["dur"], None if r["project"] is None else f"/home/dev/{r['project']}",
            r["project"], r["time"].isoformat(), "agent-actions", r["partition"], r["offset"]])) + "\n")
psql(f"\\copy agent_actions (event_id, correlation_id, session_id, agent_name, action_type, action_name,"
     f" action_details, duration_ms, project_path, project_name, event_time, kafka_topic,"
     f" kafka_partition, kafka_offset) FROM '{test_dir}/rows.copy'", csv_out=False)

def hour_of(t): return t.replace(minute=0, second=0, microsecond=0)
dl = [(7, "agent-actions", "invalid_json", 2), (9, "agent-actions", "invalid_json", 1),
      (9, "agent-actions", "missing_field", 3), (14, "agent-actions", "missing_field", 1),
      (15, "agent-actions", "invalid_json", 5), (10, "agent-actions-eu", "missing_field", 2)]
ingest = []
for h in range(6, 16):
    hh = base.replace(hour=h)
    n = sum(1 for r in rows if hour_of(r["time"]) == hh)
    dead = sum(d[3] for d in dl if d[0] == h and d[1] == "agent-actions")
    ingest.append((h, "agent-actions", n + h % 3 + dead + (1 if h == 11 else 0), n, h % 3))
ingest.append((10, "agent-actions-eu", 9, 7, 0))
def ts_sql(h): return f"'2026-11-20T{h:02d}:00:00Z'"
psql("INSERT INTO aac_dead_letters_hourly VALUES " +
     ", ".join(f"({ts_sql(h)}, '{t}', '{r}', {n})" for h, t, r, n in dl), csv_out=False)
psql("INSERT INTO aac_ingest_hourly VALUES " +
     ", ".join(f"({ts_sql(h)}, '{t}', {m}, {n}, {d})" for h, t, m, n, d in ingest), csv_out=False)
psql("SELECT aac_rollups_rebuild('2026-11-20T00:00:00Z', '2026-11-21T00:00:00Z')", csv_out=False)
left = psql("SELECT count(*) FROM aac_rollups_check('-infinity', 'infinity')", csv_out=False).strip()
assert left == "0", f"the rebuilt rollups differ from the raw rows: {left} keys"

# ---- the expected figures, computed here -------------------------------------
def pgts(t):   # timestamptz as psql prints it with TimeZone UTC
    s = t.strftime("%Y-%m-%d %H:%M:%S")
    if t.microsecond:
        s += ("." + "%06d" % t.microsecond).rstrip("0")
    return s + "+00"
def num(x):    # double precision as PostgreSQL prints it (shortest exact)
    return str(int(x)) if float(x).is_integer() else repr(float(x))
def rnd4(a, b):
    return "" if b == 0 else str((Decimal(a) / Decimal(b)).quantize(Decimal("0.0001"), ROUND_HALF_UP))
def bucket(ms):   # the bucket arithmetic of docs/queries.md, written again
    if ms < 8: return max(ms, 0)
    e = ms.bit_length() - 1
    return 8 + (e - 3) * 4 + ((ms >> (e - 2)) & 3)
def mid(b):
    if b < 8: return float(b)
    w = 1 << ((b - 8) // 4 + 1)
    lo = (4 + (b - 8) % 4) * w
    return lo + (w - 1) / 2.0
def hist(durs):
    h = [0] * 120
    for d in durs: h[bucket(d)] += 1
    return h
def hist_pct(h, p):   # aac_hist_percentile: percentile_cont over bucket middles
    n = sum(h)
    if n == 0: return None
    pos = p * (n - 1); k = math.floor(pos); f = pos - k
    seen, v, w = 0, None, None
    for b, c in enumerate(h):
        seen += c
        if v is None and k < seen: v = mid(b)
        if k + 1 < seen:
            w = mid(b); break
    return v if f == 0 or w is None else v + f * (w - v)
def exact_pct(vals, p):
    v = sorted(vals); pos = p * (len(v) - 1); lo = int(pos); hi = min(lo + 1, len(v) - 1)
    return v[lo] + (pos - lo) * (v[hi] - v[lo])
def in_hours(r): return FROM <= hour_of(r["time"]) <= TO
def counts(rs, t): return sum(1 for r in rs if r["type"] == t)
def group(rs, key):
    g = {}
    for r in rs: g.setdefault(key(r), []).append(r)
    return g

def expected(title, sel, interval):
    R = [r for r in rows if in_hours(r) and (sel is None or r["agent"] in sel)]
    if title == "Actions, errors and error rate":
        e, s = counts(R, "error"), counts(R, "success")
        return [["actions", "errors", "error_rate", "agents"],
                [str(len(R)), str(e), rnd4(e, e + s), str(len({r["agent"] for r in R}))]]
    if title == "Errors per agent per hour":
        g = group([r for r in R if r["type"] == "error"], lambda r: (hour_of(r["time"]), r["agent"]))
        return [["time", "metric", "errors"]] + [[pgts(h), a, str(len(v))] for (h, a), v in sorted(g.items())]
    if title == "Error rate per agent":
        out = []
        for a, v in group(R, lambda r: r["agent"]).items():
            e, s = counts(v, "error"), counts(v, "success")
            out.append((-e, a, [a, str(len(v)), str(s), str(e), rnd4(e, e + s), rnd4(e, len(v))]))
        return [["agent", "actions", "successes", "errors", "error_rate", "error_share"]] + [x[2] for x in sorted(out)]
    if title == "Top failing actions":
        out = []
        for t, v in group(R, lambda r: r["tool"]).items():
            errs = [r for r in v if r["type"] == "error"]
            if not errs: continue
            e, s = len(errs), counts(v, "success")
            out.append((-e, t, [t, str(e), str(len(v)), rnd4(e, e + s), str(len({r["agent"] for r in errs})),
                                pgts(max(r["time"] for r in errs))]))
        return [["action", "errors", "actions", "error_rate", "failing_agents", "last_error"]] + [x[2] for x in sorted(out)[:20]]
    if title == "Duration percentiles per tool":
        out = []
        for t, v in group([r for r in rows if in_hours(r) and r["dur"] is not None], lambda r: r["tool"]).items():
            d = [r["dur"] for r in v]; h = hist(d)
            p = [hist_pct(h, q) for q in (0.5, 0.95, 0.99)]
            for q, got in zip((0.5, 0.95, 0.99), p):   # the stated bound
                want = exact_pct(d, q)
                assert abs(got - want) <= 0.125 * want, (t, q, got, want)
            avg = (Decimal(sum(d)) / Decimal(len(d))).quantize(Decimal("0.1"), ROUND_HALF_UP)
            out.append((-p[1], t, [t, str(len(d))] + [num(x) for x in p] + [str(avg), str(max(d))]))
        return [["tool", "timed", "p50_ms", "p95_ms", "p99_ms", "avg_ms", "max_ms"]] + [x[2] for x in sorted(out)[:25]]
    if title == "p95 duration, busiest tools":
        timed = [r for r in rows if in_hours(r) and r["dur"] is not None]
        busiest = sorted(group(timed, lambda r: r["tool"]).items(), key=lambda kv: (-len(kv[1]), kv[0]))[:10]
        top = {t for t, _ in busiest}
        assert len(top) == 10 and len({r["tool"] for r in timed}) > 10, "the panel's LIMIT 10 must leave tools out"
        # $__timeGroupAlias: epoch seconds, floored to the interval
        g = group([r for r in timed if r["tool"] in top],
                  lambda r: (int(hour_of(r["time"]).timestamp()) // interval * interval, r["tool"]))
        return [["time", "metric", "p95_ms"]] + [[str(h), t, num(hist_pct(hist([r["dur"] for r in v]), 0.95))]
                                                 for (h, t), v in sorted(g.items())]
    if title == "Actions per project per hour":
        g = group(R, lambda r: (hour_of(r["time"]), r["project"] or "(no project)"))
        return [["time", "metric", "actions"]] + [[pgts(h), p, str(len(v))] for (h, p), v in sorted(g.items())]
    if title == "Projects":
        out = []
        for p, v in group(R, lambda r: r["project"] or "(no project)").items():
            e = counts(v, "error")
            out.append((-len(v), p, [p, str(len(v)), str(len({r["agent"] for r in v})), str(e), rnd4(e, len(v)),
                                     pgts(min(r["time"] for r in v)), pgts(max(r["time"] for r in v))]))
        return [["project", "actions", "agents", "errors", "error_share", "first_action", "last_action"]] + [x[2] for x in sorted(out)]
    if title == "Dead letters per hour by reason":
        g = {}
        for h, t, reason, n in dl:
            hh = base.replace(hour=h)
            if FROM <= hh <= TO: g[(hh, reason)] = g.get((hh, reason), 0) + n
        return [["time", "metric", "dead_letters"]] + [[pgts(h), r, str(n)] for (h, r), n in sorted(g.items())]
    if title == "Ingest balance":
        out = {}
        for h, t, m, n, d in ingest:
            if FROM <= base.replace(hour=h) <= TO:
                o = out.setdefault(t, [0, 0, 0, 0])
                o[0] += m; o[1] += n; o[2] += d
        for h, t, reason, n in dl:
            if FROM <= base.replace(hour=h) <= TO:
                out.setdefault(t, [0, 0, 0, 0])[3] += n
        return [["topic", "messages", "rows_inserted", "duplicates", "dead_letters", "unaccounted"]] + \
               [[t, *map(str, o), str(o[0] - o[1] - o[2] - o[3])] for t, o in sorted(out.items())]
    if title == "Recent errors":
        errs = sorted((r for r in rows if r["type"] == "error" and FROM <= r["time"] <= TO
                       and (sel is None or r["agent"] in sel)), key=lambda r: r["time"], reverse=True)
        return [["time", "agent", "action", "project", "duration_ms", "details", "session_id", "correlation_id",
                 "kafka_topic", "kafka_partition", "kafka_offset"]] + \
               [[pgts(r["time"]), r["agent"], r["tool"], r["project"] or "", "" if r["dur"] is None else str(r["dur"]),
                 json.dumps(r["details"], separators=(", ", ": ")), r["session_id"], r["correlation_id"],
                 "agent-actions", str(r["partition"]), str(r["offset"])] for r in errs[:100]]
    raise KeyError(title)

# ---- Grafana's expansion -----------------------------------------------------
def rfc3339(t): return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")   # RFC3339Nano, whole seconds
def macro(name, args):   # pkg/tsdb/grafana-postgresql-datasource/macros.go, the ones a query may use
    if name == "__timeFilter":
        return f"{args[0]} BETWEEN '{rfc3339(FROM)}' AND '{rfc3339(TO)}'"
    if name == "__timeFrom": return f"'{rfc3339(FROM)}'"
    if name == "__timeTo": return f"'{rfc3339(TO)}'"
    if name == "__time": return f'{args[0]} AS "time"'
    if name in ("__timeGroup", "__timeGroupAlias"):
        m = re.fullmatch(r"'?(\d+)([smhdw])'?", args[1])
        secs = int(m.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[m.group(2)]
        g = f"floor(extract(epoch from {args[0]})/{secs})*{secs}"
        return g + (' AS "time"' if name == "__timeGroupAlias" else "")
    raise KeyError(f"macro ${name} is not expanded by this test: add it")
def grafana_interval(panel):
    """$__interval: the range over the panel's maxDataPoints, rounded as
    Grafana rounds it (the steps from 1h up), at least the panel's interval"""
    secs = (TO - FROM).total_seconds() / panel.get("maxDataPoints", 1000)
    steps = [(5400, 3600), (9000, 7200), (12600, 10800), (18000, 14400), (25200, 21600),
             (54000, 43200), (151200, 86400), (1512000, 604800)]
    nice = next((v for lim, v in steps if secs < lim), 2592000) if secs >= 3600 else secs
    m = re.fullmatch(r"(\d+)h", panel.get("interval", "1s"))
    return int(max(nice, int(m.group(1)) * 3600 if m else 1))
def fmt_interval(secs):
    for unit, n in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if secs % n == 0: return f"{secs // n}{unit}"
    return f"{secs}s"
def expand(sql, agent_value, interval=3600):
    sql = sql.replace("${agent}", agent_value).replace("$agent", agent_value)
    sql = sql.replace("$__interval_ms", str(interval * 1000)).replace("$__interval", fmt_interval(interval))
    return re.sub(r"\$([_a-zA-Z0-9]+)\(([^\)]*)\)",
                  lambda m: macro(m.group(1), [a.strip() for a in m.group(2).split(",")]), sql)
def sqlstring(values): return ",".join("'" + v.replace("'", "''") + "'" for v in values)

dash = json.load(open(dash_path))
variables = {v["name"]: v for v in dash["templating"]["list"]}
assert variables["datasource"]["query"] == "grafana-postgresql-datasource", variables["datasource"]
agent_var = variables["agent"]
all_value = agent_var["allValue"]
got = list(csv.reader(io.StringIO(psql(expand(agent_var["query"], "NULL"), reader))))
if got[1:] != [["alpha"], ["beta"], ["gamma"]]:
    problems.append(f"agent variable: {got}")

panels = [p for p in dash["panels"] if p["type"] != "row"]
for p in dash["panels"]:
    panels += p.get("panels", [])
ROLLUPS = {"aac_rollup_hourly", "aac_rollup_durations_hourly", "aac_dead_letters_hourly", "aac_ingest_hourly"}
checked = 0
def plan_relations(sql):   # [(relation, node type, index condition)] of every scan
    out = []
    def walk(n):
        if "Relation Name" in n:   # a bitmap heap scan's condition is its Recheck Cond
            out.append((n["Relation Name"], n["Node Type"], n.get("Index Cond", n.get("Recheck Cond", ""))))
        for c in n.get("Plans", []): walk(c)
    walk(json.loads(psql("SET enable_seqscan = off; EXPLAIN (FORMAT JSON) " + sql, reader, csv_out=False))[0]["Plan"])
    return out
for p in panels:
    title = p["title"]
    assert p["datasource"]["type"] == "grafana-postgresql-datasource", title
    assert len(p["targets"]) == 1, f"{title}: one query per panel"
    raw = p["targets"][0]["rawSql"]
    uses_agent = "$agent" in raw
    iv = grafana_interval(p)
    modes = [("all agents", all_value, None, iv)]
    if uses_agent:
        modes.append(("alpha and gamma", sqlstring(["alpha", "gamma"]), {"alpha", "gamma"}, iv))
    elif title not in ("Duration percentiles per tool", "p95 duration, busiest tools",
                       "Dead letters per hour by reason", "Ingest balance"):
        problems.append(f"{title}: does not filter by the agent variable")
    if "maxDataPoints" in p:   # follows $__interval: as over a longer range, 3 hours in one point
        assert iv == 3600, f"{title}: $__interval {iv} s for a 6-hour range"
        if "$__interval" not in raw:
            problems.append(f"{title}: has maxDataPoints but its query ignores $__interval")
        modes.append(("all agents, 3h interval", all_value, None, 10800))
    for mode, value, sel, interval in modes:
        sql = expand(raw, value, interval)
        want = expected(title, sel, interval)
        if len(want) < 2:
            problems.append(f"{title} ({mode}): no expected rows: the data does not exercise it")
        try:
            got = list(csv.reader(io.StringIO(psql(sql, reader))))
        except RuntimeError as e:
            problems.append(f"{title} ({mode}): {e}")
            continue
        if got != want:
            diff = [f"  row {i}: got {g} want {w}" for i, (g, w) in enumerate(zip(got, want)) if g != w][:5]
            problems.append(f"{title} ({mode}): {len(got) - 1} rows, expected {len(want) - 1}\n" + "\n".join(diff))
        checked += 1
    rels = plan_relations(expand(raw, all_value))
    raw_reads = [r for r in rels if r[0].startswith("agent_actions")]
    if title == "Recent errors":
        if not raw_reads or any(r[0] in ROLLUPS for r in rels):
            problems.append(f"{title}: should read agent_actions only: {rels}")
        if '"Limit"' not in psql("EXPLAIN (FORMAT JSON) " + expand(raw, all_value), reader, csv_out=False):
            problems.append(f"{title}: no LIMIT")
    else:
        if raw_reads or not rels:
            problems.append(f"{title}: reads {rels}, not only the rollups")
        for rel, node, cond in rels:
            if rel in ROLLUPS and not (node in ("Index Scan", "Index Only Scan", "Bitmap Heap Scan")
                                       and re.search(r"\bhour\b", cond)):
                problems.append(f"{title}: {rel} read by {node} ({cond or 'no index condition'}), not a range scan on hour")
assert {p["title"] for p in panels} >= {"Errors per agent per hour", "p95 duration, busiest tools",
                                        "Duration percentiles per tool", "Top failing actions",
                                        "Actions per project per hour", "Recent errors"}
for msg in problems:
    print("PROBLEM:", msg, file=sys.stderr)
print(f"{len(panels)} panels, {checked} queries checked, {len(rows)} rows, {len(problems)} problems")
sys.exit(1 if problems else 0)
PY

python3 "$TEST_DIR/check.py" "$AAC_SRC/config/grafana/dashboards/agent-actions-analytics.json" "$TEST_DIR" "$reader" \
  >"$TEST_DIR/check.out" 2>&1 || fail "dashboard queries: $(cat "$TEST_DIR/check.out")"
summary=$(tail -n 1 "$TEST_DIR/check.out")

# the role Grafana uses cannot change anything
PGUSER=$reader psql -qXAt -c "DELETE FROM aac_rollup_hourly" >"$TEST_DIR/write.out" 2>&1 &&
  fail "the reader role could delete rollup rows"
grep -q 'read-only transaction' "$TEST_DIR/write.out" || fail "reader's DELETE: $(cat "$TEST_DIR/write.out")"
PGUSER=$reader psql -qXAt -c "BEGIN READ WRITE" -c "DELETE FROM aac_rollup_hourly" >"$TEST_DIR/write.out" 2>&1 &&
  fail "the reader role could delete rollup rows in a read-write transaction"
grep -q 'permission denied' "$TEST_DIR/write.out" || fail "reader's DELETE: $(cat "$TEST_DIR/write.out")"
assert_eq "$(PGUSER=$reader psql -qXAt -c 'SHOW statement_timeout')" "30s" "reader's statement_timeout"

psql -qX -c "DROP OWNED BY \"$reader\"" -c "DROP ROLE \"$reader\"" >/dev/null
pass "$summary"
