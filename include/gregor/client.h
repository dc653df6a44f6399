/* gregor/client.h — configuration and the client handle.
 *
 * A gregor_config is a set of named options, validated when set: an unknown
 * name or a bad value is an error naming the option, never ignored. Options
 * use gregor's names (`bootstrap`, `request_timeout_ms`, ...); the common
 * librdkafka/Java names (`bootstrap.servers`, `client.id`, ...) are accepted
 * as aliases so that `-X` flags typed for kcat work. `gregor config list`
 * prints them all with defaults.
 *
 * A gregor_client owns one I/O thread, the connections to the brokers and
 * the live cluster model; producers and consumers are built on it, each on
 * a client of its own (gregor_producer_new, gregor_consumer_new) or many on
 * one shared client (gregor_producer_new_on, gregor_consumer_new_on).
 *
 * Lifetime: a client is reference counted. gregor_client_new() returns the
 * application's reference; every producer and consumer built on the client
 * holds one more until it is destroyed. gregor_client_destroy() drops the
 * application's: the connections close and the I/O thread stops when the
 * last reference goes, so destroying the client before the producers and
 * consumers on it is safe (they go on working).
 *
 * Threading: a gregor_config is not thread-safe (build it on one thread,
 * then share it read-only). gregor_client functions are thread-safe unless
 * noted; gregor_client_destroy() must not race with other calls on the same
 * client.
 */
#ifndef GREGOR_CLIENT_H
#define GREGOR_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gregor/error.h"
#include "gregor/metadata.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct gregor_config gregor_config;
typedef struct gregor_client gregor_client;

/* A config with every option at its default; NULL when out of memory. */
gregor_config *gregor_config_new(void);
gregor_config *gregor_config_dup(const gregor_config *cfg);
void gregor_config_destroy(gregor_config *cfg);

/* Sets option `name` (or an alias) to `value` after validating it. On
 * failure returns GREGOR_ERR_CONFIG and writes e.g. "unknown option 'x'" or
 * "request_timeout_ms: 'abc' is not an integer" to errstr. */
gregor_err gregor_config_set(gregor_config *cfg, const char *name, const char *value, char *errstr,
                             size_t errstr_size) GREGOR_MUST_CHECK;

/* The current value as text (the default if never set); NULL for unknown
 * names. Valid until the option is set again or the config destroyed. */
const char *gregor_config_get(const gregor_config *cfg, const char *name);

/* Iterates the known options: returns false past the last. `doc` and
 * `default_value` may be NULL when not wanted. */
bool gregor_config_option(size_t index, const char **name, const char **default_value, const char **doc);

/* Creates a client (the config is copied) and starts its I/O thread and the
 * first metadata request. Fails with CONFIG (and errstr) for bad settings;
 * unreachable brokers are not an error here: requests report them. */
gregor_err gregor_client_new(const gregor_config *cfg, gregor_client **out, char *errstr,
                             size_t errstr_size) GREGOR_MUST_CHECK;

/* Drops the application's reference; when no producer or consumer runs on
 * the client any more, closes the connections and stops the I/O thread
 * (otherwise the last of them does). The handle must not be used after
 * this call. NULL does nothing. */
void gregor_client_destroy(gregor_client *c);

/* Fetches fresh metadata. `topics` NULL (n_topics 0) asks for every topic.
 * Blocks up to timeout_ms; on failure errstr names what failed and where
 * (e.g. "bootstrap broker 127.0.0.1:9: connection refused"). The result is
 * the caller's to gregor_metadata_destroy(). */
gregor_err gregor_client_metadata(gregor_client *c, const char *const *topics, size_t n_topics,
                                  int32_t timeout_ms, const gregor_metadata **out, char *errstr,
                                  size_t errstr_size) GREGOR_MUST_CHECK;

/* A broker's supported version range of one API, and the version gregor
 * will use (-1 when they have none in common). */
typedef struct gregor_api_version {
    int16_t api_key;
    const char *name;     /* Kafka's name: "Produce", "Fetch", ...; NULL for keys Kafka's schemas lack */
    int16_t broker_min, broker_max;
    int16_t client_min, client_max; /* -1 when gregor does not speak the API */
    int16_t chosen;
} gregor_api_version;

/* The API versions broker `node_id` supports (negotiated through
 * ApiVersions, or the configured broker_version profile). Writes up to
 * `max` entries, sorted by key, and their count to *n. */
gregor_err gregor_client_api_versions(gregor_client *c, int32_t node_id, int32_t timeout_ms,
                                      gregor_api_version *out, size_t max, size_t *n, char *errstr,
                                      size_t errstr_size) GREGOR_MUST_CHECK;

/* One broker connection's counters (since the client was created; they
 * never go down), per broker and purpose: "data" (metadata, fetch,
 * produce), "coordinator" (commits, offset fetches), "member" (a group
 * member's own connection), summed over reconnects. The gregor_broker_*
 * series of docs/METRICS.md. */
typedef struct gregor_broker_stats {
    int32_t node_id;       /* bootstrap entries before the first metadata: -1, -2, ... */
    const char *purpose;   /* "data", "coordinator" or "member" (static strings) */
    char broker[280];      /* host:port of the first connection */
    uint64_t requests;     /* requests answered */
    uint64_t errors;       /* requests that ended without an answer (timed out, disconnected) */
    uint64_t connects;     /* times a connection came up (handshake done); reconnects: connects - 1 */
    uint64_t failures;     /* times a connection failed (connect, handshake, or a broken one) */
    uint64_t rtt_us_sum;   /* round trips of answered requests (long-polled Fetch, JoinGroup and */
    uint64_t rtt_count;    /* SyncGroup left out): rtt_us_sum / rtt_count is the mean, in microseconds */
} gregor_broker_stats;

/* Copies the counters of every broker and purpose the client has connected
 * to into a malloc'd array (*out, *n entries; free() it; NULL and 0 when
 * none). NOMEM. Cheap (one short hold of the cluster's lock). Any thread. */
gregor_err gregor_client_broker_stats(gregor_client *c, gregor_broker_stats **out, size_t *n) GREGOR_MUST_CHECK;

/* The library version, "MAJOR.MINOR.PATCH". */
const char *gregor_version(void);

#ifdef __cplusplus
}
#endif
#endif
