#!/usr/bin/env python3
"""metrics_overhead.py — the CPU that the metrics endpoint and the stats lines
add to a pipeline (docs/PERFORMANCE.md, "Metrics overhead").

For each round and each variant, on a fresh 6-partition input and output
topic and a fresh group: `gregor run` of a passthrough pipeline (threads 2,
ordering partition, producer acks all, linger 5 ms) while a feeder writes
RATE messages/s of 100 bytes for SECONDS + 10 s (`gregor produce` reading
stdin, rate-limited in 10 ms steps). The CPU of the `gregor run` process
(user + sys, /proc/PID/stat) is taken over SECONDS from 5 s after the feed
started, and the group's committed offsets at both ends give the rate the
pipeline actually ran at in that window; then the feed stops, the run must commit every input (the group's
offsets reach the log end, else the round is reported as not keeping up)
and is stopped with SIGTERM.

Variants: `plain` (gregor run FILE), `metrics` (--metrics-port P
--stats-interval 1, /metrics scraped every second by this script), and,
with --base, `base` (the same as plain with another binary: the code before
the metrics, to see what the per-message counters cost).

  bench/metrics_overhead.py -b 127.0.0.1:9092 --gregor build/release/gregor \
      [--base OTHER/gregor] [--rate 100000] [--seconds 30] [--rounds 3]

Needs kafka-python (topics, committed offsets). Not run by CI.
"""
import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid

CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def admin(bootstrap):
    from kafka.admin import KafkaAdminClient
    return KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10000)


def create_topics(bootstrap, names, partitions):
    from kafka.admin import NewTopic
    a = admin(bootstrap)
    try:
        a.create_topics([NewTopic(n, partitions, 1) for n in names])
        a.wait_for_topics(names, timeout_ms=30000)
    finally:
        a.close()


def committed_total(bootstrap, group):
    a = admin(bootstrap)
    try:
        offs = a.list_group_offsets({group: None}).get(group, {})
        return sum(om.offset for om in offs.values() if om.offset >= 0)
    finally:
        a.close()


def feed(gregor, bootstrap, topic, rate, seconds, stop):
    """Writes rate msgs/s for `seconds` into `gregor produce`; returns the count."""
    p = subprocess.Popen([gregor, "produce", "-b", bootstrap, "-t", topic, "-q"], stdin=subprocess.PIPE,
                         stdout=subprocess.DEVNULL)
    step_s = 0.01
    per_step = max(1, int(rate * step_s))
    line = b"x" * 99 + b"\n"
    block = line * per_step
    sent, t0 = 0, time.monotonic()
    try:
        while time.monotonic() - t0 < seconds and not stop.is_set():
            p.stdin.write(block)
            sent += per_step
            ahead = t0 + sent / rate - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
    finally:
        p.stdin.close()
        p.wait(120)
    return sent


def scrape_loop(port, stop, counts):
    while not stop.is_set():
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
                r.read()
            counts[0] += 1
        except OSError:
            counts[1] += 1
        stop.wait(1.0)


def one(args, variant):
    tag = uuid.uuid4().hex[:8]
    t_in, t_out, group = f"mo-in-{tag}", f"mo-out-{tag}", f"mo-g-{tag}"
    create_topics(args.bootstrap, [t_in, t_out], 6)
    binary = args.base if variant == "base" else args.gregor
    with tempfile.TemporaryDirectory(prefix="gregor-mo-") as tmp:
        path = os.path.join(tmp, "p.yaml")
        with open(path, "w") as f:
            f.write(f"""cluster:
  bootstrap: ["{args.bootstrap}"]
producers:
  default: {{ acks: all, linger_ms: 5 }}
pipelines:
  - name: copy
    group: {group}
    topics: [{t_in}]
    handler: passthrough
    threads: 2
    ordering: partition
    outputs: [ {{ name: out, topic: {t_out}, partition: input }} ]
    consumer: {{ auto_offset_reset: earliest }}
""")
        argv = [binary, "run"]
        port = None
        if variant == "metrics":
            port = free_port()
            argv += ["--metrics-port", str(port), "--metrics-bind", "127.0.0.1", "--stats-interval", "1"]
        log = open(os.path.join(tmp, "run.log"), "w+")
        run = subprocess.Popen(argv + [path], stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            deadline = time.monotonic() + 30
            while "assigned:" not in open(log.name).read():
                if time.monotonic() > deadline or run.poll() is not None:
                    raise RuntimeError(f"{variant}: no assignment:\n{open(log.name).read()[-2000:]}")
                time.sleep(0.1)
            stop = threading.Event()
            scrapes = [0, 0]
            scraper = threading.Thread(target=scrape_loop, args=(port, stop, scrapes)) if port else None
            if scraper:
                scraper.start()
            result = {}
            feeder = threading.Thread(target=lambda: result.update(
                sent=feed(args.gregor, args.bootstrap, t_in, args.rate, args.seconds + 10, stop)))
            feeder.start()
            time.sleep(5)
            k0 = committed_total(args.bootstrap, group)
            c0, w0 = cpu_s(run.pid), time.monotonic()
            time.sleep(args.seconds)
            c1, w1 = cpu_s(run.pid), time.monotonic()
            k1 = committed_total(args.bootstrap, group)
            feeder.join()
            deadline = time.monotonic() + 60
            while committed_total(args.bootstrap, group) < result["sent"]:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{variant}: did not commit {result['sent']} within 60 s after the feed")
                time.sleep(0.5)
            stop.set()
            if scraper:
                scraper.join()
            run.send_signal(signal.SIGTERM)
            run.wait(60)
            cpu = c1 - c0
            return {"variant": variant, "cpu_s": cpu, "wall_s": w1 - w0, "core_pct": 100 * cpu / (w1 - w0),
                    "sent": result["sent"], "rate": (k1 - k0) / (w1 - w0),
                    "cpu_s_per_M": cpu / ((k1 - k0) / 1e6), "scrapes": scrapes[0],
                    "scrape_errors": scrapes[1]}
        finally:
            if run.poll() is None:
                run.kill()
                run.wait()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-b", "--bootstrap", required=True)
    ap.add_argument("--gregor", required=True)
    ap.add_argument("--base")
    ap.add_argument("--rate", type=int, default=100000)
    ap.add_argument("--seconds", type=int, default=30)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    variants = (["base"] if args.base else []) + ["plain", "metrics"]
    rows = []
    for rnd in range(args.rounds):
        for v in variants if rnd % 2 == 0 else reversed(variants):
            r = one(args, v)
            r["round"] = rnd + 1
            rows.append(r)
            print(f"round {r['round']} {v:8s} cpu {r['cpu_s']:.2f} s over {r['wall_s']:.1f} s = "
                  f"{r['core_pct']:.1f}% of a core, {r['cpu_s_per_M']:.3f} s per million, committed {r['rate']:.0f} "
                  f"msgs/s in the window, scrapes {r['scrapes']} ({r['scrape_errors']} failed)", flush=True)
    for v in variants:
        vals = [r["core_pct"] for r in rows if r["variant"] == v]
        print(f"{v:8s} % of a core: {', '.join(f'{x:.1f}' for x in vals)}; mean {sum(vals) / len(vals):.1f}")


if __name__ == "__main__":
    sys.exit(main())
