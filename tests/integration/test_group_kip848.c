/* Integration: gregor_group members with group_protocol=consumer (KIP-848,
 * the broker assigns) on the 1-node 4.x cluster (GREGOR_TEST_KAFKA1):
 *
 * - two gregor members over a 6-partition topic get disjoint shares whose
 *   union is the topic; when one closes the other takes everything over,
 *   and with the commits made at revocation and close every message is
 *   read exactly once overall. Reports the time to the first assignment
 *   and to the takeover;
 * - a gregor member and Java's console consumer (the test bed's Kafka 4.x
 *   jars, group.protocol=consumer) share a group: each reads the
 *   partitions the broker gave it, and together all of them;
 * - a member that does not poll for max_poll_interval_ms leaves, loses its
 *   partitions, poll reports MAX_POLL_EXCEEDED, and it joins again;
 * - a pattern subscription is matched by the broker (SubscribedTopicRegex);
 *   one it cannot read (RE2/J) is a fatal poll error with its message;
 * - a static member closed (epoch -2) and started again gets the same
 *   partitions back at once, and the other member sees no rebalance.
 *
 * Several members run in one thread: each one's rebalance steps advance
 * inside its own poll, so the tests poll them in turn. */
#include <signal.h>

#include "gregor/group.h"
#include "test_consume_util.h"

static const char *bootstrap(void) { return tu_env_required("GREGOR_TEST_KAFKA1"); }
static const char *cluster(void) { return tc_cluster_name("GREGOR_TEST_KAFKA1_NAME", "kafka1"); }

/* The figures this test reports, on stderr whatever Criterion's verbosity. */
#define report(...) (fprintf(stderr, "[kip848] " __VA_ARGS__), fputc('\n', stderr))

#define PARTS 6
#define MAX_OFFSET 1000

/* What one member saw. */
typedef struct seen {
    const char *name;
    bool owns[PARTS];
    int assigned_calls, revoked_calls, lost_calls;
    long messages;
    int (*per_offset)[MAX_OFFSET]; /* [partition][offset]: times read, shared by the members */
} seen;

static void on_rebalance(gregor_group *g, gregor_rebalance_kind kind, const gregor_topic_offset *tps, size_t n,
                         void *opaque)
{
    (void)g;
    seen *s = opaque;
    for (size_t i = 0; i < n; i++) {
        cr_assert(tps[i].partition >= 0 && tps[i].partition < PARTS);
        s->owns[tps[i].partition] = kind == GREGOR_REBALANCE_ASSIGNED;
    }
    if (kind == GREGOR_REBALANCE_ASSIGNED)
        s->assigned_calls++;
    else if (kind == GREGOR_REBALANCE_REVOKED)
        s->revoked_calls++;
    else
        s->lost_calls++;
    cr_log_info("%s: %s %zu partition(s)", s->name,
                kind == GREGOR_REBALANCE_ASSIGNED  ? "assigned"
                : kind == GREGOR_REBALANCE_REVOKED ? "revoked"
                                                   : "lost",
                n);
}

/* A member with group_protocol=consumer, plus `key`=`value` unless NULL. */
static gregor_group *member_ex(const char *group, seen *s, const char *key, const char *value)
{
    const char *kv[][2] = {
        {"bootstrap", bootstrap()},         {"group_id", group},
        {"group_protocol", "consumer"},     {"auto_offset_reset", "earliest"},
        {"auto_commit_interval_ms", "500"}, {"max_partition_fetch_bytes", "2048"},
        {key, value},
    };
    gregor_config *cfg = gregor_config_new();
    char err[256];
    for (size_t i = 0; i < sizeof kv / sizeof kv[0] && kv[i][0]; i++)
        cr_assert_eq(gregor_config_set(cfg, kv[i][0], kv[i][1], err, sizeof err), GREGOR_OK, "%s", err);
    gregor_group *g;
    cr_assert_eq(gregor_group_new(cfg, &g, err, sizeof err), GREGOR_OK, "%s", err);
    gregor_config_destroy(cfg);
    gregor_group_set_rebalance_cb(g, on_rebalance, s);
    return g;
}

static gregor_group *member(const char *group, seen *s) { return member_ex(group, s, NULL, NULL); }

