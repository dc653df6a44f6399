/* protocol/compress_zstd.c — zstd through libzstd's streaming API (see compress.h).
 *
 * Java writes zstd with zstd-jni's output stream, so frames usually carry no
 * content size; decompression therefore streams into the writer chunk by
 * chunk instead of trusting a size from the header, and reads concatenated
 * frames. A frame header also names the window the decoder must allocate:
 * windowLogMax is lowered from libzstd's 128 MiB default to what the output
 * limit can need (never below 4 MiB, enough for the Java client's default
 * level), so a few hostile bytes cannot make us allocate a large window.
 */
#include <zstd.h>
#include <zstd_errors.h>

#include "protocol/compress.h"

#define ZSTD_CHUNK ((size_t)64 << 10)
#define ZSTD_WINDOW_LOG_FLOOR 22
#define ZSTD_WINDOW_LOG_CEIL 27

gregor_err proto_zstd_compress(int level, const uint8_t *in, size_t n, buf_writer *out)
{
    if (level < ZSTD_minCLevel() || level > ZSTD_maxCLevel())
        return GREGOR_ERR_INVALID_ARG;
    ZSTD_CCtx *cctx = ZSTD_createCCtx();
    if (!cctx)
        return GREGOR_ERR_NOMEM;
    gregor_err err = GREGOR_OK;
    if (ZSTD_isError(ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level))) {
        err = GREGOR_ERR_COMPRESSION;
        goto out_cctx;
    }
    size_t start = out->len;
    ZSTD_inBuffer ib = {in, n, 0};
    size_t want = ZSTD_compressBound(n);
    for (;;) {
        size_t got;
        size_t ask = want < ZSTD_CHUNK ? ZSTD_CHUNK : want;
        uint8_t *p = proto_compress_room(out, start, SIZE_MAX, ask, &got);
        if (!p) {
            err = GREGOR_ERR_NOMEM;
            goto out_cctx;
        }
        if (got == 0) {
            err = GREGOR_ERR_TOO_LARGE;
            goto out_cctx;
        }
        ZSTD_outBuffer ob = {p, got, 0};
        size_t left = ZSTD_compressStream2(cctx, &ob, &ib, ZSTD_e_end);
        if (ZSTD_isError(left)) {
            err = GREGOR_ERR_COMPRESSION;
            goto out_cctx;
        }
        out->len += ob.pos;
        if (left == 0)
            break;
        want = left;
    }
out_cctx:
    ZSTD_freeCCtx(cctx);
    return err;
}

static int window_log_for(size_t limit)
{
    int log = ZSTD_WINDOW_LOG_FLOOR;
    while (log < ZSTD_WINDOW_LOG_CEIL && ((size_t)1 << log) < limit)
        log++;
    return log;
}

gregor_err proto_zstd_decompress(const uint8_t *in, size_t n, size_t limit, buf_writer *out)
{
    ZSTD_DCtx *dctx = ZSTD_createDCtx();
    if (!dctx)
        return GREGOR_ERR_NOMEM;
    gregor_err err = GREGOR_OK;
    if (ZSTD_isError(ZSTD_DCtx_setParameter(dctx, ZSTD_d_windowLogMax, window_log_for(limit)))) {
        err = GREGOR_ERR_COMPRESSION;
        goto out_dctx;
    }
    size_t start = out->len;
    ZSTD_inBuffer ib = {in, n, 0};
    size_t hint = 1; /* nonzero: inside a frame (or before the first one) */
    for (;;) {
        size_t got;
        uint8_t probe;
        uint8_t *p = proto_compress_room(out, start, limit, ZSTD_CHUNK, &got);
        if (!p) {
            err = GREGOR_ERR_NOMEM;
            goto out_dctx;
        }
        /* At the limit, decode into one spare byte to tell whether the
         * stream ends here or goes on. */
        ZSTD_outBuffer ob = {got == 0 ? &probe : p, got == 0 ? 1 : got, 0};
        size_t in_before = ib.pos;
        hint = ZSTD_decompressStream(dctx, &ob, &ib);
        if (ZSTD_isError(hint)) {
            err = ZSTD_getErrorCode(hint) == ZSTD_error_memory_allocation ? GREGOR_ERR_NOMEM
                                                                           : GREGOR_ERR_COMPRESSION;
            goto out_dctx;
        }
        if (got == 0 && ob.pos > 0) {
            err = GREGOR_ERR_TOO_LARGE;
            goto out_dctx;
        }
        out->len += got == 0 ? 0 : ob.pos;
        /* Done when a frame just ended with everything flushed and no input
         * is left; input left after a frame's end starts another frame. */
        if (hint == 0 && ib.pos == ib.size)
            break;
        bool flushed = ob.pos < ob.size;
        if (ib.pos == ib.size && flushed) { /* input ends inside a frame */
            err = GREGOR_ERR_COMPRESSION;
            goto out_dctx;
        }
        if (ib.pos == in_before && ob.pos == 0) {
            err = GREGOR_ERR_COMPRESSION;
            goto out_dctx;
        }
    }
out_dctx:
    ZSTD_freeDCtx(dctx);
    return err;
}
