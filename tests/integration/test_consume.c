/* Integration: the consumer against a Kafka 4.x broker (GREGOR_TEST_KAFKA1),
 * with kcat (librdkafka) as the independent producer.
 *
 * - codecs: for none, gzip, snappy, lz4 and zstd, kcat produces 100,000
 *   messages in three runs (headers; -Z null keys and tombstones; empty
 *   keys and values) and gregor reads them back: identical bytes, null
 *   versus empty preserved, offsets contiguous from 0; with a small
 *   max_partition_fetch_bytes, so responses end in partial batches; then a
 *   seek into the middle of a compressed batch starts exactly there.
 * - positions: pause holds a partition back, resume returns it, seek moves
 *   it, position / high watermark / lag agree.
 * - start at a timestamp (ListOffsets v1+).
 * - out of range: auto_offset_reset=error names topic, partition and offset;
 *   earliest resets to the log start.
 * - idle: 10 s of polling an idle topic costs near-zero CPU (getrusage).
 */
#include <sys/resource.h>

#include "test_consume_util.h"

#define N_MSGS 100000
#define SEG_B 60000 /* [0, SEG_B) with headers; [SEG_B, SEG_C) with -Z; the rest plain */
#define SEG_C 80000

static const char *bootstrap(void) { return tu_env_required("GREGOR_TEST_KAFKA1"); }
static const char *cluster(void) { return tc_cluster_name("GREGOR_TEST_KAFKA1_NAME", "kafka1"); }

