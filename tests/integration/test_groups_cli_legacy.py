#!/usr/bin/env python3
"""`gregor groups` on older brokers:

- 3.9 (GREGOR_TEST_KAFKA39: DescribeGroups v5, which answers state Dead for
  unknown groups, and an API 69 that answers UNSUPPORTED_VERSION because the
  consumer protocol is off): a kcat -G member's group is described with the
  partitions kcat says it owns and the offsets it committed; an unknown group
  is "not found", not an UNSUPPORTED_VERSION;
- 0.8.2.2 (GREGOR_TEST_KAFKA082, no groups API at all): without -t both
  forms say so, naming the broker, with exit status 1, at once; with
  -g GROUP -t TOPIC the offsets kafka-python committed to Kafka are shown
  with the log ends and the lag.
"""
import json
import os
import subprocess
import tempfile
import time
import uuid

from cli_util import fail, run
from groups_util import KcatMember

K39 = os.environ["GREGOR_TEST_KAFKA39"]
K082 = os.environ["GREGOR_TEST_KAFKA082"]
KAFKA_DEV = os.environ["GREGOR_KAFKA_DEV"]
GREGOR = os.environ["GREGOR_BIN"]
CLUSTER39 = os.environ.get("GREGOR_TEST_KAFKA39_NAME") or "kafka39"


def gregor(*args):
    t0 = time.monotonic()
    p = subprocess.run([GREGOR, "groups"] + list(args), capture_output=True, timeout=60)
    return p.returncode, p.stdout.decode(), p.stderr.decode(errors="replace"), time.monotonic() - t0


def check_39():
    topic = f"groups39-{uuid.uuid4().hex[:8]}"
    run([KAFKA_DEV, "create-topic", CLUSTER39, topic, "3", "1"], timeout=120)
    for p in range(3):
        run(["kcat", "-P", "-q", "-b", K39, "-t", topic, "-p", str(p)], "".join(f"m{i}\n" for i in range(4 + p)).encode())
    group = f"g-{topic}"
    with tempfile.TemporaryDirectory() as tmp:
        kc = KcatMember(K39, group, topic, tmp)
        try:
            deadline = time.monotonic() + 60
            last = ""
            while time.monotonic() < deadline:
                time.sleep(1)
                member, parts = kc.report()
                rc, out, err, _ = gregor("-b", K39, "-g", group, "-J")
                if rc != 0 or not member:
                    last = f"kcat reports {member} {parts}; gregor exit {rc}: {err}"
                    continue
                g = json.loads(out)["groups"][0]
                rows = {r["partition"]: (r["committed"], r["log_end"], r["lag"]) for r in g["partitions"]}
                got = [(m["member_id"], sorted((a["topic"], a["partition"]) for a in m["assignment"]))
                       for m in g["members"]]
                want_rows = {p: (4 + p, 4 + p, 0) for p in range(3)}
                if got != [(member, sorted(parts))] or rows != want_rows or g["state"] != "Stable":
                    last = f"gregor {got} {rows} {g['state']}, kcat {member} {sorted(parts)}, want rows {want_rows}"
                    continue
                print(f"ok: 3.9: group {group}: kcat member {member} owns {sorted(parts)}, committed {rows}")
                break
            else:
                fail(f"3.9: {last}")
        finally:
            kc.close()
    bogus = f"no-such-{uuid.uuid4().hex[:8]}"
    rc, _, err, _ = gregor("-b", K39, "-g", bogus)
    if rc != 1 or f"group '{bogus}' not found" not in err or "UNSUPPORTED" in err:
        fail(f"3.9 unknown group: exit {rc}: {err}")
    print(f"ok: 3.9 unknown group: {err.strip()}")


def check_082():
    topic = f"groups082-{uuid.uuid4().hex[:8]}"
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
    rc, out, err, _ = gregor("-b", K082, "-g", group, "-t", topic, "-J")
    if rc != 0:
        fail(f"0.8.2: gregor groups -g {group} -t {topic}: exit {rc}: {err}")
    g = json.loads(out)["groups"][0]
    rows = {r["partition"]: (r["committed"], r["log_end"], r["lag"]) for r in g["partitions"]}
    if rows != {0: (2, 6, 4), 1: (5, 7, 2)} or g["members"] or "no groups API" not in err:
        fail(f"0.8.2: gregor groups -g {group} -t {topic}: {g}, stderr {err}")
    print(f"ok: 0.8.2: the offsets kafka-python committed: {rows}")

    for args in (["-b", K082], ["-b", K082, "-g", "g1"]):
        rc, out, err, took = gregor(*args)
        if rc != 1 or "no ListGroups API" not in err and "no DescribeGroups API" not in err or "broker" not in err \
                or took > 10:
            fail(f"0.8.2: gregor groups {' '.join(args)}: exit {rc} in {took:.1f}s: {err}")
        print(f"ok: 0.8.2: gregor groups {' '.join(args)}: exit 1 in {took:.1f}s: {err.strip()}")


def main():
    check_39()
    check_082()
    print("ok")


if __name__ == "__main__":
    main()
