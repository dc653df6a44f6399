/* Unit tests for cluster/: bootstrap parsing, snapshots, and the model
 * following scripted metadata changes (leader moves, brokers leaving,
 * partitions added) from the mock broker. The real-cluster behaviour is
 * tested in tests/integration. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cluster/cluster.h"
#include "mock_broker.h"
#include "protocol/gen/api.h"
#include "protocol/gen/metadata.h"

/* ------------------------------------------------------ scripted metadata */

typedef struct world {
    pthread_mutex_t lock;
    int port;
    int n_brokers;       /* brokers 1..n_brokers, all at the mock's port */
    int n_partitions;    /* of topic "t" */
    int32_t leader;      /* of every partition */
    int16_t topic_err;   /* answered for "t" (then with no partitions) */
    atomic_int metadata_requests;
} world;

static world w;

static mock_action handler(void *arg, mock_request *req, buf_writer *reply)
{
    (void)arg;
    if (req->api_key == PROTO_API_API_VERSIONS) {
        mock_write_api_versions(reply, req->version);
        return MOCK_REPLY;
    }
    if (req->api_key != PROTO_API_METADATA)
        return MOCK_CLOSE;
    atomic_fetch_add(&w.metadata_requests, 1);
    pthread_mutex_lock(&w.lock);
    proto_metadata_response r;
    proto_metadata_response_init(&r);
    proto_metadata_response_broker brokers[8];
    for (int i = 0; i < w.n_brokers; i++) {
        proto_metadata_response_broker_init(&brokers[i]);
        brokers[i].node_id = i + 1;
        brokers[i].host = buf_slice_of("127.0.0.1", 9);
        brokers[i].port = w.port;
    }
    int32_t replicas[1] = {w.leader};
    proto_metadata_response_partition parts[16];
    for (int p = 0; p < w.n_partitions; p++) {
        proto_metadata_response_partition_init(&parts[p]);
        parts[p].partition_index = p;
        parts[p].leader_id = w.leader;
        parts[p].replica_nodes = replicas;
        parts[p].replica_nodes_count = 1;
        parts[p].isr_nodes = replicas;
        parts[p].isr_nodes_count = 1;
    }
    proto_metadata_response_topic topic;
    proto_metadata_response_topic_init(&topic);
    topic.name = buf_slice_of("t", 1);
    topic.error_code = w.topic_err;
    topic.partitions = parts;
    topic.partitions_count = w.topic_err ? 0 : w.n_partitions;
    r.brokers = brokers;
    r.brokers_count = w.n_brokers;
    r.topics = &topic;
    r.topics_count = 1;
    r.controller_id = 1;
    r.cluster_id = buf_slice_of("mock-cluster", 12);
    pthread_mutex_unlock(&w.lock);
    (void)proto_metadata_response_encode(reply, req->version, &r);
    return MOCK_REPLY;
}

static void set_world(int n_brokers, int n_partitions, int32_t leader)
{
    pthread_mutex_lock(&w.lock);
    w.n_brokers = n_brokers;
    w.n_partitions = n_partitions;
    w.leader = leader;
    pthread_mutex_unlock(&w.lock);
}

/* ------------------------------------------------------------- harness */

static net_loop *loop;
static cluster *cl;
static mock_broker *mb;

static void start(const char *bootstrap_fmt, int32_t refresh_ms)
{
    pthread_mutex_init(&w.lock, NULL);
    mb = mock_broker_start(handler, NULL);
    cr_assert_not_null(mb);
    w.port = mock_broker_port(mb);
    set_world(2, 3, 1);
    char bootstrap[256];
    snprintf(bootstrap, sizeof bootstrap, bootstrap_fmt, w.port);
    cluster_config cfg;
    cluster_config_defaults(&cfg);
    cfg.bootstrap = bootstrap;
    cfg.all_topics = true;
    cfg.metadata_refresh_ms = refresh_ms;
    cfg.metadata_fast_refresh_ms = 20;
    cfg.conn.reconnect_backoff_ms = 10;
    cfg.conn.reconnect_backoff_max_ms = 100;
    cfg.conn.connect_timeout_ms = 1000;
    cr_assert_eq(net_loop_new(&loop), GREGOR_OK);
    char err[256];
    cr_assert_eq(cluster_new(loop, &cfg, &cl, err, sizeof err), GREGOR_OK, "%s", err);
    cr_assert_eq(net_loop_start(loop), GREGOR_OK);
    cr_assert_eq(cluster_start(cl), GREGOR_OK);
}

static void stop(void)
{
    cluster_shutdown(cl);
    net_loop_stop(loop);
    cluster_free(cl);
    net_loop_destroy(loop);
    mock_broker_stop(mb);
}

static cluster_snapshot *wait_leader(int32_t leader, int n_partitions, int n_brokers, int ms)
{
    int64_t deadline = net_now_ms() + ms;
    while (net_now_ms() < deadline) {
        cluster_snapshot *s = cluster_snapshot_get(cl);
        if (s) {
            const cluster_topic *t = cluster_snapshot_topic(s, "t");
            if (t && t->n_partitions == n_partitions && t->partitions[0].leader == leader &&
                s->md.n_brokers == n_brokers)
                return s;
            cluster_snapshot_unref(s);
        }
        usleep(5000);
    }
    return NULL;
}

/* ---------------------------------------------------------------- tests */

