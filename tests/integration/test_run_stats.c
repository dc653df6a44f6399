/* Integration: gregor_run_with()'s stats callback (gregor/worker.h) against
 * a 4.x broker (GREGOR_TEST_KAFKA1), the way an embedding program uses it.
 *
 * 30 messages over 3 partitions, 3 of them "bad": the handler returns
 * RETRY for those, so with retry.max_attempts 2 each is retried once and
 * then dead-lettered. The callback (every 200 ms) reads the Prometheus
 * text; once every partition's committed offset is its log end (10), it
 * sends SIGTERM to the process; each call also scrapes the metrics
 * endpoint (metrics_port), so the HTTP server's thread renders while the
 * workers count (this test runs under TSan too). Checks: the callback runs
 * on the calling thread; the endpoint answered; while running, the per-partition series (committed offset, lag
 * 0, consumed) are there; the last call, after the stop, has the totals
 * (consumed 30, processed 27, emitted 27, retried 3, dead-lettered 3,
 * failed 6) and no per-partition series any more (all were revoked); the
 * handler latency histogram counts the 33 calls, of which the 27 good ones
 * (3 ms each) are above the 2.5 ms bucket.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <stdlib.h>
#include <unistd.h>

#include "framework/registry.h"
#include "gregor/producer.h"
#include "gregor/worker.h"
#include "test_consume_util.h"

#define PARTS 3
#define PER_PART 10

static const char *bootstrap(void) { return tu_env_required("GREGOR_TEST_KAFKA1"); }
static const char *cluster(void) { return tc_cluster_name("GREGOR_TEST_KAFKA1_NAME", "kafka1"); }

static gregor_result bad_retries(gregor_ctx *ctx, const gregor_message *m)
{
    if (m->value && m->value_len >= 3 && !memcmp(m->value, "bad", 3))
        return GREGOR_RETRY;
    usleep(3000); /* the latency histogram must see it */
    if (gregor_emit(ctx, NULL, m->key, m->key ? (size_t)m->key_len : 0, m->value,
                    m->value ? (size_t)m->value_len : 0) != GREGOR_OK)
        return GREGOR_RETRY;
    return GREGOR_DONE;
}

static void produce_inputs(const char *topic)
{
    gregor_config *cfg = gregor_config_new();
    char err[256];
    cr_assert_eq(gregor_config_set(cfg, "bootstrap", bootstrap(), err, sizeof err), GREGOR_OK, "%s", err);
    gregor_producer *p;
    cr_assert_eq(gregor_producer_new(cfg, NULL, NULL, &p, err, sizeof err), GREGOR_OK, "%s", err);
    for (int part = 0; part < PARTS; part++)
        for (int i = 0; i < PER_PART; i++) {
            char v[16];
            int vl = snprintf(v, sizeof v, "%s%d", i == 4 ? "bad" : "ok", i);
            gregor_produce_message m = {.topic = topic, .partition = part, .value = v, .value_len = (size_t)vl};
            cr_assert_eq(gregor_producer_produce(p, &m), GREGOR_OK);
        }
    cr_assert_eq(gregor_producer_flush(p, 30000), GREGOR_OK);
    gregor_producer_destroy(p, 1000);
    gregor_config_destroy(cfg);
}

/* The value of the sample `series` (name and labels, exactly as
 * rendered), or -1 when absent. */
static double sample(const char *text, const char *series)
{
    size_t n = strlen(series);
    for (const char *p = text; (p = strstr(p, series)); p += n)
        if ((p == text || p[-1] == '\n') && p[n] == ' ')
            return strtod(p + n + 1, NULL);
    return -1;
}

/* A free loopback port (bound, then closed). */
static uint16_t free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

/* GET /metrics from the endpoint; true when it answered 200 with the
 * pipeline's consumed counter. */
static bool scrape_ok(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a)) {
        close(fd);
        return false;
    }
    static const char req[] = "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    bool ok = write(fd, req, sizeof req - 1) == (ssize_t)(sizeof req - 1);
    static char resp[1 << 16];
    size_t got = 0;
    ssize_t r;
    while (ok && got + 1 < sizeof resp && (r = read(fd, resp + got, sizeof resp - 1 - got)) > 0)
        got += (size_t)r;
    resp[got] = '\0';
    close(fd);
    return ok && !strncmp(resp, "HTTP/1.1 200", 12) && strstr(resp, "\ngregor_pipeline_consumed_total{");
}

typedef struct seen {
    pthread_t caller;
    uint16_t port;
    int scrapes_ok;  /* the endpoint, scraped from the callback while the workers run */
    int calls;
    bool wrong_thread;
    bool signalled;
    char partition_view[1 << 16]; /* the call that saw everything committed */
    char last[1 << 16];
} seen;

static seen st;

static void on_stats(const char *text, size_t len, void *arg)
{
    seen *s = arg;
    s->calls++;
    if (!pthread_equal(pthread_self(), s->caller))
        s->wrong_thread = true;
    cr_assert_eq(strlen(text), len);
    snprintf(s->last, sizeof s->last, "%s", text);
    if (s->signalled)
        return;
    s->scrapes_ok += scrape_ok(s->port);
    for (int p = 0; p < PARTS; p++) {
        char series[512];
        snprintf(series, sizeof series,
                 "gregor_partition_committed_offset{pipeline=\"copy\",group=\"%s\",topic=\"%s\",partition=\"%d\"}",
                 getenv("RUN_STATS_GROUP"), getenv("RUN_STATS_TOPIC"), p);
        if (sample(text, series) != PER_PART)
            return;
    }
    snprintf(s->partition_view, sizeof s->partition_view, "%s", text);
    s->signalled = true;
    kill(getpid(), SIGTERM);
}

