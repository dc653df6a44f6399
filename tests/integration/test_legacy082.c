/* Integration: the seed's own broker, a real Apache Kafka 0.8.2.2
 * (GREGOR_TEST_KAFKA082, with ZooKeeper), with DEFAULT settings: no
 * broker_version anywhere. gregor must find out by itself that the broker
 * is 0.8 (it closes the connection on ApiVersions and on ListGroups) and
 * then work exactly as with broker_version=0.8.2:
 *   - the producer's RecordBatch v2 batches go out as MessageSet v0
 *     (Produce v0), keyed messages land where murmur2 puts them, in every
 *     codec 0.8.2 has, and kcat (an independent client) reads them back
 *     byte for byte;
 *   - the consumer reads them with Fetch v0 from the beginning;
 *   - offsets are committed to Kafka (ConsumerMetadata, OffsetCommit v1)
 *     and a new consumer of the group resumes exactly after them;
 *   - the detection is logged once per broker address, at INFO.
 */
#include <pthread.h>
#include <stdint.h>

#include "gregor/gregor.h"
#include "test_consume_util.h"
#include "util/log.h"

#define N_MSGS 3000
#define N_PARTITIONS 2

static const char *bootstrap(void) { return tu_env_required("GREGOR_TEST_KAFKA082"); }
static const char *cluster(void) { return tc_cluster_name("GREGOR_TEST_KAFKA082_NAME", "kafka082"); }

static const char *kcat_legacy = "-X api.version.request=false -X broker.version.fallback=0.8.2.2";

static int expected(int i, char *key, char *val)
{
    sprintf(key, "k%d", i);
    return sprintf(val, "v082-%d-%.*s", i, i % 40, "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz");
}

/* ------------------------------------------------------------ the log */

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static int detected_lines, refusal_warnings;

static void log_sink(gregor_log_level level, const char *msg, void *arg)
{
    (void)arg;
    pthread_mutex_lock(&log_lock);
    if (level == GREGOR_LOG_INFO && strstr(msg, "Apache Kafka 0.8.2 detected"))
        detected_lines++;
    if (level >= GREGOR_LOG_WARN)
        refusal_warnings++;
    pthread_mutex_unlock(&log_lock);
}

/* ------------------------------------------------------------ producing */

typedef struct tally {
    pthread_mutex_t lock;
    int delivered, failed;
    gregor_err last_err;
    int32_t partition_of[N_MSGS];
} tally;

static void on_delivery(const gregor_delivery *d, void *arg)
{
    tally *t = arg;
    pthread_mutex_lock(&t->lock);
    int i = (int)(uintptr_t)d->opaque - 1;
    if (d->err == GREGOR_OK) {
        t->delivered++;
        if (i >= 0 && i < N_MSGS)
            t->partition_of[i] = d->partition;
    } else {
        t->failed++;
        t->last_err = d->err;
    }
    pthread_mutex_unlock(&t->lock);
}

/* Produces messages [from, to) with `codec` and default settings otherwise. */
static void produce_range(const char *topic, int from, int to, const char *codec, tally *t)
{
    gregor_config *cfg = gregor_config_new();
    char err[256];
    cr_assert_eq(gregor_config_set(cfg, "bootstrap", bootstrap(), err, sizeof err), GREGOR_OK, "%s", err);
    cr_assert_eq(gregor_config_set(cfg, "compression", codec, err, sizeof err), GREGOR_OK, "%s", err);
    gregor_producer *p;
    cr_assert_eq(gregor_producer_new(cfg, on_delivery, t, &p, err, sizeof err), GREGOR_OK, "%s", err);
    for (int i = from; i < to; i++) {
        char k[32], v[96];
        int vl = expected(i, k, v);
        gregor_produce_message m = {.topic = topic, .partition = GREGOR_PARTITION_ANY, .key = k,
                                    .key_len = strlen(k), .value = v, .value_len = (size_t)vl,
                                    .opaque = (void *)(uintptr_t)(i + 1)};
        cr_assert_eq(gregor_producer_produce(p, &m), GREGOR_OK);
    }
    cr_assert_eq(gregor_producer_flush(p, 60000), GREGOR_OK);
    gregor_producer_destroy(p, 1000);
    gregor_config_destroy(cfg);
}

