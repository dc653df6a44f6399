#!/usr/bin/env python3
"""`gregor top --metrics` against a real `gregor run --metrics-port` on the
1-node 4.x cluster (GREGOR_TEST_KAFKA1): a `flaky` pipeline (retry
max_attempts 2, a dead-letter topic) reads 20 messages of which 2 are
poison; once the outputs and the dead letters are all there, `gregor top
-g GROUP --metrics 127.0.0.1:PORT -n 1` shows the pipeline with consumed
20, dead-lettered 2, emitted 18, and every counter equal to the sum of the
same series in the endpoint's /metrics text read by this script.

Exit 77 (skipped, never passed) when this gregor's `run` has no
--metrics-port (the metrics part of issue 11 not in the build).
"""
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import pipeline_harness as ph
from cli_util import fail

BOOTSTRAP = os.environ["GREGOR_TEST_KAFKA1"]
GREGOR = os.environ["GREGOR_BIN"]
COUNTERS = ("consumed", "processed", "failed", "retried", "dead_lettered", "emitted")


def require_metrics_port():
    p = subprocess.run([GREGOR, "run", "--help"], capture_output=True, text=True, timeout=30)
    if "--metrics-port" not in p.stdout + p.stderr:
        print("SKIP: this `gregor run` has no --metrics-port", file=sys.stderr)
        sys.exit(ph.SKIP)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scrape_sums(port, pipeline):
    """The endpoint's gregor_pipeline_<counter>_total of `pipeline`, summed, read here."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    sums = dict.fromkeys(COUNTERS, 0.0)
    for line in text.splitlines():
        if line.startswith("#") or f'pipeline="{pipeline}"' not in line:
            continue
        name, value = line.split("{", 1)[0], float(line.rsplit(" ", 1)[1])
        for c in COUNTERS:
            if name == f"gregor_pipeline_{c}_total":
                sums[c] += value
    return sums


def top_pipeline_row(port, group, pipeline):
    p = subprocess.run([GREGOR, "top", "-b", BOOTSTRAP, "-g", group, "--metrics", f"127.0.0.1:{port}", "-n", "1"],
                       capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        fail(f"gregor top --metrics exited {p.returncode}: {p.stderr}\n{p.stdout}")
    lines = p.stdout.splitlines()
    try:
        at = next(i for i, l in enumerate(lines) if l.startswith(f"gregor run at 127.0.0.1:{port}"))
    except StopIteration:
        fail(f"no pipelines block in:\n{p.stdout}")
    for l in lines[at + 2:]:
        f = l.split()
        if f and f[0] == pipeline:
            # PIPELINE GROUP CONSUMED PROCESSED FAILED RETRIED DEAD-LETTERED EMITTED RATE/S
            return dict(zip(COUNTERS, map(float, f[2:8]))), f[1], p.stdout
    fail(f"no row of pipeline {pipeline} in:\n{p.stdout}")


def main():
    ph.require_run()
    require_metrics_port()
    tag = ph.unique("topm")
    topic, out, dlq, group = f"in-{tag}", f"out-{tag}", f"dlq-{tag}", f"g-{tag}"
    ph.create_topic(BOOTSTRAP, topic, 2)
    ph.create_topic(BOOTSTRAP, out, 2)
    ph.create_topic(BOOTSTRAP, dlq, 1)
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="gregor-topm-") as tmp:
        path = ph.write_config(tmp, "topm.yaml", f"""\
cluster:
  bootstrap: ["{BOOTSTRAP}"]
pipelines:
  - name: flaky
    group: {group}
    topics: [{topic}]
    handler: flaky
    params: {{ word: poison }}
    threads: 2
    outputs: [ {{ name: out, topic: {out}, partition: input }} ]
    retry: {{ max_attempts: 2, backoff_ms: 100, max_backoff_ms: 100 }}
    dead_letter: {dlq}
    commit_interval_ms: 200
    consumer: {{ auto_offset_reset: earliest }}
""")
        r = ph.Run("flaky", path, args=("--metrics-port", str(port), "--metrics-bind", "127.0.0.1"))
        readers = []
        try:
            r.wait_started(1)
            msgs = [(i % 2, f"k{i}", "poison" if i in (3, 12) else f"v{i}") for i in range(20)]
            ph.produce(BOOTSTRAP, topic, msgs)
            out_reader, dlq_reader = ph.TopicReader(BOOTSTRAP, out), ph.TopicReader(BOOTSTRAP, dlq)
            readers += [out_reader, dlq_reader]
            out_reader.wait(lambda recs: len(recs) >= 18, 60, "18 outputs")
            dlq_reader.wait(lambda recs: len(recs) >= 2, 60, "2 dead letters")
            deadline = time.monotonic() + 30
            while True:  # the counters follow the outputs' acknowledgements
                want = scrape_sums(port, "flaky")
                if (want["consumed"], want["dead_lettered"], want["emitted"]) == (20, 2, 18):
                    break
                if time.monotonic() > deadline:
                    fail(f"the endpoint's counters never reached 20 consumed, 2 dead-lettered, 18 emitted: {want}")
                time.sleep(0.2)
            got, got_group, text = top_pipeline_row(port, group, "flaky")
            if got != want or got_group != group:
                fail(f"gregor top shows {got} (group {got_group}), the endpoint says {want} (group {group}):\n{text}")
            print(text)
            print(f"ok: gregor top --metrics: {got}, as the endpoint's /metrics")
            r.stop_cleanly(timeout_s=30)
        finally:
            for x in readers:
                x.close()
            ph.close_all([r])


if __name__ == "__main__":
    main()
