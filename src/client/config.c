/* client/config.c — gregor_config: option values by table index, NULL
 * meaning "default". See config.h and include/gregor/client.h. */
#include "client/config.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct gregor_config {
    char **values; /* config_option_count entries */
};

gregor_config *gregor_config_new(void)
{
    gregor_config *c = calloc(1, sizeof *c);
    if (c && !(c->values = calloc(config_option_count, sizeof *c->values))) {
        free(c);
        return NULL;
    }
    return c;
}

void gregor_config_destroy(gregor_config *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < config_option_count; i++)
        free(c->values[i]);
    free(c->values);
    free(c);
}

gregor_config *gregor_config_dup(const gregor_config *src)
{
    gregor_config *c = gregor_config_new();
    for (size_t i = 0; c && i < config_option_count; i++) {
        if (src->values[i] && !(c->values[i] = strdup(src->values[i]))) {
            gregor_config_destroy(c);
            return NULL;
        }
    }
    return c;
}

static bool name_in_list(const char *name, const char *list)
{
    size_t n = strlen(name);
    for (const char *p = list; p && *p;) {
        const char *end = strchr(p, ' ');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n && !strncmp(p, name, n))
            return true;
        p = end ? end + 1 : NULL;
    }
    return false;
}

int config_option_find(const char *name)
{
    for (size_t i = 0; i < config_option_count; i++)
        if (!strcmp(config_options[i].name, name) || name_in_list(name, config_options[i].aliases))
            return (int)i;
    return -1;
}

static bool parse_bool(const char *v, bool *out)
{
    static const char *yes[] = {"true", "1", "yes", "on"}, *no[] = {"false", "0", "no", "off"};
    for (size_t i = 0; i < 4; i++) {
        if (!strcasecmp(v, yes[i]))
            return *out = true, true;
        if (!strcasecmp(v, no[i]))
            return *out = false, true;
    }
    return false;
}

static bool validate(const config_option *o, const char *v, char *errstr, size_t n)
{
    switch (o->type) {
    case CONFIG_INT: {
        errno = 0;
        char *end;
        long long x = strtoll(v, &end, 10);
        if (errno || end == v || *end) {
            snprintf(errstr, n, "%s: '%s' is not an integer", o->name, v);
            return false;
        }
        if (x < o->min || x > o->max) {
            snprintf(errstr, n, "%s: %lld is outside %lld..%lld", o->name, x, (long long)o->min,
                     (long long)o->max);
            return false;
        }
        return true;
    }
    case CONFIG_BOOL: {
        bool b;
        if (!parse_bool(v, &b)) {
            snprintf(errstr, n, "%s: '%s' is not true or false", o->name, v);
            return false;
        }
        return true;
    }
    case CONFIG_ENUM:
        for (const char *p = o->choices; p;) {
            const char *bar = strchr(p, '|');
            size_t len = bar ? (size_t)(bar - p) : strlen(p);
            if (len == strlen(v) && !strncmp(p, v, len))
                return true;
            p = bar ? bar + 1 : NULL;
        }
        snprintf(errstr, n, "%s: '%s' is not one of %s", o->name, v, o->choices);
        return false;
    case CONFIG_STRING:
        return o->check ? o->check(v, errstr, n) : true;
    }
    return false;
}

gregor_err gregor_config_set(gregor_config *c, const char *name, const char *value, char *errstr,
                             size_t errstr_size)
{
    char dummy[1];
    if (!errstr) {
        errstr = dummy;
        errstr_size = sizeof dummy;
    }
    if (!name || !value) {
        snprintf(errstr, errstr_size, "option name and value are required");
        return GREGOR_ERR_CONFIG;
    }
    int i = config_option_find(name);
    if (i < 0) {
        snprintf(errstr, errstr_size, "unknown option '%s' (gregor config list shows them all)", name);
        return GREGOR_ERR_CONFIG;
    }
    if (!validate(&config_options[i], value, errstr, errstr_size))
        return GREGOR_ERR_CONFIG;
    char *v = strdup(value);
    if (!v)
        return GREGOR_ERR_NOMEM;
    free(c->values[i]);
    c->values[i] = v;
    return GREGOR_OK;
}

const char *gregor_config_get(const gregor_config *c, const char *name)
{
    int i = config_option_find(name);
    if (i < 0)
        return NULL;
    return c->values[i] ? c->values[i] : config_options[i].default_value;
}

bool gregor_config_option(size_t index, const char **name, const char **default_value, const char **doc)
{
    if (index >= config_option_count)
        return false;
    if (name)
        *name = config_options[index].name;
    if (default_value)
        *default_value = config_options[index].default_value;
    if (doc)
        *doc = config_options[index].doc;
    return true;
}

const char *config_str(const gregor_config *c, const char *name)
{
    const char *v = gregor_config_get(c, name);
    assert(v);
    return v;
}

int64_t config_int(const gregor_config *c, const char *name)
{
    return strtoll(config_str(c, name), NULL, 10);
}

bool config_bool(const gregor_config *c, const char *name)
{
    bool b = false;
    (void)parse_bool(config_str(c, name), &b);
    return b;
}

bool config_is_set(const gregor_config *c, const char *name)
{
    int i = config_option_find(name);
    assert(i >= 0);
    return c->values[i] != NULL;
}
