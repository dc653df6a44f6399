/* Unit tests for the example handlers (workers/): each runs through a
 * gregor_ctx whose emits are captured (support/emit_capture.h), found by
 * name in the registry their constructors filled. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "emit_capture.h"
#include "framework/registry.h"

static const gregor_handler *handler(const char *name)
{
    const gregor_handler *h = fw_registry_find(name);
    cr_assert(h, "handler %s is not registered", name);
    cr_assert(h->description && *h->description, "handler %s has no description", name);
    return h;
}

/* Runs h->init with the params; returns its result, state in *state. */
static gregor_err init_with(const gregor_handler *h, fw_kv *items, size_t n, void **state, char *errstr,
                            size_t size)
{
    fw_kvlist list = {.items = items, .n = n};
    gregor_params params = {.list = &list};
    *state = NULL;
    errstr[0] = '\0';
    return h->init(&params, state, errstr, size);
}

Test(passthrough, copies_key_value_headers)
{
    const gregor_handler *h = handler("passthrough");
    capture c;
    capture_init(&c, 1, NULL);
    gregor_ctx ctx;
    capture_ctx(&c, &ctx, NULL, NULL);
    gregor_header hdrs[2] = {{.key = "h1", .key_len = 2, .value = "v1", .value_len = 2},
                             {.key = "nul", .key_len = 3, .value = NULL, .value_len = -1}};
    gregor_message m = capture_message("k", "value", 3, 17);
    m.headers = hdrs;
    m.header_count = 2;
    cr_assert_eq(h->handle(&ctx, &m), GREGOR_DONE);
    cr_assert_eq(c.n, 1);
    cr_assert(capture_is(&c, 0, 0, "k", "value"));
    cr_assert_eq(c.msgs[0].n_headers, 2);
    cr_assert_str_eq(c.msgs[0].header_keys[0], "h1");
    cr_assert_str_eq(c.msgs[0].header_values[0], "v1");
    cr_assert_str_eq(c.msgs[0].header_keys[1], "nul");
    cr_assert_null(c.msgs[0].header_values[1]);
    cr_assert_eq(c.msgs[0].partition, -1, "the output's routing decides the partition");

    /* Null key and null value (a tombstone) stay null. */
    gregor_message t = capture_message(NULL, NULL, 0, 18);
    cr_assert_eq(h->handle(&ctx, &t), GREGOR_DONE);
    cr_assert(capture_is(&c, 1, 0, NULL, NULL));
    capture_fini(&c);
}

Test(passthrough, emit_failure_is_a_retry_with_the_reason)
{
    const gregor_handler *h = handler("passthrough");
    capture c;
    capture_init(&c, 1, NULL);
    c.fail_with = GREGOR_ERR_QUEUE_FULL;
    gregor_ctx ctx;
    capture_ctx(&c, &ctx, NULL, NULL);
    gregor_message m = capture_message("k", "v", 0, 0);
    cr_assert_eq(h->handle(&ctx, &m), GREGOR_RETRY);
    cr_assert(strstr(gregor_ctx_error(&ctx), "emit refused"), "error: %s", gregor_ctx_error(&ctx));

    /* A pipeline without outputs: FAIL (retrying cannot help), saying so. */
    capture none;
    capture_init(&none, 0, NULL);
    capture_ctx(&none, &ctx, NULL, NULL);
    cr_assert_eq(h->handle(&ctx, &m), GREGOR_FAIL);
    cr_assert(strstr(gregor_ctx_error(&ctx), "out of range"), "error: %s", gregor_ctx_error(&ctx));
}

Test(split_words, words_in_order_lower_cased)
{
    const gregor_handler *h = handler("split_words");
    capture c;
    capture_init(&c, 1, NULL);
    gregor_ctx ctx;
    capture_ctx(&c, &ctx, NULL, NULL);
    gregor_message m = capture_message(NULL, "The quick, the lazy", 0, 0);
    cr_assert_eq(h->handle(&ctx, &m), GREGOR_DONE);
    cr_assert_eq(c.n, 4);
    cr_assert(capture_is(&c, 0, 0, "the", "1"));
    cr_assert(capture_is(&c, 1, 0, "quick", "1"));
    cr_assert(capture_is(&c, 2, 0, "the", "1"));
    cr_assert(capture_is(&c, 3, 0, "lazy", "1"));
    capture_fini(&c);

    /* Digits belong to words; anything else (UTF-8 bytes, '-', '\'') splits. */
    m = capture_message(NULL, "  R2-D2's caf\xc3\xa9 42 ", 0, 1);
    cr_assert_eq(h->handle(&ctx, &m), GREGOR_DONE);
    cr_assert_eq(c.n, 5);
    const char *want[] = {"r2", "d2", "s", "caf", "42"};
    for (size_t i = 0; i < 5; i++)
        cr_assert(capture_is(&c, i, 0, want[i], "1"), "word %zu is '%s'", i, c.msgs[i].key);
    capture_fini(&c);

    /* Nothing to split: no emit, done. */
    gregor_message empty = capture_message(NULL, " ,. ", 0, 2);
    cr_assert_eq(h->handle(&ctx, &empty), GREGOR_DONE);
    gregor_message null = capture_message(NULL, NULL, 0, 3);
    cr_assert_eq(h->handle(&ctx, &null), GREGOR_DONE);
    cr_assert_eq(c.n, 0);
}

