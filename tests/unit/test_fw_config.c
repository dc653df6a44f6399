/* Unit tests for the pipeline file loader (framework/config.h): a full
 * config into every field, the defaults of a minimal one, ${VAR}
 * substitution, one bad file per fault under tests/data/conf/bad/ (each
 * error's exact FILE:LINE:COL and its key words), several errors reported
 * at once, and no memory kept after fw_config_free / fw_diags_fini. */
#include <criterion/criterion.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "framework/config.h"
#include "framework/config_env.h"
#include "framework/nearest.h"
#include "gregor/client.h"
#include "testutil.h"

#define CONF_DIR GREGOR_TEST_DATA_DIR "/conf"

static fw_config *load_good(const char *name, fw_diags *d)
{
    char path[512];
    snprintf(path, sizeof path, CONF_DIR "/good/%s", name);
    fw_config *cfg = NULL;
    fw_diags_init(d);
    gregor_err err = fw_config_load(path, &cfg, d);
    for (size_t i = 0; i < d->n; i++)
        fprintf(stderr, "%s\n", d->msgs[i]);
    cr_assert_eq(err, GREGOR_OK, "%s: %d errors", name, (int)d->n);
    cr_assert_not_null(cfg);
    cr_assert_eq(d->n, 0);
    return cfg;
}

static const char *kv(const fw_kvlist *l, const char *key)
{
    for (size_t i = 0; i < l->n; i++)
        if (!strcmp(l->items[i].key, key))
            return l->items[i].value;
    return NULL;
}

