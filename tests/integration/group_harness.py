"""group_harness.py — consumer group interop and churn harness (issue 9).

Runs consumer group members of several kinds as subprocesses against the
test bed's real brokers and checks, from the outside, who owned which
partition when and what each member read:

  kind    program                                    protocols
  kcat    kcat -G (librdkafka)                       classic
  kpy     members/kpy_member.py (kafka-python)       classic
  java    members/JavaMember.java (kafka-clients     classic, consumer (KIP-848)
          of the test bed's 4.x jars, compiled into
          the build directory once, at test time)
  gregor  $GREGOR_BIN consume -G                     classic, consumer

Every member speaks kcat's lines, so one reader serves all:
  stdout  MSG <topic> <partition> <offset> <value>      (kcat -f 'MSG %t %p %o %s\\n')
  stderr  % Group G rebalanced (memberid M): assigned: t [0], t [1]
          % Group G rebalanced (memberid M): revoked: t [0], ...   (and lost:)
          % Committed t [p] @ offset                    (kpy and java; optional)
Other lines are kept (the last 40 per member) for the failure report.

The event model. Reader threads (one per pipe) stamp each line on receipt
with time.monotonic() and append it to the Log:
  Event(ts, member, kind, tps)   kind: started, assigned, revoked, lost,
                                 killed (stamped just before SIGKILL),
                                 stopping (SIGTERM/SIGINT sent), exited
  Message(ts, member, topic, partition, offset, value)
  Commit(ts, source, topic, partition, offset)
      source: a member's name (its own `% Committed` line), or "group" for
      the committed offsets the harness polls every 0.5 s from the group
      coordinator (the only commit record for kcat and gregor members).
kcat's cooperative rebalance lines (`% Group G rebalanced: incremental
assignment|revoke of N partition(s) (memberid M[, assignment lost], ...):
t [0], ...`) are read too.
Stamps are taken after the fact, never before it: a line is read after it
was written. The checks below are written so that this lag only loosens
them (a commit seen late allows fewer duplicates, never more).

Ownership intervals (ownership_intervals): for each (member, partition), from
its `assigned` event to its `revoked`/`lost` event, or to its death (the
kill time for kill -9, the exit for a process that ended without revoking);
events a member prints after its death marker are ignored.

Checks (group_checks.py: pure functions of the logs, each returning a list
of problems so that the self-test can feed them hand-made logs; re-exported
here):
  (a) check_stable          at a quiet moment every partition has exactly one
                            owner and every member owns something
  (b) check_no_overlap      no two members' intervals overlap on a partition
      check_reads_owned     no member reads a partition outside its intervals
  (c) check_consumed        every acknowledged produced message was read;
                            duplicates only at or after the partition's last
                            commit before the re-reader's interval began
  (d) unowned_gaps          longest time a partition had no owner
  (e) consumption_gaps      longest gap in consumption of given partitions
  (f) takeover_times        kill -9 to the dead member's partitions being
                            read (and assigned) elsewhere

Threads: the Log is shared by the reader, producer and poller threads (one
lock); everything else runs on the test's thread. Nothing here outlives
Harness.close(), which stops (SIGTERM, then SIGKILL after a bound) every
member still running.
"""
import collections
import fcntl
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from group_checks import (  # noqa: E402,F401 (the tests use them through this module)
    STAMP_TOLERANCE_S, Commit, Event, Interval, Message, check_consumed, check_no_overlap, check_reads_owned,
    check_stable,
    consumption_gaps, explain_missing, ownership_at, ownership_intervals, takeover_times, unowned_gaps)

HERE = os.path.dirname(os.path.abspath(__file__))
MEMBERS_DIR = os.path.join(HERE, "members")
MSG_FORMAT = "MSG %t %p %o %s\\n"  # kcat -f tokens; gregor consume -f takes the same

REBALANCE_RE = re.compile(r"^% Group (\S+) rebalanced \(memberid ([^)]*)\): (assigned|revoked|lost):\s*(.*)$")
# kcat's line for a cooperative (incremental) rebalance, revoke and loss included.
INCREMENTAL_RE = re.compile(r"^% Group (\S+) rebalanced: incremental (assignment|revoke) of \d+ partition\(s\) "
                            r"\(memberid ([^,)]*)(, assignment lost)?, \S+ rebalance protocol\):\s*(.*)$")
