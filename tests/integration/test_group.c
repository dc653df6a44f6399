/* Integration: gregor_group members (classic protocol) on the 1-node 4.x
 * cluster (GREGOR_TEST_KAFKA1): sharing partitions, handing them over with
 * their commits, refusing commits for partitions not owned, leaving after
 * max_poll_interval_ms, cooperative rebalances that keep what does not
 * move, static membership and pattern subscriptions.
 *
 * Several members run in one thread: each one's rebalance steps advance
 * inside its own poll, so the tests poll them in turn. */
#include "gregor/group.h"
#include "protocol/gen/errors.h"
#include "test_consume_util.h"

static const char *bootstrap(void) { return tu_env_required("GREGOR_TEST_KAFKA1"); }
static const char *cluster(void) { return tc_cluster_name("GREGOR_TEST_KAFKA1_NAME", "kafka1"); }

static void produce(const char *topic, int n)
{
    tc_sh("seq 0 %d | sed 's/^/k&:v/' | kcat -P -q -b %s -t %s -K: -X batch.num.messages=100", n - 1, bootstrap(),
          topic);
}

#define MAX_PARTS 64

/* What one member saw. */
typedef struct seen {
    const char *name;
    int assigned_calls, revoked_calls, lost_calls;
    int revoked_partitions;
    bool owns[MAX_PARTS];
    long messages;
    long *per_offset; /* messages seen per partition*10000+offset (shared between members) */
} seen;

static void on_rebalance(gregor_group *g, gregor_rebalance_kind kind, const gregor_topic_offset *tps, size_t n,
                         void *opaque)
{
    (void)g;
    seen *s = opaque;
    for (size_t i = 0; i < n; i++)
        cr_assert(tps[i].partition >= 0 && tps[i].partition < MAX_PARTS);
    if (kind == GREGOR_REBALANCE_ASSIGNED) {
        s->assigned_calls++;
        for (size_t i = 0; i < n; i++)
            s->owns[tps[i].partition] = true;
    } else {
        if (kind == GREGOR_REBALANCE_REVOKED) {
            s->revoked_calls++;
            s->revoked_partitions += (int)n;
        } else {
            s->lost_calls++;
        }
        for (size_t i = 0; i < n; i++)
            s->owns[tps[i].partition] = false;
    }
    cr_log_info("%s: %s %zu partition(s)", s->name,
                kind == GREGOR_REBALANCE_ASSIGNED  ? "assigned"
                : kind == GREGOR_REBALANCE_REVOKED ? "revoked"
                                                   : "lost",
                n);
}

static gregor_group *member_on(gregor_client *client, const char *group, seen *s, const char *const *kv)
{
    gregor_config *cfg = gregor_config_new();
    char err[256];
    cr_assert_eq(gregor_config_set(cfg, "bootstrap", bootstrap(), err, sizeof err), GREGOR_OK, "%s", err);
    cr_assert_eq(gregor_config_set(cfg, "group_id", group, err, sizeof err), GREGOR_OK, "%s", err);
    cr_assert_eq(gregor_config_set(cfg, "auto_offset_reset", "earliest", err, sizeof err), GREGOR_OK);
    cr_assert_eq(gregor_config_set(cfg, "session_timeout_ms", "10000", err, sizeof err), GREGOR_OK);
    cr_assert_eq(gregor_config_set(cfg, "heartbeat_interval_ms", "500", err, sizeof err), GREGOR_OK);
    cr_assert_eq(gregor_config_set(cfg, "auto_commit_interval_ms", "500", err, sizeof err), GREGOR_OK);
    for (size_t i = 0; kv && kv[i]; i++) {
        char name[128];
        const char *eq = strchr(kv[i], '=');
        cr_assert(eq && (size_t)(eq - kv[i]) < sizeof name);
        memcpy(name, kv[i], (size_t)(eq - kv[i]));
        name[eq - kv[i]] = 0;
        cr_assert_eq(gregor_config_set(cfg, name, eq + 1, err, sizeof err), GREGOR_OK, "%s", err);
    }
    gregor_group *g;
    if (client)
        cr_assert_eq(gregor_group_new_on(client, cfg, &g, err, sizeof err), GREGOR_OK, "%s", err);
    else
        cr_assert_eq(gregor_group_new(cfg, &g, err, sizeof err), GREGOR_OK, "%s", err);
    gregor_config_destroy(cfg);
    gregor_group_set_rebalance_cb(g, on_rebalance, s);
    return g;
}

