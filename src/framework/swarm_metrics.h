/* framework/swarm_metrics.h — what the swarm supervisor serves on its
 * metrics endpoint: the sum of its children's metrics (swarm_merge.h; the
 * counters of children that died are kept, so that no counter goes down
 * when a child is restarted) and its own series:
 *
 *   gregor_swarm_children              gauge    worker processes configured (--processes)
 *   gregor_swarm_children_up           gauge    worker processes running now
 *   gregor_swarm_child_up{child}       gauge    1 while that child runs
 *   gregor_swarm_child_ready{child}    gauge    1 once its every pipeline has joined its group
 *   gregor_swarm_restarts_total{child} counter  restarts of that child after a death
 *   gregor_swarm_last_exit_status{child} gauge  its last exit: the status, or minus the signal
 *   gregor_swarm_crashes_total         counter  handler calls a child died in (swarm_crash.h)
 *
 * The supervisor thread updates; the metrics endpoint's thread renders
 * (fw_swarm_metrics_render, as an fw_http_handlers.metrics callback) and
 * asks for readiness (fw_swarm_metrics_ready: every child ready).
 *
 * Threading: every function from any thread (one internal lock; a render
 * merges under it, once per scrape).
 */
#ifndef GREGOR_FRAMEWORK_SWARM_METRICS_H
#define GREGOR_FRAMEWORK_SWARM_METRICS_H

#include <stdbool.h>
#include <stddef.h>

#include "gregor/error.h"
#include "util/buf.h"

typedef struct fw_swarm_metrics fw_swarm_metrics;

/* NULL when out of memory. */
fw_swarm_metrics *fw_swarm_metrics_new(int children);
void fw_swarm_metrics_destroy(fw_swarm_metrics *m);

/* Child `slot` (0..children-1) started: up, not ready. */
void fw_swarm_metrics_started(fw_swarm_metrics *m, int slot);
/* Its latest metrics text (copied; replaces the previous) and readiness,
 * from a heartbeat. NOMEM (the previous text kept). */
gregor_err fw_swarm_metrics_heartbeat(fw_swarm_metrics *m, int slot, bool ready, const char *text,
                                      size_t len) GREGOR_MUST_CHECK;
/* It exited (`status` as from waitpid): its counters are kept, its gauges
 * go; `restarting` counts a restart. */
void fw_swarm_metrics_exited(fw_swarm_metrics *m, int slot, int status, bool restarting);
/* One more handler call a child died in. */
void fw_swarm_metrics_crash(fw_swarm_metrics *m);

/* Appends the whole exposition to `out` (its sticky error says when it is
 * full). NOMEM / TOO_LARGE. */
gregor_err fw_swarm_metrics_render(fw_swarm_metrics *m, buf_writer *out) GREGOR_MUST_CHECK;
/* Every child runs and is ready. */
bool fw_swarm_metrics_ready(fw_swarm_metrics *m);

/* The two as fw_http_handlers callbacks (http.h; arg: the fw_swarm_metrics). */
gregor_err fw_swarm_metrics_http_body(void *arg, buf_writer *out) GREGOR_MUST_CHECK;
bool fw_swarm_metrics_http_ready(void *arg);

#endif
