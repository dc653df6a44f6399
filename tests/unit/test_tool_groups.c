/* Unit tests for `gregor groups`'s requests (src/tools/groups_query.c):
 *   - a member's assignment bytes: read with trailing bytes, read at a
 *     version newer than the codec's, every truncated prefix and hostile
 *     counts reported as undecodable (never a crash or a huge allocation);
 *   - against a mock coordinator: COORDINATOR_LOAD_IN_PROGRESS is retried,
 *     an undecodable member assignment is reported on that member while the
 *     others are read, OffsetFetch asks for every partition (null topics);
 *   - a KIP-848 group (DescribeGroups: GROUP_ID_NOT_FOUND, "not a classic
 *     group") is described by ConsumerGroupDescribe, topics named by id only
 *     are named from the metadata's topic ids;
 *   - an unknown group is GROUP_ID_NOT_FOUND with the broker named;
 *   - FindCoordinator for a group (protocol/group_coordinator.c) in every
 *     version: the key where the version has it, the node or the error from
 *     the matching fields.
 */
#include <criterion/criterion.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gregor/consumer.h"
#include "mock_broker.h"
#include "protocol/gen/api.h"
#include "protocol/gen/consumer_group_describe.h"
#include "protocol/gen/consumer_protocol_assignment.h"
#include "protocol/gen/describe_groups.h"
#include "protocol/gen/errors.h"
#include "protocol/gen/find_coordinator.h"
#include "protocol/gen/metadata.h"
#include "protocol/gen/offset_fetch.h"
#include "protocol/group_coordinator.h"
#include "tools/groups.h"

static const uint8_t TOPIC_ID[16] = {0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};

/* An assignment of t1 [2, 0] and t0 [1] at `version`, with `extra` trailing
 * bytes; returns its length in buf. */
static size_t assignment_bytes(int16_t version, size_t extra, uint8_t *buf, size_t cap)
{
    buf_writer w;
    buf_writer_init_fixed(&w, buf, cap);
    buf_write_i16(&w, version);
    int32_t p1[2] = {2, 0}, p0[1] = {1};
    proto_consumer_protocol_assignment_topic_partition tp[2];
    proto_consumer_protocol_assignment_topic_partition_init(&tp[0]);
    proto_consumer_protocol_assignment_topic_partition_init(&tp[1]);
    tp[0] = (proto_consumer_protocol_assignment_topic_partition){buf_slice_of("t1", 2), p1, 2};
    tp[1] = (proto_consumer_protocol_assignment_topic_partition){buf_slice_of("t0", 2), p0, 1};
    proto_consumer_protocol_assignment a;
    proto_consumer_protocol_assignment_init(&a);
    a.assigned_partitions = tp;
    a.assigned_partitions_count = 2;
    int16_t v = version > 3 ? 3 : version;
    cr_assert_eq(proto_consumer_protocol_assignment_encode(&w, v, &a), GREGOR_OK);
    for (size_t i = 0; i < extra; i++)
        buf_write_i16(&w, 0x7777);
    cr_assert_eq(w.err, GREGOR_OK);
    return w.len;
}

static void assert_owned(const grp_member *m)
{
    cr_assert_null(m->assignment_error, "%s", m->assignment_error);
    cr_assert_eq(m->n_owned, 3);
    cr_assert_str_eq(m->owned[0].topic, "t0");
    cr_assert_eq(m->owned[0].partition, 1);
    cr_assert_str_eq(m->owned[1].topic, "t1");
    cr_assert_eq(m->owned[1].partition, 0);
    cr_assert_str_eq(m->owned[2].topic, "t1");
    cr_assert_eq(m->owned[2].partition, 2);
}

Test(groups_assignment, every_version_sorted_and_trailing_bytes_ignored)
{
    uint8_t buf[256];
    for (int16_t v = 0; v <= 5; v++) { /* 4 and 5: newer than the codec, read as 3 */
        for (size_t extra = 0; extra <= 2; extra++) {
            size_t n = assignment_bytes(v, extra, buf, sizeof buf);
            arena a;
            arena_init(&a, 1 << 20);
            grp_member m = {0};
            groups_read_assignment(buf, (int32_t)n, &a, &m);
            assert_owned(&m);
            arena_fini(&a);
        }
    }
}

