"""pipeline_harness.py — runs `gregor run` processes for the worker
framework's acceptance tests (test_pipeline_*.py, issue 10) against the
test bed's real brokers, and reads what they did with kafka-python.

  Run          one `gregor run FILE` process: its stderr read by a thread,
               each line stamped on receipt; the supervisor's lines parsed:
                 gregor run: N pipelines started: NAME, ...
                 gregor run: pipeline NAME: assigned|revoked|lost: t [0], ...
                 gregor run: stats NAME consumed=.. processed=.. ...
                 gregor run: stopped cleanly
               SIGTERM / SIGKILL, exit status, VmRSS from /proc.
  write_config a YAML file in the test's temporary directory.
  create_topic a topic with configs, through kafka-python's admin client.
  produce      messages through kafka-python (acks=all); the acknowledged
               (topic, partition, offset, key, value) come back.
  TopicReader  reads a topic from the beginning, up to its end at each
               call (kafka-python, no group): the outputs.
  committed    a group's committed offsets (kafka-python's admin client).
  CommitWatch  polls them from a thread, each change stamped with the wall
               clock after the answer came back (pipeline_checks).
  unique       topic and group names no other test or run shares.

The checks are in pipeline_checks.py (pure functions; self-tested).

Threads: a Run's reader thread appends to its own list under its lock;
CommitWatch's thread likewise. Everything else runs on the test's thread.
Test scripts call `require_run()` first: exit 77 (CTest: skipped, never
passed) when this gregor has no `run` command.
"""
import collections
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from group_harness import GroupOffsetsPoller, HarnessError  # noqa: E402
from pipeline_checks import Input, OutRecord  # noqa: E402

GREGOR_BIN = os.environ.get("GREGOR_BIN", "gregor")
SLEEP_PLUGIN = os.environ.get("GREGOR_TEST_SLEEP_PLUGIN", "")
CRASH_PLUGIN = os.environ.get("GREGOR_TEST_CRASH_PLUGIN", "")  # crash_pass (the swarm's tests)

STARTED_RE = re.compile(r"^gregor run: (\d+) pipelines? started: (.*)$")
REBALANCE_RE = re.compile(r"^gregor run: pipeline (\S+): (assigned|revoked|lost):\s*(.*)$")
STATS_RE = re.compile(r"^gregor run: stats (\S+) (.*)$")
STOPPED = "gregor run: stopped cleanly"
TP_RE = re.compile(r"(\S+) \[(\d+)\]")

SKIP = 77  # the tests' exit status when `gregor run` does not exist (SKIP_RETURN_CODE)


def require_run():
    """Exits 77 (skipped) unless GREGOR_BIN has a `run` command."""
    try:
        p = subprocess.run([GREGOR_BIN, "run", "--help"], capture_output=True, text=True, timeout=30)
    except OSError as e:
        print(f"SKIP: {GREGOR_BIN}: {e}", file=sys.stderr)
        sys.exit(SKIP)
    text = p.stdout + p.stderr
    if "unknown command 'run'" in text:
        print(f"SKIP: {GREGOR_BIN} has no `run` command yet: {text.strip()[:200]}", file=sys.stderr)
        sys.exit(SKIP)


def require_plugin():
    if not SLEEP_PLUGIN or not os.path.exists(SLEEP_PLUGIN):
        raise HarnessError(f"GREGOR_TEST_SLEEP_PLUGIN ({SLEEP_PLUGIN!r}) is not a built sleep_plugin.so")
    return SLEEP_PLUGIN


