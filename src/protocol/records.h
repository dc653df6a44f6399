/* protocol/records.h — Kafka's record formats: reading a Fetch response's
 * records and building the records of a Produce request.
 *
 * Three formats exist (NOTES §2), told apart by the magic byte at offset 16
 * of every entry:
 *   magic 0  MessageSet v0 (0.8-0.9): [offset][size][crc32][magic][attrs]
 *            [key][value]; compression wraps a whole inner message set in
 *            the value of one "wrapper" message; inner offsets absolute.
 *   magic 1  MessageSet v1 (0.10): v0 plus a timestamp; inner offsets are
 *            relative and the wrapper carries the offset of the last one.
 *   magic 2  RecordBatch v2 (0.11+): a 61-byte batch header guarded by
 *            CRC-32C, then varint-encoded records with headers; only the
 *            records section is compressed.
 *
 * Reading: proto_record_reader walks the bytes of one partition's `records`
 * field record by record, across formats mixed in one response. It never
 * reads outside the input, never allocates more than one decompression
 * buffer (bounded by `decompress_max_bytes`), and treats a partial trailing
 * entry as the normal end of the input. Key, value and header bytes are
 * views, not copies (see proto_record for how long they stay valid).
 *
 * Writing: proto_batch accumulates records for one partition in the
 * encoding of the chosen magic and, on finish, compresses and back-patches
 * lengths and CRCs, producing exactly the bytes of a Produce request's
 * `records` field for that partition.
 *
 * Threading: a reader or a builder belongs to one thread at a time; the
 * functions are otherwise pure (no I/O, no globals).
 */
#ifndef GREGOR_PROTOCOL_RECORDS_H
#define GREGOR_PROTOCOL_RECORDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gregor/error.h"
#include "protocol/compress.h"
#include "util/buf.h"

/* ------------------------------------------------------------ constants */

#define PROTO_MAGIC_V0 0
#define PROTO_MAGIC_V1 1
#define PROTO_MAGIC_V2 2

#define PROTO_LOG_OVERHEAD 12         /* offset int64 + size int32 before every entry */
#define PROTO_MAGIC_OFFSET 16         /* where the magic byte sits in every entry */
#define PROTO_V0_MESSAGE_MIN 14       /* smallest v0 message (after the 12 bytes) */
#define PROTO_V1_MESSAGE_MIN 22       /* smallest v1 message */
#define PROTO_V2_HEADER_LEN 61        /* RecordBatch header up to the records */
#define PROTO_V2_CRC_OFFSET 17        /* CRC-32C field; covers [21, end) */
#define PROTO_V2_ATTR_OFFSET 21

/* Attribute bits (v2 int16; v0/v1 int8 use the codec and timestamp bits). */
#define PROTO_ATTR_CODEC_MASK 0x07
#define PROTO_ATTR_LOG_APPEND_TIME 0x08
#define PROTO_ATTR_TRANSACTIONAL 0x10
#define PROTO_ATTR_CONTROL 0x20
#define PROTO_ATTR_DELETE_HORIZON 0x40

/* Control record types (the int16 at offset 2 of a control record's key). */
#define PROTO_CONTROL_ABORT 0
#define PROTO_CONTROL_COMMIT 1

#define PROTO_DECOMPRESS_MAX_DEFAULT ((size_t)64 << 20)

typedef enum proto_ts_type {
    PROTO_TS_NONE = -1,      /* magic 0: no timestamps */
    PROTO_TS_CREATE = 0,     /* set by the producer */
    PROTO_TS_LOG_APPEND = 1  /* set by the broker when it appended */
} proto_ts_type;

/* One record header; `key` is never null, `value` may be (len -1). */
typedef struct proto_header {
    buf_slice key;
    buf_slice value;
} proto_header;

/* ---------------------------------------------------------------- reader */

/* A record as the reader yields it. The slices point into the reader's
 * input when the record's batch is uncompressed (codec NONE), and into the
 * reader's decompression buffer otherwise; the latter stay valid until the
 * reader decompresses another batch or is finalized. */
