/* Unit tests for the pieces of `gregor run --processes N` that need no
 * broker: the swarm: config keys and handler_timeout_ms, the restart
 * backoff, the crash table (counting, bounds, its encoding with a
 * truncation sweep), the metrics-text merge (sums, labels with odd
 * characters, histograms, a dead child's counters kept and its gauges
 * dropped), the socket frames, and a worker process's agent driven from
 * the test as a supervisor would (crash table in, region slots out). */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "framework/config.h"
#include "framework/swarm.h"
#include "framework/swarm_child.h"
#include "framework/swarm_crash.h"
#include "framework/swarm_merge.h"
#include "framework/swarm_metrics.h"
#include "framework/swarm_proto.h"
#include "framework/swarm_watch.h"
#include "gregor/client.h"
#include "util/clock.h"

static const char base_yaml[] = "pipelines:\n"
                                "  - name: p\n"
                                "    group: g\n"
                                "    topics: [t]\n"
                                "    handler: h\n";

static fw_config *parse(const char *text, fw_diags *d)
{
    fw_config *cfg = NULL;
    fw_diags_init(d);
    if (fw_config_parse("s.yaml", text, strlen(text), &cfg, d) != GREGOR_OK)
        cfg = NULL;
    return cfg;
}

Test(swarm_config, defaults_when_absent)
{
    fw_diags d;
    fw_config *cfg = parse(base_yaml, &d);
    cr_assert_not_null(cfg);
    cr_assert_eq(cfg->swarm.restart_backoff_ms, 500);
    cr_assert_eq(cfg->swarm.max_restart_backoff_ms, 30000);
    cr_assert_eq(cfg->swarm.restart_reset_ms, 60000);
    cr_assert_eq(cfg->swarm.heartbeat_timeout_ms, 10000);
    cr_assert_eq(cfg->swarm.kill_grace_ms, 5000);
    cr_assert_eq(cfg->swarm.ready_timeout_ms, 60000);
    cr_assert_eq(cfg->pipelines[0].handler_timeout_ms, 0);
    fw_config_free(cfg);
    fw_diags_fini(&d);
}

Test(swarm_config, every_key_read)
{
    char text[1024];
    snprintf(text, sizeof text,
             "swarm: { restart_backoff_ms: 100, max_restart_backoff_ms: 2000, restart_reset_ms: 7000,\n"
             "         heartbeat_timeout_ms: 3000, kill_grace_ms: 0, ready_timeout_ms: 9000 }\n%s"
             "    handler_timeout_ms: 1500\n", base_yaml);
    fw_diags d;
    fw_config *cfg = parse(text, &d);
    cr_assert_not_null(cfg, "%s", d.n ? d.msgs[0] : "");
    cr_assert_eq(cfg->swarm.restart_backoff_ms, 100);
    cr_assert_eq(cfg->swarm.max_restart_backoff_ms, 2000);
    cr_assert_eq(cfg->swarm.restart_reset_ms, 7000);
    cr_assert_eq(cfg->swarm.heartbeat_timeout_ms, 3000);
    cr_assert_eq(cfg->swarm.kill_grace_ms, 0);
    cr_assert_eq(cfg->swarm.ready_timeout_ms, 9000);
    cr_assert_eq(cfg->pipelines[0].handler_timeout_ms, 1500);
    fw_config_free(cfg);
    fw_diags_fini(&d);
}

Test(swarm_config, errors_are_located)
{
    char text[1024];
    snprintf(text, sizeof text,
             "swarm: { restart_backoff_ms: 5000, max_restart_backoff_ms: 100, heartbeat_timout_ms: 1 }\n%s"
             "    handler_timeout_ms: -1\n", base_yaml);
    fw_diags d;
    fw_config *cfg = parse(text, &d);
    cr_assert_null(cfg);
    cr_assert_eq(d.n, 3, "%zu errors", d.n);
    bool unknown = false, order = false, range = false;
    for (size_t i = 0; i < d.n; i++) {
        unknown |= strstr(d.msgs[i], "s.yaml:1:") && strstr(d.msgs[i], "heartbeat_timout_ms") &&
                   strstr(d.msgs[i], "heartbeat_timeout_ms");
        order |= strstr(d.msgs[i], "s.yaml:1:") && strstr(d.msgs[i], "swarm.max_restart_backoff_ms") != NULL;
        range |= strstr(d.msgs[i], "s.yaml:7:25") && strstr(d.msgs[i], "handler_timeout_ms") != NULL;
    }
    cr_assert(unknown && order && range, "%s | %s | %s", d.msgs[0], d.msgs[1], d.msgs[2]);
    fw_diags_fini(&d);
}

