/* producer/producer.c — gregor_producer: options, produce, flush, destroy.
 *
 * The application side of the producer. produce() runs on the caller's
 * thread: under the producer's lock it picks the partition and encodes the
 * message into that partition's open batch (accumulator.c), then wakes the
 * loop thread (sender.c) when a batch was opened or filled. Messages for
 * a topic whose metadata is not known yet wait, copied, in the topic's
 * pending list until the sender sees the topic in a snapshot.
 */
#include "producer/producer.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client/config.h"
#include "net/versions.h"
#include "protocol/gen/errors.h"
#include "util/clock.h"
#include "util/log.h"

#define HEADERS_ON_STACK 16

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The record format the configured broker_version implies: 0.8/0.9 speak
 * Produce v0-1 (magic 0), 0.10 Produce v2 (magic 1), the rest v2 batches. */
static int magic_for(const char *broker_version)
{
    int32_t rel;
    if (!strcmp(broker_version, "auto") || net_versions_parse_release(broker_version, &rel) != GREGOR_OK)
        return PROTO_MAGIC_V2;
    if (rel < 10000)
        return PROTO_MAGIC_V0;
    return rel < 11000 ? PROTO_MAGIC_V1 : PROTO_MAGIC_V2;
}

static gregor_err read_config(const gregor_config *cfg, prod_config *pc, char *errstr, size_t n)
{
    const char *acks = config_str(cfg, "acks");
    pc->acks = (int16_t)(!strcmp(acks, "all") || !strcmp(acks, "-1") ? -1 : atoi(acks));
    pc->linger_ms = (int32_t)config_int(cfg, "linger_ms");
    pc->batch_bytes = (size_t)config_int(cfg, "batch_bytes");
    pc->max_request_bytes = (size_t)config_int(cfg, "max_request_bytes");
    pc->buffer_bytes = (size_t)config_int(cfg, "buffer_bytes");
    pc->block_ms = (int32_t)config_int(cfg, "block_ms");
    pc->delivery_timeout_ms = (int32_t)config_int(cfg, "delivery_timeout_ms");
    pc->request_timeout_ms = (int32_t)config_int(cfg, "request_timeout_ms");
    pc->retries = (int32_t)config_int(cfg, "retries");
    pc->retry_backoff_ms = (int32_t)config_int(cfg, "retry_backoff_ms");
    pc->retry_backoff_max_ms = (int32_t)config_int(cfg, "retry_backoff_max_ms");
    pc->max_in_flight = (int32_t)config_int(cfg, "max_in_flight");
    pc->magic = magic_for(config_str(cfg, "broker_version"));
    const char *part = config_str(cfg, "partitioner");
    pc->partitioner = !strncmp(part, "murmur2", 7)      ? PROD_PART_MURMUR2
                      : !strncmp(part, "consistent", 10) ? PROD_PART_CONSISTENT
                                                         : PROD_PART_ROUNDROBIN;
    if (proto_codec_parse(config_str(cfg, "compression"), &pc->codec) != GREGOR_OK) {
        snprintf(errstr, n, "compression: unknown codec '%s'", config_str(cfg, "compression"));
        return GREGOR_ERR_CONFIG;
    }
    pc->level = (int)config_int(cfg, "compression_level");
    if (pc->level == -1)
        pc->level = 0;
    if (pc->codec != PROTO_CODEC_NONE) {
        /* Probe the level once here rather than failing every batch later. */
        buf_writer w;
        buf_writer_init(&w, 1 << 16);
        gregor_err err = proto_compress(pc->codec, pc->magic, pc->level, (const uint8_t *)"x", 1, &w);
        buf_writer_fini(&w);
        if (err != GREGOR_OK) {
            snprintf(errstr, n, "compression %s with level %d (format v%d): %s",
                     proto_codec_name(pc->codec), pc->level, pc->magic, gregor_err_str(err));
            return GREGOR_ERR_CONFIG;
        }
    }
    if (pc->batch_bytes + PROD_REQUEST_OVERHEAD_BYTES > pc->max_request_bytes)
        pc->batch_bytes = pc->max_request_bytes - PROD_REQUEST_OVERHEAD_BYTES; /* max_request_bytes >= 2048 */
    bool idem = config_bool(cfg, "enable_idempotence");
    bool idem_set = config_is_set(cfg, "enable_idempotence");
    if (idem && pc->acks != -1) {
        if (idem_set) {
            snprintf(errstr, n, "enable_idempotence needs acks=all (acks is %s)", acks);
            return GREGOR_ERR_CONFIG;
        }
        idem = false; /* acks chosen explicitly, idempotence left at its default */
    }
    if (idem && pc->magic != PROTO_MAGIC_V2) {
        if (idem_set) {
            snprintf(errstr, n, "enable_idempotence=true needs a broker of 0.11 or later (broker_version is %s)",
                     config_str(cfg, "broker_version"));
            return GREGOR_ERR_CONFIG;
        }
        idem = false; /* brokers before 0.11 have no producer ids */
    }
    pc->idempotence = idem;
    pc->idempotence_required = idem && idem_set;
    return GREGOR_OK;
}

