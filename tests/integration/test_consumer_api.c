/* Integration: what a framework running consumers in thread pools needs
 * from the consumer API, against a 4.x broker (GREGOR_TEST_KAFKA1):
 *
 * - gregor_consumer_wakeup() ends a poll(-1) blocked on an idle topic
 *   within milliseconds, from another thread; a wakeup before a poll ends
 *   that poll at once; wakeups do not add up;
 * - batch accessors: topic, partition, next offset, bytes of keys, values
 *   and headers, leader epoch; next offset past a transaction's commit
 *   marker (a transaction written by kafka-python);
 * - the offset store (enable_auto_offset_store=false): commit(NULL),
 *   auto-commit and the commit at destroy commit the stored offsets, not
 *   the positions; storing for an unassigned partition is refused; a
 *   worker thread stores and commits while the poll thread polls;
 * - list-based assignment: assign_list resolves COMMITTED offsets of many
 *   partitions with one OffsetFetch, unassign_list stops them (no more
 *   messages, queued ones dropped, their prefetch memory released),
 *   assignment() lists what is assigned.
 */
#include <pthread.h>

#include "test_consume_util.h"

/* consumer/consumer_int.h (whose names clash with the helpers'): the bytes
 * of fetched data the consumer's prefetch account holds. */
size_t consumer_prefetch_held(gregor_consumer *c);

static const char *bootstrap(void) { return tu_env_required("GREGOR_TEST_KAFKA1"); }
static const char *cluster(void) { return tc_cluster_name("GREGOR_TEST_KAFKA1_NAME", "kafka1"); }

/* n messages "k:v<i>" with header h=x into one partition. */
static void produce(const char *topic, int partition, int n)
{
    tc_sh("seq 0 %d | sed 's/^/k:v/' | kcat -P -q -b %s -t %s -p %d -K: -H h=x -X batch.num.messages=50", n - 1,
          bootstrap(), topic, partition);
}

/* ------------------------------------------------------------- wakeup */

typedef struct poller {
    gregor_consumer *c;
    gregor_err err;
    gregor_batch *b;
    double returned_s;
} poller;

static void *poll_forever(void *arg)
{
    poller *p = arg;
    char err[256];
    p->err = gregor_consumer_poll(p->c, -1, &p->b, err, sizeof err);
    p->returned_s = tc_now_s();
    return NULL;
}

Test(consumer_api, wakeup_ends_a_blocked_poll, .timeout = 60)
{
    char topic[64], err[256];
    tc_topic(topic, sizeof topic, "api-wakeup");
    tc_create_topic(cluster(), topic, 1, 1);
    gregor_consumer *c = tc_consumer(bootstrap(), NULL);
    cr_assert_eq(gregor_consumer_assign(c, topic, 0, GREGOR_OFFSET_END, 0, err, sizeof err), GREGOR_OK, "%s", err);

    poller p = {.c = c};
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, poll_forever, &p), 0);
    usleep(500 * 1000); /* the poll is blocked on the idle topic by now */
    double woken_s = tc_now_s();
    gregor_consumer_wakeup(c);
    pthread_join(t, NULL);
    double took_ms = (p.returned_s - woken_s) * 1000;
    cr_log_info("poll(-1) returned %.2f ms after wakeup", took_ms);
    cr_assert_eq(p.err, GREGOR_OK);
    cr_assert_null(p.b);
    cr_assert_lt(took_ms, 100.0, "poll returned %.1f ms after the wakeup", took_ms);

    /* A wakeup before the poll ends that poll at once ... */
    gregor_consumer_wakeup(c);
    gregor_consumer_wakeup(c);
    gregor_batch *b = (gregor_batch *)1;
    double t0 = tc_now_s();
    cr_assert_eq(gregor_consumer_poll(c, 5000, &b, err, sizeof err), GREGOR_OK, "%s", err);
    cr_assert_null(b);
    cr_assert_lt(tc_now_s() - t0, 0.1);
    /* ... and only that one: the next waits its time out. */
    t0 = tc_now_s();
    cr_assert_eq(gregor_consumer_poll(c, 300, &b, err, sizeof err), GREGOR_OK, "%s", err);
    cr_assert_null(b);
    cr_assert_geq(tc_now_s() - t0, 0.25);
    gregor_consumer_destroy(c);
}

/* ------------------------------------------------------ batch accessors */

