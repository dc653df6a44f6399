/* framework/pipeline.c — a pipeline's group member thread: polls the
 * member, copies each batch into a chunk and hands its messages to their
 * partition's ledger and lanes, pauses partitions that hold too much and
 * resumes them when they drain, and commits what the ledgers allow every
 * commit_interval_ms; rebalances run inside its polls (rebalance.c). It
 * never runs the handler (partition_init and partition_fini belong to the
 * rebalance). Also the pipeline's lifecycle. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "framework/pipeline.h"
#include "framework/registry.h"
#include "framework/swarm_child.h"
#include "util/clock.h"
#include "util/errstr.h"
#include "util/murmur2.h"

/* The longest poll: commits are due at least this often; pause, resume and
 * stop requests wake the poll at once. */
#define MEMBER_POLL_MS 1000

fw_part *fw_part_find_locked(fw_pipeline *pl, const char *topic, int32_t partition)
{
    for (fw_part *p = pl->parts; p; p = p->next)
        if (p->partition == partition && !strcmp(p->topic, topic))
            return p;
    return NULL;
}

/* ------------------------------------------------------------ batches */

static size_t message_bytes(const gregor_message *m)
{
    size_t n = (m->key ? (size_t)m->key_len : 0) + (m->value ? (size_t)m->value_len : 0);
    n += m->header_count * sizeof(gregor_header);
    for (size_t i = 0; i < m->header_count; i++)
        n += m->headers[i].key_len + (m->headers[i].value && m->headers[i].value_len > 0 ?
                                      (size_t)m->headers[i].value_len : 0);
    return n;
}

/* Copies a batch's messages into one allocation, views pointing inside. */
static fw_chunk *chunk_copy(fw_part *part, const gregor_batch *b)
{
    size_t n = gregor_batch_count(b);
    size_t bytes = sizeof(fw_chunk) + n * sizeof(fw_msg);
    for (size_t i = 0; i < n; i++)
        bytes += message_bytes(gregor_batch_message(b, i)) + sizeof(gregor_header); /* alignment slack */
    fw_chunk *c = calloc(1, bytes);
    if (!c)
        return NULL;
    c->part = part;
    c->live = n;
    c->bytes = bytes;
    char *p = (char *)&c->msgs[n];
    for (size_t i = 0; i < n; i++) {
        const gregor_message *src = gregor_batch_message(b, i);
        fw_msg *msg = &c->msgs[i];
        msg->chunk = c;
        msg->m = *src;
        msg->m.topic = part->topic;
        p = (char *)(((uintptr_t)p + _Alignof(gregor_header) - 1) & ~(uintptr_t)(_Alignof(gregor_header) - 1));
        if (src->header_count) {
            gregor_header *hs = (gregor_header *)p;
            p += src->header_count * sizeof *hs;
            for (size_t h = 0; h < src->header_count; h++) {
                hs[h] = src->headers[h];
                memcpy(p, src->headers[h].key, src->headers[h].key_len);
                hs[h].key = p;
                p += src->headers[h].key_len;
                if (src->headers[h].value && src->headers[h].value_len > 0) {
                    memcpy(p, src->headers[h].value, (size_t)src->headers[h].value_len);
                    hs[h].value = p;
                    p += src->headers[h].value_len;
                }
            }
            msg->m.headers = hs;
        }
        if (src->key) {
            memcpy(p, src->key, (size_t)src->key_len);
            msg->m.key = p;
            p += src->key_len;
        }
        if (src->value) {
            memcpy(p, src->value, (size_t)src->value_len);
            msg->m.value = p;
            p += src->value_len;
        }
        atomic_init(&msg->pending, 1);
    }
    return c;
}

static fw_lane *pick_lane(fw_pipeline *pl, fw_part *part, const gregor_message *m)
{
    if (pl->n_lanes == 1)
        return &part->lanes[0];
    if (pl->conf->ordering == FW_ORDER_KEY && m->key)
        return &part->lanes[murmur2_hash(m->key, (size_t)m->key_len) % pl->n_lanes];
    return &part->lanes[part->rr++ % pl->n_lanes];
}

