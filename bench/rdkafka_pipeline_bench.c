/* bench/rdkafka_pipeline_bench.c — the workload of `gregor bench pipeline`
 * (consume → handler → produce, at least once), written by hand with
 * librdkafka the way a careful user would, for comparison in the same run
 * against the same broker (bench/pipeline_vs_librdkafka.sh):
 *
 *   cc -O2 -o rdkafka_pipeline_bench rdkafka_pipeline_bench.c -lrdkafka
 *   rdkafka_pipeline_bench -b BROKERS -t INPUT -o OUTPUT -G GROUP -c COUNT [-s SLEEP_US]
 *                          [-P key=value]... [-X key=value]...
 *
 * One consumer group member (rd_kafka_subscribe, auto.offset.reset=earliest,
 * a fresh GROUP) polled with rd_kafka_consumer_poll on one thread; for each
 * message the "handler" (nothing, or a sleep of SLEEP_US, in the loop: a
 * simple loop is single-threaded) and an rd_kafka_producev() of its key and
 * value to OUTPUT on a separate producer. The input offset is stored only
 * after the output's delivery report: per partition, a ring of the offsets
 * in flight in consume order; the delivery report marks its entry done and
 * after each rd_kafka_poll() of the producer the lowest undelivered offset of
 * every partition that moved is stored (rd_kafka_offsets_store, with
 * enable.auto.offset.store=false) and auto-commit commits it. On revoke the
 * producer is flushed and the stored offsets committed before the
 * partitions are given up.
 *
 * The clock and the CPU count (user+sys of the process) start before the
 * clients are created; the run ends when COUNT input messages have had
 * their outputs delivered. join_s is the time to the first assignment;
 * msgs_per_s counts from there (librdkafka's eager join takes seconds, which
 * would otherwise dominate a short run), cpu_s covers everything. -P options
 * go to the producer (e.g. -P acks=all), -X options to both clients.
 * Same `key=value` summary line as the other benches.
 */
#include <librdkafka/rdkafka.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define MAX_PARTITIONS 1024
#define SEQ_BITS 40

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

/* The offsets of one input partition consumed and not yet delivered, in
 * consume order: entries [head, tail) of a ring indexed by a per-partition
 * sequence number (the delivery opaque carries partition and sequence). */
typedef struct tracker {
    int64_t *offsets;
    unsigned char *done;
    uint64_t head, tail, mask;
    int64_t stored;   /* last offset stored for commit, -1 none */
    int64_t next;     /* offset after the last finished one */
    int dirty;
} tracker;

static tracker tracks[MAX_PARTITIONS];
static const char *in_topic;
static long long n_done, n_failed, bytes_done;
static rd_kafka_t *consumer, *producer;

static void tracker_reset(tracker *t)
{
    free(t->offsets);
    free(t->done);
    *t = (tracker){.stored = -1, .next = -1};
}

static uint64_t tracker_push(tracker *t, int64_t offset)
{
    if (t->tail - t->head == (t->offsets ? t->mask + 1 : 0)) {
        uint64_t cap = t->offsets ? 2 * (t->mask + 1) : 1024;
        int64_t *o = malloc(cap * sizeof *o);
        unsigned char *d = malloc(cap);
        if (!o || !d) {
            fprintf(stderr, "out of memory\n");
            exit(1);
        }
        for (uint64_t s = t->head; s < t->tail; s++) {
            o[s & (cap - 1)] = t->offsets[s & t->mask];
            d[s & (cap - 1)] = t->done[s & t->mask];
        }
        free(t->offsets);
        free(t->done);
        t->offsets = o, t->done = d, t->mask = cap - 1;
    }
    uint64_t seq = t->tail++;
    t->offsets[seq & t->mask] = offset;
    t->done[seq & t->mask] = 0;
    return seq;
}

/* Delivery report (on the thread that calls rd_kafka_poll(producer)). */
static void dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk, (void)opaque;
    uint64_t v = (uint64_t)(uintptr_t)m->_private;
    tracker *t = &tracks[v >> SEQ_BITS];
    uint64_t seq = v & ((1ULL << SEQ_BITS) - 1);
    if (m->err) {
        /* A careful loop would retry; here it ends the run as a failure. */
        fprintf(stderr, "delivery failed: %s\n", rd_kafka_err2str(m->err));
        n_failed++;
        return;
    }
    t->done[seq & t->mask] = 1;
    t->dirty = 1;
    n_done++;
    bytes_done += (long long)(m->key_len + m->len);
}

