/* Integration: the producer against real brokers, read back by kcat.
 *
 * - For every codec and acks level: N keyed messages with headers (N =
 *   $GREGOR_TEST_PRODUCE_COUNT, 100000 by default) to a 4-partition topic;
 *   every message is reported delivered exactly once, and kcat reads back
 *   the same count, bytes, keys and headers, each key on the partition the
 *   Java client's murmur2 partitioner picks, in produce order within each
 *   partition, at the offsets the reports gave.
 * - A broker that never answers: every message fails with TIMED_OUT after
 *   delivery_timeout_ms, flush and destroy return, and the process's
 *   memory stays within buffer_bytes (+ a fixed allowance) while the
 *   caller keeps producing.
 * - broker_version 0.8.2 against the 3.9 broker: message sets v0 through
 *   Produce v0, read back by kcat.
 *
 * Clusters: GREGOR_TEST_KAFKA1 / GREGOR_TEST_KAFKA39 (bootstrap lists) and
 * GREGOR_TEST_KAFKA1_NAME / GREGOR_TEST_KAFKA39_NAME (their kafka-dev
 * names, "kafka1" and "kafka39" by default) to create topics.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gregor/producer.h"
#include "testutil.h"
#include "util/murmur2.h"

#define N_PARTITIONS 4

typedef struct tally {
    pthread_mutex_t lock;
    size_t delivered, failed;
    gregor_err last_err;
    int64_t *offsets;   /* per message (opaque = index + 1) */
    int32_t *partitions;
    size_t n;
    size_t dup_reports;
} tally;

static void on_delivery(const gregor_delivery *d, void *arg)
{
    tally *t = arg;
    pthread_mutex_lock(&t->lock);
    size_t i = (size_t)(uintptr_t)d->opaque;
    if (i >= 1 && i <= t->n && t->offsets) {
        if (t->offsets[i - 1] != -2)
            t->dup_reports++;
        t->offsets[i - 1] = d->err == GREGOR_OK ? d->offset : -1;
        t->partitions[i - 1] = d->partition;
    }
    if (d->err == GREGOR_OK)
        t->delivered++;
    else
        t->failed++, t->last_err = d->err;
    pthread_mutex_unlock(&t->lock);
}

static void tally_init(tally *t, size_t n)
{
    memset(t, 0, sizeof *t);
    pthread_mutex_init(&t->lock, NULL);
    t->n = n;
    if (n) {
        t->offsets = malloc(n * sizeof *t->offsets);
        t->partitions = malloc(n * sizeof *t->partitions);
        for (size_t i = 0; i < n; i++)
            t->offsets[i] = -2, t->partitions[i] = -1;
    }
}

static void tally_fini(tally *t)
{
    free(t->offsets);
    free(t->partitions);
    pthread_mutex_destroy(&t->lock);
}

static gregor_config *config_for(const char *bootstrap)
{
    gregor_config *cfg = gregor_config_new();
    char err[256];
    cr_assert_eq(gregor_config_set(cfg, "bootstrap", bootstrap, err, sizeof err), GREGOR_OK, "%s", err);
    return cfg;
}

static void set(gregor_config *cfg, const char *k, const char *v)
{
    char err[256];
    cr_assert_eq(gregor_config_set(cfg, k, v, err, sizeof err), GREGOR_OK, "%s", err);
}

static void unique_topic(char *out, size_t n, const char *what)
{
    snprintf(out, n, "producer-%s-%ld-%d", what, (long)time(NULL), (int)getpid());
}

static size_t message_count(void)
{
    return (size_t)atol(tu_env_or("GREGOR_TEST_PRODUCE_COUNT", "100000"));
}

static void key_of(size_t i, char *buf, size_t n) { snprintf(buf, n, "key-%zu", i % 997); }
static void value_of(size_t i, char *buf, size_t n)
{
    snprintf(buf, n, "value %zu: the quick brown fox jumps over the lazy dog", i);
}

