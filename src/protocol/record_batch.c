/* protocol/record_batch.c — RecordBatch v2 (magic 2): the 61-byte batch
 * header and the varint-encoded records (see records_format.h).
 *
 *   off  0 baseOffset int64       off 27 baseTimestamp int64
 *   off  8 batchLength int32      off 35 maxTimestamp int64
 *   off 12 partitionLeaderEpoch   off 43 producerId int64
 *   off 16 magic int8 (2)         off 51 producerEpoch int16
 *   off 17 crc uint32 (CRC-32C    off 53 baseSequence int32
 *          over [21, end))        off 57 recordsCount int32
 *   off 21 attributes int16       off 61 records...
 *   off 23 lastOffsetDelta int32
 *
 * Record: length varint, attributes int8, timestampDelta varlong,
 * offsetDelta varint, key (varint length, -1 null), value (same),
 * headers count varint, then per header a key (varint length, never null)
 * and a value (varint length, -1 null). Lengths are zig-zag varints.
 */
#include <assert.h>

#include "protocol/records_format.h"
#include "util/crc32.h"

static_assert(PROTO_V2_CRC_OFFSET == PROTO_MAGIC_OFFSET + 1, "crc follows the magic byte");
static_assert(PROTO_V2_ATTR_OFFSET == PROTO_V2_CRC_OFFSET + 4, "attributes follow the crc");
static_assert(PROTO_V2_HEADER_LEN == PROTO_V2_ATTR_OFFSET + 2 + 4 + 8 + 8 + 8 + 2 + 4 + 4,
              "attributes..recordsCount make up the rest of the header");

gregor_err proto_v2_header_parse(const uint8_t *p, size_t n, bool check_crc, proto_v2_header *h,
                                 const char **what)
{
    if (n < PROTO_V2_HEADER_LEN) {
        *what = "v2 batch length is below the batch header size";
        return GREGOR_ERR_MALFORMED;
    }
    buf_reader r;
    buf_reader_init(&r, p, PROTO_V2_HEADER_LEN);
    h->base_offset = buf_read_i64(&r);
    (void)buf_read_i32(&r); /* batchLength: the caller framed the batch with it */
    h->leader_epoch = buf_read_i32(&r);
    (void)buf_read_i8(&r); /* magic, checked by the caller */
    uint32_t crc = buf_read_u32(&r);
    h->attrs = buf_read_i16(&r);
    h->last_offset_delta = buf_read_i32(&r);
    h->base_ts = buf_read_i64(&r);
    h->max_ts = buf_read_i64(&r);
    h->producer_id = buf_read_i64(&r);
    h->producer_epoch = buf_read_i16(&r);
    h->base_sequence = buf_read_i32(&r);
    h->count = buf_read_i32(&r);
    assert(buf_reader_ok(&r) && buf_remaining(&r) == 0);

    if (check_crc && crc32c(0, p + PROTO_V2_ATTR_OFFSET, n - PROTO_V2_ATTR_OFFSET) != crc) {
        *what = "v2 batch CRC-32C mismatch";
        return GREGOR_ERR_CRC;
    }
    if ((h->attrs & PROTO_ATTR_CODEC_MASK) > PROTO_CODEC_MAX) {
        *what = "v2 batch has an unknown compression codec";
        return GREGOR_ERR_UNSUPPORTED;
    }
    if (h->count < 0) {
        *what = "v2 batch has a negative record count";
        return GREGOR_ERR_MALFORMED;
    }
    if (h->last_offset_delta < 0) {
        *what = "v2 batch has a negative lastOffsetDelta";
        return GREGOR_ERR_MALFORMED;
    }
    return GREGOR_OK;
}

