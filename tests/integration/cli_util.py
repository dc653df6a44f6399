"""Helpers shared by the Python CLI tests (test_*.py here): failing with a
message, and running a command that must succeed."""
import subprocess
import sys


def fail(msg):
    print(f"FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def run(cmd, stdin=None, timeout=60):
    """Runs cmd with stdin (bytes); its stdout, or fail() naming the command and its stderr."""
    p = subprocess.run(cmd, input=stdin, capture_output=True, timeout=timeout)
    if p.returncode != 0:
        fail(f"{' '.join(cmd)} exited {p.returncode}: {p.stderr.decode(errors='replace').strip()}")
    return p.stdout
