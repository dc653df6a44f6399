/* Unit tests for the handler registry (framework/registry.c): lookups, the
 * sorted name list, registration errors, duplicates kept from constructors,
 * and plugins (tests/plugins/, built as MODULE libraries without libgregor)
 * loaded with dlopen. Each test runs in its own process, so what one
 * registers is not seen by the next. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "emit_capture.h"
#include "framework/registry.h"

#define PLUGIN(name) GREGOR_TEST_PLUGIN_DIR "/" name ".so"

static gregor_result nothing(gregor_ctx *ctx, const gregor_message *m)
{
    (void)ctx, (void)m;
    return GREGOR_DONE;
}

Test(registry, built_in_handlers_found_by_name)
{
    const char *names[] = {"passthrough", "split_words", "count_words", "json_route", "flaky"};
    for (size_t i = 0; i < 5; i++) {
        const gregor_handler *h = fw_registry_find(names[i]);
        cr_assert(h, "%s not registered", names[i]);
        cr_assert_str_eq(h->name, names[i]);
        cr_assert(h->handle);
    }
    cr_assert_null(fw_registry_find("splitwords"));
    cr_assert_null(fw_registry_find(""));
    cr_assert_null(fw_registry_find(NULL));
    const char *name;
    cr_assert_null(fw_registry_problem(0, &name), "the built-in handlers registered with a problem");
}

Test(registry, names_sorted_and_truncated)
{
    char buf[512];
    fw_registry_names(buf, sizeof buf);
    cr_assert_str_eq(buf, "count_words, flaky, json_route, passthrough, split_words");
    const gregor_handler h = {.name = "aaa_first", .handle = nothing};
    cr_assert_eq(gregor_handler_register(&h), GREGOR_OK);
    const gregor_handler h2 = {.name = "m_middle", .handle = nothing};
    cr_assert_eq(gregor_handler_register(&h2), GREGOR_OK);
    fw_registry_names(buf, sizeof buf);
    cr_assert_str_eq(buf, "aaa_first, count_words, flaky, json_route, m_middle, passthrough, split_words");
    const char *plugin = "x";
    const gregor_handler *prev = NULL;
    size_t n = 0;
    for (const gregor_handler *e; (e = fw_registry_at(n, &plugin)); n++) {
        cr_assert_null(plugin);
        if (prev)
            cr_assert_lt(strcmp(prev->name, e->name), 0);
        prev = e;
    }
    cr_assert_eq(n, 7);
    char small[8];
    fw_registry_names(small, sizeof small);
    cr_assert_str_eq(small, "aaa_fir");
    fw_registry_names(small, 0);
}

Test(registry, register_refuses_bad_handlers)
{
    const gregor_handler unnamed = {.handle = nothing};
    cr_assert_eq(gregor_handler_register(&unnamed), GREGOR_ERR_INVALID_ARG);
    const gregor_handler empty = {.name = "", .handle = nothing};
    cr_assert_eq(gregor_handler_register(&empty), GREGOR_ERR_INVALID_ARG);
    const gregor_handler nofn = {.name = "nofn"};
    cr_assert_eq(gregor_handler_register(&nofn), GREGOR_ERR_INVALID_ARG);
    cr_assert_null(fw_registry_find("nofn"));
    cr_assert_eq(gregor_handler_register(NULL), GREGOR_ERR_INVALID_ARG);
    const gregor_handler dup = {.name = "passthrough", .handle = nothing};
    cr_assert_eq(gregor_handler_register(&dup), GREGOR_ERR_INVALID_ARG);
    cr_assert_neq(fw_registry_find("passthrough")->handle, nothing, "the first registration is replaced");
    /* A batch handler needs no handle. */
    const gregor_handler batch = {.name = "batchy", .handle_batch = (void *)1};
    cr_assert_eq(gregor_handler_register(&batch), GREGOR_OK);
    /* Refused registrations leave no problem behind: the caller had the error. */
    const char *name;
    cr_assert_null(fw_registry_problem(0, &name));
}

Test(registry, duplicate_at_load_kept_with_both_origins)
{
    const gregor_handler dup = {.name = "split_words", .handle = nothing};
    gregor_handler_register_at_load(&dup, "/some/dir/mine.c");
    const gregor_handler nofn = {.name = "broken"};
    gregor_handler_register_at_load(&nofn, "broken.c");
    const char *name = NULL;
    const char *text = fw_registry_problem(0, &name);
    cr_assert(text);
    cr_assert_str_eq(name, "split_words");
    cr_assert(strstr(text, "handler 'split_words' is registered twice: by "), "%s", text);
    cr_assert(strstr(text, "by wordcount.c and by mine.c"), "%s", text);
    text = fw_registry_problem(1, &name);
    cr_assert(text && strstr(text, "handler 'broken' registered by broken.c has neither handle nor handle_batch"),
              "%s", text);
    cr_assert_null(fw_registry_problem(2, &name));
    cr_assert_neq(fw_registry_find("split_words")->handle, nothing, "the first registration is the one used");
}

