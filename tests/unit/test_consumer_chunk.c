/* Unit tests for consumer/chunk.c: a partition's fetched records turned into
 * message views. Batches come from the record builder; control batches are
 * the builder's bytes with the control bit set and the CRC-32C recomputed.
 *
 * Covered: aborted transactions left out under read_committed (and kept
 * under read_uncommitted), control records never surfacing, views into
 * several compressed batches all valid at once, a fetch offset inside a
 * compressed batch, a partial trailing batch, a corrupt batch. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "consumer/consumer_int.h"
#include "protocol/records.h"
#include "util/crc32.h"

/* Accumulates the bytes of several batches, as a Fetch response holds them. */
typedef struct log_bytes {
    uint8_t data[1 << 16];
    size_t len;
} log_bytes;

static void put_be64(uint8_t *p, int64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)((uint64_t)v >> (56 - 8 * i));
}

static void put_be32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (24 - 8 * i));
}

/* Appends a v2 batch of `n` records "v<base+i>" at offset `base`. */
static void add_batch(log_bytes *l, int64_t base, int n, int64_t pid, bool txn, proto_codec codec)
{
    proto_batch b;
    cr_assert_eq(proto_batch_init(&b, 2, 1 << 20), GREGOR_OK);
    proto_batch_set_producer(&b, pid, pid >= 0 ? 0 : -1, pid >= 0 ? 0 : -1, txn);
    for (int i = 0; i < n; i++) {
        char v[96];
        int vl = snprintf(v, sizeof v, "v%lld-%s", (long long)(base + i),
                          "some padding so that compression has something to do");
        cr_assert_eq(proto_batch_append(&b, 1700000000000 + i, BUF_SLICE_NULL, buf_slice_of(v, (size_t)vl), NULL, 0),
                     GREGOR_OK);
    }
    buf_slice out;
    cr_assert_eq(proto_batch_finish(&b, codec, 0, &out), GREGOR_OK);
    cr_assert_lt(l->len + (size_t)out.len, sizeof l->data);
    memcpy(l->data + l->len, out.ptr, (size_t)out.len);
    put_be64(l->data + l->len, base); /* baseOffset is outside the CRC */
    l->len += (size_t)out.len;
    proto_batch_fini(&b);
}

/* Appends a control batch (ABORT or COMMIT marker) of producer `pid`. */
static void add_marker(log_bytes *l, int64_t offset, int64_t pid, int16_t type)
{
    proto_batch b;
    cr_assert_eq(proto_batch_init(&b, 2, 1 << 20), GREGOR_OK);
    proto_batch_set_producer(&b, pid, 0, -1, true);
    uint8_t key[4] = {0, 0, 0, (uint8_t)type};
    uint8_t val[6] = {0, 0, 0, 0, 0, 0};
    cr_assert_eq(proto_batch_append(&b, 1700000000000, buf_slice_of(key, 4), buf_slice_of(val, 6), NULL, 0),
                 GREGOR_OK);
    buf_slice out;
    cr_assert_eq(proto_batch_finish(&b, PROTO_CODEC_NONE, 0, &out), GREGOR_OK);
    uint8_t *p = l->data + l->len;
    memcpy(p, out.ptr, (size_t)out.len);
    put_be64(p, offset);
    p[PROTO_V2_ATTR_OFFSET + 1] |= PROTO_ATTR_CONTROL;
    put_be32(p + PROTO_V2_CRC_OFFSET, crc32c(0, p + PROTO_V2_ATTR_OFFSET, (size_t)out.len - PROTO_V2_ATTR_OFFSET));
    l->len += (size_t)out.len;
    proto_batch_fini(&b);
}

static gregor_batch *build(const log_bytes *l, int64_t from, bool read_committed,
                           const proto_fetch_response_aborted_transaction *ab, int32_t n_ab, int64_t *next)
{
    chunk_input in = {.topic = "t",
                      .partition = 3,
                      .fetch_offset = from,
                      .records = l->data,
                      .records_len = l->len,
                      .read_committed = read_committed,
                      .check_crcs = true,
                      .aborted = ab,
                      .n_aborted = n_ab};
    gregor_batch *b = NULL;
    size_t partial = 0;
    const char *what = NULL;
    int64_t err_offset = -1;
    gregor_err err = chunk_build(&in, NULL, &b, next, &partial, &what, &err_offset);
    cr_assert_eq(err, GREGOR_OK, "%s: %s at %lld", gregor_err_name(err), what ? what : "", (long long)err_offset);
    return b;
}

