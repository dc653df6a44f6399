/* Integration: the worker framework's runtime against a 4.x broker
 * (GREGOR_TEST_KAFKA1), in process (supervisor.h), with a test handler
 * registered in code:
 *
 * - at-least-once with slow delivery reports: the output producer lingers
 *   1.5 s, so emits stay unacknowledged long after their handler returned,
 *   while the pipeline commits every 100 ms. At several moments the test
 *   reads the group's committed offsets and then the whole output topic:
 *   every input offset below a committed offset must already have its
 *   output in the log (a commit that ran ahead of the acknowledgements
 *   fails here). After a graceful stop, every input has an output and the
 *   committed offsets are the log ends (nothing processed left uncommitted).
 * - ordering key with 4 threads keeps each key's outputs in input order.
 */
#include <pthread.h>

#include "framework/config.h"
#include "framework/registry.h"
#include "framework/supervisor.h"
#include "gregor/producer.h"
#include "gregor/worker.h"
#include "test_consume_util.h"

#define PARTS 3
#define PER_PART 200

static const char *bootstrap(void) { return tu_env_required("GREGOR_TEST_KAFKA1"); }
static const char *cluster(void) { return tc_cluster_name("GREGOR_TEST_KAFKA1_NAME", "kafka1"); }

/* Emits "partition:offset:key:value" to output 0, keyed as the input. */
static gregor_result copy_handler(gregor_ctx *ctx, const gregor_message *m)
{
    char v[256];
    int n = snprintf(v, sizeof v, "%d:%lld:%.*s:%.*s", (int)m->partition, (long long)m->offset,
                     m->key ? (int)m->key_len : 0, m->key ? (const char *)m->key : "",
                     m->value ? (int)m->value_len : 0, m->value ? (const char *)m->value : "");
    if (gregor_emit(ctx, NULL, m->key, m->key ? (size_t)m->key_len : 0, v, (size_t)n) != GREGOR_OK)
        return GREGOR_RETRY;
    return GREGOR_DONE;
}

static void register_handler(void)
{
    static const gregor_handler h = {.name = "test_runtime_copy", .handle = copy_handler};
    if (!fw_registry_find(h.name))
        cr_assert_eq(gregor_handler_register(&h), GREGOR_OK);
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
            char k[16], v[16];
            int kl = snprintf(k, sizeof k, "k%d", i % 7), vl = snprintf(v, sizeof v, "v%d", i);
            gregor_produce_message m = {.topic = topic, .partition = part, .key = k, .key_len = (size_t)kl,
                                        .value = v, .value_len = (size_t)vl};
            cr_assert_eq(gregor_producer_produce(p, &m), GREGOR_OK);
        }
    cr_assert_eq(gregor_producer_flush(p, 30000), GREGOR_OK);
    gregor_producer_destroy(p, 1000);
    gregor_config_destroy(cfg);
}

/* seen[p][offset]: the output of input (p, offset) is in the output topic.
 * Also checks, per input partition and key, that outputs appear in input
 * offset order (first appearances). Returns the number of outputs read. */
static int read_outputs(const char *topic, bool seen[PARTS][PER_PART], bool check_key_order)
{
    const char *kv[] = {"fetch_max_wait_ms=100", NULL};
    gregor_consumer *c = tc_consumer(bootstrap(), kv);
    char err[256];
    int64_t high[PARTS];
    for (int p = 0; p < PARTS; p++) {
        int64_t low;
        cr_assert_eq(gregor_consumer_watermarks(c, topic, p, &low, &high[p], err, sizeof err), GREGOR_OK, "%s", err);
        if (high[p] > 0)
            cr_assert_eq(gregor_consumer_assign(c, topic, p, GREGOR_OFFSET_BEGINNING, 0, err, sizeof err),
                         GREGOR_OK, "%s", err);
    }
    memset(seen, 0, sizeof(bool) * PARTS * PER_PART);
    int64_t last_by_key[PARTS][7];
    memset(last_by_key, 0xff, sizeof last_by_key);
    int got = 0;
    double deadline = tc_now_s() + 30;
    for (;;) {
        bool done = true;
        for (int p = 0; p < PARTS; p++) {
            gregor_partition_state st;
            if (high[p] > 0 && (gregor_consumer_position(c, topic, p, &st) != GREGOR_OK || st.position < high[p]))
                done = false;
        }
        if (done)
            break;
        cr_assert_lt(tc_now_s(), deadline, "reading %s timed out", topic);
        gregor_batch *b = NULL;
        cr_assert_eq(gregor_consumer_poll(c, 200, &b, err, sizeof err), GREGOR_OK, "%s", err);
        for (size_t i = 0; b && i < gregor_batch_count(b); i++) {
            const gregor_message *m = gregor_batch_message(b, i);
            int ip, k;
            long long io;
            char buf[256];
            snprintf(buf, sizeof buf, "%.*s", (int)m->value_len, (const char *)m->value);
            cr_assert_eq(sscanf(buf, "%d:%lld:k%d:", &ip, &io, &k), 3, "bad output '%s'", buf);
            cr_assert(ip >= 0 && ip < PARTS && io >= 0 && io < PER_PART && k >= 0 && k < 7);
            if (check_key_order && !seen[ip][io]) {
                cr_assert_gt(io, last_by_key[ip][k], "key k%d of partition %d: output of offset %lld after %lld",
                             k, ip, io, (long long)last_by_key[ip][k]);
                last_by_key[ip][k] = io;
            }
            seen[ip][io] = true;
            got++;
        }
        gregor_batch_destroy(b);
    }
    gregor_consumer_destroy(c);
    return got;
}