Test(fw_config, full_file_into_every_field)
{
    unsetenv("GREGOR_TEST_BOOTSTRAP");
    fw_diags d;
    fw_config *cfg = load_good("full.yaml", &d);
    cr_assert_eq(cfg->cluster.n, 3);
    cr_assert_str_eq(kv(&cfg->cluster, "bootstrap"), "localhost:9092,[::1]:9093");
    cr_assert_eq(cfg->bootstrap_loc.line, 3);
    cr_assert_eq(cfg->bootstrap_loc.col, 14);
    cr_assert_str_eq(kv(&cfg->cluster, "client_id"), "wordcount");
    cr_assert_str_eq(kv(&cfg->cluster, "request.timeout.ms"), "20000");
    cr_assert_eq(cfg->n_plugins, 1);
    cr_assert_str_eq(cfg->plugins[0], "plugins/extra.so");
    cr_assert_eq(cfg->plugin_locs[0].line, 6);
    cr_assert_eq(cfg->shutdown_timeout_ms, 20000);

    cr_assert_eq(cfg->n_producers, 2);
    const fw_producer_conf *def = fw_config_producer(cfg, "default"), *bulk = fw_config_producer(cfg, "bulk");
    cr_assert_not_null(def);
    cr_assert_not_null(bulk);
    cr_assert_eq(def->options.n, 3);
    cr_assert_str_eq(kv(&def->options, "compression"), "lz4");
    cr_assert_str_eq(kv(&bulk->options, "batch.size"), "262144");
    cr_assert_eq(bulk->loc.line, 9);
    cr_assert_null(fw_config_producer(cfg, "nope"));

    cr_assert_eq(cfg->n_pipelines, 2);
    const fw_pipeline_conf *p = &cfg->pipelines[0];
    cr_assert_str_eq(p->name, "split");
    cr_assert_str_eq(p->group, "wordcount-split");
    cr_assert_eq(p->group_loc.line, 15);
    cr_assert_eq(p->group_loc.col, 12);
    cr_assert_eq(p->n_topics, 2);
    cr_assert_str_eq(p->topics[1], "more.lines");
    cr_assert_null(p->pattern);
    cr_assert_str_eq(p->handler, "split_words");
    cr_assert_eq(p->handler_loc.line, 17);
    cr_assert_null(p->plugin);
    cr_assert_eq(p->params.n, 3);
    cr_assert_str_eq(kv(&p->params, "min_length"), "1");
    cr_assert_str_eq(kv(&p->params, "lower"), "true");
    cr_assert_str_eq(kv(&p->params, "sep"), " ");
    cr_assert_eq(p->threads, 4);
    cr_assert_eq(p->ordering, FW_ORDER_NONE);
    cr_assert_eq(p->batch_size, 50);
    cr_assert_eq(p->n_outputs, 3);
    cr_assert_str_eq(p->outputs[0].name, "words");
    cr_assert_str_eq(p->outputs[0].producer, "bulk");
    cr_assert_eq(p->outputs[0].partition, FW_ROUTE_AUTO);
    cr_assert_eq(p->outputs[0].key, FW_KEY_EMITTED);
    cr_assert_str_eq(p->outputs[1].producer, "default");
    cr_assert_eq(p->outputs[1].partition, FW_ROUTE_INPUT);
    cr_assert_eq(p->outputs[1].key, FW_KEY_INPUT);
    cr_assert_str_eq(p->outputs[2].name, "pinned"); /* the topic, when no name is written */
    cr_assert_eq(p->outputs[2].partition, FW_ROUTE_FIXED);
    cr_assert_eq(p->outputs[2].fixed_partition, 3);
    cr_assert_eq(p->max_attempts, 5);
    cr_assert_eq(p->backoff_ms, 200);
    cr_assert_eq(p->max_backoff_ms, 5000);
    cr_assert_str_eq(p->dead_letter, "words.dlq");
    cr_assert_str_eq(p->dead_letter_producer, "bulk");
    cr_assert_eq(p->commit_interval_ms, 500);
    cr_assert_eq(p->max_in_flight_messages, 200);
    cr_assert_eq(p->max_in_flight_bytes, 1048576);
    cr_assert_eq(p->drain_timeout_ms, 10000);
    cr_assert_str_eq(kv(&p->consumer, "session_timeout_ms"), "10000");
    cr_assert_str_eq(kv(&p->consumer, "auto.offset.reset"), "earliest");

    p = &cfg->pipelines[1];
    cr_assert_eq(p->n_topics, 0);
    cr_assert_str_eq(p->pattern, "^words(\\..*)?$");
    cr_assert_str_eq(p->plugin, "plugins/count.so");
    cr_assert_eq(p->ordering, FW_ORDER_KEY);

    /* The clients' configs: cluster options, then the pipeline's over them. */
    gregor_config *c = fw_config_client(cfg, &cfg->pipelines[0].consumer);
    cr_assert_not_null(c);
    cr_assert_str_eq(gregor_config_get(c, "bootstrap"), "localhost:9092,[::1]:9093");
    cr_assert_str_eq(gregor_config_get(c, "request_timeout_ms"), "20000");
    cr_assert_str_eq(gregor_config_get(c, "auto_offset_reset"), "earliest");
    cr_assert_str_eq(gregor_config_get(c, "linger_ms"), "5"); /* the default: producer options stay out */
    gregor_config_destroy(c);
    c = fw_config_client(cfg, &bulk->options);
    cr_assert_str_eq(gregor_config_get(c, "linger_ms"), "50");
    cr_assert_str_eq(gregor_config_get(c, "client_id"), "wordcount");
    gregor_config_destroy(c);
    fw_config_free(cfg);
    fw_diags_fini(&d);
}