/* Stores the lowest undelivered offset of every partition that moved. */
static void store_offsets(void)
{
    rd_kafka_topic_partition_list_t *list = NULL;
    for (int p = 0; p < MAX_PARTITIONS; p++) {
        tracker *t = &tracks[p];
        if (!t->dirty)
            continue;
        t->dirty = 0;
        while (t->head < t->tail && t->done[t->head & t->mask])
            t->next = t->offsets[t->head++ & t->mask] + 1;
        int64_t commit = t->head < t->tail ? t->offsets[t->head & t->mask] : t->next;
        if (commit <= t->stored)
            continue;
        t->stored = commit;
        if (!list)
            list = rd_kafka_topic_partition_list_new(8);
        rd_kafka_topic_partition_list_add(list, in_topic, p)->offset = commit;
    }
    if (list) {
        rd_kafka_offsets_store(consumer, list); /* a revoked partition's store fails: nothing to keep */
        rd_kafka_topic_partition_list_destroy(list);
    }
}

static double t0, t_joined;

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    (void)opaque;
    int coop = !strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE");
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        if (parts->cnt > 0 && !t_joined)
            t_joined = now_s() - t0;
        if (coop)
            rd_kafka_error_destroy(rd_kafka_incremental_assign(rk, parts));
        else
            rd_kafka_assign(rk, parts);
        return;
    }
    /* Revoked or lost: finish what is in flight, store and commit it, then
     * give the partitions up with fresh trackers. */
    rd_kafka_flush(producer, 30000);
    store_offsets();
    if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS && !rd_kafka_assignment_lost(rk))
        rd_kafka_commit(rk, NULL, 0);
    for (int i = 0; i < parts->cnt; i++)
        if (parts->elems[i].partition >= 0 && parts->elems[i].partition < MAX_PARTITIONS)
            tracker_reset(&tracks[parts->elems[i].partition]);
    if (coop)
        rd_kafka_error_destroy(rd_kafka_incremental_unassign(rk, parts));
    else
        rd_kafka_assign(rk, NULL);
}

static void set(rd_kafka_conf_t *conf, const char *k, const char *v)
{
    char err[256];
    if (rd_kafka_conf_set(conf, k, v, err, sizeof err) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "%s\n", err);
        exit(2);
    }
}

static void set_x(rd_kafka_conf_t *conf, char **xs, int n_x)
{
    for (int k = 0; k < n_x; k++) {
        char kv[512];
        snprintf(kv, sizeof kv, "%s", xs[k]);
        char *eq = strchr(kv, '=');
        if (!eq) {
            fprintf(stderr, "-X %s: expected key=value\n", xs[k]);
            exit(2);
        }
        *eq = 0;
        set(conf, kv, eq + 1);
    }
}

/* The handler: a sleep of sleep_us (nothing when 0), then one produce of
 * the message's key and value, waiting for queue room. */
static void handle(rd_kafka_topic_t *out, const rd_kafka_message_t *m, long sleep_us)
{
    if (sleep_us > 0) {
        struct timespec ts = {sleep_us / 1000000, (sleep_us % 1000000) * 1000};
        nanosleep(&ts, NULL);
    }
    if (m->partition < 0 || m->partition >= MAX_PARTITIONS) {
        fprintf(stderr, "partition %d beyond %d\n", (int)m->partition, MAX_PARTITIONS);
        exit(1);
    }
    uint64_t seq = tracker_push(&tracks[m->partition], m->offset);
    void *opaque = (void *)(uintptr_t)(((uint64_t)m->partition << SEQ_BITS) | seq);
    for (;;) {
        rd_kafka_resp_err_t e =
            rd_kafka_producev(producer, RD_KAFKA_V_RKT(out), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                              RD_KAFKA_V_KEY(m->key, m->key_len), RD_KAFKA_V_VALUE(m->payload, m->len),
                              RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
            return;
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            fprintf(stderr, "produce: %s\n", rd_kafka_err2str(e));
            exit(1);
        }
        rd_kafka_poll(producer, 10); /* serves delivery reports: room frees up */
        store_offsets();
    }
}

