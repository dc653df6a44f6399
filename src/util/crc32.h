/* util/crc32.h — the two CRC-32 variants Kafka uses.
 *
 * CRC-32 (IEEE 802.3, zlib's polynomial) guards MessageSet v0/v1 messages;
 * CRC-32C (Castagnoli) guards RecordBatch v2. Both follow zlib's convention:
 * `crc` is the running value, 0 to start, and the result of one call can be
 * passed as `crc` to the next to checksum data in pieces:
 *   crc32c(crc32c(0, a, na), b, nb) == crc32c(0, a‖b, na + nb).
 * Check values: crc32_ieee(0, "123456789", 9) == 0xCBF43926,
 *               crc32c(0, "123456789", 9)     == 0xE3069283.
 *
 * crc32c() uses the CPU's SSE4.2 crc32 instruction when the CPU has it
 * (decided at run time) and a slice-by-8 table otherwise; both give the same
 * results, and both are exported so tests can compare them.
 *
 * Threading: every function here is pure and may be called from any thread.
 */
#ifndef GREGOR_UTIL_CRC32_H
#define GREGOR_UTIL_CRC32_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* CRC-32/IEEE of `n` bytes at `p` (borrowed; may be NULL when n == 0),
 * continuing from `crc`. Delegates to zlib. */
uint32_t crc32_ieee(uint32_t crc, const void *p, size_t n);

/* CRC-32C of `n` bytes at `p` (borrowed; may be NULL when n == 0),
 * continuing from `crc`. Hardware path when available. */
uint32_t crc32c(uint32_t crc, const void *p, size_t n);

/* The portable slice-by-8 implementation of crc32c(). */
uint32_t crc32c_sw(uint32_t crc, const void *p, size_t n);

/* True when crc32c_hw() may be called on this CPU (x86-64 with SSE4.2). */
bool crc32c_hw_available(void);

/* The SSE4.2 implementation of crc32c(). Precondition: crc32c_hw_available();
 * on other builds it falls back to crc32c_sw(). */
uint32_t crc32c_hw(uint32_t crc, const void *p, size_t n);

/* librdkafka's "consistent" partitioner: crc32_ieee(key) % partition_cnt.
 * A NULL or empty key hashes to crc32("") == 0, hence partition 0.
 * Precondition: partition_cnt > 0. Returns 0 .. partition_cnt-1. */
int32_t crc32_partition(const void *key, size_t len, int32_t partition_cnt);

#endif
