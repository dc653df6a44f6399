/* Unit tests for protocol/compress: round trips of every codec and magic,
 * Kafka's framings (xerial snappy, raw snappy, lz4 header checksums for magic
 * 0 and >= 1), gzip members, zstd frames without a content size, output
 * limits against zip bombs, and garbage or truncated input. */
#include <criterion/criterion.h>
#include <lz4frame.h>
#include <snappy-c.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "protocol/compress.h"
#include "testutil.h"

static const proto_codec all_codecs[] = {PROTO_CODEC_GZIP, PROTO_CODEC_SNAPPY, PROTO_CODEC_LZ4,
                                         PROTO_CODEC_ZSTD};
#define N_CODECS (sizeof all_codecs / sizeof all_codecs[0])

/* Compressible but not trivial: words drawn from a small vocabulary. */
static uint8_t *sample(size_t n, unsigned seed)
{
    static const char *words[] = {"kafka ", "gregor ", "samsa ", "record ", "batch ", "offset "};
    uint8_t *p = malloc(n ? n : 1);
    cr_assert_not_null(p);
    srand(seed);
    size_t i = 0;
    while (i < n) {
        const char *w = words[rand() % 6];
        for (size_t k = 0; w[k] && i < n; k++)
            p[i++] = (uint8_t)w[k];
        if (rand() % 7 == 0 && i < n)
            p[i++] = (uint8_t)rand();
    }
    return p;
}

static void round_trip(proto_codec codec, int magic, const uint8_t *in, size_t n)
{
    buf_writer z, u;
    buf_writer_init(&z, (size_t)64 << 20);
    buf_writer_init(&u, (size_t)64 << 20);
    cr_assert_eq(proto_compress(codec, magic, 0, in, n, &z), GREGOR_OK, "%s magic %d n %zu",
                 proto_codec_name(codec), magic, n);
    cr_assert_gt(z.len, 0);
    cr_assert_eq(proto_decompress(codec, magic, z.data, z.len, n, &u), GREGOR_OK,
                 "%s magic %d n %zu", proto_codec_name(codec), magic, n);
    cr_assert_eq(u.len, n);
    if (n)
        cr_assert_eq(memcmp(u.data, in, n), 0);
    buf_writer_fini(&z);
    buf_writer_fini(&u);
}

Test(compress, round_trip_every_codec_magic_and_size)
{
    static const size_t sizes[] = {0, 1, 5, 100, 32768, 32769, 65536, 200000, (size_t)3 << 20};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        uint8_t *in = sample(sizes[s], (unsigned)s);
        for (size_t c = 0; c < N_CODECS; c++)
            for (int magic = 0; magic <= 2; magic++)
                if (all_codecs[c] != PROTO_CODEC_ZSTD || magic == 2)
                    round_trip(all_codecs[c], magic, in, sizes[s]);
        free(in);
    }
}

Test(compress, round_trip_incompressible_and_levels)
{
    size_t n = 300000;
    uint8_t *in = malloc(n);
    srand(7);
    for (size_t i = 0; i < n; i++)
        in[i] = (uint8_t)rand();
    for (size_t c = 0; c < N_CODECS; c++)
        round_trip(all_codecs[c], 2, in, n);
    int levels[][2] = {{PROTO_CODEC_GZIP, 1}, {PROTO_CODEC_GZIP, 9}, {PROTO_CODEC_LZ4, 9},
                       {PROTO_CODEC_ZSTD, 19}, {PROTO_CODEC_ZSTD, -5}};
    for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++) {
        buf_writer z, u;
        buf_writer_init(&z, (size_t)8 << 20);
        buf_writer_init(&u, (size_t)8 << 20);
        cr_assert_eq(proto_compress((proto_codec)levels[i][0], 2, levels[i][1], in, 5000, &z),
                     GREGOR_OK);
        cr_assert_eq(proto_decompress((proto_codec)levels[i][0], 2, z.data, z.len, 5000, &u),
                     GREGOR_OK);
        cr_assert_eq(u.len, 5000);
        cr_assert_eq(memcmp(u.data, in, 5000), 0);
        buf_writer_fini(&z);
        buf_writer_fini(&u);
    }
    buf_writer w;
    buf_writer_init(&w, 1024);
    cr_assert_eq(proto_compress(PROTO_CODEC_GZIP, 2, 10, in, 10, &w), GREGOR_ERR_INVALID_ARG);
    cr_assert_eq(proto_compress(PROTO_CODEC_LZ4, 2, 13, in, 10, &w), GREGOR_ERR_INVALID_ARG);
    cr_assert_eq(w.len, 0);
    buf_writer_fini(&w);
    free(in);
}

