/* gregor/worker.h — everything a handler author includes: the handler
 * function the worker framework calls for each consumed message (or batch),
 * the context through which it emits results to the pipeline's outputs,
 * and registration (in code, or from a plugin shared object).
 *
 * A pipeline (configured in YAML, run by `gregor run FILE` or by a program
 * that embeds the framework) consumes its topics as a member of a consumer
 * group and hands each message to its handler on one of `threads` worker
 * threads. The handler returns:
 *   GREGOR_DONE   processed: once every message it emitted is acknowledged
 *                 by the brokers, the input offset may be committed;
 *   GREGOR_RETRY  try again later (exponential backoff up to the pipeline's
 *                 retry settings; other partitions go on meanwhile); after
 *                 the last attempt the message goes to the dead-letter topic;
 *   GREGOR_FAIL   do not retry: straight to the dead-letter topic (or, with
 *                 none configured, the partition stops and says why).
 * Messages emitted by an attempt that is retried are not taken back: a
 * retried handler may emit again (at-least-once).
 *
 * Ordering (the pipeline's `ordering`): `partition` calls the handler for
 * one partition's messages one at a time, in offset order; `key` keeps the
 * messages of one key in order but runs different keys of one partition in
 * parallel; `none` runs them in any order.
 *
 * Threading: a handler runs on the pipeline's worker threads, several at
 * once (one per partition, or per key lane), so state shared by all calls
 * (the `state` init returns) must be thread-safe or read-only. Per-partition
 * state (partition_init) is only used by one call at a time with ordering
 * `partition`; with `key` or `none` it is shared by concurrent calls. The
 * handler never runs while a lock of the framework's is held, and may block
 * (a slow handler slows its partition, or key lane, only). A gregor_ctx is
 * valid during the call it was passed to, on that thread only.
 *
 * Memory: the message (key, value, headers) is borrowed for the call; emit
 * copies what it keeps. Emitting blocks while the output's producer buffer
 * (buffer_bytes) is full, up to its block_ms, then fails with QUEUE_FULL.
 */
#ifndef GREGOR_WORKER_H
#define GREGOR_WORKER_H

#include <stddef.h>
#include <stdint.h>

#include "gregor/consumer.h"
#include "gregor/error.h"
#include "gregor/message.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum gregor_result {
    GREGOR_DONE = 0,
    GREGOR_RETRY = 1,
    GREGOR_FAIL = 2,
} gregor_result;

/* What a handler call sees of the framework: outputs, state, attempt. */
typedef struct gregor_ctx gregor_ctx;
/* The handler's parameters: the pipeline's `params` map from the YAML. */
typedef struct gregor_params gregor_params;

/* ------------------------------------------------------------- emitting */

/* One message to emit. Pointers are borrowed for the call. */
typedef struct gregor_emit_message {
    const char *output;   /* the output's name; NULL: output_index is used */
    int output_index;     /* 0..gregor_ctx_output_count()-1, when output is NULL */
    const void *key;      /* NULL: a null key (key_len ignored) */
    size_t key_len;
    const void *value;    /* NULL: a null value (a tombstone) */
    size_t value_len;
    const gregor_header *headers;
    size_t n_headers;
    int32_t partition;    /* -1 (GREGOR_PARTITION_ANY): the output's routing */
    int64_t timestamp_ms; /* 0: now */
} gregor_emit_message;

/* Emits key/value to the output named `output` (NULL: the first output).
 * Shorthand for
 * gregor_emit_message_send() with no headers and the output's routing.
 * Errors: INVALID_ARG (no such output: the text names the known ones, also
 * in gregor_ctx_error()), QUEUE_FULL (the producer's buffer stayed full for
 * block_ms), the producer's other produce errors. A handler that cannot
 * emit usually returns GREGOR_RETRY. */
gregor_err gregor_emit(gregor_ctx *ctx, const char *output, const void *key, size_t key_len, const void *value,
                       size_t value_len) GREGOR_MUST_CHECK;

