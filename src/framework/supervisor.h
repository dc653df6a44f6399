/* framework/supervisor.h — runs the pipelines of one validated config in
 * this process: one shared client, the configured producers (the producer
 * pool) and, per pipeline, a group member thread feeding a pool of worker
 * threads (pipeline.h). `gregor run` and gregor_run() are loops over it.
 *
 * Lifecycle: new (clients, producers, handler init; nothing consumed yet)
 * → start (members join their groups) → stop (graceful: every pipeline
 * stops fetching, drains its in-flight work up to drain_timeout_ms,
 * commits, leaves its group; then the producers are flushed) → wait →
 * destroy. A fatal pipeline error (a partition stopped with no dead-letter
 * topic does not count: the others go on) stops the whole supervisor, and
 * wait reports it.
 *
 * Threading: new/start/wait/destroy on one thread; fw_supervisor_stop()
 * and fw_supervisor_stats() from any thread (stop is not async-signal-safe:
 * call it from a thread that sigwait()s, as cmd_run does).
 */
#ifndef GREGOR_FRAMEWORK_SUPERVISOR_H
#define GREGOR_FRAMEWORK_SUPERVISOR_H

#include <stdint.h>

#include "framework/config.h"

typedef struct fw_supervisor fw_supervisor;

/* Counters of one pipeline since start (monotonic). */
typedef struct fw_pipeline_stats {
    const char *name;
    uint64_t consumed;      /* messages taken from the group member */
    uint64_t processed;     /* handler returned DONE (batch: each message) */
    uint64_t emitted;       /* messages emitted (produce accepted) */
    uint64_t delivered;     /* emits acknowledged by the brokers */
    uint64_t retried;       /* handler calls that returned RETRY (or whose emits failed) */
    uint64_t dead_lettered; /* messages sent to the dead-letter topic */
    uint64_t commits;       /* offset commits that succeeded */
    uint64_t partitions;    /* partitions owned now */
    uint64_t stopped_partitions; /* partitions stopped by a message that could not be processed */
    uint64_t queued_bytes;  /* input bytes held now (queues and in flight) */
    uint64_t failed;        /* handler attempts that failed (each message of a batch; retried or not) */
    uint64_t rebalances;    /* assignment callbacks (assigned, revoked, lost) */
} fw_pipeline_stats;

/* Builds everything `cfg` (borrowed; must outlive the supervisor)
 * describes: handlers must be resolved (fw_registry_resolve) before. Runs
 * each pipeline's handler init. CONFIG / handler errors with errstr
 * naming the pipeline; nothing has joined a group then. */
gregor_err fw_supervisor_new(const fw_config *cfg, fw_supervisor **out, char *errstr,
                             size_t errstr_size) GREGOR_MUST_CHECK;

/* Checks that the cluster answers (metadata within `timeout_ms`), then
 * starts every pipeline. NO_BROKERS / TIMED_OUT with errstr naming the
 * bootstrap addresses when the cluster cannot be reached: nothing is
 * consumed then. */
gregor_err fw_supervisor_start(fw_supervisor *s, int32_t timeout_ms, char *errstr,
                               size_t errstr_size) GREGOR_MUST_CHECK;

/* Asks for a graceful stop (idempotent; returns at once). */
void fw_supervisor_stop(fw_supervisor *s);

/* Waits until every pipeline has stopped (after fw_supervisor_stop() or a
 * fatal error) for at most timeout_ms (-1: no limit). OK after a clean
 * stop; TIMED_OUT when time ran out; the fatal error otherwise, with
 * errstr. */
gregor_err fw_supervisor_wait(fw_supervisor *s, int32_t timeout_ms, char *errstr,
                              size_t errstr_size) GREGOR_MUST_CHECK;

/* The end of a graceful stop, after fw_supervisor_wait() returned: joins
 * the pipelines' threads and waits for the producers' last
 * acknowledgements, for at most timeout_ms. TIMED_OUT with errstr when
 * messages are still unacknowledged, or when a revoke's drain ran out of
 * drain_timeout_ms: the stop was not clean (what was not committed is
 * processed again by the next owner). */
gregor_err fw_supervisor_finish(fw_supervisor *s, int32_t timeout_ms, char *errstr,
                                size_t errstr_size) GREGOR_MUST_CHECK;

/* Stops (if running: graceful, bounded by the config's
 * shutdown_timeout_ms), runs handler fini, frees. NULL does nothing. */
void fw_supervisor_destroy(fw_supervisor *s);

/* Events (rebalances, dead letters, stopped partitions, fatal errors) go
 * to the process's structured log (fwlog.h). */

/* Copies up to `max` pipelines' counters to out; returns the number of
 * pipelines. Any thread. */
size_t fw_supervisor_stats(fw_supervisor *s, fw_pipeline_stats *out, size_t max);

#endif
