/* Unit tests of the KIP-848 member (group_protocol=consumer) against the
 * scripted mock broker (node 1, coordinator too; topic "t" with two
 * partitions and a topic id), for what a real broker does not do on cue:
 *   - FENCED_MEMBER_EPOCH: the partitions are lost (LOST callback, no
 *     revocation), the member joins again with epoch 0, the same member id
 *     and every field (owned partitions: an empty list), and commits carry
 *     the new member epoch;
 *   - a target that drops a partition: the member reports the smaller owned
 *     set only after the application ran the revocation;
 *   - close: a heartbeat with member epoch -1;
 *   - the first heartbeat sends every field and a client-made member id
 *     (v1); the ones after it only what changed.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gregor/group.h"
#include "mock_broker.h"
#include "protocol/gen/api.h"
#include "protocol/gen/consumer_group_heartbeat.h"
#include "protocol/gen/errors.h"
#include "protocol/gen/find_coordinator.h"
#include "protocol/gen/metadata.h"
#include "protocol/gen/offset_commit.h"
#include "protocol/gen/offset_fetch.h"

static const uint8_t TOPIC_ID[16] = {9, 8, 7, 6, 5, 4, 3, 2, 1, 1, 2, 3, 4, 5, 6, 7};

#define MAX_HB 64

/* One heartbeat as the mock saw it. */
typedef struct hb_seen {
    int32_t epoch;
    char member_id[64];
    int32_t rebalance_timeout_ms;
    int32_t n_names;  /* -1: null */
    int32_t n_owned;  /* partitions reported; -1: null */
    bool owns[2];
    bool revoked_before; /* the application had run its revocation when this came */
} hb_seen;

typedef enum scenario { FENCE, REVOKE } scenario;

static struct {
    pthread_mutex_t lock;
    int port;
    scenario sc;
    hb_seen hb[MAX_HB];
    int n_hb;
    int32_t commit_epoch; /* GenerationIdOrMemberEpoch of the latest OffsetCommit */
    atomic_bool revoked;  /* set by the application's REVOKED callback */
} m = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* Offset 0 committed for every partition asked. */
static mock_action on_offset_fetch(mock_request *req, buf_writer *reply)
{
    proto_offset_fetch_response_partition p[2];
    for (int i = 0; i < 2; i++) {
        proto_offset_fetch_response_partition_init(&p[i]);
        p[i].partition_index = i;
        p[i].committed_offset = 0;
    }
    proto_offset_fetch_response_topic t;
    proto_offset_fetch_response_topic_init(&t);
    t.name = buf_slice_of("t", 1);
    t.partitions = p;
    t.partitions_count = 2;
    proto_offset_fetch_response r;
    proto_offset_fetch_response_init(&r);
    r.topics = &t;
    r.topics_count = 1;
    (void)proto_offset_fetch_response_encode(reply, req->version, &r);
    return MOCK_REPLY;
}

static mock_action on_commit(mock_request *req, buf_writer *reply)
{
    arena a;
    arena_init(&a, ARENA_DEFAULT_LIMIT);
    proto_offset_commit_request rq;
    cr_assert_eq(proto_offset_commit_request_decode(&req->body, req->version, &rq, &a), GREGOR_OK);
    pthread_mutex_lock(&m.lock);
    m.commit_epoch = rq.generation_id_or_member_epoch;
    pthread_mutex_unlock(&m.lock);
    proto_offset_commit_response_partition p = {.partition_index = rq.topics[0].partitions[0].partition_index};
    arena_fini(&a);
    proto_offset_commit_response_topic t;
    proto_offset_commit_response_topic_init(&t);
    t.name = buf_slice_of("t", 1);
    t.partitions = &p;
    t.partitions_count = 1;
    proto_offset_commit_response r;
    proto_offset_commit_response_init(&r);
    r.topics = &t;
    r.topics_count = 1;
    (void)proto_offset_commit_response_encode(reply, req->version, &r);
    return MOCK_REPLY;
}

/* The script: FENCE: join -> epoch 5 with [0]; the next heartbeat is
 * fenced; the rejoin gets epoch 7 with [0]. REVOKE: join -> epoch 5 with
 * [0, 1]; then the target becomes [0] at epoch 6. */
