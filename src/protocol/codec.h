/* protocol/codec.h — the small vocabulary the generated codecs
 * (protocol/gen/) are written in: Kafka's length-prefixed types in their
 * classic and compact (flexible-version) forms, array counts, tagged-field
 * framing, and error marking with the schema path of the failing field.
 *
 * Threading: pure functions on the caller's reader or writer.
 */
#ifndef GREGOR_PROTOCOL_CODEC_H
#define GREGOR_PROTOCOL_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/arena.h"
#include "util/buf.h"

/* STRING / COMPACT_STRING. A null where `nullable` is false fails MALFORMED. */
static inline buf_slice codec_read_string(buf_reader *r, bool flex, bool nullable)
{
    return flex ? buf_read_compact_string(r, nullable) : buf_read_string(r, nullable);
}

/* BYTES / COMPACT_BYTES (also RECORDS). */
static inline buf_slice codec_read_bytes(buf_reader *r, bool flex, bool nullable)
{
    return flex ? buf_read_compact_bytes(r, nullable) : buf_read_bytes(r, nullable);
}

/* Writes `s`; a null slice where the version allows none fails INVALID_ARG. */
void codec_write_string(buf_writer *w, bool flex, bool nullable, buf_slice s);
void codec_write_bytes(buf_writer *w, bool flex, bool nullable, buf_slice s);

/* An array count: -1 for a null array when `nullable`, else >= 0; counts
 * that cannot fit in the remaining bytes at `min_elem_bytes` per element fail
 * TOO_LARGE before anything is allocated. Returns 0 on error. */
int32_t codec_read_array_len(buf_reader *r, bool flex, bool nullable, size_t min_elem_bytes);

/* Writes an array count; false (and INVALID_ARG) for a null array where the
 * version allows none. True means: now write `n` elements. */
bool codec_write_array_len(buf_writer *w, bool flex, bool nullable, int32_t n);

/* `n` zeroed elements of `size` bytes from `a` (NULL for n <= 0, or with
 * TOO_LARGE set on the reader when the arena's limit is reached). */
void *codec_alloc(buf_reader *r, arena *a, int32_t n, size_t size);

/* Records the schema path of the field being read when an error occurred
 * (the innermost one wins). `path` is a static string. */
void codec_fail_at(buf_reader *r, const char *path);

/* Tagged fields. Reading: after the tag number, opens a reader over the
 * field's bytes and skips them in `r` (false on error); after decoding from
 * `sub`, close copies an error from `sub` into `r`. */
bool codec_tag_open(buf_reader *r, buf_reader *sub);
void codec_tag_close(buf_reader *r, const buf_reader *sub);

/* Writing: begin before the field's value, end after it; end inserts the
 * value's size (an unsigned varint) in front of it. */
typedef struct codec_tag {
    size_t start;
} codec_tag;
void codec_tag_begin(buf_writer *w, codec_tag *t);
void codec_tag_end(buf_writer *w, const codec_tag *t);

static inline bool codec_uuid_is_zero(const uint8_t u[16])
{
    for (int i = 0; i < 16; i++)
        if (u[i])
            return false;
    return true;
}

#endif
