/* Unit: the producer's partition choice (NOTES §4): each key lands where
 * the Java client's murmur2 partitioner puts it, librdkafka's consistent
 * CRC-32, sticky keyless messages, round-robin and user callbacks. */
#include <criterion/criterion.h>
#include <string.h>

#include "producer/producer.h"
#include "util/murmur2.h"

static gregor_producer *fake_producer(prod_partitioner kind)
{
    static gregor_producer p;
    memset(&p, 0, sizeof p);
    p.cfg.partitioner = kind;
    p.rng = 0x12345678abcdefull;
    return &p;
}

static int32_t choose(gregor_producer *p, prod_topic *t, const char *key)
{
    int32_t part = -1;
    cr_assert_eq(prod_partition_choose(p, t, key, key ? strlen(key) : 0, key == NULL, &part), GREGOR_OK);
    cr_assert(part >= 0 && part < t->n_parts);
    return part;
}

Test(partitioner, java_murmur2_vectors)
{
    /* UtilsTest.testMurmur2 */
    cr_assert_eq(murmur2_hash("21", 2), -973932308);
    cr_assert_eq(murmur2_hash("foobar", 6), -790332482);
    cr_assert_eq(murmur2_hash("a-little-bit-long-string", 24), -985981536);
    cr_assert_eq(murmur2_hash("a-little-bit-longer-string", 26), -1486304829);
    cr_assert_eq(murmur2_hash("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", 48), -58897971);
    cr_assert_eq(murmur2_hash("abc", 3), 479470107);
    cr_assert_eq(murmur2_hash("", 0), 275646681);
}

Test(partitioner, keys_land_where_java_puts_them)
{
    gregor_producer *p = fake_producer(PROD_PART_MURMUR2);
    prod_topic t = {.name = "t", .n_parts = 12, .sticky = -1};
    cr_assert_eq(choose(p, &t, "key1"), 8);
    cr_assert_eq(choose(p, &t, "foobar"), 6);
    /* An empty key is hashed, not treated as null. */
    cr_assert_eq(choose(p, &t, ""), (275646681 & 0x7fffffff) % 12);
    static const char *keys[] = {"21", "abc", "a-little-bit-long-string", "user-42", "x"};
    for (int32_t n = 1; n <= 64; n++) {
        t.n_parts = n;
        for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
            uint32_t h = (uint32_t)murmur2_hash(keys[i], strlen(keys[i])) & 0x7fffffffu;
            cr_assert_eq(choose(p, &t, keys[i]), (int32_t)(h % (uint32_t)n), "%s of %d", keys[i], n);
        }
    }
}

Test(partitioner, consistent_crc32)
{
    gregor_producer *p = fake_producer(PROD_PART_CONSISTENT);
    prod_topic t = {.name = "t", .n_parts = 12, .sticky = -1};
    cr_assert_eq(choose(p, &t, "key1"), 4);
    cr_assert_eq(choose(p, &t, "foobar"), 5);
    /* Empty keys are keyless under consistent_random: sticky. */
    int32_t s = choose(p, &t, "");
    cr_assert_eq(choose(p, &t, NULL), s);
}

Test(partitioner, keyless_sticky_until_batch_switch)
{
    gregor_producer *p = fake_producer(PROD_PART_MURMUR2);
    prod_topic t = {.name = "t", .n_parts = 8, .sticky = -1};
    int32_t first = choose(p, &t, NULL);
    for (int i = 0; i < 100; i++)
        cr_assert_eq(choose(p, &t, NULL), first);
    /* The sender (or a full batch) releases the sticky partition: the next
     * one is a different partition. */
    int seen[8] = {0};
    for (int round = 0; round < 200; round++) {
        int32_t prev = t.sticky;
        t.sticky = -1;
        (void)prev;
        int32_t next = prod_partition_random(p, 8, prev);
        cr_assert_neq(next, prev);
        seen[next]++;
    }
    for (int k = 0; k < 8; k++)
        cr_assert_gt(seen[k], 0, "partition %d never chosen", k);
    t.sticky = 3;
    t.sticky = -1;
    cr_assert_neq(prod_partition_random(p, 8, 3), 3);
    t.n_parts = 1;
    t.sticky = -1;
    cr_assert_eq(choose(p, &t, NULL), 0);
}

Test(partitioner, roundrobin_ignores_keys)
{
    gregor_producer *p = fake_producer(PROD_PART_ROUNDROBIN);
    prod_topic t = {.name = "t", .n_parts = 3, .sticky = -1};
    for (int i = 0; i < 9; i++)
        cr_assert_eq(choose(p, &t, i % 2 ? "same" : NULL), i % 3);
}

static int32_t last_byte(const char *topic, const void *key, size_t len, int32_t n, void *arg)
{
    (void)topic;
    (void)arg;
    return key && len ? ((const uint8_t *)key)[len - 1] - '0' : n; /* n: out of range */
}

Test(partitioner, user_callback)
{
    gregor_producer *p = fake_producer(PROD_PART_MURMUR2);
    p->user_part = last_byte;
    prod_topic t = {.name = "t", .n_parts = 10, .sticky = -1};
    cr_assert_eq(choose(p, &t, "k7"), 7);
    int32_t part;
    cr_assert_eq(prod_partition_choose(p, &t, NULL, 0, true, &part), GREGOR_ERR_INVALID_ARG);
}