static mock_action on_heartbeat(mock_request *req, buf_writer *reply)
{
    arena a;
    arena_init(&a, ARENA_DEFAULT_LIMIT);
    proto_consumer_group_heartbeat_request rq;
    cr_assert_eq(proto_consumer_group_heartbeat_request_decode(&req->body, req->version, &rq, &a), GREGOR_OK);
    pthread_mutex_lock(&m.lock);
    int n = m.n_hb;
    hb_seen *h = &m.hb[n < MAX_HB ? n : MAX_HB - 1];
    memset(h, 0, sizeof *h);
    h->epoch = rq.member_epoch;
    snprintf(h->member_id, sizeof h->member_id, "%.*s", (int)rq.member_id.len, (const char *)rq.member_id.ptr);
    h->rebalance_timeout_ms = rq.rebalance_timeout_ms;
    h->n_names = rq.subscribed_topic_names_count;
    h->n_owned = rq.topic_partitions_count < 0 ? -1 : 0;
    for (int32_t t = 0; t < rq.topic_partitions_count; t++) {
        cr_assert(!memcmp(rq.topic_partitions[t].topic_id, TOPIC_ID, 16), "owned partitions by an unknown topic id");
        for (int32_t p = 0; p < rq.topic_partitions[t].partitions_count; p++) {
            int32_t part = rq.topic_partitions[t].partitions[p];
            cr_assert(part == 0 || part == 1);
            h->owns[part] = true;
            h->n_owned++;
        }
    }
    h->revoked_before = atomic_load(&m.revoked);
    if (n < MAX_HB)
        m.n_hb++;
    pthread_mutex_unlock(&m.lock);
    arena_fini(&a);

    proto_consumer_group_heartbeat_response r;
    proto_consumer_group_heartbeat_response_init(&r);
    r.member_id = rq.member_id;
    r.heartbeat_interval_ms = 100;
    r.assignment_null = true;
    int32_t parts_01[2] = {0, 1};
    proto_consumer_group_heartbeat_response_topic_partitions tp;
    proto_consumer_group_heartbeat_response_topic_partitions_init(&tp);
    memcpy(tp.topic_id, TOPIC_ID, 16);
    tp.partitions = parts_01;
    if (rq.member_epoch < 0) {
        r.member_epoch = rq.member_epoch; /* left */
    } else if (m.sc == FENCE) {
        if (rq.member_epoch == 0) {
            r.member_epoch = n == 0 ? 5 : 7;
            tp.partitions_count = 1;
            r.assignment_null = false;
        } else if (rq.member_epoch == 5) {
            r.error_code = PROTO_ERR_FENCED_MEMBER_EPOCH;
            r.member_epoch = 0;
        } else {
            r.member_epoch = rq.member_epoch;
        }
    } else {
        if (rq.member_epoch == 0) {
            r.member_epoch = 5;
            tp.partitions_count = 2;
            r.assignment_null = false;
        } else {
            r.member_epoch = 6;
            if (rq.member_epoch == 5 && n == 1) { /* the first heartbeat after the join: shrink */
                tp.partitions_count = 1;
                r.assignment_null = false;
            }
        }
    }
    if (!r.assignment_null) {
        r.assignment.topic_partitions = &tp;
        r.assignment.topic_partitions_count = 1;
    }
    (void)proto_consumer_group_heartbeat_response_encode(reply, req->version, &r);
    return MOCK_REPLY;
}

static mock_action handler(void *arg, mock_request *req, buf_writer *reply)
{
    (void)arg;
    switch (req->api_key) {
    case PROTO_API_API_VERSIONS:
        mock_write_api_versions(reply, req->version);
        return MOCK_REPLY;
    case PROTO_API_METADATA:
        mock_write_metadata(reply, req->version, m.port, "t", TOPIC_ID, 2);
        return MOCK_REPLY;
    case PROTO_API_FIND_COORDINATOR:
        mock_write_find_coordinator(reply, req->version, m.port, "g");
        return MOCK_REPLY;
    case PROTO_API_CONSUMER_GROUP_HEARTBEAT:
        return on_heartbeat(req, reply);
    case PROTO_API_OFFSET_FETCH:
        return on_offset_fetch(req, reply);
    case PROTO_API_OFFSET_COMMIT:
        return on_commit(req, reply);
    case PROTO_API_FETCH:
    case PROTO_API_LIST_OFFSETS:
    case PROTO_API_OFFSET_FOR_LEADER_EPOCH:
        return MOCK_SILENT; /* no records needed here */
    default:
        return MOCK_CLOSE;
    }
}

