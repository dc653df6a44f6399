/* consumer/consumer.c — gregor_consumer's application-side API: creation,
 * assignment, seek, pause/resume, poll and positions. The fetching itself
 * runs on the loop thread (fetcher.c, list_offsets.c); the two sides meet
 * under the consumer's lock (consumer_int.h describes the fields). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client/config.h"
#include "consumer/consumer_int.h"
#include "protocol/gen/errors.h"
#include "util/clock.h"
#include "util/errstr.h"
#include "util/log.h"

/* ------------------------------------------------------------ helpers */

cpart *consumer_find_part(gregor_consumer *c, const char *topic, int32_t partition)
{
    for (size_t i = 0; i < c->n_parts; i++)
        if (c->parts[i]->partition == partition && !strcmp(c->parts[i]->topic, topic))
            return c->parts[i];
    return NULL;
}

void consumer_kick_locked(gregor_consumer *c)
{
    if (c->kick_posted || c->closing)
        return;
    if (net_loop_post(c->client->loop, fetcher_kick, c) == GREGOR_OK)
        c->kick_posted = true;
}

void consumer_fail_part_locked(gregor_consumer *c, cpart *p, gregor_err err, int64_t offset, const char *fmt, ...)
{
    p->state = CPART_FAILED;
    p->err = err;
    p->err_offset = offset;
    p->err_reported = false;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->errstr, sizeof p->errstr, fmt, ap);
    va_end(ap);
    gregor_log(GREGOR_LOG_WARN, "consumer: %s", p->errstr);
    pthread_cond_broadcast(&c->cond);
}

void consumer_backoff_locked(gregor_consumer *c, cpart *p)
{
    p->retry_at_ms = net_now_ms() + c->backoff_ms;
}

void consumer_drop_queued_locked(gregor_consumer *c, const cpart *p)
{
    gregor_batch **link = &c->q_head;
    bool dropped = false;
    c->q_tail = NULL;
    while (*link) {
        gregor_batch *b = *link;
        if (!p || b->part == p) {
            *link = b->next;
            gregor_batch_destroy(b);
            dropped = true;
        } else {
            c->q_tail = b;
            link = &b->next;
        }
    }
    if (dropped)
        consumer_kick_locked(c);
}

/* ------------------------------------------------------------- create */

static gregor_err read_settings(gregor_consumer *c, const gregor_config *cfg, char *errstr, size_t n)
{
    c->fetch_min_bytes = (int32_t)config_int(cfg, "fetch_min_bytes");
    c->fetch_max_wait_ms = (int32_t)config_int(cfg, "fetch_max_wait_ms");
    c->fetch_max_bytes = (int32_t)config_int(cfg, "fetch_max_bytes");
    c->part_max_bytes = (int32_t)config_int(cfg, "max_partition_fetch_bytes");
    c->prefetch_bytes = (size_t)config_int(cfg, "prefetch_bytes");
    c->backoff_ms = (int32_t)config_int(cfg, "fetch_error_backoff_ms");
    c->request_timeout_ms = (int32_t)config_int(cfg, "request_timeout_ms");
    const char *reset = config_str(cfg, "auto_offset_reset");
    c->reset_policy = !strcmp(reset, "earliest") ? GREGOR_OFFSET_BEGINNING
                      : !strcmp(reset, "latest") ? GREGOR_OFFSET_END
                                                 : 0;
    c->read_committed = !strcmp(config_str(cfg, "isolation"), "read_committed");
    c->check_crcs = config_bool(cfg, "check_crcs");
    c->auto_offset_store = config_bool(cfg, "enable_auto_offset_store");
    if (c->fetch_max_wait_ms >= c->request_timeout_ms) {
        errstr_set(errstr, n, "fetch_max_wait_ms (%d) must be below request_timeout_ms (%d)", c->fetch_max_wait_ms,
                   c->request_timeout_ms);
        return GREGOR_ERR_CONFIG;
    }
    return GREGOR_OK;
}

/* A consumer on `shared` (a reference is taken), or on a client of its own
 * when shared is NULL. */
