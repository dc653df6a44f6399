/* consumer/fetcher.c — the loop-thread side of the consumer: deciding what
 * to fetch, sending one long-poll Fetch per leader, and turning responses
 * into queued batches or partition state changes.
 *
 * A kick (posted by the application side, or run after every response and
 * by the retry timer) walks the partitions under the lock and takes those
 * that can go now: READY, not paused, nothing in flight, not backing off,
 * while the fetched data held in memory (queued, or handed out and not yet
 * destroyed: fetch_mem.c) is below prefetch_bytes; NEED_OFFSET ones go to
 * ListOffsets (list_offsets.c). Partitions are grouped per leader from the
 * current metadata snapshot; a leader that already has a Fetch in flight
 * gets none (the broker serves a connection's requests in order, so a
 * second Fetch would only wait behind the first's long poll).
 *
 * Errors: a lost connection or timed-out Fetch backs its partitions off and
 * refreshes metadata; they are fetched again from the same offset from
 * whoever leads then, so nothing is skipped or delivered twice.
 * OFFSET_OUT_OF_RANGE first checks for log truncation (validate.c) when
 * the epoch of the fetch offset is known, then applies auto_offset_reset;
 * metadata errors refresh and back off; anything else fails the partition
 * for poll() to report. A leader epoch that grows in the metadata sends the
 * partition to validation too before it is fetched again (KIP-320).
 *
 * Fetch versions: up to v12, the last that names topics (v13+ use topic
 * ids); every broker gregor supports speaks a version in 0..12.
 *
 * Threading: loop thread only, taking the consumer's lock around state.
 */
#include <assert.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "consumer/consumer_int.h"
#include "protocol/gen/api.h"
#include "protocol/gen/errors.h"
#include "util/log.h"

#define FETCH_MAX_VERSION 12

typedef struct fetch_item {
    cpart *p;
    uint64_t gen;
    int64_t offset;
    int32_t max_bytes;
    int32_t leader_epoch; /* the leader's epoch in the metadata (current_leader_epoch), -1: unknown */
    bool answered;
} fetch_item;

typedef struct fetch_req {
    gregor_consumer *c;
    int32_t node;
    proto_tp_groups tps; /* items grouped by topic, and the response lookup */
    size_t n;
    fetch_item items[];
} fetch_req;

/* A request for `n` items (filled by the caller before fetch_req_group). */
static fetch_req *fetch_req_new(gregor_consumer *c, int32_t node, size_t n)
{
    fetch_req *r = calloc(1, sizeof *r + n * sizeof r->items[0]);
    if (r) {
        r->c = c;
        r->node = node;
        r->n = n;
    }
    return r;
}

static_assert(offsetof(fetch_item, p) == 0, "consumer_group_parts reads the cpart * first");

static gregor_err fetch_req_group(fetch_req *r)
{
    return consumer_group_parts(&r->tps, r->items, r->n, sizeof r->items[0]);
}

static void fetch_req_free(fetch_req *r)
{
    proto_tp_groups_fini(&r->tps);
    free(r);
}

/* --------------------------------------------------------- busy nodes */

static bool node_busy(const gregor_consumer *c, int32_t node)
{
    for (size_t i = 0; i < c->n_busy; i++)
        if (c->busy_nodes[i] == node)
            return true;
    return false;
}

static bool node_set_busy(gregor_consumer *c, int32_t node)
{
    if (c->n_busy == c->cap_busy) {
        size_t cap = c->cap_busy ? c->cap_busy * 2 : 8;
        int32_t *p = realloc(c->busy_nodes, cap * sizeof *p);
        if (!p)
            return false;
        c->busy_nodes = p;
        c->cap_busy = cap;
    }
    c->busy_nodes[c->n_busy++] = node;
    return true;
}

static void node_clear_busy(gregor_consumer *c, int32_t node)
{
    for (size_t i = 0; i < c->n_busy; i++)
        if (c->busy_nodes[i] == node) {
            c->busy_nodes[i] = c->busy_nodes[--c->n_busy];
            return;
        }
}

/* ------------------------------------------------------------ request */

