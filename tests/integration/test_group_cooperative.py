#!/usr/bin/env python3
"""A member joins a busy group: eager vs cooperative vs KIP-848 (GREGOR_TEST_KAFKA1), issue 9.

A 12-partition topic under a live numbered stream (100 messages/s), and
three groups in turn; in each, once the first members are stable, one more
member joins:
  eager        kcat + kafka-python + Java, range (classic): every member
               revokes everything, so every partition pauses
  cooperative  kcat + kafka-python + Java, cooperative-sticky (classic):
               only the partitions that move are revoked
  consumer     Java members, group.protocol=consumer (KIP-848): the broker
               moves partitions one member at a time
For the partitions that kept their owner across the join, (e) the longest
gap in their consumption from the join to the new stable assignment is
reported (`figure RUN.kept_longest_read_gap`) beside that of the partitions
that moved, and per member (a classic member of any client stops fetching
while it waits in JoinGroup, which it learns of at its next heartbeat: a
kept partition may pause under cooperative-sticky too, for up to about the
heartbeat interval: 0.1-2.2 s seen here). In the cooperative and consumer runs no kept
partition may be revoked at all (a check, not a timing); in every run (a)
and (b) hold. Then (f): the joiner is killed with kill -9 and the time
until its partitions are assigned and read elsewhere is reported (classic:
the members' session timeout, 6 s; KIP-848: the broker's
group.consumer.session.timeout.ms, 10 s on the test bed).

The gregor members below join once `gregor consume -G` exists (the KIP-848
one once `gregor config list` has group_protocol); until then they are left
out with a note.
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
SESSION_TIMEOUT_MS = 6000  # the broker's group.min.session.timeout.ms

# ---- the runs: (first members, the member that joins, kept partitions must not pause) ----
RUNS = {
    "eager": ([("kcat", "classic", "range"), ("kpy", "classic", "range"), ("java", "classic", "range")]
              + [("gregor", "classic", "range")],
              ("kpy", "classic", "range"), False),
    "cooperative": ([("kcat", "classic", "cooperative-sticky"), ("kpy", "classic", "cooperative-sticky"),
                     ("java", "classic", "cooperative-sticky")] + [("gregor", "classic", "cooperative-sticky")],
                    ("kpy", "classic", "cooperative-sticky"), True),
    "consumer": ([("java", "consumer", None), ("java", "consumer", None)] + [("gregor", "consumer", None)],
                 ("java", "consumer", None), True),
}
# ------------------------------------------------------------------------------------------


def kill_joiner(h, name, parts):
    """(f): kill -9 of the member that joined, to its partitions being
    assigned and read elsewhere. Returns the problems."""
    events, _, _ = h.log.snapshot()
    victim_tps = sorted(tp for tp, who in gh.ownership_at(events).items() if "joiner" in who)
    t_kill = time.monotonic()
    h.members["joiner"].kill()
    h.wait_stable(parts, quiet_s=2, timeout_s=60)
    events, messages, _ = h.log.snapshot()
    takeover = gh.takeover_times(t_kill, "joiner", victim_tps, events, messages)
    problems = []
    for label, idx in (("assigned", 0), ("read", 1)):
        vals = [v[idx] for v in takeover.values()]
        if not vals or any(v is None for v in vals):
            problems.append(f"kill -9: the joiner's partitions were never {label} elsewhere: {takeover}")
        else:
            h.report(f"{name}.kill9_takeover_{label}_max", max(vals), "s")
    return problems


def run(name, first, joiner, no_pause, topic):
    group = f"coop-{name}-{uuid.uuid4().hex[:8]}"
    h = gh.Harness(BOOTSTRAP, CLUSTER, group, [topic], session_timeout_ms=SESSION_TIMEOUT_MS)
    parts = [(topic, p) for p in range(PARTITIONS)]
    problems = []
    try:
        h.start_producer(topic, PARTITIONS, rate=100)
        for kind, protocol, assignor in first:
            h.add(kind, protocol=protocol, assignor=assignor)
        h.wait_stable(parts, quiet_s=3, timeout_s=60)
        events, _, _ = h.log.snapshot()
        before = gh.ownership_at(events)
        t_join = time.monotonic()
        kind, protocol, assignor = joiner
        h.add(kind, name="joiner", protocol=protocol, assignor=assignor)
        after = h.wait_stable(parts, quiet_s=3, timeout_s=60)
        t_stable = max(e.ts for e in h.log.snapshot()[0] if e.kind in ("assigned", "revoked", "lost"))
        h.report(f"{name}.join_to_stable", t_stable - t_join, "s")
        events, messages, _ = h.log.snapshot()
        kept = [tp for tp in parts if before.get(tp) == after.get(tp)]
        moved = [tp for tp in parts if tp not in kept]
        paused = sorted({tp for e in events if t_join <= e.ts and e.kind in ("revoked", "lost")
                         for tp in e.tps if tp in kept and e.member in before.get(tp, ())})
        gap_kept = gh.consumption_gaps(messages, kept, t_join, t_stable)
        gap_moved = gh.consumption_gaps(messages, moved, t_join, t_stable)
        h.report(f"{name}.kept_partitions", len(kept))
        h.report(f"{name}.kept_revoked", len(paused))
        h.report(f"{name}.kept_longest_read_gap", max(gap_kept.values(), default=0.0), "s")
        h.report(f"{name}.moved_longest_read_gap", max(gap_moved.values(), default=0.0), "s")
        for member in sorted({m for tp in kept for m in after[tp]}):
            mine = [g for tp, g in gap_kept.items() if member in after[tp]]
            h.report(f"{name}.kept_longest_read_gap.{member}", max(mine), "s")
        if no_pause and paused:
            problems.append(f"partitions that kept their owner were revoked while the joiner came in: {paused}")
        if not moved:
            problems.append("the joiner got no partition")
        intervals = gh.ownership_intervals(events, time.monotonic())
        overlap, min_gap = gh.check_no_overlap(intervals)
        problems += overlap
        problems += gh.check_reads_owned(messages, intervals)[0]
        h.report(f"{name}.smallest_handover_gap", -1.0 if min_gap is None else min_gap, "s")
        # KIP-848: the broker's group.consumer.session.timeout.ms (10 s on
        # the test bed) decides when the dead member is expired.
        problems += kill_joiner(h, name, parts)
    except gh.HarnessError as e:
        problems.append(str(e))
    finally:
        h.close()
    if problems:
        h.log.dump()
        for p in problems:
            print(f"FAIL: {name}: {p}", file=sys.stderr)
    return not problems


def main():
    available = gh.available_members()
    topic = f"coop-{uuid.uuid4().hex[:8]}"
    gh.kafka_dev("create-topic", CLUSTER, topic, str(PARTITIONS), "1")

    def run_one(name, spec):
        first, joiner, no_pause = spec
        first = [k for k in first if available(k)]
        print(f"== {name}: {', '.join(f'{k}/{p}/{a}' for k, p, a in first)}; then {'/'.join(map(str, joiner))} joins",
              flush=True)
        return run(name, first, joiner, no_pause, topic)

    gh.run_each("a member joining", RUNS, run_one)
    print("a member joining: kept partitions never revoked under cooperative-sticky and KIP-848")


if __name__ == "__main__":
    main()