/* The client of a producer made by gregor_producer_new(). Producers create
 * missing topics through Metadata (where the broker allows it), as the Java
 * client and librdkafka do, unless told not to. */
static gregor_err own_client_new(const gregor_config *cfg, gregor_client **out, char *errstr, size_t n)
{
    gregor_config *ccfg = gregor_config_dup(cfg);
    if (!ccfg)
        return GREGOR_ERR_NOMEM;
    gregor_err err = GREGOR_OK;
    if (!config_is_set(ccfg, "allow_auto_create_topics") &&
        gregor_config_set(ccfg, "allow_auto_create_topics", "true", errstr, n) != GREGOR_OK)
        err = GREGOR_ERR_CONFIG;
    if (err == GREGOR_OK)
        err = gregor_client_new(ccfg, out, errstr, n);
    gregor_config_destroy(ccfg);
    return err;
}

/* A producer on `shared` (a reference is taken), or on a client of its own
 * when shared is NULL. */
static gregor_err producer_create(gregor_client *shared, const gregor_config *cfg, gregor_delivery_fn on_delivery,
                                  void *arg, gregor_producer **out, char *errstr, size_t n)
{
    char dummy[1];
    if (!errstr) {
        errstr = dummy;
        n = sizeof dummy;
    }
    gregor_producer *p = calloc(1, sizeof *p);
    if (!p)
        return GREGOR_ERR_NOMEM;
    gregor_err err = read_config(cfg, &p->cfg, errstr, n);
    if (err != GREGOR_OK)
        goto out_free;
    p->on_delivery = on_delivery;
    p->dr_arg = arg;
    p->pid = -1;
    p->epoch = -1;
    p->old_pid = -1;
    p->old_epoch = -1;
    p->pid_state = p->cfg.idempotence ? PROD_PID_NEED : PROD_PID_OFF;
    p->gen_cap = 4;
    if (!(p->gen_counts = calloc(p->gen_cap, sizeof *p->gen_counts))) {
        err = GREGOR_ERR_NOMEM;
        goto out_free;
    }
    p->gen_n = 1;
    p->rng = ((uint64_t)wall_ms() << 16) ^ (uint64_t)(uintptr_t)p ^ 0x9e3779b97f4a7c15ull;
    prod_sender_init(p);
    atomic_init(&p->wake_posted, false);
    if (pthread_mutex_init(&p->lock, NULL)) {
        err = GREGOR_ERR_NOMEM;
        goto out_free;
    }
    int rc = clock_cond_init(&p->cond);
    if (rc) {
        err = GREGOR_ERR_NOMEM;
        goto out_lock;
    }
    if ((err = client_gate_init(&p->gate)) != GREGOR_OK) {
        pthread_cond_destroy(&p->cond);
        goto out_lock;
    }
    p->own_client = !shared;
    if (shared)
        p->client = client_ref(shared);
    else if ((err = own_client_new(cfg, &p->client, errstr, n)) != GREGOR_OK)
        goto out_cond;
    if (p->cfg.idempotence)
        prod_wake(p);
    *out = p;
    return GREGOR_OK;
out_cond:
    client_gate_fini(&p->gate);
    pthread_cond_destroy(&p->cond);
out_lock:
    pthread_mutex_destroy(&p->lock);
out_free:
    free(p->gen_counts);
    free(p);
    return err;
}

gregor_err gregor_producer_new(const gregor_config *cfg, gregor_delivery_fn on_delivery, void *arg,
                               gregor_producer **out, char *errstr, size_t n)
{
    return producer_create(NULL, cfg, on_delivery, arg, out, errstr, n);
}

gregor_err gregor_producer_new_on(gregor_client *client, const gregor_config *cfg, gregor_delivery_fn on_delivery,
                                  void *arg, gregor_producer **out, char *errstr, size_t n)
{
    return producer_create(client, cfg, on_delivery, arg, out, errstr, n);
}

void gregor_producer_set_partitioner(gregor_producer *p, gregor_partitioner_fn fn, void *arg)
{
    pthread_mutex_lock(&p->lock);
    p->user_part = fn;
    p->user_part_arg = arg;
    pthread_mutex_unlock(&p->lock);
}

