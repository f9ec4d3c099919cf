#!/usr/bin/python3
"""Evaluates PromQL through a running Prometheus' HTTP API.

  check_promql.py URL wait EXPR OP VALUE TIMEOUT
      until the first sample of EXPR compares OP (== or >=) to VALUE
  check_promql.py URL rules RULEFILE... --dashboard JSON --var NAME=VALUE...
      every expression of the dashboard (panels' targets, with Grafana's
      variables replaced by --var values) and of the recording rules must
      parse and return at least one series; the recorded series must exist;
      every rule Prometheus loaded must evaluate without error; alert
      expressions must parse
  check_promql.py URL alerts TIMEOUT NAME:STATE...
      until the active alerts (pending or firing) are exactly those

Prints what it checked; exits 1 with the reason on the first failure.
"""
import json
import re
import sys
import time
import urllib.parse
import urllib.request

import yaml


def fail(msg):
    print(f"check_promql: {msg}", file=sys.stderr)
    sys.exit(1)


def api(base, path, **params):
    url = f"{base}/api/v1/{path}"
    if params:
        url += "?" + urllib.parse.urlencode(params)
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return json.load(r)
    except urllib.error.HTTPError as e:  # 400: a parse error, with its text
        return json.load(e)


def query(base, expr):
    """The result vector of an instant query; fails on any error."""
    d = api(base, "query", query=expr)
    if d.get("status") != "success":
        fail(f"{expr}: {d.get('errorType')}: {d.get('error')}")
    if d["data"]["resultType"] not in ("vector", "scalar"):
        fail(f"{expr}: result type {d['data']['resultType']}")
    res = d["data"]["result"]
    return res if d["data"]["resultType"] == "vector" else [{"metric": {}, "value": res}]


def wait(base, expr, op, want, timeout):
    got = None
    deadline = time.time() + timeout
    while time.time() < deadline:
        res = query(base, expr)
        if res:
            got = float(res[0]["value"][1])
            if (op == "==" and got == want) or (op == ">=" and got >= want):
                print(f"ok: {expr} {op} {want:g}")
                return
        time.sleep(0.2)
    fail(f"waited {timeout}s for {expr} {op} {want:g}; last: {got}")


def substitute(expr, variables):
    """Grafana's ${name} and $name, longest names first ($__rate_interval)."""
    for name in sorted(variables, key=len, reverse=True):
        expr = expr.replace("${" + name + "}", variables[name]).replace("$" + name, variables[name])
    if "$" in expr:
        fail(f"a Grafana variable left unreplaced (pass --var): {expr}")
    return expr


def rules(base, files, dashboard, variables):
    # --- the rules as Prometheus loaded them: all evaluated, no error ----------
    want = {}
    for f in files:
        for g in yaml.safe_load(open(f))["groups"]:
            for r in g["rules"]:
                want[r.get("record") or r.get("alert")] = r
    deadline = time.time() + 15
    while True:
        loaded = [r for g in api(base, "rules")["data"]["groups"] for r in g["rules"]]
        pending = [r["name"] for r in loaded if r["health"] != "ok"]
        if not pending and len(loaded) == len(want):
            break
        if time.time() > deadline:
            bad = [f"{r['name']}: {r['health']} {r.get('lastError', '')}" for r in loaded if r["health"] != "ok"]
            fail(f"{len(loaded)} rules loaded of {len(want)}; not ok: {bad}")
        time.sleep(0.2)
    if sorted(r["name"] for r in loaded) != sorted(want):
        fail(f"Prometheus loaded {sorted(r['name'] for r in loaded)}, the files hold {sorted(want)}")
    print(f"ok: {len(loaded)} rules loaded, all evaluated without error")

    n = 0
    for name, r in want.items():
        if "record" in r:
            # the expression, and the series Prometheus recorded from it
            for expr in (r["expr"], name):
                if not query(base, expr):
                    fail(f"recording rule {name}: {expr} returns no series")
                n += 1
        else:
            query(base, r["expr"])  # parses; a healthy service fires nothing
    print(f"ok: {n} recording rule expressions and recorded series return series")

    # --- the dashboard ---------------------------------------------------------
    d = json.load(open(dashboard))
    panels = []
    for p in d["panels"]:
        panels.append(p)
        panels.extend(p.get("panels", []))
    n = 0
    for p in panels:
        for t in p.get("targets", []):
            expr = substitute(t["expr"], variables)
            res = query(base, expr)
            if not res:
                fail(f"panel '{p['title']}' ({t['refId']}): {expr} returns no series")
            n += 1
    # query variables: label_values(SELECTOR, LABEL) must offer the value used
    for v in d["templating"]["list"]:
        if v["type"] != "query":
            continue
        q = v["query"]["query"] if isinstance(v["query"], dict) else v["query"]
        m = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", q)
        if not m:
            fail(f"variable {v['name']}: cannot check {q}")
        values = {s["metric"].get(m.group(2)) for s in query(base, substitute(m.group(1), variables))}
        values.discard(None)
        if not values:
            fail(f"variable {v['name']}: {q} offers no value")
        if v["name"] in variables and not re.fullmatch(variables[v["name"]], sorted(values)[0]):
            fail(f"variable {v['name']}: {q} offers {values}, not {variables[v['name']]}")
        n += 1
    print(f"ok: {n} dashboard queries and variables return series")


def alerts(base, timeout, expected):
    got = None
    deadline = time.time() + timeout
    while time.time() < deadline:
        got = sorted(f"{a['labels']['alertname']}:{a['state']}" for a in api(base, "alerts")["data"]["alerts"])
        if got == sorted(expected):
            print(f"ok: active alerts {got}")
            return
        time.sleep(0.2)
    fail(f"active alerts: expected {sorted(expected)}, got {got}")


def main():
    base, cmd, args = sys.argv[1], sys.argv[2], sys.argv[3:]
    if cmd == "wait":
        wait(base, args[0], args[1], float(args[2]), float(args[3]))
    elif cmd == "rules":
        files, variables, dashboard, i = [], {}, None, 0
        while i < len(args):
            if args[i] == "--dashboard":
                dashboard, i = args[i + 1], i + 2
            elif args[i] == "--var":
                k, v = args[i + 1].split("=", 1)
                variables[k], i = v, i + 2
            else:
                files.append(args[i])
                i += 1
        rules(base, files, dashboard, variables)
    elif cmd == "alerts":
        alerts(base, float(args[0]), args[1:])
    else:
        fail(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
