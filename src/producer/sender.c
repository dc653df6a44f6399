/* producer/sender.c — the loop-thread half of the producer.
 *
 * One run of the sender: take the newest cluster snapshot into the topic
 * table (partition counts, leaders), route messages that waited for
 * metadata, expire batches past their delivery deadline, then drain, per
 * partition, the head batch if it is ready (full, lingered long enough,
 * flushing, or a retry whose backoff passed) into one Produce request per
 * leader, within max_request_bytes, while the leader's connection has fewer
 * than max_in_flight requests outstanding and the partition fewer than its
 * in-flight limit (1 without idempotence, so a retry cannot overtake; up to
 * 5 with it, the broker keeping order by sequence). Batches are compressed
 * after the lock is released. Finally the timer is armed for the next
 * linger expiry, backoff or deadline.
 *
 * Runs are triggered by produce (a batch opened or filled), flush, every
 * response, and the timer. Nothing runs while the producer is idle.
 *
 * Responses: success reports the records with their offsets; retriable
 * errors put the batch back at the front of its partition (sorted by
 * sequence) with exponential backoff, and errors that invalidate metadata
 * ask for a refresh; OUT_OF_ORDER_SEQUENCE is retried too (idempotence.c
 * decides whether the partition must be renumbered); everything else, or
 * a retry past the deadline or the retry budget, fails the batch, and only
 * that batch.
 */
#include <stdlib.h>
#include <string.h>

#include "producer/producer.h"

#include "cluster/cluster.h"
#include "protocol/gen/api.h"
#include "protocol/gen/errors.h"
#include "protocol/gen/produce.h"
#include "protocol/tp_groups.h"
#include "util/arena.h"
#include "util/log.h"

#define METADATA_POLL_MS 50
#define MAX_BROKERS_PER_RUN 64
#define IDEMPOTENT_IN_FLIGHT_MAX 5

typedef struct prod_request {
    gregor_producer *p;
    int32_t node_id;
    size_t n;
    size_t bytes;
    proto_tp_groups groups;  /* batches[] by topic, and the response lookup */
    prod_batch *batches[];   /* at most one per partition */
} prod_request;

static void request_free(prod_request *r)
{
    proto_tp_groups_fini(&r->groups);
    free(r);
}

/* A request being assembled for one broker during a run. */
typedef struct builder {
    int32_t node_id;
    net_conn *conn;
    prod_batch *first, *last; /* linked through ->next while assembling */
    size_t n, bytes;
} builder;

static void wake_job(net_loop *l, void *arg)
{
    (void)l;
    gregor_producer *p = arg;
    atomic_store(&p->wake_posted, false);
    prod_sender_run(p);
}

void prod_wake(gregor_producer *p)
{
    if (atomic_exchange(&p->wake_posted, true))
        return;
    if (net_loop_post(p->client->loop, wake_job, p) != GREGOR_OK)
        atomic_store(&p->wake_posted, false); /* the timer will run it */
}

static void timer_fired(net_loop *l, void *arg)
{
    (void)l;
    prod_sender_run(arg);
}

void prod_sender_stop(gregor_producer *p)
{
    p->stopped = true;
    net_timer_cancel(p->client->loop, &p->timer);
    net_timer_cancel(p->client->loop, &p->pid_timer);
}

/* ------------------------------------------------------------ metadata */

static gregor_err topic_grow(prod_topic *t, int32_t n)
{
    prod_partition **a = realloc(t->parts, (size_t)n * sizeof *a);
    if (!a)
        return GREGOR_ERR_NOMEM;
    t->parts = a;
    for (int32_t k = t->n_parts; k < n; k++) {
        if (!(a[k] = prod_partition_new(t, k)))
            return GREGOR_ERR_NOMEM;
        t->n_parts = k + 1;
    }
    return GREGOR_OK;
}

/* (loop, under the lock) Takes partition counts and leaders from the
 * newest snapshot when it changed. */
