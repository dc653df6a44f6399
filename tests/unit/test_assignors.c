/* Unit tests for group/assignor.h: range, roundrobin and cooperative-sticky.
 *
 * 1. Cases ported from Java's RangeAssignorTest, RoundRobinAssignorTest,
 *    CooperativeStickyAssignorTest and AbstractStickyAssignorTest, with the
 *    assignment Java expects (each member's list printed "t-0 t-2 u-1").
 * 2. Property tests over a few hundred random groups (a fixed xorshift
 *    seed per case, printed on failure): every partition assigned at most
 *    once, only to subscribers; cooperative-sticky after its follow-up round
 *    exactly once and balanced; nothing moves when nothing changes; a member
 *    joining moves at most ceil(P/(m+1)) partitions.
 * 3. Scale: 20 members x 240 partitions of 4 topics; 1000 members x 10000
 *    partitions in well under a second per assignor (times printed).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "group/assignor.h"

#define MAX_MEMBERS 1100
#define MAX_SUBS 12

typedef struct group {
    assignor_member m[MAX_MEMBERS];
    const char *subs[MAX_MEMBERS][MAX_SUBS];
    char ids[MAX_MEMBERS][16];
    size_t n;
    assignor_topic t[16];
    char tnames[16][8];
    size_t nt;
    group_tp_list out[MAX_MEMBERS];
} group;

static group *group_new(void)
{
    group *g = calloc(1, sizeof *g);
    cr_assert(g);
    return g;
}

static void group_free(group *g)
{
    for (size_t i = 0; i < MAX_MEMBERS; i++) {
        group_tp_list_fini(&g->m[i].owned);
        group_tp_list_fini(&g->out[i]);
    }
    free(g);
}

static void topic(group *g, const char *name, int32_t partitions)
{
    snprintf(g->tnames[g->nt], sizeof g->tnames[0], "%s", name);
    g->t[g->nt] = (assignor_topic){g->tnames[g->nt], partitions};
    g->nt++;
}

/* Adds member `id` subscribed to the space-separated `topics`. */
static assignor_member *member(group *g, const char *id, const char *topics)
{
    size_t i = g->n++;
    snprintf(g->ids[i], sizeof g->ids[0], "%s", id);
    assignor_member *m = &g->m[i];
    m->member_id = g->ids[i];
    m->generation = -1;
    char *copy = strdup(topics), *save = NULL;
    for (char *tok = strtok_r(copy, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
        const char *name = NULL;
        for (size_t k = 0; k < g->nt; k++)
            if (strcmp(g->tnames[k], tok) == 0)
                name = g->tnames[k];
        cr_assert(name || strcmp(tok, "missing") == 0, "unknown topic %s in the test", tok);
        m->topics = g->subs[i];
        g->subs[i][m->n_topics++] = name ? name : "missing";
    }
    free(copy);
    return m;
}

/* Adds "t-0 t-1 u-3" to m's owned partitions (topics from the group). */
static void own(group *g, assignor_member *m, const char *tps, int32_t generation)
{
    m->generation = generation;
    char *copy = strdup(tps), *save = NULL;
    for (char *tok = strtok_r(copy, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
        char *dash = strrchr(tok, '-');
        cr_assert(dash);
        *dash = '\0';
        const char *name = "gone";
        for (size_t k = 0; k < g->nt; k++)
            if (strcmp(g->tnames[k], tok) == 0)
                name = g->tnames[k];
        cr_assert_eq(group_tp_list_add(&m->owned, name, atoi(dash + 1)), GREGOR_OK);
    }
    free(copy);
}

static void run(group *g, const char *name)
{
    const group_assignor *a = group_assignor_find(name);
    cr_assert(a, "no assignor %s", name);
    for (size_t i = 0; i < g->n; i++) {
        group_tp_list_fini(&g->out[i]);
        group_tp_list_init(&g->out[i]);
    }
    cr_assert_eq(a->assign(g->m, g->n, g->t, g->nt, g->out), GREGOR_OK);
}

static const char *str_of(group_tp_list *l, char *buf, size_t cap)
{
    group_tp_list_sort(l);
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < l->n && used < cap; i++)
        used += (size_t)snprintf(buf + used, cap - used, "%s%s-%d", i ? " " : "", l->tps[i].topic, l->tps[i].partition);
    return buf;
}

static void expect(group *g, size_t i, const char *want)
{
    char buf[4096];
    cr_assert_str_eq(str_of(&g->out[i], buf, sizeof buf), want, "member %s: got [%s], want [%s]", g->m[i].member_id,
                     buf, want);
}

static void adopt(group *g, int32_t generation);

/* ---- 1. Java's cases ---- */

Test(assignors, find_by_protocol_name)
{
    cr_assert_str_eq(group_assignor_find("range")->name, "range");
    cr_assert_str_eq(group_assignor_find("roundrobin")->name, "roundrobin");
    cr_assert(group_assignor_find("cooperative-sticky")->cooperative);
    cr_assert(!group_assignor_find("range")->cooperative);
    cr_assert_null(group_assignor_find("sticky"));
    cr_assert_null(group_assignor_find(NULL));
}

Test(assignors, range_java_cases)
{
    group *g = group_new();
    /* testOneConsumerNonexistentTopic, testOnlyAssignsPartitionsFromSubscribedTopics */
    topic(g, "topic", 3);
    topic(g, "other", 3);
    member(g, "consumer", "topic");
    run(g, "range");
    expect(g, 0, "topic-0 topic-1 topic-2");
    group_free(g);

    /* testMultipleConsumersMixedTopics */
    g = group_new();
    topic(g, "topic1", 3);
    topic(g, "topic2", 2);
    member(g, "consumer1", "topic1");
    member(g, "consumer2", "topic1 topic2");
    member(g, "consumer3", "topic1");
    run(g, "range");
    expect(g, 0, "topic1-0");
    expect(g, 1, "topic1-1 topic2-0 topic2-1");
    expect(g, 2, "topic1-2");
    group_free(g);

    /* testTwoConsumersTwoTopicsSixPartitions, testTwoConsumersOneTopicOnePartition */
    g = group_new();
    topic(g, "topic1", 3);
    topic(g, "topic2", 3);
    topic(g, "single", 1);
    member(g, "consumer2", "topic1 topic2 single");
    member(g, "consumer1", "topic1 topic2 single missing");
    run(g, "range");
    expect(g, 1, "single-0 topic1-0 topic1-1 topic2-0 topic2-1");
    expect(g, 0, "topic1-2 topic2-2");
    group_free(g);

    /* testStaticMemberRangeAssignmentPersistent: instance ids order the
     * static members, before every dynamic one whatever its member id */
    g = group_new();
    topic(g, "topic", 4);
    member(g, "a-dynamic", "topic");
    member(g, "b", "topic")->instance_id = "instance2";
    member(g, "c", "topic")->instance_id = "instance1";
    run(g, "range");
    expect(g, 2, "topic-0 topic-1");
    expect(g, 1, "topic-2");
    expect(g, 0, "topic-3");
    group_free(g);
}

Test(assignors, roundrobin_java_cases)
{
    group *g = group_new();
    /* testMultipleConsumersMixedTopics */
    topic(g, "topic1", 3);
    topic(g, "topic2", 2);
    member(g, "consumer1", "topic1");
    member(g, "consumer2", "topic1 topic2");
    member(g, "consumer3", "topic1");
    run(g, "roundrobin");
    expect(g, 0, "topic1-0");
    expect(g, 1, "topic1-1 topic2-0 topic2-1");
    expect(g, 2, "topic1-2");
    group_free(g);

    /* testTwoConsumersTwoTopicsSixPartitions */
    g = group_new();
    topic(g, "topic1", 3);
    topic(g, "topic2", 3);
    member(g, "consumer1", "topic1 topic2");
    member(g, "consumer2", "topic1 topic2");
    run(g, "roundrobin");
    expect(g, 0, "topic1-0 topic1-2 topic2-1");
    expect(g, 1, "topic1-1 topic2-0 topic2-2");
    group_free(g);

    /* testStaticMemberRoundRobinAssignmentPersistent (static first) */
    g = group_new();
    topic(g, "topic", 3);
    member(g, "consumer-a", "topic");
    member(g, "consumer-b", "topic")->instance_id = "instance-1";
    member(g, "consumer-c", "topic")->instance_id = "instance-0";
    run(g, "roundrobin");
    expect(g, 2, "topic-0");
    expect(g, 1, "topic-1");
    expect(g, 0, "topic-2");
    group_free(g);
}

Test(assignors, cooperative_sticky_java_cases)
{
    group *g = group_new();
    /* testTwoConsumersTwoTopicsSixPartitions */
    topic(g, "topic1", 3);
    topic(g, "topic2", 3);
    member(g, "consumer1", "topic1 topic2");
    member(g, "consumer2", "topic1 topic2");
    run(g, "cooperative-sticky");
    expect(g, 0, "topic1-0 topic1-2 topic2-1");
    expect(g, 1, "topic1-1 topic2-0 topic2-2");
    group_free(g);

    /* testAllConsumersHaveOwnedPartitionInvalidatedWhenClaimedByMultiple
     * ConsumersInSameGenerationWithEqualPartitionsPerConsumer */
    g = group_new();
    topic(g, "topic", 3);
    own(g, member(g, "consumer1", "topic"), "topic-0 topic-1", 1);
    own(g, member(g, "consumer2", "topic"), "topic-0 topic-2", 1);
    own(g, member(g, "consumer3", "topic"), "", 1);
    run(g, "cooperative-sticky");
    expect(g, 0, "topic-1");
    expect(g, 1, "topic-2");
    expect(g, 2, ""); /* topic-0 waits until both have revoked it */
    group_free(g);

    /* ...WithUnequalPartitionsPerConsumer */
    g = group_new();
    topic(g, "topic", 4);
    own(g, member(g, "consumer1", "topic"), "topic-0 topic-1", 1);
    own(g, member(g, "consumer2", "topic"), "topic-0 topic-2", 1);
    own(g, member(g, "consumer3", "topic"), "", 1);
    run(g, "cooperative-sticky");
    expect(g, 0, "topic-1 topic-3");
    expect(g, 1, "topic-2");
    expect(g, 2, "");
    group_free(g);

    /* testAssignorWithOldVersionSubscriptions */
    g = group_new();
    topic(g, "topic1", 3);
    own(g, member(g, "consumer1", "topic1"), "topic1-0", 1);
    own(g, member(g, "consumer2", "topic1"), "topic1-1", 1);
    own(g, member(g, "consumer3", "topic1"), "", 1);
    run(g, "cooperative-sticky");
    expect(g, 0, "topic1-0");
    expect(g, 1, "topic1-1");
    expect(g, 2, "topic1-2");
    group_free(g);

    /* testAddRemoveConsumerOneTopic (cooperative): the newcomer waits one
     * round for the partition consumer1 must revoke first */
    g = group_new();
    topic(g, "topic", 3);
    own(g, member(g, "consumer1", "topic"), "topic-0 topic-1 topic-2", 1);
    own(g, member(g, "consumer2", "topic"), "", -1);
    run(g, "cooperative-sticky");
    expect(g, 0, "topic-0 topic-1");
    expect(g, 1, "");
    group_tp_list_fini(&g->m[0].owned);
    own(g, &g->m[0], "topic-0 topic-1", 2);
    run(g, "cooperative-sticky");
    expect(g, 0, "topic-0 topic-1");
    expect(g, 1, "topic-2");
    group_free(g);

    /* testOwnedPartitionsAreInvalidatedForConsumerWithStaleGeneration: the
     * higher generation keeps a doubly claimed partition */
    g = group_new();
    topic(g, "topic", 3);
    topic(g, "topic2", 3);
    own(g, member(g, "consumer1", "topic topic2"), "topic-0 topic-2 topic2-1", 5);
    own(g, member(g, "consumer2", "topic topic2"), "topic-0 topic-2 topic2-1", 4);
    run(g, "cooperative-sticky");
    expect(g, 0, "topic-0 topic-2 topic2-1");
    expect(g, 1, "topic-1 topic2-0 topic2-2");
    group_free(g);
}

Test(assignors, cooperative_sticky_java_quota_cases)
{
    /* testConsumerOwningMinQuotaExpectedMaxQuota */
    group *g = group_new();
    topic(g, "topic1", 2);
    topic(g, "topic2", 3);
    own(g, member(g, "consumer1", "topic1 topic2"), "topic1-0 topic2-1", 1);
    own(g, member(g, "consumer2", "topic1 topic2"), "topic1-1 topic2-2", 1);
    run(g, "cooperative-sticky");
    expect(g, 0, "topic1-0 topic2-0 topic2-1");
    expect(g, 1, "topic1-1 topic2-2");
    group_free(g);

    /* testMaxQuotaConsumerMoreThanNumExpectedMaxCapacityMembers: Java's
     * HashMap visits consumer3, consumer2, consumer1, so consumer2 keeps
     * the larger share and topic2-0 moves from consumer1 to consumer3
     * (cooperative: in the follow-up round) */
    g = group_new();
    topic(g, "topic1", 2);
    topic(g, "topic2", 2);
    own(g, member(g, "consumer1", "topic1 topic2"), "topic1-0 topic2-0", 1);
    own(g, member(g, "consumer2", "topic1 topic2"), "topic1-1 topic2-1", 1);
    own(g, member(g, "consumer3", "topic1 topic2"), "", 1);
    run(g, "cooperative-sticky");
    expect(g, 0, "topic1-0");
    expect(g, 1, "topic1-1 topic2-1");
    expect(g, 2, "");
    adopt(g, 2);
    run(g, "cooperative-sticky");
    expect(g, 0, "topic1-0");
    expect(g, 1, "topic1-1 topic2-1");
    expect(g, 2, "topic2-0");
    group_free(g);

    /* testAllConsumersAreUnderMinQuota */
    g = group_new();
    topic(g, "topic1", 2);
    topic(g, "topic2", 3);
    own(g, member(g, "consumer1", "topic1 topic2"), "topic1-0", 1);
    own(g, member(g, "consumer2", "topic1 topic2"), "topic1-1", 1);
    own(g, member(g, "consumer3", "topic1 topic2"), "", 1);
    run(g, "cooperative-sticky");
    expect(g, 0, "topic1-0 topic2-1");
    expect(g, 1, "topic1-1 topic2-2");
    expect(g, 2, "topic2-0");
    group_free(g);

    /* testAllConsumersReachExpectedQuotaAndAreConsideredFilled */
    g = group_new();
    topic(g, "topic", 4);
    own(g, member(g, "consumer1", "topic"), "topic-0 topic-1", 1);
    own(g, member(g, "consumer2", "topic"), "topic-2", 1);
    own(g, member(g, "consumer3", "topic"), "", 1);
    run(g, "cooperative-sticky");
    expect(g, 0, "topic-0 topic-1");
    expect(g, 1, "topic-2");
    expect(g, 2, "topic-3");
    group_free(g);

    /* testEnsurePartitionsAssignedToHighestGeneration */
    g = group_new();
    topic(g, "topic", 3);
    topic(g, "topic2", 3);
    topic(g, "topic3", 3);
    own(g, member(g, "consumer1", "topic topic2 topic3"), "topic-0 topic2-0 topic3-0", 10);
    own(g, member(g, "consumer2", "topic topic2 topic3"), "topic-1 topic2-1 topic3-1", 9);
    own(g, member(g, "consumer3", "topic topic2 topic3"), "topic2-1 topic3-0 topic3-2", 8);
    run(g, "cooperative-sticky");
    expect(g, 0, "topic-0 topic2-0 topic3-0");
    expect(g, 1, "topic-1 topic2-1 topic3-1");
    expect(g, 2, "topic-2 topic2-2 topic3-2");
    group_free(g);

    /* testMultipleConsumersMixedTopicSubscriptions (the general case) */
    g = group_new();
    topic(g, "topic1", 3);
    topic(g, "topic2", 2);
    member(g, "consumer1", "topic1");
    member(g, "consumer2", "topic1 topic2");
    member(g, "consumer3", "topic1");
    run(g, "cooperative-sticky");
    expect(g, 0, "topic1-0 topic1-2");
    expect(g, 1, "topic2-0 topic2-1");
    expect(g, 2, "topic1-1");
    group_free(g);
}

Test(assignors, cooperative_sticky_drops_claims_of_gone_and_unsubscribed_topics)
{
    group *g = group_new();
    topic(g, "a", 4);
    topic(g, "b", 2);
    /* x owned a and gone-0 (a deleted topic) and stopped subscribing to a */
    own(g, member(g, "x", "b"), "a-0 a-1 gone-0 b-7", 3);
    own(g, member(g, "y", "a b"), "a-2", 3);
    run(g, "cooperative-sticky");
    /* general case: x may only get b; a-0/a-1 go to y once x revoked them */
    expect(g, 0, "b-0 b-1");
    expect(g, 1, "a-2 a-3");
    group_tp_list_fini(&g->m[0].owned);
    own(g, &g->m[0], "b-0 b-1", 4);
    group_tp_list_fini(&g->m[1].owned);
    own(g, &g->m[1], "a-2 a-3", 4);
    run(g, "cooperative-sticky");
    expect(g, 0, "b-0 b-1");
    expect(g, 1, "a-0 a-1 a-2 a-3");
    group_free(g);
}

Test(assignors, cooperative_sticky_user_data_is_java_generation)
{
    const group_assignor *a = group_assignor_find("cooperative-sticky");
    uint8_t *ud = NULL;
    size_t len = 0;
    cr_assert_eq(a->user_data(0x01020304, &ud, &len), GREGOR_OK);
    cr_assert_eq(len, 4);
    cr_assert(memcmp(ud, "\x01\x02\x03\x04", 4) == 0);
    free(ud);
    cr_assert_eq(a->user_data(-1, &ud, &len), GREGOR_OK);
    cr_assert(memcmp(ud, "\xff\xff\xff\xff", 4) == 0);
    free(ud);
    cr_assert_eq(group_assignor_find("range")->user_data(7, &ud, &len), GREGOR_OK);
    cr_assert_null(ud);
    cr_assert_eq(len, 0);
}

Test(assignors, no_members_no_topics)
{
    group *g = group_new();
    topic(g, "t", 3);
    const char *names[] = {"range", "roundrobin", "cooperative-sticky"};
    for (size_t k = 0; k < 3; k++)
        cr_assert_eq(group_assignor_find(names[k])->assign(g->m, 0, g->t, g->nt, g->out), GREGOR_OK);
    member(g, "m", "missing");
    for (size_t k = 0; k < 3; k++) {
        run(g, names[k]);
        expect(g, 0, "");
    }
    group_free(g);
}

/* ---- 2. properties over random groups ---- */

static uint64_t rng_state;
static uint32_t rnd(uint32_t n)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state % n);
}