Test(fw_config, minimal_file_takes_the_defaults)
{
    fw_diags d;
    fw_config *cfg = load_good("minimal.yaml", &d);
    cr_assert_eq(cfg->cluster.n, 0);
    cr_assert_eq(cfg->n_plugins, 0);
    cr_assert_eq(cfg->shutdown_timeout_ms, 30000);
    cr_assert_eq(cfg->n_producers, 1);
    cr_assert_str_eq(cfg->producers[0].name, "default");
    cr_assert_eq(cfg->producers[0].options.n, 0);
    cr_assert_eq(cfg->n_pipelines, 1);
    const fw_pipeline_conf *p = &cfg->pipelines[0];
    cr_assert_eq(p->n_topics, 1); /* one topic written as a string */
    cr_assert_str_eq(p->topics[0], "in");
    cr_assert_eq(p->loc.line, 3);
    cr_assert_eq(p->loc.col, 5);
    cr_assert_eq(p->threads, 1);
    cr_assert_eq(p->ordering, FW_ORDER_PARTITION);
    cr_assert_eq(p->batch_size, 100);
    cr_assert_eq(p->n_outputs, 0);
    cr_assert_eq(p->max_attempts, 3);
    cr_assert_eq(p->backoff_ms, 100);
    cr_assert_eq(p->max_backoff_ms, 10000);
    cr_assert_null(p->dead_letter);
    cr_assert_str_eq(p->dead_letter_producer, "default");
    cr_assert_eq(p->commit_interval_ms, 1000);
    cr_assert_eq(p->max_in_flight_messages, 10000);
    cr_assert_eq(p->max_in_flight_bytes, 4 << 20);
    cr_assert_eq(p->drain_timeout_ms, 30000);
    cr_assert_eq(p->consumer.n, 0);
    cr_assert_eq(p->params.n, 0);
    cr_assert_not(p->log_payloads);
    cr_assert_eq(cfg->log.n, 0);
    gregor_config *c = fw_config_client(cfg, NULL);
    cr_assert_str_eq(gregor_config_get(c, "bootstrap"), "localhost:9092");
    gregor_config_destroy(c);
    fw_config_free(cfg);
    fw_diags_fini(&d);
}

/* ------------------------------------------------------------ ${VAR} */

/* Expands `in` alone; returns the result (static) or NULL on error. */
static const char *expand(const char *in, fw_diags *d)
{
    static char out[256];
    arena a;
    arena_init(&a, 1 << 20);
    const char *s;
    size_t len;
    fw_loc loc = {"t.yaml", 4, 9};
    gregor_err err = fw_env_expand(in, strlen(in), &a, &loc, d, &s, &len);
    snprintf(out, sizeof out, "%s", s);
    arena_fini(&a);
    return err == GREGOR_OK ? out : NULL;
}

Test(fw_config, env_substitution)
{
    fw_diags d;
    fw_diags_init(&d);
    setenv("GREGOR_T_HOST", "kafka1", 1);
    setenv("GREGOR_T_EMPTY", "", 1);
    unsetenv("GREGOR_T_UNSET");
    cr_assert_str_eq(expand("${GREGOR_T_HOST}:9092", &d), "kafka1:9092");
    cr_assert_str_eq(expand("${GREGOR_T_HOST:-other}", &d), "kafka1");
    cr_assert_str_eq(expand("${GREGOR_T_UNSET:-local host:1}", &d), "local host:1");
    cr_assert_str_eq(expand("${GREGOR_T_EMPTY:-dflt}", &d), "dflt"); /* empty counts as unset with :- */
    cr_assert_str_eq(expand("[${GREGOR_T_EMPTY}]", &d), "[]");       /* but is a value without */
    cr_assert_str_eq(expand("cost $$5, $${HOME}", &d), "cost $5, ${HOME}");
    cr_assert_str_eq(expand("^orders\\..*$", &d), "^orders\\..*$"); /* a lone '$' stays */
    cr_assert_str_eq(expand("${GREGOR_T_HOST}${GREGOR_T_HOST}", &d), "kafka1kafka1");
    cr_assert_eq(d.n, 0);

    cr_assert_null(expand("x${GREGOR_T_UNSET}y", &d));
    cr_assert_eq(d.n, 1);
    cr_assert_str_eq(d.msgs[0], "t.yaml:4:9: environment variable 'GREGOR_T_UNSET' is not set "
                                "(write ${GREGOR_T_UNSET:-default} for a default)");
    cr_assert_null(expand("${GREGOR_T_HOST", &d));
    cr_assert(strstr(d.msgs[1], "t.yaml:4:9: '${' without a closing '}'"), "%s", d.msgs[1]);
    cr_assert_null(expand("${9LIVES}", &d));
    cr_assert_null(expand("${A-b}", &d));
    cr_assert_null(expand("${}", &d));
    cr_assert_eq(d.n, 5);
    cr_assert(strstr(d.msgs[2], "'${9LIVES}' is not a variable reference"), "%s", d.msgs[2]);
    fw_diags_fini(&d);
}