Test(swarm_backoff, doubles_up_to_the_maximum)
{
    cr_assert_eq(fw_swarm_backoff_ms(500, 30000, 0), 500);
    cr_assert_eq(fw_swarm_backoff_ms(500, 30000, 1), 1000);
    cr_assert_eq(fw_swarm_backoff_ms(500, 30000, 2), 2000);
    cr_assert_eq(fw_swarm_backoff_ms(500, 30000, 5), 16000);
    cr_assert_eq(fw_swarm_backoff_ms(500, 30000, 6), 30000);
    cr_assert_eq(fw_swarm_backoff_ms(500, 30000, 1000000), 30000); /* no overflow */
    cr_assert_eq(fw_swarm_backoff_ms(0, 30000, 3), 0);
    cr_assert_eq(fw_swarm_backoff_ms(700, 700, 3), 700);
}

Test(swarm_crash, counts_sum_over_the_calls_that_held_a_message)
{
    fw_crash_table t;
    fw_crash_table_init(&t);
    cr_assert_eq(fw_crash_count(&t, "p", "t", 0, 5, NULL), 0);
    cr_assert_eq(fw_crash_add(&t, "p", "t", 0, 0, 9, SIGSEGV), GREGOR_OK); /* a batch */
    cr_assert_eq(fw_crash_add(&t, "p", "t", 0, 5, 5, SIGABRT), GREGOR_OK); /* then alone */
    cr_assert_eq(fw_crash_add(&t, "p", "t", 0, 5, 5, SIGSEGV), GREGOR_OK); /* again */
    cr_assert_eq(t.n, 2);
    int sig = 0;
    cr_assert_eq(fw_crash_count(&t, "p", "t", 0, 5, &sig), 3);
    cr_assert_eq(sig, SIGSEGV);
    cr_assert_eq(fw_crash_count(&t, "p", "t", 0, 4, NULL), 1);
    cr_assert_eq(fw_crash_count(&t, "p", "t", 0, 10, NULL), 0);
    cr_assert_eq(fw_crash_count(&t, "p", "t", 1, 5, NULL), 0);
    cr_assert_eq(fw_crash_count(&t, "p", "u", 0, 5, NULL), 0);
    cr_assert_eq(fw_crash_count(&t, "q", "t", 0, 5, NULL), 0);
    cr_assert_eq(fw_crash_add(&t, "p", "t", 0, 9, 8, SIGSEGV), GREGOR_ERR_INVALID_ARG);
    fw_crash_table_fini(&t);
}

Test(swarm_crash, bounded_oldest_entry_goes)
{
    fw_crash_table t;
    fw_crash_table_init(&t);
    for (int i = 0; i < FW_CRASH_MAX + 10; i++)
        cr_assert_eq(fw_crash_add(&t, "p", "t", 0, i, i, SIGSEGV), GREGOR_OK);
    cr_assert_eq(t.n, FW_CRASH_MAX);
    cr_assert_eq(fw_crash_count(&t, "p", "t", 0, 9, NULL), 0);
    cr_assert_eq(fw_crash_count(&t, "p", "t", 0, 10, NULL), 1);
    cr_assert_eq(fw_crash_count(&t, "p", "t", 0, FW_CRASH_MAX + 9, NULL), 1);
    fw_crash_table_fini(&t);
}

