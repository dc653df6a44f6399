/* tests/support/testutil.h — helpers shared by the Criterion tests.
 * Threading: test-process local; call from the test's own thread. */
#ifndef GREGOR_TESTUTIL_H
#define GREGOR_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

/* Parses a hex string (spaces and newlines ignored) into a malloc'd buffer;
 * aborts the test on malformed input. Caller frees. */
uint8_t *tu_hex(const char *hex, size_t *len_out);

/* `n` bytes at `p` as lower-case hex, NUL-terminated and malloc'd (the
 * inverse of tu_hex). Caller frees. */
char *tu_hex_str(const uint8_t *p, size_t n);

/* The value of environment variable `name`; fails the test when it is unset.
 * Integration tests read their bootstrap lists with it. */
const char *tu_env_required(const char *name);

/* The value of environment variable `name`, or `dflt` when unset or empty. */
const char *tu_env_or(const char *name, const char *dflt);

/* Runs scripts/kafka-dev (GREGOR_KAFKA_DEV) with the printf-formatted
 * arguments, its stdout discarded; fails the test unless it exits 0. */
void tu_kafka_dev(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The leaders of partitions 0..n-1 of `topic` as the cluster at `bootstrap`
 * reports them now (-1 for none), read with a client of its own. Fails the
 * test when the metadata cannot be had or lacks the topic. */
void tu_partition_leaders(const char *bootstrap, const char *topic, int32_t *leaders, int32_t n);

#endif