/* The topic named `name`, added (and its metadata asked for) when new. */
static prod_topic *topic_get(gregor_producer *p, const char *name)
{
    for (size_t i = 0; i < p->n_topics; i++)
        if (!strcmp(p->topics[i]->name, name))
            return p->topics[i];
    if (p->n_topics == p->cap_topics) {
        size_t cap = p->cap_topics ? p->cap_topics * 2 : 8;
        prod_topic **a = realloc(p->topics, cap * sizeof *a);
        if (!a)
            return NULL;
        p->topics = a;
        p->cap_topics = cap;
    }
    prod_topic *t = calloc(1, sizeof *t);
    if (!t || !(t->name = strdup(name))) {
        free(t);
        return NULL;
    }
    t->sticky = -1;
    if (cluster_add_topics(p->client->cluster, (const char *const *)&t->name, 1) != GREGOR_OK) {
        free(t->name);
        free(t);
        return NULL;
    }
    p->topics[p->n_topics++] = t;
    return t;
}

/* Waits (under the lock) until `cost` more bytes fit, for at most block_ms. */
static gregor_err wait_for_room(gregor_producer *p, size_t cost)
{
    if (p->mem_used + cost <= p->cfg.buffer_bytes || p->mem_used == 0)
        return GREGOR_OK;
    if (p->cfg.block_ms == 0 || net_loop_on_thread(p->client->loop))
        return GREGOR_ERR_QUEUE_FULL;
    struct timespec until = clock_deadline_ts(p->cfg.block_ms);
    while (p->mem_used + cost > p->cfg.buffer_bytes && p->mem_used > 0 && !p->closing)
        if (pthread_cond_timedwait(&p->cond, &p->lock, &until) == ETIMEDOUT)
            return p->mem_used + cost > p->cfg.buffer_bytes ? GREGOR_ERR_QUEUE_FULL : GREGOR_OK;
    return p->closing ? GREGOR_ERR_DESTROYED : GREGOR_OK;
}

static gregor_err produce_locked(gregor_producer *p, const gregor_produce_message *m, int64_t ts,
                                 const proto_header *h, size_t nh, bool *wake)
{
    if (p->closing)
        return GREGOR_ERR_DESTROYED;
    if (p->pid_state == PROD_PID_FATAL)
        return p->fatal_err;
    size_t cost = prod_msg_cost(m);
    gregor_err err = wait_for_room(p, cost);
    if (err != GREGOR_OK)
        return err;
    prod_topic *t = topic_get(p, m->topic);
    if (!t)
        return GREGOR_ERR_NOMEM;
    if (t->n_parts == 0 || t->pending) {
        /* No metadata yet (or older messages still wait): keep order. */
        prod_msg *pm = prod_msg_new(m, ts, h, nh, cost);
        if (!pm)
            return GREGOR_ERR_NOMEM;
        pm->deadline_ms = net_now_ms() + p->cfg.delivery_timeout_ms;
        pm->topic = t;
        pm->gen = p->gen;
        if (t->pending_tail)
            t->pending_tail->next = pm;
        else
            t->pending = pm;
        t->pending_tail = pm;
        p->mem_used += cost;
        prod_count(p);
        *wake = true;
        return GREGOR_OK;
    }
    int32_t part = m->partition;
    if (part == GREGOR_PARTITION_ANY) {
        if ((err = prod_partition_choose(p, t, m->key, m->key_len, m->key == NULL, &part)) != GREGOR_OK)
            return err;
    } else if (part >= t->n_parts) {
        return gregor_err_from_broker(PROTO_ERR_UNKNOWN_TOPIC_OR_PARTITION);
    }
    buf_slice key = m->key ? buf_slice_of(m->key, m->key_len) : BUF_SLICE_NULL;
    buf_slice value = m->value ? buf_slice_of(m->value, m->value_len) : BUF_SLICE_NULL;
    err = prod_append(p, t->parts[part], ts, key, value, h, nh, m->opaque, p->gen, wake);
    if (err == GREGOR_OK)
        prod_count(p);
    return err;
}