static gregor_err encode_fetch(buf_writer *w, int16_t version, void *opaque)
{
    const fetch_req *r = opaque;
    const gregor_consumer *c = r->c;
    proto_fetch_request m;
    proto_fetch_request_init(&m);
    m.max_wait_ms = c->fetch_max_wait_ms;
    m.min_bytes = c->fetch_min_bytes;
    m.max_bytes = c->fetch_max_bytes;
    m.isolation_level = c->read_committed ? 1 : 0;
    m.session_epoch = -1; /* no fetch session: every request is complete */
    const proto_tp_groups *g = &r->tps;
    proto_fetch_request_fetch_topic *topics = calloc(g->n_topics + 1, sizeof *topics);
    proto_fetch_request_fetch_partition *parts = calloc(r->n + 1, sizeof *parts);
    gregor_err err = GREGOR_ERR_NOMEM;
    if (!topics || !parts)
        goto out_free;
    size_t k = 0;
    for (size_t t = 0; t < g->n_topics; t++) {
        const char *name = r->items[proto_tp_groups_first(g, t)].p->topic;
        proto_fetch_request_fetch_topic_init(&topics[t]);
        topics[t].topic = buf_slice_of(name, strlen(name));
        topics[t].partitions = &parts[k];
        topics[t].partitions_count = (int32_t)proto_tp_groups_count(g, t);
        for (size_t j = g->topic_start[t]; j < g->topic_start[t + 1]; j++) {
            const fetch_item *it = &r->items[g->order[j]];
            proto_fetch_request_fetch_partition_init(&parts[k]);
            parts[k].partition = it->p->partition;
            parts[k].fetch_offset = it->offset;
            parts[k].partition_max_bytes = it->max_bytes;
            parts[k].current_leader_epoch = it->leader_epoch; /* v9+: the broker fences a stale view */
            k++;
        }
    }
    m.topics = topics;
    m.topics_count = (int32_t)g->n_topics;
    err = proto_fetch_request_encode(w, version, &m);
out_free:
    free(topics);
    free(parts);
    return err;
}

static fetch_item *find_item(fetch_req *r, buf_slice topic, int32_t partition)
{
    size_t i = proto_tp_groups_find(&r->tps, topic, partition);
    return i == SIZE_MAX ? NULL : &r->items[i];
}

/* ------------------------------------------------------------ response */

/* Applies a retriable failure to an item (lock held). */
static void retry_later_locked(gregor_consumer *c, fetch_item *it)
{
    if (it->p->gen == it->gen)
        consumer_backoff_locked(c, it->p);
}

/* Nothing whole came back although the log has more (lock held). Before
 * Fetch v3 a broker cuts at partition_max_bytes even inside an entry, and
 * one down-converting for an old Fetch returns nothing at all when the
 * first batch is larger: ask for the partial entry's size, or twice as
 * much, up to fetch_max_bytes; past that, back off rather than spin. */
static void grow_fetch_size_locked(gregor_consumer *c, cpart *p, const fetch_item *it, size_t partial,
                                   int64_t readable_end)
{
    if (readable_end <= it->offset && partial == 0)
        return; /* nothing readable yet (log end, or last stable offset under read_committed) */
    size_t cap = (size_t)(c->fetch_max_bytes > c->part_max_bytes ? c->fetch_max_bytes : c->part_max_bytes);
    size_t want = partial > (size_t)it->max_bytes ? partial : (size_t)it->max_bytes * 2;
    if (want > cap)
        want = cap;
    if (want > (size_t)it->max_bytes) {
        gregor_log(GREGOR_LOG_DEBUG, "consumer: topic '%s' partition %d: no whole entry at %lld within %d bytes, "
                   "fetching %zu", p->topic, (int)p->partition, (long long)it->offset, it->max_bytes, want);
        p->fetch_size_min = want;
        return;
    }
    gregor_log(GREGOR_LOG_WARN, "consumer: topic '%s' partition %d: the entry at %lld does not fit in "
               "fetch_max_bytes (%zu)", p->topic, (int)p->partition, (long long)it->offset, cap);
    consumer_backoff_locked(c, p);
}

