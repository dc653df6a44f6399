/* Unit tests of the classic group member's fault handling against the
 * scripted mock broker (one broker, node 1, coordinator of group "g",
 * topic "t" with one partition whose committed offset is 5):
 *   - the first JoinGroup is answered MEMBER_ID_REQUIRED: the member joins
 *     again with the id it was given;
 *   - a Heartbeat answered ILLEGAL_GENERATION fences the member: its
 *     partition is LOST (not revoked: no commit, another member may own
 *     it), and it joins again and gets it back;
 *   - a Heartbeat answered REBALANCE_IN_PROGRESS: the (eager) member
 *     revokes its partition, joins again and gets it back;
 *   - an Assignment that cannot be decoded (another client's leader sent
 *     garbage) is an error in the log, not a crash, and the member joins
 *     again;
 *   - close sends LeaveGroup with the member id.
 * The member's SyncGroup answer is the assignment its own leader request
 * carried (it is the only member, so it leads). */
#include <criterion/criterion.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gregor/group.h"
#include "mock_broker.h"
#include "protocol/gen/api.h"
#include "protocol/gen/errors.h"
#include "protocol/gen/fetch.h"
#include "protocol/gen/find_coordinator.h"
#include "protocol/gen/heartbeat.h"
#include "protocol/gen/join_group.h"
#include "protocol/gen/leave_group.h"
#include "protocol/gen/metadata.h"
#include "protocol/gen/offset_commit.h"
#include "protocol/gen/offset_fetch.h"
#include "protocol/gen/sync_group.h"

#define MEMBER_ID "gregor-mock-member"

typedef struct script {
    int port;
    atomic_int joins, syncs, heartbeats, leaves, commits;
    atomic_int generation;
    atomic_int hb_fail_at;   /* the heartbeat (index + 1) that gets hb_fail_code; 0: none */
    atomic_int hb_fail_code;
    atomic_bool sync_garbage_once;
    atomic_bool sync_silent;   /* SyncGroup is never answered (a rebalance that does not end) */
    atomic_bool leave_had_id;
} script;

static script sc;

static mock_action on_join(mock_request *req, buf_writer *reply)
{
    atomic_fetch_add(&sc.joins, 1);
    arena a;
    arena_init(&a, 1 << 20);
    proto_join_group_request in;
    cr_assert_eq(proto_join_group_request_decode(&req->body, req->version, &in, &a), GREGOR_OK);
    cr_assert(buf_slice_eq_str(in.protocol_type, "consumer"));
    cr_assert_geq(in.protocols_count, 1);
    proto_join_group_response r;
    proto_join_group_response_init(&r);
    r.member_id = buf_slice_of(MEMBER_ID, strlen(MEMBER_ID));
    if (in.member_id.len == 0 && req->version >= 4) {
        r.error_code = PROTO_ERR_MEMBER_ID_REQUIRED;
    } else {
        cr_assert(buf_slice_eq_str(in.member_id, MEMBER_ID), "the second JoinGroup carries the given id");
        r.generation_id = atomic_fetch_add(&sc.generation, 1) + 1;
        r.protocol_type = buf_slice_of("consumer", 8);
        r.protocol_name = in.protocols[0].name;
        r.leader = r.member_id;
        proto_join_group_response_member m;
        proto_join_group_response_member_init(&m);
        m.member_id = r.member_id;
        m.metadata = in.protocols[0].metadata;
        r.members = &m;
        r.members_count = 1;
        (void)proto_join_group_response_encode(reply, req->version, &r);
        arena_fini(&a);
        return MOCK_REPLY;
    }
    (void)proto_join_group_response_encode(reply, req->version, &r);
    arena_fini(&a);
    return MOCK_REPLY;
}

