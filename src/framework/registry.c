/* framework/registry.c — the process-wide handler table (registry.h,
 * gregor_handler_register* of gregor/worker.h) and plugin loading.
 *
 * Layout: `entries`, an array of pointers to heap entries kept sorted by
 * name (a lookup is a binary search; an entry never moves, so the
 * gregor_handler pointers handed out stay valid); `problems`, what
 * registrations from constructors could not return as errors; `loaded`,
 * the handles of the plugins loaded so far. Nothing is ever removed or
 * freed: plugins are never unloaded, and handlers live as long as they do.
 *
 * Workload: tens of handlers registered once (before main, or while a
 * plugin loads), looked up once per pipeline at start.
 *
 * Locks: `lock` guards the three tables and is never held while anything
 * outside this file runs. `load_lock` serialises plugin loads: dlopen runs
 * the plugin's constructors on the calling thread, and they register
 * (taking `lock`), so `lock` cannot be held across dlopen; `loading`
 * (thread-local) tells those registrations which plugin they come from.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "framework/registry.h"
#include "util/errstr.h"
#include "util/log.h"

typedef struct entry {
    gregor_handler h;
    char *origin; /* who registered it: a source file, or "gregor_handler_register()" */
    char *plugin; /* the plugin's path, NULL when built in */
} entry;

typedef struct problem {
    char *name; /* NULL when the handler had none */
    char *text;
} problem;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static entry **entries; /* (lock) sorted by h.name */
static size_t n_entries, cap_entries;
static problem *problems; /* (lock) */
static size_t n_problems, cap_problems;
static bool problems_lost; /* (lock) a problem could not be kept (out of memory) */

static pthread_mutex_t load_lock = PTHREAD_MUTEX_INITIALIZER;
static void **loaded; /* (load_lock) dlopen handles */
static size_t n_loaded, cap_loaded;

/* The plugin whose constructors run on this thread, and how many handlers
 * (or problems) they registered so far. */
static _Thread_local const char *loading;
static _Thread_local size_t loading_count;

/* Grows *arr (elements of `size` bytes) to hold one more; false when out of
 * memory (*arr unchanged). */
static bool grow(void **arr, size_t *cap, size_t n, size_t size)
{
    if (n < *cap)
        return true;
    size_t ncap = *cap ? *cap * 2 : 16;
    void *p = realloc(*arr, ncap * size);
    if (!p)
        return false;
    *arr = p;
    *cap = ncap;
    return true;
}

/* The index of `name` in entries, or where it would go (*found false).
 * Needs lock. */
static size_t search(const char *name, bool *found)
{
    size_t lo = 0, hi = n_entries;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(entries[mid]->h.name, name);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

/* Who is registering: "ORIGIN" or "ORIGIN in PLUGIN" (owned; NULL when out
 * of memory). */
static char *describe_origin(const char *origin)
{
    const char *o = origin ? origin : "gregor_handler_register()";
    size_t n = strlen(o) + (loading ? strlen(loading) + 4 : 0) + 1;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "%s%s%s", o, loading ? " in " : "", loading ? loading : "");
    return s;
}

/* Why h cannot be registered (written to errstr), or false when it can.
 * `origin` is the caller's own description. Needs lock. */
static bool invalid(const gregor_handler *h, const char *origin, char *errstr, size_t size)
{
    if (!h || !h->name || !*h->name) {
        errstr_set(errstr, size, "a handler registered by %s has no name", origin);
        return true;
    }
    if (!h->handle && !h->handle_batch) {
        errstr_set(errstr, size, "handler '%s' registered by %s has neither handle nor handle_batch", h->name,
                   origin);
        return true;
    }
    bool found;
    size_t at = search(h->name, &found);
    if (found) {
        errstr_set(errstr, size, "handler '%s' is registered twice: by %s and by %s (the first is used)", h->name,
                   entries[at]->origin, origin);
        return true;
    }
    return false;
}

/* Inserts a copy of h (valid, not registered yet). Takes ownership of
 * origin in any case. Needs lock. */
static gregor_err insert(const gregor_handler *h, char *origin)
{
    entry *e = calloc(1, sizeof *e);
    char *plugin = loading ? strdup(loading) : NULL;
    if (!e || (loading && !plugin) ||
        !grow((void **)&entries, &cap_entries, n_entries, sizeof *entries)) {
        free(e);
        free(plugin);
        free(origin);
        return GREGOR_ERR_NOMEM;
    }
    e->h = *h;
    e->origin = origin;
    e->plugin = plugin;
    bool found;
    size_t at = search(h->name, &found);
    memmove(entries + at + 1, entries + at, (n_entries - at) * sizeof *entries);
    entries[at] = e;
    n_entries++;
    return GREGOR_OK;
}

/* Registers h, or explains why not in errstr. Needs lock. */
static gregor_err add(const gregor_handler *h, const char *origin, char *errstr, size_t size)
{
    char *who = describe_origin(origin);
    if (!who) {
        errstr_set(errstr, size, "out of memory registering a handler");
        return GREGOR_ERR_NOMEM;
    }
    if (loading)
        loading_count++;
    if (invalid(h, who, errstr, size)) {
        free(who);
        return GREGOR_ERR_INVALID_ARG;
    }
    gregor_err err = insert(h, who);
    if (err)
        errstr_set(errstr, size, "out of memory registering handler '%s'", h->name);
    return err;
}

