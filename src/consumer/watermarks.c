/* consumer/watermarks.c — gregor_consumer_watermarks(): a partition's log
 * start and end asked of its leader with two blocking ListOffsets requests
 * (one request may not name a partition twice). For tools (`gregor
 * offsets`, `gregor consume -e`) and for applications computing lag of
 * partitions they do not read.
 *
 * Threading: the application thread (blocking calls through the loop).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "consumer/consumer_int.h"
#include "protocol/gen/api.h"
#include "protocol/gen/list_offsets.h"

typedef struct wm_req {
    const char *topic;
    int32_t partition;
    int64_t timestamp;
    bool read_committed;
} wm_req;

static gregor_err encode_wm(buf_writer *w, int16_t version, void *opaque)
{
    const wm_req *r = opaque;
    proto_list_offsets_request m;
    proto_list_offsets_request_init(&m);
    proto_list_offsets_request_list_offsets_topic t;
    proto_list_offsets_request_list_offsets_topic_init(&t);
    proto_list_offsets_request_list_offsets_partition p;
    proto_list_offsets_request_list_offsets_partition_init(&p);
    p.partition_index = r->partition;
    p.timestamp = r->timestamp;
    p.max_num_offsets = 1;
    t.name = buf_slice_of(r->topic, strlen(r->topic));
    t.partitions = &p;
    t.partitions_count = 1;
    m.isolation_level = r->read_committed ? 1 : 0;
    m.topics = &t;
    m.topics_count = 1;
    return proto_list_offsets_request_encode(w, version, &m);
}

static int32_t leader_of(gregor_consumer *c, const char *topic, int32_t partition)
{
    cluster_snapshot *s = cluster_snapshot_get(c->client->cluster);
    const cluster_topic *t = s ? cluster_snapshot_topic(s, topic) : NULL;
    const cluster_partition *p = t ? cluster_topic_partition(t, partition) : NULL;
    int32_t leader = p ? p->leader : -1;
    cluster_snapshot_unref(s);
    return leader;
}

static gregor_err list_one(gregor_consumer *c, int32_t leader, wm_req *r, int64_t *out, char *errstr, size_t n)
{
    net_request req = {
        .api_key = PROTO_API_LIST_OFFSETS,
        .min_version = 0,
        .max_version = proto_api_get(PROTO_API_LIST_OFFSETS)->max_version,
        .encode = encode_wm,
        .opaque = r,
    };
    cluster_reply reply;
    gregor_err err = client_call_any(c->client, leader, &req, c->request_timeout_ms, &reply, errstr, n);
    if (err != GREGOR_OK)
        return err;
    arena a;
    arena_init(&a, ARENA_DEFAULT_LIMIT);
    proto_list_offsets_response m;
    err = proto_list_offsets_response_decode(&reply.body, reply.version, &m, &a);
    if (err == GREGOR_OK && (m.topics_count != 1 || m.topics[0].partitions_count != 1))
        err = GREGOR_ERR_MALFORMED;
    if (err == GREGOR_OK) {
        const proto_list_offsets_response_list_offsets_partition_response *p = &m.topics[0].partitions[0];
        err = gregor_err_from_broker(p->error_code);
        if (reply.version == 0)
            *out = p->old_style_offsets_count > 0 ? p->old_style_offsets[0] : -1;
        else
            *out = p->offset;
    }
    if (err != GREGOR_OK && errstr && n)
        snprintf(errstr, n, "ListOffsets for topic '%s' partition %d from broker %d: %s", r->topic,
                 (int)r->partition, (int)leader, gregor_err_name(err));
    arena_fini(&a);
    free(reply.frame);
    return err;
}

gregor_err gregor_consumer_watermarks(gregor_consumer *c, const char *topic, int32_t partition, int64_t *low,
                                      int64_t *high, char *errstr, size_t n)
{
    gregor_err err = consumer_wait_partition(c, topic, partition, errstr, n);
    if (err != GREGOR_OK)
        return err;
    int64_t deadline = net_now_ms() + c->request_timeout_ms;
    for (;;) {
        int32_t leader = leader_of(c, topic, partition);
        wm_req lo = {topic, partition, -2, c->read_committed}, hi = {topic, partition, -1, c->read_committed};
        if (leader >= 0 && (err = list_one(c, leader, &lo, low, errstr, n)) == GREGOR_OK &&
            (err = list_one(c, leader, &hi, high, errstr, n)) == GREGOR_OK)
            return GREGOR_OK;
        if (leader >= 0 && !gregor_err_invalidates_metadata(err) && !gregor_err_is_retriable(err))
            return err;
        if (net_now_ms() >= deadline) {
            if (leader < 0 && errstr && n)
                snprintf(errstr, n, "topic '%s' partition %d has no leader", topic, (int)partition);
            return leader < 0 ? GREGOR_ERR_TIMED_OUT : err;
        }
        /* Leader unknown or moved: a fresh snapshot, then again. */
        cluster_snapshot *s = cluster_snapshot_get(c->client->cluster);
        uint64_t gen = s ? s->generation : 0;
        cluster_snapshot_unref(s);
        cluster_request_refresh(c->client->cluster);
        s = NULL;
        if (cluster_wait_snapshot(c->client->cluster, gen, 1000, &s, NULL, 0) == GREGOR_OK)
            cluster_snapshot_unref(s);
    }
}
