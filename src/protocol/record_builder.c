/* protocol/record_builder.c — proto_batch: the records of one partition for
 * one Produce request, in any of the three formats (see records.h).
 *
 * Layout of `recs`:
 *   v2     [61 bytes reserved for the batch header][record][record]...
 *          Records are encoded on append (timestamps relative to the first
 *          record's, offset deltas 0..n-1). Uncompressed, finish writes the
 *          header into the reserved bytes: no copy. Compressed, `z` gets a
 *          header followed by the compressed records.
 *   v0/v1  a message set of whole, CRC-sealed messages with offsets
 *          0..n-1. Uncompressed, it is the result as is. Compressed, `z`
 *          gets one wrapper message (offset n-1, the last inner offset, as
 *          the Java producer writes it) whose value is the compressed set.
 */
#include <string.h>

#include "protocol/records_format.h"

/* Compressed output may be slightly larger than its input (incompressible
 * data plus framing): room for the worst of the codecs, snappy's n/6. */
static size_t z_max_for(size_t recs_max) { return recs_max + recs_max / 5 + 4096; }

gregor_err proto_batch_init(proto_batch *b, int magic, size_t max_bytes)
{
    memset(b, 0, sizeof *b);
    if (magic < PROTO_MAGIC_V0 || magic > PROTO_MAGIC_V2 || max_bytes == 0 ||
        max_bytes > INT32_MAX / 2)
        return GREGOR_ERR_INVALID_ARG;
    b->magic = magic;
    b->max_bytes = max_bytes;
    size_t recs_max = max_bytes + (magic == PROTO_MAGIC_V2 ? PROTO_V2_HEADER_LEN : 0);
    buf_writer_init(&b->recs, recs_max);
    buf_writer_init(&b->z, z_max_for(recs_max));
    proto_batch_reset(b);
    return GREGOR_OK;
}

void proto_batch_fini(proto_batch *b)
{
    buf_writer_fini(&b->recs);
    buf_writer_fini(&b->z);
}

void proto_batch_reset(proto_batch *b)
{
    buf_writer_reset(&b->recs);
    buf_writer_reset(&b->z);
    b->count = 0;
    b->base_ts = 0;
    b->max_ts = -1;
    b->producer_id = -1;
    b->producer_epoch = -1;
    b->base_sequence = -1;
    b->transactional = false;
    b->finished = false;
    b->z_codec = PROTO_CODEC_NONE;
    b->z_level = 0;
}

void proto_batch_set_producer(proto_batch *b, int64_t producer_id, int16_t producer_epoch,
                              int32_t base_sequence, bool transactional)
{
    b->producer_id = producer_id;
    b->producer_epoch = producer_epoch;
    b->base_sequence = base_sequence;
    b->transactional = transactional;
}

size_t proto_batch_record_size(const proto_batch *b, buf_slice key, buf_slice value,
                               const proto_header *headers, size_t header_cnt)
{
    if (b->magic != PROTO_MAGIC_V2)
        return proto_legacy_size(b->magic, key, value);
    /* The timestamp delta is not known yet: count its widest encoding. */
    size_t n = proto_v2_record_size(INT64_MIN, b->count, key, value, headers, header_cnt);
    return n + (b->count == 0 ? PROTO_V2_HEADER_LEN : 0);
}