Test(consumer_api, batch_accessors, .timeout = 60)
{
    char topic[64], err[256];
    tc_topic(topic, sizeof topic, "api-batch");
    tc_create_topic(cluster(), topic, 2, 1);
    produce(topic, 1, 20);
    gregor_consumer *c = tc_consumer(bootstrap(), NULL);
    cr_assert_eq(gregor_consumer_assign(c, topic, 1, GREGOR_OFFSET_BEGINNING, 0, err, sizeof err), GREGOR_OK, "%s",
                 err);
    int64_t expect_next = 0;
    double deadline = tc_now_s() + 30;
    while (expect_next < 20 && tc_now_s() < deadline) {
        gregor_batch *b;
        cr_assert_eq(gregor_consumer_poll(c, 500, &b, err, sizeof err), GREGOR_OK, "%s", err);
        if (!b)
            continue;
        cr_assert_str_eq(gregor_batch_topic(b), topic);
        cr_assert_eq(gregor_batch_partition(b), 1);
        size_t bytes = 0;
        for (size_t i = 0; i < gregor_batch_count(b); i++) {
            const gregor_message *m = gregor_batch_message(b, i);
            cr_assert_eq(m->offset, expect_next + (int64_t)i);
            /* key "k", value "v<i>", header "h" = "x" */
            bytes += 1 + (size_t)m->value_len + 2;
        }
        expect_next += (int64_t)gregor_batch_count(b);
        cr_assert_eq(gregor_batch_next_offset(b), expect_next);
        cr_assert_eq(gregor_batch_bytes(b), bytes);
        cr_assert_eq(gregor_batch_leader_epoch(b), 0, "a fresh single-broker topic is at leader epoch 0");
        gregor_batch_destroy(b);
    }
    cr_assert_eq(expect_next, 20);
    gregor_consumer_destroy(c);
}

Test(consumer_api, batch_next_offset_is_past_the_commit_marker, .timeout = 120)
{
    char topic[64], err[256];
    tc_topic(topic, sizeof topic, "api-txn");
    tc_create_topic(cluster(), topic, 1, 1);
    /* Three messages (offsets 0-2) in one committed transaction: its commit
     * marker takes offset 3. */
    tc_sh("python3 -c \"\n"
          "from kafka import KafkaProducer\n"
          "p = KafkaProducer(bootstrap_servers='%s', transactional_id='txn-%s')\n"
          "p.init_transactions()\n"
          "p.begin_transaction()\n"
          "for i in range(3): p.send('%s', value=b'm%%d' %% i, partition=0)\n"
          "p.commit_transaction()\n"
          "p.close()\n\"",
          bootstrap(), topic, topic);
    for (int rc = 0; rc < 2; rc++) {
        const char *kv[] = {rc ? "isolation=read_committed" : "isolation=read_uncommitted", NULL};
        gregor_consumer *c = tc_consumer(bootstrap(), kv);
        cr_assert_eq(gregor_consumer_assign(c, topic, 0, GREGOR_OFFSET_BEGINNING, 0, err, sizeof err), GREGOR_OK,
                     "%s", err);
        int64_t last = -1, next = -1;
        double deadline = tc_now_s() + 30;
        while (last < 2 && tc_now_s() < deadline) {
            gregor_batch *b;
            cr_assert_eq(gregor_consumer_poll(c, 500, &b, err, sizeof err), GREGOR_OK, "%s", err);
            if (!b)
                continue;
            last = gregor_batch_message(b, gregor_batch_count(b) - 1)->offset;
            next = gregor_batch_next_offset(b);
            gregor_batch_destroy(b);
        }
        cr_log_info("%s: last message %lld, next offset %lld", kv[0], (long long)last, (long long)next);
        cr_assert_eq(last, 2);
        cr_assert_eq(next, 4, "next offset %lld: not past the commit marker at 3", (long long)next);
        gregor_consumer_destroy(c);
    }
}

/* ---------------------------------------------------------- offset store */

static gregor_consumer *group_consumer(const char *group, const char *auto_commit, const char *auto_store)
{
    char g[176], ac[64], as[64];
    snprintf(g, sizeof g, "group_id=%s", group);
    snprintf(ac, sizeof ac, "enable_auto_commit=%s", auto_commit);
    snprintf(as, sizeof as, "enable_auto_offset_store=%s", auto_store);
    const char *kv[] = {g, ac, as, "auto_commit_interval_ms=100", "max_partition_fetch_bytes=1024", NULL};
    return tc_consumer(bootstrap(), kv);
}

