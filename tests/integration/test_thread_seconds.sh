#!/usr/bin/env bash
# The time account of the service's threads (aac_thread_seconds_total,
# timeacct.h) on a real stream, with batch.writers=2: the consume thread
# and both writers report every one of their activities, a writer that
# never started reports none; between two scrapes each thread's
# activities add up to the time between them (every moment in exactly one
# activity) and none goes down; the stream's work shows where it was done
# (parse on the consume thread; turn, copy and commit on the writers); an
# idle service's time goes to idle; /health carries the same figures, the
# consume thread's adding up to the service's uptime.
source "$(dirname "$0")/lib.sh"
fresh_db
migrate_up
make_topics 4

port=$(free_port)
base=http://127.0.0.1:$port
python3 "$AAC_SRC/tests/integration/gen_events.py" --count 20000 --invalid-every 100 \
  >"$TEST_DIR/events"
start_consumer c1 AAC_HTTP_ENABLED=true AAC_HTTP_ADDRESS=127.0.0.1 AAC_HTTP_PORT="$port" \
  AAC_BATCH_WRITERS=2 AAC_BATCH_MAX_EVENTS=1000
produce "$TEST_DIR/events"
wait_rows 19800 120
sleep 1 # the last batch settled; from now on the service is idle

# the exposition's own rules (labels in their bounded sets among them)
/usr/bin/python3 "$AAC_SRC/tests/integration/check_metrics.py" "$base/metrics" \
  'aac_thread_seconds_total{thread="consume",activity="parse"} > 0' \
  'aac_thread_seconds_total{thread="writer-1",activity="idle"} > 0' ||
  fail "check_metrics"

/usr/bin/python3 - "$base" <<'EOF' || fail "thread account"
import json, sys, time, urllib.request
from prometheus_client.parser import text_string_to_metric_families

base = sys.argv[1]
CONSUME = ["poll", "idle", "parse", "submit", "settle", "wait_writer", "rebalance", "other"]
WRITER = ["idle", "turn", "wait_keys", "copy", "dead_letters", "wait_earlier", "commit", "other"]
errs = []


def scrape():
    t = time.monotonic()
    with urllib.request.urlopen(base + "/metrics", timeout=5) as r:
        text = r.read().decode()
    acct = {}
    for fam in text_string_to_metric_families(text):
        if fam.name == "aac_thread_seconds":
            for s in fam.samples:
                acct.setdefault(s.labels["thread"], {})[s.labels["activity"]] = s.value
    return t, acct


ta, a = scrape()
time.sleep(2)
tb, b = scrape()
dt = tb - ta

if sorted(a) != ["consume", "writer-0", "writer-1"]:
    errs.append(f"threads reported: {sorted(a)}")
for th, acts in (("consume", CONSUME), ("writer-0", WRITER), ("writer-1", WRITER)):
    if list(a.get(th, {})) != acts or list(b.get(th, {})) != acts:
        errs.append(f"{th}: activities {list(a.get(th, {}))}, not {acts}")
        continue
    down = [x for x in acts if b[th][x] < a[th][x]]
    if down:
        errs.append(f"{th}: went down: {down}")
    # every moment of the thread in exactly one activity
    d = sum(b[th].values()) - sum(a[th].values())
    if not 0.95 * dt <= d <= 1.05 * dt:
        errs.append(f"{th}: {d:.3f} s accounted over {dt:.3f} s")
    # nothing to do: idle
    idle = b[th]["idle"] - a[th]["idle"]
    if idle < 0.8 * dt:
        errs.append(f"{th}: idle {idle:.3f} s of {dt:.3f} s while idle: {b[th]}")

# where the stream's work was done
if a["consume"]["parse"] <= 0:
    errs.append(f"consume: no parse time: {a['consume']}")
for act in ("turn", "copy", "commit"):
    if a["writer-0"][act] + a["writer-1"][act] <= 0:
        errs.append(f"writers: no {act} time: {a['writer-0']} {a['writer-1']}")

with urllib.request.urlopen(base + "/health", timeout=5) as r:
    h = json.load(r)
ts = h["thread_seconds"]
if sorted(ts) != ["consume", "writer-0", "writer-1"]:
    errs.append(f"/health thread_seconds: {sorted(ts)}")
for th in ts:
    if sorted(ts[th]) != sorted(b[th]) or any(ts[th][x] < b[th][x] - 1e-6 for x in ts[th]):
        errs.append(f"/health {th}: {ts[th]} behind /metrics' {b[th]}")
# the consume thread's account starts as the consume loop is set up, just
# after the process
up, life = h["uptime_seconds"], sum(ts["consume"].values())
if not up - 2 <= life <= up + 0.01:
    errs.append(f"consume thread: {life:.3f} s accounted, uptime {up:.3f} s")

for e in errs:
    print("thread account:", e, file=sys.stderr)
print(json.dumps(b, indent=1))
sys.exit(1 if errs else 0)
EOF
stop_consumer c1
pass "consume and 2 writers accounted, every second in one activity"