static void take_batch(fw_pipeline *pl, gregor_batch *b)
{
    const char *topic = gregor_batch_topic(b);
    int32_t partition = gregor_batch_partition(b);
    pthread_mutex_lock(&pl->lock);
    fw_part *part = fw_part_find_locked(pl, topic, partition);
    pthread_mutex_unlock(&pl->lock);
    if (!part || part->state != FW_PART_ACTIVE) { /* only the member changes the list and states */
        gregor_batch_destroy(b);
        return;
    }
    fw_chunk *c = chunk_copy(part, b);
    size_t n = gregor_batch_count(b);
    int64_t next_offset = gregor_batch_next_offset(b);
    gregor_batch_destroy(b);
    if (!c) {
        fw_supervisor_fatal(pl->sup, pl->conf->name, GREGOR_ERR_NOMEM, "out of memory copying a batch");
        return;
    }
    pthread_mutex_lock(&pl->lock);
    gregor_err err = GREGOR_OK;
    part->held_msgs += n;
    part->held_bytes += c->bytes;
    part->stats.consumed += n;
    for (size_t i = 0; i < n; i++) {
        fw_msg *msg = &c->msgs[i];
        if (!err)
            err = fw_ledger_push(&part->ledger, msg->m.offset, &msg->seq);
        if (err) { /* unreachable in practice; the fatal error stops the pipeline */
            msg->dropped = true;
            msg->lane = &part->lanes[0];
            continue;
        }
        fw_lane *lane = pick_lane(pl, part, &msg->m);
        msg->lane = lane;
        if (lane->tail)
            lane->tail->next = msg;
        else
            lane->head = msg;
        lane->tail = msg;
    }
    if (!err)
        fw_ledger_set_end(&part->ledger, next_offset);
    for (size_t i = 0; i < pl->n_lanes; i++)
        fw_lane_schedule(pl, &part->lanes[i]);
    pthread_mutex_unlock(&pl->lock);
    atomic_fetch_add(&pl->stats.consumed, n);
    atomic_fetch_add(&pl->stats.held_bytes, c->bytes);
    if (err)
        fw_supervisor_fatal(pl->sup, pl->conf->name, err, "out of memory in an offset ledger");
}

/* Pauses partitions that hold too much (or are stopped), resumes those
 * that drained below half. (member) */
static void flow_control(fw_pipeline *pl)
{
    pthread_mutex_lock(&pl->lock);
    pl->resume_wanted = false;
    for (fw_part *p = pl->parts; p; p = p->next) {
        if (p->state != FW_PART_ACTIVE)
            continue;
        bool full = p->held_msgs >= (size_t)pl->conf->max_in_flight_messages ||
                    p->held_bytes >= (size_t)pl->conf->max_in_flight_bytes;
        bool low = p->held_msgs * 2 <= (size_t)pl->conf->max_in_flight_messages &&
                   p->held_bytes * 2 <= (size_t)pl->conf->max_in_flight_bytes;
        if (!p->paused && (full || p->stopped)) {
            if (gregor_group_pause(pl->group, p->topic, p->partition) == GREGOR_OK)
                p->paused = true;
        } else if (p->paused && low && !p->stopped) {
            if (gregor_group_resume(pl->group, p->topic, p->partition) == GREGOR_OK)
                p->paused = false;
        }
    }
    pthread_mutex_unlock(&pl->lock);
}

/* ------------------------------------------------------------ the member thread */

/* Errors after which polling again cannot help. */
static bool poll_error_fatal(gregor_err err)
{
    switch ((int)err) {
    case GREGOR_ERR_UNSUPPORTED:
    case GREGOR_ERR_CONFIG:
    case 29: /* TOPIC_AUTHORIZATION_FAILED */
    case 30: /* GROUP_AUTHORIZATION_FAILED */
    case 82: /* FENCED_INSTANCE_ID */
        return true;
    default:
        return false;
    }
}