static void handle_records(gregor_consumer *c, fetch_item *it, const proto_fetch_response_partition_data *pd,
                           int16_t version, fetch_buf *fb)
{
    cpart *p = it->p;
    chunk_input in = {
        .topic = p->topic,
        .partition = p->partition,
        .fetch_offset = it->offset,
        .records = pd->records.len > 0 ? pd->records.ptr : NULL,
        .records_len = pd->records.len > 0 ? (size_t)pd->records.len : 0,
        .read_committed = c->read_committed,
        .check_crcs = c->check_crcs,
        .aborted = pd->aborted_transactions,
        .n_aborted = pd->aborted_transactions_count,
    };
    gregor_batch *b = NULL;
    int64_t next = it->offset, err_offset = it->offset;
    size_t partial = 0;
    const char *what = NULL;
    gregor_err err = chunk_build(&in, fb, &b, &next, &partial, &what, &err_offset);
    pthread_mutex_lock(&c->lock);
    if (p->gen != it->gen || !p->assigned || c->closing) {
        gregor_batch_destroy(b);
    } else if (err != GREGOR_OK) {
        consumer_fail_part_locked(c, p, err, err_offset, "topic '%s' partition %d: %s at offset %lld: %s", p->topic,
                                  (int)p->partition, gregor_err_name(err), (long long)err_offset,
                                  what ? what : gregor_err_str(err));
    } else {
        p->high_watermark = c->read_committed && version >= 4 ? pd->last_stable_offset : pd->high_watermark;
        if (version >= 5)
            p->log_start_offset = pd->log_start_offset;
        if (next == it->offset) {
            grow_fetch_size_locked(c, p, it, partial, p->high_watermark);
            gregor_batch_destroy(b);
        } else {
            p->fetch_offset = next;
            if (b->next_epoch >= 0)
                p->fetch_epoch = b->next_epoch;
            p->fetch_size_min = 0;
            b->gen = it->gen;
            b->part = p;
            if (c->q_tail)
                c->q_tail->next = b;
            else
                c->q_head = b;
            c->q_tail = b;
            pthread_cond_broadcast(&c->cond);
        }
    }
    pthread_mutex_unlock(&c->lock);
}

static void handle_partition(gregor_consumer *c, fetch_req *r, buf_slice topic,
                             const proto_fetch_response_partition_data *pd, int16_t version, fetch_buf *fb)
{
    fetch_item *it = find_item(r, topic, pd->partition_index);
    if (!it || it->answered)
        return;
    it->answered = true;
    gregor_err err = gregor_err_from_broker(pd->error_code);
    if (err == GREGOR_OK) {
        handle_records(c, it, pd, version, fb);
        return;
    }
    cpart *p = it->p;
    pthread_mutex_lock(&c->lock);
    if (p->gen != it->gen || !p->assigned) {
        /* seeked or unassigned meanwhile: the answer is moot */
    } else if (err == PROTO_ERR_OFFSET_OUT_OF_RANGE && p->fetch_epoch >= 0) {
        /* Truncated under us, or really out of range? The leader can tell. */
        p->state = CPART_VALIDATE;
        p->validate_oor = true;
    } else if (err == PROTO_ERR_OFFSET_OUT_OF_RANGE) {
        consumer_out_of_range_locked(c, p, it->offset);
    } else if (gregor_err_invalidates_metadata(err) || gregor_err_is_retriable(err)) {
        gregor_log(GREGOR_LOG_DEBUG, "consumer: topic '%s' partition %d: %s, retrying", p->topic,
                   (int)p->partition, gregor_err_name(err));
        consumer_backoff_locked(c, p);
        cluster_request_refresh(c->client->cluster);
    } else {
        consumer_fail_part_locked(c, p, err, it->offset, "topic '%s' partition %d at offset %lld: %s (%s)", p->topic,
                                  (int)p->partition, (long long)it->offset, gregor_err_name(err),
                                  gregor_err_str(err));
    }
    pthread_mutex_unlock(&c->lock);
}