gregor_err gregor_handler_register(const gregor_handler *h)
{
    char errstr[512];
    pthread_mutex_lock(&lock);
    gregor_err err = add(h, NULL, errstr, sizeof errstr);
    pthread_mutex_unlock(&lock);
    if (err)
        gregor_log(GREGOR_LOG_ERROR, "%s", errstr);
    return err;
}

/* Keeps a registration problem for fw_registry_problem(). Needs lock. */
static void keep_problem(const char *name, const char *text)
{
    char *n = name ? strdup(name) : NULL;
    char *t = strdup(text);
    if ((name && !n) || !t || !grow((void **)&problems, &cap_problems, n_problems, sizeof *problems)) {
        free(n);
        free(t);
        problems_lost = true;
        return;
    }
    problems[n_problems++] = (problem){.name = n, .text = t};
}

void gregor_handler_register_at_load(const gregor_handler *h, const char *origin)
{
    /* The macros pass __FILE__, often an absolute path of the build
     * machine: the file's name says enough (with the plugin's path). */
    const char *slash = origin ? strrchr(origin, '/') : NULL;
    char errstr[512];
    pthread_mutex_lock(&lock);
    if (add(h, slash ? slash + 1 : origin ? origin : "an unnamed constructor", errstr, sizeof errstr))
        keep_problem(h ? h->name : NULL, errstr);
    pthread_mutex_unlock(&lock);
}

const gregor_handler *fw_registry_find(const char *name)
{
    if (!name)
        return NULL;
    pthread_mutex_lock(&lock);
    bool found;
    size_t at = search(name, &found);
    const gregor_handler *h = found ? &entries[at]->h : NULL;
    pthread_mutex_unlock(&lock);
    return h;
}

const gregor_handler *fw_registry_at(size_t i, const char **plugin)
{
    pthread_mutex_lock(&lock);
    const gregor_handler *h = i < n_entries ? &entries[i]->h : NULL;
    if (h && plugin)
        *plugin = entries[i]->plugin;
    pthread_mutex_unlock(&lock);
    return h;
}

const char *fw_registry_problem(size_t i, const char **name)
{
    static const char lost[] = "out of memory keeping a handler registration's error";
    pthread_mutex_lock(&lock);
    const char *text = NULL;
    if (i < n_problems) {
        text = problems[i].text;
        *name = problems[i].name;
    } else if (i == n_problems && problems_lost) {
        text = lost;
        *name = NULL;
    }
    pthread_mutex_unlock(&lock);
    return text;
}

void fw_registry_names(char *buf, size_t size)
{
    if (!size)
        return;
    buf[0] = '\0';
    size_t off = 0;
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < n_entries && off < size; i++)
        off += (size_t)snprintf(buf + off, size - off, "%s%s", i ? ", " : "", entries[i]->h.name);
    pthread_mutex_unlock(&lock);
}

/* Whether handle was loaded before; else remembers it (false when out of
 * memory: it is then only loaded again, harmlessly). Needs load_lock. */
static bool seen_before(void *handle)
{
    for (size_t i = 0; i < n_loaded; i++)
        if (loaded[i] == handle)
            return true;
    if (grow((void **)&loaded, &cap_loaded, n_loaded, sizeof *loaded))
        loaded[n_loaded++] = handle;
    return false;
}

gregor_err fw_registry_load_plugin(const char *path, char *errstr, size_t errstr_size)
{
    if (!path || !*path) {
        errstr_set(errstr, errstr_size, "empty plugin path");
        return GREGOR_ERR_INVALID_ARG;
    }
    /* dlopen searches the library path for a bare name; a plugin named in
     * a file or on the command line is a file. */
    char local[4096];
    if (!strchr(path, '/')) {
        if ((size_t)snprintf(local, sizeof local, "./%s", path) >= sizeof local) {
            errstr_set(errstr, errstr_size, "plugin path too long: %.64s...", path);
            return GREGOR_ERR_INVALID_ARG;
        }
        path = local;
    }
    pthread_mutex_lock(&load_lock);
    pthread_mutex_lock(&lock);
    size_t problems_before = n_problems;
    pthread_mutex_unlock(&lock);

    loading = path;
    loading_count = 0;
    dlerror();
    void *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    size_t registered = loading_count;
    loading = NULL;

    gregor_err err = GREGOR_OK;
    if (!handle) {
        const char *why = dlerror();
        errstr_set(errstr, errstr_size, "%s", why ? why : path);
        err = GREGOR_ERR_IO;
    } else if (!seen_before(handle)) {
        pthread_mutex_lock(&lock);
        if (n_problems > problems_before) {
            errstr_set(errstr, errstr_size, "%s", problems[problems_before].text);
            err = GREGOR_ERR_INVALID_ARG;
        }
        pthread_mutex_unlock(&lock);
        if (!err && !registered) {
            errstr_set(errstr, errstr_size,
                       "%s registers no handler (a plugin must use GREGOR_HANDLER and be built without -lgregor)",
                       path);
            err = GREGOR_ERR_INVALID_ARG;
        }
    }
    pthread_mutex_unlock(&load_lock);
    return err;
}