gregor_err gregor_producer_produce(gregor_producer *p, const gregor_produce_message *m)
{
    if (!p || !m || !m->topic || !m->topic[0] || m->partition < GREGOR_PARTITION_ANY ||
        (m->key && m->key_len > INT32_MAX / 2) || (m->value && m->value_len > INT32_MAX / 2))
        return GREGOR_ERR_INVALID_ARG;
    if (m->n_headers > 0 && p->cfg.magic != PROTO_MAGIC_V2)
        return GREGOR_ERR_UNSUPPORTED;
    size_t cost = prod_msg_cost(m);
    if (cost > prod_record_bytes_max(p) || cost > p->cfg.buffer_bytes)
        return GREGOR_ERR_TOO_LARGE; /* larger than batch_bytes is fine: a batch of its own */
    proto_header stack[HEADERS_ON_STACK], *h = stack;
    if (m->n_headers > HEADERS_ON_STACK && !(h = malloc(m->n_headers * sizeof *h)))
        return GREGOR_ERR_NOMEM;
    gregor_err err = GREGOR_OK;
    for (size_t i = 0; i < m->n_headers; i++) {
        const gregor_header *g = &m->headers[i];
        if ((!g->key && g->key_len) || g->key_len > INT32_MAX / 2) {
            err = GREGOR_ERR_INVALID_ARG;
            goto out_headers;
        }
        h[i].key = buf_slice_of(g->key ? g->key : "", g->key_len);
        h[i].value = g->value && g->value_len >= 0 ? buf_slice_of(g->value, (size_t)g->value_len) : BUF_SLICE_NULL;
    }
    int64_t ts = m->timestamp_ms ? m->timestamp_ms : wall_ms();
    bool wake = false;
    pthread_mutex_lock(&p->lock);
    err = produce_locked(p, m, ts, h, m->n_headers, &wake);
    pthread_mutex_unlock(&p->lock);
    if (wake)
        prod_wake(p);
out_headers:
    if (h != stack)
        free(h);
    return err;
}

size_t gregor_producer_outstanding(gregor_producer *p)
{
    pthread_mutex_lock(&p->lock);
    size_t n = p->outstanding;
    pthread_mutex_unlock(&p->lock);
    return n;
}

/* (under the lock) Whether what the flush waits for is reported: the
 * messages of its generation and older, or (without a generation, out of
 * memory) every message. */
static bool flush_done(const gregor_producer *p, bool by_gen, uint64_t gen)
{
    return by_gen ? prod_gen_done(p, gen) : p->outstanding == 0;
}

gregor_err gregor_producer_flush(gregor_producer *p, int32_t timeout_ms)
{
    uint64_t gen = 0;
    pthread_mutex_lock(&p->lock);
    p->flushing++;
    bool by_gen = prod_gen_next(p, &gen);
    pthread_mutex_unlock(&p->lock);
    prod_wake(p);
    struct timespec until = clock_deadline_ts(timeout_ms);
    gregor_err err = GREGOR_OK;
    pthread_mutex_lock(&p->lock);
    while (!flush_done(p, by_gen, gen)) {
        if (timeout_ms < 0) {
            pthread_cond_wait(&p->cond, &p->lock);
        } else if (pthread_cond_timedwait(&p->cond, &p->lock, &until) == ETIMEDOUT) {
            err = flush_done(p, by_gen, gen) ? GREGOR_OK : GREGOR_ERR_TIMED_OUT;
            break;
        }
    }
    p->flushing--;
    pthread_mutex_unlock(&p->lock);
    return err;
}

/* (loop) Cancels the sender's timers: run through net_loop_call. */
static void stop_job(net_loop *l, void *arg)
{
    (void)l;
    prod_sender_stop(arg);
}

static void nothing_job(net_loop *l, void *arg)
{
    (void)l, (void)arg;
}

static void free_topics(gregor_producer *p)
{
    for (size_t i = 0; i < p->n_topics; i++) {
        prod_topic *t = p->topics[i];
        for (int32_t k = 0; k < t->n_parts; k++)
            free(t->parts[k]);
        free(t->parts);
        free(t->name);
        free(t);
    }
    free(p->topics);
}

void gregor_producer_destroy(gregor_producer *p, int32_t timeout_ms)
{
    if (!p)
        return;
    if (gregor_producer_flush(p, timeout_ms) != GREGOR_OK)
        gregor_log(GREGOR_LOG_WARN, "producer: %zu messages undelivered at destroy",
                   gregor_producer_outstanding(p));
    pthread_mutex_lock(&p->lock);
    p->closing = true;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);

    if (net_loop_call(p->client->loop, stop_job, p) != GREGOR_OK)
        gregor_log(GREGOR_LOG_ERROR, "producer: out of memory stopping the sender; its timers may still fire");

    if (!p->own_client) {
        /* A shared client's connections stay: what is in flight ends with
         * its answer or its deadline; then the jobs its callbacks posted
         * run (they see `stopped`). */
        client_gate_wait(&p->gate);
        if (net_loop_call(p->client->loop, nothing_job, NULL) != GREGOR_OK)
            gregor_log(GREGOR_LOG_ERROR, "producer: out of memory waiting for the I/O thread");
    }
    /* Our own client: closing the connections fails what is in flight
     * (reported by the requests' callbacks); then what never left the
     * queues. */
    gregor_client_destroy(p->client);
    prod_fail_all(p, GREGOR_ERR_DESTROYED);
    free_topics(p);
    free(p->gen_counts);
    client_gate_fini(&p->gate);
    pthread_cond_destroy(&p->cond);
    pthread_mutex_destroy(&p->lock);
    free(p);
}
