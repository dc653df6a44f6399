#!/usr/bin/env python3
"""The metrics endpoint (issue 11, acceptance), on the 1-node cluster
(GREGOR_TEST_KAFKA1): one `gregor run --metrics-port PORT` of a file with
two pipelines, `passthrough` (copy) and `flaky` (params word: poison, mode
retry; retry.max_attempts 3; a dead-letter topic), 3 input partitions each.

Checks:
  - /ready answers 503 before the pipelines have their assignments and 200
    after; at the first 200 every pipeline owns its 3 partitions (the
    scrape says so); /healthz 200; an unknown path 404;
  - after a known input (passthrough: 30 messages; flaky: 20, 2 of them
    poison) is processed and committed, a scrape of /metrics equals what
    the test counted: consumed, processed, emitted, retried (2 per poison
    message), failed (3 each), dead-lettered, and per partition the
    committed offset (the group's, read with kafka-python) and lag 0;
  - the scrape passes `promtool check metrics` (Prometheus's own checker;
    scripts/setup installs it: its absence fails the test) and a small
    parser of the text format here (HELP/TYPE before samples, one TYPE per
    family, label syntax and escapes, no duplicate series, counters named
    *_total, histogram buckets cumulative and ending with +Inf = _count);
  - a second `gregor run` on the same port exits 1 at once, naming the
    address, the port and the reason, having started nothing;
  - --stats-interval 1 prints a line per pipeline with the same counts,
    the rates and lag 0.
"""
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pipeline_harness as ph  # noqa: E402

BOOTSTRAP = os.environ["GREGOR_TEST_KAFKA1"]
PARTITIONS = 3
ATTEMPTS = 3


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(port, path, timeout_s=5):
    """(status, body) of GET http://127.0.0.1:port/path; (None, why) when
    nothing answers."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout_s) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except (urllib.error.URLError, ConnectionError, socket.timeout) as e:
        return None, repr(e)


# -- a tiny parser of the text exposition format 0.0.4 ------------------------

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
SAMPLE_RE = re.compile(rf"^({NAME})(?:\{{(.*)\}})? (\S+)$")
LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\["\\n])*)"(,|$)')
SUFFIXES = {"histogram": ("_bucket", "_sum", "_count"), "summary": ("_sum", "_count", ""),
            "counter": ("",), "gauge": ("",)}


def unescape(v):
    return re.sub(r'\\(["\\n])', lambda m: "\n" if m[1] == "n" else m[1], v)


def parse_labels(text, problems, line):
    labels, pos = {}, 0
    while pos < len(text):
        m = LABEL_RE.match(text, pos)
        if not m:
            problems.append(f"bad labels at {text[pos:]!r} in: {line}")
            return labels
        if m[1] in labels:
            problems.append(f"label {m[1]} twice in: {line}")
        labels[m[1]] = unescape(m[2])
        pos = m.end()
    return labels


def parse(text):
    """{(name, frozenset(labels)): value}, {family: type}, problems."""
    samples, types, helps, problems = {}, {}, set(), []
    seen_families = []
    if not text.endswith("\n"):
        problems.append("the text does not end with a newline")
    for line in text.splitlines():
        if line.startswith("# HELP "):
            fam = line.split(" ", 3)[2]
            if fam in helps:
                problems.append(f"second HELP for {fam}")
            helps.add(fam)
            continue
        if line.startswith("# TYPE "):
            parts = line.split(" ")
            if len(parts) != 4 or parts[3] not in SUFFIXES:
                problems.append(f"bad TYPE line: {line}")
                continue
            if parts[2] in types:
                problems.append(f"second TYPE for {parts[2]}")
            types[parts[2]] = parts[3]
            seen_families.append(parts[2])
            continue
        if not line or line.startswith("#"):
            continue
        m = SAMPLE_RE.match(line)
        if not m:
            problems.append(f"not a sample line: {line}")
            continue
        name, value = m[1], m[3]
        fam = seen_families[-1] if seen_families else None
        if fam is None or not any(name == fam + s for s in SUFFIXES[types[fam]]):
            problems.append(f"sample {name} is not in the family declared before it ({fam})")
        try:
            v = float(value)
        except ValueError:
            problems.append(f"bad value in: {line}")
            continue
        labels = frozenset(parse_labels(m[2] or "", problems, line).items())
        if (name, labels) in samples:
            problems.append(f"duplicate series: {line}")
        samples[(name, labels)] = v
    for fam, t in types.items():
        if t == "counter" and not fam.endswith("_total"):
            problems.append(f"counter {fam} is not named *_total")
        if fam not in helps:
            problems.append(f"no HELP for {fam}")
    check_histograms(samples, types, problems)
    return samples, types, problems


def check_histograms(samples, types, problems):
    for fam, t in types.items():
        if t != "histogram":
            continue
        series = {}
        for (name, labels), v in samples.items():
            if name == fam + "_bucket":
                d = dict(labels)
                le = d.pop("le")
                series.setdefault(frozenset(d.items()), []).append((float(le), v))
        for labels, buckets in series.items():
            buckets.sort()
            counts = [v for _, v in buckets]
            if counts != sorted(counts):
                problems.append(f"{fam}{dict(labels)}: buckets not cumulative: {buckets}")
            if buckets[-1][0] != float("inf"):
                problems.append(f"{fam}{dict(labels)}: no +Inf bucket")
            count = samples.get((fam + "_count", labels))
            if count != buckets[-1][1]:
                problems.append(f"{fam}{dict(labels)}: _count {count} != +Inf bucket {buckets[-1][1]}")


def value(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())))


# -- the test -----------------------------------------------------------------

def main():
    ph.require_run()
    promtool = shutil.which("promtool")
    tag = ph.unique("metrics")
    t_in, t_out = f"pin-{tag}", f"pout-{tag}"
    f_in, f_out, f_dlq = f"fin-{tag}", f"fout-{tag}", f"fdlq-{tag}"
    g_copy, g_flaky = f"gc-{tag}", f"gf-{tag}"
    for t in (t_in, t_out, f_in, f_out):
        ph.create_topic(BOOTSTRAP, t, PARTITIONS)
    ph.create_topic(BOOTSTRAP, f_dlq, 1)
    port = free_port()
    problems, runs, readers = [], [], []
    if not promtool:
        problems.append("promtool is not on PATH (scripts/setup installs the Debian package prometheus)")
    with tempfile.TemporaryDirectory(prefix="gregor-metrics-") as tmp:
        path = ph.write_config(tmp, "metrics.yaml", f"""\
