/* Fuzz target: a whole Fetch response through the consumer's decoding, as
 * consumer/fetcher.c does it: the frame decoded as FetchResponse, then each
 * partition's records turned into a batch by chunk_build() (consumer/chunk.c)
 * with the response's aborted transactions, so record batches, message
 * sets, compressed wrappers, control batches and transaction markers all see
 * hostile bytes.
 *
 * Input: byte 0 picks the Fetch version (0..12, the consumer's range), byte 1
 * the options: bit 0 read_committed, bit 1 check_crcs, bits 2-7 the fetch
 * offset (0..63). The rest is the response body after its header.
 *
 * Checked: every message of a batch lies at or above the fetch offset, the
 * next offset lies past the last message, and every byte of every key, value
 * and header is readable after decoding is over, so ASan sees any view
 * outside the frame or the decompression buffers the batch owns. The frame
 * is the harness's own (chunk_build without a fetch_buf, as the unit tests
 * call it): the fetch_buf's refcount is not what is fuzzed here.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "consumer/consumer_int.h"
#include "protocol/gen/fetch.h"

#define FETCH_VERSIONS 13 /* v0..v12, as consumer/fetcher.c asks */
#define MAX_BATCHES 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile uint8_t sink;

static void touch(const void *p, int64_t len)
{
    const uint8_t *b = p;
    uint8_t acc = 0;
    for (int64_t i = 0; i < len; i++)
        acc ^= b[i];
    sink ^= acc;
}

static void check_batch(const gregor_batch *b, int64_t fetch_offset, int64_t next_offset)
{
    size_t n = gregor_batch_count(b);
    for (size_t i = 0; i < n; i++) {
        const gregor_message *m = gregor_batch_message(b, i);
        if (m->offset < fetch_offset || m->offset >= next_offset) {
            /* a message the consumer would deliver twice */
            fprintf(stderr, "fuzz_fetch: message %zu of %zu at offset %lld, fetched from %lld, next fetch at %lld\n",
                    i, n, (long long)m->offset, (long long)fetch_offset, (long long)next_offset);
            abort();
        }
        touch(m->topic, (int64_t)strlen(m->topic));
        touch(m->key, m->key ? m->key_len : 0);
        touch(m->value, m->value ? m->value_len : 0);
        for (size_t h = 0; h < m->header_count; h++) {
            touch(m->headers[h].key, (int64_t)m->headers[h].key_len);
            touch(m->headers[h].value, m->headers[h].value ? m->headers[h].value_len : 0);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    int16_t version = (int16_t)(data[0] % FETCH_VERSIONS);
    bool read_committed = data[1] & 1, check_crcs = data[1] & 2;
    int64_t fetch_offset = data[1] >> 2;
    /* A heap copy of exactly the frame's bytes, so ASan sees any overread. */
    size_t len = size - 2;
    uint8_t *frame = malloc(len ? len : 1);
    if (!frame)
        return 0;
    memcpy(frame, data + 2, len);
    buf_reader r;
    buf_reader_init(&r, frame, len);
    arena a;
    arena_init(&a, ARENA_DEFAULT_LIMIT);
    proto_fetch_response m;
    gregor_batch *batches[MAX_BATCHES];
    int64_t nexts[MAX_BATCHES];
    int nb = 0;
    if (proto_fetch_response_decode(&r, version, &m, &a) == GREGOR_OK) {
        for (int32_t t = 0; t < m.responses_count; t++) {
            const proto_fetch_response_fetchable_topic_response *tr = &m.responses[t];
            for (int32_t i = 0; i < tr->partitions_count && nb < MAX_BATCHES; i++) {
                const proto_fetch_response_partition_data *pd = &tr->partitions[i];
                chunk_input in = {
                    .topic = "fuzz",
                    .partition = pd->partition_index,
                    .fetch_offset = fetch_offset,
                    .records = pd->records.len > 0 ? pd->records.ptr : NULL,
                    .records_len = pd->records.len > 0 ? (size_t)pd->records.len : 0,
                    .read_committed = read_committed,
                    .check_crcs = check_crcs,
                    .aborted = pd->aborted_transactions,
                    .n_aborted = pd->aborted_transactions_count,
                };
                gregor_batch *b = NULL;
                int64_t next = fetch_offset, err_offset = fetch_offset;
                size_t partial = 0;
                const char *what = NULL;
                if (chunk_build(&in, NULL, &b, &next, &partial, &what, &err_offset) != GREGOR_OK) {
                    if (b)
                        abort(); /* an error returns no batch */
                    continue;
                }
                if (next < fetch_offset)
                    abort(); /* the consumer would fetch backwards */
                batches[nb] = b;
                nexts[nb++] = next;
            }
        }
    }
    arena_fini(&a);
    for (int i = 0; i < nb; i++) {
        check_batch(batches[i], fetch_offset, nexts[i]);
        gregor_batch_destroy(batches[i]);
    }
    free(frame);
    return 0;
}
