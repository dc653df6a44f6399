/* crash_plugin.c — a test handler plugin for the swarm's acceptance tests
 * (tests/integration/test_pipeline_swarm*.py): `crash_pass` copies each
 * message (key, value, headers) to output 0, except that a message whose
 * value contains the parameter `word` makes it raise SIGSEGV, killing its
 * worker process: a handler that crashes on one message, on cue.
 *
 * Parameters: word (default "crash"); hang_word (default none): a message
 * containing it makes the call sleep for an hour (a stuck handler, for
 * handler_timeout_ms).
 *
 * Built as a MODULE library without libgregor, like sleep_plugin.c.
 * Threading: the state is read-only after init.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gregor/producer.h"
#include "gregor/worker.h"

typedef struct crash_state {
    const char *word; /* borrowed from the params (valid until fini) */
    const char *hang_word;
} crash_state;

static gregor_err crash_init(const gregor_params *params, void **state, char *errstr, size_t errstr_size)
{
    (void)errstr;
    (void)errstr_size;
    crash_state *s = calloc(1, sizeof *s);
    if (!s)
        return GREGOR_ERR_NOMEM;
    s->word = gregor_params_get(params, "word");
    if (!s->word || !*s->word)
        s->word = "crash";
    s->hang_word = gregor_params_get(params, "hang_word");
    if (s->hang_word && !*s->hang_word)
        s->hang_word = NULL;
    *state = s;
    return GREGOR_OK;
}

static void crash_fini(void *state)
{
    free(state);
}

static bool contains(const gregor_message *m, const char *word)
{
    size_t n = strlen(word);
    if (!m->value || m->value_len < 0 || (size_t)m->value_len < n)
        return false;
    for (size_t i = 0; i + n <= (size_t)m->value_len; i++)
        if (!memcmp((const char *)m->value + i, word, n))
            return true;
    return false;
}

static gregor_result crash_pass(gregor_ctx *ctx, const gregor_message *m)
{
    const crash_state *s = gregor_ctx_state(ctx);
    if (contains(m, s->word))
        raise(SIGSEGV);
    if (s->hang_word && contains(m, s->hang_word))
        sleep(3600);
    gregor_emit_message out = {
        .output_index = 0,
        .key = m->key_len < 0 ? NULL : m->key,
        .key_len = m->key_len < 0 ? 0 : (size_t)m->key_len,
        .value = m->value_len < 0 ? NULL : m->value,
        .value_len = m->value_len < 0 ? 0 : (size_t)m->value_len,
        .headers = m->headers,
        .n_headers = m->header_count,
        .partition = GREGOR_PARTITION_ANY,
    };
    return gregor_emit_message_send(ctx, &out) == GREGOR_OK ? GREGOR_DONE : GREGOR_RETRY;
}

static const gregor_handler crash_pass_handler = {
    .name = "crash_pass",
    .handle = crash_pass,
    .init = crash_init,
    .fini = crash_fini,
    .description = "test plugin: copies messages to output 0; SIGSEGV on a message containing param word",
};
GREGOR_HANDLER_DEFINE(crash_pass_handler)
