/* consumer/assign_list.c — list-based, incremental assignment: many
 * partitions assigned or unassigned in one call, the assignment listed, and
 * the committed start offsets of a list resolved in the background with one
 * OffsetFetch for all of them.
 *
 * Flow of GREGOR_OFFSET_COMMITTED: assign_list marks the partitions
 * CPART_NEED_COMMITTED (the fetcher leaves them alone) and asks the
 * committer thread, which calls consumer_resolve_committed(): it collects
 * every partition still waiting, asks the coordinator once, and starts each
 * at its committed offset (or auto_offset_reset) unless the partition was
 * seeked or unassigned meanwhile (its `gen` moved on).
 *
 * Threading: the public functions on the application thread (as the rest
 * of the consumer API); consumer_resolve_committed on the committer thread.
 * Both take the consumer's lock, never while holding fetch_lock.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "consumer/consumer_int.h"
#include "util/log.h"

static gregor_err check_entry(const gregor_consumer *c, const gregor_topic_offset *t, size_t i, char *errstr,
                              size_t n)
{
    char why[128];
    gregor_err err = GREGOR_OK;
    if (!t->topic || !t->topic[0] || t->partition < 0) {
        snprintf(why, sizeof why, "no topic or a negative partition");
        err = GREGOR_ERR_INVALID_ARG;
    } else if (t->offset == GREGOR_OFFSET_TIMESTAMP) {
        snprintf(why, sizeof why, "GREGOR_OFFSET_TIMESTAMP needs gregor_consumer_assign()");
        err = GREGOR_ERR_INVALID_ARG;
    } else if (t->offset == GREGOR_OFFSET_COMMITTED && !c->offs) {
        snprintf(why, sizeof why, "GREGOR_OFFSET_COMMITTED needs group_id");
        err = GREGOR_ERR_INVALID_ARG;
    } else if ((err = consumer_check_offset(t->offset, 0, why, sizeof why)) != GREGOR_OK) {
        /* why says it */
    }
    if (err != GREGOR_OK && errstr && n)
        snprintf(errstr, n, "assignment entry %zu (topic '%s' partition %d): %s", i, t->topic ? t->topic : "(null)",
                 (int)t->partition, why);
    return err;
}

gregor_err gregor_consumer_assign_list(gregor_consumer *c, const gregor_topic_offset *tps, size_t n, char *errstr,
                                       size_t errstr_size)
{
    if (n && !tps)
        return GREGOR_ERR_INVALID_ARG;
    gregor_err err;
    for (size_t i = 0; i < n; i++)
        if ((err = check_entry(c, &tps[i], i, errstr, errstr_size)) != GREGOR_OK)
            return err;
    /* Their metadata is asked for now, in one request. */
    const char **names = calloc(n ? n : 1, sizeof *names);
    if (!names)
        goto out_nomem;
    for (size_t i = 0; i < n; i++)
        names[i] = tps[i].topic;
    err = cluster_add_topics(c->client->cluster, names, n);
    free(names);
    if (err != GREGOR_OK)
        goto out_nomem;
    bool resolve = false;
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < n; i++) {
        cpart *p = consumer_assign_part_locked(c, tps[i].topic, tps[i].partition);
        if (!p) {
            pthread_mutex_unlock(&c->lock);
            goto out_nomem;
        }
        consumer_start_at_locked(c, p, tps[i].offset, 0, -1);
        resolve |= tps[i].offset == GREGOR_OFFSET_COMMITTED;
    }
    pthread_mutex_unlock(&c->lock);
    if (resolve)
        offsets_request_resolve(c->offs);
    return GREGOR_OK;
out_nomem:
    if (errstr && errstr_size)
        snprintf(errstr, errstr_size, "out of memory (some partitions of the list may be assigned)");
    return GREGOR_ERR_NOMEM;
}

gregor_err consumer_unassign_locked(gregor_consumer *c, const char *topic, int32_t partition)
{
    cpart *p = consumer_find_part(c, topic, partition);
    if (!p || !p->assigned)
        return GREGOR_ERR_UNKNOWN_TOPIC;
    p->assigned = false;
    p->gen++; /* an answer in flight for it is dropped when it comes */
    consumer_drop_queued_locked(c, p);
    return GREGOR_OK;
}

gregor_err gregor_consumer_unassign_list(gregor_consumer *c, const gregor_topic_offset *tps, size_t n)
{
    gregor_err first = GREGOR_OK;
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < n; i++) {
        gregor_err err = tps[i].topic ? consumer_unassign_locked(c, tps[i].topic, tps[i].partition)
                                      : GREGOR_ERR_INVALID_ARG;
        if (first == GREGOR_OK)
            first = err;
    }
    pthread_mutex_unlock(&c->lock);
    return first;
}

void gregor_topic_offsets_free(gregor_topic_offset *tps, size_t n)
{
    if (!tps)
        return;
    for (size_t i = 0; i < n; i++) {
        free((void *)(uintptr_t)tps[i].topic);
        free((void *)(uintptr_t)tps[i].metadata);
    }
    free(tps);
}