Test(groups_assignment, truncated_prefixes_are_undecodable)
{
    uint8_t buf[256];
    size_t n = assignment_bytes(1, 0, buf, sizeof buf);
    for (size_t len = 1; len < n; len++) {
        uint8_t copy[256];
        memcpy(copy, buf, len); /* ASan sees any read past len */
        uint8_t *heap = malloc(len);
        memcpy(heap, copy, len);
        arena a;
        arena_init(&a, 1 << 20);
        grp_member m = {0};
        groups_read_assignment(heap, (int32_t)len, &a, &m);
        cr_assert_not_null(m.assignment_error, "prefix of %zu of %zu bytes read as an assignment", len, n);
        cr_assert_eq(m.n_owned, 0);
        cr_assert(strstr(m.assignment_error, "undecodable"), "%s", m.assignment_error);
        free(heap);
        arena_fini(&a);
    }
}

Test(groups_assignment, hostile_counts_and_versions)
{
    /* version 0, then 0x7fffffff topics in 6 bytes */
    const uint8_t huge[] = {0, 0, 0x7f, 0xff, 0xff, 0xff, 0, 0};
    const uint8_t negative_version[] = {0xff, 0xfe, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff};
    const uint8_t odd[] = {0};
    const struct {
        const uint8_t *p;
        size_t n;
    } cases[] = {{huge, sizeof huge}, {negative_version, sizeof negative_version}, {odd, sizeof odd}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        arena a;
        arena_init(&a, 1 << 20);
        grp_member m = {0};
        groups_read_assignment(cases[i].p, (int32_t)cases[i].n, &a, &m);
        cr_assert_not_null(m.assignment_error, "case %zu", i);
        cr_assert_eq(m.n_owned, 0);
        arena_fini(&a);
    }
    /* No bytes: a member without an assignment yet, not an error. */
    arena a;
    arena_init(&a, 1 << 20);
    grp_member m = {0};
    groups_read_assignment(NULL, 0, &a, &m);
    cr_assert_null(m.assignment_error);
    cr_assert_eq(m.n_owned, 0);
    arena_fini(&a);
}

Test(group_coordinator, every_version_round_trip)
{
    const proto_api_info *api = proto_api_get(PROTO_API_FIND_COORDINATOR);
    for (int16_t v = api->min_version; v <= api->max_version; v++) {
        uint8_t buf[256];
        buf_writer w;
        buf_writer_init_fixed(&w, buf, sizeof buf);
        cr_assert_eq(proto_group_coordinator_encode(&w, v, "grp"), GREGOR_OK, "v%d", v);
        buf_reader r;
        buf_reader_init(&r, buf, w.len);
        arena a;
        arena_init(&a, 1 << 20);
        proto_find_coordinator_request q;
        cr_assert_eq(proto_find_coordinator_request_decode(&r, v, &q, &a), GREGOR_OK, "v%d", v);
        if (v >= 4)
            cr_assert(q.coordinator_keys_count == 1 && buf_slice_eq_str(q.coordinator_keys[0], "grp"), "v%d", v);
        else
            cr_assert(buf_slice_eq_str(q.key, "grp"), "v%d", v);
        if (v >= 1)
            cr_assert_eq(q.key_type, 0);

        proto_find_coordinator_response m;
        proto_find_coordinator_response_init(&m);
        proto_find_coordinator_response_coordinator co[2];
        proto_find_coordinator_response_coordinator_init(&co[0]);
        proto_find_coordinator_response_coordinator_init(&co[1]);
        co[0].node_id = m.node_id = 7;
        int32_t node = -1;
        m.coordinators = co;
        m.coordinators_count = 1;
        cr_assert_eq(proto_group_coordinator_node(&m, v, &node), GREGOR_OK, "v%d", v);
        cr_assert_eq(node, 7, "v%d", v);
        co[0].error_code = m.error_code = PROTO_ERR_COORDINATOR_NOT_AVAILABLE;
        cr_assert_eq(proto_group_coordinator_node(&m, v, &node), PROTO_ERR_COORDINATOR_NOT_AVAILABLE, "v%d", v);
        if (v >= 4) {
            m.coordinators_count = 2; /* asked for one key */
            cr_assert_eq(proto_group_coordinator_node(&m, v, &node), GREGOR_ERR_MALFORMED);
        }
        arena_fini(&a);
    }
}