def require_crash_plugin():
    if not CRASH_PLUGIN or not os.path.exists(CRASH_PLUGIN):
        raise HarnessError(f"GREGOR_TEST_CRASH_PLUGIN ({CRASH_PLUGIN!r}) is not a built crash_plugin.so")
    return CRASH_PLUGIN


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def write_config(directory, name, text):
    path = os.path.join(directory, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def figure(name, value, unit=""):
    """Prints one figure of the test, as the group tests do."""
    if isinstance(value, float):
        value = f"{value:.3f}"
    print(f"figure {name} = {value}{' ' + unit if unit else ''}", flush=True)


def parse_tps(text):
    return tuple((t, int(p)) for t, p in TP_RE.findall(text))


# ---------------------------------------------------------------------------
# gregor run


class Run:
    """One `gregor run` process. Lines are (monotonic ts, text)."""

    def __init__(self, name, config, args=(), env=None):
        self.name, self.config = name, config
        self.argv = [GREGOR_BIN, "run", *args, config]
        full_env = dict(os.environ)
        full_env.update(env or {})
        self.lock = threading.Lock()
        self.lines = []
        self.owned = collections.defaultdict(set)  # pipeline -> {(topic, partition)}
        self.rebalances = []  # (ts, pipeline, kind, tps)
        self.stats = []  # (ts, pipeline, {counter: value})
        self.t_start = time.monotonic()
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, env=full_env, start_new_session=True)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for raw in iter(self.proc.stdout.readline, b""):
            ts = time.monotonic()
            text = raw.decode(errors="replace").rstrip("\r\n")
            with self.lock:
                self.lines.append((ts, text))
                m = REBALANCE_RE.match(text)
                if m:
                    tps = parse_tps(m[3])
                    self.rebalances.append((ts, m[1], m[2], tps))
                    if m[2] == "assigned":
                        self.owned[m[1]].update(tps)
                    else:
                        self.owned[m[1]].difference_update(tps)
                m = STATS_RE.match(text)
                if m:
                    counters = dict(kv.split("=", 1) for kv in m[2].split() if "=" in kv)
                    self.stats.append((ts, m[1], counters))

    # -- looking -----------------------------------------------------------

    def text(self):
        with self.lock:
            return "\n".join(t for _, t in self.lines)

    def find(self, pattern):
        """The first line matching `pattern` (a regex), or None."""
        rx = re.compile(pattern)
        with self.lock:
            for ts, t in self.lines:
                m = rx.search(t)
                if m:
                    return ts, m
        return None

    def alive(self):
        return self.proc.poll() is None

    def wait_for(self, pattern, timeout_s=60, what=None):
        """Waits for a line matching `pattern`; returns (ts, match).
        HarnessError (with the log's tail) when the process exits first or
        time runs out."""
        deadline = time.monotonic() + timeout_s
        while True:
            hit = self.find(pattern)
            if hit:
                return hit
            if not self.alive():
                self.reader.join(5)
                hit = self.find(pattern)
                if hit:
                    return hit
                raise HarnessError(f"{self.name}: exited {self.proc.returncode} before {what or pattern!r}:\n"
                                   f"{self.tail()}")
            if time.monotonic() > deadline:
                raise HarnessError(f"{self.name}: no {what or pattern!r} within {timeout_s} s:\n{self.tail()}")
            time.sleep(0.05)

    def wait_started(self, n_pipelines, timeout_s=60):
        """Waits for `gregor run: N pipelines started: ...` and checks N."""
        _, m = self.wait_for(STARTED_RE.pattern, timeout_s, "pipelines started")
        if int(m[1]) != n_pipelines:
            raise HarnessError(f"{self.name}: {m[0]!r}: expected {n_pipelines} pipelines")
        return m

    def wait_assigned(self, pipeline=None, timeout_s=60):
        """Waits for the first `assigned:` line (of `pipeline`, if given)."""
        who = re.escape(pipeline) if pipeline else r"\S+"
        return self.wait_for(rf"^gregor run: pipeline {who}: assigned:", timeout_s, f"{pipeline or ''} assigned")

    def ownership(self, pipeline):
        with self.lock:
            return set(self.owned[pipeline])

    def last_rebalance(self):
        with self.lock:
            return max((ts for ts, _, _, _ in self.rebalances), default=self.t_start)

    def last_stats(self, pipeline):
        with self.lock:
            for ts, name, counters in reversed(self.stats):
                if name == pipeline:
                    return counters
        return None

    def tail(self, n=40):
        with self.lock:
            return "\n".join(f"    {ts - self.t_start:8.3f} {t}" for ts, t in self.lines[-n:])

    def rss_kib(self):
        """VmRSS of the process in KiB (None once it is gone)."""
        try:
            with open(f"/proc/{self.proc.pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1])
        except OSError:
            return None
        return None

    # -- stopping ----------------------------------------------------------

    def signal(self, sig):
        if self.alive():
            self.proc.send_signal(sig)

    def wait_exit(self, timeout_s):
        """The exit status; HarnessError (after kill -9) past timeout_s."""
        try:
            self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()
            raise HarnessError(f"{self.name}: still running {timeout_s} s later; killed:\n{self.tail()}")
        self.reader.join(10)
        return self.proc.returncode

    def term(self, timeout_s=30):
        """SIGTERM; (exit status, seconds to exit)."""
        t0 = time.monotonic()
        self.signal(signal.SIGTERM)
        rc = self.wait_exit(timeout_s)
        return rc, time.monotonic() - t0

    def stop_cleanly(self, timeout_s=30):
        """SIGTERM; HarnessError unless it exits 0 saying `stopped cleanly`."""
        rc, took = self.term(timeout_s)
        if rc != 0 or STOPPED not in self.text():
            raise HarnessError(f"{self.name}: SIGTERM: exit status {rc} after {took:.1f} s, "
                               f"{'with' if STOPPED in self.text() else 'without'} '{STOPPED}':\n{self.tail()}")
        return took

    def kill(self):
        self.signal(signal.SIGKILL)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            pass
        self.reader.join(5)


def close_all(runs):
    """Kills whatever is still running (the end of a test, also on failure)."""
    for r in runs:
        if r.alive():
            r.kill()


def wait_stable(runs, pipelines_partitions, quiet_s=2.0, timeout_s=60):
    """Waits until, for each pipeline name -> set of (topic, partition), the
    running `runs` own those partitions exactly once between them, each run
    owns some, and no run printed a rebalance line for quiet_s."""
    deadline = time.monotonic() + timeout_s
    while True:
        problems = []
        for pipeline, parts in pipelines_partitions.items():
            owners = collections.Counter()
            for r in runs:
                own = r.ownership(pipeline)
                if not own:
                    problems.append(f"{r.name} owns nothing of {pipeline}")
                owners.update(own)
            if set(owners) != set(parts) or any(c != 1 for c in owners.values()):
                problems.append(f"{pipeline}: owners {dict(owners)}")
        dead = [r.name for r in runs if not r.alive()]
        if dead:
            raise HarnessError(f"exited while the groups were to settle: {dead}")
        last = max(r.last_rebalance() for r in runs)
        if not problems and time.monotonic() - last >= quiet_s:
            return
        if time.monotonic() > deadline:
            raise HarnessError(f"no stable assignment within {timeout_s} s: {'; '.join(problems) or 'rebalancing'}")
        time.sleep(0.1)


# ---------------------------------------------------------------------------
# Topics, inputs, outputs, offsets


def create_topic(bootstrap, topic, partitions, replication=1, *configs):
    """Creates `topic` (configs: "key=value" each) and waits until its
    partitions have leaders. kafka-python's admin client (0.1 s), not
    scripts/kafka-dev create-topic (a JVM: 3-4 s a topic), for the CI budget."""
    from kafka.admin import NewTopic
    a = admin(bootstrap)
    try:
        a.create_topics([NewTopic(topic, partitions, replication,
                                  topic_configs=dict(c.split("=", 1) for c in configs))])
        a.wait_for_topics([topic], timeout_ms=30000)
    except Exception as e:
        raise HarnessError(f"creating topic {topic}: {e!r}") from e
    finally:
        a.close()


def produce(bootstrap, topic, messages):
    """messages: (partition or None, key or None, value) each (str). Waits for
    every acknowledgement; the acknowledged Inputs in the order given."""
    from kafka import KafkaProducer
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5, retries=5,
                             max_in_flight_requests_per_connection=1)
    try:
        futures = [producer.send(topic, key=None if k is None else k.encode(), value=v.encode(), partition=p)
                   for p, k, v in messages]
        producer.flush(timeout=60)
        out = []
        for (p, k, v), f in zip(messages, futures):
            md = f.get(timeout=60)
            out.append(Input(md.topic, md.partition, md.offset, k, v))
        return out
    finally:
        producer.close(timeout=10)