typedef struct proto_record {
    int64_t offset;
    int64_t timestamp;            /* ms since the epoch; -1 when absent (v0) */
    proto_ts_type timestamp_type;
    buf_slice key;                /* len -1: null key */
    buf_slice value;              /* len -1: null value (a tombstone) */
    int32_t header_count;         /* v2 only; 0 for v0/v1 */
    buf_slice headers;            /* encoded headers; use proto_header_iter */
    int8_t magic;
    proto_codec codec;            /* of the batch (v2) or wrapper (v0/v1) */
    bool is_control;              /* v2 control batch: never for the application */
    bool is_transactional;
    int16_t control_type;         /* PROTO_CONTROL_*, or -1 (not control / unknown key) */
    int64_t producer_id;          /* -1 when none (always for v0/v1) */
    int16_t producer_epoch;       /* -1 when none */
    int32_t sequence;             /* baseSequence + offsetDelta (wrapping), or -1 */
    int32_t leader_epoch;         /* partitionLeaderEpoch, -1 when none (v0/v1) */
    int64_t batch_base_offset;    /* first and last offset of the enclosing batch */
    int64_t batch_last_offset;    /*   (v0/v1: the message or wrapper) */
} proto_record;

typedef struct proto_reader_opts {
    int64_t min_offset;           /* records below this offset are skipped */
    bool skip_crc;                /* false (the default): verify every CRC */
    size_t decompress_max_bytes;  /* per batch; 0 = PROTO_DECOMPRESS_MAX_DEFAULT */
} proto_reader_opts;

/* The iterator. Fields above `private` may be read by the caller. */
typedef struct proto_record_reader {
    /* Bytes of the input taken by complete entries so far. At the end, a
     * caller that fetched `len` bytes can tell a partial trailing entry
     * from nothing by consumed < len. */
    size_t consumed;
    /* The offset to fetch next: one past the last record, empty batch or
     * skipped batch fully read; starts at opts.min_offset. */
    int64_t next_offset;
    /* When the input ended in a partial entry whose size field was in the
     * input: 12 + that size (what a fetch must return to hold it whole);
     * otherwise 0. */
    size_t partial_size;
    /* Sticky error: GREGOR_OK until the first failure. `what` is a static
     * description; `err_offset` the offset of the entry or batch at fault. */
    gregor_err err;
    const char *what;
    int64_t err_offset;

    /* private */
    const uint8_t *data;
    size_t len;
    proto_reader_opts opts;
    int state;
    buf_reader inner;             /* records of the current batch or wrapper */
    int32_t records_left;         /* v2: records not yet read in the batch */
    proto_record ctx;             /* batch-level fields shared by its records */
    int64_t base_ts, max_ts;      /* v2 timestamps; v1 wrapper timestamp in max_ts */
    int64_t offset_base;          /* v1 wrapper: added to inner offsets; else 0 */
    bool log_append_time;
    buf_writer scratch;           /* decompression buffer, reused */
} proto_record_reader;

/* Starts reading `len` bytes at `data` (borrowed: must outlive the reader
 * and the records it yields). `opts` is copied; NULL means all defaults
 * (min_offset 0, CRCs checked, 64 MiB decompression limit). */
void proto_record_reader_init(proto_record_reader *r, const uint8_t *data, size_t len,
                              const proto_reader_opts *opts);

/* Frees the decompression buffer. The reader may not be used afterwards
 * (proto_record_reader_init() may reuse it). */
void proto_record_reader_fini(proto_record_reader *r);

/* Hands over the buffer that holds the decompressed records of the current
 * compressed batch (the views of its records point into it): the caller
 * owns it (free()) and may keep those views as long as it likes; the reader
 * decompresses its next batch into a new buffer. NULL when the current
 * records are views into the input (uncompressed) or the buffer was taken.
 * *bytes_out gets the buffer's allocated size (0 with NULL). */
uint8_t *proto_record_reader_take_decompressed(proto_record_reader *r, size_t *bytes_out);

/* Reads the next record at or above opts.min_offset into *rec and sets
 * *got = true, or sets *got = false at the end of the input (including a
 * partial trailing entry: see `consumed` and `partial_size`). Empty v2
 * batches and whole batches below min_offset yield nothing but advance
 * `next_offset`. Control batches' records are yielded with is_control set.
 * Errors (sticky; *got = false; r->what and r->err_offset say where):
 *   GREGOR_ERR_CRC          a v2 batch or v0/v1 message fails its CRC
 *   GREGOR_ERR_MALFORMED    a length, count or field breaks the format
 *   GREGOR_ERR_UNSUPPORTED  unknown magic (> 2) or codec
 *   GREGOR_ERR_COMPRESSION  compressed data is corrupt
 *   GREGOR_ERR_TOO_LARGE    a batch decompresses past decompress_max_bytes
 *   GREGOR_ERR_NOMEM        the decompression buffer could not grow */
GREGOR_MUST_CHECK gregor_err proto_record_reader_next(proto_record_reader *r, proto_record *rec,
                                                      bool *got);

/* Iterates a record's headers (already validated by the reader). */
typedef struct proto_header_iter {
    buf_reader r;
    int32_t left;
} proto_header_iter;