Test(compress, appends_after_existing_bytes)
{
    buf_writer w;
    buf_writer_init(&w, 1 << 20);
    buf_write_raw(&w, "hdr", 3);
    cr_assert_eq(proto_compress(PROTO_CODEC_LZ4, 2, 0, (const uint8_t *)"hello", 5, &w), GREGOR_OK);
    buf_writer u;
    buf_writer_init(&u, 1 << 20);
    buf_write_raw(&u, "xy", 2);
    cr_assert_eq(proto_decompress(PROTO_CODEC_LZ4, 2, w.data + 3, w.len - 3, 5, &u), GREGOR_OK);
    cr_assert_eq(u.len, 7);
    cr_assert_eq(memcmp(u.data, "xyhello", 7), 0);
    cr_assert_eq(memcmp(w.data, "hdr", 3), 0);
    buf_writer_fini(&w);
    buf_writer_fini(&u);
}

Test(compress, codec_names)
{
    proto_codec c;
    for (int i = 0; i <= PROTO_CODEC_MAX; i++) {
        cr_assert_eq(proto_codec_parse(proto_codec_name((proto_codec)i), &c), GREGOR_OK);
        cr_assert_eq(c, (proto_codec)i);
    }
    cr_assert_str_eq(proto_codec_name(PROTO_CODEC_SNAPPY), "snappy");
    cr_assert_str_eq(proto_codec_name((proto_codec)7), "unknown");
    cr_assert_eq(proto_codec_parse("LZ4", &c), GREGOR_ERR_INVALID_ARG);
    cr_assert_eq(proto_codec_parse("brotli", &c), GREGOR_ERR_INVALID_ARG);
    cr_assert_eq(proto_codec_parse(NULL, &c), GREGOR_ERR_INVALID_ARG);
}

Test(compress, bad_arguments)
{
    buf_writer w;
    buf_writer_init(&w, 1024);
    const uint8_t x[] = {1, 2, 3};
    cr_assert_eq(proto_compress(PROTO_CODEC_NONE, 2, 0, x, 3, &w), GREGOR_ERR_INVALID_ARG);
    cr_assert_eq(proto_compress((proto_codec)5, 2, 0, x, 3, &w), GREGOR_ERR_INVALID_ARG);
    cr_assert_eq(proto_compress(PROTO_CODEC_ZSTD, 1, 0, x, 3, &w), GREGOR_ERR_UNSUPPORTED);
    cr_assert_eq(proto_decompress(PROTO_CODEC_NONE, 2, x, 3, 100, &w), GREGOR_ERR_INVALID_ARG);
    cr_assert_eq(proto_decompress((proto_codec)6, 2, x, 3, 100, &w), GREGOR_ERR_INVALID_ARG);
    for (size_t c = 0; c < N_CODECS; c++)
        cr_assert_eq(proto_decompress(all_codecs[c], 2, x, 0, 100, &w), GREGOR_ERR_COMPRESSION);
    cr_assert_eq(w.len, 0);
    buf_writer_fini(&w);
}

/* ------------------------------------------------------------- snappy */

Test(compress, snappy_writes_xerial_framing)
{
    buf_writer z;
    buf_writer_init(&z, 1 << 20);
    uint8_t *in = sample(70000, 3); /* three 32 KiB blocks */
    cr_assert_eq(proto_compress(PROTO_CODEC_SNAPPY, 2, 0, in, 70000, &z), GREGOR_OK);
    size_t hn;
    uint8_t *hdr = tu_hex("82 53 4e 41 50 50 59 00  00 00 00 01  00 00 00 01", &hn);
    cr_assert_eq(memcmp(z.data, hdr, hn), 0);
    /* Walk the blocks: each is [int32 BE length][raw snappy of <= 32 KiB]. */
    size_t pos = 16, blocks = 0, total = 0;
    while (pos < z.len) {
        uint32_t len = (uint32_t)z.data[pos] << 24 | (uint32_t)z.data[pos + 1] << 16 |
                       (uint32_t)z.data[pos + 2] << 8 | z.data[pos + 3];
        pos += 4;
        size_t ulen;
        cr_assert_eq(snappy_uncompressed_length((char *)z.data + pos, len, &ulen), SNAPPY_OK);
        cr_assert_leq(ulen, 32768);
        total += ulen;
        pos += len;
        blocks++;
    }
    cr_assert_eq(pos, z.len);
    cr_assert_eq(blocks, 3);
    cr_assert_eq(total, 70000);
    free(hdr);
    free(in);
    buf_writer_fini(&z);
}

