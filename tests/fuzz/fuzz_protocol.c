/* Fuzz target: every generated message decoder on arbitrary bytes.
 *
 * Input: byte 0 picks the message, byte 1 the version, the rest is the body.
 * A decode must never crash or read out of bounds, and must stay within its
 * arena limit. When it succeeds, the decoded message is encoded again and
 * that encoding must decode and re-encode to the same bytes (the codecs
 * agree with each other on everything they accept).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/gen/registry.h"

#define ARENA_LIMIT (4u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    const proto_message_info *mi = &proto_messages[data[0] % proto_messages_count];
    int span = mi->max_version - mi->min_version + 1;
    int16_t version = (int16_t)(mi->min_version + data[1] % span);
    void *m = calloc(1, mi->size), *m2 = calloc(1, mi->size);
    arena a;
    arena_init(&a, ARENA_LIMIT);
    buf_reader r;
    buf_reader_init(&r, data + 2, size - 2);
    if (mi->decode(&r, version, m, &a) == GREGOR_OK) {
        buf_writer w1, w2;
        buf_writer_init(&w1, 64u << 20);
        buf_writer_init(&w2, 64u << 20);
        if (mi->encode(&w1, version, m) == GREGOR_OK) {
            buf_reader_init(&r, w1.data, w1.len);
            if (mi->decode(&r, version, m2, &a) != GREGOR_OK)
                abort(); /* our own encoding must decode */
            if (mi->encode(&w2, version, m2) != GREGOR_OK || w1.len != w2.len ||
                (w1.len && memcmp(w1.data, w2.data, w1.len) != 0))
                abort();
        }
        buf_writer_fini(&w1);
        buf_writer_fini(&w2);
    }
    arena_fini(&a);
    free(m);
    free(m2);
    return 0;
}
