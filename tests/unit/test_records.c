/* Unit tests for the record formats (protocol/records.h): known-good bytes
 * of every format built by hand from the spec (CRCs computed independently),
 * round trips of v0/v1/v2 x every codec, a truncation sweep over a buffer
 * mixing all formats, min_offset skipping, control and empty batches, CRC
 * mismatches, limits and malformed entries. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/records.h"
#include "testutil.h"
#include "util/crc32.h"

#define TS 1700000000000LL

/* ------------------------------------------------------------- helpers */

/* An owned copy of what the reader yielded. */
typedef struct tr_rec {
    proto_record r;
    uint8_t *key, *val, *hdrs;
} tr_rec;

typedef struct tr_result {
    tr_rec *recs;
    size_t n;
    gregor_err err;
    size_t consumed, partial_size;
    int64_t next_offset, err_offset;
} tr_result;

static uint8_t *dup_slice(buf_slice s)
{
    if (s.len < 0)
        return NULL;
    uint8_t *p = malloc((size_t)s.len + 1);
    if (s.len > 0)
        memcpy(p, s.ptr, (size_t)s.len);
    return p;
}

static tr_result read_all(const uint8_t *data, size_t len, const proto_reader_opts *opts)
{
    /* A private copy of exactly `len` bytes so ASan sees any overread. */
    uint8_t *copy = malloc(len ? len : 1);
    if (len)
        memcpy(copy, data, len);
    tr_result res = {0};
    proto_record_reader rd;
    proto_record_reader_init(&rd, copy, len, opts);
    proto_record rec;
    bool got;
    while ((res.err = proto_record_reader_next(&rd, &rec, &got)) == GREGOR_OK && got) {
        res.recs = realloc(res.recs, (res.n + 1) * sizeof *res.recs);
        tr_rec *t = &res.recs[res.n++];
        t->r = rec;
        t->key = dup_slice(rec.key);
        t->val = dup_slice(rec.value);
        t->hdrs = dup_slice(rec.headers);
        t->r.key.ptr = t->key;
        t->r.value.ptr = t->val;
        t->r.headers.ptr = t->hdrs;
    }
    cr_assert(!got);
    res.consumed = rd.consumed;
    res.partial_size = rd.partial_size;
    res.next_offset = rd.next_offset;
    res.err_offset = rd.err_offset;
    if (res.err != GREGOR_OK)
        cr_assert_not_null(rd.what);
    proto_record_reader_fini(&rd);
    free(copy);
    return res;
}

static void free_result(tr_result *res)
{
    for (size_t i = 0; i < res->n; i++) {
        free(res->recs[i].key);
        free(res->recs[i].val);
        free(res->recs[i].hdrs);
    }
    free(res->recs);
}

static bool slice_is(buf_slice s, const char *str)
{
    if (!str)
        return s.len == -1;
    return s.len == (int32_t)strlen(str) && memcmp(s.ptr, str, (size_t)s.len) == 0;
}

static void put_be64(uint8_t *p, int64_t v)
{
    for (int i = 7; i >= 0; i--, v = (int64_t)((uint64_t)v >> 8))
        p[i] = (uint8_t)v;
}