Test(swarm_crash, encoding_round_trip_and_truncation_sweep)
{
    fw_crash_table t, back;
    fw_crash_table_init(&t);
    fw_crash_table_init(&back);
    cr_assert_eq(fw_crash_add(&t, "pipe", "topic.a", 3, 100, 199, SIGSEGV), GREGOR_OK);
    cr_assert_eq(fw_crash_add(&t, "pipe", "topic.a", 3, 150, 150, SIGBUS), GREGOR_OK);
    cr_assert_eq(fw_crash_add(&t, "other", "b", 0, 7, 7, SIGKILL), GREGOR_OK);
    uint8_t *bytes;
    size_t len;
    cr_assert_eq(fw_crash_encode(&t, &bytes, &len), GREGOR_OK);
    cr_assert_eq(fw_crash_decode(&back, bytes, len), GREGOR_OK);
    cr_assert_eq(back.n, 3);
    cr_assert_eq(fw_crash_count(&back, "pipe", "topic.a", 3, 150, NULL), 2);
    cr_assert_eq(fw_crash_count(&back, "other", "b", 0, 7, NULL), 1);
    for (size_t cut = 0; cut < len; cut++) {
        cr_assert_eq(fw_crash_decode(&back, bytes, cut), GREGOR_ERR_MALFORMED, "prefix of %zu bytes", cut);
        cr_assert_eq(back.n, 3); /* unchanged */
    }
    /* A name holding a NUL (found by fuzz_swarm: it came back shorter). */
    uint8_t nul[] = {0, 0, 0, 1, 0, 3, 'a', 0, 'b', 0, 1, 't', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0,
                     0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 11};
    cr_assert_eq(fw_crash_decode(&back, nul, sizeof nul), GREGOR_ERR_MALFORMED);
    nul[7] = 'x';
    cr_assert_eq(fw_crash_decode(&back, nul, sizeof nul), GREGOR_OK); /* the same bytes without it */
    cr_assert_eq(fw_crash_decode(&back, bytes, len), GREGOR_OK);
    /* A count beyond the bound, and a range backwards. */
    uint8_t huge[4] = {0, 0, 0x10, 0x01};
    cr_assert_eq(fw_crash_decode(&back, huge, sizeof huge), GREGOR_ERR_MALFORMED);
    bytes[len - 16] ^= 0x80; /* last entry's last_offset turns negative */
    cr_assert_eq(fw_crash_decode(&back, bytes, len), GREGOR_ERR_MALFORMED);
    free(bytes);
    fw_crash_table empty;
    fw_crash_table_init(&empty);
    cr_assert_eq(fw_crash_encode(&empty, &bytes, &len), GREGOR_OK);
    cr_assert_eq(fw_crash_decode(&back, bytes, len), GREGOR_OK);
    cr_assert_eq(back.n, 0);
    free(bytes);
    fw_crash_table_fini(&t);
    fw_crash_table_fini(&back);
}

Test(swarm_crash, signal_names)
{
    char buf[64];
    cr_assert_str_eq(fw_signal_describe(SIGSEGV, buf, sizeof buf), "signal 11 (SIGSEGV)");
    cr_assert_str_eq(fw_signal_describe(SIGKILL, buf, sizeof buf), "signal 9 (SIGKILL)");
    cr_assert_str_eq(fw_signal_describe(200, buf, sizeof buf), "signal 200");
    char why[160];
    cr_assert_str_eq(fw_crash_reason(SIGSEGV, 0, why, sizeof why), "handler crashed: signal 11 (SIGSEGV)");
    cr_assert_str_eq(fw_crash_reason(FW_CRASH_TIMED_OUT, 1500, why, sizeof why),
                     "handler timed out: ran past handler_timeout_ms (1500 ms)");
    cr_assert_str_eq(fw_crash_reason(FW_CRASH_EXITED(3), 0, why, sizeof why),
                     "handler crashed: its process exited with status 3");
    cr_assert_str_eq(fw_crash_reason(FW_CRASH_EXITED(0), 0, why, sizeof why),
                     "handler crashed: its process exited with status 0");
}

static char *merge(const char *const *texts, size_t n, bool counters_only)
{
    size_t lens[8];
    for (size_t i = 0; i < n; i++)
        lens[i] = texts[i] ? strlen(texts[i]) : 0;
    char *out = NULL;
    size_t len = 0;
    cr_assert_eq(fw_metrics_merge(texts, lens, n, counters_only, &out, &len), GREGOR_OK);
    cr_assert_eq(strlen(out), len);
    return out;
}

static const char child_a[] =
    "# HELP gregor_consumed_total Messages consumed.\n"
    "# TYPE gregor_consumed_total counter\n"
    "gregor_consumed_total{pipeline=\"p\",topic=\"t\",partition=\"0\"} 10\n"
    "gregor_consumed_total{pipeline=\"p\",topic=\"t\",partition=\"1\"} 5\n"
    "# HELP gregor_partitions Partitions owned.\n"
    "# TYPE gregor_partitions gauge\n"
    "gregor_partitions{pipeline=\"p\"} 2\n"
    "# HELP gregor_handler_seconds Handler latency.\n"
    "# TYPE gregor_handler_seconds histogram\n"
    "gregor_handler_seconds_bucket{pipeline=\"p\",le=\"0.1\"} 3\n"
    "gregor_handler_seconds_bucket{pipeline=\"p\",le=\"+Inf\"} 4\n"
    "gregor_handler_seconds_sum{pipeline=\"p\"} 0.25\n"
    "gregor_handler_seconds_count{pipeline=\"p\"} 4\n";