TP_RE = re.compile(r"(\S+) \[(\d+)\]")
COMMIT_RE = re.compile(r"^% Committed (\S+) \[(\d+)\] @ (\d+)\s*$")
MSG_RE = re.compile(r"^MSG (\S+) (\d+) (\d+) ?(.*)$")


class HarnessError(Exception):
    """A member or the cluster did not do what the test needed, in time."""


def parse_tps(text):
    """'t [0], t [1]' -> ((t, 0), (t, 1))."""
    return tuple((t, int(p)) for t, p in TP_RE.findall(text))


# ---------------------------------------------------------------------------
# The log


class Log:
    """Everything the members reported, stamped on receipt. Thread-safe."""

    def __init__(self):
        self.t0 = time.monotonic()
        self.lock = threading.Lock()
        self.events = []
        self.messages = []
        self.commits = []
        self.other = collections.defaultdict(lambda: collections.deque(maxlen=40))

    def event(self, member, kind, tps=(), ts=None):
        with self.lock:
            self.events.append(Event(time.monotonic() if ts is None else ts, member, kind, tuple(tps)))

    def line(self, member, stream, text, ts):
        """Parses one line a member printed on `stream` (stdout|stderr)."""
        if stream == "stdout":
            m = MSG_RE.match(text)
            if m:
                with self.lock:
                    self.messages.append(Message(ts, member, m[1], int(m[2]), int(m[3]), m[4]))
                return
        else:
            m = REBALANCE_RE.match(text)
            if m:
                self.event(member, m[3], parse_tps(m[4]), ts)
                return
            m = INCREMENTAL_RE.match(text)
            if m:
                kind = "assigned" if m[2] == "assignment" else "lost" if m[4] else "revoked"
                self.event(member, kind, parse_tps(m[5]), ts)
                return
            m = COMMIT_RE.match(text)
            if m:
                self.commit(member, m[1], int(m[2]), int(m[3]), ts)
                return
        if text.startswith("% Reached end of topic"):  # kcat, on every caught-up partition
            return
        with self.lock:
            self.other[member].append(f"{ts - self.t0:8.3f} {stream}: {text}")

    def commit(self, source, topic, partition, offset, ts=None):
        with self.lock:
            self.commits.append(Commit(time.monotonic() if ts is None else ts, source, topic, partition, offset))

    def snapshot(self):
        """(events, messages, commits), each sorted by time."""
        with self.lock:
            return (sorted(self.events, key=lambda e: e.ts), sorted(self.messages, key=lambda m: m.ts),
                    sorted(self.commits, key=lambda c: c.ts))

    def rel(self, ts):
        return ts - self.t0

    def dump(self, out=sys.stderr):
        """The event log, message counts and the members' other lines, for a failure report."""
        events, messages, commits = self.snapshot()
        print("---- event log (seconds since the harness started) ----", file=out)
        for e in events:
            tps = ", ".join(f"{t} [{p}]" for t, p in e.tps)
            print(f"{self.rel(e.ts):8.3f} {e.member:10} {e.kind:9} {tps}", file=out)
        per = collections.Counter(m.member for m in messages)
        print(f"---- messages read: {dict(per)}; commits seen: {len(commits)} ----", file=out)
        with self.lock:
            for member, lines in self.other.items():
                print(f"---- {member}: last other lines ----", file=out)
                for text in lines:
                    print(text, file=out)
        out.flush()


# ---------------------------------------------------------------------------
# Members


