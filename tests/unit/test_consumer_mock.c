/* Unit tests for the consumer's fault handling against the scripted mock
 * broker (one broker, node 1, topic "t" with one partition):
 *   - a Fetch answered NOT_LEADER_OR_FOLLOWER, then a dropped connection,
 *     then records: the consumer refreshes metadata and resumes at the same
 *     offset, nothing lost or repeated;
 *   - corrupt records: poll reports CRC naming topic, partition and offset,
 *     in errstr and in gregor_consumer_poll_error();
 *   - OffsetCommit answered NOT_COORDINATOR, then
 *     COORDINATOR_LOAD_IN_PROGRESS, then success: the commit succeeds after
 *     finding the coordinator again;
 *   - OffsetFetch resolving a COMMITTED start;
 *   - a coordinator that is not in the metadata, leaves it during a commit,
 *     stops answering or drops the connection is forgotten and found again;
 *   - coordinator requests use their own connection, not the one a
 *     long-poll Fetch is waiting on;
 *   - a Fetch response that cannot be decoded stops the partition with one
 *     error naming topic, partition and offset, and no more Fetches;
 *   - KIP-320: Fetch and ListOffsets carry the leader epoch of the metadata,
 *     metadata with an older epoch than already seen is ignored, and
 *     commits store the leader epoch of the consumed records;
 *   - log truncation: OFFSET_OUT_OF_RANGE and a new leader epoch are checked
 *     with OffsetForLeaderEpoch; a truncated log resumes at the divergence
 *     point (or fails with auto_offset_reset=error), an intact one goes on.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gregor/consumer.h"
#include "mock_broker.h"
#include "protocol/gen/api.h"
#include "protocol/gen/fetch.h"
#include "protocol/gen/find_coordinator.h"
#include "protocol/gen/list_offsets.h"
#include "protocol/gen/metadata.h"
#include "protocol/gen/offset_commit.h"
#include "protocol/gen/offset_fetch.h"
#include "protocol/gen/offset_for_leader_epoch.h"
#include "protocol/records.h"

/* What the n-th OffsetCommit gets: a broker error code (0 for success),
 * or no answer, or a closed connection. Past the plan: success. */
#define PLAN_SILENT (-1)
#define PLAN_CLOSE (-2)
#define PLAN_MAX 4

typedef struct script {
    int port;
    atomic_int fetches, commits, finds, metadata;
    atomic_int fetch_conn, commit_conn; /* conn_index of the last one */
    atomic_int find_first_node;         /* the first FindCoordinator's answer (0: node 1) */
    atomic_bool find_first_silent;      /* the first FindCoordinator gets no answer */
    atomic_int commit_plan[PLAN_MAX];
    bool corrupt;
    atomic_bool garbage_fetch; /* answer every Fetch with bytes that are no Fetch response */
    /* Leader epochs (KIP-320) */
    atomic_bool plain_fetch;     /* every Fetch gets 3 records at its offset */
    atomic_int md_epoch;         /* the partition's leader epoch in Metadata answers */
    atomic_int md_leader;        /* 0: node 1; 2: node 2, listed at a port nobody listens on */
    atomic_bool node2_here;      /* the metadata lists node 2 at the mock's port too */
    atomic_int batch_epoch;      /* partitionLeaderEpoch of the record batches served */
    atomic_int fetch_epoch_last; /* current_leader_epoch of the latest Fetch */
    atomic_int fetch_epoch_bad;  /* Fetches whose current_leader_epoch was not want_epoch */
    atomic_int want_epoch;
    atomic_int list_epoch;       /* current_leader_epoch of the latest ListOffsets */
    atomic_int commit_epoch;     /* committed_leader_epoch of the latest OffsetCommit */
    atomic_int oor_fetch_plus1;  /* the Fetch (index + 1) answered OFFSET_OUT_OF_RANGE; 0: none */
    atomic_int ofle_requests;    /* OffsetForLeaderEpoch requests */
    atomic_int ofle_epoch;       /* their leader_epoch */
    atomic_int ofle_current;     /* their current_leader_epoch */
    atomic_int ofle_end;         /* the end offset answered (epoch: batch_epoch) */
} script;

static script sc;

