/* Integration: prefetch_bytes bounds the memory the consumer holds, counted
 * until the application destroys its batches, against a 4.x broker
 * (GREGOR_TEST_KAFKA1), with kcat as the producer.
 *
 * 32 MiB of messages are produced gzip-compressed (hex digits: the broker
 * stores about half). The application polls and keeps every
 * batch: with prefetch_bytes 4 MiB the consumer must stop fetching once the
 * frames, decompression buffers and message arrays it handed out reach the
 * limit, so the process's resident memory grows by the limit plus at most
 * one Fetch response's worth (max_partition_fetch_bytes 64 KiB, but a
 * broker always returns one whole batch: kcat's are up to 1 MB
 * decompressed), not by the 48 MiB of frames and decoded data. Destroying
 * the batches lets fetching resume, and every message arrives exactly once.
 */
#include "test_consume_util.h"

#define N_MSGS 4096
#define MSG_BYTES 8192
#define PREFETCH_BYTES (4 << 20)

static const char *bootstrap(void) { return tu_env_required("GREGOR_TEST_KAFKA1"); }
static const char *cluster(void) { return tc_cluster_name("GREGOR_TEST_KAFKA1_NAME", "kafka1"); }

/* Resident set size of this process, in bytes. */
static size_t rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    cr_assert(f);
    unsigned long pages_total = 0, pages_resident = 0;
    cr_assert_eq(fscanf(f, "%lu %lu", &pages_total, &pages_resident), 2);
    fclose(f);
    return (size_t)pages_resident * (size_t)sysconf(_SC_PAGESIZE);
}

Test(consume_memory, prefetch_bytes_bounds_batches_the_application_holds, .timeout = 240)
{
    char topic[128], err[256];
    tc_topic(topic, sizeof topic, "consume-memory");
    tc_create_topic(cluster(), topic, 1, 1);
    /* Hex digits of random bytes: gzip halves them, no more, so that one
     * Fetch response (one whole batch at least) stays small decompressed. */
    tc_sh("python3 -c \"import os, sys\nfor i in range(%d): sys.stdout.write(os.urandom(%d).hex() + '\\n')\" | "
          "kcat -P -q -b %s -t %s -p 0 -z gzip -X linger.ms=50",
          N_MSGS, MSG_BYTES / 2, bootstrap(), topic);

    char prefetch[64];
    snprintf(prefetch, sizeof prefetch, "prefetch_bytes=%d", PREFETCH_BYTES);
    const char *kv[] = {prefetch, "max_partition_fetch_bytes=65536", "fetch_max_bytes=65536", NULL};
    gregor_consumer *c = tc_consumer(bootstrap(), kv);
    cr_assert_eq(gregor_consumer_assign(c, topic, 0, GREGOR_OFFSET_BEGINNING, 0, err, sizeof err), GREGOR_OK, "%s",
                 err);
    /* Warm up: the first batch, so that the client's own buffers exist. */
    gregor_batch *b = NULL;
    for (int i = 0; i < 60 && !b; i++)
        cr_assert_eq(gregor_consumer_poll(c, 500, &b, err, sizeof err), GREGOR_OK, "%s", err);
    cr_assert_not_null(b, "no messages");
    int64_t next = 0;
    size_t got = 0;
    for (size_t i = 0; i < gregor_batch_count(b); i++, got++)
        cr_assert_eq(gregor_batch_message(b, i)->offset, next++);
    gregor_batch_destroy(b);

    size_t rss0 = rss_bytes();
    size_t cap = N_MSGS, n_held = 0, held_msgs = 0;
    gregor_batch **held = calloc(cap, sizeof *held);
    cr_assert(held);
    /* Keep every batch until three polls in a row come back empty. */
    for (int empty = 0; empty < 3 && got < N_MSGS;) {
        cr_assert_eq(gregor_consumer_poll(c, 500, &b, err, sizeof err), GREGOR_OK, "%s", err);
        if (!b) {
            empty++;
            continue;
        }
        empty = 0;
        for (size_t i = 0; i < gregor_batch_count(b); i++, got++, held_msgs++) {
            const gregor_message *m = gregor_batch_message(b, i);
            cr_assert_eq(m->offset, next, "offset %lld, expected %lld", (long long)m->offset, (long long)next);
            cr_assert_eq(m->value_len, MSG_BYTES);
            next++;
        }
        held[n_held++] = b;
    }
    size_t rss1 = rss_bytes();
    size_t grown = rss1 > rss0 ? rss1 - rss0 : 0;
    cr_log_info("held %zu messages (%zu MiB decoded) in %zu batches; RSS grew %zu KiB", held_msgs,
                held_msgs * MSG_BYTES >> 20, n_held, grown >> 10);
    cr_assert_lt(got, (size_t)N_MSGS, "the consumer fetched everything although the application held it all");
    cr_assert_lt(held_msgs * MSG_BYTES, (size_t)16 << 20, "%zu messages handed out while held", held_msgs);
    cr_assert_lt(grown, (size_t)24 << 20, "RSS grew by %zu KiB while batches were held (prefetch_bytes %d)",
                 grown >> 10, PREFETCH_BYTES);

    /* Let go: fetching resumes, and the rest arrives in order. */
    for (size_t i = 0; i < n_held; i++)
        gregor_batch_destroy(held[i]);
    free(held);
    double deadline = tc_now_s() + 60;
    while (got < N_MSGS && tc_now_s() < deadline) {
        cr_assert_eq(gregor_consumer_poll(c, 500, &b, err, sizeof err), GREGOR_OK, "%s", err);
        for (size_t i = 0; b && i < gregor_batch_count(b); i++, got++)
            cr_assert_eq(gregor_batch_message(b, i)->offset, next++);
        gregor_batch_destroy(b);
    }
    cr_assert_eq(got, (size_t)N_MSGS, "%zu of %d messages", got, N_MSGS);
    gregor_consumer_destroy(c);
}
