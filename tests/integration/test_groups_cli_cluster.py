#!/usr/bin/env python3
"""`gregor groups` on the 3-node 4.x cluster (GREGOR_TEST_KAFKA3): each
broker lists only the groups it coordinates, so the command must ask every
broker. Groups are chosen so that each broker that leads a __consumer_offsets
partition now (all three, or two after earlier tests restarted brokers)
coordinates one; kafka-python commits offsets for each (no members), and
`gregor groups -J` must list all of them, each with the coordinator the
__consumer_offsets leaders say and the committed offsets kafka-python wrote.
"""
import json
import os
import uuid

from cli_util import fail, run
# The group coordinator as the __consumer_offsets leaders say (same cluster).
from test_offsets_reset_cli import coordinator

BOOTSTRAP = os.environ["GREGOR_TEST_KAFKA3"]
CLUSTER = os.environ.get("GREGOR_TEST_KAFKA3_NAME") or "kafka3"
KAFKA_DEV = os.environ["GREGOR_KAFKA_DEV"]
GREGOR = os.environ["GREGOR_BIN"]


def commit(group, topic, offsets):
    from kafka import KafkaConsumer, TopicPartition
    from kafka.structs import OffsetAndMetadata
    c = KafkaConsumer(bootstrap_servers=BOOTSTRAP, group_id=group, enable_auto_commit=False)
    try:
        c.commit({TopicPartition(topic, p): OffsetAndMetadata(o, "", -1) for p, o in offsets.items()})
    finally:
        c.close()


def main():
    topic = f"groups3-{uuid.uuid4().hex[:8]}"
    run([KAFKA_DEV, "create-topic", CLUSTER, topic, "2", "1"], timeout=120)
    for p in range(2):
        run(["kcat", "-P", "-q", "-b", BOOTSTRAP, "-t", topic, "-p", str(p)], "".join(f"m{i}\n" for i in range(8)).encode())
    # The first commit creates __consumer_offsets; then pick one group per broker.
    commit(f"g-{topic}-first", topic, {0: 1})
    want = {}
    for i in range(200):
        name = f"g-{topic}-{i}"
        node = coordinator(name)
        if node not in want.values():
            want[name] = node
        if len(want) == 3:
            break
    # Tests before this one kill and restart brokers, and the cluster moves
    # partition leaders back only every few minutes: a broker may lead no
    # __consumer_offsets partition for a while. Two coordinators are the
    # least that shows the command asks more than one broker.
    if len(set(want.values())) < 2:
        fail(f"fewer than two coordinators found among 200 group names: {want}")
    print(f"figure coordinators = {len(set(want.values()))} of 3 brokers")
    for k, name in enumerate(sorted(want)):
        commit(name, topic, {0: 1 + k, 1: 2 + k})
    doc = json.loads(run([GREGOR, "groups", "-b", BOOTSTRAP, "-J"]))
    got = {g["group"]: g for g in doc["groups"]}
    for k, name in enumerate(sorted(want)):
        g = got.get(name)
        if not g:
            fail(f"group {name} (coordinator {want[name]}) not listed: {sorted(got)}")
        offs = {r["partition"]: (r["committed"], r["log_end"], r["lag"]) for r in g["partitions"]}
        if g["coordinator"] != want[name] or offs != {0: (1 + k, 8, 7 - k), 1: (2 + k, 8, 6 - k)}:
            fail(f"group {name}: gregor {g}, expected coordinator {want[name]} and offsets {1 + k}, {2 + k}")
    print(f"ok: gregor groups lists the groups of every coordinator: {want}")
    print("ok")


if __name__ == "__main__":
    main()