/* Produces `n` keyed messages with two headers; checks the reports. */
static void produce_keyed(gregor_config *cfg, const char *topic, size_t n, tally *t)
{
    gregor_producer *p;
    char err[256];
    cr_assert_eq(gregor_producer_new(cfg, on_delivery, t, &p, err, sizeof err), GREGOR_OK, "%s", err);
    for (size_t i = 0; i < n; i++) {
        char key[32], value[128], seq[24];
        key_of(i, key, sizeof key);
        value_of(i, value, sizeof value);
        snprintf(seq, sizeof seq, "%zu", i);
        gregor_header h[2] = {{"seq", 3, seq, (int32_t)strlen(seq)}, {"origin", 6, "gregor", 6}};
        gregor_produce_message m = {.topic = topic, .partition = GREGOR_PARTITION_ANY, .key = key,
                                    .key_len = strlen(key), .value = value, .value_len = strlen(value),
                                    .headers = h, .n_headers = 2, .opaque = (void *)(uintptr_t)(i + 1)};
        gregor_err e = gregor_producer_produce(p, &m);
        cr_assert_eq(e, GREGOR_OK, "produce %zu: %s", i, gregor_err_name(e));
    }
    cr_assert_eq(gregor_producer_flush(p, 60000), GREGOR_OK, "flush timed out with %zu outstanding",
                 gregor_producer_outstanding(p));
    gregor_producer_destroy(p, 1000);
    cr_assert_eq(t->failed, 0, "%zu failed, last %s", t->failed, gregor_err_name(t->last_err));
    cr_assert_eq(t->delivered, n);
    cr_assert_eq(t->dup_reports, 0);
}

/* With acks=0 nothing says when the broker has appended the last request:
 * waits (up to 30 s) until kcat sees `n` messages. */
static void wait_for_count(const char *bootstrap, const char *topic, size_t n)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "kcat -C -b '%s' -t '%s' -o beginning -e -q -f '.\\n' 2>/dev/null | wc -l",
             bootstrap, topic);
    for (int i = 0; i < 30; i++) {
        FILE *f = popen(cmd, "r");
        size_t got = 0;
        if (f && fscanf(f, "%zu", &got) != 1)
            got = 0;
        if (f)
            pclose(f);
        if (got >= n)
            return;
        sleep(1);
    }
}

/* Reads the topic with kcat and checks it against what was produced. */
static void kcat_verify(const char *bootstrap, const char *topic, size_t n, const tally *t, bool headers,
                        bool offsets_known)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "kcat -C -b '%s' -t '%s' -o beginning -e -q -f '%%p|%%o|%%k|%%h|%%s\\n' 2>/dev/null",
             bootstrap, topic);
    FILE *f = popen(cmd, "r");
    cr_assert_not_null(f);
    char line[1024];
    size_t got = 0;
    int64_t last_seq[N_PARTITIONS] = {-1, -1, -1, -1};
    char *seen = calloc(n, 1);
    while (fgets(line, sizeof line, f)) {
        int part;
        long long off;
        line[strcspn(line, "\n")] = 0;
        char *fields[5];
        char *s = line;
        for (int k = 0; k < 5; k++) {
            fields[k] = s;
            char *bar = k < 4 ? strchr(s, '|') : NULL;
            cr_assert(k == 4 || bar, "kcat line '%s'", line);
            if (bar)
                *bar = 0, s = bar + 1;
        }
        part = atoi(fields[0]);
        off = atoll(fields[1]);
        const char *key = fields[2], *hdrs = fields[3], *value = fields[4];
        size_t seq;
        if (headers) {
            cr_assert_eq(sscanf(hdrs, "seq=%zu,origin=gregor", &seq), 1, "headers '%s'", hdrs);
        } else {
            cr_assert_eq(sscanf(value, "value %zu:", &seq), 1, "value '%s'", value);
        }
        cr_assert_lt(seq, n);
        cr_assert_eq(seen[seq], 0, "message %zu read twice", seq);
        seen[seq] = 1;
        char want_key[32], want_value[128];
        key_of(seq, want_key, sizeof want_key);
        value_of(seq, want_value, sizeof want_value);
        cr_assert_str_eq(key, want_key);
        cr_assert_str_eq(value, want_value);
        cr_assert_eq(part, murmur2_partition(want_key, strlen(want_key), N_PARTITIONS),
                     "key %s on partition %d", want_key, part);
        cr_assert_lt(part, N_PARTITIONS);
        cr_assert_gt((int64_t)seq, last_seq[part], "partition %d out of order at %zu", part, seq);
        last_seq[part] = (int64_t)seq;
        if (t && offsets_known) {
            cr_assert_eq(t->partitions[seq], part);
            cr_assert_eq(t->offsets[seq], off, "message %zu: reported offset %lld, kcat %lld", seq,
                         (long long)t->offsets[seq], off);
        }
        got++;
    }
    pclose(f);
    free(seen);
    cr_assert_eq(got, n, "kcat read %zu of %zu messages", got, n);
}

