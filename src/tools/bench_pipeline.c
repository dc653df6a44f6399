/* tools/bench_pipeline.c — `gregor bench pipeline`: end-to-end throughput
 * and client CPU of the worker framework, consume → handler → produce, on a
 * topic filled beforehand, for one or several thread counts.
 *
 *   gregor bench pipeline -b BROKERS -t INPUT -o OUTPUT -m MESSAGES [--threads 1,2,4]
 *                         [--ordering partition|key|none] [--sleep-us N] [--handler NAME]
 *                         [-G GROUP] [-X key=value]... [-P key=value]... [-C key=value]...
 *
 * For each thread count it writes the YAML text of one pipeline (INPUT →
 * handler → OUTPUT, a fresh group), loads it as `gregor run` would
 * (fw_config_parse, fw_registry_resolve), runs it with the supervisor and
 * reads the pipeline's counters every 2 ms until MESSAGES inputs were
 * processed and their outputs delivered; then stops it (drain, commit,
 * leave: outside the measurement). The handler is `bench_sleep`, defined
 * here: it sleeps sleep_us (none by default) and emits the input's key and
 * value to output 0, the same work as bench/rdkafka_pipeline_bench.c's
 * loop; --handler runs another registered one (e.g. passthrough).
 *
 * As there, the clock and the CPU count (user+sys of the whole process)
 * start before the supervisor is built, join_s is the time to the first
 * assignment, msgs_per_s counts from then. Ends each run with the
 * key=value summary line bench/pipeline_vs_librdkafka.sh compares.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "framework/config.h"
#include "framework/registry.h"
#include "framework/supervisor.h"
#include "gregor/worker.h"
#include "tools/bench.h"
#include "tools/tool.h"

#define MAX_RUNS 16
#define MAX_OPTS 64

/* ----------------------------------------------------------- the handler */

static gregor_err sleep_init(const gregor_params *params, void **state, char *errstr, size_t errstr_size)
{
    int64_t us;
    if (gregor_params_int(params, "sleep_us", 0, &us) != GREGOR_OK || us < 0 || us > 10000000) {
        snprintf(errstr, errstr_size, "bench_sleep: sleep_us must be an integer from 0 to 10000000");
        return GREGOR_ERR_INVALID_ARG;
    }
    *state = (void *)(intptr_t)us;
    return GREGOR_OK;
}

/* Sleeps sleep_us, then emits the key and value to output 0; RETRY when
 * the emit fails (the framework retries, then dead-letters). */
static gregor_result bench_sleep(gregor_ctx *ctx, const gregor_message *m)
{
    intptr_t us = (intptr_t)gregor_ctx_state(ctx);
    if (us > 0) {
        struct timespec ts = {(time_t)(us / 1000000), (long)(us % 1000000) * 1000};
        nanosleep(&ts, NULL);
    }
    gregor_emit_message e = {
        .output_index = 0,
        .key = m->key,
        .key_len = m->key_len > 0 ? (size_t)m->key_len : 0,
        .value = m->value,
        .value_len = m->value_len > 0 ? (size_t)m->value_len : 0,
        .partition = GREGOR_PARTITION_ANY,
    };
    if (gregor_emit_message_send(ctx, &e) != GREGOR_OK)
        return GREGOR_RETRY;
    return GREGOR_DONE;
}

static const gregor_handler bench_sleep_handler = {
    .name = "bench_sleep",
    .handle = bench_sleep,
    .init = sleep_init,
    .description = "gregor bench pipeline's handler: sleeps params.sleep_us, copies key and value to output 0",
};
GREGOR_HANDLER_DEFINE(bench_sleep_handler);

/* ------------------------------------------------------------ the config */

typedef struct bench_opts {
    const char *bootstrap, *input, *output, *group, *handler, *ordering;
    long long messages, sleep_us;
    long long in_flight_msgs, in_flight_bytes; /* 0: the pipeline's defaults */
    long long progress_ms;                     /* 0: no progress lines */
    int threads[MAX_RUNS];
    int n_threads;
    const char *cluster[MAX_OPTS], *producer[MAX_OPTS], *consumer[MAX_OPTS];
    int n_cluster, n_producer, n_consumer;
} bench_opts;

