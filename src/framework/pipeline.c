/* framework/pipeline.c — a pipeline's group member thread: polls the
 * member, copies each batch into a chunk and hands its messages to their
 * partition's ledger and lanes, pauses partitions that hold too much and
 * resumes them when they drain, commits what the ledgers allow every
 * commit_interval_ms, and runs rebalances: assigned partitions get their
 * state, revoked ones are drained and committed before they are given up,
 * lost ones are dropped. It never runs the handler (except partition_init
 * and partition_fini, which belong to the rebalance). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "framework/pipeline.h"
#include "framework/registry.h"
#include "util/clock.h"
#include "util/errstr.h"
#include "util/log.h"
#include "util/murmur2.h"

/* The longest poll: commits are due at least this often; pause, resume and
 * stop requests wake the poll at once. */
#define MEMBER_POLL_MS 1000

static fw_part *find_part(fw_pipeline *pl, const char *topic, int32_t partition)
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
    fw_part *part = find_part(pl, topic, partition);
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

/* ------------------------------------------------------------ commits */

static void on_commit(gregor_err err, const gregor_topic_offset *offsets, size_t n, void *opaque)
{
    fw_pipeline *pl = opaque;
    if (err)
        gregor_log(GREGOR_LOG_INFO, "pipeline %s: commit failed: %s", pl->conf->name, gregor_err_str(err));
    pthread_mutex_lock(&pl->lock);
    for (size_t i = 0; i < n; i++) {
        fw_part *p = find_part(pl, offsets[i].topic, offsets[i].partition);
        if (p && !offsets[i].err && offsets[i].offset > p->committed)
            p->committed = offsets[i].offset;
    }
    pthread_mutex_unlock(&pl->lock);
    if (!err)
        atomic_fetch_add(&pl->stats.commits, 1);
}

/* Commits the committable offset of every partition in `only` (or of every
 * active one when only is NULL) that moved. Synchronous when sync. (member) */
static void commit_ledgers(fw_pipeline *pl, fw_part **only, size_t n_only, bool sync)
{
    pthread_mutex_lock(&pl->lock);
    size_t cap = 0;
    for (fw_part *p = pl->parts; p; p = p->next)
        cap++;
    if (only)
        cap = n_only;
    gregor_topic_offset *tos = calloc(cap ? cap : 1, sizeof *tos);
    size_t n = 0;
    for (size_t i = 0; tos && i < cap; i++) {
        fw_part *p = only ? only[i] : NULL;
        if (!only) {
            p = pl->parts;
            for (size_t k = 0; k < i; k++)
                p = p->next;
            if (p->state != FW_PART_ACTIVE)
                continue;
        }
        int64_t c = fw_ledger_committable(&p->ledger);
        if (c < 0 || c <= p->committed)
            continue;
        tos[n++] = (gregor_topic_offset){.topic = p->topic, .partition = p->partition, .offset = c};
    }
    pthread_mutex_unlock(&pl->lock);
    if (n) {
        char err[256];
        if (sync) {
            gregor_err e = gregor_group_commit(pl->group, tos, n, NULL, NULL, NULL, err, sizeof err);
            if (e)
                fw_supervisor_event(pl->sup, "pipeline %s: commit before giving partitions up failed: %s",
                                    pl->conf->name, err);
            on_commit(e, tos, n, pl);
        } else if (gregor_group_commit(pl->group, tos, n, NULL, on_commit, pl, err, sizeof err) != GREGOR_OK) {
            gregor_log(GREGOR_LOG_INFO, "pipeline %s: commit not sent: %s", pl->conf->name, err);
        }
    }
    free(tos);
}

/* ------------------------------------------------------------ rebalances */

static void event_tps(fw_pipeline *pl, const char *what, const gregor_topic_offset *tps, size_t n)
{
    char buf[1024];
    size_t off = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n && off < sizeof buf; i++)
        off += (size_t)snprintf(buf + off, sizeof buf - off, "%s%s [%d]", i ? ", " : "", tps[i].topic,
                                (int)tps[i].partition);
    fw_supervisor_event(pl->sup, "pipeline %s: %s: %s", pl->conf->name, what, n ? buf : "(none)");
}