Test(cluster, bootstrap_list_errors_name_the_entry)
{
    net_loop *l;
    cr_assert_eq(net_loop_new(&l), GREGOR_OK);
    cluster_config cfg;
    cluster_config_defaults(&cfg);
    char err[256];
    cluster *c;
    cfg.bootstrap = "";
    cr_assert_eq(cluster_new(l, &cfg, &c, err, sizeof err), GREGOR_ERR_CONFIG);
    cr_assert(strstr(err, "no bootstrap"), "%s", err);
    cfg.bootstrap = "good:9092,bad:99999";
    cr_assert_eq(cluster_new(l, &cfg, &c, err, sizeof err), GREGOR_ERR_CONFIG);
    cr_assert(strstr(err, "bad:99999"), "%s", err);
    cfg.bootstrap = "a:1, b ,[::1]:9093";
    cr_assert_eq(cluster_new(l, &cfg, &c, err, sizeof err), GREGOR_OK, "%s", err);
    cluster_free(c);
    net_loop_destroy(l);
}

Test(cluster, first_snapshot_even_when_a_bootstrap_broker_is_down, .timeout = 20)
{
    /* Port 1 on loopback refuses connections. */
    start("127.0.0.1:1,127.0.0.1:%d", 60000);
    cluster_snapshot *s;
    char err[256];
    cr_assert_eq(cluster_wait_snapshot(cl, 0, 10000, &s, err, sizeof err), GREGOR_OK, "%s", err);
    cr_assert_eq(s->md.n_brokers, 2);
    cr_assert_eq(s->md.brokers[0].node_id, 1);
    cr_assert_str_eq(s->md.cluster_id, "mock-cluster");
    const cluster_topic *t = cluster_snapshot_topic(s, "t");
    cr_assert_not_null(t);
    cr_assert_eq(t->n_partitions, 3);
    cr_assert_eq(cluster_topic_partition(t, 2)->leader, 1);
    cr_assert_null(cluster_snapshot_topic(s, "nope"));
    cluster_snapshot_unref(s);
    stop();
}

Test(cluster, follows_leader_moves_new_partitions_and_departures, .timeout = 30)
{
    start("127.0.0.1:%d", 100);
    cluster_snapshot *s = wait_leader(1, 3, 2, 5000);
    cr_assert_not_null(s);
    uint64_t gen = s->generation;
    cluster_snapshot_unref(s);

    set_world(2, 3, 2); /* leader moves */
    s = wait_leader(2, 3, 2, 5000);
    cr_assert_not_null(s, "leader move not seen");
    cr_assert_gt(s->generation, gen);
    cluster_snapshot_unref(s);

    set_world(2, 5, 2); /* partitions added */
    s = wait_leader(2, 5, 2, 5000);
    cr_assert_not_null(s, "new partitions not seen");
    cluster_snapshot_unref(s);

    set_world(1, 5, 1); /* broker 2 leaves */
    s = wait_leader(1, 5, 1, 5000);
    cr_assert_not_null(s, "departure not seen");
    cr_assert_null(cluster_snapshot_broker(s, 2));
    cluster_snapshot_unref(s);
    stop();
}

/* A KRaft broker answers UNKNOWN_TOPIC_OR_PARTITION while it creates a
 * topic: the model must keep asking (fast), not wait for the periodic
 * refresh, or a producer's first messages wait minutes. */
Test(cluster, topic_being_created_is_refreshed_fast, .timeout = 20)
{
    pthread_mutex_lock(&w.lock);
    w.topic_err = 3;
    pthread_mutex_unlock(&w.lock);
    start("127.0.0.1:%d", 600000);
    const char *names[] = {"t"};
    cr_assert_eq(cluster_add_topics(cl, names, 1), GREGOR_OK);
    cluster_snapshot *s;
    char err[256];
    cr_assert_eq(cluster_wait_snapshot(cl, 0, 5000, &s, err, sizeof err), GREGOR_OK, "%s", err);
    cluster_snapshot_unref(s);
    usleep(100 * 1000);
    pthread_mutex_lock(&w.lock);
    w.topic_err = 0; /* the topic now exists */
    pthread_mutex_unlock(&w.lock);
    s = wait_leader(1, 3, 2, 3000);
    cr_assert_not_null(s, "topic not seen within 3 s of its creation (periodic refresh is 600 s)");
    cluster_snapshot_unref(s);
    stop();
}

Test(cluster, explicit_refresh_is_fast_and_coalesced, .timeout = 20)
{
    start("127.0.0.1:%d", 600000);
    cluster_snapshot *s;
    char err[256];
    cr_assert_eq(cluster_wait_snapshot(cl, 0, 5000, &s, err, sizeof err), GREGOR_OK, "%s", err);
    uint64_t gen = s->generation;
    cluster_snapshot_unref(s);
    int before = atomic_load(&w.metadata_requests);
    for (int i = 0; i < 50; i++)
        cluster_request_refresh(cl);
    cr_assert_eq(cluster_wait_snapshot(cl, gen, 5000, &s, err, sizeof err), GREGOR_OK, "%s", err);
    cluster_snapshot_unref(s);
    usleep(200 * 1000);
    int sent = atomic_load(&w.metadata_requests) - before;
    cr_assert(sent >= 1 && sent <= 3, "50 refresh requests caused %d Metadata requests", sent);
    stop();
}

Test(cluster, unreachable_cluster_reports_where, .timeout = 20)
{
    start("127.0.0.1:1", 60000);
    cluster_snapshot *s = NULL;
    char err[256] = "";
    int64_t t0 = net_now_ms();
    gregor_err e = cluster_wait_snapshot(cl, 0, 1000, &s, err, sizeof err);
    cr_assert_neq(e, GREGOR_OK);
    cr_assert_null(s);
    cr_assert(net_now_ms() - t0 < 3000, "the wait must end at its timeout");
    cr_assert(strstr(err, "127.0.0.1:1"), "error should name the broker: %s", err);
    stop();
}
