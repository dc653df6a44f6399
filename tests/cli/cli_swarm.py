#!/usr/bin/env python3
"""`gregor run --processes N` without a broker (GREGOR_BIN names the binary):
  - bad --processes values are usage errors (exit 2) naming the option;
  - a file with errors: every error located (FILE:LINE:COL), exit 1,
    no child started;
  - children that cannot reach the cluster (nothing listens on port 1) exit
    1 and are restarted with a doubling backoff; with -X log_format=json
    -X log_file=F the supervisor's events and the children's lines are JSON
    lines in F; after F is moved away, SIGHUP makes a new F (log_reopened);
    SIGTERM ends the swarm."""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

gregor = os.environ["GREGOR_BIN"]
problems = []

CONFIG = """\
cluster:
  bootstrap: ["127.0.0.1:1"]
swarm: { restart_backoff_ms: 100, max_restart_backoff_ms: 400 }
pipelines:
  - name: p
    group: g
    topics: [t]
    handler: passthrough
%s"""


def run(args, timeout=30):
    return subprocess.run([gregor, "run"] + args, capture_output=True, text=True, timeout=timeout)


def expect(what, cond, detail=""):
    print(f"{'ok  ' if cond else 'FAIL'} {what}")
    if not cond:
        problems.append(f"{what}: {detail}")


def read_json_lines(path):
    events, bad = [], []
    with open(path) as f:
        for line in f:
            try:
                events.append(json.loads(line))
            except ValueError:
                bad.append(line)
    return events, bad


def wait_for(path, pred, timeout_s):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if os.path.exists(path):
            events, _ = read_json_lines(path)
            if pred(events):
                return events
        time.sleep(0.1)
    return read_json_lines(path)[0] if os.path.exists(path) else []


with tempfile.TemporaryDirectory(prefix="gregor-cli-swarm-") as tmp:
    good = os.path.join(tmp, "good.yaml")
    with open(good, "w") as f:
        f.write(CONFIG % "")
    for bad in ("0", "1025", "x", ""):
        p = run(["--processes", bad, good] if bad else [good, "--processes"])
        expect(f"--processes {bad!r} is a usage error", p.returncode == 2 and "--processes" in p.stderr,
               f"rc {p.returncode}: {p.stderr.strip()[:200]}")

    broken = os.path.join(tmp, "broken.yaml")
    with open(broken, "w") as f:
        f.write(CONFIG % "    threadz: 2\n    handler_timeout_ms: -5\n")
    p = run(["--processes", "2", broken])
    expect("a broken file: exit 1, each error located, nothing started",
           p.returncode == 1 and f"{broken}:9:5: unknown key 'threadz'" in p.stderr and
           f"{broken}:10:25:" in p.stderr and "nothing was started" in p.stderr and "child 0" not in p.stderr,
           f"rc {p.returncode}: {p.stderr.strip()[:400]}")

    log = os.path.join(tmp, "swarm.log")
    proc = subprocess.Popen([gregor, "run", "--processes", "2", "--connect-timeout-ms", "500", "-X", "log_format=json",
                             "-X", f"log_file={log}", good], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        events = wait_for(log, lambda evs: sum(e.get("event") == "child_died" for e in evs) >= 4, 30)
        names = [e.get("event") for e in events]
        died = [e["msg"] for e in events if e.get("event") == "child_died"]
        expect("supervisor events in the JSON log: swarm_started, child_started x2, child_died",
               "swarm_started" in names and names.count("child_started") >= 2 and len(died) >= 4, f"{names}")
        expect("a child unable to start exits 1 and is restarted with a doubling backoff",
               any("child 0 (pid" in m and "exited with status 1; restart 1 in 100 ms" in m for m in died) and
               any("child 0 (pid" in m and "exited with status 1; restart 2 in 200 ms" in m for m in died), f"{died}")
        expect("the children's lines are in the same JSON log",
               any(e.get("event") == "not_started" for e in events), f"{names}")
        expect("each child's lines say which child wrote them; the supervisor's do not",
               all(e.get("child") in (0, 1) for e in events if e.get("event") == "not_started") and
               not any("child" in e for e in events if e.get("event") in ("swarm_started", "child_died")),
               f"{[(e.get('event'), e.get('child')) for e in events][:8]}")
        _, bad = read_json_lines(log)
        expect("every line of the log is JSON", not bad, f"{bad[:3]}")
        os.rename(log, log + ".1")
        proc.send_signal(signal.SIGHUP)
        events = wait_for(log, lambda evs: any(e.get("event") == "log_reopened" for e in evs), 10)
        expect("SIGHUP: a new log file starting with log_reopened",
               bool(events) and events[0].get("event") == "log_reopened", f"{[e.get('event') for e in events][:5]}")
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(30)
        events, _ = read_json_lines(log)
        expect("SIGTERM: the swarm stops and says so",
               rc in (0, 1) and any(e.get("event") == "stopped" for e in events), f"rc {rc}")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

if problems:
    for p in problems:
        print(f"FAIL: {p}", file=sys.stderr)
    sys.exit(1)
print("ok")
