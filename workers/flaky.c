/* workers/flaky.c — the `flaky` handler, to show retries and the dead-letter
 * topic: a message whose value contains params.word is refused (RETRY with
 * params.mode `retry`, the default, so it goes to the dead-letter topic
 * after the pipeline's retry.max_attempts; FAIL with mode `fail`, straight
 * there); any other message is copied to output 0 as passthrough does.
 *
 * Threading: the state (word and mode) is read-only after init.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "copy.h"

typedef struct flaky_conf {
    char *word;
    gregor_result refuse; /* GREGOR_RETRY or GREGOR_FAIL */
} flaky_conf;

static gregor_err flaky_init(const gregor_params *params, void **state, char *errstr, size_t errstr_size)
{
    const char *word = gregor_params_get(params, "word");
    const char *mode = gregor_params_get(params, "mode");
    if (!word || !*word) {
        snprintf(errstr, errstr_size, "flaky needs params.word: messages containing it are refused");
        return GREGOR_ERR_CONFIG;
    }
    gregor_result refuse = GREGOR_RETRY;
    if (mode && !strcmp(mode, "fail"))
        refuse = GREGOR_FAIL;
    else if (mode && strcmp(mode, "retry") != 0) {
        snprintf(errstr, errstr_size, "flaky: params.mode is '%s'; expected retry or fail", mode);
        return GREGOR_ERR_CONFIG;
    }
    flaky_conf *fc = calloc(1, sizeof *fc);
    if (!fc || !(fc->word = strdup(word))) {
        free(fc);
        snprintf(errstr, errstr_size, "flaky: out of memory");
        return GREGOR_ERR_NOMEM;
    }
    fc->refuse = refuse;
    *state = fc;
    return GREGOR_OK;
}

static void flaky_fini(void *state)
{
    flaky_conf *fc = state;
    if (fc)
        free(fc->word);
    free(fc);
}

static gregor_result flaky(gregor_ctx *ctx, const gregor_message *m)
{
    const flaky_conf *fc = gregor_ctx_state(ctx);
    if (!fc) {
        gregor_ctx_set_error(ctx, "flaky: not initialised (init did not run)");
        return GREGOR_FAIL;
    }
    if (m->value && m->value_len > 0 && memmem(m->value, (size_t)m->value_len, fc->word, strlen(fc->word))) {
        gregor_ctx_set_error(ctx, "flaky: the value contains '%s' (attempt %d)", fc->word, gregor_ctx_attempt(ctx));
        return fc->refuse;
    }
    gregor_err err = worker_copy(ctx, m, NULL);
    return err ? worker_emit_failed(err) : GREGOR_DONE;
}

static const gregor_handler flaky_handler = {
    .name = "flaky",
    .handle = flaky,
    .init = flaky_init,
    .fini = flaky_fini,
    .description = "refuses messages containing params.word (mode retry or fail), copies the others to output 0",
};
GREGOR_HANDLER_DEFINE(flaky_handler)
