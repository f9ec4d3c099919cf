#!/usr/bin/python3
"""Scrapes /metrics and checks it with Prometheus' own text-format parser.

  check_metrics.py URL [--wait SECONDS] [--dump FILE] EXPECTATION...

An EXPECTATION is `SERIES OP VALUE`, OP one of == != >= <= > <, SERIES a
sample name with its labels in any order (`aac_dead_letters_total{reason="x"}`)
and VALUE a number or another series. Beyond the expectations, every scrape
is checked for what any consumer of the format relies on: the content type,
HELP and TYPE for every family, the `aac_` prefix (besides the process
family of the Prometheus client libraries), counters named *_total, histogram buckets
that never decrease and end with +Inf equal to _count, label values from the
bounded sets only, and a build_info of value 1.

With --wait, scrapes again until every expectation holds or the time is up.
Exits 0 when all holds, 1 with the reasons otherwise.

Run with /usr/bin/python3: Debian's python3-prometheus-client lives there.
"""
import argparse
import math
import re
import sys
import time
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# the client libraries' process metrics, outside the aac_ namespace on purpose
PROCESS = {
    "process_cpu_seconds_total", "process_virtual_memory_bytes",
    "process_resident_memory_bytes", "process_start_time_seconds", "process_open_fds",
    "process_max_fds",
}
# label name -> pattern of the values allowed (bounded sets, never an event field)
LABELS = {
    "reason": r"[a-z0-9_]+",
    "class": r"permanent|transient|fatal",
    "partition": r"\d+",
    # the subscribed topics: Kafka's own names, bounded by the configuration
    "topic": r"[A-Za-z0-9._-]{1,249}",
    "le": r"\+Inf|[0-9.e+-]+",
    "version": r"[0-9A-Za-z.+-]+",
    # aac_thread_seconds_total (timeacct.h): the service's own threads and activities
    "thread": r"consume|writer-[0-7]",
    "activity": r"poll|idle|parse|submit|settle|wait_writer|rebalance|turn|wait_keys|copy"
                r"|dead_letters|wait_earlier|commit|other",
}
OPS = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    ">=": lambda a, b: a >= b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    "<": lambda a, b: a < b,
}


def key(name, labels):
    if not labels:
        return name
    return name + "{" + ",".join(f'{k}="{labels[k]}"' for k in sorted(labels)) + "}"


def parse_series(text):
    text = text.strip()
    m = re.fullmatch(r'([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?', text)
    if not m:
        return None
    labels = dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="([^"]*)"', m.group(2) or ""))
    return key(m.group(1), labels)


def split_expectation(e):
    brace = e.rfind("}")
    start = brace + 1 if brace >= 0 else 0
    for op in ("==", "!=", ">=", "<=", ">", "<"):
        i = e.find(op, start)
        if i >= 0:
            return e[:i], op, e[i + len(op):]
    raise SystemExit(f"check_metrics: cannot read expectation {e!r}")


def scrape(url):
    with urllib.request.urlopen(url, timeout=5) as r:
        return r.status, r.headers.get("Content-Type"), r.read().decode("utf-8")


def structural(ctype, text, families):
    errs = []
    if ctype != CONTENT_TYPE:
        errs.append(f"Content-Type is {ctype!r}, not {CONTENT_TYPE!r}")
    helps = set(re.findall(r"^# HELP (\S+) ", text, re.M))
    types = dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M))
    for fam in families:
        raw = fam.name + "_total" if fam.type == "counter" else fam.name
        if fam.type == "unknown" or raw not in types:
            errs.append(f"{fam.name}: no TYPE line")
        if raw not in helps or not fam.documentation:
            errs.append(f"{fam.name}: no HELP line")
        if not raw.startswith("aac_") and raw not in PROCESS:
            errs.append(f"{raw}: not in the aac_ namespace")
        if fam.type == "counter" and raw not in types:
            errs.append(f"counter {fam.name} is not named *_total")
        for s in fam.samples:
            for k, v in s.labels.items():
                if k not in LABELS or not re.fullmatch(LABELS[k], v):
                    errs.append(f"{s.name}: label {k}={v!r} outside the bounded sets")
            if math.isnan(s.value):
                errs.append(f"{s.name}: NaN")
        if fam.type == "histogram":
            buckets = [s for s in fam.samples if s.name == fam.name + "_bucket"]
            count = [s.value for s in fam.samples if s.name == fam.name + "_count"]
            les = [float(s.labels["le"]) for s in buckets]
            vals = [s.value for s in buckets]
            if les != sorted(les) or not les or les[-1] != math.inf:
                errs.append(f"{fam.name}: buckets not ascending up to +Inf")
            if vals != sorted(vals):
                errs.append(f"{fam.name}: bucket counts decrease")
            if not count or not vals or vals[-1] != count[0]:
                errs.append(f"{fam.name}: +Inf bucket differs from _count")
    info = [s for f in families if f.name == "aac_build_info" for s in f.samples]
    if len(info) != 1 or info[0].value != 1 or "version" not in info[0].labels:
        errs.append("aac_build_info{version=...} 1 missing")
    return errs


def check(url, expectations):
    status, ctype, text = scrape(url)
    if status != 200:
        return [f"status {status}"], text
    families = list(text_string_to_metric_families(text))
    values = {key(s.name, s.labels): s.value for f in families for s in f.samples}
    errs = structural(ctype, text, families)
    for e in expectations:
        left, op, right = split_expectation(e)
        lk = parse_series(left)
        if lk not in values:
            errs.append(f"{e}: series {lk} missing")
            continue
        try:
            rv = float(right)
        except ValueError:
            rk = parse_series(right)
            if rk not in values:
                errs.append(f"{e}: series {rk} missing")
                continue
            rv = values[rk]
        if not OPS[op](values[lk], rv):
            errs.append(f"{e}: {lk} is {values[lk]:g}, other side {rv:g}")
    return errs, text


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("expectations", nargs="*")
    ap.add_argument("--wait", type=float, default=0)
    ap.add_argument("--dump")
    a = ap.parse_intermixed_args()
    end = time.monotonic() + a.wait
    while True:
        try:
            errs, text = check(a.url, a.expectations)
        except Exception as e:  # connection refused while starting, parse error
            errs, text = [f"{type(e).__name__}: {e}"], ""
        if not errs or time.monotonic() >= end:
            break
        time.sleep(0.5)
    if a.dump:
        with open(a.dump, "w") as f:
            f.write(text)
    for e in errs:
        print(f"check_metrics: {e}", file=sys.stderr)
    return 1 if errs else 0


if __name__ == "__main__":
    sys.exit(main())