gregor_err gregor_consumer_assignment(gregor_consumer *c, gregor_topic_offset **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    pthread_mutex_lock(&c->lock);
    size_t k = 0;
    for (size_t i = 0; i < c->n_parts; i++)
        k += c->parts[i]->assigned;
    gregor_topic_offset *v = calloc(k ? k : 1, sizeof *v);
    size_t j = 0;
    for (size_t i = 0; v && i < c->n_parts; i++) {
        const cpart *p = c->parts[i];
        if (!p->assigned)
            continue;
        v[j] = (gregor_topic_offset){.topic = strdup(p->topic), .partition = p->partition, .offset = p->position,
                                     .err = p->state == CPART_FAILED ? p->err : GREGOR_OK};
        if (!v[j++].topic)
            break;
    }
    pthread_mutex_unlock(&c->lock);
    if (!v || (j && !v[j - 1].topic)) {
        gregor_topic_offsets_free(v, j);
        return GREGOR_ERR_NOMEM;
    }
    if (j == 0) {
        free(v);
        return GREGOR_OK;
    }
    *out = v;
    *n = j;
    return GREGOR_OK;
}

/* ------------------------------------------------- committed (background) */

typedef struct waiting {
    cpart *p;
    uint64_t gen;
} waiting;

/* Starts `p` where the answer says (lock held). `err` is the entry's own. */
static void apply_committed_locked(gregor_consumer *c, cpart *p, gregor_err err, int64_t offset, int32_t epoch,
                                   const char *errstr)
{
    if (err != GREGOR_OK)
        consumer_fail_part_locked(c, p, err, -1, "topic '%s' partition %d: committed offset: %s", p->topic,
                                  (int)p->partition, errstr[0] ? errstr : gregor_err_name(err));
    else if (offset >= 0)
        consumer_start_at_locked(c, p, offset, 0, epoch);
    else if (c->reset_policy == 0)
        consumer_fail_part_locked(c, p, GREGOR_ERR_STATE, -1,
                                  "topic '%s' partition %d: no committed offset and auto_offset_reset=error",
                                  p->topic, (int)p->partition);
    else
        consumer_start_at_locked(c, p, c->reset_policy, 0, -1);
}

void consumer_resolve_committed(gregor_consumer *c)
{
    pthread_mutex_lock(&c->lock);
    size_t k = 0;
    for (size_t i = 0; i < c->n_parts; i++)
        k += c->parts[i]->assigned && c->parts[i]->state == CPART_NEED_COMMITTED;
    if (!k) { /* resolved (seeked, unassigned) before the committer came to it */
        pthread_mutex_unlock(&c->lock);
        return;
    }
    waiting *w = calloc(k, sizeof *w);
    gregor_topic_offset *offs = calloc(k, sizeof *offs);
    int32_t *epochs = calloc(k, sizeof *epochs);
    size_t j = 0;
    for (size_t i = 0; w && offs && epochs && i < c->n_parts; i++) {
        cpart *p = c->parts[i];
        if (!p->assigned || p->state != CPART_NEED_COMMITTED)
            continue;
        w[j] = (waiting){p, p->gen};
        /* The topic is borrowed: cparts live as long as the consumer, and
         * the committer thread stops first. INT64_MIN: not answered. */
        offs[j++] = (gregor_topic_offset){.topic = p->topic, .partition = p->partition, .offset = INT64_MIN};
    }
    pthread_mutex_unlock(&c->lock);
    char errstr[256] = "";
    gregor_err err = GREGOR_ERR_NOMEM;
    if (w && offs && epochs) {
        pthread_mutex_lock(&c->fetch_lock);
        err = offsets_fetch_sync(c->offs, offs, j, epochs, errstr, sizeof errstr);
        pthread_mutex_unlock(&c->fetch_lock);
    }
    if (err != GREGOR_OK)
        gregor_log(GREGOR_LOG_WARN, "consumer: committed offsets of %zu partitions: %s", k,
                   errstr[0] ? errstr : gregor_err_name(err));
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < j; i++) {
        cpart *p = w[i].p;
        if (!p->assigned || p->gen != w[i].gen || p->state != CPART_NEED_COMMITTED)
            continue; /* seeked or unassigned meanwhile */
        bool answered = offs[i].offset != INT64_MIN;
        gregor_err e = answered ? offs[i].err : err;
        apply_committed_locked(c, p, e, offs[i].offset, epochs[i], answered && e != err ? "" : errstr);
    }
    if (!w || !offs || !epochs) { /* out of memory: they fail rather than wait forever */
        for (size_t i = 0; i < c->n_parts; i++)
            if (c->parts[i]->assigned && c->parts[i]->state == CPART_NEED_COMMITTED)
                apply_committed_locked(c, c->parts[i], GREGOR_ERR_NOMEM, -1, -1, "out of memory");
    }
    pthread_mutex_unlock(&c->lock);
    free(w);
    free(offs);
    free(epochs);
}