static gregor_group *member(const char *group, seen *s, const char *const *kv)
{
    return member_on(NULL, group, s, kv);
}

static void subscribe(gregor_group *g, const char *topic)
{
    char err[256];
    const char *topics[1] = {topic};
    cr_assert_eq(gregor_group_subscribe(g, topics, 1, err, sizeof err), GREGOR_OK, "%s", err);
}

/* One poll of `g`; counts messages into `s`. */
static gregor_err poll_once(gregor_group *g, seen *s, int32_t timeout_ms)
{
    gregor_batch *b = NULL;
    char err[256];
    gregor_err e = gregor_group_poll(g, timeout_ms, &b, err, sizeof err);
    if (e != GREGOR_OK) {
        cr_log_info("%s: poll: %s", s->name, err);
        return e;
    }
    for (size_t i = 0; i < gregor_batch_count(b); i++) {
        const gregor_message *m = gregor_batch_message(b, i);
        cr_assert(s->owns[m->partition], "%s: message of partition %d, which it does not own", s->name,
                  (int)m->partition);
        s->messages++;
        if (s->per_offset && m->offset < 10000)
            s->per_offset[m->partition * 10000 + m->offset]++;
    }
    gregor_batch_destroy(b);
    return GREGOR_OK;
}


static int owned_count(const seen *s, int parts)
{
    int n = 0;
    for (int p = 0; p < parts; p++)
        n += s->owns[p];
    return n;
}

/* Polls the members in turn until every partition has exactly one owner,
 * every member owns some, and `want` messages were read in all, or 60 s
 * pass. */
static void run_until(gregor_group **gs, seen *ss, int n, int parts, long want)
{
    double deadline = tc_now_s() + 60;
    for (;;) {
        long total = 0;
        for (int i = 0; i < n; i++) {
            cr_assert_eq(poll_once(gs[i], &ss[i], 50), GREGOR_OK);
            total += ss[i].messages;
        }
        bool covered = true;
        for (int i = 0; i < n && parts >= n; i++)
            covered = covered && owned_count(&ss[i], parts) > 0; /* everyone has a share */
        for (int p = 0; p < parts; p++) {
            int owners = 0;
            for (int i = 0; i < n; i++)
                owners += ss[i].owns[p];
            covered = covered && owners == 1;
        }
        if (covered && total >= want)
            return;
        cr_assert(tc_now_s() < deadline, "no stable assignment with %ld messages within 60 s (have %ld)", want,
                  total);
    }
}

