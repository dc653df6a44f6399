/* consumer/committer.c — asynchronous and automatic commits: a thread that
 * sleeps on a condition variable until the next auto-commit is due or a
 * commit is queued, runs it with offsets_commit_sync(), and queues the
 * finished asynchronous commits until the application thread runs their
 * callbacks (poll, destroy). It also resolves the committed start offsets
 * of gregor_consumer_assign_list() (consumer_resolve_committed()). Auto-commit stores the positions as
 * of the start of the latest poll() (a batch counts as processed when the
 * application polls again); commit on close, in offsets_destroy(), stores
 * the final positions.
 *
 * Threading: the committer thread, and the application thread for
 * offsets_commit_async / offsets_run_callbacks / offsets_new /
 * offsets_destroy; the queues are under the committer's lock.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "consumer/offsets_int.h"
#include "util/clock.h"
#include "util/log.h"

static void job_free(commit_job *j)
{
    if (!j)
        return;
    free(j->offs);
    free(j->epochs);
    free(j->strings);
    free(j->metadata);
    free(j);
}

/* A deep copy of a commit for the queue. */
static commit_job *job_new(const gregor_topic_offset *offs, size_t n, const int32_t *epochs, const char *metadata)
{
    commit_job *j = calloc(1, sizeof *j);
    if (!j)
        return NULL;
    size_t bytes = 0;
    for (size_t i = 0; i < n; i++)
        bytes += strlen(offs[i].topic) + 1 + (offs[i].metadata ? strlen(offs[i].metadata) + 1 : 0);
    j->offs = calloc(n, sizeof *j->offs);
    j->strings = malloc(bytes ? bytes : 1);
    j->metadata = metadata ? strdup(metadata) : NULL;
    j->epochs = epochs ? malloc((n ? n : 1) * sizeof *j->epochs) : NULL;
    if (!j->offs || !j->strings || (metadata && !j->metadata) || (epochs && !j->epochs)) {
        job_free(j);
        return NULL;
    }
    if (epochs)
        memcpy(j->epochs, epochs, n * sizeof *epochs);
    char *s = j->strings;
    for (size_t i = 0; i < n; i++) {
        j->offs[i] = offs[i];
        size_t l = strlen(offs[i].topic) + 1;
        j->offs[i].topic = memcpy(s, offs[i].topic, l);
        s += l;
        if (offs[i].metadata) {
            l = strlen(offs[i].metadata) + 1;
            j->offs[i].metadata = memcpy(s, offs[i].metadata, l);
            s += l;
        }
    }
    j->n = n;
    return j;
}

/* Commits what changed: the positions as of the latest poll() on the
 * interval (CONSUMED), the final positions on close (CURRENT). */
static void auto_commit(offset_mgr *o, consumer_pos_kind kind)
{
    gregor_topic_offset *v;
    int32_t *epochs;
    size_t n;
    if (consumer_positions(o->c, kind, true, &v, &epochs, &n) != GREGOR_OK)
        return;
    char errstr[256];
    if (n && offsets_commit_sync(o, v, n, NULL, epochs, errstr, sizeof errstr) != GREGOR_OK)
        gregor_log(GREGOR_LOG_WARN, "consumer: auto-commit: %s", errstr);
    free(v);
    free(epochs);
}

static void run_job(offset_mgr *o, commit_job *j)
{
    char errstr[256];
    j->err = offsets_commit_sync(o, j->offs, j->n, j->metadata, j->epochs, errstr, sizeof errstr);
    if (j->err != GREGOR_OK)
        gregor_log(GREGOR_LOG_DEBUG, "consumer: async commit: %s", errstr);
    pthread_mutex_lock(&o->lock);
    if (o->done_tail)
        o->done_tail->next = j;
    else
        o->done = j;
    o->done_tail = j;
    pthread_mutex_unlock(&o->lock);
    /* Wake a poll() waiting for messages so that it runs the callback. */
    pthread_mutex_lock(&o->c->lock);
    pthread_cond_broadcast(&o->c->cond);
    pthread_mutex_unlock(&o->c->lock);
}