void proto_header_iter_init(proto_header_iter *it, const proto_record *rec);
/* Fills *h with the next header and returns true, or returns false at the end. */
bool proto_header_iter_next(proto_header_iter *it, proto_header *h);

/* --------------------------------------------------------------- builder */

/* Builds the records of one partition for one Produce request.
 *
 * Lifecycle: init (magic, size cap) → append... → finish (codec) → take the
 * bytes → reset to build the next batch with the same allocations, or fini.
 * v2 records are encoded as they are appended; an uncompressed v2 batch is
 * finished in place (header patched in front), a compressed one costs one
 * compression pass into a second buffer. finish may be called again after
 * proto_batch_set_producer() (a retry with a new epoch or sequence): only
 * the header and CRC are rewritten, nothing is recompressed. */
typedef struct proto_batch {
    int magic;
    size_t max_bytes;
    int32_t count;
    int64_t base_ts;
    int64_t max_ts;
    int64_t producer_id;
    int16_t producer_epoch;
    int32_t base_sequence;
    bool transactional;
    bool finished;
    proto_codec z_codec;      /* what `z` holds, when finished compressed */
    int z_level;
    buf_writer recs;          /* v2: header space + records; v0/v1: message set */
    buf_writer z;             /* compressed batch (v2) or wrapper message (v0/v1) */
} proto_batch;

/* Prepares an empty batch in `magic` (0, 1 or 2) whose uncompressed
 * encoding may grow to `max_bytes` (the v2 header and the v0/v1 wrapper are
 * outside that cap). No allocation happens until the first append.
 * Errors: GREGOR_ERR_INVALID_ARG for another magic or max_bytes == 0. */
GREGOR_MUST_CHECK gregor_err proto_batch_init(proto_batch *b, int magic, size_t max_bytes);

/* Frees the buffers; the batch's bytes from finish become invalid.
 * Safe on a zeroed struct. */
void proto_batch_fini(proto_batch *b);

/* Empties the batch for reuse (same magic and cap), keeping its buffers;
 * producer fields return to -1 / not transactional. */
void proto_batch_reset(proto_batch *b);

/* Sets the idempotent/transactional producer fields of a v2 batch
 * (defaults: -1, -1, -1, false). Ignored for v0/v1. */
void proto_batch_set_producer(proto_batch *b, int64_t producer_id, int16_t producer_epoch,
                              int32_t base_sequence, bool transactional);

/* An upper bound on the bytes proto_batch_append() would add for this
 * record (before compression; the v2 header included for the first one). */
size_t proto_batch_record_size(const proto_batch *b, buf_slice key, buf_slice value,
                               const proto_header *headers, size_t header_cnt);

/* Appends one record. `key`, `value` (len -1 for null) and `headers` are
 * borrowed and copied. `timestamp` is ms since the epoch (ignored by v0).
 * Errors leave the batch as it was:
 *   GREGOR_ERR_TOO_LARGE    the record does not fit under max_bytes (a new
 *                           batch is needed, or the record is too big)
 *   GREGOR_ERR_UNSUPPORTED  headers with magic 0 or 1
 *   GREGOR_ERR_INVALID_ARG  a header with a null key
 *   GREGOR_ERR_STATE        the batch is finished (reset it first)
 *   GREGOR_ERR_NOMEM */
GREGOR_MUST_CHECK gregor_err proto_batch_append(proto_batch *b, int64_t timestamp, buf_slice key,
                                                buf_slice value, const proto_header *headers,
                                                size_t header_cnt);

static inline int32_t proto_batch_count(const proto_batch *b) { return b->count; }
/* Bytes appended so far, uncompressed (including the v2 header). */
static inline size_t proto_batch_size(const proto_batch *b) { return b->recs.len; }

/* Finishes the batch with `codec` at `level` (0: the codec's default) and
 * sets *out to its bytes, owned by the batch and valid until the next
 * finish, reset or fini. Errors: GREGOR_ERR_STATE (no records),
 * GREGOR_ERR_UNSUPPORTED (zstd before magic 2), GREGOR_ERR_INVALID_ARG
 * (unknown codec or level), GREGOR_ERR_TOO_LARGE (the compressed form
 * exceeds max_bytes plus slack for framing), GREGOR_ERR_COMPRESSION,
 * GREGOR_ERR_NOMEM. On error the batch stays usable: finish may be retried
 * with another codec. */
GREGOR_MUST_CHECK gregor_err proto_batch_finish(proto_batch *b, proto_codec codec, int level,
                                                buf_slice *out);

#endif
