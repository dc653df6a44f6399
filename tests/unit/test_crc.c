/* Unit tests for util/crc32: check values, the RFC 3720 CRC-32C vectors,
 * hardware against software on many lengths and alignments, piecewise
 * continuation, and librdkafka's crc32 "consistent" partitioner. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "util/crc32.h"

Test(crc, ieee_check_value)
{
    cr_assert_eq(crc32_ieee(0, "123456789", 9), 0xCBF43926u);
    cr_assert_eq(crc32_ieee(0, NULL, 0), 0u);
    cr_assert_eq(crc32_ieee(0x1234, NULL, 0), 0x1234u);
}

Test(crc, crc32c_check_value)
{
    cr_assert_eq(crc32c(0, "123456789", 9), 0xE3069283u);
    cr_assert_eq(crc32c_sw(0, "123456789", 9), 0xE3069283u);
    if (crc32c_hw_available())
        cr_assert_eq(crc32c_hw(0, "123456789", 9), 0xE3069283u);
    cr_assert_eq(crc32c(0, NULL, 0), 0u);
}

/* RFC 3720 appendix B.4 (iSCSI) test patterns. */
Test(crc, crc32c_rfc3720_vectors)
{
    uint8_t zeros[32], ones[32], inc[32], dec[32];
    for (int i = 0; i < 32; i++) {
        zeros[i] = 0;
        ones[i] = 0xff;
        inc[i] = (uint8_t)i;
        dec[i] = (uint8_t)(31 - i);
    }
    cr_assert_eq(crc32c(0, zeros, 32), 0x8A9136AAu);
    cr_assert_eq(crc32c(0, ones, 32), 0x62A8AB43u);
    cr_assert_eq(crc32c(0, inc, 32), 0x46DD794Eu);
    cr_assert_eq(crc32c(0, dec, 32), 0x113FDB5Cu);
    cr_assert_eq(crc32c_sw(0, dec, 32), 0x113FDB5Cu);
}

/* Bitwise reference: the definition, with no tables. */
static uint32_t crc32c_bitwise(const uint8_t *p, size_t n)
{
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    }
    return ~c;
}

Test(crc, hw_and_sw_agree_on_random_buffers)
{
    enum { MAX = 4096 + 64 };
    uint8_t *buf = malloc(MAX);
    cr_assert_not_null(buf);
    srand(12345);
    for (size_t i = 0; i < MAX; i++)
        buf[i] = (uint8_t)rand();
    bool hw = crc32c_hw_available();
    for (size_t len = 0; len <= 300; len++) {
        for (size_t off = 0; off < 8; off++) {
            uint32_t want = crc32c_bitwise(buf + off, len);
            cr_assert_eq(crc32c_sw(0, buf + off, len), want, "sw len %zu off %zu", len, off);
            cr_assert_eq(crc32c(0, buf + off, len), want, "dispatch len %zu off %zu", len, off);
            if (hw)
                cr_assert_eq(crc32c_hw(0, buf + off, len), want, "hw len %zu off %zu", len, off);
        }
    }
    for (size_t len = 301; len <= 4096; len += 97) {
        size_t off = len % 13;
        uint32_t want = crc32c_bitwise(buf + off, len);
        cr_assert_eq(crc32c_sw(0, buf + off, len), want);
        if (hw)
            cr_assert_eq(crc32c_hw(0, buf + off, len), want);
    }
    free(buf);
}

Test(crc, piecewise_equals_whole)
{
    uint8_t buf[1000];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (uint8_t)(i * 7 + 3);
    uint32_t whole_c = crc32c(0, buf, sizeof buf);
    uint32_t whole_i = crc32_ieee(0, buf, sizeof buf);
    for (size_t cut = 0; cut <= sizeof buf; cut += 37) {
        cr_assert_eq(crc32c(crc32c(0, buf, cut), buf + cut, sizeof buf - cut), whole_c);
        cr_assert_eq(crc32c_sw(crc32c_sw(0, buf, cut), buf + cut, sizeof buf - cut), whole_c);
        cr_assert_eq(crc32_ieee(crc32_ieee(0, buf, cut), buf + cut, sizeof buf - cut), whole_i);
    }
}

/* NOTES §4.3: crc32("key1") = 744252496 -> 4 of 12; crc32("foobar") =
 * 2666930069 -> 5 of 12; NULL and empty keys -> partition 0. */
Test(crc, consistent_partitioner_vectors)
{
    cr_assert_eq(crc32_ieee(0, "key1", 4), 744252496u);
    cr_assert_eq(crc32_ieee(0, "foobar", 6), 2666930069u);
    cr_assert_eq(crc32_partition("key1", 4, 12), 4);
    cr_assert_eq(crc32_partition("foobar", 6, 12), 5);
    cr_assert_eq(crc32_partition(NULL, 0, 12), 0);
    cr_assert_eq(crc32_partition("", 0, 7), 0);
    cr_assert_eq(crc32_partition("foobar", 6, 1), 0);
}
