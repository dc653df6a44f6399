#!/usr/bin/env python3
"""Self-test of group_harness.py's checks on hand-made logs (no broker): each
check passes a good log and fails a bad one (an overlap, a partition with two
owners, a member owning nothing, a missing message, a duplicate below the last
commit, an unowned stretch), and the kcat-line parser reads kcat's own
rebalance format. Run directly; exits 1 naming the first check that did not
behave."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import group_harness as gh  # noqa: E402

T = "t"
failures = []


def expect(cond, what):
    print(f"{'ok  ' if cond else 'FAIL'} {what}")
    if not cond:
        failures.append(what)


def ev(ts, member, kind, *parts):
    return gh.Event(ts, member, kind, tuple((T, p) for p in parts))


def msg(ts, member, p, o):
    return gh.Message(ts, member, T, p, o, f"n{o}")


def main():
    # The parser: kcat's exact lines (captured from kcat 1.7.1).
    log = gh.Log()
    log.line("k", "stderr", "% Group g1 rebalanced (memberid rdkafka-a8b3bcaf-58d7): assigned: "
             "kc-t1 [0], kc-t1 [1], kc-t1 [12]", 1.0)
    log.line("k", "stderr", "% Group g1 rebalanced (memberid rdkafka-a8b3bcaf-58d7): revoked: ", 2.0)
    log.line("k", "stderr", "% Committed kc-t1 [3] @ 17", 2.5)
    log.line("k", "stdout", "MSG kc-t1 3 16 n16", 3.0)
    log.line("k", "stderr", "% Reached end of topic kc-t1 [0] at offset 7", 3.5)
    log.line("k", "stderr", "% Waiting for group rebalance", 3.6)
    log.line("k", "stderr", "% Group g1 rebalanced: incremental assignment of 2 partition(s) (memberid "
             "rdkafka-1, COOPERATIVE rebalance protocol): kc-t1 [4], kc-t1 [5]", 4.0)
    log.line("k", "stderr", "% Group g1 rebalanced: incremental revoke of 1 partition(s) (memberid "
             "rdkafka-1, COOPERATIVE rebalance protocol): kc-t1 [4]", 5.0)
    log.line("k", "stderr", "% Group g1 rebalanced: incremental revoke of 1 partition(s) (memberid "
             "rdkafka-1, assignment lost, COOPERATIVE rebalance protocol): kc-t1 [5]", 6.0)
    events, messages, commits = log.snapshot()
    expect([e.kind for e in events[:2]] == ["assigned", "revoked"], "parser: assigned and revoked lines")
    expect([(e.kind, e.tps) for e in events[2:]] == [("assigned", (("kc-t1", 4), ("kc-t1", 5))),
                                                     ("revoked", (("kc-t1", 4),)), ("lost", (("kc-t1", 5),))],
           "parser: kcat's incremental (cooperative) lines")
    expect(events[0].tps == (("kc-t1", 0), ("kc-t1", 1), ("kc-t1", 12)), "parser: partition list")
    expect(events[1].tps == (), "parser: an empty list")
    expect(messages == [gh.Message(3.0, "k", "kc-t1", 3, 16, "n16")], "parser: a message line")
    expect(commits == [gh.Commit(2.5, "k", "kc-t1", 3, 17)], "parser: a commit line")
    expect(len(log.other["k"]) == 1 and "Waiting" in log.other["k"][0],
           "parser: other lines kept for the report, kcat's end-of-partition lines not")

    # (a) and (b): A owns 0,1 then hands 1 to B cleanly; C is killed.
    good = [ev(0, "A", "assigned", 0, 1), ev(5, "A", "revoked", 1), ev(5.2, "B", "assigned", 1),
            ev(6, "C", "assigned", 2), ev(7, "C", "killed"), ev(7.5, "C", "assigned", 3),
            ev(9, "B", "assigned", 2)]
    iv = gh.ownership_intervals(good, 20)
    problems, gap = gh.check_no_overlap(iv)
    expect(not problems and abs(gap - 0.2) < 1e-9, f"(b) a clean handover passes (gap {gap})")
    expect(not any(i.member == "C" and i.partition == 3 for i in iv), "(b) events after a kill are ignored")
    owners = gh.ownership_at(good)
    expect(gh.check_stable(owners, [(T, 0), (T, 1), (T, 2)], ["A", "B"]) == [], "(a) one owner each passes")
    expect(len(gh.check_stable(owners, [(T, 0), (T, 1), (T, 2), (T, 3)], ["A", "B"])) == 1,
           "(a) an unowned partition fails")
    expect(any("owns nothing" in p for p in gh.check_stable(owners, [(T, 0), (T, 1), (T, 2)], ["A", "B", "D"])),
           "(a) a member owning nothing fails")

    bad = good + [ev(5.1, "B", "assigned", 0)]  # B takes 0 while A still has it
    problems, _ = gh.check_no_overlap(gh.ownership_intervals(sorted(bad, key=lambda e: e.ts), 20))
    expect(len(problems) == 1 and "A and B" in problems[0], f"(b) an overlap is detected: {problems}")
    expect(len(gh.check_stable(gh.ownership_at(sorted(bad, key=lambda e: e.ts)), [(T, 0), (T, 1), (T, 2)],
                               ["A", "B"])) == 1, "(a) two owners fail")
    # A kill ends the interval at the kill time: B taking over after it is fine, before it is not.
    killed = [ev(0, "A", "assigned", 0), ev(3, "A", "killed"), ev(4, "B", "assigned", 0)]
    expect(not gh.check_no_overlap(gh.ownership_intervals(killed, 10))[0], "(b) takeover after kill -9 passes")
    near = [ev(0, "A", "assigned", 0), ev(3, "A", "revoked", 0), ev(2.99, "B", "assigned", 0)]
    problems, gap = gh.check_no_overlap(gh.ownership_intervals(sorted(near, key=lambda e: e.ts), 10))
    expect(not problems and abs(gap + 0.01) < 1e-9, f"(b) an overlap within the stamping tolerance passes ({gap})")
    problems, gap = gh.check_no_overlap(gh.ownership_intervals(sorted(near, key=lambda e: e.ts), 10), 0.0)
    expect(len(problems) == 1, "(b) ... and fails without it")
    early = [ev(0, "A", "assigned", 0), ev(2, "B", "assigned", 0), ev(3, "A", "killed")]
    expect(len(gh.check_no_overlap(gh.ownership_intervals(early, 10))[0]) == 1,
           "(b) takeover before the kill is an overlap")

    # (c): offsets 0..9 of partition 0 produced.
    produced = [(T, 0, o) for o in range(10)]
    iv = gh.ownership_intervals([ev(0, "A", "assigned", 0), ev(5, "A", "killed"), ev(6, "B", "assigned", 0)], 20)
    reads = [msg(1 + o * 0.1, "A", 0, o) for o in range(8)] + [msg(7 + o * 0.1, "B", 0, o) for o in range(4, 10)]
    commits = [gh.Commit(3, "group", T, 0, 4)]
    problems, n = gh.check_consumed(produced, reads, commits, iv)
    expect(not problems and n == {"missing": 0, "duplicates": 4, "bad_duplicates": 0},
           f"(c) duplicates at/after the last commit pass: {problems} {n}")
    problems, n = gh.check_consumed(produced, reads[:-1], commits, iv)
    expect(n["missing"] == 1 and "never read" in problems[0], f"(c) a missing message is detected: {problems}")
    late_commit = [gh.Commit(3, "group", T, 0, 6)]
    problems, n = gh.check_consumed(produced, reads, late_commit, iv)
    expect(n["bad_duplicates"] == 2, f"(c) a duplicate below the last commit is detected: {problems}")
    after = [gh.Commit(6.5, "group", T, 0, 6)]  # made after B's interval began: does not count
    expect(not gh.check_consumed(produced, reads, after, iv)[0], "(c) a commit after the takeover does not count")

    # (b') reads within ownership: A's reads end before its kill at 5, B's start after 6.
    expect(gh.check_reads_owned(reads, iv) == ([], 0), "(b') reads within ownership pass")
    problems, n = gh.check_reads_owned(reads + [msg(5.5, "A", 0, 8), msg(5.9, "B", 0, 3)], iv)
    expect(n == 2 and "A read t [0] @8" in problems[0], f"(b') reads outside ownership are detected: {problems}")

    # (d): partition 0 unowned 5..6 (kill to takeover), partition 1 never owned.
    gaps = gh.unowned_gaps(iv, [(T, 0), (T, 1)], 0, 20)
    expect(abs(gaps[(T, 0)] - 1.0) < 1e-9 and gaps[(T, 1)] == 20, f"(d) unowned stretches: {gaps}")
    gaps = gh.unowned_gaps(gh.ownership_intervals([ev(0, "A", "assigned", 0), ev(4, "A", "revoked", 0)], 20),
                           [(T, 0)], 0, 20)
    expect(gaps[(T, 0)] == 16, f"(d) unowned until the end: {gaps}")

    # (e) and (f)
    g = gh.consumption_gaps(reads, [(T, 0)], 4, 8)
    expect(abs(g[(T, 0)] - (7.4 - 1.7)) < 1e-9, f"(e) longest consumption gap: {g}")
    tk = gh.takeover_times(5, "A", [(T, 0), (T, 1)], [ev(6, "B", "assigned", 0)], reads)
    expect(tk[(T, 0)][0] == 1 and abs(tk[(T, 0)][1] - 2.4) < 1e-9 and tk[(T, 1)] == (None, None),
           f"(f) takeover times: {tk}")

    if failures:
        print(f"FAIL: {len(failures)} harness checks misbehaved: {failures}", file=sys.stderr)
        sys.exit(1)
    print("group harness self-test: every check passes good logs and fails bad ones")


if __name__ == "__main__":
    main()
