/* framework/stats_line.c — the periodic stats lines (stats_line.h): a
 * snapshot of fw_supervisor_stats() kept between lines gives the rates. */
#include "framework/stats_line.h"

#include <stdio.h>

#include "framework/http.h"
#include "framework/metrics.h"
#include "util/log.h"
#include "util/clock.h"

void fw_stats_lines_init(fw_stats_lines *sl, fw_supervisor *s)
{
    sl->n_prev = fw_supervisor_stats(s, sl->prev, FW_STATS_PIPELINES_MAX);
    if (sl->n_prev > FW_STATS_PIPELINES_MAX)
        sl->n_prev = FW_STATS_PIPELINES_MAX;
    sl->prev_ms = clock_mono_ms();
}

static double rate(uint64_t now, uint64_t before, double seconds)
{
    return now >= before && seconds > 0 ? (double)(now - before) / seconds : 0.0;
}

void fw_stats_lines_print(fw_stats_lines *sl, fw_supervisor *s, fw_stats_emit_fn emit, void *arg)
{
    fw_pipeline_stats st[FW_STATS_PIPELINES_MAX];
    size_t n = fw_supervisor_stats(s, st, FW_STATS_PIPELINES_MAX);
    if (n > FW_STATS_PIPELINES_MAX)
        n = FW_STATS_PIPELINES_MAX;
    int64_t now_ms = clock_mono_ms();
    double secs = (double)(now_ms - sl->prev_ms) / 1000.0;
    for (size_t i = 0; i < n; i++) {
        const fw_pipeline_stats *a = &st[i];
        fw_pipeline_stats zero = {0};
        const fw_pipeline_stats *b = i < sl->n_prev ? &sl->prev[i] : &zero;
        char line[1024];
        snprintf(line, sizeof line,
                "stats %s consumed=%llu processed=%llu emitted=%llu delivered=%llu retried=%llu "
                "dead_lettered=%llu commits=%llu partitions=%llu stopped_partitions=%llu queued_bytes=%llu "
                "failed=%llu rebalances=%llu consumed/s=%.1f processed/s=%.1f emitted/s=%.1f failed/s=%.1f "
                "dead_lettered/s=%.1f lag=%lld",
                a->name, (unsigned long long)a->consumed, (unsigned long long)a->processed,
                (unsigned long long)a->emitted, (unsigned long long)a->delivered, (unsigned long long)a->retried,
                (unsigned long long)a->dead_lettered, (unsigned long long)a->commits,
                (unsigned long long)a->partitions, (unsigned long long)a->stopped_partitions,
                (unsigned long long)a->queued_bytes, (unsigned long long)a->failed,
                (unsigned long long)a->rebalances, rate(a->consumed, b->consumed, secs),
                rate(a->processed, b->processed, secs), rate(a->emitted, b->emitted, secs),
                rate(a->failed, b->failed, secs), rate(a->dead_lettered, b->dead_lettered, secs),
                (long long)fw_metrics_pipeline_lag(s, i));
        emit(line, arg);
    }
    for (size_t i = 0; i < n; i++)
        sl->prev[i] = st[i];
    sl->n_prev = n;
    sl->prev_ms = now_ms;
}

/* ------------------------------------------------------------ schedule */

void fw_run_stats_init(fw_run_stats *rs, fw_supervisor *s, const fw_run_options *opt, fw_stats_emit_fn emit,
                       void *emit_arg)
{
    *rs = (fw_run_stats){.emit = emit, .emit_arg = emit_arg};
    int64_t now = clock_mono_ms();
    fw_stats_lines_init(&rs->lines, s);
    if (opt && opt->stats_ms > 0) {
        rs->lines_ms = opt->stats_ms;
        rs->next_line_ms = now + opt->stats_ms;
    }
    if (opt && opt->stats_cb) {
        rs->cb = opt->stats_cb;
        rs->cb_arg = opt->stats_arg;
        rs->cb_ms = opt->stats_cb_ms > 0 ? opt->stats_cb_ms : 1000;
        rs->next_cb_ms = now + rs->cb_ms;
    }
}

int32_t fw_run_stats_wait_ms(const fw_run_stats *rs)
{
    int64_t now = clock_mono_ms();
    int64_t wait = 500;
    if (rs->lines_ms && rs->next_line_ms - now < wait)
        wait = rs->next_line_ms - now;
    if (rs->cb && rs->next_cb_ms - now < wait)
        wait = rs->next_cb_ms - now;
    return wait < 1 ? 1 : (int32_t)wait;
}

static void call_back(fw_run_stats *rs, fw_supervisor *s)
{
    buf_writer w;
    buf_writer_init(&w, FW_HTTP_BODY_MAX_BYTES);
    gregor_err err = fw_metrics_render(s, &w);
    buf_write_raw(&w, "", 1);
    if (err || w.err)
        gregor_log(GREGOR_LOG_WARN, "gregor run: the stats callback was skipped: rendering the metrics failed: %s",
                   gregor_err_str(err ? err : w.err));
    else
        rs->cb((const char *)w.data, w.len - 1, rs->cb_arg);
    buf_writer_fini(&w);
}

void fw_run_stats_tick(fw_run_stats *rs, fw_supervisor *s)
{
    int64_t now = clock_mono_ms();
    if (rs->lines_ms && now >= rs->next_line_ms) {
        fw_stats_lines_print(&rs->lines, s, rs->emit, rs->emit_arg);
        rs->next_line_ms = now + rs->lines_ms;
    }
    if (rs->cb && now >= rs->next_cb_ms) {
        call_back(rs, s);
        rs->next_cb_ms = now + rs->cb_ms;
    }
}

void fw_run_stats_final(fw_run_stats *rs, fw_supervisor *s)
{
    if (rs->cb)
        call_back(rs, s);
}
