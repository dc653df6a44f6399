#!/usr/bin/env python3
"""A handler that segfaults on one message, under `gregor run --processes 2`
(issue 11, swarm acceptance), on the 1-node cluster (GREGOR_TEST_KAFKA1).

The members are static (group_instance_id: each child's becomes ID-SLOT),
so that a restarted child takes its predecessor's place at once.

The handler is `crash_pass` (tests/plugins/crash_plugin.c): it copies each
message to the output and raises SIGSEGV on a message containing "boom".
The pipeline has retry.max_attempts 3 and a dead-letter topic; 3 input
partitions; swarm.restart_backoff_ms 200.

Checks:
  - the process that ran the message is restarted each time, and the
    supervisor logs the death ("killed by signal 11 (SIGSEGV)") and the
    crashed call (pipeline, topic [partition], offsets, crash n of 3);
  - after 3 crashes the message is in the dead-letter topic once, with
    gregor.attempts = 3 and gregor.error "handler crashed: signal 11
    (SIGSEGV)", not in the output, and no 4th crash happens;
  - every other message (before and after it in its partition, and in the
    other partitions) has its output;
  - no partition was revoked: each restarted child took its predecessor's
    place as the same static member;
  - SIGTERM then exits 0.
"""
import os
import re
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pipeline_checks as pc  # noqa: E402
import pipeline_harness as ph  # noqa: E402

BOOTSTRAP = os.environ["GREGOR_TEST_KAFKA1"]
PARTITIONS, CHILDREN, ATTEMPTS = 3, 2, 3


def main():
    ph.require_run()
    plugin = ph.require_crash_plugin()
    tag = ph.unique("swcrash")
    topic, out, dlq, group = f"in-{tag}", f"out-{tag}", f"dlq-{tag}", f"g-{tag}"
    ph.create_topic(BOOTSTRAP, topic, PARTITIONS)
    ph.create_topic(BOOTSTRAP, out, PARTITIONS)
    ph.create_topic(BOOTSTRAP, dlq, 1)
    problems, runs, readers = [], [], []
    with tempfile.TemporaryDirectory(prefix="gregor-swcrash-") as tmp:
        path = ph.write_config(tmp, "crash.yaml", f"""\
cluster:
  bootstrap: ["{BOOTSTRAP}"]
swarm: {{ restart_backoff_ms: 200, max_restart_backoff_ms: 400 }}
pipelines:
  - name: crashy
    group: {group}
    topics: [{topic}]
    handler: crash_pass
    plugin: {plugin}
    params: {{ word: boom }}
    outputs: [ {{ name: out, topic: {out}, partition: input }} ]
    retry: {{ max_attempts: {ATTEMPTS}, backoff_ms: 100, max_backoff_ms: 100 }}
    dead_letter: {dlq}
    commit_interval_ms: 200
    consumer: {{ session_timeout_ms: 6000, heartbeat_interval_ms: 1000, group_instance_id: {tag} }}
""")
        try:
            # Under a sanitizer the SIGSEGV must kill the process, not become
            # the sanitizer's report and abort() or exit(66).
            env = {v: ":".join(filter(None, (os.environ.get(v, ""), "handle_segv=0")))
                   for v in ("ASAN_OPTIONS", "TSAN_OPTIONS")}
            r = ph.Run("swarm", path, args=("--processes", str(CHILDREN)), env=env)
            runs.append(r)
            for slot in range(CHILDREN):
                r.wait_for(rf"^gregor run: child {slot} \(pid \d+\) ready", 60, f"child {slot} ready")
            t0 = time.monotonic()
            inputs = ph.produce(BOOTSTRAP, topic, [(0, "a", "p0-a"), (0, "x", "p0-boom"), (0, "b", "p0-b")] +
                                [(p, f"k{p}{i}", f"p{p}-{i}") for p in (1, 2) for i in range(3)])
            poison = inputs[1]
            out_reader, dlq_reader = ph.TopicReader(BOOTSTRAP, out), ph.TopicReader(BOOTSTRAP, dlq)
            readers += [out_reader, dlq_reader]
            dlq_reader.wait(lambda recs: len(recs) >= 1, 50, "the dead letter")
            ph.figure("dead_lettered_after", time.monotonic() - t0, "s")
            good = [i for i in inputs if i is not poison]
            want = {i.value for i in good}
            outs = out_reader.wait(lambda recs: want <= {x.value for x in recs}, 30, "every other message's output")
            time.sleep(1.0)  # a 4th crash would show by now
            dead = dlq_reader.read()
            if len(dead) != 1 or dead[0].value != poison.value:
                problems.append(f"dead-letter topic: {[(d.value, d.headers) for d in dead]}, expected only "
                                f"{poison.value!r}")
            if dead:
                problems += pc.check_dead_letter(dead[0], topic, poison.partition, poison.offset, ATTEMPTS)
                err = pc.header(dead[0], "gregor.error")
                ph.figure("dead_letter.error", repr(err))
                if err != "handler crashed: signal 11 (SIGSEGV)":
                    problems.append(f"gregor.error is {err!r}, expected 'handler crashed: signal 11 (SIGSEGV)'")
            if any(x.value == poison.value for x in outs):
                problems.append("the crashing message has an output")
            problems += pc.check_all_output(good, outs)
            text = r.text()
            deaths = re.findall(r"^gregor run: child \d+ \(pid \d+\) killed by signal 11 \(SIGSEGV\)(?: \(core "
                                r"dumped\))?; restart \d+ in \d+ ms$", text, re.M)
            calls = re.findall(rf"^gregor run: child \d+ \(pid \d+\) died in a handler call of pipeline crashy on "
                               rf"{re.escape(topic)} \[0\] offsets {poison.offset}\.\.{poison.offset}: crash (\d) of "
                               rf"retry.max_attempts {ATTEMPTS}$", text, re.M)
            ph.figure("deaths", len(deaths))
            if len(deaths) != ATTEMPTS:
                problems.append(f"{len(deaths)} SIGSEGV deaths logged, expected {ATTEMPTS}")
            if calls != [str(n) for n in range(1, ATTEMPTS + 1)]:
                problems.append(f"crash lines counted {calls}, expected 1..{ATTEMPTS}")
            revoked = re.findall(r"^gregor run: pipeline crashy: revoked", text, re.M)
            ph.figure("revokes_before_the_stop", len(revoked))
            if revoked:
                problems.append(f"{len(revoked)} revokes: static members should have kept their partitions")
            rc, took = r.term(60)
            ph.figure("sigterm_exit", f"{rc} after {took:.2f} s")
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
