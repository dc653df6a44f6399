/* Integration: producers and consumers sharing one gregor_client (its I/O
 * thread and connections), against a 4.x broker (GREGOR_TEST_KAFKA1):
 *
 * - a producer and two consumers on one client add no thread (counted in
 *   /proc/self/task), while a consumer with a client of its own does;
 *   messages flow from the producer to both consumers;
 * - the client's reference count: the application destroys the client
 *   first, and the producer and consumers go on working;
 * - a consumer destroyed while its long-poll Fetch is in flight leaves the
 *   shared connections to the others (ASan would see a callback run on the
 *   freed consumer), which go on consuming.
 */
#include <dirent.h>

#include "gregor/producer.h"
#include "test_consume_util.h"

static const char *bootstrap(void) { return tu_env_required("GREGOR_TEST_KAFKA1"); }
static const char *cluster(void) { return tc_cluster_name("GREGOR_TEST_KAFKA1_NAME", "kafka1"); }

static int threads(void)
{
    DIR *d = opendir("/proc/self/task");
    cr_assert_not_null(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* The thread count without a client. A client made and destroyed first
 * starts the threads a sanitizer adds with the first pthread_create
 * (TSan's background thread), so that they count here already. */
static int baseline_threads(void)
{
    gregor_config *cfg = gregor_config_new();
    gregor_client *client;
    char err[256];
    cr_assert_eq(gregor_config_set(cfg, "bootstrap", bootstrap(), err, sizeof err), GREGOR_OK, "%s", err);
    cr_assert_eq(gregor_client_new(cfg, &client, err, sizeof err), GREGOR_OK, "%s", err);
    gregor_client_destroy(client);
    gregor_config_destroy(cfg);
    return threads();
}

static gregor_config *config(void)
{
    gregor_config *cfg = gregor_config_new();
    char err[256];
    cr_assert_eq(gregor_config_set(cfg, "bootstrap", bootstrap(), err, sizeof err), GREGOR_OK, "%s", err);
    cr_assert_eq(gregor_config_set(cfg, "fetch_max_wait_ms", "500", err, sizeof err), GREGOR_OK, "%s", err);
    return cfg;
}

static void produce(gregor_producer *p, const char *topic, int32_t partition, int from, int n)
{
    for (int i = from; i < from + n; i++) {
        char v[32];
        int len = snprintf(v, sizeof v, "m%d", i);
        gregor_produce_message m = {.topic = topic, .partition = partition, .value = v, .value_len = (size_t)len};
        cr_assert_eq(gregor_producer_produce(p, &m), GREGOR_OK);
    }
    cr_assert_eq(gregor_producer_flush(p, 30000), GREGOR_OK);
}

/* Polls `c` until it returned `want` messages "m<from>".."m<from+want-1>". */
static void consume(gregor_consumer *c, int from, int want)
{
    int got = 0;
    double deadline = tc_now_s() + 30;
    while (got < want && tc_now_s() < deadline) {
        gregor_batch *b;
        char err[256];
        cr_assert_eq(gregor_consumer_poll(c, 200, &b, err, sizeof err), GREGOR_OK, "%s", err);
        for (size_t i = 0; i < gregor_batch_count(b); i++) {
            const gregor_message *m = gregor_batch_message(b, i);
            char v[32];
            int len = snprintf(v, sizeof v, "m%d", from + got);
            cr_assert_eq(m->value_len, len);
            cr_assert_eq(memcmp(m->value, v, (size_t)len), 0, "message %d", from + got);
            got++;
        }
        gregor_batch_destroy(b);
    }
    cr_assert_eq(got, want);
}

static gregor_consumer *consumer_on(gregor_client *client, const char *topic, int32_t partition)
{
    gregor_config *cfg = config();
    gregor_consumer *c;
    char err[256];
    cr_assert_eq(gregor_consumer_new_on(client, cfg, &c, err, sizeof err), GREGOR_OK, "%s", err);
    gregor_config_destroy(cfg);
    cr_assert_eq(gregor_consumer_assign(c, topic, partition, GREGOR_OFFSET_BEGINNING, 0, err, sizeof err), GREGOR_OK,
                 "%s", err);
    return c;
}

Test(shared_client, producer_and_two_consumers_on_one_io_thread, .timeout = 120)
{
    char topic[64], err[256];
    tc_topic(topic, sizeof topic, "shared");
    tc_create_topic(cluster(), topic, 2, 1);

    int before = baseline_threads();
    gregor_config *cfg = config();
    gregor_client *client;
    cr_assert_eq(gregor_client_new(cfg, &client, err, sizeof err), GREGOR_OK, "%s", err);
    int with_client = threads();
    gregor_producer *p;
    cr_assert_eq(gregor_producer_new_on(client, cfg, NULL, NULL, &p, err, sizeof err), GREGOR_OK, "%s", err);
    gregor_consumer *a = consumer_on(client, topic, 0);
    gregor_consumer *b = consumer_on(client, topic, 1);
    int shared = threads();
    cr_log_info("threads: %d before, %d with the client, %d with a producer and two consumers on it", before,
                with_client, shared);
    cr_assert_gt(with_client, before);
    cr_assert_eq(shared, with_client, "building on the client started %d threads", shared - with_client);

    produce(p, topic, 0, 0, 100);
    produce(p, topic, 1, 0, 100);
    consume(a, 0, 100);
    consume(b, 0, 100);

    /* For contrast: a consumer of its own has its own I/O thread. */
    gregor_consumer *own;
    cr_assert_eq(gregor_consumer_new(cfg, &own, err, sizeof err), GREGOR_OK, "%s", err);
    cr_log_info("threads with a consumer of its own too: %d", threads());
    cr_assert_gt(threads(), shared);
    gregor_consumer_destroy(own);

    gregor_consumer_destroy(a);
    gregor_consumer_destroy(b);
    gregor_producer_destroy(p, 10000);
    int after_users = threads();
    cr_assert_eq(after_users, with_client, "the client's I/O thread runs until the client is destroyed");
    gregor_client_destroy(client);
    cr_assert_eq(threads(), before);
    gregor_config_destroy(cfg);
}

Test(shared_client, client_destroyed_first_and_consumer_destroyed_mid_fetch, .timeout = 120)
{
    char topic[64], err[256];
    tc_topic(topic, sizeof topic, "shared-order");
    tc_create_topic(cluster(), topic, 2, 1);
    int before = baseline_threads();
    gregor_config *cfg = config();
    gregor_client *client;
    cr_assert_eq(gregor_client_new(cfg, &client, err, sizeof err), GREGOR_OK, "%s", err);
    gregor_producer *p;
    cr_assert_eq(gregor_producer_new_on(client, cfg, NULL, NULL, &p, err, sizeof err), GREGOR_OK, "%s", err);
    gregor_consumer *a = consumer_on(client, topic, 0);
    gregor_consumer *b = consumer_on(client, topic, 1);
    /* The application's reference goes first: the others keep it alive. */
    gregor_client_destroy(client);

    produce(p, topic, 0, 0, 50);
    produce(p, topic, 1, 0, 50);
    consume(a, 0, 50);
    consume(b, 0, 50);

    /* Both partitions idle now: a's Fetch long-polls at the broker when a
     * is destroyed. */
    gregor_batch *none;
    cr_assert_eq(gregor_consumer_poll(a, 100, &none, err, sizeof err), GREGOR_OK, "%s", err);
    cr_assert_null(none);
    double t0 = tc_now_s();
    gregor_consumer_destroy(a);
    double took_ms = (tc_now_s() - t0) * 1000;
    cr_log_info("consumer on a shared client destroyed in %.1f ms (fetch_max_wait_ms 500)", took_ms);
    cr_assert_lt(took_ms, 5000.0);

    produce(p, topic, 1, 50, 50);
    consume(b, 50, 50);
    gregor_producer_destroy(p, 10000);
    gregor_consumer_destroy(b); /* the last reference: the client goes too */
    cr_assert_eq(threads(), before);
    gregor_config_destroy(cfg);
}
