/* consumer/list_offsets.c — resolving start positions (earliest, latest, a
 * timestamp) with ListOffsets to the partition leader, on the loop thread.
 *
 * v0 (0.8.2) answers with a list of segment offsets: with max_num_offsets 1
 * it is the log start for -2 and the log end for -1, but a real timestamp
 * means "segments older than", not "first message at or after", so
 * timestamps need v1+ and fail the partition on older brokers. Under
 * read_committed (v2+) "latest" is the last stable offset. A timestamp
 * after the last message answers -1: the partition then starts at the end,
 * as Java's offsetsForTimes + seekToEnd would.
 *
 * Threading: loop thread only, taking the consumer's lock around state.
 */
#include <stdlib.h>
#include <string.h>

#include "consumer/consumer_int.h"
#include "protocol/gen/api.h"
#include "protocol/gen/list_offsets.h"
#include "util/log.h"

static gregor_err encode_list_offsets(buf_writer *w, int16_t version, void *opaque)
{
    const part_req *r = opaque;
    proto_list_offsets_request m;
    proto_list_offsets_request_init(&m);
    m.isolation_level = r->c->read_committed ? 1 : 0;
    m.timeout_ms = r->c->request_timeout_ms;
    const proto_tp_groups *g = &r->tps;
    proto_list_offsets_request_list_offsets_topic *topics = calloc(g->n_topics + 1, sizeof *topics);
    proto_list_offsets_request_list_offsets_partition *parts = calloc(r->n + 1, sizeof *parts);
    gregor_err err = GREGOR_ERR_NOMEM;
    if (!topics || !parts)
        goto out_free;
    size_t k = 0;
    for (size_t t = 0; t < g->n_topics; t++) {
        const char *name = r->items[proto_tp_groups_first(g, t)].p->topic;
        proto_list_offsets_request_list_offsets_topic_init(&topics[t]);
        topics[t].name = buf_slice_of(name, strlen(name));
        topics[t].partitions = &parts[k];
        topics[t].partitions_count = (int32_t)proto_tp_groups_count(g, t);
        for (size_t j = g->topic_start[t]; j < g->topic_start[t + 1]; j++) {
            const offset_item *it = &r->items[g->order[j]];
            proto_list_offsets_request_list_offsets_partition_init(&parts[k]);
            parts[k].partition_index = it->p->partition;
            parts[k].timestamp = it->timestamp;
            parts[k].max_num_offsets = 1;
            parts[k].current_leader_epoch = it->leader_epoch; /* v4+ */
            k++;
        }
    }
    m.topics = topics;
    m.topics_count = (int32_t)g->n_topics;
    err = proto_list_offsets_request_encode(w, version, &m);
out_free:
    free(topics);
    free(parts);
    return err;
}

/* Applies one partition's answer (lock held). */
static void apply_locked(gregor_consumer *c, offset_item *it, int16_t version,
                         const proto_list_offsets_response_list_offsets_partition_response *pr)
{
    cpart *p = it->p;
    if (p->gen != it->gen || !p->assigned || p->state != CPART_NEED_OFFSET)
        return;
    gregor_err err = gregor_err_from_broker(pr->error_code);
    if (err != GREGOR_OK) {
        if (gregor_err_invalidates_metadata(err) || gregor_err_is_retriable(err)) {
            consumer_backoff_locked(c, p);
            cluster_request_refresh(c->client->cluster);
        } else {
            consumer_fail_part_locked(c, p, err, -1, "topic '%s' partition %d: ListOffsets failed: %s", p->topic,
                                      (int)p->partition, gregor_err_name(err));
        }
        return;
    }
    if (version == 0 && it->timestamp >= 0) {
        consumer_fail_part_locked(c, p, GREGOR_ERR_UNSUPPORTED, -1,
                                  "topic '%s' partition %d: starting at a timestamp needs ListOffsets v1 "
                                  "(brokers 0.10.1 and later)",
                                  p->topic, (int)p->partition);
        return;
    }
    int64_t off = version == 0 ? (pr->old_style_offsets_count > 0 ? pr->old_style_offsets[0] : -1) : pr->offset;
    if (off < 0 && it->timestamp >= 0) {
        p->reset_ts = GREGOR_OFFSET_END; /* nothing at or after the timestamp */
        return;
    }
    if (off < 0) {
        consumer_backoff_locked(c, p);
        return;
    }
    p->fetch_offset = p->position = off;
    /* v4+: the epoch of the record before `off`, for validating later. */
    p->fetch_epoch = p->position_epoch = version >= 4 ? pr->leader_epoch : -1;
    p->state = CPART_READY;
}

static void handle(part_req *r, net_response *resp)
{
    gregor_consumer *c = r->c;
    arena a;
    arena_init(&a, ARENA_DEFAULT_LIMIT);
    proto_list_offsets_response m;
    gregor_err err = proto_list_offsets_response_decode(&resp->body, resp->version, &m, &a);
    pthread_mutex_lock(&c->lock);
    if (err != GREGOR_OK) {
        gregor_log(GREGOR_LOG_WARN, "consumer: malformed ListOffsets v%d response from broker %d", resp->version,
                   r->node);
    } else {
        for (int32_t t = 0; t < m.topics_count; t++)
            for (int32_t i = 0; i < m.topics[t].partitions_count; i++) {
                const proto_list_offsets_response_list_offsets_partition_response *pr = &m.topics[t].partitions[i];
                size_t k = proto_tp_groups_find(&r->tps, m.topics[t].name, pr->partition_index);
                if (k != SIZE_MAX)
                    apply_locked(c, &r->items[k], resp->version, pr);
            }
    }
    pthread_mutex_unlock(&c->lock);
    arena_fini(&a);
}

static void list_offsets_done(gregor_err err, net_response *resp, void *opaque)
{
    part_req *r = opaque;
    if (err == GREGOR_OK)
        handle(r, resp);
    /* Unanswered, failed or moved to "latest": again after the backoff. */
    part_req_finish(r, err, CPART_NEED_OFFSET, NULL);
}

void list_offsets_send(gregor_consumer *c, int32_t leader, offset_item *items, size_t n)
{
    net_request req = {
        .api_key = PROTO_API_LIST_OFFSETS,
        .min_version = 0,
        .max_version = proto_api_get(PROTO_API_LIST_OFFSETS)->max_version,
        .encode = encode_list_offsets,
        .done = list_offsets_done,
    };
    part_req_send(c, leader, items, n, req);
}
