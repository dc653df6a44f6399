#!/usr/bin/env python3
"""Structured logs of `gregor run` (issue 11, logs), on the 1-node cluster
(GREGOR_TEST_KAFKA1): `-X log_format=json -X log_file=PATH` over a file
whose `log:` map says text (the command line wins). Pipelines read the
same 2-partition topic in their own groups with the example handler
`flaky` (word: poison; 2 attempts, 100 ms backoff) and a dead-letter
topic each; `loud` sets log_payloads, `quiet` does not; a third, `halt`, has
no dead-letter topic and 1 attempt.

A poison message whose value holds a quote, a newline, a tab and a control
character goes to both dead-letter topics. Checks:
  - every line of the log file is one JSON object with ts, level, source
    and msg; nothing of the run reaches stderr;
  - each pipeline logged an `assigned` event with pipeline, group, member,
    generation and its partitions, a `retrying` event and a
    `dead_lettered` event with the message's topic, partition, offset,
    attempt 2 and the handler's error text; `halt` a `partition_stopped`
    event with the same coordinates, attempt 1;
  - `loud`'s dead_lettered event carries the value (decoded exactly);
    nothing of the others carries it or any part of it;
  - after the file is moved away and SIGHUP is sent, a new file is created
    with a `log_reopened` event, the next poison message's events and the
    `stopped` event go there, and the moved file gets none of them.
"""
import json
import os
import signal
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pipeline_harness as ph  # noqa: E402

BOOTSTRAP = os.environ["GREGOR_TEST_KAFKA1"]
SECRET = "tail-SECRET-7f3a"
POISON = f'poison "quoted"\n\tctl\x01 {SECRET}'


class LogFile:
    """The JSON lines of a log file, read again at each call."""

    def __init__(self, path):
        self.path = path

    def events(self, problems=None):
        try:
            with open(self.path, "rb") as f:
                raw = f.read()
        except FileNotFoundError:
            return []
        out = []
        for n, line in enumerate(raw.split(b"\n")[:-1], 1):
            try:
                ev = json.loads(line)
            except ValueError as e:
                if problems is not None:
                    problems.append(f"{self.path}:{n}: not JSON ({e}): {line[:200]!r}")
                continue
            if problems is not None:
                for key in ("ts", "level", "source", "msg"):
                    if key not in ev:
                        problems.append(f"{self.path}:{n}: no {key!r}: {line[:200]!r}")
            out.append(ev)
        return out

    def wait(self, pred, timeout_s, what):
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            hits = [e for e in self.events() if pred(e)]
            if hits:
                return hits
            time.sleep(0.05)
        raise ph.HarnessError(f"{self.path}: no {what} within {timeout_s} s")


def is_ev(name, pipeline=None, msg=None):
    """A predicate: event `name` (of `pipeline`, about input `msg`)."""
    return lambda e: (e.get("event") == name and (pipeline is None or e.get("pipeline") == pipeline)
                      and (msg is None or (e.get("partition"), e.get("offset")) == (msg.partition, msg.offset)))


def check_dead_letter(problems, ev, pipeline, group, poison):
    want = {"pipeline": pipeline, "group": group, "topic": poison.topic, "partition": poison.partition,
            "offset": poison.offset, "attempt": 2, "level": "warn"}
    for k, v in want.items():
        if ev.get(k) != v:
            problems.append(f"{pipeline}: dead_lettered event: {k} = {ev.get(k)!r}, expected {v!r}: {ev}")
    if "flaky: the value contains 'poison'" not in ev.get("error", ""):
        problems.append(f"{pipeline}: dead_lettered event without the handler's error text: {ev}")


