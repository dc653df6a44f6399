/* Integration: committed offsets through the group coordinator of a 4.x
 * broker (GREGOR_TEST_KAFKA1), with kafka-python as the independent peer.
 *
 * - a consumer commits its positions (with a metadata string) and is
 *   destroyed; kafka-python's committed() sees the same offsets and
 *   metadata; a new consumer in the group starting at COMMITTED resumes
 *   exactly there;
 * - kafka-python commits, gregor's committed() reads it;
 * - an asynchronous commit's callback runs from poll() with the result;
 * - auto-commit stores, on the interval, the positions as of the latest
 *   poll (not the batch that poll just returned, which the application may
 *   still be processing), and the final positions on close;
 * - a commit completes promptly while a Fetch to the same broker (the
 *   coordinator) is long-polling an idle topic.
 */
#include "test_consume_util.h"

static const char *bootstrap(void) { return tu_env_required("GREGOR_TEST_KAFKA1"); }
static const char *cluster(void) { return tc_cluster_name("GREGOR_TEST_KAFKA1_NAME", "kafka1"); }

static void produce(const char *topic, int partition, int n)
{
    tc_sh("seq 0 %d | sed 's/^/k:v/' | kcat -P -q -b %s -t %s -p %d -K: -X batch.num.messages=50", n - 1, bootstrap(),
          topic, partition);
}

static gregor_consumer *group_consumer(const char *group, const char *auto_commit)
{
    char g[176], ac[64]; /* "group_id=" and a group name of up to 159 */
    snprintf(g, sizeof g, "group_id=%s", group);
    snprintf(ac, sizeof ac, "enable_auto_commit=%s", auto_commit);
    const char *kv[] = {g, ac, "auto_commit_interval_ms=200", "max_partition_fetch_bytes=1024", NULL};
    return tc_consumer(bootstrap(), kv);
}

/* Consumes until `want` messages have been returned; returns the count. */
static int consume(gregor_consumer *c, int want)
{
    int got = 0;
    double deadline = tc_now_s() + 30;
    while (got < want && tc_now_s() < deadline) {
        gregor_batch *b;
        char err[256];
        cr_assert_eq(gregor_consumer_poll(c, 500, &b, err, sizeof err), GREGOR_OK, "%s", err);
        got += (int)gregor_batch_count(b);
        gregor_batch_destroy(b);
    }
    cr_assert_geq(got, want);
    return got;
}

/* kafka-python's view: "offset metadata" of (topic, partition) in `group`. */
static void python_committed(const char *group, const char *topic, int partition, long long *offset, char *md,
                             size_t md_n)
{
    char path[] = "/tmp/gregor-committed-XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    close(fd);
    tc_sh("python3 -c \"\n"
          "from kafka import KafkaConsumer, TopicPartition\n"
          "c = KafkaConsumer(bootstrap_servers='%s', group_id='%s', enable_auto_commit=False)\n"
          "om = c.committed(TopicPartition('%s', %d), metadata=True)\n"
          "print(om.offset if om else -1, (om.metadata if om else '') or '-')\n"
          "c.close()\n\" > %s 2>/dev/null",
          bootstrap(), group, topic, partition, path);
    FILE *f = fopen(path, "r");
    cr_assert(f);
    char buf[256] = "";
    cr_assert_eq(fscanf(f, "%lld %255s", offset, buf), 2, "kafka-python printed nothing useful");
    fclose(f);
    unlink(path);
    size_t n = strlen(buf);
    cr_assert_lt(n, md_n, "kafka-python's metadata (%zu bytes) does not fit the test's buffer", n);
    memcpy(md, buf, n + 1);
}

