/* bench/rdkafka_consume_bench.c — the workload of `gregor bench consume`,
 * run with librdkafka, for comparison in the same run against the same
 * broker. Built only for benchmarking (bench/consume_vs_librdkafka.sh):
 *
 *   cc -O2 -o rdkafka_consume_bench rdkafka_consume_bench.c -lrdkafka
 *   rdkafka_consume_bench -b BROKERS -t TOPIC -c COUNT [-X key=value]...
 *
 * Every partition assigned from the beginning (no group membership: a
 * throw-away group.id, nothing committed), messages taken in batches from
 * the consumer queue (rd_kafka_consume_batch_queue, librdkafka's fastest
 * path), every value's bytes touched as gregor's bench does; the clock and
 * the CPU count (user+sys of the process) start just before the assignment,
 * when fetching begins.
 * Same `key=value` summary line.
 */
#include <librdkafka/rdkafka.h>
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
    const char *brokers = NULL, *topic = NULL;
    long long count = 0;
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char group[64];
    snprintf(group, sizeof group, "rdkafka-bench-%d", (int)getpid());
    set(conf, "group.id", group);
    set(conf, "enable.auto.commit", "false");
    set(conf, "enable.partition.eof", "false");
    int opt;
    while ((opt = getopt(argc, argv, "b:t:c:X:")) != -1) {
        if (opt == 'b')
            brokers = optarg;
        else if (opt == 't')
            topic = optarg;
        else if (opt == 'c')
            count = atoll(optarg);
        else if (opt == 'X') {
            char *eq = strchr(optarg, '=');
            if (!eq)
                return 2;
            *eq = 0;
            set(conf, optarg, eq + 1);
        } else {
            return 2;
        }
    }
    if (!brokers || !topic || count <= 0) {
        fprintf(stderr, "usage: %s -b BROKERS -t TOPIC -c COUNT [-X key=value]...\n", argv[0]);
        return 2;
    }
    set(conf, "bootstrap.servers", brokers);
    char err[512];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    if (!rk) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    const struct rd_kafka_metadata *md;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    if (rd_kafka_metadata(rk, 0, rkt, &md, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR || md->topic_cnt != 1) {
        fprintf(stderr, "no metadata for %s\n", topic);
        return 1;
    }
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(md->topics[0].partition_cnt);
    for (int i = 0; i < md->topics[0].partition_cnt; i++)
        rd_kafka_topic_partition_list_add(parts, topic, md->topics[0].partitions[i].id)->offset =
            RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    double t0 = now_s(), cpu0 = cpu_s(); /* before fetching starts, as in gregor's bench */
    rd_kafka_assign(rk, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    rd_kafka_queue_t *q = rd_kafka_queue_get_consumer(rk);
    static rd_kafka_message_t *msgs[10000];
    long long n = 0, bytes = 0;
    unsigned sum = 0;
    double last = now_s();
    while (n < count) {
        ssize_t got = rd_kafka_consume_batch_queue(q, 1000, msgs, 10000);
        if (got <= 0 && now_s() - last > 30) {
            fprintf(stderr, "no messages for 30 s after %lld\n", n);
            return 1;
        }
        for (ssize_t i = 0; i < got; i++) {
            rd_kafka_message_t *m = msgs[i];
            if (!m->err && n < count) {
                const unsigned char *v = m->payload;
                for (size_t k = 0; k < m->len; k += 64)
                    sum += v[k];
                bytes += (long long)(m->key_len + m->len);
                n++;
            }
            rd_kafka_message_destroy(m);
        }
        if (got > 0)
            last = now_s();
    }
    double secs = now_s() - t0, cpu = cpu_s() - cpu0;
    printf("client=librdkafka msgs=%lld bytes=%lld secs=%.3f msgs_per_s=%.0f mb_per_s=%.2f cpu_s=%.3f "
           "cpu_s_per_million=%.3f checksum=%u\n",
           n, bytes, secs, n / secs, bytes / 1e6 / secs, cpu, cpu * 1e6 / n, sum & 0xff);
    rd_kafka_queue_destroy(q);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return 0;
}
