/* util/buf.c — see buf.h. Hot path of every codec: keep branches predictable,
 * check bounds once per value, never read through casted pointers. */
#include "util/buf.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

bool buf_slice_eq_str(buf_slice s, const char *cstr)
{
    size_t n = strlen(cstr);
    return s.len >= 0 && (size_t)s.len == n && (n == 0 || memcmp(s.ptr, cstr, n) == 0);
}

/* ---------------------------------------------------------------- reader */

void buf_reader_init(buf_reader *r, const void *data, size_t len)
{
    r->data = data;
    r->len = data ? len : 0;
    r->pos = 0;
    r->err = GREGOR_OK;
    r->what = NULL;
    r->field = NULL;
}

void buf_reader_fail(buf_reader *r, gregor_err err, const char *what)
{
    if (r->err == GREGOR_OK) {
        r->err = err;
        r->what = what;
    }
}

/* Returns a pointer to `n` readable bytes and advances, or NULL (error set). */
static inline const uint8_t *take(buf_reader *r, size_t n)
{
    assert(r->pos <= r->len);
    if (r->err != GREGOR_OK)
        return NULL;
    if (n > r->len - r->pos) {
        buf_reader_fail(r, GREGOR_ERR_TRUNCATED, "input ends inside a field");
        return NULL;
    }
    const uint8_t *p = r->data + r->pos;
    r->pos += n;
    return p;
}

int8_t buf_read_i8(buf_reader *r)
{
    const uint8_t *p = take(r, 1);
    return p ? (int8_t)p[0] : 0;
}

uint16_t buf_read_u16(buf_reader *r)
{
    const uint8_t *p = take(r, 2);
    return p ? (uint16_t)((p[0] << 8) | p[1]) : 0;
}

int16_t buf_read_i16(buf_reader *r) { return (int16_t)buf_read_u16(r); }

uint32_t buf_read_u32(buf_reader *r)
{
    const uint8_t *p = take(r, 4);
    if (!p)
        return 0;
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

int32_t buf_read_i32(buf_reader *r) { return (int32_t)buf_read_u32(r); }

int64_t buf_read_i64(buf_reader *r)
{
    const uint8_t *p = take(r, 8);
    if (!p)
        return 0;
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return (int64_t)v;
}

double buf_read_f64(buf_reader *r)
{
    uint64_t bits = (uint64_t)buf_read_i64(r);
    double d;
    memcpy(&d, &bits, sizeof d);
    return d;
}

bool buf_read_bool(buf_reader *r) { return buf_read_i8(r) != 0; }

void buf_read_uuid(buf_reader *r, uint8_t out[16])
{
    const uint8_t *p = take(r, 16);
    if (p)
        memcpy(out, p, 16);
    else
        memset(out, 0, 16);
}

uint64_t buf_read_uvarlong(buf_reader *r)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        const uint8_t *p = take(r, 1);
        if (!p)
            return 0;
        if (shift == 63 && (p[0] & 0x7e)) {
            buf_reader_fail(r, GREGOR_ERR_MALFORMED, "varlong overflows 64 bits");
            return 0;
        }
        v |= (uint64_t)(p[0] & 0x7f) << shift;
        if (!(p[0] & 0x80))
            return v;
    }
    buf_reader_fail(r, GREGOR_ERR_MALFORMED, "varlong longer than 10 bytes");
    return 0;
}

uint32_t buf_read_uvarint(buf_reader *r)
{
    uint32_t v = 0;
    for (int shift = 0; shift < 35; shift += 7) {
        const uint8_t *p = take(r, 1);
        if (!p)
            return 0;
        if (shift == 28 && (p[0] & 0x70)) {
            buf_reader_fail(r, GREGOR_ERR_MALFORMED, "varint overflows 32 bits");
            return 0;
        }
        v |= (uint32_t)(p[0] & 0x7f) << shift;
        if (!(p[0] & 0x80))
            return v;
    }
    buf_reader_fail(r, GREGOR_ERR_MALFORMED, "varint longer than 5 bytes");
    return 0;
}

int32_t buf_read_varint(buf_reader *r)
{
    uint32_t u = buf_read_uvarint(r);
    return (int32_t)((u >> 1) ^ (~(u & 1) + 1));
}

int64_t buf_read_varlong(buf_reader *r)
{
    uint64_t u = buf_read_uvarlong(r);
    return (int64_t)((u >> 1) ^ (~(u & 1) + 1));
}

const uint8_t *buf_read_raw(buf_reader *r, size_t n) { return take(r, n); }