Test(compress, snappy_reads_raw_block)
{
    uint8_t *in = sample(10000, 4);
    size_t cap = snappy_max_compressed_length(10000), clen = cap;
    char *raw = malloc(cap);
    cr_assert_eq(snappy_compress((char *)in, 10000, raw, &clen), SNAPPY_OK);
    buf_writer u;
    buf_writer_init(&u, 1 << 20);
    cr_assert_eq(proto_decompress(PROTO_CODEC_SNAPPY, 1, (uint8_t *)raw, clen, 10000, &u),
                 GREGOR_OK);
    cr_assert_eq(u.len, 10000);
    cr_assert_eq(memcmp(u.data, in, 10000), 0);
    /* The raw block's own length claim is checked against the limit first. */
    buf_writer_reset(&u);
    cr_assert_eq(proto_decompress(PROTO_CODEC_SNAPPY, 1, (uint8_t *)raw, clen, 9999, &u),
                 GREGOR_ERR_TOO_LARGE);
    cr_assert_eq(u.len, 0);
    free(raw);
    free(in);
    buf_writer_fini(&u);
}

Test(compress, snappy_reads_hand_built_xerial_and_concatenated_streams)
{
    /* "hello" as a raw snappy block is 05 10 68 65 6c 6c 6f (length 5, one
     * literal of 5 bytes); two xerial streams back to back, the second with
     * two blocks. */
    size_t n;
    uint8_t *x = tu_hex("82 53 4e 41 50 50 59 00 00000001 00000001"
                        "00000007 05 10 68656c6c6f"
                        "82 53 4e 41 50 50 59 00 00000001 00000001"
                        "00000007 05 10 68656c6c6f"
                        "00000000"
                        "00000003 01 00 21",
                        &n);
    buf_writer u;
    buf_writer_init(&u, 1 << 20);
    cr_assert_eq(proto_decompress(PROTO_CODEC_SNAPPY, 0, x, n, 100, &u), GREGOR_OK);
    cr_assert_eq(u.len, 11);
    cr_assert_eq(memcmp(u.data, "hellohello!", 11), 0);
    /* A block length past the end is corrupt. */
    buf_writer_reset(&u);
    x[19] = 0x08;
    cr_assert_eq(proto_decompress(PROTO_CODEC_SNAPPY, 0, x, 16 + 4 + 7, 100, &u),
                 GREGOR_ERR_COMPRESSION);
    /* A header alone is a valid empty stream. */
    buf_writer_reset(&u);
    cr_assert_eq(proto_decompress(PROTO_CODEC_SNAPPY, 0, x, 16, 100, &u), GREGOR_OK);
    cr_assert_eq(u.len, 0);
    free(x);
    buf_writer_fini(&u);
}

/* ---------------------------------------------------------------- lz4 */

Test(compress, lz4_header_checksum_by_magic)
{
    size_t n;
    uint8_t *correct = tu_hex("04 22 4d 18 60 40 82", &n);
    uint8_t *broken = tu_hex("04 22 4d 18 60 40 1a", &n);
    for (int magic = 0; magic <= 2; magic++) {
        buf_writer z;
        buf_writer_init(&z, 1 << 20);
        cr_assert_eq(proto_compress(PROTO_CODEC_LZ4, magic, 0, (const uint8_t *)"kafka", 5, &z),
                     GREGOR_OK);
        cr_assert_eq(memcmp(z.data, magic == 0 ? broken : correct, 7), 0, "magic %d", magic);
        /* The frame ends with a zero end mark and no content checksum. */
        cr_assert_eq(memcmp(z.data + z.len - 4, "\0\0\0\0", 4), 0);
        buf_writer_fini(&z);
    }
    free(correct);
    free(broken);
}

Test(compress, lz4_magic0_accepts_any_hc_magic1_checks_it)
{
    /* A stored (uncompressed, high bit set) block of "hello". */
    size_t n;
    uint8_t *broken = tu_hex("04224d18 60 40 1a  05000080 68656c6c6f  00000000", &n);
    buf_writer u;
    buf_writer_init(&u, 1 << 20);
    cr_assert_eq(proto_decompress(PROTO_CODEC_LZ4, 0, broken, n, 100, &u), GREGOR_OK);
    cr_assert_eq(u.len, 5);
    cr_assert_eq(memcmp(u.data, "hello", 5), 0);
    cr_assert_eq(proto_decompress(PROTO_CODEC_LZ4, 1, broken, n, 100, &u), GREGOR_ERR_COMPRESSION);
    cr_assert_eq(u.len, 5);
    broken[6] = 0x82; /* the correct HC: fine for both */
    buf_writer_reset(&u);
    cr_assert_eq(proto_decompress(PROTO_CODEC_LZ4, 1, broken, n, 100, &u), GREGOR_OK);
    cr_assert_eq(proto_decompress(PROTO_CODEC_LZ4, 0, broken, n, 100, &u), GREGOR_OK);
    cr_assert_eq(u.len, 10);
    free(broken);
    buf_writer_fini(&u);
}

