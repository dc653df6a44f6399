/* framework/registry_resolve.c — fw_registry_resolve() (registry.h): a
 * validated config's plugins loaded and every pipeline's handler found,
 * each failure a located error. Apart from registry.c because it is the
 * registry's only user of the config tree.
 *
 * Paths: a plugin path written in the YAML is taken relative to the YAML
 * file's directory (so a file and its plugins move together); a handler
 * not registered is searched as NAME.so in $GREGOR_PLUGIN_PATH's
 * directories, then in GREGOR_PLUGIN_DIR (the install's
 * LIBDIR/gregor/workers).
 *
 * Threading: the caller's thread; plugin loads serialise in registry.c.
 */
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "framework/registry.h"
#include "framework/nearest.h"

#ifndef GREGOR_PLUGIN_DIR
#define GREGOR_PLUGIN_DIR "/usr/local/lib/gregor/workers"
#endif

/* At most this many names are compared for "did you mean". */
#define NEAREST_CANDIDATES 256

/* `path` as written in cfg's file, made relative to that file's directory
 * when it is relative, into buf. False when it does not fit. */
static bool plugin_path(const fw_config *cfg, const char *path, char *buf, size_t size)
{
    const char *slash = cfg->file ? strrchr(cfg->file, '/') : NULL;
    int n;
    if (path[0] == '/' || !slash)
        n = snprintf(buf, size, "%s", path);
    else
        n = snprintf(buf, size, "%.*s/%s", (int)(slash - cfg->file), cfg->file, path);
    return n >= 0 && (size_t)n < size;
}

static void load(const fw_config *cfg, const char *path, const fw_loc *loc, fw_diags *diags)
{
    char full[PATH_MAX], errstr[1024];
    if (!plugin_path(cfg, path, full, sizeof full)) {
        fw_diags_add(diags, loc, "plugin path too long: '%.64s...'", path);
        return;
    }
    if (fw_registry_load_plugin(full, errstr, sizeof errstr) != GREGOR_OK)
        fw_diags_add(diags, loc, "plugin '%s': %s", path, errstr);
}

/* Whether `name` may be looked for as NAME.so: a plain file name. */
static bool searchable(const char *name)
{
    return *name && name[0] != '.' && !strchr(name, '/') && strlen(name) <= NAME_MAX - 3;
}

/* The first DIR/NAME.so that exists in the plugin path, into buf. */
static bool search_path(const char *name, char *buf, size_t size)
{
    const char *env = getenv("GREGOR_PLUGIN_PATH");
    const char *dirs[2] = {env ? env : "", GREGOR_PLUGIN_DIR};
    for (size_t d = 0; d < 2; d++) {
        for (const char *p = dirs[d]; *p;) {
            size_t len = d == 0 ? strcspn(p, ":") : strlen(p);
            int n = snprintf(buf, size, "%.*s/%s.so", (int)len, p, name);
            if (len && n > 0 && (size_t)n < size && access(buf, F_OK) == 0)
                return true;
            p += len;
            if (*p == ':')
                p++;
        }
    }
    return false;
}

/* The located "unknown handler" error: the known names, the nearest one,
 * and where NAME.so was looked for. */
static void unknown(const fw_pipeline_conf *p, fw_diags *diags)
{
    char known[2048];
    fw_registry_names(known, sizeof known);
    const char *names[NEAREST_CANDIDATES];
    size_t n = 0;
    for (const gregor_handler *h; n < NEAREST_CANDIDATES && (h = fw_registry_at(n, NULL));)
        names[n++] = h->name;
    const char *near = fw_nearest(p->handler, names, n);
    const char *env = getenv("GREGOR_PLUGIN_PATH");
    bool set = env && *env;
    fw_diags_add(diags, &p->handler_loc, "unknown handler '%s'; known handlers: %s%s%s%s (no %s.so in %s%s%s%s)",
                 p->handler, *known ? known : "none", near ? "; did you mean '" : "", near ? near : "",
                 near ? "'?" : "", p->handler, set ? env : "", set ? ":" : "", GREGOR_PLUGIN_DIR,
                 set ? "" : "; GREGOR_PLUGIN_PATH adds directories");
}

/* The registration problems kept for the handler `name`, located at the
 * pipeline's handler. */
static void problems(const fw_pipeline_conf *p, fw_diags *diags)
{
    const char *name, *text;
    for (size_t i = 0; (text = fw_registry_problem(i, &name)); i++)
        if (name && !strcmp(name, p->handler))
            fw_diags_add(diags, &p->handler_loc, "%s", text);
}

static void resolve_pipeline(const fw_config *cfg, const fw_pipeline_conf *p, fw_diags *diags)
{
    if (p->plugin)
        load(cfg, p->plugin, &p->handler_loc, diags);
    if (!p->handler)
        return; /* the config loader reported it missing */
    if (!fw_registry_find(p->handler)) {
        char found[PATH_MAX], errstr[1024];
        if (!searchable(p->handler) || !search_path(p->handler, found, sizeof found)) {
            unknown(p, diags);
            return;
        }
        if (fw_registry_load_plugin(found, errstr, sizeof errstr) != GREGOR_OK) {
            fw_diags_add(diags, &p->handler_loc, "handler '%s': plugin %s: %s", p->handler, found, errstr);
            return;
        }
        if (!fw_registry_find(p->handler)) {
            fw_diags_add(diags, &p->handler_loc, "handler '%s': plugin %s registers no handler of that name",
                         p->handler, found);
            return;
        }
    }
    problems(p, diags);
}

gregor_err fw_registry_resolve(const fw_config *cfg, fw_diags *diags)
{
    size_t before = diags->n;
    for (size_t i = 0; i < cfg->n_plugins; i++)
        load(cfg, cfg->plugins[i], cfg->plugin_locs ? &cfg->plugin_locs[i] : NULL, diags);
    for (size_t i = 0; i < cfg->n_pipelines; i++)
        resolve_pipeline(cfg, &cfg->pipelines[i], diags);
    return diags->n > before ? GREGOR_ERR_CONFIG : GREGOR_OK;
}