/* The group's committed offset of (topic, partition), -1 when none. */
static int64_t committed(const char *group, const char *topic, int32_t partition)
{
    gregor_consumer *c = group_consumer(group, "false", "true");
    gregor_topic_offset o = {.topic = topic, .partition = partition};
    char err[256];
    cr_assert_eq(gregor_consumer_committed(c, &o, 1, err, sizeof err), GREGOR_OK, "%s", err);
    gregor_consumer_destroy(c);
    return o.offset;
}

/* Polls until `want` messages came; returns the last batch's next offset. */
static int64_t consume_all(gregor_consumer *c, int want)
{
    int got = 0;
    int64_t next = -1;
    double deadline = tc_now_s() + 30;
    while (got < want && tc_now_s() < deadline) {
        gregor_batch *b;
        char err[256];
        cr_assert_eq(gregor_consumer_poll(c, 500, &b, err, sizeof err), GREGOR_OK, "%s", err);
        if (b) {
            got += (int)gregor_batch_count(b);
            next = gregor_batch_next_offset(b);
        }
        gregor_batch_destroy(b);
    }
    cr_assert_eq(got, want);
    return next;
}

Test(consumer_api, stored_offsets_are_what_commit_null_commits, .timeout = 120)
{
    char topic[64], group[80], err[256];
    tc_topic(topic, sizeof topic, "api-store");
    snprintf(group, sizeof group, "g-%s", topic);
    tc_create_topic(cluster(), topic, 2, 1);
    produce(topic, 0, 20);
    gregor_consumer *c = group_consumer(group, "false", "false");
    cr_assert_eq(gregor_consumer_assign(c, topic, 0, GREGOR_OFFSET_BEGINNING, 0, err, sizeof err), GREGOR_OK, "%s",
                 err);
    cr_assert_eq(consume_all(c, 20), 20);

    /* Nothing stored yet: commit(NULL) commits nothing (not the position 20). */
    cr_assert_eq(gregor_consumer_commit(c, NULL, 0, NULL, NULL, NULL, err, sizeof err), GREGOR_OK, "%s", err);
    cr_assert_eq(committed(group, topic, 0), -1);

    cr_assert_eq(gregor_consumer_store_offset(c, topic, 0, 7, 0), GREGOR_OK);
    cr_assert_eq(gregor_consumer_commit(c, NULL, 0, NULL, NULL, NULL, err, sizeof err), GREGOR_OK, "%s", err);
    cr_assert_eq(committed(group, topic, 0), 7);

    /* Refused: a partition not assigned, a negative offset. */
    cr_assert_eq(gregor_consumer_store_offset(c, topic, 1, 3, -1), GREGOR_ERR_STATE);
    cr_assert_eq(gregor_consumer_store_offset(c, "no-such-topic", 0, 3, -1), GREGOR_ERR_STATE);
    cr_assert_eq(gregor_consumer_store_offset(c, topic, 0, -1, -1), GREGOR_ERR_INVALID_ARG);
    /* Unassigned: storing is refused, and the offset stored before it is
     * not committed once assigned again. */
    cr_assert_eq(gregor_consumer_store_offset(c, topic, 0, 9, 0), GREGOR_OK);
    cr_assert_eq(gregor_consumer_unassign(c, topic, 0), GREGOR_OK);
    cr_assert_eq(gregor_consumer_store_offset(c, topic, 0, 10, 0), GREGOR_ERR_STATE);
    cr_assert_eq(gregor_consumer_assign(c, topic, 0, GREGOR_OFFSET_COMMITTED, 0, err, sizeof err), GREGOR_OK, "%s",
                 err);
    cr_assert_eq(gregor_consumer_commit(c, NULL, 0, NULL, NULL, NULL, err, sizeof err), GREGOR_OK, "%s", err);
    cr_assert_eq(committed(group, topic, 0), 7);
    gregor_consumer_destroy(c);

    /* With the automatic store (the default) storing is refused. */
    c = group_consumer(group, "false", "true");
    cr_assert_eq(gregor_consumer_assign(c, topic, 0, GREGOR_OFFSET_BEGINNING, 0, err, sizeof err), GREGOR_OK, "%s",
                 err);
    cr_assert_eq(gregor_consumer_store_offset(c, topic, 0, 3, -1), GREGOR_ERR_STATE);
    gregor_consumer_destroy(c);
}

