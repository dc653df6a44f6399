/* Integration: the cluster model follows a real 3-node KRaft cluster through
 * the loss and return of a partition leader.
 *
 * A topic with replication factor 3 is created; the node leading partition 0
 * is killed (SIGKILL). Within the metadata refresh interval (plus the time
 * Kafka needs to elect) the model must report another leader, and must not
 * list the dead broker once the cluster drops it. The node is restarted and
 * must be seen again. Throughout, the number of sockets the process holds
 * stays bounded by the number of brokers (no leaked connections).
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client/client.h"
#include "client/config.h"
#include "cluster/cluster.h"
#include "testutil.h"

#define REFRESH_MS 1000

static int count_sockets(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    while (d && (e = readdir(d))) {
        char path[300], target[300];
        snprintf(path, sizeof path, "/proc/self/fd/%s", e->d_name);
        ssize_t len = readlink(path, target, sizeof target - 1);
        if (len > 0) {
            target[len] = '\0';
            if (!strncmp(target, "socket:", 7))
                n++;
        }
    }
    if (d)
        closedir(d);
    return n;
}

static void kafka_dev(const char *fmt, const char *a, const char *b)
{
    char cmd[1024];
    char args[512];
    snprintf(args, sizeof args, fmt, a, b);
    snprintf(cmd, sizeof cmd, "%s %s", tu_env_required("GREGOR_KAFKA_DEV"), args);
    int rc = system(cmd);
    cr_assert_eq(rc, 0, "'%s' failed (%d)", cmd, rc);
}

/* Waits up to `ms` for a snapshot that satisfies pred; returns it (referenced) or NULL. */
typedef bool (*snap_pred)(const cluster_snapshot *s, const char *topic, int32_t node);

static cluster_snapshot *wait_for(cluster *cl, int ms, snap_pred pred, const char *topic, int32_t node)
{
    int64_t deadline = net_now_ms() + ms;
    while (net_now_ms() < deadline) {
        cluster_snapshot *s = cluster_snapshot_get(cl);
        if (s && pred(s, topic, node))
            return s;
        cluster_snapshot_unref(s);
        usleep(50 * 1000);
    }
    return NULL;
}

static int32_t leader_of(const cluster_snapshot *s, const char *topic)
{
    const cluster_topic *t = cluster_snapshot_topic(s, topic);
    const cluster_partition *p = t ? cluster_topic_partition(t, 0) : NULL;
    return p ? p->leader : -1;
}

static bool has_leader(const cluster_snapshot *s, const char *topic, int32_t node)
{
    (void)node;
    return leader_of(s, topic) >= 0;
}

static bool leader_moved(const cluster_snapshot *s, const char *topic, int32_t old)
{
    int32_t l = leader_of(s, topic);
    return l >= 0 && l != old;
}

static bool broker_listed(const cluster_snapshot *s, const char *topic, int32_t node)
{
    (void)topic;
    return cluster_snapshot_broker(s, node) != NULL;
}

static bool broker_gone(const cluster_snapshot *s, const char *topic, int32_t node)
{
    return !broker_listed(s, topic, node);
}

Test(cluster_failover, leader_killed_and_restarted, .timeout = 240)
{
    const char *bootstrap = tu_env_required("GREGOR_TEST_KAFKA3");
    char topic[64];
    snprintf(topic, sizeof topic, "failover-%d", (int)getpid());
    kafka_dev("create-topic kafka3 %s %s", topic, "1 3");

    gregor_config *cfg = gregor_config_new();
    char err[256];
    char refresh[16];
    snprintf(refresh, sizeof refresh, "%d", REFRESH_MS);
    cr_assert_eq(gregor_config_set(cfg, "bootstrap", bootstrap, err, sizeof err), GREGOR_OK, "%s", err);
    cr_assert_eq(gregor_config_set(cfg, "metadata_refresh_ms", refresh, err, sizeof err), GREGOR_OK);
    cr_assert_eq(gregor_config_set(cfg, "request_timeout_ms", "5000", err, sizeof err), GREGOR_OK);
    int sockets_baseline = count_sockets(); /* the test runner's own */
    gregor_client *client;
    cr_assert_eq(gregor_client_new(cfg, &client, err, sizeof err), GREGOR_OK, "%s", err);
    const char *names[] = {topic};
    cr_assert_eq(cluster_add_topics(client->cluster, names, 1), GREGOR_OK);

    cluster_snapshot *s = wait_for(client->cluster, 30000, has_leader, topic, 0);
    cr_assert_not_null(s, "no leader for %s within 30 s", topic);
    int32_t old_leader = leader_of(s, topic);
    cr_assert_eq(s->md.n_brokers, 3);
    cluster_snapshot_unref(s);
    int sockets_before = count_sockets();

    char node[16];
    snprintf(node, sizeof node, "%d", old_leader);
    kafka_dev("kill kafka3 %s%s", node, "");
    int64_t t0 = net_now_ms();
    s = wait_for(client->cluster, 60000, leader_moved, topic, old_leader);
    cr_assert_not_null(s, "leader of %s still %d 60 s after killing it", topic, old_leader);
    int64_t took = net_now_ms() - t0;
    int32_t new_leader = leader_of(s, topic);
    cluster_snapshot_unref(s);
    fprintf(stderr, "leader %d killed: new leader %d seen after %lld ms\n", old_leader, new_leader,
            (long long)took);

    /* KRaft fences the dead node after broker.session.timeout.ms (9 s by
     * default, less on the test bed); then it leaves the broker list. */
    s = wait_for(client->cluster, 60000, broker_gone, topic, old_leader);
    cr_assert_not_null(s, "dead broker %d still listed after 60 s", old_leader);
    cluster_snapshot_unref(s);

    kafka_dev("restart kafka3 %s%s", node, "");
    s = wait_for(client->cluster, 60000, broker_listed, topic, old_leader);
    cr_assert_not_null(s, "restarted broker %d not seen again within 60 s", old_leader);
    cr_assert_eq(s->md.n_brokers, 3);
    cluster_snapshot_unref(s);

    /* One connection per broker at most, plus nothing left behind by the
     * dead one's reconnect attempts. */
    int sockets_after = count_sockets();
    cr_assert(sockets_after <= sockets_before + 3, "sockets: %d before, %d after", sockets_before,
              sockets_after);

    gregor_client_destroy(client);
    gregor_config_destroy(cfg);
    cr_assert_eq(count_sockets(), sockets_baseline, "connections remain after destroy");
}
