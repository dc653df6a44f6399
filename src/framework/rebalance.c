/* framework/rebalance.c — a pipeline's partitions coming and going, on
 * its member thread (inside gregor_group_poll() and gregor_group_close()):
 * assigned partitions get their ledger, lanes and partition_init state;
 * revoked ones are drained (queued messages dropped, in-flight ones waited
 * for up to drain_timeout_ms), partition_fini runs and what the ledger
 * allows is committed before the group hands them over; lost ones are
 * dropped without a commit. Also the commits themselves (periodic ones
 * from pipeline.c, and the last one of a revoke). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "framework/pipeline.h"
#include "util/clock.h"

/* ------------------------------------------------------------ commits */

static void on_commit(gregor_err err, const gregor_topic_offset *offsets, size_t n, void *opaque)
{
    fw_pipeline *pl = opaque;
    if (err) {
        fw_log_event ev = fw_pl_ev(pl, GREGOR_LOG_INFO, "commit_failed");
        ev.error = gregor_err_str(err);
        fw_log_emit(&ev, "commit failed");
    }
    int64_t now_ms = clock_mono_ms();
    pthread_mutex_lock(&pl->lock);
    for (size_t i = 0; i < n; i++) {
        fw_part *p = fw_part_find_locked(pl, offsets[i].topic, offsets[i].partition);
        if (p && !offsets[i].err && offsets[i].offset > p->committed)
            p->committed = offsets[i].offset;
        if (p && !err && !offsets[i].err)
            p->commit_ms = now_ms;
    }
    pthread_mutex_unlock(&pl->lock);
    if (!err) {
        atomic_fetch_add(&pl->stats.commits, 1);
        atomic_store(&pl->stats.commit_ms, now_ms);
    }
}

void fw_commit_ledgers(fw_pipeline *pl, fw_part **only, size_t n_only, bool sync)
{
    pthread_mutex_lock(&pl->lock);
    size_t cap = n_only;
    if (!only)
        for (fw_part *p = pl->parts; p; p = p->next)
            cap++;
    gregor_topic_offset *tos = calloc(cap ? cap : 1, sizeof *tos);
    size_t n = 0;
    fw_part *next = only ? NULL : pl->parts;
    for (size_t i = 0; tos && i < cap; i++) {
        fw_part *p = only ? only[i] : next;
        if (!only) {
            next = p->next;
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
            if (e) {
                fw_log_event ev = fw_pl_ev(pl, GREGOR_LOG_WARN, "commit_failed");
                ev.error = err;
                fw_log_emit(&ev, "commit before giving partitions up failed");
            }
            on_commit(e, tos, n, pl);
        } else if (gregor_group_commit(pl->group, tos, n, NULL, on_commit, pl, err, sizeof err) != GREGOR_OK) {
            fw_log_event ev = fw_pl_ev(pl, GREGOR_LOG_INFO, "commit_failed");
            ev.error = err;
            fw_log_emit(&ev, "commit not sent");
        }
    }
    free(tos);
}

/* ------------------------------------------------------------ rebalances */

/* One line per rebalance: "assigned: t [0], t [1]" with the member, its
 * generation and the partitions as fields. (member) */
static void event_tps(fw_pipeline *pl, const char *what, const gregor_topic_offset *tps, size_t n)
{
    char buf[1024];
    size_t off = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n && off < sizeof buf; i++)
        off += (size_t)snprintf(buf + off, sizeof buf - off, "%s%s [%d]", i ? ", " : "", tps[i].topic,
                                (int)tps[i].partition);
    char member[256];
    fw_log_event ev = fw_pl_ev(pl, GREGOR_LOG_INFO, what);
    ev.generation = gregor_group_member_id(pl->group, member, sizeof member);
    ev.member = member[0] ? member : NULL;
    ev.tps = tps;
    ev.n_tps = n;
    fw_log_emitf(&ev, "%s: %s", what, n ? buf : "(none)");
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
        fw_ledger_init(&p->ledger);
        for (size_t l = 0; l < pl->n_lanes; l++)
            lanes[l].part = p;
        if (pl->handler->partition_init) {
            gregor_err err = pl->handler->partition_init(pl->state, p->topic, p->partition, &p->pstate);
            if (err) {
                p->stopped = true;
                atomic_fetch_add(&pl->stats.stopped_partitions, 1);
                fw_log_event ev = fw_part_ev(pl, p->topic, p->partition, GREGOR_LOG_ERROR, "partition_stopped");
                ev.error = gregor_err_str(err);
                fw_log_emit(&ev, "partition_init failed, partition stopped");
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

void fw_part_drop_queued_locked(fw_pipeline *pl, fw_part *p)
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
        fw_log_event ev = fw_part_ev(pl, p->topic, p->partition, GREGOR_LOG_ERROR, "partition_fini_skipped");
        fw_log_emit(&ev, "out of memory: partition_fini skipped");
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
        fw_part *p = fw_part_find_locked(pl, tps[i].topic, tps[i].partition);
        if (!p || p->state != FW_PART_ACTIVE)
            continue;
        p->state = FW_PART_REVOKING;
        fw_part_drop_queued_locked(pl, p);
        parts[k++] = p;
    }
    bool drained = wait_outstanding_locked(pl, parts, k, deadline);
    pthread_mutex_unlock(&pl->lock);
    if (!drained)
        fw_supervisor_note_unclean(pl->sup);
    if (!drained) {
        fw_log_event ev = fw_pl_ev(pl, GREGOR_LOG_WARN, "drain_timeout");
        fw_log_emitf(&ev, "drain_timeout_ms (%lld) passed with messages still in the handler; committing what is "
                          "finished", (long long)pl->conf->drain_timeout_ms);
    }
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
        fw_commit_ledgers(pl, parts, k, true);
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

void fw_on_rebalance(gregor_group *g, gregor_rebalance_kind kind, const gregor_topic_offset *tps, size_t n,
                         void *opaque)
{
    (void)g;
    fw_pipeline *pl = opaque;
    atomic_fetch_add(&pl->stats.rebalances, 1);
    if (kind == GREGOR_REBALANCE_ASSIGNED)
        assign(pl, tps, n);
    else
        give_up(pl, tps, n, kind == GREGOR_REBALANCE_LOST);
}

