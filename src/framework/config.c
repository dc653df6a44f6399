/* framework/config.c — fw_config_load/parse (config.h): the file into the
 * YAML tree (yaml_tree.c), then the top level of the schema (cluster,
 * plugins, producers, shutdown_timeout_ms; pipelines in config_pipeline.c)
 * into one arena that the returned fw_config owns. Also the gregor_config
 * a pipeline's clients are built from (fw_config_client).
 *
 * Every error is collected before returning: a syntax error stops the
 * parse (libyaml cannot go on), but ${VAR} errors do not stop the schema
 * walk, and the walk reports each wrong value and leaves its default. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/config.h"
#include "framework/config_walk.h"
#include "framework/fwlog.h"

static const char *const top_keys[] = {"cluster", "plugins", "producers", "shutdown_timeout_ms", "pipelines",
                                       "log", "swarm"};

/* The arena's bound: the tree and the config of a YT_MAX_BYTES file whose
 * ${VAR}s expand, with room to spare. */
#define CONFIG_ARENA_BYTES ((size_t)256 << 20)

static void walk_producers(fw_walk *w, const yt_node *m, fw_config *cfg)
{
    size_t written = m && m->kind == YT_MAP ? m->n / 2 : 0;
    if (!(cfg->producers = fw_walk_alloc(w, written + 1, sizeof *cfg->producers)))
        return;
    if (fw_walk_map(w, m, "producers", true)) {
        fw_walk_keys(w, m, NULL, 0);
        for (size_t i = 0; i + 1 < m->n; i += 2) {
            const yt_node *k = m->kids[i];
            if (k->kind != YT_SCALAR || k->null || !*k->text || fw_config_producer(cfg, k->text))
                continue; /* reported by fw_walk_keys */
            char section[300];
            snprintf(section, sizeof section, "producers.%.200s", k->text);
            fw_producer_conf *p = &cfg->producers[cfg->n_producers++];
            p->name = k->text;
            p->loc = k->loc;
            fw_walk_options(w, m->kids[i + 1], section, &p->options);
        }
    }
    if (!fw_config_producer(cfg, "default"))
        cfg->producers[cfg->n_producers++] = (fw_producer_conf){.name = "default", .loc = cfg->cluster_loc};
}

static void walk_cluster(fw_walk *w, const yt_node *m, fw_config *cfg)
{
    if (m)
        cfg->cluster_loc = m->loc;
    fw_walk_options(w, m, "cluster", &cfg->cluster);
    int bootstrap = config_option_find("bootstrap");
    for (size_t i = 0; i < cfg->cluster.n; i++)
        if (config_option_find(cfg->cluster.items[i].key) == bootstrap)
            cfg->bootstrap_loc = cfg->cluster.items[i].loc;
}

/* log: {format, file, level}, checked as `gregor run -X log_*=` checks them. */
static void walk_log(fw_walk *w, const yt_node *m, fw_config *cfg)
{
    static const char *const log_keys[] = {"format", "file", "level"};
    if (!m || !fw_walk_map(w, m, "log", true) || m->kind != YT_MAP)
        return;
    fw_walk_keys(w, m, log_keys, 3);
    if (!(cfg->log.items = fw_walk_alloc(w, 3, sizeof *cfg->log.items)))
        return;
    fw_log_options scratch;
    fw_log_options_init(&scratch);
    for (size_t i = 0; i < 3; i++) {
        const yt_node *v = yt_get(m, log_keys[i]);
        const char *text = fw_walk_string(w, v, log_keys[i]);
        char e[300];
        if (!text)
            continue;
        if (fw_log_option_set(&scratch, log_keys[i], text, e, sizeof e) != GREGOR_OK)
            fw_walk_error(w, &v->loc, "log.%s", e);
        else
            cfg->log.items[cfg->log.n++] = (fw_kv){log_keys[i], text, v->loc};
    }
}

static void walk_root(fw_walk *w, const yt_node *root, fw_config *cfg)
{
    if (root->kind != YT_MAP) {
        char what[80];
        fw_walk_error(w, &root->loc, "the file must be a map with 'pipelines' (and 'cluster', 'producers', ...), "
                      "not %s", yt_describe(root, what, sizeof what));
        return;
    }
    fw_walk_keys(w, root, top_keys, sizeof top_keys / sizeof top_keys[0]);
    walk_cluster(w, yt_get(root, "cluster"), cfg);
    fw_walk_strings(w, yt_get(root, "plugins"), "plugins", false, &cfg->plugins, &cfg->n_plugins,
                    &cfg->plugin_locs);
    walk_producers(w, yt_get(root, "producers"), cfg);
    fw_walk_int(w, yt_get(root, "shutdown_timeout_ms"), "shutdown_timeout_ms", 0, 3600000,
                &cfg->shutdown_timeout_ms);
    walk_log(w, yt_get(root, "log"), cfg);
    fw_walk_pipelines(w, root, cfg);
    fw_walk_swarm(w, yt_get(root, "swarm"), cfg);
}