static gregor_err consumer_create(gregor_client *shared, const gregor_config *cfg, gregor_consumer **out,
                                  char *errstr, size_t n)
{
    gregor_consumer *c = calloc(1, sizeof *c);
    if (!c)
        return GREGOR_ERR_NOMEM;
    gregor_err err;
    if ((err = read_settings(c, cfg, errstr, n)) != GREGOR_OK)
        goto out_free;
    if ((err = client_gate_init(&c->gate)) != GREGOR_OK)
        goto out_free;
    pthread_mutex_init(&c->lock, NULL);
    pthread_mutex_init(&c->fetch_lock, NULL);
    if (clock_cond_init(&c->cond) != 0) {
        pthread_mutex_destroy(&c->fetch_lock);
        pthread_mutex_destroy(&c->lock);
        err = GREGOR_ERR_NOMEM;
        goto out_free;
    }
    net_timer_init(&c->retry_timer, fetcher_timer_fired, c);
    if (!(c->mem = fetch_mem_new(c, c->prefetch_bytes))) {
        err = GREGOR_ERR_NOMEM;
        goto out_sync;
    }
    c->own_client = !shared;
    if (shared)
        c->client = client_ref(shared);
    else if ((err = gregor_client_new(cfg, &c->client, errstr, n)) != GREGOR_OK)
        goto out_mem;
    const char *group = config_str(cfg, "group_id");
    if (group[0]) {
        c->offs = offsets_new(c, group, config_bool(cfg, "enable_auto_commit"),
                              (int32_t)config_int(cfg, "auto_commit_interval_ms"),
                              (int32_t)config_int(cfg, "commit_timeout_ms"));
        if (!c->offs) {
            err = GREGOR_ERR_NOMEM;
            goto out_client;
        }
    }
    c->poll_err = (gregor_consumer_error){GREGOR_OK, NULL, -1, -1, c->poll_errstr};
    *out = c;
    return GREGOR_OK;
out_client:
    gregor_client_destroy(c->client);
out_mem:
    fetch_mem_unref(c->mem);
out_sync:
    pthread_cond_destroy(&c->cond);
    pthread_mutex_destroy(&c->fetch_lock);
    pthread_mutex_destroy(&c->lock);
    client_gate_fini(&c->gate);
out_free:
    free(c);
    return err;
}

gregor_err gregor_consumer_new(const gregor_config *cfg, gregor_consumer **out, char *errstr, size_t n)
{
    return consumer_create(NULL, cfg, out, errstr, n);
}

gregor_err gregor_consumer_new_on(gregor_client *client, const gregor_config *cfg, gregor_consumer **out,
                                  char *errstr, size_t n)
{
    return consumer_create(client, cfg, out, errstr, n);
}

/* ------------------------------------------------------------ destroy */

static void stop_on_loop(net_loop *l, void *arg)
{
    gregor_consumer *c = arg;
    net_timer_cancel(l, &c->retry_timer);
}

/* Frees committed()'s metadata strings. fetch_lock held, or destroy. */
static void free_committed_meta(gregor_consumer *c)
{
    for (size_t i = 0; i < c->n_committed_meta; i++)
        free(c->committed_meta[i]);
    free(c->committed_meta);
    c->committed_meta = NULL;
    c->n_committed_meta = 0;
}

static void nothing_on_loop(net_loop *l, void *arg)
{
    (void)l, (void)arg;
}

/* Stops the loop side: no new kicks, the retry timer cancelled. Jobs
 * posted earlier run before this one (the loop's queue is FIFO). */
static void stop_fetching(gregor_consumer *c)
{
    pthread_mutex_lock(&c->lock);
    c->closing = true;
    pthread_mutex_unlock(&c->lock);
    /* Without memory for the job the timer may still fire, but its kick
     * sees `closing` and does nothing. */
    if (net_loop_call(c->client->loop, stop_on_loop, c) != GREGOR_OK)
        gregor_log(GREGOR_LOG_WARN, "consumer: cannot cancel the retry timer: out of memory");
}

