/* sleep_plugin.c — a test handler plugin for the framework's acceptance
 * tests (tests/integration/test_pipeline_*.py): `sleep_pass` sleeps, then
 * copies the message (key, value, headers) to output 0 with the output's
 * routing. A slow handler on cue: ordering speed-ups, work in flight at
 * SIGTERM, backpressure under a slow consumer.
 *
 * Parameters (the pipeline's `params`):
 *   sleep_ms   0..60000, default 0: sleep before each copy
 *   jitter_ms  0..60000, default 0: plus (offset * a large odd number) mod
 *              (jitter_ms + 1) ms, so that concurrent calls finish out of
 *              order when the framework lets them (deterministic per offset,
 *              no shared random state between worker threads)
 *   stamp      a header name: when set, the copy carries one more header of
 *              that name whose value is the wall clock (CLOCK_REALTIME) in
 *              microseconds, in decimal, when the handler finished its sleep:
 *              the handler's own throughput, whatever the producer's latency
 *
 * Built as a MODULE library without libgregor (tests/integration/
 * CMakeLists.txt): the gregor_* symbols come from the program that loads
 * it, so that it registers into that program's registry.
 *
 * Threading: the state is read-only after init; any number of calls at once.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gregor/producer.h"
#include "gregor/worker.h"

/* Headers a message may carry to be copied with a stamp added. */
#define SLEEP_MAX_HEADERS 64

typedef struct sleep_state {
    int64_t sleep_ms;
    int64_t jitter_ms;
    const char *stamp; /* borrowed from the params (valid until fini), or NULL */
} sleep_state;

static gregor_err read_ms(const gregor_params *params, const char *name, int64_t *out, char *errstr,
                          size_t errstr_size)
{
    if (gregor_params_int(params, name, 0, out) != GREGOR_OK || *out < 0 || *out > 60000) {
        const char *v = gregor_params_get(params, name);
        snprintf(errstr, errstr_size, "sleep_pass: param '%s' must be an integer from 0 to 60000, not '%s'", name,
                 v ? v : "");
        return GREGOR_ERR_INVALID_ARG;
    }
    return GREGOR_OK;
}

static gregor_err sleep_init(const gregor_params *params, void **state, char *errstr, size_t errstr_size)
{
    sleep_state *s = calloc(1, sizeof(*s));
    if (!s) {
        snprintf(errstr, errstr_size, "sleep_pass: out of memory");
        return GREGOR_ERR_NOMEM;
    }
    gregor_err err = read_ms(params, "sleep_ms", &s->sleep_ms, errstr, errstr_size);
    if (err == GREGOR_OK)
        err = read_ms(params, "jitter_ms", &s->jitter_ms, errstr, errstr_size);
    if (err != GREGOR_OK) {
        free(s);
        return err;
    }
    s->stamp = gregor_params_get(params, "stamp");
    if (s->stamp && !*s->stamp)
        s->stamp = NULL;
    *state = s;
    return GREGOR_OK;
}

static void sleep_fini(void *state)
{
    free(state);
}

static void sleep_for_ms(int64_t ms)
{
    struct timespec ts = {.tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static gregor_result sleep_pass(gregor_ctx *ctx, const gregor_message *m)
{
    const sleep_state *s = gregor_ctx_state(ctx);
    int64_t ms = s->sleep_ms;
    if (s->jitter_ms > 0)
        ms += (int64_t)(((uint64_t)m->offset * 2654435761u) % (uint64_t)(s->jitter_ms + 1));
    if (ms > 0)
        sleep_for_ms(ms);
    gregor_emit_message out = {
        .output = NULL,
        .output_index = 0,
        .key = m->key_len < 0 ? NULL : m->key,
        .key_len = m->key_len < 0 ? 0 : (size_t)m->key_len,
        .value = m->value_len < 0 ? NULL : m->value,
        .value_len = m->value_len < 0 ? 0 : (size_t)m->value_len,
        .headers = m->headers,
        .n_headers = m->header_count,
        .partition = GREGOR_PARTITION_ANY,
        .timestamp_ms = 0,
    };
    gregor_header headers[SLEEP_MAX_HEADERS + 1];
    char stamp[24];
    if (s->stamp) {
        if (m->header_count > SLEEP_MAX_HEADERS) {
            gregor_ctx_set_error(ctx, "sleep_pass: %zu headers, more than %d to copy with a stamp", m->header_count,
                                 SLEEP_MAX_HEADERS);
            return GREGOR_FAIL;
        }
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        int len = snprintf(stamp, sizeof stamp, "%lld", (long long)now.tv_sec * 1000000LL + now.tv_nsec / 1000);
        for (size_t i = 0; i < m->header_count; i++)
            headers[i] = m->headers[i];
        headers[m->header_count] = (gregor_header){
            .key = s->stamp, .key_len = strlen(s->stamp), .value = stamp, .value_len = len};
        out.headers = headers;
        out.n_headers = m->header_count + 1;
    }
    if (gregor_emit_message_send(ctx, &out) != GREGOR_OK)
        return GREGOR_RETRY; /* the emit's error text is in the ctx already */
    return GREGOR_DONE;
}

static const gregor_handler sleep_pass_handler = {
    .name = "sleep_pass",
    .handle = sleep_pass,
    .init = sleep_init,
    .fini = sleep_fini,
    .description = "test plugin: sleeps sleep_ms (+ jitter_ms by offset), then copies the message to output 0",
};
GREGOR_HANDLER_DEFINE(sleep_pass_handler)
