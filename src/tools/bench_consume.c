/* tools/bench_consume.c — `gregor bench consume`: reads a topic filled
 * beforehand from the beginning of every partition (or of one, -p), as
 * fast as the consumer delivers, touching every value's bytes, and reports
 * msgs/s, MB/s (keys and values) and client CPU seconds per million
 * messages (getrusage of the whole process: the I/O thread does the
 * fetching and decoding), ending with one key=value summary line that
 * bench/consume_vs_librdkafka.sh compares with librdkafka's. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "tools/bench.h"
#include "tools/tool.h"

#define MAX_PARTS 1024

static void usage(FILE *f)
{
    fprintf(f, "usage: gregor bench consume -b BROKERS -t TOPIC [-p PARTITION] [-c COUNT] [-X key=value]...\n"
               "       gregor bench consume -b BROKERS -t TOPIC -G GROUP [-m MEMBERS] -c COUNT [-X key=value]...\n"
               "  -G GROUP       read as MEMBERS members (default 1) of GROUP, a fresh group, each its own\n"
               "                 gregor_group polled by its own thread; the time includes joining\n"
               "  -c COUNT       messages to read (default: everything up to the log end at the start)\n"
               "  -p PARTITION   only this partition (default: all)\n"
               "  -X key=value   any client or consumer option, e.g. -X fetch_max_wait_ms=100\n");
}

/* Assigns the partitions from the beginning; the messages up to their log
 * ends in *available, the start of the measurement in *t0 and *cpu0. -1 on
 * failure. */
static int assign(gregor_consumer *c, const char *topic, int32_t only, long long *available, double *t0,
                  double *cpu0)
{
    static int32_t parts[MAX_PARTS];
    int n = 0;
    char err[512];
    if (only >= 0) {
        parts[n++] = only;
    } else {
        const gregor_metadata *md;
        const char *names[1] = {topic};
        if (gregor_client_metadata(gregor_consumer_client(c), names, 1, 30000, &md, err, sizeof err) != GREGOR_OK) {
            tool_error("bench consume", "%s", err);
            return -1;
        }
        const gregor_metadata_topic *t = gregor_metadata_topic_find(md, topic);
        for (int32_t i = 0; t && !t->err && i < t->n_partitions && n < MAX_PARTS; i++)
            parts[n++] = t->partitions[i].id;
        gregor_metadata_destroy(md);
        if (!n) {
            tool_error("bench consume", "topic '%s' not found", topic);
            return -1;
        }
    }
    *available = 0;
    for (int i = 0; i < n; i++) {
        int64_t lo, hi;
        if (gregor_consumer_watermarks(c, topic, parts[i], &lo, &hi, err, sizeof err) != GREGOR_OK) {
            tool_error("bench consume", "%s", err);
            return -1;
        }
        *available += hi - lo;
    }
    /* The clock and the CPU count start here, before fetching does. */
    *t0 = bench_now_s();
    *cpu0 = bench_cpu_s();
    for (int i = 0; i < n; i++) {
        if (gregor_consumer_assign(c, topic, parts[i], GREGOR_OFFSET_BEGINNING, 0, err, sizeof err) != GREGOR_OK) {
            tool_error("bench consume", "%s", err);
            return -1;
        }
    }
    return n;
}

