/* framework/swarm_child.h — the worker-process side of `gregor run
 * --processes N` (swarm.h): a `gregor run` started by a swarm supervisor
 * (GREGOR_SWARM in its environment, swarm_proto.h) sends a heartbeat with
 * its readiness and metrics every second, keeps the supervisor's crash
 * table, and marks each handler call in the shared region so that the
 * supervisor knows which messages were in hand when the process died.
 *
 * The hooks (fw_swarm_polled, fw_swarm_call_begin/end, fw_swarm_crashes)
 * do nothing and cost one load when the process is not a swarm child.
 *
 * Threading: start/stop on the run thread; the hooks from any thread.
 */
#ifndef GREGOR_FRAMEWORK_SWARM_CHILD_H
#define GREGOR_FRAMEWORK_SWARM_CHILD_H

#include <stdbool.h>
#include <stdint.h>

#include "framework/config.h"
#include "framework/supervisor.h"
#include "gregor/group.h"

/* Loads the pipeline file as fw_config_load() does, but in a swarm child
 * from the text its supervisor validated (swarm_proto.h CONFIGFD) rather
 * than from `path` on disk; `path` still names the file (errors, relative
 * plugin paths). Errors as fw_config_load(). */
gregor_err fw_swarm_child_load(const char *path, fw_config **out, fw_diags *diags) GREGOR_MUST_CHECK;

/* When GREGOR_SWARM is set: maps the region, starts the heartbeat thread.
 * `cfg` (borrowed) must outlive fw_swarm_child_stop(). OK when not a swarm
 * child (nothing done); CONFIG with errstr when GREGOR_SWARM is malformed
 * or the region does not fit cfg. */
gregor_err fw_swarm_child_start(const fw_config *cfg, char *errstr, size_t errstr_size) GREGOR_MUST_CHECK;

/* The supervisor whose readiness and metrics the heartbeats report (NULL:
 * not ready, no metrics), and which is stopped when the swarm supervisor
 * goes away. */
void fw_swarm_child_attach(fw_supervisor *sup);

/* Stops the heartbeat thread (the socket stays open until exit). */
void fw_swarm_child_stop(void);

/* Hooks. `conf` is the pipeline's (an element of cfg->pipelines). */
/* The member thread of `conf` returned from a poll of `g`: its last-poll
 * time for the supervisor's watchdog, and whether it is in a generation
 * of its group (the heartbeat's readiness). */
void fw_swarm_polled(const fw_pipeline_conf *conf, gregor_group *g);
/* Marks the calling worker thread's slot busy with a call on first..last. */
void fw_swarm_call_begin(const fw_pipeline_conf *conf, const char *topic, int32_t partition, int64_t first_offset,
                         int64_t last_offset);
void fw_swarm_call_end(void);
/* Static membership in a swarm: when `gc` (a pipeline's group config) sets
 * group_instance_id X, a worker process makes it X-SLOT, so that each child
 * is its own static member and a restarted child takes its predecessor's
 * place (and partitions) without a rebalance. OK (nothing done) when not a
 * swarm child or no id is set; CONFIG with errstr otherwise. */
gregor_err fw_swarm_instance_id(gregor_config *gc, char *errstr, size_t errstr_size) GREGOR_MUST_CHECK;

/* The crashes the swarm counted for this message (0 when none, or not a
 * swarm child), and the last one's signal in *signo. */
int fw_swarm_crashes(const fw_pipeline_conf *conf, const char *topic, int32_t partition, int64_t offset,
                     int *signo);

/* Set by the metrics code: renders this process's metrics text for the
 * heartbeat (a malloc'd string in *out); NULL: heartbeats carry none. */
typedef gregor_err (*fw_swarm_metrics_fn)(fw_supervisor *sup, char **out, size_t *len);
void fw_swarm_child_set_metrics_fn(fw_swarm_metrics_fn fn);

#endif
