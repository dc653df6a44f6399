/* util/murmur2.h — the Java Kafka producer's key hash and partition choice.
 *
 * murmur2_hash() is Kafka's Utils.murmur2 (MurmurHash2, 32-bit, seed
 * 0x9747b28c, little-endian 4-byte blocks), bit for bit, so keyed records
 * land in the same partition as with the Java client and librdkafka's
 * "murmur2" partitioners. The crc32 "consistent" partitioner of librdkafka is
 * crc32_partition() in util/crc32.h.
 *
 * Threading: pure functions, callable from any thread.
 */
#ifndef GREGOR_UTIL_MURMUR2_H
#define GREGOR_UTIL_MURMUR2_H

#include <stddef.h>
#include <stdint.h>

/* Kafka's murmur2 of `len` bytes at `data` (borrowed; may be NULL when
 * len == 0), as the signed int32 Java returns. Only the low 32 bits of `len`
 * enter the seed, as in Java, where lengths are ints. */
int32_t murmur2_hash(const void *data, size_t len);

/* Java's partition for a non-null key:
 * (murmur2_hash(key) & 0x7fffffff) % partition_cnt. An empty key is hashed
 * like any other; a null key has no hash partition (the caller picks one).
 * Precondition: partition_cnt > 0. Returns 0 .. partition_cnt-1. */
int32_t murmur2_partition(const void *key, size_t len, int32_t partition_cnt);

#endif
