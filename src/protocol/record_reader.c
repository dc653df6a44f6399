/* protocol/record_reader.c — one iterator over a Fetch response's records,
 * whatever mix of MessageSet v0/v1 and RecordBatch v2 they hold (see
 * records.h).
 *
 * States: OUTER reads the next entry of the input (a v2 batch, a plain
 * v0/v1 message, or a compressed v0/v1 wrapper); V2 yields the records of a
 * v2 batch from `inner`; LEGACY yields the messages of a wrapper's
 * decompressed inner set from `inner`; DONE at the end of the input; FAILED
 * after an error, which is sticky.
 *
 * Input bounds: an entry is only parsed once its whole declared size is
 * known to be in the input, so the format parsers never see partial data;
 * a partial trailing entry ends the iteration normally. Memory: the only
 * allocation is the decompression buffer, capped by decompress_max_bytes
 * and reused from batch to batch.
 *
 * Offset arithmetic on wire values is done in uint64 so hostile values wrap
 * instead of overflowing.
 */
#include <string.h>

#include "protocol/records_format.h"

enum { ST_OUTER, ST_V2, ST_LEGACY, ST_DONE, ST_FAILED };

static int64_t add64(int64_t a, int64_t b) { return (int64_t)((uint64_t)a + (uint64_t)b); }

static int64_t be64_at(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return (int64_t)v;
}

static int32_t be32_at(const uint8_t *p)
{
    uint32_t v = ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
    return (int32_t)v;
}

void proto_record_reader_init(proto_record_reader *r, const uint8_t *data, size_t len,
                              const proto_reader_opts *opts)
{
    memset(r, 0, sizeof *r);
    r->data = data;
    r->len = data ? len : 0;
    if (opts)
        r->opts = *opts;
    if (r->opts.decompress_max_bytes == 0)
        r->opts.decompress_max_bytes = PROTO_DECOMPRESS_MAX_DEFAULT;
    r->next_offset = r->opts.min_offset;
    r->err_offset = -1;
    r->state = ST_OUTER;
    buf_writer_init(&r->scratch, r->opts.decompress_max_bytes);
}

void proto_record_reader_fini(proto_record_reader *r)
{
    buf_writer_fini(&r->scratch);
    r->state = ST_FAILED;
}

uint8_t *proto_record_reader_take_decompressed(proto_record_reader *r, size_t *bytes_out)
{
    *bytes_out = 0;
    if (r->scratch.len == 0)
        return NULL;
    size_t cap = r->scratch.cap, len;
    uint8_t *p = buf_writer_steal(&r->scratch, &len);
    if (p)
        *bytes_out = cap;
    return p;
}

static gregor_err fail(proto_record_reader *r, gregor_err err, const char *what, int64_t offset)
{
    r->err = err;
    r->what = what;
    r->err_offset = offset;
    r->state = ST_FAILED;
    return err;
}

static void advance(proto_record_reader *r, int64_t last_offset)
{
    int64_t next = add64(last_offset, 1);
    if (next > r->next_offset)
        r->next_offset = next;
}

/* Decompresses `n` bytes at `in` into the scratch buffer and points `inner`
 * at the result. */
static gregor_err inflate_into_inner(proto_record_reader *r, proto_codec codec, int magic,
                                     const uint8_t *in, size_t n, int64_t offset)
{
    buf_writer_reset(&r->scratch);
    gregor_err err =
        proto_decompress(codec, magic, in, n, r->opts.decompress_max_bytes, &r->scratch);
    if (err == GREGOR_ERR_TOO_LARGE)
        return fail(r, err, "batch decompresses past decompress_max_bytes", offset);
    if (err != GREGOR_OK)
        return fail(r, err, "compressed records are corrupt", offset);
    buf_reader_init(&r->inner, r->scratch.data, r->scratch.len);
    return GREGOR_OK;
}

/* ------------------------------------------------------------------ v2 */

