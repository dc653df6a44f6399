/* framework/metrics_text.c — the Prometheus text exposition writer
 * (metrics.h): family headers, sample lines with escaped label values,
 * and the fixed-bucket latency histogram. No state: everything goes to the
 * caller's buffer, whose sticky error says when it is full. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "framework/metrics.h"

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
    return t == FW_METRIC_COUNTER ? "counter" : t == FW_METRIC_GAUGE ? "gauge" : t == FW_METRIC_HISTOGRAM ? "histogram" : "summary";
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

/* ------------------------------------------------------------ histogram */

const int64_t fw_latency_bounds_us[FW_LATENCY_BUCKETS] = {
    100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000,
};

/* The bucket of `us` (le: a bound is inclusive; the last: +Inf). */
static size_t bucket_of(int64_t us)
{
    size_t i = 0;
    while (i < FW_LATENCY_BUCKETS && us > fw_latency_bounds_us[i])
        i++;
    return i;
}

void fw_latency_observe(fw_latency *h, int64_t us)
{
    us = us < 0 ? 0 : us;
    atomic_fetch_add_explicit(&h->counts[bucket_of(us)], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum_us, (uint64_t)us, memory_order_relaxed);
}

void fw_latency_observe_1w(fw_latency *h, int64_t us)
{
    us = us < 0 ? 0 : us;
    fw_counter_add_1w(&h->counts[bucket_of(us)], 1);
    fw_counter_add_1w(&h->sum_us, (uint64_t)us);
}

void fw_metrics_histogram(fw_buf *out, const char *name, const fw_metric_label *labels, size_t n_labels,
                          const fw_latency *hs, size_t n)
{
    uint64_t cum = 0, sum_us = 0;
    char le[32];
    for (size_t k = 0; k < n; k++)
        sum_us += atomic_load_explicit(&hs[k].sum_us, memory_order_relaxed);
    for (size_t i = 0; i <= FW_LATENCY_BUCKETS; i++) {
        for (size_t k = 0; k < n; k++)
            cum += atomic_load_explicit(&hs[k].counts[i], memory_order_relaxed);
        if (i < FW_LATENCY_BUCKETS)
            snprintf(le, sizeof le, "%g", (double)fw_latency_bounds_us[i] / 1e6);
        else
            snprintf(le, sizeof le, "+Inf");
        fw_metric_label l = {"le", le};
        fw_metrics_sample_u64(out, name, "_bucket", labels, n_labels, &l, cum);
    }
    double sum_s = (double)sum_us / 1e6;
    fw_metrics_sample_f64(out, name, "_sum", labels, n_labels, NULL, sum_s);
    fw_metrics_sample_u64(out, name, "_count", labels, n_labels, NULL, cum);
}
