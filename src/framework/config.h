/* framework/config.h — a pipeline file (YAML) turned into a validated tree.
 *
 * fw_config_load() is the only user of libyaml: it parses the file, puts
 * ${VAR} and ${VAR:-default} from the environment into every scalar,
 * checks the schema (keys, types, ranges, every client / producer /
 * consumer option by gregor_config_set() on a scratch config, bootstrap
 * addresses as host:port) and collects every error it finds, each located
 * "FILE:LINE:COL: what was expected" (an unknown key names the nearest
 * valid one). Handlers are resolved elsewhere (registry.h), with the
 * locations kept here.
 *
 * Every string in the tree is owned by the tree (an arena); the tree is
 * read-only once loaded and may be shared by threads. Not thread-safe while
 * loading.
 */
#ifndef GREGOR_FRAMEWORK_CONFIG_H
#define GREGOR_FRAMEWORK_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gregor/client.h"
#include "gregor/error.h"

/* Where a node was in the file: 1-based line and column. */
typedef struct fw_loc {
    const char *file;
    int line;
    int col;
} fw_loc;

/* Errors collected while loading or checking: "FILE:LINE:COL: text" each. */
typedef struct fw_diags {
    char **msgs;
    size_t n;
    size_t cap;
} fw_diags;

void fw_diags_init(fw_diags *d);
void fw_diags_fini(fw_diags *d);
/* Adds one located error (printf-style text); loc NULL for none. */
void fw_diags_add(fw_diags *d, const fw_loc *loc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* A name/value option or parameter, as written (after ${VAR}). */
typedef struct fw_kv {
    const char *key;
    const char *value;
    fw_loc loc; /* of the value */
} fw_kv;

typedef struct fw_kvlist {
    fw_kv *items;
    size_t n;
} fw_kvlist;

typedef enum fw_ordering { FW_ORDER_PARTITION, FW_ORDER_KEY, FW_ORDER_NONE } fw_ordering;

/* How an output picks the partition of an emitted message that names none:
 * auto (the producer's partitioner, by key), input (the input message's
 * partition number; the output topic needs at least as many), or a fixed
 * number. */
typedef enum fw_route { FW_ROUTE_AUTO, FW_ROUTE_INPUT, FW_ROUTE_FIXED } fw_route;

/* Which key an emitted message carries: the one emitted (default) or the
 * input message's (the emitted key ignored). */
typedef enum fw_key_from { FW_KEY_EMITTED, FW_KEY_INPUT } fw_key_from;

typedef struct fw_output {
    const char *name;
    const char *topic;
    const char *producer; /* a name in fw_config.producers ("default" when not written) */
    fw_route partition;
    int32_t fixed_partition;
    fw_key_from key;
    fw_loc loc;
} fw_output;

typedef struct fw_producer_conf {
    const char *name;
    fw_kvlist options; /* producer options, applied over the cluster's */
    fw_loc loc;
} fw_producer_conf;

typedef struct fw_pipeline_conf {
    const char *name;
    const char *group;
    const char **topics;   /* topics: [..], or NULL with pattern */
    size_t n_topics;
    const char *pattern;   /* topic_pattern: a regex, or NULL */
    const char *handler;   /* a registered name */
    const char *plugin;    /* plugin: a path to a shared object, or NULL */
    fw_kvlist params;      /* params: free map handed to init (scalars) */
    int threads;           /* 1..1024, default 1 */
    fw_ordering ordering;  /* default partition */
    fw_output *outputs;
    size_t n_outputs;
    int max_attempts;        /* retry.max_attempts: 1..1000, default 3 (1: no retry) */
    int64_t backoff_ms;      /* retry.backoff_ms, default 100 */
    int64_t max_backoff_ms;  /* retry.max_backoff_ms, default 10000 */
    const char *dead_letter; /* dead_letter: topic, or NULL */
    const char *dead_letter_producer; /* dead_letter_producer, default "default" */
    int64_t commit_interval_ms;     /* default 1000 */
    int64_t max_in_flight_messages; /* per partition, max_in_flight.messages, default 10000 */
    int64_t max_in_flight_bytes;    /* per partition, max_in_flight.bytes, default 4 MiB */
    int batch_size;                 /* messages per handle_batch call, default 100 */
    int64_t drain_timeout_ms;       /* revoke / shutdown drain bound, default 30000 */
    bool log_payloads;              /* log_payloads: a failed message's value goes in its log line */
    int64_t handler_timeout_ms;     /* a handler call longer than this: the swarm kills the process; 0 off (default) */
    fw_kvlist consumer;             /* consumer / group options, applied over the cluster's */
    fw_loc loc;
    fw_loc handler_loc;
    fw_loc group_loc;
} fw_pipeline_conf;

/* `swarm:` (docs/PIPELINES.md, "Worker processes"): how `gregor run
 * --processes N` supervises its worker processes (swarm.h). */
typedef struct fw_swarm_conf {
    int64_t restart_backoff_ms;     /* the first restart's delay, default 500 */
    int64_t max_restart_backoff_ms; /* doubling up to this, default 30000 */
    int64_t restart_reset_ms;       /* a child up this long starts over at restart_backoff_ms, default 60000 */
    int64_t heartbeat_timeout_ms;   /* no heartbeat for this long: killed, default 10000 */
    int64_t kill_grace_ms;          /* SIGTERM, then SIGKILL this much later, default 5000 */
    int64_t ready_timeout_ms;       /* a reload waits this long for a new child to join, default 60000 */
} fw_swarm_conf;

typedef struct fw_config {
    const char *file;
    fw_kvlist cluster; /* client options (bootstrap joined by ','), for every client */
    fw_loc cluster_loc;
    fw_loc bootstrap_loc;
    fw_producer_conf *producers; /* always has "default" (implicit when not written) */
    size_t n_producers;
    fw_pipeline_conf *pipelines; /* at least one */
    size_t n_pipelines;
    const char **plugins;        /* top-level plugins: [paths] */
    fw_loc *plugin_locs;
    size_t n_plugins;
    int64_t shutdown_timeout_ms; /* shutdown_timeout_ms, default 30000 */
    fw_kvlist log;               /* log: {format, file, level} as written (validated) */
    fw_swarm_conf swarm;         /* swarm: (defaults when absent) */
    void *arena;                 /* owns every string above */
} fw_config;

/* Loads and validates `path`. Returns the tree in *out (GREGOR_OK), or
 * GREGOR_ERR_CONFIG with every error in `diags` (*out NULL). IO when the
 * file cannot be read (in diags too). */
gregor_err fw_config_load(const char *path, fw_config **out, fw_diags *diags) GREGOR_MUST_CHECK;
/* As fw_config_load() from a buffer; `name` is used as the file name. */
gregor_err fw_config_parse(const char *name, const char *text, size_t len, fw_config **out,
                           fw_diags *diags) GREGOR_MUST_CHECK;
void fw_config_free(fw_config *cfg);

/* A gregor_config with the cluster options, then `extra` over them (a
 * producer's or a pipeline's consumer options). NULL when out of memory;
 * values were validated at load, so set errors do not happen. */
gregor_config *fw_config_client(const fw_config *cfg, const fw_kvlist *extra);

/* As fw_config_client(), with `defaults` (name, value, name, value, ...,
 * NULL) set first: the framework's own defaults, which the file's options
 * override. */
gregor_config *fw_config_client_with(const fw_config *cfg, const char *const *defaults, const fw_kvlist *extra);

/* The producer named `name`, or NULL. */
const fw_producer_conf *fw_config_producer(const fw_config *cfg, const char *name);

#endif
