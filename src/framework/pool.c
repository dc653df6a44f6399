/* framework/pool.c — a pipeline's worker threads: the ready queue of lanes,
 * running the handler on a lane's head message (or a batch of them) with
 * no lock held, and what follows each result: done, retry with backoff,
 * dead letter, or a stopped partition.
 *
 * A lane is in the ready queue while it has messages, no worker runs one
 * of them, and no backoff holds it; so a partition's (or key lane's)
 * messages run one at a time in offset order, and a retrying lane never
 * holds a worker while it waits. Workers sleep on work_cv; with lanes in
 * backoff they wake at the earliest due time. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "framework/pipeline.h"
#include "framework/swarm_child.h"
#include "framework/swarm_crash.h"
#include "util/clock.h"

#define LANE_TURNS 64


void fw_lane_schedule(fw_pipeline *pl, fw_lane *lane)
{
    if (lane->ready || lane->busy || lane->delayed || !lane->head)
        return;
    if (lane->part->state != FW_PART_ACTIVE || lane->part->stopped)
        return;
    lane->ready = true;
    lane->next_ready = NULL;
    if (pl->ready_tail)
        pl->ready_tail->next_ready = lane;
    else
        pl->ready_head = lane;
    pl->ready_tail = lane;
    pthread_cond_signal(&pl->work_cv);
}

static fw_lane *pop_ready(fw_pipeline *pl)
{
    fw_lane *lane = pl->ready_head;
    if (!lane)
        return NULL;
    pl->ready_head = lane->next_ready;
    if (!pl->ready_head)
        pl->ready_tail = NULL;
    lane->ready = false;
    lane->next_ready = NULL;
    return lane;
}

/* Schedules the lanes whose backoff ended; returns the earliest backoff
 * still running (INT64_MAX when none). */
static int64_t promote_due(fw_pipeline *pl)
{
    int64_t next = INT64_MAX;
    if (!pl->n_delayed)
        return next;
    int64_t now = clock_mono_ms();
    for (fw_part *part = pl->parts; part; part = part->next) {
        for (size_t i = 0; i < pl->n_lanes; i++) {
            fw_lane *lane = &part->lanes[i];
            if (!lane->delayed)
                continue;
            if (lane->not_before_ms <= now) {
                lane->delayed = false;
                pl->n_delayed--;
                fw_lane_schedule(pl, lane);
            } else if (lane->not_before_ms < next) {
                next = lane->not_before_ms;
            }
        }
    }
    return next;
}

int64_t fw_backoff_ms(const fw_pipeline *pl, int attempt)
{
    int64_t d = pl->conf->backoff_ms;
    for (int i = 1; i < attempt && d < pl->conf->max_backoff_ms; i++)
        d *= 2;
    return d < pl->conf->max_backoff_ms ? d : pl->conf->max_backoff_ms;
}

void fw_requeue_locked(fw_pipeline *pl, fw_msg **msgs, size_t n, int64_t delay_ms)
{
    if (!n)
        return;
    fw_lane *lane = msgs[0]->lane;
    for (size_t i = n; i-- > 0;) {
        fw_msg *msg = msgs[i];
        fw_msg_left_worker_locked(pl, msg);
        msg->next = lane->head;
        lane->head = msg;
        if (!lane->tail)
            lane->tail = msg;
    }
    if (delay_ms > 0) {
        lane->not_before_ms = clock_mono_ms() + delay_ms;
        if (!lane->delayed) {
            lane->delayed = true;
            pl->n_delayed++;
        }
        pthread_cond_broadcast(&pl->work_cv); /* a sleeping worker recomputes its wake-up */
    } else {
        fw_lane_schedule(pl, lane);
    }
}

/* A message given up on: its coordinates, attempts and the handler's
 * error text (the payload only with log_payloads). (lock) */
