#!/usr/bin/env python3
"""A poison message (issue 10, acceptance), on the 1-node cluster
(GREGOR_TEST_KAFKA1): the example handler `flaky` (param word: poison)
returns RETRY for every message whose value contains `poison`; the pipeline
has retry { max_attempts: 3, backoff_ms: 1500, max_backoff_ms: 1500 } and a
dead-letter topic, 3 input partitions, ordering partition.

Partition 0 gets a, poison, b; 0.3 s later partitions 1 and 2 get two
messages each. Checks (output and dead-letter topics keep LogAppendTime):
  - the poison message is in the dead-letter topic once, with headers
    gregor.error (not empty), gregor.topic, gregor.partition, gregor.offset
    and gregor.attempts = 3, and not in the output;
  - it got there no sooner than its two backoffs (3 s, less slack), and
    `gregor run` said so on stderr (a line naming the partition);
  - the other partitions never stopped: their outputs were appended before
    the dead letter, i.e. while the poison message was being retried;
  - its partition moved on: the message after it has its output, and the
    committed offsets after a clean stop are past every input (3, 2, 2).
"""
import os
import re
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pipeline_checks as pc  # noqa: E402
import pipeline_harness as ph  # noqa: E402

BOOTSTRAP = os.environ["GREGOR_TEST_KAFKA1"]
PARTITIONS = 3
ATTEMPTS, BACKOFF_MS = 3, 1500


def main():
    ph.require_run()
    tag = ph.unique("poison")
    topic, out, dlq, group = f"in-{tag}", f"out-{tag}", f"dlq-{tag}", f"g-{tag}"
    ph.create_topic(BOOTSTRAP, topic, PARTITIONS)
    ph.create_topic(BOOTSTRAP, out, PARTITIONS, 1, "message.timestamp.type=LogAppendTime")
    ph.create_topic(BOOTSTRAP, dlq, 1, 1, "message.timestamp.type=LogAppendTime")
    problems, runs, readers = [], [], []
    with tempfile.TemporaryDirectory(prefix="gregor-poison-") as tmp:
        path = ph.write_config(tmp, "poison.yaml", f"""\
cluster:
  bootstrap: ["{BOOTSTRAP}"]
pipelines:
  - name: flaky
    group: {group}
    topics: [{topic}]
    handler: flaky
    params: {{ word: poison }}
    threads: 3
    ordering: partition
    outputs: [ {{ name: out, topic: {out}, partition: input }} ]
    retry: {{ max_attempts: {ATTEMPTS}, backoff_ms: {BACKOFF_MS}, max_backoff_ms: {BACKOFF_MS} }}
    dead_letter: {dlq}
    commit_interval_ms: 300
    consumer: {{ auto_offset_reset: earliest }}
""")
        try:
            r = ph.Run("flaky", path)
            runs.append(r)
            r.wait_started(1)
            r.wait_assigned("flaky")
            ph.wait_stable([r], {"flaky": {(topic, p) for p in range(PARTITIONS)}}, quiet_s=0.5)

            t_poison_ms, t_poison = int(time.time() * 1000), time.monotonic()
            first = ph.produce(BOOTSTRAP, topic, [(0, "a", "p0-a"), (0, "bad", "p0-poison"), (0, "b", "p0-b")])
            time.sleep(0.3)
            others = ph.produce(BOOTSTRAP, topic, [(p, f"k{p}{i}", f"p{p}-{i}") for p in (1, 2) for i in range(2)])
            poison = first[1]

            out_reader, dlq_reader = ph.TopicReader(BOOTSTRAP, out), ph.TopicReader(BOOTSTRAP, dlq)
            readers += [out_reader, dlq_reader]
            want = {i.value for i in first + others if i is not poison}
            outs = out_reader.wait(lambda recs: want <= {x.value for x in recs}, 40, "every good message's output")
            dead = dlq_reader.wait(lambda recs: len(recs) >= 1, 40, "the dead letter")
            ph.figure("stop", r.stop_cleanly(timeout_s=30), "s")
            outs, dead = out_reader.read(), dlq_reader.read()

            if len(dead) != 1 or dead[0].value != poison.value:
                problems.append(f"dead-letter topic: {[(d.value, d.headers) for d in dead]}, expected only "
                                f"{poison.value!r}")
            if dead:
                dl = dead[0]
                problems += pc.check_dead_letter(dl, topic, poison.partition, poison.offset, ATTEMPTS)
                ph.figure("dead_letter.error", repr(pc.header(dl, "gregor.error")))
                waited = (dl.timestamp_ms - t_poison_ms) / 1000.0
                ph.figure("poison_to_dead_letter_appended", waited, f"s ({ATTEMPTS - 1} backoffs of {BACKOFF_MS} ms)")
                if waited < (ATTEMPTS - 1) * BACKOFF_MS / 1000.0 * 0.8:
                    problems.append(f"dead-lettered {waited:.3f} s after the poison was written: sooner than "
                                    f"{ATTEMPTS - 1} backoffs of {BACKOFF_MS} ms")
                for i in others:
                    o = [x for x in outs if x.value == i.value]
                    if o and o[0].timestamp_ms > dl.timestamp_ms:
                        problems.append(f"{i.value} (partition {i.partition}) was output only after the dead "
                                        f"letter ({o[0].timestamp_ms} > {dl.timestamp_ms}): its partition waited")
            if any(x.value == poison.value for x in outs):
                problems.append("the poison message has an output")
            problems += pc.check_all_output([i for i in first + others if i is not poison], outs)

            final = ph.committed(BOOTSTRAP, group)
            for p, end in ((0, 3), (1, 2), (2, 2)):
                if final.get((topic, p)) != end:
                    problems.append(f"{topic} [{p}]: committed {final.get((topic, p))} after the stop, expected {end}")
            ph.figure("committed", sorted(final.items()))
            line = r.find(rf"{re.escape(topic)} \[0\].*dead.letter")
            if not line:
                problems.append("no line of `gregor run` says that a message of partition 0 was dead-lettered")
            else:
                ph.figure("log_line", f"{line[0] - t_poison:.3f} s after the poison was written: {line[1].string!r}")
        except ph.HarnessError as e:
            problems.append(str(e))
        finally:
            for reader in readers:
                reader.close()
            ph.close_all(runs)
    ph.finish(problems, runs)


if __name__ == "__main__":
    main()