/* A random group: 1-5 topics of 1-24 partitions, 1-12 members subscribed
 * to all topics (`equal`) or to random non-empty subsets. */
static group *random_group(uint64_t seed, bool equal)
{
    rng_state = seed * 0x9E3779B97F4A7C15ull + 1;
    group *g = group_new();
    size_t nt = 1 + rnd(5), nm = 1 + rnd(12);
    for (size_t t = 0; t < nt; t++) {
        char name[8];
        snprintf(name, sizeof name, "t%u", (unsigned)(t % 10));
        topic(g, name, (int32_t)(1 + rnd(24)));
    }
    for (size_t i = 0; i < nm; i++) {
        char id[16], subs[64] = "";
        snprintf(id, sizeof id, "m%02zu-%u", i, rnd(1000));
        for (size_t t = 0; t < nt; t++)
            if (equal || rnd(2))
                snprintf(subs + strlen(subs), sizeof subs - strlen(subs), "%s ", g->tnames[t]);
        if (!subs[0])
            snprintf(subs, sizeof subs, "%s", g->tnames[rnd((uint32_t)nt)]);
        member(g, id, subs);
    }
    return g;
}

static bool subscribes(const assignor_member *m, const char *topic)
{
    for (size_t k = 0; k < m->n_topics; k++)
        if (strcmp(m->topics[k], topic) == 0)
            return true;
    return false;
}