static gregor_err v2_batch(proto_record_reader *r, const uint8_t *p, size_t n)
{
    proto_v2_header h;
    const char *what = NULL;
    gregor_err err = proto_v2_header_parse(p, n, !r->opts.skip_crc, &h, &what);
    if (err != GREGOR_OK)
        return fail(r, err, what, be64_at(p));

    int64_t last = add64(h.base_offset, h.last_offset_delta);
    if (h.count == 0 || last < r->opts.min_offset) {
        advance(r, last); /* empty (compacted) or wholly before the fetch offset */
        return GREGOR_OK;
    }
    proto_codec codec = (proto_codec)(h.attrs & PROTO_ATTR_CODEC_MASK);
    proto_record *c = &r->ctx;
    memset(c, 0, sizeof *c);
    c->magic = PROTO_MAGIC_V2;
    c->codec = codec;
    c->is_control = (h.attrs & PROTO_ATTR_CONTROL) != 0;
    c->is_transactional = (h.attrs & PROTO_ATTR_TRANSACTIONAL) != 0;
    c->producer_id = h.producer_id;
    c->producer_epoch = h.producer_epoch;
    c->sequence = h.base_sequence;
    c->leader_epoch = h.leader_epoch;
    c->batch_base_offset = h.base_offset;
    c->batch_last_offset = last;
    r->base_ts = h.base_ts;
    r->max_ts = h.max_ts;
    r->log_append_time = (h.attrs & PROTO_ATTR_LOG_APPEND_TIME) != 0;
    r->records_left = h.count;

    const uint8_t *records = p + PROTO_V2_HEADER_LEN;
    size_t records_len = n - PROTO_V2_HEADER_LEN;
    if (codec == PROTO_CODEC_NONE)
        buf_reader_init(&r->inner, records, records_len);
    else if ((err = inflate_into_inner(r, codec, PROTO_MAGIC_V2, records, records_len,
                                       h.base_offset)) != GREGOR_OK)
        return err;
    r->state = ST_V2;
    return GREGOR_OK;
}

/* Kafka's DefaultRecordBatch.incrementSequence: wraps to 0 past INT32_MAX. */
static int32_t sequence_of(int32_t base, int32_t delta)
{
    if (base < 0)
        return -1;
    return (int32_t)(((int64_t)base + delta) & 0x7fffffff);
}

static gregor_err v2_next(proto_record_reader *r, proto_record *rec, bool *got)
{
    const proto_record *c = &r->ctx;
    if (r->records_left == 0) {
        if (buf_remaining(&r->inner) != 0)
            return fail(r, GREGOR_ERR_MALFORMED, "v2 batch has bytes after its last record",
                        c->batch_base_offset);
        advance(r, c->batch_last_offset);
        r->state = ST_OUTER;
        return GREGOR_OK;
    }
    proto_v2_record v;
    const char *what = NULL;
    gregor_err err = proto_v2_record_parse(&r->inner, &v, &what);
    if (err != GREGOR_OK)
        return fail(r, err, what, c->batch_base_offset);
    r->records_left--;

    int64_t offset = add64(c->batch_base_offset, v.offset_delta);
    /* A record outside [base, last] would be delivered again by the next
     * fetch, which starts after the batch's last offset. */
    if (v.offset_delta < 0 || offset > c->batch_last_offset)
        return fail(r, GREGOR_ERR_MALFORMED, "v2 record's offset delta lies outside the batch's offsets",
                    c->batch_base_offset);
    if (offset < r->opts.min_offset)
        return GREGOR_OK;
    *rec = *c;
    rec->offset = offset;
    if (r->log_append_time) {
        rec->timestamp = r->max_ts;
        rec->timestamp_type = PROTO_TS_LOG_APPEND;
    } else {
        rec->timestamp = add64(r->base_ts, v.ts_delta);
        rec->timestamp_type = PROTO_TS_CREATE;
    }
    rec->key = v.key;
    rec->value = v.value;
    rec->header_count = v.header_count;
    rec->headers = v.headers;
    rec->sequence = sequence_of(c->sequence, v.offset_delta);
    rec->control_type = -1;
    if (rec->is_control && v.key.len >= 4)
        rec->control_type = (int16_t)((v.key.ptr[2] << 8) | v.key.ptr[3]);
    *got = true;
    return GREGOR_OK;
}

/* -------------------------------------------------------------- v0 / v1 */

