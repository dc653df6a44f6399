"""group_checks.py — the checks of the consumer group harness
(group_harness.py), as pure functions of its logs, so that
test_group_harness_selftest.py can feed them hand-made ones.

The records, all stamped with time.monotonic() on receipt:
  Event(ts, member, kind, tps)   kind: started, assigned, revoked, lost,
                                 killed, stopping, exited; tps: ((topic, p), ...)
  Message(ts, member, topic, partition, offset, value)
  Commit(ts, source, topic, partition, offset)   source: a member, or "group"
  Interval(topic, partition, member, start, end, end_kind)
      one member's ownership of one partition (ownership_intervals).

Each check returns the problems it found as sentences (empty: passed), and
the figure it measures where it has one.
"""
import collections

Event = collections.namedtuple("Event", "ts member kind tps")
Message = collections.namedtuple("Message", "ts member topic partition offset value")
Commit = collections.namedtuple("Commit", "ts source topic partition offset")
Interval = collections.namedtuple("Interval", "topic partition member start end end_kind")
DEATH_KINDS = ("killed", "exited")


def ownership_intervals(events, end_ts):
    """Ownership intervals replayed from `events` (sorted by ts); those still
    open at `end_ts` end there with end_kind 'open'."""
    open_ = {}  # (member, tp) -> start
    dead = set()
    out = []

    def close(member, tp, ts, kind):
        start = open_.pop((member, tp))
        out.append(Interval(tp[0], tp[1], member, start, ts, kind))

    for e in events:
        if e.member in dead:
            continue
        if e.kind == "assigned":
            for tp in e.tps:
                open_.setdefault((e.member, tp), e.ts)
        elif e.kind in ("revoked", "lost"):
            for tp in e.tps:
                if (e.member, tp) in open_:
                    close(e.member, tp, e.ts, e.kind)
        elif e.kind in DEATH_KINDS:
            dead.add(e.member)
            for member, tp in [k for k in open_ if k[0] == e.member]:
                close(member, tp, e.ts, e.kind)
    for member, tp in list(open_):
        close(member, tp, end_ts, "open")
    return sorted(out, key=lambda i: (i.topic, i.partition, i.start))


def ownership_at(events, ts=None):
    """{(topic, partition): set(members)} owning it at `ts` (default: after the last event)."""
    owners = collections.defaultdict(set)
    end = float("inf") if ts is None else ts
    for i in ownership_intervals([e for e in events if e.ts <= end], end):
        if i.end_kind == "open":
            owners[(i.topic, i.partition)].add(i.member)
    return owners


def check_stable(owners, partitions, members):
    """(a): every partition in `partitions` has exactly one owner, and each of
    `members` owns at least one. `owners` as ownership_at returns it."""
    problems = []
    for tp in partitions:
        who = sorted(owners.get(tp, ()))
        if len(who) != 1:
            problems.append(f"{tp[0]} [{tp[1]}] has {len(who)} owners: {who}")
    owning = {m for who in owners.values() for m in who}
    for m in members:
        if m not in owning:
            problems.append(f"member {m} owns nothing")
    for tp in owners:
        if tp not in partitions and owners[tp]:
            problems.append(f"{tp[0]} [{tp[1]}] is owned ({sorted(owners[tp])}) but is not a partition of the test")
    return problems


# How far apart two members' lines, written in one order, can be stamped in
# the other: reader threads wait for the GIL (Harness sets a 1 ms switch
# interval) on two cores shared with the brokers and the members.
STAMP_TOLERANCE_S = 0.05


def check_no_overlap(intervals, tolerance_s=STAMP_TOLERANCE_S):
    """(b): no two members own a partition at the same time (overlaps longer
    than tolerance_s, the stamping precision). Returns (problems, smallest
    handover gap in seconds, negative for an overlap within the tolerance,
    or None if nothing was handed over)."""
    problems = []
    by_tp = collections.defaultdict(list)
    for i in intervals:
        by_tp[(i.topic, i.partition)].append(i)
    min_gap = None
    for tp, ivs in sorted(by_tp.items()):
        ivs.sort(key=lambda i: i.start)
        for a_idx, a in enumerate(ivs):
            for b in ivs[a_idx + 1:]:
                if b.member == a.member:
                    continue
                overlap = min(a.end, b.end) - max(a.start, b.start)
                if overlap > tolerance_s:
                    problems.append(f"{tp[0]} [{tp[1]}] owned by {a.member} and {b.member} at once for "
                                    f"{overlap:.3f} s ({a.member}: {a.start:.3f}-{a.end:.3f} {a.end_kind}, "
                                    f"{b.member}: {b.start:.3f}-{b.end:.3f} {b.end_kind})")
                elif b.start >= a.start:
                    gap = b.start - a.end
                    min_gap = gap if min_gap is None else min(min_gap, gap)
    return problems, min_gap


def check_reads_owned(messages, intervals, tolerance_s=STAMP_TOLERANCE_S):
    """(b'): every message a member printed fell within one of its ownership
    intervals of that partition (to within tolerance_s): no member reads a
    partition before it is assigned it or after it revoked or lost it.
    Returns (problems, number of reads outside)."""
    by_owner = collections.defaultdict(list)
    for i in intervals:
        by_owner[(i.member, i.topic, i.partition)].append((i.start, i.end))
    outside = [m for m in messages
               if not any(s - tolerance_s <= m.ts <= e + tolerance_s
                          for s, e in by_owner[(m.member, m.topic, m.partition)])]
    problems = []
    if outside:
        problems.append(f"{len(outside)} messages read by a member that did not own the partition then; first: " +
                        "; ".join(f"{m.member} read {m.topic} [{m.partition}] @{m.offset} at {m.ts:.3f}"
                                  for m in outside[:5]))
    return problems, len(outside)