Test(compress, lz4_concatenated_frames)
{
    uint8_t *in = sample(100000, 5);
    for (int magic = 0; magic <= 1; magic++) {
        buf_writer z, u;
        buf_writer_init(&z, 1 << 20);
        buf_writer_init(&u, 1 << 20);
        cr_assert_eq(proto_compress(PROTO_CODEC_LZ4, magic, 0, in, 60000, &z), GREGOR_OK);
        cr_assert_eq(proto_compress(PROTO_CODEC_LZ4, magic, 0, in + 60000, 40000, &z), GREGOR_OK);
        cr_assert_eq(proto_decompress(PROTO_CODEC_LZ4, magic, z.data, z.len, 100000, &u),
                     GREGOR_OK);
        cr_assert_eq(u.len, 100000);
        cr_assert_eq(memcmp(u.data, in, 100000), 0);
        buf_writer_fini(&z);
        buf_writer_fini(&u);
    }
    free(in);
}

/* --------------------------------------------------------- gzip, zstd */

Test(compress, gzip_concatenated_members_and_trailing_garbage)
{
    buf_writer z, u;
    buf_writer_init(&z, 1 << 20);
    buf_writer_init(&u, 1 << 20);
    cr_assert_eq(proto_compress(PROTO_CODEC_GZIP, 1, 0, (const uint8_t *)"abc", 3, &z), GREGOR_OK);
    cr_assert_eq(z.data[0], 0x1f);
    cr_assert_eq(z.data[1], 0x8b);
    cr_assert_eq(proto_compress(PROTO_CODEC_GZIP, 1, 0, (const uint8_t *)"def", 3, &z), GREGOR_OK);
    buf_write_raw(&z, "\0\0junk", 6);
    cr_assert_eq(proto_decompress(PROTO_CODEC_GZIP, 1, z.data, z.len, 100, &u), GREGOR_OK);
    cr_assert_eq(u.len, 6);
    cr_assert_eq(memcmp(u.data, "abcdef", 6), 0);
    buf_writer_fini(&z);
    buf_writer_fini(&u);
}

Test(compress, zstd_frame_without_content_size)
{
    uint8_t *in = sample(300000, 6);
    ZSTD_CCtx *cctx = ZSTD_createCCtx();
    size_t cap = ZSTD_compressBound(300000);
    uint8_t *frame = malloc(cap);
    ZSTD_outBuffer ob = {frame, cap, 0};
    ZSTD_inBuffer ib = {in, 300000, 0};
    /* Streaming with e_continue first, as zstd-jni's output stream does:
     * the frame header then has no content size. */
    cr_assert(!ZSTD_isError(ZSTD_compressStream2(cctx, &ob, &ib, ZSTD_e_continue)));
    ZSTD_inBuffer none = {NULL, 0, 0};
    cr_assert_eq(ZSTD_compressStream2(cctx, &ob, &none, ZSTD_e_end), 0);
    cr_assert_eq(ZSTD_getFrameContentSize(frame, ob.pos), ZSTD_CONTENTSIZE_UNKNOWN);
    buf_writer u;
    buf_writer_init(&u, 1 << 20);
    cr_assert_eq(proto_decompress(PROTO_CODEC_ZSTD, 2, frame, ob.pos, 300000, &u), GREGOR_OK);
    cr_assert_eq(u.len, 300000);
    cr_assert_eq(memcmp(u.data, in, 300000), 0);
    buf_writer_reset(&u);
    cr_assert_eq(proto_decompress(PROTO_CODEC_ZSTD, 2, frame, ob.pos, 299999, &u),
                 GREGOR_ERR_TOO_LARGE);
    cr_assert_eq(u.len, 0);
    ZSTD_freeCCtx(cctx);
    free(frame);
    free(in);
    buf_writer_fini(&u);
}

/* ------------------------------------------------------ limits, garbage */