typedef struct calls {
    int assigned, revoked, lost;
    bool owns[2];
    char order[16]; /* A, R, L in the order the callbacks ran */
} calls;

static void on_rebalance(gregor_group *g, gregor_rebalance_kind kind, const gregor_topic_offset *tps, size_t n,
                         void *opaque)
{
    (void)g;
    calls *c = opaque;
    for (size_t i = 0; i < n; i++)
        c->owns[tps[i].partition] = kind == GREGOR_REBALANCE_ASSIGNED;
    char k = kind == GREGOR_REBALANCE_ASSIGNED ? 'A' : kind == GREGOR_REBALANCE_REVOKED ? 'R' : 'L';
    size_t len = strlen(c->order);
    if (len + 1 < sizeof c->order)
        c->order[len] = k;
    if (kind == GREGOR_REBALANCE_ASSIGNED)
        c->assigned++;
    else if (kind == GREGOR_REBALANCE_REVOKED) {
        usleep(300 * 1000); /* a slow callback: the member must wait for it */
        atomic_store(&m.revoked, true);
        c->revoked++;
    } else
        c->lost++;
}

static mock_broker *mb;

static gregor_group *start(scenario sc, calls *c)
{
    pthread_mutex_lock(&m.lock);
    m.n_hb = 0;
    m.sc = sc;
    m.commit_epoch = -100;
    pthread_mutex_unlock(&m.lock);
    atomic_store(&m.revoked, false);
    mb = mock_broker_start(handler, NULL);
    cr_assert_not_null(mb);
    m.port = mock_broker_port(mb);
    char bs[64], err[256];
    snprintf(bs, sizeof bs, "127.0.0.1:%d", m.port);
    const char *kv[][2] = {{"bootstrap", bs},
                           {"group_id", "g"},
                           {"group_protocol", "consumer"},
                           {"request_timeout_ms", "3000"},
                           {"max_poll_interval_ms", "20000"},
                           {"enable_auto_commit", "false"},
                           {"metadata_fast_refresh_ms", "20"}};
    gregor_config *cfg = gregor_config_new();
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++)
        cr_assert_eq(gregor_config_set(cfg, kv[i][0], kv[i][1], err, sizeof err), GREGOR_OK, "%s", err);
    gregor_group *g;
    cr_assert_eq(gregor_group_new(cfg, &g, err, sizeof err), GREGOR_OK, "%s", err);
    gregor_config_destroy(cfg);
    gregor_group_set_rebalance_cb(g, on_rebalance, c);
    const char *topics[1] = {"t"};
    cr_assert_eq(gregor_group_subscribe(g, topics, 1, err, sizeof err), GREGOR_OK, "%s", err);
    return g;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Polls until `done` or 10 s. */
static void poll_until(gregor_group *g, bool (*done)(calls *), calls *c)
{
    int64_t deadline = now_ms() + 10000;
    while (!done(c) && now_ms() < deadline) {
        gregor_batch *b = NULL;
        char err[256];
        cr_assert_eq(gregor_group_poll(g, 50, &b, err, sizeof err), GREGOR_OK, "%s", err);
        gregor_batch_destroy(b);
    }
    cr_assert(done(c), "callbacks so far: %s", c->order);
}

static bool assigned_again(calls *c) { return c->assigned >= 2 && c->owns[0]; }
static bool revoked_one(calls *c) { return c->revoked >= 1; }

static void stop(gregor_group *g)
{
    char err[256];
    cr_assert_eq(gregor_group_close(g, err, sizeof err), GREGOR_OK, "%s", err);
    gregor_group_destroy(g);
    pthread_mutex_lock(&m.lock);
    int n = m.n_hb;
    int32_t last = n > 0 ? m.hb[n - 1].epoch : 0;
    pthread_mutex_unlock(&m.lock);
    mock_broker_stop(mb);
    cr_assert_eq(last, -1, "the last heartbeat (of %d) had epoch %d, not -1 (leave)", n, (int)last);
}