static void put_be(uint8_t *p, uint64_t v, int bytes)
{
    for (int i = bytes - 1; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

void proto_v2_header_write(uint8_t *p, size_t n, const proto_v2_header *h)
{
    assert(n >= PROTO_V2_HEADER_LEN && n - PROTO_LOG_OVERHEAD <= INT32_MAX);
    put_be(p + 0, (uint64_t)h->base_offset, 8);
    put_be(p + 8, (uint64_t)(n - PROTO_LOG_OVERHEAD), 4);
    put_be(p + 12, (uint32_t)h->leader_epoch, 4);
    p[16] = PROTO_MAGIC_V2;
    put_be(p + 21, (uint16_t)h->attrs, 2);
    put_be(p + 23, (uint32_t)h->last_offset_delta, 4);
    put_be(p + 27, (uint64_t)h->base_ts, 8);
    put_be(p + 35, (uint64_t)h->max_ts, 8);
    put_be(p + 43, (uint64_t)h->producer_id, 8);
    put_be(p + 51, (uint16_t)h->producer_epoch, 2);
    put_be(p + 53, (uint32_t)h->base_sequence, 4);
    put_be(p + 57, (uint32_t)h->count, 4);
    uint32_t crc = crc32c(0, p + PROTO_V2_ATTR_OFFSET, n - PROTO_V2_ATTR_OFFSET);
    put_be(p + PROTO_V2_CRC_OFFSET, crc, 4);
}

/* A varint-length-prefixed byte field; -1 is null only when `nullable`. */
static buf_slice read_field(buf_reader *r, bool nullable, const char **what, const char *msg)
{
    int32_t len = buf_read_varint(r);
    if (!buf_reader_ok(r))
        return BUF_SLICE_NULL;
    if (len == -1 && nullable)
        return BUF_SLICE_NULL;
    if (len < 0 || (size_t)len > buf_remaining(r)) {
        *what = msg;
        buf_reader_fail(r, GREGOR_ERR_MALFORMED, msg);
        return BUF_SLICE_NULL;
    }
    return (buf_slice){buf_read_raw(r, (size_t)len), len};
}

static void fail(buf_reader *r, const char **what, const char *msg)
{
    *what = msg;
    buf_reader_fail(r, GREGOR_ERR_MALFORMED, msg);
}

/* Anything that ran out of bytes inside a record is corruption of a batch
 * known to be whole, so every failure reads as MALFORMED. */
static gregor_err result(const buf_reader *r, const char **what, const char *generic)
{
    if (buf_reader_ok(r))
        return GREGOR_OK;
    if (!*what)
        *what = generic;
    return GREGOR_ERR_MALFORMED;
}

gregor_err proto_v2_record_parse(buf_reader *r, proto_v2_record *rec, const char **what)
{
    *what = NULL;
    int32_t len = buf_read_varint(r);
    if (buf_reader_ok(r) && (len < 0 || (size_t)len > buf_remaining(r)))
        fail(r, what, "v2 record length runs past its batch");
    const uint8_t *body = buf_read_raw(r, buf_reader_ok(r) ? (size_t)len : 0);
    if (!body)
        return result(r, what, "v2 record length is truncated");

    buf_reader b;
    buf_reader_init(&b, body, (size_t)len);
    (void)buf_read_i8(&b); /* record attributes: unused */
    rec->ts_delta = buf_read_varlong(&b);
    rec->offset_delta = buf_read_varint(&b);
    rec->key = read_field(&b, true, what, "v2 record key length out of range");
    rec->value = read_field(&b, true, what, "v2 record value length out of range");
    rec->header_count = buf_read_varint(&b);
    /* Each header takes at least two bytes: bound the count before looping. */
    if (buf_reader_ok(&b) &&
        (rec->header_count < 0 || (size_t)rec->header_count > buf_remaining(&b) / 2))
        fail(&b, what, "v2 record header count out of range");
    size_t hstart = b.pos;
    for (int32_t i = 0; i < rec->header_count && buf_reader_ok(&b); i++) {
        (void)read_field(&b, false, what, "v2 record header key length out of range");
        (void)read_field(&b, true, what, "v2 record header value length out of range");
    }
    if (buf_reader_ok(&b)) {
        rec->headers = (buf_slice){body + hstart, (int32_t)(b.pos - hstart)};
        if (buf_remaining(&b) != 0)
            fail(&b, what, "v2 record length does not match its fields");
    }
    gregor_err err = result(&b, what, "v2 record fields run past the record length");
    if (err != GREGOR_OK)
        buf_reader_fail(r, err, *what);
    return err;
}

size_t proto_v2_record_size(int64_t ts_delta, int32_t offset_delta, buf_slice key,
                            buf_slice value, const proto_header *headers, size_t header_cnt)
{
    size_t body = 1 + buf_varint_size(ts_delta) + buf_varint_size(offset_delta);
    body += buf_varint_size(key.len) + (key.len > 0 ? (size_t)key.len : 0);
    body += buf_varint_size(value.len) + (value.len > 0 ? (size_t)value.len : 0);
    body += buf_varint_size((int64_t)header_cnt);
    for (size_t i = 0; i < header_cnt; i++) {
        const proto_header *h = &headers[i];
        body += buf_varint_size(h->key.len) + (h->key.len > 0 ? (size_t)h->key.len : 0);
        body += buf_varint_size(h->value.len) + (h->value.len > 0 ? (size_t)h->value.len : 0);
    }
    return buf_varint_size((int64_t)body) + body;
}

static void write_field(buf_writer *w, buf_slice s)
{
    if (s.len < 0) {
        buf_write_varint(w, -1);
        return;
    }
    buf_write_varint(w, s.len);
    buf_write_raw(w, s.ptr, (size_t)s.len);
}

void proto_v2_record_write(buf_writer *w, size_t size, int64_t ts_delta, int32_t offset_delta,
                           buf_slice key, buf_slice value, const proto_header *headers,
                           size_t header_cnt)
{
    /* size = varint(body) + body, and body < size: find the body length. */
    size_t body = size - 1;
    while (buf_varint_size((int64_t)body) + body > size)
        body--;
    assert(buf_varint_size((int64_t)body) + body == size);
    size_t start = w->len;
    buf_write_varint(w, (int32_t)body);
    buf_write_i8(w, 0);
    buf_write_varlong(w, ts_delta);
    buf_write_varint(w, offset_delta);
    write_field(w, key);
    write_field(w, value);
    buf_write_varint(w, (int32_t)header_cnt);
    for (size_t i = 0; i < header_cnt; i++) {
        write_field(w, headers[i].key);
        write_field(w, headers[i].value);
    }
    assert(w->err != GREGOR_OK || w->len - start == size);
    (void)start;
}