static void subscribe(gregor_group *g, const char *topic)
{
    char err[256];
    const char *topics[1] = {topic};
    cr_assert_eq(gregor_group_subscribe(g, topics, 1, err, sizeof err), GREGOR_OK, "%s", err);
}

/* One poll of `g`; counts what it returned into `s`. */
static void poll_once(gregor_group *g, seen *s, int32_t timeout_ms)
{
    gregor_batch *b = NULL;
    char err[256];
    cr_assert_eq(gregor_group_poll(g, timeout_ms, &b, err, sizeof err), GREGOR_OK, "%s: poll: %s", s->name, err);
    for (size_t i = 0; i < gregor_batch_count(b); i++) {
        const gregor_message *m = gregor_batch_message(b, i);
        cr_assert(m->partition >= 0 && m->partition < PARTS && s->owns[m->partition],
                  "%s: a message of partition %d, which it does not own", s->name, (int)m->partition);
        s->messages++;
        if (s->per_offset && m->offset < MAX_OFFSET)
            s->per_offset[m->partition][m->offset]++;
    }
    gregor_batch_destroy(b);
}

static int owned_count(const seen *s)
{
    int n = 0;
    for (int p = 0; p < PARTS; p++)
        n += s->owns[p];
    return n;
}

/* The member's own view (gregor_group_assignment) agrees with the callbacks. */
static void check_assignment(gregor_group *g, const seen *s)
{
    gregor_topic_offset *v;
    size_t n;
    cr_assert_eq(gregor_group_assignment(g, &v, &n), GREGOR_OK);
    cr_assert_eq((int)n, owned_count(s), "%s: assignment lists %zu, callbacks say %d", s->name, n, owned_count(s));
    for (size_t i = 0; i < n; i++)
        cr_assert(s->owns[v[i].partition]);
    free(v);
}

/* `n` messages spread over the partitions by kcat's partitioner. */
static void produce(const char *topic, int from, int n)
{
    tc_sh("seq %d %d | sed 's/.*/k&:v&/' | kcat -P -q -b %s -t %s -K: -X batch.num.messages=100", from, from + n - 1,
          bootstrap(), topic);
}

static long read_total(int (*per)[MAX_OFFSET], int *dups)
{
    long total = 0;
    *dups = 0;
    for (int p = 0; p < PARTS; p++)
        for (int o = 0; o < MAX_OFFSET; o++) {
            total += per[p][o] > 0;
            *dups += per[p][o] > 1;
        }
    return total;
}