static void update_metadata(gregor_producer *p)
{
    cluster_snapshot *s = cluster_snapshot_get(p->client->cluster);
    if (!s)
        return;
    if (s->generation != p->snap_generation) {
        p->snap_generation = s->generation;
        for (size_t i = 0; i < p->n_topics; i++) {
            prod_topic *t = p->topics[i];
            const cluster_topic *ct = cluster_snapshot_topic(s, t->name);
            if (!ct)
                continue;
            t->meta_err = ct->err;
            if (ct->n_partitions > t->n_parts && topic_grow(t, ct->n_partitions) != GREGOR_OK)
                gregor_log(GREGOR_LOG_ERROR, "producer: out of memory growing topic %s", t->name);
            for (int32_t k = 0; k < t->n_parts; k++) {
                const cluster_partition *cp = cluster_topic_partition(ct, k);
                t->parts[k]->leader = cp ? cp->leader : -1;
            }
        }
    }
    cluster_snapshot_unref(s);
}

/* (under the lock) Moves messages that waited for metadata into batches. */
static void route_pending(gregor_producer *p, prod_topic *t, prod_msg **failed)
{
    bool wake = false;
    while (t->pending && t->n_parts > 0) {
        prod_msg *m = t->pending;
        t->pending = m->next;
        if (!t->pending)
            t->pending_tail = NULL;
        m->next = NULL;
        int32_t part = m->partition;
        buf_slice key = m->key_len >= 0 ? buf_slice_of(m->data, (size_t)m->key_len) : BUF_SLICE_NULL;
        buf_slice value = m->value_len >= 0
                              ? buf_slice_of(m->data + (m->key_len > 0 ? m->key_len : 0), (size_t)m->value_len)
                              : BUF_SLICE_NULL;
        gregor_err err = GREGOR_OK;
        if (part == GREGOR_PARTITION_ANY)
            err = prod_partition_choose(p, t, key.ptr, key.len > 0 ? (size_t)key.len : 0, key.len < 0, &part);
        else if (part >= t->n_parts)
            err = gregor_err_from_broker(PROTO_ERR_UNKNOWN_TOPIC_OR_PARTITION);
        if (err == GREGOR_OK) {
            /* Counted when it was accepted; the batch is charged instead. */
            err = prod_append(p, t->parts[part], m->timestamp_ms, key, value, m->headers, m->n_headers,
                              m->opaque, m->gen, &wake);
            if (err == GREGOR_OK) {
                p->mem_used -= m->mem;
                free(m->data);
                free(m);
                continue;
            }
        }
        m->partition = part;
        m->err = err;
        m->next = *failed;
        *failed = m;
    }
}

/* ------------------------------------------------------------ requests */

static int16_t max_version_for(int magic) { return magic == 2 ? 12 : magic == 1 ? 2 : 1; }
static int magic_of_version(int16_t version) { return version >= 3 ? 2 : version == 2 ? 1 : 0; }

static gregor_err encode_produce(buf_writer *w, int16_t version, void *opaque)
{
    prod_request *r = opaque;
    gregor_producer *p = r->p;
    proto_produce_request m;
    proto_produce_request_init(&m);
    m.acks = p->cfg.acks;
    m.timeout_ms = p->cfg.request_timeout_ms;
    const proto_tp_groups *g = &r->groups;
    proto_produce_request_topic_produce_data *td = calloc(g->n_topics ? g->n_topics : 1, sizeof *td);
    proto_produce_request_partition_produce_data *pd = calloc(r->n, sizeof *pd);
    gregor_err err = GREGOR_ERR_NOMEM;
    if (!td || !pd)
        goto out;
    /* The broker's release decides the format (detected or configured). */
    for (size_t i = 0; i < r->n; i++) {
        const char *why;
        prod_batch *b = r->batches[i];
        err = prod_batch_downconvert(p, b, magic_of_version(version), &why);
        if (err != GREGOR_OK) {
            gregor_log(GREGOR_LOG_ERROR, "producer: %s [%d]: broker %d takes Produce v%d (record format v%d): %s",
                       b->part->topic->name, b->part->id, r->node_id, version, magic_of_version(version),
                       why ? why : gregor_err_str(err));
            goto out;
        }
    }
    size_t k = 0;
    for (size_t t = 0; t < g->n_topics; t++) {
        const char *name = r->batches[proto_tp_groups_first(g, t)]->part->topic->name;
        proto_produce_request_topic_produce_data_init(&td[t]);
        td[t].name = buf_slice_of(name, strlen(name));
        td[t].partition_data = &pd[k];
        td[t].partition_data_count = (int32_t)proto_tp_groups_count(g, t);
        for (size_t j = g->topic_start[t]; j < g->topic_start[t + 1]; j++, k++) {
            const prod_batch *b = r->batches[g->order[j]];
            proto_produce_request_partition_produce_data_init(&pd[k]);
            pd[k].index = b->part->id;
            pd[k].records = b->wire;
        }
    }
    m.topic_data = td;
    m.topic_data_count = (int32_t)g->n_topics;
    err = proto_produce_request_encode(w, version, &m);
out:
    free(td);
    free(pd);
    return err;
}

