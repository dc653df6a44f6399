/* framework/supervisor.c — the pipelines of one config in this process:
 * one shared client (I/O thread, connections, metadata) for the group
 * members, a second one for the producer pool (one gregor_producer per
 * named producer, on that client), and the pipelines (pipeline.c). Stopping is graceful and ordered: members close
 * (drain, commit, leave), then producers flush what partition_fini emitted,
 * then handlers' fini run. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/config.h"
#include "framework/pipeline.h"
#include "framework/supervisor.h"
#include "util/clock.h"
#include "util/errstr.h"

typedef struct fw_named_producer {
    const char *name;
    gregor_producer *producer;
} fw_named_producer;

struct fw_supervisor {
    const fw_config *cfg;
    gregor_client *client;
    /* The producers' own client: a broker serves one connection's requests
     * in order, so a Produce on the members' data connection would wait
     * behind their long-poll Fetch (up to fetch_max_wait_ms), and every
     * emit's delivery with it. Like a producer's own client, it lets the
     * broker create missing output topics unless the cluster map says
     * allow_auto_create_topics: false. */
    gregor_client *producer_client;
    fw_named_producer *producers;
    size_t n_producers;
    fw_pipeline *pipelines;  /* cfg->n_pipelines of them */
    size_t n_inited;         /* the first n_inited were initialised */
    bool started;

    pthread_mutex_t lock;
    pthread_cond_t cv;
    size_t n_done;           /* member threads that ended (lock) */
    bool stop_requested;     /* (lock) */
    gregor_err fatal;        /* (lock) */
    bool unclean;            /* a drain or the final flush ran out of time (lock) */
    bool finished;           /* fw_supervisor_finish() ran: destroy waits no more */
    char fatal_text[600];    /* (lock) */
};

void fw_supervisor_event(fw_supervisor *s, const char *fmt, ...)
{
    (void)s;
    char text[1200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    fw_log_event ev = fw_log_ev(GREGOR_LOG_INFO, NULL);
    fw_log_emit(&ev, text);
}

const fw_config *fw_supervisor_config(fw_supervisor *s)
{
    return s->cfg;
}

fw_pipeline *fw_supervisor_pipelines(fw_supervisor *s, size_t *n)
{
    *n = s->n_inited;
    return s->pipelines;
}

const char *fw_supervisor_producer_at(fw_supervisor *s, size_t i, gregor_producer **out)
{
    if (i >= s->n_producers)
        return NULL;
    *out = s->producers[i].producer;
    return s->producers[i].name;
}

gregor_client *fw_supervisor_client(fw_supervisor *s, bool producers)
{
    return producers ? s->producer_client : s->client;
}

gregor_producer *fw_supervisor_producer(fw_supervisor *s, const char *name)
{
    for (size_t i = 0; i < s->n_producers; i++)
        if (!strcmp(s->producers[i].name, name))
            return s->producers[i].producer;
    return NULL;
}

void fw_supervisor_fatal(fw_supervisor *s, const char *pipeline, gregor_err err, const char *text)
{
    pthread_mutex_lock(&s->lock);
    if (!s->fatal) {
        s->fatal = err ? err : GREGOR_ERR_STATE;
        snprintf(s->fatal_text, sizeof s->fatal_text, "pipeline %s: %s", pipeline, text);
    }
    pthread_mutex_unlock(&s->lock);
    fw_log_event ev = fw_log_ev(GREGOR_LOG_ERROR, "fatal");
    ev.pipeline = pipeline;
    for (size_t i = 0; i < s->cfg->n_pipelines; i++)
        if (!strcmp(s->cfg->pipelines[i].name, pipeline))
            ev.group = s->cfg->pipelines[i].group;
    ev.error = text;
    fw_log_emit(&ev, "stopping on a fatal error");
    fw_supervisor_stop(s);
}

void fw_supervisor_note_unclean(fw_supervisor *s)
{
    pthread_mutex_lock(&s->lock);
    s->unclean = true;
    pthread_mutex_unlock(&s->lock);
}

gregor_err fw_supervisor_finish(fw_supervisor *s, int32_t timeout_ms, char *errstr, size_t errstr_size)
{
    fw_supervisor_stop(s);
    for (size_t i = 0; i < s->n_inited; i++)
        fw_pipeline_join(&s->pipelines[i]);
    int64_t deadline = clock_mono_ms() + (timeout_ms < 0 ? 0 : timeout_ms);
    gregor_err err = GREGOR_OK;
    for (size_t i = 0; i < s->n_producers; i++) {
        int64_t left = deadline - clock_mono_ms();
        if (gregor_producer_flush(s->producers[i].producer, (int32_t)(left > 0 ? left : 0)) != GREGOR_OK) {
            errstr_set(errstr, errstr_size, "producer %s: %zu messages still unacknowledged", s->producers[i].name,
                       gregor_producer_outstanding(s->producers[i].producer));
            err = GREGOR_ERR_TIMED_OUT;
        }
    }
    s->finished = true;
    pthread_mutex_lock(&s->lock);
    if (!err && s->unclean) {
        err = GREGOR_ERR_TIMED_OUT;
        errstr_set(errstr, errstr_size, "a partition's in-flight work did not finish within drain_timeout_ms");
    }
    pthread_mutex_unlock(&s->lock);
    return err;
}

void fw_supervisor_member_done(fw_supervisor *s)
{
    pthread_mutex_lock(&s->lock);
    s->n_done++;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->lock);
}

