/* framework/config_pipeline.c — the schema of one pipeline (the items of
 * `pipelines:`) with its defaults, outputs, retry and in-flight bounds,
 * and the checks that span pipelines (unique names). Defaults are those of
 * config.h and docs/PIPELINES.md: keep the three in step. */
#include <regex.h>
#include <stdio.h>
#include <string.h>

#include "framework/config_walk.h"

static const char *const pipeline_keys[] = {
    "name", "group", "topics", "topic_pattern", "handler", "plugin", "params", "threads", "ordering",
    "batch_size", "outputs", "retry", "dead_letter", "dead_letter_producer", "commit_interval_ms",
    "max_in_flight", "drain_timeout_ms", "consumer", "log_payloads", "handler_timeout_ms"};
static const char *const output_keys[] = {"name", "topic", "producer", "partition", "key"};
static const char *const retry_keys[] = {"max_attempts", "backoff_ms", "max_backoff_ms"};
static const char *const in_flight_keys[] = {"messages", "bytes"};

#define N(a) (sizeof(a) / sizeof(a)[0])

static void defaults(fw_pipeline_conf *p)
{
    *p = (fw_pipeline_conf){
        .threads = 1,
        .ordering = FW_ORDER_PARTITION,
        .max_attempts = 3,
        .backoff_ms = 100,
        .max_backoff_ms = 10000,
        .dead_letter_producer = "default",
        .commit_interval_ms = 1000,
        .max_in_flight_messages = 10000,
        .max_in_flight_bytes = 4 << 20,
        .batch_size = 100,
        .drain_timeout_ms = 30000,
    };
}

/* A producer named by an output or dead_letter_producer must be defined. */
static void producer_exists(fw_walk *w, const fw_config *cfg, const yt_node *n, const char *name)
{
    if (fw_config_producer(cfg, name))
        return;
    char list[400];
    size_t off = 0;
    list[0] = '\0';
    for (size_t i = 0; i < cfg->n_producers && off < sizeof list; i++)
        off += (size_t)snprintf(list + off, sizeof list - off, "%s%s", i ? ", " : "", cfg->producers[i].name);
    fw_walk_error(w, &n->loc, "no producer named '%s' (defined under 'producers': %s)", name, list);
}

static void walk_partition(fw_walk *w, const yt_node *n, fw_output *o)
{
    if (!n || (n->kind == YT_SCALAR && !strcmp(n->text, "auto")))
        return;
    if (n->kind == YT_SCALAR && !strcmp(n->text, "input")) {
        o->partition = FW_ROUTE_INPUT;
        return;
    }
    if (n->kind != YT_SCALAR || !*n->text || strspn(n->text, "0123456789") != strlen(n->text)) {
        char what[80];
        fw_walk_error(w, &n->loc, "'partition' must be auto, input or a partition number, not %s",
                      yt_describe(n, what, sizeof what));
        return;
    }
    int64_t fixed = -1;
    fw_walk_int(w, n, "partition", 0, INT32_MAX, &fixed);
    if (fixed >= 0) {
        o->partition = FW_ROUTE_FIXED;
        o->fixed_partition = (int32_t)fixed;
    }
}

static void walk_output(fw_walk *w, const fw_config *cfg, const yt_node *m, fw_output *o)
{
    *o = (fw_output){.producer = "default", .partition = FW_ROUTE_AUTO, .key = FW_KEY_EMITTED, .loc = m->loc};
    fw_walk_keys(w, m, output_keys, N(output_keys));
    o->topic = fw_walk_string(w, yt_get(m, "topic"), "topic");
    if (o->topic)
        fw_walk_topic(w, &yt_get(m, "topic")->loc, "topic", o->topic);
    else if (!yt_get(m, "topic"))
        fw_walk_error(w, &m->loc, "output without 'topic' (the topic its messages go to)");
    o->name = fw_walk_string(w, yt_get(m, "name"), "name");
    if (!o->name)
        o->name = o->topic ? o->topic : "";
    const yt_node *prod = yt_get(m, "producer");
    const char *producer = fw_walk_string(w, prod, "producer");
    if (producer) {
        o->producer = producer;
        producer_exists(w, cfg, prod, producer);
    }
    walk_partition(w, yt_get(m, "partition"), o);
    int key = FW_KEY_EMITTED;
    fw_walk_enum(w, yt_get(m, "key"), "key", "emitted|input", &key);
    o->key = (fw_key_from)key;
}

