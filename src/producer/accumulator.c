/* producer/accumulator.c — per-partition queues of batches, the memory
 * they are charged, and the delivery reports that end them.
 *
 * Records are encoded into their batch (protocol/records.h) as they are
 * produced, so a message costs one copy; a batch is charged what its
 * buffers actually hold (capacity, not length), so `buffer_bytes` bounds
 * the heap, not just the payload.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "producer/producer.h"

static size_t batch_mem(const prod_batch *b)
{
    return sizeof *b + b->rb.recs.cap + b->rb.z.cap + (size_t)b->recs_cap * sizeof(prod_rec);
}

prod_partition *prod_partition_new(prod_topic *t, int32_t id)
{
    prod_partition *part = calloc(1, sizeof *part);
    if (!part)
        return NULL;
    part->topic = t;
    part->id = id;
    part->leader = -1;
    part->pid = -1;
    part->epoch = -1;
    part->rewrite_from = INT64_MAX;
    return part;
}

void prod_batch_free(prod_batch *b)
{
    if (!b)
        return;
    proto_batch_fini(&b->rb);
    free(b->recs);
    free(b);
}

/* A new empty batch of `part` that may grow to `max_bytes`, charged to the
 * producer's memory, not linked anywhere yet. */
static prod_batch *batch_new(gregor_producer *p, prod_partition *part, size_t max_bytes)
{
    prod_batch *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    if (proto_batch_init(&b->rb, p->cfg.magic, max_bytes) != GREGOR_OK) {
        free(b);
        return NULL;
    }
    b->part = part;
    b->first_ms = net_now_ms();
    b->deadline_ms = b->first_ms + p->cfg.delivery_timeout_ms;
    b->base_seq = -1;
    b->seq64 = -1;
    b->pid = -1;
    b->epoch = -1;
    b->mem = batch_mem(b);
    p->mem_used += b->mem;
    return b;
}

static prod_batch *batch_open(gregor_producer *p, prod_partition *part)
{
    prod_batch *b = batch_new(p, part, p->cfg.batch_bytes);
    if (!b)
        return NULL;
    if (part->tail)
        part->tail->next = b;
    else
        part->head = b;
    part->tail = b;
    return b;
}

size_t prod_record_bytes_max(const gregor_producer *p)
{
    return p->cfg.max_request_bytes - PROD_REQUEST_OVERHEAD_BYTES;
}

/* (under the lock) The charge of `b` after it grew. */
static void batch_recharge(gregor_producer *p, prod_batch *b)
{
    size_t mem = batch_mem(b);
    p->mem_used += mem - b->mem;
    b->mem = mem;
}

/* Unlinks the (empty) tail batch again after a failed first append. */
static void batch_drop_tail(gregor_producer *p, prod_partition *part, prod_batch *b)
{
    prod_batch **pp = &part->head;
    prod_batch *prev = NULL;
    while (*pp != b) {
        prev = *pp;
        pp = &(*pp)->next;
    }
    *pp = NULL;
    part->tail = prev;
    p->mem_used -= b->mem;
    prod_batch_free(b);
}

/* Room for one more record's report data. */
static bool recs_room(prod_batch *b)
{
    if (b->rb.count < b->recs_cap)
        return true;
    int32_t cap = b->recs_cap ? b->recs_cap * 2 : 64;
    prod_rec *r = realloc(b->recs, (size_t)cap * sizeof *r);
    if (!r)
        return false;
    b->recs = r;
    b->recs_cap = cap;
    return true;
}

