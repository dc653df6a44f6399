/* Integration: 20 gregor_group members in one process over 240 partitions
 * of 4 topics on the 1-node 4.x cluster (GREGOR_TEST_KAFKA1) reach a stable
 * assignment; the test reports how long that takes and the heartbeats each
 * member sends per second once stable. */
#include "gregor/group.h"
#include "group/group_int.h"
#include "test_consume_util.h"

static const char *bootstrap(void) { return tu_env_required("GREGOR_TEST_KAFKA1"); }
static const char *cluster_name(void) { return tc_cluster_name("GREGOR_TEST_KAFKA1_NAME", "kafka1"); }

#define MEMBERS 20
#define TOPICS 4
#define PARTS 60

static int owner[TOPICS][PARTS]; /* member index + 1, 0: none, -1: two owners */
static char topics[TOPICS][160];

static int topic_index(const char *t)
{
    for (int i = 0; i < TOPICS; i++)
        if (!strcmp(topics[i], t))
            return i;
    return -1;
}

static void on_rebalance(gregor_group *g, gregor_rebalance_kind kind, const gregor_topic_offset *tps, size_t n,
                         void *opaque)
{
    (void)g;
    int me = (int)(intptr_t)opaque + 1;
    for (size_t i = 0; i < n; i++) {
        int t = topic_index(tps[i].topic);
        cr_assert(t >= 0 && tps[i].partition >= 0 && tps[i].partition < PARTS);
        int *o = &owner[t][tps[i].partition];
        if (kind == GREGOR_REBALANCE_ASSIGNED)
            *o = *o == 0 ? me : -1;
        else if (*o == me)
            *o = 0;
    }
}

static bool stable(void)
{
    int count[MEMBERS + 1] = {0};
    for (int t = 0; t < TOPICS; t++)
        for (int p = 0; p < PARTS; p++) {
            cr_assert_neq(owner[t][p], -1, "%s [%d] has two owners", topics[t], p);
            if (owner[t][p] == 0)
                return false;
            count[owner[t][p]]++;
        }
    for (int i = 1; i <= MEMBERS; i++)
        if (count[i] == 0)
            return false;
    return true;
}

Test(group_scale, twenty_members_over_240_partitions)
{
    char prefix[128], group[160];
    tc_topic(prefix, sizeof prefix, "grp-scale");
    snprintf(group, sizeof group, "g-%s", prefix);
    const char *subs[TOPICS];
    for (int i = 0; i < TOPICS; i++) {
        snprintf(topics[i], sizeof topics[i], "%s-%d", prefix, i);
        tc_create_topic(cluster_name(), topics[i], PARTS, 1);
        subs[i] = topics[i];
    }
    gregor_group *gs[MEMBERS];
    char err[256];
    double t0 = tc_now_s();
    for (int i = 0; i < MEMBERS; i++) {
        gregor_config *cfg = gregor_config_new();
        cr_assert_eq(gregor_config_set(cfg, "bootstrap", bootstrap(), err, sizeof err), GREGOR_OK);
        cr_assert_eq(gregor_config_set(cfg, "group_id", group, err, sizeof err), GREGOR_OK);
        cr_assert_eq(gregor_group_new(cfg, &gs[i], err, sizeof err), GREGOR_OK, "%s", err);
        gregor_config_destroy(cfg);
        gregor_group_set_rebalance_cb(gs[i], on_rebalance, (void *)(intptr_t)i);
        cr_assert_eq(gregor_group_subscribe(gs[i], subs, TOPICS, err, sizeof err), GREGOR_OK, "%s", err);
    }
    while (!stable()) {
        for (int i = 0; i < MEMBERS; i++) {
            gregor_batch *b = NULL;
            cr_assert_eq(gregor_group_poll(gs[i], 0, &b, err, sizeof err), GREGOR_OK, "%s", err);
            gregor_batch_destroy(b);
        }
        usleep(10000);
        cr_assert(tc_now_s() - t0 < 120, "no stable assignment within 120 s");
    }
    double took = tc_now_s() - t0;
    /* Heartbeats once stable, over 10 s. */
    uint64_t before = 0, after = 0;
    for (int i = 0; i < MEMBERS; i++) {
        pthread_mutex_lock(&gs[i]->lock);
        before += gs[i]->heartbeats;
        pthread_mutex_unlock(&gs[i]->lock);
    }
    double t1 = tc_now_s();
    while (tc_now_s() - t1 < 10) {
        for (int i = 0; i < MEMBERS; i++) {
            gregor_batch *b = NULL;
            cr_assert_eq(gregor_group_poll(gs[i], 0, &b, err, sizeof err), GREGOR_OK, "%s", err);
            gregor_batch_destroy(b);
        }
        cr_assert(stable(), "the assignment changed while the group was stable");
        usleep(50000);
    }
    for (int i = 0; i < MEMBERS; i++) {
        pthread_mutex_lock(&gs[i]->lock);
        after += gs[i]->heartbeats;
        pthread_mutex_unlock(&gs[i]->lock);
    }
    double per_member_s = (double)(after - before) / MEMBERS / (tc_now_s() - t1);
    cr_log_info("20 members, 240 partitions of 4 topics: stable after %.1f s; %.2f heartbeats per member per second "
                "(heartbeat_interval_ms 3000)", took, per_member_s);
    cr_assert(per_member_s > 0.2 && per_member_s < 1.0, "heartbeat rate %.2f/s", per_member_s);
    for (int i = 0; i < MEMBERS; i++)
        gregor_group_destroy(gs[i]);
}