void buf_skip(buf_reader *r, size_t n) { (void)take(r, n); }

/* Reads `len` bytes as a slice; `len == -1` is null when allowed. */
static buf_slice slice_of_len(buf_reader *r, int64_t len, bool nullable)
{
    if (r->err != GREGOR_OK)
        return BUF_SLICE_NULL;
    if (len == -1 && nullable)
        return BUF_SLICE_NULL;
    if (len < 0) {
        buf_reader_fail(r, GREGOR_ERR_MALFORMED, "negative length");
        return BUF_SLICE_NULL;
    }
    if ((uint64_t)len > buf_remaining(r)) {
        buf_reader_fail(r, GREGOR_ERR_TRUNCATED, "length exceeds the remaining input");
        return BUF_SLICE_NULL;
    }
    const uint8_t *p = take(r, (size_t)len);
    return (buf_slice){p, (int32_t)len};
}

buf_slice buf_read_string(buf_reader *r, bool nullable)
{
    return slice_of_len(r, buf_read_i16(r), nullable);
}

buf_slice buf_read_bytes(buf_reader *r, bool nullable)
{
    return slice_of_len(r, buf_read_i32(r), nullable);
}

buf_slice buf_read_compact_string(buf_reader *r, bool nullable)
{
    return slice_of_len(r, (int64_t)buf_read_uvarint(r) - 1, nullable);
}

buf_slice buf_read_compact_bytes(buf_reader *r, bool nullable)
{
    return buf_read_compact_string(r, nullable);
}

int32_t buf_read_array_len(buf_reader *r, bool compact, size_t min_elem_size)
{
    int64_t n = compact ? (int64_t)buf_read_uvarint(r) - 1 : buf_read_i32(r);
    if (r->err != GREGOR_OK)
        return 0;
    if (n == -1)
        return -1;
    if (n < 0) {
        buf_reader_fail(r, GREGOR_ERR_MALFORMED, "negative array count");
        return 0;
    }
    if (min_elem_size == 0)
        min_elem_size = 1;
    if ((uint64_t)n > buf_remaining(r) / min_elem_size) {
        buf_reader_fail(r, GREGOR_ERR_TOO_LARGE, "array count exceeds the remaining input");
        return 0;
    }
    return (int32_t)n;
}

void buf_skip_tags(buf_reader *r)
{
    uint32_t n = buf_read_uvarint(r);
    for (uint32_t i = 0; i < n && r->err == GREGOR_OK; i++) {
        (void)buf_read_uvarint(r); /* tag */
        uint32_t size = buf_read_uvarint(r);
        buf_skip(r, size);
    }
}

/* ---------------------------------------------------------------- writer */

void buf_writer_init(buf_writer *w, size_t max)
{
    *w = (buf_writer){.max = max};
}

void buf_writer_init_fixed(buf_writer *w, void *data, size_t cap)
{
    *w = (buf_writer){.data = data, .cap = cap, .max = cap, .fixed = true};
}

void buf_writer_fini(buf_writer *w)
{
    if (!w->fixed)
        free(w->data);
    *w = (buf_writer){0};
}

void buf_writer_reset(buf_writer *w)
{
    w->len = 0;
    w->err = GREGOR_OK;
}

uint8_t *buf_writer_steal(buf_writer *w, size_t *len_out)
{
    if (w->fixed || w->err != GREGOR_OK || w->len == 0) {
        *len_out = 0;
        return NULL;
    }
    uint8_t *p = w->data;
    *len_out = w->len;
    size_t max = w->max;
    *w = (buf_writer){.max = max};
    return p;
}

bool buf_writer_reserve(buf_writer *w, size_t n)
{
    assert(w->len <= w->cap && w->cap <= w->max);
    if (w->err != GREGOR_OK)
        return false;
    if (n <= w->cap - w->len)
        return true;
    if (w->fixed || n > w->max - w->len) {
        w->err = GREGOR_ERR_TOO_LARGE;
        return false;
    }
    size_t need = w->len + n;
    size_t cap = w->cap ? w->cap : 256;
    while (cap < need)
        cap = cap > w->max / 2 ? w->max : cap * 2;
    if (cap > w->max)
        cap = w->max;
    uint8_t *p = realloc(w->data, cap);
    if (!p) {
        w->err = GREGOR_ERR_NOMEM;
        return false;
    }
    w->data = p;
    w->cap = cap;
    return true;
}

