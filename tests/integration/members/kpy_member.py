#!/usr/bin/env python3
"""A kafka-python consumer group member for the group interop tests
(group_harness.py), speaking the same lines as `kcat -G` does:

  stdout, one line per message, as kcat -f 'MSG %t %p %o %s\\n':
      MSG <topic> <partition> <offset> <value>
  stderr, one line per rebalance, kcat's own format (and `lost:`, which
  kcat reports as `revoked:`):
      % Group <group> rebalanced (memberid <id>): assigned: <topic> [<p>], ...
      % Group <group> rebalanced (memberid <id>): revoked: <topic> [<p>], ...
      % Group <group> rebalanced (memberid <id>): lost: <topic> [<p>], ...
  stderr, after each commit that succeeded:
      % Committed <topic> [<p>] @ <offset>

It commits what it printed: every --commit-interval-ms, and for the
partitions being revoked before they are given away (not for lost ones).
SIGTERM and SIGINT close it cleanly: a last commit, then LeaveGroup.
"""
import argparse
import signal
import sys
import threading
import time

from kafka import KafkaConsumer
from kafka.consumer.subscription_state import AsyncConsumerRebalanceListener
from kafka.structs import OffsetAndMetadata

ASSIGNORS = {
    "range": "kafka.coordinator.assignors.range.RangePartitionAssignor",
    "roundrobin": "kafka.coordinator.assignors.roundrobin.RoundRobinPartitionAssignor",
    "cooperative-sticky": "kafka.coordinator.assignors.cooperative_sticky.CooperativeStickyAssignor",
}


def load(dotted):
    module, name = dotted.rsplit(".", 1)
    return getattr(__import__(module, fromlist=[name]), name)


def err(line):
    print(line, file=sys.stderr, flush=True)


def plist(tps):
    return ", ".join(f"{tp.topic} [{tp.partition}]" for tp in sorted(tps))


class Member(AsyncConsumerRebalanceListener):
    """The listener runs on kafka-python's I/O thread while main() prints on
    the main thread: `lock` guards owned, printed and committed, and a
    partition leaves `owned` before its revoke commit, so that nothing of it
    is printed after its position was committed."""

    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.owned = set()
        self.printed = {}  # TopicPartition -> offset after the last printed message
        self.committed = {}
        self.consumer = KafkaConsumer(
            bootstrap_servers=args.bootstrap, group_id=args.group, client_id=args.name,
            enable_auto_commit=False, auto_offset_reset="earliest",
            session_timeout_ms=args.session_timeout_ms,
            heartbeat_interval_ms=max(100, args.session_timeout_ms // 5),
            partition_assignment_strategy=[load(ASSIGNORS[a]) for a in args.assignor.split(",")])
        self.consumer.subscribe(args.topics, listener=self)

    def member_id(self):
        try:
            return self.consumer._coordinator._generation.member_id or self.args.name
        except AttributeError:
            return self.args.name

    def rebalanced(self, what, tps):
        err(f"% Group {self.args.group} rebalanced (memberid {self.member_id()}): {what}: {plist(tps)}")

    def print_records(self, batches):
        """Prints the records of partitions still owned; returns how many."""
        n = 0
        with self.lock:
            for tp, records in batches.items():
                if tp not in self.owned:
                    continue
                for r in records:
                    value = r.value.decode(errors="replace") if r.value is not None else "NULL"
                    sys.stdout.write(f"MSG {r.topic} {r.partition} {r.offset} {value}\n")
                    self.printed[tp] = r.offset + 1
                    n += 1
            sys.stdout.flush()
        return n

    def _todo(self, tps):
        """The printed positions of `tps` (all if None) not committed yet. Lock held."""
        return {tp: off for tp, off in self.printed.items()
                if (tps is None or tp in tps) and self.committed.get(tp) != off}

    def _done(self, todo):
        with self.lock:
            for tp, off in sorted(todo.items()):
                if tp in self.printed:
                    self.committed[tp] = off
        for tp, off in sorted(todo.items()):
            err(f"% Committed {tp.topic} [{tp.partition}] @ {off}")

    def commit(self):
        """Commits what was printed (from the poll loop)."""
        with self.lock:
            todo = self._todo(None)
        if not todo:
            return
        try:
            self.consumer.commit({tp: OffsetAndMetadata(off, "", -1) for tp, off in todo.items()})
        except Exception as e:  # a rebalance under way, a coordinator moving: the next one will do
            err(f"% kpy_member: commit failed: {e!r}")
            return
        self._done(todo)

    async def on_partitions_revoked(self, revoked):
        # From the listener, on kafka-python's I/O loop: await, never block on it.
        with self.lock:
            self.owned -= set(revoked)
            todo = self._todo(set(revoked))
        if todo:
            try:
                await self.consumer._coordinator._commit_offsets_sync_async(
                    {tp: OffsetAndMetadata(off, "", -1) for tp, off in todo.items()})
                self._done(todo)
            except Exception as e:
                err(f"% kpy_member: commit failed: {e!r}")
        self.rebalanced("revoked", revoked)
        self.forget(revoked)

    async def on_partitions_assigned(self, assigned):
        self.rebalanced("assigned", assigned)
        with self.lock:
            self.owned |= set(assigned)

    async def on_partitions_lost(self, lost):
        with self.lock:
            self.owned -= set(lost)
        self.rebalanced("lost", lost)
        self.forget(lost)

    def forget(self, tps):
        with self.lock:
            for tp in tps:
                self.printed.pop(tp, None)
                self.committed.pop(tp, None)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-b", "--bootstrap", required=True)
    ap.add_argument("-G", "--group", required=True)
    ap.add_argument("--name", default="kpy")
    ap.add_argument("--assignor", default="range", help="comma-separated: " + ", ".join(ASSIGNORS))
    ap.add_argument("--session-timeout-ms", type=int, default=10000)
    ap.add_argument("--commit-interval-ms", type=int, default=1000)
    ap.add_argument("topics", nargs="+")
    args = ap.parse_args()

    stop = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.append(1))
    m = Member(args)
    last_commit = time.monotonic()
    while not stop:
        m.print_records(m.consumer.poll(timeout_ms=200))
        if time.monotonic() - last_commit >= args.commit_interval_ms / 1000:
            m.commit()
            last_commit = time.monotonic()
    m.commit()
    m.consumer.close(autocommit=False)
    err("% kpy_member: closed")


if __name__ == "__main__":
    main()