/* owner[t][p] of the last run; returns how many are assigned; fails on a
 * partition assigned twice or to a member not subscribed to its topic. */
static size_t check_valid(group *g, int owner[16][64], uint64_t seed)
{
    size_t n = 0;
    for (size_t t = 0; t < g->nt; t++)
        for (size_t p = 0; p < 64; p++)
            owner[t][p] = -1;
    for (size_t i = 0; i < g->n; i++)
        for (size_t k = 0; k < g->out[i].n; k++) {
            const group_tp *tp = &g->out[i].tps[k];
            size_t t = 0;
            while (t < g->nt && strcmp(g->tnames[t], tp->topic) != 0)
                t++;
            cr_assert(t < g->nt && tp->partition >= 0 && tp->partition < g->t[t].partitions, "seed %llu",
                      (unsigned long long)seed);
            cr_assert_eq(owner[t][tp->partition], -1, "seed %llu: %s-%d assigned twice", (unsigned long long)seed,
                         tp->topic, tp->partition);
            cr_assert(subscribes(&g->m[i], tp->topic), "seed %llu: %s-%d to a non-subscriber",
                      (unsigned long long)seed, tp->topic, tp->partition);
            owner[t][tp->partition] = (int)i;
            n++;
        }
    return n;
}

/* Every partition of a topic somebody subscribes to has an owner. */
static void check_complete(group *g, int owner[16][64], uint64_t seed)
{
    for (size_t t = 0; t < g->nt; t++) {
        bool wanted = false;
        for (size_t i = 0; i < g->n; i++)
            wanted |= subscribes(&g->m[i], g->tnames[t]);
        for (int32_t p = 0; wanted && p < g->t[t].partitions; p++)
            cr_assert_neq(owner[t][p], -1, "seed %llu: %s-%d unassigned", (unsigned long long)seed, g->tnames[t], p);
    }
}