Test(group_kip848_mock, fenced_member_loses_partitions_and_rejoins_with_the_same_id, .timeout = 30)
{
    calls c = {0};
    gregor_group *g = start(FENCE, &c);
    poll_until(g, assigned_again, &c);
    cr_assert_str_eq(c.order, "ALA", "a fence loses the partitions (no revocation), then they come back");
    pthread_mutex_lock(&m.lock);
    hb_seen first = m.hb[0];
    int rejoin = -1;
    for (int i = 1; i < m.n_hb && rejoin < 0; i++)
        if (m.hb[i].epoch == 0)
            rejoin = i;
    cr_assert_gt(rejoin, 0, "no heartbeat with epoch 0 after the fence");
    hb_seen again = m.hb[rejoin];
    hb_seen fenced = m.hb[rejoin - 1];
    pthread_mutex_unlock(&m.lock);
    /* The join: a client-made id, every field, nothing owned. */
    cr_assert_eq(first.epoch, 0);
    cr_assert_geq(strlen(first.member_id), 22, "v1: the client makes the member id ('%s')", first.member_id);
    cr_assert_eq(first.rebalance_timeout_ms, 20000, "RebalanceTimeoutMs is max_poll_interval_ms");
    cr_assert_eq(first.n_names, 1);
    cr_assert_eq(first.n_owned, 0, "the join reports an empty owned list, not null");
    /* The heartbeat that got fenced reported partition 0 (and no subscription: unchanged). */
    cr_assert_eq(fenced.epoch, 5);
    cr_assert_eq(fenced.n_names, -1, "an unchanged subscription is sent as null");
    cr_assert_eq(fenced.rebalance_timeout_ms, -1);
    /* The rejoin: epoch 0, the same id, every field again, nothing owned. */
    cr_assert_str_eq(again.member_id, first.member_id, "the member keeps its id across a fence");
    cr_assert_eq(again.n_names, 1);
    cr_assert_eq(again.rebalance_timeout_ms, 20000);
    cr_assert_eq(again.n_owned, 0, "after a fence nothing is owned");
    char id[64];
    cr_assert_eq(gregor_group_member_id(g, id, sizeof id), 7, "the generation is the new member epoch");
    cr_assert_str_eq(id, first.member_id);
    /* Commits carry the member epoch. */
    gregor_topic_offset off = {.topic = "t", .partition = 0, .offset = 3};
    char err[256];
    cr_assert_eq(gregor_group_commit(g, &off, 1, NULL, NULL, NULL, err, sizeof err), GREGOR_OK, "%s", err);
    pthread_mutex_lock(&m.lock);
    int32_t commit_epoch = m.commit_epoch;
    pthread_mutex_unlock(&m.lock);
    cr_assert_eq(commit_epoch, 7, "OffsetCommit carried %d, not the member epoch 7", (int)commit_epoch);
    stop(g);
}

Test(group_kip848_mock, smaller_target_is_reported_only_after_the_revocation_ran, .timeout = 30)
{
    calls c = {0};
    gregor_group *g = start(REVOKE, &c);
    poll_until(g, revoked_one, &c);
    cr_assert_str_eq(c.order, "AR");
    cr_assert(c.owns[0] && !c.owns[1]);
    /* A few more heartbeats (100 ms apart) while polling. */
    int64_t until = now_ms() + 600;
    while (now_ms() < until) {
        gregor_batch *b = NULL;
        char err[256];
        cr_assert_eq(gregor_group_poll(g, 50, &b, err, sizeof err), GREGOR_OK, "%s", err);
        gregor_batch_destroy(b);
    }
    pthread_mutex_lock(&m.lock);
    int reported = -1;
    for (int i = 0; i < m.n_hb; i++) {
        hb_seen *h = &m.hb[i];
        if (h->n_owned >= 0 && h->owns[0] && !h->owns[1]) {
            cr_assert(h->revoked_before, "heartbeat %d reported [0] before the revocation callback finished", i);
            if (reported < 0)
                reported = i;
        }
        if (h->n_owned == 2)
            cr_assert(!h->revoked_before, "heartbeat %d reported partition 1 after revoking it", i);
    }
    int n = m.n_hb;
    pthread_mutex_unlock(&m.lock);
    cr_assert_geq(reported, 0, "no heartbeat (of %d) reported the smaller owned set", n);
    stop(g);
}