static int64_t backoff_ms(const gregor_producer *p, int attempts)
{
    int64_t b = p->cfg.retry_backoff_ms;
    for (int i = 1; i < attempts && b < p->cfg.retry_backoff_max_ms; i++)
        b *= 2;
    if (b > p->cfg.retry_backoff_max_ms)
        b = p->cfg.retry_backoff_max_ms;
    return b;
}

/* (under the lock) Puts a batch back at the front of its partition, after
 * the retries with lower sequences already there. */
static void requeue(prod_batch *b)
{
    prod_partition *part = b->part;
    prod_batch **pp = &part->head;
    while (*pp && (*pp)->attempts > 0 && (*pp)->seq64 >= 0 && b->seq64 >= 0 && (*pp)->seq64 < b->seq64)
        pp = &(*pp)->next;
    b->next = *pp;
    *pp = b;
    if (!b->next)
        part->tail = b;
}

/* Whether a failed batch should be sent again. */
static bool retriable(gregor_producer *p, prod_batch *b, gregor_err err, int64_t now)
{
    if (p->closing || now >= b->deadline_ms || b->attempts > p->cfg.retries)
        return false;
    if (err == PROTO_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER || err == PROTO_ERR_UNKNOWN_PRODUCER_ID) {
        if (b->seq64 < 0)
            return false;
        prod_seq_out_of_order(b); /* retried: behind a lower sequence, or renumbered */
        return true;
    }
    if (err == GREGOR_ERR_DESTROYED || err == GREGOR_ERR_MALFORMED)
        return true; /* a connection closed under us, or a garbled answer */
    return gregor_err_is_retriable(err);
}

/* (under the lock) Splits a batch the broker found too large and puts the
 * halves back at the front of the partition. False when out of memory
 * (the batch then fails). */
static bool split_and_requeue(gregor_producer *p, prod_batch *b)
{
    int32_t n = b->rb.count;
    prod_batch *h1, *h2;
    if (prod_batch_split(p, b, &h1, &h2) != GREGOR_OK)
        return false;
    gregor_log(GREGOR_LOG_INFO, "producer: %s [%d]: MESSAGE_TOO_LARGE for a batch of %d messages: split in two",
               h1->part->topic->name, h1->part->id, (int)n);
    requeue(h2);
    requeue(h1);
    return true;
}

typedef struct batch_result {
    gregor_err err;
    int64_t base_offset;
    int64_t log_append_ms;
} batch_result;

/* Fills results[] from a decoded response, matching by topic and partition. */
static void match_response(prod_request *r, const proto_produce_response *m, batch_result *res)
{
    for (size_t i = 0; i < r->n; i++)
        res[i] = (batch_result){GREGOR_ERR_MALFORMED, -1, -1}; /* absent from the answer */
    for (int32_t ti = 0; ti < m->responses_count; ti++) {
        const proto_produce_response_topic_produce_response *tr = &m->responses[ti];
        for (int32_t pi = 0; pi < tr->partition_responses_count; pi++) {
            const proto_produce_response_partition_produce_response *pr = &tr->partition_responses[pi];
            size_t i = proto_tp_groups_find(&r->groups, tr->name, pr->index);
            if (i == SIZE_MAX)
                continue; /* not asked for */
            res[i].err = gregor_err_from_broker(pr->error_code);
            if (res[i].err == PROTO_ERR_DUPLICATE_SEQUENCE_NUMBER /* already written */)
                res[i].err = GREGOR_OK;
            res[i].base_offset = pr->base_offset;
            res[i].log_append_ms = pr->log_append_time_ms;
        }
    }
}