Test(group, members_share_partitions_and_read_everything_once)
{
    char topic[128], group[160];
    tc_topic(topic, sizeof topic, "grp-share");
    snprintf(group, sizeof group, "g-%s", topic);
    tc_create_topic(cluster(), topic, 6, 1);
    produce(topic, 600);
    long *counts = calloc(6 * 10000, sizeof *counts);
    seen ss[3] = {{.name = "A", .per_offset = counts}, {.name = "B", .per_offset = counts},
                  {.name = "C", .per_offset = counts}};
    gregor_group *gs[3];
    double t0 = tc_now_s();
    for (int i = 0; i < 3; i++) {
        gs[i] = member(group, &ss[i], NULL);
        subscribe(gs[i], topic);
    }
    run_until(gs, ss, 3, 6, 600);
    cr_log_info("3 members: stable and 600 messages read in %.1f s", tc_now_s() - t0);
    for (int i = 0; i < 3; i++)
        cr_assert_geq(owned_count(&ss[i], 6), 1, "member %s owns nothing", ss[i].name);
    long dup = 0;
    for (int p = 0; p < 6; p++)
        for (int o = 0; o < 10000; o++)
            dup += counts[p * 10000 + o] > 1;
    cr_log_info("messages read twice: %ld (only possible after a handover before a commit)", dup);
    /* A partition of another topic is not this member's to commit. */
    gregor_topic_offset bad = {.topic = "not-subscribed", .partition = 0, .offset = 1};
    char err[256];
    cr_assert_eq(gregor_group_commit(gs[0], &bad, 1, NULL, NULL, NULL, err, sizeof err), GREGOR_ERR_NOT_ASSIGNED);
    cr_assert_eq(bad.err, GREGOR_ERR_NOT_ASSIGNED);
    cr_assert(strstr(err, "not-subscribed"), "%s", err);
    for (int i = 0; i < 3; i++)
        gregor_group_destroy(gs[i]);
    free(counts);
}

Test(group, close_hands_over_after_the_last_commit)
{
    char topic[128], group[160];
    tc_topic(topic, sizeof topic, "grp-close");
    snprintf(group, sizeof group, "g-%s", topic);
    tc_create_topic(cluster(), topic, 4, 1);
    produce(topic, 400);
    seen a = {.name = "A"}, b = {.name = "B"};
    gregor_group *ga = member(group, &a, NULL);
    subscribe(ga, topic);
    run_until(&ga, &a, 1, 4, 400);
    gregor_group *gb = member(group, &b, NULL);
    subscribe(gb, topic);
    /* A closes: it commits what poll returned and leaves; B takes all. */
    double t0 = tc_now_s();
    char err[256];
    cr_assert_eq(gregor_group_close(ga, err, sizeof err), GREGOR_OK, "%s", err);
    produce(topic, 40);
    run_until(&gb, &b, 1, 4, 40);
    cr_log_info("takeover after close: %.1f s", tc_now_s() - t0);
    /* B starts right after A's last commit: it reads only the new ones. */
    for (int i = 0; i < 20; i++)
        cr_assert_eq(poll_once(gb, &b, 50), GREGOR_OK);
    cr_assert_eq(b.messages, 40, "B read %ld messages; 40 were produced after A's commit", b.messages);
    gregor_group_destroy(ga);
    gregor_group_destroy(gb);
}

/* A member subscribed right after its client started joins with metadata
 * that knows the topic: one generation, no second rebalance a second later
 * when the next metadata shows the topic's partitions. */
Test(group, a_fresh_member_joins_once)
{
    char topic[128], group[160];
    tc_topic(topic, sizeof topic, "grp-once");
    snprintf(group, sizeof group, "g-%s", topic);
    tc_create_topic(cluster(), topic, 2, 1);
    seen a = {.name = "A"};
    gregor_group *ga = member(group, &a, NULL);
    subscribe(ga, topic);
    run_until(&ga, &a, 1, 2, 0);
    double until = tc_now_s() + 2.5; /* the member looks at metadata every second */
    while (tc_now_s() < until)
        cr_assert_eq(poll_once(ga, &a, 100), GREGOR_OK);
    char id[256];
    cr_assert_eq(gregor_group_member_id(ga, id, sizeof id), 1, "still in generation 1");
    cr_assert_eq(a.assigned_calls, 1);
    cr_assert_eq(a.revoked_calls, 0);
    gregor_group_destroy(ga);
}

