/* Integration: record batches written by gregor's record builder, sent in a
 * raw Produce request to a real broker, fetched back and read by kcat.
 *
 * For every codec: a batch of records (keys, values, a null value, headers)
 * is built, read back by our own reader before sending (same records), then
 * produced with acks=all at the highest Produce version both sides speak.
 * The broker must accept it; a Fetch at the returned offset must return the
 * same batch byte for byte (past the base offset and leader epoch, which the
 * broker assigns, under a CRC that covers everything after them), and kcat
 * (librdkafka, an independent reader) must print the same keys, values and
 * headers.
 *
 * The same with message sets v0 (broker_version 0.8.2, Produce v0 / Fetch
 * v0) against the 3.9 broker: the broker converts them, so the check there is
 * on the records, by our reader and by kcat.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client/client.h"
#include "cluster/cluster.h"
#include "protocol/gen/api.h"
#include "protocol/gen/fetch.h"
#include "protocol/gen/produce.h"
#include "protocol/records.h"
#include "testutil.h"

#define N_RECORDS 8

typedef struct raw_target {
    const char *topic;
    uint8_t topic_id[16];
    buf_slice records; /* produce: the batch */
    int64_t offset;    /* fetch: where from */
} raw_target;

static void kafka_dev(const char *args)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s %s >/dev/null", tu_env_required("GREGOR_KAFKA_DEV"), args);
    int rc = system(cmd);
    cr_assert_eq(rc, 0, "'%s' failed (%d)", cmd, rc);
}

static void record_text(int i, char *key, char *value, size_t n)
{
    snprintf(key, n, "key-%d", i);
    snprintf(value, n, "value %d: %s", i, "the quick brown fox jumps over the lazy dog, again and again");
}

/* Builds a batch of N_RECORDS; record 3 has a null value. */
static buf_slice build_batch(proto_batch *b, int magic, proto_codec codec)
{
    cr_assert_eq(proto_batch_init(b, magic, 1 << 20), GREGOR_OK);
    for (int i = 0; i < N_RECORDS; i++) {
        char key[32], value[128];
        record_text(i, key, value, sizeof key < sizeof value ? sizeof value : sizeof key);
        proto_header h[2] = {{buf_slice_of("trace", 5), buf_slice_of("t-1", 3)},
                             {buf_slice_of("n", 1), buf_slice_of(key, strlen(key))}};
        buf_slice v = i == 3 ? BUF_SLICE_NULL : buf_slice_of(value, strlen(value));
        cr_assert_eq(proto_batch_append(b, 1700000000000 + i, buf_slice_of(key, strlen(key)), v,
                                        magic == 2 ? h : NULL, magic == 2 ? 2 : 0),
                     GREGOR_OK);
    }
    buf_slice out;
    cr_assert_eq(proto_batch_finish(b, codec, 0, &out), GREGOR_OK, "finish with %s", proto_codec_name(codec));
    return out;
}

/* Reads `bytes` and checks the records are ours, starting at offset `base`. */
static void check_records(const uint8_t *bytes, size_t len, int64_t base, int magic)
{
    proto_record_reader r;
    proto_reader_opts opts = {.min_offset = base};
    proto_record_reader_init(&r, bytes, len, &opts);
    int i = 0;
    for (;;) {
        proto_record rec;
        bool got;
        gregor_err err = proto_record_reader_next(&r, &rec, &got);
        cr_assert_eq(err, GREGOR_OK, "reader: %s (%s) at offset %lld", gregor_err_name(err),
                     r.what ? r.what : "", (long long)r.err_offset);
        if (!got)
            break;
        char key[32], value[128];
        record_text(i, key, value, sizeof value);
        cr_assert_eq(rec.offset, base + i);
        cr_assert(buf_slice_eq_str(rec.key, key), "record %d: key differs", i);
        if (i == 3)
            cr_assert(buf_slice_is_null(rec.value), "record 3: null value expected");
        else
            cr_assert(buf_slice_eq_str(rec.value, value), "record %d: value differs", i);
        if (magic == 2) {
            cr_assert_eq(rec.header_count, 2);
            proto_header_iter it;
            proto_header h;
            proto_header_iter_init(&it, &rec);
            cr_assert(proto_header_iter_next(&it, &h));
            cr_assert(buf_slice_eq_str(h.key, "trace") && buf_slice_eq_str(h.value, "t-1"));
            cr_assert(proto_header_iter_next(&it, &h));
            cr_assert(buf_slice_eq_str(h.key, "n") && buf_slice_eq_str(h.value, key));
        }
        i++;
    }
    cr_assert_eq(i, N_RECORDS, "%d records read, %d expected", i, N_RECORDS);
    proto_record_reader_fini(&r);
}

