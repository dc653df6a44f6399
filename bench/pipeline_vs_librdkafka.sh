#!/bin/sh
# bench/pipeline_vs_librdkafka.sh — consume → handler → produce, at least
# once: `gregor bench pipeline` (the worker framework) against a
# hand-written librdkafka loop (bench/rdkafka_pipeline_bench.c) on the same
# broker, on the same data, in the same run; prints every summary line and
# a table of the ratios gregor/librdkafka.
#
#   bench/pipeline_vs_librdkafka.sh -b BROKERS [-c COUNT] [-s SIZE] [-p PARTITIONS] [-T "1 2 4"]
#                                   [-O ORDERING] [-n SLEEP_COUNT] [-S SLEEP_US] [-K "1 8"] [-r ROUNDS]
#
# 1. Fills a fresh input topic (PARTITIONS partitions, default 6) with COUNT
#    keyless messages of SIZE bytes (default 1,000,000 of 100), and a second
#    one with SLEEP_COUNT keyed messages (default 3000, 1000 distinct keys).
# 2. No-op handler: gregor with each thread count of -T (default 1 2 4,
#    ordering -O, default partition) and the librdkafka loop process COUNT
#    messages of the first topic, each to a fresh output topic in a fresh
#    group.
# 3. A handler that sleeps SLEEP_US (default 1000) per message: gregor with
#    ordering key and each thread count of -K (default 1 8), and the
#    librdkafka loop (single-threaded, as a simple loop is), on the keyed
#    topic.
# Each case runs ROUNDS times (default 1), alternating the clients; the
# best round (highest throughput) of each is compared. Both producers:
# acks=all, linger 5 ms, no idempotence, no compression.
# GREGOR_BIN (default build/gregor); KAFKA_DEV (default scripts/kafka-dev)
# and CLUSTER (a kafka-dev cluster name) create the topics with PARTITIONS
# partitions when CLUSTER is set, otherwise the broker creates them on
# first use with its default partition count.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
gregor=${GREGOR_BIN:-$here/../build/gregor}
kafka_dev=${KAFKA_DEV:-$here/../scripts/kafka-dev}
brokers= count=1000000 size=100 parts=6 threads="1 2 4" ordering=partition
sleep_count=3000 sleep_us=1000 sleep_threads="1 8" rounds=1
while getopts b:c:s:p:T:O:n:S:K:r: o; do
  case $o in
    b) brokers=$OPTARG ;; c) count=$OPTARG ;; s) size=$OPTARG ;; p) parts=$OPTARG ;;
    T) threads=$OPTARG ;; O) ordering=$OPTARG ;; n) sleep_count=$OPTARG ;; S) sleep_us=$OPTARG ;;
    K) sleep_threads=$OPTARG ;; r) rounds=$OPTARG ;;
    *) echo "usage: $0 -b BROKERS [-c COUNT] [-s SIZE] [-p PARTITIONS] [-T THREADS] [-O ORDERING]" \
            "[-n SLEEP_COUNT] [-S SLEEP_US] [-K THREADS] [-r ROUNDS]" >&2
       exit 2 ;;
  esac
done
[ -n "$brokers" ] || { echo "$0: -b BROKERS is required" >&2; exit 2; }
tmp=${TMPDIR:-/tmp}/gregor-bench-pipeline.$$
mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT
cc -O2 -o "$tmp/rdkafka_pipeline_bench" "$here/rdkafka_pipeline_bench.c" -lrdkafka
run=$$
topic() {
  if [ -n "${CLUSTER:-}" ]; then
    "$kafka_dev" create-topic "$CLUSTER" "$1" "$parts" 1 >/dev/null
  fi
}
in=bench-pipeline-in-$run keyed=bench-pipeline-keyed-$run
topic "$in"; topic "$keyed"
"$gregor" bench produce -b "$brokers" -t "$in" -s "$size" -c "$count" \
  -X acks=1 -X linger_ms=5 -X enable_idempotence=false > "$tmp/fill.txt"
