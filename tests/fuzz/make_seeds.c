/* tests/fuzz/make_seeds.c — writes the seed inputs of fuzz_fetch,
 * fuzz_metadata and fuzz_conn into CORPUS_DIR/<target>/seed_*: valid
 * answers in the input layout each target documents, built with the
 * library's own encoders, so that fuzzing starts from deep paths (records of
 * every format and codec, transactions, every Metadata version, handshakes,
 * pipelined and oversized frames) instead of having to find the framing.
 *
 *   ninja -C build/fuzz make_fuzz_seeds && build/fuzz/tests/fuzz/make_fuzz_seeds tests/fuzz/corpus
 *
 * Not run by the tests: its output is committed (and minimized with the
 * rest by scripts/test --fuzz-long).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "proto_samples.h"
#include "protocol/gen/api.h"
#include "protocol/gen/api_versions.h"
#include "protocol/gen/fetch.h"
#include "protocol/gen/metadata.h"
#include "protocol/header.h"
#include "protocol/records.h"
#include "util/crc32.h"

static const char *root;

static void die(const char *what)
{
    fprintf(stderr, "make_fuzz_seeds: %s\n", what);
    exit(1);
}

static void check(gregor_err err, const char *what)
{
    if (err != GREGOR_OK)
        die(what);
}

static void save(const char *target, const char *name, const uint8_t *p, size_t n)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", root, target);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/%s/seed_%s", root, target, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0)
        die(path);
}

/* ------------------------------------------------------------ records */

/* Sets a v2 batch's baseOffset (outside the CRC) at `at`. */
static void patch_base_offset(buf_writer *log, size_t at, int64_t base)
{
    buf_patch_i32(log, at, (int32_t)((uint64_t)base >> 32));
    buf_patch_u32(log, at + 4, (uint32_t)base);
}

/* Appends a batch (magic 0-2) of n records at `base`; pid >= 0 makes a v2
 * batch idempotent or transactional. */
static void add_batch(buf_writer *log, int magic, int64_t base, int n, int64_t pid, bool txn, proto_codec codec)
{
    proto_batch b;
    check(proto_batch_init(&b, magic, 1 << 20), "proto_batch_init");
    if (magic == 2)
        proto_batch_set_producer(&b, pid, pid >= 0 ? 0 : -1, pid >= 0 ? 0 : -1, txn);
    for (int i = 0; i < n; i++) {
        char k[16], v[64];
        int kl = snprintf(k, sizeof k, "k%d", i);
        int vl = snprintf(v, sizeof v, "value %lld of a batch", (long long)(base + i));
        proto_header h = {buf_slice_of("h", 1), buf_slice_of("x", 1)};
        check(proto_batch_append(&b, 1700000000000 + i, buf_slice_of(k, (size_t)kl), buf_slice_of(v, (size_t)vl),
                                 magic == 2 ? &h : NULL, magic == 2 ? 1 : 0),
              "proto_batch_append");
    }
    buf_slice out;
    check(proto_batch_finish(&b, codec, 0, &out), "proto_batch_finish");
    size_t at = log->len;
    buf_write_raw(log, out.ptr, (size_t)out.len);
    if (magic == 2)
        patch_base_offset(log, at, base);
    proto_batch_fini(&b);
}

/* Appends a control batch (0 ABORT, 1 COMMIT) of producer `pid`. */
static void add_marker(buf_writer *log, int64_t offset, int64_t pid, int16_t type)
{
    proto_batch b;
    check(proto_batch_init(&b, 2, 1 << 20), "proto_batch_init");
    proto_batch_set_producer(&b, pid, 0, -1, true);
    uint8_t key[4] = {0, 0, 0, (uint8_t)type}, val[6] = {0};
    check(proto_batch_append(&b, 1700000000000, buf_slice_of(key, 4), buf_slice_of(val, 6), NULL, 0),
          "proto_batch_append");
    buf_slice out;
    check(proto_batch_finish(&b, PROTO_CODEC_NONE, 0, &out), "proto_batch_finish");
    size_t at = log->len;
    buf_write_raw(log, out.ptr, (size_t)out.len);
    patch_base_offset(log, at, offset);
    log->data[at + PROTO_V2_ATTR_OFFSET + 1] |= PROTO_ATTR_CONTROL;
    buf_patch_u32(log, at + PROTO_V2_CRC_OFFSET,
                  crc32c(0, log->data + at + PROTO_V2_ATTR_OFFSET, (size_t)out.len - PROTO_V2_ATTR_OFFSET));
    proto_batch_fini(&b);
}