static gregor_err encode_produce(buf_writer *w, int16_t version, void *opaque)
{
    raw_target *t = opaque;
    proto_produce_request m;
    proto_produce_request_init(&m);
    proto_produce_request_topic_produce_data td;
    proto_produce_request_topic_produce_data_init(&td);
    proto_produce_request_partition_produce_data pd;
    proto_produce_request_partition_produce_data_init(&pd);
    pd.index = 0;
    pd.records = t->records;
    td.name = buf_slice_of(t->topic, strlen(t->topic));
    memcpy(td.topic_id, t->topic_id, 16);
    td.partition_data = &pd;
    td.partition_data_count = 1;
    m.acks = -1;
    m.timeout_ms = 10000;
    m.topic_data = &td;
    m.topic_data_count = 1;
    return proto_produce_request_encode(w, version, &m);
}

static gregor_err encode_fetch(buf_writer *w, int16_t version, void *opaque)
{
    raw_target *t = opaque;
    proto_fetch_request m;
    proto_fetch_request_init(&m);
    proto_fetch_request_fetch_topic ft;
    proto_fetch_request_fetch_topic_init(&ft);
    proto_fetch_request_fetch_partition fp;
    proto_fetch_request_fetch_partition_init(&fp);
    fp.partition = 0;
    fp.fetch_offset = t->offset;
    fp.partition_max_bytes = 1 << 20;
    ft.topic = buf_slice_of(t->topic, strlen(t->topic));
    memcpy(ft.topic_id, t->topic_id, 16);
    ft.partitions = &fp;
    ft.partitions_count = 1;
    m.max_wait_ms = 500;
    m.min_bytes = 1;
    m.topics = &ft;
    m.topics_count = 1;
    return proto_fetch_request_encode(w, version, &m);
}

static void ignore_done(gregor_err err, net_response *resp, void *opaque)
{
    (void)err, (void)resp, (void)opaque;
}

static gregor_client *client_connect(const char *bootstrap, const char *broker_version)
{
    gregor_config *cfg = gregor_config_new();
    char err[256];
    cr_assert_eq(gregor_config_set(cfg, "bootstrap", bootstrap, err, sizeof err), GREGOR_OK, "%s", err);
    if (broker_version)
        cr_assert_eq(gregor_config_set(cfg, "broker_version", broker_version, err, sizeof err), GREGOR_OK,
                     "%s", err);
    gregor_client *c;
    cr_assert_eq(gregor_client_new(cfg, &c, err, sizeof err), GREGOR_OK, "%s", err);
    gregor_config_destroy(cfg);
    return c;
}

/* The leader of partition 0 of `topic`, and its topic id. */
static int32_t leader_of(gregor_client *c, raw_target *t)
{
    const char *names[] = {t->topic};
    cr_assert_eq(cluster_add_topics(c->cluster, names, 1), GREGOR_OK);
    for (int tries = 0; tries < 300; tries++) {
        cluster_snapshot *s = cluster_snapshot_get(c->cluster);
        const cluster_topic *ct = s ? cluster_snapshot_topic(s, t->topic) : NULL;
        const cluster_partition *p = ct ? cluster_topic_partition(ct, 0) : NULL;
        int32_t leader = p ? p->leader : -1;
        if (leader >= 0)
            memcpy(t->topic_id, ct->id, 16);
        cluster_snapshot_unref(s);
        if (leader >= 0)
            return leader;
        cluster_request_refresh(c->cluster);
        usleep(100 * 1000);
    }
    cr_assert_fail("no leader for %s", t->topic);
    return -1;
}