Test(split_words, long_words_and_emit_failure)
{
    const gregor_handler *h = handler("split_words");
    capture c;
    capture_init(&c, 1, NULL);
    gregor_ctx ctx;
    capture_ctx(&c, &ctx, NULL, NULL);
    static char line[1100];
    memset(line, 'A', 1000);
    memcpy(line + 1000, " b", 3);
    gregor_message m = capture_message(NULL, line, 0, 0);
    cr_assert_eq(h->handle(&ctx, &m), GREGOR_DONE);
    cr_assert_eq(c.n, 2);
    cr_assert_eq(c.msgs[0].key_len, 1000);
    cr_assert_eq(c.msgs[0].key[0], 'a');
    cr_assert_eq(c.msgs[0].key[999], 'a');
    cr_assert(capture_is(&c, 1, 0, "b", "1"));
    capture_fini(&c);

    c.fail_with = GREGOR_ERR_QUEUE_FULL;
    cr_assert_eq(h->handle(&ctx, &m), GREGOR_RETRY);
    cr_assert_neq(gregor_ctx_error(&ctx)[0], '\0');
}

/* count_words over the messages `keys` of one partition: the emitted
 * values, space-separated, in out. */
static void count(const gregor_handler *h, void *pstate, const char *const *keys, size_t n, char *out, size_t size)
{
    capture c;
    capture_init(&c, 1, NULL);
    gregor_ctx ctx;
    capture_ctx(&c, &ctx, NULL, pstate);
    size_t off = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        gregor_message m = capture_message(keys[i], "1", 0, (int64_t)i);
        cr_assert_eq(h->handle(&ctx, &m), GREGOR_DONE, "%s", gregor_ctx_error(&ctx));
        cr_assert_eq(c.n, i + 1);
        cr_assert_str_eq(c.msgs[i].key, keys[i]);
        off += (size_t)snprintf(out + off, size - off, "%s%s", i ? " " : "", c.msgs[i].value);
    }
    capture_fini(&c);
}

Test(count_words, running_counts_per_partition)
{
    const gregor_handler *h = handler("count_words");
    cr_assert(h->partition_init && h->partition_fini);
    void *p0 = NULL, *p1 = NULL;
    cr_assert_eq(h->partition_init(NULL, "words", 0, &p0), GREGOR_OK);
    cr_assert_eq(h->partition_init(NULL, "words", 1, &p1), GREGOR_OK);
    cr_assert(p0 && p1 && p0 != p1);
    char out[256];
    const char *a[] = {"the", "quick", "the", "lazy", "the"};
    count(h, p0, a, 5, out, sizeof out);
    cr_assert_str_eq(out, "1 1 2 1 3");
    /* Partition 1 has counts of its own. */
    const char *b[] = {"the", "lazy"};
    count(h, p1, b, 2, out, sizeof out);
    cr_assert_str_eq(out, "1 1");
    /* Partition 0 goes on where it was. */
    const char *d[] = {"lazy", "the"};
    count(h, p0, d, 2, out, sizeof out);
    cr_assert_str_eq(out, "2 4");

    /* Any bytes are a key: NUL inside, or not UTF-8. */
    capture c;
    capture_init(&c, 1, NULL);
    gregor_ctx ctx;
    capture_ctx(&c, &ctx, NULL, p1);
    gregor_message m = capture_message("x", "1", 1, 9);
    m.key = "a\0b\xff";
    m.key_len = 4;
    cr_assert_eq(h->handle(&ctx, &m), GREGOR_DONE);
    cr_assert_eq(h->handle(&ctx, &m), GREGOR_DONE);
    cr_assert_str_eq(c.msgs[1].value, "2");
    cr_assert_eq(c.msgs[1].key_len, 4);
    capture_fini(&c);

    /* partition_fini frees everything (ASan/LSan check this test). */
    h->partition_fini(&ctx, p0);
    h->partition_fini(&ctx, p1);
}