static mock_action on_sync(mock_request *req, buf_writer *reply)
{
    atomic_fetch_add(&sc.syncs, 1);
    if (atomic_load(&sc.sync_silent))
        return MOCK_SILENT;
    arena a;
    arena_init(&a, 1 << 20);
    proto_sync_group_request in;
    cr_assert_eq(proto_sync_group_request_decode(&req->body, req->version, &in, &a), GREGOR_OK);
    cr_assert_eq(in.generation_id, atomic_load(&sc.generation));
    cr_assert_eq(in.assignments_count, 1, "the leader assigns to its one member");
    proto_sync_group_response r;
    proto_sync_group_response_init(&r);
    r.protocol_type = buf_slice_of("consumer", 8);
    r.assignment = in.assignments[0].assignment;
    if (atomic_exchange(&sc.sync_garbage_once, false))
        r.assignment = buf_slice_of("\x00\x03\x7f\xff\xff\xff", 6); /* an array of 2^31-1 topics */
    (void)proto_sync_group_response_encode(reply, req->version, &r);
    arena_fini(&a);
    return MOCK_REPLY;
}

static mock_action on_heartbeat(mock_request *req, buf_writer *reply)
{
    int n = atomic_fetch_add(&sc.heartbeats, 1) + 1;
    proto_heartbeat_response r;
    proto_heartbeat_response_init(&r);
    if (n == atomic_load(&sc.hb_fail_at))
        r.error_code = (int16_t)atomic_load(&sc.hb_fail_code);
    (void)proto_heartbeat_response_encode(reply, req->version, &r);
    return MOCK_REPLY;
}

static mock_action on_leave(mock_request *req, buf_writer *reply)
{
    atomic_fetch_add(&sc.leaves, 1);
    arena a;
    arena_init(&a, 1 << 20);
    proto_leave_group_request in;
    cr_assert_eq(proto_leave_group_request_decode(&req->body, req->version, &in, &a), GREGOR_OK);
    bool had = req->version >= 3 ? in.members_count == 1 && buf_slice_eq_str(in.members[0].member_id, MEMBER_ID)
                                 : buf_slice_eq_str(in.member_id, MEMBER_ID);
    atomic_store(&sc.leave_had_id, had);
    proto_leave_group_response r;
    proto_leave_group_response_init(&r);
    (void)proto_leave_group_response_encode(reply, req->version, &r);
    arena_fini(&a);
    return MOCK_REPLY;
}

/* Partition 0 of "t" has offset 5 committed. */
static mock_action on_offset_fetch(mock_request *req, buf_writer *reply)
{
    proto_offset_fetch_response_partition p;
    proto_offset_fetch_response_partition_init(&p);
    p.partition_index = 0;
    p.committed_offset = 5;
    proto_offset_fetch_response_topic t;
    proto_offset_fetch_response_topic_init(&t);
    t.name = buf_slice_of("t", 1);
    t.partitions = &p;
    t.partitions_count = 1;
    proto_offset_fetch_response r;
    proto_offset_fetch_response_init(&r);
    r.topics = &t;
    r.topics_count = 1;
    (void)proto_offset_fetch_response_encode(reply, req->version, &r);
    return MOCK_REPLY;
}

static mock_action on_commit(mock_request *req, buf_writer *reply)
{
    atomic_fetch_add(&sc.commits, 1);
    proto_offset_commit_response_partition p;
    proto_offset_commit_response_partition_init(&p);
    p.partition_index = 0;
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

/* Nothing to read here: every Fetch is answered NOT_LEADER_OR_FOLLOWER,
 * after which the consumer backs off (a silent answer would hold the data
 * connection, and the metadata requests behind it). */
static mock_action on_fetch(mock_request *req, buf_writer *reply)
{
    proto_fetch_response_partition_data pd;
    proto_fetch_response_partition_data_init(&pd);
    pd.error_code = PROTO_ERR_NOT_LEADER_OR_FOLLOWER;
    pd.records = buf_slice_of("", 0);
    proto_fetch_response_fetchable_topic_response t;
    proto_fetch_response_fetchable_topic_response_init(&t);
    t.topic = buf_slice_of("t", 1);
    t.partitions = &pd;
    t.partitions_count = 1;
    proto_fetch_response r;
    proto_fetch_response_init(&r);
    r.responses = &t;
    r.responses_count = 1;
    (void)proto_fetch_response_encode(reply, req->version, &r);
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
        mock_write_metadata(reply, req->version, sc.port, "t", NULL, 1);
        return MOCK_REPLY;
    case PROTO_API_FIND_COORDINATOR:
        mock_write_find_coordinator(reply, req->version, sc.port, "g");
        return MOCK_REPLY;
    case PROTO_API_JOIN_GROUP: return on_join(req, reply);
    case PROTO_API_SYNC_GROUP: return on_sync(req, reply);
    case PROTO_API_HEARTBEAT: return on_heartbeat(req, reply);
    case PROTO_API_LEAVE_GROUP: return on_leave(req, reply);
    case PROTO_API_OFFSET_FETCH: return on_offset_fetch(req, reply);
    case PROTO_API_OFFSET_COMMIT: return on_commit(req, reply);
    case PROTO_API_FETCH: return on_fetch(req, reply);
    default: return MOCK_CLOSE;
    }
}

