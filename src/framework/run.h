/* framework/run.h — the `gregor run` loop (run.c), shared by the command
 * and gregor_run(). Threading: one call at a time per process (it owns the
 * process's SIGTERM / SIGINT handling while it runs). */
#ifndef GREGOR_FRAMEWORK_RUN_H
#define GREGOR_FRAMEWORK_RUN_H

#include <stdint.h>

#include "gregor/worker.h"

typedef struct fw_run_options {
    int32_t stats_ms;           /* > 0: print counters every stats_ms */
    int32_t connect_timeout_ms; /* how long the cluster may take to answer at start; <= 0: 15000 */
    /* metrics (docs/METRICS.md) */
    int32_t metrics_port;       /* 1..65535: serve /metrics, /healthz, /ready there; 0: no endpoint */
    const char *metrics_bind;   /* the endpoint's address; NULL: 0.0.0.0 */
    gregor_stats_fn stats_cb;   /* NULL: none; see gregor_run_with() */
    void *stats_arg;
    int32_t stats_cb_ms;        /* > 0 */
} fw_run_options;

/* Runs the pipelines of `path` until SIGTERM / SIGINT (or a fatal error).
 * Returns the process exit status: 0 after a clean stop, 1 for config
 * errors (all printed, located), an unreachable cluster, a fatal error or
 * a stop that did not finish cleanly. Progress and errors go to stderr. */
int fw_run_file(const char *path, const fw_run_options *opt);

#endif