class TopicReader:
    """Reads every partition of `topic` from the beginning; read() returns
    everything read so far, after catching up with the end offsets of the
    moment."""

    def __init__(self, bootstrap, topic, timeout_s=30):
        from kafka import KafkaConsumer, TopicPartition
        self.topic = topic
        self.consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None,
                                      auto_offset_reset="earliest", consumer_timeout_ms=1000)
        deadline = time.monotonic() + timeout_s
        parts = None
        while not parts:
            parts = self.consumer.partitions_for_topic(topic)
            if not parts:
                if time.monotonic() > deadline:
                    raise HarnessError(f"topic {topic}: no partitions within {timeout_s} s")
                time.sleep(0.2)
        self.tps = [TopicPartition(topic, p) for p in sorted(parts)]
        self.consumer.assign(self.tps)
        self.consumer.seek_to_beginning(*self.tps)
        self.records = []

    def read(self, timeout_s=30):
        ends = self.consumer.end_offsets(self.tps)
        deadline = time.monotonic() + timeout_s
        while any(self.consumer.position(tp) < ends[tp] for tp in self.tps):
            if time.monotonic() > deadline:
                raise HarnessError(f"topic {self.topic}: could not read up to {ends} within {timeout_s} s")
            for tp, recs in self.consumer.poll(timeout_ms=200).items():
                for r in recs:
                    self.records.append(OutRecord(
                        r.topic, r.partition, r.offset, None if r.key is None else r.key.decode(errors="replace"),
                        None if r.value is None else r.value.decode(errors="replace"), list(r.headers or ()),
                        r.timestamp))
        return list(self.records)

    def wait(self, pred, timeout_s, what):
        """Reads until pred(records) holds; the records then. HarnessError
        after timeout_s."""
        deadline = time.monotonic() + timeout_s
        while True:
            records = self.read()
            if pred(records):
                return records
            if time.monotonic() > deadline:
                raise HarnessError(f"topic {self.topic}: {what} not within {timeout_s} s ({len(records)} records)")
            time.sleep(0.2)

    def close(self):
        self.consumer.close()


