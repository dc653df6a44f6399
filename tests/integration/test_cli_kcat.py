#!/usr/bin/env python3
"""`gregor produce` and `gregor consume` tried as a kcat user would, against a
4.x broker (GREGOR_TEST_KAFKA1), with kcat as the reference on the same input.

- following a live topic: a message kcat produces while `gregor consume`
  runs reaches a pipe, a terminal (pty) and, with -u, an unbuffered pipe
  within a few seconds, the consumer still running;
- produce: each FILE is one message, -l splits the one file, stdin splits at
  -D (several bytes too), -K/-k/-Z, `\\r` kept, empty messages skipped: the
  same messages as kcat -P on the same input;
- escapes: `\\0` and `\\xNN` in -D, -K and -f, embedded NULs, produce and
  consume (kcat cannot take a NUL delimiter: checked against the bytes);
- a topic of 1030 partitions: messages past partition 1023 are consumed;
- -J: "broker" is the leader's id, as kcat prints it.
"""
import json
import os
import pty
import select
import signal
import subprocess
import time
import uuid

from cli_util import fail, run

BOOTSTRAP = os.environ["GREGOR_TEST_KAFKA1"]
CLUSTER = os.environ.get("GREGOR_TEST_KAFKA1_NAME") or "kafka1"
KAFKA_DEV = os.environ["GREGOR_KAFKA_DEV"]
GREGOR = os.environ["GREGOR_BIN"]
LIVE_SECONDS = 5  # how long a live message may take to show


def new_topic(partitions=1):
    topic = f"cli-kcat-{uuid.uuid4().hex[:8]}"
    run([KAFKA_DEV, "create-topic", CLUSTER, topic, str(partitions), "1"], timeout=120)
    return topic


def kcat_produce(topic, data, *args):
    run(["kcat", "-P", "-q", "-b", BOOTSTRAP, "-t", topic, "-p", "0", *args], data)


def messages(topic):
    """(key, payload) of every message of partition 0, in order, as kcat reads them."""
    out = run(["kcat", "-C", "-q", "-e", "-b", BOOTSTRAP, "-t", topic, "-p", "0", "-J"])
    objs = [json.loads(line) for line in out.decode(errors="surrogateescape").splitlines() if line.strip()]
    return [(o["key"], o["payload"]) for o in objs]


def read_until(fd, want, proc, seconds):
    """Reads fd until `want` appeared; fails if it takes longer or proc exits."""
    got = b""
    deadline = time.monotonic() + seconds
    while want not in got:
        left = deadline - time.monotonic()
        if left <= 0:
            fail(f"{want!r} did not arrive within {seconds} s (got {got!r})")
        r, _, _ = select.select([fd], [], [], left)
        if r:
            chunk = os.read(fd, 65536)
            if not chunk:
                fail(f"output ended before {want!r} (exit {proc.wait()})")
            got += chunk
    if proc.poll() is not None:
        fail(f"gregor consume exited ({proc.returncode}) while following")
    return got


def follow(mode):
    """`gregor consume` on a pipe, a pty or an unbuffered pipe (-u) shows
    messages produced while it runs, at once."""
    topic = new_topic()
    args = [GREGOR, "consume", "-b", BOOTSTRAP, "-t", topic, "-q", "-f", "%s\\n"]
    if mode == "unbuffered":
        args.append("-u")
    if mode == "terminal":
        master, slave = pty.openpty()
        proc = subprocess.Popen(args, stdout=slave, stderr=subprocess.DEVNULL)
        os.close(slave)
        fd = master
    else:
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        fd = proc.stdout.fileno()
    try:
        for i in range(2):
            kcat_produce(topic, f"live-{mode}-{i}\n".encode())
            read_until(fd, f"live-{mode}-{i}".encode(), proc, LIVE_SECONDS)
        proc.send_signal(signal.SIGTERM)
        if proc.wait(timeout=20) != 0:
            fail(f"gregor consume ({mode}) exited {proc.returncode} on SIGTERM")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if mode == "terminal":
            os.close(master)
    print(f"ok: follow on a {mode}")


def produce_like_kcat():
    """The same inputs through kcat -P and gregor produce give the same messages."""
    d = f"/tmp/gregor-cli-kcat-{uuid.uuid4().hex[:8]}"
    os.makedirs(d)
    files = {"crlf": b"a\r\nb\n\nk:c", "lines": b"whole\nfile\n", "empty": b"", "bin": b"x\x00y\x01\r\n"}
    paths = {}
    for name, data in files.items():
        paths[name] = os.path.join(d, name)
        with open(paths[name], "wb") as f:
            f.write(data)
    cases = [  # (args, stdin)
        ([paths["crlf"], paths["lines"], paths["empty"], paths["bin"]], None),
        (["-k", "fixed", paths["lines"]], None),
        (["-l", "-K:", paths["crlf"]], None),
        ([], b"one\r\ntwo\n\n\nthree"),
        (["-D", ";;", "-K", "=", "-Z"], b"k1=v1;;=nullkey;;k3=;;;;plain\n;;last;"),
        (["-D", "\\x7c", "-K", "\\t"], b"k\tv|w|"),
        (["-k", "fixed", "-K", "="], b"a=1\nb\n"),
    ]
    mine, theirs = new_topic(), new_topic()
    for args, data in cases:
        run([GREGOR, "produce", "-q", "-b", BOOTSTRAP, "-t", mine, "-p", "0", *args], data or b"")
        kcat_produce(theirs, data or b"", *args)
    a, b = messages(mine), messages(theirs)
    if a != b:
        for x, y in zip(a, b):
            if x != y:
                fail(f"produce differs from kcat -P:\n gregor {x}\n kcat   {y}\n(all: {a})")
        fail(f"produce differs from kcat -P in count: {len(a)} vs {len(b)}:\n gregor {a}\n kcat   {b}")
    if a[0] != (None, "a\r\nb\n\nk:c"):
        fail(f"a file is not one message with its \\r: {a[0]}")
    print(f"ok: produce gives kcat's {len(a)} messages")