/* A response that cannot be decoded stops every partition it was for,
 * with one error each: asking again would get the same bytes (an old
 * broker answering in a format it does not announce, say), and retrying
 * would only repeat the warning forever. */
static void fail_undecodable(gregor_consumer *c, fetch_req *r, int16_t version, gregor_err err, const char *what)
{
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < r->n; i++) {
        fetch_item *it = &r->items[i];
        cpart *p = it->p;
        it->answered = true;
        if (p->gen != it->gen || !p->assigned || c->closing)
            continue;
        consumer_fail_part_locked(c, p, err, it->offset,
                                  "topic '%s' partition %d at offset %lld: broker %d sent a Fetch v%d response "
                                  "that cannot be decoded (%s: %s); the partition stops until it is seeked",
                                  p->topic, (int)p->partition, (long long)it->offset, (int)r->node, version,
                                  gregor_err_name(err), what);
    }
    pthread_mutex_unlock(&c->lock);
}

void consumer_out_of_range_locked(gregor_consumer *c, cpart *p, int64_t offset)
{
    if (c->reset_policy == 0) {
        consumer_fail_part_locked(c, p, PROTO_ERR_OFFSET_OUT_OF_RANGE, offset,
                                  "topic '%s' partition %d: offset %lld is out of range "
                                  "(OFFSET_OUT_OF_RANGE, auto_offset_reset=error)",
                                  p->topic, (int)p->partition, (long long)offset);
        return;
    }
    gregor_log(GREGOR_LOG_INFO, "consumer: topic '%s' partition %d: offset %lld out of range, resetting to %s",
               p->topic, (int)p->partition, (long long)offset,
               c->reset_policy == GREGOR_OFFSET_BEGINNING ? "earliest" : "latest");
    p->state = CPART_NEED_OFFSET;
    p->reset_ts = c->reset_policy;
}

/* Decodes a response and handles each partition; false when the whole
 * response failed for a reason a retry may cure (every partition then
 * retries). */
static bool handle_response(gregor_consumer *c, fetch_req *r, net_response *resp)
{
    size_t frame_len = resp->frame_len;
    uint8_t *frame = net_response_take_frame(resp);
    if (!frame)
        return false;
    fetch_buf *fb = fetch_buf_new(frame, frame_len, c->mem);
    if (!fb) {
        free(frame);
        return false;
    }
    arena a;
    arena_init(&a, ARENA_DEFAULT_LIMIT);
    proto_fetch_response m;
    bool ok = false;
    gregor_err err = proto_fetch_response_decode(&resp->body, resp->version, &m, &a);
    if (err == GREGOR_ERR_NOMEM) {
        gregor_log(GREGOR_LOG_WARN, "consumer: out of memory decoding a Fetch response from broker %d", r->node);
    } else if (err != GREGOR_OK) {
        fail_undecodable(c, r, resp->version, err, resp->body.what ? resp->body.what : gregor_err_str(err));
        ok = true;
    } else if (m.error_code != 0) {
        gregor_log(GREGOR_LOG_DEBUG, "consumer: Fetch to broker %d: %s", r->node,
                   gregor_err_name(gregor_err_from_broker(m.error_code)));
    } else {
        for (int32_t t = 0; t < m.responses_count; t++)
            for (int32_t i = 0; i < m.responses[t].partitions_count; i++)
                handle_partition(c, r, m.responses[t].topic, &m.responses[t].partitions[i], resp->version, fb);
        ok = true;
    }
    arena_fini(&a);
    fetch_buf_unref(fb);
    return ok;
}

static void fetch_done(gregor_err err, net_response *resp, void *opaque)
{
    fetch_req *r = opaque;
    gregor_consumer *c = r->c;
    node_clear_busy(c, r->node);
    bool ok = err == GREGOR_OK && handle_response(c, r, resp);
    if (!ok && err != GREGOR_ERR_DESTROYED) {
        gregor_log(GREGOR_LOG_DEBUG, "consumer: Fetch to broker %d failed: %s", r->node, gregor_err_name(err));
        cluster_request_refresh(c->client->cluster);
    }
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < r->n; i++) {
        fetch_item *it = &r->items[i];
        if (!it->answered && err != GREGOR_ERR_DESTROYED)
            retry_later_locked(c, it);
        it->p->in_flight = false;
    }
    consumer_kick_locked(c);
    pthread_mutex_unlock(&c->lock);
    fetch_req_free(r);
}