static void produce_done(gregor_err err, net_response *resp, void *opaque)
{
    prod_request *r = opaque;
    gregor_producer *p = r->p;
    batch_result stack[64], *res = r->n <= 64 ? stack : malloc(r->n * sizeof *res);
    if (!res) {
        res = stack; /* report the whole request failed, 64 at a time is enough room */
        err = GREGOR_ERR_NOMEM;
    }
    size_t n_res = res == stack && r->n > 64 ? 64 : r->n;
    for (size_t i = 0; i < n_res; i++)
        res[i] = (batch_result){err, -1, -1};
    if (err == GREGOR_ERR_UNSUPPORTED)
        gregor_log(GREGOR_LOG_ERROR,
                   "producer: broker %d cannot take this Produce request (no common Produce version, or "
                   "a record format feature it lacks)",
                   r->node_id);
    if (err == GREGOR_OK && resp) {
        arena a;
        arena_init(&a, ARENA_DEFAULT_LIMIT);
        proto_produce_response m;
        gregor_err derr = proto_produce_response_decode(&resp->body, resp->version, &m, &a);
        if (derr != GREGOR_OK) {
            gregor_log(GREGOR_LOG_WARN, "producer: malformed Produce v%d response from broker %d: %s",
                       resp->version, r->node_id, resp->body.what ? resp->body.what : gregor_err_str(derr));
            for (size_t i = 0; i < n_res; i++)
                res[i].err = GREGOR_ERR_MALFORMED;
        } else {
            match_response(r, &m, res);
        }
        arena_fini(&a);
    }

    int64_t now = net_now_ms();
    bool refresh = false;
    prod_batch *done_list = NULL, *fail_list = NULL;
    pthread_mutex_lock(&p->lock);
    for (size_t i = 0; i < r->n; i++) {
        prod_batch *b = r->batches[i];
        batch_result br = i < n_res ? res[i] : (batch_result){GREGOR_ERR_NOMEM, -1, -1};
        b->part->in_flight--;
        b->next = NULL;
        if (br.err == GREGOR_OK) {
            prod_seq_acked(b);
            b->retry_at_ms = br.base_offset; /* carried to the report */
            b->first_ms = br.log_append_ms;
            b->next = done_list;
            done_list = b;
        } else if (br.err == PROTO_ERR_MESSAGE_TOO_LARGE && b->rb.count > 1 && !p->closing && now < b->deadline_ms &&
                   split_and_requeue(p, b)) {
            continue;
        } else if (retriable(p, b, br.err, now)) {
            b->last_err = br.err;
            b->retry_at_ms = now + backoff_ms(p, b->attempts);
            refresh |= gregor_err_invalidates_metadata(br.err) || br.err == GREGOR_ERR_DESTROYED;
            requeue(b);
            gregor_log(GREGOR_LOG_DEBUG, "producer: %s [%d]: %s, retry %d", b->part->topic->name,
                       b->part->id, gregor_err_name(br.err), b->attempts);
        } else {
            if (!p->closing && now >= b->deadline_ms &&
                (gregor_err_is_retriable(br.err) || br.err == GREGOR_ERR_DESTROYED))
                br.err = GREGOR_ERR_TIMED_OUT; /* the delivery timeout ended the retries */
            b->last_err = br.err;
            prod_seq_failed(b, br.err);
            b->next = fail_list;
            fail_list = b;
        }
    }
    pthread_mutex_unlock(&p->lock);
    if (res != stack)
        free(res);
    if (refresh)
        cluster_request_refresh(p->client->cluster);
    /* Reports in request order per partition: lists were built reversed. */
    prod_batch *rev = NULL;
    while (done_list) {
        prod_batch *b = done_list;
        done_list = b->next;
        b->next = rev;
        rev = b;
    }
    while (rev) {
        prod_batch *b = rev;
        rev = b->next;
        prod_batch_report(p, b, GREGOR_OK, b->retry_at_ms, b->first_ms);
    }
    while (fail_list) {
        prod_batch *b = fail_list;
        fail_list = b->next;
        gregor_log(GREGOR_LOG_INFO, "producer: %s [%d]: %d messages failed: %s", b->part->topic->name,
                   b->part->id, (int)b->rb.count, gregor_err_name(b->last_err));
        prod_batch_report(p, b, b->last_err, -1, -1);
    }
    request_free(r);
    prod_sender_run(p);
}