static void assign(fw_pipeline *pl, const gregor_topic_offset *tps, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        fw_part *p = calloc(1, sizeof *p);
        char *topic = strdup(tps[i].topic);
        fw_lane *lanes = calloc(pl->n_lanes, sizeof *lanes);
        if (!p || !topic || !lanes) {
            free(p);
            free(topic);
            free(lanes);
            fw_supervisor_fatal(pl->sup, pl->conf->name, GREGOR_ERR_NOMEM, "out of memory assigning a partition");
            return;
        }
        p->pl = pl;
        p->topic = topic;
        p->partition = tps[i].partition;
        p->lanes = lanes;
        p->committed = -1;
        p->commit_sent = -1;
        fw_ledger_init(&p->ledger);
        for (size_t l = 0; l < pl->n_lanes; l++)
            lanes[l].part = p;
        if (pl->handler->partition_init) {
            gregor_err err = pl->handler->partition_init(pl->state, p->topic, p->partition, &p->pstate);
            if (err) {
                p->stopped = true;
                atomic_fetch_add(&pl->stats.stopped_partitions, 1);
                fw_supervisor_event(pl->sup, "pipeline %s: %s [%d]: partition_init failed (%s): partition stopped",
                                    pl->conf->name, p->topic, (int)p->partition, gregor_err_str(err));
            }
        }
        pthread_mutex_lock(&pl->lock);
        p->next = pl->parts;
        pl->parts = p;
        pthread_mutex_unlock(&pl->lock);
        atomic_fetch_add(&pl->stats.partitions, 1);
    }
    event_tps(pl, "assigned", tps, n);
}

/* Drops a leaving partition's queued messages and takes its lanes out of
 * the ready queue. (lock) */
static void drop_queued_locked(fw_pipeline *pl, fw_part *p)
{
    for (size_t l = 0; l < pl->n_lanes; l++) {
        fw_lane *lane = &p->lanes[l];
        if (lane->delayed) {
            lane->delayed = false;
            pl->n_delayed--;
        }
        if (lane->ready) {
            fw_lane **pp = &pl->ready_head;
            fw_lane *prev = NULL;
            while (*pp && *pp != lane) {
                prev = *pp;
                pp = &(*pp)->next_ready;
            }
            if (*pp) {
                *pp = lane->next_ready;
                if (pl->ready_tail == lane)
                    pl->ready_tail = prev;
            }
            lane->ready = false;
            lane->next_ready = NULL;
        }
        while (lane->head) {
            fw_msg *msg = lane->head;
            lane->head = msg->next;
            msg->next = NULL;
            msg->dropped = true;
            if (atomic_fetch_sub(&msg->pending, 1) == 1)
                fw_msg_free_locked(pl, msg);
        }
        lane->tail = NULL;
    }
}

/* Waits until none of `parts` has a message in a worker, up to deadline. (lock) */
static bool wait_outstanding_locked(fw_pipeline *pl, fw_part **parts, size_t n, int64_t deadline_ms)
{
    for (;;) {
        bool busy = false;
        for (size_t i = 0; i < n && !busy; i++)
            busy = parts[i]->outstanding > 0;
        if (!busy)
            return true;
        int64_t left = deadline_ms - clock_mono_ms();
        if (left <= 0)
            return false;
        struct timespec ts = clock_deadline_ts(left);
        pthread_cond_timedwait(&pl->drain_cv, &pl->lock, &ts);
    }
}

/* partition_fini for a drained partition; its emits are charged to a
 * stand-in message that the drain waits for. (no lock) */
static void run_partition_fini(fw_pipeline *pl, fw_part *p)
{
    fw_chunk *c = calloc(1, sizeof(fw_chunk) + sizeof(fw_msg));
    if (!c) {
        gregor_log(GREGOR_LOG_ERROR, "pipeline %s: out of memory: partition_fini of %s [%d] skipped",
                   pl->conf->name, p->topic, (int)p->partition);
        return;
    }
    c->part = p;
    c->live = 1;
    c->bytes = 0;
    fw_msg *stand_in = &c->msgs[0];
    stand_in->chunk = c;
    stand_in->dropped = true; /* finishing it changes no ledger */
    stand_in->in_worker = true;
    stand_in->m.topic = p->topic;
    stand_in->m.partition = p->partition;
    stand_in->m.offset = -1;
    atomic_init(&stand_in->pending, 1);
    pthread_mutex_lock(&pl->lock);
    p->held_msgs++;
    p->outstanding++;
    p->fini_done = true;
    pthread_mutex_unlock(&pl->lock);
    gregor_ctx ctx;
    fw_emit_target target = {.pl = pl, .msg = stand_in, .part = p};
    fw_ctx_init(&ctx, pl->conf->name, pl->conf->outputs, pl->conf->n_outputs, pl->state, p->pstate, 1, fw_emit,
                &target);
    pl->handler->partition_fini(&ctx, p->pstate);
    fw_msg_unref(pl, stand_in);
}

/* Gives up partitions: revoked (drain, partition_fini, commit) or lost
 * (drain so that partition_fini may run, no commit). (member) */
