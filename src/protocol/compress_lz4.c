/* protocol/compress_lz4.c — LZ4 frames through liblz4's LZ4F API (see compress.h).
 *
 * Frame header as Kafka writes it (KIP-57):
 *   04 22 4d 18   magic 0x184D2204, little-endian
 *   60            FLG: version 01, independent blocks, no checksums, no size
 *   40            BD: 64 KiB maximum block
 *   HC            header checksum: (xxh32(FLG..BD, seed 0) >> 8) & 0xff
 * followed by blocks of [uint32 LE size][data] and a zero end mark.
 *
 * Kafka 0.8/0.9 computed HC over magic+FLG+BD instead (0x1a instead of 0x82
 * for the header above) and 0.8/0.9 brokers verify that broken value, so for
 * magic 0 we write it and, when reading magic 0, ignore whatever HC says:
 * the header is copied, its HC recomputed correctly, and the copy handed to
 * LZ4F in place of the original (librdkafka does the same). Magic >= 1
 * frames are standard and LZ4F checks them.
 *
 * liblz4 does not export its xxh32, so the few bytes of a frame header are
 * hashed here by a short-input xxh32.
 */
#include <lz4frame.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/compress.h"

#define LZ4_FRAME_MAGIC 0x184D2204u
#define LZ4_INPUT_CHUNK ((size_t)64 << 10)
#define LZ4_HEADER_MIN 7
#define LZ4_HEADER_MAX 19 /* magic 4, FLG, BD, content size 8, dict id 4, HC */
#define LZ4_LEVEL_MAX 12

/* xxh32 (seed 0) of fewer than 16 bytes: frame headers only. */
static uint32_t xxh32_short(const uint8_t *p, size_t n)
{
    const uint32_t p1 = 2654435761u, p2 = 2246822519u, p3 = 3266489917u, p4 = 668265263u,
                   p5 = 374761393u;
    uint32_t h = p5 + (uint32_t)n;
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        uint32_t k = (uint32_t)p[i] | ((uint32_t)p[i + 1] << 8) | ((uint32_t)p[i + 2] << 16) |
                     ((uint32_t)p[i + 3] << 24);
        h += k * p3;
        h = ((h << 17) | (h >> 15)) * p4;
    }
    for (; i < n; i++) {
        h += p[i] * p5;
        h = ((h << 11) | (h >> 21)) * p1;
    }
    h ^= h >> 15;
    h *= p2;
    h ^= h >> 13;
    h *= p3;
    h ^= h >> 16;
    return h;
}

static uint8_t header_checksum(const uint8_t *p, size_t n)
{
    return (uint8_t)(xxh32_short(p, n) >> 8);
}

/* One LZ4F compression step (update with `src`, or end when `src` is NULL)
 * into `out`. When the writer's room is below LZ4F's worst case the step
 * runs into `spare` and is copied if it fits. */
static gregor_err step(LZ4F_cctx *cctx, const LZ4F_preferences_t *prefs, const uint8_t *src,
                       size_t n, size_t start, buf_writer *out, uint8_t **spare)
{
    size_t worst = LZ4F_compressBound(n, prefs);
    size_t got;
    uint8_t *p = proto_compress_room(out, start, SIZE_MAX, worst, &got);
    if (!p)
        return GREGOR_ERR_NOMEM;
    uint8_t *dst = p;
    if (got < worst) {
        if (!*spare && !(*spare = malloc(LZ4F_compressBound(LZ4_INPUT_CHUNK, prefs))))
            return GREGOR_ERR_NOMEM;
        dst = *spare;
    }
    size_t w = src ? LZ4F_compressUpdate(cctx, dst, worst, src, n, NULL)
                   : LZ4F_compressEnd(cctx, dst, worst, NULL);
    if (LZ4F_isError(w))
        return GREGOR_ERR_COMPRESSION;
    if (dst != p) {
        if (w > got)
            return GREGOR_ERR_TOO_LARGE;
        memcpy(p, dst, w);
    }
    out->len += w;
    return GREGOR_OK;
}