static void log_failure(fw_pipeline *pl, const fw_msg *msg, const char *event, const char *what, const char *why)
{
    fw_log_event ev = fw_msg_ev(pl, msg, GREGOR_LOG_WARN, event);
    ev.error = why;
    fw_log_emitf(&ev, "%s after %d attempt%s", what, msg->attempt, msg->attempt == 1 ? "" : "s");
}

void fw_failed_locked(fw_pipeline *pl, fw_msg **msgs, size_t n, bool retryable, const char *why)
{
    fw_part *part = msgs[0]->chunk->part;
    if (part->state != FW_PART_ACTIVE) {
        /* Revoked or lost meanwhile: the next owner processes them again. */
        for (size_t i = 0; i < n; i++) {
            fw_msg_left_worker_locked(pl, msgs[i]);
            msgs[i]->dropped = true;
            if (atomic_fetch_sub(&msgs[i]->pending, 1) == 1)
                fw_msg_free_locked(pl, msgs[i]);
        }
        return;
    }
    for (size_t i = 0; i < n; i++)
        fw_msg_set_error(msgs[i], why);
    atomic_fetch_add_explicit(&pl->stats.failed, n, memory_order_relaxed);
    part->stats.failed += n;
    if (retryable && msgs[0]->attempt < pl->conf->max_attempts && !msgs[0]->to_dead_letter) {
        atomic_fetch_add(&pl->stats.retried, 1);
        part->stats.retried++;
        fw_log_event ev = fw_msg_ev(pl, msgs[0], GREGOR_LOG_INFO, "retrying");
        ev.error = why;
        fw_log_emitf(&ev, "attempt %d failed, retrying", msgs[0]->attempt);
        fw_requeue_locked(pl, msgs, n, fw_backoff_ms(pl, msgs[0]->attempt));
        return;
    }
    if (pl->conf->dead_letter) {
        /* The next turn of the lane produces them to the dead-letter topic;
         * a dead-letter produce that fails is retried at the longest backoff. */
        bool again = msgs[0]->to_dead_letter;
        for (size_t i = 0; i < n; i++)
            msgs[i]->to_dead_letter = true;
        fw_requeue_locked(pl, msgs, n, again ? pl->conf->max_backoff_ms : 0);
        return;
    }
    if (!part->stopped) {
        part->stopped = true;
        atomic_fetch_add(&pl->stats.stopped_partitions, 1);
        log_failure(pl, msgs[0], "partition_stopped",
                    "partition stopped (no dead_letter topic is configured; it resumes when the pipeline restarts)",
                    why);
    }
    fw_requeue_locked(pl, msgs, n, 0);
    gregor_group_wakeup(pl->group); /* the member pauses the stopped partition */
}

/* Produces messages marked for the dead-letter topic. (no lock) */
static void run_dead_letter(fw_pipeline *pl, fw_msg **msgs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char err[256];
        fw_msg *msg = msgs[i];
        if (fw_dead_letter(pl, msg, err, sizeof err) != GREGOR_OK) {
            pthread_mutex_lock(&pl->lock);
            fw_log_event ev = fw_msg_ev(pl, msg, GREGOR_LOG_WARN, "dead_letter_failed");
            ev.error = err;
            fw_log_emit(&ev, "dead-letter produce failed");
            fw_failed_locked(pl, msgs + i, n - i, false, msg->error ? msg->error : err);
            pthread_mutex_unlock(&pl->lock);
            return;
        }
        atomic_fetch_add(&pl->stats.dead_lettered, 1);
        pthread_mutex_lock(&pl->lock);
        msg->chunk->part->stats.dead_lettered++;
        log_failure(pl, msg, "dead_lettered", "sent to the dead-letter topic", msg->error ? msg->error : "failed");
        pthread_mutex_unlock(&pl->lock);
        fw_msg_unref(pl, msg);
    }
}

/* A message that was in a handler call when a worker process of the swarm
 * died (swarm_child.h): each death counts as a failed attempt; once they
 * reach retry.max_attempts the message fails without another call. True
 * when it did (dead letter or stopped partition). (no lock) */
