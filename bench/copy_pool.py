#!/usr/bin/env python3
"""Pools the rounds of several bench/copy_ceilings.sh runs into one table.

  python3 bench/copy_pool.py RESULTS-ceilings.txt...

On a shared VM the speed drifts within minutes, so each load is compared
with the full_text load(s) of its own round (the mean of the two that
bracket it when the run has them): per variant, the median of those
ratios over every round of every run with its quartiles, the median rows/s
and PostgreSQL CPU per row, and the WAL per row.
"""
import statistics
import sys


def quartiles(xs):
    xs = sorted(xs)
    n = len(xs)
    return xs[n // 4], statistics.median(xs), xs[(3 * n) // 4]


def main(paths):
    ratios, cpu, wal, rate, order = {}, {}, {}, {}, []
    for path in paths:
        kv = {}
        with open(path) as f:
            for line in f:
                k, _, v = line.rstrip("\n").partition(" ")
                kv[k] = v
        rows = int(kv["rows"])
        for v in kv["variants"].split(","):
            if v not in order:
                order.append(v)
        for r in range(1, int(kv["rounds"]) + 1):
            ref = [float(kv[f"full_text.{r}.rows_per_s"])]
            if f"full_text.{r}b.rows_per_s" in kv:
                ref.append(float(kv[f"full_text.{r}b.rows_per_s"]))
            ref = sum(ref) / len(ref)
            for v in kv["variants"].split(","):
                x = float(kv[f"{v}.{r}.rows_per_s"])
                ratios.setdefault(v, []).append(1.0 if v == "full_text" else x / ref)
                rate.setdefault(v, []).append(x)
                cpu.setdefault(v, []).append(1e6 * float(kv[f"{v}.{r}.pg_cpu_seconds"]) / rows)
                wal.setdefault(v, []).append(float(kv[f"{v}.{r}.wal_bytes"]) / rows)
    print(f"{len(paths)} runs, {len(ratios['full_text'])} rounds; median [quartiles]\n")
    print("| variant | vs full_text, same round | rows/s | fastest load | PG CPU µs/row | WAL bytes/row |")
    print("|---|---:|---:|---:|---:|---:|")
    for v in order:
        a, m, b = quartiles(ratios[v])
        ra, rm, rb = quartiles(rate[v])
        ca, cm, cb = quartiles(cpu[v])
        print(f"| {v} | {m:.2f} [{a:.2f}–{b:.2f}] | {rm:,.0f} [{ra:,.0f}–{rb:,.0f}] "
              f"| {max(rate[v]):,.0f} | {cm:.1f} [{ca:.1f}–{cb:.1f}] "
              f"| {statistics.median(wal[v]):.0f} |")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: copy_pool.py RESULTS-ceilings.txt...")
    main(sys.argv[1:])
