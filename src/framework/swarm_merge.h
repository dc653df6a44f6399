/* framework/swarm_merge.h — the swarm supervisor's view of its children's
 * metrics: Prometheus text exposition (0.0.4) from several processes merged
 * into one, each series (metric name and labels, as written) summed over
 * the inputs, but for the gauges that do not add up: a partition's
 * (gregor_partition_*: one process owns it; two report it only while it
 * moves) and ages (*_seconds_since_*), which merge as the maximum.
 *
 * A child that dies takes its gauges with it, but its counters must not
 * go down: the supervisor keeps them with `counters_only` (counter and
 * histogram families; gauges, summaries and untyped samples dropped) as
 * one more input of every later merge, so a restarted child's counters
 * add to its predecessor's.
 *
 * Output: families in the order they first appear, each with its first
 * # HELP and # TYPE lines, then its series in first-seen order; values
 * summed as doubles (integers print as integers); timestamps dropped.
 * Lines that are not samples or HELP/TYPE comments are skipped. Limits:
 * FW_MERGE_SERIES_MAX series, lines of at most FW_MERGE_LINE_MAX bytes
 * (longer ones, and lines holding a NUL byte, are skipped).
 *
 * Threading: none inside; reentrant.
 */
#ifndef GREGOR_FRAMEWORK_SWARM_MERGE_H
#define GREGOR_FRAMEWORK_SWARM_MERGE_H

#include <stdbool.h>
#include <stddef.h>

#include "gregor/error.h"

#define FW_MERGE_SERIES_MAX 200000
#define FW_MERGE_LINE_MAX 4096

/* Merges texts[0..n) (lens[i] bytes each, borrowed; NULL entries are
 * skipped) into a malloc'd NUL-terminated text in *out (*out_len bytes
 * without the NUL). NOMEM; TOO_LARGE past FW_MERGE_SERIES_MAX series. */
gregor_err fw_metrics_merge(const char *const *texts, const size_t *lens, size_t n, bool counters_only,
                            char **out, size_t *out_len) GREGOR_MUST_CHECK;

#endif
