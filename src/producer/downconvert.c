/* producer/downconvert.c — a batch rewritten in an older record format.
 *
 * Batches are built in the format the configuration implies (RecordBatch
 * v2 unless broker_version names an older release). When the broker's
 * release was detected instead (a 0.8/0.9 broker that refused ApiVersions,
 * or a 0.10 one that lists Produce v2 at most), the Produce version the
 * connection chose takes an older format: the batch is read back and
 * appended record by record to a batch of that format, as the Java
 * client's sender does for a node that cannot take the newest magic.
 *
 * Expected workload: only against brokers before 0.11, once per batch (a
 * converted batch keeps its format for retries).
 */
#include "producer/producer.h"

#include "util/log.h"

gregor_err prod_batch_downconvert(const gregor_producer *p, prod_batch *b, int magic, const char **why)
{
    *why = NULL;
    if (b->rb.magic <= magic)
        return GREGOR_OK;
    proto_batch nb;
    /* v0 messages carry more overhead than v2 records: the request limit,
     * not batch_bytes, bounds the rewritten batch. */
    gregor_err err = proto_batch_init(&nb, magic, p->cfg.max_request_bytes);
    if (err != GREGOR_OK)
        return err;
    proto_record_reader rd;
    proto_record_reader_init(&rd, b->wire.ptr, (size_t)b->wire.len, NULL);
    for (;;) {
        proto_record rec;
        bool got = false;
        err = proto_record_reader_next(&rd, &rec, &got);
        if (err != GREGOR_OK) {
            *why = rd.what;
            break;
        }
        if (!got)
            break;
        if (rec.header_count > 0) {
            err = GREGOR_ERR_UNSUPPORTED;
            *why = "record headers need a broker of Apache Kafka 0.11 or later";
            break;
        }
        err = proto_batch_append(&nb, rec.timestamp, rec.key, rec.value, NULL, 0);
        if (err != GREGOR_OK) {
            *why = "the records do not fit the older format within max_request_bytes";
            break;
        }
    }
    proto_record_reader_fini(&rd);
    buf_slice wire;
    if (err == GREGOR_OK && proto_batch_count(&nb) != proto_batch_count(&b->rb)) {
        err = GREGOR_ERR_MALFORMED;
        *why = "the batch read back holds fewer records than were appended";
    }
    if (err == GREGOR_OK) {
        err = proto_batch_finish(&nb, p->cfg.codec, p->cfg.level, &wire);
        if (err == GREGOR_ERR_UNSUPPORTED)
            *why = "zstd needs a broker of Apache Kafka 2.1 or later";
    }
    if (err != GREGOR_OK) {
        proto_batch_fini(&nb);
        return err;
    }
    proto_batch_fini(&b->rb);
    b->rb = nb; /* the buffers move; `wire` points into them */
    b->wire = wire;
    return GREGOR_OK;
}