static void assert_value(const gregor_message *m, int64_t offset)
{
    char v[96];
    int vl = snprintf(v, sizeof v, "v%lld-%s", (long long)offset,
                      "some padding so that compression has something to do");
    cr_assert_eq(m->offset, offset);
    cr_assert_eq(m->value_len, vl, "offset %lld", (long long)offset);
    cr_assert(!memcmp(m->value, v, (size_t)vl), "offset %lld: value differs", (long long)offset);
    cr_assert_null(m->key);
    cr_assert_eq(m->key_len, -1);
    cr_assert_str_eq(m->topic, "t");
    cr_assert_eq(m->partition, 3);
}

Test(consumer_chunk, aborted_transactions_skipped_when_read_committed)
{
    static log_bytes l;
    l.len = 0;
    add_batch(&l, 0, 3, 7, true, PROTO_CODEC_NONE);  /* 0-2: pid 7, aborted below */
    add_batch(&l, 3, 2, 8, true, PROTO_CODEC_GZIP);  /* 3-4: pid 8, committed */
    add_marker(&l, 5, 7, PROTO_CONTROL_ABORT);       /* 5 */
    add_batch(&l, 6, 2, -1, false, PROTO_CODEC_NONE); /* 6-7: not transactional */
    add_marker(&l, 8, 8, PROTO_CONTROL_COMMIT);      /* 8 */
    add_batch(&l, 9, 2, 7, true, PROTO_CODEC_NONE);  /* 9-10: pid 7 again, a new transaction, committed */
    proto_fetch_response_aborted_transaction ab[1] = {{7, 0}};
    int64_t next;
    gregor_batch *b = build(&l, 0, true, ab, 1, &next);
    static const int64_t want[] = {3, 4, 6, 7, 9, 10};
    cr_assert_eq(gregor_batch_count(b), 6);
    for (size_t i = 0; i < 6; i++)
        assert_value(gregor_batch_message(b, i), want[i]);
    cr_assert_eq(next, 11);
    gregor_batch_destroy(b);

    /* read_uncommitted: everything but the control records. */
    b = build(&l, 0, false, ab, 1, &next);
    static const int64_t all[] = {0, 1, 2, 3, 4, 6, 7, 9, 10};
    cr_assert_eq(gregor_batch_count(b), 9);
    for (size_t i = 0; i < 9; i++)
        assert_value(gregor_batch_message(b, i), all[i]);
    gregor_batch_destroy(b);
}

Test(consumer_chunk, compressed_views_outlive_the_reader)
{
    static const proto_codec codecs[] = {PROTO_CODEC_GZIP, PROTO_CODEC_SNAPPY, PROTO_CODEC_LZ4, PROTO_CODEC_ZSTD};
    static log_bytes l;
    l.len = 0;
    for (int i = 0; i < 8; i++)
        add_batch(&l, i * 10, 10, -1, false, codecs[i % 4]);
    int64_t next;
    gregor_batch *b = build(&l, 0, false, NULL, 0, &next);
    cr_assert_eq(gregor_batch_count(b), 80);
    cr_assert_eq(b->n_zbufs, 8, "one decompression buffer per compressed batch");
    for (size_t i = 0; i < 80; i++)
        assert_value(gregor_batch_message(b, i), (int64_t)i);
    cr_assert_eq(next, 80);
    gregor_batch_destroy(b);

    /* From the middle of a compressed batch. */
    b = build(&l, 25, false, NULL, 0, &next);
    cr_assert_eq(gregor_batch_count(b), 55);
    assert_value(gregor_batch_message(b, 0), 25);
    gregor_batch_destroy(b);
}

Test(consumer_chunk, partial_trailing_batch_and_corruption)
{
    static log_bytes l;
    l.len = 0;
    add_batch(&l, 0, 5, -1, false, PROTO_CODEC_NONE);
    size_t first = l.len;
    add_batch(&l, 5, 5, -1, false, PROTO_CODEC_LZ4);
    size_t whole = l.len;
    l.len = first + (whole - first) / 2; /* cut the second batch */
    int64_t next;
    gregor_batch *b = build(&l, 0, false, NULL, 0, &next);
    cr_assert_eq(gregor_batch_count(b), 5);
    cr_assert_eq(next, 5);
    gregor_batch_destroy(b);

    l.len = whole;
    l.data[first + 70] ^= 0x5a; /* inside the second batch's CRC range */
    chunk_input in = {.topic = "t", .partition = 3, .records = l.data, .records_len = l.len, .check_crcs = true};
    size_t partial;
    const char *what = NULL;
    int64_t err_offset = -1;
    b = NULL;
    cr_assert_eq(chunk_build(&in, NULL, &b, &next, &partial, &what, &err_offset), GREGOR_ERR_CRC);
    cr_assert_null(b);
    cr_assert_eq(err_offset, 5);
}
