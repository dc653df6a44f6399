#!/usr/bin/env python3
"""The swarm's watchdog on a stuck handler (issue 11), on the 1-node cluster
(GREGOR_TEST_KAFKA1): `gregor run --processes 1` of `crash_pass`
(tests/plugins/crash_plugin.c) whose call on a message containing "hang"
sleeps for an hour; handler_timeout_ms 1500, swarm.kill_grace_ms 300,
retry.max_attempts 1 and a dead-letter topic.

Checks: the supervisor says which call ran past handler_timeout_ms and
stops the child (SIGTERM, then SIGKILL), restarts it, and counts the call
as a failed attempt: the message ends in the dead-letter topic with
gregor.error "handler timed out: ran past handler_timeout_ms (1500 ms)"
and gregor.attempts 1, and the messages around it have their outputs.
"""
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pipeline_checks as pc  # noqa: E402
import pipeline_harness as ph  # noqa: E402

BOOTSTRAP = os.environ["GREGOR_TEST_KAFKA1"]
TIMEOUT_MS = 1500


def main():
    ph.require_run()
    plugin = ph.require_crash_plugin()
    tag = ph.unique("swhang")
    topic, out, dlq, group = f"in-{tag}", f"out-{tag}", f"dlq-{tag}", f"g-{tag}"
    ph.create_topic(BOOTSTRAP, topic, 1)
    ph.create_topic(BOOTSTRAP, out, 1)
    ph.create_topic(BOOTSTRAP, dlq, 1)
    problems, runs, readers = [], [], []
    with tempfile.TemporaryDirectory(prefix="gregor-swhang-") as tmp:
        path = ph.write_config(tmp, "hang.yaml", f"""\
cluster:
  bootstrap: ["{BOOTSTRAP}"]
swarm: {{ restart_backoff_ms: 200, kill_grace_ms: 300 }}
pipelines:
  - name: slow
    group: {group}
    topics: [{topic}]
    handler: crash_pass
    plugin: {plugin}
    params: {{ hang_word: hang }}
    handler_timeout_ms: {TIMEOUT_MS}
    outputs: [ {{ name: out, topic: {out} }} ]
    retry: {{ max_attempts: 1 }}
    dead_letter: {dlq}
    commit_interval_ms: 200
    consumer: {{ session_timeout_ms: 6000, heartbeat_interval_ms: 1000, group_instance_id: {tag} }}
""")
        try:
            r = ph.Run("swarm", path, args=("--processes", "1"))
            runs.append(r)
            r.wait_for(r"^gregor run: child 0 \(pid \d+\) ready", 60, "child 0 ready")
            t0 = time.monotonic()
            inputs = ph.produce(BOOTSTRAP, topic, [(0, "a", "ok-1"), (0, "h", "please hang"), (0, "b", "ok-2")])
            stuck = inputs[1]
            ts, m = r.wait_for(rf"^gregor run: child 0 \(pid \d+\): pipeline slow: a handler call on "
                               rf"{topic} \[0\] offsets {stuck.offset}\.\.{stuck.offset} has run for \d+ ms "
                               rf"\(handler_timeout_ms {TIMEOUT_MS}\); stopping it", 20, "the watchdog's line")
            ph.figure("watchdog_after", ts - t0, "s")
            r.wait_for(r"^gregor run: child 0 \(pid \d+\) killed by signal 9 \(SIGKILL\); restart 1 in 200 ms$", 10,
                       "the SIGKILL after the grace")
            out_reader, dlq_reader = ph.TopicReader(BOOTSTRAP, out), ph.TopicReader(BOOTSTRAP, dlq)
            readers += [out_reader, dlq_reader]
            dead = dlq_reader.wait(lambda recs: len(recs) >= 1, 30, "the dead letter")
            ph.figure("dead_lettered_after", time.monotonic() - t0, "s")
            want = {inputs[0].value, inputs[2].value}
            outs = out_reader.wait(lambda recs: want <= {x.value for x in recs}, 20, "the other messages' outputs")
            if len(dead) != 1 or dead[0].value != stuck.value:
                problems.append(f"dead-letter topic: {[(d.value, d.headers) for d in dead]}")
            else:
                problems += pc.check_dead_letter(dead[0], topic, 0, stuck.offset, 1)
                err = pc.header(dead[0], "gregor.error")
                ph.figure("dead_letter.error", repr(err))
                if err != f"handler timed out: ran past handler_timeout_ms ({TIMEOUT_MS} ms)":
                    problems.append(f"gregor.error is {err!r}")
            if any(x.value == stuck.value for x in outs):
                problems.append("the stuck message has an output")
            rc, took = r.term(60)
            if rc != 0:
                problems.append(f"SIGTERM: exit status {rc}, expected 0")
        except ph.HarnessError as e:
            problems.append(str(e))
        finally:
            for reader in readers:
                reader.close()
            ph.close_all(runs)
    ph.finish(problems, runs)


if __name__ == "__main__":
    main()
