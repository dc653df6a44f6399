#!/usr/bin/env python3
"""`gregor offsets --reset-to` and `gregor consume -J` on the 3-node 4.x
cluster (GREGOR_TEST_KAFKA3), checked with kafka-python and kcat.

- -J's "broker" is each partition's leader, as kcat prints it, on a topic
  whose three partitions have three different leaders;
- with the leader of one partition (replication factor 1) killed,
  `--reset-to latest` cannot learn that partition's log end: it names the
  partition, leaves its committed offset as it was (kafka-python), resets the
  others and exits non-zero. The node is restarted afterwards.

GREGOR_TEST_KAFKA3_NAME names the cluster for kafka-dev (default kafka3).
"""
import json
import os
import subprocess
import uuid

from cli_util import fail, run

BOOTSTRAP = os.environ["GREGOR_TEST_KAFKA3"]
CLUSTER = os.environ.get("GREGOR_TEST_KAFKA3_NAME") or "kafka3"
KAFKA_DEV = os.environ["GREGOR_KAFKA_DEV"]
GREGOR = os.environ["GREGOR_BIN"]
OFFSETS_PARTITIONS = 10  # offsets.topic.num.partitions in scripts/kafka-dev


def leaders(topic):
    md = json.loads(run(["kcat", "-L", "-J", "-b", BOOTSTRAP, "-t", topic]))
    return {p["partition"]: p["leader"] for p in md["topics"][0]["partitions"]}


def java_hash(s):
    """String.hashCode() of an ASCII string."""
    h = 0
    for ch in s:
        h = (31 * h + ord(ch)) & 0xFFFFFFFF
    return h - (1 << 32) if h >= 1 << 31 else h


def coordinator(group):
    """The group coordinator: the leader of the group's __consumer_offsets partition."""
    h = java_hash(group)
    p = 0 if h == -(1 << 31) else abs(h) % OFFSETS_PARTITIONS
    return leaders("__consumer_offsets")[p]


def committed(group, topic, partitions):
    from kafka import KafkaConsumer, TopicPartition
    c = KafkaConsumer(bootstrap_servers=BOOTSTRAP, group_id=group, enable_auto_commit=False)
    try:
        return {p: c.committed(TopicPartition(topic, p)) for p in partitions}
    finally:
        c.close()


def main():
    topic = f"offsets-reset-{uuid.uuid4().hex[:8]}"
    run([KAFKA_DEV, "create-topic", CLUSTER, topic, "3", "1"], timeout=120)
    lead = leaders(topic)
    for p in range(3):
        run(["kcat", "-P", "-q", "-b", BOOTSTRAP, "-t", topic, "-p", str(p)],
            "".join(f"m{i}\n" for i in range(5 + p)).encode())

    # -J "broker": the leader of each partition, as kcat says.
    def brokers(cmd):
        out = run(cmd).decode().splitlines()
        return sorted((o["partition"], o["offset"], o["broker"]) for o in map(json.loads, out))
    a = brokers([GREGOR, "consume", "-q", "-e", "-J", "-b", BOOTSTRAP, "-t", topic])
    b = brokers(["kcat", "-C", "-q", "-e", "-J", "-b", BOOTSTRAP, "-t", topic])
    if a != b or {p: br for p, _, br in a} != lead:
        fail(f"-J broker: gregor {a}, kcat {b}, leaders {lead}")
    print(f"ok: -J broker matches kcat (leaders {lead})")

    group = f"g-{topic}"
    run([GREGOR, "offsets", "-b", BOOTSTRAP, "-g", group, "-t", topic, "--reset-to", "2"])
    if committed(group, topic, range(3)) != {0: 2, 1: 2, 2: 2}:
        fail(f"--reset-to 2: kafka-python sees {committed(group, topic, range(3))}")

    coord = coordinator(group)
    victim = next((p for p in range(3) if lead[p] != coord), None)
    if victim is None:
        fail(f"every partition is led by the coordinator {coord}: {lead}")
    node = lead[victim]
    run([KAFKA_DEV, "kill", CLUSTER, str(node)])
    try:
        p = subprocess.run([GREGOR, "offsets", "-b", BOOTSTRAP, "-g", group, "-t", topic, "--reset-to", "latest",
                            "-X", "request_timeout_ms=5000"], capture_output=True, timeout=120)
        err = p.stderr.decode(errors="replace")
        if p.returncode != 1:
            fail(f"--reset-to latest with partition {victim}'s leader down exited {p.returncode}: {err}")
        if f"{topic} [{victim}]: not reset to latest" not in err:
            fail(f"--reset-to latest did not name partition {victim}: {err}")
        got = committed(group, topic, range(3))
        want = {q: 2 if q == victim else 5 + q for q in range(3)}
        if got != want:
            fail(f"after --reset-to latest with partition {victim} down: committed {got}, {want} expected")
        print(f"ok: --reset-to latest with the leader of partition {victim} (node {node}) down: "
              f"exit 1, committed {got}")
    finally:
        run([KAFKA_DEV, "restart", CLUSTER, str(node)], timeout=180)
    print("ok")


if __name__ == "__main__":
    main()