static void *member_main(void *arg)
{
    fw_pipeline *pl = arg;
    int64_t next_commit = clock_mono_ms() + pl->conf->commit_interval_ms;
    while (!atomic_load(&pl->stopping)) {
        int64_t now = clock_mono_ms();
        if (now >= next_commit) {
            fw_commit_ledgers(pl, NULL, 0, false);
            next_commit = now + pl->conf->commit_interval_ms;
        }
        flow_control(pl);
        int64_t wait = next_commit - now;
        gregor_batch *b = NULL;
        char err[512];
        gregor_err e = gregor_group_poll(pl->group, (int32_t)(wait < MEMBER_POLL_MS ? wait : MEMBER_POLL_MS), &b,
                                         err, sizeof err);
        fw_swarm_polled(pl->conf, pl->group);
        if (b) {
            take_batch(pl, b);
        } else if (e) {
            if (poll_error_fatal(e)) {
                fw_supervisor_fatal(pl->sup, pl->conf->name, e, err);
                break;
            }
            fw_log_event ev = fw_pl_ev(pl, GREGOR_LOG_WARN, "poll_error");
            ev.error = err;
            fw_log_emit(&ev, "poll failed");
        }
    }
    /* Stopping: close revokes every partition (drain, commit) and leaves. */
    char err[512];
    if (gregor_group_close(pl->group, err, sizeof err) != GREGOR_OK) {
        fw_log_event ev = fw_pl_ev(pl, GREGOR_LOG_WARN, "leave_failed");
        ev.error = err;
        fw_log_emit(&ev, "leaving the group");
    }
    atomic_store(&pl->finished, true);
    fw_supervisor_member_done(pl->sup);
    return NULL;
}

/* ------------------------------------------------------------ lifecycle */

gregor_err fw_pipeline_init(fw_pipeline *pl, fw_supervisor *sup, const fw_pipeline_conf *conf,
                            gregor_client *client, char *errstr, size_t errstr_size)
{
    const fw_config *cfg = fw_supervisor_config(sup);
    memset(pl, 0, sizeof *pl);
    pl->conf = conf;
    pl->sup = sup;
    pl->params.list = &conf->params;
    pthread_mutex_init(&pl->lock, NULL);
    clock_cond_init(&pl->work_cv);
    clock_cond_init(&pl->drain_cv);
    pl->handler = fw_registry_find(conf->handler);
    if (!pl->handler || (!pl->handler->handle && !pl->handler->handle_batch)) {
        errstr_set(errstr, errstr_size, "pipeline %s: handler '%s' is not registered", conf->name, conf->handler);
        return GREGOR_ERR_CONFIG;
    }
    pl->n_lanes = conf->ordering == FW_ORDER_PARTITION ? 1 : (size_t)conf->threads;
    pl->outputs = calloc(conf->n_outputs ? conf->n_outputs : 1, sizeof *pl->outputs);
    pl->n_latency = (size_t)(conf->threads > 0 ? conf->threads : 1);
    pl->latency = calloc(pl->n_latency, sizeof *pl->latency);
    if (!pl->outputs || !pl->latency)
        return GREGOR_ERR_NOMEM;
    for (size_t i = 0; i < conf->n_outputs; i++) {
        pl->outputs[i].conf = &conf->outputs[i];
        pl->outputs[i].producer = fw_supervisor_producer(sup, conf->outputs[i].producer);
        if (!pl->outputs[i].producer) {
            errstr_set(errstr, errstr_size, "pipeline %s: output %s: no producer '%s'", conf->name,
                       conf->outputs[i].name, conf->outputs[i].producer);
            return GREGOR_ERR_CONFIG;
        }
    }
    if (conf->dead_letter) {
        pl->dlq_producer = fw_supervisor_producer(sup, conf->dead_letter_producer ? conf->dead_letter_producer
                                                                                  : "default");
        if (!pl->dlq_producer) {
            errstr_set(errstr, errstr_size, "pipeline %s: no producer '%s' for the dead letter", conf->name,
                       conf->dead_letter_producer);
            return GREGOR_ERR_CONFIG;
        }
    }
    /* A new pipeline's group starts at the beginning of its topics (as
     * Kafka Streams does) unless the file sets auto_offset_reset; and a
     * partition resumed after a pause waits at most 100 ms for the long-poll
     * Fetch already in flight to its leader (one Fetch per leader at a time). */
    static const char *const consumer_defaults[] = {"auto_offset_reset", "earliest", "fetch_max_wait_ms", "100",
                                                    NULL};
    gregor_config *gc = fw_config_client_with(cfg, consumer_defaults, &conf->consumer);
    char e[256];
    if (!gc)
        return GREGOR_ERR_NOMEM;
    gregor_err err = gregor_config_set(gc, "group_id", conf->group, e, sizeof e);
    if (!err)
        err = fw_swarm_instance_id(gc, e, sizeof e); /* a worker process: its own static member id */
    if (!err)
        err = gregor_config_set(gc, "enable_auto_commit", "false", e, sizeof e);
    if (!err)
        err = gregor_group_new_on(client, gc, &pl->group, e, sizeof e);
    gregor_config_destroy(gc);
    if (err) {
        errstr_set(errstr, errstr_size, "pipeline %s: group %s: %s", conf->name, conf->group, e);
        return err;
    }
    gregor_group_set_rebalance_cb(pl->group, fw_on_rebalance, pl);
    if (pl->handler->init) {
        err = pl->handler->init(&pl->params, &pl->state, e, sizeof e);
        if (err) {
            errstr_set(errstr, errstr_size, "pipeline %s: handler %s: init failed: %s", conf->name, conf->handler,
                       e);
            return err;
        }
    }
    pl->state_inited = true;
    return GREGOR_OK;
}