gregor_err prod_append(gregor_producer *p, prod_partition *part, int64_t ts, buf_slice key,
                       buf_slice value, const proto_header *h, size_t nh, void *opaque, uint64_t gen,
                       bool *wake)
{
    prod_batch *b = part->tail;
    bool opened = false;
    if (!b || b->full || b->seq64 >= 0 || b->attempts > 0) {
        if (!(b = batch_open(p, part)))
            return GREGOR_ERR_NOMEM;
        opened = true;
    }
    gregor_err err = recs_room(b) ? proto_batch_append(&b->rb, ts, key, value, h, nh) : GREGOR_ERR_NOMEM;
    if (err == GREGOR_ERR_TOO_LARGE && !opened) {
        /* The tail is full: seal it and start the next one. */
        b->full = true;
        if (part->topic->sticky == part->id)
            part->topic->sticky = -1;
        if (!(b = batch_open(p, part)))
            return GREGOR_ERR_NOMEM;
        opened = true;
        err = recs_room(b) ? proto_batch_append(&b->rb, ts, key, value, h, nh) : GREGOR_ERR_NOMEM;
    }
    if (err == GREGOR_ERR_TOO_LARGE && b->rb.count == 0 && prod_record_bytes_max(p) > p->cfg.batch_bytes) {
        /* One record larger than batch_bytes: a batch of its own, up to
         * what a request carries (as Java's batch.size). */
        proto_batch_fini(&b->rb);
        err = proto_batch_init(&b->rb, p->cfg.magic, prod_record_bytes_max(p));
        if (err == GREGOR_OK)
            err = proto_batch_append(&b->rb, ts, key, value, h, nh);
        b->full = true;
    }
    if (err != GREGOR_OK) {
        if (opened && b->rb.count == 0)
            batch_drop_tail(p, part, b);
        return err;
    }
    b->recs[b->rb.count - 1] = (prod_rec){opaque, ts, gen};
    batch_recharge(p, b);
    if (opened || b->rb.recs.len + 64 >= p->cfg.batch_bytes)
        *wake = true;
    return GREGOR_OK;
}

/* Appends the records of `r` (reading `b`'s finished bytes) from index
 * `from` to `to` into `h`. */
static gregor_err split_copy(prod_batch *b, proto_record_reader *r, int32_t from, int32_t to, prod_batch *h)
{
    for (int32_t i = from; i < to; i++) {
        proto_record rec;
        bool got = false;
        gregor_err err = proto_record_reader_next(r, &rec, &got);
        if (err != GREGOR_OK || !got)
            return err != GREGOR_OK ? err : GREGOR_ERR_TRUNCATED;
        proto_header stack[16], *hs = stack;
        if (rec.header_count > 16 && !(hs = malloc((size_t)rec.header_count * sizeof *hs)))
            return GREGOR_ERR_NOMEM;
        proto_header_iter it;
        proto_header_iter_init(&it, &rec);
        size_t nh = 0;
        while (nh < (size_t)rec.header_count && proto_header_iter_next(&it, &hs[nh]))
            nh++;
        err = recs_room(h) ? proto_batch_append(&h->rb, b->recs[i].timestamp_ms, rec.key, rec.value, hs, nh)
                           : GREGOR_ERR_NOMEM;
        if (hs != stack)
            free(hs);
        if (err != GREGOR_OK)
            return err;
        h->recs[h->rb.count - 1] = b->recs[i];
    }
    return GREGOR_OK;
}

gregor_err prod_batch_split(gregor_producer *p, prod_batch *b, prod_batch **first, prod_batch **second)
{
    assert(b->rb.count > 1 && b->wire.len > 0);
    int32_t half = b->rb.count / 2;
    prod_batch *h[2] = {batch_new(p, b->part, b->rb.max_bytes), batch_new(p, b->part, b->rb.max_bytes)};
    gregor_err err = h[0] && h[1] ? GREGOR_OK : GREGOR_ERR_NOMEM;
    proto_record_reader r;
    proto_record_reader_init(&r, b->wire.ptr, (size_t)b->wire.len, NULL);
    if (err == GREGOR_OK)
        err = split_copy(b, &r, 0, half, h[0]);
    if (err == GREGOR_OK)
        err = split_copy(b, &r, half, b->rb.count, h[1]);
    proto_record_reader_fini(&r);
    for (int i = 0; i < 2; i++) {
        if (!h[i])
            continue;
        batch_recharge(p, h[i]);
        if (err != GREGOR_OK) {
            p->mem_used -= h[i]->mem;
            prod_batch_free(h[i]);
            continue;
        }
        h[i]->first_ms = b->first_ms;
        h[i]->deadline_ms = b->deadline_ms;
        h[i]->attempts = b->attempts;
        h[i]->last_err = b->last_err;
        h[i]->full = true;
    }
    if (err != GREGOR_OK)
        return err;
    prod_seq_split(b, h[0], h[1]);
    p->mem_used -= b->mem;
    prod_batch_free(b);
    *first = h[0];
    *second = h[1];
    return GREGOR_OK;
}

