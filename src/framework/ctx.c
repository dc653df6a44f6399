/* framework/ctx.c — the handler-facing accessors of gregor/worker.h: the
 * output lookup, state, attempt and error text of a gregor_ctx, and the
 * parameters of a gregor_params. Emits are checked here and handed to the
 * ctx's `emit` function (the pipeline's producer path, or a test's). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "framework/ctx.h"
#include "util/errstr.h"

void fw_ctx_init(gregor_ctx *ctx, const char *pipeline, const fw_output *outputs, size_t n_outputs, void *state,
                 void *pstate, int attempt, fw_emit_fn emit, void *emit_arg)
{
    ctx->pipeline = pipeline;
    ctx->outputs = outputs;
    ctx->n_outputs = n_outputs;
    ctx->state = state;
    ctx->pstate = pstate;
    ctx->attempt = attempt;
    ctx->emit = emit;
    ctx->emit_arg = emit_arg;
    ctx->error[0] = '\0';
}

size_t gregor_ctx_output_count(const gregor_ctx *ctx)
{
    return ctx->n_outputs;
}

int gregor_ctx_output_index(const gregor_ctx *ctx, const char *name)
{
    if (!name)
        return -1;
    for (size_t i = 0; i < ctx->n_outputs; i++)
        if (!strcmp(ctx->outputs[i].name, name))
            return (int)i;
    return -1;
}

void *gregor_ctx_state(const gregor_ctx *ctx)
{
    return ctx->state;
}

void *gregor_ctx_partition_state(const gregor_ctx *ctx)
{
    return ctx->pstate;
}

const char *gregor_ctx_pipeline(const gregor_ctx *ctx)
{
    return ctx->pipeline;
}

int gregor_ctx_attempt(const gregor_ctx *ctx)
{
    return ctx->attempt;
}

void gregor_ctx_set_error(gregor_ctx *ctx, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx->error, sizeof ctx->error, fmt, ap);
    va_end(ap);
}

const char *gregor_ctx_error(const gregor_ctx *ctx)
{
    return ctx->error;
}

/* The known output names, for the error of an unknown one. */
static void unknown_output(gregor_ctx *ctx, const char *name)
{
    size_t off = (size_t)snprintf(ctx->error, sizeof ctx->error, "no output named '%s'; outputs:", name);
    for (size_t i = 0; i < ctx->n_outputs && off < sizeof ctx->error; i++)
        off += (size_t)snprintf(ctx->error + off, sizeof ctx->error - off, "%s %s", i ? "," : "",
                                ctx->outputs[i].name);
    if (!ctx->n_outputs && off < sizeof ctx->error)
        snprintf(ctx->error + off, sizeof ctx->error - off, " none");
}

gregor_err gregor_emit_message_send(gregor_ctx *ctx, const gregor_emit_message *m)
{
    if (!ctx || !m)
        return GREGOR_ERR_INVALID_ARG;
    int idx = m->output_index;
    if (m->output) {
        idx = gregor_ctx_output_index(ctx, m->output);
        if (idx < 0) {
            unknown_output(ctx, m->output);
            return GREGOR_ERR_INVALID_ARG;
        }
    } else if (idx < 0 || (size_t)idx >= ctx->n_outputs) {
        snprintf(ctx->error, sizeof ctx->error, "output index %d out of range (%zu outputs)", idx,
                 ctx->n_outputs);
        return GREGOR_ERR_INVALID_ARG;
    }
    if (m->n_headers && !m->headers) {
        snprintf(ctx->error, sizeof ctx->error, "%zu headers announced, none given", m->n_headers);
        return GREGOR_ERR_INVALID_ARG;
    }
    return ctx->emit(ctx, idx, m, ctx->error, sizeof ctx->error);
}

gregor_err gregor_emit(gregor_ctx *ctx, const char *output, const void *key, size_t key_len, const void *value,
                       size_t value_len)
{
    gregor_emit_message m = {.output = output, .output_index = 0, .key = key, .key_len = key_len, .value = value,
                             .value_len = value_len, .partition = -1};
    return gregor_emit_message_send(ctx, &m);
}

const char *gregor_params_get(const gregor_params *p, const char *name)
{
    if (!p || !p->list || !name)
        return NULL;
    for (size_t i = 0; i < p->list->n; i++)
        if (!strcmp(p->list->items[i].key, name))
            return p->list->items[i].value;
    return NULL;
}

gregor_err gregor_params_int(const gregor_params *p, const char *name, int64_t fallback, int64_t *out)
{
    const char *v = gregor_params_get(p, name);
    if (!v) {
        *out = fallback;
        return GREGOR_OK;
    }
    char *end;
    long long x = strtoll(v, &end, 10);
    if (!*v || *end)
        return GREGOR_ERR_INVALID_ARG;
    *out = x;
    return GREGOR_OK;
}

int gregor_params_entry(const gregor_params *p, size_t i, const char **name, const char **value)
{
    if (!p || !p->list || i >= p->list->n)
        return 0;
    if (name)
        *name = p->list->items[i].key;
    if (value)
        *value = p->list->items[i].value;
    return 1;
}