/* Java's verifyValidityAndBalance: no member has two more partitions than
 * another member that could take one of them. */
static void check_balanced(group *g, uint64_t seed)
{
    for (size_t a = 0; a < g->n; a++)
        for (size_t b = 0; b < g->n; b++) {
            if (g->out[a].n < g->out[b].n + 2)
                continue;
            for (size_t k = 0; k < g->out[a].n; k++)
                cr_assert(!subscribes(&g->m[b], g->out[a].tps[k].topic),
                          "seed %llu: %s has %zu, %s has %zu and could take %s-%d", (unsigned long long)seed,
                          g->m[a].member_id, g->out[a].n, g->m[b].member_id, g->out[b].n, g->out[a].tps[k].topic,
                          g->out[a].tps[k].partition);
        }
}

/* Members now own what the last run gave them, at `generation`. */
static void adopt(group *g, int32_t generation)
{
    for (size_t i = 0; i < g->n; i++) {
        group_tp_list_fini(&g->m[i].owned);
        for (size_t k = 0; k < g->out[i].n; k++)
            cr_assert_eq(group_tp_list_add(&g->m[i].owned, g->out[i].tps[k].topic, g->out[i].tps[k].partition),
                         GREGOR_OK);
        g->m[i].generation = generation;
    }
}