/* Reads partition `part` from the beginning with default settings and
 * checks every message against `expected`; returns how many it read. */
static int consume_partition(const char *topic, int32_t part, const tally *t, int total)
{
    gregor_consumer *c = tc_consumer(bootstrap(), NULL);
    char err[256];
    cr_assert_eq(gregor_consumer_assign(c, topic, part, GREGOR_OFFSET_BEGINNING, 0, err, sizeof err), GREGOR_OK,
                 "%s", err);
    int want = 0;
    for (int i = 0; i < total; i++)
        want += t->partition_of[i] == part;
    /* Messages of this partition in production order (one producer per
     * range, each flushed before the next started: order holds). */
    int next_i = 0, got = 0;
    double t0 = tc_now_s();
    while (got < want) {
        cr_assert(tc_now_s() - t0 < 60, "partition %d: stuck after %d of %d", part, got, want);
        gregor_batch *b;
        cr_assert_eq(gregor_consumer_poll(c, 1000, &b, err, sizeof err), GREGOR_OK, "%s", err);
        for (size_t j = 0; b && j < gregor_batch_count(b); j++) {
            const gregor_message *m = gregor_batch_message(b, j);
            while (next_i < total && t->partition_of[next_i] != part)
                next_i++;
            cr_assert(next_i < total, "partition %d: more messages than produced", part);
            char k[32], v[96];
            int vl = expected(next_i, k, v);
            cr_assert_eq(m->offset, got, "partition %d: offset %lld, expected %d", part, (long long)m->offset, got);
            cr_assert(m->key_len == (int32_t)strlen(k) && !memcmp(m->key, k, strlen(k)), "offset %d: key", got);
            cr_assert(m->value_len == vl && !memcmp(m->value, v, (size_t)vl), "offset %d: value", got);
            cr_assert_eq(m->timestamp_ms, -1, "Fetch v0 has no timestamps");
            next_i++;
            got++;
        }
        gregor_batch_destroy(b);
    }
    gregor_consumer_destroy(c);
    return got;
}

Test(kafka082, produce_consume_and_kcat_with_default_settings, .timeout = 240)
{
    gregor_log_set_sink(log_sink, NULL);
    gregor_log_set_level(GREGOR_LOG_INFO);
    char topic[128];
    tc_topic(topic, sizeof topic, "k082");
    tc_create_topic(cluster(), topic, N_PARTITIONS, 1);

    static tally t;
    memset(&t, 0, sizeof t);
    pthread_mutex_init(&t.lock, NULL);
    static const char *codecs[] = {"none", "gzip", "snappy", "lz4"};
    int per = N_MSGS / 4;
    for (int c = 0; c < 4; c++)
        produce_range(topic, c * per, (c + 1) * per, codecs[c], &t);
    cr_assert_eq(t.failed, 0, "%d failed, last %s", t.failed, gregor_err_name(t.last_err));
    cr_assert_eq(t.delivered, N_MSGS);
    pthread_mutex_lock(&log_lock);
    /* Four producers, each with its own client: one line each for the
     * bootstrap address (the broker's own connection finds it cached). */
    cr_assert_eq(detected_lines, 4, "detection logged %d times", detected_lines);
    cr_assert_eq(refusal_warnings, 0, "warnings were logged");
    pthread_mutex_unlock(&log_lock);

    int total = 0;
    for (int32_t p = 0; p < N_PARTITIONS; p++)
        total += consume_partition(topic, p, &t, N_MSGS);
    cr_assert_eq(total, N_MSGS);

    /* kcat, an independent client, reads what gregor wrote. */
    char out[] = "/tmp/gregor-k082-XXXXXX";
    int fd = mkstemp(out);
    cr_assert(fd >= 0);
    close(fd);
    tc_sh("kcat -C -q -e -b %s %s -t %s -f '%%p %%k %%s\\n' > %s", bootstrap(), kcat_legacy, topic, out);
    FILE *f = fopen(out, "r");
    cr_assert(f);
    static char seen[N_MSGS];
    memset(seen, 0, sizeof seen);
    int lines = 0, part;
    char k[64], v[128];
    while (fscanf(f, "%d %63s %127s", &part, k, v) == 3) {
        int i = atoi(k + 1);
        char ek[32], ev[96];
        cr_assert(i >= 0 && i < N_MSGS && k[0] == 'k', "kcat: unexpected key %s", k);
        expected(i, ek, ev);
        cr_assert_str_eq(v, ev, "kcat: value of %s", k);
        cr_assert_eq(part, t.partition_of[i], "kcat: %s in partition %d, delivery said %d", k, part,
                     t.partition_of[i]);
        cr_assert(!seen[i], "kcat: %s twice", k);
        seen[i] = 1;
        lines++;
    }
    fclose(f);
    unlink(out);
    cr_assert_eq(lines, N_MSGS, "kcat read %d of %d", lines, N_MSGS);
    gregor_log_set_sink(NULL, NULL);
}

