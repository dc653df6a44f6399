#!/usr/bin/env python3
"""`gregor groups` on the 1-node 4.x cluster (GREGOR_TEST_KAFKA1), against
members of other clients:

- a classic group of two kafka-python members (each commits offset 3 on the
  partitions it owns) and one kcat -G member (librdkafka, auto-commits what
  it read) over a 6-partition topic: `gregor groups -g G -J` and the text
  output name each member (member id, client id, host), give it exactly the
  partitions it says it owns, and report the committed offsets kafka-python's
  admin client reads, the log ends the test produced and the lag;
- a KIP-848 group (the Java console consumer of the test bed's Kafka jars
  with group.protocol=consumer): described through ConsumerGroupDescribe,
  its member owns every partition, offsets as kafka-python's admin reads;
- `gregor groups` without -g lists both, with -t TOPIC only them; an
  unknown group is an error naming it, with exit status 1.
"""
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid

from cli_util import fail, run
from groups_util import KcatMember

BOOTSTRAP = os.environ["GREGOR_TEST_KAFKA1"]
KAFKA_DEV = os.environ["GREGOR_KAFKA_DEV"]
GREGOR = os.environ["GREGOR_BIN"]
CLUSTER = os.environ.get("GREGOR_TEST_KAFKA1_NAME") or "kafka1"
PARTITIONS = 6
KP_COMMIT = 3  # what the kafka-python members commit on each partition they own


def produce(topic):
    """10 + p messages on partition p; the log ends."""
    for p in range(PARTITIONS):
        run(["kcat", "-P", "-q", "-b", BOOTSTRAP, "-t", topic, "-p", str(p)],
            "".join(f"m{i}\n" for i in range(10 + p)).encode())
    return {p: 10 + p for p in range(PARTITIONS)}


def admin_committed(group):
    from kafka.admin import KafkaAdminClient
    a = KafkaAdminClient(bootstrap_servers=BOOTSTRAP)
    try:
        got = a.list_group_offsets({group: None})
        offs = got[group] if group in got else got
        return {(tp.topic, tp.partition): om.offset for tp, om in offs.items()}
    finally:
        a.close()


def groups_json(group):
    p = subprocess.run([GREGOR, "groups", "-b", BOOTSTRAP, "-g", group, "-J"], capture_output=True, timeout=60)
    if p.returncode != 0:
        return None, p.stderr.decode(errors="replace")
    doc = json.loads(p.stdout)
    if len(doc["groups"]) != 1:
        fail(f"-g {group} -J: {len(doc['groups'])} groups in {doc}")
    return doc["groups"][0], ""


class KpMember:
    """A kafka-python member: polls on its own thread, commits KP_COMMIT on
    every partition it is assigned, and reports its member id and assignment."""

    def __init__(self, group, topic, name):
        from kafka import KafkaConsumer
        self.c = KafkaConsumer(topic, bootstrap_servers=BOOTSTRAP, group_id=group, client_id=name,
                               enable_auto_commit=False, auto_offset_reset="earliest",
                               partition_assignment_strategy=_range(), heartbeat_interval_ms=500)
        self.name = name
        self.lock = threading.Lock()
        self.state = (None, frozenset())
        self.stop = False
        self.t = threading.Thread(target=self.loop, daemon=True)
        self.t.start()

    def loop(self):
        from kafka.structs import OffsetAndMetadata
        committed = frozenset()
        while not self.stop:
            self.c.poll(timeout_ms=200, max_records=1)
            parts = frozenset(self.c.assignment())
            if parts and parts != committed:
                try:
                    self.c.commit({tp: OffsetAndMetadata(KP_COMMIT, "", -1) for tp in parts})
                    committed = parts
                except Exception as e:  # a rebalance under way: again at the next poll
                    print(f"{self.name}: commit: {e}", file=sys.stderr)
            gen = self.c._coordinator.generation_if_stable()
            with self.lock:
                self.state = (gen.member_id if gen else None, frozenset((tp.topic, tp.partition) for tp in parts),
                              committed == parts)

    def report(self):
        with self.lock:
            return self.state

    def close(self):
        self.stop = True
        self.t.join(10)
        self.c.close()


def _range():
    from kafka.coordinator.assignors.range import RangePartitionAssignor
    return (RangePartitionAssignor,)


