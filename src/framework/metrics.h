/* framework/metrics.h — this process's pipeline metrics as Prometheus text
 * exposition format 0.0.4 (docs/METRICS.md lists every series), and the
 * readiness that /ready reports. The endpoint itself is http.h; the
 * supervisor process of `gregor run --processes N` sums its children's
 * text, so the names and labels here are the stable interface.
 *
 * Output: for each metric family a `# HELP` and a `# TYPE` line, then its
 * samples, one per line: `name{label="value",...} value`. Every family
 * appears once, whole (the format requires its samples together). Label
 * values are escaped (backslash, double quote, newline); names are
 * constants of this file.
 *
 * Threading: any thread, while the supervisor exists (between
 * fw_supervisor_new and fw_supervisor_destroy). Rendering reads atomic
 * counters and takes each pipeline's lock once to walk its partitions: a
 * scrape costs the hot path no more than one short lock hold.
 */
#ifndef GREGOR_FRAMEWORK_METRICS_H
#define GREGOR_FRAMEWORK_METRICS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "framework/supervisor.h"
#include "util/buf.h"

/* The growable, size-limited buffer metrics are rendered into. */
typedef buf_writer fw_buf;

/* Appends the metrics of every pipeline, producer and connection of `s`
 * (borrowed) to `out` (borrowed; its sticky error says when the limit was
 * reached). NOMEM / TOO_LARGE when the text did not fit; OK otherwise. */
gregor_err fw_metrics_render(fw_supervisor *s, fw_buf *out) GREGOR_MUST_CHECK;

/* True when every pipeline's member is in a generation of its group and
 * owns, in the pipeline, every partition the group gave it (the
 * assignment callback ran). False before, during a stop, and after. */
bool fw_supervisor_ready(fw_supervisor *s);

/* The lag of pipeline `i` (config order): the sum over its partitions of
 * log end minus committed offset (gregor_partition_lag); -1 when no
 * partition's lag is known. Any thread. */
int64_t fw_metrics_pipeline_lag(fw_supervisor *s, size_t i);

/* Serves `s`'s metrics and readiness (fw_http_start with
 * fw_metrics_render and fw_supervisor_ready as the handlers) on
 * bind_addr:port; stop with fw_http_stop() before destroying `s`. Errors
 * as fw_http_start. */
struct fw_http;
gregor_err fw_metrics_serve(fw_supervisor *s, const char *bind_addr, uint16_t port, struct fw_http **out,
                            char *errstr, size_t errstr_size) GREGOR_MUST_CHECK;

/* ---- the writer, shared with the swarm's aggregation and the tests ---- */

typedef struct fw_metric_label {
    const char *name;   /* [a-zA-Z_][a-zA-Z0-9_]*, not checked */
    const char *value;  /* any UTF-8; escaped on output */
} fw_metric_label;

typedef enum fw_metric_type { FW_METRIC_COUNTER, FW_METRIC_GAUGE, FW_METRIC_HISTOGRAM, FW_METRIC_SUMMARY } fw_metric_type;

/* `# HELP name help` and `# TYPE name type` (help: no newline). */
void fw_metrics_family(fw_buf *out, const char *name, fw_metric_type type, const char *help);

/* One sample line: name{labels} value. `suffix` (NULL: none) is appended
 * to the name (histograms: "_bucket", "_sum", "_count"); `extra` (NULL:
 * none) is one more label after `labels` (histograms: le). */
void fw_metrics_sample_u64(fw_buf *out, const char *name, const char *suffix, const fw_metric_label *labels,
                           size_t n_labels, const fw_metric_label *extra, uint64_t value);
void fw_metrics_sample_f64(fw_buf *out, const char *name, const char *suffix, const fw_metric_label *labels,
                           size_t n_labels, const fw_metric_label *extra, double value);

/* A latency histogram with fixed buckets: observe is a few relaxed atomic
 * adds, no lock, so handler threads share one. */
#define FW_LATENCY_BUCKETS 16
extern const int64_t fw_latency_bounds_us[FW_LATENCY_BUCKETS]; /* upper bounds, ascending; +Inf after */
typedef struct fw_latency {
    atomic_uint_fast64_t counts[FW_LATENCY_BUCKETS + 1]; /* per bucket, not cumulative; last: +Inf */
    atomic_uint_fast64_t sum_us;
} fw_latency;

/* Counts one observation of `us` microseconds (negative: 0). Any thread. */
void fw_latency_observe(fw_latency *h, int64_t us);
/* The same for a histogram only one thread ever writes (a worker's own):
 * relaxed loads and stores, no locked instruction. */
void fw_latency_observe_1w(fw_latency *h, int64_t us);

/* Adds n to a counter only one thread writes at a time (writers handed
 * over through a lock): no locked instruction on the hot path. */
static inline void fw_counter_add_1w(atomic_uint_fast64_t *c, uint64_t n)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n, memory_order_relaxed);
}

/* The family's samples of the sum of hs[0..n): cumulative _bucket{le=...}
 * lines, _sum in seconds and _count (the family header is the caller's). */
void fw_metrics_histogram(fw_buf *out, const char *name, const fw_metric_label *labels, size_t n_labels,
                          const fw_latency *hs, size_t n);

/* A label value escaped as the format wants: \ -> \\, " -> \", newline ->
 * \n. */
void fw_metrics_escape(fw_buf *out, const char *value);

#endif
