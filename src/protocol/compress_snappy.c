/* protocol/compress_snappy.c — snappy through libsnappy's C API (see compress.h).
 *
 * Two framings exist in Kafka (NOTES §2.5): xerial snappy-java's, written by
 * the Java client and by 0.8-0.10 brokers when they recompress, and a single
 * raw snappy block, written by librdkafka and most non-Java clients. We write
 * xerial, as Java does, and read both, deciding like SnappyInputStream: input
 * that starts with the 8-byte xerial magic is framed, anything else is raw.
 *
 * Xerial layout: magic "\x82SNAPPY\0", int32 BE version (1), int32 BE
 * compatible version (1), then blocks of int32 BE length + raw snappy block,
 * each block covering up to 32 KiB of input. A second header in the middle
 * (two concatenated streams) is skipped, as snappy-java does.
 */
#include <snappy-c.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/compress.h"

#define XERIAL_HEADER_LEN 16
#define XERIAL_BLOCK ((size_t)32 << 10)

static const uint8_t xerial_header[XERIAL_HEADER_LEN] = {
    0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0x00, 0, 0, 0, 1, 0, 0, 0, 1};

static bool is_xerial_magic(const uint8_t *p, size_t n)
{
    return n >= XERIAL_HEADER_LEN && memcmp(p, xerial_header, 8) == 0;
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Compresses one block to `out` as [int32 length][snappy]. When the writer's
 * room is below snappy's worst case, compresses into `spare` (allocated on
 * first need, SNAPPY worst case for one block) and copies if it fits. */
static gregor_err put_block(const uint8_t *in, size_t n, size_t start, buf_writer *out,
                            uint8_t **spare)
{
    size_t worst = snappy_max_compressed_length(n);
    size_t got;
    uint8_t *p = proto_compress_room(out, start, SIZE_MAX, 4 + worst, &got);
    if (!p)
        return GREGOR_ERR_NOMEM;
    if (got == 4 + worst) {
        size_t clen = worst;
        if (snappy_compress((const char *)in, n, (char *)p + 4, &clen) != SNAPPY_OK)
            return GREGOR_ERR_COMPRESSION;
        put_be32(p, (uint32_t)clen);
        out->len += 4 + clen;
        return GREGOR_OK;
    }
    if (!*spare && !(*spare = malloc(snappy_max_compressed_length(XERIAL_BLOCK))))
        return GREGOR_ERR_NOMEM;
    size_t clen = worst;
    if (snappy_compress((const char *)in, n, (char *)*spare, &clen) != SNAPPY_OK)
        return GREGOR_ERR_COMPRESSION;
    if (got < 4 + clen)
        return GREGOR_ERR_TOO_LARGE;
    put_be32(p, (uint32_t)clen);
    memcpy(p + 4, *spare, clen);
    out->len += 4 + clen;
    return GREGOR_OK;
}

gregor_err proto_snappy_compress(const uint8_t *in, size_t n, buf_writer *out)
{
    size_t start = out->len;
    size_t got;
    uint8_t *p = proto_compress_room(out, start, SIZE_MAX, XERIAL_HEADER_LEN, &got);
    if (!p)
        return GREGOR_ERR_NOMEM;
    if (got < XERIAL_HEADER_LEN)
        return GREGOR_ERR_TOO_LARGE;
    memcpy(p, xerial_header, XERIAL_HEADER_LEN);
    out->len += XERIAL_HEADER_LEN;

    uint8_t *spare = NULL;
    gregor_err err = GREGOR_OK;
    for (size_t pos = 0; pos < n && err == GREGOR_OK; pos += XERIAL_BLOCK) {
        size_t blk = n - pos < XERIAL_BLOCK ? n - pos : XERIAL_BLOCK;
        err = put_block(in + pos, blk, start, out, &spare);
    }
    free(spare);
    return err;
}

/* Appends the decompression of one raw snappy block; `start` is out->len at
 * the beginning of the whole call, against which `limit` counts. */
static gregor_err raw_block(const uint8_t *in, size_t n, size_t start, size_t limit,
                            buf_writer *out)
{
    size_t ulen;
    if (snappy_uncompressed_length((const char *)in, n, &ulen) != SNAPPY_OK)
        return GREGOR_ERR_COMPRESSION;
    /* The length is the block's own claim: check it before allocating. */
    size_t got;
    uint8_t *p = proto_compress_room(out, start, limit, ulen, &got);
    if (!p)
        return GREGOR_ERR_NOMEM;
    if (got < ulen)
        return GREGOR_ERR_TOO_LARGE;
    size_t done = ulen;
    if (snappy_uncompress((const char *)in, n, (char *)p, &done) != SNAPPY_OK || done != ulen)
        return GREGOR_ERR_COMPRESSION;
    out->len += ulen;
    return GREGOR_OK;
}

static gregor_err xerial_blocks(const uint8_t *in, size_t n, size_t limit, buf_writer *out)
{
    size_t start = out->len;
    size_t pos = XERIAL_HEADER_LEN;
    while (pos < n) {
        if (is_xerial_magic(in + pos, n - pos)) {
            pos += XERIAL_HEADER_LEN;
            continue;
        }
        if (n - pos < 4)
            return GREGOR_ERR_COMPRESSION;
        uint32_t clen = ((uint32_t)in[pos] << 24) | ((uint32_t)in[pos + 1] << 16) |
                        ((uint32_t)in[pos + 2] << 8) | in[pos + 3];
        pos += 4;
        if (clen > INT32_MAX || clen > n - pos)
            return GREGOR_ERR_COMPRESSION;
        if (clen == 0)
            continue;
        gregor_err err = raw_block(in + pos, clen, start, limit, out);
        if (err != GREGOR_OK)
            return err;
        pos += clen;
    }
    return GREGOR_OK;
}

gregor_err proto_snappy_decompress(const uint8_t *in, size_t n, size_t limit, buf_writer *out)
{
    if (is_xerial_magic(in, n))
        return xerial_blocks(in, n, limit, out);
    return raw_block(in, n, out->len, limit, out);
}