Test(consumer_api, auto_commit_and_close_commit_the_stored_offsets, .timeout = 120)
{
    char topic[64], group[80], err[256];
    tc_topic(topic, sizeof topic, "api-store-auto");
    snprintf(group, sizeof group, "g-%s", topic);
    tc_create_topic(cluster(), topic, 1, 1);
    produce(topic, 0, 20);
    gregor_consumer *c = group_consumer(group, "true", "false");
    cr_assert_eq(gregor_consumer_assign(c, topic, 0, GREGOR_OFFSET_BEGINNING, 0, err, sizeof err), GREGOR_OK, "%s",
                 err);
    cr_assert_eq(consume_all(c, 20), 20);
    cr_assert_eq(gregor_consumer_store_offset(c, topic, 0, 5, 0), GREGOR_OK);
    /* Auto-commit (every 100 ms) takes the stored 5, never the position 20. */
    int64_t seen = -1;
    double deadline = tc_now_s() + 20;
    while ((seen = committed(group, topic, 0)) != 5 && tc_now_s() < deadline) {
        gregor_batch *b;
        cr_assert_eq(gregor_consumer_poll(c, 100, &b, err, sizeof err), GREGOR_OK, "%s", err);
        cr_assert_null(b);
    }
    cr_assert_eq(seen, 5);
    cr_assert_eq(gregor_consumer_store_offset(c, topic, 0, 9, 0), GREGOR_OK);
    gregor_consumer_destroy(c); /* commits the stored 9 on close */
    cr_assert_eq(committed(group, topic, 0), 9);
}

/* A poll thread hands batches to a worker thread, which stores what it
 * processed and commits from its own thread. */
typedef struct handoff {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    gregor_batch *q[64];
    size_t head, tail;
    bool done;
    gregor_consumer *c;
    int processed;
    int commits;
} handoff;

static void *worker(void *arg)
{
    handoff *h = arg;
    pthread_mutex_lock(&h->lock);
    for (;;) {
        while (h->head == h->tail && !h->done)
            pthread_cond_wait(&h->cond, &h->lock);
        if (h->head == h->tail)
            break;
        gregor_batch *b = h->q[h->head++ % 64];
        pthread_cond_broadcast(&h->cond);
        pthread_mutex_unlock(&h->lock);
        cr_assert_eq(gregor_consumer_store_offset(h->c, gregor_batch_topic(b), gregor_batch_partition(b),
                                                  gregor_batch_next_offset(b), gregor_batch_leader_epoch(b)),
                     GREGOR_OK);
        int n = (int)gregor_batch_count(b);
        gregor_batch_destroy(b);
        char err[256];
        cr_assert_eq(gregor_consumer_commit(h->c, NULL, 0, NULL, NULL, NULL, err, sizeof err), GREGOR_OK, "%s", err);
        pthread_mutex_lock(&h->lock);
        h->processed += n;
        h->commits++;
    }
    pthread_mutex_unlock(&h->lock);
    return NULL;
}

Test(consumer_api, worker_thread_stores_and_commits_while_polling, .timeout = 120)
{
    char topic[64], group[80], err[256];
    tc_topic(topic, sizeof topic, "api-store-worker");
    snprintf(group, sizeof group, "g-%s", topic);
    tc_create_topic(cluster(), topic, 3, 1);
    for (int p = 0; p < 3; p++)
        produce(topic, p, 200);
    handoff h = {.c = group_consumer(group, "true", "false")};
    pthread_mutex_init(&h.lock, NULL);
    pthread_cond_init(&h.cond, NULL);
    for (int p = 0; p < 3; p++)
        cr_assert_eq(gregor_consumer_assign(h.c, topic, p, GREGOR_OFFSET_BEGINNING, 0, err, sizeof err), GREGOR_OK,
                     "%s", err);
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, worker, &h), 0);
    int polled = 0;
    double deadline = tc_now_s() + 60;
    while (polled < 600 && tc_now_s() < deadline) {
        gregor_batch *b;
        cr_assert_eq(gregor_consumer_poll(h.c, 200, &b, err, sizeof err), GREGOR_OK, "%s", err);
        if (!b)
            continue;
        polled += (int)gregor_batch_count(b);
        pthread_mutex_lock(&h.lock);
        while (h.tail - h.head == 64)
            pthread_cond_wait(&h.cond, &h.lock);
        h.q[h.tail++ % 64] = b;
        pthread_cond_broadcast(&h.cond);
        pthread_mutex_unlock(&h.lock);
    }
    pthread_mutex_lock(&h.lock);
    h.done = true;
    pthread_cond_broadcast(&h.cond);
    pthread_mutex_unlock(&h.lock);
    pthread_join(t, NULL);
    cr_log_info("polled %d, worker processed %d with %d commits", polled, h.processed, h.commits);
    cr_assert_eq(polled, 600);
    cr_assert_eq(h.processed, 600);
    gregor_consumer_destroy(h.c);
    for (int p = 0; p < 3; p++)
        cr_assert_eq(committed(group, topic, p), 200);
    pthread_cond_destroy(&h.cond);
    pthread_mutex_destroy(&h.lock);
}