/* Rounds until no partition is withheld (cooperative) or at most 3. */
static void settle(group *g, int owner[16][64], uint64_t seed, int32_t *generation)
{
    for (int round = 0; round < 3; round++) {
        run(g, "cooperative-sticky");
        check_valid(g, owner, seed);
        adopt(g, ++*generation);
    }
    check_complete(g, owner, seed);
    check_balanced(g, seed);
}

Test(assignors, eager_properties_random)
{
    const char *names[] = {"range", "roundrobin"};
    for (uint64_t seed = 1; seed <= 300; seed++) {
        group *g = random_group(seed, seed % 2);
        int owner[16][64];
        for (size_t k = 0; k < 2; k++) {
            run(g, names[k]);
            check_valid(g, owner, seed);
            check_complete(g, owner, seed);
        }
        if (seed % 2) /* equal subscriptions: roundrobin counts differ by at most one */
            for (size_t a = 0; a < g->n; a++)
                for (size_t b = 0; b < g->n; b++)
                    cr_assert(g->out[a].n <= g->out[b].n + 1, "seed %llu", (unsigned long long)seed);
        group_free(g);
    }
}

Test(assignors, cooperative_sticky_properties_random)
{
    for (uint64_t seed = 1; seed <= 400; seed++) {
        group *g = random_group(seed, seed % 2);
        int owner[16][64], before[16][64];
        int32_t gen = 0;
        /* from scratch: complete and balanced at once (nobody owns anything) */
        run(g, "cooperative-sticky");
        check_valid(g, owner, seed);
        check_complete(g, owner, seed);
        check_balanced(g, seed);
        adopt(g, ++gen);
        /* stickiness: the same group again moves nothing */
        run(g, "cooperative-sticky");
        check_valid(g, before, seed);
        for (size_t t = 0; t < g->nt; t++)
            for (int32_t p = 0; p < g->t[t].partitions; p++)
                cr_assert_eq(before[t][p], owner[t][p], "seed %llu: %s-%d moved with nothing changed",
                             (unsigned long long)seed, g->tnames[t], p);
        /* junk claims: duplicates, a stale generation, a deleted topic, out
         * of range; one member claims what another owns in the same
         * generation. Still at most once per round, and complete after. */
        if (g->n >= 2 && g->m[0].owned.n > 0) {
            const group_tp *tp = &g->m[0].owned.tps[0];
            cr_assert_eq(group_tp_list_add(&g->m[1].owned, tp->topic, tp->partition), GREGOR_OK);
            cr_assert_eq(group_tp_list_add(&g->m[1].owned, tp->topic, tp->partition), GREGOR_OK);
            cr_assert_eq(group_tp_list_add(&g->m[1].owned, "deleted", 0), GREGOR_OK);
            cr_assert_eq(group_tp_list_add(&g->m[1].owned, tp->topic, 999), GREGOR_OK);
            if (seed % 3 == 0)
                g->m[1].generation = gen - 1;
        }
        settle(g, owner, seed, &gen);
        group_free(g);
    }
}