Test(fw_config, env_in_a_file_reaches_every_scalar)
{
    setenv("GREGOR_T_BOOT", "b1:9092,b2:9093", 1);
    setenv("GREGOR_T_THREADS", "8", 1);
    setenv("GREGOR_T_KEY", "ordering", 1);
    const char *text = "cluster: { bootstrap: \"${GREGOR_T_BOOT}\" }\n"
                       "pipelines:\n"
                       "  - { name: p, group: \"g-${GREGOR_T_UNSET_Q:-dev}\", topics: [in], handler: h,\n"
                       "      threads: \"${GREGOR_T_THREADS}\", \"${GREGOR_T_KEY}\": key, params: { cost: \"$$3\" },\n"
                       "      dead_letter: \"${GREGOR_T_UNSET_Q:-}\", dead_letter_producer: default }\n";
    unsetenv("GREGOR_T_UNSET_Q");
    fw_diags d;
    fw_diags_init(&d);
    fw_config *cfg = NULL;
    gregor_err err = fw_config_parse("env.yaml", text, strlen(text), &cfg, &d);
    cr_assert_eq(err, GREGOR_OK, "%s", d.n ? d.msgs[0] : "");
    cr_assert_str_eq(kv(&cfg->cluster, "bootstrap"), "b1:9092,b2:9093");
    cr_assert_str_eq(cfg->pipelines[0].group, "g-dev");
    cr_assert_eq(cfg->pipelines[0].threads, 8);
    cr_assert_eq(cfg->pipelines[0].ordering, FW_ORDER_KEY);
    cr_assert_str_eq(kv(&cfg->pipelines[0].params, "cost"), "$3");
    cr_assert_null(cfg->pipelines[0].dead_letter); /* empty: none */
    fw_config_free(cfg);
    fw_diags_fini(&d);
}

/* ------------------------------------------------------ bad files */

/* Loads bad/NAME, which must fail with exactly `n_expected` errors; the
 * i-th is "PATH:" + expected[i].at + ": ..." holding every word of
 * expected[i].words ('|'-separated). */
typedef struct expect {
    const char *at;
    const char *words;
} expect;

static void check_bad(const char *name, const expect *expected, size_t n_expected)
{
    char path[512];
    snprintf(path, sizeof path, CONF_DIR "/bad/%s", name);
    fw_diags d;
    fw_diags_init(&d);
    fw_config *cfg = (fw_config *)1;
    gregor_err err = fw_config_load(path, &cfg, &d);
    for (size_t i = 0; i < d.n; i++)
        fprintf(stderr, "%s\n", d.msgs[i]);
    cr_assert_eq(err, GREGOR_ERR_CONFIG, "%s: %d", name, err);
    cr_assert_null(cfg);
    cr_assert_eq(d.n, n_expected, "%s: %zu errors, expected %zu", name, d.n, n_expected);
    for (size_t i = 0; i < n_expected; i++) {
        char prefix[600];
        snprintf(prefix, sizeof prefix, "%s:%s: ", path, expected[i].at);
        cr_assert(!strncmp(d.msgs[i], prefix, strlen(prefix)), "%s: error %zu is '%s', expected at %s", name, i,
                  d.msgs[i], expected[i].at);
        char words[300];
        snprintf(words, sizeof words, "%s", expected[i].words);
        for (char *save = NULL, *w = strtok_r(words, "|", &save); w; w = strtok_r(NULL, "|", &save))
            cr_assert(strstr(d.msgs[i], w), "%s: '%s' lacks '%s'", name, d.msgs[i], w);
    }
    fw_diags_fini(&d);
}

