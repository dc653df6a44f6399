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

typedef struct lo_req {
    gregor_consumer *c;
    int32_t node;
    offset_item *items;
    size_t n;
} lo_req;

static gregor_err encode_list_offsets(buf_writer *w, int16_t version, void *opaque)
{
    const lo_req *r = opaque;
    proto_list_offsets_request m;
    proto_list_offsets_request_init(&m);
    m.isolation_level = r->c->read_committed ? 1 : 0;
    m.timeout_ms = r->c->request_timeout_ms;
    proto_list_offsets_request_list_offsets_topic *topics = calloc(r->n, sizeof *topics);
    proto_list_offsets_request_list_offsets_partition *parts = calloc(r->n, sizeof *parts);
    gregor_err err = GREGOR_ERR_NOMEM;
    if (!topics || !parts)
        goto out_free;
    int32_t nt = 0;
    for (size_t i = 0; i < r->n; i++) { /* items come sorted by topic */
        const cpart *p = r->items[i].p;
        if (i == 0 || strcmp(p->topic, r->items[i - 1].p->topic) != 0) {
            proto_list_offsets_request_list_offsets_topic_init(&topics[nt]);
            topics[nt].name = buf_slice_of(p->topic, strlen(p->topic));
            topics[nt].partitions = &parts[i];
            nt++;
        }
        proto_list_offsets_request_list_offsets_partition_init(&parts[i]);
        parts[i].partition_index = p->partition;
        parts[i].timestamp = r->items[i].timestamp;
        parts[i].max_num_offsets = 1;
        topics[nt - 1].partitions_count++;
    }
    m.topics = topics;
    m.topics_count = nt;
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
            consumer_fail_part_locked(c, p, err, "topic '%s' partition %d: ListOffsets failed: %s", p->topic,
                                      (int)p->partition, gregor_err_name(err));
        }
        return;
    }
    if (version == 0 && it->timestamp >= 0) {
        consumer_fail_part_locked(c, p, GREGOR_ERR_UNSUPPORTED,
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
    p->state = CPART_READY;
}

static void handle(lo_req *r, net_response *resp)
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
                for (size_t k = 0; k < r->n; k++)
                    if (r->items[k].p->partition == pr->partition_index &&
                        buf_slice_eq_str(m.topics[t].name, r->items[k].p->topic))
                        apply_locked(c, &r->items[k], resp->version, pr);
            }
    }
    pthread_mutex_unlock(&c->lock);
    arena_fini(&a);
}

static void list_offsets_done(gregor_err err, net_response *resp, void *opaque)
{
    lo_req *r = opaque;
    gregor_consumer *c = r->c;
    if (err == GREGOR_OK)
        handle(r, resp);
    else if (err != GREGOR_ERR_DESTROYED)
        cluster_request_refresh(c->client->cluster);
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < r->n; i++) {
        cpart *p = r->items[i].p;
        p->in_flight = false;
        /* Unanswered, failed or moved to "latest": again after the backoff. */
        if (err != GREGOR_ERR_DESTROYED && p->gen == r->items[i].gen && p->state == CPART_NEED_OFFSET &&
            p->retry_at_ms <= net_now_ms())
            consumer_backoff_locked(c, p);
    }
    consumer_kick_locked(c);
    pthread_mutex_unlock(&c->lock);
    free(r->items);
    free(r);
}

void list_offsets_send(gregor_consumer *c, int32_t leader, offset_item *items, size_t n)
{
    lo_req *r = malloc(sizeof *r);
    net_conn *conn = cluster_conn(c->client->cluster, leader);
    if (r && conn) {
        *r = (lo_req){c, leader, items, n};
        net_request req = {
            .api_key = PROTO_API_LIST_OFFSETS,
            .min_version = 0,
            .max_version = proto_api_get(PROTO_API_LIST_OFFSETS)->max_version,
            .encode = encode_list_offsets,
            .done = list_offsets_done,
            .opaque = r,
        };
        if (net_conn_send(conn, &req) == GREGOR_OK)
            return;
    }
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < n; i++) {
        items[i].p->in_flight = false;
        consumer_backoff_locked(c, items[i].p);
    }
    pthread_mutex_unlock(&c->lock);
    free(r);
    free(items);
}
