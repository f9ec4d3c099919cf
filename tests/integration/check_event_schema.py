#!/usr/bin/env python3
"""Runs every example of tests/data/events through the JSON Schema
(docs/event-contract.schema.json, python3-jsonschema, draft 2020-12) and
through `agent-actions-consumer validate --json`, and checks that they agree
on valid/invalid except for the lines in DIFFERENCES, each tagged with the
rule of docs/event-contract.md ("What the JSON Schema cannot state") that
explains it. Every tag must be in that section, and every listed line must
really differ (so the list cannot rot).

  check_event_schema.py AAC_BIN SRC_DIR
"""
import json
import re
import subprocess
import sys

import jsonschema

aac_bin, src = sys.argv[1], sys.argv[2]

# (file, line) -> rule: where the consumer rejects what the schema accepts
DIFFERENCES = {
    ("invalid.jsonl", 13): "integer-token",    # "duration_ms":1e3
    ("invalid.jsonl", 20): "calendar",         # 2023-02-29
    ("invalid.jsonl", 22): "utc-range",        # 0001-01-01T00:00:00+00:01
    ("invalid.jsonl", 29): "duplicate-keys",
    ("invalid.jsonl", 30): "duplicate-keys",
    ("invalid.jsonl", 31): "nul",              # "\u0000"
    ("invalid.jsonl", 32): "lone-surrogates",
    ("invalid.jsonl", 33): "lone-surrogates",
    ("invalid.jsonl", 34): "numeric-range",    # 1e131072
    ("invalid.jsonl", 35): "numeric-range",    # 1.5e-16383
    ("invalid.jsonl", 36): "depth",
}


def reject_constant(name):
    raise ValueError(name + " is not JSON")


schema = json.load(open(src + "/docs/event-contract.schema.json"))
jsonschema.Draft202012Validator.check_schema(schema)
assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema", schema["$schema"]
validator = jsonschema.Draft202012Validator(schema)

doc = open(src + "/docs/event-contract.md", encoding="utf-8").read()
m = re.search(r"^## What the JSON Schema cannot state\n(.*?)^## ", doc, re.S | re.M)
assert m, "docs/event-contract.md has no section 'What the JSON Schema cannot state'"
listed = set(re.findall(r"^\| `([a-z-]+)` \|", m.group(1), re.M))
for rule in set(DIFFERENCES.values()):
    assert rule in listed, "rule %s is not listed in docs/event-contract.md" % rule

found, counts = {}, {"valid": 0, "invalid": 0, "agree": 0}
for name in ("valid.jsonl", "invalid.jsonl"):
    path = src + "/tests/data/events/" + name
    out = subprocess.run([aac_bin, "validate", "--json", path], capture_output=True, text=True)
    assert out.returncode in (0, 1), out.stderr
    consumer = {d["line"]: d for d in map(json.loads, out.stdout.splitlines())}
    for n, raw in enumerate(open(path, "rb").read().split(b"\n"), 1):
        if not raw.strip():
            continue
        assert n in consumer, "%s:%d: no verdict from validate" % (name, n)
        try:
            inst = json.loads(raw.decode("utf-8"), parse_constant=reject_constant)
            by_schema = validator.is_valid(inst)
        except ValueError:  # not UTF-8, not JSON
            by_schema = False
        by_consumer = consumer[n]["valid"]
        counts["valid" if by_consumer else "invalid"] += 1
        if by_schema == by_consumer:
            counts["agree"] += 1
            continue
        found[(name, n)] = "consumer %s, schema %s (%s)" % (
            "valid" if by_consumer else consumer[n]["reason"],
            "valid" if by_schema else "invalid", raw[:60])

unexplained = {k: v for k, v in found.items() if k not in DIFFERENCES}
for (name, n), why in sorted(unexplained.items()):
    print("%s:%d: disagree: %s" % (name, n, why), file=sys.stderr)
stale = sorted(set(DIFFERENCES) - set(found))
for name, n in stale:
    print("%s:%d: listed as a difference but both agree" % (name, n), file=sys.stderr)
# a difference is only ever the consumer being stricter
looser = [k for k, v in found.items() if v.startswith("consumer valid")]
for name, n in looser:
    print("%s:%d: the consumer accepts what the schema refuses" % (name, n), file=sys.stderr)
if unexplained or stale or looser:
    sys.exit(1)
print("%d valid and %d invalid examples: %d agree, %d differ by the listed rules (%s)" % (
    counts["valid"], counts["invalid"], counts["agree"], len(found),
    ", ".join(sorted(set(DIFFERENCES.values())))))
