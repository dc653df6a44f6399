/* Unit tests for producer/downconvert.c: a RecordBatch v2 rewritten as a
 * MessageSet v0/v1 for a broker whose release was detected (0.8/0.9/0.10)
 * keeps every record, byte for byte, in every codec those brokers have;
 * what the old formats cannot carry (headers, zstd) fails with a reason. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "producer/producer.h"

static gregor_producer prod; /* only its configuration is read */

static void setup(void)
{
    memset(&prod, 0, sizeof prod);
    prod.cfg.max_request_bytes = 1 << 20;
    prod.cfg.codec = PROTO_CODEC_NONE;
}

TestSuite(downconvert, .init = setup);

/* A finished v2 batch of `n` records "k<i>" = "value <i>", timestamp 1000+i. */
static void build_v2(prod_batch *b, int n, bool with_header)
{
    memset(b, 0, sizeof *b);
    cr_assert_eq(proto_batch_init(&b->rb, PROTO_MAGIC_V2, 1 << 16), GREGOR_OK);
    for (int i = 0; i < n; i++) {
        char k[16], v[32];
        snprintf(k, sizeof k, "k%d", i);
        snprintf(v, sizeof v, "value %d", i);
        proto_header h = {buf_slice_of("h", 1), buf_slice_of("v", 1)};
        cr_assert_eq(proto_batch_append(&b->rb, 1000 + i, buf_slice_of(k, strlen(k)), buf_slice_of(v, strlen(v)),
                                        with_header ? &h : NULL, with_header ? 1 : 0),
                     GREGOR_OK);
    }
    proto_batch_set_producer(&b->rb, 42, 1, 0, false);
    cr_assert_eq(proto_batch_finish(&b->rb, prod.cfg.codec, 0, &b->wire), GREGOR_OK);
}

static void expect_records(const prod_batch *b, int magic, int n)
{
    proto_record_reader rd;
    proto_record_reader_init(&rd, b->wire.ptr, (size_t)b->wire.len, NULL);
    int i = 0;
    for (;; i++) {
        proto_record rec;
        bool got;
        cr_assert_eq(proto_record_reader_next(&rd, &rec, &got), GREGOR_OK, "%s", rd.what);
        if (!got)
            break;
        char k[16], v[32];
        snprintf(k, sizeof k, "k%d", i);
        snprintf(v, sizeof v, "value %d", i);
        cr_assert_eq(rec.magic, magic);
        cr_assert_eq(rec.offset, i);
        cr_assert(rec.key.len == (int32_t)strlen(k) && !memcmp(rec.key.ptr, k, strlen(k)));
        cr_assert(rec.value.len == (int32_t)strlen(v) && !memcmp(rec.value.ptr, v, strlen(v)));
        cr_assert_eq(rec.codec, prod.cfg.codec);
        if (magic == PROTO_MAGIC_V1)
            cr_assert_eq(rec.timestamp, 1000 + i);
    }
    cr_assert_eq(i, n);
    proto_record_reader_fini(&rd);
}

static void convert_and_check(proto_codec codec, int magic)
{
    prod.cfg.codec = codec;
    prod_batch b;
    build_v2(&b, 50, false);
    const char *why = NULL;
    cr_assert_eq(prod_batch_downconvert(&prod, &b, magic, &why), GREGOR_OK, "%s", why ? why : "");
    cr_assert_eq(b.rb.magic, magic);
    expect_records(&b, magic, 50);
    proto_batch_fini(&b.rb);
}

Test(downconvert, v2_to_v0_uncompressed) { convert_and_check(PROTO_CODEC_NONE, PROTO_MAGIC_V0); }
Test(downconvert, v2_to_v0_gzip) { convert_and_check(PROTO_CODEC_GZIP, PROTO_MAGIC_V0); }
Test(downconvert, v2_to_v0_snappy) { convert_and_check(PROTO_CODEC_SNAPPY, PROTO_MAGIC_V0); }
Test(downconvert, v2_to_v0_lz4) { convert_and_check(PROTO_CODEC_LZ4, PROTO_MAGIC_V0); }
Test(downconvert, v2_to_v1_gzip) { convert_and_check(PROTO_CODEC_GZIP, PROTO_MAGIC_V1); }

Test(downconvert, a_batch_already_old_enough_is_left_alone)
{
    prod_batch b;
    build_v2(&b, 3, true);
    buf_slice before = b.wire;
    const char *why = NULL;
    cr_assert_eq(prod_batch_downconvert(&prod, &b, PROTO_MAGIC_V2, &why), GREGOR_OK);
    cr_assert_eq(b.wire.ptr, before.ptr);
    cr_assert_eq(b.rb.magic, PROTO_MAGIC_V2);
    proto_batch_fini(&b.rb);
}

Test(downconvert, headers_fail_with_a_reason_and_leave_the_batch_as_it_was)
{
    prod_batch b;
    build_v2(&b, 3, true);
    buf_slice before = b.wire;
    const char *why = NULL;
    cr_assert_eq(prod_batch_downconvert(&prod, &b, PROTO_MAGIC_V0, &why), GREGOR_ERR_UNSUPPORTED);
    cr_assert(why && strstr(why, "headers"), "why: %s", why ? why : "(null)");
    cr_assert_eq(b.wire.ptr, before.ptr);
    cr_assert_eq(b.rb.magic, PROTO_MAGIC_V2);
    proto_batch_fini(&b.rb);
}

Test(downconvert, zstd_fails_with_a_reason)
{
    prod.cfg.codec = PROTO_CODEC_ZSTD;
    prod_batch b;
    build_v2(&b, 3, false);
    const char *why = NULL;
    cr_assert_eq(prod_batch_downconvert(&prod, &b, PROTO_MAGIC_V1, &why), GREGOR_ERR_UNSUPPORTED);
    cr_assert(why && strstr(why, "zstd"), "why: %s", why ? why : "(null)");
    cr_assert_eq(b.rb.magic, PROTO_MAGIC_V2);
    proto_batch_fini(&b.rb);
}