/* The framework's producer defaults: emits wait for room (backpressure)
 * instead of failing at once; the file's options override them. */
static const char *const producer_defaults[] = {"block_ms", "60000", NULL};

gregor_err fw_supervisor_new(const fw_config *cfg, fw_supervisor **out, char *errstr, size_t errstr_size)
{
    *out = NULL;
    fw_supervisor *s = calloc(1, sizeof *s);
    if (!s)
        return GREGOR_ERR_NOMEM;
    s->cfg = cfg;
    pthread_mutex_init(&s->lock, NULL);
    clock_cond_init(&s->cv);
    gregor_err err = GREGOR_ERR_NOMEM;
    char e[512];
    gregor_config *cc = fw_config_client(cfg, NULL);
    if (!cc)
        goto out_fail;
    err = gregor_client_new(cc, &s->client, e, sizeof e);
    if (!err && !config_is_set(cc, "allow_auto_create_topics"))
        err = gregor_config_set(cc, "allow_auto_create_topics", "true", e, sizeof e);
    if (!err)
        err = gregor_client_new(cc, &s->producer_client, e, sizeof e);
    gregor_config_destroy(cc);
    if (err) {
        errstr_set(errstr, errstr_size, "cluster: %s", e);
        goto out_fail;
    }
    err = GREGOR_ERR_NOMEM;
    s->producers = calloc(cfg->n_producers ? cfg->n_producers : 1, sizeof *s->producers);
    s->pipelines = calloc(cfg->n_pipelines ? cfg->n_pipelines : 1, sizeof *s->pipelines);
    if (!s->producers || !s->pipelines)
        goto out_fail;
    for (size_t i = 0; i < cfg->n_producers; i++) {
        gregor_config *pc = fw_config_client_with(cfg, producer_defaults, &cfg->producers[i].options);
        if (!pc)
            goto out_fail;
        s->producers[i].name = cfg->producers[i].name;
        err = gregor_producer_new_on(s->producer_client, pc, fw_on_delivery, NULL, &s->producers[i].producer, e, sizeof e);
        gregor_config_destroy(pc);
        if (err) {
            errstr_set(errstr, errstr_size, "producer %s: %s", cfg->producers[i].name, e);
            goto out_fail;
        }
        s->n_producers++;
    }
    for (size_t i = 0; i < cfg->n_pipelines; i++) {
        s->n_inited++;
        err = fw_pipeline_init(&s->pipelines[i], s, &cfg->pipelines[i], s->client, errstr, errstr_size);
        if (err)
            goto out_fail;
    }
    *out = s;
    return GREGOR_OK;
out_fail:
    if (err == GREGOR_ERR_NOMEM)
        errstr_set(errstr, errstr_size, "out of memory");
    fw_supervisor_destroy(s);
    return err;
}

gregor_err fw_supervisor_start(fw_supervisor *s, int32_t timeout_ms, char *errstr, size_t errstr_size)
{
    const gregor_metadata *md = NULL;
    char e[512];
    gregor_err err = gregor_client_metadata(s->client, NULL, 0, timeout_ms, &md, e, sizeof e);
    if (err) {
        const char *bootstrap = NULL;
        for (size_t i = 0; i < s->cfg->cluster.n; i++)
            if (!strcmp(s->cfg->cluster.items[i].key, "bootstrap"))
                bootstrap = s->cfg->cluster.items[i].value;
        errstr_set(errstr, errstr_size, "%s:%d:%d: the cluster at %s cannot be reached: %s", s->cfg->file,
                   s->cfg->bootstrap_loc.line, s->cfg->bootstrap_loc.col, bootstrap ? bootstrap : "?", e);
        return err;
    }
    gregor_metadata_destroy(md);
    s->started = true;
    for (size_t i = 0; i < s->n_inited; i++) {
        err = fw_pipeline_start(&s->pipelines[i], errstr, errstr_size);
        if (err) {
            fw_supervisor_stop(s);
            return err;
        }
    }
    return GREGOR_OK;
}