/* Writes s as a double-quoted YAML scalar. */
static void yaml_quoted(FILE *f, const char *s, size_t n)
{
    fputc('"', f);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\x%02x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

/* Writes "{ k: "v", ... }" of key=value options (checked by the caller). */
static void yaml_options(FILE *f, const char *const *kvs, int n)
{
    fputs("{ ", f);
    for (int i = 0; i < n; i++) {
        const char *eq = strchr(kvs[i], '=');
        fprintf(f, "%s%.*s: ", i ? ", " : "", (int)(eq - kvs[i]), kvs[i]);
        yaml_quoted(f, eq + 1, strlen(eq + 1));
    }
    fputs(" }", f);
}

/* The pipeline file of one run (returns owned, NUL-terminated; NULL when
 * out of memory). */
static char *pipeline_yaml(const bench_opts *o, int threads, const char *group, const char *output, size_t *len)
{
    char *text = NULL;
    FILE *f = open_memstream(&text, len);
    if (!f)
        return NULL;
    fputs("cluster:\n  bootstrap: ", f);
    yaml_quoted(f, o->bootstrap, strlen(o->bootstrap));
    for (int i = 0; i < o->n_cluster; i++) {
        const char *eq = strchr(o->cluster[i], '=');
        fprintf(f, "\n  %.*s: ", (int)(eq - o->cluster[i]), o->cluster[i]);
        yaml_quoted(f, eq + 1, strlen(eq + 1));
    }
    fputs("\nproducers:\n  default: ", f);
    yaml_options(f, o->producer, o->n_producer);
    fputs("\npipelines:\n  - name: bench\n    group: ", f);
    yaml_quoted(f, group, strlen(group));
    fputs("\n    topics: [", f);
    yaml_quoted(f, o->input, strlen(o->input));
    fprintf(f, "]\n    handler: %s\n    params: { sleep_us: %lld }\n    threads: %d\n    ordering: %s\n",
            o->handler, o->sleep_us, threads, o->ordering);
    fputs("    outputs: [ { name: out, topic: ", f);
    yaml_quoted(f, output, strlen(output));
    fputs(" } ]\n", f);
    if (o->in_flight_msgs)
        fprintf(f, "    max_in_flight: { messages: %lld, bytes: %lld }\n", o->in_flight_msgs, o->in_flight_bytes);
    /* A fresh group reads the topic from the beginning (the consumer's
     * default, latest, would wait for new messages) unless -C says. */
    const char *consumer[MAX_OPTS + 1];
    int n_consumer = 0;
    bool reset_set = false;
    for (int i = 0; i < o->n_consumer; i++) {
        reset_set |= !strncmp(o->consumer[i], "auto_offset_reset=", 18);
        consumer[n_consumer++] = o->consumer[i];
    }
    if (!reset_set)
        consumer[n_consumer++] = "auto_offset_reset=earliest";
    fputs("    consumer: ", f);
    yaml_options(f, consumer, n_consumer);
    fputs("\n", f);
    if (fclose(f) != 0) {
        free(text);
        return NULL;
    }
    return text;
}

/* -------------------------------------------------------------- one run */

static void print_diags(const fw_diags *d)
{
    for (size_t i = 0; i < d->n; i++)
        tool_error("bench pipeline", "%s", d->msgs[i]);
}

/* Runs the pipeline until o->messages were processed and delivered and
 * prints the result lines. */
static int run_measured(const bench_opts *o, const fw_config *cfg, int threads, const char *output)
{
    char err[512];
    fw_supervisor *s;
    double t0 = bench_now_s(), cpu0 = bench_cpu_s(), t_joined = 0;
    if (fw_supervisor_new(cfg, &s, err, sizeof err) != GREGOR_OK) {
        tool_error("bench pipeline", "%s", err);
        return TOOL_EXIT_FAIL;
    }
    if (fw_supervisor_start(s, 30000, err, sizeof err) != GREGOR_OK) {
        tool_error("bench pipeline", "%s", err);
        fw_supervisor_destroy(s);
        return TOOL_EXIT_FAIL;
    }
    fw_pipeline_stats st = {0};
    uint64_t seen = 0;
    double last = bench_now_s(), next_progress = t0 + (double)o->progress_ms / 1e3;
    int rc = TOOL_EXIT_OK;
    for (;;) {
        /* Waiting 2 ms on the supervisor is the pause between readings
         * and notices at once a pipeline that failed. */
        gregor_err e = fw_supervisor_wait(s, 2, err, sizeof err);
        if (e != GREGOR_ERR_TIMED_OUT) {
            tool_error("bench pipeline", "the pipeline stopped: %s", e == GREGOR_OK ? "(no error)" : err);
            rc = TOOL_EXIT_FAIL;
            break;
        }
        if (fw_supervisor_stats(s, &st, 1) != 1) {
            tool_error("bench pipeline", "no pipeline counters");
            rc = TOOL_EXIT_FAIL;
            break;
        }
        if (!t_joined && st.partitions > 0)
            t_joined = bench_now_s() - t0;
        if (o->progress_ms && bench_now_s() >= next_progress) {
            next_progress += (double)o->progress_ms / 1e3;
            fprintf(stderr,
                    "%8.3f s consumed=%llu processed=%llu emitted=%llu delivered=%llu queued_bytes=%llu cpu_s=%.3f\n",
                    bench_now_s() - t0, (unsigned long long)st.consumed, (unsigned long long)st.processed,
                    (unsigned long long)st.emitted, (unsigned long long)st.delivered,
                    (unsigned long long)st.queued_bytes, bench_cpu_s() - cpu0);
        }
        if (st.processed >= (uint64_t)o->messages && st.delivered >= (uint64_t)o->messages)
            break;
        if (st.processed + st.delivered != seen) {
            seen = st.processed + st.delivered;
            last = bench_now_s();
        } else if (bench_now_s() - last > 30) {
            bool unacked = st.delivered < st.emitted;
            tool_error("bench pipeline",
                       "no progress for 30 s: consumed %llu, processed %llu, delivered %llu of %lld (%s %s?)",
                       (unsigned long long)st.consumed, (unsigned long long)st.processed,
                       (unsigned long long)st.delivered, o->messages, unacked ? "does the output topic exist:" :
                       "does the input topic hold them:", unacked ? output : o->input);
            rc = TOOL_EXIT_FAIL;
            break;
        }
    }
    double secs = bench_now_s() - t0, cpu = bench_cpu_s() - cpu0;
    fw_supervisor_stop(s);
    gregor_err e = fw_supervisor_wait(s, -1, err, sizeof err);
    if (e != GREGOR_OK && rc == TOOL_EXIT_OK) {
        tool_error("bench pipeline", "stopping: %s", err);
        rc = TOOL_EXIT_FAIL;
    }
    fw_supervisor_destroy(s);
    if (rc != TOOL_EXIT_OK)
        return rc;
    double run = secs - t_joined > 1e-9 ? secs - t_joined : 1e-9;
    double n = (double)st.processed;
    printf("%llu messages through %s (%s, %d threads, ordering %s, sleep %lld us): %.2f s, assigned after %.2f s\n",
           (unsigned long long)st.processed, o->handler, o->input, threads, o->ordering, o->sleep_us, secs,
           t_joined);
    printf("  %.0f msgs/s after the assignment, %.3f CPU s per million messages, retried %llu\n", n / run,
           cpu * 1e6 / n, (unsigned long long)st.retried);
    printf("client=gregor threads=%d ordering=%s sleep_us=%lld msgs=%llu secs=%.3f join_s=%.3f msgs_per_s=%.0f "
           "cpu_s=%.3f cpu_s_per_million=%.3f\n",
           threads, o->ordering, o->sleep_us, (unsigned long long)st.processed, secs, t_joined, n / run, cpu,
           cpu * 1e6 / n);
    fflush(stdout);
    return TOOL_EXIT_OK;
}

/* Builds, checks and runs the pipeline of one thread count. With several
 * thread counts, each run writes to OUTPUT.T as a member of GROUP.T, so
 * that each starts fresh. */
static int run_one(const bench_opts *o, int threads)
{
    char group[512], output[512];
    if (o->n_threads > 1) {
        snprintf(group, sizeof group, "%s.%d", o->group, threads);
        snprintf(output, sizeof output, "%s.%d", o->output, threads);
    } else {
        snprintf(group, sizeof group, "%s", o->group);
        snprintf(output, sizeof output, "%s", o->output);
    }
    size_t len;
    char *text = pipeline_yaml(o, threads, group, output, &len);
    if (!text)
        return TOOL_EXIT_FAIL;
    fw_diags d;
    fw_diags_init(&d);
    fw_config *cfg = NULL;
    int rc = TOOL_EXIT_USAGE;
    if (fw_config_parse("<the pipeline of the bench flags>", text, len, &cfg, &d) != GREGOR_OK ||
        fw_registry_resolve(cfg, &d) != GREGOR_OK) {
        print_diags(&d);
        goto out;
    }
    rc = run_measured(o, cfg, threads, output);
out:
    fw_config_free(cfg);
    fw_diags_fini(&d);
    free(text);
    return rc;
}

/* ------------------------------------------------------------- options */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: gregor bench pipeline -b BROKERS -t INPUT -o OUTPUT -m MESSAGES [--threads LIST]\n"
            "                             [--ordering partition|key|none] [--sleep-us N] [--handler NAME]\n"
            "                             [-G GROUP] [-X key=value]... [-P key=value]... [-C key=value]...\n"
            "  -m MESSAGES      inputs to process (INPUT must hold them; a fresh group starts at the beginning)\n"
            "  --threads LIST   worker threads, e.g. 1,2,4,8: one run each (default 1); with several,\n"
            "                   run T uses group GROUP.T and output topic OUTPUT.T\n"
            "  --ordering O     partition, key or none (default partition)\n"
            "  --sleep-us N     the bench_sleep handler sleeps N us per message (default 0)\n"
            "  --handler NAME   another registered handler (default bench_sleep)\n"
            "  --max-in-flight MSGS[,BYTES]  the pipeline's max_in_flight per partition (default: its own)\n"
            "  --progress-ms N  print the pipeline's counters every N ms on stderr\n"
            "  -G GROUP         the group (default gregor-bench-pipeline-PID)\n"
            "  -X key=value     a client option (the pipeline file's cluster map)\n"
            "  -P key=value     a producer option (producers.default), e.g. -P acks=all\n"
            "  -C key=value     a consumer option (the pipeline's consumer map)\n");
}

