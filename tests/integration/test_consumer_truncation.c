/* Integration: log truncation after an unclean leader election, on the
 * 3-node 4.x cluster (GREGOR_TEST_KAFKA3), detected with
 * OffsetForLeaderEpoch (KIP-320).
 *
 * A topic with one partition on two replicas (A leads, B follows) and
 * unclean.leader.election.enable=true: 100 messages reach both; B is
 * killed; 50 more reach only A, and the consumer reads them (position
 * 150); A is killed and B restarted: B becomes leader uncleanly with a log
 * that ends at 100. The consumer (auto_offset_reset=error) must say so:
 * poll fails with OFFSET_OUT_OF_RANGE naming the truncation at offset 150
 * and the leader's end at 100, instead of resetting silently. A is
 * restarted at the end (also when the test fails), so that the cluster is
 * whole for the next test.
 */
#include "test_consume_util.h"

static const char *bootstrap(void) { return tu_env_required("GREGOR_TEST_KAFKA3"); }
static const char *cluster(void) { return tc_cluster_name("GREGOR_TEST_KAFKA3_NAME", "kafka3"); }

static int killed[2] = {-1, -1};

static void restart_killed(void)
{
    for (int i = 0; i < 2; i++)
        if (killed[i] > 0) {
            char cmd[512];
            snprintf(cmd, sizeof cmd, "%s restart %s %d >/dev/null 2>&1", tu_env_required("GREGOR_KAFKA_DEV"),
                     cluster(), killed[i]);
            if (system(cmd) != 0)
                fprintf(stderr, "could not restart node %d of %s\n", killed[i], cluster());
            killed[i] = -1;
        }
}

static void kill_node(int slot, int node)
{
    tc_sh("%s kill %s %d >/dev/null", tu_env_required("GREGOR_KAFKA_DEV"), cluster(), node);
    killed[slot] = node;
}

/* Partition 0's leader and ISR as the metadata says now (-1 / 0 on error). */
static int32_t partition_state(gregor_consumer *c, const char *topic, int32_t *replicas, int32_t *n_isr)
{
    const char *names[1] = {topic};
    const gregor_metadata *md;
    char err[256];
    *n_isr = 0;
    if (gregor_client_metadata(gregor_consumer_client(c), names, 1, 10000, &md, err, sizeof err) != GREGOR_OK)
        return -1;
    const gregor_metadata_topic *t = gregor_metadata_topic_find(md, topic);
    const gregor_metadata_partition *p = t ? gregor_metadata_partition_find(t, 0) : NULL;
    int32_t leader = p ? p->leader : -1;
    if (p) {
        for (int32_t i = 0; i < p->n_replicas && i < 2; i++)
            replicas[i] = p->replicas[i];
        *n_isr = p->n_isr;
    }
    gregor_metadata_destroy(md);
    return leader;
}

/* Polls until `n` more messages arrived, checking that offsets go on from *next. */
static void consume(gregor_consumer *c, int64_t *next, int n)
{
    char err[256];
    double deadline = tc_now_s() + 60;
    for (int got = 0; got < n;) {
        cr_assert(tc_now_s() < deadline, "only %d of %d messages", got, n);
        gregor_batch *b;
        cr_assert_eq(gregor_consumer_poll(c, 500, &b, err, sizeof err), GREGOR_OK, "%s", err);
        for (size_t i = 0; i < gregor_batch_count(b); i++, got++)
            cr_assert_eq(gregor_batch_message(b, i)->offset, (*next)++);
        gregor_batch_destroy(b);
    }
}

Test(truncation, unclean_election_is_reported_not_reset_silently, .timeout = 240, .fini = restart_killed)
{
    char topic[128], err[256];
    tc_topic(topic, sizeof topic, "truncation");
    tc_sh("%s create-topic %s %s 1 2 unclean.leader.election.enable=true >/dev/null",
          tu_env_required("GREGOR_KAFKA_DEV"), cluster(), topic);
    tc_sh("seq 0 99 | kcat -P -q -b %s -t %s -p 0 -X acks=all", bootstrap(), topic);

    const char *kv[] = {"auto_offset_reset=error", "request_timeout_ms=5000", "fetch_error_backoff_ms=100",
                        "metadata_fast_refresh_ms=100", "metadata_refresh_ms=1000", NULL};
    gregor_consumer *c = tc_consumer(bootstrap(), kv);
    cr_assert_eq(gregor_consumer_assign(c, topic, 0, GREGOR_OFFSET_BEGINNING, 0, err, sizeof err), GREGOR_OK, "%s",
                 err);
    int64_t next = 0;
    consume(c, &next, 100);

    int32_t replicas[2] = {-1, -1}, n_isr;
    int32_t a = partition_state(c, topic, replicas, &n_isr);
    cr_assert(a > 0 && n_isr == 2, "leader %d, ISR of %d", a, n_isr);
    int32_t b = replicas[0] == a ? replicas[1] : replicas[0];
    cr_assert(b > 0 && b != a);

    /* B goes; once the ISR is A alone, 50 messages reach A only. */
    kill_node(0, b);
    double deadline = tc_now_s() + 60;
    while (partition_state(c, topic, replicas, &n_isr) != a || n_isr != 1) {
        cr_assert(tc_now_s() < deadline, "the ISR did not shrink to node %d", a);
        usleep(200 * 1000);
    }
    tc_sh("seq 100 149 | kcat -P -q -b %s -t %s -p 0 -X acks=all", bootstrap(), topic);
    consume(c, &next, 50);
    cr_assert_eq(next, 150);

    /* A goes, B comes back and is elected although it lacks 100..149. */
    kill_node(1, a);
    tc_sh("%s restart %s %d >/dev/null", tu_env_required("GREGOR_KAFKA_DEV"), cluster(), b);
    killed[0] = -1;
    deadline = tc_now_s() + 120;
    gregor_err e = GREGOR_OK;
    while (e == GREGOR_OK) {
        cr_assert(tc_now_s() < deadline, "no error after the unclean election (leader now %d)",
                  partition_state(c, topic, replicas, &n_isr));
        gregor_batch *batch;
        e = gregor_consumer_poll(c, 500, &batch, err, sizeof err);
        cr_assert(e != GREGOR_OK || !batch || gregor_batch_message(batch, 0)->offset == next,
                  "a message at %lld after the truncation", (long long)gregor_batch_message(batch, 0)->offset);
        gregor_batch_destroy(batch);
    }
    cr_log_info("after the unclean election: %s", err);
    cr_assert_eq(e, 1 /* OFFSET_OUT_OF_RANGE */, "%s: %s", gregor_err_name(e), err);
    cr_assert(strstr(err, "truncation") && strstr(err, "offset 150") && strstr(err, "ends at 100"), "%s", err);
    gregor_consumer_error pe;
    gregor_consumer_poll_error(c, &pe);
    cr_assert_eq(pe.offset, 150);
    gregor_consumer_destroy(c);
}