Test(group, a_member_that_stops_polling_leaves_and_rejoins)
{
    char topic[128], group[160];
    tc_topic(topic, sizeof topic, "grp-maxpoll");
    snprintf(group, sizeof group, "g-%s", topic);
    tc_create_topic(cluster(), topic, 2, 1);
    seen a = {.name = "A"};
    const char *kv[] = {"max_poll_interval_ms=2000", NULL};
    gregor_group *ga = member(group, &a, kv);
    subscribe(ga, topic);
    run_until(&ga, &a, 1, 2, 0);
    sleep(4); /* no poll: the member thread leaves the group */
    gregor_batch *batch = NULL;
    char err[512];
    gregor_err e = gregor_group_poll(ga, 100, &batch, err, sizeof err);
    cr_assert_eq(e, GREGOR_ERR_MAX_POLL_EXCEEDED, "poll after 4 s without polling: %s", gregor_err_name(e));
    cr_assert(strstr(err, "max_poll_interval_ms"), "%s", err);
    cr_assert_eq(a.lost_calls, 1, "the partitions were lost, not handed over");
    /* It joins again and gets its partitions back. */
    a.assigned_calls = 0;
    run_until(&ga, &a, 1, 2, 0);
    cr_assert_geq(a.assigned_calls, 1);
    gregor_group_destroy(ga);
}

Test(group, cooperative_rebalance_revokes_only_what_moves)
{
    char topic[128], group[160];
    tc_topic(topic, sizeof topic, "grp-coop");
    snprintf(group, sizeof group, "g-%s", topic);
    tc_create_topic(cluster(), topic, 6, 1);
    produce(topic, 60);
    const char *kv[] = {"partition_assignment_strategy=cooperative-sticky", NULL};
    seen ss[2] = {{.name = "A"}, {.name = "B"}};
    gregor_group *gs[2];
    gs[0] = member(group, &ss[0], kv);
    subscribe(gs[0], topic);
    run_until(gs, ss, 1, 6, 60);
    gs[1] = member(group, &ss[1], kv);
    subscribe(gs[1], topic);
    run_until(gs, ss, 2, 6, 60);
    cr_assert_eq(owned_count(&ss[0], 6), 3);
    cr_assert_eq(owned_count(&ss[1], 6), 3);
    cr_assert_eq(ss[0].revoked_partitions, 3, "A gave up %d partitions; only the 3 that moved should go",
                 ss[0].revoked_partitions);
    for (int i = 0; i < 2; i++)
        gregor_group_destroy(gs[i]);
}

Test(group, a_static_member_restarted_in_time_keeps_its_partitions)
{
    char topic[128], group[160];
    tc_topic(topic, sizeof topic, "grp-static");
    snprintf(group, sizeof group, "g-%s", topic);
    tc_create_topic(cluster(), topic, 4, 1);
    const char *kva[] = {"group_instance_id=a", NULL}, *kvb[] = {"group_instance_id=b", NULL};
    seen ss[2] = {{.name = "A"}, {.name = "B"}};
    gregor_group *gs[2];
    gs[0] = member(group, &ss[0], kva);
    gs[1] = member(group, &ss[1], kvb);
    subscribe(gs[0], topic);
    subscribe(gs[1], topic);
    run_until(gs, ss, 2, 4, 0);
    bool before[4];
    memcpy(before, ss[1].owns, sizeof before);
    int a_calls = ss[0].assigned_calls + ss[0].revoked_calls;
    /* B goes away without leaving (static) and comes back in time. */
    gregor_group_destroy(gs[1]);
    seen b2 = {.name = "B'"};
    gs[1] = member(group, &b2, kvb);
    subscribe(gs[1], topic);
    double t0 = tc_now_s();
    while (owned_count(&b2, 4) == 0) {
        cr_assert_eq(poll_once(gs[0], &ss[0], 50), GREGOR_OK);
        cr_assert_eq(poll_once(gs[1], &b2, 50), GREGOR_OK);
        cr_assert(tc_now_s() - t0 < 30, "the restarted static member got nothing in 30 s");
    }
    cr_log_info("static member back with its partitions in %.1f s", tc_now_s() - t0);
    cr_assert(!memcmp(before, b2.owns, sizeof before), "the restarted member got other partitions");
    for (int i = 0; i < 10; i++)
        cr_assert_eq(poll_once(gs[0], &ss[0], 50), GREGOR_OK);
    cr_assert_eq(ss[0].assigned_calls + ss[0].revoked_calls, a_calls, "A saw a rebalance");
    gregor_group_destroy(gs[0]);
    gregor_group_destroy(gs[1]);
}

