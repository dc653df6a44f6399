#!/usr/bin/env python3
"""Word count end to end (issue 10, acceptance): the two pipelines of
conf/wordcount.yaml (split_words over `lines` -> `words` keyed by word ->
count_words -> `counts`), on the 1-node cluster (GREGOR_TEST_KAFKA1), with
topics of several partitions. A known text is written one line per
message; the last message per key in `counts` must be exactly that word's
count in the text, for every word and no other key.

  1. one `gregor run` process;
  2. three processes, started (and their groups settled: every process owns
     partitions of both pipelines, no rebalance for 2 s) before the text is
     written. count_words keeps its counts in memory per partition, so a
     partition that moved after counting began would count again from
     zero: settling first is part of the contract (docs say so).
Each case has its own topics and groups. Every process must stop cleanly on
SIGTERM (exit 0, `stopped cleanly`)."""
import collections
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pipeline_checks as pc  # noqa: E402
import pipeline_harness as ph  # noqa: E402

BOOTSTRAP = os.environ["GREGOR_TEST_KAFKA1"]
LINES_PARTITIONS, WORDS_PARTITIONS, COUNTS_PARTITIONS = 3, 4, 4

TEXT = """\
Gregor is a Kafka client library and a worker framework in C. The worker framework turns a handler
function and a YAML file into a stream processing worker: consume, transform, produce.
A handler receives one message and a context, emits messages to the outputs of its pipeline, and
returns done, retry or fail. The framework commits an input offset only when the handler is done
and every message it emitted was acknowledged by the brokers: at least once, end to end.

Word count runs in two stages, because counting needs every copy of a word in one partition.
The first stage splits each line into words and writes each word, keyed by the word, to the words
topic; the second stage counts the words of each partition and writes the running count of each
word to the counts topic. The last count of a word in the counts topic is the count of the word.

Scaling out is running more processes in the same groups: Kafka moves the partitions, and the
brokers keep the offsets. A partition that moves takes its offsets with it, but not the counts
that a process keeps in memory: state that survives a move is a later feature, backed by a topic.
One, two, three: the quick brown fox jumps over the lazy dog, and the dog sleeps; 42 foxes, 7 dogs.
"""


def config(tmp, name, lines, words, counts, tag):
    return ph.write_config(tmp, f"wordcount-{name}.yaml", f"""\
# conf/wordcount.yaml's shape, with this test's topics and groups
cluster:
  bootstrap: ["${{KAFKA_BOOTSTRAP}}"]
producers:
  default: {{ acks: all, compression: gzip, linger_ms: 5 }}   # lz4 in conf/; kafka-python reads gzip without extras
shutdown_timeout_ms: 20000
pipelines:
  - name: split
    group: wc-split-{tag}
    topics: [{lines}]
    handler: split_words
    threads: 4
    ordering: none
    outputs: [ {{ name: words, topic: {words}, producer: default }} ]
    commit_interval_ms: 500
    consumer: {{ auto_offset_reset: earliest, session_timeout_ms: 6000 }}
  - name: count
    group: wc-count-{tag}
    topics: [{words}]
    handler: count_words
    threads: 4
    ordering: partition
    outputs: [ {{ name: counts, topic: {counts}, producer: default }} ]
    retry: {{ max_attempts: 5, backoff_ms: 100, max_backoff_ms: 10000 }}
    dead_letter: {words}.dlq
    commit_interval_ms: 500
    consumer: {{ auto_offset_reset: earliest, session_timeout_ms: 6000 }}
""")


def run_case(tmp, name, n_processes, problems, runs):
    tag = ph.unique(name)
    lines, words, counts = f"lines-{tag}", f"words-{tag}", f"counts-{tag}"
    ph.create_topic(BOOTSTRAP, lines, LINES_PARTITIONS)
    ph.create_topic(BOOTSTRAP, words, WORDS_PARTITIONS)
    ph.create_topic(BOOTSTRAP, counts, COUNTS_PARTITIONS)
    path = config(tmp, name, lines, words, counts, tag)
    env = {"KAFKA_BOOTSTRAP": BOOTSTRAP}
    mine = [ph.Run(f"{name}.p{i + 1}", path, env=env) for i in range(n_processes)]
    runs += mine
    for r in mine:
        r.wait_started(2)
        r.wait_assigned("split")
        r.wait_assigned("count")
    ph.wait_stable(mine, {"split": {(lines, p) for p in range(LINES_PARTITIONS)},
                          "count": {(words, p) for p in range(WORDS_PARTITIONS)}}, quiet_s=2.0, timeout_s=60)

    text_lines = [line for line in TEXT.splitlines() if line.strip()]
    ph.produce(BOOTSTRAP, lines, [(i % LINES_PARTITIONS, None, line) for i, line in enumerate(text_lines)])
    expected = collections.Counter(pc.words_of(TEXT))
    reader = ph.TopicReader(BOOTSTRAP, counts)
    try:
        try:
            reader.wait(lambda recs: not pc.check_counts(expected, recs), 60, "every word's final count")
        except ph.HarnessError as e:
            problems.append(f"{name}: {e}")
        records = reader.read()
    finally:
        reader.close()
    found = pc.check_counts(expected, records)
    problems += [f"{name}: {p}" for p in found]
    last = pc.last_per_key(records)
    ph.figure(f"{name}.words", sum(expected.values()))
    ph.figure(f"{name}.distinct_words", len(expected))
    ph.figure(f"{name}.count_messages", len(records))
    ph.figure(f"{name}.sum_of_last_counts", sum(int(v) for v in last.values() if v and v.isdigit()))
    for r in mine:
        ph.figure(f"{r.name}.stop", r.stop_cleanly(timeout_s=30), "s")


def main():
    ph.require_run()
    problems, runs = [], []
    with tempfile.TemporaryDirectory(prefix="gregor-wordcount-") as tmp:
        try:
            run_case(tmp, "one", 1, problems, runs)
            run_case(tmp, "three", 3, problems, runs)
        except ph.HarnessError as e:
            problems.append(str(e))
        finally:
            ph.close_all(runs)
    ph.finish(problems, runs)


if __name__ == "__main__":
    main()
