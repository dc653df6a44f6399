#!/usr/bin/env python3
"""`gregor top` on the 1-node 4.x cluster (GREGOR_TEST_KAFKA1), its plain
output (stdout is a pipe) read block by block while it runs:

- a classic group whose offsets kafka-python commits (no member): each
  partition's committed offset, log end and lag as produced and committed,
  the TOTAL row; after the first refresh kafka-python commits 150 more on
  partition 0, and the next refresh shows that partition's lag falling and
  a rate of 150 offsets over the time between the refreshes (1.5 s);
- a classic group with a live kcat -G member (librdkafka): state Stable,
  the member's client id and its 3 partitions, lag 0 once it has read all;
- a KIP-848 group (a `gregor consume -G` member with
  group_protocol=consumer): shown as a consumer (KIP-848) group with its
  member;
- an unknown group: "not found" in every block while the others go on,
  exit status 1 after -n refreshes (0 without it);
- without -g, with -t TOPIC: of every group of the cluster (ListGroups),
  just the three that have partitions of the test's topic;
- on a terminal (a pty of 120x30): each refresh clears the screen and no
  line is wider than the terminal; after a resize to 60x12 (SIGWINCH) the
  same refresh is redrawn at once, cut to 60 columns and 11 lines; SIGINT
  ends it at once with status 0;
- unreachable brokers (refused, or silent): exit 1 within the -m timeout,
  the broker named; SIGINT while a request waits: exit 0 at once; bad
  -n and --interval-ms values: usage errors (2);
- --metrics at a closed port, at an HTTP server answering 404, and at one
  answering HTML: the groups are shown, the endpoint's line says what is
  wrong (the connection, the status, the text's line), exit status 1.
  (test_pipeline_top_metrics.py reads a real `gregor run --metrics-port`.)
"""
import fcntl
import http.server
import os
import pty
import re
import select
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import uuid

from cli_util import fail, run
from groups_util import KcatMember

BOOTSTRAP = os.environ["GREGOR_TEST_KAFKA1"]
KAFKA_DEV = os.environ["GREGOR_KAFKA_DEV"]
GREGOR = os.environ["GREGOR_BIN"]
CLUSTER = os.environ.get("GREGOR_TEST_KAFKA1_NAME") or "kafka1"
ENDS = {0: 300, 1: 11, 2: 12}          # messages produced per partition
COMMITS = {0: 100, 1: 5, 2: 12}        # what kafka-python commits first
LATER = 250                             # partition 0's commit after the first refresh


def produce(topic):
    for p, n in ENDS.items():
        run(["kcat", "-P", "-q", "-b", BOOTSTRAP, "-t", topic, "-p", str(p)],
            "".join(f"m{i}\n" for i in range(n)).encode())


def committer(group, topic):
    from kafka import KafkaConsumer, TopicPartition
    c = KafkaConsumer(bootstrap_servers=BOOTSTRAP, group_id=group, enable_auto_commit=False)
    c.assign([TopicPartition(topic, p) for p in ENDS])
    return c


def commit(c, topic, offsets):
    from kafka import TopicPartition
    from kafka.structs import OffsetAndMetadata
    c.commit({TopicPartition(topic, p): OffsetAndMetadata(o, "", -1) for p, o in offsets.items()})


def squeeze(line):
    return " ".join(line.split())


def block_rows(block, group):
    """The partition rows of `group` in one block: {partition: (committed, log_end, lag, trend, rate)},
    and its TOTAL row as a list of fields."""
    lines = block.split("\n")
    try:
        start = next(i for i, l in enumerate(lines) if l.startswith(f"group {group}  "))
    except StopIteration:
        fail(f"no group {group} in the block:\n{block}")
    rows, total, end = {}, None, start + 1
    while end < len(lines) and lines[end] and not lines[end].startswith("group "):
        end += 1
    for l in lines[start + 1:end]:
        f = l.split()
        if f[0] == "TOTAL":
            total = f
        elif not l.startswith(("  member", "TOPIC")):
            # TOPIC PART COMMITTED LOG-END LAG SPARKLINE TREND RATE OWNER...
            rows[int(f[1])] = (f[2], f[3], f[4], f[6] if len(f) > 6 else "", f[7] if len(f) > 7 else "")
    return rows, total, lines[start:end]