gregor_err fw_config_parse(const char *name, const char *text, size_t len, fw_config **out, fw_diags *diags)
{
    *out = NULL;
    fw_config *cfg = calloc(1, sizeof *cfg);
    arena *a = malloc(sizeof *a);
    if (!cfg || !a) {
        free(cfg);
        free(a);
        return GREGOR_ERR_NOMEM;
    }
    arena_init(a, CONFIG_ARENA_BYTES);
    cfg->arena = a;
    cfg->shutdown_timeout_ms = 30000;
    fw_swarm_conf_defaults(&cfg->swarm);
    cfg->file = arena_strndup(a, name ? name : "", name ? strlen(name) : 0);
    fw_walk w = {.file = cfg->file, .a = a, .d = diags};
    yt_node *root = NULL;
    gregor_err err = cfg->file ? yt_parse(cfg->file, text, len, a, diags, &root) : GREGOR_ERR_NOMEM;
    if (root)
        walk_root(&w, root, cfg);
    if (w.nomem)
        err = GREGOR_ERR_NOMEM;
    else if (err == GREGOR_OK && w.n_errors)
        err = GREGOR_ERR_CONFIG;
    if (err != GREGOR_OK) {
        if (err == GREGOR_ERR_NOMEM)
            fw_diags_add(diags, &(fw_loc){cfg->file, 0, 0}, "out of memory");
        fw_config_free(cfg);
        return err;
    }
    *out = cfg;
    return GREGOR_OK;
}

gregor_err fw_config_load(const char *path, fw_config **out, fw_diags *diags)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        fw_diags_add(diags, &(fw_loc){path, 0, 0}, "cannot open: %s", strerror(errno));
        return GREGOR_ERR_IO;
    }
    /* One byte more than the limit, so that yt_parse sees a file too large. */
    char *text = malloc(YT_MAX_BYTES + 1);
    if (!text) {
        fclose(f);
        return GREGOR_ERR_NOMEM;
    }
    size_t len = fread(text, 1, YT_MAX_BYTES + 1, f);
    bool failed = ferror(f);
    int saved = errno;
    fclose(f);
    if (failed) {
        fw_diags_add(diags, &(fw_loc){path, 0, 0}, "cannot read: %s", strerror(saved));
        free(text);
        return GREGOR_ERR_IO;
    }
    gregor_err err = fw_config_parse(path, text, len, out, diags);
    free(text);
    return err;
}

void fw_config_free(fw_config *cfg)
{
    if (!cfg)
        return;
    if (cfg->arena) {
        arena_fini(cfg->arena);
        free(cfg->arena);
    }
    free(cfg);
}

static bool set_all(gregor_config *c, const fw_kvlist *l)
{
    for (size_t i = 0; l && i < l->n; i++)
        if (gregor_config_set(c, l->items[i].key, l->items[i].value, NULL, 0) != GREGOR_OK)
            return false;
    return true;
}

gregor_config *fw_config_client(const fw_config *cfg, const fw_kvlist *extra)
{
    return fw_config_client_with(cfg, NULL, extra);
}

gregor_config *fw_config_client_with(const fw_config *cfg, const char *const *defaults, const fw_kvlist *extra)
{
    gregor_config *c = gregor_config_new();
    for (size_t i = 0; c && defaults && defaults[i]; i += 2)
        if (gregor_config_set(c, defaults[i], defaults[i + 1], NULL, 0) != GREGOR_OK) {
            gregor_config_destroy(c);
            return NULL;
        }
    if (c && (!set_all(c, &cfg->cluster) || !set_all(c, extra))) {
        gregor_config_destroy(c);
        return NULL;
    }
    return c;
}

const fw_producer_conf *fw_config_producer(const fw_config *cfg, const char *name)
{
    for (size_t i = 0; name && i < cfg->n_producers; i++)
        if (!strcmp(cfg->producers[i].name, name))
            return &cfg->producers[i];
    return NULL;
}
