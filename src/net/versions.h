/* net/versions.h — which API versions a broker supports.
 *
 * A table indexed by API key: min and max supported version, or
 * NET_VERSION_NONE when the broker does not have that API. It comes from an
 * ApiVersions response, or from a built-in profile for brokers that predate
 * ApiVersions (0.8.x, 0.9.x), selected by the `broker_version` setting.
 *
 * Threading: tables are plain values; built-in profiles are immutable.
 */
#ifndef GREGOR_NET_VERSIONS_H
#define GREGOR_NET_VERSIONS_H

#include <stdbool.h>
#include <stdint.h>

#include "gregor/error.h"

#define NET_API_KEYS_MAX 128
#define NET_VERSION_NONE ((int16_t)-1)

typedef struct net_versions {
    int16_t min[NET_API_KEYS_MAX];
    int16_t max[NET_API_KEYS_MAX];
} net_versions;

/* A table in which no API is supported. */
void net_versions_clear(net_versions *v);

/* The highest version in [want_min, want_max] ∩ the broker's range of `key`,
 * or NET_VERSION_NONE when they do not meet. A 4.x broker advertises Produce
 * v0-2 but rejects them: whenever the broker supports Produce v3 the lower
 * versions are never chosen. */
int16_t net_versions_pick(const net_versions *v, int16_t key, int16_t want_min, int16_t want_max);

/* The profile of a pre-ApiVersions broker release named like "0.8.2",
 * "0.8.2.2", "0.9", "0.9.0.1"; NULL when `version` names a release that has
 * ApiVersions (0.10.0 and later) or is not a release we know. */
const net_versions *net_versions_legacy(const char *version);

/* The release a built-in profile stands for ("0.8.2", "0.9.0"); NULL for
 * any other table. */
const char *net_versions_legacy_name(const net_versions *v);

/* What was detected of brokers that refuse ApiVersions, by address, so that
 * every connection to such a broker (a reconnect, the bootstrap connection
 * and the broker's own, a coordinator's) probes once per client. Entries
 * are never dropped: a broker upgraded in place is seen as its old release
 * until the client is recreated (its old profile still works: newer brokers
 * keep the old versions). At most NET_LEGACY_CACHE_MAX addresses are kept.
 * Threading: the loop thread only. */
#define NET_LEGACY_CACHE_MAX 1024

typedef struct net_legacy_cache net_legacy_cache;

gregor_err net_legacy_cache_new(net_legacy_cache **out) GREGOR_MUST_CHECK;
/* NULL does nothing. */
void net_legacy_cache_destroy(net_legacy_cache *c);
/* The profile recorded for host:port, or NULL. */
const net_versions *net_legacy_cache_get(const net_legacy_cache *c, const char *host, int port);
/* Records (or replaces) the profile of host:port; `v` must be a built-in
 * profile. NOMEM when it could not be recorded (the caller then probes
 * again next time), TOO_LARGE when the cache is full. */
gregor_err net_legacy_cache_put(net_legacy_cache *c, const char *host, int port,
                                const net_versions *v) GREGOR_MUST_CHECK;

/* Parses "MAJOR.MINOR[.PATCH[.X]]" into a comparable number
 * (major*1000000 + minor*1000 + patch). INVALID_ARG for other text. */
gregor_err net_versions_parse_release(const char *version, int32_t *out) GREGOR_MUST_CHECK;

#endif