static void write_metadata(buf_writer *reply, int16_t version)
{
    proto_metadata_response r;
    proto_metadata_response_init(&r);
    proto_metadata_response_broker br[2];
    proto_metadata_response_broker_init(&br[0]);
    proto_metadata_response_broker_init(&br[1]);
    br[0].node_id = 1;
    br[0].host = br[1].host = buf_slice_of("127.0.0.1", 9);
    br[0].port = sc.port;
    br[1].node_id = 2;
    br[1].port = atomic_load(&sc.node2_here) ? sc.port : 1; /* 1: nobody listens there */
    int32_t leader = atomic_load(&sc.md_leader) == 2 ? 2 : 1;
    int32_t replicas[1] = {leader};
    proto_metadata_response_partition part;
    proto_metadata_response_partition_init(&part);
    part.leader_id = leader;
    part.leader_epoch = atomic_load(&sc.md_epoch);
    part.replica_nodes = part.isr_nodes = replicas;
    part.replica_nodes_count = part.isr_nodes_count = 1;
    proto_metadata_response_topic topic;
    proto_metadata_response_topic_init(&topic);
    topic.name = buf_slice_of("t", 1);
    topic.partitions = &part;
    topic.partitions_count = 1;
    r.brokers = br;
    r.brokers_count = leader == 2 || atomic_load(&sc.node2_here) ? 2 : 1;
    r.topics = &topic;
    r.topics_count = 1;
    r.controller_id = 1;
    (void)proto_metadata_response_encode(reply, version, &r);
}

/* A batch of 3 records "r<offset>" starting at `base`; owned by `b`. */
static buf_slice records_at(proto_batch *b, int64_t base)
{
    cr_assert_eq(proto_batch_init(b, 2, 1 << 16), GREGOR_OK);
    for (int i = 0; i < 3; i++) {
        char v[32];
        int n = snprintf(v, sizeof v, "r%lld", (long long)(base + i));
        cr_assert_eq(proto_batch_append(b, 1700000000000, BUF_SLICE_NULL, buf_slice_of(v, (size_t)n), NULL, 0),
                     GREGOR_OK);
    }
    buf_slice out;
    cr_assert_eq(proto_batch_finish(b, PROTO_CODEC_NONE, 0, &out), GREGOR_OK);
    uint8_t *p = (uint8_t *)out.ptr;
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)((uint64_t)base >> (56 - 8 * i));
    /* partitionLeaderEpoch (bytes 12..15) is outside the CRC. */
    uint32_t epoch = (uint32_t)atomic_load(&sc.batch_epoch);
    for (int i = 0; i < 4; i++)
        p[12 + i] = (uint8_t)(epoch >> (24 - 8 * i));
    return out;
}

static mock_action on_fetch(mock_request *req, buf_writer *reply)
{
    atomic_store(&sc.fetch_conn, req->conn_index);
    int n = atomic_fetch_add(&sc.fetches, 1);
    if (atomic_load(&sc.garbage_fetch)) {
        buf_write_raw(reply, "\x7f\x01\x02", 3); /* ends inside the first field */
        return MOCK_REPLY;
    }
    bool plain = atomic_load(&sc.plain_fetch);
    if (n == 1 && !plain)
        return MOCK_CLOSE;
    if (n >= 3 && !plain)
        return MOCK_SILENT;
    arena a;
    arena_init(&a, ARENA_DEFAULT_LIMIT);
    proto_fetch_request rq;
    cr_assert_eq(proto_fetch_request_decode(&req->body, req->version, &rq, &a), GREGOR_OK);
    int64_t offset = rq.topics[0].partitions[0].fetch_offset;
    int32_t epoch = rq.topics[0].partitions[0].current_leader_epoch;
    atomic_store(&sc.fetch_epoch_last, epoch);
    if (epoch != atomic_load(&sc.want_epoch))
        atomic_fetch_add(&sc.fetch_epoch_bad, 1);
    proto_fetch_response r;
    proto_fetch_response_init(&r);
    proto_fetch_response_partition_data pd;
    proto_fetch_response_partition_data_init(&pd);
    pd.partition_index = 0;
    pd.high_watermark = offset + 3;
    pd.last_stable_offset = offset + 3;
    proto_batch b = {0};
    if (n + 1 == atomic_load(&sc.oor_fetch_plus1)) {
        pd.error_code = 1; /* OFFSET_OUT_OF_RANGE */
        pd.records = buf_slice_of("", 0);
    } else if (n == 0 && !plain) {
        pd.error_code = 6; /* NOT_LEADER_OR_FOLLOWER */
        pd.records = buf_slice_of("", 0);
    } else {
        pd.records = records_at(&b, offset);
        if (sc.corrupt)
            ((uint8_t *)pd.records.ptr)[pd.records.len - 2] ^= 0x11;
    }
    proto_fetch_response_fetchable_topic_response t;
    proto_fetch_response_fetchable_topic_response_init(&t);
    t.topic = buf_slice_of("t", 1);
    t.partitions = &pd;
    t.partitions_count = 1;
    r.responses = &t;
    r.responses_count = 1;
    (void)proto_fetch_response_encode(reply, req->version, &r);
    proto_batch_fini(&b);
    arena_fini(&a);
    return MOCK_REPLY;
}

