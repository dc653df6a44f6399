/* tools/bench_produce.c — `gregor bench produce`: throughput, delivery
 * latency and client CPU of the producer, like rdkafka_performance -P and
 * kafka-producer-perf-test.
 *
 *   gregor bench produce -b BROKERS -t TOPIC [-s SIZE] [-c COUNT] [-z CODEC]
 *                        [-p PARTITION] [-X key=value]...
 *
 * COUNT keyless messages of SIZE bytes (a fixed text pattern) are produced
 * as fast as produce accepts them (waiting for buffer room), then flushed.
 * Each message carries its send time in the opaque pointer; the delivery
 * callback records the latency. Prints msgs/s, MB/s, p50/p99/max latency
 * and user+sys CPU seconds per million messages, then one `key=value`
 * summary line (the line bench/ scripts parse).
 */
#include <getopt.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "tools/bench.h"
#include "tools/tool.h"

typedef struct lat {
    uint32_t *us;
    size_t n, cap;
    atomic_size_t failed;
    atomic_int err;
} lat;

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Runs on the producer's I/O thread only: no lock needed for `us`. */
static void on_delivery(const gregor_delivery *d, void *arg)
{
    lat *l = arg;
    if (d->err != GREGOR_OK) {
        atomic_fetch_add(&l->failed, 1);
        atomic_store(&l->err, d->err);
        return;
    }
    if (l->n < l->cap)
        l->us[l->n++] = (uint32_t)(mono_us() - (int64_t)(uintptr_t)d->opaque);
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: gregor bench produce -b HOST:PORT[,...] -t TOPIC [-s SIZE] [-c COUNT] [-z CODEC]\n"
               "                            [-p PARTITION] [-X key=value]...\n"
               "  -s SIZE   message size in bytes (100)\n"
               "  -c COUNT  messages timed (1000000), after one warm-up message that waits for metadata\n");
}