def check_classic(topic, ends, tmp):
    group = f"gc-{topic}"
    kp = [KpMember(group, topic, f"kp-{i}") for i in range(2)]
    kc = KcatMember(BOOTSTRAP, group, topic, tmp)
    try:
        deadline = time.monotonic() + 90
        last = "no stable view yet"
        while time.monotonic() < deadline:
            time.sleep(1)
            reports = {r[0]: r[1] for r in [m.report()[:2] for m in kp] + [kc.report()] if r[0]}
            kp_done = all(len(m.report()) > 2 and m.report()[2] for m in kp)
            owned = [tp for parts in reports.values() for tp in parts]
            if len(reports) != 3 or sorted(owned) != sorted({(topic, p) for p in range(PARTITIONS)}) or not kp_done:
                last = f"members report {reports}"
                continue
            # kcat commits what it read every 200 ms: wait until it has read everything.
            committed = admin_committed(group)
            want_committed = {tp: KP_COMMIT for m in kp for tp in m.report()[1]}
            want_committed.update({tp: ends[tp[1]] for tp in reports[kc.report()[0]]})
            if committed != want_committed:
                last = f"committed {committed}, waiting for {want_committed}"
                continue
            g, err = groups_json(group)
            if g is None:
                last = f"gregor groups failed: {err}"
                continue
            got = {m["member_id"]: frozenset((a["topic"], a["partition"]) for a in m["assignment"])
                   for m in g["members"]}
            if got != reports:
                last = f"gregor says {got}, the members say {reports}"
                continue  # a rebalance between the two views: look again
            check_classic_doc(g, group, topic, ends, committed, kp, kc)
            check_text(group, topic, ends, committed, reports)
            print(f"ok: classic group {group}: members {sorted(reports)} own {sorted(map(sorted, reports.values()))}; "
                  f"committed {sorted(committed.items())}")
            return
        fail(f"classic group {group}: {last}")
    finally:
        for m in kp:
            m.close()
        kc.close()


def check_classic_doc(g, group, topic, ends, committed, kp, kc):
    if (g["group"], g["state"], g["protocol_type"], g["protocol"], g["group_protocol"]) != \
            (group, "Stable", "consumer", "range", "classic"):
        fail(f"classic group header: {g}")
    clients = {m["member_id"]: m["client_id"] for m in g["members"]}
    want_clients = {m.report()[0]: m.name for m in kp}
    want_clients[kc.report()[0]] = "kcat-member"
    if clients != want_clients:
        fail(f"client ids: gregor {clients}, expected {want_clients}")
    if any(m["host"] != "/127.0.0.1" or m["group_instance_id"] is not None for m in g["members"]):
        fail(f"hosts / instance ids: {g['members']}")
    owner = {(a["topic"], a["partition"]): m["member_id"] for m in g["members"] for a in m["assignment"]}
    rows = {(r["topic"], r["partition"]): r for r in g["partitions"]}
    if sorted(rows) != [(topic, p) for p in range(PARTITIONS)]:
        fail(f"partition rows: {sorted(rows)}")
    for tp, r in rows.items():
        want = (committed[tp], ends[tp[1]], ends[tp[1]] - committed[tp], owner[tp])
        if (r["committed"], r["log_end"], r["lag"], r["member_id"]) != want:
            fail(f"{tp}: gregor {r}, expected committed/log end/lag/owner {want}")


def check_text(group, topic, ends, committed, reports):
    """The text table: one line per partition, kafka-consumer-groups.sh's columns."""
    out = run([GREGOR, "groups", "-b", BOOTSTRAP, "-g", group]).decode()
    lines = out.splitlines()
    header = next((i for i, l in enumerate(lines) if l.split()[:1] == ["GROUP"]), None)
    if header is None or lines[header].split() != ["GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET",
                                                   "LAG", "CONSUMER-ID", "HOST", "CLIENT-ID"]:
        fail(f"text output has no kafka-consumer-groups.sh header:\n{out}")
    owner = {tp: m for m, parts in reports.items() for tp in parts}
    rows = [l.split() for l in lines[header + 1:] if l.strip()]
    got = sorted((r[1], int(r[2]), int(r[3]), int(r[4]), int(r[5]), r[6]) for r in rows)
    want = sorted((t, p, committed[(t, p)], ends[p], ends[p] - committed[(t, p)], owner[(t, p)])
                  for (t, p) in committed)
    if got != want or any(r[0] != group for r in rows):
        fail(f"text rows {got}, expected {want}:\n{out}")
    for m in reports:
        if f"member {m} " not in out:
            fail(f"text output does not list member {m}:\n{out}")


