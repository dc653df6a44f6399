/* protocol/message_set.c — MessageSet v0 and v1 (magic 0 and 1), one
 * message at a time (see records_format.h).
 *
 * Entry layout (a message set is these back to back, with no count):
 *   off  0 offset int64
 *   off  8 messageSize int32      bytes that follow this field
 *   off 12 crc uint32             CRC-32 (IEEE) over [16, 12 + messageSize)
 *   off 16 magic int8             0 or 1
 *   off 17 attributes int8        bits 0-2 codec; bit 3 LogAppendTime (v1)
 *   off 18 timestamp int64        v1 only
 *          key   int32 length (-1 null) + bytes
 *          value int32 length (-1 null) + bytes
 *
 * A compressed message ("wrapper") has a null key and, as its value, the
 * compressed bytes of a whole inner message set of uncompressed messages.
 */
#include <assert.h>

#include "protocol/records_format.h"
#include "util/crc32.h"

static_assert(PROTO_V0_MESSAGE_MIN == 4 + 1 + 1 + 4 + 4, "crc, magic, attributes, two lengths");
static_assert(PROTO_V1_MESSAGE_MIN == PROTO_V0_MESSAGE_MIN + 8, "v1 adds the timestamp");
static_assert(PROTO_MAGIC_OFFSET == PROTO_LOG_OVERHEAD + 4, "magic follows the crc");

static gregor_err fail(const char **what, gregor_err err, const char *msg)
{
    *what = msg;
    return err;
}

gregor_err proto_legacy_parse(const uint8_t *p, size_t n, bool check_crc, proto_legacy_msg *m,
                              const char **what)
{
    if (n < PROTO_LOG_OVERHEAD + PROTO_V0_MESSAGE_MIN)
        return fail(what, GREGOR_ERR_MALFORMED, "message is smaller than a v0 message");
    buf_reader r;
    buf_reader_init(&r, p, n);
    m->offset = buf_read_i64(&r);
    (void)buf_read_i32(&r); /* messageSize: the caller framed the entry with it */
    uint32_t crc = buf_read_u32(&r);
    m->magic = buf_read_i8(&r);
    m->attrs = buf_read_i8(&r);

    if (check_crc && crc32_ieee(0, p + PROTO_MAGIC_OFFSET, n - PROTO_MAGIC_OFFSET) != crc)
        return fail(what, GREGOR_ERR_CRC, "message CRC-32 mismatch");
    if (m->magic != PROTO_MAGIC_V0 && m->magic != PROTO_MAGIC_V1)
        return fail(what, GREGOR_ERR_UNSUPPORTED, "message magic is neither 0 nor 1");
    if (m->magic == PROTO_MAGIC_V1 && n < PROTO_LOG_OVERHEAD + PROTO_V1_MESSAGE_MIN)
        return fail(what, GREGOR_ERR_MALFORMED, "message is smaller than a v1 message");

    m->timestamp = m->magic == PROTO_MAGIC_V1 ? buf_read_i64(&r) : -1;
    m->key = buf_read_bytes(&r, true);
    m->value = buf_read_bytes(&r, true);
    if (!buf_reader_ok(&r))
        return fail(what, GREGOR_ERR_MALFORMED, "message key or value runs past the message");
    if (buf_remaining(&r) != 0)
        return fail(what, GREGOR_ERR_MALFORMED, "message size does not match its fields");
    return GREGOR_OK;
}

