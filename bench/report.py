#!/usr/bin/env python3
"""bench/report.py RESULTS_TXT OUT_DIR: renders bench/run.sh's "key value"
lines as one table (stdout and OUT_DIR/table.txt), OUT_DIR/results.json,
and the data files bench/plot.gp draws (sweep.dat, latency.dat)."""
import json
import sys

# aac_thread_seconds_total's activities (include/aac/timeacct.h), in the
# order of the table's columns: the consume thread's, the writers', both's
CONSUME_ACTS = ["poll", "parse", "submit", "settle", "wait_writer", "rebalance"]
WRITER_ACTS = ["turn", "wait_keys", "copy", "dead_letters", "wait_earlier", "commit"]
SHARED_ACTS = ["idle", "other"]
SHORT = {"wait_writer": "wait_wr", "rebalance": "rebal", "wait_keys": "w_keys",
         "dead_letters": "dlq", "wait_earlier": "w_earl"}


def thread_account(r, label):
    """The run's thread account (bench/run.sh thread_account): seconds by
    thread and activity, each thread's total, and each activity's share of
    it. None when the run has none (a binary without the metric)."""
    pre = label + ".thread."
    secs = {}
    for k, v in r.items():
        if k.startswith(pre):
            thread, _, act = k[len(pre):].rpartition(".")
            secs.setdefault(thread, {})[act] = float(v)
    if not secs:
        return None
    tot = {t: sum(a.values()) for t, a in secs.items()}
    return {"from": r.get(label + ".thread_from", "start"),
            "seconds": secs,
            "thread_seconds": {t: round(v, 3) for t, v in tot.items()},
            "share": {t: {a: round(v / tot[t], 4) if tot[t] > 0 else 0 for a, v in acts.items()}
                      for t, acts in secs.items()}}


