#!/usr/bin/env python3
"""The queries bench/queries.sh times, and their timing, on the database
that PGHOST/PGPORT/PGUSER/PGDATABASE name.

  queries.py list                     the queries: name, form, reads, SQL
  queries.py time OUT.tsv [--runs N]  each query once to warm up, then N
                                      times (default 5); OUT.tsv gets
                                      name, form, reads, median, min, max (ms)
  queries.py accuracy OUT.tsv         p50/p95/p99 per action from the
                                      histograms against percentile_cont
                                      over the raw rows: the largest
                                      relative difference; exit 1 above 12.5 %
  queries.py table DIR                the markdown tables from DIR's files

Each documented question of docs/queries.md is timed in two forms: "raw",
the view as migration 0002 defined it (its SQL read from the migration, a
filter around it as a user would write it), and "rollup", the view of
migration 0003 or the equivalent query on the rollups. Then every panel of
the analytics dashboard and its agent variable, with Grafana's macros
expanded as its PostgreSQL data source does, for the last 7 days (the
dashboard's default) and the last 30 days (all the data), all agents.
Times are psql's \\timing: from sending the query to the last row
received, on one connection, the result discarded.
"""
import csv
import json
import os
import re
import statistics
import subprocess
import sys
from datetime import datetime, timedelta, timezone

SRC = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUCKETS = [f"b{k:03d}" for k in range(120)]
HIST = "ARRAY[" + ", ".join(f"sum({b})" for b in BUCKETS) + "]::bigint[]"


def psql(sql, *extra):
    r = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", *extra],
                       input=sql, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"bench/queries.py: psql failed: {r.stderr.strip()}\n--- SQL:\n{sql[:2000]}")
    return r.stdout


def old_views():
    """The SELECT of each view of migration 0002 (the views on the raw rows)."""
    text = open(os.path.join(SRC, "migrations/0002_analytics_views.up.sql")).read()
    return {m.group(1): m.group(2).strip() for m in
            re.finditer(r"CREATE VIEW (\w+) AS\n(.*?);\n", text, re.S)}