class Member:
    """One group member process; its two pipes are read by two threads."""

    def __init__(self, log, name, kind, argv, env=None):
        self.log, self.name, self.kind, self.argv = log, name, kind, argv
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=env, start_new_session=True)
        log.event(name, "started")
        self.readers = [threading.Thread(target=self._read, args=(self.proc.stdout, "stdout"), daemon=True),
                        threading.Thread(target=self._read, args=(self.proc.stderr, "stderr"), daemon=True)]
        for t in self.readers:
            t.start()
        self.waiter = threading.Thread(target=self._wait, daemon=True)
        self.waiter.start()

    def _read(self, pipe, stream):
        for raw in iter(pipe.readline, b""):
            ts = time.monotonic()
            self.log.line(self.name, stream, raw.decode(errors="replace").rstrip("\r\n"), ts)

    def _wait(self):
        self.proc.wait()
        for t in self.readers:
            t.join(5)
        self.log.event(self.name, "exited", ())
        with self.log.lock:
            self.log.other[self.name].append(f"exit status {self.proc.returncode}")

    def alive(self):
        return self.proc.poll() is None

    def kill(self):
        """kill -9 (the `killed` event is stamped before the signal is sent)."""
        if self.alive():
            self.log.event(self.name, "killed")
            self.proc.send_signal(signal.SIGKILL)
        self.waiter.join(10)

    def stop(self, sig=signal.SIGTERM, timeout_s=30):
        """A clean close by `sig`; kill -9 (and HarnessError) if it has not
        exited within timeout_s. Returns the exit status."""
        if self.alive():
            self.log.event(self.name, "stopping")
            self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()
            raise HarnessError(f"{self.name} ({self.kind}) did not exit within {timeout_s} s of {sig.name}")
        self.waiter.join(10)
        return self.proc.returncode


def kafka_dev(*args, timeout_s=180):
    """Runs scripts/kafka-dev (GREGOR_KAFKA_DEV) with `args`; its stdout, or HarnessError."""
    path = os.environ.get("GREGOR_KAFKA_DEV") or os.path.join(HERE, "..", "..", "scripts", "kafka-dev")
    p = subprocess.run([path, *args], capture_output=True, text=True, timeout=timeout_s)
    if p.returncode != 0:
        raise HarnessError(f"kafka-dev {' '.join(args)} exited {p.returncode}: {p.stderr.strip()[-2000:]}")
    return p.stdout


def gregor_supports_groups(gregor_bin):
    """True if `gregor consume` takes -G (the group member, issue 9)."""
    if not gregor_bin or not os.path.exists(gregor_bin):
        return False
    p = subprocess.run([gregor_bin, "consume", "--help"], capture_output=True, text=True, timeout=30)
    return re.search(r"(^|\s)-G[ ,]", p.stdout + p.stderr) is not None


def available_members():
    """A predicate on (kind, protocol, assignor) member specs: what can run
    here. kcat and kpy speak classic only; java both; gregor once `gregor
    consume` (GREGOR_BIN) takes -G, and with the consumer protocol once
    `gregor config list` has group_protocol. Prints a note for each gregor
    protocol left out."""
    gregor = os.environ.get("GREGOR_BIN")
    gregor_ok = {"classic": False, "consumer": False}
    if gregor_supports_groups(gregor):
        gregor_ok["classic"] = True
        gregor_ok["consumer"] = "group_protocol" in gregor_options(gregor)
        if not gregor_ok["consumer"]:
            print(f"note: gregor KIP-848 members missing: `{gregor} config list` has no group_protocol yet",
                  flush=True)
    else:
        print(f"note: gregor members missing: `{gregor} consume` has no -G yet; the groups run without them",
              flush=True)

    def ok(spec):
        kind, protocol = spec[0], spec[1] or "classic"
        if kind == "gregor":
            return gregor_ok.get(protocol, False)
        return kind == "java" or protocol == "classic"
    return ok


def run_each(what, runs, run_one):
    """Calls run_one(name, spec) -> bool for each (name, spec) of `runs`;
    exits 1 naming those that returned False."""
    failed = [name for name, spec in runs.items() if not run_one(name, spec)]
    if failed:
        print(f"FAIL: {what}: {', '.join(failed)}", file=sys.stderr)
        sys.exit(1)


def print_unread(produced, messages, commits, intervals, t0):
    """Prints on stderr, for the failure report, what explain_missing says of
    the produced (topic, partition, offset) that no member read."""
    seen = {(m.topic, m.partition, m.offset) for m in messages}
    for line in explain_missing([k for k in produced if k not in seen], messages, commits, intervals, t0):
        print(line, file=sys.stderr)


def gregor_options(gregor_bin):
    """The option names `gregor config list` knows (empty if it cannot tell)."""
    try:
        p = subprocess.run([gregor_bin, "config", "list"], capture_output=True, text=True, timeout=30)
    except OSError:
        return set()
    return set(re.findall(r"^\s*([a-z][a-z0-9_.]+)", p.stdout, re.M))