Test(assignors, cooperative_sticky_member_joining_moves_little)
{
    for (uint64_t seed = 1; seed <= 300; seed++) {
        group *g = random_group(seed, true);
        int owner[16][64], after[16][64];
        int32_t gen = 0;
        settle(g, owner, seed, &gen);
        size_t m = g->n, P = 0;
        for (size_t t = 0; t < g->nt; t++)
            P += (size_t)g->t[t].partitions;
        char subs[64] = "";
        for (size_t t = 0; t < g->nt; t++)
            snprintf(subs + strlen(subs), sizeof subs - strlen(subs), "%s ", g->tnames[t]);
        member(g, "joiner", subs);
        /* the first round gives nothing that another member must revoke */
        run(g, "cooperative-sticky");
        check_valid(g, after, seed);
        for (size_t t = 0; t < g->nt; t++)
            for (int32_t p = 0; p < g->t[t].partitions; p++)
                cr_assert(after[t][p] == -1 || after[t][p] == owner[t][p], "seed %llu: %s-%d moved in one round",
                          (unsigned long long)seed, g->tnames[t], p);
        adopt(g, ++gen);
        settle(g, after, seed, &gen);
        size_t moved = 0;
        for (size_t t = 0; t < g->nt; t++)
            for (int32_t p = 0; p < g->t[t].partitions; p++)
                moved += after[t][p] != owner[t][p];
        cr_assert_leq(moved, (P + m) / (m + 1), "seed %llu: %zu of %zu partitions moved for %zu members",
                      (unsigned long long)seed, moved, P, m);
        group_free(g);
    }
}

