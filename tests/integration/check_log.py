#!/usr/bin/env python3
"""Checks that every line of the service's logs parses.

usage: check_log.py FILE...

A file is logfmt or JSON lines, decided by its first line ('{' starts
JSON). logfmt is checked strictly: key=value pairs separated by one space,
keys of [A-Za-z0-9_.-], a value either bare (no space, quote, '=' or
backslash, no control byte) or double-quoted with the escapes \\" \\\\ \\n
\\r \\t \\xHH \\u00HH and nothing else; the first three keys are ts, level
and msg. JSON lines must load with json.loads into an object whose first
keys are ts, level and msg. Prints each bad line and exits 1 if any.
"""
import json
import re
import sys

KEY = re.compile(r"[A-Za-z0-9_.-]+")
BARE = re.compile(r'[^\s"=\\\x00-\x1f\x7f]+')
QUOTED = re.compile(r'"((?:[^"\\\x00-\x1f\x7f]|\\["\\nrt]|\\x[0-9a-f]{2}|\\u00[0-9a-f]{2})*)"')
LEVELS = {"debug", "info", "warn", "error"}


def parse_logfmt(line):
    """Returns the list of (key, raw value) pairs, or raises ValueError."""
    pairs, i = [], 0
    while True:
        k = KEY.match(line, i)
        if not k or line[k.end():k.end() + 1] != "=":
            raise ValueError(f"expected key= at column {i}")
        i = k.end() + 1
        v = QUOTED.match(line, i) if line[i:i + 1] == '"' else BARE.match(line, i)
        if not v:
            raise ValueError(f"bad value for {k.group()} at column {i}")
        pairs.append((k.group(), v.group()))
        i = v.end()
        if i == len(line):
            return pairs
        if line[i] != " ":
            raise ValueError(f"expected a space at column {i}")
        i += 1


def check_line(line, json_mode):
    if json_mode:
        obj = json.loads(line)
        if not isinstance(obj, dict):
            raise ValueError("not a JSON object")
        keys = list(obj)
        if keys[:3] != ["ts", "level", "msg"]:
            raise ValueError(f"first keys are {keys[:3]}")
        level = obj["level"]
    else:
        pairs = parse_logfmt(line)
        keys = [k for k, _ in pairs]
        if keys[:3] != ["ts", "level", "msg"]:
            raise ValueError(f"first keys are {keys[:3]}")
        level = pairs[1][1]
    if level not in LEVELS:
        raise ValueError(f"unknown level {level!r}")


def check_file(path):
    bad = 0
    with open(path, "rb") as f:
        data = f.read()
    if not data:
        return 0
    if not data.endswith(b"\n"):
        print(f"{path}: the last line has no newline", file=sys.stderr)
        bad += 1
    json_mode = data.startswith(b"{")
    for n, raw in enumerate(data.split(b"\n")[:-1] if data.endswith(b"\n") else data.split(b"\n"), 1):
        try:
            check_line(raw.decode("utf-8"), json_mode)
        except (ValueError, UnicodeDecodeError) as e:
            print(f"{path}:{n}: {e}: {raw[:300]!r}", file=sys.stderr)
            bad += 1
    return bad


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    bad = sum(check_file(p) for p in argv[1:])
    if bad:
        print(f"{bad} log line(s) do not parse", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
