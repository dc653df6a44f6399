#!/usr/bin/env python3
"""Worker processes (issue 11, swarm acceptance), on the 1-node cluster
(GREGOR_TEST_KAFKA1): `gregor run --processes 3` of `passthrough` on a
12-partition topic (swarm.restart_backoff_ms 1000; the members' session
times out in 6 s so that the group forgets a killed one quickly).

  1. 3 children start and join; 240 messages go through.
  2. `kill -9` child 1: the supervisor says "child 1 (pid P) killed by
     signal 9 (SIGKILL); restart 1 in 1000 ms" and starts a new child 1
     within the backoff (plus 2 s of slack); 240 more messages are written
     meanwhile; the group is stable again (`gregor groups -J`: state Stable,
     3 members, the 12 partitions owned once each); every input of both
     rounds has its output (at least once).
  3. SIGHUP with a broken file (an unknown key): the supervisor logs the
     error as FILE:LINE:COL and that the children keep running; no child is
     started or stopped.
  4. SIGSTOP child 2: its heartbeat stops; the supervisor says so and
     kills it (SIGTERM, SIGKILL after swarm.kill_grace_ms) and restarts it.
  5. SIGHUP with a good file: the children are replaced one at a time, each
     new one ready before the next old one is stopped.
  6. SIGTERM: every child stops cleanly and the supervisor exits 0 saying
     so.
"""
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pipeline_checks as pc  # noqa: E402
import pipeline_harness as ph  # noqa: E402

BOOTSTRAP = os.environ["GREGOR_TEST_KAFKA1"]
PARTITIONS, CHILDREN, BACKOFF_MS, HEARTBEAT_MS = 12, 3, 1000, 3000

CONFIG = """\
cluster:
  bootstrap: ["{bootstrap}"]
swarm: {{ restart_backoff_ms: {backoff}, max_restart_backoff_ms: 8000, heartbeat_timeout_ms: {heartbeat},
         kill_grace_ms: 500 }}
pipelines:
  - name: pass
    group: {group}
    topics: [{topic}]
    handler: passthrough
    outputs: [ {{ name: out, topic: {out}, partition: input }} ]
    commit_interval_ms: 300
    consumer: {{ session_timeout_ms: 6000, heartbeat_interval_ms: 1000 }}
{extra}"""


def group_state(group):
    p = subprocess.run([ph.GREGOR_BIN, "groups", "-b", BOOTSTRAP, "-g", group, "-J"], capture_output=True,
                       text=True, timeout=30)
    if p.returncode != 0:
        return None
    return json.loads(p.stdout)["groups"][0]


def wait_group_stable(group, topic, changed_from=None, timeout_s=40):
    """Stable, CHILDREN members (not the set `changed_from`), every
    partition owned exactly once. Returns (time, member ids)."""
    deadline, last = time.monotonic() + timeout_s, None
    while time.monotonic() < deadline:
        g = group_state(group)
        if g:
            owned = [(a["topic"], a["partition"]) for m in g["members"] for a in m.get("assignment") or ()]
            ids = {m["member_id"] for m in g["members"]}
            last = f"state {g['state']}, {len(g['members'])} members, {len(owned)} partitions owned"
            if (g["state"] == "Stable" and len(g["members"]) == CHILDREN and len(owned) == PARTITIONS
                    and set(owned) == {(topic, p) for p in range(PARTITIONS)} and ids != changed_from):
                return time.monotonic(), ids
        time.sleep(0.5)
    raise ph.HarnessError(f"group {group} not stable with {CHILDREN} members within {timeout_s} s: {last}")


def wait_line(run, pattern, after, timeout_s, what):
    """(ts, match) of the first line matching `pattern` at index >= after."""
    rx, deadline = re.compile(pattern), time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with run.lock:
            for ts, t in run.lines[after:]:
                m = rx.search(t)
                if m:
                    return ts, m
        time.sleep(0.05)
    raise ph.HarnessError(f"no {what} within {timeout_s} s:\n{run.tail()}")


