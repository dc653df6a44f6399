#!/usr/bin/env python3
"""`gregor bench pipeline` against a 4.x broker (GREGOR_TEST_KAFKA1), checked
with kcat and `gregor offsets`:

- kcat writes 2000 keyed messages over 3 partitions; the benchmark runs the
  bench_sleep handler with --threads 1,2 (ordering key): two runs, each in
  its own group GROUP.T writing to its own topic OUTPUT.T, each printing a
  summary line with msgs >= 2000 and positive rates;
- kcat reads every input's key and value back from both output topics (at
  least once), and each run's group has committed its input up to the log
  end (the benchmark stops the pipeline gracefully);
- a 1 ms handler on 8 threads (ordering key) finishes 400 messages, to an
  output topic nobody created: the producer pool lets the broker create it
  (auto.create.topics.enable on the test bed), as a producer's own client does;
- emits are not held behind the members' long-poll Fetch: with
  fetch_max_wait_ms 3000 (every Fetch after the first waits 3 s on the
  broker) the 2000 messages are through within 2 s of the assignment (on
  one connection for fetches and produces, the first produce waits for the
  next Fetch's answer, 3 s or more).

The cluster name for kafka-dev comes from GREGOR_TEST_KAFKA1_NAME (default
kafka1).
"""
import json
import os
import uuid

from cli_util import fail, run

BOOTSTRAP = os.environ["GREGOR_TEST_KAFKA1"]
CLUSTER = os.environ.get("GREGOR_TEST_KAFKA1_NAME") or "kafka1"
KAFKA_DEV = os.environ["GREGOR_KAFKA_DEV"]
GREGOR = os.environ["GREGOR_BIN"]


def summary(out, runs, minimum):
    lines = [l for l in out.decode().splitlines() if l.startswith("client=gregor ")]
    if len(lines) != runs:
        fail(f"{runs} summary lines expected:\n{out.decode()}")
    result = []
    for l in lines:
        kv = dict(f.split("=", 1) for f in l.split())
        if int(kv["msgs"]) < minimum or float(kv["msgs_per_s"]) <= 0 or float(kv["cpu_s_per_million"]) <= 0:
            fail(f"implausible summary: {l}")
        result.append(kv)
    return result


def main():
    tag = uuid.uuid4().hex[:8]
    topic, out, group = f"bench-in-{tag}", f"bench-out-{tag}", f"bench-g-{tag}"
    run([KAFKA_DEV, "create-topic", CLUSTER, topic, "3", "1"])
    want = sorted((f"k{i % 50}", f"value {i}") for i in range(2000))
    run(["kcat", "-P", "-q", "-b", BOOTSTRAP, "-t", topic, "-K:"],
        "".join(f"{k}:{v}\n" for k, v in want).encode())

    for t in (1, 2):
        run([KAFKA_DEV, "create-topic", CLUSTER, f"{out}.{t}", "3", "1"])
    res = run([GREGOR, "bench", "pipeline", "-b", BOOTSTRAP, "-t", topic, "-o", out, "-G", group, "-m", "2000",
               "--threads", "1,2", "--ordering", "key"], timeout=120)
    runs = summary(res, 2, 2000)
    if [r["threads"] for r in runs] != ["1", "2"] or any(r["ordering"] != "key" for r in runs):
        fail(f"runs: {runs}")

    for t in (1, 2):
        got = run(["kcat", "-C", "-q", "-b", BOOTSTRAP, "-t", f"{out}.{t}", "-e", "-f", "%k:%s\n"]).decode()
        pairs = set(tuple(l.split(":", 1)) for l in got.splitlines())
        missing = [p for p in want if p not in pairs]
        if missing:
            fail(f"{out}.{t}: {len(missing)} inputs have no output, e.g. {missing[:3]}")
        offs = json.loads(run([GREGOR, "offsets", "-b", BOOTSTRAP, "-g", f"{group}.{t}", "-t", topic, "-J"]))
        rows = offs["partitions"]
        if len(rows) != 3 or any(r["committed"] != r["log_end"] for r in rows):
            fail(f"group {group}.{t}: committed offsets {offs}")

    res = run([GREGOR, "bench", "pipeline", "-b", BOOTSTRAP, "-t", topic, "-o", out + "-sleep", "-G", group + "-s",
               "-m", "400", "--threads", "8", "--ordering", "key", "--sleep-us", "1000"], timeout=120)
    summary(res, 1, 400)

    run([KAFKA_DEV, "create-topic", CLUSTER, out + "-wait", "3", "1"])
    res = run([GREGOR, "bench", "pipeline", "-b", BOOTSTRAP, "-t", topic, "-o", out + "-wait", "-G", group + "-w",
               "-m", "2000", "-C", "fetch_max_wait_ms=3000"], timeout=120)
    r = summary(res, 1, 2000)[0]
    if float(r["secs"]) - float(r["join_s"]) > 2.0:
        fail(f"2000 messages took {float(r['secs']) - float(r['join_s']):.2f} s after the assignment with "
             f"fetch_max_wait_ms 3000: emits wait behind Fetch requests")
    print("ok")


main()