/* ------------------------------------------------------ mock coordinator */

typedef struct script {
    int port;
    atomic_int describes, cg_describes, offset_fetches;
    atomic_int load_in_progress; /* DescribeGroups answers left with COORDINATOR_LOAD_IN_PROGRESS */
    atomic_bool offset_fetch_null_topics;
} script;

static script sc;

/* Group "classic": two members, the second's assignment is garbage.
 * "kip848": not a classic group. Anything else: not found. */
static mock_action on_describe(mock_request *req, buf_writer *reply)
{
    atomic_fetch_add(&sc.describes, 1);
    arena a;
    arena_init(&a, 1 << 20);
    proto_describe_groups_request q;
    cr_assert_eq(proto_describe_groups_request_decode(&req->body, req->version, &q, &a), GREGOR_OK);
    proto_describe_groups_response r;
    proto_describe_groups_response_init(&r);
    proto_describe_groups_response_described_group g;
    proto_describe_groups_response_described_group_init(&g);
    g.group_id = q.groups[0];
    proto_describe_groups_response_described_group_member m[2];
    uint8_t good[256];
    static const uint8_t garbage[] = {0, 1, 0, 0, 0, 9, 0};
    if (atomic_fetch_sub(&sc.load_in_progress, 1) > 0) {
        g.error_code = PROTO_ERR_COORDINATOR_LOAD_IN_PROGRESS;
    } else if (buf_slice_eq_str(q.groups[0], "classic")) {
        g.group_state = buf_slice_of("Stable", 6);
        g.protocol_type = buf_slice_of("consumer", 8);
        g.protocol_data = buf_slice_of("range", 5);
        for (int i = 0; i < 2; i++) {
            proto_describe_groups_response_described_group_member_init(&m[i]);
            m[i].member_id = i ? buf_slice_of("m-bad", 5) : buf_slice_of("m-good", 6);
            m[i].client_id = buf_slice_of("cid", 3);
            m[i].client_host = buf_slice_of("/127.0.0.1", 10);
            m[i].group_instance_id = i ? BUF_SLICE_NULL : buf_slice_of("static-1", 8);
        }
        m[0].member_assignment = buf_slice_of(good, assignment_bytes(0, 1, good, sizeof good));
        m[1].member_assignment = buf_slice_of(garbage, sizeof garbage);
        g.members = m;
        g.members_count = 2;
    } else {
        g.error_code = PROTO_ERR_GROUP_ID_NOT_FOUND;
        g.group_state = buf_slice_of("Dead", 4);
        g.error_message = buf_slice_eq_str(q.groups[0], "kip848") ? buf_slice_of("not a classic group", 19)
                                                                   : buf_slice_of("not found", 9);
    }
    r.groups = &g;
    r.groups_count = 1;
    (void)proto_describe_groups_response_encode(reply, req->version, &r);
    arena_fini(&a);
    return MOCK_REPLY;
}