static mock_action on_commit(mock_request *req, buf_writer *reply)
{
    atomic_store(&sc.commit_conn, req->conn_index);
    int n = atomic_fetch_add(&sc.commits, 1);
    int plan = n < PLAN_MAX ? atomic_load(&sc.commit_plan[n]) : 0;
    arena a;
    arena_init(&a, ARENA_DEFAULT_LIMIT);
    proto_offset_commit_request rq;
    cr_assert_eq(proto_offset_commit_request_decode(&req->body, req->version, &rq, &a), GREGOR_OK);
    cr_assert_geq(req->version, 6, "OffsetCommit v%d stores no leader epoch", req->version);
    atomic_store(&sc.commit_epoch, rq.topics[0].partitions[0].committed_leader_epoch);
    arena_fini(&a);
    if (plan == PLAN_SILENT)
        return MOCK_SILENT;
    if (plan == PLAN_CLOSE)
        return MOCK_CLOSE;
    proto_offset_commit_response_partition p = {.partition_index = 0, .error_code = (int16_t)plan};
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

static mock_action on_offset_fetch(mock_request *req, buf_writer *reply)
{
    proto_offset_fetch_response_partition p;
    proto_offset_fetch_response_partition_init(&p);
    p.partition_index = 0;
    p.committed_offset = 41;
    p.metadata = buf_slice_of("md", 2);
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

/* Offset 5, with batch_epoch as its leader epoch. */
static mock_action on_list_offsets(mock_request *req, buf_writer *reply)
{
    arena a;
    arena_init(&a, ARENA_DEFAULT_LIMIT);
    proto_list_offsets_request rq;
    cr_assert_eq(proto_list_offsets_request_decode(&req->body, req->version, &rq, &a), GREGOR_OK);
    atomic_store(&sc.list_epoch, rq.topics[0].partitions[0].current_leader_epoch);
    arena_fini(&a);
    proto_list_offsets_response_list_offsets_partition_response p;
    proto_list_offsets_response_list_offsets_partition_response_init(&p);
    p.partition_index = 0;
    p.offset = 5;
    p.timestamp = -1;
    p.leader_epoch = atomic_load(&sc.batch_epoch);
    proto_list_offsets_response_list_offsets_topic_response t;
    proto_list_offsets_response_list_offsets_topic_response_init(&t);
    t.name = buf_slice_of("t", 1);
    t.partitions = &p;
    t.partitions_count = 1;
    proto_list_offsets_response r;
    proto_list_offsets_response_init(&r);
    r.topics = &t;
    r.topics_count = 1;
    (void)proto_list_offsets_response_encode(reply, req->version, &r);
    return MOCK_REPLY;
}

static mock_action on_offset_for_leader_epoch(mock_request *req, buf_writer *reply)
{
    arena a;
    arena_init(&a, ARENA_DEFAULT_LIMIT);
    proto_offset_for_leader_epoch_request rq;
    cr_assert_eq(proto_offset_for_leader_epoch_request_decode(&req->body, req->version, &rq, &a), GREGOR_OK);
    atomic_store(&sc.ofle_epoch, rq.topics[0].partitions[0].leader_epoch);
    atomic_store(&sc.ofle_current, rq.topics[0].partitions[0].current_leader_epoch);
    atomic_fetch_add(&sc.ofle_requests, 1);
    arena_fini(&a);
    proto_offset_for_leader_epoch_response_epoch_end_offset p;
    proto_offset_for_leader_epoch_response_epoch_end_offset_init(&p);
    p.partition = 0;
    p.leader_epoch = atomic_load(&sc.batch_epoch);
    p.end_offset = atomic_load(&sc.ofle_end);
    proto_offset_for_leader_epoch_response_offset_for_leader_topic_result t;
    proto_offset_for_leader_epoch_response_offset_for_leader_topic_result_init(&t);
    t.topic = buf_slice_of("t", 1);
    t.partitions = &p;
    t.partitions_count = 1;
    proto_offset_for_leader_epoch_response r;
    proto_offset_for_leader_epoch_response_init(&r);
    r.topics = &t;
    r.topics_count = 1;
    (void)proto_offset_for_leader_epoch_response_encode(reply, req->version, &r);
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
        atomic_fetch_add(&sc.metadata, 1);
        write_metadata(reply, req->version);
        return MOCK_REPLY;
    case PROTO_API_FETCH:
        return on_fetch(req, reply);
    case PROTO_API_FIND_COORDINATOR: {
        int n = atomic_fetch_add(&sc.finds, 1);
        if (n == 0 && atomic_load(&sc.find_first_silent))
            return MOCK_SILENT;
        int node = n == 0 && atomic_load(&sc.find_first_node) ? atomic_load(&sc.find_first_node) : 1;
        proto_find_coordinator_response r;
        proto_find_coordinator_response_init(&r);
        proto_find_coordinator_response_coordinator co;
        proto_find_coordinator_response_coordinator_init(&co);
        co.key = buf_slice_of("g", 1);
        co.node_id = r.node_id = node;
        co.host = r.host = buf_slice_of("127.0.0.1", 9);
        co.port = r.port = sc.port;
        r.coordinators = &co;
        r.coordinators_count = 1;
        (void)proto_find_coordinator_response_encode(reply, req->version, &r);
        return MOCK_REPLY;
    }
    case PROTO_API_OFFSET_COMMIT:
        return on_commit(req, reply);
    case PROTO_API_OFFSET_FETCH:
        return on_offset_fetch(req, reply);
    case PROTO_API_LIST_OFFSETS:
        return on_list_offsets(req, reply);
    case PROTO_API_OFFSET_FOR_LEADER_EPOCH:
        return on_offset_for_leader_epoch(req, reply);
    default:
        return MOCK_CLOSE;
    }
}

static mock_broker *mb;

/* A consumer of the mock with the settings below, then `extra`
 * ({name, value} pairs, NULL-ended) on top. */
static gregor_consumer *start_with(bool corrupt, const char *const (*extra)[2])
{
    memset(&sc, 0, sizeof sc);
    sc.corrupt = corrupt;
    mb = mock_broker_start(handler, NULL);
    cr_assert_not_null(mb);
    sc.port = mock_broker_port(mb);
    gregor_config *cfg = gregor_config_new();
    char bs[64], err[256];
    snprintf(bs, sizeof bs, "127.0.0.1:%d", sc.port);
    static const char *kv[][2] = {{"request_timeout_ms", "3000"},   {"fetch_max_wait_ms", "100"},
                                  {"fetch_error_backoff_ms", "10"}, {"metadata_fast_refresh_ms", "20"},
                                  {"reconnect_backoff_ms", "10"},   {"group_id", "g"},
                                  {"enable_auto_commit", "false"}};
    cr_assert_eq(gregor_config_set(cfg, "bootstrap", bs, err, sizeof err), GREGOR_OK);
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++)
        cr_assert_eq(gregor_config_set(cfg, kv[i][0], kv[i][1], err, sizeof err), GREGOR_OK, "%s", err);
    for (size_t i = 0; extra && extra[i][0]; i++)
        cr_assert_eq(gregor_config_set(cfg, extra[i][0], extra[i][1], err, sizeof err), GREGOR_OK, "%s", err);
    gregor_consumer *c;
    cr_assert_eq(gregor_consumer_new(cfg, &c, err, sizeof err), GREGOR_OK, "%s", err);
    gregor_config_destroy(cfg);
    return c;
}