static void *committer_main(void *arg)
{
    offset_mgr *o = arg;
    int64_t next_auto = net_now_ms() + o->interval_ms;
    pthread_mutex_lock(&o->lock);
    for (;;) {
        if (o->jobs) {
            commit_job *j = o->jobs;
            o->jobs = j->next;
            if (!o->jobs)
                o->jobs_tail = NULL;
            j->next = NULL;
            pthread_mutex_unlock(&o->lock);
            run_job(o, j);
            pthread_mutex_lock(&o->lock);
            continue;
        }
        if (o->stop)
            break;
        if (o->resolve) {
            o->resolve = false;
            pthread_mutex_unlock(&o->lock);
            consumer_resolve_committed(o->c);
            pthread_mutex_lock(&o->lock);
            continue;
        }
        if (!o->auto_commit) {
            pthread_cond_wait(&o->cond, &o->lock);
            continue;
        }
        int64_t now = net_now_ms();
        if (now >= next_auto) {
            pthread_mutex_unlock(&o->lock);
            auto_commit(o, CONSUMER_POS_CONSUMED);
            pthread_mutex_lock(&o->lock);
            next_auto = net_now_ms() + o->interval_ms;
            continue;
        }
        struct timespec ts = clock_deadline_ts(next_auto - now);
        pthread_cond_timedwait(&o->cond, &o->lock, &ts);
    }
    pthread_mutex_unlock(&o->lock);
    return NULL;
}

offset_mgr *offsets_new(gregor_consumer *c, const char *group_id, bool auto_commit_on, int32_t interval_ms,
                     int32_t timeout_ms)
{
    offset_mgr *o = calloc(1, sizeof *o);
    if (!o)
        return NULL;
    if (!(o->group = strdup(group_id))) {
        free(o);
        return NULL;
    }
    o->c = c;
    o->auto_commit = auto_commit_on;
    o->interval_ms = interval_ms;
    o->timeout_ms = timeout_ms;
    o->coordinator = -1;
    o->generation = -1;
    pthread_mutex_init(&o->lock, NULL);
    if (clock_cond_init(&o->cond) != 0) {
        pthread_mutex_destroy(&o->lock);
        free(o->group);
        free(o);
        return NULL;
    }
    if (pthread_create(&o->thread, NULL, committer_main, o) != 0) {
        pthread_cond_destroy(&o->cond);
        pthread_mutex_destroy(&o->lock);
        free(o->group);
        free(o);
        return NULL;
    }
    return o;
}

void offsets_request_resolve(offset_mgr *o)
{
    pthread_mutex_lock(&o->lock);
    o->resolve = true;
    pthread_cond_signal(&o->cond);
    pthread_mutex_unlock(&o->lock);
}

void offsets_run_callbacks(offset_mgr *o)
{
    pthread_mutex_lock(&o->lock);
    commit_job *j = o->done;
    o->done = o->done_tail = NULL;
    pthread_mutex_unlock(&o->lock);
    while (j) {
        commit_job *next = j->next;
        if (j->cb)
            j->cb(j->err, j->offs, j->n, j->opaque);
        job_free(j);
        j = next;
    }
}

gregor_err offsets_commit_async(offset_mgr *o, const gregor_topic_offset *offs, size_t n, const int32_t *epochs,
                                const char *metadata, gregor_commit_cb cb, void *opaque)
{
    commit_job *j = job_new(offs, n, epochs, metadata);
    if (!j)
        return GREGOR_ERR_NOMEM;
    j->cb = cb;
    j->opaque = opaque;
    pthread_mutex_lock(&o->lock);
    if (o->jobs_tail)
        o->jobs_tail->next = j;
    else
        o->jobs = j;
    o->jobs_tail = j;
    pthread_cond_signal(&o->cond);
    pthread_mutex_unlock(&o->lock);
    return GREGOR_OK;
}

void offsets_destroy(offset_mgr *o)
{
    if (!o)
        return;
    pthread_mutex_lock(&o->lock);
    o->stop = true;
    pthread_cond_signal(&o->cond);
    pthread_mutex_unlock(&o->lock);
    pthread_join(o->thread, NULL); /* after the queued commits ran */
    if (o->auto_commit)
        auto_commit(o, CONSUMER_POS_CURRENT); /* commit on close */
    offsets_run_callbacks(o);
    offsets_free_meta(o);
    pthread_cond_destroy(&o->cond);
    pthread_mutex_destroy(&o->lock);
    free(o->group);
    free(o);
}
