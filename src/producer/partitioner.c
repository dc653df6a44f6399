/* producer/partitioner.c — which partition a message goes to.
 *
 * Keyed messages: murmur2 as the Java client computes it (NOTES §4.1:
 * toPositive(murmur2(key)) % all partitions, an empty key hashed), or
 * librdkafka's consistent CRC-32. Keyless messages (and empty keys under
 * `consistent`, as librdkafka's consistent_random does): a sticky partition,
 * kept until its batch fills or is drained by the sender, then another one
 * chosen at random (KIP-480). Round-robin ignores keys.
 */
#include "producer/producer.h"

#include "util/crc32.h"
#include "util/murmur2.h"

int32_t prod_partition_random(gregor_producer *p, int32_t n, int32_t avoid)
{
    if (n <= 1)
        return 0;
    uint64_t x = p->rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    p->rng = x;
    if (avoid < 0 || avoid >= n)
        return (int32_t)(x % (uint64_t)n);
    /* A draw among the n-1 others, shifted past `avoid`. */
    int32_t r = (int32_t)(x % (uint64_t)(n - 1));
    return r >= avoid ? r + 1 : r;
}

static int32_t sticky(gregor_producer *p, prod_topic *t)
{
    if (t->sticky < 0 || t->sticky >= t->n_parts)
        t->sticky = prod_partition_random(p, t->n_parts, t->sticky);
    return t->sticky;
}

gregor_err prod_partition_choose(gregor_producer *p, prod_topic *t, const void *key, size_t key_len,
                                 bool null_key, int32_t *out)
{
    int32_t n = t->n_parts;
    if (p->user_part) {
        int32_t r = p->user_part(t->name, null_key ? NULL : key, null_key ? 0 : key_len, n,
                                 p->user_part_arg);
        if (r < 0 || r >= n)
            return GREGOR_ERR_INVALID_ARG;
        *out = r;
        return GREGOR_OK;
    }
    switch (p->cfg.partitioner) {
    case PROD_PART_ROUNDROBIN:
        *out = (int32_t)(t->rr++ % (uint32_t)n);
        break;
    case PROD_PART_CONSISTENT:
        *out = null_key || key_len == 0 ? sticky(p, t) : crc32_partition(key, key_len, n);
        break;
    case PROD_PART_MURMUR2:
    default:
        *out = null_key ? sticky(p, t) : murmur2_partition(key, key_len, n);
        break;
    }
    return GREGOR_OK;
}