int tool_bench_produce(int argc, char **argv)
{
    gregor_config *cfg = gregor_config_new();
    const char *topic = NULL, *codec = "none";
    size_t size = 100, count = 1000000;
    int32_t partition = GREGOR_PARTITION_ANY;
    bool have_bootstrap = false;
    int rc = TOOL_EXIT_USAGE, opt;
    char err[512];
    optind = 1;
    while ((opt = getopt(argc, argv, "b:t:s:c:z:p:X:h")) != -1) {
        switch (opt) {
        case 'b':
            have_bootstrap = gregor_config_set(cfg, "bootstrap", optarg, err, sizeof err) == GREGOR_OK;
            break;
        case 't': topic = optarg; break;
        case 's':
        case 'c':
        case 'p': {
            long long v;
            if (!tool_parse_int("bench produce", opt == 's' ? "-s" : opt == 'c' ? "-c" : "-p", optarg,
                                opt == 'p' ? -1 : opt == 's' ? 0 : 1, opt == 'p' ? INT32_MAX : 1LL << 40, &v))
                goto out;
            if (opt == 's')
                size = (size_t)v;
            else if (opt == 'c')
                count = (size_t)v;
            else
                partition = (int32_t)v;
            break;
        }
        case 'z':
            codec = optarg;
            if (gregor_config_set(cfg, "compression", optarg, err, sizeof err) != GREGOR_OK) {
                tool_error("bench produce", "-z: %s", err);
                goto out;
            }
            break;
        case 'X':
            if (!tool_apply_x(cfg, optarg))
                goto out;
            break;
        case 'h':
            usage(stdout);
            rc = TOOL_EXIT_OK;
            goto out;
        default:
            usage(stderr);
            goto out;
        }
    }
    if (!have_bootstrap || !topic || size == 0 || count == 0) {
        usage(stderr);
        goto out;
    }
    if (!strcmp(gregor_config_get(cfg, "block_ms"), "0"))
        if (gregor_config_set(cfg, "block_ms", "3600000", err, sizeof err) != GREGOR_OK)
            goto out;

    lat l = {.cap = count};
    atomic_init(&l.failed, 0);
    atomic_init(&l.err, GREGOR_OK);
    char *payload = malloc(size);
    if (!(l.us = malloc(count * sizeof *l.us)) || !payload) {
        free(l.us);
        free(payload);
        rc = TOOL_EXIT_FAIL;
        goto out;
    }
    for (size_t i = 0; i < size; i++)
        payload[i] = "gregor benchmark payload 0123456789 "[i % 36];
    gregor_producer *p;
    rc = TOOL_EXIT_FAIL;
    if (gregor_producer_new(cfg, on_delivery, &l, &p, err, sizeof err) != GREGOR_OK) {
        tool_error("bench produce", "%s", err);
        free(l.us);
        free(payload);
        goto out;
    }
    /* Warm up: the first message waits for metadata and the producer id. */
    gregor_produce_message m = {.topic = topic, .partition = partition, .value = payload, .value_len = size};
    m.opaque = (void *)(uintptr_t)mono_us();
    if (gregor_producer_produce(p, &m) != GREGOR_OK || gregor_producer_flush(p, 30000) != GREGOR_OK) {
        tool_error("bench produce", "the first message was not delivered within 30 s");
        gregor_producer_destroy(p, 0);
        free(l.us);
        free(payload);
        goto out;
    }
    l.n = 0;
    double cpu0 = bench_cpu_s();
    int64_t t0 = mono_us();
    gregor_err e = GREGOR_OK;
    for (size_t i = 0; i < count && e == GREGOR_OK; i++) {
        m.opaque = (void *)(uintptr_t)mono_us();
        e = gregor_producer_produce(p, &m);
    }
    if (e != GREGOR_OK)
        tool_error("bench produce", "produce: %s", gregor_err_str(e));
    gregor_err fe = gregor_producer_flush(p, -1);
    int64_t t1 = mono_us();
    double cpu1 = bench_cpu_s();
    gregor_producer_destroy(p, 0);

    double secs = (double)(t1 - t0) / 1e6;
    size_t ok = l.n, failed = atomic_load(&l.failed);
    qsort(l.us, l.n, sizeof *l.us, cmp_u32);
    double p50 = l.n ? l.us[l.n / 2] / 1000.0 : 0, p99 = l.n ? l.us[(size_t)((double)l.n * 0.99)] / 1000.0 : 0;
    double mx = l.n ? l.us[l.n - 1] / 1000.0 : 0;
    double cpu_per_m = ok ? (cpu1 - cpu0) / ((double)ok / 1e6) : 0;
    printf("%zu messages of %zu bytes (%s, acks=%s): %.2f s\n", ok, size, codec, gregor_config_get(cfg, "acks"),
           secs);
    printf("  %.0f msgs/s, %.2f MB/s\n", (double)ok / secs, (double)ok * (double)size / secs / 1e6);
    printf("  delivery latency p50 %.2f ms, p99 %.2f ms, max %.2f ms\n", p50, p99, mx);
    printf("  client CPU %.2f s (user+sys), %.3f s per million messages\n", cpu1 - cpu0, cpu_per_m);
    if (failed)
        printf("  %zu failed (%s)\n", failed, gregor_err_name(atomic_load(&l.err)));
    printf("client=gregor msgs=%zu size=%zu codec=%s secs=%.3f msgs_per_s=%.0f mb_per_s=%.2f p50_ms=%.2f "
           "p99_ms=%.2f max_ms=%.2f cpu_s=%.3f cpu_s_per_million=%.3f failed=%zu\n",
           ok, size, codec, secs, (double)ok / secs, (double)ok * (double)size / secs / 1e6, p50, p99, mx,
           cpu1 - cpu0, cpu_per_m, failed);
    free(l.us);
    free(payload);
    rc = failed || e != GREGOR_OK || fe != GREGOR_OK ? TOOL_EXIT_FAIL : TOOL_EXIT_OK;
out:
    gregor_config_destroy(cfg);
    return rc;
}