int main(int argc, char **argv)
{
    const char *brokers = NULL, *out_topic = NULL, *group = NULL;
    long long count = 0;
    long sleep_us = 0;
    int n_x = 0, n_p = 0;
    char *xs[64], *ps[64];
    int opt;
    while ((opt = getopt(argc, argv, "b:t:o:G:c:s:P:X:")) != -1) {
        if (opt == 'b')
            brokers = optarg;
        else if (opt == 't')
            in_topic = optarg;
        else if (opt == 'o')
            out_topic = optarg;
        else if (opt == 'G')
            group = optarg;
        else if (opt == 'c')
            count = atoll(optarg);
        else if (opt == 's')
            sleep_us = atol(optarg);
        else if (opt == 'X' && n_x < 64)
            xs[n_x++] = optarg;
        else if (opt == 'P' && n_p < 64)
            ps[n_p++] = optarg;
        else
            return 2;
    }
    if (!brokers || !in_topic || !out_topic || !group || count <= 0 || sleep_us < 0) {
        fprintf(stderr,
                "usage: %s -b BROKERS -t INPUT -o OUTPUT -G GROUP -c COUNT [-s SLEEP_US] [-P key=value]... "
                "[-X key=value]...\n",
                argv[0]);
        return 2;
    }
    for (int p = 0; p < MAX_PARTITIONS; p++)
        tracker_reset(&tracks[p]);
    char err[512];
    t0 = now_s();
    double cpu0 = cpu_s();

    rd_kafka_conf_t *pconf = rd_kafka_conf_new();
    set(pconf, "bootstrap.servers", brokers);
    set_x(pconf, xs, n_x);
    set_x(pconf, ps, n_p);
    rd_kafka_conf_set_dr_msg_cb(pconf, dr);
    if (!(producer = rd_kafka_new(RD_KAFKA_PRODUCER, pconf, err, sizeof err))) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    rd_kafka_topic_t *out = rd_kafka_topic_new(producer, out_topic, NULL);

    rd_kafka_conf_t *cconf = rd_kafka_conf_new();
    set(cconf, "bootstrap.servers", brokers);
    set(cconf, "group.id", group);
    set(cconf, "auto.offset.reset", "earliest");
    set(cconf, "enable.auto.commit", "true");
    set(cconf, "enable.auto.offset.store", "false");
    set(cconf, "enable.partition.eof", "false");
    set_x(cconf, xs, n_x);
    rd_kafka_conf_set_rebalance_cb(cconf, rebalance_cb);
    if (!(consumer = rd_kafka_new(RD_KAFKA_CONSUMER, cconf, err, sizeof err))) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    rd_kafka_poll_set_consumer(consumer);
    rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(sub, in_topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t e = rd_kafka_subscribe(consumer, sub);
    rd_kafka_topic_partition_list_destroy(sub);
    if (e) {
        fprintf(stderr, "subscribe: %s\n", rd_kafka_err2str(e));
        return 1;
    }

    double last = now_s();
    long long seen = 0;
    int rc = 0;
    while (n_done < count && !n_failed) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(consumer, 10);
        if (m) {
            if (!m->err) {
                handle(out, m, sleep_us);
            } else {
                fprintf(stderr, "consume: %s\n", rd_kafka_message_errstr(m));
            }
            rd_kafka_message_destroy(m);
        }
        rd_kafka_poll(producer, 0);
        store_offsets();
        if (n_done != seen) {
            seen = n_done;
            last = now_s();
        } else if (now_s() - last > 30) {
            fprintf(stderr, "no progress for 30 s after %lld delivered\n", n_done);
            rc = 1;
            break;
        }
    }
    if (n_failed)
        rc = 1;
    double secs = now_s() - t0, cpu = cpu_s() - cpu0, run = secs - t_joined;
    if (!rc)
        printf("client=librdkafka sleep_us=%ld msgs=%lld bytes=%lld secs=%.3f join_s=%.3f msgs_per_s=%.0f "
               "mb_per_s=%.2f cpu_s=%.3f cpu_s_per_million=%.3f\n",
               sleep_us, n_done, bytes_done, secs, t_joined, n_done / run, bytes_done / 1e6 / run, cpu,
               cpu * 1e6 / n_done);
    /* Close: flush what is in flight, store and commit it, leave the group. */
    rd_kafka_flush(producer, 30000);
    store_offsets();
    rd_kafka_commit(consumer, NULL, 0);
    rd_kafka_consumer_close(consumer);
    rd_kafka_destroy(consumer);
    rd_kafka_topic_destroy(out);
    rd_kafka_destroy(producer);
    for (int p = 0; p < MAX_PARTITIONS; p++)
        tracker_reset(&tracks[p]);
    return rc;
}