gregor_err proto_batch_append(proto_batch *b, int64_t timestamp, buf_slice key, buf_slice value,
                              const proto_header *headers, size_t header_cnt)
{
    if (b->finished)
        return GREGOR_ERR_STATE;
    if (b->recs.err != GREGOR_OK)
        return b->recs.err;
    if (header_cnt > 0 && b->magic != PROTO_MAGIC_V2)
        return GREGOR_ERR_UNSUPPORTED;
    for (size_t i = 0; i < header_cnt; i++)
        if (buf_slice_is_null(headers[i].key))
            return GREGOR_ERR_INVALID_ARG;
    if (b->count == INT32_MAX)
        return GREGOR_ERR_TOO_LARGE;

    size_t need;
    int64_t base_ts = b->count == 0 ? timestamp : b->base_ts;
    int64_t ts_delta = (int64_t)((uint64_t)timestamp - (uint64_t)base_ts);
    if (b->magic == PROTO_MAGIC_V2) {
        need = proto_v2_record_size(ts_delta, b->count, key, value, headers, header_cnt);
        if (b->count == 0)
            need += PROTO_V2_HEADER_LEN;
    } else {
        need = proto_legacy_size(b->magic, key, value);
    }
    /* Checked before writing so a record that does not fit leaves the
     * batch intact for the caller to finish. */
    if (need > b->recs.max - b->recs.len)
        return GREGOR_ERR_TOO_LARGE;
    if (!buf_writer_reserve(&b->recs, need))
        return b->recs.err;

    if (b->magic == PROTO_MAGIC_V2) {
        if (b->count == 0)
            (void)buf_write_slot(&b->recs, PROTO_V2_HEADER_LEN);
        size_t size = need - (b->count == 0 ? PROTO_V2_HEADER_LEN : 0);
        proto_v2_record_write(&b->recs, size, ts_delta, b->count, key, value, headers, header_cnt);
    } else {
        proto_legacy_write(&b->recs, b->magic, b->count, 0, timestamp, key, value);
    }
    if (b->recs.err != GREGOR_OK)
        return b->recs.err;
    b->base_ts = base_ts;
    if (b->count == 0 || timestamp > b->max_ts)
        b->max_ts = timestamp;
    b->count++;
    return GREGOR_OK;
}

static void v2_header_of(const proto_batch *b, proto_codec codec, proto_v2_header *h)
{
    h->base_offset = 0;
    h->leader_epoch = -1;
    h->attrs = (int16_t)(codec | (b->transactional ? PROTO_ATTR_TRANSACTIONAL : 0));
    h->last_offset_delta = b->count - 1;
    h->base_ts = b->base_ts;
    h->max_ts = b->max_ts;
    h->producer_id = b->producer_id;
    h->producer_epoch = b->producer_epoch;
    h->base_sequence = b->base_sequence;
    h->count = b->count;
}

/* Fills `z` with the compressed form unless it already holds it. */
static gregor_err compress_once(proto_batch *b, proto_codec codec, int level)
{
    if (b->z_codec == codec && b->z_level == level)
        return GREGOR_OK;
    buf_writer_reset(&b->z);
    b->z_codec = PROTO_CODEC_NONE;
    gregor_err err;
    if (b->magic == PROTO_MAGIC_V2) {
        (void)buf_write_slot(&b->z, PROTO_V2_HEADER_LEN);
        err = proto_compress(codec, PROTO_MAGIC_V2, level, b->recs.data + PROTO_V2_HEADER_LEN,
                             b->recs.len - PROTO_V2_HEADER_LEN, &b->z);
    } else {
        err = proto_legacy_write_wrapper(&b->z, b->magic, b->count - 1, b->max_ts, codec, level,
                                         b->recs.data, b->recs.len);
    }
    if (err != GREGOR_OK) {
        buf_writer_reset(&b->z);
        return err;
    }
    b->z_codec = codec;
    b->z_level = level;
    return GREGOR_OK;
}

gregor_err proto_batch_finish(proto_batch *b, proto_codec codec, int level, buf_slice *out)
{
    if (b->count == 0)
        return GREGOR_ERR_STATE;
    if ((unsigned)codec > PROTO_CODEC_MAX)
        return GREGOR_ERR_INVALID_ARG;
    if (codec == PROTO_CODEC_ZSTD && b->magic < PROTO_MAGIC_V2)
        return GREGOR_ERR_UNSUPPORTED;
    if (b->recs.err != GREGOR_OK)
        return b->recs.err;

    buf_writer *w = &b->recs;
    if (codec != PROTO_CODEC_NONE) {
        gregor_err err = compress_once(b, codec, level);
        if (err != GREGOR_OK)
            return err;
        w = &b->z;
    }
    if (b->magic == PROTO_MAGIC_V2) {
        proto_v2_header h;
        v2_header_of(b, codec, &h);
        proto_v2_header_write(w->data, w->len, &h);
    }
    b->finished = true;
    *out = (buf_slice){w->data, (int32_t)w->len};
    return GREGOR_OK;
}
