/* framework/swarm.h — `gregor run --processes N FILE`: a supervisor
 * process that runs N worker processes, each a full `gregor run FILE` (its
 * own member of every pipeline's group), and keeps them running:
 *
 *   - a child that dies without having been asked to (a signal, or an
 *     exit) is restarted after an exponential backoff (swarm: in the file,
 *     config.h fw_swarm_conf), and the log says which child died of what
 *     and how often it was restarted;
 *   - a child whose heartbeat stops, whose member has not polled for
 *     max_poll_interval_ms, or whose handler call runs past the pipeline's
 *     handler_timeout_ms is killed (SIGTERM, SIGKILL after kill_grace_ms)
 *     and restarted;
 *   - a handler call that was running when its process died of a signal
 *     counts as a failed attempt of its messages (swarm_crash.h): every
 *     child learns it, and a message with retry.max_attempts crashes goes
 *     to the dead-letter topic without another call;
 *   - SIGTERM / SIGINT: forwarded, the children's graceful stop awaited
 *     (shutdown_timeout_ms, then SIGKILL); a second one kills them at
 *     once. SIGHUP: the supervisor and its children reopen their log files,
 *     and the file is validated again; a bad one is rejected
 *     (errors logged, FILE:LINE:COL) and the children keep running; a good
 *     one replaces the children one at a time, each new one joined before
 *     the next old one stops.
 *
 * Children are started with fork + exec of /proc/self/exe (never a fork
 * that goes on running this process's code), in their own process group
 * (a terminal's ^C reaches the supervisor only, which forwards it).
 *
 * Threading: the supervisor is one thread (a poll loop over the children's
 * sockets and a signalfd); call fw_swarm_run from a process with no other
 * thread that matters (it blocks SIGTERM, SIGINT, SIGHUP and SIGCHLD).
 */
#ifndef GREGOR_FRAMEWORK_SWARM_H
#define GREGOR_FRAMEWORK_SWARM_H

#include <stdint.h>

#include "framework/run.h"

/* Runs the swarm until it is stopped. `path` is validated first (every
 * error printed, nothing started: 1). `child_argv` (NULL-terminated,
 * borrowed) is the command each child runs, e.g. {"gregor", "run",
 * "--stats-ms", "1000", path, NULL}; it is exec'd as /proc/self/exe.
 * `opt` (borrowed; may be NULL): its log settings are the supervisor's too
 * (its lines are events of the structured log, fwlog.h). Returns the exit
 * status: 0 when every child stopped cleanly, 1 otherwise, 130 after a
 * second signal. */
int fw_swarm_run(const char *path, int processes, char *const *child_argv, const fw_run_options *opt);

/* The delay before restart number `step` + 1 since the last reset (step
 * 0: base_ms): base_ms doubled per step, at most max_ms. */
int64_t fw_swarm_backoff_ms(int64_t base_ms, int64_t max_ms, int step);

#endif