static void send_fetch(gregor_consumer *c, int32_t node, fetch_req *r)
{
    net_conn *conn = cluster_conn(c->client->cluster, node);
    net_request req = {
        .api_key = PROTO_API_FETCH,
        .min_version = 0,
        .max_version = FETCH_MAX_VERSION,
        .encode = encode_fetch,
        .done = fetch_done,
        .opaque = r,
        .timeout_ms = c->request_timeout_ms + c->fetch_max_wait_ms,
    };
    if (conn && fetch_req_group(r) == GREGOR_OK && node_set_busy(c, node) &&
        client_gate_send(&c->gate, conn, &req) == GREGOR_OK)
        return;
    if (conn && node_busy(c, node))
        node_clear_busy(c, node);
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < r->n; i++) {
        r->items[i].p->in_flight = false;
        retry_later_locked(c, &r->items[i]);
    }
    pthread_mutex_unlock(&c->lock);
    cluster_request_refresh(c->client->cluster);
    fetch_req_free(r);
}

/* ---------------------------------------------------------------- kick */

typedef enum pick_kind { PICK_FETCH, PICK_LIST, PICK_VALIDATE } pick_kind;

typedef struct pick {
    int32_t leader;
    int32_t leader_epoch;
    pick_kind kind; /* Fetch, ListOffsets or OffsetForLeaderEpoch */
    cpart *p;
    uint64_t gen;
    int64_t value; /* fetch offset or ListOffsets timestamp */
    size_t max_bytes; /* Fetch: partition_max_bytes */
} pick;

static int cmp_pick(const void *a, const void *b)
{
    const pick *x = a, *y = b;
    if (x->kind != y->kind)
        return (int)x->kind - (int)y->kind;
    if (x->leader != y->leader)
        return x->leader < y->leader ? -1 : 1;
    return strcmp(x->p->topic, y->p->topic);
}

/* The partition's leader (-1: none known) and its epoch. */
static int32_t leader_of(const cluster_snapshot *s, const cpart *p, int32_t *epoch)
{
    const cluster_topic *t = s ? cluster_snapshot_topic(s, p->topic) : NULL;
    const cluster_partition *cp = t ? cluster_topic_partition(t, p->partition) : NULL;
    *epoch = cp ? cp->leader_epoch : -1;
    return cp && cp->leader >= 0 && cluster_snapshot_broker(s, cp->leader) ? cp->leader : -1;
}

/* Chooses the partitions to request now (lock held); returns how many, and
 * the earliest retry time of those backing off in *next_retry. */
static size_t pick_locked(gregor_consumer *c, const cluster_snapshot *s, pick *out, int64_t *next_retry,
                          bool *need_refresh)
{
    int64_t now = net_now_ms();
    size_t k = 0;
    for (size_t i = 0; i < c->n_parts; i++) {
        cpart *p = c->parts[i];
        if (!p->assigned || p->in_flight || p->state == CPART_FAILED || p->state == CPART_NEED_COMMITTED)
            continue;
        if (p->state == CPART_READY && (p->paused || fetch_mem_full(c->mem)))
            continue;
        if (p->retry_at_ms > now) {
            if (p->retry_at_ms < *next_retry)
                *next_retry = p->retry_at_ms;
            continue;
        }
        int32_t epoch;
        int32_t leader = leader_of(s, p, &epoch);
        if (leader < 0) {
            *need_refresh = true;
            consumer_backoff_locked(c, p);
            if (p->retry_at_ms < *next_retry)
                *next_retry = p->retry_at_ms;
            continue;
        }
        if (epoch >= 0) {
            /* A new leader epoch: the log we read may have been cut back
             * (an unclean election). Validate before fetching on. */
            if (p->state == CPART_READY && p->leader_epoch >= 0 && epoch > p->leader_epoch && p->fetch_epoch >= 0) {
                p->state = CPART_VALIDATE;
                p->validate_oor = false;
            }
            if (epoch > p->leader_epoch)
                p->leader_epoch = epoch;
        }
        pick_kind kind = p->state == CPART_NEED_OFFSET ? PICK_LIST
                         : p->state == CPART_VALIDATE  ? PICK_VALIDATE
                                                       : PICK_FETCH;
        if (kind == PICK_FETCH && node_busy(c, leader))
            continue;
        p->in_flight = true;
        size_t max = (size_t)c->part_max_bytes > p->fetch_size_min ? (size_t)c->part_max_bytes : p->fetch_size_min;
        out[k++] = (pick){leader, epoch, kind, p, p->gen, kind == PICK_LIST ? p->reset_ts : p->fetch_offset, max};
    }
    return k;
}

