/* workers/copy.h — the example handlers' common step: emit the input
 * message (key, value, headers, timestamp) unchanged to one output.
 * Threading: any worker thread (uses only its arguments). */
#ifndef GREGOR_WORKERS_COPY_H
#define GREGOR_WORKERS_COPY_H

#include "gregor/worker.h"

/* Emits a copy of m (borrowed) to the output named `output`, or to output 0
 * when NULL. The result of gregor_emit_message_send() (its text in
 * gregor_ctx_error()). */
gregor_err worker_copy(gregor_ctx *ctx, const gregor_message *m, const char *output) GREGOR_MUST_CHECK;

/* The handler result for an emit error: RETRY (the text is already in the
 * ctx), or FAIL for an output that does not exist (retrying cannot help). */
gregor_result worker_emit_failed(gregor_err err);

#endif
