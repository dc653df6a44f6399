/* consumer/validate.c — KIP-320 log truncation detection: asks a
 * partition's leader with OffsetForLeaderEpoch where the log of the epoch
 * we last fetched from ends, on the loop thread.
 *
 * A partition is validated (state CPART_VALIDATE) when its leader's epoch
 * in the metadata grows (a new leader, possibly elected uncleanly, may not
 * have the records we read from the old one) and when a Fetch answers
 * OFFSET_OUT_OF_RANGE. The answer, the end offset of our epoch on the
 * leader:
 *   - below the fetch offset: the log was truncated under us. With an
 *     auto_offset_reset policy the partition resumes at that end offset
 *     (the first offset that diverges, as the Java client does) with a
 *     warning; with auto_offset_reset=error it fails with
 *     OFFSET_OUT_OF_RANGE naming the truncation.
 *   - otherwise nothing was lost: fetching goes on, or after an
 *     out-of-range answer the auto_offset_reset policy applies as before.
 * Brokers without OffsetForLeaderEpoch v2 (current_leader_epoch; Kafka
 * before 2.1) cannot be asked: the partition goes on as if nothing was
 * lost, as before KIP-320.
 *
 * Threading: loop thread only, taking the consumer's lock around state.
 */
#include <stdlib.h>
#include <string.h>

#include "consumer/consumer_int.h"
#include "protocol/gen/api.h"
#include "protocol/gen/errors.h"
#include "protocol/gen/offset_for_leader_epoch.h"
#include "util/log.h"

static gregor_err encode_validate(buf_writer *w, int16_t version, void *opaque)
{
    const part_req *r = opaque;
    const proto_tp_groups *g = &r->tps;
    proto_offset_for_leader_epoch_request m;
    proto_offset_for_leader_epoch_request_init(&m);
    m.replica_id = -1; /* a consumer */
    proto_offset_for_leader_epoch_request_offset_for_leader_topic *topics = calloc(g->n_topics + 1, sizeof *topics);
    proto_offset_for_leader_epoch_request_offset_for_leader_partition *parts = calloc(r->n + 1, sizeof *parts);
    gregor_err err = GREGOR_ERR_NOMEM;
    if (!topics || !parts)
        goto out_free;
    size_t k = 0;
    for (size_t t = 0; t < g->n_topics; t++) {
        const char *name = r->items[proto_tp_groups_first(g, t)].p->topic;
        proto_offset_for_leader_epoch_request_offset_for_leader_topic_init(&topics[t]);
        topics[t].topic = buf_slice_of(name, strlen(name));
        topics[t].partitions = &parts[k];
        topics[t].partitions_count = (int32_t)proto_tp_groups_count(g, t);
        for (size_t j = g->topic_start[t]; j < g->topic_start[t + 1]; j++) {
            const offset_item *it = &r->items[g->order[j]];
            proto_offset_for_leader_epoch_request_offset_for_leader_partition_init(&parts[k]);
            parts[k].partition = it->p->partition;
            parts[k].current_leader_epoch = it->leader_epoch;
            parts[k].leader_epoch = it->last_epoch;
            k++;
        }
    }
    m.topics = topics;
    m.topics_count = (int32_t)g->n_topics;
    err = proto_offset_for_leader_epoch_request_encode(w, version, &m);
out_free:
    free(topics);
    free(parts);
    return err;
}

/* Validation is over without a truncation (lock held). */
static void no_truncation_locked(gregor_consumer *c, cpart *p, int64_t offset)
{
    if (!p->validate_oor) {
        p->state = CPART_READY;
        return;
    }
    consumer_out_of_range_locked(c, p, offset);
}

