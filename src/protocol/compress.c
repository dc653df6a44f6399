/* protocol/compress.c — codec names and the dispatch to the codec back ends
 * (compress_gzip.c, compress_snappy.c, compress_lz4.c, compress_zstd.c).
 * This file owns the rules shared by all codecs: argument checks, the output
 * limit, and restoring the writer when a back end fails. */
#include "protocol/compress.h"

#include <string.h>

static const char *const codec_names[] = {"none", "gzip", "snappy", "lz4", "zstd"};

const char *proto_codec_name(proto_codec codec)
{
    if ((unsigned)codec > PROTO_CODEC_MAX)
        return "unknown";
    return codec_names[codec];
}

gregor_err proto_codec_parse(const char *name, proto_codec *out)
{
    for (unsigned i = 0; i <= PROTO_CODEC_MAX; i++) {
        if (name && strcmp(name, codec_names[i]) == 0) {
            *out = (proto_codec)i;
            return GREGOR_OK;
        }
    }
    return GREGOR_ERR_INVALID_ARG;
}

uint8_t *proto_compress_room(buf_writer *out, size_t start, size_t limit, size_t want, size_t *got)
{
    size_t used = out->len - start;
    size_t room = out->max - out->len;
    if (limit - used < room)
        room = limit - used;
    if (want > room)
        want = room;
    static uint8_t nowhere; /* a valid pointer for a zero-sized room */
    *got = want;
    if (want == 0)
        return &nowhere;
    if (!buf_writer_reserve(out, want))
        return NULL;
    return out->data + out->len;
}

/* Undoes a failed back end's partial output; maps a writer that ran out of
 * memory to NOMEM whatever the back end reported. */
static gregor_err finish(buf_writer *out, size_t start, gregor_err err)
{
    if (err == GREGOR_OK && out->err != GREGOR_OK)
        err = out->err;
    if (err != GREGOR_OK && out->len > start)
        out->len = start;
    if (out->err == GREGOR_ERR_NOMEM)
        return GREGOR_ERR_NOMEM;
    return err;
}

gregor_err proto_compress(proto_codec codec, int magic, int level, const uint8_t *in, size_t n,
                          buf_writer *out)
{
    if (out->err != GREGOR_OK)
        return out->err;
    size_t start = out->len;
    gregor_err err;
    switch (codec) {
    case PROTO_CODEC_GZIP:
        err = proto_gzip_compress(level, in, n, out);
        break;
    case PROTO_CODEC_SNAPPY:
        err = proto_snappy_compress(in, n, out);
        break;
    case PROTO_CODEC_LZ4:
        err = proto_lz4_compress(magic, level, in, n, out);
        break;
    case PROTO_CODEC_ZSTD:
        /* KIP-110: zstd exists only in RecordBatch v2. */
        if (magic < 2)
            return GREGOR_ERR_UNSUPPORTED;
        err = proto_zstd_compress(level, in, n, out);
        break;
    default:
        return GREGOR_ERR_INVALID_ARG;
    }
    return finish(out, start, err);
}

gregor_err proto_decompress(proto_codec codec, int magic, const uint8_t *in, size_t n,
                            size_t out_limit, buf_writer *out)
{
    if ((unsigned)codec > PROTO_CODEC_MAX || codec == PROTO_CODEC_NONE)
        return GREGOR_ERR_INVALID_ARG;
    if (out->err != GREGOR_OK)
        return out->err;
    /* Every codec's empty stream has framing; zero bytes are never valid. */
    if (n == 0)
        return GREGOR_ERR_COMPRESSION;
    size_t start = out->len;
    gregor_err err;
    switch (codec) {
    case PROTO_CODEC_GZIP:
        err = proto_gzip_decompress(in, n, out_limit, out);
        break;
    case PROTO_CODEC_SNAPPY:
        err = proto_snappy_decompress(in, n, out_limit, out);
        break;
    case PROTO_CODEC_LZ4:
        err = proto_lz4_decompress(magic, in, n, out_limit, out);
        break;
    default:
        err = proto_zstd_decompress(in, n, out_limit, out);
        break;
    }
    return finish(out, start, err);
}