static gregor_consumer *start(bool corrupt) { return start_with(corrupt, NULL); }

static void stop(gregor_consumer *c)
{
    gregor_consumer_destroy(c);
    mock_broker_stop(mb);
}

Test(consumer_mock, fetch_errors_resume_at_the_same_offset, .timeout = 30)
{
    gregor_consumer *c = start(false);
    char err[256];
    cr_assert_eq(gregor_consumer_assign(c, "t", 0, 5, 0, err, sizeof err), GREGOR_OK, "%s", err);
    int metadata_before = atomic_load(&sc.metadata);
    gregor_batch *b = NULL;
    for (int i = 0; i < 50 && !b; i++)
        cr_assert_eq(gregor_consumer_poll(c, 200, &b, err, sizeof err), GREGOR_OK, "%s", err);
    cr_assert_not_null(b);
    cr_assert_eq(gregor_batch_count(b), 3);
    for (size_t i = 0; i < 3; i++) {
        const gregor_message *m = gregor_batch_message(b, i);
        char v[16];
        snprintf(v, sizeof v, "r%d", (int)(5 + i));
        cr_assert_eq(m->offset, (int64_t)(5 + i));
        cr_assert(m->value_len == (int32_t)strlen(v) && !memcmp(m->value, v, strlen(v)));
    }
    gregor_batch_destroy(b);
    cr_assert_geq(atomic_load(&sc.fetches), 3);
    cr_assert_gt(atomic_load(&sc.metadata), metadata_before, "no metadata refresh after NOT_LEADER");
    gregor_partition_state st;
    cr_assert_eq(gregor_consumer_position(c, "t", 0, &st), GREGOR_OK);
    cr_assert_eq(st.position, 8);
    cr_assert_eq(st.lag, 0);
    stop(c);
}

