/* Unit tests for util/murmur2: Kafka's UtilsTest.testMurmur2 vectors and the
 * Java default partitioner's choices (NOTES §4.1, §4.3). */
#include <criterion/criterion.h>
#include <string.h>

#include "util/murmur2.h"

static int32_t hash_str(const char *s) { return murmur2_hash(s, strlen(s)); }

Test(murmur2, kafka_utils_test_vectors)
{
    cr_assert_eq(hash_str("21"), -973932308);
    cr_assert_eq(hash_str("foobar"), -790332482);
    cr_assert_eq(hash_str("a-little-bit-long-string"), -985981536);
    cr_assert_eq(hash_str("a-little-bit-longer-string"), -1486304829);
    cr_assert_eq(hash_str("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8"), -58897971);
    cr_assert_eq(hash_str("abc"), 479470107);
    cr_assert_eq(hash_str(""), 275646681);
    cr_assert_eq(murmur2_hash(NULL, 0), 275646681);
}

Test(murmur2, java_partition_choice)
{
    cr_assert_eq(murmur2_partition("key1", 4, 12), 8);
    cr_assert_eq(murmur2_partition("foobar", 6, 12), 6);
    /* toPositive masks the sign bit rather than negating. */
    int32_t h = hash_str("21");
    cr_assert_eq(murmur2_partition("21", 2, 1000), (int32_t)(((uint32_t)h & 0x7fffffffu) % 1000));
    cr_assert_eq(murmur2_partition("anything", 8, 1), 0);
    /* An empty, non-null key is hashed like any other. */
    cr_assert_eq(murmur2_partition("", 0, 12), (int32_t)(275646681u % 12));
}

Test(murmur2, every_tail_length_is_used)
{
    /* Changing any byte, including each of the 1..3 trailing ones, changes the hash. */
    char s[] = "abcdefg";
    for (size_t len = 1; len <= 7; len++) {
        int32_t before = murmur2_hash(s, len);
        s[len - 1] ^= 1;
        cr_assert_neq(murmur2_hash(s, len), before, "len %zu", len);
        s[len - 1] ^= 1;
    }
}
