#!/usr/bin/env python3
"""`gregor metadata` against a real cluster, checked against kcat (librdkafka).

Usage: metadata_vs_kcat.py BOOTSTRAP_ENV CLUSTER_NAME [--legacy | --broker-0.8]

Creates a topic through the test bed, then compares what `gregor metadata -J`
and `kcat -L -J` report for the same cluster: the same brokers (id, host,
port), the same topics, and for every partition the same leader, replicas
and in-sync replicas. Also checks the negotiated API versions: on a 4.x
broker gregor never uses Produce below v3 and uses the highest common
version of every API; with --legacy (broker_version=0.8.2 against the 3.9
broker) it uses Metadata v0 and the 0.8.2 profile, not what the broker
advertises. With --broker-0.8 (a real 0.8.2 broker, gregor with default
settings) gregor must detect the release by itself and use the same 0.8.2
profile; kcat is told the broker's version (it cannot detect it).
"""
import json
import os
import subprocess
import sys
import time
import uuid


def fail(msg):
    print(f"FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def run(cmd, timeout=60):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        fail(f"{' '.join(cmd)} exited {p.returncode}: {p.stderr.strip()}")
    return p.stdout


def partitions_of(topic):
    out = {}
    for p in topic.get("partitions", []):
        out[p["partition"]] = (
            p["leader"],
            sorted(r["id"] for r in p.get("replicas", [])),
            sorted(r["id"] for r in p.get("isrs", [])),
        )
    return out


def main():
    env_name, cluster = sys.argv[1], sys.argv[2]
    detect = "--broker-0.8" in sys.argv
    legacy = "--legacy" in sys.argv or detect
    bootstrap = os.environ.get(env_name)
    if not bootstrap:
        fail(f"{env_name} is not set; run through ctest")
    gregor = os.environ["GREGOR_BIN"]
    kafka_dev = os.environ["GREGOR_KAFKA_DEV"]

    nodes = len(bootstrap.split(","))
    topic = f"meta-{uuid.uuid4().hex[:8]}"
    run([kafka_dev, "create-topic", cluster, topic, "3", str(min(3, nodes))], timeout=120)

    extra = ["-X", "broker_version=0.8.2"] if legacy and not detect else []
    kcat_extra = ["-X", "api.version.request=false", "-X", "broker.version.fallback=0.8.2.2"] if detect else []
    # Leaders settle right after creation; retry until both tools agree.
    last = None
    for attempt in range(20):
        g = json.loads(run([gregor, "metadata", "-b", bootstrap, "-J", "--api-versions"] + extra))
        k = json.loads(run(["kcat", "-L", "-J", "-b", bootstrap] + kcat_extra))
        gb = sorted((b["id"], b["name"]) for b in g["brokers"])
        kb = sorted((b["id"], b["name"]) for b in k["brokers"])
        gt = {t["topic"]: partitions_of(t) for t in g["topics"]}
        kt = {t["topic"]: partitions_of(t) for t in k["topics"]}
        last = (gb, kb, gt.get(topic), kt.get(topic))
        if gb == kb and topic in gt and gt == kt and all(p[0] >= 0 for p in gt[topic].values()):
            break
        time.sleep(0.5)
    else:
        fail(f"gregor and kcat disagree after retries: {last}")

    if len(gb) != nodes:
        fail(f"expected {nodes} brokers, got {gb}")
    if len(gt[topic]) != 3:
        fail(f"topic {topic}: expected 3 partitions, got {gt[topic]}")
    # A KRaft broker names a random live broker as the "controller" in every
    # Metadata answer, so two clients may see different ids; each must be a
    # broker of the cluster (v0, the legacy path, has no controller: -1).
    ids = {b for b, _ in gb}
    for who, doc in (("gregor", g), ("kcat", k)):
        v0 = legacy and (who == "gregor" or detect)
        if doc["controllerid"] not in ids and not (v0 and doc["controllerid"] == -1):
            fail(f"controller: {who} reports {doc['controllerid']}, not a broker of {sorted(ids)}")

    for b in g["brokers"]:
        if "api_versions" not in b:
            fail(f"broker {b['id']}: no API versions: {b.get('api_versions_error')}")
        apis = {a["name"]: a for a in b["api_versions"] if a["name"]}
        if legacy:
            if g["metadata_version"] != 0:
                fail(f"legacy: Metadata v{g['metadata_version']} used, expected v0")
            if (apis["Produce"]["broker_max"], apis["Produce"]["used"]) != (0, 0):
                fail(f"legacy: Produce should be the 0.8.2 profile's v0: {apis['Produce']}")
            if apis["OffsetCommit"]["used"] != 1:
                fail(f"legacy: OffsetCommit must use v1 (Kafka storage): {apis['OffsetCommit']}")
            if "ApiVersions" in apis and apis["ApiVersions"]["broker_max"] >= 0:
                fail("legacy: the 0.8.2 profile has no ApiVersions")
        else:
            if apis["Produce"]["used"] < 3:
                fail(f"Produce below v3 chosen: {apis['Produce']}")
            for a in apis.values():
                if a["broker_max"] >= 0 and a["gregor_max"] >= 0:
                    want = min(a["broker_max"], a["gregor_max"])
                    if a["used"] != want:
                        fail(f"{a['name']}: used v{a['used']}, highest common is v{want}")
            if g["metadata_version"] != apis["Metadata"]["used"]:
                fail(f"metadata_version {g['metadata_version']} != negotiated {apis['Metadata']['used']}")
    print(f"ok: {cluster}: {len(gb)} brokers, topic {topic} with {len(gt[topic])} partitions match kcat;"
          f" Metadata v{g['metadata_version']}")


if __name__ == "__main__":
    main()