#define CHECK_BAD(name, ...)                                                                                   \
    do {                                                                                                       \
        static const expect e_[] = {__VA_ARGS__};                                                              \
        check_bad(name, e_, sizeof e_ / sizeof e_[0]);                                                         \
    } while (0)

/* One file per fault under tests/data/conf/bad/: each error's exact place
 * and key words (one test: Criterion starts a process per test, which is
 * what valgrind makes slow in CI). */
Test(fw_config_bad, each_file_gives_its_errors)
{
    /* syntax error */
    CHECK_BAD("syntax.yaml", {"5:12", "did not find expected ',' or ']'|while parsing a flow sequence at 4:13"});
    /* unknown key suggests the nearest */
    CHECK_BAD("unknown_key.yaml", {"6:5", "unknown key 'thread'; did you mean 'threads'?"});
    /* wrong type */
    CHECK_BAD("wrong_type.yaml", {"6:14", "'threads' must be an integer from 1 to 1024, not 'four'"});
    CHECK_BAD("map_for_list.yaml", {"4:13", "'topics' must be a list|not a map"});
    /* missing handler */
    CHECK_BAD("missing_handler.yaml", {"2:5", "pipeline 'copy': missing 'handler'"});
    /* bad bootstrap address */
    CHECK_BAD("bad_bootstrap.yaml", {"2:14", "bad broker address 'broker2:99999'|host:port|1 to 65535"});
    /* output names an undefined producer */
    CHECK_BAD("unknown_producer.yaml", {"9:44", "no producer named 'fast'|bulk, default"});
    /* unknown options */
    CHECK_BAD("unknown_option_cluster.yaml",
              {"3:3", "unknown option 'request_timeout'|did you mean 'request_timeout_ms'?"});
    CHECK_BAD("unknown_option_producer.yaml", {"3:5", "unknown option 'linger'|did you mean 'linger_ms'?"});
    CHECK_BAD("unknown_option_consumer.yaml",
              {"6:17", "unknown option 'session_timeout'|did you mean 'session_timeout_ms'?"});
    /* bad option value */
    CHECK_BAD("bad_option_value.yaml", {"2:36", "linger_ms: 'soon' is not an integer"});
    /* options the framework sets are refused */
    CHECK_BAD("refused_option.yaml", {"7:7", "'group.id' may not be set under 'consumer'|'group'"},
              {"8:7", "'enable_auto_commit' may not be set|commits offsets itself"});
    /* env var unset */
    unsetenv("GREGOR_TEST_UNSET_GROUP");
    CHECK_BAD("env_unset.yaml", {"3:12", "environment variable 'GREGOR_TEST_UNSET_GROUP' is not set"});
    /* bad ordering lists the three */
    CHECK_BAD("bad_ordering.yaml", {"6:15", "'ordering' must be one of partition, key, none; not 'random'"});
    /* duplicate names */
    CHECK_BAD("duplicates.yaml", {"8:9", "output name 'out' is used twice in pipeline 'copy' (first at 7:9)"},
              {"9:5", "pipeline name 'copy' is used twice (first at 2:5)"});
    /* topics and pattern exclude each other */
    CHECK_BAD("topics_and_pattern.yaml", {"5:20", "give 'topics' or 'topic_pattern', not both"});
    /* no pipelines */
    CHECK_BAD("no_pipelines.yaml", {"3:12", "no pipelines"});
    /* several errors all reported */
    CHECK_BAD("several.yaml", {"2:14", "bad broker address 'localhost'"},
              {"3:3", "unknown option 'lingr_ms'|did you mean 'linger_ms'?"},
              {"9:14", "'threads' must be an integer from 1 to 1024, not '0'"},
              {"10:15", "'ordering' must be one of partition, key, none; not 'sorted'"},
              {"11:5", "pipeline 'second': missing 'group'"},
              {"14:28", "'retry.max_attempts' must be an integer from 1 to 1000, not 'many'"},
              {"15:18", "'dead_letter': topic name 'bad topic' may only have letters, digits"});
}

/* ------------------------------------------------------ odd YAML */