Test(offsets, commit_then_resume_and_peers_agree, .timeout = 180)
{
    char topic[128], group[160], err[256];
    tc_topic(topic, sizeof topic, "offsets-commit");
    snprintf(group, sizeof group, "g-%s", topic);
    tc_create_topic(cluster(), topic, 2, 1);
    produce(topic, 0, 1000);
    produce(topic, 1, 1000);

    gregor_consumer *c = group_consumer(group, "false");
    for (int p = 0; p < 2; p++)
        cr_assert_eq(gregor_consumer_assign(c, topic, p, GREGOR_OFFSET_BEGINNING, 0, err, sizeof err), GREGOR_OK,
                     "%s", err);
    consume(c, 700);
    gregor_partition_state st[2];
    for (int p = 0; p < 2; p++)
        cr_assert_eq(gregor_consumer_position(c, topic, p, &st[p]), GREGOR_OK);
    cr_assert(st[0].position > 0 || st[1].position > 0);
    cr_assert_eq(gregor_consumer_commit(c, NULL, 0, "gregor-test", NULL, NULL, err, sizeof err), GREGOR_OK, "%s",
                 err);
    gregor_topic_offset got[2] = {{.topic = topic, .partition = 0}, {.topic = topic, .partition = 1}};
    cr_assert_eq(gregor_consumer_committed(c, got, 2, err, sizeof err), GREGOR_OK, "%s", err);
    for (int p = 0; p < 2; p++) {
        cr_assert_eq(got[p].offset, st[p].position, "partition %d: committed %lld, position %lld", p,
                     (long long)got[p].offset, (long long)st[p].position);
        cr_assert_str_eq(got[p].metadata, "gregor-test");
    }
    gregor_consumer_destroy(c);

    for (int p = 0; p < 2; p++) {
        long long off;
        char md[128];
        python_committed(group, topic, p, &off, md, sizeof md);
        cr_assert_eq(off, st[p].position, "kafka-python sees %lld for partition %d, gregor committed %lld", off, p,
                     (long long)st[p].position);
        cr_assert_str_eq(md, "gregor-test");
    }

    c = group_consumer(group, "false");
    for (int p = 0; p < 2; p++)
        cr_assert_eq(gregor_consumer_assign(c, topic, p, GREGOR_OFFSET_COMMITTED, 0, err, sizeof err), GREGOR_OK,
                     "%s", err);
    int64_t first[2] = {-1, -1};
    double deadline = tc_now_s() + 30;
    while ((first[0] < 0 && st[0].position < 1000) || (first[1] < 0 && st[1].position < 1000)) {
        cr_assert(tc_now_s() < deadline, "no messages after the committed offsets");
        gregor_batch *b;
        cr_assert_eq(gregor_consumer_poll(c, 500, &b, err, sizeof err), GREGOR_OK, "%s", err);
        if (!b)
            continue;
        const gregor_message *m = gregor_batch_message(b, 0);
        if (first[m->partition] < 0)
            first[m->partition] = m->offset;
        gregor_batch_destroy(b);
    }
    for (int p = 0; p < 2; p++)
        if (st[p].position < 1000)
            cr_assert_eq(first[p], st[p].position, "partition %d resumed at %lld, committed %lld", p,
                         (long long)first[p], (long long)st[p].position);
    gregor_consumer_destroy(c);
}

Test(offsets, reads_what_kafka_python_commits, .timeout = 120)
{
    char topic[128], group[160], err[256];
    tc_topic(topic, sizeof topic, "offsets-peer");
    snprintf(group, sizeof group, "g-%s", topic);
    tc_create_topic(cluster(), topic, 1, 1);
    produce(topic, 0, 100);
    tc_sh("python3 -c \"\n"
          "from kafka import KafkaConsumer, TopicPartition\n"
          "from kafka.structs import OffsetAndMetadata\n"
          "c = KafkaConsumer(bootstrap_servers='%s', group_id='%s', enable_auto_commit=False)\n"
          "tp = TopicPartition('%s', 0)\n"
          "c.assign([tp])\n"
          "c.commit({tp: OffsetAndMetadata(77, 'from-python', -1)})\n"
          "c.close()\n\" >/dev/null 2>&1",
          bootstrap(), group, topic);
    gregor_consumer *c = group_consumer(group, "false");
    gregor_topic_offset o = {.topic = topic, .partition = 0};
    cr_assert_eq(gregor_consumer_committed(c, &o, 1, err, sizeof err), GREGOR_OK, "%s", err);
    cr_assert_eq(o.offset, 77);
    cr_assert_str_eq(o.metadata, "from-python");
    /* A partition nobody committed: -1. */
    tc_create_topic(cluster(), "offsets-none-yet", 1, 1);
    gregor_topic_offset none = {.topic = "offsets-none-yet", .partition = 0};
    cr_assert_eq(gregor_consumer_committed(c, &none, 1, err, sizeof err), GREGOR_OK, "%s", err);
    cr_assert_eq(none.offset, -1);
    gregor_consumer_destroy(c);
}

typedef struct cb_result {
    int calls;
    gregor_err err;
    int64_t offset;
} cb_result;

static void on_commit(gregor_err err, const gregor_topic_offset *offs, size_t n, void *opaque)
{
    cb_result *r = opaque;
    r->calls++;
    r->err = err;
    r->offset = n ? offs[0].offset : -1;
}

