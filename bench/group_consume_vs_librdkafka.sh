#!/bin/sh
# bench/group_consume_vs_librdkafka.sh — group members reading a topic:
# `gregor bench consume -G` against librdkafka's subscribe()
# (bench/rdkafka_group_bench.c) on the same broker, in the same run; prints
# both summary lines and the ratios gregor/librdkafka.
#
#   bench/group_consume_vs_librdkafka.sh -b BROKERS [-t TOPIC] [-s SIZE] [-c COUNT] [-p PARTITIONS]
#                                        [-m MEMBERS] [-a ASSIGNOR] [-r ROUNDS]
#
# Fills a fresh topic (PARTITIONS partitions, default 12) with COUNT
# messages of SIZE bytes (default 1,000,000 of 100), then MEMBERS members
# (default 4) of a fresh group per run read all of them, with gregor and
# with librdkafka alternately (-r rounds, default 3); the best round of
# each (highest throughput) is compared. Both use the assignor ASSIGNOR
# (default range). Times include joining the group. GREGOR_BIN (default
# build/gregor), KAFKA_DEV and CLUSTER as in consume_vs_librdkafka.sh.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
gregor=${GREGOR_BIN:-$here/../build/gregor}
kafka_dev=${KAFKA_DEV:-$here/../scripts/kafka-dev}
brokers= topic=bench-group-$$ size=100 count=1000000 parts=12 members=4 assignor=range rounds=3
while getopts b:t:s:c:p:m:a:r: o; do
  case $o in
    b) brokers=$OPTARG ;; t) topic=$OPTARG ;; s) size=$OPTARG ;; c) count=$OPTARG ;;
    p) parts=$OPTARG ;; m) members=$OPTARG ;; a) assignor=$OPTARG ;; r) rounds=$OPTARG ;;
    *) echo "usage: $0 -b BROKERS [-t TOPIC] [-s SIZE] [-c COUNT] [-p PARTITIONS] [-m MEMBERS] [-a ASSIGNOR] [-r ROUNDS]" >&2
       exit 2 ;;
  esac
done
[ -n "$brokers" ] || { echo "$0: -b BROKERS is required" >&2; exit 2; }
tmp=${TMPDIR:-/tmp}/gregor-bench-group.$$
mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT
cc -O2 -o "$tmp/rdkafka_group_bench" "$here/rdkafka_group_bench.c" -lrdkafka -lpthread
if [ -n "${CLUSTER:-}" ]; then
  "$kafka_dev" create-topic "$CLUSTER" "$topic" "$parts" 1 >/dev/null
fi
"$gregor" bench produce -b "$brokers" -t "$topic" -s "$size" -c "$count" \
  -X acks=1 -X linger_ms=5 -X enable_idempotence=false > "$tmp/fill.txt"
i=0
while [ $i -lt "$rounds" ]; do
  "$gregor" bench consume -b "$brokers" -t "$topic" -G "gregor-$$-$i" -m "$members" -c "$count" \
    -X partition_assignment_strategy="$assignor" | tail -1 >> "$tmp/gregor.txt"
  "$tmp/rdkafka_group_bench" -b "$brokers" -t "$topic" -G "rdkafka-$$-$i" -m "$members" -c "$count" \
    -X partition.assignment.strategy="$assignor" >> "$tmp/rdkafka.txt"
  i=$((i + 1))
done
best() { awk '{ for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
               if (v["msgs_per_s"] + 0 > best + 0) { best = v["msgs_per_s"]; line = $0 } } END { print line }' "$1"; }
g=$(best "$tmp/gregor.txt"); r=$(best "$tmp/rdkafka.txt")
echo "$g"; echo "$r"
echo "$g
$r" | awk '{ for (i = 1; i <= NF; i++) { split($i, kv, "="); v[NR, kv[1]] = kv[2] } }
  END { printf "ratio gregor/librdkafka: throughput %.2f, CPU per message %.2f, time to join %.2f\n",
        v[1, "msgs_per_s"] / v[2, "msgs_per_s"], v[1, "cpu_s_per_million"] / v[2, "cpu_s_per_million"],
        v[1, "join_s"] / v[2, "join_s"] }'
