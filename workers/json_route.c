/* workers/json_route.c — the `json_route` handler: sends each message,
 * unchanged (key, value, headers), to the output named by one field of its
 * JSON value.
 *
 * Params: `field` (required) the top-level member whose string value names
 * the output; `default_output` (optional) where a message goes that cannot
 * be routed: not JSON, not an object, without the field, the field not a
 * string, or naming no output. Without it such a message FAILs (to the
 * dead-letter topic) with the reason in its error text.
 *
 * Threading: the state (the two names) is read-only after init; each call
 * parses its own message (jansson), so any ordering and thread count work.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "copy.h"

typedef struct route_conf {
    char *field;
    char *default_output; /* NULL without */
} route_conf;

static gregor_err route_init(const gregor_params *params, void **state, char *errstr, size_t errstr_size)
{
    const char *field = gregor_params_get(params, "field");
    const char *fallback = gregor_params_get(params, "default_output");
    if (!field || !*field) {
        snprintf(errstr, errstr_size,
                   "json_route needs params.field: the JSON field whose value names the output");
        return GREGOR_ERR_CONFIG;
    }
    route_conf *rc = calloc(1, sizeof *rc);
    if (!rc || !(rc->field = strdup(field)) || (fallback && !(rc->default_output = strdup(fallback)))) {
        if (rc)
            free(rc->field);
        free(rc);
        snprintf(errstr, errstr_size, "json_route: out of memory");
        return GREGOR_ERR_NOMEM;
    }
    *state = rc;
    return GREGOR_OK;
}

static void route_fini(void *state)
{
    route_conf *rc = state;
    if (!rc)
        return;
    free(rc->field);
    free(rc->default_output);
    free(rc);
}

/* The output named by the message's field, or NULL with the reason set in
 * the ctx. The name points into `doc`. */
static const char *route_of(gregor_ctx *ctx, const route_conf *rc, const gregor_message *m, json_t **doc)
{
    json_error_t jerr;
    if (!m->value || m->value_len < 0) {
        gregor_ctx_set_error(ctx, "json_route: the value is null, not JSON");
        return NULL;
    }
    *doc = json_loadb(m->value, (size_t)m->value_len, JSON_DECODE_ANY, &jerr);
    if (!*doc) {
        gregor_ctx_set_error(ctx, "json_route: the value is not JSON: %s at byte %d", jerr.text, jerr.position);
        return NULL;
    }
    json_t *v = json_is_object(*doc) ? json_object_get(*doc, rc->field) : NULL;
    if (!v) {
        gregor_ctx_set_error(ctx, "json_route: the value has no field '%s'", rc->field);
        return NULL;
    }
    if (!json_is_string(v)) {
        gregor_ctx_set_error(ctx, "json_route: field '%s' is not a string", rc->field);
        return NULL;
    }
    const char *name = json_string_value(v);
    if (gregor_ctx_output_index(ctx, name) < 0) {
        gregor_ctx_set_error(ctx, "json_route: field '%s' names no output: '%.64s'", rc->field, name);
        return NULL;
    }
    return name;
}

static gregor_result json_route(gregor_ctx *ctx, const gregor_message *m)
{
    const route_conf *rc = gregor_ctx_state(ctx);
    if (!rc) {
        gregor_ctx_set_error(ctx, "json_route: not initialised (init did not run)");
        return GREGOR_FAIL;
    }
    json_t *doc = NULL;
    const char *out = route_of(ctx, rc, m, &doc);
    if (!out && rc->default_output) {
        if (gregor_ctx_output_index(ctx, rc->default_output) < 0) {
            json_decref(doc);
            gregor_ctx_set_error(ctx, "json_route: default_output '%s' is not an output of the pipeline",
                                 rc->default_output);
            return GREGOR_FAIL;
        }
        out = rc->default_output;
    }
    gregor_result res = GREGOR_FAIL;
    if (out) {
        gregor_err err = worker_copy(ctx, m, out);
        res = err ? worker_emit_failed(err) : GREGOR_DONE;
    }
    json_decref(doc);
    return res;
}

static const gregor_handler json_route_handler = {
    .name = "json_route",
    .handle = json_route,
    .init = route_init,
    .fini = route_fini,
    .description = "sends each JSON message to the output named by its field params.field",
};
GREGOR_HANDLER_DEFINE(json_route_handler)
