/* framework/config_walk.h — the typed reads the schema walk (config.c,
 * config_pipeline.c) makes on the YAML tree. Each read checks one value,
 * adds a located error to the walk's diags when it is wrong and leaves the
 * default in place, so that one pass finds every error.
 *
 * Memory: strings returned are the tree's (in the config's arena).
 * Threading: one walk per thread.
 */
#ifndef GREGOR_FRAMEWORK_CONFIG_WALK_H
#define GREGOR_FRAMEWORK_CONFIG_WALK_H

#include <stdbool.h>
#include <stdint.h>

#include "framework/config.h"
#include "framework/yaml_tree.h"
#include "util/arena.h"

typedef struct fw_walk {
    const char *file;
    arena *a;    /* the config's: the tree and every array built from it */
    fw_diags *d;
    size_t n_errors; /* errors this walk added */
    bool nomem;  /* sticky: an allocation failed */
} fw_walk;

/* True once `d` holds as many errors as it keeps (diags.c): later ones are
 * counted but not shown, so suggestions for them need not be computed. */
bool fw_diags_full(const fw_diags *d);

/* Adds a located error and counts it. */
void fw_walk_error(fw_walk *w, const fw_loc *loc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Zeroed arena memory for `count` elements; NULL (and nomem set) on failure. */
void *fw_walk_alloc(fw_walk *w, size_t count, size_t size);

/* True when `n` is a map; otherwise (n not NULL) an error "'name' must be a
 * map ..., not a list". A null scalar counts as an empty map when
 * `null_ok`. */
bool fw_walk_map(fw_walk *w, const yt_node *n, const char *name, bool null_ok);

/* Checks the keys of map `m`: each a plain name, none repeated, each in
 * `keys` (n_keys names; NULL: any name); an unknown one is reported with
 * the nearest valid name ("did you mean 'threads'?") or, with none near,
 * the list. */
void fw_walk_keys(fw_walk *w, const yt_node *m, const char *const *keys, size_t n_keys);

/* The text of scalar `n` (value of `name`); NULL when n is NULL (absent:
 * nothing reported) or not a non-empty scalar (reported). */
const char *fw_walk_string(fw_walk *w, const yt_node *n, const char *name);

/* The integer `n` holds, into *out when it is one in min..max; otherwise
 * an error and *out unchanged. n NULL: *out unchanged, no error. */
void fw_walk_int(fw_walk *w, const yt_node *n, const char *name, int64_t min, int64_t max, int64_t *out);

/* One of `choices` ("a|b|c"): its index into *out; otherwise an error
 * listing them. n NULL: *out unchanged. */
void fw_walk_enum(fw_walk *w, const yt_node *n, const char *name, const char *choices, int *out);

/* A list of strings (or one string, as a list of one) into an arena array
 * (*out, *n_out). Each item is checked as a topic name when `topics`. */
void fw_walk_strings(fw_walk *w, const yt_node *n, const char *name, bool topics, const char ***out,
                     size_t *n_out, fw_loc **locs_out);

/* Kafka's rule for topic names (1..249 of [A-Za-z0-9._-], not "." or ".."):
 * an error naming `name` when `topic` breaks it. */
void fw_walk_topic(fw_walk *w, const fw_loc *loc, const char *name, const char *topic);

/* A map of client options (cluster, a producer, a pipeline's consumer)
 * into `out`, each checked with gregor_config_set() on a scratch config
 * (unknown names get "did you mean"), the bootstrap list entry by entry as
 * host:port, and the options the framework sets itself refused. `section`
 * names the map in errors ("cluster", "producers.fast", "consumer"). */
void fw_walk_options(fw_walk *w, const yt_node *m, const char *section, fw_kvlist *out);

/* config_pipeline.c: the `pipelines` list into cfg->pipelines (the
 * producers must be in cfg already: outputs name them). */
void fw_walk_pipelines(fw_walk *w, const yt_node *root, fw_config *cfg);

/* swarm_config.c: the `swarm` map (may be NULL: defaults) into cfg->swarm. */
void fw_swarm_conf_defaults(fw_swarm_conf *s);
void fw_walk_swarm(fw_walk *w, const yt_node *m, fw_config *cfg);

#endif