/* ---- 3. scale ---- */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static group *big_group(size_t members, size_t topics, int32_t partitions_each)
{
    group *g = group_new();
    char subs[128] = "";
    for (size_t t = 0; t < topics; t++) {
        char name[8];
        snprintf(name, sizeof name, "s%u", (unsigned)(t % 100));
        topic(g, name, partitions_each);
        snprintf(subs + strlen(subs), sizeof subs - strlen(subs), "%s ", name);
    }
    for (size_t i = 0; i < members; i++) {
        char id[16];
        snprintf(id, sizeof id, "member-%04u", (unsigned)(i % 10000));
        member(g, id, subs);
    }
    return g;
}

static size_t total_assigned(const group *g)
{
    size_t n = 0;
    for (size_t i = 0; i < g->n; i++)
        n += g->out[i].n;
    return n;
}

Test(assignors, scale_20_members_240_partitions)
{
    group *g = big_group(20, 4, 60);
    const char *names[] = {"range", "roundrobin", "cooperative-sticky"};
    for (size_t k = 0; k < 3; k++) {
        run(g, names[k]);
        cr_assert_eq(total_assigned(g), 240);
        for (size_t i = 0; i < g->n; i++)
            cr_assert_eq(g->out[i].n, 12, "%s: %s has %zu", names[k], g->m[i].member_id, g->out[i].n);
    }
    /* one member leaves: its 12 partitions spread, nothing else moves */
    adopt(g, 1);
    group_tp_list left = g->m[19].owned;
    group_tp_list_init(&g->m[19].owned);
    g->n = 19;
    run(g, "cooperative-sticky");
    cr_assert_eq(total_assigned(g), 240);
    for (size_t i = 0; i < g->n; i++) {
        cr_assert(g->out[i].n == 12 || g->out[i].n == 13);
        for (size_t k = 0; k < g->m[i].owned.n; k++)
            cr_assert(group_tp_list_contains(&g->out[i], g->m[i].owned.tps[k].topic, g->m[i].owned.tps[k].partition));
    }
    group_tp_list_fini(&left);
    g->n = 20;
    group_free(g);
}

