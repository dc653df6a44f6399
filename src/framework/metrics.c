/* framework/metrics.c — Prometheus text for one process's pipelines and
 * their partitions (metrics.h), readiness, and the endpoint's glue.
 *
 * Families are tables over snapshots (fw_pipeline_stats; part_snap), so
 * adding a counter is adding a row; a scrape walks the tables family by
 * family (the format wants a family's samples together). A scrape takes
 * each pipeline's lock once, to copy its partitions, and reads the
 * consumer's high watermarks after releasing it. Producers and broker
 * connections are metrics_clients.c. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "framework/http.h"
#include "framework/metrics_int.h"
#include "framework/pipeline.h"
#include "util/clock.h"

/* ------------------------------------------------------------ pipelines */

#define STAT(field) offsetof(fw_pipeline_stats, field)
static const fw_u64_family pipeline_families[] = {
    {"gregor_pipeline_consumed_total", FW_METRIC_COUNTER, STAT(consumed),
     "Messages taken from the group member."},
    {"gregor_pipeline_processed_total", FW_METRIC_COUNTER, STAT(processed),
     "Messages whose handler returned DONE."},
    {"gregor_pipeline_failed_total", FW_METRIC_COUNTER, STAT(failed),
     "Handler attempts that failed (RETRY, FAIL, a failed emit), per message, retried or not."},
    {"gregor_pipeline_retried_total", FW_METRIC_COUNTER, STAT(retried),
     "Failed attempts that were retried after a backoff."},
    {"gregor_pipeline_dead_lettered_total", FW_METRIC_COUNTER, STAT(dead_lettered),
     "Messages produced to the dead-letter topic."},
    {"gregor_pipeline_emitted_total", FW_METRIC_COUNTER, STAT(emitted),
     "Messages emitted by handlers (accepted by the producer)."},
    {"gregor_pipeline_delivered_total", FW_METRIC_COUNTER, STAT(delivered),
     "Messages the pipeline produced (emits and dead letters) that the brokers acknowledged."},
    {"gregor_pipeline_commits_total", FW_METRIC_COUNTER, STAT(commits),
     "Offset commits that succeeded."},
    {"gregor_pipeline_rebalances_total", FW_METRIC_COUNTER, STAT(rebalances),
     "Assignment changes: partitions assigned, revoked or lost."},
    {"gregor_pipeline_partitions_stopped_total", FW_METRIC_COUNTER, STAT(stopped_partitions),
     "Partitions stopped by a message that could not be processed (no dead-letter topic)."},
    {"gregor_pipeline_partitions", FW_METRIC_GAUGE, STAT(partitions),
     "Partitions the pipeline owns now."},
    {"gregor_pipeline_in_flight_bytes", FW_METRIC_GAUGE, STAT(queued_bytes),
     "Input bytes held now (queued and in handlers)."},
};
#undef STAT

/* ------------------------------------------------------------ partitions */

typedef struct part_snap {
    char topic[256];
    char partition[16];
    uint64_t consumed, processed, failed, retried, dead_lettered, emitted;
    uint64_t held_msgs, held_bytes, stopped, paused;
    int64_t committed;  /* -1: none yet */
    int64_t commit_ms;  /* 0: none yet */
    int64_t high_watermark, position; /* -1: unknown */
} part_snap;

/* A pipeline's partitions, copied under its lock. */
typedef struct pipeline_snap {
    part_snap *parts;
    size_t n;
    uint64_t held_msgs;
} pipeline_snap;

#define PART(field) offsetof(part_snap, field)
static const fw_u64_family part_families[] = {
    {"gregor_partition_consumed_total", FW_METRIC_COUNTER, PART(consumed),
     "Messages taken from the partition since this process was assigned it."},
    {"gregor_partition_processed_total", FW_METRIC_COUNTER, PART(processed),
     "Messages of the partition whose handler returned DONE."},
    {"gregor_partition_failed_total", FW_METRIC_COUNTER, PART(failed),
     "Failed handler attempts on the partition's messages."},
    {"gregor_partition_retried_total", FW_METRIC_COUNTER, PART(retried),
     "Failed attempts that were retried."},
    {"gregor_partition_dead_lettered_total", FW_METRIC_COUNTER, PART(dead_lettered),
     "Messages of the partition produced to the dead-letter topic."},
    {"gregor_partition_emitted_total", FW_METRIC_COUNTER, PART(emitted),
     "Messages emitted while handling the partition's messages."},
    {"gregor_partition_in_flight_messages", FW_METRIC_GAUGE, PART(held_msgs),
     "Messages of the partition held now (queued and in handlers)."},
    {"gregor_partition_in_flight_bytes", FW_METRIC_GAUGE, PART(held_bytes),
     "Bytes of those messages."},
    {"gregor_partition_stopped", FW_METRIC_GAUGE, PART(stopped),
     "1 when a message that could not be processed stopped the partition."},
    {"gregor_partition_paused", FW_METRIC_GAUGE, PART(paused),
     "1 when fetching is paused (max_in_flight reached, or stopped)."},
};
#undef PART

