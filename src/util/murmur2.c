/* util/murmur2.c — see murmur2.h. A transcription of Kafka's Utils.murmur2:
 * all arithmetic is on uint32 so Java's wrapping int multiplication and its
 * `>>>` shifts are reproduced without signed overflow. */
#include "util/murmur2.h"

#include <assert.h>

#define MURMUR2_SEED 0x9747b28cu
#define MURMUR2_M 0x5bd1e995u
#define MURMUR2_R 24

int32_t murmur2_hash(const void *data, size_t len)
{
    const uint8_t *p = data;
    uint32_t h = MURMUR2_SEED ^ (uint32_t)len;
    size_t blocks = len / 4;

    for (size_t i = 0; i < blocks; i++) {
        const uint8_t *b = p + i * 4;
        uint32_t k = (uint32_t)b[0] | ((uint32_t)b[1] << 8) | ((uint32_t)b[2] << 16) |
                     ((uint32_t)b[3] << 24);
        k *= MURMUR2_M;
        k ^= k >> MURMUR2_R;
        k *= MURMUR2_M;
        h *= MURMUR2_M;
        h ^= k;
    }

    size_t t = blocks * 4; /* index, not pointer: p may be NULL when len == 0 */
    switch (len % 4) {
    case 3:
        h ^= (uint32_t)p[t + 2] << 16;
        /* fall through */
    case 2:
        h ^= (uint32_t)p[t + 1] << 8;
        /* fall through */
    case 1:
        h ^= (uint32_t)p[t];
        h *= MURMUR2_M;
        break;
    default:
        break;
    }

    h ^= h >> 13;
    h *= MURMUR2_M;
    h ^= h >> 15;
    return (int32_t)h;
}

int32_t murmur2_partition(const void *key, size_t len, int32_t partition_cnt)
{
    assert(partition_cnt > 0);
    uint32_t positive = (uint32_t)murmur2_hash(key, len) & 0x7fffffffu;
    return (int32_t)(positive % (uint32_t)partition_cnt);
}
