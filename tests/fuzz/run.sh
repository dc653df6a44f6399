#!/usr/bin/env bash
# tests/fuzz/run.sh FUZZER SECONDS CORPUS_DIR WORK_DIR [--merge] [--regress DIR] [libFuzzer flags...]
#
# Runs one libFuzzer target for SECONDS on the corpus kept in the tree
# (CORPUS_DIR, read only) and WORK_DIR (where new inputs go), then prints
# what it saw in one line:
#
#   fuzz_fetch: start cov 812 ft 2950 corp 41, end cov 845 ft 3120 corp 58,
#     301234 execs in 15 s (20082/s), 0 crashes
#
# "start" is after the corpus was replayed (libFuzzer's INITED line), "end"
# its last line: cov = edges covered, ft = features (edges with hit counts,
# compared values). A crash, leak, timeout or sanitizer report fails the run
# and names the reproducer (kept under WORK_DIR/../crashes/). The line is
# also appended to WORK_DIR/../summary.txt. With --merge
# the corpus in the tree is replaced afterwards by a minimized merge of
# itself and WORK_DIR (libFuzzer -merge=1): what scripts/test --fuzz-long
# does, so that a long run's finds can be committed. --regress DIR: inputs
# that once failed (tests/fuzz/regress/<target>/), replayed every run, never
# merged away.
set -euo pipefail
fuzzer=$1 seconds=$2 corpus=$3 work=$4
shift 4
merge=0 regress=
while [ $# -gt 0 ]; do
  case "$1" in
    --merge) merge=1; shift ;;
    --regress) regress=$2; shift 2 ;;
    *) break ;;
  esac
done
name=$(basename "$fuzzer")
crashes=$(dirname "$work")/crashes
mkdir -p "$work" "$crashes" "$corpus"
log=$work.log

status=0
started=$SECONDS
"$fuzzer" -max_total_time="$seconds" -print_final_stats=1 -rss_limit_mb=2048 -timeout=10 \
  -artifact_prefix="$crashes/$name-" "$@" "$work" "$corpus" ${regress:+"$regress"} >"$log" 2>&1 || status=$?
elapsed=$((SECONDS - started))

field() { # line-pattern, key -> the value after "key:" on the last matching line
  grep -a "$1" "$log" | tail -n 1 | sed -n "s/.* $2: *\([0-9]*\).*/\1/p"
}
start_cov=$(field 'INITED' cov) start_ft=$(field 'INITED' ft) start_corp=$(field 'INITED' corp)
end_line='DONE'
grep -aq 'DONE' "$log" || end_line='^#[0-9]'
end_cov=$(field "$end_line" cov) end_ft=$(field "$end_line" ft) end_corp=$(field "$end_line" corp)
execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
artifacts=$(sed -n 's/.*Test unit written to \(.*\)/\1/p' "$log")
ncrash=0
[ -z "$artifacts" ] || ncrash=$(printf '%s\n' "$artifacts" | wc -l)

summary="$name: start cov ${start_cov:-?} ft ${start_ft:-?} corp ${start_corp:-?}, end cov ${end_cov:-?}"
summary+=" ft ${end_ft:-?} corp ${end_corp:-?}, ${execs:-?} execs in ${elapsed} s (${rate:-?}/s), $ncrash crashes"
echo "$summary"
echo "$summary" >>"$(dirname "$work")/summary.txt"
if [ "$status" != 0 ]; then
  grep -a -B2 -A40 -m1 'ERROR: \|==ERROR\|runtime error\|deadly signal\|ALARM' "$log" >&2 || tail -n 60 "$log" >&2
  echo "$name: failed (exit $status); log: $log" >&2
  for a in $artifacts; do echo "$name: reproduce with: $fuzzer $a" >&2; done
  exit 1
fi
if [ "$merge" = 1 ]; then
  fresh=$work.merged
  rm -rf "$fresh" && mkdir -p "$fresh"
  "$fuzzer" -merge=1 "$@" "$fresh" "$corpus" "$work" >"$work.merge.log" 2>&1 ||
    { tail -n 20 "$work.merge.log" >&2; echo "$name: merge failed" >&2; exit 1; }
  find "$corpus" -maxdepth 1 -type f -delete
  cp "$fresh"/* "$corpus"/ 2>/dev/null || true
  echo "$name: corpus in the tree: $(find "$corpus" -type f | wc -l) files, $(cat "$corpus"/* | wc -c) bytes"
fi
