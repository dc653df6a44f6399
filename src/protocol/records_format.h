/* protocol/records_format.h — single-entry codecs shared by the record
 * reader (record_reader.c) and the batch builder (record_builder.c):
 * RecordBatch v2 headers and records (record_batch.c) and MessageSet v0/v1
 * messages (message_set.c). Private to the record modules.
 *
 * Parsers take a complete entry (its bytes already known to be in bounds),
 * return GREGOR_OK or an error with a static description in *what, and
 * never read outside the bytes given. Writers append through a buf_writer.
 *
 * Threading: pure functions.
 */
#ifndef GREGOR_PROTOCOL_RECORDS_FORMAT_H
#define GREGOR_PROTOCOL_RECORDS_FORMAT_H

#include "protocol/records.h"

/* ---------------------------------------------------------- RecordBatch v2 */

typedef struct proto_v2_header {
    int64_t base_offset;
    int32_t leader_epoch;
    int16_t attrs;
    int32_t last_offset_delta;
    int64_t base_ts;
    int64_t max_ts;
    int64_t producer_id;
    int16_t producer_epoch;
    int32_t base_sequence;
    int32_t count;
} proto_v2_header;

/* Parses the header of the complete batch p[0, n), n = 12 + batchLength,
 * n >= PROTO_LOG_OVERHEAD + PROTO_V0_MESSAGE_MIN and p[16] == 2. Verifies
 * the CRC-32C when `check_crc`. Errors: CRC, MALFORMED (length below the
 * header, negative count or lastOffsetDelta), UNSUPPORTED (codec > 4). */
GREGOR_MUST_CHECK gregor_err proto_v2_header_parse(const uint8_t *p, size_t n, bool check_crc,
                                                   proto_v2_header *h, const char **what);

/* Writes `h` over the first PROTO_V2_HEADER_LEN bytes of the complete batch
 * p[0, n) (records follow the header), with batchLength = n - 12, magic 2
 * and the CRC-32C of p[21, n). Precondition: n >= PROTO_V2_HEADER_LEN. */
void proto_v2_header_write(uint8_t *p, size_t n, const proto_v2_header *h);

typedef struct proto_v2_record {
    int64_t ts_delta;
    int32_t offset_delta;
    buf_slice key;
    buf_slice value;
    int32_t header_count;
    buf_slice headers;
} proto_v2_record;

/* Reads one record from `r` (a batch's records section) and validates its
 * headers. Errors: MALFORMED (a length out of range or past the record, a
 * record length that does not match its fields). `r` is left failed too. */
GREGOR_MUST_CHECK gregor_err proto_v2_record_parse(buf_reader *r, proto_v2_record *rec,
                                                   const char **what);

/* The encoded size of a record, length prefix included. */
size_t proto_v2_record_size(int64_t ts_delta, int32_t offset_delta, buf_slice key,
                            buf_slice value, const proto_header *headers, size_t header_cnt);

/* Appends a record whose size proto_v2_record_size() gave as `size`. */
void proto_v2_record_write(buf_writer *w, size_t size, int64_t ts_delta, int32_t offset_delta,
                           buf_slice key, buf_slice value, const proto_header *headers,
                           size_t header_cnt);

/* ------------------------------------------------------- MessageSet v0/v1 */

typedef struct proto_legacy_msg {
    int64_t offset;
    int8_t magic;
    int8_t attrs;
    int64_t timestamp; /* -1 for magic 0 */
    buf_slice key;
    buf_slice value;
} proto_legacy_msg;

/* Parses the complete entry p[0, n), n = 12 + MessageSize, checking the
 * CRC-32 of p[16, n) when `check_crc`. Errors: CRC, UNSUPPORTED (magic > 1),
 * MALFORMED (sizes that do not add up). */
GREGOR_MUST_CHECK gregor_err proto_legacy_parse(const uint8_t *p, size_t n, bool check_crc,
                                                proto_legacy_msg *m, const char **what);

/* Walks the framing of a decompressed inner message set p[0, n): every
 * entry must be whole. Sets *count and *last_offset (of the last entry).
 * Errors: MALFORMED (a partial or undersized entry, or no entry at all). */
GREGOR_MUST_CHECK gregor_err proto_legacy_scan(const uint8_t *p, size_t n, int32_t *count,
                                               int64_t *last_offset, const char **what);

/* The size of a whole entry (offset and size fields included). */
size_t proto_legacy_size(int magic, buf_slice key, buf_slice value);

/* Appends one whole entry with its CRC. */
void proto_legacy_write(buf_writer *w, int magic, int64_t offset, int8_t attrs, int64_t timestamp,
                        buf_slice key, buf_slice value);

/* Appends a wrapper message at `offset` whose value is the `codec`
 * compression of the inner message set p[0, n). Errors as proto_compress(). */
GREGOR_MUST_CHECK gregor_err proto_legacy_write_wrapper(buf_writer *w, int magic, int64_t offset,
                                                        int64_t timestamp, proto_codec codec,
                                                        int level, const uint8_t *p, size_t n);

#endif