static gregor_err snap_pipeline(fw_pipeline *pl, pipeline_snap *ps)
{
    *ps = (pipeline_snap){0};
    pthread_mutex_lock(&pl->lock);
    size_t n = 0;
    for (fw_part *p = pl->parts; p; p = p->next)
        n++;
    ps->parts = calloc(n ? n : 1, sizeof *ps->parts);
    if (!ps->parts) {
        pthread_mutex_unlock(&pl->lock);
        return GREGOR_ERR_NOMEM;
    }
    for (fw_part *p = pl->parts; p; p = p->next) {
        part_snap *s = &ps->parts[ps->n++];
        snprintf(s->topic, sizeof s->topic, "%s", p->topic);
        snprintf(s->partition, sizeof s->partition, "%d", (int)p->partition);
        s->consumed = p->stats.consumed;
        s->failed = p->stats.failed;
        s->retried = p->stats.retried;
        s->dead_lettered = p->stats.dead_lettered;
        s->emitted = atomic_load_explicit(&p->stats.fini_emitted, memory_order_relaxed);
        for (size_t l = 0; l < pl->n_lanes; l++) {
            s->processed += atomic_load_explicit(&p->lanes[l].processed, memory_order_relaxed);
            s->emitted += atomic_load_explicit(&p->lanes[l].emitted, memory_order_relaxed);
        }
        s->held_msgs = p->held_msgs;
        s->held_bytes = p->held_bytes;
        s->stopped = p->stopped;
        s->paused = p->paused;
        s->committed = p->committed;
        s->commit_ms = p->commit_ms;
        ps->held_msgs += p->held_msgs;
    }
    pthread_mutex_unlock(&pl->lock);
    /* The consumer's lock, not the pipeline's: a fetch response updates it. */
    gregor_consumer *c = pl->group ? gregor_group_consumer(pl->group) : NULL;
    for (size_t i = 0; i < ps->n; i++) {
        part_snap *s = &ps->parts[i];
        gregor_partition_state st;
        s->high_watermark = s->position = -1;
        if (c && gregor_consumer_position(c, s->topic, atoi(s->partition), &st) == GREGOR_OK) {
            s->high_watermark = st.high_watermark;
            s->position = st.position;
        }
    }
    return GREGOR_OK;
}

/* The offset the lag counts from: the last commit, or before the first
 * one the position the partition started at. -1: unknown. */
static int64_t lag_of(const part_snap *s)
{
    int64_t from = s->committed >= 0 ? s->committed : s->position;
    if (s->high_watermark < 0 || from < 0)
        return -1;
    return s->high_watermark > from ? s->high_watermark - from : 0;
}

typedef enum opt_value { OV_COMMITTED, OV_HIGH_WATERMARK, OV_LAG, OV_SINCE_COMMIT } opt_value;

static const struct {
    const char *name;
    opt_value value;
    const char *help;
} part_opt_families[] = {
    {"gregor_partition_committed_offset", OV_COMMITTED,
     "The last offset this process committed for the partition (absent before its first commit)."},
    {"gregor_partition_high_watermark", OV_HIGH_WATERMARK, "The log end offset the last fetch response reported."},
    {"gregor_partition_lag", OV_LAG,
     "Log end offset minus the committed offset (before the first commit: the start position)."},
    {"gregor_partition_seconds_since_commit", OV_SINCE_COMMIT,
     "Seconds since this process's last successful commit of the partition."},
};