static mock_broker *mb;

static void setup(void)
{
    memset(&sc, 0, sizeof sc);
    mb = mock_broker_start(handler, NULL);
    cr_assert_not_null(mb);
    sc.port = mock_broker_port(mb);
}

static void teardown(void) { mock_broker_stop(mb); }

typedef struct calls {
    int assigned, revoked, lost;
} calls;

static void on_rebalance(gregor_group *g, gregor_rebalance_kind kind, const gregor_topic_offset *tps, size_t n,
                         void *opaque)
{
    calls *c = opaque;
    cr_assert_eq(n, 1);
    cr_assert_str_eq(tps[0].topic, "t");
    (void)g;
    if (kind == GREGOR_REBALANCE_ASSIGNED) {
        c->assigned++;
    } else if (kind == GREGOR_REBALANCE_REVOKED) {
        c->revoked++;
    } else {
        c->lost++;
    }
}

static gregor_group *member(calls *c)
{
    gregor_config *cfg = gregor_config_new();
    char err[256], boot[64];
    snprintf(boot, sizeof boot, "127.0.0.1:%d", sc.port);
    cr_assert_eq(gregor_config_set(cfg, "bootstrap", boot, err, sizeof err), GREGOR_OK);
    cr_assert_eq(gregor_config_set(cfg, "group_id", "g", err, sizeof err), GREGOR_OK);
    cr_assert_eq(gregor_config_set(cfg, "heartbeat_interval_ms", "50", err, sizeof err), GREGOR_OK);
    cr_assert_eq(gregor_config_set(cfg, "enable_auto_commit", "false", err, sizeof err), GREGOR_OK);
    gregor_group *g;
    cr_assert_eq(gregor_group_new(cfg, &g, err, sizeof err), GREGOR_OK, "%s", err);
    gregor_config_destroy(cfg);
    gregor_group_set_rebalance_cb(g, on_rebalance, c);
    const char *topics[1] = {"t"};
    cr_assert_eq(gregor_group_subscribe(g, topics, 1, err, sizeof err), GREGOR_OK, "%s", err);
    return g;
}