cluster:
  bootstrap: ["{BOOTSTRAP}"]
pipelines:
  - name: copy
    group: {g_copy}
    topics: [{t_in}]
    handler: passthrough
    threads: 2
    outputs: [ {{ name: out, topic: {t_out}, partition: input }} ]
    commit_interval_ms: 200
    consumer: {{ auto_offset_reset: earliest, fetch_max_wait_ms: 100 }}
  - name: flaky
    group: {g_flaky}
    topics: [{f_in}]
    handler: flaky
    params: {{ word: poison, mode: retry }}
    threads: 2
    outputs: [ {{ name: out, topic: {f_out}, partition: input }} ]
    retry: {{ max_attempts: {ATTEMPTS}, backoff_ms: 50, max_backoff_ms: 50 }}
    dead_letter: {f_dlq}
    commit_interval_ms: 200
    consumer: {{ auto_offset_reset: earliest, fetch_max_wait_ms: 100 }}
""")
        try:
            r = ph.Run("metrics", path, args=["--metrics-port", str(port), "--metrics-bind", "127.0.0.1",
                                              "--stats-interval", "1"])
            runs.append(r)
            check_ready(r, port, problems)
            check_paths(port, problems)
            check_port_in_use(path, port, problems)

            copy_in = ph.produce(BOOTSTRAP, t_in, [(i % PARTITIONS, f"k{i}", f"copy-{i}") for i in range(30)])
            flaky_in = ph.produce(BOOTSTRAP, f_in, [(i % PARTITIONS, f"k{i}", f"poison-{i}" if i in (4, 11) else
                                                     f"fine-{i}") for i in range(20)])
            readers += [ph.TopicReader(BOOTSTRAP, t_out), ph.TopicReader(BOOTSTRAP, f_out),
                        ph.TopicReader(BOOTSTRAP, f_dlq)]
            readers[0].wait(lambda recs: len(recs) >= 30, 60, "the 30 copies")
            readers[1].wait(lambda recs: len(recs) >= 18, 60, "the 18 good flaky outputs")
            readers[2].wait(lambda recs: len(recs) >= 2, 60, "the 2 dead letters")
            ends = {}
            for i in copy_in + flaky_in:
                ends[(i.topic, i.partition)] = max(ends.get((i.topic, i.partition), 0), i.offset + 1)
            want_committed = wait_committed(g_copy, g_flaky, ends)
            text = scrape_until_committed(port, want_committed, tag)
            check_scrape(text, want_committed, g_copy, g_flaky, problems)
            check_stats_lines(r, problems)
            if promtool:
                p = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True,
                                   timeout=60)
                if p.returncode != 0:
                    problems.append(f"promtool check metrics: exit {p.returncode}: {(p.stdout + p.stderr)[:2000]}")
                ph.figure("promtool", "ok" if p.returncode == 0 else "failed")
            ph.figure("scrape_bytes", len(text))
            ph.figure("stop", r.stop_cleanly(timeout_s=30), "s")
        except ph.HarnessError as e:
            problems.append(str(e))
        finally:
            for rd in readers:
                rd.close()
            ph.close_all(runs)
    ph.finish(problems, runs)


def check_ready(r, port, problems):
    """503 before the assignments, 200 after, with every partition owned."""
    answers = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status, _ = get(port, "/ready", timeout_s=2)
        if status is not None and (not answers or answers[-1] != status):
            answers.append(status)
        if status == 200:
            break
        if not r.alive():
            raise ph.HarnessError(f"gregor run exited before it was ready:\n{r.tail()}")
        time.sleep(0.02)
    ph.figure("ready_answers", answers)
    if not answers or answers[0] != 503:
        problems.append(f"/ready did not answer 503 first (answers {answers})")
    if not answers or answers[-1] != 200:
        problems.append(f"/ready never answered 200 (answers {answers})")
        return
    status, text = get(port, "/metrics")
    samples, _, _ = parse(text)
    for pipeline in ("copy", "flaky"):
        owned = [v for (n, labels), v in samples.items()
                 if n == "gregor_pipeline_partitions" and ("pipeline", pipeline) in labels]
        if owned != [PARTITIONS]:
            problems.append(f"at the first 200 of /ready, {pipeline} owns {owned} partitions, not {PARTITIONS}")
    if value(samples, "gregor_ready") != 1:
        problems.append(f"gregor_ready is {value(samples, 'gregor_ready')} once /ready is 200")


def check_paths(port, problems):
    for path, want in (("/healthz", 200), ("/nowhere", 404), ("/metrics/x", 404)):
        status, body = get(port, path)
        if status != want:
            problems.append(f"GET {path}: {status} ({body[:100]!r}), not {want}")


def check_port_in_use(path, port, problems):
    p = subprocess.run([ph.GREGOR_BIN, "run", "--metrics-port", str(port), "--metrics-bind", "127.0.0.1", path],
                       capture_output=True, text=True, timeout=60)
    err = p.stdout + p.stderr
    ph.figure("port_in_use_exit", p.returncode)
    if p.returncode != 1:
        problems.append(f"a second run on port {port}: exit {p.returncode}, not 1: {err[:500]}")
    for want in (f"127.0.0.1 port {port}", "Address already in use", "nothing was started"):
        if want not in err:
            problems.append(f"a second run on port {port}: no {want!r} in: {err[:500]}")
    if "pipeline" in err and "started:" in err:
        problems.append(f"a second run on port {port} started pipelines: {err[:500]}")


def check_stats_lines(r, problems, timeout_s=5):
    """--stats-interval 1: a line per pipeline with the counts, rates and lag."""
    want = {"copy": {"consumed": "30", "emitted": "30", "lag": "0"},
            "flaky": {"consumed": "20", "retried": "4", "dead_lettered": "2", "failed": "6", "lag": "0"}}
    deadline = time.monotonic() + timeout_s
    while True:
        missing = []
        for pipeline, fields in want.items():
            last = r.last_stats(pipeline) or {}
            missing += [f"{pipeline} {k}={v} (got {last.get(k)})" for k, v in fields.items() if last.get(k) != v]
            missing += [f"{pipeline} {k}" for k in ("consumed/s", "processed/s", "emitted/s") if k not in last]
        if not missing:
            return
        if time.monotonic() > deadline:
            problems.append(f"stats lines: {'; '.join(missing)}")
            return
        time.sleep(0.2)


def wait_committed(g_copy, g_flaky, ends, timeout_s=60):
    """The groups' committed offsets once they reach the log ends."""
    deadline = time.monotonic() + timeout_s
    while True:
        got = {**ph.committed(BOOTSTRAP, g_copy), **ph.committed(BOOTSTRAP, g_flaky)}
        if all(got.get(tp) == end for tp, end in ends.items()):
            return got
        if time.monotonic() > deadline:
            raise ph.HarnessError(f"committed offsets {got} did not reach the log ends {ends} in {timeout_s} s")
        time.sleep(0.2)