/* Parses `text` as NAME; returns the number of errors, the first in
 * *first, the last in *last (when not NULL). */
static size_t parse_named(const char *name, const char *text, size_t len, char *first, char *last, size_t size)
{
    fw_diags d;
    fw_diags_init(&d);
    fw_config *cfg = NULL;
    gregor_err err = fw_config_parse(name, text, len, &cfg, &d);
    size_t n = d.n;
    snprintf(first, size, "%s", n ? d.msgs[0] : "");
    if (last)
        snprintf(last, size, "%s", n ? d.msgs[n - 1] : "");
    cr_assert_eq(err == GREGOR_OK, n == 0);
    fw_config_free(cfg);
    fw_diags_fini(&d);
    return n;
}

static size_t parse_errors(const char *text, size_t len, char *first, size_t size)
{
    return parse_named("o.yaml", text, len, first, NULL, size);
}

/* Faults written inline: a key far from any, an empty bootstrap list,
 * more than 100 errors, a file that is not there. */
Test(fw_config_bad, inline_faults)
{
    char first[1024], last[1024];
    const char far[] = "pipelines: []\nzzzzzz: 1\n";
    cr_assert_eq(parse_named("x.yaml", far, strlen(far), first, last, sizeof first), 2);
    cr_assert_str_eq(first, "x.yaml:2:1: unknown key 'zzzzzz'; expected one of: cluster, plugins, producers, "
                            "shutdown_timeout_ms, pipelines, log, swarm");
    cr_assert_str_eq(last, "x.yaml:1:12: no pipelines: 'pipelines' must list at least one");

    const char empty[] = "cluster: { bootstrap: [] }\npipelines: [{name: a, group: g, topics: [t], handler: h}]\n";
    cr_assert_eq(parse_named("b.yaml", empty, strlen(empty), first, NULL, sizeof first), 1);
    cr_assert_str_eq(first, "b.yaml:1:23: 'bootstrap' names no broker: expected host:port (or a list of them)");

    char many[16384] = "";
    for (int i = 0; i < 1000; i++)
        snprintf(many + strlen(many), sizeof many - strlen(many), "k%d: 1\n", i);
    cr_assert_eq(parse_named("m.yaml", many, strlen(many), first, last, sizeof first), 101);
    cr_assert_str_eq(first, "m.yaml:1:1: unknown key 'k0'; expected one of: cluster, plugins, producers, "
                            "shutdown_timeout_ms, pipelines, log, swarm");
    cr_assert_str_eq(last, "m.yaml: more than 100 errors; the rest are not shown");

    fw_diags d;
    fw_diags_init(&d);
    fw_config *cfg = NULL;
    cr_assert_eq(fw_config_load(CONF_DIR "/no-such-file.yaml", &cfg, &d), GREGOR_ERR_IO);
    cr_assert_eq(d.n, 1);
    cr_assert_str_eq(d.msgs[0], CONF_DIR "/no-such-file.yaml: cannot open: No such file or directory");
    fw_diags_fini(&d);
}

/* log: {format, file, level} at the top and log_payloads per pipeline;
 * their values checked as `gregor run -X log_*` checks them, located. */
