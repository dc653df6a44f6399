/* bench/rdkafka_produce_bench.c — the workload of `gregor bench produce`,
 * run with librdkafka, for comparison in the same run against the same
 * broker. Built only for benchmarking (bench/produce_vs_librdkafka.sh):
 *
 *   cc -O2 -o rdkafka_produce_bench rdkafka_produce_bench.c -lrdkafka
 *   rdkafka_produce_bench -b BROKERS -t TOPIC [-s SIZE] [-c COUNT] [-z CODEC] [-X key=value]...
 *
 * Same payload, same measurements (latency from produce to delivery
 * report, user+sys CPU of the process), same `key=value` summary line.
 */
#include <librdkafka/rdkafka.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static uint32_t *lat_us;
static size_t n_lat, cap_lat, n_failed;

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static void dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk, (void)opaque;
    if (m->err) {
        n_failed++;
        return;
    }
    if (n_lat < cap_lat)
        lat_us[n_lat++] = (uint32_t)(mono_us() - (int64_t)(uintptr_t)m->_private);
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
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
    const char *topic = NULL, *codec = "none";
    size_t size = 100, count = 1000000;
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    int opt;
    while ((opt = getopt(argc, argv, "b:t:s:c:z:X:")) != -1) {
        switch (opt) {
        case 'b': set(conf, "bootstrap.servers", optarg); break;
        case 't': topic = optarg; break;
        case 's': size = strtoull(optarg, NULL, 10); break;
        case 'c': count = strtoull(optarg, NULL, 10); break;
        case 'z': codec = optarg; set(conf, "compression.codec", optarg); break;
        case 'X': {
            char *eq = strchr(optarg, '=');
            if (!eq)
                return 2;
            *eq = 0;
            set(conf, optarg, eq + 1);
            break;
        }
        default: return 2;
        }
    }
    if (!topic)
        return 2;
    set(conf, "queue.buffering.max.messages", "1000000");
    rd_kafka_conf_set_dr_msg_cb(conf, dr);
    char err[256];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!rk) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    char *payload = malloc(size);
    for (size_t i = 0; i < size; i++)
        payload[i] = "gregor benchmark payload 0123456789 "[i % 36];
    cap_lat = count + 1;
    lat_us = malloc(cap_lat * sizeof *lat_us);
    /* Warm up: metadata, connection, producer id. */
    rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_VALUE(payload, size),
                      RD_KAFKA_V_OPAQUE((void *)(uintptr_t)mono_us()), RD_KAFKA_V_END);
    rd_kafka_flush(rk, 30000);
    n_lat = 0;
    double cpu0 = cpu_s();
    int64_t t0 = mono_us();
    for (size_t i = 0; i < count; i++) {
        for (;;) {
            rd_kafka_resp_err_t e = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_VALUE(payload, size),
                                                      RD_KAFKA_V_OPAQUE((void *)(uintptr_t)mono_us()),
                                                      RD_KAFKA_V_END);
            if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
                break;
            if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                fprintf(stderr, "produce: %s\n", rd_kafka_err2str(e));
                return 1;
            }
            rd_kafka_poll(rk, 10);
        }
        if ((i & 1023) == 0)
            rd_kafka_poll(rk, 0);
    }
    rd_kafka_flush(rk, -1);
    int64_t t1 = mono_us();
    double cpu1 = cpu_s();
    rd_kafka_destroy(rk);
    double secs = (t1 - t0) / 1e6;
    qsort(lat_us, n_lat, sizeof *lat_us, cmp_u32);
    double p50 = n_lat ? lat_us[n_lat / 2] / 1000.0 : 0, p99 = n_lat ? lat_us[(size_t)(n_lat * 0.99)] / 1000.0 : 0;
    double mx = n_lat ? lat_us[n_lat - 1] / 1000.0 : 0;
    double cpm = n_lat ? (cpu1 - cpu0) / (n_lat / 1e6) : 0;
    printf("client=librdkafka msgs=%zu size=%zu codec=%s secs=%.3f msgs_per_s=%.0f mb_per_s=%.2f p50_ms=%.2f "
           "p99_ms=%.2f max_ms=%.2f cpu_s=%.3f cpu_s_per_million=%.3f failed=%zu\n",
           n_lat, size, codec, secs, n_lat / secs, n_lat * (double)size / secs / 1e6, p50, p99, mx, cpu1 - cpu0, cpm,
           n_failed);
    free(payload);
    free(lat_us);
    return n_failed ? 1 : 0;
}