static int run(gregor_consumer *c, const char *topic, int32_t partition, long long count)
{
    long long available;
    double t0, cpu0;
    if (assign(c, topic, partition, &available, &t0, &cpu0) < 0)
        return TOOL_EXIT_FAIL;
    if (count <= 0)
        count = available;
    if (count <= 0 || count > available) {
        tool_error("bench consume", "topic '%s' holds %lld messages, %lld asked for: fill it first", topic, available,
                   count);
        return TOOL_EXIT_FAIL;
    }
    long long msgs = 0, bytes = 0;
    unsigned sum = 0;
    double last = bench_now_s();
    while (msgs < count) {
        gregor_batch *b;
        char err[512];
        if (gregor_consumer_poll(c, 1000, &b, err, sizeof err) != GREGOR_OK) {
            tool_error("bench consume", "%s", err);
            return TOOL_EXIT_FAIL;
        }
        if (!b) {
            if (bench_now_s() - last > 30) {
                tool_error("bench consume", "no messages for 30 s after %lld", msgs);
                return TOOL_EXIT_FAIL;
            }
            continue;
        }
        size_t n = gregor_batch_count(b);
        for (size_t i = 0; i < n && msgs < count; i++, msgs++) {
            const gregor_message *m = gregor_batch_message(b, i);
            const unsigned char *v = m->value;
            for (int32_t k = 0; k < m->value_len; k += 64)
                sum += v[k];
            bytes += (m->key_len > 0 ? m->key_len : 0) + (m->value_len > 0 ? m->value_len : 0);
        }
        gregor_batch_destroy(b);
        last = bench_now_s();
    }
    double secs = bench_now_s() - t0, cpu = bench_cpu_s() - cpu0;
    if (secs <= 0)
        secs = 1e-9;
    printf("%lld messages, %.1f MB from %s: %.2f s (checksum %u)\n", msgs, (double)bytes / 1e6, topic, secs, sum & 0xff);
    printf("  %.0f msgs/s, %.2f MB/s, %.3f CPU s per million messages\n", (double)msgs / secs,
           (double)bytes / 1e6 / secs, cpu * 1e6 / (double)msgs);
    printf("client=gregor msgs=%lld bytes=%lld secs=%.3f msgs_per_s=%.0f mb_per_s=%.2f cpu_s=%.3f "
           "cpu_s_per_million=%.3f\n",
           msgs, bytes, secs, (double)msgs / secs, (double)bytes / 1e6 / secs, cpu, cpu * 1e6 / (double)msgs);
    return TOOL_EXIT_OK;
}

int tool_bench_consume(int argc, char **argv)
{
    const char *topic = NULL, *group = NULL;
    int members = 1;
    int32_t partition = -1;
    long long count = 0;
    int opt, rc = TOOL_EXIT_USAGE;
    gregor_config *cfg = gregor_config_new();
    if (!cfg)
        return TOOL_EXIT_FAIL;
    char err[512];
    while ((opt = getopt(argc, argv, "b:t:p:c:G:m:X:h")) != -1) {
        switch (opt) {
        case 'b':
            if (gregor_config_set(cfg, "bootstrap", optarg, err, sizeof err) != GREGOR_OK) {
                tool_error("bench consume", "%s", err);
                goto out;
            }
            break;
        case 't': topic = optarg; break;
        case 'p':
        case 'c': {
            long long v;
            if (!tool_parse_int("bench consume", opt == 'p' ? "-p" : "-c", optarg, opt == 'p' ? 0 : 1,
                                opt == 'p' ? INT32_MAX : 1LL << 40, &v))
                goto out;
            if (opt == 'p')
                partition = (int32_t)v;
            else
                count = v;
            break;
        }
        case 'G': group = optarg; break;
        case 'm': {
            long long v;
            if (!tool_parse_int("bench consume", "-m", optarg, 1, 1000, &v))
                goto out;
            members = (int)v;
            break;
        }
        case 'X':
            if (!tool_apply_x(cfg, optarg))
                goto out;
            break;
        case 'h': usage(stdout); rc = TOOL_EXIT_OK; goto out;
        default: usage(stderr); goto out;
        }
    }
    if (!topic || optind != argc) {
        usage(stderr);
        goto out;
    }
    if (group) {
        rc = bench_consume_group(cfg, topic, group, members, count);
        goto out;
    }
    gregor_consumer *c;
    if (gregor_consumer_new(cfg, &c, err, sizeof err) != GREGOR_OK) {
        tool_error("bench consume", "%s", err);
        rc = TOOL_EXIT_FAIL;
        goto out;
    }
    rc = run(c, topic, partition, count);
    gregor_consumer_destroy(c);
out:
    gregor_config_destroy(cfg);
    return rc;
}
