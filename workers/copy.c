/* workers/copy.c — see copy.h. */
#include "copy.h"

gregor_err worker_copy(gregor_ctx *ctx, const gregor_message *m, const char *output)
{
    gregor_emit_message out = {
        .output = output,
        .output_index = 0,
        .key = m->key_len >= 0 ? m->key : NULL,
        .key_len = m->key && m->key_len > 0 ? (size_t)m->key_len : 0,
        .value = m->value_len >= 0 ? m->value : NULL,
        .value_len = m->value && m->value_len > 0 ? (size_t)m->value_len : 0,
        .headers = m->headers,
        .n_headers = m->header_count,
        .partition = -1,
        .timestamp_ms = m->timestamp_ms > 0 ? m->timestamp_ms : 0,
    };
    return gregor_emit_message_send(ctx, &out);
}

gregor_result worker_emit_failed(gregor_err err)
{
    return err == GREGOR_ERR_INVALID_ARG ? GREGOR_FAIL : GREGOR_RETRY;
}