Test(registry, plugin_registers_its_handler)
{
    char errstr[512] = "";
    cr_assert_null(fw_registry_find("upper"));
    cr_assert_eq(fw_registry_load_plugin(PLUGIN("upper_plugin"), errstr, sizeof errstr), GREGOR_OK, "%s", errstr);
    const gregor_handler *h = fw_registry_find("upper");
    cr_assert(h);
    cr_assert_str_eq(h->description, "upper-cases the value (a test plugin)");
    const char *plugin = NULL;
    size_t i = 0;
    while (fw_registry_at(i, &plugin) != h)
        i++;
    cr_assert_str_eq(plugin, PLUGIN("upper_plugin"));

    /* The plugin's handler runs, calling gregor_emit of this program. */
    capture c;
    capture_init(&c, 1, NULL);
    gregor_ctx ctx;
    capture_ctx(&c, &ctx, NULL, NULL);
    gregor_message m = capture_message("k", "Hello, world 1", 0, 0);
    cr_assert_eq(h->handle(&ctx, &m), GREGOR_DONE);
    cr_assert(capture_is(&c, 0, 0, "k", "HELLO, WORLD 1"));
    capture_fini(&c);

    /* Loading it again changes nothing and is no error. */
    cr_assert_eq(fw_registry_load_plugin(PLUGIN("upper_plugin"), errstr, sizeof errstr), GREGOR_OK, "%s", errstr);
    cr_assert_eq(fw_registry_find("upper"), h);
}

Test(registry, plugin_bare_name_is_in_the_current_directory)
{
    char errstr[512] = "";
    cr_assert_eq(chdir(GREGOR_TEST_PLUGIN_DIR), 0);
    cr_assert_eq(fw_registry_load_plugin("upper_plugin.so", errstr, sizeof errstr), GREGOR_OK, "%s", errstr);
    cr_assert(fw_registry_find("upper"));
    cr_assert_eq(chdir("/"), 0);
    cr_assert_eq(fw_registry_load_plugin("clash_plugin.so", errstr, sizeof errstr), GREGOR_ERR_IO);
    cr_assert(strstr(errstr, "./clash_plugin.so"), "%s", errstr);
}

Test(registry, plugin_bad_path_gives_dlerror)
{
    char errstr[512] = "";
    cr_assert_eq(fw_registry_load_plugin("/nonexistent/dir/x.so", errstr, sizeof errstr), GREGOR_ERR_IO);
    cr_assert(strstr(errstr, "/nonexistent/dir/x.so: cannot open shared object file: No such file or directory"),
              "%s", errstr);
    /* Not a shared object at all. */
    cr_assert_eq(fw_registry_load_plugin(__FILE__, errstr, sizeof errstr), GREGOR_ERR_IO);
    cr_assert(strstr(errstr, __FILE__), "%s", errstr);
    cr_assert_eq(fw_registry_load_plugin("", errstr, sizeof errstr), GREGOR_ERR_INVALID_ARG);
    cr_assert_str_eq(errstr, "empty plugin path");
}

Test(registry, plugin_clash_names_both_origins)
{
    char errstr[512] = "";
    const gregor_handler *before = fw_registry_find("passthrough");
    cr_assert_eq(fw_registry_load_plugin(PLUGIN("clash_plugin"), errstr, sizeof errstr), GREGOR_ERR_INVALID_ARG);
    cr_assert(strstr(errstr, "handler 'passthrough' is registered twice: by "), "%s", errstr);
    cr_assert(strstr(errstr, "by passthrough.c and by "), "%s", errstr);
    cr_assert(strstr(errstr, "clash_plugin.c in " PLUGIN("clash_plugin")), "%s", errstr);
    cr_assert_eq(fw_registry_find("passthrough"), before);
    cr_assert(fw_registry_find("clash_ok"), "the plugin's other handler registers");
}

Test(registry, plugin_without_handlers_is_an_error)
{
    char errstr[512] = "";
    cr_assert_eq(fw_registry_load_plugin(PLUGIN("empty_plugin"), errstr, sizeof errstr), GREGOR_ERR_INVALID_ARG);
    cr_assert(strstr(errstr, "empty_plugin.so registers no handler"), "%s", errstr);
}

