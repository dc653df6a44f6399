#!/usr/bin/env python3
"""Ordering (issue 10, acceptance), on the 1-node cluster
(GREGOR_TEST_KAFKA1): one `gregor run` process with four pipelines of the
test plugin's `sleep_pass` (tests/plugins/sleep_plugin.c), their inputs
written before it starts:

  part   ordering partition, 8 threads, 2 partitions of 300 messages, a
         0-3 ms sleep varying by offset (so that messages run side by side
         would finish out of order), output routed to the input's
         partition: each output partition must hold exactly its input
         partition's values, in input order.
  order  ordering key, 8 threads, 1 partition of 400 messages whose keys
         come in runs of 4 (neighbours share a key, so a key's messages
         would overlap if the framework ran them in parallel), the same
         0-3 ms sleep: per key, the outputs in input order.
  key1   ordering key, 1 thread, 1 ms sleep, 4000 messages of 2000 keys on
  key8   ONE partition; the same with 8 threads. Throughput of each: the
         handler stamps the time each call ended into a header (so the
         producer's latency does not count), and the rate is taken between
         the 10th and the 90th percentile of those times (start-up and the
         tail do not count either). key8 must be at least 4 times key1
         (about 8 expected; the ratio is printed). Per-key order is checked
         on both too.
"""
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pipeline_checks as pc  # noqa: E402
import pipeline_harness as ph  # noqa: E402

BOOTSTRAP = os.environ["GREGOR_TEST_KAFKA1"]
PART_PARTITIONS, PART_MESSAGES = 2, 300
ORDER_MESSAGES = 400
SPEED_MESSAGES, SPEED_KEYS = 4000, 2000
MIN_SPEEDUP = 4.0
STAMP = "sleep_pass.end_us"


def pipeline(name, tag, topic, out, threads, ordering, sleep_ms, jitter_ms, plugin, route="auto", stamp=""):
    return f"""\
  - name: {name}
    group: {name}-{tag}
    topics: [{topic}]
    plugin: {plugin}
    handler: sleep_pass
    params: {{ sleep_ms: {sleep_ms}, jitter_ms: {jitter_ms}, stamp: "{stamp}" }}
    threads: {threads}
    ordering: {ordering}
    outputs: [ {{ name: out, topic: {out}, partition: {route} }} ]
    commit_interval_ms: 500
    consumer: {{ auto_offset_reset: earliest }}
"""


def rate(records):
    """Handler calls a second between the 10th and the 90th percentile of
    their end times (the STAMP header sleep_pass adds: microseconds)."""
    ts = sorted(int(pc.header(r, STAMP)) for r in records)
    lo, hi = len(ts) // 10, (9 * len(ts)) // 10
    span_us = max(ts[hi] - ts[lo], 1)
    return (hi - lo) * 1e6 / span_us


def main():
    ph.require_run()
    plugin = ph.require_plugin()
    tag = ph.unique("order")
    t = {name: (f"{name}-in-{tag}", f"{name}-out-{tag}") for name in ("part", "order", "speed")}
    ph.create_topic(BOOTSTRAP, t["part"][0], PART_PARTITIONS)
    ph.create_topic(BOOTSTRAP, t["part"][1], PART_PARTITIONS)
    ph.create_topic(BOOTSTRAP, t["order"][0], 1)
    ph.create_topic(BOOTSTRAP, t["order"][1], 4)
    ph.create_topic(BOOTSTRAP, t["speed"][0], 1)
    out1, out8 = f"key1-out-{tag}", f"key8-out-{tag}"
    for out in (out1, out8):
        ph.create_topic(BOOTSTRAP, out, 4)

    part_in = ph.produce(BOOTSTRAP, t["part"][0], [(p, None, f"p{p}-{i:04d}") for p in range(PART_PARTITIONS)
                                                   for i in range(PART_MESSAGES)])
    order_in = ph.produce(BOOTSTRAP, t["order"][0], [(0, f"k{(i // 4) % 25}", f"o-{i:04d}")
                                                     for i in range(ORDER_MESSAGES)])
    speed_in = ph.produce(BOOTSTRAP, t["speed"][0], [(0, f"k{i % SPEED_KEYS}", f"s-{i:05d}")
                                                     for i in range(SPEED_MESSAGES)])

    problems, runs = [], []
    with tempfile.TemporaryDirectory(prefix="gregor-ordering-") as tmp:
        path = ph.write_config(tmp, "ordering.yaml", f"""\
cluster:
  bootstrap: ["{BOOTSTRAP}"]
producers:
  default: {{ acks: all, linger_ms: 5 }}
pipelines:
""" + pipeline("part", tag, *t["part"], 8, "partition", 0, 3, plugin, route="input")
            + pipeline("order", tag, *t["order"], 8, "key", 0, 3, plugin)
            + pipeline("key1", tag, t["speed"][0], out1, 1, "key", 1, 0, plugin, stamp=STAMP)
            + pipeline("key8", tag, t["speed"][0], out8, 8, "key", 1, 0, plugin, stamp=STAMP))
        readers = []
        try:
            r = ph.Run("ordering", path)
            runs.append(r)
            r.wait_started(4)
            expect = {t["part"][1]: len(part_in), t["order"][1]: len(order_in), out1: len(speed_in),
                      out8: len(speed_in)}
            outs = {}
            for topic, n in expect.items():
                reader = ph.TopicReader(BOOTSTRAP, topic)
                readers.append(reader)
                outs[topic] = reader.wait(lambda recs, n=n: len(recs) >= n, 90, f"{n} outputs")
            ph.figure("stop", r.stop_cleanly(timeout_s=30), "s")
            outs = {topic: reader.read() for topic, reader in zip(expect, readers)}

            for p in range(PART_PARTITIONS):
                got = [rec.value for rec in sorted(outs[t["part"][1]], key=lambda x: x.offset) if rec.partition == p]
                problems += pc.check_sequence(f"part: output partition {p}", got,
                                              [i.value for i in part_in if i.partition == p])
            problems += [f"order: {x}" for x in pc.check_key_order(order_in, outs[t["order"][1]])]
            problems += [f"key1: {x}" for x in pc.check_key_order(speed_in, outs[out1])]
            problems += [f"key8: {x}" for x in pc.check_key_order(speed_in, outs[out8])]

            r1, r8 = rate(outs[out1]), rate(outs[out8])
            ph.figure("key1.rate", r1, "msgs/s (1 thread, 1 ms handler)")
            ph.figure("key8.rate", r8, "msgs/s (8 threads, 1 ms handler)")
            ph.figure("key8_over_key1", r8 / r1, f"(at least {MIN_SPEEDUP} required, about 8 expected)")
            if r8 < MIN_SPEEDUP * r1:
                problems.append(f"ordering key on one partition: 8 threads ran {r8:.0f} msgs/s, 1 thread "
                                f"{r1:.0f} msgs/s: {r8 / r1:.2f} times, less than {MIN_SPEEDUP}")
        except ph.HarnessError as e:
            problems.append(str(e))
        finally:
            for reader in readers:
                reader.close()
            ph.close_all(runs)
    ph.finish(problems, runs)


if __name__ == "__main__":
    main()