static mock_action on_cg_describe(mock_request *req, buf_writer *reply)
{
    atomic_fetch_add(&sc.cg_describes, 1);
    arena a;
    arena_init(&a, 1 << 20);
    proto_consumer_group_describe_request q;
    cr_assert_eq(proto_consumer_group_describe_request_decode(&req->body, req->version, &q, &a), GREGOR_OK);
    proto_consumer_group_describe_response r;
    proto_consumer_group_describe_response_init(&r);
    proto_consumer_group_describe_response_described_group g;
    proto_consumer_group_describe_response_described_group_init(&g);
    g.group_id = q.group_ids[0];
    proto_consumer_group_describe_response_member m;
    proto_consumer_group_describe_response_member_init(&m);
    proto_consumer_group_describe_response_topic_partitions tp;
    proto_consumer_group_describe_response_topic_partitions_init(&tp);
    int32_t parts[1] = {0};
    if (buf_slice_eq_str(q.group_ids[0], "kip848")) {
        g.group_state = buf_slice_of("Stable", 6);
        g.assignor_name = buf_slice_of("uniform", 7);
        m.member_id = buf_slice_of("m848", 4);
        m.client_id = buf_slice_of("java", 4);
        m.client_host = buf_slice_of("/127.0.0.1", 10);
        memcpy(tp.topic_id, TOPIC_ID, 16);
        tp.topic_name = buf_slice_of("", 0); /* only the id: named from the metadata */
        tp.partitions = parts;
        tp.partitions_count = 1;
        m.assignment.topic_partitions = &tp;
        m.assignment.topic_partitions_count = 1;
        m.target_assignment.topic_partitions_count = 0;
        g.members = &m;
        g.members_count = 1;
    } else {
        g.error_code = PROTO_ERR_GROUP_ID_NOT_FOUND;
    }
    r.groups = &g;
    r.groups_count = 1;
    (void)proto_consumer_group_describe_response_encode(reply, req->version, &r);
    arena_fini(&a);
    return MOCK_REPLY;
}

static mock_action on_offset_fetch(mock_request *req, buf_writer *reply)
{
    atomic_fetch_add(&sc.offset_fetches, 1);
    arena a;
    arena_init(&a, 1 << 20);
    proto_offset_fetch_request q;
    cr_assert_eq(proto_offset_fetch_request_decode(&req->body, req->version, &q, &a), GREGOR_OK);
    atomic_store(&sc.offset_fetch_null_topics, q.topics_count == -1);
    proto_offset_fetch_response r;
    proto_offset_fetch_response_init(&r);
    proto_offset_fetch_response_partition p;
    proto_offset_fetch_response_partition_init(&p);
    p.partition_index = 0;
    p.committed_offset = 42;
    proto_offset_fetch_response_topic t;
    proto_offset_fetch_response_topic_init(&t);
    t.name = buf_slice_of("t", 1);
    t.partitions = &p;
    t.partitions_count = 1;
    r.topics = &t;
    r.topics_count = 1;
    (void)proto_offset_fetch_response_encode(reply, req->version, &r);
    arena_fini(&a);
    return MOCK_REPLY;
}

static mock_action handler(void *arg, mock_request *req, buf_writer *reply)
{
    (void)arg;
    switch (req->api_key) {
    case PROTO_API_API_VERSIONS: mock_write_api_versions(reply, req->version); return MOCK_REPLY;
    case PROTO_API_METADATA: mock_write_metadata(reply, req->version, sc.port, "t", TOPIC_ID, 1); return MOCK_REPLY;
    case PROTO_API_FIND_COORDINATOR:
        mock_write_find_coordinator(reply, req->version, sc.port, "g");
        return MOCK_REPLY;
    case PROTO_API_DESCRIBE_GROUPS: return on_describe(req, reply);
    case PROTO_API_CONSUMER_GROUP_DESCRIBE: return on_cg_describe(req, reply);
    case PROTO_API_OFFSET_FETCH: return on_offset_fetch(req, reply);
    default: return MOCK_CLOSE;
    }
}

static mock_broker *mb;

static gregor_client *start(void)
{
    memset(&sc, 0, sizeof sc);
    mb = mock_broker_start(handler, NULL);
    cr_assert_not_null(mb);
    sc.port = mock_broker_port(mb);
    gregor_config *cfg = gregor_config_new();
    char bs[64], err[256];
    snprintf(bs, sizeof bs, "127.0.0.1:%d", sc.port);
    cr_assert_eq(gregor_config_set(cfg, "bootstrap", bs, err, sizeof err), GREGOR_OK);
    cr_assert_eq(gregor_config_set(cfg, "request_timeout_ms", "3000", err, sizeof err), GREGOR_OK);
    gregor_client *c;
    cr_assert_eq(gregor_client_new(cfg, &c, err, sizeof err), GREGOR_OK, "%s", err);
    gregor_config_destroy(cfg);
    /* The topic ids come with the metadata snapshot. */
    const gregor_metadata *md;
    cr_assert_eq(gregor_client_metadata(c, NULL, 0, 5000, &md, err, sizeof err), GREGOR_OK, "%s", err);
    gregor_metadata_destroy(md);
    return c;
}