/* Groups the request's batches by topic (and prepares the lookup that
 * matches the answer). False on NOMEM. */
static bool group_request(prod_request *r)
{
    proto_tp stack[64], *tps = r->n <= 64 ? stack : malloc(r->n * sizeof *tps);
    if (!tps) {
        memset(&r->groups, 0, sizeof r->groups);
        return false;
    }
    for (size_t i = 0; i < r->n; i++)
        tps[i] = (proto_tp){r->batches[i]->part->topic->name, r->batches[i]->part->id};
    gregor_err err = proto_tp_groups_init(&r->groups, tps, r->n);
    if (tps != stack)
        free(tps);
    return err == GREGOR_OK;
}

/* Fails every batch of a request that could not be sent (out of memory)
 * and frees it. */
static void fail_request(prod_request *r, prod_batch **failed)
{
    for (size_t i = 0; i < r->n; i++) {
        r->batches[i]->last_err = GREGOR_ERR_NOMEM;
        r->batches[i]->next = *failed;
        *failed = r->batches[i];
    }
    request_free(r);
}

/* Finishes (compresses) the batches of `bl` and sends them as one request. */
static void send_builder(gregor_producer *p, builder *bl, prod_batch **failed)
{
    prod_request *r = malloc(sizeof *r + bl->n * sizeof(prod_batch *));
    size_t n = 0;
    int magic = p->cfg.magic;
    for (prod_batch *b = bl->first, *next; b; b = next) {
        next = b->next;
        b->next = NULL;
        proto_batch_set_producer(&b->rb, b->pid, b->epoch, b->base_seq, false);
        gregor_err err = r ? proto_batch_finish(&b->rb, p->cfg.codec, p->cfg.level, &b->wire) : GREGOR_ERR_NOMEM;
        if (err != GREGOR_OK) {
            b->last_err = err;
            b->next = *failed;
            *failed = b;
            continue;
        }
        magic = b->rb.magic;
        atomic_fetch_add_explicit(&p->stats.batches, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&p->stats.batch_records, (uint64_t)b->rb.count, memory_order_relaxed);
        atomic_fetch_add_explicit(&p->stats.batch_bytes, (uint64_t)b->wire.len, memory_order_relaxed);
        r->batches[n++] = b;
    }
    if (n == 0) {
        free(r);
        return;
    }
    r->p = p;
    r->node_id = bl->node_id;
    r->n = n;
    if (!group_request(r)) {
        fail_request(r, failed);
        return;
    }
    net_request req = {
        .api_key = PROTO_API_PRODUCE,
        .min_version = 0, /* older brokers get the batch rewritten (encode_produce) */
        .max_version = max_version_for(magic),
        .encode = encode_produce,
        .done = produce_done,
        .opaque = r,
        .no_response = p->cfg.acks == 0,
    };
    if (client_gate_send(&p->gate, bl->conn, &req) != GREGOR_OK)
        fail_request(r, failed);
}

static builder *builder_for(gregor_producer *p, builder *bls, size_t *n_bls, int32_t node_id)
{
    for (size_t i = 0; i < *n_bls; i++)
        if (bls[i].node_id == node_id)
            return bls[i].conn ? &bls[i] : NULL;
    if (*n_bls == MAX_BROKERS_PER_RUN)
        return NULL;
    builder *bl = &bls[(*n_bls)++];
    *bl = (builder){.node_id = node_id};
    net_conn *conn = cluster_conn(p->client->cluster, node_id);
    if (!conn || net_conn_outstanding(conn) >= (size_t)p->cfg.max_in_flight)
        return NULL; /* bl->conn stays NULL: skip this broker for this run */
    bl->conn = conn;
    return bl;
}

/* (under the lock) Whether the head batch of `part` may go now; sets
 * *wake_ms to when it may if not. */