Test(run_stats, the_callback_sees_the_counts_then_the_final_totals, .timeout = 180)
{
    static const gregor_handler h = {.name = "test_run_stats_bad_retries", .handle = bad_retries};
    if (!fw_registry_find(h.name))
        cr_assert_eq(gregor_handler_register(&h), GREGOR_OK);
    char in[128], out[128], dlq[128], group[160];
    tc_topic(in, sizeof in, "stats-in");
    tc_topic(out, sizeof out, "stats-out");
    tc_topic(dlq, sizeof dlq, "stats-dlq");
    snprintf(group, sizeof group, "%s-g", in);
    tc_create_topic(cluster(), in, PARTS, 1);
    tc_create_topic(cluster(), out, PARTS, 1);
    tc_create_topic(cluster(), dlq, 1, 1);
    produce_inputs(in);
    setenv("RUN_STATS_GROUP", group, 1);
    setenv("RUN_STATS_TOPIC", in, 1);

    char path[] = "/tmp/gregor-run-stats-XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fprintf(f,
            "cluster: { bootstrap: \"%s\" }\n"
            "pipelines:\n"
            "  - name: copy\n    group: %s\n    topics: [%s]\n    handler: test_run_stats_bad_retries\n"
            "    threads: 2\n    commit_interval_ms: 100\n    dead_letter: %s\n"
            "    retry: { max_attempts: 2, backoff_ms: 50, max_backoff_ms: 50 }\n"
            "    outputs: [ { name: out, topic: %s, partition: input } ]\n"
            "    consumer: { auto_offset_reset: earliest, fetch_max_wait_ms: 100 }\n",
            bootstrap(), group, in, dlq, out);
    fclose(f);

    st.caller = pthread_self();
    st.port = free_port();
    gregor_run_options opt = {.stats_cb = on_stats, .stats_arg = &st, .stats_interval_ms = 200,
                              .metrics_port = st.port, .metrics_bind = "127.0.0.1"};
    gregor_err err = gregor_run_with(path, &opt);
    unlink(path);
    cr_assert_eq(err, GREGOR_OK);
    cr_assert(st.signalled, "every partition's committed offset never reached %d", PER_PART);
    cr_assert(!st.wrong_thread, "the callback ran on another thread");
    cr_assert_geq(st.calls, 2);
    cr_assert_gt(st.scrapes_ok, 0, "the metrics endpoint never answered a scrape");

    char series[512];
    snprintf(series, sizeof series, "gregor_partition_lag{pipeline=\"copy\",group=\"%s\",topic=\"%s\",partition=\"0\"}",
             group, in);
    cr_assert_eq(sample(st.partition_view, series), 0, "lag of a fully committed partition:\n%s", st.partition_view);
    snprintf(series, sizeof series,
             "gregor_partition_consumed_total{pipeline=\"copy\",group=\"%s\",topic=\"%s\",partition=\"1\"}", group, in);
    cr_assert_eq(sample(st.partition_view, series), PER_PART);

    static const struct {
        const char *name;
        double want;
    } totals[] = {
        {"gregor_pipeline_consumed_total", PARTS * PER_PART}, {"gregor_pipeline_processed_total", PARTS * (PER_PART - 1)},
        {"gregor_pipeline_emitted_total", PARTS * (PER_PART - 1)}, {"gregor_pipeline_retried_total", PARTS},
        {"gregor_pipeline_dead_lettered_total", PARTS}, {"gregor_pipeline_failed_total", 2 * PARTS},
        {"gregor_pipeline_partitions", 0},
    };
    for (size_t i = 0; i < sizeof totals / sizeof totals[0]; i++) {
        snprintf(series, sizeof series, "%s{pipeline=\"copy\",group=\"%s\"}", totals[i].name, group);
        cr_assert_eq(sample(st.last, series), totals[i].want, "%s: %g, not %g", totals[i].name,
                     sample(st.last, series), totals[i].want);
    }
    cr_assert_null(strstr(st.last, "gregor_partition_consumed_total{"), "revoked partitions' series stay:\n%s",
                   st.last);
    cr_assert(sample(st.last, "gregor_producer_delivered_total{producer=\"default\"}") >= PARTS * PER_PART,
              "outputs and dead letters delivered");
    cr_assert_eq(sample(st.last, "gregor_ready"), 0, "not ready once stopped");

    snprintf(series, sizeof series, "gregor_pipeline_handler_seconds_count{pipeline=\"copy\",group=\"%s\"}", group);
    cr_assert_eq(sample(st.last, series), PARTS * (PER_PART - 1) + 2 * PARTS, "every handler call is counted");
    snprintf(series, sizeof series, "gregor_pipeline_handler_seconds_bucket{pipeline=\"copy\",group=\"%s\",le=\"0.0025\"}",
             group);
    cr_assert_leq(sample(st.last, series), 2 * PARTS, "the 3 ms calls are above 2.5 ms:\n%s", st.last);
    snprintf(series, sizeof series, "gregor_pipeline_handler_seconds_sum{pipeline=\"copy\",group=\"%s\"}", group);
    cr_assert_geq(sample(st.last, series), PARTS * (PER_PART - 1) * 0.003);
}
