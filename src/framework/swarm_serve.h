/* framework/swarm_serve.h — the swarm's side of the metrics endpoint
 * (metrics.h, http.h: the metrics work). The supervisor process serves
 * /metrics (its children's metrics summed, swarm_metrics.h), /healthz and
 * /ready (every child ready) when `gregor run --processes N` is given
 * --metrics-port; each child sends its own metrics (fw_metrics_render) with
 * its heartbeats. Built without metrics.h / http.h in the tree, these are
 * stubs: no endpoint, heartbeats without metrics.
 *
 * Threading: start / stop on the supervisor's thread; the renderer on the
 * child's heartbeat thread.
 */
#ifndef GREGOR_FRAMEWORK_SWARM_SERVE_H
#define GREGOR_FRAMEWORK_SWARM_SERVE_H

#include <stddef.h>

#include "framework/run.h"
#include "framework/swarm_child.h"
#include "framework/swarm_metrics.h"

/* Starts the endpoint when opt asks for one (its metrics_port), serving
 * `m` (borrowed; must outlive it). *out: the server, NULL when none. Errors
 * as fw_http_start, with err naming the address. */
gregor_err fw_swarm_serve_start(fw_swarm_metrics *m, const fw_run_options *opt, void **out, char *err,
                                size_t err_size) GREGOR_MUST_CHECK;
/* NULL does nothing. */
void fw_swarm_serve_stop(void *server);

/* A child's heartbeat renderer (fw_metrics_render into a malloc'd text),
 * or NULL without the metrics code. */
fw_swarm_metrics_fn fw_swarm_child_metrics_fn(void);

/* Whether a child's supervisor is ready as the metrics endpoint's /ready
 * says (fw_supervisor_ready); true without the metrics code. */
bool fw_swarm_child_sup_ready(fw_supervisor *sup);

#endif