static void stop(gregor_client *c)
{
    gregor_client_destroy(c);
    mock_broker_stop(mb);
}

Test(groups_mock, classic_group_retried_while_loading_undecodable_member_reported, .timeout = 30)
{
    gregor_client *c = start();
    atomic_store(&sc.load_in_progress, 2);
    grp_desc d;
    char err[512] = "";
    cr_assert_eq(groups_describe(c, "classic", 10000, &d, err, sizeof err), GREGOR_OK, "%s", err);
    cr_assert_eq(atomic_load(&sc.describes), 3, "loading twice, then the answer");
    cr_assert_eq(atomic_load(&sc.cg_describes), 0);
    cr_assert_str_eq(d.state, "Stable");
    cr_assert_str_eq(d.protocol_type, "consumer");
    cr_assert_str_eq(d.protocol, "range");
    cr_assert_not(d.kip848);
    cr_assert_eq(d.coordinator, 1);
    cr_assert_eq(d.n_members, 2);
    cr_assert_str_eq(d.members[0].member_id, "m-good");
    cr_assert_str_eq(d.members[0].instance_id, "static-1");
    cr_assert_str_eq(d.members[0].host, "/127.0.0.1");
    assert_owned(&d.members[0]);
    cr_assert_str_eq(d.members[1].member_id, "m-bad");
    cr_assert_null(d.members[1].instance_id);
    cr_assert_not_null(d.members[1].assignment_error);
    cr_assert_eq(d.members[1].n_owned, 0);
    cr_assert(atomic_load(&sc.offset_fetch_null_topics), "OffsetFetch must ask for every partition");
    cr_assert_eq(d.n_offsets, 1);
    cr_assert_str_eq(d.offsets[0].topic, "t");
    cr_assert_eq(d.offsets[0].committed, 42);
    groups_desc_fini(&d);
    stop(c);
}

Test(groups_mock, kip848_group_through_consumer_group_describe_topic_named_by_id, .timeout = 30)
{
    gregor_client *c = start();
    grp_desc d;
    char err[512] = "";
    cr_assert_eq(groups_describe(c, "kip848", 10000, &d, err, sizeof err), GREGOR_OK, "%s", err);
    cr_assert_eq(atomic_load(&sc.describes), 1);
    cr_assert_eq(atomic_load(&sc.cg_describes), 1);
    cr_assert(d.kip848);
    cr_assert_str_eq(d.state, "Stable");
    cr_assert_str_eq(d.protocol, "uniform");
    cr_assert_eq(d.n_members, 1);
    cr_assert_str_eq(d.members[0].member_id, "m848");
    cr_assert_eq(d.members[0].n_owned, 1);
    cr_assert_str_eq(d.members[0].owned[0].topic, "t");
    cr_assert_eq(d.members[0].owned[0].partition, 0);
    cr_assert_eq(d.n_offsets, 1);
    groups_desc_fini(&d);
    stop(c);
}

Test(groups_mock, unknown_group_not_found_naming_the_broker, .timeout = 30)
{
    gregor_client *c = start();
    grp_desc d;
    char err[512] = "";
    cr_assert_eq(groups_describe(c, "nosuch", 10000, &d, err, sizeof err), PROTO_ERR_GROUP_ID_NOT_FOUND, "%s", err);
    cr_assert(strstr(err, "group 'nosuch'") && strstr(err, "broker 1") && strstr(err, "not found"), "%s", err);
    cr_assert_eq(atomic_load(&sc.cg_describes), 1, "API 69 asked too");
    cr_assert_eq(atomic_load(&sc.offset_fetches), 0);
    stop(c);
}
