/* Fuzz target: every codec's decompressor (protocol/compress_*.c) with both
 * lz4 header-checksum rules (magic 0 and 1), a small output limit and a
 * writer that already holds bytes. A result must be OK within the limit, or
 * an error with the writer restored. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/compress.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define LIMIT ((size_t)256 << 10)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    buf_writer w;
    buf_writer_init(&w, LIMIT + 16);
    for (int codec = PROTO_CODEC_GZIP; codec <= PROTO_CODEC_ZSTD; codec++) {
        for (int magic = 0; magic <= 1; magic++) {
            if (magic == 1 && codec != PROTO_CODEC_LZ4)
                continue; /* only lz4 depends on the magic */
            buf_writer_reset(&w);
            buf_write_raw(&w, "prefix", 6);
            gregor_err err = proto_decompress((proto_codec)codec, magic, data, size, LIMIT, &w);
            if (err == GREGOR_OK) {
                if (w.len - 6 > LIMIT)
                    abort();
                uint8_t acc = 0;
                for (size_t i = 0; i < w.len; i++)
                    acc ^= w.data[i];
                (void)acc;
            } else if (w.len != 6 || memcmp(w.data, "prefix", 6) != 0) {
                abort();
            }
        }
    }
    buf_writer_fini(&w);
    return 0;
}