Test(kip848, two_members_share_then_one_takes_over, .timeout = 240)
{
    char topic[128], group[160], err[256];
    tc_topic(topic, sizeof topic, "kip848-share");
    snprintf(group, sizeof group, "%s-g", topic);
    tc_create_topic(cluster(), topic, PARTS, 1);
    static int per_offset[PARTS][MAX_OFFSET];
    seen sa = {.name = "A", .per_offset = per_offset}, sb = {.name = "B", .per_offset = per_offset};

    double t0 = tc_now_s();
    gregor_group *a = member(group, &sa);
    subscribe(a, topic);
    while (owned_count(&sa) < PARTS && tc_now_s() - t0 < 60)
        poll_once(a, &sa, 100);
    double first_s = tc_now_s() - t0;
    cr_assert_eq(owned_count(&sa), PARTS, "A alone got %d of %d partitions in 60 s", owned_count(&sa), PARTS);
    char id[256];
    int32_t epoch = gregor_group_member_id(a, id, sizeof id);
    cr_assert_gt(epoch, 0, "a KIP-848 member reports its member epoch (got %d)", (int)epoch);
    cr_assert_geq(strlen(id), 22, "the member id is the client's UUID (got '%s')", id);
    report("A: first assignment (all %d partitions) after %.2f s, member %s epoch %d", PARTS, first_s, id,
                (int)epoch);

    /* B joins: the broker moves some partitions, A revokes them first. */
    double t1 = tc_now_s();
    gregor_group *b = member(group, &sb);
    subscribe(b, topic);
    bool shared = false;
    while (!shared && tc_now_s() - t1 < 60) {
        poll_once(a, &sa, 50);
        poll_once(b, &sb, 50);
        shared = owned_count(&sa) > 0 && owned_count(&sb) > 0 && owned_count(&sa) + owned_count(&sb) == PARTS;
    }
    cr_assert(shared, "no shared assignment in 60 s: A owns %d, B %d", owned_count(&sa), owned_count(&sb));
    report("B: first assignment (%d partitions; A keeps %d) after %.2f s", owned_count(&sb), owned_count(&sa),
                tc_now_s() - t1);
    for (int p = 0; p < PARTS; p++)
        cr_assert(sa.owns[p] != sb.owns[p], "partition %d owned by %s", p, sa.owns[p] ? "both" : "neither");
    check_assignment(a, &sa);
    check_assignment(b, &sb);
    cr_assert_geq(sa.revoked_calls, 1, "A handed partitions over with a revocation");
    cr_assert_eq(sa.lost_calls + sb.lost_calls, 0);

    /* Both read the first 300. */
    produce(topic, 0, 300);
    int dups;
    double t2 = tc_now_s();
    while (read_total(per_offset, &dups) < 300 && tc_now_s() - t2 < 60) {
        poll_once(a, &sa, 50);
        poll_once(b, &sb, 50);
    }
    cr_assert_eq(read_total(per_offset, &dups), 300, "read %ld of 300", read_total(per_offset, &dups));
    for (int p = 0; p < PARTS; p++) {
        int n = 0;
        for (int o = 0; o < MAX_OFFSET; o++)
            n += per_offset[p][o];
        report("partition %d: %d message(s), owner %s", p, n, sa.owns[p] ? "A" : "B");
    }
    cr_assert_gt(sa.messages, 0);
    cr_assert_gt(sb.messages, 0);

    /* A closes (commits what it read, leaves with epoch -1): B takes over
     * all six and resumes at A's commits. */
    double t3 = tc_now_s();
    cr_assert_eq(gregor_group_close(a, err, sizeof err), GREGOR_OK, "%s", err);
    gregor_group_destroy(a);
    double close_s = tc_now_s() - t3;
    produce(topic, 300, 300);
    double t4 = tc_now_s();
    while (owned_count(&sb) < PARTS && tc_now_s() - t4 < 60)
        poll_once(b, &sb, 50);
    cr_assert_eq(owned_count(&sb), PARTS, "B owns %d of %d after A left", owned_count(&sb), PARTS);
    report("B: takeover of all %d partitions %.2f s after A's close returned (close took %.2f s)", PARTS,
                tc_now_s() - t4, close_s);
    check_assignment(b, &sb);
    while (read_total(per_offset, &dups) < 600 && tc_now_s() - t4 < 60)
        poll_once(b, &sb, 100);
    for (int i = 0; i < 10; i++) /* nothing more comes */
        poll_once(b, &sb, 50);
    long total = read_total(per_offset, &dups);
    report("read %ld distinct messages (A %ld, B %ld), %d read twice", total, sa.messages, sb.messages, dups);
    cr_assert_eq(total, 600);
    cr_assert_eq(dups, 0, "%d messages were read twice: a commit was missed at the handover", dups);
    cr_assert_eq(sa.messages + sb.messages, 600);
    cr_assert_eq(gregor_group_close(b, err, sizeof err), GREGOR_OK, "%s", err);
    gregor_group_destroy(b);
}

/* ------------------------------------------------------------ Java peer */

/* Starts Java's console consumer (KIP-848) in the background; its stdout
 * (Partition:N<TAB>value lines) goes to `out`, its pid to `pidfile`. */
static void start_java(const char *topic, const char *group, const char *out, const char *pidfile)
{
    const char *cache = getenv("GREGOR_CACHE");
    char def[512];
    if (!cache || !cache[0]) {
        snprintf(def, sizeof def, "%s/.cache/gregor", tu_env_required("HOME"));
        cache = def;
    }
    tc_sh("cd /tmp && sh -c 'echo $$ > %s; exec \"${JAVA_HOME:+$JAVA_HOME/bin/}java\" -Xmx192m -XX:+UseSerialGC "
          "-XX:TieredStopAtLevel=1 "
          "-cp \"%s/kafka/$(cut -d\" \" -f1 %s/kafka/4.version)/libs/*\" "
          "org.apache.kafka.tools.consumer.ConsoleConsumer --bootstrap-server %s --topic %s --group %s "
          "--command-property group.protocol=consumer --command-property auto.offset.reset=earliest "
          "--formatter-property print.partition=true' > %s 2> %s.err &",
          pidfile, cache, cache, bootstrap(), topic, group, out, out);
}