static const char child_b[] =
    "# HELP gregor_consumed_total Messages consumed.\n"
    "# TYPE gregor_consumed_total counter\n"
    "gregor_consumed_total{pipeline=\"p\",topic=\"t\",partition=\"2\"} 7\n"
    "gregor_consumed_total{pipeline=\"p\",topic=\"t\",partition=\"0\"} 1\n"
    "# TYPE gregor_partitions gauge\n"
    "gregor_partitions{pipeline=\"p\"} 1\n"
    "# TYPE gregor_handler_seconds histogram\n"
    "gregor_handler_seconds_bucket{pipeline=\"p\",le=\"0.1\"} 1\n"
    "gregor_handler_seconds_bucket{pipeline=\"p\",le=\"+Inf\"} 1\n"
    "gregor_handler_seconds_sum{pipeline=\"p\"} 0.5\n"
    "gregor_handler_seconds_count{pipeline=\"p\"} 1\n"
    "not a sample line at all\n"
    "gregor_weird{label=\"a b} \\\" {x\"} 3 1700000000000\n";

Test(swarm_merge, sums_identical_series)
{
    const char *texts[] = {child_a, child_b};
    char *out = merge(texts, 2, false);
    const char *want =
        "# HELP gregor_consumed_total Messages consumed.\n"
        "# TYPE gregor_consumed_total counter\n"
        "gregor_consumed_total{pipeline=\"p\",topic=\"t\",partition=\"0\"} 11\n"
        "gregor_consumed_total{pipeline=\"p\",topic=\"t\",partition=\"1\"} 5\n"
        "gregor_consumed_total{pipeline=\"p\",topic=\"t\",partition=\"2\"} 7\n"
        "# HELP gregor_partitions Partitions owned.\n"
        "# TYPE gregor_partitions gauge\n"
        "gregor_partitions{pipeline=\"p\"} 3\n"
        "# HELP gregor_handler_seconds Handler latency.\n"
        "# TYPE gregor_handler_seconds histogram\n"
        "gregor_handler_seconds_bucket{pipeline=\"p\",le=\"0.1\"} 4\n"
        "gregor_handler_seconds_bucket{pipeline=\"p\",le=\"+Inf\"} 5\n"
        "gregor_handler_seconds_sum{pipeline=\"p\"} 0.75\n"
        "gregor_handler_seconds_count{pipeline=\"p\"} 5\n"
        "gregor_weird{label=\"a b} \\\" {x\"} 3\n";
    cr_assert_str_eq(out, want);
    free(out);
}

Test(swarm_merge, a_dead_childs_counters_stay_its_gauges_go)
{
    const char *dead[] = {NULL, child_a};
    char *retired = merge(dead, 2, true);
    cr_assert_null(strstr(retired, "gregor_partitions"));
    cr_assert_null(strstr(retired, "gregor_weird"));
    cr_assert(strstr(retired, "gregor_consumed_total{pipeline=\"p\",topic=\"t\",partition=\"0\"} 10\n"));
    cr_assert(strstr(retired, "gregor_handler_seconds_count{pipeline=\"p\"} 4\n"));
    /* Its successor starts from 0: the sum never goes down. */
    const char *restarted = "# TYPE gregor_consumed_total counter\n"
                            "gregor_consumed_total{pipeline=\"p\",topic=\"t\",partition=\"0\"} 2\n"
                            "# TYPE gregor_partitions gauge\n"
                            "gregor_partitions{pipeline=\"p\"} 4\n";
    const char *texts[] = {retired, restarted};
    char *out = merge(texts, 2, false);
    cr_assert(strstr(out, "gregor_consumed_total{pipeline=\"p\",topic=\"t\",partition=\"0\"} 12\n"), "%s", out);
    cr_assert(strstr(out, "gregor_partitions{pipeline=\"p\"} 4\n"), "%s", out);
    free(out);
    free(retired);
}

/* A partition's gauges and ages merge as the maximum (two processes report
 * a partition only while it moves); other gauges add up. */
