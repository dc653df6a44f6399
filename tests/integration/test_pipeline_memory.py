#!/usr/bin/env python3
"""Bounded memory under a slow handler (issue 10, acceptance), on the
1-node cluster (GREGOR_TEST_KAFKA1): `sleep_pass` (tests/plugins/) sleeps
800 ms a message on 2 partitions with 2 threads (2.5 messages a second in
all) while a producer writes 250 messages of 16 KiB a second (100 times
the handler's rate, 4 MiB/s) for 15 s: about 60 MiB the process could
hold if nothing bounded it.

The pipeline's bounds: max_in_flight { messages: 50, bytes: 256 KiB } per
partition; the consumer's prefetch_bytes 1 MiB (max_partition_fetch_bytes
256 KiB). The process's VmRSS (/proc/PID/status) is sampled every 0.5 s
and printed; it must stay under
    RSS before the input + 2 x (prefetch_bytes + partitions x max_in_flight.bytes)
    + ASan's quarantine (capped at 8 MiB for this run) + 16 MiB slack,
and the `--stats-ms` lines' queued_bytes under partitions x
max_in_flight.bytes + prefetch_bytes (a partition is paused once over its
bound, but what the consumer fetched before may still come: at most its
prefetch). The stop must be clean."""
import os
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pipeline_harness as ph  # noqa: E402

BOOTSTRAP = os.environ["GREGOR_TEST_KAFKA1"]
PARTITIONS = 2
VALUE_BYTES = 16384
RATE = 250  # input messages a second
SLEEP_MS = 800  # 2 threads: 2.5 messages a second, 1/100 of RATE
DURATION_S = 15
MIF_MESSAGES, MIF_BYTES = 50, 262144
PREFETCH_BYTES, PARTITION_FETCH_BYTES = 1048576, 262144
QUARANTINE_MB, SLACK_MB = 8, 16
MIB = 1048576


def produce_for(topic, seconds, stop, sent):
    from kafka import KafkaProducer
    producer = KafkaProducer(bootstrap_servers=BOOTSTRAP, acks=1, linger_ms=20, batch_size=262144,
                             max_request_size=2 * MIB)
    value = b"x" * VALUE_BYTES
    t0 = time.monotonic()
    n = 0
    while not stop.is_set() and time.monotonic() - t0 < seconds:
        producer.send(topic, value=value, partition=n % PARTITIONS)
        n += 1
        delay = t0 + n / RATE - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    producer.flush(timeout=60)
    producer.close(timeout=10)
    sent.append(n)


def main():
    ph.require_run()
    plugin = ph.require_plugin()
    tag = ph.unique("memory")
    topic, out, group = f"in-{tag}", f"out-{tag}", f"g-{tag}"
    ph.create_topic(BOOTSTRAP, topic, PARTITIONS)
    ph.create_topic(BOOTSTRAP, out, PARTITIONS)
    problems, runs = [], []
    asan = os.environ.get("ASAN_OPTIONS", "")
    env = {"ASAN_OPTIONS": f"{asan + ':' if asan else ''}quarantine_size_mb={QUARANTINE_MB}"}
    with tempfile.TemporaryDirectory(prefix="gregor-memory-") as tmp:
        path = ph.write_config(tmp, "memory.yaml", f"""\
cluster:
  bootstrap: ["{BOOTSTRAP}"]
pipelines:
  - name: slow
    group: {group}
    topics: [{topic}]
    plugin: {plugin}
    handler: sleep_pass
    params: {{ sleep_ms: {SLEEP_MS} }}
    threads: 2
    ordering: partition
    outputs: [ {{ name: out, topic: {out} }} ]
    max_in_flight: {{ messages: {MIF_MESSAGES}, bytes: {MIF_BYTES} }}
    consumer: {{ auto_offset_reset: earliest, prefetch_bytes: {PREFETCH_BYTES},
                max_partition_fetch_bytes: {PARTITION_FETCH_BYTES}, fetch_max_bytes: {PREFETCH_BYTES} }}
""")
        stop = threading.Event()
        sent = []
        producer = None
        try:
            r = ph.Run("slow", path, args=["--stats-ms", "1000"], env=env)
            runs.append(r)
            r.wait_started(1)
            r.wait_assigned("slow")
            time.sleep(1)
            baseline = 0
            for _ in range(3):
                baseline = max(baseline, r.rss_kib() or 0)
                time.sleep(0.2)
            bound = baseline + (2 * (PREFETCH_BYTES + PARTITIONS * MIF_BYTES)) // 1024 + \
                (QUARANTINE_MB + SLACK_MB) * 1024
            producer = threading.Thread(target=produce_for, args=(topic, DURATION_S, stop, sent), daemon=True)
            producer.start()
            samples = []
            t0 = time.monotonic()
            while producer.is_alive() and time.monotonic() - t0 < DURATION_S + 60:
                rss = r.rss_kib()
                if rss is None:
                    raise ph.HarnessError(f"gregor run exited while the input was written:\n{r.tail()}")
                samples.append((time.monotonic() - t0, rss))
                time.sleep(0.5)
            producer.join(60)
            time.sleep(1)
            samples.append((time.monotonic() - t0, r.rss_kib() or 0))
            with r.lock:
                stats = [(ts, c) for ts, name, c in r.stats if name == "slow"]
            ph.figure("stop", r.stop_cleanly(timeout_s=30), "s")

            written = (sent[0] if sent else 0) * VALUE_BYTES
            peak = max(rss for _, rss in samples)
            print("rss over time (s: MiB): " + ", ".join(f"{t:.0f}: {rss / 1024:.1f}" for t, rss in samples[::2]),
                  flush=True)
            ph.figure("input_written", f"{written / MIB:.1f} MiB in {sent[0] if sent else 0} messages")
            ph.figure("rss.before_input", f"{baseline / 1024:.1f} MiB")
            ph.figure("rss.peak", f"{peak / 1024:.1f} MiB")
            ph.figure("rss.bound", f"{bound / 1024:.1f} MiB")
            if peak > bound:
                problems.append(f"RSS reached {peak / 1024:.1f} MiB, above the bound {bound / 1024:.1f} MiB")
            if written < 2 * (bound - baseline) * 1024:
                problems.append(f"only {written / MIB:.1f} MiB written: too little to tell a bound from growth")

            if not stats:
                problems.append("no `gregor run: stats slow ...` line with --stats-ms 1000")
            else:
                qmax = max(int(c.get("queued_bytes", "0")) for _, c in stats)
                qbound = PARTITIONS * MIF_BYTES + PREFETCH_BYTES
                last = stats[-1][1]
                ph.figure("stats.last", " ".join(f"{k}={v}" for k, v in last.items()))
                ph.figure("stats.queued_bytes_max", f"{qmax} (bound {qbound})")
                if qmax > qbound:
                    problems.append(f"queued_bytes reached {qmax}, above {qbound}")
                consumed, processed = int(last.get("consumed", 0)), int(last.get("processed", 0))
                if consumed - processed > PARTITIONS * MIF_MESSAGES * 2:
                    problems.append(f"consumed {consumed} but processed {processed}: more than twice "
                                    f"max_in_flight.messages per partition held")
        except ph.HarnessError as e:
            problems.append(str(e))
        finally:
            stop.set()
            if producer:
                producer.join(30)
            ph.close_all(runs)
    ph.finish(problems, runs)


if __name__ == "__main__":
    main()