/* Applies one partition's answer (lock held). */
static void apply_locked(gregor_consumer *c, const offset_item *it,
                         const proto_offset_for_leader_epoch_response_epoch_end_offset *er)
{
    cpart *p = it->p;
    int64_t offset = it->timestamp;
    if (p->gen != it->gen || !p->assigned || p->state != CPART_VALIDATE)
        return;
    gregor_err err = gregor_err_from_broker(er->error_code);
    if (err != GREGOR_OK) {
        if (gregor_err_invalidates_metadata(err) || gregor_err_is_retriable(err)) {
            consumer_backoff_locked(c, p);
            cluster_request_refresh(c->client->cluster);
        } else {
            consumer_fail_part_locked(c, p, err, offset,
                                      "topic '%s' partition %d: OffsetForLeaderEpoch for epoch %d failed: %s",
                                      p->topic, (int)p->partition, (int)it->last_epoch, gregor_err_name(err));
        }
        return;
    }
    /* -1: the leader knows no such epoch or older: nothing to compare. */
    if (er->end_offset < 0 || er->end_offset >= offset) {
        gregor_log(GREGOR_LOG_DEBUG, "consumer: topic '%s' partition %d: offset %lld of epoch %d validated (the "
                   "leader's log of that epoch ends at %lld)", p->topic, (int)p->partition, (long long)offset,
                   (int)it->last_epoch, (long long)er->end_offset);
        no_truncation_locked(c, p, offset);
        return;
    }
    if (c->reset_policy == 0) {
        consumer_fail_part_locked(c, p, PROTO_ERR_OFFSET_OUT_OF_RANGE, offset,
                                  "topic '%s' partition %d: log truncation detected at offset %lld: the leader's "
                                  "log of epoch %d ends at %lld (auto_offset_reset=error)",
                                  p->topic, (int)p->partition, (long long)offset, (int)it->last_epoch,
                                  (long long)er->end_offset);
        return;
    }
    gregor_log(GREGOR_LOG_WARN,
               "consumer: topic '%s' partition %d: log truncation detected at offset %lld: the leader's log of "
               "epoch %d ends at %lld; resuming there",
               p->topic, (int)p->partition, (long long)offset, (int)it->last_epoch, (long long)er->end_offset);
    consumer_start_at_locked(c, p, er->end_offset, 0, er->leader_epoch);
}

static void handle(part_req *r, net_response *resp)
{
    gregor_consumer *c = r->c;
    arena a;
    arena_init(&a, ARENA_DEFAULT_LIMIT);
    proto_offset_for_leader_epoch_response m;
    gregor_err err = proto_offset_for_leader_epoch_response_decode(&resp->body, resp->version, &m, &a);
    pthread_mutex_lock(&c->lock);
    if (err != GREGOR_OK) {
        gregor_log(GREGOR_LOG_WARN, "consumer: malformed OffsetForLeaderEpoch v%d response from broker %d",
                   resp->version, r->node);
    } else {
        for (int32_t t = 0; t < m.topics_count; t++)
            for (int32_t i = 0; i < m.topics[t].partitions_count; i++) {
                const proto_offset_for_leader_epoch_response_epoch_end_offset *er = &m.topics[t].partitions[i];
                size_t k = proto_tp_groups_find(&r->tps, m.topics[t].topic, er->partition);
                if (k != SIZE_MAX)
                    apply_locked(c, &r->items[k], er);
            }
    }
    pthread_mutex_unlock(&c->lock);
    arena_fini(&a);
}

/* A broker before 2.1 cannot tell (lock held). */
static void unsupported_locked(gregor_consumer *c, cpart *p, const offset_item *it)
{
    no_truncation_locked(c, p, it->timestamp);
}

static void validate_done(gregor_err err, net_response *resp, void *opaque)
{
    part_req *r = opaque;
    if (err == GREGOR_OK)
        handle(r, resp);
    part_req_finish(r, err, CPART_VALIDATE, unsupported_locked);
}

void validate_send(gregor_consumer *c, int32_t leader, offset_item *items, size_t n)
{
    net_request req = {
        .api_key = PROTO_API_OFFSET_FOR_LEADER_EPOCH,
        .min_version = 2, /* current_leader_epoch: the broker fences a stale view */
        .max_version = proto_api_get(PROTO_API_OFFSET_FOR_LEADER_EPOCH)->max_version,
        .encode = encode_validate,
        .done = validate_done,
    };
    part_req_send(c, leader, items, n, req);
}
