#!/usr/bin/env python3
"""Deterministic agent-action events for the integration tests.

Writes "key<TAB>value" lines for `kcat -K '\t'` on stdout and, with
--ids FILE, the event_id of every valid event (one per line) so a test can
check that each is stored exactly once.

  gen_events.py --count N [--start K] [--invalid-every M] [--seed S]
                [--poison-every P] [--month YYYY-MM] [--ids FILE]

Event i (from --start) is invalid when M divides i+1 (missing
correlation_id), and carries action_name "poison" (valid JSON, rejected by a
test's CHECK constraint) when P divides i+1. Timestamps fall in 2026-11, or
in the month --month names.
"""
import argparse
import json
import uuid

NS = uuid.UUID("5d1f7a52-2b1e-4f0e-9a52-8f3c7c1d0b11")


def event(i, seed, month="2026-11"):
    eid = uuid.uuid5(NS, f"{seed}/{i}")
    session = uuid.uuid5(NS, f"{seed}/session/{i % 97}")
    return session, {
        "event_id": str(eid),
        "correlation_id": str(uuid.uuid5(NS, f"{seed}/corr/{i}")),
        "session_id": str(session),
        "agent_name": f"agent-{i % 7}",
        "action_type": ["tool_call", "decision", "error", "success"][i % 4],
        "action_name": f"action_{i % 13}",
        "action_details": {"file": f"/src/mod_{i % 31}.py", "lines": [i % 100, i % 100 + 5],
                           "input": "x" * (i % 50), "note": "tab\there"},
        "duration_ms": i % 5000,
        "debug_mode": i % 2 == 0,
        "project_path": f"/home/dev/project-{i % 5}",
        "timestamp": f"{month}-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:{(i * 7) % 60:02d}.{i % 1000000:06d}Z",
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--start", type=int, default=0)
    ap.add_argument("--invalid-every", type=int, default=0)
    ap.add_argument("--poison-every", type=int, default=0)
    ap.add_argument("--seed", default="s")
    ap.add_argument("--month", default="2026-11")
    ap.add_argument("--ids")
    a = ap.parse_args()
    ids = open(a.ids, "a") if a.ids else None
    out = []
    for i in range(a.start, a.start + a.count):
        session, ev = event(i, a.seed, a.month)
        invalid = a.invalid_every and (i + 1) % a.invalid_every == 0
        poison = not invalid and a.poison_every and (i + 1) % a.poison_every == 0
        if invalid:
            del ev["correlation_id"]
        if poison:
            ev["action_name"] = "poison"
        if ids and not invalid and not poison:
            ids.write(ev["event_id"] + "\n")
        out.append(f"{session}\t{json.dumps(ev, separators=(',', ':'))}")
    print("\n".join(out))
    if ids:
        ids.close()


if __name__ == "__main__":
    main()
