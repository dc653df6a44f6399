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

gregor = os.path.abspath(os.environ["GREGOR_BIN"])
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
# gregor check: every example config is valid, with no plugin path.
confs = sorted(glob.glob(os.path.join(src, "conf", "*.yaml")))
assert len(confs) >= 4, confs
for c in confs:
    check(["check", c], 0, [f"{c}: ok: "])
check(["check"] + confs, 0, [f"{os.path.join(src, 'conf', 'wordcount.yaml')}: ok: 2 pipelines "
                             "(split handler split_words, count handler count_words)"])
unknown = os.path.join(data, "unknown_handler.yaml")
check(["check", unknown], 1,
      [f"{unknown}:8:14: unknown handler 'splitwords'; known handlers: count_words, flaky, json_route, "
       "passthrough, split_words; did you mean 'split_words'?",
       f"{unknown}:13:14: unknown handler 'no_such_thing'; known handlers: count_words, flaky, "])
bad_plugin = os.path.join(data, "bad_plugin.yaml")
check(["check", bad_plugin], 1,
      [f"{bad_plugin}:4:11: plugin '/nonexistent/dir/missing.so': /nonexistent/dir/missing.so: "
       "cannot open shared object file: No such file or directory"])
# One bad file among good ones: all are checked, the status is 1.
check(["check", confs[0], unknown, confs[-1]], 1, [f"{confs[0]}: ok", f"{confs[-1]}: ok", f"{unknown}:8:14"])
check(["check", "/nonexistent/p.yaml"], 1, ["/nonexistent/p.yaml"])
check(["check"], 2, ["usage: gregor check FILE"])
check(["check", "-x", confs[0]], 2, ["unknown option -x"])

with tempfile.TemporaryDirectory() as tmp:
    # A plugin named in the YAML by a path relative to the YAML file.
    rel = os.path.relpath(upper, tmp)
    y = os.path.join(tmp, "upper.yaml")
    with open(y, "w") as f:
        f.write("cluster: { bootstrap: localhost:9092 }\n"
                f"plugins: [{rel}]\n"
                "pipelines:\n"
                "  - { name: up, group: g, topics: [in], handler: upper, outputs: [ { name: o, topic: o } ] }\n")
    check(["check", y], 0, [f"{y}: ok: 1 pipeline (up handler upper)"], cwd="/")
    # A handler found as NAME.so in GREGOR_PLUGIN_PATH.
    shutil.copy(upper, os.path.join(tmp, "upper.so"))
    y2 = os.path.join(tmp, "byname.yaml")
    with open(y2, "w") as f:
        f.write("cluster: { bootstrap: localhost:9092 }\n"
                "pipelines:\n"
                "  - { name: up, group: g, topics: [in], handler: upper, outputs: [ { name: o, topic: o } ] }\n")
    check(["check", y2], 0, [f"{y2}: ok: 1 pipeline (up handler upper)"],
          env={"GREGOR_PLUGIN_PATH": "/nonexistent:" + tmp})
    check(["check", y2], 1, [f"{y2}:3:50: unknown handler 'upper'"], env={"GREGOR_PLUGIN_PATH": ""})

print(f"{total - failures} passed, {failures} failed")
sys.exit(1 if failures else 0)