Test(swarm_merge, partition_gauges_and_ages_take_the_maximum)
{
    const char *a = "# TYPE gregor_partition_committed_offset gauge\n"
                    "gregor_partition_committed_offset{pipeline=\"p\",topic=\"t\",partition=\"0\"} 100\n"
                    "# TYPE gregor_pipeline_seconds_since_commit gauge\n"
                    "gregor_pipeline_seconds_since_commit{pipeline=\"p\"} 3\n"
                    "# TYPE gregor_pipeline_in_flight_messages gauge\n"
                    "gregor_pipeline_in_flight_messages{pipeline=\"p\"} 5\n";
    const char *b = "# TYPE gregor_partition_committed_offset gauge\n"
                    "gregor_partition_committed_offset{pipeline=\"p\",topic=\"t\",partition=\"0\"} 120\n"
                    "# TYPE gregor_pipeline_seconds_since_commit gauge\n"
                    "gregor_pipeline_seconds_since_commit{pipeline=\"p\"} 1\n"
                    "# TYPE gregor_pipeline_in_flight_messages gauge\n"
                    "gregor_pipeline_in_flight_messages{pipeline=\"p\"} 7\n";
    const char *texts[] = {a, b};
    char *out = merge(texts, 2, false);
    cr_assert(strstr(out, "gregor_partition_committed_offset{pipeline=\"p\",topic=\"t\",partition=\"0\"} 120\n"),
              "%s", out);
    cr_assert(strstr(out, "gregor_pipeline_seconds_since_commit{pipeline=\"p\"} 3\n"), "%s", out);
    cr_assert(strstr(out, "gregor_pipeline_in_flight_messages{pipeline=\"p\"} 12\n"), "%s", out);
    free(out);
}

/* Lines holding a NUL are skipped (found by fuzz_swarm: a name cut at the
 * NUL came out as an empty series). */
Test(swarm_merge, lines_with_nul_skipped)
{
    const char text[] = "a_total 1\n\0b_total 2\nc_\0total 3\nd_total 4\n";
    const char *texts[] = {text};
    size_t lens[] = {sizeof text - 1};
    char *out = NULL;
    size_t len = 0;
    cr_assert_eq(fw_metrics_merge(texts, lens, 1, false, &out, &len), GREGOR_OK);
    cr_assert_str_eq(out, "a_total 1\nd_total 4\n");
    free(out);
}

Test(swarm_merge, nothing_in_nothing_out)
{
    const char *texts[] = {NULL, "", "\n\n# just a comment\n"};
    char *out = merge(texts, 3, false);
    cr_assert_str_eq(out, "");
    free(out);
}

