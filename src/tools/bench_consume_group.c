/* tools/bench_consume_group.c — `gregor bench consume -G GROUP -m N`: N
 * group members in one process (each its own gregor_group, polled by its
 * own thread) read COUNT messages of a topic filled beforehand, from the
 * beginning (a fresh GROUP: nothing committed). Reports the time until
 * every member had its first assignment, msgs/s and MB/s over the whole run
 * (joining included) and client CPU seconds per million messages, ending
 * with the key=value summary line bench/group_consume_vs_librdkafka.sh
 * compares with librdkafka's subscribe(). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "tools/bench.h"
#include "tools/tool.h"

typedef struct bench_member {
    pthread_t thread;
    gregor_group *g;
    atomic_llong *msgs, *bytes;
    atomic_bool *stop;
    atomic_int *assigned; /* members with a first assignment */
    bool got_assignment;
    unsigned sum;
    gregor_err err;
    char errstr[512];
} bench_member;

static void on_rebalance(gregor_group *g, gregor_rebalance_kind kind, const gregor_topic_offset *tps, size_t n,
                         void *opaque)
{
    (void)g, (void)tps;
    bench_member *m = opaque;
    if (kind == GREGOR_REBALANCE_ASSIGNED && n > 0 && !m->got_assignment) {
        m->got_assignment = true;
        atomic_fetch_add(m->assigned, 1);
    }
}

static void *member_main(void *arg)
{
    bench_member *m = arg;
    while (!atomic_load(m->stop)) {
        gregor_batch *b;
        if ((m->err = gregor_group_poll(m->g, 100, &b, m->errstr, sizeof m->errstr)) != GREGOR_OK) {
            atomic_store(m->stop, true);
            break;
        }
        size_t n = gregor_batch_count(b);
        long long bytes = 0;
        for (size_t i = 0; i < n; i++) {
            const gregor_message *msg = gregor_batch_message(b, i);
            const unsigned char *v = msg->value;
            for (int32_t k = 0; k < msg->value_len; k += 64)
                m->sum += v[k];
            bytes += (msg->key_len > 0 ? msg->key_len : 0) + (msg->value_len > 0 ? msg->value_len : 0);
        }
        gregor_batch_destroy(b);
        atomic_fetch_add(m->msgs, (long long)n);
        atomic_fetch_add(m->bytes, bytes);
    }
    return NULL;
}

int bench_consume_group(gregor_config *cfg, const char *topic, const char *group, int members, long long count)
{
    char err[512];
    if (count <= 0) {
        tool_error("bench consume", "-G needs -c COUNT (the messages the topic holds)");
        return TOOL_EXIT_USAGE;
    }
    if (gregor_config_set(cfg, "group_id", group, err, sizeof err) != GREGOR_OK ||
        gregor_config_set(cfg, "auto_offset_reset", "earliest", err, sizeof err) != GREGOR_OK) {
        tool_error("bench consume", "%s", err);
        return TOOL_EXIT_USAGE;
    }
    bench_member *ms = calloc((size_t)members, sizeof *ms);
    if (!ms)
        return TOOL_EXIT_FAIL;
    atomic_llong msgs = 0, bytes = 0;
    atomic_bool stop = false;
    atomic_int assigned = 0;
    int rc = TOOL_EXIT_OK, started = 0;
    double t0 = bench_now_s(), cpu0 = bench_cpu_s(), t_joined = 0;
    const char *topics[1] = {topic};
    for (int i = 0; i < members; i++) {
        bench_member *m = &ms[i];
        *m = (bench_member){.msgs = &msgs, .bytes = &bytes, .stop = &stop, .assigned = &assigned};
        if (gregor_group_new(cfg, &m->g, err, sizeof err) != GREGOR_OK) {
            tool_error("bench consume", "%s", err);
            rc = TOOL_EXIT_FAIL;
            break;
        }
        gregor_group_set_rebalance_cb(m->g, on_rebalance, m);
        if (gregor_group_subscribe(m->g, topics, 1, err, sizeof err) != GREGOR_OK ||
            pthread_create(&m->thread, NULL, member_main, m) != 0) {
            tool_error("bench consume", "member %d: %s", i, err);
            gregor_group_destroy(m->g);
            rc = TOOL_EXIT_FAIL;
            break;
        }
        started++;
    }
    double last = bench_now_s();
    long long seen = 0;
    while (rc == TOOL_EXIT_OK && !atomic_load(&stop)) {
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
        if (!t_joined && atomic_load(&assigned) >= (members < 1 ? 1 : members))
            t_joined = bench_now_s() - t0;
        long long now_msgs = atomic_load(&msgs);
        if (now_msgs >= count)
            break;
        if (now_msgs != seen) {
            seen = now_msgs;
            last = bench_now_s();
        } else if (bench_now_s() - last > 30) {
            tool_error("bench consume", "no messages for 30 s after %lld", now_msgs);
            rc = TOOL_EXIT_FAIL;
        }
    }
    double secs = bench_now_s() - t0, cpu = bench_cpu_s() - cpu0;
    atomic_store(&stop, true);
    unsigned sum = 0;
    for (int i = 0; i < started; i++) {
        pthread_join(ms[i].thread, NULL);
        if (ms[i].err != GREGOR_OK) {
            tool_error("bench consume", "member %d: %s", i, ms[i].errstr);
            rc = TOOL_EXIT_FAIL;
        }
        sum += ms[i].sum;
    }
    for (int i = 0; i < started; i++)
        gregor_group_destroy(ms[i].g);
    free(ms);
    if (rc != TOOL_EXIT_OK)
        return rc;
    long long n = atomic_load(&msgs), b = atomic_load(&bytes);
    printf("%lld messages, %.1f MB from %s by %d group members: %.2f s, every member assigned after %.2f s "
           "(checksum %u)\n",
           n, (double)b / 1e6, topic, members, secs, t_joined, sum & 0xff);
    printf("  %.0f msgs/s, %.2f MB/s, %.3f CPU s per million messages\n", (double)n / secs, (double)b / 1e6 / secs,
           cpu * 1e6 / (double)n);
    printf("client=gregor members=%d msgs=%lld bytes=%lld secs=%.3f join_s=%.3f msgs_per_s=%.0f mb_per_s=%.2f "
           "cpu_s=%.3f cpu_s_per_million=%.3f\n",
           members, n, b, secs, t_joined, (double)n / secs, (double)b / 1e6 / secs, cpu, cpu * 1e6 / (double)n);
    return TOOL_EXIT_OK;
}