Test(offsets, async_commit_callback_and_auto_commit, .timeout = 120)
{
    char topic[128], group[160], err[256];
    tc_topic(topic, sizeof topic, "offsets-async");
    snprintf(group, sizeof group, "g-%s", topic);
    tc_create_topic(cluster(), topic, 1, 1);
    produce(topic, 0, 500);

    gregor_consumer *c = group_consumer(group, "false");
    cr_assert_eq(gregor_consumer_assign(c, topic, 0, GREGOR_OFFSET_BEGINNING, 0, err, sizeof err), GREGOR_OK, "%s",
                 err);
    cb_result r = {0};
    gregor_topic_offset o = {.topic = topic, .partition = 0, .offset = 42, .metadata = "async"};
    cr_assert_eq(gregor_consumer_commit(c, &o, 1, NULL, on_commit, &r, err, sizeof err), GREGOR_OK, "%s", err);
    double deadline = tc_now_s() + 20;
    while (r.calls == 0 && tc_now_s() < deadline) {
        gregor_batch *b;
        cr_assert_eq(gregor_consumer_poll(c, 200, &b, err, sizeof err), GREGOR_OK, "%s", err);
        gregor_batch_destroy(b);
    }
    cr_assert_eq(r.calls, 1);
    cr_assert_eq(r.err, GREGOR_OK);
    cr_assert_eq(r.offset, 42);
    gregor_topic_offset back = {.topic = topic, .partition = 0};
    cr_assert_eq(gregor_consumer_committed(c, &back, 1, err, sizeof err), GREGOR_OK, "%s", err);
    cr_assert_eq(back.offset, 42);
    cr_assert_str_eq(back.metadata, "async");
    gregor_consumer_destroy(c);

    /* Auto-commit: on the interval, then on close. */
    c = group_consumer(group, "true");
    cr_assert_eq(gregor_consumer_assign(c, topic, 0, GREGOR_OFFSET_COMMITTED, 0, err, sizeof err), GREGOR_OK, "%s",
                 err);
    consume(c, 100);
    gregor_partition_state st;
    cr_assert_eq(gregor_consumer_position(c, topic, 0, &st), GREGOR_OK);
    usleep(800 * 1000); /* four intervals, no poll: the last batch is still "being processed" */
    cr_assert_eq(gregor_consumer_committed(c, &back, 1, err, sizeof err), GREGOR_OK, "%s", err);
    cr_assert(back.offset > 42 && back.offset < st.position,
              "auto-committed %lld: the batch the last poll returned (up to %lld) must not count before the "
              "next poll", (long long)back.offset, (long long)st.position);
    gregor_batch *b;
    cr_assert_eq(gregor_consumer_poll(c, 0, &b, err, sizeof err), GREGOR_OK, "%s", err);
    gregor_batch_destroy(b);
    usleep(800 * 1000);
    cr_assert_eq(gregor_consumer_committed(c, &back, 1, err, sizeof err), GREGOR_OK, "%s", err);
    cr_assert_eq(back.offset, st.position, "auto-committed %lld, position before the poll %lld",
                 (long long)back.offset, (long long)st.position);
    cr_assert_eq(gregor_consumer_seek(c, topic, 0, 499, 0, err, sizeof err), GREGOR_OK);
    consume(c, 1);
    gregor_consumer_destroy(c); /* commits 500 on close */
    long long off;
    char md[64];
    python_committed(group, topic, 0, &off, md, sizeof md);
    cr_assert_eq(off, 500);
}

static double now_ms(void) { return tc_now_s() * 1000.0; }

Test(offsets, commit_does_not_wait_behind_a_long_poll_fetch, .timeout = 120)
{
    char topic[128], group[160], err[256];
    tc_topic(topic, sizeof topic, "offsets-longpoll");
    snprintf(group, sizeof group, "g-%s", topic);
    tc_create_topic(cluster(), topic, 1, 1);
    char g[200];
    snprintf(g, sizeof g, "group_id=%s", group);
    /* The broker holds each Fetch of the idle topic for 10 s. */
    const char *kv[] = {g, "enable_auto_commit=false", "fetch_max_wait_ms=10000", "request_timeout_ms=30000",
                        NULL};
    gregor_consumer *c = tc_consumer(bootstrap(), kv);
    cr_assert_eq(gregor_consumer_assign(c, topic, 0, GREGOR_OFFSET_END, 0, err, sizeof err), GREGOR_OK, "%s", err);
    /* One commit first, so that the coordinator is known and connected. */
    gregor_topic_offset o = {.topic = topic, .partition = 0, .offset = 0};
    cr_assert_eq(gregor_consumer_commit(c, &o, 1, NULL, NULL, NULL, err, sizeof err), GREGOR_OK, "%s", err);
    gregor_batch *b;
    /* Let the start offset resolve and the long poll begin. */
    cr_assert_eq(gregor_consumer_poll(c, 1500, &b, err, sizeof err), GREGOR_OK, "%s", err);
    cr_assert_null(b, "the topic is empty");
    double worst = 0;
    for (int i = 0; i < 3; i++) {
        double t0 = now_ms();
        cr_assert_eq(gregor_consumer_commit(c, &o, 1, NULL, NULL, NULL, err, sizeof err), GREGOR_OK, "%s", err);
        double ms = now_ms() - t0;
        worst = ms > worst ? ms : worst;
        cr_assert_eq(gregor_consumer_poll(c, 700, &b, err, sizeof err), GREGOR_OK, "%s", err);
        cr_assert_null(b);
    }
    cr_log_info("commit latency during a 10 s long poll: worst %.0f ms", worst);
    cr_assert_lt(worst, 2000, "a commit waited %.0f ms behind the long-poll Fetch", worst);
    gregor_consumer_destroy(c);
}
