#!/usr/bin/env python3
"""`gregor consume -G GROUP -X group_protocol=consumer TOPIC` (KIP-848)
against a 4.x broker (GREGOR_TEST_KAFKA1):

- it joins, is assigned all 6 partitions (printed on stderr in kcat's
  words), prints every message once and exits at the end (-e);
- what it committed (with its member epoch) holds: kafka-python's
  committed() sees the end of each partition, and a second run in the same
  group prints nothing.

The cluster name for kafka-dev comes from GREGOR_TEST_KAFKA1_NAME (default
kafka1).
"""
import os
import re
import subprocess
import uuid

from cli_util import fail, run

BOOTSTRAP = os.environ["GREGOR_TEST_KAFKA1"]
CLUSTER = os.environ.get("GREGOR_TEST_KAFKA1_NAME") or "kafka1"
KAFKA_DEV = os.environ["GREGOR_KAFKA_DEV"]
GREGOR = os.environ["GREGOR_BIN"]
PARTS = 6


def consume(topic, group):
    p = subprocess.run([GREGOR, "consume", "-b", BOOTSTRAP, "-G", group, "-e", "-X", "group_protocol=consumer",
                        "-X", "auto_offset_reset=earliest", topic], capture_output=True, timeout=90)
    err = p.stderr.decode(errors="replace")
    if p.returncode != 0:
        fail(f"gregor consume -G exited {p.returncode}: {err}")
    return p.stdout.decode().splitlines(), err


def main():
    topic = f"kip848-cli-{uuid.uuid4().hex[:8]}"
    group = f"{topic}-g"
    run([KAFKA_DEV, "create-topic", CLUSTER, topic, str(PARTS), "1"])
    run(["kcat", "-P", "-q", "-b", BOOTSTRAP, "-t", topic, "-K:"],
        "".join(f"k{i}:v{i}\n" for i in range(120)).encode())

    lines, err = consume(topic, group)
    if sorted(lines) != sorted(f"v{i}" for i in range(120)):
        fail(f"first run printed {len(lines)} lines, not v0..v119 once each")
    m = re.search(r"^% Group (\S+) rebalanced \(memberid (\S+)\): assigned: (.*)$", err, re.M)
    if not m or m.group(1) != group:
        fail(f"no kcat-style assignment line on stderr:\n{err}")
    parts = sorted(m.group(3).split(", "))
    if parts != sorted(f"{topic} [{p}]" for p in range(PARTS)):
        fail(f"assigned {m.group(3)}, not all {PARTS} partitions")
    print(f"member {m.group(2)} got {len(parts)} partitions and printed {len(lines)} messages")

    from kafka import KafkaConsumer, TopicPartition
    c = KafkaConsumer(bootstrap_servers=BOOTSTRAP, group_id=group, enable_auto_commit=False)
    try:
        tps = [TopicPartition(topic, p) for p in range(PARTS)]
        ends = c.end_offsets(tps)
        for tp in tps:
            if c.committed(tp) != ends[tp]:
                fail(f"partition {tp.partition}: committed {c.committed(tp)}, end {ends[tp]}")
    finally:
        c.close()

    again, err = consume(topic, group)
    if again:
        fail(f"a second run in the group printed {len(again)} messages, none expected:\n{err}")
    print("ok: commits of the KIP-848 member hold; a second run prints nothing")


if __name__ == "__main__":
    main()
