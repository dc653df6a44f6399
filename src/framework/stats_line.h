/* framework/stats_line.h — the `gregor run --stats-interval` (and
 * --stats-ms) lines: one per pipeline, its counters since start, their
 * rates over the last interval, and its lag (docs/METRICS.md, "The stats
 * line"):
 *
 *   stats NAME consumed=N processed=N emitted=N delivered=N retried=N dead_lettered=N
 *     commits=N partitions=N stopped_partitions=N queued_bytes=N failed=N rebalances=N
 *     consumed/s=R processed/s=R emitted/s=R failed/s=R dead_lettered/s=R lag=N
 *
 * (one line, handed to an emit function: `gregor run` writes it as a
 * "gregor run: " event line; rates with one decimal, over the time since
 * the previous line or since start; lag -1 when unknown).
 *
 * Threading: one fw_stats_lines per caller thread; the supervisor's
 * counters are read as fw_supervisor_stats() allows (any thread).
 */
#ifndef GREGOR_FRAMEWORK_STATS_LINE_H
#define GREGOR_FRAMEWORK_STATS_LINE_H

#include <stdint.h>

#include "framework/supervisor.h"

#include "framework/run.h"

#define FW_STATS_PIPELINES_MAX 64

typedef struct fw_stats_lines {
    fw_pipeline_stats prev[FW_STATS_PIPELINES_MAX];
    size_t n_prev;
    int64_t prev_ms; /* clock_mono_ms() of prev; 0: none yet */
} fw_stats_lines;

/* Before the first line: counters and clock start here. */
void fw_stats_lines_init(fw_stats_lines *sl, fw_supervisor *s);

/* Where a line goes: `line` (no newline) is borrowed for the call. */
typedef void (*fw_stats_emit_fn)(const char *line, void *arg);

/* Hands one line per pipeline (the first FW_STATS_PIPELINES_MAX) to emit. */
void fw_stats_lines_print(fw_stats_lines *sl, fw_supervisor *s, fw_stats_emit_fn emit, void *arg);

/* What the run loop (run.c) does periodically: the stats lines every
 * opt->stats_ms, the embedder's callback every opt->stats_cb_ms (with the
 * metrics text of fw_metrics_render). Run-loop thread only. */
typedef struct fw_run_stats {
    fw_stats_lines lines;
    fw_stats_emit_fn emit; /* the lines' */
    void *emit_arg;
    int32_t lines_ms;      /* 0: no lines */
    int64_t next_line_ms;
    gregor_stats_fn cb;    /* NULL: no callback */
    void *cb_arg;
    int32_t cb_ms;
    int64_t next_cb_ms;
} fw_run_stats;

void fw_run_stats_init(fw_run_stats *rs, fw_supervisor *s, const fw_run_options *opt, fw_stats_emit_fn emit,
                       void *emit_arg);
/* How long the loop may wait before something is due (500 when nothing
 * is scheduled), at least 1. */
int32_t fw_run_stats_wait_ms(const fw_run_stats *rs);
/* Does what is due now. */
void fw_run_stats_tick(fw_run_stats *rs, fw_supervisor *s);
/* The callback's last call, after the pipelines stopped. */
void fw_run_stats_final(fw_run_stats *rs, fw_supervisor *s);

#endif
