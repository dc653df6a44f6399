#!/usr/bin/env python3
"""The `gregor` command on bad input: every case must end quickly with a
clear message naming what was wrong, a non-zero exit, and no crash.
Needs no broker. Usage: cli_errors.py (GREGOR_BIN names the binary)."""
import os
import subprocess
import sys
import tempfile
import time

gregor = os.environ["GREGOR_BIN"]
failures = 0
total = 0


def check(args, want_rc, want_text, max_seconds=10, stdin=""):
    global failures, total
    total += 1
    t0 = time.monotonic()
    p = subprocess.run([gregor] + args, capture_output=True, text=True, timeout=60, input=stdin)
    took = time.monotonic() - t0
    ok = p.returncode == want_rc and want_text in (p.stderr + p.stdout) and took < max_seconds
    print(f"{'ok  ' if ok else 'FAIL'} gregor {' '.join(args)} -> rc {p.returncode} in {took:.1f}s: "
          f"{(p.stderr or p.stdout).strip()[:200]}")
    if not ok:
        failures += 1
        print(f"     wanted rc {want_rc} and '{want_text}' within {max_seconds}s", file=sys.stderr)


check([], 2, "usage")
check(["nosuch"], 2, "unknown command 'nosuch'")
check(["metadata", "-b", "127.0.0.1:1", "-X", "nosuch_option=1"], 2, "unknown option 'nosuch_option'")
check(["metadata", "-b", "127.0.0.1:1", "-X", "request_timeout_ms=abc"], 2, "request_timeout_ms: 'abc' is not an integer")
check(["metadata", "-b", "127.0.0.1:1", "-X", "broker_version=0.7.0"], 2, "broker_version")
check(["metadata", "-b", "127.0.0.1:1", "-X", "noequals"], 2, "key=value")
check(["metadata", "-b", "host:99999"], 1, "host:99999")
check(["metadata", "-b", ""], 1, "no bootstrap brokers")
# Nothing listens on port 1: fails within the -m timeout, naming the broker.
check(["metadata", "-b", "127.0.0.1:1", "-m", "2"], 1, "127.0.0.1:1: connection failed (Connection refused)",
      max_seconds=6)
# A name that does not resolve.
check(["metadata", "-b", "no-such-host.invalid:9092", "-m", "2"], 1, "no-such-host.invalid", max_seconds=8)
# gregor groups: an unreachable broker is named, within the -m timeout; flags are checked.
check(["groups", "-b", "127.0.0.1:1", "-m", "2"], 1, "127.0.0.1:1: connection failed (Connection refused)",
      max_seconds=6)
check(["groups", "-b", "127.0.0.1:1", "-m", "2", "-g", "g1"], 1, "group 'g1': bootstrap broker 127.0.0.1:1",
      max_seconds=6)
