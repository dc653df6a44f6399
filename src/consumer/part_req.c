/* consumer/part_req.c — what the per-partition requests to a leader share
 * (ListOffsets in list_offsets.c, OffsetForLeaderEpoch in validate.c, and
 * the grouping of Fetch in fetcher.c): the items grouped by topic for the
 * request and the lookup of the answer, sending with a fallback that backs
 * the partitions off, and the bookkeeping once the answer was applied.
 *
 * Threading: loop thread only, taking the consumer's lock around state.
 */
#include <assert.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "consumer/consumer_int.h"
#include "util/log.h"

static_assert(offsetof(offset_item, p) == 0, "consumer_group_parts reads the cpart * first");

gregor_err consumer_group_parts(proto_tp_groups *g, const void *items, size_t n, size_t stride)
{
    proto_tp *tps = malloc((n ? n : 1) * sizeof *tps);
    if (!tps) {
        memset(g, 0, sizeof *g);
        return GREGOR_ERR_NOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        const cpart *p = *(cpart *const *)(const void *)((const char *)items + i * stride);
        tps[i] = (proto_tp){p->topic, p->partition};
    }
    gregor_err err = proto_tp_groups_init(g, tps, n);
    free(tps);
    return err;
}

static void part_req_free(part_req *r)
{
    proto_tp_groups_fini(&r->tps);
    free(r->items);
    free(r);
}

void part_req_send(gregor_consumer *c, int32_t leader, offset_item *items, size_t n, net_request req)
{
    part_req *r = calloc(1, sizeof *r);
    net_conn *conn = cluster_conn(c->client->cluster, leader);
    if (r) {
        *r = (part_req){.c = c, .node = leader, .items = items, .n = n};
        items = NULL; /* r owns them now */
    }
    if (r && conn && consumer_group_parts(&r->tps, r->items, n, sizeof *r->items) == GREGOR_OK) {
        req.opaque = r;
        if (client_gate_send(&c->gate, conn, &req) == GREGOR_OK)
            return;
    }
    offset_item *its = r ? r->items : items;
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < n; i++) {
        its[i].p->in_flight = false;
        consumer_backoff_locked(c, its[i].p);
    }
    pthread_mutex_unlock(&c->lock);
    if (r)
        part_req_free(r);
    else
        free(items);
}

void part_req_finish(part_req *r, gregor_err err, cpart_state waiting, void (*unsupported)(gregor_consumer *c, cpart *p,
                                                                                            const offset_item *it))
{
    gregor_consumer *c = r->c;
    if (err != GREGOR_OK && err != GREGOR_ERR_DESTROYED && !(err == GREGOR_ERR_UNSUPPORTED && unsupported))
        cluster_request_refresh(c->client->cluster);
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < r->n; i++) {
        const offset_item *it = &r->items[i];
        cpart *p = it->p;
        p->in_flight = false;
        if (err == GREGOR_ERR_DESTROYED || p->gen != it->gen || p->state != waiting)
            continue;
        if (err == GREGOR_ERR_UNSUPPORTED && unsupported)
            unsupported(c, p, it);
        else if (p->retry_at_ms <= net_now_ms()) /* unanswered or failed: again after the backoff */
            consumer_backoff_locked(c, p);
    }
    consumer_kick_locked(c);
    pthread_mutex_unlock(&c->lock);
    part_req_free(r);
}