Test(consumer_mock, corrupt_records_are_an_error, .timeout = 30)
{
    gregor_consumer *c = start(true);
    char err[256];
    cr_assert_eq(gregor_consumer_assign(c, "t", 0, 5, 0, err, sizeof err), GREGOR_OK, "%s", err);
    gregor_batch *b = NULL;
    gregor_err e = GREGOR_OK;
    for (int i = 0; i < 50 && e == GREGOR_OK; i++)
        e = gregor_consumer_poll(c, 200, &b, err, sizeof err);
    cr_assert_eq(e, GREGOR_ERR_CRC, "%s", gregor_err_name(e));
    cr_assert_null(b);
    cr_assert(strstr(err, "'t'") && strstr(err, "partition 0") && strstr(err, "offset 5"), "%s", err);
    gregor_consumer_error pe;
    gregor_consumer_poll_error(c, &pe);
    cr_assert_eq(pe.err, GREGOR_ERR_CRC);
    cr_assert_str_eq(pe.topic, "t");
    cr_assert_eq(pe.partition, 0);
    cr_assert_eq(pe.offset, 5);
    cr_assert_str_eq(pe.message, err);
    /* Reported once; the next poll has no error and says so. */
    cr_assert_eq(gregor_consumer_poll(c, 50, &b, err, sizeof err), GREGOR_OK, "%s", err);
    cr_assert_null(b);
    gregor_consumer_poll_error(c, &pe);
    cr_assert_eq(pe.err, GREGOR_OK);
    cr_assert_null(pe.topic);
    cr_assert_eq(pe.partition, -1);
    cr_assert_str_eq(pe.message, "");
    stop(c);
}

Test(consumer_mock, commit_retries_coordinator_moves, .timeout = 30)
{
    gregor_consumer *c = start(false);
    atomic_store(&sc.commit_plan[0], 16); /* NOT_COORDINATOR */
    atomic_store(&sc.commit_plan[1], 14); /* COORDINATOR_LOAD_IN_PROGRESS */
    char err[256];
    gregor_topic_offset o = {.topic = "t", .partition = 0, .offset = 9};
    cr_assert_eq(gregor_consumer_commit(c, &o, 1, NULL, NULL, NULL, err, sizeof err), GREGOR_OK, "%s", err);
    cr_assert_eq(o.err, GREGOR_OK);
    cr_assert_eq(atomic_load(&sc.commits), 3);
    cr_assert_eq(atomic_load(&sc.finds), 2, "NOT_COORDINATOR must find the coordinator again");

    cr_assert_eq(gregor_consumer_assign(c, "t", 0, GREGOR_OFFSET_COMMITTED, 0, err, sizeof err), GREGOR_OK, "%s",
                 err);
    gregor_partition_state st;
    cr_assert_eq(gregor_consumer_position(c, "t", 0, &st), GREGOR_OK);
    cr_assert_eq(st.position, 41);
    stop(c);
}

/* Waits until two Metadata answers went out after the script changed, so
 * that the consumer's view includes the change. */
