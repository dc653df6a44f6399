#!/usr/bin/env python3
"""Self-test of pipeline_checks.py (the pipeline acceptance tests' checks) on
hand-made data, no broker: each check passes good data and fails bad data
(a wrong count, an extra word, a missing output, a commit seen before its
input's output existed, outputs out of order or duplicated, a key out of
order, an output neither committed nor processed again, a dead letter with a
wrong header). Exits 1 naming each check that did not behave."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pipeline_checks as pc  # noqa: E402

failures = []


def expect(cond, what):
    print(f"{'ok  ' if cond else 'FAIL'} {what}")
    if not cond:
        failures.append(what)


def rec(p, o, key, value, ts=0, headers=()):
    return pc.OutRecord("out", p, o, key, value, list(headers), ts)


def inp(p, o, value, key=None):
    return pc.Input("in", p, o, key, value)


def main():
    expect(pc.words_of("The quick, the LAZY dog's 2nd") == ["the", "quick", "the", "lazy", "dog", "s", "2nd"],
           "words_of splits on non-alphanumerics and lower-cases")

    counts = [rec(0, 0, "the", "1"), rec(1, 0, "fox", "1"), rec(0, 1, "the", "2")]
    expect(not pc.check_counts({"the": 2, "fox": 1}, counts), "check_counts: right counts pass")
    expect(pc.check_counts({"the": 3, "fox": 1}, counts), "check_counts: a wrong last count fails")
    expect(pc.check_counts({"the": 2}, counts), "check_counts: a word the text lacks fails")
    expect(pc.check_counts({"the": 2, "fox": 1, "dog": 1}, counts), "check_counts: a missing word fails")

    inputs = [inp(0, 0, "n0"), inp(0, 1, "n1"), inp(1, 0, "n2")]
    outs = [rec(0, 0, None, "n0", 100), rec(0, 1, None, "n2", 110), rec(0, 2, None, "n1", 120)]
    expect(not pc.check_all_output(inputs, outs), "check_all_output: all present passes")
    expect(pc.check_all_output(inputs, outs[:2]), "check_all_output: a missing output fails")

    good_commits = [(125, "in", 0, 2), (115, "in", 1, 1)]
    expect(not pc.check_commits_covered(inputs, outs, good_commits), "check_commits_covered: commits after outputs")
    expect(pc.check_commits_covered(inputs, outs, [(115, "in", 0, 2)]),
           "check_commits_covered: a commit seen before its input's output was appended fails")
    expect(pc.check_commits_covered(inputs, outs[:2], [(200, "in", 0, 2)]),
           "check_commits_covered: a commit past an input without output fails")
    expect(not pc.check_commits_covered(inputs, outs[:2], [(200, "in", 0, 1)]),
           "check_commits_covered: a commit below the missing output passes")

    expect(not pc.check_sequence("p0", ["a", "b", "c"], ["a", "b", "c"]), "check_sequence: in order passes")
    expect(pc.check_sequence("p0", ["a", "c", "b"], ["a", "b", "c"]), "check_sequence: a swap fails")
    expect(pc.check_sequence("p0", ["a", "b", "b", "c"], ["a", "b", "c"]), "check_sequence: a duplicate fails")
    expect(pc.check_sequence("p0", ["a", "c"], ["a", "b", "c"]), "check_sequence: a loss fails")

    kin = [inp(0, 0, "v0", "k1"), inp(0, 1, "v1", "k2"), inp(0, 2, "v2", "k1")]
    expect(not pc.check_key_order(kin, [rec(1, 0, "k2", "v1"), rec(0, 0, "k1", "v0"), rec(0, 1, "k1", "v2")]),
           "check_key_order: per-key order with keys interleaved differently passes")
    expect(pc.check_key_order(kin, [rec(0, 0, "k1", "v2"), rec(0, 1, "k1", "v0"), rec(1, 0, "k2", "v1")]),
           "check_key_order: one key's outputs swapped fails")

    committed = {("in", 0): 1, ("in", 1): 0}
    problems, beyond = pc.check_committed_exact(inputs, [rec(0, 0, None, "n0")], [], committed)
    expect(not problems and not beyond, "check_committed_exact: committed exactly what was output passes")
    problems, _ = pc.check_committed_exact(inputs, [], [], committed)
    expect(problems, "check_committed_exact: a commit without output fails")
    run1 = [rec(0, 0, None, "n0"), rec(0, 1, None, "n1")]
    problems, beyond = pc.check_committed_exact(inputs, run1, [], committed)
    expect(problems and len(beyond) == 1, "check_committed_exact: an output beyond the commit, never redone, fails")
    problems, beyond = pc.check_committed_exact(inputs, run1, [rec(0, 5, None, "n1")], committed)
    expect(not problems and len(beyond) == 1, "check_committed_exact: an output beyond the commit, redone, passes")

    h = [("gregor.error", b"poison"), ("gregor.topic", b"in"), ("gregor.partition", b"0"),
         ("gregor.offset", b"7"), ("gregor.attempts", b"3")]
    dl = rec(0, 0, None, "x", 0, h)
    expect(not pc.check_dead_letter(dl, "in", 0, 7, 3), "check_dead_letter: the right headers pass")
    expect(pc.check_dead_letter(dl, "in", 0, 7, 2), "check_dead_letter: a wrong attempt count fails")
    expect(pc.check_dead_letter(rec(0, 0, None, "x", 0, h[1:]), "in", 0, 7, 3),
           "check_dead_letter: no gregor.error fails")

    if failures:
        print(f"FAIL: {len(failures)} checks misbehaved: {failures}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