/* Parses "1,2,4" into o->threads. */
static bool parse_threads(bench_opts *o, const char *text)
{
    o->n_threads = 0;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", text);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        long long v;
        if (o->n_threads == MAX_RUNS) {
            tool_error("bench pipeline", "--threads: at most %d thread counts", MAX_RUNS);
            return false;
        }
        if (!tool_parse_int("bench pipeline", "--threads", tok, 1, 1024, &v))
            return false;
        o->threads[o->n_threads++] = (int)v;
    }
    if (!o->n_threads) {
        tool_error("bench pipeline", "--threads: expected a list such as 1,2,4");
        return false;
    }
    return true;
}

/* Parses "MSGS" or "MSGS,BYTES" (BYTES default 64 MiB). */
static bool parse_in_flight(bench_opts *o, const char *text)
{
    char buf[64];
    snprintf(buf, sizeof buf, "%s", text);
    char *comma = strchr(buf, ',');
    if (comma)
        *comma = '\0';
    o->in_flight_bytes = 64LL << 20;
    return tool_parse_int("bench pipeline", "--max-in-flight", buf, 1, 10000000, &o->in_flight_msgs) &&
           (!comma || tool_parse_int("bench pipeline", "--max-in-flight", comma + 1, 1024, 68719476736LL,
                                     &o->in_flight_bytes));
}