static void put_be32(uint8_t *p, uint32_t v)
{
    for (int i = 3; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

/* Appends a record of C strings (NULL: a null key or value), no headers. */
static gregor_err append_str(proto_batch *b, int64_t ts, const char *key, const char *value)
{
    buf_slice k = key ? buf_slice_of(key, strlen(key)) : BUF_SLICE_NULL;
    buf_slice v = value ? buf_slice_of(value, strlen(value)) : BUF_SLICE_NULL;
    return proto_batch_append(b, ts, k, v, NULL, 0);
}

/* Recomputes a v2 batch's CRC-32C after a test changed covered bytes. */
static void v2_reseal(uint8_t *p, size_t n) { put_be32(p + 17, crc32c(0, p + 21, n - 21)); }

/* Recomputes a v0/v1 message's CRC-32. */
static void legacy_reseal(uint8_t *p, size_t n) { put_be32(p + 12, crc32_ieee(0, p + 16, n - 16)); }

/* Finishes `b` uncompressed, checks its bytes against `hex` and frees it.
 * Returns the expected bytes (caller frees). */
static uint8_t *finish_expect(proto_batch *b, const char *hex, size_t *n)
{
    uint8_t *want = tu_hex(hex, n);
    buf_slice out;
    cr_assert_eq(proto_batch_finish(b, PROTO_CODEC_NONE, 0, &out), GREGOR_OK);
    cr_assert_eq((size_t)out.len, *n);
    cr_assert_arr_eq(out.ptr, want, *n);
    proto_batch_fini(b);
    return want;
}

/* The bytes of a batch built with the builder (caller frees). */
static uint8_t *build(int magic, proto_codec codec, int n, size_t *len)
{
    proto_batch b;
    cr_assert_eq(proto_batch_init(&b, magic, 1 << 20), GREGOR_OK);
    for (int i = 0; i < n; i++) {
        char key[32], val[300];
        snprintf(key, sizeof key, "key-%d", i);
        int vlen = snprintf(val, sizeof val, "value-%d-", i);
        for (int k = 0; k < (i * 7) % 200; k++)
            val[vlen++] = (char)('a' + k % 26);
        proto_header h[2] = {{buf_slice_of("trace", 5), buf_slice_of(key, strlen(key))},
                             {buf_slice_of("nil", 3), BUF_SLICE_NULL}};
        size_t hn = magic == 2 ? (size_t)(i % 3) : 0;
        buf_slice k = i % 4 == 3 ? BUF_SLICE_NULL : buf_slice_of(key, strlen(key));
        buf_slice v = i % 5 == 4 ? BUF_SLICE_NULL : buf_slice_of(val, (size_t)vlen);
        cr_assert_eq(proto_batch_append(&b, TS + i, k, v, h, hn), GREGOR_OK);
    }
    buf_slice out;
    cr_assert_eq(proto_batch_finish(&b, codec, 0, &out), GREGOR_OK);
    uint8_t *p = malloc((size_t)out.len);
    memcpy(p, out.ptr, (size_t)out.len);
    *len = (size_t)out.len;
    proto_batch_fini(&b);
    return p;
}

/* Checks that recs[0..n) are build()'s records, at offsets 0..n-1. */
static void check_built(const tr_rec *recs, size_t n, int magic)
{
    for (size_t j = 0; j < n; j++) {
        const proto_record *r = &recs[j].r;
        int i = (int)j;
        char key[32];
        snprintf(key, sizeof key, "key-%d", i);
        cr_assert_eq(r->offset, i);
        cr_assert_eq(r->magic, magic);
        cr_assert(slice_is(r->key, i % 4 == 3 ? NULL : key), "record %d key", i);
        if (i % 5 == 4)
            cr_assert_eq(r->value.len, -1);
        else
            cr_assert_eq(r->value.len, snprintf(NULL, 0, "value-%d-", i) + (i * 7) % 200);
        cr_assert_eq(r->timestamp, magic == 0 ? -1 : TS + i);
        cr_assert_eq(r->timestamp_type, magic == 0 ? PROTO_TS_NONE : PROTO_TS_CREATE);
        cr_assert_eq(r->header_count, magic == 2 ? i % 3 : 0);
        cr_assert_not(r->is_control);
    }
}

/* --------------------------------------------------- known-good bytes */

/* One record, key "k", value "v", timestamp TS, offset 0, in each format. */
static const char *V0_ONE = "0000000000000000000000101fecd70a0000000000016b0000000176";
static const char *V1_ONE = "00000000000000000000001839268c3301000000018bcfe56800000000016b00"
                            "00000176";


static const char *V2_ONE =
    "00000000000000000000003affffffff02e99b8dd80000000000000000018bcf"
    "e568000000018bcfe56800ffffffffffffffffffffffffffff00000001100000"
    "00026b027600";

Test(records, v2_known_bytes_builder_and_reader)
{
    size_t n;
    proto_batch b;
    cr_assert_eq(proto_batch_init(&b, 2, 1000), GREGOR_OK);
    cr_assert_eq(append_str(&b, TS, "k", "v"), GREGOR_OK);
    uint8_t *want = finish_expect(&b, V2_ONE, &n);

    tr_result res = read_all(want, n, NULL);
    cr_assert_eq(res.err, GREGOR_OK);
    cr_assert_eq(res.n, 1);
    const proto_record *r = &res.recs[0].r;
    cr_assert_eq(r->offset, 0);
    cr_assert_eq(r->timestamp, TS);
    cr_assert_eq(r->timestamp_type, PROTO_TS_CREATE);
    cr_assert(slice_is(r->key, "k") && slice_is(r->value, "v"));
    cr_assert_eq(r->magic, 2);
    cr_assert_eq(r->producer_id, -1);
    cr_assert_eq(r->sequence, -1);
    cr_assert_eq(r->leader_epoch, -1);
    cr_assert_eq(r->control_type, -1);
    cr_assert_eq(res.consumed, n);
    cr_assert_eq(res.next_offset, 1);
    free_result(&res);
    free(want);
}

Test(records, v2_known_bytes_with_headers)
{
    size_t n;
    proto_batch b;
    cr_assert_eq(proto_batch_init(&b, 2, 1000), GREGOR_OK);
    proto_header h[2] = {{buf_slice_of("h", 1), buf_slice_of("x", 1)},
                         {buf_slice_of("n", 1), BUF_SLICE_NULL}};
    cr_assert_eq(append_str(&b, TS, "k", "v"), GREGOR_OK);
    cr_assert_eq(proto_batch_append(&b, TS + 5, BUF_SLICE_NULL, buf_slice_of("value2", 6), h, 2),
                 GREGOR_OK);
    uint8_t *want = finish_expect(&b,
                                  "00000000000000000000004effffffff026ede28180000000000010000018bcf"
                                  "e568000000018bcfe56805ffffffffffffffffffffffffffff00000002100000"
                                  "00026b02760026000a02010c76616c7565320402680278026e01",
                                  &n);

    tr_result res = read_all(want, n, NULL);
    cr_assert_eq(res.n, 2);
    const proto_record *r = &res.recs[1].r;
    cr_assert_eq(r->offset, 1);
    cr_assert_eq(r->timestamp, TS + 5);
    cr_assert_eq(r->key.len, -1);
    cr_assert(slice_is(r->value, "value2"));
    cr_assert_eq(r->header_count, 2);
    proto_header_iter it;
    proto_header hd;
    proto_header_iter_init(&it, r);
    cr_assert(proto_header_iter_next(&it, &hd));
    cr_assert(slice_is(hd.key, "h") && slice_is(hd.value, "x"));
    cr_assert(proto_header_iter_next(&it, &hd));
    cr_assert(slice_is(hd.key, "n") && hd.value.len == -1);
    cr_assert_not(proto_header_iter_next(&it, &hd));
    free_result(&res);
    free(want);
}

Test(records, v0_and_v1_known_bytes)
{
    const char *hex[2] = {V0_ONE, V1_ONE};
    for (int magic = 0; magic <= 1; magic++) {
        size_t n;
        proto_batch b;
        cr_assert_eq(proto_batch_init(&b, magic, 1000), GREGOR_OK);
        cr_assert_eq(append_str(&b, TS, "k", "v"), GREGOR_OK);
        uint8_t *want = finish_expect(&b, hex[magic], &n);

        tr_result res = read_all(want, n, NULL);
        cr_assert_eq(res.n, 1);
        cr_assert(slice_is(res.recs[0].r.key, "k") && slice_is(res.recs[0].r.value, "v"));
        cr_assert_eq(res.recs[0].r.timestamp, magic ? TS : -1);
        cr_assert_eq(res.next_offset, 1);
        free_result(&res);
        free(want);
    }
}

/* A v1 wrapper at offset 1001 whose raw-snappy value (one literal) holds
 * three v1 messages with relative offsets 0..2, values "a".."c". */
static const char *V1_SNAPPY_WRAPPER =
    "00000000000003e900000082e05b54d301020000018bcfe56802ffffffff0000"
    "006c69f06800000000000000000000001742b4af0201000000018bcfe56800ff"
    "ffffff0000000161000000000000000100000017347f958601000000018bcfe5"
    "6801ffffffff0000000162000000000000000200000017a84f1e130100000001"
    "8bcfe56802ffffffff0000000163";

Test(records, v1_wrapper_relative_offsets_hand_built)
{
    size_t n;
    uint8_t *p = tu_hex(V1_SNAPPY_WRAPPER, &n);
    tr_result res = read_all(p, n, NULL);
    cr_assert_eq(res.err, GREGOR_OK);
    cr_assert_eq(res.n, 3);
    for (int i = 0; i < 3; i++) {
        const proto_record *r = &res.recs[i].r;
        char v[2] = {(char)('a' + i), 0};
        cr_assert_eq(r->offset, 999 + i);
        cr_assert_eq(r->timestamp, TS + i);
        cr_assert_eq(r->timestamp_type, PROTO_TS_CREATE);
        cr_assert_eq(r->codec, PROTO_CODEC_SNAPPY);
        cr_assert(slice_is(r->value, v) && r->key.len == -1);
        cr_assert_eq(r->batch_base_offset, 999);
        cr_assert_eq(r->batch_last_offset, 1001);
    }
    cr_assert_eq(res.next_offset, 1002);
    free_result(&res);

    /* LogAppendTime on the wrapper: every inner message takes its time. */
    p[17] |= PROTO_ATTR_LOG_APPEND_TIME;
    legacy_reseal(p, n);
    res = read_all(p, n, NULL);
    cr_assert_eq(res.n, 3);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(res.recs[i].r.timestamp, TS + 2);
        cr_assert_eq(res.recs[i].r.timestamp_type, PROTO_TS_LOG_APPEND);
    }
    free_result(&res);

    /* min_offset in the middle of the wrapper. */
    proto_reader_opts o = {.min_offset = 1001};
    res = read_all(p, n, &o);
    cr_assert_eq(res.n, 1);
    cr_assert_eq(res.recs[0].r.offset, 1001);
    free_result(&res);

    /* A wrapper offset below its last inner offset is corrupt (the offset
     * field is outside the CRC). */
    put_be64(p, 1);
    res = read_all(p, n, NULL);
    cr_assert_eq(res.err, GREGOR_ERR_MALFORMED);
    cr_assert_eq(res.err_offset, 1);
    free_result(&res);
    free(p);
}

Test(records, v0_wrapper_lz4_broken_checksum_hand_built)
{
    size_t n;
    uint8_t *p = tu_hex("0000000000000029000000591c8767320003ffffffff0000004b04224d186040"
                        "1a3c0000800000000000000028000000128697724c0000000000026b30000000"
                        "02763000000000000000290000001257e7496e0000000000026b310000000276"
                        "3100000000",
                        &n);
    tr_result res = read_all(p, n, NULL);
    cr_assert_eq(res.err, GREGOR_OK);
    cr_assert_eq(res.n, 2);
    cr_assert_eq(res.recs[0].r.offset, 40);
    cr_assert(slice_is(res.recs[0].r.key, "k0") && slice_is(res.recs[0].r.value, "v0"));
    cr_assert_eq(res.recs[1].r.offset, 41);
    cr_assert(slice_is(res.recs[1].r.key, "k1") && slice_is(res.recs[1].r.value, "v1"));
    cr_assert_eq(res.recs[1].r.timestamp_type, PROTO_TS_NONE);
    cr_assert_eq(res.next_offset, 42);
    free_result(&res);
    free(p);
}

/* ------------------------------------------------------------ round trips */

Test(records, round_trip_every_magic_and_codec)
{
    for (int magic = 0; magic <= 2; magic++) {
        for (int codec = 0; codec <= PROTO_CODEC_MAX; codec++) {
            if (codec == PROTO_CODEC_ZSTD && magic < 2)
                continue;
            size_t n;
            uint8_t *p = build(magic, (proto_codec)codec, 60, &n);
            tr_result res = read_all(p, n, NULL);
            cr_assert_eq(res.err, GREGOR_OK, "magic %d codec %d: %d", magic, codec, res.err);
            cr_assert_eq(res.n, 60);
            check_built(res.recs, res.n, magic);
            cr_assert_eq((int)res.recs[0].r.codec, codec);
            cr_assert_eq(res.consumed, n);
            cr_assert_eq(res.next_offset, 60);
            if (magic == 2) {
                proto_header_iter it;
                proto_header h;
                proto_header_iter_init(&it, &res.recs[2].r);
                cr_assert(proto_header_iter_next(&it, &h) && slice_is(h.key, "trace"));
                cr_assert(proto_header_iter_next(&it, &h) && slice_is(h.key, "nil"));
                cr_assert_eq(h.value.len, -1);
                cr_assert_not(proto_header_iter_next(&it, &h));
            }
            free_result(&res);
            free(p);
        }
    }
}

Test(records, builder_rules)
{
    proto_batch b;
    buf_slice out;
    cr_assert_eq(proto_batch_init(&b, 3, 100), GREGOR_ERR_INVALID_ARG);
    cr_assert_eq(proto_batch_init(&b, 2, 0), GREGOR_ERR_INVALID_ARG);
    cr_assert_eq(proto_batch_init(&b, 2, 200), GREGOR_OK);
    cr_assert_eq(proto_batch_finish(&b, PROTO_CODEC_NONE, 0, &out), GREGOR_ERR_STATE);
    proto_header nullkey = {BUF_SLICE_NULL, BUF_SLICE_NULL};
    cr_assert_eq(proto_batch_append(&b, TS, BUF_SLICE_NULL, BUF_SLICE_NULL, &nullkey, 1),
                 GREGOR_ERR_INVALID_ARG);
    char big[150] = {0};
    size_t bound = proto_batch_record_size(&b, BUF_SLICE_NULL, buf_slice_of(big, 100), NULL, 0);
    cr_assert_eq(proto_batch_append(&b, TS, BUF_SLICE_NULL, buf_slice_of(big, 100), NULL, 0),
                 GREGOR_OK);
    cr_assert_leq(proto_batch_size(&b), bound);
    size_t before = proto_batch_size(&b);
    /* Does not fit: refused, batch unchanged and still usable. */
    cr_assert_eq(proto_batch_append(&b, TS, BUF_SLICE_NULL, buf_slice_of(big, 150), NULL, 0),
                 GREGOR_ERR_TOO_LARGE);
    cr_assert_eq(proto_batch_size(&b), before);
    cr_assert_eq(proto_batch_count(&b), 1);
    cr_assert_eq(append_str(&b, TS - 3, "k", NULL), GREGOR_OK);
    cr_assert_eq(proto_batch_finish(&b, (proto_codec)9, 0, &out), GREGOR_ERR_INVALID_ARG);
    cr_assert_eq(proto_batch_finish(&b, PROTO_CODEC_GZIP, 0, &out), GREGOR_OK);
    cr_assert_eq(append_str(&b, TS, NULL, NULL), GREGOR_ERR_STATE);

    /* Re-finishing after a new producer state rewrites header and CRC only. */
    uint8_t first[512];
    int32_t first_len = out.len;
    memcpy(first, out.ptr, (size_t)out.len);
    proto_batch_set_producer(&b, 4242, 7, 100, true);
    cr_assert_eq(proto_batch_finish(&b, PROTO_CODEC_GZIP, 0, &out), GREGOR_OK);
    cr_assert_eq(out.len, first_len);
    cr_assert_arr_eq(out.ptr + 61, first + 61, (size_t)out.len - 61);
    tr_result res = read_all(out.ptr, (size_t)out.len, NULL);
    cr_assert_eq(res.err, GREGOR_OK);
    cr_assert_eq(res.n, 2);
    cr_assert_eq(res.recs[1].r.producer_id, 4242);
    cr_assert_eq(res.recs[1].r.producer_epoch, 7);
    cr_assert_eq(res.recs[1].r.sequence, 101);
    cr_assert(res.recs[1].r.is_transactional);
    cr_assert_eq(res.recs[1].r.timestamp, TS - 3); /* negative delta */
    free_result(&res);

    /* Reset keeps the configuration; v0/v1 refuse headers and zstd. */
    proto_batch_reset(&b);
    cr_assert_eq(proto_batch_count(&b), 0);
    cr_assert_eq(proto_batch_size(&b), 0);
    proto_batch_fini(&b);
    cr_assert_eq(proto_batch_init(&b, 1, 1000), GREGOR_OK);
    proto_header h = {buf_slice_of("h", 1), BUF_SLICE_NULL};
    cr_assert_eq(proto_batch_append(&b, TS, BUF_SLICE_NULL, BUF_SLICE_NULL, &h, 1),
                 GREGOR_ERR_UNSUPPORTED);
    cr_assert_eq(append_str(&b, TS, NULL, NULL), GREGOR_OK);
    cr_assert_eq(proto_batch_finish(&b, PROTO_CODEC_ZSTD, 0, &out), GREGOR_ERR_UNSUPPORTED);
    proto_batch_fini(&b);
}

/* ------------------------------------------------ mixed formats, sweeps */

/* Where an entry (a v2 batch, a v0/v1 message or wrapper) ends in the
 * buffer, and the offset of its last record. */
typedef struct entry_info {
    size_t end;
    int64_t last;
} entry_info;

/* Patches offsets so the built entry starts at `base`: v2 base offset,
 * v0/v1 per-message offsets, or a v1 wrapper's offset (none of them are
 * covered by CRCs). Not for v0 wrappers, whose inner offsets are inside
 * the compressed value. */
static void rebase(uint8_t *p, size_t n, int magic, proto_codec codec, int count, int64_t base)
{
    if (magic == 2) {
        put_be64(p, base);
    } else if (codec != PROTO_CODEC_NONE) {
        put_be64(p, base + count - 1);
    } else {
        for (size_t pos = 0; pos < n;) {
            int64_t off = 0;
            for (int i = 0; i < 8; i++)
                off = off << 8 | p[pos + (size_t)i];
            put_be64(p + pos, base + off);
            uint32_t size = (uint32_t)p[pos + 8] << 24 | (uint32_t)p[pos + 9] << 16 |
                            (uint32_t)p[pos + 10] << 8 | p[pos + 11];
            pos += 12 + size;
        }
    }
}

/* A v0 wrapper around `inner` (n bytes), built by hand: the builder always
 * numbers inner messages from 0, and v0 inner offsets are absolute. */
static uint8_t *v0_wrap(proto_codec codec, const uint8_t *inner, size_t n, int64_t last,
                        size_t *len)
{
    buf_writer w;
    buf_writer_init(&w, 1 << 20);
    buf_write_i64(&w, last);
    (void)buf_write_slot(&w, 8);
    buf_write_i8(&w, 0);
    buf_write_i8(&w, (int8_t)codec);
    buf_write_i32(&w, -1);
    size_t vlen_at = buf_write_slot(&w, 4);
    cr_assert_eq(proto_compress(codec, 0, 0, inner, n, &w), GREGOR_OK);
    buf_patch_i32(&w, vlen_at, (int32_t)(w.len - vlen_at - 4));
    buf_patch_i32(&w, 8, (int32_t)(w.len - 12));
    legacy_reseal(w.data, w.len);
    return buf_writer_steal(&w, len);
}

static size_t build_mixed(buf_writer *all, entry_info *info, size_t *n_info)
{
    static const struct { int magic; proto_codec codec; int count; } plan[] = {
        {0, PROTO_CODEC_GZIP, 3},   {0, PROTO_CODEC_NONE, 2}, {1, PROTO_CODEC_SNAPPY, 4},
        {1, PROTO_CODEC_NONE, 2},   {2, PROTO_CODEC_NONE, 3}, {2, PROTO_CODEC_LZ4, 3},
        {2, PROTO_CODEC_ZSTD, 3},   {2, PROTO_CODEC_GZIP, 2}, {1, PROTO_CODEC_LZ4, 2},
        {0, PROTO_CODEC_SNAPPY, 1}, {0, PROTO_CODEC_LZ4, 2},  {2, PROTO_CODEC_SNAPPY, 4}};
    int64_t next = 0;
    size_t k = 0;
    for (size_t i = 0; i < sizeof plan / sizeof plan[0]; i++) {
        size_t n;
        uint8_t *p;
        if (plan[i].magic == 0 && plan[i].codec != PROTO_CODEC_NONE) {
            size_t in_len;
            uint8_t *in = build(0, PROTO_CODEC_NONE, plan[i].count, &in_len);
            rebase(in, in_len, 0, PROTO_CODEC_NONE, plan[i].count, next);
            p = v0_wrap(plan[i].codec, in, in_len, next + plan[i].count - 1, &n);
            free(in);
        } else {
            p = build(plan[i].magic, plan[i].codec, plan[i].count, &n);
            rebase(p, n, plan[i].magic, plan[i].codec, plan[i].count, next);
        }
        if (plan[i].magic < 2 && plan[i].codec == PROTO_CODEC_NONE) {
            /* One entry per message: walk them. */
            for (size_t pos = 0; pos < n; next++) {
                pos += 12 + ((size_t)p[pos + 10] << 8 | p[pos + 11]);
                info[k++] = (entry_info){all->len + pos, next};
            }
        } else {
            next += plan[i].count;
            info[k++] = (entry_info){all->len + n, next - 1};
        }
        buf_write_raw(all, p, n);
        free(p);
    }
    *n_info = k;
    return (size_t)next;
}

Test(records, mixed_formats_truncation_sweep)
{
    buf_writer all;
    buf_writer_init(&all, 1 << 20);
    entry_info info[32];
    size_t n_info;
    size_t total = build_mixed(&all, info, &n_info);

    tr_result res = read_all(all.data, all.len, NULL);
    cr_assert_eq(res.err, GREGOR_OK);
    cr_assert_eq(res.n, total);
    for (size_t i = 0; i < res.n; i++)
        cr_assert_eq(res.recs[i].r.offset, (int64_t)i);
    free_result(&res);

    /* Every prefix: exactly the records of the entries wholly before the
     * cut, then a clean stop that reports the partial entry. */
    for (size_t len = 0; len <= all.len; len++) {
        res = read_all(all.data, len, NULL);
        cr_assert_eq(res.err, GREGOR_OK, "prefix %zu: err %d", len, res.err);
        size_t k = 0;
        while (k < n_info && info[k].end <= len)
            k++;
        int64_t whole = k ? info[k - 1].last + 1 : 0;
        size_t whole_end = k ? info[k - 1].end : 0;
        cr_assert_eq((int64_t)res.n, whole, "prefix %zu", len);
        cr_assert_eq(res.consumed, whole_end, "prefix %zu", len);
        cr_assert_eq(res.next_offset, whole);
        for (size_t i = 0; i < res.n; i++)
            cr_assert_eq(res.recs[i].r.offset, (int64_t)i);
        if (len - whole_end >= 12)
            cr_assert_eq(res.partial_size, info[k].end - whole_end, "prefix %zu", len);
        else
            cr_assert_eq(res.partial_size, 0);
        free_result(&res);
    }
    buf_writer_fini(&all);
}

Test(records, min_offset_skips_across_formats)
{
    buf_writer all;
    buf_writer_init(&all, 1 << 20);
    entry_info info[32];
    size_t n_info;
    int64_t total = (int64_t)build_mixed(&all, info, &n_info);
    for (int64_t min = 0; min <= total + 1; min++) {
        proto_reader_opts o = {.min_offset = min};
        tr_result res = read_all(all.data, all.len, &o);
        cr_assert_eq(res.err, GREGOR_OK);
        int64_t expect = min < total ? total - min : 0;
        cr_assert_eq((int64_t)res.n, expect, "min %lld", (long long)min);
        for (size_t i = 0; i < res.n; i++)
            cr_assert_eq(res.recs[i].r.offset, min + (int64_t)i);
        cr_assert_eq(res.next_offset, min > total ? min : total);
        free_result(&res);
    }
    buf_writer_fini(&all);
}

/* ------------------------------------------- control, empty, CRC, limits */

Test(records, control_batch_is_flagged)
{
    proto_batch b;
    buf_slice out;
    cr_assert_eq(proto_batch_init(&b, 2, 1000), GREGOR_OK);
    const uint8_t key[] = {0, 0, 0, 1};             /* version 0, COMMIT */
    const uint8_t val[] = {0, 0, 0, 0, 0, 5};       /* version 0, coordinator epoch 5 */
    cr_assert_eq(proto_batch_append(&b, TS, buf_slice_of(key, 4), buf_slice_of(val, 6), NULL, 0),
                 GREGOR_OK);
    proto_batch_set_producer(&b, 77, 1, -1, true);
    cr_assert_eq(proto_batch_finish(&b, PROTO_CODEC_NONE, 0, &out), GREGOR_OK);
    uint8_t *p = malloc((size_t)out.len);
    memcpy(p, out.ptr, (size_t)out.len);
    size_t n = (size_t)out.len;
    p[22] |= PROTO_ATTR_CONTROL;
    put_be64(p, 500);
    v2_reseal(p, n);
    tr_result res = read_all(p, n, NULL);
    cr_assert_eq(res.err, GREGOR_OK);
    cr_assert_eq(res.n, 1);
    cr_assert(res.recs[0].r.is_control && res.recs[0].r.is_transactional);
    cr_assert_eq(res.recs[0].r.control_type, PROTO_CONTROL_COMMIT);
    cr_assert_eq(res.recs[0].r.producer_id, 77);
    cr_assert_eq(res.recs[0].r.offset, 500);
    cr_assert_eq(res.next_offset, 501);
    free_result(&res);
    free(p);
    proto_batch_fini(&b);
}

Test(records, empty_batch_advances_next_offset)
{
    size_t n;
    uint8_t *one = tu_hex(V2_ONE, &n);
    /* Compacted to nothing: header only, count 0, lastOffsetDelta 4, base 10. */
    uint8_t empty[61];
    memcpy(empty, one, 61);
    put_be64(empty, 10);
    put_be32(empty + 8, 61 - 12);
    put_be32(empty + 23, 4);
    put_be32(empty + 57, 0);
    v2_reseal(empty, 61);
    tr_result res = read_all(empty, 61, NULL);
    cr_assert_eq(res.err, GREGOR_OK);
    cr_assert_eq(res.n, 0);
    cr_assert_eq(res.consumed, 61);
    cr_assert_eq(res.next_offset, 15);
    free_result(&res);

    uint8_t both[61 + 70];
    memcpy(both, empty, 61);
    memcpy(both + 61, one, n);
    put_be64(both + 61, 15);
    res = read_all(both, sizeof both, NULL);
    cr_assert_eq(res.n, 1);
    cr_assert_eq(res.recs[0].r.offset, 15);
    cr_assert_eq(res.next_offset, 16);
    free_result(&res);
    free(one);
}

Test(records, crc_mismatch_is_detected)
{
    const char *hex[3] = {V0_ONE, V1_ONE, V2_ONE};
    for (int magic = 0; magic <= 2; magic++) {
        size_t n;
        uint8_t *p = tu_hex(hex[magic], &n);
        put_be64(p, 321);
        size_t vpos = magic == 2 ? n - 2 : n - 1; /* the value "v" */
        cr_assert_eq(p[vpos], 'v');
        p[vpos] = 'w';
        tr_result res = read_all(p, n, NULL);
        cr_assert_eq(res.err, GREGOR_ERR_CRC, "magic %d", magic);
        cr_assert_eq(res.err_offset, 321);
        cr_assert_eq(res.n, 0);
        free_result(&res);
        proto_reader_opts o = {.skip_crc = true};
        res = read_all(p, n, &o);
        cr_assert_eq(res.err, GREGOR_OK);
        cr_assert_eq(res.n, 1);
        cr_assert(slice_is(res.recs[0].r.value, "w"));
        free_result(&res);
        free(p);
    }
}

Test(records, decompression_limit)
{
    proto_batch b;
    buf_slice out;
    cr_assert_eq(proto_batch_init(&b, 2, 2 << 20), GREGOR_OK);
    uint8_t *zeros = calloc(1, 1 << 20);
    cr_assert_eq(proto_batch_append(&b, TS, BUF_SLICE_NULL, buf_slice_of(zeros, 1 << 20), NULL, 0),
                 GREGOR_OK);
    cr_assert_eq(proto_batch_finish(&b, PROTO_CODEC_ZSTD, 0, &out), GREGOR_OK);
    cr_assert_lt(out.len, 10000);
    proto_reader_opts o = {.decompress_max_bytes = 64 << 10};
    tr_result res = read_all(out.ptr, (size_t)out.len, &o);
    cr_assert_eq(res.err, GREGOR_ERR_TOO_LARGE);
    free_result(&res);
    res = read_all(out.ptr, (size_t)out.len, NULL);
    cr_assert_eq(res.err, GREGOR_OK);
    cr_assert_eq(res.recs[0].r.value.len, 1 << 20);
    free_result(&res);
    free(zeros);
    proto_batch_fini(&b);
}

Test(records, malformed_entries)
{
    size_t n;
    uint8_t *p = tu_hex(V2_ONE, &n);
    /* Unknown magic. */
    p[16] = 3;
    tr_result res = read_all(p, n, NULL);
    cr_assert_eq(res.err, GREGOR_ERR_UNSUPPORTED);
    free_result(&res);
    p[16] = 2;
    /* Declared record count larger than the records present. */
    put_be32(p + 57, 2);
    v2_reseal(p, n);
    res = read_all(p, n, NULL);
    cr_assert_eq(res.err, GREGOR_ERR_MALFORMED);
    cr_assert_eq(res.n, 1); /* the record before the damage was yielded */
    free_result(&res);
    put_be32(p + 57, 1);
    /* Record length varint larger than the batch. */
    p[61] = 0x7e;
    v2_reseal(p, n);
    res = read_all(p, n, NULL);
    cr_assert_eq(res.err, GREGOR_ERR_MALFORMED);
    free_result(&res);
    /* Unknown codec 7. */
    p[61] = 0x10;
    p[22] = 7;
    v2_reseal(p, n);
    res = read_all(p, n, NULL);
    cr_assert_eq(res.err, GREGOR_ERR_UNSUPPORTED);
    free_result(&res);
    /* Entry size below the smallest message. */
    put_be32(p + 8, 5);
    res = read_all(p, n, NULL);
    cr_assert_eq(res.err, GREGOR_ERR_MALFORMED);
    free_result(&res);
    /* A huge declared size is a partial entry, not an error. */
    put_be32(p + 8, 0x7fffffff);
    res = read_all(p, n, NULL);
    cr_assert_eq(res.err, GREGOR_OK);
    cr_assert_eq(res.consumed, 0);
    cr_assert_eq(res.partial_size, (size_t)0x7fffffff + 12);
    free_result(&res);
    free(p);
}

/* Found by fuzz_fetch: a record whose offset delta lies past the batch's
 * lastOffsetDelta was yielded, and the next fetch (after the last offset)
 * delivered it again. */
Test(records, v2_record_outside_the_batch_offsets_is_malformed)
{
    size_t n;
    uint8_t *p = build(2, PROTO_CODEC_NONE, 2, &n); /* offset deltas 0 and 1 */
    put_be32(p + 23, 0);                            /* lastOffsetDelta 0 */
    v2_reseal(p, n);
    tr_result res = read_all(p, n, NULL);
    cr_assert_eq(res.err, GREGOR_ERR_MALFORMED);
    cr_assert_eq(res.n, 1);
    cr_assert_eq(res.recs[0].r.offset, 0);
    cr_assert_eq(res.err_offset, 0);
    free_result(&res);
    free(p);
}