static void walk_outputs(fw_walk *w, const fw_config *cfg, const yt_node *n, fw_pipeline_conf *p)
{
    if (!n || (n->kind == YT_SCALAR && n->null))
        return;
    if (n->kind != YT_SEQ) {
        char what[80];
        fw_walk_error(w, &n->loc, "'outputs' must be a list of outputs ({name: ..., topic: ...}), not %s",
                      yt_describe(n, what, sizeof what));
        return;
    }
    if (!(p->outputs = fw_walk_alloc(w, n->n, sizeof *p->outputs)))
        return;
    for (size_t i = 0; i < n->n; i++) {
        if (!fw_walk_map(w, n->kids[i], "an output", false))
            continue;
        fw_output *o = &p->outputs[p->n_outputs];
        walk_output(w, cfg, n->kids[i], o);
        for (size_t j = 0; j < p->n_outputs; j++)
            if (*o->name && !strcmp(p->outputs[j].name, o->name)) {
                fw_walk_error(w, &o->loc, "output name '%s' is used twice in pipeline '%s' (first at %d:%d)",
                              o->name, p->name ? p->name : "?", p->outputs[j].loc.line, p->outputs[j].loc.col);
                break;
            }
        p->n_outputs++;
    }
}

static void walk_retry(fw_walk *w, const yt_node *m, fw_pipeline_conf *p)
{
    if (!fw_walk_map(w, m, "retry", true))
        return;
    fw_walk_keys(w, m, retry_keys, N(retry_keys));
    int64_t attempts = p->max_attempts;
    fw_walk_int(w, yt_get(m, "max_attempts"), "retry.max_attempts", 1, 1000, &attempts);
    p->max_attempts = (int)attempts;
    fw_walk_int(w, yt_get(m, "backoff_ms"), "retry.backoff_ms", 0, 86400000, &p->backoff_ms);
    fw_walk_int(w, yt_get(m, "max_backoff_ms"), "retry.max_backoff_ms", 0, 86400000, &p->max_backoff_ms);
    if (p->max_backoff_ms < p->backoff_ms) {
        const yt_node *at = yt_get(m, "max_backoff_ms") ? yt_get(m, "max_backoff_ms") : yt_get(m, "backoff_ms");
        fw_walk_error(w, &at->loc, "'retry.max_backoff_ms' (%lld) must not be below 'retry.backoff_ms' (%lld)",
                      (long long)p->max_backoff_ms, (long long)p->backoff_ms);
    }
}

static void walk_in_flight(fw_walk *w, const yt_node *m, fw_pipeline_conf *p)
{
    if (!fw_walk_map(w, m, "max_in_flight", true))
        return;
    fw_walk_keys(w, m, in_flight_keys, N(in_flight_keys));
    fw_walk_int(w, yt_get(m, "messages"), "max_in_flight.messages", 1, 10000000, &p->max_in_flight_messages);
    fw_walk_int(w, yt_get(m, "bytes"), "max_in_flight.bytes", 1024, 68719476736LL, &p->max_in_flight_bytes);
}

/* params: a map of single values, handed to the handler's init as text. */
static void walk_params(fw_walk *w, const yt_node *m, fw_kvlist *out)
{
    if (!fw_walk_map(w, m, "params", true))
        return;
    if (!(out->items = fw_walk_alloc(w, m->n / 2, sizeof *out->items)))
        return;
    fw_walk_keys(w, m, NULL, 0); /* any names, none repeated */
    for (size_t i = 0; i + 1 < m->n; i += 2) {
        const yt_node *k = m->kids[i], *v = m->kids[i + 1];
        if (k->kind != YT_SCALAR || k->null || !*k->text)
            continue;
        if (v->kind != YT_SCALAR) {
            char what[80];
            fw_walk_error(w, &v->loc, "'params.%s' must be a single value (string, number or boolean), not %s",
                          k->text, yt_describe(v, what, sizeof what));
            continue;
        }
        out->items[out->n++] = (fw_kv){k->text, v->null ? "" : v->text, v->loc};
    }
}

static void walk_topics(fw_walk *w, const yt_node *m, fw_pipeline_conf *p, const char *what)
{
    const yt_node *topics = yt_get(m, "topics"), *pattern = yt_get(m, "topic_pattern");
    if (topics && pattern) {
        fw_walk_error(w, &pattern->loc, "%s: give 'topics' or 'topic_pattern', not both", what);
        return;
    }
    if (!topics && !pattern) {
        fw_walk_error(w, &m->loc, "%s: missing 'topics' (a list of topics to consume) or 'topic_pattern'", what);
        return;
    }
    fw_walk_strings(w, topics, "topics", true, &p->topics, &p->n_topics, NULL);
    p->pattern = fw_walk_string(w, pattern, "topic_pattern");
    if (!p->pattern)
        return;
    regex_t re;
    int rc = regcomp(&re, p->pattern, REG_EXTENDED | REG_NOSUB);
    if (rc) {
        char why[200];
        regerror(rc, &re, why, sizeof why);
        fw_walk_error(w, &pattern->loc, "'topic_pattern' is not a POSIX extended regular expression: %s", why);
        return;
    }
    regfree(&re);
}

/* The value of an optional key, or NULL when absent or written empty (so
 * that "${DLQ:-}" can switch it off). */
static const yt_node *optional(const yt_node *m, const char *key)
{
    const yt_node *n = yt_get(m, key);
    return n && n->kind == YT_SCALAR && (n->null || !*n->text) ? NULL : n;
}

