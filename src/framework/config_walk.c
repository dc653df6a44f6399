/* framework/config_walk.c — typed reads of the YAML tree with located
 * errors (config_walk.h): keys against a list with "did you mean", strings,
 * bounded integers, choices, lists of names and topic names, and maps of
 * client options checked by the client's own option table. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/config.h"
#include "framework/config_walk.h"
#include "framework/nearest.h"

void fw_walk_error(fw_walk *w, const fw_loc *loc, const char *fmt, ...)
{
    char text[900];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    fw_diags_add(w->d, loc, "%s", text);
    w->n_errors++;
}

void *fw_walk_alloc(fw_walk *w, size_t count, size_t size)
{
    void *p = arena_calloc(w->a, count ? count : 1, size);
    if (!p)
        w->nomem = true;
    return p;
}

bool fw_walk_map(fw_walk *w, const yt_node *n, const char *name, bool null_ok)
{
    if (!n)
        return false;
    if (n->kind == YT_MAP)
        return true;
    if (null_ok && n->kind == YT_SCALAR && n->null)
        return false;
    char what[80];
    fw_walk_error(w, &n->loc, "'%s' must be a map (key: value, ...), not %s", name,
                  yt_describe(n, what, sizeof what));
    return false;
}

/* "name, group, topics, ..." for an error, truncated to `size`. */
static const char *join(const char *const *names, size_t n, char *buf, size_t size)
{
    size_t off = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n && off < size; i++)
        off += (size_t)snprintf(buf + off, size - off, "%s%s", i ? ", " : "", names[i]);
    return buf;
}

/* The key at kids[i] of map m is a name: a non-empty scalar. */
static bool key_ok(fw_walk *w, const yt_node *k)
{
    if (k->kind == YT_SCALAR && !k->null && *k->text)
        return true;
    char what[80];
    fw_walk_error(w, &k->loc, "a key must be a name, not %s", yt_describe(k, what, sizeof what));
    return false;
}

/* Reports the second and later uses of a key already at kids[j < i]. */
static bool repeated(fw_walk *w, const yt_node *m, size_t i)
{
    for (size_t j = 0; j < i; j += 2) {
        if (m->kids[j]->kind == YT_SCALAR && !strcmp(m->kids[j]->text, m->kids[i]->text)) {
            fw_walk_error(w, &m->kids[i]->loc, "'%s' is given twice (first at %d:%d)", m->kids[i]->text,
                          m->kids[j]->loc.line, m->kids[j]->loc.col);
            return true;
        }
    }
    return false;
}

void fw_walk_keys(fw_walk *w, const yt_node *m, const char *const *keys, size_t n_keys)
{
    for (size_t i = 0; i + 1 < m->n; i += 2) {
        const yt_node *k = m->kids[i];
        if (!key_ok(w, k) || repeated(w, m, i))
            continue;
        bool known = !keys;
        for (size_t j = 0; j < n_keys && !known; j++)
            known = !strcmp(keys[j], k->text);
        if (known)
            continue;
        const char *near = fw_diags_full(w->d) ? NULL : fw_nearest(k->text, keys, n_keys);
        char list[512];
        if (near)
            fw_walk_error(w, &k->loc, "unknown key '%s'; did you mean '%s'?", k->text, near);
        else
            fw_walk_error(w, &k->loc, "unknown key '%s'; expected one of: %s", k->text,
                          join(keys, n_keys, list, sizeof list));
    }
}

const char *fw_walk_string(fw_walk *w, const yt_node *n, const char *name)
{
    if (!n)
        return NULL;
    if (n->kind == YT_SCALAR && !n->null && *n->text)
        return n->text;
    char what[80];
    if (n->kind == YT_SCALAR)
        fw_walk_error(w, &n->loc, "'%s' must not be empty", name);
    else
        fw_walk_error(w, &n->loc, "'%s' must be a string, not %s", name, yt_describe(n, what, sizeof what));
    return NULL;
}

void fw_walk_int(fw_walk *w, const yt_node *n, const char *name, int64_t min, int64_t max, int64_t *out)
{
    if (!n)
        return;
    if (n->kind == YT_SCALAR && !n->null) {
        errno = 0;
        char *end;
        long long v = strtoll(n->text, &end, 10);
        if (!errno && end != n->text && !*end && v >= min && v <= max) {
            *out = v;
            return;
        }
    }
    char what[80];
    fw_walk_error(w, &n->loc, "'%s' must be an integer from %lld to %lld, not %s", name, (long long)min,
                  (long long)max, yt_describe(n, what, sizeof what));
}