def check_consumed(produced, messages, commits, intervals):
    """(c): every produced (topic, partition, offset) was read at least once;
    a message read again is allowed only at or after the partition's highest
    commit made before the interval in which it was re-read began.
    Returns (problems, {'missing', 'duplicates', 'bad_duplicates'})."""
    problems = []
    first = {}
    dups = []
    for m in messages:  # sorted by ts
        key = (m.topic, m.partition, m.offset)
        if key in first:
            dups.append(m)
        else:
            first[key] = m
    missing = sorted(k for k in produced if k not in first)
    if missing:
        problems.append(f"{len(missing)} of {len(produced)} produced messages never read; first: {missing[:10]}")
    commits_by_tp = collections.defaultdict(list)
    for c in commits:
        commits_by_tp[(c.topic, c.partition)].append(c)
    by_owner = collections.defaultdict(list)
    for i in intervals:
        by_owner[(i.member, i.topic, i.partition)].append(i)
    bad = []
    for m in dups:
        ivs = [i for i in by_owner[(m.member, m.topic, m.partition)] if i.start <= m.ts]
        start = max((i.start for i in ivs), default=m.ts)
        committed = max((c.offset for c in commits_by_tp[(m.topic, m.partition)] if c.ts <= start), default=0)
        if m.offset < committed:
            bad.append((m, committed))
    if bad:
        problems.append(f"{len(bad)} messages read again below the last commit; first: " +
                        "; ".join(f"{m.member} read {m.topic} [{m.partition}] @{m.offset} again "
                                  f"(committed {c} before its interval began)" for m, c in bad[:5]))
    return problems, {"missing": len(missing), "duplicates": len(dups), "bad_duplicates": len(bad)}


def explain_missing(keys, messages, commits, intervals, t0=0.0, limit=3):
    """Lines describing, for the first `limit` of `keys` (topic, partition,
    offset) never read, who owned the partition, the reads of offsets near it
    and the commits around it: for the failure report of (c)."""
    lines = []
    for topic, partition, offset in sorted(keys)[:limit]:
        lines.append(f"{topic} [{partition}] @{offset} was never read; owners of {topic} [{partition}]:")
        for i in intervals:
            if (i.topic, i.partition) == (topic, partition):
                lines.append(f"  {i.member:10} {i.start - t0:8.3f} - {i.end - t0:8.3f} ({i.end_kind})")
        lines.append("  reads nearby:")
        for m in messages:
            if (m.topic, m.partition) == (topic, partition) and abs(m.offset - offset) <= 3:
                lines.append(f"  {m.ts - t0:8.3f} {m.member:10} @{m.offset}")
        lines.append("  commits nearby:")
        for c in commits:
            if (c.topic, c.partition) == (topic, partition) and offset - 20 <= c.offset <= offset + 40:
                lines.append(f"  {c.ts - t0:8.3f} {c.source:10} @{c.offset}")
    return lines


def unowned_gaps(intervals, partitions, t_from, t_to):
    """(d): {tp: longest stretch in [t_from, t_to] during which no member owned
    it}, counted from the first time the partition was owned."""
    result = {}
    for tp in partitions:
        ivs = sorted((i.start, i.end) for i in intervals if (i.topic, i.partition) == tp)
        if not ivs:
            result[tp] = t_to - t_from
            continue
        longest = 0.0
        covered_to = max(t_from, ivs[0][0])
        for s, e in ivs:
            if s > covered_to and s > t_from:
                longest = max(longest, min(s, t_to) - covered_to)
            covered_to = max(covered_to, e)
            if covered_to >= t_to:
                break
        if covered_to < t_to:
            longest = max(longest, t_to - covered_to)
        result[tp] = longest
    return result


def consumption_gaps(messages, tps, t_from, t_to):
    """(e): {tp: longest gap between consecutive reads of tp around
    [t_from, t_to]} (the last read before t_from and the first after t_to
    included)."""
    result = {}
    for tp in tps:
        ts = [m.ts for m in messages if (m.topic, m.partition) == tp]
        before = [t for t in ts if t < t_from]
        after = [t for t in ts if t > t_to]
        inside = [t for t in ts if t_from <= t <= t_to]
        seq = ([before[-1]] if before else [t_from]) + inside + ([after[0]] if after else [t_to])
        result[tp] = max(b - a for a, b in zip(seq, seq[1:]))
    return result


def takeover_times(kill_ts, victim, victim_tps, events, messages):
    """(f): {tp: (seconds to another member's `assigned`, seconds to another
    member's first read)} after a kill -9 at kill_ts; None where it never happened."""
    result = {}
    for tp in victim_tps:
        assigned = next((e.ts - kill_ts for e in events
                         if e.ts >= kill_ts and e.member != victim and e.kind == "assigned" and tp in e.tps), None)
        read = next((m.ts - kill_ts for m in messages
                     if m.ts >= kill_ts and m.member != victim and (m.topic, m.partition) == tp), None)
        result[tp] = (assigned, read)
    return result
