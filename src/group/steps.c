/* group/steps.c — rebalance steps, posted by the member thread and run on
 * the application thread (group_int.h has the picture).
 *
 * REVOKE commits the consumed positions of the partitions first (with
 * enable_auto_commit), runs the callback (which may commit), then removes
 * them from the consumer. LOST skips the commit. ASSIGN looks up the
 * committed offsets of all its partitions with one OffsetFetch, assigns
 * them to the consumer there (auto_offset_reset where none is committed)
 * and runs the callback. */
#include <stdlib.h>
#include <string.h>

#include "group/group_int.h"
#include "util/log.h"

gregor_err group_tp_list_copy(group_tp_list *dst, const group_tp *src, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char *t = strdup(src[i].topic);
        if (!t || group_tp_list_add(dst, t, src[i].partition) != GREGOR_OK) {
            free(t);
            return GREGOR_ERR_NOMEM;
        }
    }
    return GREGOR_OK;
}

void group_tp_list_free_strings(group_tp_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free((char *)l->tps[i].topic);
    group_tp_list_fini(l);
}

uint64_t group_post_step(gregor_group *g, group_step_kind kind, group_tp_list *tps, int32_t generation)
{
    group_step *s = calloc(1, sizeof *s);
    if (!s)
        return 0;
    s->kind = kind;
    s->generation = generation;
    group_tp_list_init(&s->tps);
    if (group_tp_list_copy(&s->tps, tps->tps, tps->n) != GREGOR_OK) {
        group_tp_list_free_strings(&s->tps);
        free(s);
        return 0;
    }
    pthread_mutex_lock(&g->lock);
    if (g->steps_tail)
        g->steps_tail->next = s;
    else
        g->steps = s;
    g->steps_tail = s;
    uint64_t id = ++g->steps_posted;
    pthread_mutex_unlock(&g->lock);
    gregor_consumer_wakeup(g->consumer);
    return id;
}

/* The step's partitions as gregor_topic_offset entries (topics borrowed). */
static gregor_topic_offset *as_offsets(const group_tp_list *l)
{
    gregor_topic_offset *v = calloc(l->n ? l->n : 1, sizeof *v);
    for (size_t i = 0; v && i < l->n; i++)
        v[i] = (gregor_topic_offset){.topic = l->tps[i].topic, .partition = l->tps[i].partition, .offset = -1};
    return v;
}

static void run_callback(gregor_group *g, gregor_rebalance_kind kind, const group_tp_list *l)
{
    if (!g->cb || l->n == 0)
        return;
    gregor_topic_offset *v = as_offsets(l);
    if (!v)
        return;
    g->in_callback = true;
    g->cb(g, kind, v, l->n, g->cb_opaque);
    g->in_callback = false;
    free(v);
}

/* Removes the step's partitions from `owned` (lock taken) and the consumer. */
static void drop_partitions(gregor_group *g, const group_tp_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        if (gregor_consumer_unassign(g->consumer, l->tps[i].topic, l->tps[i].partition) != GREGOR_OK)
            continue; /* not assigned there (an assignment that failed): nothing to drop */
    pthread_mutex_lock(&g->lock);
    size_t k = 0;
    for (size_t i = 0; i < g->owned.n; i++) {
        group_tp *t = &g->owned.tps[i];
        if (group_tp_list_contains(l, t->topic, t->partition))
            free((char *)t->topic);
        else
            g->owned.tps[k++] = *t;
    }
    g->owned.n = k;
    pthread_mutex_unlock(&g->lock);
}

/* With auto-commit, commits the current positions of the partitions being
 * revoked: everything poll returned counts as processed by now. */
static void commit_revoked(gregor_group *g, const group_tp_list *l)
{
    if (!g->auto_commit || l->n == 0)
        return;
    gregor_topic_offset *all = NULL;
    int32_t *epochs = NULL;
    size_t n = 0;
    if (consumer_positions(g->consumer, CONSUMER_POS_CURRENT, true, &all, &epochs, &n) != GREGOR_OK)
        return;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (group_tp_list_contains(l, all[i].topic, all[i].partition)) {
            all[k] = all[i];
            epochs[k++] = epochs[i];
        }
    char errstr[256];
    if (k > 0 && offsets_commit_sync(g->offs, all, k, NULL, epochs, errstr, sizeof errstr) != GREGOR_OK)
        gregor_log(GREGOR_LOG_WARN, "group '%s': commit before revoking partitions failed: %s", g->group_id,
                   errstr);
    free(all);
    free(epochs);
}

/* Starts the step's partitions at the group's committed offsets (one
 * OffsetFetch for all, in the background: poll does not wait for it; where
 * none is stored, auto_offset_reset), then runs the callback. A step of an
 * older generation still runs: later steps revoke what is not this
 * member's any more, and a cooperative member keeps what it was given. */
static void run_assign(gregor_group *g, group_step *s)
{
    if (s->tps.n == 0)
        return;
    gregor_topic_offset *offs = as_offsets(&s->tps);
    if (!offs) {
        gregor_log(GREGOR_LOG_ERROR, "group '%s': out of memory starting %zu partition(s)", g->group_id, s->tps.n);
        return;
    }
    for (size_t i = 0; i < s->tps.n; i++)
        offs[i].offset = GREGOR_OFFSET_COMMITTED;
    char errstr[256];
    gregor_err err = gregor_consumer_assign_list(g->consumer, offs, s->tps.n, errstr, sizeof errstr);
    free(offs);
    if (err != GREGOR_OK) {
        gregor_log(GREGOR_LOG_ERROR, "group '%s': cannot start %zu partition(s): %s", g->group_id, s->tps.n, errstr);
        return;
    }
    for (size_t i = 0; i < s->tps.n; i++) {
        char *t = strdup(s->tps.tps[i].topic);
        pthread_mutex_lock(&g->lock);
        if (!t || group_tp_list_add(&g->owned, t, s->tps.tps[i].partition) != GREGOR_OK)
            free(t);
        pthread_mutex_unlock(&g->lock);
    }
    run_callback(g, GREGOR_REBALANCE_ASSIGNED, &s->tps);
}

void group_run_steps(gregor_group *g, bool closing)
{
    for (;;) {
        pthread_mutex_lock(&g->lock);
        group_step *s = g->steps;
        if (s && !(g->steps = s->next))
            g->steps_tail = NULL;
        pthread_mutex_unlock(&g->lock);
        if (!s)
            return;
        switch (s->kind) {
        case GROUP_STEP_REVOKE:
            commit_revoked(g, &s->tps);
            run_callback(g, GREGOR_REBALANCE_REVOKED, &s->tps);
            drop_partitions(g, &s->tps);
            break;
        case GROUP_STEP_LOST:
            run_callback(g, GREGOR_REBALANCE_LOST, &s->tps);
            drop_partitions(g, &s->tps);
            break;
        case GROUP_STEP_ASSIGN:
            if (!closing)
                run_assign(g, s);
            break;
        }
        group_tp_list_free_strings(&s->tps);
        free(s);
        pthread_mutex_lock(&g->lock);
        g->steps_done++;
        pthread_cond_broadcast(&g->cond);
        pthread_mutex_unlock(&g->lock);
    }
}