check(["groups", "-b", "127.0.0.1:1", "-m", "0"], 2, "-m: '0' is not an integer from 1")
check(["groups", "-b", "127.0.0.1:1", "extra"], 2, "unexpected argument 'extra'")
check(["config", "list"], 0, "request_timeout_ms")
# Numeric flags are checked, and the message names the flag and the range.
check(["bench", "produce", "-b", "127.0.0.1:1", "-t", "t", "-c", "abc"], 2, "-c: 'abc' is not an integer from 1")
# gregor bench pipeline: its flags, and options that the pipeline file rejects, named before anything runs.
bp = ["bench", "pipeline", "-b", "127.0.0.1:1", "-t", "in", "-o", "out", "-m", "10"]
check(bp[:6] + ["-m", "10"], 2, "usage: gregor bench pipeline")
check(bp + ["--threads", "1,0"], 2, "--threads: '0' is not an integer from 1")
check(bp + ["--ordering", "sideways"], 2, "--ordering: 'sideways' is not partition, key or none")
check(bp + ["-P", "noequals"], 2, "-P noequals: expected key=value")
check(bp + ["-P", "nosuch_option=1"], 2, "nosuch_option")
check(bp + ["--handler", "no_such_handler"], 2, "no_such_handler")
check(["consume", "-b", "127.0.0.1:1", "-t", "t", "-p", "-3"], 2, "-p: '-3' is not an integer from 0")
check(["produce", "-b", "127.0.0.1:1", "-t", "t", "-p", "x"], 2, "-p: 'x' is not a partition")
# Escapes in delimiters and formats: a \x without hex digits names the flag and the position.
check(["produce", "-b", "127.0.0.1:1", "-t", "t", "-D", "ab\\xZ"], 2, "-D: '\\x' at position 3 expects one or two hex digits")
check(["consume", "-b", "127.0.0.1:1", "-t", "t", "-f", "%s\\x"], 2, "-f: '\\x' at position 3 expects")
check(["consume", "-b", "127.0.0.1:1", "-t", "t", "-K", "\\x"], 2, "-K: '\\x' at position 1 expects")
check(["produce", "-b", "127.0.0.1:1", "-t", "t", "-D", ""], 2, "-D: the message delimiter must not be empty")
check(["produce", "-b", "127.0.0.1:1", "-t", "t", "-l", "a", "b"], 2, "-l takes one FILE")
# Input that cannot be sent is an error, not a silent skip.
check(["produce", "-b", "127.0.0.1:1", "-t", "t", "/nonexistent/file"], 1, "/nonexistent/file: cannot open")
check(["produce", "-b", "127.0.0.1:1", "-t", "t", "-X", "max_request_bytes=2048"], 1,
      "stdin: message 2 is larger than max_request_bytes (2048 bytes)", stdin="\n" + "x" * 3000)
# gregor run -X: the log's options, checked before the file is read (the nearest key named), and a log file
# that cannot be opened named before anything starts.
check(["run", "-X", "log_fromat=json", "x.yaml"], 2, "unknown option 'log_fromat' (did you mean log_format?)")
check(["run", "-X", "log_level=loud", "x.yaml"], 2, "log_level: 'loud' is not a log level")
check(["run", "-X", "noequals", "x.yaml"], 2, "-X takes key=value")
with tempfile.TemporaryDirectory(prefix="gregor-cli-") as tmp:
    conf = os.path.join(tmp, "run.yaml")
    with open(conf, "w") as f:
        f.write('cluster: { bootstrap: ["127.0.0.1:1"] }\n'
                "pipelines: [{ name: p, group: g, topics: [t], handler: passthrough }]\n")
    check(["run", "-X", "log_file=/nonexistent-dir/x.log", conf], 1,
          "log_file /nonexistent-dir/x.log: cannot open: No such file or directory; nothing was started")
    check(["run", conf, "-X", "log_format=xml"], 2,
          "log_format: 'xml' is not a log format (json or text)")
# gregor run's metrics options: the flag, the range and the value are named, nothing runs.
check(["run", "--metrics-port", "0", "x.yaml"], 2, "--metrics-port takes a port number 1..65535, not '0'")
check(["run", "--metrics-port", "65536", "x.yaml"], 2, "--metrics-port takes a port number 1..65535, not '65536'")
check(["run", "--metrics-port"], 2, "--metrics-port takes a port number 1..65535, not ''")
check(["run", "--metrics-bind", "127.0.0.1", "x.yaml"], 2, "--metrics-bind needs --metrics-port")
with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
    f.write("cluster: { bootstrap: \"127.0.0.1:1\" }\n"
            "pipelines:\n  - { name: p, group: g, topics: [t], handler: passthrough, outputs: [ { name: o, topic: u } ] }\n")
    f.flush()
    check(["run", "--metrics-port", "9", "--metrics-bind", "no-such-host.invalid", f.name], 1,
          "metrics address no-such-host.invalid")
check(["run", "--stats-interval", "1.5", "x.yaml"], 2, "--stats-interval takes a number of seconds 1..86400, not '1.5'")
print(f"{total - failures} passed, {failures} failed")
sys.exit(1 if failures else 0)