static bool head_ready(gregor_producer *p, prod_partition *part, int64_t now, int64_t *wake_ms)
{
    prod_batch *b = part->head;
    int32_t limit = p->cfg.idempotence ? p->cfg.max_in_flight : 1;
    if (limit > IDEMPOTENT_IN_FLIGHT_MAX)
        limit = IDEMPOTENT_IN_FLIGHT_MAX;
    if (part->in_flight >= limit || (b->attempts > 0 && part->in_flight > 0))
        return false; /* a response will run the sender again */
    if (b->attempts > 0 && b->retry_at_ms > now) {
        if (b->retry_at_ms < *wake_ms)
            *wake_ms = b->retry_at_ms;
        return false;
    }
    if (b->full || b->next || b->attempts > 0 || p->flushing || p->closing)
        return true;
    int64_t at = b->first_ms + p->cfg.linger_ms;
    if (at <= now)
        return true;
    if (at < *wake_ms)
        *wake_ms = at;
    return false;
}

/* (under the lock) Fails expired batches at the head of `part`. */
static void expire(prod_partition *part, int64_t now, prod_batch **failed)
{
    while (part->head && part->head->deadline_ms <= now) {
        prod_batch *b = part->head;
        part->head = b->next;
        if (!part->head)
            part->tail = NULL;
        b->last_err = GREGOR_ERR_TIMED_OUT;
        prod_seq_failed(b, b->last_err);
        b->next = *failed;
        *failed = b;
    }
}

/* (under the lock) One pass over every partition: at most one batch per
 * partition goes into its leader's request. Returns whether any did. */
static bool drain_pass(gregor_producer *p, builder *bls, size_t *n_bls, int64_t now, int64_t *wake_ms,
                       bool *poll)
{
    bool any = false;
    for (size_t i = 0; i < p->n_topics; i++) {
        prod_topic *t = p->topics[i];
        for (int32_t k = 0; k < t->n_parts; k++) {
            prod_partition *part = t->parts[k];
            prod_batch *b = part->head;
            if (!b)
                continue;
            if (b->deadline_ms < *wake_ms)
                *wake_ms = b->deadline_ms;
            if (part->leader < 0) {
                *poll = true;
                continue;
            }
            if (!head_ready(p, part, now, wake_ms) || !prod_seq_may_drain(p, part))
                continue;
            b = part->head; /* may_drain may have renumbered, never reordered */
            builder *bl = builder_for(p, bls, n_bls, part->leader);
            if (!bl) {
                *poll = true; /* no connection yet, or it is full: look again soon */
                continue;
            }
            size_t size = proto_batch_size(&b->rb) + 64;
            if (bl->n > 0 && bl->bytes + size > p->cfg.max_request_bytes)
                continue;
            part->head = b->next;
            if (!part->head)
                part->tail = NULL;
            b->next = NULL;
            b->full = true;
            part->in_flight++;
            b->attempts++;
            if (t->sticky == part->id)
                t->sticky = -1; /* KIP-480: switch once the sticky batch is sent */
            prod_seq_stamp(p, b);
            if (bl->last)
                bl->last->next = b;
            else
                bl->first = b;
            bl->last = b;
            bl->n++;
            bl->bytes += size;
            any = true;
        }
    }
    return any;
}

static void report_failed(gregor_producer *p, prod_batch *failed)
{
    while (failed) {
        prod_batch *b = failed;
        failed = b->next;
        gregor_log(GREGOR_LOG_INFO, "producer: %s [%d]: %d messages failed: %s", b->part->topic->name,
                   b->part->id, (int)b->rb.count, gregor_err_name(b->last_err));
        prod_batch_report(p, b, b->last_err, -1, -1);
    }
}

/* (under the lock) Pending messages past their deadline. */
static void expire_pending(prod_topic *t, int64_t now, prod_msg **failed)
{
    prod_msg **pp = &t->pending, *prev = NULL;
    while (*pp) {
        prod_msg *m = *pp;
        if (m->deadline_ms > now) {
            prev = m;
            pp = &m->next;
            continue;
        }
        *pp = m->next;
        if (t->pending_tail == m)
            t->pending_tail = prev;
        gregor_err err = t->meta_err != GREGOR_OK ? t->meta_err : GREGOR_ERR_TIMED_OUT;
        if (err == PROTO_ERR_UNKNOWN_TOPIC_OR_PARTITION)
            err = GREGOR_ERR_UNKNOWN_TOPIC;
        m->err = err;
        m->next = *failed;
        *failed = m;
    }
}

