"""pipeline_checks.py — the checks of the worker framework's acceptance tests
(test_pipeline_*.py), as pure functions of what the tests collected, so that
pipeline_checks_selftest.py can feed them hand-made data: each returns a list
of problems (empty when the check holds), never raises on bad data.

Records are OutRecord(topic, partition, offset, key, value, headers,
timestamp_ms) as read back from a topic (pipeline_harness.TopicReader);
keys and values are str (utf-8, None for null), headers a list of
(name, bytes) pairs.
"""
import collections
import re

OutRecord = collections.namedtuple("OutRecord", "topic partition offset key value headers timestamp_ms")

# An input message of the tests, as acknowledged by the brokers.
Input = collections.namedtuple("Input", "topic partition offset key value")


def words_of(text):
    """The words split_words emits: maximal runs of ASCII letters and digits,
    lower-cased."""
    return [w.lower() for w in re.findall(r"[A-Za-z0-9]+", text)]


def last_per_key(records):
    """{key: value of the key's last record} in offset order per partition
    (a key's records are in one partition when the output routes by key)."""
    last = {}
    for r in sorted(records, key=lambda r: (r.partition, r.offset)):
        last[r.key] = r.value
    return last


def check_counts(expected, records):
    """expected: {word: count}; records: the counts topic. The last value per
    key must be the word's count in decimal, for exactly the expected words."""
    problems = []
    last = last_per_key(records)
    for word, n in sorted(expected.items()):
        got = last.get(word)
        if got != str(n):
            problems.append(f"count of {word!r}: last value {got!r}, expected '{n}'")
    extra = sorted(set(last) - set(expected), key=str)
    if extra:
        problems.append(f"{len(extra)} keys in the counts that the text does not have: {extra[:10]}")
    return problems


def check_all_output(inputs, outputs):
    """Every input's value appears among the outputs' values (at least once)."""
    seen = {r.value for r in outputs}
    missing = [i for i in inputs if i.value not in seen]
    if not missing:
        return []
    return [f"{len(missing)} of {len(inputs)} inputs have no output, e.g. " +
            ", ".join(f"{i.topic} [{i.partition}] @ {i.offset} ({i.value})" for i in missing[:10])]


def check_commits_covered(inputs, outputs, commits, tolerance_ms=1):
    """At-least-once, seen from outside: whenever a committed offset C of a
    partition was observed (commits: (wall_ms, topic, partition, C), the
    wall clock read after the offsets came back), every input of that
    partition below C already had its output in the output topic, appended
    (the output topic's LogAppendTime, records' timestamp_ms) no later than
    the observation. An input committed before its output existed is the
    at-least-once violation this finds."""
    first_out = {}
    for r in outputs:
        if r.value not in first_out or r.timestamp_ms < first_out[r.value]:
            first_out[r.value] = r.timestamp_ms
    by_tp = collections.defaultdict(list)
    for i in inputs:
        by_tp[(i.topic, i.partition)].append(i)
    problems = []
    for wall_ms, topic, partition, committed in commits:
        for i in by_tp.get((topic, partition), ()):
            if i.offset >= committed:
                continue
            ts = first_out.get(i.value)
            if ts is None:
                problems.append(f"{topic} [{partition}] committed at {committed} (seen at {wall_ms}) but input "
                                f"@ {i.offset} ({i.value}) has no output at all")
            elif ts > wall_ms + tolerance_ms:
                problems.append(f"{topic} [{partition}] committed at {committed} (seen at {wall_ms}) before the "
                                f"output of input @ {i.offset} ({i.value}) was appended (at {ts})")
    return problems


def check_sequence(name, got, expected):
    """The outputs of one partition (or key) are exactly the inputs, in
    input order: no loss, no duplicate, no reordering."""
    if list(got) == list(expected):
        return []
    pos = {v: n for n, v in enumerate(expected)}
    dup = [v for v, c in collections.Counter(got).items() if c > 1]
    missing = [v for v in expected if v not in set(got)]
    inversions = [(a, b) for a, b in zip(got, got[1:]) if a in pos and b in pos and pos[a] > pos[b]]
    return [f"{name}: {len(got)} outputs for {len(expected)} inputs: {len(inversions)} out of order "
            f"(e.g. {inversions[:3]}), {len(dup)} duplicated (e.g. {dup[:3]}), {len(missing)} missing "
            f"(e.g. {missing[:3]})"]


def check_key_order(inputs, outputs):
    """Per key, the outputs' values are the inputs' values in input order."""
    want = collections.defaultdict(list)
    for i in sorted(inputs, key=lambda i: (i.partition, i.offset)):
        want[i.key].append(i.value)
    got = collections.defaultdict(list)
    for r in sorted(outputs, key=lambda r: (r.partition, r.offset)):
        got[r.key].append(r.value)
    problems = []
    for key in sorted(set(want) | set(got), key=str):
        problems += check_sequence(f"key {key!r}", got.get(key, []), want.get(key, []))
    return problems


def check_committed_exact(inputs, outputs_run1, outputs_later, committed):
    """After a graceful stop: every input below its partition's committed
    offset has an output from that run (nothing committed without output),
    and every output of that run whose input is at or above the committed
    offset was processed again later (outputs_later). Returns (problems,
    beyond) where beyond lists the inputs processed but not committed."""
    out1 = {r.value for r in outputs_run1}
    later = collections.Counter(r.value for r in outputs_later)
    problems, beyond = [], []
    for i in inputs:
        c = committed.get((i.topic, i.partition), 0)
        if i.offset < c and i.value not in out1:
            problems.append(f"{i.topic} [{i.partition}] committed at {c} but input @ {i.offset} ({i.value}) "
                            f"had no output before the stop")
        elif i.offset >= c and i.value in out1:
            beyond.append(i)
            if not later[i.value]:
                problems.append(f"{i.topic} [{i.partition}] input @ {i.offset} ({i.value}) was output before "
                                f"the stop but not committed (committed {c}), and not processed again after it")
    return problems, beyond


def header(record, name):
    """The value (str) of the record's first header `name`, or None."""
    for k, v in record.headers or ():
        if k == name:
            return v.decode(errors="replace") if v is not None else None
    return None


def check_dead_letter(record, topic, partition, offset, attempts):
    """The dead-letter record carries where it came from and why."""
    problems = []
    for name, want in (("gregor.topic", topic), ("gregor.partition", str(partition)),
                       ("gregor.offset", str(offset)), ("gregor.attempts", str(attempts))):
        got = header(record, name)
        if got != want:
            problems.append(f"dead letter header {name} is {got!r}, expected {want!r}")
    if not header(record, "gregor.error"):
        problems.append(f"dead letter header gregor.error is missing or empty (headers: {record.headers})")
    return problems