class Top:
    """`gregor top` running with stdout on a pipe: blocks as they come."""

    def __init__(self, args):
        self.p = subprocess.Popen([GREGOR, "top", "-b", BOOTSTRAP] + args, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        self.pending = None

    def block(self, last_line_prefix, timeout=30):
        """The next block, read up to and including its line starting with last_line_prefix."""
        lines = [self.pending] if self.pending else []
        self.pending = None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            l = self.p.stdout.readline()
            if not l:
                fail(f"gregor top ended (exit {self.p.wait()}): {self.p.stderr.read()}\n{''.join(lines)}")
            lines.append(l)
            if l.startswith(last_line_prefix):
                return "".join(lines)
        fail(f"no complete block in {timeout} s: {''.join(lines)}")

    def finish(self):
        out, err = self.p.communicate(timeout=60)
        return self.p.returncode, out, err


def wait_kcat_caught_up(group, topic, member):
    """Until the kcat member owns all 3 partitions and committed the log ends."""
    from kafka.admin import KafkaAdminClient
    a = KafkaAdminClient(bootstrap_servers=BOOTSTRAP)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            got = a.list_group_offsets({group: None})
            offs = got[group] if group in got else got
            committed = {tp.partition: om.offset for tp, om in offs.items() if tp.topic == topic}
            if committed == ENDS and len(member.report()[1]) == 3:
                return
            time.sleep(0.3)
        fail(f"kcat member of {group}: committed {committed}, owns {member.report()[1]}")
    finally:
        a.close()


def wait_848_member(group, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        p = subprocess.run([GREGOR, "groups", "-b", BOOTSTRAP, "-g", group], capture_output=True, text=True)
        if p.returncode == 0 and "client top-848" in p.stdout and "ttop" in p.stdout:
            return
        time.sleep(0.5)
    fail(f"the KIP-848 member of {group} never owned its partitions")


def check_view(topic, tmp):
    g_commit, g_kcat, g_848, g_none = (f"{x}-{topic}" for x in ("gtc", "gtk", "gt8", "gtnone"))
    kp = committer(g_commit, topic)
    commit(kp, topic, COMMITS)
    kc = KcatMember(BOOTSTRAP, g_kcat, topic, tmp)
    m848 = subprocess.Popen([GREGOR, "consume", "-b", BOOTSTRAP, "-G", g_848, "-o", "beginning", "-X",
                             "group_protocol=consumer", "-X", "client_id=top-848", topic],
                            stdout=subprocess.DEVNULL, stderr=open(os.path.join(tmp, "848.err"), "w"))
    try:
        wait_kcat_caught_up(g_kcat, topic, kc)
        wait_848_member(g_848)
        top = Top(["-g", g_commit, "-g", g_kcat, "-g", g_848, "-g", g_none, "-n", "2", "--interval-ms", "1500"])
        b1 = top.block(f"group {g_none}:")
        t1 = time.monotonic()
        commit(kp, topic, {0: LATER})
        if time.monotonic() - t1 > 1.2:
            fail("the commit between two refreshes took too long to tell the rate")
        b2 = top.block(f"group {g_none}:")
        rc, rest, err = top.finish()
        b2 += rest
    finally:
        kc.close()
        m848.terminate()
        m848.wait(10)
        kp.close()
    if rc != 1:
        fail(f"-n 2 with an unknown group exited {rc}, want 1: {err}")
    print(b2)
    blocks = [b1, b2]
    if [b.count("gregor top  ") for b in blocks] != [1, 1]:
        fail(f"want one 'gregor top' line per block: {blocks}")
    for b in blocks:
        if not re.search(rf"^group {g_none}: not found", b, re.M):
            fail(f"the unknown group is not reported as not found:\n{b}")
        if "\x1b" in b:
            fail("escape codes in plain output")

    # The committed group, first refresh: the numbers as produced and committed.
    rows, total, _ = block_rows(b1, g_commit)
    want = {p: (str(COMMITS[p]), str(ENDS[p]), str(ENDS[p] - COMMITS[p])) for p in ENDS}
    if {p: r[:3] for p, r in rows.items()} != want:
        fail(f"refresh 1 of {g_commit}: {rows}, want {want}")
    lag = sum(ENDS.values()) - sum(COMMITS.values())
    if total[1:5] != ["3", str(sum(COMMITS.values())), str(sum(ENDS.values())), str(lag)]:
        fail(f"refresh 1 TOTAL of {g_commit}: {total}")
    # Second refresh: partition 0's new commit, its lag falling, the rate.
    rows, total, _ = block_rows(b2, g_commit)
    if rows[0][:3] != (str(LATER), str(ENDS[0]), str(ENDS[0] - LATER)) or rows[0][3] != "falling":
        fail(f"refresh 2 of {g_commit}, partition 0: {rows[0]}, want {LATER} {ENDS[0]} {ENDS[0] - LATER} falling")
    rate = float(rows[0][4])
    if not 150 / 3.0 <= rate <= 150 / 1.4:
        fail(f"refresh 2 rate of partition 0: {rate}, want 150 offsets over about 1.5 s")
    if rows[1][3:] != ("steady", "0.0"):
        fail(f"refresh 2 of {g_commit}, partition 1 (no commit): {rows[1]}")
    # The kcat member's group.
    rows, total, lines = block_rows(b2, g_kcat)
    if "state Stable  classic range  1 member" not in lines[0]:
        fail(f"{g_kcat}: {lines[0]}")
    member = [l for l in lines if l.startswith("  member ")]
    if len(member) != 1 or not squeeze(member[0]).startswith(f"member kcat-member /127.0.0.1 3 partitions: {topic} [0,1,2]"):
        fail(f"{g_kcat} member line: {member}")
    if {p: r[2] for p, r in rows.items()} != {0: "0", 1: "0", 2: "0"}:
        fail(f"{g_kcat} lags: {rows}")
    # The KIP-848 group.
    rows, total, lines = block_rows(b2, g_848)
    if "consumer (KIP-848)" not in lines[0] or not any(l.startswith("  member top-848") for l in lines):
        fail(f"{g_848}: {lines[:4]}")
    if sorted(rows) != [0, 1, 2]:
        fail(f"{g_848} rows: {rows}")
    print(f"ok: {g_commit} committed/log end/lag as committed, rate {rate}/s after +150; {g_kcat} member "
          f"kcat-member; {g_848} KIP-848; {g_none} not found")

    # Without -g: every group of the cluster (ListGroups), with -t only those with partitions of the topic
    # (without -t too, the test would take as long as the test bed has groups).
    p = subprocess.run([GREGOR, "top", "-b", BOOTSTRAP, "-t", topic, "-n", "1"], capture_output=True, text=True,
                       timeout=60)
    shown = set(re.findall(r"^group (\S+)  ", p.stdout, re.M))
    if p.returncode != 0 or shown != {g_commit, g_kcat, g_848} or "  3 groups  " not in p.stdout:
        fail(f"-t {topic} without -g: exit {p.returncode}, groups {shown}:\n{p.stdout}{p.stderr}")
    print(f"ok: without -g, with -t {topic}: just {sorted(shown)}")

    # Without the unknown group: exit 0.
    p = subprocess.run([GREGOR, "top", "-b", BOOTSTRAP, "-g", g_commit, "-n", "1"], capture_output=True, timeout=60)
    if p.returncode != 0 or p.stdout.decode().count("gregor top  ") != 1:
        fail(f"-n 1 of a known group exited {p.returncode}: {p.stderr.decode()}")
    return g_commit


def set_size(fd, cols, rows):
    fcntl.ioctl(fd, termios_TIOCSWINSZ(), struct.pack("HHHH", rows, cols, 0, 0))


def termios_TIOCSWINSZ():
    import termios
    return termios.TIOCSWINSZ


def read_frame(fd, timeout):
    """What the pty shows within `timeout` s after the next screen clear, up to the next pause."""
    data, deadline = b"", time.monotonic() + timeout
    while time.monotonic() < deadline:
        r, _, _ = select.select([fd], [], [], 0.3)
        if r:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            data += chunk
        elif b"\x1b[H\x1b[2J" in data:
            break
    return data.decode(errors="replace")


def check_lines(frame, cols, rows, what):
    if not frame.startswith("\x1b[H\x1b[2J"):
        fail(f"{what}: the frame does not start by clearing the screen: {frame[:80]!r}")
    lines = frame[len("\x1b[H\x1b[2J"):].replace("\r", "").split("\n")
    if len(lines) > rows or any(len(l) > cols for l in lines):
        fail(f"{what}: {len(lines)} lines, the widest {max(map(len, lines))}, for a {cols}x{rows} terminal:\n"
             + "\n".join(lines))
    return lines


def check_terminal(group):
    master, slave = pty.openpty()
    set_size(slave, 120, 30)
    p = subprocess.Popen([GREGOR, "top", "-b", BOOTSTRAP, "-g", group, "-n", "5", "--interval-ms", "3000"],
                         stdin=slave, stdout=slave, stderr=subprocess.PIPE)
    os.close(slave)
    try:
        first = read_frame(master, 20)
        lines = check_lines(first, 120, 30, "120x30")
        if "refresh 1" not in lines[0] or not any(l.startswith("TOTAL") for l in lines):
            fail(f"120x30: {lines}")
        set_size(master, 60, 12)
        t0 = time.monotonic()
        p.send_signal(signal.SIGWINCH)
        second = read_frame(master, 2.5)
        took = time.monotonic() - t0
        lines = check_lines(second, 60, 11, "60x12")
        if "refresh 1" not in lines[0] or took > 2.5:
            fail(f"after the resize: not redrawn at once ({took:.1f} s): {lines}")
        if not any(l.startswith("TOTAL") for l in lines) or not any("~" in l for l in lines):
            fail(f"60x12: the table is not there, or nothing was cut: {lines}")
        t0 = time.monotonic()
        p.send_signal(signal.SIGINT)
        if p.wait(20) != 0 or time.monotonic() - t0 > 3:
            fail(f"gregor top on a terminal, SIGINT: exit {p.returncode} after {time.monotonic() - t0:.1f} s: "
                 f"{p.stderr.read().decode()}")
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        os.close(master)
    print(f"ok: terminal 120x30 then 60x12: redrawn {took:.2f} s after SIGWINCH, cut to the new size; SIGINT: exit 0")


def check_bad_input():
    t0 = time.monotonic()
    p = subprocess.run([GREGOR, "top", "-b", "127.0.0.1:1", "-n", "1", "-m", "1"], capture_output=True, timeout=60)
    took = time.monotonic() - t0
    err = p.stderr.decode(errors="replace")
    if p.returncode != 1 or "127.0.0.1:1" not in err or took > 5 or p.stdout:
        fail(f"unreachable broker: exit {p.returncode} after {took:.1f} s, stderr {err!r}, stdout {p.stdout!r}")
    # A broker that accepts connections and never answers: exit 1 after -m; SIGINT ends the wait at once.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        addr = f"127.0.0.1:{silent.getsockname()[1]}"
        t0 = time.monotonic()
        p = subprocess.run([GREGOR, "top", "-b", addr, "-n", "1", "-m", "1"], capture_output=True, timeout=60)
        silent_took = time.monotonic() - t0
        if p.returncode != 1 or addr not in p.stderr.decode(errors="replace") or not 0.9 < silent_took < 5:
            fail(f"silent broker: exit {p.returncode} after {silent_took:.1f} s: {p.stderr!r}")
        q = subprocess.Popen([GREGOR, "top", "-b", addr, "-n", "1", "-m", "30"], stderr=subprocess.PIPE)
        time.sleep(0.5)
        t0 = time.monotonic()
        q.send_signal(signal.SIGINT)
        # At once: 10 ms here; ThreadSanitizer delays signals until a blocked call returns (up to a second).
        if q.wait(10) != 0 or time.monotonic() - t0 > 3:
            fail(f"SIGINT while a request waits: exit {q.returncode} after {time.monotonic() - t0:.1f} s")
        q.stderr.close()
    for args, what in ((["-n", "0"], "-n"), (["--interval-ms", "5"], "--interval-ms"), (["-n", "x"], "-n")):
        p = subprocess.run([GREGOR, "top", "-b", BOOTSTRAP] + args, capture_output=True, timeout=30)
        if p.returncode != 2 or what not in p.stderr.decode():
            fail(f"gregor top {args}: exit {p.returncode}, stderr {p.stderr.decode()!r}")
    print(f"ok: unreachable broker: exit 1 in {took:.1f} s ({err.strip()}); a silent one: exit 1 in "
          f"{silent_took:.1f} s with -m 1, SIGINT meanwhile: exit 0 at once; bad -n / --interval-ms: exit 2")


class HtmlHandler(http.server.BaseHTTPRequestHandler):
    """/metrics: 200 with an HTML page (not the Prometheus format); anything else 404."""

    def do_GET(self):
        body = b"<html><body>not metrics</body></html>\n"
        self.send_response(200 if self.path == "/metrics" else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def check_bad_metrics(group):
    srv = http.server.HTTPServer(("127.0.0.1", 0), HtmlHandler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    port = srv.server_address[1]
    try:
        cases = (("127.0.0.1:1", "gregor run at 127.0.0.1:1: http://127.0.0.1:1/metrics: "),
                 (f"http://127.0.0.1:{port}/nothing", f"/nothing: HTTP status 404"),
                 (f"127.0.0.1:{port}", f"gregor run at 127.0.0.1:{port}: the metrics text: line 1: metric name "
                                       "expected"))
        for address, want in cases:
            p = subprocess.run([GREGOR, "top", "-b", BOOTSTRAP, "-g", group, "--metrics", address, "-n", "1", "-m", "2"],
                               capture_output=True, text=True, timeout=60)
            if p.returncode != 1 or want not in p.stdout or f"group {group}  state" not in p.stdout:
                fail(f"--metrics {address}: exit {p.returncode}, want 1 and '{want}' beside the group:\n{p.stdout}")
    finally:
        srv.shutdown()
    print("ok: --metrics at a closed port, a 404 and an HTML page: the group shown, the endpoint's error, exit 1")


def main():
    topic = f"ttop-{uuid.uuid4().hex[:8]}"
    run([KAFKA_DEV, "create-topic", CLUSTER, topic, str(len(ENDS)), "1"], timeout=120)
    produce(topic)
    with tempfile.TemporaryDirectory() as tmp:
        group = check_view(topic, tmp)
    check_terminal(group)
    check_bad_metrics(group)
    check_bad_input()


if __name__ == "__main__":
    main()
