/* producer/idempotence.c — the idempotent producer's id.
 *
 * With enable_idempotence (the default with acks=all on 0.11+ brokers),
 * the producer asks any broker for a producer id and epoch
 * (InitProducerId, no transactional id) before its first batch goes out;
 * every batch then carries the id, the epoch and the sequence of its first
 * record per partition, so the leader drops a retried batch it has already
 * written and refuses one that would leave a gap (OUT_OF_ORDER_SEQUENCE),
 * which keeps retries free of duplicates and in order.
 *
 * When the broker has no InitProducerId (pre-0.11, or a configured legacy
 * broker_version) the producer goes on without idempotence, keeping order
 * by sending one batch per partition at a time.
 *
 * Sequences are kept per partition, as the broker keeps them (and as Java's
 * TransactionManager does): each partition has the id and epoch its
 * sequences run under, the next sequence, and the list of its stamped
 * batches not yet completed (in flight or queued for a retry), in sequence
 * order. A batch is stamped once, on its first drain; a retry goes out with
 * the same id, epoch and sequence, so the leader drops it if it already
 * wrote it.
 *
 * When a stamped batch fails for good, the partition's sequence has a hole
 * the broker would refuse forever. Only that partition is repaired, and
 * only that batch is lost: once none of its batches is in flight (and
 * every batch below the hole is settled), its queued batches are
 * renumbered from 0 under the next epoch of the same producer id (a
 * client-side bump, which brokers accept from 0.11 on for an idempotent
 * producer, as Java's bumpIdempotentProducerEpoch does), and new batches
 * wait meanwhile. When the failed batch's fate is unknown (a delivery
 * timeout after a request that may have been written), nothing is changed
 * yet: the next batch's answer tells, success if it was written,
 * OUT_OF_ORDER_SEQUENCE for the first outstanding batch if it was not.
 * OUT_OF_ORDER_SEQUENCE for a batch while a lower one is outstanding (a
 * leader move, a request that timed out) is retried: the lower one's
 * answer settles it. Only when a partition's epoch is exhausted does the
 * producer ask for a new id (InitProducerId, with the current id and
 * epoch on v3+, KIP-360); partitions take a new id only when nothing of
 * theirs is outstanding, or when they renumber anyway.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>

#include "producer/producer.h"

#include "cluster/cluster.h"
#include "protocol/gen/api.h"
#include "protocol/gen/errors.h"
#include "protocol/gen/init_producer_id.h"
#include "util/arena.h"
#include "util/log.h"

#define PID_RETRY_MS 200

static gregor_err encode_init_pid(buf_writer *w, int16_t version, void *opaque)
{
    proto_init_producer_id_request m;
    proto_init_producer_id_request_init(&m);
    m.transactional_id = BUF_SLICE_NULL;
    m.transaction_timeout_ms = INT32_MAX;
    gregor_producer *p = opaque;
    m.producer_id = -1;
    m.producer_epoch = -1;
    if (version >= 3) { /* KIP-360: the id being replaced, read under the lock */
        pthread_mutex_lock(&p->lock);
        m.producer_id = p->old_pid;
        m.producer_epoch = p->old_pid >= 0 ? p->old_epoch : -1;
        pthread_mutex_unlock(&p->lock);
    }
    return proto_init_producer_id_request_encode(w, version, &m);
}

/* (under the lock) No producer id can be had: without idempotence when
 * it was only the default, a sticky error when the user asked for it. */
static void pid_unavailable(gregor_producer *p, gregor_err err)
{
    bool unsupported = err == GREGOR_ERR_UNSUPPORTED || err == PROTO_ERR_UNSUPPORTED_VERSION;
    if (p->cfg.idempotence_required) {
        p->fatal_err = unsupported ? GREGOR_ERR_UNSUPPORTED : err;
        snprintf(p->fatal_msg, sizeof p->fatal_msg,
                 "enable_idempotence=true, but %s: every message fails (set enable_idempotence=false to "
                 "produce without idempotence)",
                 unsupported ? "the broker has no InitProducerId (a broker before 0.11)" : "InitProducerId failed");
        gregor_log(GREGOR_LOG_ERROR, "producer: %s%s%s", p->fatal_msg, unsupported ? "" : ": ",
                   unsupported ? "" : gregor_err_name(err));
        p->pid_state = PROD_PID_FATAL;
        return;
    }
    if (unsupported) /* a pre-0.11 broker: expected, idempotence was only the default */
        gregor_log(GREGOR_LOG_INFO, "producer: the broker has no InitProducerId: not idempotent");
    else
        gregor_log(GREGOR_LOG_WARN, "producer: InitProducerId failed (%s): continuing without idempotence",
                   gregor_err_name(err));
    p->pid_state = PROD_PID_OFF;
    p->cfg.idempotence = false;
}