/* The value of an optional gauge, false when it has none. */
static bool opt_value_of(const part_snap *s, opt_value v, int64_t now_ms, double *out)
{
    switch (v) {
    case OV_COMMITTED: *out = (double)s->committed; return s->committed >= 0;
    case OV_HIGH_WATERMARK: *out = (double)s->high_watermark; return s->high_watermark >= 0;
    case OV_LAG: *out = (double)lag_of(s); return lag_of(s) >= 0;
    case OV_SINCE_COMMIT: *out = (double)(now_ms - s->commit_ms) / 1000.0; return s->commit_ms > 0;
    }
    return false;
}

static void part_labels(const fw_pipeline_conf *pc, const part_snap *s, fw_metric_label l[4])
{
    l[0] = (fw_metric_label){"pipeline", pc->name};
    l[1] = (fw_metric_label){"group", pc->group};
    l[2] = (fw_metric_label){"topic", s->topic};
    l[3] = (fw_metric_label){"partition", s->partition};
}

static void render_partitions(const fw_config *cfg, const pipeline_snap *ps, size_t n, fw_buf *out)
{
    fw_metric_label l[4];
    for (size_t f = 0; f < sizeof part_families / sizeof part_families[0]; f++) {
        fw_metrics_family(out, part_families[f].name, part_families[f].type, part_families[f].help);
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < ps[i].n; j++) {
                part_labels(&cfg->pipelines[i], &ps[i].parts[j], l);
                fw_metrics_sample_u64(out, part_families[f].name, NULL, l, 4, NULL,
                                      fw_u64_at(&ps[i].parts[j], part_families[f].offset));
            }
    }
    int64_t now_ms = clock_mono_ms();
    for (size_t f = 0; f < sizeof part_opt_families / sizeof part_opt_families[0]; f++) {
        fw_metrics_family(out, part_opt_families[f].name, FW_METRIC_GAUGE, part_opt_families[f].help);
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < ps[i].n; j++) {
                double v;
                if (!opt_value_of(&ps[i].parts[j], part_opt_families[f].value, now_ms, &v))
                    continue;
                part_labels(&cfg->pipelines[i], &ps[i].parts[j], l);
                fw_metrics_sample_f64(out, part_opt_families[f].name, NULL, l, 4, NULL, v);
            }
    }
}

/* ------------------------------------------------------------ render */

static void render_pipelines(fw_supervisor *s, const fw_pipeline_stats *st, const pipeline_snap *ps, size_t n,
                             fw_buf *out)
{
    const fw_config *cfg = fw_supervisor_config(s);
    size_t n_pl = 0;
    fw_pipeline *pls = fw_supervisor_pipelines(s, &n_pl);
    fw_metric_label l[2];
    for (size_t f = 0; f < sizeof pipeline_families / sizeof pipeline_families[0]; f++) {
        fw_metrics_family(out, pipeline_families[f].name, pipeline_families[f].type, pipeline_families[f].help);
        for (size_t i = 0; i < n; i++) {
            l[0] = (fw_metric_label){"pipeline", cfg->pipelines[i].name};
            l[1] = (fw_metric_label){"group", cfg->pipelines[i].group};
            fw_metrics_sample_u64(out, pipeline_families[f].name, NULL, l, 2, NULL,
                                  fw_u64_at(&st[i], pipeline_families[f].offset));
        }
    }
    fw_metrics_family(out, "gregor_pipeline_in_flight_messages", FW_METRIC_GAUGE,
                      "Input messages held now (queued and in handlers).");
    for (size_t i = 0; i < n; i++) {
        l[0] = (fw_metric_label){"pipeline", cfg->pipelines[i].name};
        l[1] = (fw_metric_label){"group", cfg->pipelines[i].group};
        fw_metrics_sample_u64(out, "gregor_pipeline_in_flight_messages", NULL, l, 2, NULL, ps[i].held_msgs);
    }
    fw_metrics_family(out, "gregor_pipeline_seconds_since_commit", FW_METRIC_GAUGE,
                      "Seconds since the pipeline's last successful commit (absent before the first).");
    int64_t now_ms = clock_mono_ms();
    for (size_t i = 0; i < n && i < n_pl; i++) {
        int64_t at = atomic_load(&pls[i].stats.commit_ms);
        if (at <= 0)
            continue;
        l[0] = (fw_metric_label){"pipeline", cfg->pipelines[i].name};
        l[1] = (fw_metric_label){"group", cfg->pipelines[i].group};
        fw_metrics_sample_f64(out, "gregor_pipeline_seconds_since_commit", NULL, l, 2, NULL,
                              (double)(now_ms - at) / 1000.0);
    }
    fw_metrics_family(out, "gregor_pipeline_handler_seconds", FW_METRIC_HISTOGRAM,
                      "Time in the handler per call (a batch handler's call counts once).");
    for (size_t i = 0; i < n && i < n_pl; i++) {
        l[0] = (fw_metric_label){"pipeline", cfg->pipelines[i].name};
        l[1] = (fw_metric_label){"group", cfg->pipelines[i].group};
        fw_metrics_histogram(out, "gregor_pipeline_handler_seconds", l, 2, pls[i].latency, pls[i].n_latency);
    }
}