gregor_err proto_lz4_compress(int magic, int level, const uint8_t *in, size_t n, buf_writer *out)
{
    if (level < 0 || level > LZ4_LEVEL_MAX)
        return GREGOR_ERR_INVALID_ARG;
    LZ4F_preferences_t prefs;
    memset(&prefs, 0, sizeof prefs);
    prefs.frameInfo.blockSizeID = LZ4F_max64KB;
    prefs.frameInfo.blockMode = LZ4F_blockIndependent;
    prefs.frameInfo.contentChecksumFlag = LZ4F_noContentChecksum;
    prefs.frameInfo.blockChecksumFlag = LZ4F_noBlockChecksum;
    prefs.compressionLevel = level;
    prefs.autoFlush = 1;

    LZ4F_cctx *cctx;
    if (LZ4F_isError(LZ4F_createCompressionContext(&cctx, LZ4F_VERSION)))
        return GREGOR_ERR_NOMEM;
    gregor_err err = GREGOR_OK;
    uint8_t *spare = NULL;
    size_t start = out->len;
    size_t got;
    uint8_t *p = proto_compress_room(out, start, SIZE_MAX, LZ4_HEADER_MAX, &got);
    if (!p) {
        err = GREGOR_ERR_NOMEM;
        goto out_cctx;
    }
    if (got < LZ4_HEADER_MAX) {
        err = GREGOR_ERR_TOO_LARGE;
        goto out_cctx;
    }
    size_t hlen = LZ4F_compressBegin(cctx, p, got, &prefs);
    if (LZ4F_isError(hlen) || hlen != LZ4_HEADER_MIN) {
        err = GREGOR_ERR_COMPRESSION;
        goto out_cctx;
    }
    if (magic == 0)
        p[6] = header_checksum(p, 6); /* Kafka 0.8/0.9's broken HC */
    out->len += hlen;

    for (size_t pos = 0; pos < n && err == GREGOR_OK; pos += LZ4_INPUT_CHUNK) {
        size_t chunk = n - pos < LZ4_INPUT_CHUNK ? n - pos : LZ4_INPUT_CHUNK;
        err = step(cctx, &prefs, in + pos, chunk, start, out, &spare);
    }
    if (err == GREGOR_OK)
        err = step(cctx, &prefs, NULL, 0, start, out, &spare);
out_cctx:
    free(spare);
    LZ4F_freeCompressionContext(cctx);
    return err;
}

/* For magic 0: copies the frame header at `in` into `hdr` with a correct HC.
 * Returns the header length, or 0 when the input does not hold a header. */
static size_t fixed_header(const uint8_t *in, size_t n, uint8_t hdr[LZ4_HEADER_MAX])
{
    if (n < LZ4_HEADER_MIN)
        return 0;
    uint32_t m = (uint32_t)in[0] | ((uint32_t)in[1] << 8) | ((uint32_t)in[2] << 16) |
                 ((uint32_t)in[3] << 24);
    if (m != LZ4_FRAME_MAGIC)
        return 0;
    uint8_t flg = in[4];
    size_t len = LZ4_HEADER_MIN + ((flg & 0x08) ? 8 : 0) + ((flg & 0x01) ? 4 : 0);
    if (n < len)
        return 0;
    memcpy(hdr, in, len);
    hdr[len - 1] = header_checksum(hdr + 4, len - 5);
    return len;
}

/* Runs LZ4F over `src` until it is consumed or the frame ends; *frame_done
 * tells which and *used how many bytes were taken. At the output limit, a
 * one-byte probe tells a stream that ends there from one that goes on. */
static gregor_err feed(LZ4F_dctx *dctx, const uint8_t *src, size_t n, size_t start, size_t limit,
                       buf_writer *out, size_t *used, bool *frame_done)
{
    size_t pos = 0;
    *frame_done = false;
    *used = 0;
    for (;;) {
        size_t got;
        uint8_t probe;
        uint8_t *p = proto_compress_room(out, start, limit, LZ4_INPUT_CHUNK, &got);
        if (!p)
            return GREGOR_ERR_NOMEM;
        size_t cap = got == 0 ? 1 : got;
        size_t dsz = cap, ssz = n - pos;
        size_t hint = LZ4F_decompress(dctx, got == 0 ? &probe : p, &dsz, src + pos, &ssz, NULL);
        if (LZ4F_isError(hint))
            return GREGOR_ERR_COMPRESSION;
        if (got == 0 && dsz > 0)
            return GREGOR_ERR_TOO_LARGE;
        out->len += got == 0 ? 0 : dsz;
        pos += ssz;
        *used = pos;
        if (hint == 0) {
            *frame_done = true;
            return GREGOR_OK;
        }
        /* Input used up and output not full: nothing more is pending. */
        if (pos == n && dsz < cap)
            return GREGOR_OK;
        if (ssz == 0 && dsz == 0)
            return GREGOR_ERR_COMPRESSION;
    }
}

gregor_err proto_lz4_decompress(int magic, const uint8_t *in, size_t n, size_t limit,
                                buf_writer *out)
{
    LZ4F_dctx *dctx;
    if (LZ4F_isError(LZ4F_createDecompressionContext(&dctx, LZ4F_VERSION)))
        return GREGOR_ERR_NOMEM;
    gregor_err err = GREGOR_OK;
    size_t start = out->len;
    size_t pos = 0;
    while (pos < n) {
        bool done;
        size_t used;
        if (magic == 0) {
            uint8_t hdr[LZ4_HEADER_MAX];
            size_t hlen = fixed_header(in + pos, n - pos, hdr);
            if (hlen == 0) {
                err = GREGOR_ERR_COMPRESSION;
                goto out_dctx;
            }
            err = feed(dctx, hdr, hlen, start, limit, out, &used, &done);
            if (err != GREGOR_OK)
                goto out_dctx;
            pos += hlen;
        }
        err = feed(dctx, in + pos, n - pos, start, limit, out, &used, &done);
        if (err != GREGOR_OK)
            goto out_dctx;
        if (!done) { /* the input ends inside a frame */
            err = GREGOR_ERR_COMPRESSION;
            goto out_dctx;
        }
        pos += used; /* more input: another frame follows */
    }
out_dctx:
    LZ4F_freeDecompressionContext(dctx);
    return err;
}