/* ------------------------------------------------ list-based assignment */

/* The first message of each partition that poll returns, until every one
 * of `n` partitions gave one (or 30 s passed); counts messages per partition. */
static void first_offsets(gregor_consumer *c, int n, int64_t *first, int *count, double seconds)
{
    for (int p = 0; p < n; p++) {
        first[p] = -1;
        count[p] = 0;
    }
    double deadline = tc_now_s() + seconds;
    while (tc_now_s() < deadline) {
        gregor_batch *b;
        char err[256];
        cr_assert_eq(gregor_consumer_poll(c, 200, &b, err, sizeof err), GREGOR_OK, "%s", err);
        if (!b)
            continue;
        int p = gregor_batch_partition(b);
        cr_assert(p >= 0 && p < n);
        if (first[p] < 0)
            first[p] = gregor_batch_message(b, 0)->offset;
        count[p] += (int)gregor_batch_count(b);
        gregor_batch_destroy(b);
    }
}

Test(consumer_api, assign_list_resolves_committed_offsets_in_the_background, .timeout = 120)
{
    char topic[64], group[80], err[256];
    tc_topic(topic, sizeof topic, "api-alist");
    snprintf(group, sizeof group, "g-%s", topic);
    tc_create_topic(cluster(), topic, 5, 1);
    for (int p = 0; p < 5; p++)
        produce(topic, p, 30);
    /* Committed: partition p at 3p + 1, except partition 4 (none). */
    gregor_consumer *c = group_consumer(group, "false", "true");
    gregor_topic_offset commit[4];
    for (int p = 0; p < 4; p++)
        commit[p] = (gregor_topic_offset){.topic = topic, .partition = p, .offset = 3 * p + 1};
    cr_assert_eq(gregor_consumer_commit(c, commit, 4, NULL, NULL, NULL, err, sizeof err), GREGOR_OK, "%s", err);
    gregor_consumer_destroy(c);

    const char *kv[] = {"auto_offset_reset=earliest", "enable_auto_commit=false", NULL};
    char g[176];
    snprintf(g, sizeof g, "group_id=%s", group);
    const char *kv2[] = {g, kv[0], kv[1], NULL};
    c = tc_consumer(bootstrap(), kv2);
    gregor_topic_offset list[5];
    for (int p = 0; p < 5; p++)
        list[p] = (gregor_topic_offset){.topic = topic, .partition = p, .offset = GREGOR_OFFSET_COMMITTED};
    list[3].offset = 20; /* an explicit offset among them */
    double t0 = tc_now_s();
    cr_assert_eq(gregor_consumer_assign_list(c, list, 5, err, sizeof err), GREGOR_OK, "%s", err);
    double took_ms = (tc_now_s() - t0) * 1000;
    cr_log_info("assign_list of 5 partitions returned in %.2f ms", took_ms);
    cr_assert_lt(took_ms, 50.0, "assign_list blocked %.1f ms", took_ms);

    int64_t first[5];
    int count[5];
    first_offsets(c, 5, first, count, 5);
    cr_assert_eq(first[0], 1);
    cr_assert_eq(first[1], 4);
    cr_assert_eq(first[2], 7);
    cr_assert_eq(first[3], 20);
    cr_assert_eq(first[4], 0, "no commit: auto_offset_reset=earliest");

    gregor_topic_offset *a;
    size_t n;
    cr_assert_eq(gregor_consumer_assignment(c, &a, &n), GREGOR_OK);
    cr_assert_eq(n, 5);
    for (size_t i = 0; i < n; i++) {
        cr_assert_str_eq(a[i].topic, topic);
        cr_assert_eq(a[i].offset, 30, "partition %d at %lld", (int)a[i].partition, (long long)a[i].offset);
        cr_assert_eq(a[i].err, GREGOR_OK);
    }
    gregor_topic_offsets_free(a, n);

    /* Bad entries are refused, naming the entry; nothing is assigned. */
    gregor_topic_offset bad[2] = {{.topic = topic, .partition = 0, .offset = 0},
                                  {.topic = topic, .partition = 1, .offset = -7}};
    cr_assert_eq(gregor_consumer_assign_list(c, bad, 2, err, sizeof err), GREGOR_ERR_INVALID_ARG);
    cr_assert(strstr(err, "entry 1") && strstr(err, "partition 1"), "%s", err);
    gregor_consumer_destroy(c);

    /* COMMITTED without a group is refused. */
    c = tc_consumer(bootstrap(), NULL);
    cr_assert_eq(gregor_consumer_assign_list(c, list, 1, err, sizeof err), GREGOR_ERR_INVALID_ARG);
    cr_assert(strstr(err, "group_id"), "%s", err);
    gregor_consumer_destroy(c);
}

