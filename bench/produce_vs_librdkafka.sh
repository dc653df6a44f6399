#!/bin/sh
# bench/produce_vs_librdkafka.sh — the same produce workload with gregor and
# with librdkafka against the same broker, in the same run; prints both
# summary lines and the ratios gregor/librdkafka.
#
#   bench/produce_vs_librdkafka.sh -b BROKERS [-t TOPIC] [-s SIZE] [-c COUNT] [-z CODEC] [-a ACKS] [-r ROUNDS]
#
# GREGOR_BIN (default build/gregor) is the gregor command. The librdkafka
# program is compiled into $TMPDIR from bench/rdkafka_produce_bench.c
# (needs librdkafka-dev). Rounds alternate the two clients; the best round
# of each (highest throughput) is compared, which is fairer on a shared
# machine than a single run.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
gregor=${GREGOR_BIN:-$here/../build/gregor}
brokers= topic=bench-produce size=100 count=1000000 codec=none acks=1 rounds=3
while getopts b:t:s:c:z:a:r: o; do
  case $o in
    b) brokers=$OPTARG ;; t) topic=$OPTARG ;; s) size=$OPTARG ;; c) count=$OPTARG ;;
    z) codec=$OPTARG ;; a) acks=$OPTARG ;; r) rounds=$OPTARG ;;
    *) echo "usage: $0 -b BROKERS [-t TOPIC] [-s SIZE] [-c COUNT] [-z CODEC] [-a ACKS] [-r ROUNDS]" >&2; exit 2 ;;
  esac
done
[ -n "$brokers" ] || { echo "$0: -b BROKERS is required" >&2; exit 2; }
tmp=${TMPDIR:-/tmp}/gregor-bench.$$
mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT
cc -O2 -o "$tmp/rdkafka_produce_bench" "$here/rdkafka_produce_bench.c" -lrdkafka
# Both clients with the same batching: linger 5 ms, 1 MB batches.
common_g="-X acks=$acks -X linger_ms=5 -X batch_bytes=1000000"
common_r="-X acks=$acks -X linger.ms=5 -X batch.size=1000000"
[ "$acks" = all ] || common_g="$common_g -X enable_idempotence=false"
i=0
while [ $i -lt "$rounds" ]; do
  "$gregor" bench produce -b "$brokers" -t "$topic" -s "$size" -c "$count" -z "$codec" $common_g | tail -1 >> "$tmp/gregor.txt"
  "$tmp/rdkafka_produce_bench" -b "$brokers" -t "$topic" -s "$size" -c "$count" -z "$codec" $common_r >> "$tmp/rdkafka.txt"
  i=$((i + 1))
done
best() { awk '{ for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
               if (v["msgs_per_s"] + 0 > best + 0) { best = v["msgs_per_s"]; line = $0 } } END { print line }' "$1"; }
g=$(best "$tmp/gregor.txt"); r=$(best "$tmp/rdkafka.txt")
echo "$g"; echo "$r"
echo "$g
$r" | awk '{ for (i = 1; i <= NF; i++) { split($i, kv, "="); v[NR, kv[1]] = kv[2] } }
  END { printf "ratio gregor/librdkafka: throughput %.2f, CPU per message %.2f, p50 latency %.2f, p99 latency %.2f\n",
        v[1, "msgs_per_s"] / v[2, "msgs_per_s"], v[1, "cpu_s_per_million"] / v[2, "cpu_s_per_million"],
        v[1, "p50_ms"] / v[2, "p50_ms"], v[1, "p99_ms"] / v[2, "p99_ms"] }'