def main():
    ph.require_run()
    tag = ph.unique("logs")
    topic, out, dlq_loud, dlq_quiet = f"in-{tag}", f"out-{tag}", f"dlq-loud-{tag}", f"dlq-quiet-{tag}"
    groups = {"loud": f"gl-{tag}", "quiet": f"gq-{tag}", "halt": f"gh-{tag}"}
    ph.create_topic(BOOTSTRAP, topic, 2)
    ph.create_topic(BOOTSTRAP, out, 2)
    ph.create_topic(BOOTSTRAP, dlq_loud, 1)
    ph.create_topic(BOOTSTRAP, dlq_quiet, 1)
    problems, runs = [], []
    with tempfile.TemporaryDirectory(prefix="gregor-logs-") as tmp:
        log_path = os.path.join(tmp, "run.log")
        moved_path = log_path + ".1"

        def pipeline(name, dlq, extra):
            return f"""\
  - name: {name}
    group: {groups[name]}
    topics: [{topic}]
    handler: flaky
    params: {{ word: poison }}
    outputs: [ {{ name: out, topic: {out} }} ]
    retry: {{ max_attempts: {2 if dlq else 1}, backoff_ms: 100, max_backoff_ms: 100 }}
    dead_letter: "{dlq}"
    commit_interval_ms: 300
    consumer: {{ auto_offset_reset: earliest }}
{extra}"""
        path = ph.write_config(tmp, "logs.yaml", f"""\
cluster:
  bootstrap: ["{BOOTSTRAP}"]
log: {{ format: text, level: info }}
pipelines:
{pipeline("loud", dlq_loud, "    log_payloads: true")}
{pipeline("quiet", dlq_quiet, "")}
{pipeline("halt", "", "")}
""")
        log, moved = LogFile(log_path), LogFile(moved_path)
        try:
            r = ph.Run("logs", path, args=["-X", "log_format=json", "-X", f"log_file={log_path}"])
            runs.append(r)
            log.wait(is_ev("started"), 60, "started event")
            for name in groups:
                ev = log.wait(lambda e, n=name: is_ev("assigned", n)(e) and e.get("partitions"), 60,
                              f"{name} assigned event")[0]
                for k, v in (("group", groups[name]),):
                    if ev.get(k) != v:
                        problems.append(f"{name}: assigned event: {k} = {ev.get(k)!r}, expected {v!r}")
                if not ev.get("member") or not isinstance(ev.get("generation"), int) or ev["generation"] < 0:
                    problems.append(f"{name}: assigned event without member and generation: {ev}")
                if not set(ev["partitions"]) <= {f"{topic}/0", f"{topic}/1"}:
                    problems.append(f"{name}: assigned event partitions {ev['partitions']}")
                ph.figure(f"assigned_{name}", json.dumps(ev))
            # both pipelines own both partitions before the poison is written
            for name in groups:
                log.wait(lambda e, n=name: is_ev("assigned", n)(e) and len(e.get("partitions", [])) == 2, 30,
                         f"{name} owning both partitions")

            first = ph.produce(BOOTSTRAP, topic, [(0, "a", "fine-1"), (1, "p", POISON)])[1]
            # without a dead-letter topic the partition stops at the message, and says where and why
            st = log.wait(is_ev("partition_stopped", "halt", first), 40, "halt partition_stopped event")[0]
            want = {"group": groups["halt"], "topic": topic, "partition": 1, "offset": first.offset, "attempt": 1,
                    "level": "warn"}
            if any(st.get(k) != v for k, v in want.items()) or "contains 'poison'" not in st.get("error", ""):
                problems.append(f"halt: partition_stopped event {st}, expected {want} and the handler's error")
            for name in ("loud", "quiet"):
                dl = log.wait(is_ev("dead_lettered", name, first), 40, f"{name} dead_lettered event")[0]
                check_dead_letter(problems, dl, name, groups[name], first)
                log.wait(is_ev("retrying", name, first), 1, f"{name} retrying event")
                ph.figure(f"dead_lettered_{name}", json.dumps(dl))
            loud = log.wait(is_ev("dead_lettered", "loud", first), 1, "loud dead_lettered")[0]
            if loud.get("payload") != POISON:
                problems.append(f"loud: payload {loud.get('payload')!r}, expected {POISON!r}")

            # logrotate's way: move the file, then SIGHUP; new lines go to a new file
            os.rename(log_path, moved_path)
            r.signal(signal.SIGHUP)
            log.wait(is_ev("log_reopened"), 20, "log_reopened event in the new file")
            second = ph.produce(BOOTSTRAP, topic, [(1, "p", POISON)])[0]
            for name in ("loud", "quiet"):
                log.wait(is_ev("dead_lettered", name, second), 40, f"{name} dead_lettered after SIGHUP")
            rc, took = r.term(30)
            ph.figure("stop", took, "s")
            if rc != 0:
                problems.append(f"SIGTERM: exit status {rc}")
            if not [e for e in log.events() if is_ev("stopped")(e)]:
                problems.append("no stopped event in the new file")

            old_events, new_events = moved.events(problems), log.events(problems)
            ph.figure("lines", f"{len(old_events)} in the moved file, {len(new_events)} in the new one")
            if any(is_ev("dead_lettered", None, second)(e) or e.get("event") in ("log_reopened", "stopped")
                   for e in old_events):
                problems.append("the moved file got lines written after SIGHUP")
            if not any(e.get("event") == "started" for e in old_events):
                problems.append("the moved file lost its first lines")
            for e in old_events + new_events:
                if e.get("pipeline") != "loud" and SECRET in json.dumps(e):
                    problems.append(f"the value reached a line without log_payloads: {e}")
                if e.get("pipeline") in ("quiet", "halt") and "payload" in e:
                    problems.append(f"quiet logged a payload: {e}")
            stray = [t for t in r.text().splitlines() if t.strip()]
            if stray:
                problems.append(f"lines on stderr with log_file set: {stray[:5]}")
        except ph.HarnessError as e:
            problems.append(str(e))
        finally:
            ph.close_all(runs)
    ph.finish(problems, runs)


if __name__ == "__main__":
    main()
