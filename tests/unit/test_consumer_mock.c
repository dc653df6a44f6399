/* Unit tests for the consumer's fault handling against the scripted mock
 * broker (one broker, node 1, topic "t" with one partition):
 *   - a Fetch answered NOT_LEADER_OR_FOLLOWER, then a dropped connection,
 *     then records: the consumer refreshes metadata and resumes at the same
 *     offset, nothing lost or repeated;
 *   - corrupt records: poll reports CRC naming topic, partition and offset;
 *   - OffsetCommit answered NOT_COORDINATOR, then
 *     COORDINATOR_LOAD_IN_PROGRESS, then success: the commit succeeds after
 *     finding the coordinator again;
 *   - OffsetFetch resolving a COMMITTED start.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
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
#include "protocol/records.h"

typedef struct script {
    int port;
    atomic_int fetches, commits, finds, metadata;
    bool corrupt;
} script;

static script sc;

static void write_metadata(buf_writer *reply, int16_t version)
{
    proto_metadata_response r;
    proto_metadata_response_init(&r);
    proto_metadata_response_broker br;
    proto_metadata_response_broker_init(&br);
    br.node_id = 1;
    br.host = buf_slice_of("127.0.0.1", 9);
    br.port = sc.port;
    int32_t replicas[1] = {1};
    proto_metadata_response_partition part;
    proto_metadata_response_partition_init(&part);
    part.leader_id = 1;
    part.replica_nodes = part.isr_nodes = replicas;
    part.replica_nodes_count = part.isr_nodes_count = 1;
    proto_metadata_response_topic topic;
    proto_metadata_response_topic_init(&topic);
    topic.name = buf_slice_of("t", 1);
    topic.partitions = &part;
    topic.partitions_count = 1;
    r.brokers = &br;
    r.brokers_count = 1;
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
    return out;
}

static mock_action on_fetch(mock_request *req, buf_writer *reply)
{
    int n = atomic_fetch_add(&sc.fetches, 1);
    if (n == 1)
        return MOCK_CLOSE;
    if (n >= 3)
        return MOCK_SILENT;
    arena a;
    arena_init(&a, ARENA_DEFAULT_LIMIT);
    proto_fetch_request rq;
    cr_assert_eq(proto_fetch_request_decode(&req->body, req->version, &rq, &a), GREGOR_OK);
    int64_t offset = rq.topics[0].partitions[0].fetch_offset;
    proto_fetch_response r;
    proto_fetch_response_init(&r);
    proto_fetch_response_partition_data pd;
    proto_fetch_response_partition_data_init(&pd);
    pd.partition_index = 0;
    pd.high_watermark = offset + 3;
    pd.last_stable_offset = offset + 3;
    proto_batch b = {0};
    if (n == 0) {
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
    int n = atomic_fetch_add(&sc.commits, 1);
    proto_offset_commit_response_partition p = {.partition_index = 0, .error_code = n == 0 ? 16 : n == 1 ? 14 : 0};
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
        atomic_fetch_add(&sc.finds, 1);
        proto_find_coordinator_response r;
        proto_find_coordinator_response_init(&r);
        proto_find_coordinator_response_coordinator co;
        proto_find_coordinator_response_coordinator_init(&co);
        co.key = buf_slice_of("g", 1);
        co.node_id = r.node_id = 1;
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
    default:
        return MOCK_CLOSE;
    }
}

static mock_broker *mb;

static gregor_consumer *start(bool corrupt)
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
    gregor_consumer *c;
    cr_assert_eq(gregor_consumer_new(cfg, &c, err, sizeof err), GREGOR_OK, "%s", err);
    gregor_config_destroy(cfg);
    return c;
}

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
    stop(c);
}

Test(consumer_mock, commit_retries_coordinator_moves, .timeout = 30)
{
    gregor_consumer *c = start(false);
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