Test(swarm_frames, split_delivery_and_oversized_length)
{
    int sv[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    cr_assert_eq(fw_frame_write(sv[0], FW_FRAME_HEARTBEAT, "\001metrics", 8), GREGOR_OK);
    cr_assert_eq(fw_frame_write(sv[0], FW_FRAME_CRASHES, NULL, 0), GREGOR_OK);
    fw_frame_reader r = {0};
    cr_assert_eq(fw_frame_reader_fill(&r, sv[1]), GREGOR_OK);
    uint8_t type;
    const uint8_t *p;
    size_t len;
    cr_assert_eq(fw_frame_next(&r, &type, &p, &len), GREGOR_OK);
    cr_assert_eq(type, FW_FRAME_HEARTBEAT);
    cr_assert_eq(len, 8);
    cr_assert_eq(memcmp(p, "\001metrics", 8), 0);
    cr_assert_eq(fw_frame_next(&r, &type, &p, &len), GREGOR_OK);
    cr_assert_eq(type, FW_FRAME_CRASHES);
    cr_assert_eq(len, 0);
    cr_assert_eq(fw_frame_next(&r, &type, &p, &len), GREGOR_ERR_TRUNCATED);
    /* One byte at a time: nothing until the frame is whole. */
    cr_assert_eq(fw_frame_write(sv[0], FW_FRAME_HEARTBEAT, "\000", 1), GREGOR_OK);
    cr_assert_eq(write(sv[0], "\x7f\xff\xff\xff" "C", 5), 5); /* then a length beyond the bound */
    cr_assert_eq(fw_frame_reader_fill(&r, sv[1]), GREGOR_OK);
    cr_assert_eq(fw_frame_next(&r, &type, &p, &len), GREGOR_OK);
    cr_assert_eq(len, 1);
    cr_assert_eq(fw_frame_next(&r, &type, &p, &len), GREGOR_ERR_TOO_LARGE);
    close(sv[0]);
    cr_assert_eq(fw_frame_reader_fill(&r, sv[1]), GREGOR_ERR_DISCONNECTED);
    fw_frame_reader_fini(&r);
    close(sv[1]);
}

/* The agent of a worker process, with the test as its supervisor: a crash
 * table sent over the socket reaches fw_swarm_crashes(); a handler call
 * and a poll show in the region; a heartbeat comes every second. */
Test(swarm_child, agent_takes_crash_tables_and_marks_calls)
{
    cr_assert_eq(fw_swarm_crashes(NULL, "t", 0, 0, NULL), 0); /* not a swarm child: nothing, no crash */
    char text[512];
    snprintf(text, sizeof text, "%s    threads: 2\n", base_yaml);
    fw_diags d;
    fw_config *cfg = parse(text, &d);
    cr_assert_not_null(cfg);
    size_t bytes = fw_swarm_region_bytes(cfg);
    int sv[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    int mfd = memfd_create("test-swarm", 0);
    cr_assert_geq(mfd, 0);
    cr_assert_eq(ftruncate(mfd, (off_t)bytes), 0);
    fw_swarm_region_head *region = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
    cr_assert_neq(region, MAP_FAILED);
    char env[128];
    snprintf(env, sizeof env, "3:%d:%d:%zu:%d", sv[1], mfd, bytes + 1, mfd);
    setenv(FW_SWARM_ENV, env, 1);
    char err[256];
    cr_assert_eq(fw_swarm_child_start(cfg, err, sizeof err), GREGOR_ERR_CONFIG); /* the size must fit */
    snprintf(env, sizeof env, "3:%d:%d:%zu:%d", sv[1], mfd, bytes, mfd);
    setenv(FW_SWARM_ENV, env, 1);
    cr_assert_eq(fw_swarm_child_start(cfg, err, sizeof err), GREGOR_OK, "%s", err);
    cr_assert_eq(region->magic, FW_SWARM_REGION_MAGIC);
    cr_assert_eq(region->n_pipelines, 1);
    cr_assert_eq(region->n_slots, 2);

    fw_crash_table t;
    fw_crash_table_init(&t);
    cr_assert_eq(fw_crash_add(&t, "p", "t", 4, 42, 42, SIGSEGV), GREGOR_OK);
    cr_assert_eq(fw_crash_add(&t, "p", "t", 4, 42, 42, SIGSEGV), GREGOR_OK);
    uint8_t *enc;
    size_t len;
    cr_assert_eq(fw_crash_encode(&t, &enc, &len), GREGOR_OK);
    cr_assert_eq(fw_frame_write(sv[0], FW_FRAME_CRASHES, enc, len), GREGOR_OK);
    free(enc);
    fw_crash_table_fini(&t);
    int crashes = 0, sig = 0;
    for (int i = 0; i < 200 && !crashes; i++) {
        crashes = fw_swarm_crashes(&cfg->pipelines[0], "t", 4, 42, &sig);
        usleep(10000);
    }
    cr_assert_eq(crashes, 2);
    cr_assert_eq(sig, SIGSEGV);
    cr_assert_eq(fw_swarm_crashes(&cfg->pipelines[0], "t", 4, 43, NULL), 0);

    fw_swarm_call_begin(&cfg->pipelines[0], "t", 4, 40, 44);
    fw_swarm_slot *slot = &fw_swarm_region_slots(region, cfg)[0];
    cr_assert_gt(atomic_load(&slot->busy_since_ms), 0);
    cr_assert_str_eq(slot->topic, "t");
    cr_assert_eq(slot->partition, 4);
    cr_assert_eq(slot->first_offset, 40);
    cr_assert_eq(slot->last_offset, 44);
    fw_swarm_call_end();
    cr_assert_eq(atomic_load(&slot->busy_since_ms), 0);

    /* A heartbeat (not ready: no supervisor attached) arrives. */
    fw_frame_reader r = {0};
    uint8_t type = 0;
    const uint8_t *p = NULL;
    gregor_err e = GREGOR_ERR_TRUNCATED;
    for (int i = 0; i < 300 && e == GREGOR_ERR_TRUNCATED; i++) {
        usleep(10000);
        cr_assert_eq(fw_frame_reader_fill(&r, sv[0]), GREGOR_OK);
        e = fw_frame_next(&r, &type, &p, &len);
    }
    cr_assert_eq(e, GREGOR_OK);
    cr_assert_eq(type, FW_FRAME_HEARTBEAT);
    cr_assert_eq(len, 1);
    cr_assert_eq(p[0], 0);
    fw_frame_reader_fini(&r);

    /* Static membership: a set group_instance_id gets the slot appended. */
    gregor_config *gc = gregor_config_new();
    cr_assert_eq(fw_swarm_instance_id(gc, err, sizeof err), GREGOR_OK);
    cr_assert_str_eq(gregor_config_get(gc, "group_instance_id"), "");
    cr_assert_eq(gregor_config_set(gc, "group_instance_id", "web", err, sizeof err), GREGOR_OK);
    cr_assert_eq(fw_swarm_instance_id(gc, err, sizeof err), GREGOR_OK);
    cr_assert_str_eq(gregor_config_get(gc, "group_instance_id"), "web-3");
    gregor_config_destroy(gc);
    fw_swarm_child_stop();
    cr_assert_eq(fw_swarm_crashes(&cfg->pipelines[0], "t", 4, 42, NULL), 0);
    unsetenv(FW_SWARM_ENV);
    munmap(region, bytes);
    close(sv[0]);
    close(sv[1]);
    fw_config_free(cfg);
    fw_diags_fini(&d);
}

static char *render(fw_swarm_metrics *m)
{
    buf_writer w;
    buf_writer_init(&w, 1 << 20);
    cr_assert_eq(fw_swarm_metrics_render(m, &w), GREGOR_OK);
    buf_write_raw(&w, "", 1);
    size_t len;
    char *text = (char *)buf_writer_steal(&w, &len);
    buf_writer_fini(&w);
    return text;
}

/* The supervisor's endpoint: children summed, a dead child's counters
 * kept across its restart, the swarm's own series, /ready. */
Test(swarm_metrics, children_summed_and_swarm_series)
{
    fw_swarm_metrics *m = fw_swarm_metrics_new(2);
    cr_assert_not_null(m);
    cr_assert_not(fw_swarm_metrics_ready(m));
    fw_swarm_metrics_started(m, 0);
    fw_swarm_metrics_started(m, 1);
    cr_assert_eq(fw_swarm_metrics_heartbeat(m, 0, true, child_a, strlen(child_a)), GREGOR_OK);
    cr_assert_not(fw_swarm_metrics_ready(m));
    cr_assert_eq(fw_swarm_metrics_heartbeat(m, 1, true, child_b, strlen(child_b)), GREGOR_OK);
    cr_assert(fw_swarm_metrics_ready(m));
    cr_assert(fw_swarm_metrics_http_ready(m));
    char *text = render(m);
    cr_assert(strstr(text, "gregor_consumed_total{pipeline=\"p\",topic=\"t\",partition=\"0\"} 11\n"), "%s", text);
    cr_assert(strstr(text, "gregor_swarm_children_up 2\n"), "%s", text);
    cr_assert(strstr(text, "gregor_swarm_child_ready{child=\"1\"} 1\n"), "%s", text);
    cr_assert_null(strstr(text, "gregor_swarm_last_exit_status{"));
    free(text);

    /* Child 0 is killed and restarted: its counters stay, its gauges go. */
    fw_swarm_metrics_exited(m, 0, SIGKILL, true); /* a wait status: killed by signal 9 */
    fw_swarm_metrics_crash(m);
    cr_assert_not(fw_swarm_metrics_ready(m));
    text = render(m);
    cr_assert(strstr(text, "gregor_consumed_total{pipeline=\"p\",topic=\"t\",partition=\"0\"} 11\n"), "%s", text);
    cr_assert(strstr(text, "gregor_partitions{pipeline=\"p\"} 1\n"), "%s", text);
    cr_assert(strstr(text, "gregor_swarm_children_up 1\n"), "%s", text);
    cr_assert(strstr(text, "gregor_swarm_restarts_total{child=\"0\"} 1\n"), "%s", text);
    cr_assert(strstr(text, "gregor_swarm_last_exit_status{child=\"0\"} -9\n"), "%s", text);
    cr_assert(strstr(text, "gregor_swarm_crashes_total 1\n"), "%s", text);
    free(text);
    fw_swarm_metrics_started(m, 0);
    const char *fresh = "# TYPE gregor_consumed_total counter\n"
                        "gregor_consumed_total{pipeline=\"p\",topic=\"t\",partition=\"0\"} 3\n";
    cr_assert_eq(fw_swarm_metrics_heartbeat(m, 0, true, fresh, strlen(fresh)), GREGOR_OK);
    text = render(m);
    cr_assert(strstr(text, "gregor_consumed_total{pipeline=\"p\",topic=\"t\",partition=\"0\"} 14\n"), "%s", text);
    free(text);
    /* A clean stop: status 0, no restart counted. */
    fw_swarm_metrics_exited(m, 1, 0, false);
    text = render(m);
    cr_assert(strstr(text, "gregor_swarm_last_exit_status{child=\"1\"} 0\n"), "%s", text);
    cr_assert(strstr(text, "gregor_swarm_restarts_total{child=\"1\"} 0\n"), "%s", text);
    free(text);
    fw_swarm_metrics_destroy(m);
}

/* A swarm child parses the text its supervisor validated, not the file on
 * disk (which may have changed since), and still names the file. */
Test(swarm_child, load_parses_the_validated_text)
{
    int fd = memfd_create("test-config", 0);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, base_yaml, strlen(base_yaml)), (ssize_t)strlen(base_yaml));
    char env[128];
    snprintf(env, sizeof env, "0:0:0:0:%d", fd);
    setenv(FW_SWARM_ENV, env, 1);
    fw_diags d;
    fw_diags_init(&d);
    fw_config *cfg = NULL;
    cr_assert_eq(fw_swarm_child_load("/no/such/dir/p.yaml", &cfg, &d), GREGOR_OK, "%s", d.n ? d.msgs[0] : "");
    cr_assert_str_eq(cfg->file, "/no/such/dir/p.yaml");
    cr_assert_str_eq(cfg->pipelines[0].name, "p");
    fw_config_free(cfg);
    unsetenv(FW_SWARM_ENV); /* not a swarm child: the file itself */
    cr_assert_eq(fw_swarm_child_load("/no/such/dir/p.yaml", &cfg, &d), GREGOR_ERR_IO);
    cr_assert_eq(d.n, 1);
    cr_assert(strstr(d.msgs[0], "/no/such/dir/p.yaml: cannot open"), "%s", d.msgs[0]);
    fw_diags_fini(&d);
}