/* ------------------------------------------------------------- fetch */

static void fetch_seed(const char *name, int16_t version, uint8_t opts, const buf_writer *log,
                       const proto_fetch_response_aborted_transaction *ab, int32_t n_ab)
{
    proto_fetch_response_partition_data pd;
    proto_fetch_response_partition_data_init(&pd);
    pd.partition_index = 0;
    pd.high_watermark = pd.last_stable_offset = 100;
    pd.log_start_offset = 0;
    pd.aborted_transactions = (proto_fetch_response_aborted_transaction *)ab;
    pd.aborted_transactions_count = version >= 4 ? n_ab : -1;
    pd.records = buf_slice_of(log->data, log->len);
    proto_fetch_response_fetchable_topic_response t;
    proto_fetch_response_fetchable_topic_response_init(&t);
    t.topic = buf_slice_of("fuzz", 4);
    t.partitions = &pd;
    t.partitions_count = 1;
    proto_fetch_response m;
    proto_fetch_response_init(&m);
    m.responses = &t;
    m.responses_count = 1;
    buf_writer w;
    buf_writer_init(&w, 1 << 20);
    buf_write_i8(&w, (int8_t)version);
    buf_write_i8(&w, (int8_t)opts);
    check(proto_fetch_response_encode(&w, version, &m), "proto_fetch_response_encode");
    save("fuzz_fetch", name, w.data, w.len);
    buf_writer_fini(&w);
}

static void fetch_seeds(void)
{
    /* A transactional log: pid 7 aborted, pid 8 committed, a plain batch
     * and a compressed one in between. */
    buf_writer txn;
    buf_writer_init(&txn, 1 << 20);
    add_batch(&txn, 2, 0, 2, 7, true, PROTO_CODEC_NONE);
    add_batch(&txn, 2, 2, 2, 8, true, PROTO_CODEC_NONE);
    add_batch(&txn, 2, 4, 3, -1, false, PROTO_CODEC_GZIP);
    add_marker(&txn, 7, 7, 0);
    add_batch(&txn, 2, 8, 2, 8, true, PROTO_CODEC_LZ4);
    add_marker(&txn, 10, 8, 1);
    add_batch(&txn, 2, 11, 3, 9, false, PROTO_CODEC_ZSTD);
    proto_fetch_response_aborted_transaction ab[] = {{7, 0}, {9, 50}};
    fetch_seed("v4_txn_committed", 4, 0x03, &txn, ab, 2);
    fetch_seed("v11_txn_from3", 11, 0x03 | (3 << 2), &txn, ab, 2);
    fetch_seed("v12_txn_uncommitted", 12, 0x02, &txn, ab, 2);

    static const proto_codec codecs[] = {PROTO_CODEC_NONE, PROTO_CODEC_GZIP, PROTO_CODEC_SNAPPY, PROTO_CODEC_LZ4};
    for (int magic = 0; magic <= 1; magic++) {
        buf_writer log;
        buf_writer_init(&log, 1 << 20);
        for (size_t c = 0; c < sizeof codecs / sizeof codecs[0]; c++)
            add_batch(&log, magic, (int64_t)(3 * c), 3, -1, false, codecs[c]);
        char name[32];
        snprintf(name, sizeof name, "v%d_magic%d", magic, magic);
        fetch_seed(name, (int16_t)magic, 0x02 | (1 << 2), &log, NULL, -1);
        buf_writer_fini(&log);
    }
    buf_writer_fini(&txn);
}

/* ---------------------------------------------------------- metadata */

/* The test suite's MetadataResponse sample (every field set), arrays from `a`. */
static void sample_metadata(proto_metadata_response *m, arena *a)
{
    proto_metadata_response_init(m);
    if (!proto_sample_fill("MetadataResponse", m, a))
        die("no MetadataResponse sample");
}

static void metadata_seeds(void)
{
    const proto_api_info *api = proto_api_get(PROTO_API_METADATA);
    for (int16_t v = api->min_version; v <= api->max_version; v++) {
        arena a;
        arena_init(&a, 1 << 20);
        proto_metadata_response m;
        sample_metadata(&m, &a);
        buf_writer w;
        buf_writer_init(&w, 1 << 20);
        buf_write_i8(&w, (int8_t)v);
        check(proto_metadata_response_encode(&w, v, &m), "proto_metadata_response_encode");
        char name[16];
        snprintf(name, sizeof name, "v%d", v);
        save("fuzz_metadata", name, w.data, w.len);
        buf_writer_fini(&w);
        arena_fini(&a);
    }
}