void gregor_consumer_destroy(gregor_consumer *c)
{
    if (!c)
        return;
    if (c->offs)
        offsets_destroy(c->offs); /* commits on close, runs callbacks */
    fetch_mem_disown(c->mem); /* batches freed from now on kick nothing */
    stop_fetching(c);
    if (!c->own_client) {
        /* The connections stay: wait for our requests in flight (a
         * long-poll Fetch: up to fetch_max_wait_ms) and for jobs their
         * callbacks posted, which see `closing` and do nothing. */
        client_gate_wait(&c->gate);
        if (net_loop_call(c->client->loop, nothing_on_loop, NULL) != GREGOR_OK)
            gregor_log(GREGOR_LOG_WARN, "consumer: out of memory waiting for the I/O thread");
    }
    /* Our own client: in-flight requests end with DESTROYED inside this,
     * seeing `closing`. A shared one lives on while others use it. */
    gregor_client_destroy(c->client);
    consumer_drop_queued_locked(c, NULL);
    for (size_t i = 0; i < c->n_parts; i++) {
        free(c->parts[i]->topic);
        free(c->parts[i]);
    }
    free(c->parts);
    free(c->busy_nodes);
    fetch_mem_unref(c->mem); /* outstanding batches may hold it longer */
    free_committed_meta(c);
    pthread_cond_destroy(&c->cond);
    pthread_mutex_destroy(&c->fetch_lock);
    pthread_mutex_destroy(&c->lock);
    client_gate_fini(&c->gate);
    free(c);
}

gregor_client *gregor_consumer_client(gregor_consumer *c) { return c->client; }

size_t consumer_prefetch_held(gregor_consumer *c) { return fetch_mem_held(c->mem); }

/* ------------------------------------------------------------- assign */

gregor_err consumer_wait_partition(gregor_consumer *c, const char *topic, int32_t partition, char *errstr, size_t n)
{
    const char *names[1] = {topic};
    gregor_err err = cluster_add_topics(c->client->cluster, names, 1);
    if (err != GREGOR_OK)
        return err;
    int64_t deadline = net_now_ms() + c->request_timeout_ms;
    uint64_t gen = 0;
    int unknown_answers = 0;
    for (;;) {
        cluster_snapshot *s = cluster_snapshot_get(c->client->cluster);
        const cluster_topic *t = s ? cluster_snapshot_topic(s, topic) : NULL;
        bool found = t && t->err == GREGOR_OK && cluster_topic_partition(t, partition);
        bool listed_unknown = t && (t->err == PROTO_ERR_UNKNOWN_TOPIC_OR_PARTITION || (t->err == GREGOR_OK && !cluster_topic_partition(t, partition)));
        if (s && s->generation != gen && listed_unknown)
            unknown_answers++;
        gen = s ? s->generation : 0;
        cluster_snapshot_unref(s);
        if (found)
            return GREGOR_OK;
        /* Two fresh answers saying no: the topic (or partition) does not exist. */
        if (unknown_answers >= 2) {
            errstr_set(errstr, n, "topic '%s' partition %d is not in the cluster", topic, (int)partition);
            return GREGOR_ERR_UNKNOWN_TOPIC;
        }
        int64_t left = deadline - net_now_ms();
        if (left <= 0) {
            errstr_set(errstr, n, "no metadata for topic '%s' partition %d", topic, (int)partition);
            return GREGOR_ERR_TIMED_OUT;
        }
        cluster_request_refresh(c->client->cluster);
        s = NULL;
        err = cluster_wait_snapshot(c->client->cluster, gen, (int32_t)(left < 1000 ? left : 1000), &s, errstr, n);
        cluster_snapshot_unref(s);
        if (err != GREGOR_OK && err != GREGOR_ERR_TIMED_OUT && net_now_ms() >= deadline)
            return err;
    }
}

/* Turns a GREGOR_OFFSET_COMMITTED start into an offset (with the leader
 * epoch stored with it, -1 when none) or a reset. */
static gregor_err resolve_committed(gregor_consumer *c, const char *topic, int32_t partition, int64_t *offset,
                                    int32_t *epoch, char *errstr, size_t n)
{
    if (!c->offs) {
        errstr_set(errstr, n, "GREGOR_OFFSET_COMMITTED needs group_id");
        return GREGOR_ERR_INVALID_ARG;
    }
    gregor_topic_offset o = {.topic = topic, .partition = partition, .offset = -1};
    pthread_mutex_lock(&c->fetch_lock);
    gregor_err err = offsets_fetch_sync(c->offs, &o, 1, epoch, errstr, n);
    pthread_mutex_unlock(&c->fetch_lock);
    if (err != GREGOR_OK)
        return err;
    if (o.offset >= 0) {
        *offset = o.offset;
        return GREGOR_OK;
    }
    if (c->reset_policy == 0) {
        errstr_set(errstr, n, "topic '%s' partition %d: no committed offset and auto_offset_reset=error", topic,
                   (int)partition);
        return GREGOR_ERR_STATE;
    }
    *offset = c->reset_policy;
    return GREGOR_OK;
}