/* Registers 50 handlers named tN_i and looks each up, and the built-ins. */
static void *register_many(void *arg)
{
    static char names[4][50][16];
    static gregor_handler hs[4][50];
    int t = (int)(intptr_t)arg;
    char errstr[256];
    if (t == 3 && fw_registry_load_plugin(PLUGIN("upper_plugin"), errstr, sizeof errstr) != GREGOR_OK)
        return (void *)1;
    for (int i = 0; i < 50; i++) {
        snprintf(names[t][i], sizeof names[t][i], "t%d_%d", t, i);
        hs[t][i] = (gregor_handler){.name = names[t][i], .handle = nothing};
        if (gregor_handler_register(&hs[t][i]) != GREGOR_OK || fw_registry_find(names[t][i])->handle != nothing ||
            !fw_registry_find("split_words"))
            return (void *)1;
        char buf[64];
        fw_registry_names(buf, sizeof buf);
    }
    return NULL;
}

Test(registry, concurrent_registrations_lookups_and_loads)
{
    pthread_t th[4];
    for (int t = 0; t < 4; t++)
        cr_assert_eq(pthread_create(&th[t], NULL, register_many, (void *)(intptr_t)t), 0);
    for (int t = 0; t < 4; t++) {
        void *res;
        cr_assert_eq(pthread_join(th[t], &res), 0);
        cr_assert_null(res, "thread %d failed", t);
    }
    size_t n = 0;
    while (fw_registry_at(n, NULL))
        n++;
    cr_assert_eq(n, 5 + 200 + 1);
    cr_assert(fw_registry_find("upper"));
}

/* ------------------------------------------------------------ resolve */

/* Parses `yaml` as file `name` (must be valid) and resolves it: the
 * result, with the errors in d (initialised here; the caller finis it). */
static gregor_err resolve(const char *name, const char *yaml, fw_diags *d)
{
    fw_config *cfg = NULL;
    fw_diags_init(d);
    gregor_err err = fw_config_parse(name, yaml, strlen(yaml), &cfg, d);
    for (size_t i = 0; i < d->n; i++)
        fprintf(stderr, "%s\n", d->msgs[i]);
    cr_assert_eq(err, GREGOR_OK, "the test's YAML is invalid");
    err = fw_registry_resolve(cfg, d);
    fw_config_free(cfg);
    return err;
}

#define PIPELINE(handler, extra)                                                                                   \
    "cluster: { bootstrap: localhost:9092 }\n" extra "pipelines:\n"                                              \
    "  - name: p\n"                                                                                                \
    "    group: g\n"                                                                                               \
    "    topics: [in]\n"                                                                                           \
    "    handler: " handler "\n"                                                                                   \
    "    outputs: [ { name: out, topic: out } ]\n"

Test(resolve, built_in_handler)
{
    fw_diags d;
    cr_assert_eq(resolve("a.yaml", PIPELINE("split_words", ""), &d), GREGOR_OK);
    cr_assert_eq(d.n, 0);
    fw_diags_fini(&d);
}

Test(resolve, unknown_handler_located_with_the_known_names)
{
    fw_diags d;
    cr_assert_eq(unsetenv("GREGOR_PLUGIN_PATH"), 0);
    cr_assert_eq(resolve("a.yaml", PIPELINE("splitwords", ""), &d), GREGOR_ERR_CONFIG);
    cr_assert_eq(d.n, 1);
    cr_assert(strstr(d.msgs[0], "a.yaml:6:14: unknown handler 'splitwords'; known handlers: count_words, flaky, "
                                "json_route, passthrough, split_words; did you mean 'split_words'? (no "
                                "splitwords.so in "),
              "%s", d.msgs[0]);
    cr_assert(strstr(d.msgs[0], "GREGOR_PLUGIN_PATH adds directories"), "%s", d.msgs[0]);
    fw_diags_fini(&d);
    /* Nothing near: no guess. A name that is a path is not searched. */
    cr_assert_eq(resolve("a.yaml", PIPELINE("../x", ""), &d), GREGOR_ERR_CONFIG);
    cr_assert(strstr(d.msgs[0], "unknown handler '../x'; known handlers: count_words, flaky, json_route, "
                                "passthrough, split_words (no"),
              "%s", d.msgs[0]);
    fw_diags_fini(&d);
}

