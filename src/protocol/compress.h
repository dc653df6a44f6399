/* protocol/compress.h — Kafka's compression codecs, with Kafka's framing.
 *
 * The codec ids are the values of the attribute bits 0-2 in every record
 * format. What each codec produces and accepts:
 *
 *   gzip    writes one RFC 1952 member; reads gzip (several concatenated
 *           members, trailing garbage after a member ignored as Java does)
 *           and zlib streams.
 *   snappy  writes xerial snappy-java framing, as the Java client does:
 *           "\x82SNAPPY\0", int32 version 1, int32 compatible 1, then
 *           [int32 BE length][raw snappy block] per 32 KiB of input.
 *           Reads both xerial framing and one raw (unframed) snappy block.
 *   lz4     LZ4 frame, 64 KiB independent blocks, no checksums (KIP-57).
 *           magic 0: the header checksum byte is the broken one of Kafka
 *           0.8/0.9 (xxh32 over magic+descriptor) on write and is ignored on
 *           read; magic >= 1: the correct one on write, verified on read.
 *   zstd    a standard zstd frame; reads frames without a content size and
 *           concatenated frames (streaming decompression).
 *
 * Output goes to a buf_writer: compression is bounded by the writer's `max`,
 * decompression by `out_limit` as well, so a hostile zip bomb stops at the
 * limit with GREGOR_ERR_TOO_LARGE instead of exhausting memory. On any error
 * the writer is truncated back to its length at the call (its sticky error
 * is set only when it ran out of memory).
 *
 * Threading: every function is reentrant; a writer belongs to one thread.
 */
#ifndef GREGOR_PROTOCOL_COMPRESS_H
#define GREGOR_PROTOCOL_COMPRESS_H

#include <stddef.h>
#include <stdint.h>

#include "gregor/error.h"
#include "util/buf.h"

typedef enum proto_codec {
    PROTO_CODEC_NONE = 0,
    PROTO_CODEC_GZIP = 1,
    PROTO_CODEC_SNAPPY = 2,
    PROTO_CODEC_LZ4 = 3,
    PROTO_CODEC_ZSTD = 4
} proto_codec;

#define PROTO_CODEC_MASK 0x07 /* attribute bits holding the codec */
#define PROTO_CODEC_MAX PROTO_CODEC_ZSTD

/* "none", "gzip", "snappy", "lz4", "zstd"; "unknown" for other values. */
const char *proto_codec_name(proto_codec codec);

/* Parses a codec name (exact, lower case, as above) into *out.
 * Returns GREGOR_OK, or GREGOR_ERR_INVALID_ARG for anything else. */
GREGOR_MUST_CHECK gregor_err proto_codec_parse(const char *name, proto_codec *out);

/* Appends the compressed form of `n` bytes at `in` (borrowed) to `out`.
 * `magic` is the record format the bytes are for (0, 1 or 2); it matters for
 * lz4 only. `level` 0 means the codec's default; otherwise gzip 1..9,
 * lz4 1..12 (3 and up use LZ4 HC), zstd its levels (negative: faster);
 * snappy ignores it. Empty input is valid and yields a valid empty stream.
 * Errors: GREGOR_ERR_INVALID_ARG (codec NONE or unknown, level out of
 * range), GREGOR_ERR_UNSUPPORTED (zstd with magic < 2), GREGOR_ERR_TOO_LARGE
 * (out->max reached), GREGOR_ERR_NOMEM, GREGOR_ERR_COMPRESSION (the library
 * failed). */
GREGOR_MUST_CHECK gregor_err proto_compress(proto_codec codec, int magic, int level,
                                            const uint8_t *in, size_t n, buf_writer *out);

/* Appends the decompressed form of `n` bytes at `in` (borrowed) to `out`,
 * writing at most `out_limit` bytes (and never past out->max). `magic` as
 * for proto_compress(). Errors: GREGOR_ERR_INVALID_ARG (codec NONE or
 * unknown), GREGOR_ERR_TOO_LARGE (the output would pass the limit),
 * GREGOR_ERR_COMPRESSION (corrupt, truncated or empty input),
 * GREGOR_ERR_NOMEM. zstd is accepted with any magic when reading. */
GREGOR_MUST_CHECK gregor_err proto_decompress(proto_codec codec, int magic, const uint8_t *in,
                                              size_t n, size_t out_limit, buf_writer *out);

/* ------------------------------------------------------------------------
 * Codec back ends, one file each (compress_<codec>.c), called only by
 * compress.c. Same contracts as above, except that arguments are already
 * checked and the caller truncates the writer on error. `limit` counts from
 * out->len at the call; proto_compress_room() enforces it and out->max.
 */
GREGOR_MUST_CHECK gregor_err proto_gzip_compress(int level, const uint8_t *in, size_t n,
                                                 buf_writer *out);
GREGOR_MUST_CHECK gregor_err proto_gzip_decompress(const uint8_t *in, size_t n, size_t limit,
                                                   buf_writer *out);
GREGOR_MUST_CHECK gregor_err proto_snappy_compress(const uint8_t *in, size_t n, buf_writer *out);
GREGOR_MUST_CHECK gregor_err proto_snappy_decompress(const uint8_t *in, size_t n, size_t limit,
                                                     buf_writer *out);
GREGOR_MUST_CHECK gregor_err proto_lz4_compress(int magic, int level, const uint8_t *in, size_t n,
                                                buf_writer *out);
GREGOR_MUST_CHECK gregor_err proto_lz4_decompress(int magic, const uint8_t *in, size_t n,
                                                  size_t limit, buf_writer *out);
GREGOR_MUST_CHECK gregor_err proto_zstd_compress(int level, const uint8_t *in, size_t n,
                                                 buf_writer *out);
GREGOR_MUST_CHECK gregor_err proto_zstd_decompress(const uint8_t *in, size_t n, size_t limit,
                                                   buf_writer *out);

/* For the back ends: makes room for up to `want` (> 0) more bytes in `out`
 * without passing out->max or `start + limit` (start: out->len at the call)
 * and returns where to write them, with the usable size in *got. *got == 0
 * (and a non-NULL return) means the limit is reached; NULL means the writer
 * failed (GREGOR_ERR_NOMEM in its sticky error). The caller adds what it
 * wrote to out->len. */
uint8_t *proto_compress_room(buf_writer *out, size_t start, size_t limit, size_t want, size_t *got);

#endif
