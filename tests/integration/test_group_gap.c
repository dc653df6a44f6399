/* Integration: how long a member's partitions pause while another member
 * joins, eager (range) against cooperative-sticky, on the 1-node 4.x
 * cluster (GREGOR_TEST_KAFKA1).
 *
 * A producer thread writes to each of 6 partitions every 5 ms. Member A
 * polls all the time; member C is busy and polls once every 800 ms; member
 * B joins them. For the partitions A owns before and after the rebalance
 * ("the ones that stay"), the test measures the longest time between two
 * messages A receives from the moment B subscribes until the group is
 * stable again plus one second, and reports it for both protocols. Eager:
 * A revokes everything and waits in JoinGroup until busy C has revoked too;
 * cooperative: what stays with A is never revoked and keeps flowing. */
#include <pthread.h>
#include <stdatomic.h>

#include "gregor/group.h"
#include "gregor/producer.h"
#include "test_consume_util.h"

static const char *bootstrap(void) { return tu_env_required("GREGOR_TEST_KAFKA1"); }
static const char *cluster_name(void) { return tc_cluster_name("GREGOR_TEST_KAFKA1_NAME", "kafka1"); }

#define PARTS 6

typedef struct writer {
    const char *topic;
    atomic_bool stop;
    gregor_producer *p;
} writer;

static void *write_main(void *arg)
{
    writer *w = arg;
    while (!atomic_load(&w->stop)) {
        for (int32_t p = 0; p < PARTS; p++) {
            gregor_produce_message m = {.topic = w->topic, .partition = p, .value = "x", .value_len = 1};
            if (gregor_producer_produce(w->p, &m) != GREGOR_OK)
                break;
        }
        usleep(5000);
    }
    return NULL;
}

typedef struct member_view {
    bool owns[PARTS];
    bool revoked_ever[PARTS];
    int revoked;
} member_view;

static void on_rebalance(gregor_group *g, gregor_rebalance_kind kind, const gregor_topic_offset *tps, size_t n,
                         void *opaque)
{
    (void)g;
    member_view *v = opaque;
    for (size_t i = 0; i < n; i++) {
        v->owns[tps[i].partition] = kind == GREGOR_REBALANCE_ASSIGNED;
        if (kind != GREGOR_REBALANCE_ASSIGNED) {
            v->revoked_ever[tps[i].partition] = true;
            v->revoked++;
        }
    }
}

static gregor_group *member(const char *group, const char *strategy, member_view *v)
{
    gregor_config *cfg = gregor_config_new();
    char err[256];
    cr_assert_eq(gregor_config_set(cfg, "bootstrap", bootstrap(), err, sizeof err), GREGOR_OK);
    cr_assert_eq(gregor_config_set(cfg, "group_id", group, err, sizeof err), GREGOR_OK);
    cr_assert_eq(gregor_config_set(cfg, "partition_assignment_strategy", strategy, err, sizeof err), GREGOR_OK);
    cr_assert_eq(gregor_config_set(cfg, "heartbeat_interval_ms", "500", err, sizeof err), GREGOR_OK);
    cr_assert_eq(gregor_config_set(cfg, "fetch_max_wait_ms", "100", err, sizeof err), GREGOR_OK);
    gregor_group *g;
    cr_assert_eq(gregor_group_new(cfg, &g, err, sizeof err), GREGOR_OK, "%s", err);
    gregor_config_destroy(cfg);
    gregor_group_set_rebalance_cb(g, on_rebalance, v);
    return g;
}

/* One poll; records the receive time of A's messages per partition and the
 * longest gap since `from` (0: not measuring). */
static void poll_one(gregor_group *g, double *last, double *gap, double from)
{
    gregor_batch *b = NULL;
    char err[256];
    cr_assert_eq(gregor_group_poll(g, 2, &b, err, sizeof err), GREGOR_OK, "%s", err);
    double now = tc_now_s();
    for (size_t i = 0; b && i < gregor_batch_count(b); i++) {
        int32_t p = gregor_batch_message(b, i)->partition;
        if (from > 0 && last[p] > 0 && now - (last[p] > from ? last[p] : from) > gap[p])
            gap[p] = now - (last[p] > from ? last[p] : from);
        last[p] = now;
    }
    gregor_batch_destroy(b);
}