def nul_escapes():
    """\\0 and \\xNN in -D, -K and -f, both ways."""
    topic = new_topic()
    run([GREGOR, "produce", "-q", "-b", BOOTSTRAP, "-t", topic, "-p", "0", "-D", "\\0", "-K", "\\x01"],
        b"k\x01v\n1\x00k2\x01v2\x00")
    run([GREGOR, "produce", "-q", "-b", BOOTSTRAP, "-t", topic, "-p", "0", "-K", "\\0"], b"k3\x00v3\nk4\x00v\x004\n")
    got = messages(topic)
    want = [("k", "v\n1"), ("k2", "v2"), ("k3", "v3"), ("k4", "v\x004")]
    if got != want:
        fail(f"produce with NUL delimiters: {got}, {want} expected")
    out = run([GREGOR, "consume", "-q", "-e", "-b", BOOTSTRAP, "-t", topic, "-K", "\\0", "-D", "\\x00"])
    if out != b"k\x00v\n1\x00k2\x00v2\x00k3\x00v3\x00k4\x00v\x004\x00":
        fail(f"consume -K '\\0' -D '\\x00' printed {out!r}")
    out = run([GREGOR, "consume", "-q", "-e", "-b", BOOTSTRAP, "-t", topic, "-f", "%k\\0%s\\x00\\x41%%\\n"])
    if out != b"k\x00v\n1\x00A%\nk2\x00v2\x00A%\nk3\x00v3\x00A%\nk4\x00v\x004\x00A%\n":
        fail(f"consume -f with \\0 and \\x printed {out!r}")
    # Escapes kcat knows give kcat's bytes.
    for args in (["-f", "%k\\x3a%s\\t|\\n"], ["-K", "\\t", "-D", "\\x3b\\n"]):
        a = run([GREGOR, "consume", "-q", "-e", "-b", BOOTSTRAP, "-t", topic, "-c", "3", *args])
        b = run(["kcat", "-C", "-q", "-e", "-b", BOOTSTRAP, "-t", topic, "-c", "3", *args])
        if a != b:
            fail(f"consume {args}: gregor {a!r}, kcat {b!r}")
    print("ok: NUL and hex escapes")


def many_partitions():
    """Partitions past 1023 are consumed."""
    topic = new_topic(1030)
    for p in (0, 1023, 1024, 1029):
        run(["kcat", "-P", "-q", "-b", BOOTSTRAP, "-t", topic, "-p", str(p)], f"in {p}\n".encode())
    try:
        out = run([GREGOR, "consume", "-q", "-e", "-b", BOOTSTRAP, "-t", topic, "-f", "%p %s\\n"], timeout=120)
        got = sorted(out.decode().splitlines())
        want = sorted(f"{p} in {p}" for p in (0, 1023, 1024, 1029))
        if got != want:
            fail(f"1030 partitions: printed {got}, {want} expected")
    finally:
        from kafka.admin import KafkaAdminClient
        admin = KafkaAdminClient(bootstrap_servers=BOOTSTRAP)
        try:
            admin.delete_topics([topic])
        finally:
            admin.close()
    print("ok: 1030 partitions")


def json_broker():
    """-J prints the leader's id as "broker", as kcat does."""
    topic = new_topic()
    kcat_produce(topic, b"a\nb\n")
    a = [json.loads(l) for l in run([GREGOR, "consume", "-q", "-e", "-J", "-b", BOOTSTRAP, "-t", topic]).splitlines()]
    b = [json.loads(l) for l in run(["kcat", "-C", "-q", "-e", "-J", "-b", BOOTSTRAP, "-t", topic]).splitlines()]
    if [o["broker"] for o in a] != [o["broker"] for o in b] or a[0]["broker"] < 0:
        fail(f"-J broker: gregor {[o['broker'] for o in a]}, kcat {[o['broker'] for o in b]}")
    print("ok: -J broker")


def main():
    for mode in ("pipe", "terminal", "unbuffered"):
        follow(mode)
    produce_like_kcat()
    nul_escapes()
    json_broker()
    many_partitions()
    print("ok")


if __name__ == "__main__":
    main()