static void stop_java(const char *pidfile)
{
    FILE *f = fopen(pidfile, "r");
    int pid = 0;
    if (f) {
        if (fscanf(f, "%d", &pid) != 1)
            pid = 0;
        fclose(f);
    }
    if (pid > 0)
        kill(pid, SIGTERM);
    unlink(pidfile);
}

/* Partitions of the "late" messages Java printed (its output file). */
static int java_partitions(const char *out, bool *parts)
{
    FILE *f = fopen(out, "r");
    if (!f)
        return 0;
    char line[512];
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        int p;
        if (sscanf(line, "Partition:%d", &p) == 1 && strstr(line, "late") && p >= 0 && p < PARTS) {
            parts[p] = true;
            n++;
        }
    }
    fclose(f);
    return n;
}

Test(kip848, gregor_and_java_members_share_a_group, .timeout = 240)
{
    char topic[128], group[160], err[256], out[256], pidfile[256];
    tc_topic(topic, sizeof topic, "kip848-java");
    snprintf(group, sizeof group, "%s-g", topic);
    snprintf(out, sizeof out, "/tmp/%s.java.out", topic);
    snprintf(pidfile, sizeof pidfile, "/tmp/%s.java.pid", topic);
    tc_create_topic(cluster(), topic, PARTS, 1);
    start_java(topic, group, out, pidfile);

    seen s = {.name = "gregor"};
    gregor_group *g = member(group, &s);
    subscribe(g, topic);
    /* Stable: gregor owns some but not all, unchanged for 3 s. */
    double t0 = tc_now_s(), stable_since = 0;
    int last = -1;
    while (tc_now_s() - t0 < 90) {
        poll_once(g, &s, 100);
        int n = owned_count(&s);
        if (n != last) {
            last = n;
            stable_since = tc_now_s();
        }
        if (n > 0 && n < PARTS && tc_now_s() - stable_since > 3)
            break;
    }
    int mine = owned_count(&s);
    cr_assert(mine > 0 && mine < PARTS, "gregor owns %d of %d partitions next to the Java member", mine, PARTS);
    report("gregor owns %d partition(s) next to the Java member after %.1f s", mine, tc_now_s() - t0);

    /* 10 messages per partition, after the assignment settled. */
    for (int p = 0; p < PARTS; p++)
        tc_sh("seq 1 10 | sed 's/^/late-%d-/' | kcat -P -q -b %s -t %s -p %d", p, bootstrap(), topic, p);
    bool java_parts[PARTS] = {false};
    int java_n = 0;
    double t1 = tc_now_s();
    while (tc_now_s() - t1 < 30 && (s.messages + java_n < 10 * PARTS)) {
        poll_once(g, &s, 200);
        java_n = java_partitions(out, java_parts);
    }
    stop_java(pidfile);
    report("gregor read %ld, Java printed %d of the %d late messages", s.messages, java_n, 10 * PARTS);
    for (int p = 0; p < PARTS; p++)
        cr_assert(s.owns[p] != java_parts[p], "partition %d: gregor %s it, Java %s from it", p,
                  s.owns[p] ? "owns" : "does not own", java_parts[p] ? "read" : "did not read");
    cr_assert_eq(s.messages, 10L * mine);
    cr_assert_eq(java_n, 10 * (PARTS - mine));
    cr_assert_eq(gregor_group_close(g, err, sizeof err), GREGOR_OK, "%s", err);
    gregor_group_destroy(g);
    unlink(out);
    char errf[300];
    snprintf(errf, sizeof errf, "%s.err", out);
    unlink(errf);
}

/* --------------------------------------------- max poll interval, pattern */