void consumer_start_at_locked(gregor_consumer *c, cpart *p, int64_t offset, int64_t timestamp_ms, int32_t epoch)
{
    p->gen++;
    p->validate_oor = false;
    p->err_reported = false;
    p->err = GREGOR_OK;
    p->retry_at_ms = 0;
    p->fetch_size_min = 0;
    p->fetch_epoch = p->position_epoch = offset >= 0 ? epoch : -1;
    if (offset >= 0) {
        p->state = CPART_READY;
        p->fetch_offset = p->position = offset;
    } else if (offset == GREGOR_OFFSET_COMMITTED) { /* assign_list: resolved on the committer thread */
        p->state = CPART_NEED_COMMITTED;
        p->position = -1;
    } else {
        p->state = CPART_NEED_OFFSET;
        p->reset_ts = offset == GREGOR_OFFSET_TIMESTAMP ? timestamp_ms : offset;
        p->position = -1;
    }
    consumer_drop_queued_locked(c, p);
    consumer_kick_locked(c);
}

/* A cpart created for a partition never assigned before, or NULL on NOMEM.
 * Lock held. */
static cpart *new_part_locked(gregor_consumer *c, const char *topic, int32_t partition)
{
    if (c->n_parts == c->cap_parts) {
        size_t cap = c->cap_parts ? c->cap_parts * 2 : 8;
        cpart **np = realloc(c->parts, cap * sizeof *np);
        if (!np)
            return NULL;
        c->parts = np;
        c->cap_parts = cap;
    }
    cpart *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    if (!(p->topic = strdup(topic))) {
        free(p);
        return NULL;
    }
    p->partition = partition;
    p->high_watermark = p->log_start_offset = p->committed = p->consumed = -1;
    p->fetch_epoch = p->position_epoch = p->consumed_epoch = p->leader_epoch = -1;
    c->parts[c->n_parts++] = p;
    return p;
}

cpart *consumer_assign_part_locked(gregor_consumer *c, const char *topic, int32_t partition)
{
    cpart *p = consumer_find_part(c, topic, partition);
    if (!p && !(p = new_part_locked(c, topic, partition)))
        return NULL;
    if (!p->assigned) /* what was stored under an earlier assignment is not to be committed now */
        p->stored = p->stored_epoch = -1;
    p->assigned = true;
    p->paused = false;
    return p;
}

gregor_err consumer_check_offset(int64_t offset, int64_t timestamp_ms, char *errstr, size_t n)
{
    if (offset >= 0 || offset == GREGOR_OFFSET_BEGINNING || offset == GREGOR_OFFSET_END ||
        offset == GREGOR_OFFSET_COMMITTED || (offset == GREGOR_OFFSET_TIMESTAMP && timestamp_ms >= 0))
        return GREGOR_OK;
    errstr_set(errstr, n, "invalid start offset %lld", (long long)offset);
    return GREGOR_ERR_INVALID_ARG;
}

gregor_err gregor_consumer_assign(gregor_consumer *c, const char *topic, int32_t partition, int64_t offset,
                                  int64_t timestamp_ms, char *errstr, size_t n)
{
    gregor_err err = consumer_check_offset(offset, timestamp_ms, errstr, n);
    if (err != GREGOR_OK || partition < 0)
        return err != GREGOR_OK ? err : GREGOR_ERR_INVALID_ARG;
    if ((err = consumer_wait_partition(c, topic, partition, errstr, n)) != GREGOR_OK)
        return err;
    int32_t epoch = -1;
    if (offset == GREGOR_OFFSET_COMMITTED &&
        (err = resolve_committed(c, topic, partition, &offset, &epoch, errstr, n)) != GREGOR_OK)
        return err;
    pthread_mutex_lock(&c->lock);
    cpart *p = consumer_assign_part_locked(c, topic, partition);
    if (p)
        consumer_start_at_locked(c, p, offset, timestamp_ms, epoch);
    pthread_mutex_unlock(&c->lock);
    if (!p) {
        errstr_set(errstr, n, "out of memory");
        return GREGOR_ERR_NOMEM;
    }
    return GREGOR_OK;
}

