#!/usr/bin/env python3
"""`gregor consume` and `gregor offsets` against a 4.x broker (GREGOR_TEST_KAFKA1),
checked against kcat and kafka-python.

- kcat produces messages with headers, null keys and tombstones over 2
  partitions; `gregor consume -e -J` prints the same JSON objects as
  `kcat -C -e -J` ("broker", the leader's id, included), and `-f` with every token the
  same text as kcat's -f;
- -o -N, -o s@TIMESTAMP and -c behave as kcat's;
- `gregor consume -g G --commit` commits what it read: kafka-python's
  committed() agrees, kcat joining a group (librdkafka) starts where
  gregor committed,
  `gregor offsets -g G -J` shows committed, log end and
  lag; `--reset-to earliest` moves the offsets and kafka-python sees it.

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


def committed(group, topic, partition):
    from kafka import KafkaConsumer, TopicPartition
    c = KafkaConsumer(bootstrap_servers=BOOTSTRAP, group_id=group, enable_auto_commit=False)
    try:
        return c.committed(TopicPartition(topic, partition))
    finally:
        c.close()


def main():
    topic = f"consume-cli-{uuid.uuid4().hex[:8]}"
    run([KAFKA_DEV, "create-topic", CLUSTER, topic, "2", "1"])
    lines = "".join(f"k{i}:value {i}\n" for i in range(300)).encode()
    run(["kcat", "-P", "-q", "-b", BOOTSTRAP, "-t", topic, "-p", "0", "-K:", "-H", "h1=x", "-H", "h2=yz"], lines)
    special = b"k1:v1\n:null key\nk3:\n:\n"
    run(["kcat", "-P", "-q", "-b", BOOTSTRAP, "-t", topic, "-p", "1", "-K:", "-Z", "-z", "gzip"], special)
    run(["kcat", "-P", "-q", "-b", BOOTSTRAP, "-t", topic, "-p", "1", "-K:"], b":empty key\nk:\n")

    def objects(out):
        objs = [json.loads(l) for l in out.decode().splitlines() if l.strip()]
        return sorted(objs, key=lambda o: (o["partition"], o["offset"]))

    mine = objects(run([GREGOR, "consume", "-b", BOOTSTRAP, "-t", topic, "-e", "-q", "-J"]))
    theirs = objects(run(["kcat", "-C", "-b", BOOTSTRAP, "-t", topic, "-e", "-q", "-J"]))
    if len(mine) != 306:
        fail(f"gregor printed {len(mine)} messages, 306 expected")
    if mine != theirs:
        for a, b in zip(mine, theirs):
            if a != b:
                fail(f"-J differs:\n gregor {a}\n kcat   {b}")
        fail("-J output differs")

    fmt = "%t|%p|%o|%k|%s|%K|%S|%h|%T\\n"
    for extra in ([], ["-Z"]):
        a = run([GREGOR, "consume", "-b", BOOTSTRAP, "-t", topic, "-p", "1", "-e", "-q", "-f", fmt] + extra)
        b = run(["kcat", "-C", "-b", BOOTSTRAP, "-t", topic, "-p", "1", "-e", "-q", "-f", fmt] + extra)
        if a != b:
            fail(f"-f {extra} differs:\n gregor {a!r}\n kcat   {b!r}")

    a = run([GREGOR, "consume", "-b", BOOTSTRAP, "-t", topic, "-p", "0", "-o", "-5", "-e", "-q", "-f", "%o\\n"])
    if a.split() != [b"295", b"296", b"297", b"298", b"299"]:
        fail(f"-o -5 printed {a!r}")
    a = run([GREGOR, "consume", "-b", BOOTSTRAP, "-t", topic, "-p", "0", "-o", "10", "-c", "3", "-q", "-f", "%o %k\\n"])
    if a != b"10 k10\n11 k11\n12 k12\n":
        fail(f"-o 10 -c 3 printed {a!r}")
    ts = int(run([GREGOR, "consume", "-b", BOOTSTRAP, "-t", topic, "-p", "0", "-o", "100", "-c", "1", "-q",
                  "-f", "%T"]))
    a = run([GREGOR, "consume", "-b", BOOTSTRAP, "-t", topic, "-p", "0", "-o", f"s@{ts}", "-c", "1", "-q",
             "-f", "%T"])
    if int(a) < ts:
        fail(f"-o s@{ts} started at a message of {a!r}")

    group = f"g-{topic}"
    run([GREGOR, "consume", "-b", BOOTSTRAP, "-t", topic, "-p", "0", "-g", group, "-o", "beginning", "--commit",
         "-c", "120", "-q", "-f", "%o\\n"])
    om = committed(group, topic, 0)
    if om != 120:
        fail(f"kafka-python sees committed {om}, 120 expected")
    # librdkafka (kcat joining a group, which commits as it goes: a group of its own) starts
    # partition 0 at the offset gregor committed there.
    run([GREGOR, "offsets", "-b", BOOTSTRAP, "-g", group + "-kcat", "-t", topic, "--reset-to", "120"])
    lines = run(["kcat", "-C", "-b", BOOTSTRAP, "-G", group + "-kcat", topic, "-c", "7", "-q", "-f", "%p %o\n",
                 "-X", "auto.offset.reset=earliest"]).decode().split("\n")
    first_p0 = next((int(l.split()[1]) for l in lines if l.startswith("0 ")), None)
    if first_p0 != 120:
        fail(f"kcat -G started partition 0 at {first_p0}, 120 committed ({lines})")
    out = json.loads(run([GREGOR, "offsets", "-b", BOOTSTRAP, "-g", group, "-t", topic, "-J"]))
    rows = {r["partition"]: r for r in out["partitions"]}
    if rows[0]["committed"] != 120 or rows[0]["log_end"] != 300 or rows[0]["lag"] != 180:
        fail(f"gregor offsets: {rows[0]}")
    if rows[1]["committed"] != -1 or rows[1]["log_end"] != 6:
        fail(f"gregor offsets, partition 1: {rows[1]}")
    # A second run in the group resumes after what was committed.
    a = run([GREGOR, "consume", "-b", BOOTSTRAP, "-t", topic, "-p", "0", "-g", group, "-c", "1", "-q", "-f", "%o"])
    if a != b"120":
        fail(f"-g resumed at {a!r}, 120 expected")
    run([GREGOR, "offsets", "-b", BOOTSTRAP, "-g", group, "-t", topic, "--reset-to", "earliest"])
    if committed(group, topic, 0) != 0 or committed(group, topic, 1) != 0:
        fail("--reset-to earliest not seen by kafka-python")
    run([GREGOR, "offsets", "-b", BOOTSTRAP, "-g", group, "-t", topic, "--reset-to", "latest"])
    if committed(group, topic, 0) != 300 or committed(group, topic, 1) != 6:
        fail("--reset-to latest not seen by kafka-python")
    text = run([GREGOR, "offsets", "-b", BOOTSTRAP, "-g", group]).decode()
    if topic not in text:
        fail(f"gregor offsets without -t does not list {topic}:\n{text}")
    print("ok")


if __name__ == "__main__":
    main()