Test(kip848, max_poll_interval_leaves_reports_and_rejoins, .timeout = 120)
{
    char topic[128], group[160], err[256];
    tc_topic(topic, sizeof topic, "kip848-maxpoll");
    snprintf(group, sizeof group, "%s-g", topic);
    tc_create_topic(cluster(), topic, 2, 1);
    seen s = {.name = "M"};
    gregor_group *g = member_ex(group, &s, "max_poll_interval_ms", "3000");
    subscribe(g, topic);
    double t0 = tc_now_s();
    while (owned_count(&s) < 2 && tc_now_s() - t0 < 60)
        poll_once(g, &s, 100);
    cr_assert_eq(owned_count(&s), 2);
    int32_t epoch = gregor_group_member_id(g, NULL, 0);
    sleep(5); /* no poll for longer than max_poll_interval_ms */
    gregor_batch *b = NULL;
    gregor_err e = gregor_group_poll(g, 0, &b, err, sizeof err);
    cr_assert_eq(e, GREGOR_ERR_MAX_POLL_EXCEEDED, "poll after 5 s without: %s (%s)", gregor_err_name(e), err);
    report("after 5 s without poll: %s", err);
    /* The partitions were lost (not revoked: others may own them now), and
     * the member joins again with a new epoch. */
    double t1 = tc_now_s();
    while ((s.lost_calls == 0 || owned_count(&s) < 2) && tc_now_s() - t1 < 60)
        poll_once(g, &s, 100);
    cr_assert_geq(s.lost_calls, 1);
    cr_assert_eq(owned_count(&s), 2, "not assigned again after rejoining");
    int32_t again = gregor_group_member_id(g, NULL, 0);
    report("rejoined in %.2f s: epoch %d -> %d", tc_now_s() - t1, (int)epoch, (int)again);
    cr_assert_gt(again, 0);
    cr_assert_eq(gregor_group_close(g, err, sizeof err), GREGOR_OK, "%s", err);
    gregor_group_destroy(g);
}

Test(kip848, pattern_subscription_is_matched_by_the_broker, .timeout = 120)
{
    char prefix[128], t1[160], t2[160], group[200], err[256], regex[200];
    tc_topic(prefix, sizeof prefix, "kip848-pat");
    snprintf(t1, sizeof t1, "%s-a", prefix);
    snprintf(t2, sizeof t2, "%s-b", prefix);
    snprintf(group, sizeof group, "%s-g", prefix);
    snprintf(regex, sizeof regex, "%s-[a-z]", prefix);
    tc_create_topic(cluster(), t1, 1, 1);
    tc_create_topic(cluster(), t2, 2, 1);
    seen s = {.name = "P"};
    gregor_group *g = member(group, &s);
    cr_assert_eq(gregor_group_subscribe_pattern(g, regex, err, sizeof err), GREGOR_OK, "%s", err);
    tc_sh("echo one | kcat -P -q -b %s -t %s", bootstrap(), t1);
    tc_sh("echo two | kcat -P -q -b %s -t %s -p 1", bootstrap(), t2);
    double t0 = tc_now_s();
    gregor_topic_offset *v = NULL;
    size_t n = 0;
    while (tc_now_s() - t0 < 60 && (n < 3 || s.messages < 2)) {
        poll_once(g, &s, 100);
        free(v);
        cr_assert_eq(gregor_group_assignment(g, &v, &n), GREGOR_OK);
    }
    report("pattern %s: %zu partition(s), %ld message(s) after %.2f s", regex, n, s.messages, tc_now_s() - t0);
    cr_assert_eq(n, 3, "the two matching topics have 3 partitions; assigned %zu", n);
    for (size_t i = 0; i < n; i++)
        cr_assert(!strcmp(v[i].topic, t1) || !strcmp(v[i].topic, t2), "assigned %s", v[i].topic);
    free(v);
    cr_assert_eq(s.messages, 2);
    cr_assert_eq(gregor_group_close(g, err, sizeof err), GREGOR_OK, "%s", err);
    gregor_group_destroy(g);
}

/* ---------------------------------------------------------- static member */