Test(count_words, null_key_fails_and_failed_emit_is_not_counted)
{
    const gregor_handler *h = handler("count_words");
    void *p = NULL;
    cr_assert_eq(h->partition_init(NULL, "words", 2, &p), GREGOR_OK);
    capture c;
    capture_init(&c, 1, NULL);
    gregor_ctx ctx;
    capture_ctx(&c, &ctx, NULL, p);
    gregor_message m = capture_message(NULL, "1", 2, 5);
    cr_assert_eq(h->handle(&ctx, &m), GREGOR_FAIL);
    cr_assert(strstr(gregor_ctx_error(&ctx), "in [2] offset 5 has a null key"), "%s", gregor_ctx_error(&ctx));

    m = capture_message("w", "1", 2, 6);
    c.fail_with = GREGOR_ERR_QUEUE_FULL;
    cr_assert_eq(h->handle(&ctx, &m), GREGOR_RETRY);
    c.fail_with = GREGOR_OK;
    cr_assert_eq(h->handle(&ctx, &m), GREGOR_DONE);
    cr_assert(capture_is(&c, 0, 0, "w", "1"), "the refused emit was counted: %s", c.msgs[0].value);
    capture_fini(&c);

    /* Without partition state (no partition_init): FAIL, not a crash. */
    capture_ctx(&c, &ctx, NULL, NULL);
    cr_assert_eq(h->handle(&ctx, &m), GREGOR_FAIL);
    h->partition_fini(&ctx, p);
}

static const char *const routes[] = {"orders", "refunds", "other"};

Test(json_route, routes_by_field)
{
    const gregor_handler *h = handler("json_route");
    fw_kv kv[] = {{.key = "field", .value = "type"}};
    void *state;
    char errstr[256];
    cr_assert_eq(init_with(h, kv, 1, &state, errstr, sizeof errstr), GREGOR_OK, "%s", errstr);
    capture c;
    capture_init(&c, 3, routes);
    gregor_ctx ctx;
    capture_ctx(&c, &ctx, state, NULL);
    gregor_header hdr = {.key = "trace", .key_len = 5, .value = "t1", .value_len = 2};
    gregor_message m = capture_message("k1", "{\"id\": 1, \"type\": \"refunds\"}", 0, 0);
    m.headers = &hdr;
    m.header_count = 1;
    cr_assert_eq(h->handle(&ctx, &m), GREGOR_DONE, "%s", gregor_ctx_error(&ctx));
    m = capture_message("k2", "{\"type\": \"orders\"}", 0, 1);
    cr_assert_eq(h->handle(&ctx, &m), GREGOR_DONE, "%s", gregor_ctx_error(&ctx));
    cr_assert_eq(c.n, 2);
    cr_assert(capture_is(&c, 0, 1, "k1", "{\"id\": 1, \"type\": \"refunds\"}"));
    cr_assert_eq(c.msgs[0].n_headers, 1);
    cr_assert_str_eq(c.msgs[0].header_values[0], "t1");
    cr_assert(capture_is(&c, 1, 0, "k2", "{\"type\": \"orders\"}"));
    capture_fini(&c);
    h->fini(state);
}

/* The message with this value FAILs with an error containing `why`. */
static void route_fails(const gregor_handler *h, void *state, const char *value, const char *why)
{
    capture c;
    capture_init(&c, 3, routes);
    gregor_ctx ctx;
    capture_ctx(&c, &ctx, state, NULL);
    gregor_message m = capture_message("k", value, 0, 0);
    cr_assert_eq(h->handle(&ctx, &m), GREGOR_FAIL, "value %s", value ? value : "(null)");
    cr_assert(strstr(gregor_ctx_error(&ctx), why), "value %s: error '%s' lacks '%s'", value ? value : "(null)",
              gregor_ctx_error(&ctx), why);
    cr_assert_eq(c.n, 0);
}

Test(json_route, unroutable_messages_fail_with_the_reason)
{
    const gregor_handler *h = handler("json_route");
    fw_kv kv[] = {{.key = "field", .value = "type"}};
    void *state;
    char errstr[256];
    cr_assert_eq(init_with(h, kv, 1, &state, errstr, sizeof errstr), GREGOR_OK);
    route_fails(h, state, "not json", "not JSON");
    route_fails(h, state, "{\"type\": \"orders\"", "not JSON");
    route_fails(h, state, NULL, "null");
    route_fails(h, state, "[1, 2]", "no field 'type'");
    route_fails(h, state, "{\"kind\": \"orders\"}", "no field 'type'");
    route_fails(h, state, "{\"type\": 7}", "field 'type' is not a string");
    route_fails(h, state, "{\"type\": \"nowhere\"}", "names no output: 'nowhere'");
    h->fini(state);
}

