/* protocol/compress_gzip.c — gzip through zlib (see compress.h).
 *
 * Writes one gzip member (windowBits 15+16), as Java's GZIPOutputStream.
 * Reads with windowBits 15+32 (gzip or zlib header auto-detected), continues
 * with the next member when the input holds concatenated gzip members, and,
 * like java.util.zip.GZIPInputStream, ignores trailing bytes after a member
 * that do not start another one. zlib counts lengths in `uInt`, so input is
 * fed in pieces of at most UINT_MAX bytes.
 */
#include <limits.h>
#include <stdbool.h>
#include <zlib.h>

#include "protocol/compress.h"

#define GZIP_CHUNK ((size_t)64 << 10)
#define GZIP_FIRST_CHUNK_MAX ((size_t)4 << 20)

typedef struct feed {
    const uint8_t *next; /* input not yet handed to zlib */
    size_t left;
} feed;

/* Tops up zlib's input window from `f`; returns the input not yet consumed. */
static size_t refill(z_stream *zs, feed *f)
{
    if (zs->avail_in == 0 && f->left > 0) {
        uInt piece = f->left > UINT_MAX ? UINT_MAX : (uInt)f->left;
        zs->next_in = (Bytef *)f->next;
        zs->avail_in = piece;
        f->next += piece;
        f->left -= piece;
    }
    return zs->avail_in + f->left;
}

gregor_err proto_gzip_compress(int level, const uint8_t *in, size_t n, buf_writer *out)
{
    if (level == 0)
        level = Z_DEFAULT_COMPRESSION;
    else if (level < 1 || level > 9)
        return GREGOR_ERR_INVALID_ARG;

    z_stream zs = {0};
    int rc = deflateInit2(&zs, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
    if (rc != Z_OK)
        return rc == Z_MEM_ERROR ? GREGOR_ERR_NOMEM : GREGOR_ERR_COMPRESSION;

    gregor_err err = GREGOR_OK;
    size_t start = out->len;
    feed f = {in, n};
    size_t want = deflateBound(&zs, n > ULONG_MAX ? ULONG_MAX : (uLong)n);
    if (want > GZIP_FIRST_CHUNK_MAX)
        want = GZIP_FIRST_CHUNK_MAX;
    for (;;) {
        int flush = refill(&zs, &f) == zs.avail_in ? Z_FINISH : Z_NO_FLUSH;
        size_t got;
        uint8_t *p = proto_compress_room(out, start, SIZE_MAX, want, &got);
        if (!p) {
            err = GREGOR_ERR_NOMEM;
            goto out_zs;
        }
        if (got == 0) {
            err = GREGOR_ERR_TOO_LARGE;
            goto out_zs;
        }
        uInt room = got > UINT_MAX ? UINT_MAX : (uInt)got;
        zs.next_out = p;
        zs.avail_out = room;
        rc = deflate(&zs, flush);
        out->len += room - zs.avail_out;
        if (rc == Z_STREAM_END)
            break;
        if (rc != Z_OK && rc != Z_BUF_ERROR) {
            err = GREGOR_ERR_COMPRESSION;
            goto out_zs;
        }
        want = GZIP_CHUNK;
    }
out_zs:
    deflateEnd(&zs);
    return err;
}

/* After a member ended: true when what follows is another gzip member. */
static bool next_member(z_stream *zs, feed *f)
{
    if (refill(zs, f) == 0)
        return false;
    /* A member's header might straddle a UINT_MAX piece boundary; only the
     * first byte is certain to be in zlib's window, so check what is there. */
    if (zs->next_in[0] != 0x1f)
        return false;
    if (zs->avail_in >= 2 && zs->next_in[1] != 0x8b)
        return false;
    return inflateReset(zs) == Z_OK;
}

gregor_err proto_gzip_decompress(const uint8_t *in, size_t n, size_t limit, buf_writer *out)
{
    z_stream zs = {0};
    int rc = inflateInit2(&zs, 15 + 32);
    if (rc != Z_OK)
        return rc == Z_MEM_ERROR ? GREGOR_ERR_NOMEM : GREGOR_ERR_COMPRESSION;

    gregor_err err = GREGOR_OK;
    size_t start = out->len;
    feed f = {in, n};
    for (;;) {
        size_t pending = refill(&zs, &f);
        size_t got;
        uint8_t probe;
        uint8_t *p = proto_compress_room(out, start, limit, GZIP_CHUNK, &got);
        if (!p) {
            err = GREGOR_ERR_NOMEM;
            goto out_zs;
        }
        /* At the limit, inflate into one spare byte: producing it means the
         * stream is longer than allowed; not producing it may mean it ends. */
        uInt room = got == 0 ? 1 : got > UINT_MAX ? UINT_MAX : (uInt)got;
        zs.next_out = got == 0 ? &probe : p;
        zs.avail_out = room;
        rc = inflate(&zs, Z_NO_FLUSH);
        size_t produced = room - zs.avail_out;
        if (got == 0 && produced > 0) {
            err = GREGOR_ERR_TOO_LARGE;
            goto out_zs;
        }
        out->len += got == 0 ? 0 : produced;
        if (rc == Z_STREAM_END) {
            if (next_member(&zs, &f))
                continue;
            break;
        }
        if (rc == Z_MEM_ERROR) {
            err = GREGOR_ERR_NOMEM;
            goto out_zs;
        }
        if (rc != Z_OK && rc != Z_BUF_ERROR) {
            err = GREGOR_ERR_COMPRESSION;
            goto out_zs;
        }
        /* All input used with output room to spare, or no progress at all:
         * the input ends in the middle of the stream. */
        bool stuck = produced == 0 && zs.avail_in + f.left == pending;
        if (stuck || (zs.avail_in == 0 && f.left == 0 && zs.avail_out > 0)) {
            err = GREGOR_ERR_COMPRESSION;
            goto out_zs;
        }
    }
out_zs:
    inflateEnd(&zs);
    return err;
}