static void give_up(fw_pipeline *pl, const gregor_topic_offset *tps, size_t n, bool lost)
{
    fw_part **parts = calloc(n ? n : 1, sizeof *parts);
    if (!parts) {
        fw_supervisor_fatal(pl->sup, pl->conf->name, GREGOR_ERR_NOMEM, "out of memory in a rebalance");
        return;
    }
    size_t k = 0;
    int64_t deadline = clock_mono_ms() + pl->conf->drain_timeout_ms;
    pthread_mutex_lock(&pl->lock);
    for (size_t i = 0; i < n; i++) {
        fw_part *p = find_part(pl, tps[i].topic, tps[i].partition);
        if (!p || p->state != FW_PART_ACTIVE)
            continue;
        p->state = FW_PART_REVOKING;
        drop_queued_locked(pl, p);
        parts[k++] = p;
    }
    bool drained = wait_outstanding_locked(pl, parts, k, deadline);
    pthread_mutex_unlock(&pl->lock);
    if (!drained)
        fw_supervisor_note_unclean(pl->sup);
    if (!drained)
        fw_supervisor_event(pl->sup, "pipeline %s: drain_timeout_ms (%lld) passed with messages still in the "
                                     "handler; committing what is finished",
                            pl->conf->name, (long long)pl->conf->drain_timeout_ms);
    for (size_t i = 0; i < k; i++) {
        pthread_mutex_lock(&pl->lock);
        bool idle = parts[i]->outstanding == 0;
        pthread_mutex_unlock(&pl->lock);
        if (idle && pl->handler->partition_fini)
            run_partition_fini(pl, parts[i]);
    }
    pthread_mutex_lock(&pl->lock);
    wait_outstanding_locked(pl, parts, k, deadline);
    pthread_mutex_unlock(&pl->lock);
    if (!lost && k)
        commit_ledgers(pl, parts, k, true);
    pthread_mutex_lock(&pl->lock);
    for (size_t i = 0; i < k; i++) {
        fw_part *p = parts[i];
        for (fw_part **pp = &pl->parts; *pp; pp = &(*pp)->next)
            if (*pp == p) {
                *pp = p->next;
                break;
            }
        p->next = NULL;
        p->state = FW_PART_GONE;
        if (!pl->handler->partition_fini)
            p->fini_done = true;
        atomic_fetch_sub(&pl->stats.partitions, 1);
        fw_part_maybe_free_locked(pl, p);
    }
    pthread_mutex_unlock(&pl->lock);
    free(parts);
    event_tps(pl, lost ? "lost" : "revoked", tps, n);
}

static void on_rebalance(gregor_group *g, gregor_rebalance_kind kind, const gregor_topic_offset *tps, size_t n,
                         void *opaque)
{
    (void)g;
    fw_pipeline *pl = opaque;
    if (kind == GREGOR_REBALANCE_ASSIGNED)
        assign(pl, tps, n);
    else
        give_up(pl, tps, n, kind == GREGOR_REBALANCE_LOST);
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
            commit_ledgers(pl, NULL, 0, false);
            next_commit = now + pl->conf->commit_interval_ms;
        }
        flow_control(pl);
        int64_t wait = next_commit - now;
        gregor_batch *b = NULL;
        char err[512];
        gregor_err e = gregor_group_poll(pl->group, (int32_t)(wait < MEMBER_POLL_MS ? wait : MEMBER_POLL_MS), &b,
                                         err, sizeof err);
        if (b) {
            take_batch(pl, b);
        } else if (e) {
            if (poll_error_fatal(e)) {
                fw_supervisor_fatal(pl->sup, pl->conf->name, e, err);
                break;
            }
            fw_supervisor_event(pl->sup, "pipeline %s: %s", pl->conf->name, err);
        }
    }
    /* Stopping: close revokes every partition (drain, commit) and leaves. */
    char err[512];
    if (gregor_group_close(pl->group, err, sizeof err) != GREGOR_OK)
        fw_supervisor_event(pl->sup, "pipeline %s: leaving the group: %s", pl->conf->name, err);
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
    if (!pl->outputs)
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
        err = gregor_config_set(gc, "enable_auto_commit", "false", e, sizeof e);
    if (!err)
        err = gregor_group_new_on(client, gc, &pl->group, e, sizeof e);
    gregor_config_destroy(gc);
    if (err) {
        errstr_set(errstr, errstr_size, "pipeline %s: group %s: %s", conf->name, conf->group, e);
        return err;
    }
    gregor_group_set_rebalance_cb(pl->group, on_rebalance, pl);
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
        drop_queued_locked(pl, p);
        fw_part_maybe_free_locked(pl, p);
    }
    pthread_mutex_unlock(&pl->lock);
    if (pl->state_inited && pl->handler->fini)
        pl->handler->fini(pl->state);
    free(pl->outputs);
    pthread_cond_destroy(&pl->work_cv);
    pthread_cond_destroy(&pl->drain_cv);
    pthread_mutex_destroy(&pl->lock);
    pl->conf = NULL;
}