Test(assignors, scale_1000_members_10000_partitions)
{
    group *g = big_group(1000, 10, 1000);
    const char *names[] = {"range", "roundrobin", "cooperative-sticky"};
    for (size_t k = 0; k < 3; k++) {
        double t0 = now_s();
        run(g, names[k]);
        double dt = now_s() - t0;
        printf("assign %-18s 1000 members x 10000 partitions: %.1f ms\n", names[k], dt * 1e3);
        cr_assert_eq(total_assigned(g), 10000);
        cr_assert_lt(dt, 1.0, "%s took %.3f s", names[k], dt);
    }
    /* a rebalance where everyone owns its share and one member joins */
    adopt(g, 1);
    member(g, "member-joiner", "s0 s1 s2 s3 s4 s5 s6 s7 s8 s9");
    double t0 = now_s();
    run(g, "cooperative-sticky");
    double dt = now_s() - t0;
    printf("assign cooperative-sticky 1001 members, all owning, one joining: %.1f ms\n", dt * 1e3);
    cr_assert_lt(dt, 1.0);
    cr_assert_eq(g->out[1000].n, 0); /* cooperative: what it gets must be revoked first */
    group_free(g);
}

Test(assignors, scale_different_subscriptions)
{
    /* the general case: 200 members each subscribed to 3-10 of 10 topics of
     * 500 partitions, from scratch and then with one member joining */
    group *g = group_new();
    for (size_t t = 0; t < 10; t++) {
        char name[8];
        snprintf(name, sizeof name, "s%u", (unsigned)t);
        topic(g, name, 500);
    }
    rng_state = 12345;
    for (size_t i = 0; i < 200; i++) {
        char id[16], subs[64] = "";
        snprintf(id, sizeof id, "member-%03u", (unsigned)i);
        for (size_t t = 0; t < 10; t++)
            if (t < 3 || rnd(2))
                snprintf(subs + strlen(subs), sizeof subs - strlen(subs), "s%u ", (unsigned)t);
        member(g, id, subs);
    }
    double t0 = now_s();
    run(g, "cooperative-sticky");
    double dt = now_s() - t0;
    printf("assign cooperative-sticky 200 members, different subscriptions, 5000 partitions: %.1f ms\n", dt * 1e3);
    cr_assert_eq(total_assigned(g), 5000);
    check_balanced(g, 12345);
    cr_assert_lt(dt, 1.0);
    adopt(g, 1);
    member(g, "member-joiner", "s0 s1 s2");
    t0 = now_s();
    run(g, "cooperative-sticky");
    dt = now_s() - t0;
    printf("assign cooperative-sticky 201 members, different subscriptions, one joining: %.1f ms\n", dt * 1e3);
    cr_assert_lt(dt, 1.0);
    group_free(g);
}
