#!/usr/bin/env python3
"""At-least-once under faults (issue 10, acceptance), on the 3-node cluster
(GREGOR_TEST_KAFKA3): `passthrough` in two `gregor run` processes (A, B) in
one group, while a producer writes a numbered stream (value `n<k>`, unique)
to 6 partitions (replication 3, min.insync.replicas 2):
  1. A and B start and settle;
  2. A is killed with kill -9;
  3. a broker (not the group's coordinator) is killed and restarted;
  4. B gets SIGTERM (must exit 0, `stopped cleanly`) and is started again;
  5. the producer stops; B catches up and stops cleanly.
Checks:
  - every acknowledged input's value appears in the output topic;
  - every committed offset C seen while it ran (the group's offsets polled
    every 0.2 s, stamped with the wall clock after each answer) had, for
    every input of that partition below C, the output already appended
    (the output topic keeps LogAppendTime): nothing committed before its
    output was acknowledged;
  - the final committed offsets cover every input (all of them processed).
Duplicates are allowed (kill -9 redoes uncommitted work) and reported."""
import collections
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import group_harness as gh  # noqa: E402
import pipeline_checks as pc  # noqa: E402
import pipeline_harness as ph  # noqa: E402

BOOTSTRAP = os.environ["GREGOR_TEST_KAFKA3"]
CLUSTER = "kafka3"
PARTITIONS = 6
RATE = 100  # input messages a second


def config(tmp, topic, out, group):
    brokers = ", ".join(f'"{b}"' for b in BOOTSTRAP.split(","))
    return ph.write_config(tmp, "faults.yaml", f"""\
cluster:
  bootstrap: [{brokers}]
producers:
  default: {{ acks: all, linger_ms: 5 }}
shutdown_timeout_ms: 30000
pipelines:
  - name: copy
    group: {group}
    topics: [{topic}]
    handler: passthrough
    threads: 4
    ordering: partition
    outputs: [ {{ name: out, topic: {out}, producer: default }} ]
    commit_interval_ms: 300
    consumer: {{ auto_offset_reset: earliest, session_timeout_ms: 6000 }}
""")


def step(t0, what):
    print(f"{time.monotonic() - t0:8.3f} == {what}", flush=True)


def main():
    ph.require_run()
    tag = ph.unique("faults")
    topic, out, group = f"in-{tag}", f"out-{tag}", f"g-{tag}"
    ph.create_topic(BOOTSTRAP, topic, PARTITIONS, 3, "min.insync.replicas=2")
    ph.create_topic(BOOTSTRAP, out, PARTITIONS, 3, "min.insync.replicas=2", "message.timestamp.type=LogAppendTime")
    parts = {(topic, p) for p in range(PARTITIONS)}
    problems, runs = [], []
    killed_node = None
    producer = watch = None
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="gregor-faults-") as tmp:
        path = config(tmp, topic, out, group)
        try:
            watch = ph.CommitWatch(BOOTSTRAP, group)
            producer = gh.NumberedProducer(BOOTSTRAP, topic, PARTITIONS, rate=RATE)
            producer.start()

            step(t0, "A and B start")
            a, b = ph.Run("A", path), ph.Run("B", path)
            runs += [a, b]
            for r in (a, b):
                r.wait_started(1)
                r.wait_assigned("copy")
            ph.wait_stable([a, b], {"copy": parts}, quiet_s=2.0)
            time.sleep(2)

            step(t0, "A is killed (kill -9)")
            a.kill()
            time.sleep(1)

            coordinator = ph.coordinator(BOOTSTRAP, group)
            node = next(n for n in (1, 2, 3) if n != coordinator)
            step(t0, f"broker {node} (the coordinator is {coordinator}) is killed and restarted")
            gh.kafka_dev("kill", CLUSTER, str(node))
            killed_node = node
            time.sleep(2)
            gh.kafka_dev("restart", CLUSTER, str(node), timeout_s=120)
            killed_node = None
            step(t0, f"broker {node} is back; B is to own every partition")
            ph.wait_stable([b], {"copy": parts}, quiet_s=1.0, timeout_s=60)

            step(t0, "B stops (SIGTERM) and starts again")
            ph.figure("b.stop", b.stop_cleanly(timeout_s=40), "s")
            b2 = ph.Run("B2", path)
            runs.append(b2)
            b2.wait_started(1)
            b2.wait_assigned("copy")
            time.sleep(2)

            step(t0, "the producer stops; B catches up and stops")
            producer.stop()
            inputs = [pc.Input(t, p, o, None, v) for t, p, o, v in producer.acked]
            if producer.failed:
                problems.append(f"{len(producer.failed)} inputs not acknowledged: {producer.failed[:3]}")
            reader = ph.TopicReader(BOOTSTRAP, out)
            want = {i.value for i in inputs}
            try:
                reader.wait(lambda recs: want <= {r.value for r in recs}, 60, "every input's output")
            except ph.HarnessError as e:
                problems.append(str(e))
            # Wait for the commits of the last outputs before stopping, so
            # that the commit check sees the stop's commit too.
            time.sleep(1)
            ph.figure("b2.stop", b2.stop_cleanly(timeout_s=40), "s")
            time.sleep(0.5)
            outputs = reader.read()
            reader.close()
            watch.stop()
            commits, last = watch.snapshot()
            final = ph.committed(BOOTSTRAP, group)

            problems += pc.check_all_output(inputs, outputs)
            problems += pc.check_commits_covered(inputs, outputs, commits)
            ends = collections.Counter()
            for i in inputs:
                ends[(i.topic, i.partition)] = max(ends[(i.topic, i.partition)], i.offset + 1)
            for tp, end in sorted(ends.items()):
                if final.get(tp, 0) < end:
                    problems.append(f"{tp[0]} [{tp[1]}]: committed {final.get(tp)} at the end, inputs up to {end}")
            per_value = collections.Counter(r.value for r in outputs)
            ph.figure("inputs", len(inputs))
            ph.figure("outputs", len(outputs))
            ph.figure("duplicates", sum(c - 1 for c in per_value.values() if c > 1))
            ph.figure("commits_seen", len(commits))
            ph.figure("commit_poll_errors", f"{watch.errors} (last: {watch.last_error})")
        except ph.HarnessError as e:
            problems.append(str(e))
        finally:
            if killed_node is not None:
                try:
                    gh.kafka_dev("restart", CLUSTER, str(killed_node), timeout_s=120)
                except ph.HarnessError as e:
                    print(f"harness: {e}", file=sys.stderr)
            if producer and not producer.stop_flag.is_set():
                producer.stop(timeout_s=10)
            if watch:
                watch.stop()
            ph.close_all(runs)
    ph.finish(problems, runs)


if __name__ == "__main__":
    main()
