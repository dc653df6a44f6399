/* util/buf.h — bounds-checked byte reader and size-capped byte writer.
 *
 * Every Kafka decoder and encoder in gregor works through these two types.
 *
 * Reader: a view of `len` bytes at `data` with a cursor `pos`. Reads past the
 * end, or of values that break a rule (a negative length, a varint longer than
 * its type), do not crash: they set a sticky error (`err`, plus a static
 * string `what` naming the field) and return zero values from then on. A
 * decoder reads field after field in spec order and checks `err` once per
 * structure. Multi-byte values are big-endian and read byte by byte. Codecs
 * record where an error happened in `field` (a schema path) and `pos`.
 *
 * Writer: a growable buffer with a mandatory `max` size. Writes that would
 * pass `max`, or an allocation failure, set a sticky error and are dropped.
 * Length and CRC fields are written as reserved slots and patched later.
 * A writer may instead wrap a caller's fixed buffer (buf_writer_init_fixed).
 *
 * Invariants (asserted): pos <= len for readers, len <= cap <= max for writers.
 *
 * Threading: a reader or writer belongs to one thread at a time.
 */
#ifndef GREGOR_UTIL_BUF_H
#define GREGOR_UTIL_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gregor/error.h"

/* A borrowed view of bytes. `len == -1` (with ptr NULL) is a Kafka null. */
typedef struct buf_slice {
    const uint8_t *ptr;
    int32_t len;
} buf_slice;

#define BUF_SLICE_NULL ((buf_slice){NULL, -1})

static inline buf_slice buf_slice_of(const void *p, size_t n)
{
    return (buf_slice){(const uint8_t *)p, (int32_t)n};
}
static inline bool buf_slice_is_null(buf_slice s) { return s.len < 0; }
/* True when `s` holds exactly the NUL-terminated string `cstr`. */
bool buf_slice_eq_str(buf_slice s, const char *cstr);

typedef struct buf_reader {
    const uint8_t *data;
    size_t len;
    size_t pos;
    gregor_err err;   /* GREGOR_OK until the first failure, then sticky */
    const char *what; /* static description of what failed, or NULL */
    const char *field; /* static schema path of the field being decoded, or NULL */
} buf_reader;

/* `data` is borrowed and must outlive the reader and any slice read from it. */
void buf_reader_init(buf_reader *r, const void *data, size_t len);

static inline size_t buf_remaining(const buf_reader *r) { return r->len - r->pos; }
static inline bool buf_reader_ok(const buf_reader *r) { return r->err == GREGOR_OK; }

/* Sets the sticky error if none is set yet; `what` must be a static string. */
void buf_reader_fail(buf_reader *r, gregor_err err, const char *what);

int8_t buf_read_i8(buf_reader *r);
int16_t buf_read_i16(buf_reader *r);
int32_t buf_read_i32(buf_reader *r);
int64_t buf_read_i64(buf_reader *r);
uint16_t buf_read_u16(buf_reader *r);
uint32_t buf_read_u32(buf_reader *r);
double buf_read_f64(buf_reader *r);
bool buf_read_bool(buf_reader *r);
void buf_read_uuid(buf_reader *r, uint8_t out[16]);

/* Protobuf-style varints. uvarint: at most 5 bytes; uvarlong: at most 10;
 * varint/varlong add zig-zag decoding. Overlong encodings fail MALFORMED. */
uint32_t buf_read_uvarint(buf_reader *r);
uint64_t buf_read_uvarlong(buf_reader *r);
int32_t buf_read_varint(buf_reader *r);
int64_t buf_read_varlong(buf_reader *r);

/* A view of the next `n` bytes (NULL on error; a valid non-NULL pointer when n == 0). */
const uint8_t *buf_read_raw(buf_reader *r, size_t n);
void buf_skip(buf_reader *r, size_t n);

/* Length-prefixed fields as views into the reader's data.
 * string/bytes: int16/int32 length, -1 = null (only when `nullable`; otherwise
 * a null fails MALFORMED). compact variants: uvarint N+1, 0 = null. */