def java_consumer(group, topic, tmp):
    cache = os.environ.get("GREGOR_CACHE") or os.path.expanduser("~/.cache/gregor")
    version = open(os.path.join(cache, "kafka", "4.version")).read().split()[0]
    cp = os.path.join(cache, "kafka", version, "libs", "*")
    return subprocess.Popen(
        ["java", "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-cp", cp,
         "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn", "org.apache.kafka.tools.consumer.ConsoleConsumer",
         "--bootstrap-server", BOOTSTRAP, "--topic", topic, "--group", group, "--from-beginning",
         "--consumer-property", "group.protocol=consumer", "--consumer-property", "client.id=java-848",
         "--consumer-property", "auto.commit.interval.ms=200"],
        stdout=subprocess.DEVNULL, stderr=open(os.path.join(tmp, "java.err"), "w"))


def check_kip848(topic, ends, tmp):
    group = f"g848-{topic}"
    j = java_consumer(group, topic, tmp)
    try:
        deadline = time.monotonic() + 90
        last = "no answer yet"
        while time.monotonic() < deadline:
            time.sleep(1)
            if j.poll() is not None:
                fail(f"the Java console consumer exited {j.returncode}: "
                     f"{open(os.path.join(tmp, 'java.err')).read()[-2000:]}")
            committed = admin_committed(group)
            if committed != {(topic, p): ends[p] for p in range(PARTITIONS)}:
                last = f"committed {committed}"
                continue
            g, err = groups_json(group)
            if g is None:
                last = f"gregor groups failed: {err}"
                continue
            if g["state"] != "Stable" or len(g["members"]) != 1:
                last = f"gregor groups says {g}"
                continue
            m = g["members"][0]
            owned = sorted((a["topic"], a["partition"]) for a in m["assignment"])
            if (g["group_protocol"], g["protocol_type"], m["client_id"], m["host"]) != \
                    ("consumer", "consumer", "java-848", "/127.0.0.1") or not g["protocol"]:
                fail(f"KIP-848 group: {g}")
            if owned != [(topic, p) for p in range(PARTITIONS)]:
                fail(f"KIP-848 member owns {owned}")
            for r in g["partitions"]:
                if (r["committed"], r["log_end"], r["lag"], r["member_id"]) != \
                        (ends[r["partition"]], ends[r["partition"]], 0, m["member_id"]):
                    fail(f"KIP-848 row {r}")
            print(f"ok: KIP-848 group {group}: member {m['member_id']} (java-848, assignor {g['protocol']}) "
                  f"owns all {PARTITIONS} partitions, committed {sorted(committed.values())}")
            return
        fail(f"KIP-848 group {group}: {last}")
    finally:
        j.terminate()
        j.wait(20)


def main():
    topic = f"groups-{uuid.uuid4().hex[:8]}"
    run([KAFKA_DEV, "create-topic", CLUSTER, topic, str(PARTITIONS), "1"], timeout=120)
    ends = produce(topic)
    with tempfile.TemporaryDirectory() as tmp:
        check_classic(topic, ends, tmp)
        check_kip848(topic, ends, tmp)

    # Without -g: every group, both of ours among them (now Empty, offsets kept).
    doc = json.loads(run([GREGOR, "groups", "-b", BOOTSTRAP, "-J"]))
    names = {g["group"]: g for g in doc["groups"]}
    for name in (f"gc-{topic}", f"g848-{topic}"):
        if name not in names or len(names[name]["partitions"]) != PARTITIONS:
            fail(f"gregor groups -J does not list {name} with its {PARTITIONS} partitions: {sorted(names)}")
    print(f"ok: gregor groups lists {len(names)} groups, ours among them")

    # -t: only the groups (and partitions) of that topic.
    doc = json.loads(run([GREGOR, "groups", "-b", BOOTSTRAP, "-t", topic, "-J"]))
    if sorted(g["group"] for g in doc["groups"]) != sorted([f"gc-{topic}", f"g848-{topic}"]) or \
            any(r["topic"] != topic for g in doc["groups"] for r in g["partitions"]):
        fail(f"gregor groups -t {topic}: {doc}")
    print(f"ok: gregor groups -t {topic} lists our two groups only")

    bogus = f"no-such-group-{uuid.uuid4().hex[:8]}"
    p = subprocess.run([GREGOR, "groups", "-b", BOOTSTRAP, "-g", bogus], capture_output=True, timeout=60)
    err = p.stderr.decode(errors="replace")
    if p.returncode != 1 or f"group '{bogus}' not found" not in err or "broker" not in err:
        fail(f"unknown group: exit {p.returncode}, stderr {err}")
    print(f"ok: unknown group: exit 1, {err.strip()}")
    print("ok")


if __name__ == "__main__":
    main()