/* Out of memory for a request: its partitions try again after the backoff
 * (lock not held). */
static void unpick(gregor_consumer *c, pick *picks, size_t n)
{
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < n; i++) {
        picks[i].p->in_flight = false;
        consumer_backoff_locked(c, picks[i].p);
    }
    pthread_mutex_unlock(&c->lock);
}

static void send_picks(gregor_consumer *c, pick *picks, size_t k)
{
    for (size_t i = 0; i < k;) {
        size_t j = i;
        while (j < k && picks[j].kind == picks[i].kind && picks[j].leader == picks[i].leader)
            j++;
        size_t n = j - i;
        if (picks[i].kind != PICK_FETCH) {
            offset_item *items = calloc(n, sizeof *items);
            if (items) {
                for (size_t x = 0; x < n; x++)
                    items[x] = (offset_item){picks[i + x].p, picks[i + x].gen, picks[i + x].value,
                                             picks[i + x].leader_epoch, picks[i + x].p->fetch_epoch};
                if (picks[i].kind == PICK_LIST)
                    list_offsets_send(c, picks[i].leader, items, n); /* takes items */
                else
                    validate_send(c, picks[i].leader, items, n); /* takes items */
            } else {
                unpick(c, &picks[i], n);
            }
        } else {
            fetch_req *r = fetch_req_new(c, picks[i].leader, n);
            if (r) {
                for (size_t x = 0; x < n; x++) {
                    size_t max = picks[i + x].max_bytes;
                    r->items[x] = (fetch_item){picks[i + x].p, picks[i + x].gen, picks[i + x].value,
                                               max > INT32_MAX ? INT32_MAX : (int32_t)max,
                                               picks[i + x].leader_epoch, false};
                }
                send_fetch(c, picks[i].leader, r);
            } else {
                unpick(c, &picks[i], n);
            }
        }
        i = j;
    }
}

static void kick(gregor_consumer *c)
{
    cluster_snapshot *s = cluster_snapshot_get(c->client->cluster);
    int64_t next_retry = INT64_MAX;
    bool need_refresh = false;
    pthread_mutex_lock(&c->lock);
    c->kick_posted = false;
    if (c->closing) {
        pthread_mutex_unlock(&c->lock);
        cluster_snapshot_unref(s);
        return;
    }
    pick *picks = c->n_parts ? malloc(c->n_parts * sizeof *picks) : NULL;
    size_t k = picks ? pick_locked(c, s, picks, &next_retry, &need_refresh) : 0;
    pthread_mutex_unlock(&c->lock);
    cluster_snapshot_unref(s);
    if (need_refresh)
        cluster_request_refresh(c->client->cluster);
    if (k > 1)
        qsort(picks, k, sizeof *picks, cmp_pick);
    send_picks(c, picks, k);
    free(picks);
    if (next_retry != INT64_MAX &&
        (!net_timer_armed(&c->retry_timer) || c->retry_timer.deadline_ms > next_retry))
        net_timer_arm(c->client->loop, &c->retry_timer, next_retry);
}

void fetcher_kick(net_loop *l, void *arg)
{
    (void)l;
    kick(arg);
}

void fetcher_timer_fired(net_loop *l, void *arg)
{
    (void)l;
    kick(arg);
}
