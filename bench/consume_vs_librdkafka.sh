#!/bin/sh
# bench/consume_vs_librdkafka.sh — the same consume workload with gregor and
# with librdkafka against the same broker, in the same run; prints both
# summary lines and the ratios gregor/librdkafka.
#
#   bench/consume_vs_librdkafka.sh -b BROKERS [-t TOPIC] [-s SIZE] [-c COUNT] [-p PARTITIONS] [-z CODEC] [-r ROUNDS]
#
# Fills a fresh topic (PARTITIONS partitions, default 3) with COUNT messages
# of SIZE bytes (default 1,000,000 of 100) with `gregor bench produce`, then
# reads all of them from the beginning with `gregor bench consume` and with
# bench/rdkafka_consume_bench.c, alternately (-r rounds); the best round of
# each (highest throughput) is compared, fairer on a shared machine than a
# single run. GREGOR_BIN (default build/gregor) is the gregor command;
# KAFKA_DEV (default scripts/kafka-dev) and CLUSTER (a kafka-dev cluster
# name) create the topic when CLUSTER is set, otherwise the broker creates
# it on first use.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
gregor=${GREGOR_BIN:-$here/../build/gregor}
kafka_dev=${KAFKA_DEV:-$here/../scripts/kafka-dev}
brokers= topic=bench-consume-$$ size=100 count=1000000 parts=3 codec=none rounds=3
while getopts b:t:s:c:p:z:r: o; do
  case $o in
    b) brokers=$OPTARG ;; t) topic=$OPTARG ;; s) size=$OPTARG ;; c) count=$OPTARG ;;
    p) parts=$OPTARG ;; z) codec=$OPTARG ;; r) rounds=$OPTARG ;;
    *) echo "usage: $0 -b BROKERS [-t TOPIC] [-s SIZE] [-c COUNT] [-p PARTITIONS] [-z CODEC] [-r ROUNDS]" >&2; exit 2 ;;
  esac
done
[ -n "$brokers" ] || { echo "$0: -b BROKERS is required" >&2; exit 2; }
tmp=${TMPDIR:-/tmp}/gregor-bench-consume.$$
mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT
cc -O2 -o "$tmp/rdkafka_consume_bench" "$here/rdkafka_consume_bench.c" -lrdkafka
if [ -n "${CLUSTER:-}" ]; then
  "$kafka_dev" create-topic "$CLUSTER" "$topic" "$parts" 1 >/dev/null
fi
"$gregor" bench produce -b "$brokers" -t "$topic" -s "$size" -c "$count" -z "$codec" \
  -X acks=1 -X linger_ms=5 -X enable_idempotence=false > "$tmp/fill.txt"
i=0
while [ $i -lt "$rounds" ]; do
  "$gregor" bench consume -b "$brokers" -t "$topic" -c "$count" | tail -1 >> "$tmp/gregor.txt"
  "$tmp/rdkafka_consume_bench" -b "$brokers" -t "$topic" -c "$count" >> "$tmp/rdkafka.txt"
  i=$((i + 1))
done
best() { awk '{ for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
               if (v["msgs_per_s"] + 0 > best + 0) { best = v["msgs_per_s"]; line = $0 } } END { print line }' "$1"; }
g=$(best "$tmp/gregor.txt"); r=$(best "$tmp/rdkafka.txt")
echo "$g"; echo "$r"
echo "$g
$r" | awk '{ for (i = 1; i <= NF; i++) { split($i, kv, "="); v[NR, kv[1]] = kv[2] } }
  END { printf "ratio gregor/librdkafka: throughput %.2f, CPU per message %.2f\n",
        v[1, "msgs_per_s"] / v[2, "msgs_per_s"], v[1, "cpu_s_per_million"] / v[2, "cpu_s_per_million"] }'