def scrape_until_committed(port, want, tag, timeout_s=10):
    """A scrape whose committed offsets are those of the group (the commit's
    answer reaches the process a moment after the broker stored it)."""
    deadline = time.monotonic() + timeout_s
    while True:
        status, text = get(port, "/metrics")
        if status != 200:
            raise ph.HarnessError(f"GET /metrics: {status}: {text[:300]}")
        samples, _, _ = parse(text)
        have = {(dict(labels)["topic"], int(dict(labels)["partition"])): v
                for (n, labels), v in samples.items() if n == "gregor_partition_committed_offset"}
        if all(have.get(tp) == off for tp, off in want.items()) or time.monotonic() > deadline:
            return text
        time.sleep(0.2)


def check_scrape(text, want_committed, g_copy, g_flaky, problems):
    samples, types, parse_problems = parse(text)
    problems += [f"parser: {p}" for p in parse_problems]
    n_poison, n_flaky, n_copy = 2, 20, 30
    expect = {
        ("copy", g_copy): {"consumed": n_copy, "processed": n_copy, "emitted": n_copy, "retried": 0,
                           "failed": 0, "dead_lettered": 0, "delivered": n_copy},
        ("flaky", g_flaky): {"consumed": n_flaky, "processed": n_flaky - n_poison, "emitted": n_flaky - n_poison,
                             "retried": n_poison * (ATTEMPTS - 1), "failed": n_poison * ATTEMPTS,
                             "dead_lettered": n_poison, "delivered": n_flaky},  # outputs and dead letters
    }
    for (pipeline, group), counters in expect.items():
        for counter, want in counters.items():
            got = value(samples, f"gregor_pipeline_{counter}_total", pipeline=pipeline, group=group)
            ph.figure(f"{pipeline}_{counter}", got)
            if got != want:
                problems.append(f"{pipeline}: gregor_pipeline_{counter}_total is {got}, the test counted {want}")
        commits = value(samples, "gregor_pipeline_commits_total", pipeline=pipeline, group=group)
        if not commits:
            problems.append(f"{pipeline}: gregor_pipeline_commits_total is {commits}")
        hist = value(samples, "gregor_pipeline_handler_seconds_count", pipeline=pipeline, group=group)
        calls = counters["processed"] + counters["failed"]
        if hist != calls:
            problems.append(f"{pipeline}: {hist} handler calls in the histogram, {calls} expected")
    for (topic, partition), off in want_committed.items():
        pipeline, group = ("copy", g_copy) if topic.startswith("pin-") else ("flaky", g_flaky)
        labels = dict(pipeline=pipeline, group=group, topic=topic, partition=str(partition))
        got = value(samples, "gregor_partition_committed_offset", **labels)
        if got != off:
            problems.append(f"{topic} [{partition}]: committed offset {got} in /metrics, the group has {off}")
        lag = value(samples, "gregor_partition_lag", **labels)
        if lag != 0:
            problems.append(f"{topic} [{partition}]: lag {lag} once everything is committed")
    for fam in ("gregor_producer_delivered_total", "gregor_broker_requests_total", "gregor_broker_rtt_seconds"):
        if fam not in types:
            problems.append(f"no {fam} family")
    delivered = value(samples, "gregor_producer_delivered_total", producer="default")
    if delivered != n_copy + n_flaky:
        problems.append(f"producer default delivered {delivered}, not {n_copy + n_flaky} (outputs and dead letters)")


if __name__ == "__main__":
    main()
