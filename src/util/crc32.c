/* util/crc32.c — see crc32.h.
 *
 * CRC-32/IEEE is zlib's crc32_z(). CRC-32C runs on every fetched and every
 * produced v2 batch, so it has two paths: the SSE4.2 `crc32` instruction (8
 * bytes per instruction) chosen at run time on x86-64, and a slice-by-8
 * table walk (8 table lookups per 8 bytes) everywhere else. The tables are
 * built once, on first use, under pthread_once.
 *
 * Both CRCs are the reflected form: pre- and post-inverted, least significant
 * bit first, as zlib and Kafka compute them.
 */
#include "util/crc32.h"

#include <assert.h>
#include <pthread.h>
#include <string.h>
#include <zlib.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define CRC32C_HAVE_SSE42 1
#include <nmmintrin.h>
#else
#define CRC32C_HAVE_SSE42 0
#endif

#define CRC32C_POLY_REFLECTED 0x82F63B78u

uint32_t crc32_ieee(uint32_t crc, const void *p, size_t n)
{
    if (n == 0)
        return crc;
    return (uint32_t)crc32_z(crc, p, n);
}

/* ----------------------------------------------------------- software */

static uint32_t sw_table[8][256];
static pthread_once_t sw_table_once = PTHREAD_ONCE_INIT;

static void sw_table_build(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ CRC32C_POLY_REFLECTED : c >> 1;
        sw_table[0][i] = c;
    }
    /* sw_table[k][i] is the CRC of byte i followed by k zero bytes. */
    for (int k = 1; k < 8; k++)
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t prev = sw_table[k - 1][i];
            sw_table[k][i] = (prev >> 8) ^ sw_table[0][prev & 0xff];
        }
}

static inline uint32_t load_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

uint32_t crc32c_sw(uint32_t crc, const void *data, size_t n)
{
    pthread_once(&sw_table_once, sw_table_build);
    const uint8_t *p = data;
    uint32_t c = ~crc;
    while (n >= 8) {
        uint32_t lo = load_le32(p) ^ c;
        uint32_t hi = load_le32(p + 4);
        c = sw_table[7][lo & 0xff] ^ sw_table[6][(lo >> 8) & 0xff] ^
            sw_table[5][(lo >> 16) & 0xff] ^ sw_table[4][lo >> 24] ^
            sw_table[3][hi & 0xff] ^ sw_table[2][(hi >> 8) & 0xff] ^
            sw_table[1][(hi >> 16) & 0xff] ^ sw_table[0][hi >> 24];
        p += 8;
        n -= 8;
    }
    while (n--)
        c = (c >> 8) ^ sw_table[0][(c ^ *p++) & 0xff];
    return ~c;
}

/* ----------------------------------------------------------- hardware */

#if CRC32C_HAVE_SSE42

bool crc32c_hw_available(void)
{
    return __builtin_cpu_supports("sse4.2");
}

__attribute__((target("sse4.2"))) static uint32_t hw_crc(uint32_t crc, const uint8_t *p, size_t n)
{
    uint64_t c = ~crc;
    /* Align so the 8-byte loads never straddle a cache line needlessly. */
    while (n > 0 && ((uintptr_t)p & 7) != 0) {
        c = _mm_crc32_u8((uint32_t)c, *p++);
        n--;
    }
    while (n >= 8) {
        uint64_t v;
        memcpy(&v, p, 8); /* x86 is little-endian, as the instruction expects */
        c = _mm_crc32_u64(c, v);
        p += 8;
        n -= 8;
    }
    while (n--)
        c = _mm_crc32_u8((uint32_t)c, *p++);
    return ~(uint32_t)c;
}

uint32_t crc32c_hw(uint32_t crc, const void *p, size_t n)
{
    assert(crc32c_hw_available());
    return hw_crc(crc, p, n);
}

uint32_t crc32c(uint32_t crc, const void *p, size_t n)
{
    if (n == 0)
        return crc;
    if (__builtin_cpu_supports("sse4.2"))
        return hw_crc(crc, p, n);
    return crc32c_sw(crc, p, n);
}

#else /* no hardware path on this architecture */

bool crc32c_hw_available(void) { return false; }

uint32_t crc32c_hw(uint32_t crc, const void *p, size_t n) { return crc32c_sw(crc, p, n); }

uint32_t crc32c(uint32_t crc, const void *p, size_t n)
{
    if (n == 0)
        return crc;
    return crc32c_sw(crc, p, n);
}

#endif

int32_t crc32_partition(const void *key, size_t len, int32_t partition_cnt)
{
    assert(partition_cnt > 0);
    uint32_t h = key ? crc32_ieee(0, key, len) : 0;
    return (int32_t)(h % (uint32_t)partition_cnt);
}
