#!/usr/bin/env python3
"""Mixed consumer groups on a 4.x broker (GREGOR_TEST_KAFKA1), issue 9.

A 12-partition topic, a numbered stream produced while the members join, and
two groups in turn:
  classic   kcat (librdkafka) + kafka-python + Java (group.protocol=classic)
            + gregor members, all with the range assignor
  consumer  Java members with group.protocol=consumer (KIP-848, the broker
            assigns) + gregor members with group_protocol=consumer; once
            they are stable, kcat and kafka-python join that group with the
            classic protocol (the 4.x broker's mixed groups)
Each run checks, with group_harness.py, (a) once stable every partition has
exactly one owner and every member owns something and reads, and (c) the
union of what the members read is every acknowledged message, duplicates
only at or after the last commit. It prints its figures (`figure ...`):
time to a stable assignment, messages read per member, duplicates.

The gregor members join when `gregor consume --help` offers -G (the KIP-848
ones when `gregor config list` also has group_protocol); until then the runs
go on without them and say so.
"""
import os
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import group_harness as gh  # noqa: E402

BOOTSTRAP = os.environ["GREGOR_TEST_KAFKA1"]
CLUSTER = os.environ.get("GREGOR_TEST_KAFKA1_NAME") or "kafka1"
PARTITIONS = 12

# ---- the members of each run: (kind, protocol, assignor) ----------------
# The lead adds gregor members here (3 per run, issue 9); they are skipped,
# with a note, while `gregor consume` has no -G.
GREGOR_MEMBERS_CLASSIC = [("gregor", "classic", "range")] * 3
GREGOR_MEMBERS_CONSUMER = [("gregor", "consumer", None)] * 3
# Each run is a list of stages: the members of a stage start together, and
# the next stage starts once the group is stable. The consumer run's second
# stage joins classic members to the KIP-848 group the first one made.
RUNS = {
    "classic": [[("kcat", "classic", "range"), ("kpy", "classic", "range"), ("java", "classic", "range")]
                + GREGOR_MEMBERS_CLASSIC],
    "consumer": [[("java", "consumer", None), ("java", "consumer", None)] + GREGOR_MEMBERS_CONSUMER,
                 [("kcat", "classic", "range"), ("kpy", "classic", "range")]],
}
# --------------------------------------------------------------------------


def run(name, stages, topic):
    group = f"mixed-{name}-{uuid.uuid4().hex[:8]}"
    h = gh.Harness(BOOTSTRAP, CLUSTER, group, [topic], session_timeout_ms=10000)
    parts = [(topic, p) for p in range(PARTITIONS)]
    ok = False
    try:
        producer = h.start_producer(topic, PARTITIONS, rate=100)
        t0 = time.monotonic()
        for i, stage in enumerate(stages):
            for kind, protocol, assignor in stage:
                h.add(kind, protocol=protocol, assignor=assignor)
            members = list(h.members)
            owners = h.wait_stable(parts, members, quiet_s=3, timeout_s=60)
            h.report(f"{name}.stage{i + 1}.stable_after", time.monotonic() - t0, "s")
            t0 = time.monotonic()
        problems = gh.check_stable(owners, parts, members)
        time.sleep(2)  # every member reads its part of the live stream
        producer.stop()
        produced = producer.produced()
        unread = h.wait_read(produced, timeout_s=30)
        events, messages, commits = h.log.snapshot()
        intervals = gh.ownership_intervals(events, time.monotonic())
        cproblems, counts = gh.check_consumed(produced, messages, commits, intervals)
        problems += cproblems
        if counts["missing"]:
            gh.print_unread(produced, messages, commits, intervals, h.log.t0)
        overlap, _ = gh.check_no_overlap(intervals)
        problems += overlap
        rproblems, outside = gh.check_reads_owned(messages, intervals)
        problems += rproblems
        per_member = {m: sum(1 for x in messages if x.member == m) for m in members}
        for m in members:
            if per_member[m] == 0:
                problems.append(f"member {m} read nothing")
        h.report(f"{name}.owners", ", ".join(f"{m}: {sum(1 for w in owners.values() if m in w)}" for m in members))
        h.report(f"{name}.produced", len(produced))
        h.report(f"{name}.read_per_member", ", ".join(f"{m}: {n}" for m, n in per_member.items()))
        h.report(f"{name}.unread", unread)
        h.report(f"{name}.duplicates", counts["duplicates"])
        h.report(f"{name}.reads_outside_ownership", outside)
        if producer.failed:
            problems.append(f"{len(producer.failed)} produce requests failed: {producer.failed[:3]}")
        for m in members:
            h.members[m].stop()
        if problems:
            raise gh.HarnessError("; ".join(problems))
        ok = True
    except gh.HarnessError as e:
        print(f"FAIL: {name}: {e}", file=sys.stderr)
    finally:
        h.close()
        if not ok:
            h.log.dump()
    return ok


def main():
    available = gh.available_members()
    topic = f"mixed-{uuid.uuid4().hex[:8]}"
    gh.kafka_dev("create-topic", CLUSTER, topic, str(PARTITIONS), "1")

    def run_one(name, stages):
        stages = [[k for k in stage if available(k)] for stage in stages]
        print(f"== {name}: " + "; then ".join(", ".join(f"{k}/{p}" for k, p, _ in stage) for stage in stages),
              flush=True)
        return run(name, stages, topic)

    gh.run_each("mixed groups", RUNS, run_one)
    print("mixed groups: every partition one owner, every member read, nothing missed")


if __name__ == "__main__":
    main()