static const char *required(fw_walk *w, const yt_node *m, const char *key, const char *what, const char *expect,
                            fw_loc *loc)
{
    const yt_node *n = yt_get(m, key);
    if (!n) {
        fw_walk_error(w, &m->loc, "%s: missing '%s' (%s)", what, key, expect);
        return NULL;
    }
    if (loc)
        *loc = n->loc;
    return fw_walk_string(w, n, key);
}

static void walk_pipeline(fw_walk *w, const fw_config *cfg, const yt_node *m, size_t index, fw_pipeline_conf *p)
{
    defaults(p);
    p->loc = m->loc;
    fw_walk_keys(w, m, pipeline_keys, N(pipeline_keys));
    char what[300];
    snprintf(what, sizeof what, "pipeline %zu", index + 1);
    p->name = required(w, m, "name", what, "a name, unique in the file", NULL);
    if (p->name)
        snprintf(what, sizeof what, "pipeline '%.200s'", p->name);
    p->group = required(w, m, "group", what, "the consumer group id", &p->group_loc);
    walk_topics(w, m, p, what);
    p->handler = required(w, m, "handler", what, "the name of a registered handler", &p->handler_loc);
    p->plugin = fw_walk_string(w, optional(m, "plugin"), "plugin");
    walk_params(w, yt_get(m, "params"), &p->params);
    int64_t v = p->threads;
    fw_walk_int(w, yt_get(m, "threads"), "threads", 1, 1024, &v);
    p->threads = (int)v;
    int ordering = FW_ORDER_PARTITION;
    fw_walk_enum(w, yt_get(m, "ordering"), "ordering", "partition|key|none", &ordering);
    p->ordering = (fw_ordering)ordering;
    v = p->batch_size;
    fw_walk_int(w, yt_get(m, "batch_size"), "batch_size", 1, 100000, &v);
    p->batch_size = (int)v;
    walk_outputs(w, cfg, yt_get(m, "outputs"), p);
    walk_retry(w, yt_get(m, "retry"), p);
    const yt_node *dl = optional(m, "dead_letter"), *dlp = yt_get(m, "dead_letter_producer");
    p->dead_letter = fw_walk_string(w, dl, "dead_letter");
    if (p->dead_letter)
        fw_walk_topic(w, &dl->loc, "dead_letter", p->dead_letter);
    const char *producer = fw_walk_string(w, dlp, "dead_letter_producer");
    if (producer) {
        p->dead_letter_producer = producer;
        producer_exists(w, cfg, dlp, producer);
        if (!yt_get(m, "dead_letter"))
            fw_walk_error(w, &dlp->loc, "'dead_letter_producer' without 'dead_letter' (the topic) does nothing");
    }
    fw_walk_int(w, yt_get(m, "commit_interval_ms"), "commit_interval_ms", 1, 3600000, &p->commit_interval_ms);
    walk_in_flight(w, yt_get(m, "max_in_flight"), p);
    fw_walk_int(w, yt_get(m, "drain_timeout_ms"), "drain_timeout_ms", 0, 3600000, &p->drain_timeout_ms);
    fw_walk_int(w, yt_get(m, "handler_timeout_ms"), "handler_timeout_ms", 0, 86400000, &p->handler_timeout_ms);
    fw_walk_options(w, yt_get(m, "consumer"), "consumer", &p->consumer);
    int log_payloads = 0;
    fw_walk_enum(w, yt_get(m, "log_payloads"), "log_payloads", "false|true", &log_payloads);
    p->log_payloads = log_payloads == 1;
}

void fw_walk_pipelines(fw_walk *w, const yt_node *root, fw_config *cfg)
{
    const yt_node *list = yt_get(root, "pipelines");
    if (!list || (list->kind == YT_SEQ && list->n == 0) || (list->kind == YT_SCALAR && list->null)) {
        fw_walk_error(w, list ? &list->loc : &root->loc, "no pipelines: 'pipelines' must list at least one");
        return;
    }
    if (list->kind != YT_SEQ) {
        char what[80];
        fw_walk_error(w, &list->loc, "'pipelines' must be a list (- name: ...), not %s",
                      yt_describe(list, what, sizeof what));
        return;
    }
    if (!(cfg->pipelines = fw_walk_alloc(w, list->n, sizeof *cfg->pipelines)))
        return;
    for (size_t i = 0; i < list->n; i++) {
        if (!fw_walk_map(w, list->kids[i], "a pipeline", false))
            continue;
        fw_pipeline_conf *p = &cfg->pipelines[cfg->n_pipelines];
        walk_pipeline(w, cfg, list->kids[i], i, p);
        for (size_t j = 0; p->name && j < cfg->n_pipelines; j++)
            if (cfg->pipelines[j].name && !strcmp(cfg->pipelines[j].name, p->name)) {
                fw_walk_error(w, &p->loc, "pipeline name '%s' is used twice (first at %d:%d)", p->name,
                              cfg->pipelines[j].loc.line, cfg->pipelines[j].loc.col);
                break;
            }
        cfg->n_pipelines++;
    }
}
