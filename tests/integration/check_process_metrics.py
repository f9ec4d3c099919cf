#!/usr/bin/python3
"""Checks a consumer's process_* metrics against prometheus_client's own
ProcessCollector reading the same process from outside.

  check_process_metrics.py URL PID

The reference is read just before and just after the scrape. The start
time and the open-files limit must be equal; the CPU time must lie between
the two readings; memory within a margin (the process keeps running); the
open descriptors within a few (ours, read from inside, includes the
scrape's socket and the descriptor listing /proc/self/fd).
Exits 0 when all holds, 1 with the reasons otherwise.

Run with /usr/bin/python3: Debian's python3-prometheus-client lives there.
"""
import sys
import urllib.request

from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.process_collector import ProcessCollector

NAMES = (
    "process_cpu_seconds_total", "process_virtual_memory_bytes",
    "process_resident_memory_bytes", "process_start_time_seconds", "process_open_fds",
    "process_max_fds",
)


def reference(pid):
    c = ProcessCollector(pid=lambda: pid, registry=None)
    return {s.name: s.value for m in c.collect() for s in m.samples}


def main():
    url, pid = sys.argv[1], int(sys.argv[2])
    before = reference(pid)
    with urllib.request.urlopen(url, timeout=5) as r:
        text = r.read().decode("utf-8")
    after = reference(pid)
    ours = {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples
            if s.name.startswith("process_")}
    types = {f.name: f.type for f in text_string_to_metric_families(text)}
    errs = []
    for n in NAMES:
        if n not in ours:
            errs.append(f"{n} missing")
        if n not in before or n not in after:
            errs.append(f"{n}: the reference has none (is /proc/{pid} readable?)")
    if errs:
        return report(errs)
    if types.get("process_cpu_seconds") != "counter":
        errs.append("process_cpu_seconds_total is not a counter")

    def between(n, lo, hi):
        if not lo <= ours[n] <= hi:
            errs.append(f"{n} is {ours[n]:.12g}, the reference {lo:.12g} .. {hi:.12g}")

    s = "process_start_time_seconds"
    between(s, before[s] - 0.011, before[s] + 0.011)
    between("process_max_fds", before["process_max_fds"], before["process_max_fds"])
    c = "process_cpu_seconds_total"
    between(c, before[c] - 1e-9, after[c] + 1e-9)
    for n, rel, slack in (("process_resident_memory_bytes", 0.25, 16 << 20),
                          ("process_virtual_memory_bytes", 0.10, 64 << 20)):
        lo, hi = sorted((before[n], after[n]))
        between(n, lo * (1 - rel) - slack, hi * (1 + rel) + slack)
    f = "process_open_fds"
    lo, hi = sorted((before[f], after[f]))
    between(f, lo - 4, hi + 4)
    return report(errs, ours)


def report(errs, ours=None):
    for e in errs:
        print(f"check_process_metrics: {e}", file=sys.stderr)
    if not errs and ours:
        print("process metrics agree with prometheus_client: " +
              " ".join(f"{k[len('process_'):]}={v:g}" for k, v in sorted(ours.items())))
    return 1 if errs else 0


if __name__ == "__main__":
    sys.exit(main())
