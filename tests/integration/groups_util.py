"""Helpers of the `gregor groups` tests (test_groups_cli*.py): a kcat -G
member that reports its member id and assignment."""
import os
import subprocess


class KcatMember:
    """kcat -G: its member id and assignment from its rebalance lines on stderr."""

    def __init__(self, bootstrap, group, topic, tmp):
        self.err_path = os.path.join(tmp, "kcat.err")
        self.errf = open(self.err_path, "w")
        self.p = subprocess.Popen(["kcat", "-b", bootstrap, "-G", group, topic, "-o", "beginning",
                                   "-X", "client.id=kcat-member", "-X", "partition.assignment.strategy=range",
                                   "-X", "auto.commit.interval.ms=200"],
                                  stdout=subprocess.DEVNULL, stderr=self.errf)

    def report(self):
        member, parts = None, frozenset()
        with open(self.err_path) as f:
            for line in f:
                if "rebalanced (memberid " not in line:
                    continue
                member = line.split("(memberid ", 1)[1].split(")", 1)[0]
                if ": assigned: " in line:
                    items = line.split(": assigned: ", 1)[1].strip().split(", ")
                    parts = frozenset((i.split(" [")[0], int(i.split(" [")[1].rstrip("]"))) for i in items if i)
                else:
                    parts = frozenset()
        return member, parts

    def close(self):
        self.p.terminate()
        self.p.wait(10)
        self.errf.close()