Test(fw_config, log_map_and_log_payloads)
{
    const char good[] = "log: {format: json, file: /tmp/run.log, level: warn}\n"
                        "pipelines: [{name: a, group: g, topics: [t], handler: h, log_payloads: true}]\n";
    fw_diags d;
    fw_diags_init(&d);
    fw_config *cfg = NULL;
    cr_assert_eq(fw_config_parse("l.yaml", good, strlen(good), &cfg, &d), GREGOR_OK, "%s", d.n ? d.msgs[0] : "");
    cr_assert_eq(cfg->log.n, 3);
    cr_assert_str_eq(cfg->log.items[0].key, "format");
    cr_assert_str_eq(cfg->log.items[0].value, "json");
    cr_assert_str_eq(cfg->log.items[1].value, "/tmp/run.log");
    cr_assert_str_eq(cfg->log.items[2].value, "warn");
    cr_assert(cfg->pipelines[0].log_payloads);
    fw_config_free(cfg);
    fw_diags_fini(&d);

    char first[1024], last[1024];
    const char bad[] = "log: {format: xml, levle: warn}\n"
                       "pipelines: [{name: a, group: g, topics: [t], handler: h, log_payloads: maybe}]\n";
    cr_assert_eq(parse_named("l.yaml", bad, strlen(bad), first, last, sizeof first), 3);
    cr_assert_str_eq(first, "l.yaml:1:20: unknown key 'levle'; did you mean 'level'?");
    cr_assert_str_eq(last, "l.yaml:2:72: 'log_payloads' must be one of false, true; not 'maybe'");
    const char bad_format[] = "log: {format: xml}\npipelines: [{name: a, group: g, topics: [t], handler: h}]\n";
    cr_assert_eq(parse_named("l.yaml", bad_format, strlen(bad_format), first, NULL, sizeof first), 1);
    cr_assert_str_eq(first, "l.yaml:1:15: log.format: 'xml' is not a log format (json or text)");
}

Test(fw_config_bad, odd_yaml_is_an_error_not_a_crash)
{
    char first[1024];
    char deep[300] = "pipelines: ";
    for (int i = 0; i < 100; i++)
        strcat(deep, "[");
    for (int i = 0; i < 100; i++)
        strcat(deep, "]");
    cr_assert_geq(parse_errors(deep, strlen(deep), first, sizeof first), 1);
    cr_assert(strstr(first, "nested more than 64 deep"), "%s", first);
    cr_assert_eq(parse_errors("", 0, first, sizeof first), 1);
    cr_assert_str_eq(first, "o.yaml:1:1: the file is empty: expected a map with 'pipelines'");
    /* libyaml's scanner is quadratic in the nesting it has read: a megabyte
     * of '[' must be refused at the 65th (minutes of parsing otherwise). */
    char *mega = malloc(1 << 20);
    cr_assert_not_null(mega);
    memset(mega, '[', 1 << 20);
    cr_assert_eq(parse_errors(mega, 1 << 20, first, sizeof first), 1);
    cr_assert_str_eq(first, "o.yaml:1:65: lists and maps nested more than 64 deep");
    free(mega);
    cr_assert_eq(parse_errors("- a\n- b\n", 8, first, sizeof first), 1);
    cr_assert(strstr(first, "o.yaml:1:1: the file must be a map"), "%s", first);
    const char two[] = "pipelines: [{name: a, group: g, topics: [t], handler: h}]\n---\nx: 1\n";
    cr_assert_eq(parse_errors(two, strlen(two), first, sizeof first), 1);
    cr_assert(strstr(first, "o.yaml:2:1: a second YAML document"), "%s", first);
    const char nul[] = "pipelines: [{name: \"a\\0b\", group: g, topics: [t], handler: h}]\n";
    cr_assert_eq(parse_errors(nul, strlen(nul), first, sizeof first), 1);
    cr_assert(strstr(first, "o.yaml:1:20: a value may not contain a NUL character"), "%s", first);
    const char bad_utf8[] = "pipelines:\n  - name: \xff\n";
    cr_assert_eq(parse_errors(bad_utf8, strlen(bad_utf8), first, sizeof first), 1);
    cr_assert(strstr(first, "o.yaml:2:11: invalid leading UTF-8 octet (byte 0xff)"), "%s", first);
    /* An alias inside the node it names is refused, and so are aliases that
     * would copy out to more than YT_MAX_VALUES values. */
    const char cyclic[] = "pipelines: [{name: a, group: g, topics: &t [x, *t], handler: h}]\n";
    cr_assert_eq(parse_errors(cyclic, strlen(cyclic), first, sizeof first), 1);
    cr_assert_str_eq(first, "o.yaml:1:48: an alias inside the node it names (a cycle)");
    const char undefined[] = "pipelines: [{name: a, group: g, topics: *t, handler: h}]\n";
    cr_assert_eq(parse_errors(undefined, strlen(undefined), first, sizeof first), 1);
    cr_assert_str_eq(first, "o.yaml:1:41: alias '*t' names no anchor defined before it");
    char laughs[2000] = "a: &a [x, x, x, x, x, x, x, x, x, x]\n";
    for (char c = 'b'; c <= 'f'; c++) /* 10^6 values */
        snprintf(laughs + strlen(laughs), sizeof laughs - strlen(laughs),
                 "%c: &%c [*%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c]\n", c, c, c - 1, c - 1, c - 1, c - 1,
                 c - 1, c - 1, c - 1, c - 1, c - 1, c - 1);
    cr_assert_eq(parse_errors(laughs, strlen(laughs), first, sizeof first), 1);
    cr_assert(strstr(first, "more than 100000 values once aliases are copied out"), "%s", first);
    const char *many = "pipelines: [[";
    char big[8192];
    snprintf(big, sizeof big, "%s", many);
    for (int i = 0; i < 1025; i++)
        strcat(big, "1,");
    strcat(big, "]]\n");
    cr_assert_eq(parse_errors(big, strlen(big), first, sizeof first), 1);
    cr_assert_str_eq(first, "o.yaml:1:13: a list or map with more than 1024 entries");
    const char dup[] = "pipelines: [{name: a, group: g, topics: [t], handler: h, threads: 2, threads: 3}]\n";
    cr_assert_eq(parse_errors(dup, strlen(dup), first, sizeof first), 1);
    cr_assert_str_eq(first, "o.yaml:1:70: 'threads' is given twice (first at 1:58)");
}