Test(resolve, plugin_key_loads_the_handler)
{
    fw_diags d;
    cr_assert_eq(resolve("a.yaml", PIPELINE("upper\n    plugin: " PLUGIN("upper_plugin"), ""), &d), GREGOR_OK);
    cr_assert(fw_registry_find("upper"));
    fw_diags_fini(&d);
}

Test(resolve, plugin_relative_to_the_yaml_file)
{
    fw_diags d;
    cr_assert_eq(chdir("/"), 0);
    cr_assert_eq(resolve(GREGOR_TEST_PLUGIN_DIR "/x.yaml", PIPELINE("upper", "plugins: [upper_plugin.so]\n"), &d),
                 GREGOR_OK);
    fw_diags_fini(&d);
}

Test(resolve, bad_plugin_path_gives_dlerror_with_the_location)
{
    fw_diags d;
    cr_assert_eq(resolve("b.yaml", PIPELINE("upper\n    plugin: /nonexistent/up.so", "plugins: [nope/x.so]\n"), &d),
                 GREGOR_ERR_CONFIG);
    cr_assert_eq(d.n, 3, "%zu errors", d.n);
    cr_assert(strstr(d.msgs[0], "b.yaml:2:11: plugin 'nope/x.so': nope/x.so: cannot open shared object file"),
              "%s", d.msgs[0]);
    cr_assert(strstr(d.msgs[1], "b.yaml:7:14: plugin '/nonexistent/up.so': /nonexistent/up.so: cannot open shared "
                                "object file: No such file or directory"),
              "%s", d.msgs[1]);
    cr_assert(strstr(d.msgs[2], "b.yaml:7:14: unknown handler 'upper'"), "%s", d.msgs[2]);
    fw_diags_fini(&d);
}

Test(resolve, handler_found_as_name_so_in_the_plugin_path)
{
    /* upper.so in a directory of GREGOR_PLUGIN_PATH (after one without). */
    char dir[] = "/tmp/gregor_plugins_XXXXXX";
    cr_assert(mkdtemp(dir));
    char link[256];
    snprintf(link, sizeof link, "%s/upper.so", dir);
    cr_assert_eq(symlink(PLUGIN("upper_plugin"), link), 0);
    char path[512];
    snprintf(path, sizeof path, "/nonexistent::%s", dir);
    cr_assert_eq(setenv("GREGOR_PLUGIN_PATH", path, 1), 0);
    fw_diags d;
    gregor_err err = resolve("a.yaml", PIPELINE("upper", ""), &d);
    unlink(link);
    rmdir(dir);
    cr_assert_eq(err, GREGOR_OK, "%s", d.n ? d.msgs[0] : "");
    cr_assert(fw_registry_find("upper"));
    fw_diags_fini(&d);

    /* A NAME.so that does not register NAME. */
    snprintf(path, sizeof path, "%s", GREGOR_TEST_PLUGIN_DIR);
    cr_assert_eq(setenv("GREGOR_PLUGIN_PATH", path, 1), 0);
    cr_assert_eq(resolve("a.yaml", PIPELINE("clash_plugin", ""), &d), GREGOR_ERR_CONFIG);
    cr_assert(strstr(d.msgs[0], "a.yaml:6:14: handler 'clash_plugin': plugin " PLUGIN("clash_plugin")
                                ": handler 'passthrough' is registered twice"),
              "%s", d.msgs[0]);
    fw_diags_fini(&d);
    cr_assert_eq(resolve("a.yaml", PIPELINE("empty_plugin", ""), &d), GREGOR_ERR_CONFIG);
    cr_assert(strstr(d.msgs[0], "handler 'empty_plugin': plugin " PLUGIN("empty_plugin") ": " PLUGIN(
                                    "empty_plugin") " registers no handler"),
              "%s", d.msgs[0]);
    fw_diags_fini(&d);
}

Test(resolve, duplicate_from_load_reported_at_the_handler)
{
    const gregor_handler dup = {.name = "flaky", .handle = nothing};
    gregor_handler_register_at_load(&dup, "other.c");
    fw_diags d;
    cr_assert_eq(resolve("c.yaml", PIPELINE("flaky", ""), &d), GREGOR_ERR_CONFIG);
    cr_assert_eq(d.n, 1);
    cr_assert(strstr(d.msgs[0], "c.yaml:6:14: handler 'flaky' is registered twice: by flaky.c and by other.c"), "%s",
              d.msgs[0]);
    fw_diags_fini(&d);
    /* A pipeline naming another handler is not concerned. */
    cr_assert_eq(resolve("c.yaml", PIPELINE("passthrough", ""), &d), GREGOR_OK);
    fw_diags_fini(&d);
}