static void roundtrip(const char *codec, const char *acks)
{
    const char *bootstrap = tu_env_required("GREGOR_TEST_KAFKA1");
    char topic[128];
    char what[32];
    snprintf(what, sizeof what, "%s-%s", codec, acks);
    unique_topic(topic, sizeof topic, what);
    tu_kafka_dev("create-topic %s %s 4 1", tu_env_or("GREGOR_TEST_KAFKA1_NAME", "kafka1"), topic);
    size_t n = message_count();
    gregor_config *cfg = config_for(bootstrap);
    set(cfg, "compression", codec);
    set(cfg, "acks", acks);
    set(cfg, "block_ms", "60000");
    tally t;
    tally_init(&t, n);
    produce_keyed(cfg, topic, n, &t);
    if (!strcmp(acks, "0"))
        wait_for_count(bootstrap, topic, n);
    kcat_verify(bootstrap, topic, n, &t, true, strcmp(acks, "0") != 0);
    tally_fini(&t);
    gregor_config_destroy(cfg);
}

Test(producer, none_acks_all, .timeout = 300) { roundtrip("none", "all"); }
Test(producer, none_acks_1, .timeout = 300) { roundtrip("none", "1"); }
Test(producer, none_acks_0, .timeout = 300) { roundtrip("none", "0"); }
Test(producer, gzip_acks_all, .timeout = 300) { roundtrip("gzip", "all"); }
Test(producer, snappy_acks_1, .timeout = 300) { roundtrip("snappy", "1"); }
Test(producer, lz4_acks_all, .timeout = 300) { roundtrip("lz4", "all"); }
Test(producer, zstd_acks_1, .timeout = 300) { roundtrip("zstd", "1"); }

/* A broker that never comes: a port nobody listens on. */
static int dead_port(void)
{
    return 1 + (int)(getpid() % 1000) + 9000; /* 9001..10000: closed on the test machines */
}

static size_t rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, rss = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
            rss = 0;
        fclose(f);
    }
    return (size_t)rss * (size_t)sysconf(_SC_PAGESIZE);
}

Test(producer, broker_never_comes, .timeout = 120)
{
    char bootstrap[64];
    snprintf(bootstrap, sizeof bootstrap, "127.0.0.1:%d", dead_port());
    gregor_config *cfg = config_for(bootstrap);
    set(cfg, "delivery_timeout_ms", "2000");
    tally t;
    tally_init(&t, 0);
    gregor_producer *p;
    char err[256];
    cr_assert_eq(gregor_producer_new(cfg, on_delivery, &t, &p, err, sizeof err), GREGOR_OK, "%s", err);
    for (int i = 0; i < 100; i++) {
        gregor_produce_message m = {.topic = "nowhere", .partition = GREGOR_PARTITION_ANY, .value = "x",
                                    .value_len = 1};
        cr_assert_eq(gregor_producer_produce(p, &m), GREGOR_OK);
    }
    time_t start = time(NULL);
    cr_assert_eq(gregor_producer_flush(p, 20000), GREGOR_OK);
    cr_assert_leq(time(NULL) - start, 10);
    cr_assert_eq(t.failed, 100);
    cr_assert_eq(t.last_err, GREGOR_ERR_TIMED_OUT, "%s", gregor_err_name(t.last_err));
    /* Messages still queued at destroy are failed by it, at once. */
    for (int i = 0; i < 10; i++) {
        gregor_produce_message m = {.topic = "nowhere", .partition = 0, .value = "x", .value_len = 1};
        cr_assert_eq(gregor_producer_produce(p, &m), GREGOR_OK);
    }
    start = time(NULL);
    gregor_producer_destroy(p, 500);
    cr_assert_leq(time(NULL) - start, 5);
    cr_assert_eq(t.failed, 110);
    cr_assert_eq(t.delivered, 0);
    tally_fini(&t);
    gregor_config_destroy(cfg);
}