void fw_walk_enum(fw_walk *w, const yt_node *n, const char *name, const char *choices, int *out)
{
    if (!n)
        return;
    if (n->kind == YT_SCALAR) {
        size_t len = strlen(n->text);
        int i = 0;
        for (const char *p = choices; p; i++) {
            const char *bar = strchr(p, '|');
            size_t plen = bar ? (size_t)(bar - p) : strlen(p);
            if (plen == len && !strncmp(p, n->text, len)) {
                *out = i;
                return;
            }
            p = bar ? bar + 1 : NULL;
        }
    }
    char what[80], list[200];
    size_t off = 0;
    for (const char *p = choices; *p && off + 3 < sizeof list; p++) {
        if (*p == '|')
            list[off++] = ',', list[off++] = ' ';
        else
            list[off++] = *p;
    }
    list[off] = '\0';
    fw_walk_error(w, &n->loc, "'%s' must be one of %s; not %s", name, list, yt_describe(n, what, sizeof what));
}

void fw_walk_topic(fw_walk *w, const fw_loc *loc, const char *name, const char *topic)
{
    size_t len = strlen(topic);
    if (len > 249) {
        fw_walk_error(w, loc, "'%s': a topic name has at most 249 characters, not %zu", name, len);
        return;
    }
    if (!strcmp(topic, ".") || !strcmp(topic, "..")) {
        fw_walk_error(w, loc, "'%s': '%s' is not a valid topic name", name, topic);
        return;
    }
    if (strspn(topic, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != len)
        fw_walk_error(w, loc, "'%s': topic name '%s' may only have letters, digits, '.', '_' and '-'", name,
                      topic);
}

void fw_walk_strings(fw_walk *w, const yt_node *n, const char *name, bool topics, const char ***out,
                     size_t *n_out, fw_loc **locs_out)
{
    *out = NULL;
    *n_out = 0;
    if (locs_out)
        *locs_out = NULL;
    if (!n)
        return;
    char what[80];
    if (n->kind == YT_MAP) {
        fw_walk_error(w, &n->loc, "'%s' must be a list (e.g. [a, b]), not a map", name);
        return;
    }
    const yt_node *const *items = n->kind == YT_SEQ ? (const yt_node *const *)n->kids : &n;
    size_t count = n->kind == YT_SEQ ? n->n : 1;
    const char **names = fw_walk_alloc(w, count, sizeof *names);
    fw_loc *locs = fw_walk_alloc(w, count, sizeof *locs);
    if (!names || !locs)
        return;
    for (size_t i = 0; i < count; i++) {
        const yt_node *it = items[i];
        if (it->kind != YT_SCALAR || it->null || !*it->text) {
            fw_walk_error(w, &it->loc, "'%s' must list strings; not %s", name, yt_describe(it, what, sizeof what));
            continue;
        }
        if (topics)
            fw_walk_topic(w, &it->loc, name, it->text);
        locs[*n_out] = it->loc;
        names[(*n_out)++] = it->text;
    }
    if (!*n_out)
        fw_walk_error(w, &n->loc, "'%s' must list at least one name", name);
    *out = names;
    if (locs_out)
        *locs_out = locs;
}

/* ------------------------------------------------------ client options */

/* A bootstrap entry: host:port or [v6]:port, port 1..65535. */
static bool hostport_ok(const char *e, size_t len)
{
    const char *colon = NULL;
    if (len && e[0] == '[') {
        const char *close = memchr(e, ']', len);
        if (!close || close == e + 1 || close + 1 == e + len || close[1] != ':')
            return false;
        colon = close + 1;
    } else {
        for (const char *p = e; p < e + len; p++)
            if (*p == ':') {
                if (colon)
                    return false;
                colon = p;
            }
        if (!colon || colon == e)
            return false;
    }
    size_t digits = (size_t)(e + len - colon - 1);
    if (digits == 0 || digits > 5 || strspn(colon + 1, "0123456789") < digits)
        return false;
    long port = strtol(colon + 1, NULL, 10);
    return port >= 1 && port <= 65535;
}

static void check_bootstrap(fw_walk *w, const fw_loc *loc, const char *list)
{
    if (!list[strspn(list, " ,")]) {
        fw_walk_error(w, loc, "'bootstrap' names no broker: expected host:port (or a list of them)");
        return;
    }
    for (const char *p = list; *p;) {
        size_t len = strcspn(p, ",");
        const char *e = p;
        while (len && *e == ' ')
            e++, len--;
        while (len && e[len - 1] == ' ')
            len--;
        if (!hostport_ok(e, len))
            fw_walk_error(w, loc, "bad broker address '%.*s': expected host:port with a port from 1 to 65535",
                          (int)(len > 200 ? 200 : len), e);
        p += strcspn(p, ",");
        if (*p)
            p++;
    }
}

/* The bootstrap value: a string, or a list joined with ','. */
static const char *bootstrap_value(fw_walk *w, const yt_node *v)
{
    if (v->kind != YT_SEQ)
        return v->kind == YT_SCALAR && !v->null ? v->text : NULL;
    size_t total = 1;
    for (size_t i = 0; i < v->n; i++) {
        if (v->kids[i]->kind != YT_SCALAR || v->kids[i]->null)
            return NULL;
        total += strlen(v->kids[i]->text) + 1;
    }
    char *s = fw_walk_alloc(w, total, 1);
    if (!s)
        return "";
    for (size_t i = 0; i < v->n; i++) {
        if (i)
            strcat(s, ",");
        strcat(s, v->kids[i]->text);
    }
    return s;
}

/* Options the framework sets on every consumer itself. */
static const char *framework_sets(const char *canonical)
{
    if (!strcmp(canonical, "group_id"))
        return "the framework sets it from each pipeline's 'group'";
    if (!strcmp(canonical, "enable_auto_commit") || !strcmp(canonical, "enable_auto_offset_store"))
        return "the framework commits offsets itself, once a message is processed and its outputs acknowledged";
    return NULL;
}

static void unknown_option(fw_walk *w, const yt_node *k, const char *errstr)
{
    const char *names[128];
    size_t n = 0;
    for (const char *name; n < 128 && !fw_diags_full(w->d) && gregor_config_option(n, &name, NULL, NULL);)
        names[n++] = name;
    const char *near = fw_nearest(k->text, names, n);
    if (near)
        fw_walk_error(w, &k->loc, "%s; did you mean '%s'?", errstr, near);
    else
        fw_walk_error(w, &k->loc, "%s", errstr);
}

/* Checks option k: v on `scratch`; returns the value text or NULL. */
static const char *option(fw_walk *w, gregor_config *scratch, const yt_node *k, const yt_node *v,
                          const char *section, int *seen_at)
{
    char errstr[256], what[80];
    int idx = config_option_find(k->text);
    if (idx < 0) {
        /* The client's own text for an unknown name, then a suggestion. */
        if (gregor_config_set(scratch, k->text, "", errstr, sizeof errstr) != GREGOR_ERR_CONFIG)
            snprintf(errstr, sizeof errstr, "unknown option '%s'", k->text);
        unknown_option(w, k, errstr);
        return NULL;
    }
    const char *canonical = config_options[idx].name;
    const char *why = framework_sets(canonical);
    if (why) {
        fw_walk_error(w, &k->loc, "'%s' may not be set under '%s': %s", k->text, section, why);
        return NULL;
    }
    if (seen_at[idx]) {
        fw_walk_error(w, &k->loc, "'%s' sets '%s' again (first at line %d)", k->text, canonical, seen_at[idx]);
        return NULL;
    }
    seen_at[idx] = k->loc.line;
    bool is_bootstrap = !strcmp(canonical, "bootstrap");
    const char *value = is_bootstrap ? bootstrap_value(w, v) : v->kind == YT_SCALAR && !v->null ? v->text : NULL;
    if (!value) {
        fw_walk_error(w, &v->loc, "'%s' must be %s, not %s", k->text,
                      is_bootstrap ? "host:port or a list of them" : "a single value",
                      yt_describe(v, what, sizeof what));
        return NULL;
    }
    if (is_bootstrap) {
        size_t before = w->n_errors;
        check_bootstrap(w, &v->loc, value);
        if (w->n_errors != before)
            return NULL;
    }
    if (gregor_config_set(scratch, k->text, value, errstr, sizeof errstr) != GREGOR_OK) {
        fw_walk_error(w, &v->loc, "%s", errstr);
        return NULL;
    }
    return value;
}

void fw_walk_options(fw_walk *w, const yt_node *m, const char *section, fw_kvlist *out)
{
    *out = (fw_kvlist){0};
    if (!fw_walk_map(w, m, section, true))
        return;
    gregor_config *scratch = gregor_config_new();
    int *seen_at = fw_walk_alloc(w, config_option_count, sizeof *seen_at);
    out->items = fw_walk_alloc(w, m->n / 2, sizeof *out->items);
    if (!scratch || !seen_at || !out->items) {
        w->nomem = true;
        gregor_config_destroy(scratch);
        return;
    }
    for (size_t i = 0; i + 1 < m->n; i += 2) {
        const yt_node *k = m->kids[i], *v = m->kids[i + 1];
        if (!key_ok(w, k))
            continue;
        const char *value = option(w, scratch, k, v, section, seen_at);
        if (value)
            out->items[out->n++] = (fw_kv){k->text, value, v->loc};
    }
    gregor_config_destroy(scratch);
}
