/* net/versions.c — see versions.h. The legacy profiles are the request
 * handlers of the 0.8.2 and 0.9.0 brokers (kafka/api/RequestKeys.scala and
 * KafkaApis.scala of those releases). */
#include "net/versions.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/gen/api.h"

void net_versions_clear(net_versions *v)
{
    for (int i = 0; i < NET_API_KEYS_MAX; i++)
        v->min[i] = v->max[i] = NET_VERSION_NONE;
}

int16_t net_versions_pick(const net_versions *v, int16_t key, int16_t want_min, int16_t want_max)
{
    if (key < 0 || key >= NET_API_KEYS_MAX || v->max[key] == NET_VERSION_NONE)
        return NET_VERSION_NONE;
    int16_t lo = v->min[key] > want_min ? v->min[key] : want_min;
    int16_t hi = v->max[key] < want_max ? v->max[key] : want_max;
    /* KAFKA-18659: 4.x lists Produce 0-2 yet closes the connection on them. */
    if (key == PROTO_API_PRODUCE && v->max[key] >= 3 && lo < 3)
        lo = 3;
    return lo <= hi ? hi : NET_VERSION_NONE;
}

typedef struct legacy_entry {
    int16_t key, min, max;
} legacy_entry;

static const legacy_entry v0_8_2[] = {
    {PROTO_API_PRODUCE, 0, 0},       {PROTO_API_FETCH, 0, 0},
    {PROTO_API_LIST_OFFSETS, 0, 0},  {PROTO_API_METADATA, 0, 0},
    {PROTO_API_OFFSET_COMMIT, 0, 1}, {PROTO_API_OFFSET_FETCH, 0, 1},
    {PROTO_API_FIND_COORDINATOR, 0, 0},
};

static const legacy_entry v0_9_0[] = {
    {PROTO_API_PRODUCE, 0, 1},          {PROTO_API_FETCH, 0, 1},
    {PROTO_API_LIST_OFFSETS, 0, 0},     {PROTO_API_METADATA, 0, 0},
    {PROTO_API_OFFSET_COMMIT, 0, 2},    {PROTO_API_OFFSET_FETCH, 0, 1},
    {PROTO_API_FIND_COORDINATOR, 0, 0}, {PROTO_API_JOIN_GROUP, 0, 0},
    {PROTO_API_HEARTBEAT, 0, 0},        {PROTO_API_LEAVE_GROUP, 0, 0},
    {PROTO_API_SYNC_GROUP, 0, 0},       {PROTO_API_DESCRIBE_GROUPS, 0, 0},
    {PROTO_API_LIST_GROUPS, 0, 0},
};

static void fill(net_versions *v, const legacy_entry *e, size_t n)
{
    net_versions_clear(v);
    for (size_t i = 0; i < n; i++) {
        v->min[e[i].key] = e[i].min;
        v->max[e[i].key] = e[i].max;
    }
}

gregor_err net_versions_parse_release(const char *version, int32_t *out)
{
    unsigned major = 0, minor = 0, patch = 0, extra = 0;
    int consumed = 0;
    int n = sscanf(version, "%u.%u%n.%u%n.%u%n", &major, &minor, &consumed, &patch, &consumed,
                   &extra, &consumed);
    if (n < 2 || version[consumed] != '\0' || major > 999 || minor > 999 || patch > 999)
        return GREGOR_ERR_INVALID_ARG;
    *out = (int32_t)(major * 1000000 + minor * 1000 + patch);
    return GREGOR_OK;
}

static net_versions table_0_8_2, table_0_9_0;
static pthread_once_t tables_once = PTHREAD_ONCE_INIT;

static void build_tables(void)
{
    fill(&table_0_8_2, v0_8_2, sizeof v0_8_2 / sizeof v0_8_2[0]);
    fill(&table_0_9_0, v0_9_0, sizeof v0_9_0 / sizeof v0_9_0[0]);
}

const net_versions *net_versions_legacy(const char *version)
{
    int32_t rel;
    if (net_versions_parse_release(version, &rel) != GREGOR_OK)
        return NULL;
    pthread_once(&tables_once, build_tables);
    if (rel >= 8002 && rel < 9000) /* 0.8.2.x */
        return &table_0_8_2;
    if (rel >= 9000 && rel < 10000) /* 0.9.x */
        return &table_0_9_0;
    return NULL;
}

const char *net_versions_legacy_name(const net_versions *v)
{
    pthread_once(&tables_once, build_tables);
    return v == &table_0_8_2 ? "0.8.2" : v == &table_0_9_0 ? "0.9.0" : NULL;
}

/* ------------------------------------------------------- detection cache */

typedef struct cache_entry {
    char *host;
    int port;
    const net_versions *v;
} cache_entry;

struct net_legacy_cache {
    cache_entry *e;
    size_t n, cap;
};

gregor_err net_legacy_cache_new(net_legacy_cache **out)
{
    net_legacy_cache *c = calloc(1, sizeof *c);
    if (!c)
        return GREGOR_ERR_NOMEM;
    *out = c;
    return GREGOR_OK;
}

void net_legacy_cache_destroy(net_legacy_cache *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n; i++)
        free(c->e[i].host);
    free(c->e);
    free(c);
}

static cache_entry *cache_find(const net_legacy_cache *c, const char *host, int port)
{
    for (size_t i = 0; i < c->n; i++)
        if (c->e[i].port == port && !strcmp(c->e[i].host, host))
            return &c->e[i];
    return NULL;
}

const net_versions *net_legacy_cache_get(const net_legacy_cache *c, const char *host, int port)
{
    const cache_entry *e = c ? cache_find(c, host, port) : NULL;
    return e ? e->v : NULL;
}

gregor_err net_legacy_cache_put(net_legacy_cache *c, const char *host, int port, const net_versions *v)
{
    cache_entry *e = cache_find(c, host, port);
    if (e) {
        e->v = v;
        return GREGOR_OK;
    }
    if (c->n == NET_LEGACY_CACHE_MAX)
        return GREGOR_ERR_TOO_LARGE;
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 8;
        cache_entry *ne = realloc(c->e, cap * sizeof *ne);
        if (!ne)
            return GREGOR_ERR_NOMEM;
        c->e = ne;
        c->cap = cap;
    }
    char *h = strdup(host);
    if (!h)
        return GREGOR_ERR_NOMEM;
    c->e[c->n++] = (cache_entry){h, port, v};
    return GREGOR_OK;
}