static bool crashed_before(fw_pipeline *pl, fw_msg **msgs, size_t n)
{
    int signo = 0;
    const gregor_message *m = &msgs[0]->m;
    int crashes = fw_swarm_crashes(pl->conf, m->topic, m->partition, m->offset, &signo);
    if (crashes <= 0)
        return false;
    pthread_mutex_lock(&pl->lock);
    if (msgs[0]->attempt < crashes)
        msgs[0]->attempt = crashes;
    bool failed = msgs[0]->attempt >= pl->conf->max_attempts;
    if (failed) {
        char why[160];
        fw_failed_locked(pl, msgs, n, false, fw_crash_reason(signo, pl->conf->handler_timeout_ms, why, sizeof why));
    }
    pthread_mutex_unlock(&pl->lock);
    return failed;
}

/* Runs the handler on msgs (taken from one lane) and acts on its result,
 * timing the call into the worker's histogram `lat`. *clock_us: the time
 * the worker last read (so that back-to-back turns read the clock once
 * each), -1 when it must read it; the time the call ended on return. (no lock) */
static void run_handler(fw_pipeline *pl, fw_msg **msgs, const gregor_message **views, size_t n, fw_latency *lat,
                        int64_t *clock_us)
{
    fw_part *part = msgs[0]->chunk->part;
    if (crashed_before(pl, msgs, n)) {
        *clock_us = -1;
        return;
    }
    fw_emit_target target = {.pl = pl, .msg = msgs[0], .part = part};
    gregor_ctx ctx;
    fw_ctx_init(&ctx, pl->conf->name, pl->conf->outputs, pl->conf->n_outputs, pl->state, part->pstate,
                msgs[0]->attempt + 1, fw_emit, &target);
    gregor_result r;
    fw_swarm_call_begin(pl->conf, part->topic, part->partition, msgs[0]->m.offset, msgs[n - 1]->m.offset);
    int64_t start_us = *clock_us >= 0 ? *clock_us : clock_mono_us();
    if (pl->handler->handle_batch) {
        for (size_t i = 0; i < n; i++)
            views[i] = &msgs[i]->m;
        r = pl->handler->handle_batch(&ctx, views, n);
    } else {
        r = pl->handler->handle(&ctx, &msgs[0]->m);
    }
    fw_swarm_call_end();
    *clock_us = clock_mono_us();
    fw_latency_observe_1w(lat, *clock_us - start_us);
    if (r == GREGOR_DONE) {
        atomic_fetch_add(&pl->stats.processed, n);
        fw_counter_add_1w(&msgs[0]->lane->processed, n);
        for (size_t i = 0; i < n; i++) {
            msgs[i]->attempt++; /* read under the lock only after pending is 0 */
            fw_msg_unref(pl, msgs[i]);
        }
        return;
    }
    char why[300];
    if (ctx.error[0])
        snprintf(why, sizeof why, "%s", ctx.error);
    else
        snprintf(why, sizeof why, "the handler returned %s", r == GREGOR_RETRY ? "RETRY" : "FAIL");
    pthread_mutex_lock(&pl->lock);
    for (size_t i = 0; i < n; i++)
        msgs[i]->attempt++;
    fw_failed_locked(pl, msgs, n, r == GREGOR_RETRY, why);
    pthread_mutex_unlock(&pl->lock);
}

/* Takes the lane's next turn: its head message, or up to batch_size of them
 * for a batch handler; those marked for the dead letter go alone. (lock) */