Test(kip848, static_member_restarted_gets_its_partitions_back_without_moving_others, .timeout = 180)
{
    char topic[128], group[160], err[256];
    tc_topic(topic, sizeof topic, "kip848-static");
    snprintf(group, sizeof group, "%s-g", topic);
    tc_create_topic(cluster(), topic, PARTS, 1);
    seen sa = {.name = "S"}, sb = {.name = "D"};
    gregor_group *a = member_ex(group, &sa, "group_instance_id", "kip848-static-1");
    gregor_group *b = member(group, &sb);
    subscribe(a, topic);
    subscribe(b, topic);
    double t0 = tc_now_s(), stable_since = tc_now_s();
    int last = -1;
    while (tc_now_s() - t0 < 90) {
        poll_once(a, &sa, 50);
        poll_once(b, &sb, 50);
        int sig = owned_count(&sa) * 10 + owned_count(&sb);
        if (sig != last) {
            last = sig;
            stable_since = tc_now_s();
        }
        if (owned_count(&sa) > 0 && owned_count(&sb) > 0 && owned_count(&sa) + owned_count(&sb) == PARTS &&
            tc_now_s() - stable_since > 6)
            break;
    }
    cr_assert(owned_count(&sa) > 0 && owned_count(&sa) + owned_count(&sb) == PARTS);
    bool before[PARTS];
    memcpy(before, sa.owns, sizeof before);
    int b_calls = sb.assigned_calls + sb.revoked_calls + sb.lost_calls;

    /* Close (epoch -2: the static member leaves for now), start again. */
    cr_assert_eq(gregor_group_close(a, err, sizeof err), GREGOR_OK, "%s", err);
    gregor_group_destroy(a);
    seen sa2 = {.name = "S2"};
    double t1 = tc_now_s();
    a = member_ex(group, &sa2, "group_instance_id", "kip848-static-1");
    subscribe(a, topic);
    while (memcmp(sa2.owns, before, sizeof before) != 0 && tc_now_s() - t1 < 30) {
        poll_once(a, &sa2, 50);
        poll_once(b, &sb, 50);
    }
    report("static member restarted: its %d partition(s) back after %.2f s", owned_count(&sa2), tc_now_s() - t1);
    cr_assert(!memcmp(sa2.owns, before, sizeof before), "the restarted static member got other partitions");
    for (int i = 0; i < 20; i++) { /* two more seconds: the dynamic member sees nothing */
        poll_once(a, &sa2, 50);
        poll_once(b, &sb, 50);
    }
    cr_assert_eq(sb.assigned_calls + sb.revoked_calls + sb.lost_calls, b_calls,
                 "the other member saw a rebalance while the static member restarted");
    cr_assert_eq(gregor_group_close(a, err, sizeof err), GREGOR_OK, "%s", err);
    gregor_group_destroy(a);
    cr_assert_eq(gregor_group_close(b, err, sizeof err), GREGOR_OK, "%s", err);
    gregor_group_destroy(b);
}

/* POSIX ERE reads "x-.**" (a repeated star), RE2/J does not: the broker's
 * INVALID_REGULAR_EXPRESSION is a fatal poll error that says so. */
Test(kip848, regex_the_broker_cannot_read_is_a_fatal_error, .timeout = 60)
{
    char group[160], err[512];
    tc_topic(group, sizeof group, "kip848-badre");
    seen s = {.name = "R"};
    gregor_group *g = member(group, &s);
    cr_assert_eq(gregor_group_subscribe_pattern(g, "kip848-badre-.**", err, sizeof err), GREGOR_OK, "%s", err);
    gregor_err e = GREGOR_OK;
    double t0 = tc_now_s();
    while (e == GREGOR_OK && tc_now_s() - t0 < 30) {
        gregor_batch *b = NULL;
        e = gregor_group_poll(g, 100, &b, err, sizeof err);
        gregor_batch_destroy(b);
    }
    report("pattern the broker cannot read: %s: %s", gregor_err_name(e), err);
    cr_assert_str_eq(gregor_err_name(e), "INVALID_REGULAR_EXPRESSION", "poll gave %s (%s)", gregor_err_name(e), err);
    cr_assert(strstr(err, group), "%s", err);
    cr_assert_eq(gregor_group_close(g, err, sizeof err), GREGOR_OK, "%s", err);
    gregor_group_destroy(g);
}
