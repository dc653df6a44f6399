/* bench/rdkafka_group_bench.c — the workload of `gregor bench consume -G
 * GROUP -m MEMBERS`, run with librdkafka's subscribe(), for comparison in
 * the same run against the same broker (bench/group_consume_vs_librdkafka.sh):
 *
 *   cc -O2 -o rdkafka_group_bench rdkafka_group_bench.c -lrdkafka -lpthread
 *   rdkafka_group_bench -b BROKERS -t TOPIC -G GROUP -m MEMBERS -c COUNT [-X key=value]...
 *
 * MEMBERS consumers (one rd_kafka_t each, polled by its own thread with
 * rd_kafka_consumer_poll) subscribe to TOPIC in a fresh GROUP
 * (auto.offset.reset=earliest, nothing committed) and read COUNT messages
 * in all, touching every value's bytes as gregor's bench does. The clock
 * and the CPU count start before the first consumer is created, so joining
 * is included, as in gregor's. Same `key=value` summary line.
 */
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

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

static atomic_llong total_msgs, total_bytes;
static atomic_bool stop;
static atomic_int assigned;

typedef struct member {
    pthread_t thread;
    rd_kafka_t *rk;
    int got_assignment;
    unsigned sum;
} member;

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    member *m = opaque;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        if (parts->cnt > 0 && !m->got_assignment) {
            m->got_assignment = 1;
            atomic_fetch_add(&assigned, 1);
        }
        if (!strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE"))
            rd_kafka_error_destroy(rd_kafka_incremental_assign(rk, parts));
        else
            rd_kafka_assign(rk, parts);
    } else {
        if (!strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE"))
            rd_kafka_error_destroy(rd_kafka_incremental_unassign(rk, parts));
        else
            rd_kafka_assign(rk, NULL);
    }
}

static void *member_main(void *arg)
{
    member *m = arg;
    while (!atomic_load(&stop)) {
        rd_kafka_message_t *msg = rd_kafka_consumer_poll(m->rk, 100);
        if (!msg)
            continue;
        if (!msg->err) {
            const unsigned char *v = msg->payload;
            for (size_t k = 0; k < msg->len; k += 64)
                m->sum += v[k];
            atomic_fetch_add(&total_bytes, (long long)(msg->key_len + msg->len));
            atomic_fetch_add(&total_msgs, 1);
        }
        rd_kafka_message_destroy(msg);
    }
    return NULL;
}

static void set(rd_kafka_conf_t *conf, const char *k, const char *v)
{
    char err[256];
    if (rd_kafka_conf_set(conf, k, v, err, sizeof err) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "%s\n", err);
        exit(2);
    }
}

int main(int argc, char **argv)
{
    const char *brokers = NULL, *topic = NULL, *group = NULL;
    long long count = 0;
    int members = 1, n_x = 0;
    char *xs[64];
    int opt;
    while ((opt = getopt(argc, argv, "b:t:G:m:c:X:")) != -1) {
        if (opt == 'b')
            brokers = optarg;
        else if (opt == 't')
            topic = optarg;
        else if (opt == 'G')
            group = optarg;
        else if (opt == 'm')
            members = atoi(optarg);
        else if (opt == 'c')
            count = atoll(optarg);
        else if (opt == 'X' && n_x < 64)
            xs[n_x++] = optarg;
        else
            return 2;
    }
    if (!brokers || !topic || !group || count <= 0 || members < 1) {
        fprintf(stderr, "usage: %s -b BROKERS -t TOPIC -G GROUP -m MEMBERS -c COUNT [-X key=value]...\n", argv[0]);
        return 2;
    }
    member *ms = calloc(members, sizeof *ms);
    double t0 = now_s(), cpu0 = cpu_s(), t_joined = 0;
    for (int i = 0; i < members; i++) {
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        set(conf, "bootstrap.servers", brokers);
        set(conf, "group.id", group);
        set(conf, "auto.offset.reset", "earliest");
        set(conf, "enable.auto.commit", "false");
        set(conf, "enable.partition.eof", "false");
        for (int k = 0; k < n_x; k++) {
            char kv[512];
            snprintf(kv, sizeof kv, "%s", xs[k]);
            char *eq = strchr(kv, '=');
            if (!eq)
                return 2;
            *eq = 0;
            set(conf, kv, eq + 1);
        }
        rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
        rd_kafka_conf_set_opaque(conf, &ms[i]);
        char err[512];
        if (!(ms[i].rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err))) {
            fprintf(stderr, "%s\n", err);
            return 1;
        }
        rd_kafka_poll_set_consumer(ms[i].rk);
        rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(sub, topic, RD_KAFKA_PARTITION_UA);
        rd_kafka_subscribe(ms[i].rk, sub);
        rd_kafka_topic_partition_list_destroy(sub);
        pthread_create(&ms[i].thread, NULL, member_main, &ms[i]);
    }
    double last = now_s();
    long long seen = 0;
    int rc = 0;
    for (;;) {
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
        if (!t_joined && atomic_load(&assigned) >= members)
            t_joined = now_s() - t0;
        long long n = atomic_load(&total_msgs);
        if (n >= count)
            break;
        if (n != seen) {
            seen = n;
            last = now_s();
        } else if (now_s() - last > 30) {
            fprintf(stderr, "no messages for 30 s after %lld\n", n);
            rc = 1;
            break;
        }
    }
    double secs = now_s() - t0, cpu = cpu_s() - cpu0;
    atomic_store(&stop, 1);
    unsigned sum = 0;
    for (int i = 0; i < members; i++) {
        pthread_join(ms[i].thread, NULL);
        sum += ms[i].sum;
    }
    long long n = atomic_load(&total_msgs), b = atomic_load(&total_bytes);
    if (!rc)
        printf("client=librdkafka members=%d msgs=%lld bytes=%lld secs=%.3f join_s=%.3f msgs_per_s=%.0f "
               "mb_per_s=%.2f cpu_s=%.3f cpu_s_per_million=%.3f checksum=%u\n",
               members, n, b, secs, t_joined, n / secs, b / 1e6 / secs, cpu, cpu * 1e6 / n, sum & 0xff);
    for (int i = 0; i < members; i++) {
        rd_kafka_consumer_close(ms[i].rk);
        rd_kafka_destroy(ms[i].rk);
    }
    free(ms);
    return rc;
}
