#!/usr/bin/env bash
# The Prometheus rules, the Prometheus configuration of docker-compose and the
# Grafana dashboard, without any server: promtool checks the syntax and runs
# the rules' unit tests (alerts_test.yml, recording_test.yml); then every
# alert must have a case where it fires, every recording rule a case that
# checks its value, and every metric the rules, the dashboard and the tests
# name must be one docs/operations.md documents (the service's real names),
# none of them a deprecated name (its "Deprecated names" table).
# tests/integration/test_prometheus.sh evaluates the same expressions
# against a running service.
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
cd "$src"
command -v promtool >/dev/null || { echo "FAIL: promtool not installed (scripts/install-deps.sh)" >&2; exit 1; }

promtool check rules config/prometheus/alerts.yml config/prometheus/recording.yml
# the compose configuration, with the rule files it loads
promtool check config config/prometheus/prometheus.yml
promtool test rules tests/prometheus/alerts_test.yml tests/prometheus/recording_test.yml

/usr/bin/python3 - <<'PY'
import json, re, sys, yaml

def fail(msg):
    print(f"FAIL: prometheus_rules: {msg}", file=sys.stderr)
    sys.exit(1)

alerts = [r for g in yaml.safe_load(open("config/prometheus/alerts.yml"))["groups"] for r in g["rules"]]
records = [r for g in yaml.safe_load(open("config/prometheus/recording.yml"))["groups"] for r in g["rules"]]
atest = yaml.safe_load(open("tests/prometheus/alerts_test.yml"))
rtest = yaml.safe_load(open("tests/prometheus/recording_test.yml"))
dash = json.load(open("config/grafana/dashboards/agent-actions-consumer.json"))

# every alert: a severity, a summary and a description; a test where it
# fires and one where it must not
fired, quiet = set(), set()
for t in atest["tests"]:
    for c in t.get("alert_rule_test", []):
        (fired if c.get("exp_alerts") else quiet).add(c["alertname"])
names = [a["alert"] for a in alerts]
if len(set(names)) != len(names):
    fail(f"alert names repeat: {names}")
for a in alerts:
    n = a["alert"]
    if a.get("labels", {}).get("severity") not in ("critical", "warning"):
        fail(f"{n}: severity must be critical or warning")
    ann = a.get("annotations", {})
    if not ann.get("summary") or len(ann.get("description", "")) < 80:
        fail(f"{n}: needs a summary and a description of what to look at")
    if n not in fired:
        fail(f"{n}: no test case where it fires")
    if n not in quiet:
        fail(f"{n}: no test case where it must not fire")

# every recording rule's value checked
checked = {c["expr"] for t in rtest["tests"] for c in t.get("promql_expr_test", [])}
for r in records:
    if r["record"] not in checked:
        fail(f"recording rule {r['record']} has no promql_expr_test")

# the dashboard: every panel described, with queries; ids unique
panels = []
for p in dash["panels"]:
    panels.append(p)
    panels.extend(p.get("panels", []))
ids = [p["id"] for p in panels]
if len(set(ids)) != len(ids):
    fail(f"dashboard panel ids repeat: {ids}")
exprs = []
for p in panels:
    if p["type"] == "row":
        continue
    if not p.get("description") or not p.get("targets"):
        fail(f"dashboard panel '{p['title']}' needs a description and queries")
    exprs += [t["expr"] for t in p["targets"]]
if len(exprs) < 20:
    fail(f"only {len(exprs)} dashboard queries")

# metric names: documented in docs/operations.md (histograms by family name)
doc = open("docs/operations.md").read()
documented = set(re.findall(r"^\| `([a-z_]+)` \|", doc, re.M)) | {"up"}
texts = exprs + [a["expr"] for a in alerts] + [r["expr"] for r in records]
texts += [s["series"] for t in atest["tests"] + rtest["tests"] for s in t.get("input_series", [])]
used = set()
for text in texts:
    # names outside label matchers and not recorded series (level:metric:ops)
    text = re.sub(r'"[^"]*"', '""', text)
    for m in re.finditer(r"(?<![\w:])(aac_[a-z_]+|process_[a-z_]+)(?![\w:])", text):
        used.add(re.sub(r"_(bucket|sum|count)$", "", m.group(1)) if m.group(1) not in documented else m.group(1))
unknown = sorted(n for n in used if n not in documented)
if unknown:
    fail(f"metrics not exposed by the service (not in docs/operations.md): {unknown}")
# deprecated names: served one release more, used by nothing of ours
m = re.search(r"^#### Deprecated names\n(.*?)(?=^#)", doc, re.M | re.S)
if not m:
    fail("docs/operations.md has no 'Deprecated names' section")
deprecated = set(re.findall(r"^\| `([a-z_]+)` \|", m.group(1), re.M))
if not deprecated:
    fail("the 'Deprecated names' table lists no metric: the check is not reading it")
stale = sorted(used & deprecated)
if stale:
    fail(f"deprecated metric names used by the rules, the dashboard or their tests: {stale}")
if len(used) < 20:
    fail(f"only {len(used)} metric names found: the name check is not reading the files")
print(f"PASS: prometheus_rules: {len(alerts)} alerts and {len(records)} recording rules tested, "
      f"{len(exprs)} dashboard queries, {len(used)} metric names all documented")
PY