static void init_pid_done(gregor_err err, net_response *resp, void *opaque)
{
    gregor_producer *p = opaque;
    proto_init_producer_id_response m;
    arena a;
    arena_init(&a, ARENA_DEFAULT_LIMIT);
    if (err == GREGOR_OK) {
        gregor_err derr = proto_init_producer_id_response_decode(&resp->body, resp->version, &m, &a);
        err = derr != GREGOR_OK ? GREGOR_ERR_MALFORMED : gregor_err_from_broker(m.error_code);
    }
    bool retry = false;
    pthread_mutex_lock(&p->lock);
    if (p->closing) {
        p->pid_state = PROD_PID_OFF;
    } else if (err == GREGOR_OK) {
        p->pid = m.producer_id;
        p->epoch = m.producer_epoch;
        p->pid_state = PROD_PID_READY;
        gregor_log(GREGOR_LOG_DEBUG, "producer: id %lld epoch %d", (long long)p->pid, p->epoch);
    } else if (gregor_err_is_retriable(err) || err == GREGOR_ERR_DESTROYED || err == GREGOR_ERR_MALFORMED) {
        p->pid_state = PROD_PID_NEED;
        retry = true;
    } else {
        pid_unavailable(p, err);
    }
    pthread_mutex_unlock(&p->lock);
    arena_fini(&a);
    if (p->stopped)
        return;
    if (retry)
        net_timer_arm(p->client->loop, &p->pid_timer, net_now_ms() + PID_RETRY_MS);
    else
        prod_sender_run(p);
}

void prod_pid_maintain(gregor_producer *p)
{
    pthread_mutex_lock(&p->lock);
    bool need = p->pid_state == PROD_PID_NEED && !p->closing;
    if (need)
        p->pid_state = PROD_PID_WAIT;
    pthread_mutex_unlock(&p->lock);
    if (!need)
        return;
    net_conn *conn = cluster_any_conn(p->client->cluster);
    net_request req = {
        .api_key = PROTO_API_INIT_PRODUCER_ID,
        .min_version = 0,
        .max_version = proto_api_get(PROTO_API_INIT_PRODUCER_ID)->max_version,
        .encode = encode_init_pid,
        .done = init_pid_done,
        .opaque = p,
    };
    if (!conn || client_gate_send(&p->gate, conn, &req) != GREGOR_OK) {
        pthread_mutex_lock(&p->lock);
        p->pid_state = PROD_PID_NEED;
        pthread_mutex_unlock(&p->lock);
        net_timer_arm(p->client->loop, &p->pid_timer, net_now_ms() + PID_RETRY_MS);
    }
}

/* (under the lock) Asks for a new producer id: a partition has used up
 * the epochs of the current one (it is at `epoch`). */
static void pid_renew(gregor_producer *p, int16_t epoch)
{
    if (p->pid_state != PROD_PID_READY)
        return;
    gregor_log(GREGOR_LOG_INFO, "producer: epochs of id %lld used up: asking for a new producer id",
               (long long)p->pid);
    p->old_pid = p->pid;
    p->old_epoch = epoch;
    p->pid_state = PROD_PID_NEED;
    prod_wake(p);
}

static void seq_unlink(prod_batch *b)
{
    prod_partition *part = b->part;
    if (b->s_prev)
        b->s_prev->s_next = b->s_next;
    else
        part->s_head = b->s_next;
    if (b->s_next)
        b->s_next->s_prev = b->s_prev;
    else
        part->s_tail = b->s_prev;
    b->s_prev = b->s_next = NULL;
}

static void seq_set(prod_batch *b, int64_t pid, int16_t epoch, int64_t seq64)
{
    b->pid = pid;
    b->epoch = epoch;
    b->seq64 = seq64;
    b->base_seq = (int32_t)(seq64 & INT32_MAX); /* sequences wrap to 0 after INT32_MAX */
}