static void await_metadata(void)
{
    int m = atomic_load(&sc.metadata);
    for (int i = 0; i < 200 && atomic_load(&sc.metadata) < m + 2; i++)
        usleep(10 * 1000);
    cr_assert_geq(atomic_load(&sc.metadata), m + 2, "no metadata refresh");
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Takes node 2 out of the metadata once the first commit has arrived. */
static void *leave_when_committing(void *arg)
{
    (void)arg;
    for (int i = 0; i < 500 && atomic_load(&sc.commits) == 0; i++)
        usleep(10 * 1000);
    atomic_store(&sc.node2_here, false);
    return NULL;
}

/* Commits offset 9 of t/0 synchronously; returns how long it took. */
static int64_t commit_ms(gregor_consumer *c)
{
    char err[256];
    gregor_topic_offset o = {.topic = "t", .partition = 0, .offset = 9};
    int64_t t0 = now_ms();
    cr_assert_eq(gregor_consumer_commit(c, &o, 1, NULL, NULL, NULL, err, sizeof err), GREGOR_OK, "%s", err);
    cr_assert_eq(o.err, GREGOR_OK);
    return now_ms() - t0;
}

Test(consumer_mock, coordinator_gone_from_metadata_is_found_again, .timeout = 30)
{
    gregor_consumer *c = start(false);
    atomic_store(&sc.find_first_node, 2); /* a broker the metadata does not list */
    commit_ms(c);
    cr_assert_eq(atomic_load(&sc.finds), 2, "the unknown coordinator must be forgotten and found again");
    cr_assert_eq(atomic_load(&sc.commits), 1);
    stop(c);
}

Test(consumer_mock, silent_coordinator_is_found_again, .timeout = 30)
{
    static const char *const extra[][2] = {{"request_timeout_ms", "500"}, {"commit_timeout_ms", "20000"}, {NULL}};
    gregor_consumer *c = start_with(false, extra);
    atomic_store(&sc.commit_plan[0], PLAN_SILENT);
    int64_t ms = commit_ms(c);
    cr_assert_eq(atomic_load(&sc.commits), 2);
    cr_assert_eq(atomic_load(&sc.finds), 2, "a timed-out coordinator must be forgotten and found again");
    cr_assert_lt(ms, 5000, "the commit took %lld ms: one attempt must not use the whole commit_timeout_ms",
                 (long long)ms);
    stop(c);
}

Test(consumer_mock, silent_find_coordinator_is_asked_again, .timeout = 30)
{
    static const char *const extra[][2] = {{"request_timeout_ms", "500"}, {"commit_timeout_ms", "20000"}, {NULL}};
    gregor_consumer *c = start_with(false, extra);
    atomic_store(&sc.find_first_silent, true);
    /* Once the metadata is in, FindCoordinator goes to a known broker's
     * coordinator connection (one attempt per request_timeout_ms). */
    for (int i = 0; i < 200 && atomic_load(&sc.metadata) == 0; i++)
        usleep(10 * 1000);
    usleep(100 * 1000);
    int64_t ms = commit_ms(c);
    cr_assert_eq(atomic_load(&sc.finds), 2);
    cr_assert_lt(ms, 5000, "the commit took %lld ms", (long long)ms);
    stop(c);
}

Test(consumer_mock, coordinator_connection_lost_is_found_again, .timeout = 30)
{
    gregor_consumer *c = start(false);
    atomic_store(&sc.commit_plan[0], PLAN_CLOSE);
    commit_ms(c);
    cr_assert_eq(atomic_load(&sc.commits), 2);
    cr_assert_eq(atomic_load(&sc.finds), 2, "a lost coordinator connection must make the consumer look again");
    stop(c);
}

Test(consumer_mock, coordinator_leaving_the_metadata_mid_commit_is_found_again, .timeout = 30)
{
    static const char *const extra[][2] = {
        {"request_timeout_ms", "10000"}, {"commit_timeout_ms", "20000"}, {"metadata_refresh_ms", "50"}, {NULL}};
    gregor_consumer *c = start_with(false, extra);
    atomic_store(&sc.node2_here, true);
    atomic_store(&sc.find_first_node, 2);
    atomic_store(&sc.commit_plan[0], PLAN_SILENT); /* node 2 holds the first commit... */
    pthread_t t;
    int64_t t0 = now_ms();
    cr_assert_eq(pthread_create(&t, NULL, leave_when_committing, NULL), 0);
    commit_ms(c); /* ...and leaves the metadata meanwhile: its connection goes */
    int64_t ms = now_ms() - t0;
    pthread_join(t, NULL);
    cr_assert_eq(atomic_load(&sc.commits), 2);
    cr_assert_eq(atomic_load(&sc.finds), 2, "the departed coordinator must be forgotten and found again");
    cr_assert_lt(ms, 5000, "the commit took %lld ms", (long long)ms);
    stop(c);
}

Test(consumer_mock, coordinator_has_its_own_connection, .timeout = 30)
{
    gregor_consumer *c = start(false);
    char err[256];
    cr_assert_eq(gregor_consumer_assign(c, "t", 0, 5, 0, err, sizeof err), GREGOR_OK, "%s", err);
    /* Fetches 0..2 end in records; the 4th is never answered (a long poll). */
    for (int i = 0; i < 100 && atomic_load(&sc.fetches) < 4; i++) {
        gregor_batch *b = NULL;
        cr_assert_eq(gregor_consumer_poll(c, 50, &b, err, sizeof err), GREGOR_OK, "%s", err);
        gregor_batch_destroy(b);
    }
    cr_assert_geq(atomic_load(&sc.fetches), 4);
    int64_t ms = commit_ms(c);
    cr_assert_eq(atomic_load(&sc.commits), 1, "the commit was answered once");
    cr_assert_neq(atomic_load(&sc.commit_conn), atomic_load(&sc.fetch_conn),
                  "OffsetCommit went on the connection of the waiting Fetch");
    cr_assert_lt(ms, 1000, "the commit took %lld ms", (long long)ms);
    stop(c);
}

Test(consumer_mock, undecodable_fetch_response_stops_the_partition_once, .timeout = 30)
{
    gregor_consumer *c = start(false);
    atomic_store(&sc.garbage_fetch, true);
    char err[256];
    cr_assert_eq(gregor_consumer_assign(c, "t", 0, 5, 0, err, sizeof err), GREGOR_OK, "%s", err);
    gregor_batch *b = NULL;
    gregor_err e = GREGOR_OK;
    for (int i = 0; i < 30 && e == GREGOR_OK; i++)
        e = gregor_consumer_poll(c, 100, &b, err, sizeof err);
    cr_assert_neq(e, GREGOR_OK, "no error after %d undecodable Fetch responses", atomic_load(&sc.fetches));
    cr_assert_null(b);
    gregor_consumer_error pe;
    gregor_consumer_poll_error(c, &pe);
    cr_assert_str_eq(pe.topic, "t");
    cr_assert_eq(pe.partition, 0);
    cr_assert_eq(pe.offset, 5);
    cr_assert(strstr(err, "Fetch") && strstr(err, "offset 5"), "%s", err);
    int fetches = atomic_load(&sc.fetches);
    for (int i = 0; i < 5; i++) {
        cr_assert_eq(gregor_consumer_poll(c, 100, &b, err, sizeof err), GREGOR_OK, "reported twice: %s", err);
        cr_assert_null(b);
    }
    cr_assert_eq(atomic_load(&sc.fetches), fetches, "the stopped partition was fetched again");
    cr_assert_eq(fetches, 1);
    stop(c);
}

Test(consumer_mock, leader_epochs_are_sent_kept_and_committed, .timeout = 30)
{
    static const char *const extra[][2] = {
        {"metadata_refresh_ms", "50"}, {"prefetch_bytes", "1024"}, {"auto_offset_reset", "earliest"}, {NULL}};
    gregor_consumer *c = start_with(false, extra);
    atomic_store(&sc.md_epoch, 7);
    atomic_store(&sc.want_epoch, 7);
    atomic_store(&sc.batch_epoch, 6);
    atomic_store(&sc.plain_fetch, true);
    atomic_store(&sc.list_epoch, -99);
    await_metadata();
    char err[256];
    cr_assert_eq(gregor_consumer_assign(c, "t", 0, GREGOR_OFFSET_BEGINNING, 0, err, sizeof err), GREGOR_OK, "%s",
                 err);
    gregor_batch *b = NULL;
    for (int i = 0; i < 50 && !b; i++)
        cr_assert_eq(gregor_consumer_poll(c, 100, &b, err, sizeof err), GREGOR_OK, "%s", err);
    cr_assert_not_null(b);
    cr_assert_eq(gregor_batch_message(b, 0)->offset, 5);
    gregor_batch_destroy(b);
    cr_assert_eq(atomic_load(&sc.list_epoch), 7, "ListOffsets current_leader_epoch %d", atomic_load(&sc.list_epoch));

    /* A broker that has not caught up: an older epoch naming another leader. */
    atomic_store(&sc.md_leader, 2);
    atomic_store(&sc.md_epoch, 3);
    int metadata = atomic_load(&sc.metadata), batches = 0;
    for (int i = 0; i < 40 && (batches < 20 || atomic_load(&sc.metadata) < metadata + 5); i++) {
        cr_assert_eq(gregor_consumer_poll(c, 100, &b, err, sizeof err), GREGOR_OK, "%s", err);
        batches += b != NULL;
        gregor_batch_destroy(b);
        usleep(20 * 1000);
    }
    cr_assert_geq(atomic_load(&sc.metadata), metadata + 5, "the stale metadata was not read");
    cr_assert_geq(batches, 20, "fetching stopped after stale metadata (%d batches)", batches);
    cr_assert_eq(atomic_load(&sc.fetch_epoch_bad), 0, "a Fetch carried current_leader_epoch %d, not 7",
                 atomic_load(&sc.fetch_epoch_last));

    /* The commit of our positions stores the epoch of the records consumed. */
    cr_assert_eq(gregor_consumer_commit(c, NULL, 0, NULL, NULL, NULL, err, sizeof err), GREGOR_OK, "%s", err);
    cr_assert_eq(atomic_load(&sc.commit_epoch), 6, "committed_leader_epoch %d", atomic_load(&sc.commit_epoch));
    stop(c);
}

/* A consumer of "t" 0 from offset 5, with leader epoch 7 in the metadata,
 * records of epoch 3, every Fetch answered with 3 records except the
 * second (OFFSET_OUT_OF_RANGE when oor), and OffsetForLeaderEpoch answering
 * `end`. Returns it after the first batch (5..7) was polled. */
static gregor_consumer *start_epochs(const char *reset, bool oor, int end)
{
    const char *const extra[][2] = {
        {"auto_offset_reset", reset}, {"metadata_refresh_ms", "50"}, {"prefetch_bytes", "1024"}, {NULL}};
    gregor_consumer *c = start_with(false, extra);
    atomic_store(&sc.md_epoch, 7);
    atomic_store(&sc.want_epoch, 7);
    atomic_store(&sc.batch_epoch, 3);
    atomic_store(&sc.plain_fetch, true);
    atomic_store(&sc.oor_fetch_plus1, oor ? 2 : 0);
    atomic_store(&sc.ofle_end, end);
    await_metadata();
    char err[256];
    cr_assert_eq(gregor_consumer_assign(c, "t", 0, 5, 0, err, sizeof err), GREGOR_OK, "%s", err);
    gregor_batch *b = NULL;
    for (int i = 0; i < 50 && !b; i++)
        cr_assert_eq(gregor_consumer_poll(c, 100, &b, err, sizeof err), GREGOR_OK, "%s", err);
    cr_assert_not_null(b);
    cr_assert_eq(gregor_batch_message(b, 0)->offset, 5);
    gregor_batch_destroy(b);
    return c;
}

/* The first offset of the next batch. */
static int64_t next_batch_offset(gregor_consumer *c)
{
    char err[256];
    gregor_batch *b = NULL;
    for (int i = 0; i < 50 && !b; i++)
        cr_assert_eq(gregor_consumer_poll(c, 100, &b, err, sizeof err), GREGOR_OK, "%s", err);
    cr_assert_not_null(b);
    int64_t off = gregor_batch_message(b, 0)->offset;
    gregor_batch_destroy(b);
    return off;
}

Test(consumer_mock, truncation_found_on_out_of_range_resumes_at_the_divergence_point, .timeout = 30)
{
    gregor_consumer *c = start_epochs("earliest", true, 6); /* the new leader's epoch 3 ends at 6 */
    int64_t off = next_batch_offset(c);
    cr_assert_eq(off, 6, "resumed at %lld: a truncated log must resume where it diverged, not at the reset",
                 (long long)off);
    cr_assert_geq(atomic_load(&sc.ofle_requests), 1);
    cr_assert_eq(atomic_load(&sc.ofle_epoch), 3, "asked for epoch %d", atomic_load(&sc.ofle_epoch));
    cr_assert_eq(atomic_load(&sc.ofle_current), 7);
    stop(c);
}

Test(consumer_mock, truncation_with_reset_error_fails_the_partition, .timeout = 30)
{
    gregor_consumer *c = start_epochs("error", true, 6);
    char err[256];
    gregor_batch *b = NULL;
    gregor_err e = GREGOR_OK;
    for (int i = 0; i < 50 && e == GREGOR_OK; i++) {
        e = gregor_consumer_poll(c, 100, &b, err, sizeof err);
        gregor_batch_destroy(b);
    }
    cr_assert_eq(e, 1 /* OFFSET_OUT_OF_RANGE */, "%s", gregor_err_name(e));
    cr_assert(strstr(err, "truncation") && strstr(err, "offset 8") && strstr(err, "ends at 6"), "%s", err);
    gregor_consumer_error pe;
    gregor_consumer_poll_error(c, &pe);
    cr_assert_eq(pe.offset, 8);
    stop(c);
}

Test(consumer_mock, out_of_range_without_truncation_applies_the_reset, .timeout = 30)
{
    gregor_consumer *c = start_epochs("earliest", true, 100); /* epoch 3 goes on past 8: no truncation */
    int64_t off = next_batch_offset(c);
    cr_assert_eq(off, 5, "resumed at %lld, not at the earliest offset (5)", (long long)off);
    cr_assert_geq(atomic_load(&sc.ofle_requests), 1);
    stop(c);
}

Test(consumer_mock, new_leader_epoch_is_validated_before_fetching_on, .timeout = 30)
{
    gregor_consumer *c = start_epochs("earliest", false, 100);
    atomic_store(&sc.md_epoch, 8); /* a new leader epoch: was the log cut back? */
    atomic_store(&sc.want_epoch, 8);
    int64_t expect = 8;
    for (int i = 0; i < 100 && atomic_load(&sc.ofle_requests) == 0; i++) {
        int64_t off = next_batch_offset(c);
        cr_assert_eq(off, expect, "offset %lld, expected %lld", (long long)off, (long long)expect);
        expect = off + 3;
        usleep(10 * 1000);
    }
    cr_assert_geq(atomic_load(&sc.ofle_requests), 1, "no OffsetForLeaderEpoch after the epoch changed");
    cr_assert_eq(atomic_load(&sc.ofle_current), 8);
    cr_assert_eq(atomic_load(&sc.ofle_epoch), 3);
    /* Nothing was truncated: fetching goes on where it was. */
    int64_t off = next_batch_offset(c);
    cr_assert_eq(off, expect, "offset %lld, expected %lld", (long long)off, (long long)expect);
    stop(c);
}