static void committed(const char *group, const char *topic, int64_t out[PARTS])
{
    char g[300];
    snprintf(g, sizeof g, "group_id=%s", group);
    const char *kv[] = {g, NULL};
    gregor_consumer *c = tc_consumer(bootstrap(), kv);
    gregor_topic_offset tos[PARTS];
    for (int p = 0; p < PARTS; p++)
        tos[p] = (gregor_topic_offset){.topic = topic, .partition = p};
    char err[256];
    cr_assert_eq(gregor_consumer_committed(c, tos, PARTS, err, sizeof err), GREGOR_OK, "%s", err);
    for (int p = 0; p < PARTS; p++)
        out[p] = tos[p].offset;
    gregor_consumer_destroy(c);
}

Test(pipeline_runtime, commits_never_run_ahead_of_acknowledged_outputs, .timeout = 240)
{
    register_handler();
    char in[128], out[128], group[160];
    tc_topic(in, sizeof in, "fw-in");
    tc_topic(out, sizeof out, "fw-out");
    snprintf(group, sizeof group, "%s-g", in);
    tc_create_topic(cluster(), in, PARTS, 1);
    tc_create_topic(cluster(), out, PARTS, 1);
    produce_inputs(in);

    char yaml[2048];
    int len = snprintf(yaml, sizeof yaml,
                       "cluster: { bootstrap: \"%s\" }\n"
                       "producers:\n  default: { linger_ms: 1500, batch_bytes: 1048576 }\n"
                       "pipelines:\n"
                       "  - name: copy\n    group: %s\n    topics: [%s]\n    handler: test_runtime_copy\n"
                       "    threads: 4\n    ordering: key\n    commit_interval_ms: 100\n"
                       "    outputs: [ { name: out, topic: %s, partition: input } ]\n"
                       "    consumer: { auto_offset_reset: earliest, fetch_max_wait_ms: 100 }\n",
                       bootstrap(), group, in, out);
    fw_diags d;
    fw_diags_init(&d);
    fw_config *cfg = NULL;
    cr_assert_eq(fw_config_parse("runtime.yaml", yaml, (size_t)len, &cfg, &d), GREGOR_OK, "%s",
                 d.n ? d.msgs[0] : "?");
    cr_assert_eq(fw_registry_resolve(cfg, &d), GREGOR_OK, "%s", d.n ? d.msgs[0] : "?");
    fw_supervisor *s;
    char err[512];
    cr_assert_eq(fw_supervisor_new(cfg, &s, err, sizeof err), GREGOR_OK, "%s", err);
    cr_assert_eq(fw_supervisor_start(s, 15000, err, sizeof err), GREGOR_OK, "%s", err);

    static bool seen[PARTS][PER_PART];
    int checks_with_commits = 0;
    double deadline = tc_now_s() + 120;
    for (;;) {
        int64_t c[PARTS];
        committed(group, in, c);
        read_outputs(out, seen, false);
        bool all = true;
        for (int p = 0; p < PARTS; p++) {
            for (int64_t o = 0; o < c[p] && o < PER_PART; o++)
                cr_assert(seen[p][o], "partition %d: offset %lld is committed (%lld) but its output is not in %s",
                          p, (long long)o, (long long)c[p], out);
            all &= c[p] == PER_PART;
            checks_with_commits += c[p] > 0 && c[p] < PER_PART;
        }
        if (all)
            break;
        cr_assert_lt(tc_now_s(), deadline, "the pipeline did not commit everything in time");
    }
    cr_log_info("checks that saw a partial commit: %d", checks_with_commits);

    fw_supervisor_stop(s);
    cr_assert_eq(fw_supervisor_wait(s, 60000, err, sizeof err), GREGOR_OK, "%s", err);
    fw_pipeline_stats st;
    cr_assert_eq(fw_supervisor_stats(s, &st, 1), 1);
    cr_assert_eq(st.processed, (uint64_t)PARTS * PER_PART, "processed %llu", (unsigned long long)st.processed);
    cr_assert_geq(st.delivered, (uint64_t)PARTS * PER_PART);
    fw_supervisor_destroy(s);

    int got = read_outputs(out, seen, true);
    cr_assert_geq(got, PARTS * PER_PART);
    for (int p = 0; p < PARTS; p++)
        for (int o = 0; o < PER_PART; o++)
            cr_assert(seen[p][o], "no output for input %d/%d", p, o);
    fw_config_free(cfg);
    fw_diags_fini(&d);
}