static void legacy_fill(proto_record *rec, const proto_legacy_msg *m, int64_t offset)
{
    rec->offset = offset;
    rec->magic = m->magic;
    rec->key = m->key;
    rec->value = m->value;
    rec->header_count = 0;
    rec->headers = (buf_slice){NULL, 0};
    rec->control_type = -1;
    rec->producer_id = -1;
    rec->producer_epoch = -1;
    rec->sequence = -1;
    rec->leader_epoch = -1;
    if (m->magic == PROTO_MAGIC_V0) {
        rec->timestamp = -1;
        rec->timestamp_type = PROTO_TS_NONE;
    } else {
        rec->timestamp = m->timestamp;
        rec->timestamp_type =
            (m->attrs & PROTO_ATTR_LOG_APPEND_TIME) ? PROTO_TS_LOG_APPEND : PROTO_TS_CREATE;
    }
}

/* A compressed wrapper: decompress its inner set and work out the base
 * that turns inner offsets into absolute ones (NOTES §2.3). */
static gregor_err legacy_wrapper(proto_record_reader *r, const proto_legacy_msg *m)
{
    proto_codec codec = (proto_codec)(m->attrs & PROTO_ATTR_CODEC_MASK);
    if (codec > PROTO_CODEC_LZ4)
        return fail(r, GREGOR_ERR_UNSUPPORTED, "v0/v1 message has an unknown codec", m->offset);
    if (buf_slice_is_null(m->value))
        return fail(r, GREGOR_ERR_MALFORMED, "compressed message has a null value", m->offset);
    if (m->offset < r->opts.min_offset) {
        advance(r, m->offset); /* the wrapper's offset is that of its last message */
        return GREGOR_OK;
    }
    gregor_err err = inflate_into_inner(r, codec, m->magic, m->value.ptr, (size_t)m->value.len,
                                        m->offset);
    if (err != GREGOR_OK)
        return err;
    int32_t count;
    int64_t last_inner = 0;
    const char *what = NULL;
    err = proto_legacy_scan(r->inner.data, r->inner.len, &count, &last_inner, &what);
    if (err != GREGOR_OK)
        return fail(r, err, what, m->offset);

    r->offset_base = 0; /* v0: inner offsets are absolute */
    if (m->magic == PROTO_MAGIC_V1 && m->offset != 0) {
        if (m->offset < last_inner)
            return fail(r, GREGOR_ERR_MALFORMED, "v1 wrapper offset is below its last inner offset",
                        m->offset);
        r->offset_base = m->offset - last_inner;
    }
    proto_record *c = &r->ctx;
    memset(c, 0, sizeof *c);
    c->codec = codec;
    c->batch_base_offset = add64(r->offset_base, be64_at(r->inner.data));
    c->batch_last_offset = add64(r->offset_base, last_inner);
    if (m->offset > c->batch_last_offset)
        c->batch_last_offset = m->offset;
    r->log_append_time = m->magic == PROTO_MAGIC_V1 && (m->attrs & PROTO_ATTR_LOG_APPEND_TIME);
    r->max_ts = m->timestamp;
    r->state = ST_LEGACY;
    return GREGOR_OK;
}

static gregor_err legacy_entry(proto_record_reader *r, const uint8_t *p, size_t n,
                               proto_record *rec, bool *got)
{
    proto_legacy_msg m;
    const char *what = NULL;
    gregor_err err = proto_legacy_parse(p, n, !r->opts.skip_crc, &m, &what);
    if (err != GREGOR_OK)
        return fail(r, err, what, be64_at(p));
    if ((m.attrs & PROTO_ATTR_CODEC_MASK) != PROTO_CODEC_NONE)
        return legacy_wrapper(r, &m);
    advance(r, m.offset);
    if (m.offset < r->opts.min_offset)
        return GREGOR_OK;
    memset(rec, 0, sizeof *rec);
    legacy_fill(rec, &m, m.offset);
    rec->codec = PROTO_CODEC_NONE;
    rec->batch_base_offset = rec->batch_last_offset = m.offset;
    *got = true;
    return GREGOR_OK;
}