gregor_err fw_pipeline_start(fw_pipeline *pl, char *errstr, size_t errstr_size)
{
    const fw_pipeline_conf *conf = pl->conf;
    char e[256];
    gregor_err err;
    if (conf->pattern)
        err = gregor_group_subscribe_pattern(pl->group, conf->pattern, e, sizeof e);
    else
        err = gregor_group_subscribe(pl->group, conf->topics, conf->n_topics, e, sizeof e);
    if (err) {
        errstr_set(errstr, errstr_size, "pipeline %s: subscribe: %s", conf->name, e);
        return err;
    }
    err = fw_pool_start(pl);
    if (err) {
        errstr_set(errstr, errstr_size, "pipeline %s: starting %d worker threads: %s", conf->name, conf->threads,
                   gregor_err_str(err));
        return err;
    }
    if (pthread_create(&pl->member_thread, NULL, member_main, pl)) {
        errstr_set(errstr, errstr_size, "pipeline %s: cannot start the member thread", conf->name);
        return GREGOR_ERR_IO;
    }
    pl->member_started = true;
    return GREGOR_OK;
}

void fw_pipeline_stop(fw_pipeline *pl)
{
    atomic_store(&pl->stopping, true);
    if (pl->group)
        gregor_group_wakeup(pl->group);
}

void fw_pipeline_join(fw_pipeline *pl)
{
    if (pl->member_started) {
        pthread_join(pl->member_thread, NULL);
        pl->member_started = false;
    }
    if (pl->workers)
        fw_pool_stop(pl);
}

void fw_pipeline_fini(fw_pipeline *pl)
{
    if (!pl->conf)
        return;
    fw_pipeline_stop(pl);
    fw_pipeline_join(pl);
    gregor_group_destroy(pl->group);
    pl->group = NULL;
    /* Partitions still held (a start that failed half way) are freed here. */
    pthread_mutex_lock(&pl->lock);
    while (pl->parts) {
        fw_part *p = pl->parts;
        pl->parts = p->next;
        p->state = FW_PART_GONE;
        fw_part_drop_queued_locked(pl, p);
        fw_part_maybe_free_locked(pl, p);
    }
    pthread_mutex_unlock(&pl->lock);
    if (pl->state_inited && pl->handler->fini)
        pl->handler->fini(pl->state);
    free(pl->outputs);
    free(pl->latency);
    pthread_cond_destroy(&pl->work_cv);
    pthread_cond_destroy(&pl->drain_cv);
    pthread_mutex_destroy(&pl->lock);
    pl->conf = NULL;
}