def main():
    ph.require_run()
    tag = ph.unique("swarm")
    topic, out, group = f"in-{tag}", f"out-{tag}", f"g-{tag}"
    ph.create_topic(BOOTSTRAP, topic, PARTITIONS)
    ph.create_topic(BOOTSTRAP, out, PARTITIONS)
    problems, runs, readers = [], [], []
    with tempfile.TemporaryDirectory(prefix="gregor-swarm-") as tmp:
        text = CONFIG.format(bootstrap=BOOTSTRAP, backoff=BACKOFF_MS, heartbeat=HEARTBEAT_MS, group=group, topic=topic,
                             out=out, extra="")
        path = ph.write_config(tmp, "swarm.yaml", text)
        try:
            r = ph.Run("swarm", path, args=("--processes", str(CHILDREN)))
            runs.append(r)
            for slot in range(CHILDREN):
                r.wait_for(rf"^gregor run: child {slot} \(pid \d+\) ready", 60, f"child {slot} ready")
            _, members = wait_group_stable(group, topic)
            first = ph.produce(BOOTSTRAP, topic, [(i % PARTITIONS, f"k{i}", f"a-{i}") for i in range(240)])
            reader = ph.TopicReader(BOOTSTRAP, out)
            readers.append(reader)
            want = {i.value for i in first}
            reader.wait(lambda recs: want <= {x.value for x in recs}, 40, "the first round's outputs")

            # 2. kill -9 child 1
            victim = int(r.find(r"^gregor run: child 1 \(pid (\d+)\) started$")[1][1])
            mark = len(r.lines)
            t_kill = time.monotonic()
            os.kill(victim, signal.SIGKILL)
            second = ph.produce(BOOTSTRAP, topic, [(i % PARTITIONS, f"k{i}", f"b-{i}") for i in range(240)])
            ts, m = wait_line(r, rf"^gregor run: child 1 \(pid {victim}\) killed by signal 9 \(SIGKILL\); "
                              rf"restart 1 in {BACKOFF_MS} ms$", mark, 10, "the supervisor's line about the kill")
            ph.figure("death_logged_after", ts - t_kill, "s")
            ts, m = wait_line(r, r"^gregor run: child 1 \(pid (\d+)\) started$", mark, 10, "child 1 restarted")
            if int(m[1]) == victim:
                problems.append(f"child 1 was not started again (pid {victim} reused?)")
            back = ts - t_kill
            ph.figure("restarted_after", back, f"s (backoff {BACKOFF_MS} ms)")
            if back > BACKOFF_MS / 1000.0 + 2.0:
                problems.append(f"child 1 restarted {back:.2f} s after the kill: more than the backoff + 2 s")
            wait_line(r, rf"^gregor run: child 1 \(pid {m[1]}\) ready", mark, 30, "the new child 1 ready")
            t_stable, now_members = wait_group_stable(group, topic, changed_from=members)
            if len(now_members & members) != CHILDREN - 1:
                problems.append(f"members before the kill {sorted(members)}, after {sorted(now_members)}: "
                                f"expected the two survivors and one new member")
            ph.figure("group_stable_after", t_stable - t_kill, "s")
            want |= {i.value for i in second}
            outs = reader.wait(lambda recs: want <= {x.value for x in recs}, 40, "both rounds' outputs")
            problems += pc.check_all_output(first + second, outs)

            # 3. SIGHUP with a broken file
            with open(path, "w") as f:
                f.write(text + "    threadz: 2\n")
            mark = len(r.lines)
            r.signal(signal.SIGHUP)
            r.wait_for(r"^gregor run: .*rejected: the children keep running the old config", 20, "the rejection")
            bad = r.find(re.escape(path) + r":\d+:\d+: unknown key 'threadz'")
            if not bad:
                problems.append("the SIGHUP's error was not logged as FILE:LINE:COL")
            else:
                ph.figure("sighup_error", bad[1].string)
            time.sleep(1.0)
            with r.lock:
                after = [t for _, t in r.lines[mark:]]
            if any(re.match(r"^gregor run: child \d+ \(pid \d+\) (started|exited|killed)", t) for t in after):
                problems.append(f"children changed after a rejected SIGHUP: {after}")

            # 4. SIGSTOP child 2: no heartbeat; the watchdog stops it (SIGTERM
            # cannot reach a stopped process: SIGKILL after the grace).
            frozen = int(wait_line(r, r"^gregor run: child 2 \(pid (\d+)\) started$", 0, 1, "child 2")[1][1])
            mark, t_stop = len(r.lines), time.monotonic()
            os.kill(frozen, signal.SIGSTOP)
            ts, m = wait_line(r, rf"^gregor run: child 2 \(pid {frozen}\): no heartbeat for (\d+) ms "
                              rf"\(swarm.heartbeat_timeout_ms {HEARTBEAT_MS}\); stopping it", mark, 10,
                              "the watchdog's line")
            ph.figure("watchdog_after", ts - t_stop, "s")
            wait_line(r, rf"^gregor run: child 2 \(pid {frozen}\) killed by signal 9 \(SIGKILL\); restart 1 in",
                      mark, 5, "the frozen child killed")
            ts, m = wait_line(r, r"^gregor run: child 2 \(pid (\d+)\) started$", mark, 5, "child 2 restarted")
            wait_line(r, rf"^gregor run: child 2 \(pid {m[1]}\) ready", mark, 30, "the new child 2 ready")

            # 5. SIGHUP with a good file: the children are replaced one at a
            # time, each new one ready before the next old one stops.
            with open(path, "w") as f:
                f.write(text.replace("commit_interval_ms: 300", "commit_interval_ms: 400"))
            mark, t_hup = len(r.lines), time.monotonic()
            r.signal(signal.SIGHUP)
            wait_line(r, r"^gregor run: reload: every child runs the new config$", mark, 60, "the reload's end")
            ph.figure("reload_took", time.monotonic() - t_hup, "s")
            with r.lock:
                after = [t for _, t in r.lines[mark:]]
            events = []
            for t in after:
                m = re.match(r"^gregor run: (?:reload: (replacing) child (\d+)|child (\d+) \(pid \d+\) (started|ready))", t)
                if m:
                    events.append(("replace", int(m[2])) if m[1] else (m[4], int(m[3])))
            want = [e for slot in range(CHILDREN) for e in (("replace", slot), ("started", slot), ("ready", slot))]
            if events != want:
                problems.append(f"reload: events {events}, expected each child replaced, started and ready in turn")

            # 6. SIGTERM
            rc, took = r.term(60)
            ph.figure("sigterm_exit", f"{rc} after {took:.2f} s")
            if rc != 0:
                problems.append(f"SIGTERM: exit status {rc}, expected 0")
            if not r.find(rf"^gregor run: stopped cleanly: all {CHILDREN} children exited 0$"):
                problems.append("the supervisor did not say that every child stopped cleanly")
        except ph.HarnessError as e:
            problems.append(str(e))
        finally:
            for reader in readers:
                reader.close()
            ph.close_all(runs)
    ph.finish(problems, runs)


if __name__ == "__main__":
    main()