Test(consumer_api, unassign_list_stops_partitions, .timeout = 120)
{
    char topic[64], err[256];
    tc_topic(topic, sizeof topic, "api-unassign");
    tc_create_topic(cluster(), topic, 3, 1);
    for (int p = 0; p < 3; p++)
        produce(topic, p, 50);
    const char *kv[] = {"max_partition_fetch_bytes=1024", NULL};
    gregor_consumer *c = tc_consumer(bootstrap(), kv);
    gregor_topic_offset list[3];
    for (int p = 0; p < 3; p++)
        list[p] = (gregor_topic_offset){.topic = topic, .partition = p, .offset = GREGOR_OFFSET_BEGINNING};
    cr_assert_eq(gregor_consumer_assign_list(c, list, 3, err, sizeof err), GREGOR_OK, "%s", err);
    /* One batch, so that batches of every partition are queued. */
    gregor_batch *b = NULL;
    while (!b)
        cr_assert_eq(gregor_consumer_poll(c, 1000, &b, err, sizeof err), GREGOR_OK, "%s", err);
    int32_t kept = gregor_batch_partition(b);
    int kept_count = (int)gregor_batch_count(b);
    gregor_batch_destroy(b);
    usleep(300 * 1000);

    gregor_topic_offset drop[3];
    size_t nd = 0;
    for (int p = 0; p < 3; p++)
        if (p != kept)
            drop[nd++] = (gregor_topic_offset){.topic = topic, .partition = p};
    cr_assert_eq(gregor_consumer_unassign_list(c, drop, nd), GREGOR_OK);
    cr_assert_eq(gregor_consumer_unassign_list(c, drop, 1), GREGOR_ERR_UNKNOWN_TOPIC);
    for (int p = 0; p < 3; p++)
        produce(topic, p, 10);

    int64_t first[3];
    int count[3];
    first_offsets(c, 3, first, count, 4);
    for (int p = 0; p < 3; p++)
        if (p != kept)
            cr_assert_eq(count[p], 0, "unassigned partition %d returned %d messages", p, count[p]);
    cr_assert_eq(kept_count + count[kept], 60);

    gregor_topic_offset *a;
    size_t n;
    cr_assert_eq(gregor_consumer_assignment(c, &a, &n), GREGOR_OK);
    cr_assert_eq(n, 1);
    cr_assert_eq(a[0].partition, kept);
    cr_assert_eq(a[0].offset, 60);
    gregor_topic_offsets_free(a, n);

    /* More data for the kept partition is fetched and queued, then
     * released when it is unassigned too. */
    produce(topic, kept, 10);
    for (int i = 0; i < 100 && consumer_prefetch_held(c) == 0; i++)
        usleep(50 * 1000);
    size_t held = consumer_prefetch_held(c);
    cr_assert_gt(held, 0);
    cr_assert_eq(gregor_consumer_unassign_list(c, &list[kept], 1), GREGOR_OK);
    cr_assert_eq(gregor_consumer_assignment(c, &a, &n), GREGOR_OK);
    cr_assert_eq(n, 0);
    cr_assert_null(a);
    for (int i = 0; i < 100 && consumer_prefetch_held(c) > 0; i++)
        usleep(50 * 1000);
    cr_log_info("prefetch memory held: %zu bytes queued, %zu after unassigning", held, consumer_prefetch_held(c));
    cr_assert_eq(consumer_prefetch_held(c), 0);
    gregor_consumer_destroy(c);
}