def grafana_queries(days):
    """(title, SQL) of the analytics dashboard's variable and panels, for
    the last `days` days and all agents, expanded as Grafana does."""
    now = datetime.now(timezone.utc).replace(microsecond=0)
    frm, to = now - timedelta(days=days), now
    def rfc(t): return t.strftime("%Y-%m-%dT%H:%M:%SZ")
    def interval(panel):   # $__interval: range / maxDataPoints, rounded as Grafana does, >= the panel's
        secs = (to - frm).total_seconds() / panel.get("maxDataPoints", 1000)
        steps = [(5400, 3600), (9000, 7200), (12600, 10800), (18000, 14400), (25200, 21600),
                 (54000, 43200), (151200, 86400), (1512000, 604800)]
        nice = next((v for lim, v in steps if secs < lim), 2592000) if secs >= 3600 else secs
        m = re.fullmatch(r"(\d+)h", panel.get("interval", "1s"))
        secs = int(max(nice, int(m.group(1)) * 3600 if m else 1))
        return next(f"{secs // n}{u}" for u, n in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60), ("s", 1))
                    if secs % n == 0)
    def macro(m):
        name, args = m.group(1), [a.strip() for a in m.group(2).split(",")]
        if name == "__timeFilter":
            return f"{args[0]} BETWEEN '{rfc(frm)}' AND '{rfc(to)}'"
        if name == "__timeFrom":
            return f"'{rfc(frm)}'"
        if name == "__timeTo":
            return f"'{rfc(to)}'"
        if name in ("__timeGroup", "__timeGroupAlias"):
            mm = re.fullmatch(r"'?(\d+)([smhdw])'?", args[1])
            secs = int(mm.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[mm.group(2)]
            g = f"floor(extract(epoch from {args[0]})/{secs})*{secs}"
            return g + (' AS "time"' if name == "__timeGroupAlias" else "")
        sys.exit(f"bench/queries.py: macro ${name} not expanded here")
    dash = json.load(open(os.path.join(SRC, "config/grafana/dashboards/agent-actions-analytics.json")))
    var = {v["name"]: v for v in dash["templating"]["list"]}["agent"]
    out = [("variable: agent", var["query"])]
    for p in dash["panels"]:
        for q in [p] + p.get("panels", []):
            if q["type"] != "row":
                sql = q["targets"][0]["rawSql"].replace("$__interval", interval(q))
                out.append((q["title"], sql))
    return [(t, re.sub(r"\$([_a-zA-Z0-9]+)\(([^\)]*)\)", macro, s.replace("$agent", var["allValue"])))
            for t, s in out]


def queries():
    v = old_views()
    busiest = psql("SELECT agent_name FROM aac_rollup_hourly GROUP BY 1 ORDER BY sum(events) DESC LIMIT 1").strip()
    session, corr = psql("SELECT session_id, correlation_id FROM agent_actions "
                         "WHERE event_time > now() - interval '1 day' LIMIT 1").strip().split("|")
    q = []
    def both(name, raw, rollup, rollup_reads="rollups"):
        q.append((name, "raw", "agent_actions", raw))
        q.append((name, "rollup", rollup_reads, rollup))
    day = "interval '24 hours'"
    both("aac_agent_hourly, last 24 h",
         f"SELECT * FROM ({v['aac_agent_hourly']}) v WHERE hour > now() - {day}",
         f"SELECT * FROM aac_agent_hourly WHERE hour > now() - {day}")
    both("aac_agent_hourly, last 24 h, one agent",
         f"SELECT * FROM ({v['aac_agent_hourly']}) v WHERE hour > now() - {day} AND agent_name = '{busiest}'",
         f"SELECT * FROM aac_agent_hourly WHERE hour > now() - {day} AND agent_name = '{busiest}'")
    both("aac_agent_outcomes", v["aac_agent_outcomes"], "SELECT * FROM aac_agent_outcomes")
    both("aac_action_outcomes", v["aac_action_outcomes"], "SELECT * FROM aac_action_outcomes")
    both("aac_action_durations (p50, p95, p99)", v["aac_action_durations"],
         "SELECT * FROM aac_action_durations")
    both("aac_project_activity", v["aac_project_activity"], "SELECT * FROM aac_project_activity")
    q.append(("aac_project_sessions (distinct sessions)", "raw", "agent_actions",
              "SELECT * FROM aac_project_sessions"))
    both("error rate per agent, last 24 h",
         "SELECT agent_name, count(*) AS actions, count(*) FILTER (WHERE action_type = 'error') AS errors,"
         " round(count(*) FILTER (WHERE action_type = 'error')::numeric"
         " / nullif(count(*) FILTER (WHERE action_type IN ('success', 'error')), 0), 4) AS error_rate"
         f" FROM agent_actions WHERE event_time > now() - {day} GROUP BY agent_name",
         "SELECT agent_name, sum(events) AS actions,"
         " coalesce(sum(events) FILTER (WHERE action_type = 'error'), 0) AS errors,"
         " round(coalesce(sum(events) FILTER (WHERE action_type = 'error'), 0)"
         " / nullif(sum(events) FILTER (WHERE action_type IN ('success', 'error')), 0), 4) AS error_rate"
         f" FROM aac_rollup_hourly WHERE hour > now() - {day} GROUP BY agent_name")
    both("p95 duration per action, last 7 days",
         "SELECT action_name, percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_ms) AS p95_ms"
         " FROM agent_actions WHERE event_time > now() - interval '7 days' AND duration_ms IS NOT NULL"
         " GROUP BY action_name",
         f"SELECT action_name, aac_hist_percentile({HIST}, 0.95) AS p95_ms"
         " FROM aac_rollup_durations_hourly WHERE hour > now() - interval '7 days' GROUP BY action_name")
    # drill-down: the raw rows only, by the indexes of 0001 and partition pruning
    q.append(("one task's actions (correlation_id)", "raw", "agent_actions",
              f"SELECT event_time, agent_name, action_type, action_name, duration_ms FROM agent_actions"
              f" WHERE correlation_id = '{corr}' ORDER BY event_time"))
    q.append(("one session (aac_session_activity)", "raw", "agent_actions",
              f"SELECT * FROM aac_session_activity WHERE session_id = '{session}'"))
    q.append(("recent errors, last 24 h, 50 newest", "raw", "agent_actions",
              f"SELECT * FROM aac_recent_errors WHERE event_time > now() - {day} LIMIT 50"))
    for days in (7, 30):
        for title, sql in grafana_queries(days):
            reads = "agent_actions" if "aac_recent_errors" in sql else "rollups"
            q.append((f"dashboard: {title}, {days} d", "panel", reads, sql))
    return q


def time_queries(out, runs):
    rows = []
    for name, form, reads, sql in queries():
        script = "\\timing on\n\\o /dev/null\n" + (sql.rstrip().rstrip(";") + ";\n") * (runs + 1)
        r = subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1"], input=script,
                           capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit(f"bench/queries.py: {name} ({form}) failed: {r.stderr.strip()}")
        ms = [float(x) for x in re.findall(r"^Time: ([0-9.]+) ms", r.stdout, re.M)]
        if len(ms) != runs + 1:
            sys.exit(f"bench/queries.py: {name}: {len(ms)} timings in {r.stdout!r}")
        ms = ms[1:]   # the first run warms the caches
        rows.append([name, form, reads, f"{statistics.median(ms):.2f}", f"{min(ms):.2f}", f"{max(ms):.2f}"])
        print(f"  {statistics.median(ms):10.2f} ms  {form:6} {name}", file=sys.stderr)
        plan = psql("EXPLAIN (ANALYZE, BUFFERS) " + sql)
        with open(out + ".plans", "a") as f:
            f.write(f"==== {name} ({form})\n{sql}\n{plan}\n")
    with open(out, "w") as f:
        csv.writer(f, delimiter="\t", lineterminator="\n").writerows(rows)


def accuracy(out):
    """Largest relative difference of the histogram's percentiles from
    percentile_cont over the raw rows, per action: over all the data and
    over the last 24 hours."""
    lines = []
    for scope, raw_where, hist_where in (
            ("all data", "true", "true"),
            ("last 24 h", "event_time >= date_trunc('hour', now() - interval '24 hours', 'UTC')",
             "hour >= date_trunc('hour', now() - interval '24 hours', 'UTC')")):
        sql = f"""
WITH h AS (SELECT action_name, {HIST} AS h FROM aac_rollup_durations_hourly
           WHERE {hist_where} GROUP BY action_name),
     r AS (SELECT action_name,
                  percentile_cont(0.50) WITHIN GROUP (ORDER BY duration_ms) AS p50,
                  percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_ms) AS p95,
                  percentile_cont(0.99) WITHIN GROUP (ORDER BY duration_ms) AS p99
           FROM agent_actions WHERE duration_ms IS NOT NULL AND {raw_where} GROUP BY action_name)
SELECT count(*),
       max(abs(aac_hist_percentile(h.h, 0.50) - r.p50) / r.p50),
       max(abs(aac_hist_percentile(h.h, 0.95) - r.p95) / r.p95),
       max(abs(aac_hist_percentile(h.h, 0.99) - r.p99) / r.p99),
       avg(abs(aac_hist_percentile(h.h, 0.95) - r.p95) / r.p95)
FROM r JOIN h USING (action_name)"""
        n, d50, d95, d99, avg95 = psql(sql).strip().split("|")
        lines.append([scope, n, d50, d95, d99, avg95])
        worst = max(float(d50), float(d95), float(d99))
        if worst > 0.125:
            with open(out, "w") as f:
                csv.writer(f, delimiter="\t", lineterminator="\n").writerows(lines)
            sys.exit(f"bench/queries.py: FAIL: a histogram percentile is {worst:.2%} from percentile_cont ({scope})")
    with open(out, "w") as f:
        csv.writer(f, delimiter="\t", lineterminator="\n").writerows(lines)


def fmt_ms(x):
    x = float(x)
    return f"{x:,.0f}" if x >= 100 else f"{x:.1f}" if x >= 10 else f"{x:.2f}"


def table(d):
    sizes = sorted(int(m.group(1)) for f in os.listdir(d) if (m := re.fullmatch(r"times-(\d+)\.tsv", f)))
    if not sizes:
        sys.exit(f"bench/queries.py: no times-N.tsv in {d}")
    label = {n: (f"{n // 1_000_000}M" if n % 1_000_000 == 0 else f"{n:,}") for n in sizes}
    times, order = {}, []
    for n in sizes:
        for name, form, reads, med, lo, hi in csv.reader(open(f"{d}/times-{n}.tsv"), delimiter="\t"):
            if (name, form) not in times:
                times[(name, form)] = {"reads": reads}
                order.append((name, form))
            times[(name, form)][n] = med
    print("| question | form | reads | " + " | ".join(f"{label[n]} rows, ms" for n in sizes) + " |")
    print("|---|---|---|" + "---:|" * len(sizes))
    for key in order:
        t = times[key]
        print(f"| {key[0]} | {key[1]} | {t['reads']} | " +
              " | ".join(fmt_ms(t[n]) if n in t else "" for n in sizes) + " |")
    print()
    print("| rows | " + " | ".join(label[n] for n in sizes) + " |")
    print("|---|" + "---:|" * len(sizes))
    facts = {n: dict(line.rstrip("\n").split("\t", 1) for line in open(f"{d}/load-{n}.tsv")) for n in sizes}
    for k in facts[sizes[0]]:
        print(f"| {k} | " + " | ".join(facts[n].get(k, "") for n in sizes) + " |")
    print()
    print("| rows | scope | actions | p50 max rel. diff | p95 max rel. diff | p99 max rel. diff | p95 mean rel. diff |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for n in sizes:
        for scope, cnt, d50, d95, d99, avg95 in csv.reader(open(f"{d}/accuracy-{n}.tsv"), delimiter="\t"):
            print(f"| {label[n]} | {scope} | {cnt} | " +
                  " | ".join(f"{float(x):.2%}" for x in (d50, d95, d99, avg95)) + " |")


if __name__ == "__main__":
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "list":
        for name, form, reads, sql in queries():
            print(f"-- {name} ({form}, reads {reads})\n{sql};\n")
    elif cmd == "time":
        runs = int(sys.argv[4]) if len(sys.argv) > 4 and sys.argv[3] == "--runs" else 5
        time_queries(sys.argv[2], runs)
    elif cmd == "accuracy":
        accuracy(sys.argv[2])
    elif cmd == "table":
        table(sys.argv[2])
    else:
        sys.exit(__doc__)