static double longest_pause(const char *strategy)
{
    char topic[128], group[192];
    tc_topic(topic, sizeof topic, "grp-gap");
    snprintf(group, sizeof group, "g-%s-%s", topic, strategy);
    tc_create_topic(cluster_name(), topic, PARTS, 1);
    gregor_config *pc = gregor_config_new();
    char err[256];
    cr_assert_eq(gregor_config_set(pc, "bootstrap", bootstrap(), err, sizeof err), GREGOR_OK);
    cr_assert_eq(gregor_config_set(pc, "linger_ms", "0", err, sizeof err), GREGOR_OK);
    writer w = {.topic = topic};
    cr_assert_eq(gregor_producer_new(pc, NULL, NULL, &w.p, err, sizeof err), GREGOR_OK, "%s", err);
    gregor_config_destroy(pc);
    pthread_t wt;
    cr_assert_eq(pthread_create(&wt, NULL, write_main, &w), 0);

    member_view va = {0}, vb = {0}, vc = {0};
    gregor_group *a = member(group, strategy, &va), *b = member(group, strategy, &vb),
                 *c = member(group, strategy, &vc);
    const char *topics[1] = {topic};
    cr_assert_eq(gregor_group_subscribe(a, topics, 1, err, sizeof err), GREGOR_OK);
    cr_assert_eq(gregor_group_subscribe(c, topics, 1, err, sizeof err), GREGOR_OK);
    double last[PARTS] = {0}, gap[PARTS] = {0}, c_polled = 0;
    /* A and C, A receiving from every partition it owns. */
    double t0 = tc_now_s();
    for (;;) {
        poll_one(a, last, gap, 0);
        gregor_batch *x = NULL;
        cr_assert_eq(gregor_group_poll(c, 2, &x, err, sizeof err), GREGOR_OK, "%s", err);
        gregor_batch_destroy(x);
        /* Both must own some: C may win the first generation alone (its
         * JoinGroup first) and own everything until A's join rebalances. */
        bool all = true, a_has = false, c_has = false;
        for (int p = 0; p < PARTS; p++) {
            all = all && (!va.owns[p] || last[p] > 0) && va.owns[p] != vc.owns[p];
            a_has = a_has || va.owns[p];
            c_has = c_has || vc.owns[p];
        }
        if (all && a_has && c_has)
            break;
        cr_assert(tc_now_s() - t0 < 30, "A and C did not share the partitions within 30 s");
    }
    bool before[PARTS];
    memcpy(before, va.owns, sizeof before);
    double from = tc_now_s();
    cr_assert_eq(gregor_group_subscribe(b, topics, 1, err, sizeof err), GREGOR_OK);
    double stable_at = 0;
    while (!stable_at || tc_now_s() - stable_at < 1.0) {
        poll_one(a, last, gap, from);
        gregor_batch *x = NULL;
        cr_assert_eq(gregor_group_poll(b, 2, &x, err, sizeof err), GREGOR_OK, "%s", err);
        gregor_batch_destroy(x);
        if (tc_now_s() - c_polled >= 0.8) { /* C is busy between polls */
            cr_assert_eq(gregor_group_poll(c, 0, &x, err, sizeof err), GREGOR_OK, "%s", err);
            gregor_batch_destroy(x);
            c_polled = tc_now_s();
        }
        int owned = 0;
        bool one_owner = true, b_has = false;
        for (int p = 0; p < PARTS; p++) {
            owned += va.owns[p] + vb.owns[p] + vc.owns[p];
            one_owner = one_owner && va.owns[p] + vb.owns[p] + vc.owns[p] == 1;
            b_has = b_has || vb.owns[p];
        }
        if (!stable_at && owned == PARTS && one_owner && b_has)
            stable_at = tc_now_s();
        cr_assert(tc_now_s() - from < 60, "no stable assignment within 60 s of B joining");
    }
    double worst = 0;
    int stayed = 0;
    for (int p = 0; p < PARTS; p++)
        if (before[p] && va.owns[p]) {
            stayed++;
            if (gap[p] > worst)
                worst = gap[p];
        }
    cr_assert_gt(stayed, 0, "no partition stayed with A");
    cr_log_info("%s: B joined; stable after %.2f s; A revoked %d partition(s); longest pause of the %d that stayed "
                "with A: %.0f ms",
                strategy, stable_at - from, va.revoked, stayed, worst * 1000);
    if (!strcmp(strategy, "cooperative-sticky"))
        for (int p = 0; p < PARTS; p++)
            if (before[p] && va.owns[p])
                cr_assert(!va.revoked_ever[p], "partition %d stayed but was revoked", p);
    atomic_store(&w.stop, true);
    pthread_join(wt, NULL);
    gregor_group_destroy(a);
    gregor_group_destroy(b);
    gregor_group_destroy(c);
    cr_assert_eq(gregor_producer_flush(w.p, 10000), GREGOR_OK);
    gregor_producer_destroy(w.p, 10000);
    return worst;
}

Test(group_gap, cooperative_keeps_consuming_what_stays_while_eager_pauses)
{
    double eager = longest_pause("range");
    double coop = longest_pause("cooperative-sticky");
    cr_log_info("longest pause of partitions that stay: eager %.0f ms, cooperative %.0f ms", eager * 1000,
                coop * 1000);
    cr_assert_lt(coop, eager, "cooperative (%.0f ms) paused as long as eager (%.0f ms)", coop * 1000, eager * 1000);
}