Test(group, a_pattern_subscription_gets_new_topics)
{
    char prefix[128], group[160], t1[200], t2[200], re[220];
    tc_topic(prefix, sizeof prefix, "grp-pat");
    snprintf(group, sizeof group, "g-%s", prefix);
    snprintf(t1, sizeof t1, "%s-one", prefix);
    snprintf(t2, sizeof t2, "%s-two", prefix);
    snprintf(re, sizeof re, "^%s-.*", prefix);
    tc_create_topic(cluster(), t1, 2, 1);
    seen a = {.name = "A"};
    const char *kv[] = {"metadata_refresh_ms=1000", NULL};
    gregor_group *ga = member(group, &a, kv);
    char err[256];
    cr_assert_eq(gregor_group_subscribe_pattern(ga, re, err, sizeof err), GREGOR_OK, "%s", err);
    run_until(&ga, &a, 1, 2, 0);
    tc_create_topic(cluster(), t2, 3, 1);
    double t0 = tc_now_s();
    gregor_topic_offset *tps;
    size_t n = 0;
    for (;;) {
        cr_assert_eq(poll_once(ga, &a, 100), GREGOR_OK);
        cr_assert_eq(gregor_group_assignment(ga, &tps, &n), GREGOR_OK);
        free(tps);
        if (n == 5)
            break;
        cr_assert(tc_now_s() - t0 < 30, "the new topic was not assigned within 30 s (%zu partitions)", n);
    }
    cr_log_info("new matching topic assigned after %.1f s", tc_now_s() - t0);
    cr_assert_eq(gregor_group_subscribe_pattern(ga, "([", err, sizeof err), GREGOR_ERR_CONFIG);
    gregor_group_destroy(ga);
}

Test(group, members_on_one_shared_client_share_partitions)
{
    char topic[128], group[160];
    tc_topic(topic, sizeof topic, "grp-shared");
    snprintf(group, sizeof group, "g-%s", topic);
    tc_create_topic(cluster(), topic, 6, 1);
    produce(topic, 300);
    gregor_config *cfg = gregor_config_new();
    char err[256];
    cr_assert_eq(gregor_config_set(cfg, "bootstrap", bootstrap(), err, sizeof err), GREGOR_OK);
    gregor_client *client;
    cr_assert_eq(gregor_client_new(cfg, &client, err, sizeof err), GREGOR_OK, "%s", err);
    gregor_config_destroy(cfg);
    seen ss[3] = {{.name = "A"}, {.name = "B"}, {.name = "C"}};
    gregor_group *gs[3];
    for (int i = 0; i < 3; i++) {
        gs[i] = member_on(client, group, &ss[i], NULL);
        subscribe(gs[i], topic);
    }
    /* Each member has its own coordinator connection: one member's JoinGroup
     * held by the broker does not hold up another's. */
    run_until(gs, ss, 3, 6, 300);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(owned_count(&ss[i], 6), 2, "member %s owns %d partitions", ss[i].name, owned_count(&ss[i], 6));
    gregor_client_destroy(client); /* the members keep it alive */
    for (int i = 0; i < 3; i++)
        gregor_group_destroy(gs[i]);
}

/* Runs a kafka-python admin call on the test bed: `code` uses `a`, a
 * KafkaAdminClient. */
static void admin(const char *code)
{
    tc_sh("python3 -c 'from kafka.admin import KafkaAdminClient, NewPartitions\n"
          "a = KafkaAdminClient(bootstrap_servers=\"%s\")\n%s\na.close()'",
          bootstrap(), code);
}