/* Renumbers the partition's outstanding batches (all queued: none is in
 * flight) from 0 under a new epoch. False when a new producer id must be
 * fetched first. */
static bool seq_rewrite(gregor_producer *p, prod_partition *part)
{
    assert(part->in_flight == 0);
    int64_t pid = part->pid;
    int16_t epoch;
    if (part->epoch < INT16_MAX) {
        epoch = (int16_t)(part->epoch + 1);
    } else if (p->pid != part->pid) {
        pid = p->pid;
        epoch = p->epoch;
    } else {
        pid_renew(p, part->epoch);
        return false;
    }
    int64_t seq = 0;
    int n = 0;
    for (prod_batch *b = part->s_head; b; b = b->s_next, n++) {
        seq_set(b, pid, epoch, seq);
        seq += b->rb.count;
    }
    gregor_log(GREGOR_LOG_INFO,
               "producer: %s [%d]: sequence hole: %d queued batches renumbered under producer id %lld "
               "epoch %d", part->topic->name, part->id, n, (long long)pid, epoch);
    part->pid = pid;
    part->epoch = epoch;
    part->next_seq64 = seq;
    part->rewrite = false;
    part->rewrite_from = INT64_MAX;
    return true;
}

bool prod_seq_may_drain(gregor_producer *p, prod_partition *part)
{
    if (p->pid_state == PROD_PID_OFF)
        return true;
    if (p->pid_state != PROD_PID_READY)
        return false;
    prod_batch *b = part->head;
    if (part->rewrite) {
        if (b->seq64 >= 0 && b->seq64 < part->rewrite_from)
            return true; /* below the hole: its answer may still settle it */
        /* The batches in flight come back first (out of order, or settling
         * the hole), and the ones below it must be settled. */
        if (part->in_flight > 0 || (part->s_head && part->s_head->seq64 < part->rewrite_from))
            return false;
        return seq_rewrite(p, part);
    }
    /* New batches take the producer's current id only when nothing of the
     * partition's is outstanding under an older one. */
    if (b->seq64 < 0 && part->pid != p->pid && part->s_head)
        return false;
    return true;
}

void prod_seq_stamp(gregor_producer *p, prod_batch *b)
{
    prod_partition *part = b->part;
    if (p->pid_state != PROD_PID_READY || b->seq64 >= 0)
        return;
    if (part->pid != p->pid) {
        assert(!part->s_head);
        part->pid = p->pid;
        part->epoch = p->epoch;
        part->next_seq64 = 0;
    }
    seq_set(b, part->pid, part->epoch, part->next_seq64);
    part->next_seq64 += b->rb.count;
    b->s_next = NULL;
    b->s_prev = part->s_tail;
    if (part->s_tail)
        part->s_tail->s_next = b;
    else
        part->s_head = b;
    part->s_tail = b;
}

void prod_seq_acked(prod_batch *b)
{
    if (b->seq64 >= 0)
        seq_unlink(b);
}

static void seq_hole(prod_partition *part, int64_t from)
{
    part->rewrite = true;
    if (from < part->rewrite_from)
        part->rewrite_from = from;
}

void prod_seq_failed(prod_batch *b, gregor_err err)
{
    if (b->seq64 < 0)
        return;
    prod_partition *part = b->part;
    seq_unlink(b);
    /* A broker's refusal means not written; anything else (timeouts, a
     * connection lost, the retry budget spent on such) leaves it open. */
    if (err > 0 && !gregor_err_is_retriable(err))
        seq_hole(part, b->seq64);
}

void prod_seq_split(prod_batch *b, prod_batch *h1, prod_batch *h2)
{
    if (b->seq64 < 0)
        return;
    prod_partition *part = b->part;
    seq_set(h1, b->pid, b->epoch, b->seq64);
    seq_set(h2, b->pid, b->epoch, b->seq64 + h1->rb.count);
    h1->s_prev = b->s_prev;
    h1->s_next = h2;
    h2->s_prev = h1;
    h2->s_next = b->s_next;
    if (h1->s_prev)
        h1->s_prev->s_next = h1;
    else
        part->s_head = h1;
    if (h2->s_next)
        h2->s_next->s_prev = h2;
    else
        part->s_tail = h2;
    b->s_prev = b->s_next = NULL;
}

void prod_seq_out_of_order(prod_batch *b)
{
    if (b->seq64 >= 0 && b->part->s_head == b)
        seq_hole(b->part, b->seq64);
}