gregor_err fw_metrics_render(fw_supervisor *s, fw_buf *out)
{
    size_t n = 0;
    fw_pipeline *pls = fw_supervisor_pipelines(s, &n);
    fw_pipeline_stats *st = calloc(n ? n : 1, sizeof *st);
    pipeline_snap *ps = calloc(n ? n : 1, sizeof *ps);
    gregor_err err = st && ps ? GREGOR_OK : GREGOR_ERR_NOMEM;
    if (!err)
        n = fw_supervisor_stats(s, st, n);
    for (size_t i = 0; i < n && !err; i++)
        err = snap_pipeline(&pls[i], &ps[i]);
    if (!err) {
        render_pipelines(s, st, ps, n, out);
        render_partitions(fw_supervisor_config(s), ps, n, out);
        fw_metrics_render_producers(s, out);
        fw_metrics_render_brokers(s, out);
        fw_metrics_family(out, "gregor_ready", FW_METRIC_GAUGE,
                          "1 when every pipeline has joined its group and has its assignment, else 0.");
        fw_metrics_sample_u64(out, "gregor_ready", NULL, NULL, 0, NULL, fw_supervisor_ready(s) ? 1 : 0);
        err = out->err;
    }
    for (size_t i = 0; ps && i < n; i++)
        free(ps[i].parts);
    free(ps);
    free(st);
    return err;
}

int64_t fw_metrics_pipeline_lag(fw_supervisor *s, size_t i)
{
    size_t n = 0;
    fw_pipeline *pls = fw_supervisor_pipelines(s, &n);
    pipeline_snap ps;
    if (i >= n || snap_pipeline(&pls[i], &ps) != GREGOR_OK)
        return -1;
    int64_t sum = -1;
    for (size_t j = 0; j < ps.n; j++) {
        int64_t lag = lag_of(&ps.parts[j]);
        if (lag >= 0)
            sum = (sum < 0 ? 0 : sum) + lag;
    }
    free(ps.parts);
    return sum;
}

/* ------------------------------------------------------------ readiness */

bool fw_supervisor_ready(fw_supervisor *s)
{
    size_t n = 0;
    fw_pipeline *pls = fw_supervisor_pipelines(s, &n);
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        fw_pipeline *pl = &pls[i];
        if (atomic_load(&pl->stopping) || atomic_load(&pl->finished) || !pl->group)
            return false;
        if (gregor_group_member_id(pl->group, NULL, 0) < 0)
            return false;
        gregor_topic_offset *owned = NULL;
        size_t n_owned = 0;
        if (gregor_group_assignment(pl->group, &owned, &n_owned) != GREGOR_OK)
            return false;
        free(owned);
        if (atomic_load(&pl->stats.partitions) < n_owned)
            return false;
    }
    return true;
}

/* ------------------------------------------------------------ endpoint */

static gregor_err serve_render(void *arg, buf_writer *out)
{
    return fw_metrics_render(arg, out);
}

static bool serve_ready(void *arg)
{
    return fw_supervisor_ready(arg);
}

gregor_err fw_metrics_serve(fw_supervisor *s, const char *bind_addr, uint16_t port, fw_http **out, char *errstr,
                            size_t errstr_size)
{
    fw_http_handlers h = {.metrics = serve_render, .ready = serve_ready, .arg = s};
    return fw_http_start(bind_addr, port, &h, out, errstr, errstr_size);
}