gregor_err gregor_consumer_unassign(gregor_consumer *c, const char *topic, int32_t partition)
{
    pthread_mutex_lock(&c->lock);
    gregor_err err = consumer_unassign_locked(c, topic, partition);
    pthread_mutex_unlock(&c->lock);
    return err;
}

gregor_err gregor_consumer_seek(gregor_consumer *c, const char *topic, int32_t partition, int64_t offset,
                                int64_t timestamp_ms, char *errstr, size_t n)
{
    gregor_err err = consumer_check_offset(offset, timestamp_ms, errstr, n);
    if (err != GREGOR_OK)
        return err;
    int32_t epoch = -1;
    if (offset == GREGOR_OFFSET_COMMITTED &&
        (err = resolve_committed(c, topic, partition, &offset, &epoch, errstr, n)) != GREGOR_OK)
        return err;
    pthread_mutex_lock(&c->lock);
    cpart *p = consumer_find_part(c, topic, partition);
    if (p && p->assigned)
        consumer_start_at_locked(c, p, offset, timestamp_ms, epoch);
    else
        err = GREGOR_ERR_UNKNOWN_TOPIC;
    pthread_mutex_unlock(&c->lock);
    if (err != GREGOR_OK)
        errstr_set(errstr, n, "topic '%s' partition %d is not assigned", topic, (int)partition);
    return err;
}

static gregor_err set_paused(gregor_consumer *c, const char *topic, int32_t partition, bool paused)
{
    pthread_mutex_lock(&c->lock);
    cpart *p = consumer_find_part(c, topic, partition);
    gregor_err err = p && p->assigned ? GREGOR_OK : GREGOR_ERR_UNKNOWN_TOPIC;
    if (err == GREGOR_OK && paused && !p->paused) {
        /* Fetched data of a paused partition is dropped (and fetched again
         * after resume) so that it cannot hold prefetch memory others need. */
        p->paused = true;
        p->gen++;
        consumer_drop_queued_locked(c, p);
        if (p->state == CPART_READY || p->state == CPART_VALIDATE) {
            p->fetch_offset = p->position;
            p->fetch_epoch = p->position_epoch;
        }
    } else if (err == GREGOR_OK && !paused && p->paused) {
        p->paused = false;
        consumer_kick_locked(c);
    }
    pthread_mutex_unlock(&c->lock);
    return err;
}

gregor_err gregor_consumer_pause(gregor_consumer *c, const char *topic, int32_t partition)
{
    return set_paused(c, topic, partition, true);
}

gregor_err gregor_consumer_resume(gregor_consumer *c, const char *topic, int32_t partition)
{
    return set_paused(c, topic, partition, false);
}

gregor_err gregor_consumer_position(gregor_consumer *c, const char *topic, int32_t partition,
                                    gregor_partition_state *out)
{
    pthread_mutex_lock(&c->lock);
    cpart *p = consumer_find_part(c, topic, partition);
    gregor_err err = p && p->assigned ? GREGOR_OK : GREGOR_ERR_UNKNOWN_TOPIC;
    if (err == GREGOR_OK) {
        out->position = p->position;
        out->high_watermark = p->high_watermark;
        out->log_start_offset = p->log_start_offset;
        out->lag = p->position >= 0 && p->high_watermark >= 0 ? p->high_watermark - p->position : -1;
        if (out->lag < 0 && out->lag != -1)
            out->lag = 0;
        out->paused = p->paused;
    }
    pthread_mutex_unlock(&c->lock);
    return err;
}

/* --------------------------------------------------------------- poll */

/* The first deliverable batch, unlinked; stale ones are freed on the way.
 * Lock held. */
static gregor_batch *pop_locked(gregor_consumer *c)
{
    gregor_batch **link = &c->q_head, *prev = NULL;
    while (*link) {
        gregor_batch *b = *link;
        cpart *p = b->part;
        bool stale = !p->assigned || b->gen != p->gen;
        if (!stale && p->paused) {
            prev = b;
            link = &b->next;
            continue;
        }
        *link = b->next;
        if (c->q_tail == b)
            c->q_tail = prev;
        if (stale) {
            gregor_batch_destroy(b);
            continue;
        }
        p->position = b->next_offset;
        if (b->next_epoch >= 0)
            p->position_epoch = b->next_epoch;
        if (b->n_msgs == 0) { /* only control records or aborted data: position moved */
            gregor_batch_destroy(b);
            continue;
        }
        b->part = NULL;
        b->next = NULL;
        return b;
    }
    return NULL;
}

