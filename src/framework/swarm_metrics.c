/* framework/swarm_metrics.c — the swarm supervisor's metrics
 * (swarm_metrics.h): per child its last heartbeat's text and state; the
 * retired counters of dead children as one text; a render merges the
 * live texts with the retired one (swarm_merge.h) and appends the
 * gregor_swarm_* series. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "framework/swarm_merge.h"
#include "framework/swarm_metrics.h"

typedef struct slot_metrics {
    char *text;
    size_t len;
    bool up, ready;
    bool exited;         /* last_status is set */
    int last_status;     /* exit status, or minus the signal */
    uint64_t restarts;
} slot_metrics;

struct fw_swarm_metrics {
    pthread_mutex_t lock;
    int n;
    slot_metrics *slots;
    char *retired;       /* counters of dead children */
    size_t retired_len;
    uint64_t crashes;
};

fw_swarm_metrics *fw_swarm_metrics_new(int children)
{
    fw_swarm_metrics *m = calloc(1, sizeof *m);
    if (!m || !(m->slots = calloc((size_t)(children > 0 ? children : 1), sizeof *m->slots))) {
        free(m);
        return NULL;
    }
    m->n = children;
    pthread_mutex_init(&m->lock, NULL);
    return m;
}

void fw_swarm_metrics_destroy(fw_swarm_metrics *m)
{
    if (!m)
        return;
    for (int i = 0; i < m->n; i++)
        free(m->slots[i].text);
    free(m->slots);
    free(m->retired);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

void fw_swarm_metrics_started(fw_swarm_metrics *m, int slot)
{
    pthread_mutex_lock(&m->lock);
    m->slots[slot].up = true;
    m->slots[slot].ready = false;
    pthread_mutex_unlock(&m->lock);
}

gregor_err fw_swarm_metrics_heartbeat(fw_swarm_metrics *m, int slot, bool ready, const char *text, size_t len)
{
    char *copy = NULL;
    if (len && !(copy = malloc(len + 1)))
        return GREGOR_ERR_NOMEM;
    if (copy) {
        memcpy(copy, text, len);
        copy[len] = '\0';
    }
    pthread_mutex_lock(&m->lock);
    slot_metrics *s = &m->slots[slot];
    s->ready = ready;
    free(s->text);
    s->text = copy;
    s->len = len;
    pthread_mutex_unlock(&m->lock);
    return GREGOR_OK;
}

void fw_swarm_metrics_exited(fw_swarm_metrics *m, int slot, int status, bool restarting)
{
    pthread_mutex_lock(&m->lock);
    slot_metrics *s = &m->slots[slot];
    if (s->text) {
        const char *texts[2] = {m->retired, s->text};
        size_t lens[2] = {m->retired_len, s->len};
        char *out = NULL;
        size_t len = 0;
        if (fw_metrics_merge(texts, lens, 2, true, &out, &len) == GREGOR_OK) {
            free(m->retired);
            m->retired = out;
            m->retired_len = len;
        }
        free(s->text);
        s->text = NULL;
        s->len = 0;
    }
    s->up = s->ready = false;
    s->exited = true;
    s->last_status = WIFSIGNALED(status) ? -WTERMSIG(status) : WEXITSTATUS(status);
    s->restarts += restarting;
    pthread_mutex_unlock(&m->lock);
}

void fw_swarm_metrics_crash(fw_swarm_metrics *m)
{
    pthread_mutex_lock(&m->lock);
    m->crashes++;
    pthread_mutex_unlock(&m->lock);
}

static void family(buf_writer *out, const char *name, const char *type, const char *help)
{
    char line[512];
    int n = snprintf(line, sizeof line, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
    buf_write_raw(out, line, (size_t)n);
}

static void sample(buf_writer *out, const char *name, int child, long long value)
{
    char line[256];
    int n = child >= 0 ? snprintf(line, sizeof line, "%s{child=\"%d\"} %lld\n", name, child, value)
                       : snprintf(line, sizeof line, "%s %lld\n", name, value);
    buf_write_raw(out, line, (size_t)n);
}

static void swarm_series(fw_swarm_metrics *m, buf_writer *out)
{
    int up = 0;
    for (int i = 0; i < m->n; i++)
        up += m->slots[i].up;
    family(out, "gregor_swarm_children", "gauge", "Worker processes configured (--processes).");
    sample(out, "gregor_swarm_children", -1, m->n);
    family(out, "gregor_swarm_children_up", "gauge", "Worker processes running now.");
    sample(out, "gregor_swarm_children_up", -1, up);
    family(out, "gregor_swarm_child_up", "gauge", "1 while the worker process runs.");
    for (int i = 0; i < m->n; i++)
        sample(out, "gregor_swarm_child_up", i, m->slots[i].up);
    family(out, "gregor_swarm_child_ready", "gauge", "1 once every pipeline of the worker process joined its group.");
    for (int i = 0; i < m->n; i++)
        sample(out, "gregor_swarm_child_ready", i, m->slots[i].ready);
    family(out, "gregor_swarm_restarts_total", "counter", "Restarts of the worker process after it died.");
    for (int i = 0; i < m->n; i++)
        sample(out, "gregor_swarm_restarts_total", i, (long long)m->slots[i].restarts);
    family(out, "gregor_swarm_last_exit_status", "gauge",
           "The worker process's last exit: its status, or minus the signal that killed it.");
    for (int i = 0; i < m->n; i++)
        if (m->slots[i].exited)
            sample(out, "gregor_swarm_last_exit_status", i, m->slots[i].last_status);
    family(out, "gregor_swarm_crashes_total", "counter", "Handler calls a worker process died in.");
    sample(out, "gregor_swarm_crashes_total", -1, (long long)m->crashes);
}

gregor_err fw_swarm_metrics_render(fw_swarm_metrics *m, buf_writer *out)
{
    pthread_mutex_lock(&m->lock);
    size_t n = (size_t)m->n + 1;
    const char **texts = calloc(n, sizeof *texts);
    size_t *lens = calloc(n, sizeof *lens);
    gregor_err err = GREGOR_ERR_NOMEM;
    char *merged = NULL;
    size_t len = 0;
    if (texts && lens) {
        texts[0] = m->retired;
        lens[0] = m->retired_len;
        for (int i = 0; i < m->n; i++) {
            texts[i + 1] = m->slots[i].text;
            lens[i + 1] = m->slots[i].len;
        }
        err = fw_metrics_merge(texts, lens, n, false, &merged, &len);
    }
    if (!err) {
        buf_write_raw(out, merged, len);
        swarm_series(m, out);
        err = out->err;
    }
    pthread_mutex_unlock(&m->lock);
    free(merged);
    free(texts);
    free(lens);
    return err;
}

bool fw_swarm_metrics_ready(fw_swarm_metrics *m)
{
    pthread_mutex_lock(&m->lock);
    bool ready = m->n > 0;
    for (int i = 0; i < m->n; i++)
        ready = ready && m->slots[i].up && m->slots[i].ready;
    pthread_mutex_unlock(&m->lock);
    return ready;
}

gregor_err fw_swarm_metrics_http_body(void *arg, buf_writer *out)
{
    return fw_swarm_metrics_render(arg, out);
}

bool fw_swarm_metrics_http_ready(void *arg)
{
    return fw_swarm_metrics_ready(arg);
}