static int64_t produce(gregor_client *c, int32_t leader, raw_target *t, int16_t max_version)
{
    net_request req = {.api_key = PROTO_API_PRODUCE, .min_version = 0, .max_version = max_version,
                       .encode = encode_produce, .done = ignore_done, .opaque = t};
    cluster_reply reply;
    char err[256];
    cr_assert_eq(client_call_any(c, leader, &req, 15000, &reply, err, sizeof err), GREGOR_OK, "produce: %s", err);
    arena a;
    arena_init(&a, 1 << 20);
    proto_produce_response m;
    cr_assert_eq(proto_produce_response_decode(&reply.body, reply.version, &m, &a), GREGOR_OK);
    cr_assert_eq(m.responses_count, 1);
    cr_assert_eq(m.responses[0].partition_responses_count, 1);
    const proto_produce_response_partition_produce_response *p = &m.responses[0].partition_responses[0];
    cr_assert_eq(p->error_code, 0, "Produce v%d: broker error %s", reply.version,
                 gregor_err_name(gregor_err_from_broker(p->error_code)));
    int64_t base = p->base_offset;
    fprintf(stderr, "%s: Produce v%d accepted at offset %lld\n", t->topic, reply.version, (long long)base);
    arena_fini(&a);
    free(reply.frame);
    return base;
}

/* Fetches from t->offset; returns the malloc'd frame and the records' view. */
static uint8_t *fetch(gregor_client *c, int32_t leader, raw_target *t, int16_t max_version, buf_slice *records)
{
    net_request req = {.api_key = PROTO_API_FETCH, .min_version = 0, .max_version = max_version,
                       .encode = encode_fetch, .done = ignore_done, .opaque = t};
    cluster_reply reply;
    char err[256];
    cr_assert_eq(client_call_any(c, leader, &req, 15000, &reply, err, sizeof err), GREGOR_OK, "fetch: %s", err);
    arena a;
    arena_init(&a, 1 << 20);
    proto_fetch_response m;
    cr_assert_eq(proto_fetch_response_decode(&reply.body, reply.version, &m, &a), GREGOR_OK);
    cr_assert_eq(m.responses_count, 1);
    cr_assert_eq(m.responses[0].partitions_count, 1);
    const proto_fetch_response_partition_data *p = &m.responses[0].partitions[0];
    cr_assert_eq(p->error_code, 0, "Fetch v%d: broker error %d", reply.version, p->error_code);
    *records = p->records;
    fprintf(stderr, "%s: Fetch v%d returned %d bytes\n", t->topic, reply.version, p->records.len);
    arena_fini(&a);
    return reply.frame; /* records points into it */
}

/* kcat prints key|value|headers per record; compare with ours. */
static void check_with_kcat(const char *bootstrap, const char *topic, int magic)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "kcat -C -b %s -t %s -p 0 -o beginning -e -q -Z -f '%%k|%%s|%%h\\n' 2>&1", bootstrap, topic);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    char line[512];
    int i = 0;
    while (fgets(line, sizeof line, p)) {
        line[strcspn(line, "\n")] = '\0';
        char key[32], value[128], want[512];
        record_text(i, key, value, sizeof value);
        const char *v = i == 3 ? "NULL" : value; /* -Z prints NULL for a null value */
        if (magic == 2)
            snprintf(want, sizeof want, "%s|%s|trace=t-1,n=%s", key, v, key);
        else
            snprintf(want, sizeof want, "%s|%s|", key, v);
        cr_assert_str_eq(line, want, "kcat record %d of %s", i, topic);
        i++;
    }
    int rc = pclose(p);
    cr_assert_eq(rc, 0, "kcat exited %d", rc);
    cr_assert_eq(i, N_RECORDS, "kcat read %d records of %s", i, topic);
}

/* Builds a batch in `magic`, produces it with Produce <= max_produce, fetches
 * it back with Fetch <= max_fetch, in which the broker returns `read_magic`. */