def main():
    src, out = sys.argv[1], sys.argv[2]
    r = {}
    with open(src) as f:
        for line in f:
            k, _, v = line.rstrip("\n").partition(" ")
            r[k] = v

    def num(k):
        v = r.get(k)
        return float(v) if v not in (None, "") else None

    nproc = int(r["nproc"])
    copy_rows, copy_s = num("copy.rows"), num("copy.seconds")
    copy_rate = copy_rows / copy_s
    copy_mbs = num("copy.file_bytes") / copy_s / 1e6

    def ceiling(label):
        secs = num(label + ".seconds")
        return {"rows": int(num(label + ".rows")), "seconds": secs,
                "rows_per_s": round(num(label + ".rows") / secs),
                "mb_per_s": round(num("copy.file_bytes") / secs / 1e6, 1),
                "postgres_cpu_seconds": num(label + ".pg_cpu_seconds"),
                # psql's own CPU is not counted: a small share next to the backend's
                "cpu_busy_share": round(num(label + ".pg_cpu_seconds") / secs / nproc, 3)}

    def consumer(label):
        msgs, rows, secs = num(label + ".messages"), num(label + ".rows"), num(label + ".seconds")
        steady = num(label + ".steady_seconds")
        d = {
            "messages": int(msgs),
            "rows": int(rows),
            "seconds_from_start": secs,
            "seconds_first_to_last_batch": steady,
            "events_per_s": round(msgs / secs),
            "rows_per_s": round(rows / secs),
            "rows_per_s_steady": round(rows / steady) if steady else None,
            "ratio_to_copy": round(rows / secs / copy_rate, 3),
            "ratio_to_copy_steady": round(rows / steady / copy_rate, 3) if steady else None,
            "consumer_cpu_seconds": num(label + ".cpu_seconds"),
            "consumer_cpu_s_per_million_events": round(num(label + ".cpu_seconds") / msgs * 1e6, 2),
            "postgres_cpu_seconds": num(label + ".pg_cpu_seconds"),
            "broker_cpu_seconds": num(label + ".broker_cpu_seconds"),
            "peak_rss_mb": round(num(label + ".peak_rss_kb") / 1024, 1),
            "batches": int(num(label + ".batches") or 0),
            "mean_batch_events": int(num(label + ".mean_batch") or 0),
            "batch_write_seconds": num(label + ".write_seconds"),
            "rollup_rows_per_batch": int(num(label + ".rollup_rows_per_batch") or 0),
            "rollup_seconds": num(label + ".rollup_seconds"),
            "threads": thread_account(r, label),
        }
        # the machine's CPUs kept busy from start to the last commit: the
        # consumer, PostgreSQL and the development broker
        d["cpu_busy_share"] = round((d["consumer_cpu_seconds"] + d["postgres_cpu_seconds"] +
                                     d["broker_cpu_seconds"]) / secs / nproc, 3)
        return d

    backlog = consumer("backlog")
    backlog["mb_per_s"] = round(num("backlog.message_bytes") / backlog["seconds_from_start"] / 1e6, 1)
    backlog_w1 = consumer("backlog_w1") if "backlog_w1.rows" in r else None
    if backlog_w1:
        backlog_w1["mb_per_s"] = round(
            num("backlog.message_bytes") / backlog_w1["seconds_from_start"] / 1e6, 1)
    backlog_text = consumer("backlog_text") if "backlog_text.rows" in r else None
    if backlog_text:
        backlog_text["mb_per_s"] = round(
            num("backlog.message_bytes") / backlog_text["seconds_from_start"] / 1e6, 1)

    def optional(label):
        return consumer(label) if (label + ".rows") in r else None

    backlog_norollups = optional("backlog_norollups")
    wide_on, wide_off = optional("wide_rollups_on"), optional("wide_rollups_off")

    sweep = []
    for b in r.get("sweep.sizes", "").split(","):
        if b and (("sweep-%s.rows" % b) in r):
            d = consumer("sweep-" + b)
            d["batch_max_events"] = int(b)
            sweep.append(d)

    latency = []
    for rate in r.get("rates", "").split(","):
        lab = "rate-" + rate
        if rate and (lab + ".rows") in r:
            d = consumer(lab)
            d.update({
                "rate": int(rate),
                "achieved_rate": round(num("produce_rate_%s.events_per_s" % rate)),
                "delay_p50_ms": num(lab + ".delay_p50_ms"),
                "delay_p99_ms": num(lab + ".delay_p99_ms"),
                "delay_max_ms": num(lab + ".delay_max_ms"),
                "delay_avg_ms": num(lab + ".delay_avg_ms"),
                "metrics_share_le_100ms": num(lab + ".metrics_share_le_100ms"),
            })
            latency.append(d)

    p5000 = next((x for x in latency if x["rate"] == 5000), None)
    run_s = num("run_seconds")
    res = {
        "date": r["date"],
        "machine": {"nproc": int(r["nproc"]), "mem_total_gib": round(num("mem_total_kb") / 2**20, 1),
                    "cpu_model": r["cpu_model"].replace("_", " ")},
        "postgres": {"version": r["pg_version"], "settings": r["pg_settings"].split(",")},
        "events": int(r["events"]), "seed": int(r["seed"]),
        "invalid_fraction": num("invalid_fraction"), "topic_partitions": int(r["partitions"]),
        "produced": {k.split(".", 1)[1]: (num(k) if k.split(".", 1)[1] not in ("partitions",) else int(num(k)))
                     for k in r if k.startswith("produce_backlog.")},
        "copy_ceiling": ceiling("copy"),
        "copy_in_transactions": dict(ceiling("copy_tx"), rows_per_transaction=int(num("copy_tx_rows"))),
        "copy_two_connections": dict(ceiling("copy_2conn"), rows_per_transaction=int(num("copy_tx_rows"))),
        "consumer_backlog": backlog,
        "consumer_backlog_one_writer": backlog_w1,
        "consumer_backlog_text_copy": backlog_text,
        "consumer_backlog_no_rollups": backlog_norollups,
        "consumer_wide_rollups_on": wide_on,
        "consumer_wide_rollups_off": wide_off,
        "sweep": sweep,
        "sweep_events": int(num("sweep.events")),
        "sweep_linger_ms": int(num("sweep.linger_ms")),
        "fetch_wait_max_ms": r["fetch_wait_max_ms"],
        "latency": latency,
        "run_seconds": run_s,
        "defaults": {"batch.max_events": int(r["batch_max_events_default"]),
                     "batch.linger_ms": int(r["batch_linger_ms_default"]),
                     "batch.writers": int(r.get("batch_writers_default", 1)),
                     "batch.max_in_flight": int(r.get("batch_max_in_flight_default", 1))},
    }
    p20000 = next((x for x in latency if x["rate"] == 20000), None)
    # issue 12's targets
    res["targets"] = {
        "steady_ge_0.9x_copy": (backlog["ratio_to_copy_steady"] or 0) >= 0.9,
        "from_start_ge_0.7x_copy": backlog["ratio_to_copy"] >= 0.7,
        "cpu_busy_ge_copy": backlog["cpu_busy_share"] >= res["copy_ceiling"]["cpu_busy_share"],
        "p99_le_30ms_at_5000": (p5000["delay_p99_ms"] <= 30) if p5000 else None,
        "p99_le_60ms_at_20000": (p20000["delay_p99_ms"] <= 60) if p20000 else None,
        "peak_rss_le_64mb": backlog["peak_rss_mb"] <= 64,
    }
    with open(out + "/results.json", "w") as f:
        json.dump(res, f, indent=2)
        f.write("\n")

    pr = res["produced"]
    lines = []
    w = lines.append
    w("agent-actions-consumer benchmark, %s" % res["date"])
    w("machine: %d cores (%s), %.1f GiB; PostgreSQL %s; %s" % (
        res["machine"]["nproc"], res["machine"]["cpu_model"], res["machine"]["mem_total_gib"],
        res["postgres"]["version"], " ".join(res["postgres"]["settings"])))
    w("events: %d (seed %d), %d valid, invalid fraction %s, %.0f B average (%d..%d), %d partitions" % (
        res["events"], res["seed"], int(pr["valid"]), r["invalid_fraction"], pr["valid_bytes"] / pr["valid"],
        int(pr["valid_min_bytes"]), int(pr["valid_max_bytes"]), res["topic_partitions"]))
    w("")
    w("%-38s %9s %7s %7s %9s %7s %8s %7s %7s %5s" % (
        "measurement", "rows/s", "MB/s", "vs COPY", "cpu s/1M", "RSS MB", "seconds", "pg cpu",
        "batch", "busy"))
    tx = res["copy_in_transactions"]["rows_per_transaction"]
    for key, name in (("copy_ceiling", "COPY ceiling (psql \\copy, 1 tx)"),
                      ("copy_in_transactions", "COPY, 1 conn, %d-row txs" % tx),
                      ("copy_two_connections", "COPY, 2 conns, %d-row txs" % tx)):
        c = res[key]
        w("%-38s %9d %7.1f %7.2f %9s %7s %8.1f %7.1f %7s %4.0f%%" % (
            name, c["rows_per_s"], c["mb_per_s"], c["rows_per_s"] / copy_rate, "-", "-",
            c["seconds"], c["postgres_cpu_seconds"], "-", 100 * c["cpu_busy_share"]))

    def row(name, d, mbs=None):
        w("%-38s %9d %7s %7.2f %9.1f %7.1f %8.1f %7.1f %7d %4.0f%%" % (
            name, d["rows_per_s"], "%.1f" % mbs if mbs else "-", d["ratio_to_copy"],
            d["consumer_cpu_s_per_million_events"], d["peak_rss_mb"], d["seconds_from_start"],
            d["postgres_cpu_seconds"], d["mean_batch_events"], 100 * d["cpu_busy_share"]))

    row("consumer, backlog, defaults", backlog, backlog["mb_per_s"])
    w("%-38s %9d %7s %7.2f   (first to last batch, %.1f s: group join excluded)" % (
        "  same, steady", backlog["rows_per_s_steady"], "", backlog["ratio_to_copy_steady"],
        backlog["seconds_first_to_last_batch"]))
    if backlog_w1:
        row("consumer, backlog, batch.writers=1", backlog_w1, backlog_w1["mb_per_s"])
        w("%-38s %9d %7s %7.2f   (defaults: %.2fx one writer)" % (
            "  same, steady", backlog_w1["rows_per_s_steady"], "", backlog_w1["ratio_to_copy_steady"],
            backlog["rows_per_s"] / backlog_w1["rows_per_s"]))
    if backlog_text:
        row("consumer, backlog, binary_copy=false", backlog_text, backlog_text["mb_per_s"])
        w("%-38s %9d %7s %7.2f   (binary: %.2fx text)" % (
            "  same, steady", backlog_text["rows_per_s_steady"], "",
            backlog_text["ratio_to_copy_steady"], backlog["rows_per_s"] / backlog_text["rows_per_s"]))
    # issue 20: what keeping the rollups costs, on the bench's data and on a
    # wide stream (nearly a rollup key per event)
    if backlog_norollups:
        row("consumer, backlog, rollups off", backlog_norollups)
        w("%-38s %9d %7s %7.2f   (rollups on: %.2fx off; %d rollup rows/batch, %.1f s in rollups)" % (
            "  same, steady", backlog_norollups["rows_per_s_steady"], "",
            backlog_norollups["ratio_to_copy_steady"],
            backlog["rows_per_s_steady"] / backlog_norollups["rows_per_s_steady"],
            backlog["rollup_rows_per_batch"], backlog["rollup_seconds"] or 0))
    if wide_on and wide_off:
        for name, d in (("wide stream, rollups on", wide_on), ("wide stream, rollups off", wide_off)):
            row("consumer, %s (%dk)" % (name, int(num("wide.events")) // 1000), d)
        w("%-38s %9d %7s %7.2f   (rollups on: %.2fx off; %d rollup rows/batch, %.1f s in rollups)" % (
            "  on, steady", wide_on["rows_per_s_steady"], "", wide_on["ratio_to_copy_steady"],
            wide_on["rows_per_s_steady"] / wide_off["rows_per_s_steady"],
            wide_on["rollup_rows_per_batch"], wide_on["rollup_seconds"] or 0))
    for d in sweep:
        row("max_events=%d (%dk, linger %d ms)" % (d["batch_max_events"], res["sweep_events"] // 1000,
                                                  res["sweep_linger_ms"]), d)
        w("%-38s %9d %7s %7.2f" % ("  steady", d["rows_per_s_steady"], "", d["ratio_to_copy_steady"]))
    # where the time goes on the backlog runs (docs/benchmark.md)
    runs = [(name, d) for name, d in (("defaults", backlog), ("writers=1", backlog_w1),
                                      ("binary_copy=false", backlog_text),
                                      ("rollups off", backlog_norollups))
            if d and d["threads"]]
    if runs:
        w("")
        w("where the time goes over the backlog: share of each thread's time, from the %s to"
          " the end of the run (docs/benchmark.md)" % (
              "first commit" if runs[0][1]["threads"]["from"] == "first_commit" else "start"))
        for kind, cols in (("consume", CONSUME_ACTS + SHARED_ACTS),
                           ("writer", ["idle"] + WRITER_ACTS + ["other"])):
            w("%-30s %6s " % (kind + " thread" + ("s" if kind == "writer" else ""), "s") +
              " ".join("%6s" % SHORT.get(c, c) for c in cols))
            for name, d in runs:
                acc = d["threads"]
                for t in sorted(acc["seconds"]):
                    if (t == "consume") != (kind == "consume"):
                        continue
                    sh = acc["share"][t]
                    w("%-30s %6.1f " % ("  %s, %s" % (name, t), acc["thread_seconds"][t]) +
                      " ".join("%5.1f%%" % (100 * sh[c]) if c in sh else "%6s" % "-"
                               for c in cols))
    w("")
    w("%-38s %9s %7s %7s %9s %7s %8s" % ("latency (produce to commit)", "achieved", "p50 ms",
                                          "p99 ms", "max ms", "<=100ms*", "RSS MB"))
    for d in latency:
        w("%-38s %9d %7.1f %7.1f %9.1f %7s %8.1f" % (
            "%d events/s, defaults" % d["rate"], d["achieved_rate"], d["delay_p50_ms"],
            d["delay_p99_ms"], d["delay_max_ms"],
            "%.4f" % d["metrics_share_le_100ms"] if d["metrics_share_le_100ms"] is not None else "-",
            d["peak_rss_mb"]))
    w("  * share of aac_end_to_end_delay_seconds observations <= 0.1 s (the service's own")
    w("    histogram, warm-up included); fetch.wait.max.ms=%s in every consumer run" % res["fetch_wait_max_ms"])
    w("")
    t = res["targets"]
    ok = {True: "met", False: "MISSED", None: "not measured"}
    w("targets (issue 12): steady >= 0.9x COPY: %s (%.2f); from start >= 0.7x: %s (%.2f);" % (
        ok[t["steady_ge_0.9x_copy"]], backlog["ratio_to_copy_steady"] or 0,
        ok[t["from_start_ge_0.7x_copy"]], backlog["ratio_to_copy"]))
    w("  CPUs busy >= COPY's: %s (%.0f%% against %.0f%%); p99 <= 30 ms at 5,000/s: %s;"
      " p99 <= 60 ms at 20,000/s: %s; peak RSS <= 64 MB: %s (%.1f MB); run %.0f s" % (
          ok[t["cpu_busy_ge_copy"]], 100 * backlog["cpu_busy_share"],
          100 * res["copy_ceiling"]["cpu_busy_share"], ok[t["p99_le_30ms_at_5000"]],
          ok[t["p99_le_60ms_at_20000"]], ok[t["peak_rss_le_64mb"]], backlog["peak_rss_mb"], run_s))
    text = "\n".join(lines) + "\n"
    sys.stdout.write(text)
    with open(out + "/table.txt", "w") as f:
        f.write(text)

    with open(out + "/sweep.dat", "w") as f:
        f.write("# batch_max_events rows_per_s rows_per_s_steady copy_rows_per_s peak_rss_mb"
                " copy_tx_rows_per_s copy_2conn_rows_per_s\n")
        for d in sweep:
            f.write("%d %d %d %d %.1f %d %d\n" % (
                d["batch_max_events"], d["rows_per_s"], d["rows_per_s_steady"], copy_rate,
                d["peak_rss_mb"], res["copy_in_transactions"]["rows_per_s"],
                res["copy_two_connections"]["rows_per_s"]))
    with open(out + "/latency.dat", "w") as f:
        f.write("# rate p50_ms p99_ms max_ms\n")
        for d in latency:
            f.write("%d %.2f %.2f %.2f\n" % (d["rate"], d["delay_p50_ms"], d["delay_p99_ms"],
                                             d["delay_max_ms"]))


if __name__ == "__main__":
    main()
