#!/usr/bin/env python3
"""The swarm's metrics endpoint (issue 11), on the 1-node cluster
(GREGOR_TEST_KAFKA1): `gregor run --processes 2 --metrics-port PORT` of
`passthrough` on 4 partitions (static members, so that a restarted child
takes its predecessor's place at once).

Needs the metrics endpoint (`--metrics-port`, the metrics work): skipped
(77) by a `gregor run` without it.

Checks:
  - /ready answers 200 once both children are ready; /healthz 200;
  - after 40 messages, the supervisor's /metrics sums the children's:
    gregor_pipeline_consumed_total is 40; the scrape passes `promtool check
    metrics`; gregor_swarm_children_up is 2;
  - `kill -9` of child 1: the sum never goes down (a dead child's counters
    are kept), gregor_swarm_restarts_total{child="1"} becomes 1 and
    gregor_swarm_last_exit_status{child="1"} -9; after 20 more messages
    the sum reaches 60;
  - SIGTERM: exit 0.
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pipeline_checks as pc  # noqa: E402
import pipeline_harness as ph  # noqa: E402

BOOTSTRAP = os.environ["GREGOR_TEST_KAFKA1"]
PARTITIONS, CHILDREN = 4, 2
SAMPLE_RE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(port, path, timeout_s=5):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout_s) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except (urllib.error.URLError, ConnectionError, socket.timeout) as e:
        return None, repr(e)


def samples(text, name):
    """{labels: value} of the samples of metric `name`."""
    out = {}
    for line in text.splitlines():
        m = SAMPLE_RE.match(line)
        if m and m[1] == name:
            out[m[2] or ""] = float(m[3])
    return out


def total(text, name):
    return sum(samples(text, name).values())


def wait_scrape(port, pred, timeout_s, what):
    deadline, body = time.monotonic() + timeout_s, ""
    while time.monotonic() < deadline:
        status, body = get(port, "/metrics")
        if status == 200 and pred(body):
            return body
        time.sleep(0.3)
    raise ph.HarnessError(f"no scrape with {what} within {timeout_s} s; last:\n{body[-2000:]}")


def main():
    ph.require_run()
    p = subprocess.run([ph.GREGOR_BIN, "run", "--help"], capture_output=True, text=True, timeout=30)
    if "--metrics-port" not in p.stdout + p.stderr:
        print("SKIP: this gregor run has no --metrics-port", file=sys.stderr)
        sys.exit(ph.SKIP)
    tag = ph.unique("swmetrics")
    topic, out, group = f"in-{tag}", f"out-{tag}", f"g-{tag}"
    ph.create_topic(BOOTSTRAP, topic, PARTITIONS)
    ph.create_topic(BOOTSTRAP, out, PARTITIONS)
    problems, runs, readers = [], [], []
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="gregor-swmetrics-") as tmp:
        path = ph.write_config(tmp, "m.yaml", f"""\
cluster:
  bootstrap: ["{BOOTSTRAP}"]
swarm: {{ restart_backoff_ms: 200 }}
pipelines:
  - name: pass
    group: {group}
    topics: [{topic}]
    handler: passthrough
    outputs: [ {{ name: out, topic: {out}, partition: input }} ]
    commit_interval_ms: 200
    consumer: {{ session_timeout_ms: 6000, heartbeat_interval_ms: 1000, group_instance_id: {tag} }}
""")
        try:
            r = ph.Run("swarm", path, args=("--processes", str(CHILDREN), "--metrics-port", str(port)))
            runs.append(r)
            deadline = time.monotonic() + 60
            while get(port, "/ready")[0] != 200:
                if time.monotonic() > deadline or not r.alive():
                    raise ph.HarnessError(f"/ready not 200 within 60 s:\n{r.tail()}")
                time.sleep(0.2)
            for slot in range(CHILDREN):
                if not r.find(rf"^gregor run: child {slot} \(pid \d+\) ready"):
                    problems.append(f"/ready answered 200 before child {slot} said it was ready")
            if get(port, "/healthz")[0] != 200:
                problems.append("/healthz is not 200")

            first = ph.produce(BOOTSTRAP, topic, [(i % PARTITIONS, f"k{i}", f"a-{i}") for i in range(40)])
            body = wait_scrape(port, lambda b: total(b, "gregor_pipeline_consumed_total") >= 40, 30, "40 consumed")
            ph.figure("consumed_sum", total(body, "gregor_pipeline_consumed_total"))
            if total(body, "gregor_pipeline_consumed_total") != 40:
                problems.append(f"consumed sum {total(body, 'gregor_pipeline_consumed_total')}, expected 40")
            if total(body, "gregor_swarm_children_up") != CHILDREN:
                problems.append(f"gregor_swarm_children_up is {total(body, 'gregor_swarm_children_up')}")
            promtool = shutil.which("promtool")
            if not promtool:
                problems.append("promtool is not installed (scripts/setup installs prometheus)")
            else:
                chk = subprocess.run([promtool, "check", "metrics"], input=body, capture_output=True, text=True,
                                     timeout=30)
                if chk.returncode != 0:
                    problems.append(f"promtool check metrics: {chk.stdout}{chk.stderr}"[:2000])
            time.sleep(1.0)  # the commits of the first round

            victim = int(r.find(r"^gregor run: child 1 \(pid (\d+)\) started$")[1][1])
            before = total(body, "gregor_pipeline_consumed_total")
            os.kill(victim, signal.SIGKILL)
            lowest, deadline = before, time.monotonic() + 20
            while time.monotonic() < deadline:
                status, b = get(port, "/metrics")
                if status == 200:
                    lowest = min(lowest, total(b, "gregor_pipeline_consumed_total"))
                    restarts = samples(b, "gregor_swarm_restarts_total").get('{child="1"}')
                    if restarts == 1 and samples(b, "gregor_swarm_child_ready").get('{child="1"}') == 1:
                        body = b
                        break
                time.sleep(0.2)
            else:
                raise ph.HarnessError(f"child 1 not restarted and ready within 20 s:\n{r.tail()}")
            ph.figure("lowest_sum_after_kill", lowest)
            if lowest < before:
                problems.append(f"the consumed sum went down from {before} to {lowest} after the kill")
            status = samples(body, "gregor_swarm_last_exit_status").get('{child="1"}')
            if status != -9:
                problems.append(f"gregor_swarm_last_exit_status{{child=\"1\"}} is {status}, expected -9")

            second = ph.produce(BOOTSTRAP, topic, [(i % PARTITIONS, f"k{i}", f"b-{i}") for i in range(20)])
            body = wait_scrape(port, lambda b: total(b, "gregor_pipeline_consumed_total") >= 60, 30, "60 consumed")
            ph.figure("consumed_sum_after", total(body, "gregor_pipeline_consumed_total"))
            reader = ph.TopicReader(BOOTSTRAP, out)
            readers.append(reader)
            want = {i.value for i in first + second}
            outs = reader.wait(lambda recs: want <= {x.value for x in recs}, 30, "every output")
            problems += pc.check_all_output(first + second, outs)
            rc, took = r.term(60)
            if rc != 0:
                problems.append(f"SIGTERM: exit status {rc}, expected 0")
        except ph.HarnessError as e:
            problems.append(str(e))
        finally:
            for reader in readers:
                reader.close()
            ph.close_all(runs)
    ph.finish(problems, runs)


if __name__ == "__main__":
    main()