void prod_stats_get(gregor_producer *p, prod_stats *out)
{
    *out = (prod_stats){
        .delivered = atomic_load_explicit(&p->stats.delivered, memory_order_relaxed),
        .failed = atomic_load_explicit(&p->stats.failed, memory_order_relaxed),
        .batches = atomic_load_explicit(&p->stats.batches, memory_order_relaxed),
        .batch_records = atomic_load_explicit(&p->stats.batch_records, memory_order_relaxed),
        .batch_bytes = atomic_load_explicit(&p->stats.batch_bytes, memory_order_relaxed),
    };
    pthread_mutex_lock(&p->lock);
    out->queued = p->outstanding;
    out->buffer_bytes = p->mem_used;
    for (size_t i = 0; i < p->n_topics; i++)
        for (int32_t j = 0; j < p->topics[i]->n_parts; j++)
            out->in_flight_batches += (uint64_t)(p->topics[i]->parts[j] ? p->topics[i]->parts[j]->in_flight : 0);
    pthread_mutex_unlock(&p->lock);
}

void gregor_producer_stats_get(gregor_producer *p, gregor_producer_stats *out) { prod_stats_get(p, out); }

gregor_client *gregor_producer_client(gregor_producer *p) { return p->client; }

void prod_count(gregor_producer *p)
{
    assert(p->gen_n > 0 && p->gen_base + p->gen_n - 1 == p->gen);
    p->outstanding++;
    p->gen_counts[p->gen_n - 1]++;
}

/* (under the lock) `n` messages of generation `gen` were reported. */
static void gen_reported(gregor_producer *p, uint64_t gen, size_t n)
{
    assert(gen >= p->gen_base && gen - p->gen_base < p->gen_n);
    size_t *c = &p->gen_counts[gen - p->gen_base];
    assert(*c >= n);
    *c -= n;
    size_t k = 0;
    while (k + 1 < p->gen_n && p->gen_counts[k] == 0)
        k++;
    if (k > 0) {
        memmove(p->gen_counts, p->gen_counts + k, (p->gen_n - k) * sizeof *p->gen_counts);
        p->gen_n -= k;
        p->gen_base += k;
    }
}

bool prod_gen_next(gregor_producer *p, uint64_t *gen)
{
    if (p->gen_n == p->gen_cap) {
        size_t cap = p->gen_cap * 2;
        size_t *a = realloc(p->gen_counts, cap * sizeof *a);
        if (!a)
            return false;
        p->gen_counts = a;
        p->gen_cap = cap;
    }
    *gen = p->gen++;
    p->gen_counts[p->gen_n++] = 0;
    gen_reported(p, *gen, 0); /* drops it at once when already empty */
    return true;
}

bool prod_gen_done(const gregor_producer *p, uint64_t gen)
{
    return p->gen_base > gen;
}

/* Releases `bytes` of memory and the messages `recs[0..n)` (or one message
 * of generation `gen` when `recs` is NULL), waking waiters. Takes the lock. */
static void release(gregor_producer *p, size_t bytes, const prod_rec *recs, size_t n, uint64_t gen)
{
    pthread_mutex_lock(&p->lock);
    p->mem_used -= bytes;
    p->outstanding -= n;
    for (size_t i = 0, j; i < n; i = j) {
        uint64_t g = recs ? recs[i].gen : gen;
        for (j = i + 1; j < n && recs[j].gen == g; j++)
            ;
        gen_reported(p, g, j - i);
    }
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
}

