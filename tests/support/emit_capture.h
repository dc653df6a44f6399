/* tests/support/emit_capture.h — runs a handler outside the framework: a
 * gregor_ctx (fw_ctx_init) whose emits are copied into a list instead of
 * being produced, and messages built from strings.
 * Threading: one test thread; the capture is not locked. */
#ifndef GREGOR_TEST_EMIT_CAPTURE_H
#define GREGOR_TEST_EMIT_CAPTURE_H

#include <stdbool.h>

#include "framework/ctx.h"

#define CAPTURE_MAX 64

/* One emitted message, copied (strings NUL-terminated; NULL for null). */
typedef struct captured {
    int output;
    char *key;
    size_t key_len;
    char *value;
    size_t value_len;
    size_t n_headers;
    char *header_keys[4];
    char *header_values[4];
    int32_t partition;
} captured;

typedef struct capture {
    captured msgs[CAPTURE_MAX];
    size_t n;
    gregor_err fail_with; /* non-OK: every emit fails with it (nothing kept) */
    fw_output outputs[4]; /* the pipeline's outputs: out0, out1, ... unless renamed */
    size_t n_outputs;
} capture;

/* A capture with n_outputs outputs named by `names` (NULL: "out0"...). */
void capture_init(capture *c, size_t n_outputs, const char *const *names);
void capture_fini(capture *c);

/* A ctx emitting into c, for a call of attempt 1 with state and pstate. */
void capture_ctx(capture *c, gregor_ctx *ctx, void *state, void *pstate);

/* A message of topic "in" partition `partition` offset `offset`; key and
 * value are NUL-terminated strings or NULL (null). */
gregor_message capture_message(const char *key, const char *value, int32_t partition, int64_t offset);

/* Whether message i went to `output` with this key and value. */
bool capture_is(const capture *c, size_t i, int output, const char *key, const char *value);

#endif
