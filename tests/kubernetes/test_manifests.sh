#!/usr/bin/env bash
# deploy/kubernetes/, offline, no cluster: every object valid against the
# Kubernetes API's schemas (validate.js: kubernetes-models' validators,
# compiled from the API's OpenAPI specification, plus unknown fields and
# removed API versions), and deliberately broken copies refused, each with
# the error that names its fault; the ConfigMap's configuration loads
# (check-config, the Secret's files stood in for, a certificate for each
# CA file) and the Deployment
# agrees with it: probes on /health and /ready of the configured port, the
# liveness window above the longest legal wait (statement_timeout_ms + 5 s
# of dead-letter confirmation), the kubelet's probe timeout covering
# http.request_timeout_ms, terminationGracePeriodSeconds above
# shutdown_timeout_ms, the scrape annotation on the metrics port, every
# file the configuration names mounted from the Secret the docs create,
# selectors that match, resources from the measured figures in the README.
#
#   test_manifests.sh AGENT_ACTIONS_CONSUMER_BINARY
#
# Needs node and tests/kubernetes/node_modules (scripts/install-deps.sh
# installs them with npm ci from package-lock.json; nothing is fetched
# here).
set -euo pipefail
bin=${1:?usage: test_manifests.sh AGENT_ACTIONS_CONSUMER_BINARY}
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
fail() { echo "FAIL: kubernetes_manifests: $*" >&2; exit 1; }
command -v node >/dev/null || fail "node not installed (scripts/install-deps.sh)"
[ -f "$here/node_modules/kubernetes-models/package.json" ] ||
  fail "tests/kubernetes/node_modules missing: run scripts/install-deps.sh"