void fw_supervisor_stop(fw_supervisor *s)
{
    pthread_mutex_lock(&s->lock);
    s->stop_requested = true;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->lock);
    for (size_t i = 0; i < s->n_inited; i++)
        fw_pipeline_stop(&s->pipelines[i]);
}

gregor_err fw_supervisor_wait(fw_supervisor *s, int32_t timeout_ms, char *errstr, size_t errstr_size)
{
    size_t running = 0;
    for (size_t i = 0; i < s->n_inited; i++)
        running += s->pipelines[i].member_started;
    struct timespec ts = clock_deadline_ts(timeout_ms);
    pthread_mutex_lock(&s->lock);
    gregor_err err = GREGOR_OK;
    while (s->n_done < running) {
        if (timeout_ms < 0) {
            pthread_cond_wait(&s->cv, &s->lock);
        } else if (pthread_cond_timedwait(&s->cv, &s->lock, &ts)) {
            err = GREGOR_ERR_TIMED_OUT;
            break;
        }
    }
    if (!err && s->fatal) {
        err = s->fatal;
        errstr_set(errstr, errstr_size, "%s", s->fatal_text);
    }
    pthread_mutex_unlock(&s->lock);
    if (err == GREGOR_ERR_TIMED_OUT)
        errstr_set(errstr, errstr_size, "pipelines still running after %d ms", (int)timeout_ms);
    return err;
}

void fw_supervisor_destroy(fw_supervisor *s)
{
    if (!s)
        return;
    fw_supervisor_stop(s);
    for (size_t i = 0; i < s->n_inited; i++)
        fw_pipeline_join(&s->pipelines[i]);
    /* Producers before pipelines: their last delivery reports finish the
     * pipelines' messages. */
    int32_t flush_ms = (int32_t)(s->cfg->shutdown_timeout_ms > 0 ? s->cfg->shutdown_timeout_ms : 30000);
    for (size_t i = 0; i < s->n_producers && !s->finished; i++)
        if (gregor_producer_flush(s->producers[i].producer, flush_ms) != GREGOR_OK) {
            fw_log_event ev = fw_log_ev(GREGOR_LOG_WARN, "unacknowledged");
            fw_log_emitf(&ev, "producer %s: messages still unacknowledged after %d ms", s->producers[i].name,
                         (int)flush_ms);
        }
    for (size_t i = 0; i < s->n_producers; i++)
        gregor_producer_destroy(s->producers[i].producer, 0);
    for (size_t i = 0; i < s->n_inited; i++)
        fw_pipeline_fini(&s->pipelines[i]);
    gregor_client_destroy(s->client);
    gregor_client_destroy(s->producer_client);
    free(s->producers);
    free(s->pipelines);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

size_t fw_supervisor_stats(fw_supervisor *s, fw_pipeline_stats *out, size_t max)
{
    for (size_t i = 0; i < s->n_inited && i < max; i++) {
        fw_pipeline *pl = &s->pipelines[i];
        out[i] = (fw_pipeline_stats){
            .name = pl->conf ? pl->conf->name : "",
            .consumed = atomic_load(&pl->stats.consumed),
            .processed = atomic_load(&pl->stats.processed),
            .emitted = atomic_load(&pl->stats.emitted),
            .delivered = atomic_load(&pl->stats.delivered),
            .retried = atomic_load(&pl->stats.retried),
            .dead_lettered = atomic_load(&pl->stats.dead_lettered),
            .commits = atomic_load(&pl->stats.commits),
            .partitions = atomic_load(&pl->stats.partitions),
            .stopped_partitions = atomic_load(&pl->stats.stopped_partitions),
            .queued_bytes = atomic_load(&pl->stats.held_bytes),
            .failed = atomic_load(&pl->stats.failed),
            .rebalances = atomic_load(&pl->stats.rebalances),
        };
    }
    return s->n_inited;
}