def admin(bootstrap):
    from kafka.admin import KafkaAdminClient
    return KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10000)


def committed(bootstrap, group, timeout_s=30):
    """{(topic, partition): offset} the group has committed (empty if none).
    Retries while the coordinator is not available (a fresh cluster creates
    its offsets topic on the first FindCoordinator; a broker restarting)."""
    from kafka.errors import KafkaError
    deadline = time.monotonic() + timeout_s
    a = admin(bootstrap)
    try:
        while True:
            try:
                offsets = a.list_group_offsets({group: None}).get(group, {})
                return {(tp.topic, tp.partition): om.offset for tp, om in offsets.items() if om.offset >= 0}
            except KafkaError as e:
                if not getattr(e, "retriable", False) or time.monotonic() > deadline:
                    raise HarnessError(f"committed offsets of group {group}: {e!r}") from e
                time.sleep(0.5)
    finally:
        a.close()


def group_exists(bootstrap, group):
    """True if the cluster lists the group (any member ever joined or committed)."""
    a = admin(bootstrap)
    try:
        listed = a.list_groups()
        names = [g["group_id"] if isinstance(g, dict) else g[0] if isinstance(g, tuple) else g for g in listed]
        return group in names
    finally:
        a.close()


def coordinator(bootstrap, group):
    """The node id of `group`'s coordinator (FindCoordinator)."""
    a = admin(bootstrap)
    try:
        return a._manager.run(a._find_coordinator_id, group)
    finally:
        a.close()


class CommitWatch:
    """The group's committed offsets, polled every period_s by group_harness's
    GroupOffsetsPoller (its thread calls commit() on each change), each
    change kept as (wall_ms, topic, partition, offset): the wall clock read
    after the answer came back, so never before the commit itself."""

    def __init__(self, bootstrap, group, period_s=0.2):
        self.lock = threading.Lock()
        self.changes = []
        self.last = {}
        self.poller = GroupOffsetsPoller(self, bootstrap, group, period_s)

    def commit(self, source, topic, partition, offset, ts=None):
        wall_ms = int(time.time() * 1000)
        with self.lock:
            self.last[(topic, partition)] = offset
            self.changes.append((wall_ms, topic, partition, offset))

    @property
    def errors(self):
        return self.poller.errors

    @property
    def last_error(self):
        return self.poller.last_error

    def snapshot(self):
        with self.lock:
            return list(self.changes), dict(self.last)

    def stop(self):
        self.poller.stop()


def finish(problems, runs=()):
    """Prints the problems (and each run's log tail) and exits 1, or says ok."""
    if problems:
        for r in runs:
            print(f"---- {r.name}: {' '.join(r.argv)} (exit {r.proc.returncode}) ----\n{r.tail(60)}",
                  file=sys.stderr)
        for p in problems[:40]:
            print(f"FAIL: {p}", file=sys.stderr)
        if len(problems) > 40:
            print(f"FAIL: ... and {len(problems) - 40} more", file=sys.stderr)
        sys.exit(1)
    print("ok", flush=True)