void prod_batch_report(gregor_producer *p, prod_batch *b, gregor_err err, int64_t base_offset,
                       int64_t log_append_ms)
{
    size_t n = (size_t)b->rb.count;
    atomic_fetch_add_explicit(err ? &p->stats.failed : &p->stats.delivered, n, memory_order_relaxed);
    if (p->on_delivery) {
        gregor_delivery d = {.err = err, .topic = b->part->topic->name, .partition = b->part->id};
        for (size_t i = 0; i < n; i++) {
            d.offset = err == GREGOR_OK && base_offset >= 0 ? base_offset + (int64_t)i : -1;
            d.timestamp_ms = log_append_ms >= 0 ? log_append_ms : b->recs[i].timestamp_ms;
            d.opaque = b->recs[i].opaque;
            p->on_delivery(&d, p->dr_arg);
        }
    }
    release(p, b->mem, b->recs, n, 0);
    prod_batch_free(b);
}

size_t prod_msg_cost(const gregor_produce_message *m)
{
    size_t n = sizeof(prod_msg) + (m->key ? m->key_len : 0) + (m->value ? m->value_len : 0);
    for (size_t i = 0; i < m->n_headers; i++)
        n += sizeof(proto_header) + m->headers[i].key_len +
             (m->headers[i].value && m->headers[i].value_len > 0 ? (size_t)m->headers[i].value_len : 0);
    return n;
}

prod_msg *prod_msg_new(const gregor_produce_message *m, int64_t ts, const proto_header *h, size_t nh, size_t mem)
{
    size_t klen = m->key ? m->key_len : 0, vlen = m->value ? m->value_len : 0, hbytes = 0;
    for (size_t i = 0; i < nh; i++)
        hbytes += (size_t)h[i].key.len + (h[i].value.len > 0 ? (size_t)h[i].value.len : 0);
    prod_msg *pm = calloc(1, sizeof *pm + nh * sizeof(proto_header));
    if (!pm)
        return NULL;
    pm->headers = (proto_header *)(pm + 1);
    if (!(pm->data = malloc(klen + vlen + hbytes + 1))) {
        free(pm);
        return NULL;
    }
    uint8_t *d = pm->data;
    if (klen)
        memcpy(d, m->key, klen);
    if (vlen)
        memcpy(d + klen, m->value, vlen);
    uint8_t *hp = d + klen + vlen;
    for (size_t i = 0; i < nh; i++) {
        memcpy(hp, h[i].key.ptr, (size_t)h[i].key.len);
        pm->headers[i].key = buf_slice_of(hp, (size_t)h[i].key.len);
        hp += h[i].key.len;
        if (h[i].value.len < 0) {
            pm->headers[i].value = BUF_SLICE_NULL;
        } else {
            if (h[i].value.len)
                memcpy(hp, h[i].value.ptr, (size_t)h[i].value.len);
            pm->headers[i].value = buf_slice_of(hp, (size_t)h[i].value.len);
            hp += h[i].value.len;
        }
    }
    pm->partition = m->partition;
    pm->timestamp_ms = ts;
    pm->opaque = m->opaque;
    pm->mem = mem;
    pm->key_len = m->key ? (int32_t)klen : -1;
    pm->value_len = m->value ? (int32_t)vlen : -1;
    pm->n_headers = nh;
    return pm;
}

void prod_msg_report(gregor_producer *p, prod_msg *m, gregor_err err)
{
    const char *topic = m->topic->name;
    atomic_fetch_add_explicit(err ? &p->stats.failed : &p->stats.delivered, 1, memory_order_relaxed);
    if (p->on_delivery) {
        gregor_delivery d = {.err = err, .topic = topic, .partition = m->partition, .offset = -1,
                             .timestamp_ms = m->timestamp_ms, .opaque = m->opaque};
        p->on_delivery(&d, p->dr_arg);
    }
    release(p, m->mem, NULL, 1, m->gen);
    free(m->data);
    free(m);
}
