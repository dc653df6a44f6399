/* Integration: the 0.8.2 protocol path against a 3.9 broker
 * (GREGOR_TEST_KAFKA39), with kcat as the producer.
 *
 * kcat writes 100,000 messages with the old message formats (MessageSet v0
 * as for a 0.9 broker, v1 as for 0.10.0; none, gzip, snappy and lz4), and
 * gregor forced to broker_version 0.8.2 reads them with Fetch v0 (the broker
 * down-converts to MessageSet v0, compressed wrappers included) and
 * ListOffsets v0: identical bytes, contiguous offsets, no timestamps. Then
 * offsets go through ConsumerMetadata (FindCoordinator v0), OffsetCommit v1
 * and OffsetFetch v1, and a new consumer resumes at the committed offset.
 */
#include "test_consume_util.h"

#define N_RUNS 7
#define N_MSGS 100002 /* N_RUNS * PER_RUN */
#define PER_RUN (N_MSGS / N_RUNS)

static const char *bootstrap(void) { return tu_env_required("GREGOR_TEST_KAFKA39"); }
static const char *cluster(void) { return tc_cluster_name("GREGOR_TEST_KAFKA39_NAME", "kafka39"); }

static int expected(int i, char *key, char *val)
{
    sprintf(key, "k%d", i);
    return sprintf(val, "legacy-%d-%.*s", i, i % 30, "yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy");
}

Test(legacy, message_sets_v0_v1_read_with_0_8_2, .timeout = 300)
{
    static const struct {
        const char *fallback, *codec;
    } runs[N_RUNS] = {{"0.9.0", "none"},    {"0.9.0", "gzip"},   {"0.9.0", "snappy"}, {"0.10.0", "none"},
                      {"0.10.0", "gzip"}, {"0.10.0", "snappy"}, {"0.10.0", "lz4"}};
    char topic[128], err[256];
    tc_topic(topic, sizeof topic, "consume-legacy");
    tc_create_topic(cluster(), topic, 1, 1);
    char path[] = "/tmp/gregor-legacy-XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    close(fd);
    for (int r = 0; r < N_RUNS; r++) {
        FILE *f = fopen(path, "w");
        for (int i = r * PER_RUN; i < (r + 1) * PER_RUN; i++) {
            char k[32], v[96];
            expected(i, k, v);
            fprintf(f, "%s:%s\n", k, v);
        }
        fclose(f);
        tc_sh("kcat -P -q -b %s -t %s -p 0 -K: -X api.version.request=false -X broker.version.fallback=%s "
              "-X compression.codec=%s -X linger.ms=20 < %s",
              bootstrap(), topic, runs[r].fallback, runs[r].codec, path);
    }
    unlink(path);

    const char *kv[] = {"broker_version=0.8.2", "max_partition_fetch_bytes=65536", NULL};
    gregor_consumer *c = tc_consumer(bootstrap(), kv);
    cr_assert_eq(gregor_consumer_assign(c, topic, 0, GREGOR_OFFSET_BEGINNING, 0, err, sizeof err), GREGOR_OK, "%s",
                 err);
    int64_t next = 0;
    double t0 = tc_now_s();
    while (next < N_MSGS) {
        cr_assert(tc_now_s() - t0 < 120, "stuck at offset %lld", (long long)next);
        gregor_batch *b;
        cr_assert_eq(gregor_consumer_poll(c, 1000, &b, err, sizeof err), GREGOR_OK, "%s", err);
        for (size_t i = 0; i < gregor_batch_count(b); i++) {
            const gregor_message *m = gregor_batch_message(b, i);
            char k[32], v[96];
            int vl = expected((int)next, k, v);
            cr_assert_eq(m->offset, next, "offset %lld, expected %lld", (long long)m->offset, (long long)next);
            cr_assert(m->key_len == (int32_t)strlen(k) && !memcmp(m->key, k, strlen(k)), "offset %lld: key",
                      (long long)next);
            cr_assert(m->value_len == vl && !memcmp(m->value, v, (size_t)vl), "offset %lld: value", (long long)next);
            cr_assert_eq(m->timestamp_ms, -1, "Fetch v0 has no timestamps");
            cr_assert_eq(m->header_count, 0);
            next++;
        }
        gregor_batch_destroy(b);
    }
    cr_log_info("legacy: %d messages in %.2f s", N_MSGS, tc_now_s() - t0);
    gregor_partition_state st;
    cr_assert_eq(gregor_consumer_position(c, topic, 0, &st), GREGOR_OK);
    cr_assert_eq(st.high_watermark, N_MSGS);
    cr_assert_eq(gregor_consumer_seek(c, topic, 0, GREGOR_OFFSET_END, 0, err, sizeof err), GREGOR_OK);
    gregor_batch *b;
    cr_assert_eq(gregor_consumer_poll(c, 1000, &b, err, sizeof err), GREGOR_OK);
    cr_assert_null(b);
    cr_assert_eq(gregor_consumer_position(c, topic, 0, &st), GREGOR_OK);
    cr_assert_eq(st.position, N_MSGS);
    gregor_consumer_destroy(c);
}

Test(legacy, offsets_through_consumer_metadata_and_v1, .timeout = 120)
{
    char topic[128], group[160], gkv[200], err[256];
    tc_topic(topic, sizeof topic, "offsets-legacy");
    snprintf(group, sizeof group, "g-%s", topic);
    snprintf(gkv, sizeof gkv, "group_id=%s", group);
    tc_create_topic(cluster(), topic, 1, 1);
    tc_sh("seq 0 99 | sed 's/^/k:v/' | kcat -P -q -b %s -t %s -p 0 -K:", bootstrap(), topic);
    const char *kv[] = {"broker_version=0.8.2", gkv, "enable_auto_commit=false", NULL};
    gregor_consumer *c = tc_consumer(bootstrap(), kv);
    gregor_topic_offset o = {.topic = topic, .partition = 0, .offset = 61};
    cr_assert_eq(gregor_consumer_commit(c, &o, 1, "legacy", NULL, NULL, err, sizeof err), GREGOR_OK, "%s", err);
    gregor_consumer_destroy(c);

    c = tc_consumer(bootstrap(), kv);
    cr_assert_eq(gregor_consumer_assign(c, topic, 0, GREGOR_OFFSET_COMMITTED, 0, err, sizeof err), GREGOR_OK, "%s",
                 err);
    gregor_batch *b = NULL;
    double deadline = tc_now_s() + 20;
    while (!b && tc_now_s() < deadline)
        cr_assert_eq(gregor_consumer_poll(c, 500, &b, err, sizeof err), GREGOR_OK, "%s", err);
    cr_assert(b);
    cr_assert_eq(gregor_batch_message(b, 0)->offset, 61);
    gregor_batch_destroy(b);
    gregor_topic_offset back = {.topic = topic, .partition = 0};
    cr_assert_eq(gregor_consumer_committed(c, &back, 1, err, sizeof err), GREGOR_OK, "%s", err);
    cr_assert_eq(back.offset, 61);
    cr_assert_str_eq(back.metadata, "legacy");
    gregor_consumer_destroy(c);
}