Test(compress, zip_bomb_stops_at_limit)
{
    size_t n = (size_t)16 << 20;
    uint8_t *zeros = calloc(1, n);
    for (size_t c = 0; c < N_CODECS; c++) {
        buf_writer z, u;
        buf_writer_init(&z, (size_t)16 << 20);
        buf_writer_init(&u, (size_t)64 << 20);
        cr_assert_eq(proto_compress(all_codecs[c], 2, 0, zeros, n, &z), GREGOR_OK);
        cr_assert_lt(z.len, n / 16, "%s ratio", proto_codec_name(all_codecs[c]));
        buf_write_raw(&u, "keep", 4);
        cr_assert_eq(proto_decompress(all_codecs[c], 2, z.data, z.len, (size_t)1 << 20, &u),
                     GREGOR_ERR_TOO_LARGE, "%s", proto_codec_name(all_codecs[c]));
        cr_assert_eq(u.len, 4); /* truncated back */
        cr_assert_eq(u.err, GREGOR_OK);
        cr_assert_leq(u.cap, ((size_t)2 << 20) + 4096, "%s grew to %zu",
                      proto_codec_name(all_codecs[c]), u.cap);
        /* Exactly the limit is fine; one byte less is not. */
        buf_writer_reset(&u);
        cr_assert_eq(proto_decompress(all_codecs[c], 2, z.data, z.len, n, &u), GREGOR_OK);
        cr_assert_eq(u.len, n);
        buf_writer_reset(&u);
        cr_assert_eq(proto_decompress(all_codecs[c], 2, z.data, z.len, n - 1, &u),
                     GREGOR_ERR_TOO_LARGE);
        /* The writer's own max limits too. */
        buf_writer small;
        buf_writer_init(&small, 1000);
        cr_assert_eq(proto_decompress(all_codecs[c], 2, z.data, z.len, n, &small),
                     GREGOR_ERR_TOO_LARGE);
        cr_assert_eq(small.len, 0);
        buf_writer_fini(&small);
        buf_writer_fini(&z);
        buf_writer_fini(&u);
    }
    free(zeros);
}

Test(compress, compression_bounded_by_writer_max)
{
    size_t n = 100000;
    uint8_t *in = malloc(n);
    srand(9);
    for (size_t i = 0; i < n; i++)
        in[i] = (uint8_t)rand();
    for (size_t c = 0; c < N_CODECS; c++) {
        buf_writer z;
        buf_writer_init(&z, 50000);
        buf_write_raw(&z, "x", 1);
        cr_assert_eq(proto_compress(all_codecs[c], 2, 0, in, n, &z), GREGOR_ERR_TOO_LARGE, "%s",
                     proto_codec_name(all_codecs[c]));
        cr_assert_eq(z.len, 1);
        buf_writer_fini(&z);
    }
    free(in);
}

Test(compress, garbage_and_truncation_fail_cleanly)
{
    uint8_t *in = sample(50000, 8);
    uint8_t junk[512];
    srand(10);
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (uint8_t)rand();
    for (size_t c = 0; c < N_CODECS; c++) {
        proto_codec codec = all_codecs[c];
        buf_writer z, u;
        buf_writer_init(&z, 1 << 20);
        buf_writer_init(&u, 1 << 20);
        for (int magic = 0; magic <= 2; magic++)
            cr_assert_eq(proto_decompress(codec, magic, junk, sizeof junk, 1 << 20, &u),
                         GREGOR_ERR_COMPRESSION, "%s magic %d", proto_codec_name(codec), magic);
        cr_assert_eq(u.len, 0);
        cr_assert_eq(proto_compress(codec, 2, 0, in, 50000, &z), GREGOR_OK);
        /* Every proper prefix fails (or, for a framing that ends at a block
         * boundary, yields less than the whole): never a crash. */
        size_t step = z.len > 600 ? z.len / 300 : 1;
        for (size_t cut = 1; cut < z.len; cut += step) {
            buf_writer_reset(&u);
            gregor_err err = proto_decompress(codec, 2, z.data, cut, 1 << 20, &u);
            if (err == GREGOR_OK)
                cr_assert_lt(u.len, 50000, "%s cut %zu", proto_codec_name(codec), cut);
            else
                cr_assert_eq(err, GREGOR_ERR_COMPRESSION, "%s cut %zu: %d",
                             proto_codec_name(codec), cut, err);
        }
        /* A flipped byte inside the data: an error or different bytes. */
        z.data[z.len / 2] ^= 0x55;
        buf_writer_reset(&u);
        gregor_err err = proto_decompress(codec, 2, z.data, z.len, 1 << 20, &u);
        if (err == GREGOR_OK)
            cr_assert(u.len != 50000 || memcmp(u.data, in, 50000) != 0);
        buf_writer_fini(&z);
        buf_writer_fini(&u);
    }
    free(in);
}
