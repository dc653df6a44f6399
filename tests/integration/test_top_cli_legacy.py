#!/usr/bin/env python3
"""`gregor top` on Apache Kafka 0.8.2.2 (GREGOR_TEST_KAFKA082), which has no
groups API:

- with -g GROUP -t TOPIC, the offsets kafka-python committed to Kafka
  (OffsetCommit v1) are shown with the log ends kcat produced and the lag,
  under a line saying that this broker has committed offsets only; exit 0;
- without -g, the ListGroups failure names the broker, and with -n 1 the
  exit status is 1.
"""
import os
import subprocess
import uuid

from cli_util import fail, run

K082 = os.environ["GREGOR_TEST_KAFKA082"]
KAFKA_DEV = os.environ["GREGOR_KAFKA_DEV"]
GREGOR = os.environ["GREGOR_BIN"]


def main():
    topic = f"top082-{uuid.uuid4().hex[:8]}"
    run([KAFKA_DEV, "create-topic", os.environ.get("GREGOR_TEST_KAFKA082_NAME") or "kafka082", topic, "2", "1"],
        timeout=120)
    legacy = ["-X", "api.version.request=false", "-X", "broker.version.fallback=0.8.2.2"]
    for p in range(2):
        run(["kcat", "-P", "-q", "-b", K082] + legacy + ["-t", topic, "-p", str(p)],
            "".join(f"m{i}\n" for i in range(6 + p)).encode())
    from kafka import KafkaConsumer, TopicPartition
    from kafka.structs import OffsetAndMetadata
    group = f"g-{topic}"
    c = KafkaConsumer(bootstrap_servers=K082, group_id=group, enable_auto_commit=False, api_version=(0, 8, 2))
    try:
        c.commit({TopicPartition(topic, 0): OffsetAndMetadata(2, "", -1),
                  TopicPartition(topic, 1): OffsetAndMetadata(5, "", -1)})
    finally:
        c.close()

    p = subprocess.run([GREGOR, "top", "-b", K082, "-g", group, "-t", topic, "-n", "1"], capture_output=True,
                       text=True, timeout=60)
    lines = p.stdout.splitlines()
    rows = {int(f[1]): tuple(f[2:5]) for f in (l.split() for l in lines) if f and f[0] == topic}
    if p.returncode != 0 or rows != {0: ("2", "6", "4"), 1: ("5", "7", "2")} or \
            f"group {group}  (no groups API on this broker: committed offsets only)" not in lines:
        fail(f"0.8.2: gregor top -g {group} -t {topic}: exit {p.returncode}, rows {rows}:\n{p.stdout}{p.stderr}")
    print(f"ok: 0.8.2: committed, log end, lag {rows}")

    p = subprocess.run([GREGOR, "top", "-b", K082, "-n", "1"], capture_output=True, text=True, timeout=60)
    if p.returncode != 1 or "ListGroups: broker" not in p.stdout or "no ListGroups API" not in p.stdout:
        fail(f"0.8.2: gregor top without -g: exit {p.returncode}:\n{p.stdout}{p.stderr}")
    print(f"ok: 0.8.2 without -g: {[l for l in p.stdout.splitlines() if l.startswith('ListGroups')][0]}")


if __name__ == "__main__":
    main()
