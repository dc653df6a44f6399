/* tests/support/emit_capture.c — see emit_capture.h. */
#include "emit_capture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *dup_n(const void *p, size_t n)
{
    if (!p)
        return NULL;
    char *s = malloc(n + 1);
    if (!s)
        abort();
    memcpy(s, p, n);
    s[n] = '\0';
    return s;
}

static gregor_err capture_emit(gregor_ctx *ctx, int output_index, const gregor_emit_message *m, char *errstr,
                               size_t errstr_size)
{
    capture *c = ctx->emit_arg;
    if (c->fail_with) {
        snprintf(errstr, errstr_size, "capture: emit refused (%d)", (int)c->fail_with);
        return c->fail_with;
    }
    if (c->n == CAPTURE_MAX) {
        snprintf(errstr, errstr_size, "capture: more than %d emits", CAPTURE_MAX);
        return GREGOR_ERR_QUEUE_FULL;
    }
    captured *k = &c->msgs[c->n++];
    k->output = output_index;
    k->key = dup_n(m->key, m->key_len);
    k->key_len = m->key_len;
    k->value = dup_n(m->value, m->value_len);
    k->value_len = m->value_len;
    k->n_headers = m->n_headers;
    for (size_t i = 0; i < m->n_headers && i < 4; i++) {
        k->header_keys[i] = dup_n(m->headers[i].key, m->headers[i].key_len);
        k->header_values[i] = m->headers[i].value_len < 0
                                  ? NULL
                                  : dup_n(m->headers[i].value, (size_t)m->headers[i].value_len);
    }
    k->partition = m->partition;
    return GREGOR_OK;
}

void capture_init(capture *c, size_t n_outputs, const char *const *names)
{
    static const char *const dflt[4] = {"out0", "out1", "out2", "out3"};
    memset(c, 0, sizeof *c);
    if (n_outputs > 4)
        abort();
    c->n_outputs = n_outputs;
    for (size_t i = 0; i < n_outputs; i++) {
        c->outputs[i].name = names ? names[i] : dflt[i];
        c->outputs[i].topic = c->outputs[i].name;
        c->outputs[i].producer = "default";
    }
}

void capture_fini(capture *c)
{
    for (size_t i = 0; i < c->n; i++) {
        captured *k = &c->msgs[i];
        free(k->key);
        free(k->value);
        for (size_t h = 0; h < k->n_headers && h < 4; h++) {
            free(k->header_keys[h]);
            free(k->header_values[h]);
        }
    }
    c->n = 0;
}

void capture_ctx(capture *c, gregor_ctx *ctx, void *state, void *pstate)
{
    fw_ctx_init(ctx, "test", c->outputs, c->n_outputs, state, pstate, 1, capture_emit, c);
}

gregor_message capture_message(const char *key, const char *value, int32_t partition, int64_t offset)
{
    return (gregor_message){
        .topic = "in",
        .partition = partition,
        .offset = offset,
        .timestamp_ms = 1700000000000,
        .key = key,
        .key_len = key ? (int32_t)strlen(key) : -1,
        .value = value,
        .value_len = value ? (int32_t)strlen(value) : -1,
    };
}

static bool same(const char *got, const char *want)
{
    return (!got && !want) || (got && want && !strcmp(got, want));
}

bool capture_is(const capture *c, size_t i, int output, const char *key, const char *value)
{
    if (i >= c->n)
        return false;
    const captured *k = &c->msgs[i];
    return k->output == output && same(k->key, key) && same(k->value, value);
}