/* A failure not yet reported, copied to errstr and c->poll_err. Lock held. */
static gregor_err failure_locked(gregor_consumer *c, char *errstr, size_t n)
{
    for (size_t i = 0; i < c->n_parts; i++) {
        cpart *p = c->parts[i];
        if (p->assigned && p->state == CPART_FAILED && !p->err_reported) {
            p->err_reported = true;
            errstr_set(errstr, n, "%s", p->errstr);
            snprintf(c->poll_errstr, sizeof c->poll_errstr, "%s", p->errstr);
            c->poll_err = (gregor_consumer_error){p->err, p->topic, p->partition, p->err_offset, c->poll_errstr};
            return p->err;
        }
    }
    return GREGOR_OK;
}

void gregor_consumer_poll_error(const gregor_consumer *c, gregor_consumer_error *out) { *out = c->poll_err; }

gregor_err gregor_consumer_poll(gregor_consumer *c, int32_t timeout_ms, gregor_batch **out, char *errstr, size_t n)
{
    *out = NULL;
    c->poll_errstr[0] = 0;
    c->poll_err = (gregor_consumer_error){GREGOR_OK, NULL, -1, -1, c->poll_errstr};
    if (c->offs)
        offsets_run_callbacks(c->offs);
    struct timespec until = clock_deadline_ts(timeout_ms > 0 ? timeout_ms : 0);
    gregor_err err = GREGOR_OK;
    pthread_mutex_lock(&c->lock);
    /* What poll returned before this call counts as processed: auto-commit
     * may store it from now on, and nothing returned later (Java's rule). */
    for (size_t i = 0; i < c->n_parts; i++) {
        c->parts[i]->consumed = c->parts[i]->position;
        c->parts[i]->consumed_epoch = c->parts[i]->position_epoch;
    }
    for (;;) {
        if ((err = failure_locked(c, errstr, n)) != GREGOR_OK)
            break;
        if ((*out = pop_locked(c)) != NULL || timeout_ms == 0)
            break;
        if (c->wakeup) {
            c->wakeup = false;
            break;
        }
        int rc = 0;
        if (timeout_ms < 0)
            pthread_cond_wait(&c->cond, &c->lock);
        else
            rc = pthread_cond_timedwait(&c->cond, &c->lock, &until);
        if (c->offs) { /* a commit result may have woken us */
            pthread_mutex_unlock(&c->lock);
            offsets_run_callbacks(c->offs);
            pthread_mutex_lock(&c->lock);
        }
        if (rc == ETIMEDOUT) {
            if ((err = failure_locked(c, errstr, n)) == GREGOR_OK)
                *out = pop_locked(c);
            break;
        }
    }
    pthread_mutex_unlock(&c->lock);
    return err;
}

void gregor_consumer_wakeup(gregor_consumer *c)
{
    pthread_mutex_lock(&c->lock);
    c->wakeup = true;
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->lock);
}

/* ------------------------------------------------------------ offset_mgr */

gregor_err consumer_positions(gregor_consumer *c, consumer_pos_kind kind, bool changed_only,
                              gregor_topic_offset **out, int32_t **epochs, size_t *n)
{
    pthread_mutex_lock(&c->lock);
    size_t cap = c->n_parts ? c->n_parts : 1;
    gregor_topic_offset *v = calloc(cap, sizeof *v);
    int32_t *e = calloc(cap, sizeof *e);
    size_t k = 0;
    for (size_t i = 0; v && e && i < c->n_parts; i++) {
        cpart *p = c->parts[i];
        bool consumed = kind == CONSUMER_POS_CONSUMED;
        int64_t pos = consumed ? p->consumed : p->position;
        int32_t epoch = consumed ? p->consumed_epoch : p->position_epoch;
        if (!c->auto_offset_store) {
            pos = p->stored;
            epoch = p->stored_epoch;
            changed_only = true;
        }
        if (!p->assigned || pos < 0 || (changed_only && pos == p->committed))
            continue;
        e[k] = epoch;
        v[k++] = (gregor_topic_offset){.topic = p->topic, .partition = p->partition, .offset = pos};
    }
    pthread_mutex_unlock(&c->lock);
    if (!v || !e) {
        free(v);
        free(e);
        return GREGOR_ERR_NOMEM;
    }
    *out = v;
    *epochs = e;
    *n = k;
    return GREGOR_OK;
}

