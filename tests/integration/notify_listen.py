#!/usr/bin/env python3
"""Plays systemd's side of sd_notify for tests: binds a datagram socket at
PATH and writes each message it receives to OUT as one line,
"<unix time> <message>", its newlines shown as '|'. Runs until killed."""
import os
import socket
import sys
import time

path, out = sys.argv[1], sys.argv[2]
if os.path.exists(path):
    os.unlink(path)
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
os.chmod(path, 0o666)
with open(out, "a", buffering=1) as f:
    f.write("%.3f LISTENING\n" % time.time())
    while True:
        msg = s.recv(4096).decode("utf-8", "replace")
        f.write("%.3f %s\n" % (time.time(), msg.replace("\n", "|")))