void prod_sender_run(gregor_producer *p)
{
    if (p->stopped)
        return;
    prod_pid_maintain(p);
    pthread_mutex_lock(&p->lock);
    gregor_err fatal = p->pid_state == PROD_PID_FATAL ? p->fatal_err : GREGOR_OK;
    pthread_mutex_unlock(&p->lock);
    if (fatal != GREGOR_OK) {
        prod_fail_all(p, fatal); /* nothing can be sent as the user asked */
        return;
    }
    int64_t now = net_now_ms();
    int64_t wake_ms = INT64_MAX;
    bool poll = false;
    builder bls[MAX_BROKERS_PER_RUN];
    size_t n_bls = 0;
    prod_batch *failed = NULL;
    prod_msg *failed_msgs = NULL;

    pthread_mutex_lock(&p->lock);
    update_metadata(p);
    for (size_t i = 0; i < p->n_topics; i++) {
        prod_topic *t = p->topics[i];
        if (t->pending) {
            prod_msg *f = NULL;
            route_pending(p, t, &f);
            expire_pending(t, now, &f);
            if (t->pending) {
                poll = true;
                if (t->pending->deadline_ms < wake_ms)
                    wake_ms = t->pending->deadline_ms;
            }
            while (f) {
                prod_msg *m = f;
                f = m->next;
                m->next = failed_msgs;
                failed_msgs = m;
            }
        }
        for (int32_t k = 0; k < t->n_parts; k++)
            expire(t->parts[k], now, &failed);
    }
    /* A request carries at most one batch per partition: each pass over
     * the partitions fills one request per broker, and the next pass may
     * queue another behind it (pipelined up to max_in_flight). */
    bool any = drain_pass(p, bls, &n_bls, now, &wake_ms, &poll);
    pthread_mutex_unlock(&p->lock);
    for (int pass = 1; any; pass++) {
        for (size_t i = 0; i < n_bls; i++)
            if (bls[i].n > 0)
                send_builder(p, &bls[i], &failed);
        if (pass == IDEMPOTENT_IN_FLIGHT_MAX)
            break;
        n_bls = 0;
        pthread_mutex_lock(&p->lock);
        any = drain_pass(p, bls, &n_bls, now, &wake_ms, &poll);
        pthread_mutex_unlock(&p->lock);
    }
    report_failed(p, failed);
    while (failed_msgs) {
        prod_msg *m = failed_msgs;
        failed_msgs = m->next;
        prod_msg_report(p, m, m->err);
    }
    if (p->stopped)
        return;
    if (poll && now + METADATA_POLL_MS < wake_ms)
        wake_ms = now + METADATA_POLL_MS;
    if (wake_ms != INT64_MAX)
        net_timer_arm(p->client->loop, &p->timer, wake_ms);
    else if (net_timer_armed(&p->timer))
        net_timer_cancel(p->client->loop, &p->timer);
}

void prod_sender_init(gregor_producer *p)
{
    net_timer_init(&p->timer, timer_fired, p);
    net_timer_init(&p->pid_timer, timer_fired, p);
}

void prod_fail_all(gregor_producer *p, gregor_err err)
{
    prod_batch *failed = NULL;
    pthread_mutex_lock(&p->lock);
    for (size_t i = 0; i < p->n_topics; i++) {
        prod_topic *t = p->topics[i];
        for (int32_t k = 0; k < t->n_parts; k++) {
            prod_partition *part = t->parts[k];
            while (part->head) {
                prod_batch *b = part->head;
                part->head = b->next;
                b->last_err = b->attempts > 0 && b->last_err != GREGOR_OK ? b->last_err : err;
                prod_seq_failed(b, b->last_err); /* off the partition's list before it is freed */
                b->next = failed;
                failed = b;
            }
            part->tail = NULL;
        }
    }
    pthread_mutex_unlock(&p->lock);
    report_failed(p, failed);
    for (size_t i = 0; i < p->n_topics; i++) {
        prod_topic *t = p->topics[i];
        pthread_mutex_lock(&p->lock);
        prod_msg *m = t->pending;
        t->pending = t->pending_tail = NULL;
        pthread_mutex_unlock(&p->lock);
        while (m) {
            prod_msg *next = m->next;
            prod_msg_report(p, m, err);
            m = next;
        }
    }
}