static size_t take_turn(fw_pipeline *pl, fw_lane *lane, fw_msg **msgs)
{
    size_t max = pl->handler->handle_batch ? (size_t)pl->conf->batch_size : 1;
    size_t n = 0;
    bool dead = lane->head && lane->head->to_dead_letter;
    /* A message in a call that killed a worker process goes alone, so that
     * a batch's innocent messages are not failed with the guilty one. */
    if (max > 1 && lane->head && fw_swarm_crashes(pl->conf, lane->head->m.topic, lane->head->m.partition,
                                                  lane->head->m.offset, NULL) > 0)
        max = 1;
    while (lane->head && n < max && lane->head->to_dead_letter == dead) {
        fw_msg *msg = lane->head;
        lane->head = msg->next;
        if (!lane->head)
            lane->tail = NULL;
        msg->next = NULL;
        msg->in_worker = true;
        lane->part->outstanding++;
        msgs[n++] = msg;
    }
    return n;
}

static void *worker_main(void *arg)
{
    fw_pipeline *pl = arg;
    size_t max = pl->handler->handle_batch ? (size_t)pl->conf->batch_size : 1;
    fw_msg **msgs = malloc(max * sizeof *msgs);
    const gregor_message **views = malloc(max * sizeof *views);
    size_t slot = atomic_fetch_add(&pl->latency_slots, 1);
    fw_latency *lat = &pl->latency[slot < pl->n_latency ? slot : pl->n_latency - 1];
    int64_t clock_us = -1; /* the end of the last call, while no wait came in between */
    pthread_mutex_lock(&pl->lock);
    while (msgs && views && !pl->workers_stop) {
        int64_t next_due = promote_due(pl);
        fw_lane *lane = pop_ready(pl);
        if (!lane) {
            clock_us = -1;
            if (next_due == INT64_MAX) {
                pthread_cond_wait(&pl->work_cv, &pl->lock);
            } else {
                struct timespec ts = clock_deadline_ts(next_due - clock_mono_ms());
                pthread_cond_timedwait(&pl->work_cv, &pl->lock, &ts);
            }
            continue;
        }
        /* A worker stays with its lane for up to LANE_TURNS turns: no queue
         * round trip nor wake-up of another worker per message, while other
         * lanes still get their turn every LANE_TURNS messages. */
        for (int turns = 0; turns < LANE_TURNS; turns++) {
            if (lane->part->state != FW_PART_ACTIVE || lane->part->stopped || lane->delayed || pl->workers_stop)
                break;
            size_t n = take_turn(pl, lane, msgs);
            if (!n)
                break;
            lane->busy = true;
            bool dead = msgs[0]->to_dead_letter;
            pthread_mutex_unlock(&pl->lock);
            if (dead) {
                run_dead_letter(pl, msgs, n);
                clock_us = -1;
            } else {
                run_handler(pl, msgs, views, n, lat, &clock_us);
            }
            pthread_mutex_lock(&pl->lock);
            lane->busy = false;
        }
        fw_lane_schedule(pl, lane);
    }
    pthread_mutex_unlock(&pl->lock);
    if (!msgs || !views)
        fw_supervisor_fatal(pl->sup, pl->conf->name, GREGOR_ERR_NOMEM, "out of memory starting a worker");
    free(msgs);
    free(views);
    return NULL;
}

gregor_err fw_pool_start(fw_pipeline *pl)
{
    size_t n = (size_t)pl->conf->threads;
    pl->workers = calloc(n, sizeof *pl->workers);
    if (!pl->workers)
        return GREGOR_ERR_NOMEM;
    for (; pl->n_workers < n; pl->n_workers++)
        if (pthread_create(&pl->workers[pl->n_workers], NULL, worker_main, pl))
            return GREGOR_ERR_IO;
    return GREGOR_OK;
}

void fw_pool_stop(fw_pipeline *pl)
{
    pthread_mutex_lock(&pl->lock);
    pl->workers_stop = true;
    pthread_cond_broadcast(&pl->work_cv);
    pthread_mutex_unlock(&pl->lock);
    for (size_t i = 0; i < pl->n_workers; i++)
        pthread_join(pl->workers[i], NULL);
    pl->n_workers = 0;
    free(pl->workers);
    pl->workers = NULL;
}
