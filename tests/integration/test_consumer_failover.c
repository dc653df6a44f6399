/* Integration: the consumer through a leader failure on the 3-node 4.x
 * cluster (GREGOR_TEST_KAFKA3).
 *
 * kcat produces 100,000 messages (acks=all) over 3 partitions replicated 3
 * times. gregor consumes with small fetches and a small prefetch so that
 * consumption is still under way when the leader of partition 0 is killed
 * (SIGKILL) a third of the way through and restarted two thirds of the way
 * through; the consumer must follow the new leaders and the returning node
 * and deliver every message exactly once, offsets contiguous per
 * partition.
 */
#include "test_consume_util.h"

#define N_MSGS 100000

static const char *bootstrap(void) { return tu_env_required("GREGOR_TEST_KAFKA3"); }
static const char *cluster(void) { return tc_cluster_name("GREGOR_TEST_KAFKA3_NAME", "kafka3"); }

static int32_t leader_of(gregor_consumer *c, const char *topic, int32_t partition)
{
    const char *names[1] = {topic};
    const gregor_metadata *md;
    char err[256];
    cr_assert_eq(gregor_client_metadata(gregor_consumer_client(c), names, 1, 10000, &md, err, sizeof err),
                 GREGOR_OK, "%s", err);
    const gregor_metadata_topic *t = gregor_metadata_topic_find(md, topic);
    const gregor_metadata_partition *p = t ? gregor_metadata_partition_find(t, partition) : NULL;
    int32_t leader = p ? p->leader : -1;
    gregor_metadata_destroy(md);
    return leader;
}

Test(failover, leader_killed_mid_consumption, .timeout = 300)
{
    char topic[128], err[256];
    tc_topic(topic, sizeof topic, "consume-failover");
    tc_create_topic(cluster(), topic, 3, 3);
    tc_sh("seq 0 %d | sed 's/.*/k&:&/' | kcat -P -q -b %s -t %s -K: -X acks=all -X linger.ms=20 "
          "-X batch.num.messages=100",
          N_MSGS - 1, bootstrap(), topic);

    const char *kv[] = {"max_partition_fetch_bytes=4096", "prefetch_bytes=16384", "fetch_error_backoff_ms=100",
                        "request_timeout_ms=5000", "metadata_fast_refresh_ms=100", NULL};
    gregor_consumer *c = tc_consumer(bootstrap(), kv);
    for (int p = 0; p < 3; p++)
        cr_assert_eq(gregor_consumer_assign(c, topic, p, GREGOR_OFFSET_BEGINNING, 0, err, sizeof err), GREGOR_OK,
                     "%s", err);
    unsigned char *seen = calloc(N_MSGS, 1);
    int64_t next[3] = {0, 0, 0};
    int total = 0, killed = -1;
    bool restarted = false;
    double t0 = tc_now_s(), t_kill = 0;
    while (total < N_MSGS) {
        cr_assert(tc_now_s() - t0 < 200, "stuck at %d messages (next offsets %lld %lld %lld)", total,
                  (long long)next[0], (long long)next[1], (long long)next[2]);
        gregor_batch *b;
        cr_assert_eq(gregor_consumer_poll(c, 500, &b, err, sizeof err), GREGOR_OK, "%s", err);
        for (size_t i = 0; i < gregor_batch_count(b); i++) {
            const gregor_message *m = gregor_batch_message(b, i);
            cr_assert(m->partition >= 0 && m->partition < 3);
            cr_assert_eq(m->offset, next[m->partition], "partition %d: offset %lld after %lld", m->partition,
                         (long long)m->offset, (long long)next[m->partition] - 1);
            next[m->partition]++;
            char num[16];
            cr_assert(m->value_len > 0 && m->value_len < (int32_t)sizeof num);
            memcpy(num, m->value, (size_t)m->value_len);
            num[m->value_len] = 0;
            int v = atoi(num);
            cr_assert(v >= 0 && v < N_MSGS);
            cr_assert_eq(seen[v], 0, "message %d delivered twice", v);
            seen[v] = 1;
            total++;
        }
        gregor_batch_destroy(b);
        if (killed < 0 && total >= N_MSGS / 3) {
            killed = leader_of(c, topic, 0);
            cr_assert(killed > 0);
            tc_sh("%s kill %s %d >/dev/null", tu_env_required("GREGOR_KAFKA_DEV"), cluster(), killed);
            t_kill = tc_now_s();
            cr_log_info("killed node %d (leader of partition 0) after %d messages", killed, total);
        }
        if (killed > 0 && !restarted && total >= 2 * N_MSGS / 3) {
            /* Fetching goes on in the background while the node comes back. */
            tc_sh("%s restart %s %d >/dev/null", tu_env_required("GREGOR_KAFKA_DEV"), cluster(), killed);
            restarted = true;
            cr_log_info("restarted node %d after %d messages, %.1f s after the kill", killed, total,
                        tc_now_s() - t_kill);
        }
    }
    cr_log_info("all %d messages exactly once; %.1f s after the kill", total, tc_now_s() - t_kill);
    cr_assert_eq(next[0] + next[1] + next[2], N_MSGS);
    gregor_consumer_destroy(c);
    free(seen);
    if (killed > 0 && !restarted)
        tc_sh("%s restart %s %d >/dev/null", tu_env_required("GREGOR_KAFKA_DEV"), cluster(), killed);
}