/* Emits one message with headers, an explicit partition or timestamp. */
gregor_err gregor_emit_message_send(gregor_ctx *ctx, const gregor_emit_message *m) GREGOR_MUST_CHECK;

/* The pipeline's outputs: their count, and the index of one by name (-1
 * when there is none of that name). */
size_t gregor_ctx_output_count(const gregor_ctx *ctx);
int gregor_ctx_output_index(const gregor_ctx *ctx, const char *name);

/* ------------------------------------------------------------ state */

/* What the handler's init stored (NULL without init). */
void *gregor_ctx_state(const gregor_ctx *ctx);
/* What partition_init stored for the input's partition (NULL without). */
void *gregor_ctx_partition_state(const gregor_ctx *ctx);
/* The pipeline's name (borrowed, valid during the call). */
const char *gregor_ctx_pipeline(const gregor_ctx *ctx);
/* Which attempt this call is: 1 the first time, 2 the first retry, ... */
int gregor_ctx_attempt(const gregor_ctx *ctx);
/* Says why the call returns RETRY or FAIL: the text goes to the log and
 * into the dead-letter message's `gregor.error` header. printf-style;
 * truncated to 255 bytes. */
void gregor_ctx_set_error(gregor_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The text set last in this call ("" when none). */
const char *gregor_ctx_error(const gregor_ctx *ctx);

/* ------------------------------------------------------------ params */

/* The value of parameter `name` as written in the YAML (a scalar, after
 * ${VAR} substitution), NULL when absent. Borrowed from the pipeline. */
const char *gregor_params_get(const gregor_params *p, const char *name);
/* The parameter as an integer; `fallback` when absent. INVALID_ARG when it
 * is present but not a decimal integer (*out untouched). */
gregor_err gregor_params_int(const gregor_params *p, const char *name, int64_t fallback,
                             int64_t *out) GREGOR_MUST_CHECK;
/* Iterates the parameters: false past the last. */
int gregor_params_entry(const gregor_params *p, size_t i, const char **name, const char **value);

/* ------------------------------------------------------------ handlers */

/* A handler. Only `name` and one of `handle` / `handle_batch` are needed.
 *
 * handle        one message; `m` is borrowed for the call.
 * handle_batch  up to the pipeline's batch_size consecutive messages of one
 *               partition (of one key lane with ordering `key`); the result
 *               is the whole batch's: RETRY retries all of them, FAIL sends
 *               each to the dead-letter topic. Used when set.
 * init          once per pipeline before anything is consumed: reads
 *               `params` (borrowed; valid until fini) and stores its state
 *               in *state. A non-OK result (with errstr) stops `gregor run`
 *               before it joins any group.
 * fini          at shutdown, after the last call, with that state.
 * partition_init  when the pipeline is assigned a partition, before its
 *               first message: stores per-partition state in *pstate.
 * partition_fini  when the partition is revoked (after its in-flight
 *               messages are finished, before its offsets are committed)
 *               or lost, and at shutdown: may emit through `ctx` (the
 *               framework waits for those emits before committing; a lost
 *               partition's emits are still sent), then frees pstate.
 *               gregor_ctx_partition_state(ctx) is pstate.
 * Handlers of one pipeline share one gregor_handler; init runs once per
 * pipeline that names the handler. */
typedef struct gregor_handler {
    const char *name;
    gregor_result (*handle)(gregor_ctx *ctx, const gregor_message *m);
    gregor_result (*handle_batch)(gregor_ctx *ctx, const gregor_message *const *msgs, size_t n);
    gregor_err (*init)(const gregor_params *params, void **state, char *errstr, size_t errstr_size);
    void (*fini)(void *state);
    gregor_err (*partition_init)(void *state, const char *topic, int32_t partition, void **pstate);
    void (*partition_fini)(gregor_ctx *ctx, void *pstate);
    const char *description; /* one line, for `gregor handlers` (may be NULL) */
} gregor_handler;

/* Registers a handler (the struct is copied; its strings and functions must
 * live as long as the process, or until the plugin that holds them is
 * unloaded, which gregor never does). INVALID_ARG for a missing name or
 * function, or a name already registered (the text says by whom). Any
 * thread, also before main (the macros below register from constructors). */
gregor_err gregor_handler_register(const gregor_handler *h) GREGOR_MUST_CHECK;

/* Registers handler NAME (a string literal) calling FN for each message,
 * with optional INIT and FINI (NULL for none), when the program or plugin
 * is loaded. Put it at file scope, once per handler. */
#define GREGOR_HANDLER(NAME, FN, INIT, FINI)                                                                     \
    static const gregor_handler gregor__handler_##FN = {.name = (NAME), .handle = (FN), .init = (INIT),          \
                                                        .fini = (FINI)};                                         \
    GREGOR_HANDLER_DEFINE(gregor__handler_##FN)

/* Registers a full gregor_handler variable VAR (batch handlers, partition
 * state) when the program or plugin is loaded. */
#define GREGOR_HANDLER_DEFINE(VAR)                                                                               \
    __attribute__((constructor)) static void gregor__register_##VAR(void)                                       \
    {                                                                                                            \
        gregor_handler_register_at_load(&(VAR), __FILE__);                                                      \
    }

/* ------------------------------------------------------------ running */

/* Runs the pipelines of the YAML file `path` in this process as
 * `gregor run PATH` does, until SIGTERM or SIGINT (graceful: drain, commit,
 * leave the groups, flush; a second signal exits at once with status 130)
 * or a fatal error. Handlers registered by the program (GREGOR_HANDLER) are
 * found by name. Call it from the main thread before other threads exist:
 * it blocks SIGTERM, SIGINT and SIGHUP (a reopening of the log file) in the
 * calling thread, so that the threads it starts inherit that, and handles
 * them on a thread of its own. Progress and errors (config errors located
 * FILE:LINE:COL) go to stderr. Returns OK after a clean stop, STATE
 * otherwise. */
gregor_err gregor_run(const char *path) GREGOR_MUST_CHECK;

/* Receives the process's metrics: `text` (NUL-terminated, `len` bytes,
 * borrowed for the call) is Prometheus text exposition format 0.0.4 with
 * the gregor_* names, labels and meanings of docs/METRICS.md, which are
 * stable (new series may be added; none is renamed or changes meaning
 * within a major version). Called on the thread that called
 * gregor_run_with(), every stats_interval_ms while the pipelines run and
 * once more after they stopped (the final counters); it must not block
 * for long (the run loop waits for it), and must not call gregor_run*. */
typedef void (*gregor_stats_fn)(const char *text, size_t len, void *arg);

/* Options of gregor_run_with(). Zero-initialise it (`= {0}`), then set
 * what you need: zero fields mean the defaults of `gregor run`. */
typedef struct gregor_run_options {
    gregor_stats_fn stats_cb;     /* NULL: no callback */
    void *stats_arg;              /* handed to stats_cb */
    int32_t stats_interval_ms;    /* how often stats_cb runs while running; <= 0: 1000 */
    int32_t metrics_port;         /* 1..65535: serve /metrics, /healthz, /ready (--metrics-port); 0: no */
    const char *metrics_bind;     /* the endpoint's address (--metrics-bind); NULL: 0.0.0.0 */
} gregor_run_options;

/* gregor_run() with options (`opt` borrowed; NULL: none). Returns OK after
 * a clean stop, STATE otherwise (stderr says why: a metrics port in use
 * stops it before anything is consumed). */
gregor_err gregor_run_with(const char *path, const gregor_run_options *opt) GREGOR_MUST_CHECK;

/* Used by the macros: registers from a constructor, where no error can be
 * returned; a failure (a duplicate name) is kept and reported by the
 * framework when it resolves handlers, naming `origin`. */
void gregor_handler_register_at_load(const gregor_handler *h, const char *origin);

#ifdef __cplusplus
}
#endif
#endif