void consumer_mark_committed(gregor_consumer *c, const gregor_topic_offset *offs, size_t n)
{
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < n; i++) {
        cpart *p = offs[i].err == GREGOR_OK ? consumer_find_part(c, offs[i].topic, offs[i].partition) : NULL;
        if (p)
            p->committed = offs[i].offset;
    }
    pthread_mutex_unlock(&c->lock);
}

gregor_err gregor_consumer_commit(gregor_consumer *c, gregor_topic_offset *offsets, size_t n,
                                  const char *metadata, gregor_commit_cb cb, void *opaque, char *errstr,
                                  size_t errstr_size)
{
    if (!c->offs) {
        errstr_set(errstr, errstr_size, "commit needs group_id");
        return GREGOR_ERR_STATE;
    }
    gregor_topic_offset *own = NULL;
    int32_t *epochs = NULL; /* only for our own positions: the caller's offsets carry none */
    gregor_err err;
    if (!offsets) {
        if ((err = consumer_positions(c, CONSUMER_POS_CURRENT, false, &own, &epochs, &n)) != GREGOR_OK)
            return err;
        if (n == 0) {
            free(own);
            free(epochs);
            return GREGOR_OK;
        }
        offsets = own;
    }
    if (cb) {
        err = offsets_commit_async(c->offs, offsets, n, epochs, metadata, cb, opaque);
    } else {
        gregor_topic_offset *w = own;
        if (!w && (w = malloc(n * sizeof *w)))
            memcpy(w, offsets, n * sizeof *w);
        err = w ? offsets_commit_sync(c->offs, w, n, metadata, epochs, errstr, errstr_size) : GREGOR_ERR_NOMEM;
        if (w && !own) {
            /* Per-partition results back into the caller's array. */
            for (size_t i = 0; i < n; i++)
                offsets[i].err = w[i].err;
            free(w);
        }
    }
    free(own);
    free(epochs);
    return err;
}

gregor_err gregor_consumer_store_offset(gregor_consumer *c, const char *topic, int32_t partition, int64_t next_offset,
                                        int32_t leader_epoch)
{
    if (next_offset < 0 || !topic)
        return GREGOR_ERR_INVALID_ARG;
    if (c->auto_offset_store)
        return GREGOR_ERR_STATE;
    pthread_mutex_lock(&c->lock);
    cpart *p = consumer_find_part(c, topic, partition);
    gregor_err err = p && p->assigned ? GREGOR_OK : GREGOR_ERR_STATE;
    if (err == GREGOR_OK) {
        p->stored = next_offset;
        p->stored_epoch = leader_epoch >= 0 ? leader_epoch : -1;
    }
    pthread_mutex_unlock(&c->lock);
    return err;
}

gregor_err gregor_consumer_committed(gregor_consumer *c, gregor_topic_offset *offsets, size_t n, char *errstr,
                                     size_t errstr_size)
{
    if (!c->offs) {
        errstr_set(errstr, errstr_size, "committed offsets need group_id");
        return GREGOR_ERR_STATE;
    }
    for (size_t i = 0; i < n; i++) /* an output: NULL unless the answer has one */
        offsets[i].metadata = NULL;
    pthread_mutex_lock(&c->fetch_lock);
    gregor_err err = offsets_fetch_sync(c->offs, offsets, n, NULL, errstr, errstr_size);
    /* Copies of the metadata strings: a background OffsetFetch
     * (assign_list) replaces offsets.c's before the caller's next call. */
    free_committed_meta(c);
    c->committed_meta = calloc(n ? n : 1, sizeof *c->committed_meta);
    c->n_committed_meta = c->committed_meta ? n : 0;
    for (size_t i = 0; i < n; i++) {
        const char *md = offsets[i].metadata;
        offsets[i].metadata = NULL;
        if (md && c->committed_meta && !(offsets[i].metadata = c->committed_meta[i] = strdup(md)))
            err = GREGOR_ERR_NOMEM;
    }
    if (!c->committed_meta && err == GREGOR_OK && n)
        err = GREGOR_ERR_NOMEM;
    pthread_mutex_unlock(&c->fetch_lock);
    return err;
}
