/* Unit tests for util/buf and util/arena: primitives, varints, limits. */
#include <criterion/criterion.h>
#include <string.h>

#include "testutil.h"
#include "util/arena.h"
#include "util/buf.h"

Test(buf, big_endian_round_trip)
{
    buf_writer w;
    buf_writer_init(&w, 1024);
    buf_write_i8(&w, -2);
    buf_write_i16(&w, -12345);
    buf_write_i32(&w, 0x01020304);
    buf_write_i64(&w, INT64_MIN + 7);
    buf_write_f64(&w, 1.5);
    cr_assert_eq(w.err, GREGOR_OK);
    cr_assert_eq(w.len, 1 + 2 + 4 + 8 + 8);
    cr_assert_eq(w.data[3], 0x01);
    cr_assert_eq(w.data[6], 0x04);

    buf_reader r;
    buf_reader_init(&r, w.data, w.len);
    cr_assert_eq(buf_read_i8(&r), -2);
    cr_assert_eq(buf_read_i16(&r), -12345);
    cr_assert_eq(buf_read_i32(&r), 0x01020304);
    cr_assert_eq(buf_read_i64(&r), INT64_MIN + 7);
    cr_assert_eq(buf_read_f64(&r), 1.5);
    cr_assert_eq(r.err, GREGOR_OK);
    cr_assert_eq(buf_remaining(&r), 0);
    buf_writer_fini(&w);
}

Test(buf, varints_match_protobuf)
{
    /* Known encodings: 300 -> ac 02; zig-zag -1 -> 01, 1 -> 02, -64 -> 7f. */
    uint8_t out[16];
    buf_writer w;
    buf_writer_init_fixed(&w, out, sizeof out);
    buf_write_uvarint(&w, 300);
    buf_write_varint(&w, -1);
    buf_write_varint(&w, 1);
    buf_write_varint(&w, -64);
    cr_assert_eq(w.len, 5);
    const uint8_t want[] = {0xac, 0x02, 0x01, 0x02, 0x7f};
    cr_assert_arr_eq(out, want, 5);

    buf_reader r;
    buf_reader_init(&r, out, w.len);
    cr_assert_eq(buf_read_uvarint(&r), 300);
    cr_assert_eq(buf_read_varint(&r), -1);
    cr_assert_eq(buf_read_varint(&r), 1);
    cr_assert_eq(buf_read_varint(&r), -64);
    cr_assert_eq(r.err, GREGOR_OK);
}

Test(buf, varlong_extremes)
{
    int64_t vals[] = {0, -1, INT64_MAX, INT64_MIN, 1234567890123LL};
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        buf_writer w;
        buf_writer_init(&w, 64);
        buf_write_varlong(&w, vals[i]);
        cr_assert_eq(w.len, buf_varint_size(vals[i]));
        buf_reader r;
        buf_reader_init(&r, w.data, w.len);
        cr_assert_eq(buf_read_varlong(&r), vals[i]);
        cr_assert_eq(r.err, GREGOR_OK);
        buf_writer_fini(&w);
    }
}

Test(buf, overlong_varint_is_malformed)
{
    const uint8_t six[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x01};
    buf_reader r;
    buf_reader_init(&r, six, sizeof six);
    (void)buf_read_uvarint(&r);
    cr_assert_eq(r.err, GREGOR_ERR_MALFORMED);
    const uint8_t big[] = {0xff, 0xff, 0xff, 0xff, 0x7f}; /* > 32 bits */
    buf_reader_init(&r, big, sizeof big);
    (void)buf_read_uvarint(&r);
    cr_assert_eq(r.err, GREGOR_ERR_MALFORMED);
}

Test(buf, truncation_is_sticky)
{
    const uint8_t b[] = {0x00, 0x01, 0x02};
    buf_reader r;
    buf_reader_init(&r, b, sizeof b);
    cr_assert_eq(buf_read_i32(&r), 0);
    cr_assert_eq(r.err, GREGOR_ERR_TRUNCATED);
    cr_assert_not_null(r.what);
    /* Later reads that would fit still fail: the error is sticky. */
    cr_assert_eq(buf_read_i8(&r), 0);
    cr_assert_eq(r.err, GREGOR_ERR_TRUNCATED);
}

Test(buf, strings_and_nulls)
{
    buf_writer w;
    buf_writer_init(&w, 256);
    buf_write_string(&w, buf_slice_of("abc", 3));
    buf_write_string(&w, BUF_SLICE_NULL);
    buf_write_compact_string(&w, buf_slice_of("xy", 2));
    buf_write_compact_bytes(&w, BUF_SLICE_NULL);
    buf_write_bytes(&w, buf_slice_of("", 0));
    buf_reader r;
    buf_reader_init(&r, w.data, w.len);
    cr_assert(buf_slice_eq_str(buf_read_string(&r, false), "abc"));
    cr_assert(buf_slice_is_null(buf_read_string(&r, true)));
    cr_assert(buf_slice_eq_str(buf_read_compact_string(&r, false), "xy"));
    cr_assert(buf_slice_is_null(buf_read_compact_bytes(&r, true)));
    buf_slice e = buf_read_bytes(&r, false);
    cr_assert_eq(e.len, 0);
    cr_assert_eq(r.err, GREGOR_OK);
    cr_assert_eq(buf_remaining(&r), 0);
    buf_writer_fini(&w);
}

Test(buf, null_where_not_nullable_is_malformed)
{
    const uint8_t b[] = {0xff, 0xff};
    buf_reader r;
    buf_reader_init(&r, b, sizeof b);
    (void)buf_read_string(&r, false);
    cr_assert_eq(r.err, GREGOR_ERR_MALFORMED);
}

Test(buf, hostile_array_count_rejected_before_allocation)
{
    const uint8_t b[] = {0x7f, 0xff, 0xff, 0xff, 0x00};
    buf_reader r;
    buf_reader_init(&r, b, sizeof b);
    cr_assert_eq(buf_read_array_len(&r, false, 4), 0);
    cr_assert_eq(r.err, GREGOR_ERR_TOO_LARGE);
}

Test(buf, writer_max_is_enforced)
{
    buf_writer w;
    buf_writer_init(&w, 6);
    buf_write_i32(&w, 1);
    buf_write_i32(&w, 2);
    cr_assert_eq(w.err, GREGOR_ERR_TOO_LARGE);
    cr_assert_eq(w.len, 4);
    buf_writer_fini(&w);
}

Test(buf, slots_are_patched)
{
    buf_writer w;
    buf_writer_init(&w, 64);
    size_t slot = buf_write_slot(&w, 4);
    buf_write_i16(&w, 7);
    buf_patch_i32(&w, slot, (int32_t)(w.len - slot - 4));
    buf_reader r;
    buf_reader_init(&r, w.data, w.len);
    cr_assert_eq(buf_read_i32(&r), 2);
    buf_writer_fini(&w);
}

Test(arena, limit_bounds_allocation)
{
    arena a;
    arena_init(&a, 64 * 1024);
    void *small = arena_alloc(&a, 100);
    cr_assert_not_null(small);
    cr_assert_eq(((unsigned char *)small)[99], 0);
    cr_assert_null(arena_alloc(&a, 1u << 20));
    cr_assert_null(arena_calloc(&a, SIZE_MAX / 2, 4));
    for (int i = 0; i < 100; i++)
        cr_assert_not_null(arena_alloc(&a, 200));
    arena_fini(&a);
    cr_assert_eq(a.used_bytes, 0);
}