/* The i-th message as kcat is given it; null flags for the -Z segment. */
static void expected(int i, char *key, int *klen, char *val, int *vlen)
{
    *klen = sprintf(key, "k%d", i);
    *vlen = sprintf(val, "value-%d-%.*s", i, i % 40, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
    if (i >= SEG_B && i < SEG_C) {
        if (i % 4 == 0)
            *klen = -1, key[0] = 0;
        if (i % 5 == 0)
            *vlen = -1, val[0] = 0;
    } else if (i >= SEG_C) {
        if (i % 7 == 0)
            *klen = 0, key[0] = 0;
        if (i % 3 == 0)
            *vlen = 0, val[0] = 0;
    }
}

static void write_segment(const char *path, int from, int to)
{
    FILE *f = fopen(path, "w");
    cr_assert(f);
    for (int i = from; i < to; i++) {
        char k[32], v[128];
        int kl, vl;
        expected(i, k, &kl, v, &vl);
        fprintf(f, "%s:%s\n", k, v);
    }
    fclose(f);
}

static void kcat_produce(const char *topic, const char *codec, const char *path, const char *extra)
{
    tc_sh("kcat -P -q -b %s -t %s -p 0 -K: -X compression.codec=%s -X linger.ms=20 %s < %s", bootstrap(), topic,
          codec, extra, path);
}

static void check_message(const gregor_message *m, int64_t i)
{
    char key[32], val[128];
    int klen, vlen;
    expected((int)i, key, &klen, val, &vlen);
    cr_assert_eq(m->offset, i, "offset %lld, expected %lld", (long long)m->offset, (long long)i);
    cr_assert_eq(m->key_len, klen, "offset %lld: key length %d, expected %d", (long long)i, m->key_len, klen);
    cr_assert_eq(m->value_len, vlen, "offset %lld: value length %d, expected %d", (long long)i, m->value_len, vlen);
    cr_assert_eq(m->key == NULL, klen < 0);
    cr_assert_eq(m->value == NULL, vlen < 0);
    if (klen > 0)
        cr_assert(!memcmp(m->key, key, (size_t)klen), "offset %lld: key differs", (long long)i);
    if (vlen > 0)
        cr_assert(!memcmp(m->value, val, (size_t)vlen), "offset %lld: value differs", (long long)i);
    if (i < SEG_B) {
        cr_assert_eq(m->header_count, 2, "offset %lld: %zu headers", (long long)i, m->header_count);
        cr_assert(m->headers[0].key_len == 1 && !memcmp(m->headers[0].key, "a", 1));
        cr_assert(m->headers[0].value_len == 1 && !memcmp(m->headers[0].value, "1", 1));
        cr_assert(m->headers[1].key_len == 5 && !memcmp(m->headers[1].key, "trace", 5));
        cr_assert(m->headers[1].value_len == 4 && !memcmp(m->headers[1].value, "t-42", 4));
    } else {
        cr_assert_eq(m->header_count, 0);
    }
    cr_assert(m->timestamp_ms > 1600000000000LL);
}

/* Polls until `count` messages from `from` have been checked. */
static void read_all(gregor_consumer *c, const char *topic, int64_t from, int64_t count)
{
    int64_t next = from;
    double deadline = tc_now_s() + 60;
    while (next < from + count) {
        gregor_batch *b;
        char err[256];
        cr_assert_eq(gregor_consumer_poll(c, 1000, &b, err, sizeof err), GREGOR_OK, "%s", err);
        cr_assert(tc_now_s() < deadline, "%s: stuck at offset %lld", topic, (long long)next);
        for (size_t i = 0; i < gregor_batch_count(b); i++) {
            const gregor_message *m = gregor_batch_message(b, i);
            cr_assert_str_eq(m->topic, topic);
            cr_assert_eq(m->partition, 0);
            check_message(m, next++);
        }
        gregor_batch_destroy(b);
    }
}

Test(consume, every_codec_identical_bytes, .timeout = 300)
{
    static const char *codecs[] = {"none", "gzip", "snappy", "lz4", "zstd"};
    char dir[] = "/tmp/gregor-consume-XXXXXX";
    cr_assert(mkdtemp(dir));
    char a[128], bz[128], cz[128];
    snprintf(a, sizeof a, "%s/a", dir);
    snprintf(bz, sizeof bz, "%s/b", dir);
    snprintf(cz, sizeof cz, "%s/c", dir);
    write_segment(a, 0, SEG_B);
    write_segment(bz, SEG_B, SEG_C);
    write_segment(cz, SEG_C, N_MSGS);
    for (size_t k = 0; k < sizeof codecs / sizeof codecs[0]; k++) {
        char topic[128], prefix[64];
        snprintf(prefix, sizeof prefix, "consume-%s", codecs[k]);
        tc_topic(topic, sizeof topic, prefix);
        tc_create_topic(cluster(), topic, 1, 1);
        kcat_produce(topic, codecs[k], a, "-H a=1 -H trace=t-42");
        kcat_produce(topic, codecs[k], bz, "-Z");
        kcat_produce(topic, codecs[k], cz, "");

        const char *kv[] = {"max_partition_fetch_bytes=65536", NULL};
        gregor_consumer *c = tc_consumer(bootstrap(), kv);
        char err[256];
        cr_assert_eq(gregor_consumer_assign(c, topic, 0, GREGOR_OFFSET_BEGINNING, 0, err, sizeof err), GREGOR_OK,
                     "%s", err);
        double t0 = tc_now_s();
        read_all(c, topic, 0, N_MSGS);
        cr_log_info("%s: %d messages in %.2f s", codecs[k], N_MSGS, tc_now_s() - t0);
        gregor_partition_state st;
        cr_assert_eq(gregor_consumer_position(c, topic, 0, &st), GREGOR_OK);
        cr_assert_eq(st.position, N_MSGS);
        cr_assert_eq(st.high_watermark, N_MSGS);
        cr_assert_eq(st.lag, 0);

        /* Into the middle of a (compressed) batch. */
        cr_assert_eq(gregor_consumer_seek(c, topic, 0, 12345, 0, err, sizeof err), GREGOR_OK, "%s", err);
        read_all(c, topic, 12345, 100);
        gregor_consumer_destroy(c);
    }
    tc_sh("rm -rf %s", dir);
}

static void produce_lines(const char *topic, int from, int to)
{
    char path[] = "/tmp/gregor-lines-XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    FILE *f = fdopen(fd, "w");
    for (int i = from; i < to; i++)
        fprintf(f, "k%d:v%d\n", i, i);
    fclose(f);
    tc_sh("kcat -P -q -b %s -t %s -p 0 -K: -X batch.num.messages=10 < %s", bootstrap(), topic, path);
    unlink(path);
}

static const gregor_message *first_message(gregor_consumer *c, gregor_batch **b, int32_t timeout_ms)
{
    char err[256];
    int64_t deadline = (int64_t)(tc_now_s() * 1000) + timeout_ms;
    while ((int64_t)(tc_now_s() * 1000) < deadline) {
        cr_assert_eq(gregor_consumer_poll(c, 200, b, err, sizeof err), GREGOR_OK, "%s", err);
        if (*b)
            return gregor_batch_message(*b, 0);
    }
    return NULL;
}

Test(consume, pause_resume_seek_position, .timeout = 120)
{
    char topic[128], err[256];
    tc_topic(topic, sizeof topic, "consume-pos");
    tc_create_topic(cluster(), topic, 1, 1);
    produce_lines(topic, 0, 1000);
    const char *kv[] = {"max_partition_fetch_bytes=1024", NULL}; /* several fetches */
    gregor_consumer *c = tc_consumer(bootstrap(), kv);
    cr_assert_eq(gregor_consumer_assign(c, topic, 0, GREGOR_OFFSET_BEGINNING, 0, err, sizeof err), GREGOR_OK, "%s",
                 err);
    gregor_batch *b;
    const gregor_message *m = first_message(c, &b, 10000);
    cr_assert(m && m->offset == 0);
    int64_t last = gregor_batch_message(b, gregor_batch_count(b) - 1)->offset;
    gregor_batch_destroy(b);
    gregor_partition_state st;
    cr_assert_eq(gregor_consumer_position(c, topic, 0, &st), GREGOR_OK);
    cr_assert_eq(st.position, last + 1);
    cr_assert_eq(st.high_watermark, 1000);
    cr_assert_eq(st.lag, 1000 - (last + 1));

    cr_assert_eq(gregor_consumer_pause(c, topic, 0), GREGOR_OK);
    cr_assert_eq(gregor_consumer_poll(c, 700, &b, err, sizeof err), GREGOR_OK);
    cr_assert_null(b, "a paused partition returned messages");
    cr_assert_eq(gregor_consumer_resume(c, topic, 0), GREGOR_OK);
    m = first_message(c, &b, 10000);
    cr_assert(m && m->offset == last + 1, "after resume: %lld", m ? (long long)m->offset : -1LL);
    gregor_batch_destroy(b);

    cr_assert_eq(gregor_consumer_seek(c, topic, 0, 500, 0, err, sizeof err), GREGOR_OK, "%s", err);
    m = first_message(c, &b, 10000);
    cr_assert(m && m->offset == 500);
    cr_assert(m->key_len == 4 && !memcmp(m->key, "k500", 4));
    gregor_batch_destroy(b);

    cr_assert_eq(gregor_consumer_seek(c, topic, 0, GREGOR_OFFSET_END, 0, err, sizeof err), GREGOR_OK, "%s", err);
    cr_assert_eq(gregor_consumer_poll(c, 1000, &b, err, sizeof err), GREGOR_OK);
    cr_assert_null(b);
    cr_assert_eq(gregor_consumer_position(c, topic, 0, &st), GREGOR_OK);
    cr_assert_eq(st.position, 1000);
    produce_lines(topic, 1000, 1001);
    m = first_message(c, &b, 10000);
    cr_assert(m && m->offset == 1000);
    gregor_batch_destroy(b);
    cr_assert_eq(gregor_consumer_seek(c, "no-such-assignment", 0, 0, 0, err, sizeof err), GREGOR_ERR_UNKNOWN_TOPIC);
    gregor_consumer_destroy(c);
}

Test(consume, start_at_timestamp, .timeout = 120)
{
    char topic[128], err[256];
    tc_topic(topic, sizeof topic, "consume-ts");
    tc_create_topic(cluster(), topic, 1, 1);
    produce_lines(topic, 0, 10);
    usleep(50 * 1000);
    produce_lines(topic, 10, 20);
    gregor_consumer *c = tc_consumer(bootstrap(), NULL);
    cr_assert_eq(gregor_consumer_assign(c, topic, 0, 10, 0, err, sizeof err), GREGOR_OK, "%s", err);
    gregor_batch *b;
    const gregor_message *m = first_message(c, &b, 10000);
    cr_assert(m && m->offset == 10);
    int64_t ts = m->timestamp_ms;
    gregor_batch_destroy(b);
    cr_assert_eq(gregor_consumer_seek(c, topic, 0, GREGOR_OFFSET_TIMESTAMP, ts, err, sizeof err), GREGOR_OK);
    m = first_message(c, &b, 10000);
    cr_assert(m && m->offset <= 10 && m->timestamp_ms >= ts);
    gregor_batch_destroy(b);
    /* After the last message: the end. */
    cr_assert_eq(gregor_consumer_seek(c, topic, 0, GREGOR_OFFSET_TIMESTAMP, ts + 3600000, err, sizeof err),
                 GREGOR_OK);
    cr_assert_eq(gregor_consumer_poll(c, 1000, &b, err, sizeof err), GREGOR_OK);
    cr_assert_null(b);
    gregor_partition_state st;
    cr_assert_eq(gregor_consumer_position(c, topic, 0, &st), GREGOR_OK);
    cr_assert_eq(st.position, 20);
    gregor_consumer_destroy(c);
}

Test(consume, out_of_range, .timeout = 120)
{
    char topic[128], err[256];
    tc_topic(topic, sizeof topic, "consume-oor");
    tc_create_topic(cluster(), topic, 1, 1);
    produce_lines(topic, 0, 10);

    const char *kv_err[] = {"auto_offset_reset=error", NULL};
    gregor_consumer *c = tc_consumer(bootstrap(), kv_err);
    cr_assert_eq(gregor_consumer_assign(c, topic, 0, 1000000, 0, err, sizeof err), GREGOR_OK, "%s", err);
    gregor_batch *b = NULL;
    gregor_err e = GREGOR_OK;
    for (int i = 0; i < 50 && e == GREGOR_OK; i++)
        e = gregor_consumer_poll(c, 200, &b, err, sizeof err);
    cr_assert_eq(e, 1, "OFFSET_OUT_OF_RANGE expected, got %s", gregor_err_name(e));
    cr_assert_null(b);
    cr_assert(strstr(err, topic) && strstr(err, "partition 0") && strstr(err, "1000000"), "errstr: %s", err);
    cr_log_info("out of range: %s", err);
    /* Reported once; the partition waits for a seek. */
    cr_assert_eq(gregor_consumer_poll(c, 300, &b, err, sizeof err), GREGOR_OK);
    cr_assert_eq(gregor_consumer_seek(c, topic, 0, 5, 0, err, sizeof err), GREGOR_OK);
    const gregor_message *m = first_message(c, &b, 10000);
    cr_assert(m && m->offset == 5);
    gregor_batch_destroy(b);
    gregor_consumer_destroy(c);

    const char *kv_early[] = {"auto_offset_reset=earliest", NULL};
    c = tc_consumer(bootstrap(), kv_early);
    cr_assert_eq(gregor_consumer_assign(c, topic, 0, 1000000, 0, err, sizeof err), GREGOR_OK, "%s", err);
    m = first_message(c, &b, 10000);
    cr_assert(m && m->offset == 0);
    gregor_batch_destroy(b);
    gregor_consumer_destroy(c);
}

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           (double)ru.ru_stime.tv_usec / 1e6;
}

Test(consume, idle_costs_no_cpu, .timeout = 120)
{
    char topic[128], err[256];
    tc_topic(topic, sizeof topic, "consume-idle");
    tc_create_topic(cluster(), topic, 1, 1);
    gregor_consumer *c = tc_consumer(bootstrap(), NULL);
    cr_assert_eq(gregor_consumer_assign(c, topic, 0, GREGOR_OFFSET_END, 0, err, sizeof err), GREGOR_OK, "%s", err);
    gregor_batch *b;
    cr_assert_eq(gregor_consumer_poll(c, 1000, &b, err, sizeof err), GREGOR_OK); /* settled */
    cr_assert_null(b);
    double cpu0 = cpu_s(), t0 = tc_now_s();
    while (tc_now_s() - t0 < 10) {
        cr_assert_eq(gregor_consumer_poll(c, 1000, &b, err, sizeof err), GREGOR_OK);
        cr_assert_null(b);
    }
    double used = cpu_s() - cpu0;
    cr_log_info("idle: %.3f s CPU over %.1f s", used, tc_now_s() - t0);
    cr_assert_lt(used, 0.2, "%.3f s of CPU while idle for 10 s", used);
    gregor_consumer_destroy(c);
}
