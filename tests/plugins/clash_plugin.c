/* tests/plugins/clash_plugin.c — a plugin whose second handler takes a name
 * the program has already registered (`passthrough`): loading it must fail,
 * naming both origins, while its first handler (`clash_ok`) registers. */
#include "gregor/worker.h"

static gregor_result nothing(gregor_ctx *ctx, const gregor_message *m)
{
    (void)ctx, (void)m;
    return GREGOR_DONE;
}

static const gregor_handler clash_ok = {.name = "clash_ok", .handle = nothing};
GREGOR_HANDLER_DEFINE(clash_ok)
static const gregor_handler clash_dup = {.name = "passthrough", .handle = nothing};
GREGOR_HANDLER_DEFINE(clash_dup)
