#!/usr/bin/env python3
"""Bad pipeline files (issue 10, acceptance), against the 1-node cluster
(GREGOR_TEST_KAFKA1): `gregor run FILE` must exit non-zero with a located
message (`FILE:LINE:COL: ...` naming what is wrong) and consume nothing.

Each case is a good file with one fault: syntax error, unknown key, wrong
type, no handler key, an unknown handler name, unreachable brokers
(127.0.0.1:1). Every file names a topic that holds messages and a group of
its own on the real cluster, so a run that went ahead anyway would show:
after each exit the group must not exist and have no committed offsets.
The loader's own bad files (tests/data/conf/bad/*.yaml, when present) must
each make `gregor run` exit non-zero with a message located in that file.
"""
import glob
import os
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pipeline_harness as ph  # noqa: E402

BOOTSTRAP = os.environ["GREGOR_TEST_KAFKA1"]
HERE = os.path.dirname(os.path.abspath(__file__))
BAD_DATA = os.path.join(HERE, "..", "data", "conf", "bad")
RUN_TIMEOUT_S = 60
CONNECT_TIMEOUT_MS = 2000  # the unreachable cluster's case waits this long (default 15 s)

GOOD = """\
cluster:
  bootstrap: ["{bootstrap}"]
pipelines:
  - name: copy
    group: {group}
    topics: [{topic}]
    handler: passthrough
    threads: 2
    outputs: [ {{ name: out, topic: {out} }} ]
    consumer: {{ auto_offset_reset: earliest }}
"""

# name -> (the line of GOOD to replace, its replacement, words the message
# must contain, the line of GOOD where the message must be located (any
# column): the replaced one, or for a missing key the pipeline's own).
CASES = {
    "syntax_error": ("    threads: 2", "    threads: 2: 3", [], None),
    "unknown_key": ("    threads: 2", "    thread: 2", ["thread"], None),
    "wrong_type": ("    threads: 2", "    threads: four", ["threads", "four"], None),
    "no_handler_key": ("    handler: passthrough", "    # no handler", ["handler"], "  - name: copy"),
    "unknown_handler": ("    handler: passthrough", "    handler: no_such_handler", ["no_such_handler"], None),
    "unreachable_brokers": ('  bootstrap: ["{bootstrap}"]', '  bootstrap: ["127.0.0.1:1"]', ["127.0.0.1:1"], None),
}


def run(path):
    t0 = time.monotonic()
    try:
        p = subprocess.run([ph.GREGOR_BIN, "run", "--connect-timeout-ms", str(CONNECT_TIMEOUT_MS), path],
                           capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return None, f"still running after {RUN_TIMEOUT_S} s", RUN_TIMEOUT_S
    return p.returncode, p.stdout + p.stderr, time.monotonic() - t0


def main():
    ph.require_run()
    tag = ph.unique("badconf")
    topic, out = f"in-{tag}", f"out-{tag}"
    ph.create_topic(BOOTSTRAP, topic, 2)
    ph.create_topic(BOOTSTRAP, out, 2)
    ph.produce(BOOTSTRAP, topic, [(i % 2, None, f"m{i}") for i in range(10)])
    problems = []
    with tempfile.TemporaryDirectory(prefix="gregor-badconf-") as tmp:
        # The good file runs and consumes, and the check below sees it: so
        # the faults are what stops the others, and the check can fail.
        good_group = f"good-{tag}"
        good = ph.write_config(tmp, "good.yaml", GOOD.format(bootstrap=BOOTSTRAP, group=good_group, topic=topic,
                                                           out=out))
        r = ph.Run("good", good)
        reader = None
        try:
            r.wait_started(1)
            r.wait_assigned("copy")
            reader = ph.TopicReader(BOOTSTRAP, out)
            reader.wait(lambda recs: len(recs) >= 10, 30, "the good file's 10 outputs")
            ph.figure("good.stop", r.stop_cleanly(), "s")
            if not ph.committed(BOOTSTRAP, good_group) or not ph.group_exists(BOOTSTRAP, good_group):
                problems.append(f"the good file ran but group {good_group} shows no commits: the check is blind")
        except ph.HarnessError as e:
            problems.append(f"the good file: {e}")
        finally:
            if reader:
                reader.close()
            ph.close_all([r])

        for name, (old, new, words, where) in CASES.items():
            group = f"{name}-{tag}"
            text = GOOD.replace(old, new).format(bootstrap=BOOTSTRAP, group=group, topic=topic, out=out)
            line_no = 1 + GOOD.splitlines().index(where or old)
            path = ph.write_config(tmp, f"{name}.yaml", text)
            rc, output, took = run(path)
            ph.figure(f"{name}.exit", f"{rc} after {took:.2f} s")
            if took > CONNECT_TIMEOUT_MS / 1000 + 10:
                problems.append(f"{name}: took {took:.1f} s to fail (--connect-timeout-ms {CONNECT_TIMEOUT_MS})")
            print("\n".join(f"    {line}" for line in output.strip().splitlines()[:6]), flush=True)
            if rc is None or rc == 0:
                problems.append(f"{name}: exit status {rc}, expected non-zero: {output.strip()[:500]}")
            located = re.search(rf"{re.escape(path)}:{line_no}:\d+: ", output)
            if not located:
                problems.append(f"{name}: no message located at {path}:{line_no}:COL: in: {output.strip()[:500]}")
            for w in words:
                if w not in output:
                    problems.append(f"{name}: the message does not name {w!r}: {output.strip()[:500]}")
            offsets = ph.committed(BOOTSTRAP, group)
            if offsets or ph.group_exists(BOOTSTRAP, group):
                problems.append(f"{name}: group {group} exists (committed: {offsets}): something was consumed")

        files = sorted(glob.glob(os.path.join(BAD_DATA, "*.yaml")))
        ph.figure("loader_bad_files", len(files))
        for path in files:
            rc, output, took = run(path)
            if rc is None or rc == 0:
                problems.append(f"{os.path.basename(path)}: exit status {rc}, expected non-zero: {output[:300]}")
            elif not re.search(rf"{re.escape(os.path.basename(path))}:\d+:\d+: ", output):
                problems.append(f"{os.path.basename(path)}: no located message: {output.strip()[:300]}")
    ph.finish(problems)


if __name__ == "__main__":
    main()
