/* framework/metrics.c — Prometheus text for one process's pipelines
 * (metrics.h). The per-pipeline families are a table over
 * fw_pipeline_stats, so adding a counter is adding a row; a scrape walks
 * the table family by family (the format wants a family's samples
 * together), each pipeline inside. */
#include <inttypes.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "framework/http.h"
#include "framework/metrics.h"
#include "framework/pipeline.h"

/* ------------------------------------------------------------ writer */

static void put_str(fw_buf *out, const char *s)
{
    buf_write_raw(out, s, strlen(s));
}

void fw_metrics_escape(fw_buf *out, const char *value)
{
    const char *run = value;
    for (const char *p = value; *p; p++) {
        const char *esc = *p == '\\' ? "\\\\" : *p == '"' ? "\\\"" : *p == '\n' ? "\\n" : NULL;
        if (!esc)
            continue;
        buf_write_raw(out, run, (size_t)(p - run));
        put_str(out, esc);
        run = p + 1;
    }
    put_str(out, run);
}

static const char *type_name(fw_metric_type t)
{
    return t == FW_METRIC_COUNTER ? "counter" : t == FW_METRIC_GAUGE ? "gauge" : "histogram";
}

void fw_metrics_family(fw_buf *out, const char *name, fw_metric_type type, const char *help)
{
    put_str(out, "# HELP ");
    put_str(out, name);
    buf_write_raw(out, " ", 1);
    put_str(out, help);
    put_str(out, "\n# TYPE ");
    put_str(out, name);
    buf_write_raw(out, " ", 1);
    put_str(out, type_name(type));
    buf_write_raw(out, "\n", 1);
}

static void put_label(fw_buf *out, const fw_metric_label *l, bool first)
{
    if (!first)
        buf_write_raw(out, ",", 1);
    put_str(out, l->name);
    buf_write_raw(out, "=\"", 2);
    fw_metrics_escape(out, l->value ? l->value : "");
    buf_write_raw(out, "\"", 1);
}

static void put_series(fw_buf *out, const char *name, const char *suffix, const fw_metric_label *labels,
                       size_t n_labels, const fw_metric_label *extra)
{
    put_str(out, name);
    if (suffix)
        put_str(out, suffix);
    if (n_labels || extra) {
        buf_write_raw(out, "{", 1);
        for (size_t i = 0; i < n_labels; i++)
            put_label(out, &labels[i], i == 0);
        if (extra)
            put_label(out, extra, n_labels == 0);
        buf_write_raw(out, "}", 1);
    }
    buf_write_raw(out, " ", 1);
}

void fw_metrics_sample_u64(fw_buf *out, const char *name, const char *suffix, const fw_metric_label *labels,
                           size_t n_labels, const fw_metric_label *extra, uint64_t value)
{
    char num[32];
    put_series(out, name, suffix, labels, n_labels, extra);
    int n = snprintf(num, sizeof num, "%" PRIu64 "\n", value);
    buf_write_raw(out, num, (size_t)n);
}

void fw_metrics_sample_f64(fw_buf *out, const char *name, const char *suffix, const fw_metric_label *labels,
                           size_t n_labels, const fw_metric_label *extra, double value)
{
    char num[40];
    put_series(out, name, suffix, labels, n_labels, extra);
    int n;
    if (isnan(value))
        n = snprintf(num, sizeof num, "NaN\n");
    else if (isinf(value))
        n = snprintf(num, sizeof num, "%sInf\n", value > 0 ? "+" : "-");
    else
        n = snprintf(num, sizeof num, "%.15g\n", value);
    buf_write_raw(out, num, (size_t)n);
}

/* ------------------------------------------------------------ pipelines */

typedef struct pipeline_family {
    const char *name;
    fw_metric_type type;
    size_t offset; /* of a uint64_t in fw_pipeline_stats */
    const char *help;
} pipeline_family;

#define STAT(field) offsetof(fw_pipeline_stats, field)
static const pipeline_family pipeline_families[] = {
    {"gregor_pipeline_consumed_total", FW_METRIC_COUNTER, STAT(consumed),
     "Messages taken from the group member."},
    {"gregor_pipeline_processed_total", FW_METRIC_COUNTER, STAT(processed),
     "Messages whose handler returned DONE."},
    {"gregor_pipeline_emitted_total", FW_METRIC_COUNTER, STAT(emitted),
     "Messages emitted by handlers (accepted by the producer)."},
    {"gregor_pipeline_delivered_total", FW_METRIC_COUNTER, STAT(delivered),
     "Emitted messages acknowledged by the brokers."},
    {"gregor_pipeline_retried_total", FW_METRIC_COUNTER, STAT(retried),
     "Handler attempts that failed and were retried (RETRY, FAIL before the last attempt, a failed emit)."},
    {"gregor_pipeline_dead_lettered_total", FW_METRIC_COUNTER, STAT(dead_lettered),
     "Messages produced to the dead-letter topic."},
    {"gregor_pipeline_commits_total", FW_METRIC_COUNTER, STAT(commits),
     "Offset commits that succeeded."},
    {"gregor_pipeline_partitions_stopped_total", FW_METRIC_COUNTER, STAT(stopped_partitions),
     "Partitions stopped by a message that could not be processed (no dead-letter topic)."},
    {"gregor_pipeline_partitions", FW_METRIC_GAUGE, STAT(partitions),
     "Partitions the pipeline owns now."},
    {"gregor_pipeline_in_flight_bytes", FW_METRIC_GAUGE, STAT(queued_bytes),
     "Input bytes held now (queued and in handlers)."},
};
#undef STAT

static void render_pipelines(fw_supervisor *s, const fw_pipeline_stats *st, size_t n, fw_buf *out)
{
    const fw_config *cfg = fw_supervisor_config(s);
    for (size_t f = 0; f < sizeof pipeline_families / sizeof pipeline_families[0]; f++) {
        const pipeline_family *pf = &pipeline_families[f];
        fw_metrics_family(out, pf->name, pf->type, pf->help);
        for (size_t i = 0; i < n; i++) {
            fw_metric_label labels[] = {{"pipeline", cfg->pipelines[i].name}, {"group", cfg->pipelines[i].group}};
            uint64_t v;
            memcpy(&v, (const char *)&st[i] + pf->offset, sizeof v);
            fw_metrics_sample_u64(out, pf->name, NULL, labels, 2, NULL, v);
        }
    }
}

gregor_err fw_metrics_render(fw_supervisor *s, fw_buf *out)
{
    const fw_config *cfg = fw_supervisor_config(s);
    fw_pipeline_stats *st = calloc(cfg->n_pipelines ? cfg->n_pipelines : 1, sizeof *st);
    if (!st)
        return GREGOR_ERR_NOMEM;
    size_t n = fw_supervisor_stats(s, st, cfg->n_pipelines);
    render_pipelines(s, st, n < cfg->n_pipelines ? n : cfg->n_pipelines, out);
    fw_metrics_family(out, "gregor_ready", FW_METRIC_GAUGE,
                      "1 when every pipeline has joined its group and has its assignment, else 0.");
    fw_metrics_sample_u64(out, "gregor_ready", NULL, NULL, 0, NULL, fw_supervisor_ready(s) ? 1 : 0);
    free(st);
    return out->err;
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