static gregor_err legacy_next(proto_record_reader *r, proto_record *rec, bool *got)
{
    const proto_record *c = &r->ctx;
    if (buf_remaining(&r->inner) == 0) {
        advance(r, c->batch_last_offset);
        r->state = ST_OUTER;
        return GREGOR_OK;
    }
    /* proto_legacy_scan() checked that every inner entry is whole. */
    const uint8_t *p = r->inner.data + r->inner.pos;
    size_t n = PROTO_LOG_OVERHEAD + (size_t)be32_at(p + 8);
    buf_skip(&r->inner, n);

    proto_legacy_msg m;
    const char *what = NULL;
    gregor_err err = proto_legacy_parse(p, n, !r->opts.skip_crc, &m, &what);
    if (err != GREGOR_OK)
        return fail(r, err, what, c->batch_last_offset);
    if ((m.attrs & PROTO_ATTR_CODEC_MASK) != PROTO_CODEC_NONE)
        return fail(r, GREGOR_ERR_MALFORMED, "compressed message inside a compressed message",
                    c->batch_last_offset);
    int64_t offset = add64(r->offset_base, m.offset);
    /* Past the wrapper's last offset it would be delivered again by the
     * next fetch, which starts after that offset (inner offsets out of
     * order: hostile bytes, never a broker's). */
    if (offset > c->batch_last_offset)
        return fail(r, GREGOR_ERR_MALFORMED, "inner message's offset lies past its wrapper's last offset",
                    c->batch_last_offset);
    if (offset < r->opts.min_offset)
        return GREGOR_OK;
    *rec = *c;
    legacy_fill(rec, &m, offset);
    if (r->log_append_time) {
        rec->timestamp = r->max_ts;
        rec->timestamp_type = PROTO_TS_LOG_APPEND;
    }
    *got = true;
    return GREGOR_OK;
}

/* ---------------------------------------------------------------- outer */

static gregor_err outer_next(proto_record_reader *r, proto_record *rec, bool *got)
{
    size_t pos = r->consumed;
    size_t rem = r->len - pos;
    if (rem < PROTO_LOG_OVERHEAD) {
        r->state = ST_DONE; /* nothing left, or a partial entry of unknown size */
        return GREGOR_OK;
    }
    const uint8_t *p = r->data + pos;
    int32_t size = be32_at(p + 8);
    if (size < PROTO_V0_MESSAGE_MIN)
        return fail(r, GREGOR_ERR_MALFORMED, "entry size is below the smallest message",
                    be64_at(p));
    if ((size_t)size > rem - PROTO_LOG_OVERHEAD) {
        r->partial_size = PROTO_LOG_OVERHEAD + (size_t)size;
        r->state = ST_DONE;
        return GREGOR_OK;
    }
    size_t n = PROTO_LOG_OVERHEAD + (size_t)size;
    r->consumed = pos + n;
    switch (p[PROTO_MAGIC_OFFSET]) {
    case PROTO_MAGIC_V0:
    case PROTO_MAGIC_V1:
        return legacy_entry(r, p, n, rec, got);
    case PROTO_MAGIC_V2:
        return v2_batch(r, p, n);
    default:
        return fail(r, GREGOR_ERR_UNSUPPORTED, "entry has an unknown magic byte", be64_at(p));
    }
}

gregor_err proto_record_reader_next(proto_record_reader *r, proto_record *rec, bool *got)
{
    *got = false;
    for (;;) {
        gregor_err err;
        switch (r->state) {
        case ST_OUTER:
            err = outer_next(r, rec, got);
            break;
        case ST_V2:
            err = v2_next(r, rec, got);
            break;
        case ST_LEGACY:
            err = legacy_next(r, rec, got);
            break;
        case ST_DONE:
            return GREGOR_OK;
        default:
            return r->err != GREGOR_OK ? r->err : GREGOR_ERR_STATE;
        }
        if (err != GREGOR_OK || *got)
            return err;
    }
}

/* -------------------------------------------------------------- headers */

void proto_header_iter_init(proto_header_iter *it, const proto_record *rec)
{
    buf_reader_init(&it->r, rec->headers.ptr, rec->headers.len > 0 ? (size_t)rec->headers.len : 0);
    it->left = rec->header_count;
}

static buf_slice read_field(buf_reader *r)
{
    int32_t len = buf_read_varint(r);
    if (!buf_reader_ok(r) || len < 0)
        return BUF_SLICE_NULL;
    const uint8_t *p = buf_read_raw(r, (size_t)len);
    return p ? (buf_slice){p, len} : BUF_SLICE_NULL;
}

bool proto_header_iter_next(proto_header_iter *it, proto_header *h)
{
    if (it->left <= 0)
        return false;
    h->key = read_field(&it->r);
    h->value = read_field(&it->r);
    if (!buf_reader_ok(&it->r) || buf_slice_is_null(h->key)) {
        it->left = 0;
        return false;
    }
    it->left--;
    return true;
}