static void run_codec(const char *bootstrap_env, const char *testbed, const char *broker_version, int magic,
                      proto_codec codec, int16_t max_produce, int16_t max_fetch, int read_magic)
{
    const char *bootstrap = tu_env_required(bootstrap_env);
    char topic[96], args[256];
    snprintf(topic, sizeof topic, "raw-v%d-%s-%d", magic, proto_codec_name(codec), (int)getpid());
    snprintf(args, sizeof args, "create-topic %s %s 1 1", testbed, topic);
    kafka_dev(args);

    proto_batch b;
    raw_target t = {.topic = topic};
    t.records = build_batch(&b, magic, codec);
    check_records(t.records.ptr, (size_t)t.records.len, 0, magic); /* our own reader, before sending */

    gregor_client *c = client_connect(bootstrap, broker_version);
    int32_t leader = leader_of(c, &t);
    t.offset = produce(c, leader, &t, max_produce);
    buf_slice got;
    uint8_t *frame = fetch(c, leader, &t, max_fetch, &got);
    check_records(got.ptr, (size_t)got.len, t.offset, read_magic);
    cr_assert_eq(got.len > PROTO_MAGIC_OFFSET ? got.ptr[PROTO_MAGIC_OFFSET] : -1, read_magic,
                 "fetched records are not magic %d", read_magic);
    if (magic == 2 && read_magic == 2) {
        /* Stored as sent: same length field, same bytes from the magic on
         * (the CRC covers attributes..end and must match too). */
        cr_assert_eq(got.len, t.records.len, "fetched %d bytes, produced %d", got.len, t.records.len);
        cr_assert(memcmp(got.ptr + 8, t.records.ptr + 8, 4) == 0, "batch length differs");
        cr_assert(memcmp(got.ptr + 16, t.records.ptr + 16, (size_t)t.records.len - 16) == 0,
                  "the stored batch differs from the one produced");
    }
    free(frame);
    gregor_client_destroy(c);
    proto_batch_fini(&b);
    check_with_kcat(bootstrap, topic, magic);
}

#define V2(codec) run_codec("GREGOR_TEST_KAFKA1", "kafka1", NULL, 2, codec, 13, 17, 2)
#define V0_LEGACY(codec) run_codec("GREGOR_TEST_KAFKA39", "kafka39", "0.8.2", 0, codec, 0, 0, 0)
/* Produce v2 (the only way to send magic 1) is never used with brokers that
 * take v3, so MessageSet v1 is read here as the 3.9 broker down-converts
 * a v2 batch for a Fetch v3 client. */
#define V1_READ(codec) run_codec("GREGOR_TEST_KAFKA39", "kafka39", NULL, 2, codec, 11, 3, 1)

Test(produce_raw, v2_none, .timeout = 120) { V2(PROTO_CODEC_NONE); }
Test(produce_raw, v2_gzip, .timeout = 120) { V2(PROTO_CODEC_GZIP); }
Test(produce_raw, v2_snappy, .timeout = 120) { V2(PROTO_CODEC_SNAPPY); }
Test(produce_raw, v2_lz4, .timeout = 120) { V2(PROTO_CODEC_LZ4); }
Test(produce_raw, v2_zstd, .timeout = 120) { V2(PROTO_CODEC_ZSTD); }

/* The 0.8.2 profile against the 3.9 broker: Produce v0 and Fetch v0, magic 0. */
Test(produce_raw, v0_none_legacy, .timeout = 120) { V0_LEGACY(PROTO_CODEC_NONE); }
Test(produce_raw, v0_gzip_legacy, .timeout = 120) { V0_LEGACY(PROTO_CODEC_GZIP); }
Test(produce_raw, v0_snappy_legacy, .timeout = 120) { V0_LEGACY(PROTO_CODEC_SNAPPY); }
Test(produce_raw, v0_lz4_legacy, .timeout = 120) { V0_LEGACY(PROTO_CODEC_LZ4); }

Test(produce_raw, v1_read_none, .timeout = 120) { V1_READ(PROTO_CODEC_NONE); }
Test(produce_raw, v1_read_gzip, .timeout = 120) { V1_READ(PROTO_CODEC_GZIP); }
Test(produce_raw, v1_read_lz4, .timeout = 120) { V1_READ(PROTO_CODEC_LZ4); }