Test(kafka082, commit_and_resume_with_default_settings, .timeout = 120)
{
    char topic[128], group[160], gkv[200], err[256];
    tc_topic(topic, sizeof topic, "k082-offsets");
    snprintf(group, sizeof group, "g-%s", topic);
    snprintf(gkv, sizeof gkv, "group_id=%s", group);
    tc_create_topic(cluster(), topic, 1, 1);
    tc_sh("seq 0 99 | sed 's/^/k:v/' | kcat -P -q -b %s %s -t %s -p 0 -K:", bootstrap(), kcat_legacy, topic);
    const char *kv[] = {gkv, "enable_auto_commit=false", NULL};

    /* Read 40 messages, commit the position after them. */
    gregor_consumer *c = tc_consumer(bootstrap(), kv);
    cr_assert_eq(gregor_consumer_assign(c, topic, 0, GREGOR_OFFSET_BEGINNING, 0, err, sizeof err), GREGOR_OK, "%s",
                 err);
    int64_t next = 0;
    double deadline = tc_now_s() + 30;
    while (next < 40 && tc_now_s() < deadline) {
        gregor_batch *b;
        cr_assert_eq(gregor_consumer_poll(c, 500, &b, err, sizeof err), GREGOR_OK, "%s", err);
        for (size_t i = 0; b && i < gregor_batch_count(b) && next < 40; i++) {
            const gregor_message *m = gregor_batch_message(b, i);
            cr_assert_eq(m->offset, next);
            char want[16];
            int wl = snprintf(want, sizeof want, "v%lld", (long long)next);
            cr_assert(m->value_len == wl && !memcmp(m->value, want, (size_t)wl), "offset %lld", (long long)next);
            next++;
        }
        gregor_batch_destroy(b);
    }
    cr_assert_eq(next, 40);
    gregor_topic_offset o = {.topic = topic, .partition = 0, .offset = next};
    cr_assert_eq(gregor_consumer_commit(c, &o, 1, "k082", NULL, NULL, err, sizeof err), GREGOR_OK, "%s", err);
    gregor_consumer_destroy(c);

    /* A new consumer of the group resumes exactly there. */
    c = tc_consumer(bootstrap(), kv);
    gregor_topic_offset back = {.topic = topic, .partition = 0};
    cr_assert_eq(gregor_consumer_committed(c, &back, 1, err, sizeof err), GREGOR_OK, "%s", err);
    cr_assert_eq(back.offset, 40);
    cr_assert_str_eq(back.metadata, "k082");
    cr_assert_eq(gregor_consumer_assign(c, topic, 0, GREGOR_OFFSET_COMMITTED, 0, err, sizeof err), GREGOR_OK, "%s",
                 err);
    int64_t first = -1, count = 0;
    deadline = tc_now_s() + 30;
    while (40 + count < 100 && tc_now_s() < deadline) {
        gregor_batch *b;
        cr_assert_eq(gregor_consumer_poll(c, 500, &b, err, sizeof err), GREGOR_OK, "%s", err);
        for (size_t i = 0; b && i < gregor_batch_count(b); i++) {
            const gregor_message *m = gregor_batch_message(b, i);
            if (first < 0)
                first = m->offset;
            cr_assert_eq(m->offset, 40 + count, "resumed out of order");
            count++;
        }
        gregor_batch_destroy(b);
    }
    cr_assert_eq(first, 40, "resumed at %lld, committed 40", (long long)first);
    cr_assert_eq(count, 60);
    gregor_consumer_destroy(c);
}