Test(json_route, default_output_takes_the_unroutable)
{
    const gregor_handler *h = handler("json_route");
    fw_kv kv[] = {{.key = "field", .value = "type"}, {.key = "default_output", .value = "other"}};
    void *state;
    char errstr[256];
    cr_assert_eq(init_with(h, kv, 2, &state, errstr, sizeof errstr), GREGOR_OK);
    capture c;
    capture_init(&c, 3, routes);
    gregor_ctx ctx;
    capture_ctx(&c, &ctx, state, NULL);
    const char *values[] = {"not json", "{\"type\": \"nowhere\"}", "{}", "{\"type\": \"orders\"}"};
    for (size_t i = 0; i < 4; i++) {
        gregor_message m = capture_message("k", values[i], 0, (int64_t)i);
        cr_assert_eq(h->handle(&ctx, &m), GREGOR_DONE, "%s", values[i]);
    }
    cr_assert_eq(c.n, 4);
    for (size_t i = 0; i < 3; i++)
        cr_assert_eq(c.msgs[i].output, 2, "message %zu went to %d", i, c.msgs[i].output);
    cr_assert_eq(c.msgs[3].output, 0);
    capture_fini(&c);
    h->fini(state);

    /* A default_output that is no output of the pipeline: FAIL, named. */
    fw_kv bad[] = {{.key = "field", .value = "type"}, {.key = "default_output", .value = "gone"}};
    cr_assert_eq(init_with(h, bad, 2, &state, errstr, sizeof errstr), GREGOR_OK);
    route_fails(h, state, "{}", "default_output 'gone' is not an output");
    h->fini(state);
}

Test(json_route, init_needs_field)
{
    const gregor_handler *h = handler("json_route");
    void *state;
    char errstr[256];
    cr_assert_eq(init_with(h, NULL, 0, &state, errstr, sizeof errstr), GREGOR_ERR_CONFIG);
    cr_assert(strstr(errstr, "json_route needs params.field"), "%s", errstr);
    cr_assert_null(state);
    fw_kv empty[] = {{.key = "field", .value = ""}};
    cr_assert_eq(init_with(h, empty, 1, &state, errstr, sizeof errstr), GREGOR_ERR_CONFIG);
}

Test(flaky, retries_or_fails_on_the_word)
{
    const gregor_handler *h = handler("flaky");
    const char *modes[] = {NULL, "retry", "fail"};
    const gregor_result want[] = {GREGOR_RETRY, GREGOR_RETRY, GREGOR_FAIL};
    for (size_t i = 0; i < 3; i++) {
        fw_kv kv[] = {{.key = "word", .value = "poison"}, {.key = "mode", .value = modes[i]}};
        void *state;
        char errstr[256];
        cr_assert_eq(init_with(h, kv, modes[i] ? 2 : 1, &state, errstr, sizeof errstr), GREGOR_OK, "%s", errstr);
        capture c;
        capture_init(&c, 1, NULL);
        gregor_ctx ctx;
        capture_ctx(&c, &ctx, state, NULL);
        gregor_message bad = capture_message("k", "a poisoned apple", 0, 0);
        cr_assert_eq(h->handle(&ctx, &bad), want[i], "mode %s", modes[i] ? modes[i] : "(default)");
        cr_assert(strstr(gregor_ctx_error(&ctx), "contains 'poison' (attempt 1)"), "%s", gregor_ctx_error(&ctx));
        gregor_message good = capture_message("k", "an apple", 0, 1);
        cr_assert_eq(h->handle(&ctx, &good), GREGOR_DONE);
        cr_assert_eq(c.n, 1);
        cr_assert(capture_is(&c, 0, 0, "k", "an apple"));
        capture_fini(&c);
        h->fini(state);
    }
}

Test(flaky, init_checks_params)
{
    const gregor_handler *h = handler("flaky");
    void *state;
    char errstr[256];
    cr_assert_eq(init_with(h, NULL, 0, &state, errstr, sizeof errstr), GREGOR_ERR_CONFIG);
    cr_assert(strstr(errstr, "flaky needs params.word"), "%s", errstr);
    fw_kv kv[] = {{.key = "word", .value = "x"}, {.key = "mode", .value = "explode"}};
    cr_assert_eq(init_with(h, kv, 2, &state, errstr, sizeof errstr), GREGOR_ERR_CONFIG);
    cr_assert(strstr(errstr, "params.mode is 'explode'; expected retry or fail"), "%s", errstr);
}