/* Keeps a key=value option of flag `flag` in list (checked for the '='
 * and a plain key; the pipeline file's validation checks the rest). */
static bool add_option(const char **list, int *n, const char *flag, const char *kv)
{
    const char *eq = strchr(kv, '=');
    if (!eq || eq == kv || strspn(kv, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") !=
                               (size_t)(eq - kv)) {
        tool_error("bench pipeline", "%s %s: expected key=value", flag, kv);
        return false;
    }
    if (*n == MAX_OPTS) {
        tool_error("bench pipeline", "%s: at most %d options", flag, MAX_OPTS);
        return false;
    }
    list[(*n)++] = kv;
    return true;
}

int tool_bench_pipeline(int argc, char **argv)
{
    static char default_group[64];
    snprintf(default_group, sizeof default_group, "gregor-bench-pipeline-%d", (int)getpid());
    bench_opts o = {.group = default_group, .handler = "bench_sleep", .ordering = "partition",
                    .threads = {1}, .n_threads = 1};
    enum { OPT_THREADS = 256, OPT_ORDERING, OPT_SLEEP, OPT_HANDLER, OPT_IN_FLIGHT, OPT_PROGRESS };
    static const struct option longs[] = {
        {"threads", required_argument, NULL, OPT_THREADS},
        {"ordering", required_argument, NULL, OPT_ORDERING},
        {"sleep-us", required_argument, NULL, OPT_SLEEP},
        {"handler", required_argument, NULL, OPT_HANDLER},
        {"max-in-flight", required_argument, NULL, OPT_IN_FLIGHT},
        {"progress-ms", required_argument, NULL, OPT_PROGRESS},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int opt;
    while ((opt = getopt_long(argc, argv, "b:t:o:m:G:X:P:C:h", longs, NULL)) != -1) {
        switch (opt) {
        case 'b': o.bootstrap = optarg; break;
        case 't': o.input = optarg; break;
        case 'o': o.output = optarg; break;
        case 'G': o.group = optarg; break;
        case 'm':
            if (!tool_parse_int("bench pipeline", "-m", optarg, 1, 1LL << 40, &o.messages))
                return TOOL_EXIT_USAGE;
            break;
        case OPT_SLEEP:
            if (!tool_parse_int("bench pipeline", "--sleep-us", optarg, 0, 10000000, &o.sleep_us))
                return TOOL_EXIT_USAGE;
            break;
        case OPT_PROGRESS:
            if (!tool_parse_int("bench pipeline", "--progress-ms", optarg, 1, 3600000, &o.progress_ms))
                return TOOL_EXIT_USAGE;
            break;
        case OPT_IN_FLIGHT:
            if (!parse_in_flight(&o, optarg))
                return TOOL_EXIT_USAGE;
            break;
        case OPT_THREADS:
            if (!parse_threads(&o, optarg))
                return TOOL_EXIT_USAGE;
            break;
        case OPT_ORDERING:
            if (strcmp(optarg, "partition") && strcmp(optarg, "key") && strcmp(optarg, "none")) {
                tool_error("bench pipeline", "--ordering: '%s' is not partition, key or none", optarg);
                return TOOL_EXIT_USAGE;
            }
            o.ordering = optarg;
            break;
        case OPT_HANDLER:
            if (!*optarg || strspn(optarg, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") !=
                                strlen(optarg)) {
                tool_error("bench pipeline", "--handler: '%s' is not a handler name", optarg);
                return TOOL_EXIT_USAGE;
            }
            o.handler = optarg;
            break;
        case 'X':
            if (!add_option(o.cluster, &o.n_cluster, "-X", optarg))
                return TOOL_EXIT_USAGE;
            break;
        case 'P':
            if (!add_option(o.producer, &o.n_producer, "-P", optarg))
                return TOOL_EXIT_USAGE;
            break;
        case 'C':
            if (!add_option(o.consumer, &o.n_consumer, "-C", optarg))
                return TOOL_EXIT_USAGE;
            break;
        case 'h': usage(stdout); return TOOL_EXIT_OK;
        default: usage(stderr); return TOOL_EXIT_USAGE;
        }
    }
    if (!o.bootstrap || !o.input || !o.output || !o.messages || optind != argc) {
        usage(stderr);
        return TOOL_EXIT_USAGE;
    }
    for (int i = 0; i < o.n_threads; i++) {
        int rc = run_one(&o, o.threads[i]);
        if (rc != TOOL_EXIT_OK)
            return rc;
    }
    return TOOL_EXIT_OK;
}