buf_slice buf_read_string(buf_reader *r, bool nullable);
buf_slice buf_read_bytes(buf_reader *r, bool nullable);
buf_slice buf_read_compact_string(buf_reader *r, bool nullable);
buf_slice buf_read_compact_bytes(buf_reader *r, bool nullable);

/* Array counts: int32 (or uvarint N+1 when compact); -1 = null array.
 * A count that could not fit in the remaining bytes at `min_elem_size`
 * bytes per element fails TOO_LARGE before anything is allocated. */
int32_t buf_read_array_len(buf_reader *r, bool compact, size_t min_elem_size);

/* Skips a TAG_BUFFER of unknown tags (flexible versions). */
void buf_skip_tags(buf_reader *r);

typedef struct buf_writer {
    uint8_t *data;
    size_t len;
    size_t cap;
    size_t max;       /* hard limit on len */
    bool fixed;       /* data belongs to the caller and never grows */
    gregor_err err;   /* sticky */
} buf_writer;

/* A growable writer holding at most `max` bytes; starts empty, allocates lazily. */
void buf_writer_init(buf_writer *w, size_t max);
/* A writer over the caller's `cap` bytes at `data` (borrowed); never allocates. */
void buf_writer_init_fixed(buf_writer *w, void *data, size_t cap);
/* Frees a growable writer's buffer; does nothing for fixed writers. */
void buf_writer_fini(buf_writer *w);
/* Empties the writer and clears its error; keeps the allocation. */
void buf_writer_reset(buf_writer *w);
/* Hands the buffer to the caller (free() it); the writer becomes empty.
 * Returns NULL for fixed writers, on error, or when nothing was written. */
uint8_t *buf_writer_steal(buf_writer *w, size_t *len_out);
/* Ensures room for `n` more bytes; sets the sticky error if impossible. */
bool buf_writer_reserve(buf_writer *w, size_t n);

void buf_write_raw(buf_writer *w, const void *p, size_t n);
void buf_write_i8(buf_writer *w, int8_t v);
void buf_write_i16(buf_writer *w, int16_t v);
void buf_write_i32(buf_writer *w, int32_t v);
void buf_write_i64(buf_writer *w, int64_t v);
void buf_write_u16(buf_writer *w, uint16_t v);
void buf_write_u32(buf_writer *w, uint32_t v);
void buf_write_f64(buf_writer *w, double v);
void buf_write_bool(buf_writer *w, bool v);
void buf_write_uuid(buf_writer *w, const uint8_t v[16]);
void buf_write_uvarint(buf_writer *w, uint32_t v);
void buf_write_uvarlong(buf_writer *w, uint64_t v);
void buf_write_varint(buf_writer *w, int32_t v);
void buf_write_varlong(buf_writer *w, int64_t v);

/* Length-prefixed fields; a null slice (len < 0) writes the null marker. */
void buf_write_string(buf_writer *w, buf_slice s);
void buf_write_bytes(buf_writer *w, buf_slice s);
void buf_write_compact_string(buf_writer *w, buf_slice s);
void buf_write_compact_bytes(buf_writer *w, buf_slice s);
/* Array count; n < 0 writes a null array. */
void buf_write_array_len(buf_writer *w, bool compact, int32_t n);
/* An empty TAG_BUFFER. */
void buf_write_empty_tags(buf_writer *w);

/* Writes `n` zero bytes and returns their offset, for a field patched later
 * (a length or a CRC). Returns (size_t)-1 once the writer has failed. */
size_t buf_write_slot(buf_writer *w, size_t n);
void buf_patch_i32(buf_writer *w, size_t off, int32_t v);
void buf_patch_u32(buf_writer *w, size_t off, uint32_t v);

/* Encoded size of a uvarint / zig-zag varint, for length prefixes. */
size_t buf_uvarint_size(uint64_t v);
size_t buf_varint_size(int64_t v);

#endif
