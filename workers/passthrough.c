/* workers/passthrough.c — the `passthrough` handler: copies each message
 * (key, value, headers, timestamp) to the pipeline's first output. A
 * stateless handler: any ordering, any number of threads. */
#include "copy.h"

static gregor_result passthrough(gregor_ctx *ctx, const gregor_message *m)
{
    gregor_err err = worker_copy(ctx, m, NULL);
    return err ? worker_emit_failed(err) : GREGOR_DONE;
}

static const gregor_handler passthrough_handler = {
    .name = "passthrough",
    .handle = passthrough,
    .description = "copies each message (key, value, headers) to output 0",
};
GREGOR_HANDLER_DEFINE(passthrough_handler)
