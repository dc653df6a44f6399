/* framework/message.c — the lifetime of an input message in a pipeline:
 * its references (the handler's and one per emit in flight), finishing it
 * in its partition's ledger, and freeing it with its chunk and, last, its
 * partition once that is gone. */
#include <stdlib.h>
#include <string.h>

#include "framework/pipeline.h"
#include "util/log.h"

void fw_msg_set_error(fw_msg *msg, const char *text)
{
    char *copy = strdup(text ? text : "");
    if (!copy)
        return; /* keeps the previous text: out of memory loses only a description */
    free(msg->error);
    msg->error = copy;
}

void fw_msg_unref(fw_pipeline *pl, fw_msg *msg)
{
    if (atomic_fetch_sub(&msg->pending, 1) != 1)
        return;
    pthread_mutex_lock(&pl->lock);
    fw_msg_finished_locked(pl, msg);
    pthread_mutex_unlock(&pl->lock);
}

void fw_msg_left_worker_locked(fw_pipeline *pl, fw_msg *msg)
{
    if (!msg->in_worker)
        return;
    msg->in_worker = false;
    fw_part *part = msg->chunk->part;
    part->outstanding--;
    if (!part->outstanding && part->state != FW_PART_ACTIVE)
        pthread_cond_broadcast(&pl->drain_cv);
}

void fw_msg_finished_locked(fw_pipeline *pl, fw_msg *msg)
{
    fw_part *part = msg->chunk->part;
    if (!msg->dropped && msg->emit_failed) {
        /* An emit of the last attempt was not delivered: the attempt failed.
         * It is retried; or, its partition leaving, left unfinished for the
         * next owner. */
        if (part->state == FW_PART_ACTIVE) {
            msg->emit_failed = false;
            atomic_store(&msg->pending, 1);
            fw_failed_locked(pl, &msg, 1, true, msg->error ? msg->error : "an emitted message was not delivered");
            return;
        }
        msg->dropped = true;
    }
    fw_msg_left_worker_locked(pl, msg);
    /* A revoking partition's ledger still counts: its drain waits for exactly
     * these messages so that their offsets go into the last commit. */
    if (!msg->dropped && part->state != FW_PART_GONE)
        fw_ledger_finish(&part->ledger, msg->seq);
    fw_msg_free_locked(pl, msg);
}

void fw_part_note_drained_locked(fw_pipeline *pl, fw_part *part)
{
    if (!part->paused || part->stopped || part->state != FW_PART_ACTIVE)
        return;
    if (part->held_msgs * 2 > (size_t)pl->conf->max_in_flight_messages ||
        part->held_bytes * 2 > (size_t)pl->conf->max_in_flight_bytes)
        return;
    if (!pl->resume_wanted) {
        pl->resume_wanted = true;
        gregor_group_wakeup(pl->group);
    }
}

void fw_msg_free_locked(fw_pipeline *pl, fw_msg *msg)
{
    fw_chunk *chunk = msg->chunk;
    fw_part *part = chunk->part;
    free(msg->error);
    msg->error = NULL;
    part->held_msgs--;
    if (--chunk->live == 0) {
        part->held_bytes -= chunk->bytes;
        atomic_fetch_sub(&pl->stats.held_bytes, chunk->bytes);
        free(chunk);
    }
    fw_part_note_drained_locked(pl, part);
    fw_part_maybe_free_locked(pl, part);
}

static void part_free(fw_part *part)
{
    fw_ledger_fini(&part->ledger);
    free(part->lanes);
    free(part->topic);
    free(part);
}

void fw_part_maybe_free_locked(fw_pipeline *pl, fw_part *part)
{
    if (part->state != FW_PART_GONE || part->held_msgs || part->outstanding)
        return;
    if (!part->fini_done) {
        /* The drain timed out before: partition_fini runs now that the
         * last message of the partition is done. Its emits go out
         * untracked (nothing waits to commit them). */
        part->fini_done = true;
        if (pl->handler->partition_fini) {
            gregor_ctx ctx;
            fw_emit_target target = {.pl = pl, .part = part};
            fw_ctx_init(&ctx, pl->conf->name, pl->conf->outputs, pl->conf->n_outputs, pl->state, part->pstate, 1,
                        fw_emit, &target);
            pthread_mutex_unlock(&pl->lock);
            pl->handler->partition_fini(&ctx, part->pstate);
            pthread_mutex_lock(&pl->lock);
        }
    }
    part_free(part);
}
