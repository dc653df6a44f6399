/* tests/plugins/upper_plugin.c — a handler plugin as users build them
 * (docs/HANDLERS.md): a MODULE library compiled against gregor/worker.h and
 * linked without libgregor, its gregor_* symbols taken from the program
 * that loads it. Handler `upper`: the value, ASCII upper-cased, with the
 * key, to output 0. */
#include <stdlib.h>

#include "gregor/worker.h"

static gregor_result upper(gregor_ctx *ctx, const gregor_message *m)
{
    size_t len = m->value && m->value_len > 0 ? (size_t)m->value_len : 0;
    char *v = malloc(len ? len : 1);
    if (!v) {
        gregor_ctx_set_error(ctx, "upper: out of memory");
        return GREGOR_RETRY;
    }
    const char *in = m->value;
    for (size_t i = 0; i < len; i++)
        v[i] = (char)(in[i] >= 'a' && in[i] <= 'z' ? in[i] - 'a' + 'A' : in[i]);
    gregor_err err = gregor_emit(ctx, NULL, m->key_len >= 0 ? m->key : NULL,
                                 m->key_len > 0 ? (size_t)m->key_len : 0, v, len);
    free(v);
    return err ? GREGOR_RETRY : GREGOR_DONE;
}

static const gregor_handler upper_handler = {
    .name = "upper",
    .handle = upper,
    .description = "upper-cases the value (a test plugin)",
};
GREGOR_HANDLER_DEFINE(upper_handler)