Test(producer, memory_bounded_without_broker, .timeout = 120)
{
    char bootstrap[64];
    snprintf(bootstrap, sizeof bootstrap, "127.0.0.1:%d", dead_port());
    gregor_config *cfg = config_for(bootstrap);
    set(cfg, "buffer_bytes", "4194304");
    set(cfg, "delivery_timeout_ms", "600000");
    tally t;
    tally_init(&t, 0);
    gregor_producer *p;
    char err[256];
    cr_assert_eq(gregor_producer_new(cfg, on_delivery, &t, &p, err, sizeof err), GREGOR_OK, "%s", err);
    size_t before = rss_bytes();
    static char value[1000];
    memset(value, 'v', sizeof value);
    size_t accepted = 0, full = 0;
    /* 200 MB offered, 4 MiB allowed. */
    for (int i = 0; i < 200000; i++) {
        gregor_produce_message m = {.topic = "nowhere", .partition = GREGOR_PARTITION_ANY, .value = value,
                                    .value_len = sizeof value};
        gregor_err e = gregor_producer_produce(p, &m);
        if (e == GREGOR_OK)
            accepted++;
        else if (e == GREGOR_ERR_QUEUE_FULL)
            full++;
        else
            cr_assert_fail("produce: %s", gregor_err_name(e));
    }
    size_t after = rss_bytes();
    fprintf(stderr, "accepted %zu, queue full %zu, RSS %zu -> %zu KiB\n", accepted, full, before >> 10, after >> 10);
    cr_assert_gt(full, 0);
    cr_assert_leq(accepted * sizeof value, (size_t)4 << 20);
    /* The allowance covers the library's fixed overhead (threads, buffers);
     * sanitizers add shadow memory of their own. */
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
    size_t allowance = (size_t)64 << 20;
#else
    size_t allowance = (size_t)12 << 20;
#endif
    cr_assert_lt(after, before + allowance, "RSS grew by %zu KiB", (after - before) >> 10);
    gregor_producer_destroy(p, 0);
    cr_assert_eq(t.failed, accepted);
    tally_fini(&t);
    gregor_config_destroy(cfg);
}

Test(producer, legacy_082_message_set_v0, .timeout = 180)
{
    const char *bootstrap = tu_env_required("GREGOR_TEST_KAFKA39");
    char topic[128];
    unique_topic(topic, sizeof topic, "legacy");
    tu_kafka_dev("create-topic %s %s 4 1", tu_env_or("GREGOR_TEST_KAFKA39_NAME", "kafka39"), topic);
    size_t n = 2000;
    gregor_config *cfg = config_for(bootstrap);
    set(cfg, "broker_version", "0.8.2");
    set(cfg, "acks", "1");
    tally t;
    tally_init(&t, n);
    gregor_producer *p;
    char err[256];
    cr_assert_eq(gregor_producer_new(cfg, on_delivery, &t, &p, err, sizeof err), GREGOR_OK, "%s", err);
    for (size_t i = 0; i < n; i++) {
        char key[32], value[128];
        key_of(i, key, sizeof key);
        value_of(i, value, sizeof value);
        gregor_produce_message m = {.topic = topic, .partition = GREGOR_PARTITION_ANY, .key = key,
                                    .key_len = strlen(key), .value = value, .value_len = strlen(value),
                                    .opaque = (void *)(uintptr_t)(i + 1)};
        cr_assert_eq(gregor_producer_produce(p, &m), GREGOR_OK);
    }
    cr_assert_eq(gregor_producer_flush(p, 60000), GREGOR_OK);
    gregor_producer_destroy(p, 1000);
    cr_assert_eq(t.failed, 0, "%zu failed, last %s", t.failed, gregor_err_name(t.last_err));
    cr_assert_eq(t.delivered, n);
    kcat_verify(bootstrap, topic, n, &t, false, true);
    tally_fini(&t);
    gregor_config_destroy(cfg);
}
