/* framework/ctx.h — what is behind a gregor_ctx (gregor/worker.h) and a
 * gregor_params: the public accessors in ctx.c read these fields, and
 * emits go through `emit`, which the pipeline (or a test) provides.
 *
 * A gregor_ctx lives on the worker thread's stack for one handler call.
 */
#ifndef GREGOR_FRAMEWORK_CTX_H
#define GREGOR_FRAMEWORK_CTX_H

#include "framework/config.h"
#include "gregor/worker.h"

struct gregor_params {
    const fw_kvlist *list;
};

/* Sends one emitted message to output `output_index` (already resolved
 * and in range); errstr for the handler's error text. */
typedef gregor_err (*fw_emit_fn)(gregor_ctx *ctx, int output_index, const gregor_emit_message *m, char *errstr,
                                 size_t errstr_size);

struct gregor_ctx {
    const char *pipeline;
    const fw_output *outputs; /* the pipeline's outputs (names) */
    size_t n_outputs;
    void *state;              /* the handler's, from init */
    void *pstate;             /* the partition's, from partition_init */
    int attempt;
    fw_emit_fn emit;
    void *emit_arg;           /* the pipeline's: the work item being run */
    char error[256];
};

/* Prepares a ctx for one call (error text cleared). */
void fw_ctx_init(gregor_ctx *ctx, const char *pipeline, const fw_output *outputs, size_t n_outputs, void *state,
                 void *pstate, int attempt, fw_emit_fn emit, void *emit_arg);

#endif