/* The watchdog's verdicts: a heartbeat too old, a member that has not
 * polled for its max_poll_interval_ms, a handler call past
 * handler_timeout_ms; nothing for a healthy child or one whose region is
 * not set up yet. */
Test(swarm_watch, verdicts)
{
    char text[1024];
    snprintf(text, sizeof text,
             "swarm: { heartbeat_timeout_ms: 3000 }\n%s    threads: 2\n    handler_timeout_ms: 1500\n"
             "    consumer: { max_poll_interval_ms: 5000 }\n", base_yaml);
    fw_diags d;
    fw_config *cfg = parse(text, &d);
    cr_assert_not_null(cfg, "%s", d.n ? d.msgs[0] : "");
    size_t bytes = fw_swarm_region_bytes(cfg);
    fw_swarm_region_head *h = calloc(1, bytes);
    cr_assert_not_null(h);
    char why[700] = "";
    int64_t now = 1000000;
    cr_assert_eq(fw_swarm_watch(cfg, h, now - 2000, now, why, sizeof why), FW_WATCH_OK); /* no region yet */
    cr_assert_eq(fw_swarm_watch(cfg, h, now - 3001, now, why, sizeof why), FW_WATCH_NO_HEARTBEAT);
    cr_assert_str_eq(why, "no heartbeat for 3001 ms (swarm.heartbeat_timeout_ms 3000)");

    /* Counts a corrupt child might write are not trusted: the layout is the config's. */
    *h = (fw_swarm_region_head){.magic = FW_SWARM_REGION_MAGIC, .n_pipelines = 1u << 30, .n_slots = 1u << 30};
    _Atomic int64_t *polls = fw_swarm_region_polls(h);
    fw_swarm_slot *slots = fw_swarm_region_slots(h, cfg);
    cr_assert_eq(fw_swarm_watch(cfg, h, now, now, why, sizeof why), FW_WATCH_OK); /* not polled yet */
    atomic_store(&polls[0], now - 5000);
    cr_assert_eq(fw_swarm_watch(cfg, h, now, now, why, sizeof why), FW_WATCH_OK);
    atomic_store(&polls[0], now - 5001);
    cr_assert_eq(fw_swarm_watch(cfg, h, now, now, why, sizeof why), FW_WATCH_NO_POLL);
    cr_assert_str_eq(why, "pipeline p: no poll for 5001 ms (max_poll_interval_ms 5000)");
    atomic_store(&polls[0], now - 10);

    slots[1].pipeline = 0;
    slots[1].partition = 7;
    slots[1].first_offset = slots[1].last_offset = 42;
    snprintf(slots[1].topic, sizeof slots[1].topic, "t");
    atomic_store(&slots[1].busy_since_ms, now - 1500);
    cr_assert_eq(fw_swarm_watch(cfg, h, now, now, why, sizeof why), FW_WATCH_OK);
    atomic_store(&slots[1].busy_since_ms, now - 1501);
    cr_assert_eq(fw_swarm_watch(cfg, h, now, now, why, sizeof why), FW_WATCH_HANDLER_TIMEOUT);
    cr_assert_str_eq(why, "pipeline p: a handler call on t [7] offsets 42..42 has run for 1501 ms "
                          "(handler_timeout_ms 1500)");
    slots[1].pipeline = 5; /* out of range: ignored, not trusted */
    cr_assert_eq(fw_swarm_watch(cfg, h, now, now, why, sizeof why), FW_WATCH_OK);
    free(h);
    fw_config_free(cfg);
    fw_diags_fini(&d);
}
