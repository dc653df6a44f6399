/* Fuzz target: the record reader (protocol/record_reader.c and the format
 * parsers under it) over arbitrary bytes, as a Fetch response's records
 * field. Each input is read twice: with CRC checks (the default path) and
 * without them with a min_offset, so mutated bytes reach the record and
 * message parsers instead of stopping at a CRC. Every byte of every yielded
 * key, value and header is touched so ASan sees any view outside the input
 * or the decompression buffer. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "protocol/records.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile uint8_t sink;

static void touch(buf_slice s)
{
    uint8_t acc = 0;
    for (int32_t i = 0; i < s.len; i++)
        acc ^= s.ptr[i];
    sink ^= acc;
}

static void read_all(const uint8_t *data, size_t size, const proto_reader_opts *opts)
{
    proto_record_reader r;
    proto_record_reader_init(&r, data, size, opts);
    proto_record rec;
    bool got;
    gregor_err err;
    while ((err = proto_record_reader_next(&r, &rec, &got)) == GREGOR_OK && got) {
        touch(rec.key);
        touch(rec.value);
        proto_header_iter it;
        proto_header h;
        proto_header_iter_init(&it, &rec);
        int32_t n = 0;
        while (proto_header_iter_next(&it, &h)) {
            touch(h.key);
            touch(h.value);
            n++;
        }
        if (n != rec.header_count)
            abort(); /* the reader validated the headers it announced */
        if (rec.offset < opts->min_offset)
            abort();
    }
    if (r.consumed > size || (err != GREGOR_OK && r.what == NULL))
        abort();
    if (err == GREGOR_OK && r.next_offset < opts->min_offset)
        abort();
    proto_record_reader_fini(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    proto_reader_opts checked = {.decompress_max_bytes = 1 << 20};
    read_all(data, size, &checked);
    proto_reader_opts unchecked = {
        .skip_crc = true, .min_offset = 2, .decompress_max_bytes = 64 << 10};
    read_all(data, size, &unchecked);
    return 0;
}