def gregor_cache():
    """$GREGOR_CACHE, as scripts/kafka-dev finds it."""
    return os.environ.get("GREGOR_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "gregor")


def kafka_libs(cluster):
    """The test bed's jars for `cluster` (the version it runs), else the 4.x alias's."""
    cache = gregor_cache()
    try:
        with open(os.path.join(cache, "clusters", cluster, "cluster.json")) as f:
            version = json.load(f)["version"]
    except (OSError, ValueError, KeyError):
        with open(os.path.join(cache, "kafka", "4.version")) as f:
            version = f.read().split()[0]
    libs = os.path.join(cache, "kafka", version, "libs")
    if not os.path.exists(os.path.join(libs, f"kafka-clients-{version}.jar")):
        raise HarnessError(f"no kafka-clients-{version}.jar in {libs} (run scripts/kafka-dev fetch)")
    return version, libs


def java_member_classpath(cluster, work_dir):
    """Compiles members/JavaMember.java against the cluster's kafka-clients
    into work_dir/group-members/<version> unless already there (keyed by the
    source's hash; a lock keeps two tests from compiling at once)."""
    version, libs = kafka_libs(cluster)
    src = os.path.join(MEMBERS_DIR, "JavaMember.java")
    with open(src, "rb") as f:
        key = hashlib.sha256(f.read()).hexdigest() + " " + version
    out = os.path.join(work_dir, "group-members", version)
    os.makedirs(out, exist_ok=True)
    stamp = os.path.join(out, "stamp")
    with open(os.path.join(out, ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            with open(stamp) as f:
                fresh = f.read() == key
        except OSError:
            fresh = False
        if not fresh:
            p = subprocess.run(["javac", "-nowarn", "-cp", os.path.join(libs, "*"), "-d", out, src],
                               capture_output=True, text=True, timeout=180)
            if p.returncode != 0:
                raise HarnessError(f"javac JavaMember.java failed: {p.stderr.strip()}")
            with open(stamp, "w") as f:
                f.write(key)
    return out + os.pathsep + os.path.join(libs, "*")


# ---------------------------------------------------------------------------
# Producer and group offsets poller


class NumberedProducer:
    """A numbered stream: value f'{prefix}{n}' to partition n % partitions,
    `rate` messages a second, acks=all, from a thread. `acked` holds
    (topic, partition, offset, value) of each acknowledged message."""

    def __init__(self, bootstrap, topic, partitions, rate=50, prefix="n"):
        from kafka import KafkaProducer
        self.topic, self.partitions, self.rate, self.prefix = topic, partitions, rate, prefix
        self.producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5,
                                      retries=2**31 - 1, delivery_timeout_ms=120000,
                                      request_timeout_ms=10000)
        self.lock = threading.Lock()
        self.acked, self.failed, self.sent = [], [], 0
        self.stop_flag = threading.Event()
        self.thread = None

    def _ack(self, value, md):
        with self.lock:
            self.acked.append((md.topic, md.partition, md.offset, value))

    def _err(self, value, exc):
        with self.lock:
            self.failed.append((value, repr(exc)))

    def send(self, n):
        value = f"{self.prefix}{n}"
        f = self.producer.send(self.topic, value=value.encode(), partition=n % self.partitions)
        f.add_callback(lambda md, v=value: self._ack(v, md))
        f.add_errback(lambda exc, v=value: self._err(v, exc))
        self.sent += 1

    def start(self):
        def run():
            period = 1.0 / self.rate
            nxt = time.monotonic()
            while not self.stop_flag.is_set():
                self.send(self.sent)
                nxt += period
                delay = nxt - time.monotonic()
                if delay > 0:
                    self.stop_flag.wait(delay)
        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()

    def stop(self, timeout_s=60):
        """Stops sending and waits for every acknowledgement (at most timeout_s)."""
        self.stop_flag.set()
        if self.thread:
            self.thread.join(10)
        self.producer.flush(timeout=timeout_s)
        self.producer.close(timeout=10)

    def produced(self):
        with self.lock:
            return [(t, p, o) for t, p, o, _ in self.acked]


class GroupOffsetsPoller:
    """Polls the group's committed offsets every period_s into the log
    (source 'group'), recording each change."""

    def __init__(self, log, bootstrap, group, period_s=0.5):
        from kafka.admin import KafkaAdminClient
        self.log, self.group, self.period_s = log, group, period_s
        self.admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
        self.last = {}
        self.errors = 0
        self.last_error = None
        self.stop_flag = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stop_flag.wait(self.period_s):
            try:
                offsets = self.admin.list_group_offsets({self.group: None}).get(self.group, {})
            except Exception as e:  # a broker down, a coordinator moving: the next poll will tell
                self.errors += 1
                self.last_error = repr(e)
                continue
            for tp, om in offsets.items():
                if om.offset >= 0 and self.last.get(tp) != om.offset:
                    self.last[tp] = om.offset
                    self.log.commit("group", tp.topic, tp.partition, om.offset)

    def stop(self):
        self.stop_flag.set()
        self.thread.join(15)
        try:
            self.admin.close()
        except Exception:
            pass


# ---------------------------------------------------------------------------
# The harness


class Harness:
    """A group of members of mixed kinds on one cluster.

    bootstrap: the cluster's bootstrap list; cluster: its test bed name (for
    scripts/kafka-dev and the Java jars); topics: what every member subscribes
    to. session_timeout_ms applies to every member that takes it."""

    def __init__(self, bootstrap, cluster, group, topics, session_timeout_ms=10000, work_dir=None,
                 poll_group_offsets=True):
        self.bootstrap, self.cluster, self.group, self.topics = bootstrap, cluster, group, list(topics)
        self.session_timeout_ms = session_timeout_ms
        self.work_dir = work_dir or os.environ.get("GREGOR_TEST_WORK_DIR") or os.getcwd()
        self.gregor_bin = os.environ.get("GREGOR_BIN")
        # Reader threads stamp lines on receipt: let them take the GIL
        # sooner than the default 5 ms.
        sys.setswitchinterval(0.001)
        self.log = Log()
        self.members = {}
        self.producer = None
        self.poller = GroupOffsetsPoller(self.log, bootstrap, group) if poll_group_offsets else None
        self._java_cp = None
        self._gregor_opts = None

    # -- members --------------------------------------------------------

    def _argv(self, kind, name, protocol, assignor):
        st = self.session_timeout_ms
        if kind == "kcat":
            if protocol not in (None, "classic"):
                raise HarnessError("kcat (librdkafka 2.0) has no group.protocol=consumer")
            argv = ["kcat", "-b", self.bootstrap, "-G", self.group, "-u", "-f", MSG_FORMAT,
                    "-X", f"client.id={name}", "-X", "auto.offset.reset=earliest",
                    "-X", f"session.timeout.ms={st}", "-X", f"heartbeat.interval.ms={max(100, st // 5)}",
                    "-X", "enable.auto.commit=true", "-X", "auto.commit.interval.ms=1000"]
            if assignor:
                argv += ["-X", f"partition.assignment.strategy={assignor}"]
            return argv + self.topics
        if kind == "kpy":
            if protocol not in (None, "classic"):
                raise HarnessError("kafka-python has no group.protocol=consumer")
            return [sys.executable, os.path.join(MEMBERS_DIR, "kpy_member.py"), "-b", self.bootstrap,
                    "-G", self.group, "--name", name, "--assignor", assignor or "range",
                    "--session-timeout-ms", str(st)] + self.topics
        if kind == "java":
            if self._java_cp is None:
                self._java_cp = java_member_classpath(self.cluster, self.work_dir)
            return ["java", "-Xmx128m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
                    "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn", "-cp", self._java_cp, "JavaMember",
                    "-b", self.bootstrap, "-G", self.group, "--name", name,
                    "--protocol", protocol or "classic", "--assignor", assignor or "range",
                    "--session-timeout-ms", str(st)] + self.topics
        if kind == "gregor":
            if not gregor_supports_groups(self.gregor_bin):
                raise HarnessError(f"{self.gregor_bin} consume has no -G (group member) yet")
            if self._gregor_opts is None:
                self._gregor_opts = gregor_options(self.gregor_bin)
            # -o beginning: partitions without a committed offset start at the
            # log start, as the other kinds' auto.offset.reset=earliest.
            argv = [self.gregor_bin, "consume", "-b", self.bootstrap, "-G", self.group, "-o", "beginning", "-u",
                    "-f", MSG_FORMAT]
            # Passed only when gregor knows them: its group options are being written.
            for key, value in (("client_id", name), ("session_timeout_ms", str(st)),
                               ("group_protocol", protocol), ("partition_assignment_strategy", assignor)):
                if value and key in self._gregor_opts:
                    argv += ["-X", f"{key}={value}"]
            return argv + self.topics
        raise HarnessError(f"unknown member kind {kind!r} (kcat, kpy, java, gregor)")

    def add(self, kind, name=None, protocol=None, assignor=None):
        """Starts a member of `kind` (kcat|kpy|java|gregor) and returns it.
        protocol: classic (default) or consumer; assignor: the kind's name of
        the partition assignment strategy (range by default)."""
        name = name or f"{kind}{sum(1 for m in self.members.values() if m.kind == kind) + 1}"
        if name in self.members:
            raise HarnessError(f"member name {name} is taken")
        m = Member(self.log, name, kind, self._argv(kind, name, protocol, assignor))
        self.members[name] = m
        return m

    def alive(self):
        return [n for n, m in self.members.items() if m.alive()]

    # -- waiting ---------------------------------------------------------

    def wait_stable(self, partitions, members=None, quiet_s=3.0, timeout_s=60.0):
        """Waits until (a) holds for `members` (default: those alive) over
        `partitions` and no member reported a rebalance for quiet_s.
        Returns the ownership then; HarnessError with the problems after timeout_s."""
        deadline = time.monotonic() + timeout_s
        while True:
            events, _, _ = self.log.snapshot()
            who = members if members is not None else self.alive()
            dead = [n for n in who if not self.members[n].alive()]
            if dead:
                raise HarnessError("exited while the group was to become stable: " +
                                   ", ".join(f"{n} (status {self.members[n].proc.returncode})" for n in dead))
            owners = ownership_at(events)
            problems = check_stable(owners, partitions, who)
            last = max((e.ts for e in events if e.kind in ("assigned", "revoked", "lost")), default=0)
            now = time.monotonic()
            if not problems and now - last >= quiet_s:
                return owners
            if now > deadline:
                raise HarnessError(f"no stable assignment within {timeout_s:.0f} s: " +
                                   ("; ".join(problems) or f"rebalancing until {self.log.rel(last):.3f} s"))
            time.sleep(0.2)

    def wait_read(self, keys, timeout_s=60.0):
        """Waits until every (topic, partition, offset) in `keys` was read by
        some member; returns how many are still unread at the deadline."""
        keys = set(keys)
        deadline = time.monotonic() + timeout_s
        while True:
            _, messages, _ = self.log.snapshot()
            seen = {(m.topic, m.partition, m.offset) for m in messages}
            left = len(keys - seen)
            if not left or time.monotonic() > deadline:
                return left
            time.sleep(0.2)

    # -- the cluster -----------------------------------------------------

    def coordinator(self):
        """The node id of the group's coordinator (FindCoordinator)."""
        from kafka.admin import KafkaAdminClient
        admin = KafkaAdminClient(bootstrap_servers=self.bootstrap, request_timeout_ms=10000)
        try:
            return admin._manager.run(admin._find_coordinator_id, self.group)
        finally:
            admin.close()

    def start_producer(self, topic, partitions, rate=50):
        self.producer = NumberedProducer(self.bootstrap, topic, partitions, rate)
        self.producer.start()
        return self.producer

    # -- the end ---------------------------------------------------------

    def close(self):
        """Stops every member still running (SIGTERM, kill -9 after 20 s), the
        producer and the poller. Never raises."""
        for m in self.members.values():
            if m.alive():
                try:
                    m.stop(timeout_s=20)
                except HarnessError as e:
                    print(f"harness: {e}", file=sys.stderr)
        if self.producer and not self.producer.stop_flag.is_set():
            try:
                self.producer.stop(timeout_s=10)
            except Exception as e:
                print(f"harness: producer close: {e!r}", file=sys.stderr)
        if self.poller:
            self.poller.stop()

    def report(self, name, value, unit=""):
        """Prints one figure of the test, as `figure NAME = VALUE UNIT`."""
        if isinstance(value, float):
            value = f"{value:.3f}"
        print(f"figure {name} = {value}{' ' + unit if unit else ''}", flush=True)