tmp=$(mktemp -d /tmp/aac-k8s-test.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
# check-config has librdkafka load the CA files the configuration names, as
# the clients will: a certificate stands in for each *.crt of the Secret
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$tmp/standin.key" -out "$tmp/standin.crt" \
  -subj /CN=stand-in -days 1 >/dev/null 2>&1 || fail "openssl could not make a stand-in certificate"

# ---- (1) the objects, the configuration and the Secret's files --------------------
/usr/bin/python3 - "$src" "$tmp" <<'PY' || fail "could not read deploy/kubernetes/"
import glob, json, os, re, sys, yaml
src, tmp = sys.argv[1], sys.argv[2]
docs = []
for f in sorted(glob.glob(os.path.join(src, "deploy/kubernetes/*.yaml"))):
    for i, d in enumerate(yaml.safe_load_all(open(f))):
        if d is not None:
            docs.append({"where": f"{os.path.basename(f)}#{i + 1}", "doc": d})
json.dump(docs, open(f"{tmp}/docs.json", "w"))
by_kind = {d["doc"]["kind"]: d["doc"] for d in docs}
pod = by_kind["Deployment"]["spec"]["template"]["spec"]
vol = {v["name"]: v for v in pod["volumes"]}
mounts = {m["name"]: m["mountPath"] for m in pod["containers"][0]["volumeMounts"]}
secret_dir = mounts["secrets"]
text = by_kind["ConfigMap"]["data"]["agent-actions-consumer.yaml"]
# the Secret's files, stood in for under tmp
os.makedirs(f"{tmp}/secrets")
standin_crt = open(f"{tmp}/standin.crt").read()
for it in vol["secrets"]["secret"]["items"]:
    open(f"{tmp}/secrets/{it['path']}", "w").write(
        standin_crt if it["path"].endswith(".crt") else "stand-in\n")
open(f"{tmp}/config.yaml", "w").write(text.replace(secret_dir + "/", f"{tmp}/secrets/"))
json.dump({"secret_dir": secret_dir}, open(f"{tmp}/paths.json", "w"))
PY
n_docs=$(/usr/bin/python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$tmp/docs.json")
[ "$n_docs" -ge 4 ] || fail "only $n_docs objects in deploy/kubernetes/"
env -i PATH="$PATH" "$bin" --config "$tmp/config.yaml" check-config >"$tmp/effective.yaml" 2>"$tmp/check.err" ||
  fail "the ConfigMap's configuration does not load: $(cat "$tmp/check.err")"

# ---- (2) the schemas ---------------------------------------------------------------
out=$(node "$here/validate.js" <"$tmp/docs.json" 2>&1) || fail "invalid manifests:
$out"
[ "$out" = "$n_docs objects valid" ] || fail "validator: $out"

# ---- (3) broken copies are refused, each for its fault ----------------------------------
/usr/bin/python3 - "$tmp" <<'PY'
import copy, json, sys
tmp = sys.argv[1]
docs = json.load(open(f"{tmp}/docs.json"))
dep = next(d for d in docs if d["doc"]["kind"] == "Deployment")
pdb = next(d for d in docs if d["doc"]["kind"] == "PodDisruptionBudget")
def container(d):
    return d["doc"]["spec"]["template"]["spec"]["containers"][0]
cases = []
def case(name, base, change, expect):
    d = copy.deepcopy(base)
    change(d)
    d["where"] = name
    cases.append({"name": name, "docs": [d], "expect": expect})
case("misspelt field", dep, lambda d: container(d).update(livenesProbe=container(d).pop("livenessProbe")),
     '/spec/template/spec/containers/0: unknown field "livenesProbe"')
case("unknown field deep down", dep,
     lambda d: d["doc"]["spec"]["template"]["spec"]["volumes"][1]["secret"]["items"][0].update(mod=1),
     '/spec/template/spec/volumes/1/secret/items/0: unknown field "mod"')
case("string for an integer", dep, lambda d: container(d)["livenessProbe"].update(timeoutSeconds="5"),
     "livenessProbe/timeoutSeconds must be integer")
case("required field missing", dep, lambda d: container(d).pop("name"),
     "containers/0 must have required property name")
case("value outside an enum", dep, lambda d: container(d).update(imagePullPolicy="Sometimes"),
     "imagePullPolicy must be equal to one of the allowed values")
case("a list for a quantity", dep, lambda d: container(d)["resources"]["requests"].update(cpu=[1]),
     "resources/requests/cpu must match exactly one schema")
case("removed API version", pdb, lambda d: d["doc"].update(apiVersion="policy/v1beta1"),
     'apiVersion "policy/v1beta1" was removed from the Kubernetes API in 1.25')
case("unknown kind", dep, lambda d: d["doc"].update(kind="Deploymnt"),
     'no schema for apiVersion "apps/v1", kind "Deploymnt"')
for i, c in enumerate(cases):
    json.dump(c["docs"], open(f"{tmp}/bad-{i}.json", "w"))
    open(f"{tmp}/bad-{i}.expect", "w").write(c["expect"])
    open(f"{tmp}/bad-{i}.name", "w").write(c["name"])
PY
n_bad=0
for f in "$tmp"/bad-*.json; do
  b=${f%.json}
  rc=0
  out=$(node "$here/validate.js" <"$f" 2>&1) || rc=$?
  [ "$rc" = 1 ] || fail "broken copy ($(cat "$b.name")) not refused (exit $rc): $out"
  grep -qF -- "$(cat "$b.expect")" <<<"$out" || fail "broken copy ($(cat "$b.name")): expected '$(cat "$b.expect")', got: $out"
  n_bad=$((n_bad + 1))
done
[ "$n_bad" -ge 8 ] || fail "only $n_bad broken copies"

# ---- (4) the Deployment agrees with the configuration and the measurements ---------------
/usr/bin/python3 - "$src" "$tmp" <<'PY'
import json, os, re, sys, yaml
src, tmp = sys.argv[1], sys.argv[2]
def fail(msg):
    print(f"FAIL: kubernetes_manifests: {msg}", file=sys.stderr)
    sys.exit(1)
def check(ok, msg):
    if not ok:
        fail(msg)
docs = [d["doc"] for d in json.load(open(f"{tmp}/docs.json"))]
by_kind = {d["kind"]: d for d in docs}
check(sorted(by_kind) == ["ConfigMap", "Deployment", "PodDisruptionBudget", "Service"], f"kinds {sorted(by_kind)}")
eff = yaml.safe_load(open(f"{tmp}/effective.yaml"))
secret_dir = json.load(open(f"{tmp}/paths.json"))["secret_dir"]
dep, svc, pdb, cm = by_kind["Deployment"], by_kind["Service"], by_kind["PodDisruptionBudget"], by_kind["ConfigMap"]
tpl = dep["spec"]["template"]
pod = tpl["spec"]
c = pod["containers"][0]
init = pod["initContainers"][0]
http_port = eff["http"]["port"]

# the configuration file where the service reads it by default
vols = {v["name"]: v for v in pod["volumes"]}
for ctr in (c, init):
    m = {x["name"]: x for x in ctr["volumeMounts"]}
    check(m["config"]["mountPath"] == "/etc/agent-actions-consumer" and m["config"].get("readOnly"), f"{ctr['name']}: config mount")
    check(m["secrets"]["mountPath"] == secret_dir and m["secrets"].get("readOnly"), f"{ctr['name']}: secrets mount")
check(vols["config"]["configMap"]["name"] == cm["metadata"]["name"], "the config volume is the ConfigMap")
check(list(cm["data"]) == ["agent-actions-consumer.yaml"], f"ConfigMap keys {list(cm['data'])}")
check(c["args"] == ["run"] and init["args"] == ["migrate", "up"], f"args {c['args']} {init['args']}")
check(c["image"] == init["image"], "the migrate init container runs the same image")

# every file the configuration names under the Secret's mount is one of its items,
# and the items are the keys the documented `kubectl create secret` makes
cfg = yaml.safe_load(cm["data"]["agent-actions-consumer.yaml"])
named = set()
def walk(x):
    if isinstance(x, dict):
        for v in x.values():
            walk(v)
    elif isinstance(x, str) and x.startswith(secret_dir + "/"):
        named.add(x[len(secret_dir) + 1:])
walk(cfg)
items = {it["path"]: it["key"] for it in vols["secrets"]["secret"]["items"]}
check(named and named == set(items), f"files named by the configuration {sorted(named)} against the Secret's items {sorted(items)}")
created = set(re.findall(r"--from-file=([\w.-]+)=", open(os.path.join(src, "deploy/kubernetes/deployment.yaml")).read()))
documented = set(re.findall(r"--from-file=([\w.-]+)=", open(os.path.join(src, "docs/deployment.md")).read()))
check(set(items.values()) == created == documented,
      f"Secret keys: items {sorted(items.values())}, deployment.yaml's command {sorted(created)}, docs {sorted(documented)}")
for key in ("password_file",):
    check(eff["postgres"][key].endswith("/postgres-password"), f"postgres.{key}")
check(eff["postgres"]["sslmode"] == "verify-full", "verify-full")
check(eff["kafka"]["properties"].get("sasl.password_file", "").endswith("/kafka-password"), "sasl.password_file")
check(eff["postgres"]["password"] == "" and "sasl.password" not in eff["kafka"]["properties"], "no inline secret in the ConfigMap")

# probes, on the configured port
ports = {p["name"]: p["containerPort"] for p in c["ports"]}
check(ports.get("http") == http_port, f"container port http {ports.get('http')} against http.port {http_port}")
lp, rp = c["livenessProbe"], c["readinessProbe"]
check(lp["httpGet"] == {"path": "/health", "port": "http"}, f"liveness {lp['httpGet']}")
check(rp["httpGet"] == {"path": "/ready", "port": "http"}, f"readiness {rp['httpGet']}")
# the service's own liveness window covers the longest legal wait
live, stmt = eff["http"]["liveness_timeout_ms"], eff["postgres"]["statement_timeout_ms"]
check(stmt > 0 and live > stmt + 5000, f"http.liveness_timeout_ms {live} must exceed statement_timeout_ms {stmt} + 5000")
for name, p in (("liveness", lp), ("readiness", rp)):
    t = p.get("timeoutSeconds", 1)
    check(t * 1000 >= eff["http"]["request_timeout_ms"], f"{name} timeoutSeconds {t} below http.request_timeout_ms")
    check(t <= p.get("periodSeconds", 10), f"{name}: timeout above its period")
# shutdown
grace = pod["terminationGracePeriodSeconds"]
shut = eff["service"]["shutdown_timeout_ms"]
check(grace * 1000 >= shut + 5000, f"terminationGracePeriodSeconds {grace} not 5 s above shutdown_timeout_ms {shut}")

# scraping
ann = tpl["metadata"]["annotations"]
check(ann.get("prometheus.io/scrape") == "true" and ann.get("prometheus.io/path") == "/metrics"
      and ann.get("prometheus.io/port") == str(http_port), f"scrape annotations {ann}")
check(not any(k.startswith("prometheus.io/") for k in svc["metadata"].get("annotations", {})), "the Service would be scraped too")

# selectors
labels = tpl["metadata"]["labels"]
sel = dep["spec"]["selector"]["matchLabels"]
check(all(labels.get(k) == v for k, v in sel.items()), "the Deployment's selector matches its pods")
check(pdb["spec"]["selector"]["matchLabels"] == sel, "the PodDisruptionBudget selects the Deployment's pods")
check(all(labels.get(k) == v for k, v in svc["spec"]["selector"].items()), "the Service selects the pods")
check(svc["spec"]["ports"][0]["targetPort"] == "http", "the Service targets the http port")
check(pdb["spec"].get("maxUnavailable") == 1, "one replica at a time")

# replicas up to the partitions of the topic compose creates
parts = int(re.search(r"^TOPIC_PARTITIONS=(\d+)$", open(os.path.join(src, ".env.example")).read(), re.M).group(1))
check(2 <= dep["spec"]["replicas"] <= parts, f"replicas {dep['spec']['replicas']} (partitions: {parts})")

# the user of the image
uid = int(re.search(r"^USER (\d+)", open(os.path.join(src, "Dockerfile")).read(), re.M).group(1))
check(pod["securityContext"]["runAsUser"] == uid and pod["securityContext"]["runAsNonRoot"], "runs as the image's user")

# resources from the README's measurements: consumer CPU s per million
# events and peak RSS, defaults row
row = next(l for l in open(os.path.join(src, "README.md")) if l.startswith("| **consumer, defaults**"))
cols = [x.strip() for x in row.strip().strip("|").split("|")]
cpu_per_m, rss_mb = float(cols[3]), float(cols[4].split()[0])
def mib(q):
    m = re.fullmatch(r"(\d+)(Mi|Gi)", q)
    check(m, f"memory quantity {q}")
    return int(m.group(1)) * (1024 if m.group(2) == "Gi" else 1)
def cores(q):
    return int(q[:-1]) / 1000 if q.endswith("m") else float(q)
req, lim = c["resources"]["requests"], c["resources"].get("limits", {})
check(mib(req["memory"]) * 1048576 >= rss_mb * 1e6, f"memory request {req['memory']} below the measured peak RSS {rss_mb} MB")
check(mib(lim["memory"]) >= 2 * mib(req["memory"]), f"memory limit {lim['memory']} under twice the request")
want = cpu_per_m * 10000 / 1e6  # CPU at 10,000 events/s, as docs/deployment.md derives it
check(abs(cores(req["cpu"]) - want) <= 0.1 * want, f"cpu request {req['cpu']} against {want:.3f} CPU for 10,000 events/s")
check("cpu" not in lim, "no CPU limit: a pod catching up is not throttled")
print(f"PASS: kubernetes_manifests: {len(docs)} objects valid, "
      f"liveness {live} ms > {stmt} + 5000 ms, grace {grace} s > {shut} ms, "
      f"cpu {req['cpu']} for 10,000 events/s at {cpu_per_m} CPU s/1M, memory {req['memory']} >= {rss_mb} MB")
PY
echo "PASS: kubernetes_manifests: $n_bad broken copies refused, each for its fault"