gregor_err proto_legacy_scan(const uint8_t *p, size_t n, int32_t *count, int64_t *last_offset,
                             const char **what)
{
    size_t pos = 0;
    int32_t cnt = 0;
    while (pos < n) {
        buf_reader r;
        buf_reader_init(&r, p + pos, n - pos);
        int64_t offset = buf_read_i64(&r);
        int32_t size = buf_read_i32(&r);
        if (!buf_reader_ok(&r))
            return fail(what, GREGOR_ERR_MALFORMED, "inner message set ends in a partial entry");
        if (size < PROTO_V0_MESSAGE_MIN)
            return fail(what, GREGOR_ERR_MALFORMED, "inner message is smaller than a v0 message");
        if ((size_t)size > buf_remaining(&r))
            return fail(what, GREGOR_ERR_MALFORMED, "inner message runs past the message set");
        if (cnt == INT32_MAX)
            return fail(what, GREGOR_ERR_TOO_LARGE, "inner message set has too many messages");
        pos += PROTO_LOG_OVERHEAD + (size_t)size;
        cnt++;
        *last_offset = offset;
    }
    if (cnt == 0)
        return fail(what, GREGOR_ERR_MALFORMED, "compressed message holds no messages");
    *count = cnt;
    return GREGOR_OK;
}

size_t proto_legacy_size(int magic, buf_slice key, buf_slice value)
{
    size_t n = PROTO_LOG_OVERHEAD + 4 + 1 + 1 + (magic == PROTO_MAGIC_V1 ? 8 : 0) + 4 + 4;
    n += key.len > 0 ? (size_t)key.len : 0;
    n += value.len > 0 ? (size_t)value.len : 0;
    return n;
}

/* Patches the size and CRC of the entry that starts at `start` and ends at
 * the writer's end. */
static void seal(buf_writer *w, size_t start)
{
    if (w->err != GREGOR_OK)
        return;
    size_t size = w->len - start - PROTO_LOG_OVERHEAD;
    assert(size <= INT32_MAX);
    buf_patch_i32(w, start + 8, (int32_t)size);
    const uint8_t *covered = w->data + start + PROTO_MAGIC_OFFSET;
    uint32_t crc = crc32_ieee(0, covered, w->len - start - PROTO_MAGIC_OFFSET);
    buf_patch_u32(w, start + 12, crc);
}

void proto_legacy_write(buf_writer *w, int magic, int64_t offset, int8_t attrs, int64_t timestamp,
                        buf_slice key, buf_slice value)
{
    assert(magic == PROTO_MAGIC_V0 || magic == PROTO_MAGIC_V1);
    size_t start = w->len;
    buf_write_i64(w, offset);
    (void)buf_write_slot(w, 8); /* messageSize and crc, sealed below */
    buf_write_i8(w, (int8_t)magic);
    buf_write_i8(w, attrs);
    if (magic == PROTO_MAGIC_V1)
        buf_write_i64(w, timestamp);
    buf_write_bytes(w, key);
    buf_write_bytes(w, value);
    seal(w, start);
}

gregor_err proto_legacy_write_wrapper(buf_writer *w, int magic, int64_t offset, int64_t timestamp,
                                      proto_codec codec, int level, const uint8_t *p, size_t n)
{
    assert(magic == PROTO_MAGIC_V0 || magic == PROTO_MAGIC_V1);
    size_t start = w->len;
    buf_write_i64(w, offset);
    (void)buf_write_slot(w, 8); /* messageSize and crc */
    buf_write_i8(w, (int8_t)magic);
    buf_write_i8(w, (int8_t)codec); /* CreateTime: bit 3 stays 0 */
    if (magic == PROTO_MAGIC_V1)
        buf_write_i64(w, timestamp);
    buf_write_i32(w, -1); /* null key */
    size_t vlen_at = buf_write_slot(w, 4);
    if (w->err != GREGOR_OK)
        return w->err;
    size_t vstart = w->len;
    gregor_err err = proto_compress(codec, magic, level, p, n, w);
    if (err == GREGOR_OK && w->len - start - PROTO_LOG_OVERHEAD > INT32_MAX)
        err = GREGOR_ERR_TOO_LARGE;
    if (err != GREGOR_OK) {
        w->len = start;
        return err;
    }
    buf_patch_i32(w, vlen_at, (int32_t)(w->len - vstart));
    seal(w, start);
    return GREGOR_OK;
}