/* Polls until `done` holds or 10 s pass. */
#define POLL_UNTIL(g, cond)                                                                                         \
    do {                                                                                                             \
        struct timespec start_;                                                                                      \
        clock_gettime(CLOCK_MONOTONIC, &start_);                                                                     \
        while (!(cond)) {                                                                                            \
            gregor_batch *b_ = NULL;                                                                                 \
            char e_[256];                                                                                            \
            cr_assert_eq(gregor_group_poll((g), 20, &b_, e_, sizeof e_), GREGOR_OK, "%s", e_);                       \
            gregor_batch_destroy(b_);                                                                                \
            struct timespec now_;                                                                                    \
            clock_gettime(CLOCK_MONOTONIC, &now_);                                                                   \
            cr_assert(now_.tv_sec - start_.tv_sec < 10, "timed out waiting for " #cond);                            \
        }                                                                                                            \
    } while (0)

TestSuite(group_mock, .init = setup, .fini = teardown, .timeout = 60);

Test(group_mock, joins_with_the_given_member_id_and_leaves_with_it)
{
    calls c = {0};
    gregor_group *g = member(&c);
    POLL_UNTIL(g, c.assigned == 1);
    cr_assert_geq(atomic_load(&sc.joins), 2, "MEMBER_ID_REQUIRED, then the join with the id");
    /* The assigned partition starts at the committed offset (looked up in
     * the background). */
    gregor_partition_state st = {.position = -1};
    POLL_UNTIL(g, gregor_consumer_position(gregor_group_consumer(g), "t", 0, &st) == GREGOR_OK && st.position == 5);
    char id[64];
    cr_assert_eq(gregor_group_member_id(g, id, sizeof id), 1);
    cr_assert_str_eq(id, MEMBER_ID);
    gregor_topic_offset *tps;
    size_t n;
    cr_assert_eq(gregor_group_assignment(g, &tps, &n), GREGOR_OK);
    cr_assert_eq(n, 1);
    cr_assert_str_eq(tps[0].topic, "t");
    free(tps);
    char err[256];
    cr_assert_eq(gregor_group_close(g, err, sizeof err), GREGOR_OK, "%s", err);
    cr_assert_eq(c.revoked, 1, "close revokes what the member owns");
    cr_assert_eq(atomic_load(&sc.leaves), 1);
    cr_assert(atomic_load(&sc.leave_had_id));
    gregor_group_destroy(g);
}

Test(group_mock, a_fenced_member_loses_its_partitions_and_joins_again)
{
    atomic_store(&sc.hb_fail_at, 3);
    atomic_store(&sc.hb_fail_code, PROTO_ERR_ILLEGAL_GENERATION);
    calls c = {0};
    gregor_group *g = member(&c);
    POLL_UNTIL(g, c.assigned == 2);
    cr_assert_eq(c.lost, 1, "fenced: the partition is lost");
    cr_assert_eq(c.revoked, 0, "nothing is revoked (and committed) after fencing");
    cr_assert_eq(atomic_load(&sc.commits), 0);
    cr_assert_eq(atomic_load(&sc.generation), 2);
    gregor_group_destroy(g);
}

Test(group_mock, rebalance_in_progress_revokes_and_joins_again)
{
    atomic_store(&sc.hb_fail_at, 3);
    atomic_store(&sc.hb_fail_code, PROTO_ERR_REBALANCE_IN_PROGRESS);
    calls c = {0};
    gregor_group *g = member(&c);
    POLL_UNTIL(g, c.assigned == 2);
    cr_assert_eq(c.revoked, 1, "eager: everything is revoked before joining again");
    cr_assert_eq(c.lost, 0);
    gregor_group_destroy(g);
}

Test(group_mock, an_undecodable_assignment_is_survived)
{
    atomic_store(&sc.sync_garbage_once, true);
    calls c = {0};
    gregor_group *g = member(&c);
    POLL_UNTIL(g, c.assigned == 1);
    cr_assert_geq(atomic_load(&sc.syncs), 2, "the member joined again after the bad assignment");
    gregor_group_destroy(g);
}

Test(group_mock, close_during_an_unanswered_sync_group_leaves_at_once)
{
    atomic_store(&sc.sync_silent, true);
    calls c = {0};
    gregor_group *g = member(&c);
    POLL_UNTIL(g, atomic_load(&sc.syncs) >= 1);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    char err[256];
    cr_assert_eq(gregor_group_close(g, err, sizeof err), GREGOR_OK, "%s", err);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    cr_assert_lt(s, 5.0, "close waited %.1f s for a SyncGroup the broker holds", s);
    cr_assert_eq(atomic_load(&sc.leaves), 1, "the member that was joining leaves");
    cr_assert(atomic_load(&sc.leave_had_id), "with the member id JoinGroup gave it");
    cr_assert_eq(c.assigned, 0);
    gregor_group_destroy(g);
}
