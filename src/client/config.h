/* client/config.h — typed access to gregor_config for the library's layers.
 *
 * The option table (config_options.c) is the one list of every option with
 * its type, default, range and documentation; gregor_config_set() validates
 * against it, so the getters here never see malformed values.
 *
 * Threading: read-only use of a config from any thread.
 */
#ifndef GREGOR_CLIENT_CONFIG_H
#define GREGOR_CLIENT_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gregor/client.h"

typedef enum config_type { CONFIG_STRING, CONFIG_INT, CONFIG_BOOL, CONFIG_ENUM } config_type;

typedef struct config_option {
    const char *name;
    const char *aliases; /* space-separated other names, or NULL */
    config_type type;
    const char *default_value;
    int64_t min, max;    /* CONFIG_INT range */
    const char *choices; /* CONFIG_ENUM: "a|b|c" */
    const char *doc;
    /* Extra validation (CONFIG_STRING): returns false and fills errstr. */
    bool (*check)(const char *value, char *errstr, size_t errstr_size);
} config_option;

extern const config_option config_options[];
extern const size_t config_option_count;

/* The index in config_options[] of option `name` (canonical or an alias),
 * or -1 when there is none. */
int config_option_find(const char *name);

/* Getters by canonical name; the name must be in the table (asserted). */
const char *config_str(const gregor_config *cfg, const char *name);
int64_t config_int(const gregor_config *cfg, const char *name);
bool config_bool(const gregor_config *cfg, const char *name);

/* True when the option was set explicitly (not left at its default). */
bool config_is_set(const gregor_config *cfg, const char *name);

#endif