awk -v n="$sleep_count" -v size="$size" 'BEGIN { for (i = 0; i < n; i++) printf "key-%d:%0*d\n", i % 1000, size, i }' |
  "$gregor" produce -b "$brokers" -t "$keyed" -K: -q -X acks=1

gregor_producer="-P acks=all -P linger_ms=5 -P enable_idempotence=false -P compression=none"
rdkafka_producer="-P acks=all -P linger.ms=5 -P enable.idempotence=false -P compression.codec=none"
n=0
# one_gregor FILE TOPIC COUNT THREADS ORDERING SLEEP_US
one_gregor() {
  n=$((n + 1)); topic "bench-pipeline-out-$run-$n"
  # shellcheck disable=SC2086
  "$gregor" bench pipeline -b "$brokers" -t "$2" -o "bench-pipeline-out-$run-$n" -G "gregor-pipeline-$run-$n" \
    -m "$3" --threads "$4" --ordering "$5" --sleep-us "$6" $gregor_producer | tail -1 >> "$1"
}
# one_rdkafka FILE TOPIC COUNT SLEEP_US
one_rdkafka() {
  n=$((n + 1)); topic "bench-pipeline-out-$run-$n"
  # shellcheck disable=SC2086
  "$tmp/rdkafka_pipeline_bench" -b "$brokers" -t "$2" -o "bench-pipeline-out-$run-$n" -G "rdkafka-pipeline-$run-$n" \
    -c "$3" -s "$4" $rdkafka_producer >> "$1"
}
i=0
while [ $i -lt "$rounds" ]; do
  for t in $threads; do one_gregor "$tmp/g-$t.txt" "$in" "$count" "$t" "$ordering" 0; done
  one_rdkafka "$tmp/r.txt" "$in" "$count" 0
  for t in $sleep_threads; do one_gregor "$tmp/gs-$t.txt" "$keyed" "$sleep_count" "$t" key "$sleep_us"; done
  one_rdkafka "$tmp/rs.txt" "$keyed" "$sleep_count" "$sleep_us"
  i=$((i + 1))
done

best() { awk '{ for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
               if (v["msgs_per_s"] + 0 > best + 0) { best = v["msgs_per_s"]; line = $0 } } END { print line }' "$1"; }
# row CASE GREGOR_LINE LIBRDKAFKA_LINE
row() {
  printf '%s\n%s\n' "$2" "$3" | awk -v c="$1" '{ for (i = 1; i <= NF; i++) { split($i, kv, "="); v[NR, kv[1]] = kv[2] } }
    END { printf "| %s | %d | %d | %.2f | %.3f | %.3f | %.2f |\n", c, v[1, "msgs_per_s"], v[2, "msgs_per_s"],
          v[1, "msgs_per_s"] / v[2, "msgs_per_s"], v[1, "cpu_s_per_million"], v[2, "cpu_s_per_million"],
          v[1, "cpu_s_per_million"] / v[2, "cpu_s_per_million"] }'
}
r=$(best "$tmp/r.txt"); rs=$(best "$tmp/rs.txt")
for t in $threads; do best "$tmp/g-$t.txt"; done
echo "$r"
for t in $sleep_threads; do best "$tmp/gs-$t.txt"; done
echo "$rs"
echo
echo "| case | gregor msgs/s | librdkafka msgs/s | throughput ratio | gregor CPU s/M | librdkafka CPU s/M | CPU ratio |"
echo "|---|---|---|---|---|---|---|"
for t in $threads; do
  row "no-op, $count x $size B, gregor $t threads ordering $ordering" "$(best "$tmp/g-$t.txt")" "$r"
done
for t in $sleep_threads; do
  row "sleep $sleep_us us, $sleep_count msgs, gregor $t threads ordering key" "$(best "$tmp/gs-$t.txt")" "$rs"
done
