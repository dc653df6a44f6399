/* protocol/codec.c — see codec.h. */
#include "protocol/codec.h"

#include <string.h>

static void writer_fail(buf_writer *w, gregor_err err)
{
    if (w->err == GREGOR_OK)
        w->err = err;
}

void codec_write_string(buf_writer *w, bool flex, bool nullable, buf_slice s)
{
    if (s.len < 0 && !nullable) {
        writer_fail(w, GREGOR_ERR_INVALID_ARG);
        return;
    }
    if (flex)
        buf_write_compact_string(w, s);
    else
        buf_write_string(w, s);
}

void codec_write_bytes(buf_writer *w, bool flex, bool nullable, buf_slice s)
{
    if (s.len < 0 && !nullable) {
        writer_fail(w, GREGOR_ERR_INVALID_ARG);
        return;
    }
    if (flex)
        buf_write_compact_bytes(w, s);
    else
        buf_write_bytes(w, s);
}

int32_t codec_read_array_len(buf_reader *r, bool flex, bool nullable, size_t min_elem_bytes)
{
    int32_t n = buf_read_array_len(r, flex, min_elem_bytes);
    if (!buf_reader_ok(r))
        return 0;
    if (n < 0 && !nullable) {
        buf_reader_fail(r, GREGOR_ERR_MALFORMED, "null array where the version allows none");
        return 0;
    }
    return n;
}

bool codec_write_array_len(buf_writer *w, bool flex, bool nullable, int32_t n)
{
    if (n < 0 && !nullable) {
        writer_fail(w, GREGOR_ERR_INVALID_ARG);
        return false;
    }
    buf_write_array_len(w, flex, n);
    return n > 0;
}

void *codec_alloc(buf_reader *r, arena *a, int32_t n, size_t size)
{
    if (n <= 0 || !buf_reader_ok(r))
        return NULL;
    void *p = arena_calloc(a, (size_t)n, size);
    if (!p)
        buf_reader_fail(r, GREGOR_ERR_TOO_LARGE, "decoded arrays exceed the memory limit");
    return p;
}

void codec_fail_at(buf_reader *r, const char *path)
{
    if (!r->field)
        r->field = path;
}

bool codec_tag_open(buf_reader *r, buf_reader *sub)
{
    uint32_t size = buf_read_uvarint(r);
    const uint8_t *p = buf_read_raw(r, size);
    if (!p)
        return false;
    buf_reader_init(sub, p, size);
    return true;
}

void codec_tag_close(buf_reader *r, const buf_reader *sub)
{
    if (buf_reader_ok(sub))
        return;
    buf_reader_fail(r, sub->err, sub->what);
    codec_fail_at(r, sub->field);
}

void codec_tag_begin(buf_writer *w, codec_tag *t)
{
    t->start = w->len;
}

void codec_tag_end(buf_writer *w, const codec_tag *t)
{
    if (w->err != GREGOR_OK)
        return;
    size_t n = w->len - t->start;
    if (n > UINT32_MAX) {
        writer_fail(w, GREGOR_ERR_TOO_LARGE);
        return;
    }
    size_t k = buf_uvarint_size(n);
    if (!buf_writer_reserve(w, k))
        return;
    memmove(w->data + t->start + k, w->data + t->start, n);
    /* Write the size into its place: encode at the end, then move it. */
    size_t end = w->len + k;
    w->len = t->start;
    buf_write_uvarint(w, (uint32_t)n);
    w->len = end;
}