Test(fw_config, nearest_name)
{
    static const char *const keys[] = {"threads", "topics", "topic_pattern", "group"};
    cr_assert_str_eq(fw_nearest("thread", keys, 4), "threads");
    cr_assert_str_eq(fw_nearest("tpoics", keys, 4), "topics"); /* a swap costs 1 */
    cr_assert_str_eq(fw_nearest("grop", keys, 4), "group");
    cr_assert_null(fw_nearest("handler", keys, 4));
    cr_assert_eq(fw_edit_distance("kitten", "sitting", 10), 3);
    cr_assert_eq(fw_edit_distance("kitten", "sitting", 2), 3); /* past the limit: limit + 1 */
}

/* ------------------------------------------------------ memory */

/* Bytes the allocator has handed out and not had back: the sanitizer's
 * count under ASan/TSan, glibc's otherwise (valgrind checks it in CI). */
size_t __sanitizer_get_current_allocated_bytes(void) __attribute__((weak));

static size_t heap_in_use(void)
{
    if (__sanitizer_get_current_allocated_bytes)
        return __sanitizer_get_current_allocated_bytes();
    return mallinfo2().uordblks;
}

static void load_all_once(void)
{
    static const char *const files[] = {
        "good/full.yaml", "good/minimal.yaml", "bad/syntax.yaml", "bad/several.yaml", "bad/duplicates.yaml",
        "bad/env_unset.yaml", "bad/bad_bootstrap.yaml", "bad/refused_option.yaml"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char path[512];
        snprintf(path, sizeof path, CONF_DIR "/%s", files[i]);
        fw_diags d;
        fw_diags_init(&d);
        fw_config *cfg = NULL;
        if (fw_config_load(path, &cfg, &d) == GREGOR_OK) {
            gregor_config *c = fw_config_client(cfg, &cfg->pipelines[0].consumer);
            cr_assert_not_null(c);
            gregor_config_destroy(c);
        }
        fw_config_free(cfg);
        fw_diags_fini(&d);
    }
}

Test(fw_config, nothing_is_kept_after_free)
{
    unsetenv("GREGOR_TEST_UNSET_GROUP");
    load_all_once(); /* first-use allocations (stdio, locale) happen here */
    size_t before = heap_in_use();
    for (int i = 0; i < 20; i++)
        load_all_once();
    cr_assert_eq(heap_in_use(), before, "%zu bytes before, %zu after", before, heap_in_use());
}