void buf_write_raw(buf_writer *w, const void *p, size_t n)
{
    if (n == 0 || !buf_writer_reserve(w, n))
        return;
    memcpy(w->data + w->len, p, n);
    w->len += n;
}

static inline void put_be(buf_writer *w, uint64_t v, int bytes)
{
    if (!buf_writer_reserve(w, (size_t)bytes))
        return;
    for (int i = bytes - 1; i >= 0; i--) {
        w->data[w->len + (size_t)i] = (uint8_t)v;
        v >>= 8;
    }
    w->len += (size_t)bytes;
}

void buf_write_i8(buf_writer *w, int8_t v) { put_be(w, (uint8_t)v, 1); }
void buf_write_i16(buf_writer *w, int16_t v) { put_be(w, (uint16_t)v, 2); }
void buf_write_i32(buf_writer *w, int32_t v) { put_be(w, (uint32_t)v, 4); }
void buf_write_i64(buf_writer *w, int64_t v) { put_be(w, (uint64_t)v, 8); }
void buf_write_u16(buf_writer *w, uint16_t v) { put_be(w, v, 2); }
void buf_write_u32(buf_writer *w, uint32_t v) { put_be(w, v, 4); }
void buf_write_bool(buf_writer *w, bool v) { put_be(w, v ? 1 : 0, 1); }

void buf_write_f64(buf_writer *w, double v)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    put_be(w, bits, 8);
}

void buf_write_uuid(buf_writer *w, const uint8_t v[16]) { buf_write_raw(w, v, 16); }

void buf_write_uvarlong(buf_writer *w, uint64_t v)
{
    uint8_t tmp[10];
    size_t n = 0;
    while (v >= 0x80) {
        tmp[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    tmp[n++] = (uint8_t)v;
    buf_write_raw(w, tmp, n);
}

void buf_write_uvarint(buf_writer *w, uint32_t v) { buf_write_uvarlong(w, v); }

void buf_write_varint(buf_writer *w, int32_t v)
{
    buf_write_uvarlong(w, ((uint32_t)v << 1) ^ (uint32_t)(v >> 31));
}

void buf_write_varlong(buf_writer *w, int64_t v)
{
    buf_write_uvarlong(w, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}

void buf_write_string(buf_writer *w, buf_slice s)
{
    if (s.len < 0) {
        buf_write_i16(w, -1);
        return;
    }
    if (s.len > INT16_MAX) {
        if (w->err == GREGOR_OK)
            w->err = GREGOR_ERR_TOO_LARGE;
        return;
    }
    buf_write_i16(w, (int16_t)s.len);
    buf_write_raw(w, s.ptr, (size_t)s.len);
}

void buf_write_bytes(buf_writer *w, buf_slice s)
{
    buf_write_i32(w, s.len < 0 ? -1 : s.len);
    if (s.len > 0)
        buf_write_raw(w, s.ptr, (size_t)s.len);
}

void buf_write_compact_string(buf_writer *w, buf_slice s)
{
    buf_write_uvarint(w, s.len < 0 ? 0 : (uint32_t)s.len + 1);
    if (s.len > 0)
        buf_write_raw(w, s.ptr, (size_t)s.len);
}

void buf_write_compact_bytes(buf_writer *w, buf_slice s) { buf_write_compact_string(w, s); }

void buf_write_array_len(buf_writer *w, bool compact, int32_t n)
{
    if (compact)
        buf_write_uvarint(w, n < 0 ? 0 : (uint32_t)n + 1);
    else
        buf_write_i32(w, n < 0 ? -1 : n);
}

void buf_write_empty_tags(buf_writer *w) { buf_write_uvarint(w, 0); }

size_t buf_write_slot(buf_writer *w, size_t n)
{
    if (!buf_writer_reserve(w, n))
        return (size_t)-1;
    size_t off = w->len;
    memset(w->data + off, 0, n);
    w->len += n;
    return off;
}

void buf_patch_u32(buf_writer *w, size_t off, uint32_t v)
{
    if (w->err != GREGOR_OK)
        return;
    assert(off <= w->len && w->len - off >= 4);
    w->data[off] = (uint8_t)(v >> 24);
    w->data[off + 1] = (uint8_t)(v >> 16);
    w->data[off + 2] = (uint8_t)(v >> 8);
    w->data[off + 3] = (uint8_t)v;
}

void buf_patch_i32(buf_writer *w, size_t off, int32_t v) { buf_patch_u32(w, off, (uint32_t)v); }

size_t buf_uvarint_size(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

size_t buf_varint_size(int64_t v)
{
    return buf_uvarint_size(((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}
