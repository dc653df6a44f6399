/* framework/run.h — the `gregor run` loop (run.c), shared by the command
 * and gregor_run(). Threading: one call at a time per process (it owns the
 * process's SIGTERM / SIGINT handling while it runs). */
#ifndef GREGOR_FRAMEWORK_RUN_H
#define GREGOR_FRAMEWORK_RUN_H

#include <stddef.h>
#include <stdint.h>

#include "gregor/error.h"
#include "gregor/worker.h"

typedef struct fw_run_options {
    int32_t stats_ms;           /* > 0: print counters every stats_ms */
    int32_t connect_timeout_ms; /* how long the cluster may take to answer at start; <= 0: 15000 */
    /* logs (fwlog.h): `-X key=value` settings of the log ("log_format=json",
     * "log_file=PATH", "log_level=warn"; checked by fw_log_option_set),
     * applied over the file's `log:` map. Borrowed. With options given (the
     * command), the library's gregor_log() lines go to the same log. */
    const char *const *log_settings;
    size_t n_log_settings;
    /* metrics (docs/METRICS.md) */
    int32_t metrics_port;       /* 1..65535: serve /metrics, /healthz, /ready there; 0: no endpoint */
    const char *metrics_bind;   /* the endpoint's address; NULL: 0.0.0.0 */
    gregor_stats_fn stats_cb;   /* NULL: none; see gregor_run_with() */
    void *stats_arg;
    int32_t stats_cb_ms;        /* > 0 */
} fw_run_options;

/* Runs the pipelines of `path` until SIGTERM / SIGINT (or a fatal error);
 * SIGHUP reopens the log file. Returns the process exit status: 0 after a
 * clean stop, 1 for config errors (all printed, located), a log file that
 * cannot be opened, an unreachable cluster, a fatal error or a stop that
 * did not finish cleanly. Config errors go to stderr; progress, events and
 * errors after the file was loaded go to the log (fwlog.h: stderr unless
 * log_file is set; fatal errors to stderr too then). */
int fw_run_file(const char *path, const fw_run_options *opt);

/* The log (fwlog.h) as `gregor run` sets it: the file's `log:` map, then
 * opt's -X settings; also used by the swarm's supervisor process (swarm.h).
 * CONFIG / IO with err. */
struct fw_config;
gregor_err fw_run_configure_log(const struct fw_config *cfg, const fw_run_options *opt, char *err,
                                size_t err_size) GREGOR_MUST_CHECK;

#endif
