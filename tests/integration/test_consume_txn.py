#!/usr/bin/env python3
"""read_committed against real transactions on a 4.x broker (GREGOR_TEST_KAFKA1).

kafka-python's transactional producer writes, into one partition,
interleaved: committed transactions, aborted transactions and plain
(non-transactional) messages, from two transactional producers. `gregor
consume -X isolation=read_committed` must print exactly the committed and
plain messages, in offset order, and no control records; with the default
read_uncommitted it prints every data message (aborted ones included) and
still no control records. kcat (librdkafka, read_committed by default) is
the reference for the first case.

The cluster name for kafka-dev comes from GREGOR_TEST_KAFKA1_NAME (default
kafka1).
"""
import os
import subprocess
import sys
import uuid

BOOTSTRAP = os.environ["GREGOR_TEST_KAFKA1"]
CLUSTER = os.environ.get("GREGOR_TEST_KAFKA1_NAME") or "kafka1"
KAFKA_DEV = os.environ["GREGOR_KAFKA_DEV"]
GREGOR = os.environ["GREGOR_BIN"]


def fail(msg):
    print(f"FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def run(cmd, timeout=120):
    p = subprocess.run(cmd, capture_output=True, timeout=timeout)
    if p.returncode != 0:
        fail(f"{' '.join(cmd)} exited {p.returncode}: {p.stderr.decode(errors='replace').strip()}")
    return p.stdout.decode()


def main():
    from kafka import KafkaProducer
    topic = f"consume-txn-{uuid.uuid4().hex[:8]}"
    run([KAFKA_DEV, "create-topic", CLUSTER, topic, "1", "1"])
    a = KafkaProducer(bootstrap_servers=BOOTSTRAP, transactional_id=f"a-{topic}")
    b = KafkaProducer(bootstrap_servers=BOOTSTRAP, transactional_id=f"b-{topic}")
    plain = KafkaProducer(bootstrap_servers=BOOTSTRAP)
    a.init_transactions()
    b.init_transactions()
    committed, everything = [], []
    for round_ in range(20):
        a.begin_transaction()
        b.begin_transaction()
        for i in range(5):
            va, vb = f"a{round_}-{i}", f"b{round_}-{i}"
            a.send(topic, value=va.encode(), partition=0)
            b.send(topic, value=vb.encode(), partition=0)
            everything += [va, vb]
        a.flush()
        b.flush()
        vp = f"p{round_}"
        plain.send(topic, value=vp.encode(), partition=0).get(timeout=30)
        everything.append(vp)
        committed.append(vp)
        # a commits on even rounds, b on odd ones; the other aborts
        if round_ % 2 == 0:
            a.commit_transaction()
            b.abort_transaction()
            committed += [f"a{round_}-{i}" for i in range(5)]
        else:
            b.commit_transaction()
            a.abort_transaction()
            committed += [f"b{round_}-{i}" for i in range(5)]
    a.close()
    b.close()
    plain.close()

    def values(out):
        return [line for line in out.splitlines()]

    got = values(run([GREGOR, "consume", "-b", BOOTSTRAP, "-t", topic, "-e", "-q",
                      "-X", "isolation=read_committed"]))
    if sorted(got) != sorted(committed):
        extra = set(got) - set(committed)
        missing = set(committed) - set(got)
        fail(f"read_committed: {len(got)} messages, {len(committed)} expected; extra {sorted(extra)[:5]}, "
             f"missing {sorted(missing)[:5]}")
    ref = values(run(["kcat", "-C", "-b", BOOTSTRAP, "-t", topic, "-e", "-q", "-X", "isolation.level=read_committed"]))
    if got != ref:
        fail(f"read_committed order differs from kcat's:\n gregor {got[:10]}\n kcat   {ref[:10]}")
    offsets = [int(x) for x in run([GREGOR, "consume", "-b", BOOTSTRAP, "-t", topic, "-e", "-q",
                                    "-X", "isolation=read_committed", "-f", "%o\\n"]).split()]
    if offsets != sorted(offsets) or len(set(offsets)) != len(offsets):
        fail("read_committed offsets are not increasing")

    allv = values(run([GREGOR, "consume", "-b", BOOTSTRAP, "-t", topic, "-e", "-q"]))
    if sorted(allv) != sorted(everything):
        fail(f"read_uncommitted: {len(allv)} messages, {len(everything)} data messages written "
             f"(control records must not surface)")
    print(f"ok: {len(got)} committed of {len(everything)} written")


if __name__ == "__main__":
    main()