/* -------------------------------------------------------------- conn */

/* Appends one framed response: size, header, body. */
static void frame_metadata(buf_writer *w, int16_t version, int32_t corr, const proto_metadata_response *m)
{
    size_t slot = buf_write_slot(w, 4);
    proto_response_header_write(w, PROTO_API_METADATA, version, corr);
    check(proto_metadata_response_encode(w, version, m), "proto_metadata_response_encode");
    buf_patch_i32(w, slot, (int32_t)(w->len - slot - 4));
}

static void frame_api_versions(buf_writer *w, int16_t version, int32_t corr, int16_t error, int16_t av_max)
{
    proto_api_versions_response_api_version keys[] = {
        {PROTO_API_METADATA, 0, proto_api_get(PROTO_API_METADATA)->max_version},
        {PROTO_API_API_VERSIONS, 0, av_max},
    };
    proto_api_versions_response m;
    proto_api_versions_response_init(&m);
    m.error_code = error;
    m.api_keys = keys;
    m.api_keys_count = 2;
    size_t slot = buf_write_slot(w, 4);
    proto_response_header_write(w, PROTO_API_API_VERSIONS, version, corr);
    check(proto_api_versions_response_encode(w, version, &m), "proto_api_versions_response_encode");
    buf_patch_i32(w, slot, (int32_t)(w->len - slot - 4));
}

static void conn_seeds(void)
{
    arena a;
    arena_init(&a, 1 << 20);
    proto_metadata_response m;
    sample_metadata(&m, &a);
    int16_t md_max = proto_api_get(PROTO_API_METADATA)->max_version;
    int16_t av_max = proto_api_get(PROTO_API_API_VERSIONS)->max_version;
    buf_writer w;
    buf_writer_init(&w, 1 << 20);

    /* Fixed versions: 1, 2 and 4 pipelined requests at v0, v9 (the first
     * flexible one, header v1 with tags) and the highest. */
    static const int16_t versions[] = {0, 9, 99};
    for (size_t i = 0; i < 3; i++) {
        int16_t v = versions[i] < md_max ? versions[i] : md_max;
        for (int k = 1; k <= 4; k *= 2) {
            buf_writer_reset(&w);
            buf_write_i8(&w, (int8_t)((v << 4) | ((k - 1) << 1)));
            for (int c = 0; c < k; c++)
                frame_metadata(&w, v, c, &m);
            char name[32];
            snprintf(name, sizeof name, "fixed_v%d_x%d", v, k);
            save("fuzz_conn", name, w.data, w.len);
        }
    }
    /* Handshake, then two requests at the highest common version. */
    buf_writer_reset(&w);
    buf_write_i8(&w, 1 | (1 << 1));
    frame_api_versions(&w, av_max, 0, 0, av_max);
    frame_metadata(&w, md_max, 1, &m);
    frame_metadata(&w, md_max, 2, &m);
    save("fuzz_conn", "handshake", w.data, w.len);
    /* UNSUPPORTED_VERSION (35), answered as v0, then the retry at v2. */
    buf_writer_reset(&w);
    buf_write_i8(&w, 1);
    frame_api_versions(&w, 0, 0, 35, 2);
    frame_api_versions(&w, 2, 1, 0, 2);
    frame_metadata(&w, md_max, 2, &m);
    save("fuzz_conn", "handshake_retry", w.data, w.len);
    /* A frame larger than the connection's 64 KiB read buffer. */
    static char host[30000];
    memset(host, 'h', sizeof host);
    proto_metadata_response_broker big[3];
    for (int i = 0; i < 3; i++)
        big[i] = (proto_metadata_response_broker){i + 1, buf_slice_of(host, sizeof host), 9092, BUF_SLICE_NULL};
    proto_metadata_response bm = m;
    bm.brokers = big;
    bm.brokers_count = 3;
    buf_writer_reset(&w);
    buf_write_i8(&w, 0);
    frame_metadata(&w, 0, 0, &bm);
    save("fuzz_conn", "fixed_v0_big", w.data, w.len);
    /* A size past max_response_bytes (64 with bit 3). */
    buf_writer_reset(&w);
    buf_write_i8(&w, 8);
    frame_metadata(&w, 0, 0, &m);
    save("fuzz_conn", "fixed_v0_too_large", w.data, w.len);
    buf_writer_fini(&w);
    arena_fini(&a);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: make_fuzz_seeds CORPUS_DIR\n");
        return 2;
    }
    root = argv[1];
    fetch_seeds();
    metadata_seeds();
    conn_seeds();
    return 0;
}