Test(group, partitions_added_to_a_subscribed_topic_get_an_owner)
{
    char topic[128], group[160], code[512];
    tc_topic(topic, sizeof topic, "grp-grow");
    snprintf(group, sizeof group, "g-%s", topic);
    tc_create_topic(cluster(), topic, 2, 1);
    seen a = {.name = "A"};
    const char *kv[] = {"metadata_refresh_ms=1000", NULL};
    gregor_group *ga = member(group, &a, kv);
    subscribe(ga, topic);
    run_until(&ga, &a, 1, 2, 0);
    snprintf(code, sizeof code, "a.create_partitions({\"%s\": NewPartitions(total_count=4)})", topic);
    admin(code);
    double t0 = tc_now_s();
    while (owned_count(&a, 4) < 4) {
        cr_assert_eq(poll_once(ga, &a, 100), GREGOR_OK);
        cr_assert(tc_now_s() - t0 < 30, "the new partitions got no owner within 30 s");
    }
    cr_log_info("partitions added: owned after %.1f s", tc_now_s() - t0);
    gregor_group_destroy(ga);
}

Test(group, a_deleted_topic_leaves_the_others_consumed)
{
    char t1[128], t2[160], group[192], code[512];
    tc_topic(t1, sizeof t1, "grp-del");
    snprintf(t2, sizeof t2, "%s-gone", t1);
    snprintf(group, sizeof group, "g-%s", t1);
    tc_create_topic(cluster(), t1, 2, 1);
    tc_create_topic(cluster(), t2, 2, 1);
    seen a = {.name = "A"};
    const char *kv[] = {"metadata_refresh_ms=1000", NULL};
    gregor_group *ga = member(group, &a, kv);
    char err[256];
    const char *topics[2] = {t1, t2};
    cr_assert_eq(gregor_group_subscribe(ga, topics, 2, err, sizeof err), GREGOR_OK, "%s", err);
    gregor_topic_offset *tps;
    size_t n = 0;
    double t0 = tc_now_s();
    while (n != 4) {
        cr_assert_eq(poll_once(ga, &a, 100), GREGOR_OK);
        cr_assert_eq(gregor_group_assignment(ga, &tps, &n), GREGOR_OK);
        free(tps);
        cr_assert(tc_now_s() - t0 < 30, "4 partitions were not assigned within 30 s");
    }
    snprintf(code, sizeof code, "a.delete_topics([\"%s\"])", t2);
    admin(code);
    t0 = tc_now_s();
    for (;;) {
        gregor_batch *b = NULL;
        gregor_err e = gregor_group_poll(ga, 100, &b, err, sizeof err);
        gregor_batch_destroy(b);
        cr_assert(e == GREGOR_OK || e == GREGOR_ERR_UNKNOWN_TOPIC || e == PROTO_ERR_UNKNOWN_TOPIC_OR_PARTITION,
                  "poll: %s", err);
        cr_assert_eq(gregor_group_assignment(ga, &tps, &n), GREGOR_OK);
        bool only_t1 = n == 2;
        for (size_t i = 0; i < n; i++)
            only_t1 = only_t1 && !strcmp(tps[i].topic, t1);
        free(tps);
        if (only_t1)
            break;
        cr_assert(tc_now_s() - t0 < 30, "the deleted topic's partitions were still assigned after 30 s");
    }
    cr_log_info("deleted topic given up after %.1f s", tc_now_s() - t0);
    /* The remaining topic is still read. */
    produce(t1, 10);
    long before = a.messages;
    t0 = tc_now_s();
    while (a.messages < before + 10) {
        gregor_batch *b = NULL;
        if (gregor_group_poll(ga, 100, &b, err, sizeof err) == GREGOR_OK) {
            for (size_t i = 0; b && i < gregor_batch_count(b); i++)
                a.messages++;
        }
        gregor_batch_destroy(b);
        cr_assert(tc_now_s() - t0 < 30, "the remaining topic was not read after the other was deleted");
    }
    gregor_group_destroy(ga);
}
