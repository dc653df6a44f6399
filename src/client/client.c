/* client/client.c — gregor_client: the I/O loop, the cluster model and the
 * blocking administrative calls (metadata, API versions) on top of them. */
#include "client/client.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client/config.h"
#include "protocol/gen/api.h"
#include "protocol/gen/metadata.h"
#include "util/log.h"

const char *gregor_version(void) { return "0.1.0"; }

static void copy_errstr(char *dst, size_t n, const char *src)
{
    if (dst && n)
        snprintf(dst, n, "%s", src);
}

gregor_err client_cluster_config(const gregor_config *cfg, cluster_config *cc, char *errstr, size_t n)
{
    cluster_config_defaults(cc);
    cc->bootstrap = config_str(cfg, "bootstrap");
    cc->conn.client_id = config_str(cfg, "client_id");
    cc->conn.request_timeout_ms = (int32_t)config_int(cfg, "request_timeout_ms");
    cc->conn.connect_timeout_ms = (int32_t)config_int(cfg, "connect_timeout_ms");
    cc->conn.reconnect_backoff_ms = (int32_t)config_int(cfg, "reconnect_backoff_ms");
    cc->conn.reconnect_backoff_max_ms = (int32_t)config_int(cfg, "reconnect_backoff_max_ms");
    cc->conn.max_in_flight = (int32_t)config_int(cfg, "max_in_flight");
    cc->conn.max_response_bytes = (size_t)config_int(cfg, "max_response_bytes");
    cc->metadata_refresh_ms = (int32_t)config_int(cfg, "metadata_refresh_ms");
    cc->metadata_fast_refresh_ms = (int32_t)config_int(cfg, "metadata_fast_refresh_ms");
    cc->allow_auto_create_topics = config_bool(cfg, "allow_auto_create_topics");
    if (cc->conn.reconnect_backoff_max_ms < cc->conn.reconnect_backoff_ms) {
        snprintf(errstr, n, "reconnect_backoff_max_ms (%d) is below reconnect_backoff_ms (%d)",
                 cc->conn.reconnect_backoff_max_ms, cc->conn.reconnect_backoff_ms);
        return GREGOR_ERR_CONFIG;
    }
    const char *bv = config_str(cfg, "broker_version");
    if (strcmp(bv, "auto") != 0)
        cc->conn.fixed_versions = net_versions_legacy(bv); /* NULL for >= 0.10: negotiate */
    cc->conn.fallback_versions = net_versions_legacy(config_str(cfg, "broker_version_fallback"));
    return GREGOR_OK;
}

gregor_err gregor_client_new(const gregor_config *cfg, gregor_client **out, char *errstr, size_t n)
{
    char dummy[1];
    if (!errstr) {
        errstr = dummy;
        n = sizeof dummy;
    }
    gregor_client *c = calloc(1, sizeof *c);
    if (!c)
        return GREGOR_ERR_NOMEM;
    gregor_err err = GREGOR_ERR_NOMEM;
    if (!(c->cfg = gregor_config_dup(cfg)))
        goto out_free;
    if (config_is_set(c->cfg, "log_level")) {
        const char *lv = config_str(c->cfg, "log_level");
        gregor_log_set_level(!strcmp(lv, "debug")  ? GREGOR_LOG_DEBUG
                             : !strcmp(lv, "info") ? GREGOR_LOG_INFO
                             : !strcmp(lv, "warn") ? GREGOR_LOG_WARN
                                                   : GREGOR_LOG_ERROR);
    }
    cluster_config cc;
    if ((err = client_cluster_config(c->cfg, &cc, errstr, n)) != GREGOR_OK)
        goto out_config;
    if ((err = net_loop_new(&c->loop)) != GREGOR_OK)
        goto out_config;
    if ((err = cluster_new(c->loop, &cc, &c->cluster, errstr, n)) != GREGOR_OK)
        goto out_loop;
    if ((err = net_loop_start(c->loop)) != GREGOR_OK)
        goto out_cluster;
    if ((err = cluster_start(c->cluster)) != GREGOR_OK) {
        net_loop_stop(c->loop);
        goto out_cluster;
    }
    atomic_init(&c->refs, 1);
    *out = c;
    return GREGOR_OK;
out_cluster:
    cluster_free(c->cluster);
out_loop:
    net_loop_destroy(c->loop);
out_config:
    gregor_config_destroy(c->cfg);
out_free:
    free(c);
    return err;
}

gregor_client *client_ref(gregor_client *c)
{
    atomic_fetch_add(&c->refs, 1);
    return c;
}

void gregor_client_destroy(gregor_client *c)
{
    if (!c)
        return;
    int before = atomic_fetch_sub(&c->refs, 1);
    assert(before > 0);
    if (before > 1) /* producers or consumers still run on it */
        return;
    cluster_shutdown(c->cluster);
    net_loop_stop(c->loop); /* runs the connections' clean-up jobs */
    cluster_free(c->cluster);
    net_loop_destroy(c->loop);
    gregor_config_destroy(c->cfg);
    free(c);
}

/* ----------------------------------------------------------- metadata */

typedef struct topics_req {
    const char *const *names;
    size_t n;
    bool allow_auto_create;
} topics_req;

static gregor_err encode_topics_metadata(buf_writer *w, int16_t version, void *opaque)
{
    const topics_req *t = opaque;
    proto_metadata_request m;
    proto_metadata_request_init(&m);
    proto_metadata_request_topic stack[16], *ts = stack;
    if (t->n > 16 && !(ts = calloc(t->n, sizeof *ts)))
        return GREGOR_ERR_NOMEM;
    for (size_t i = 0; i < t->n; i++) {
        proto_metadata_request_topic_init(&ts[i]);
        ts[i].name = buf_slice_of(t->names[i], strlen(t->names[i]));
    }
    m.topics = t->n ? ts : NULL;
    /* No names: all topics (v0 says so with an empty array, v1+ with null). */
    m.topics_count = t->n ? (int32_t)t->n : (version == 0 ? 0 : -1);
    m.allow_auto_topic_creation = t->allow_auto_create;
    gregor_err err = proto_metadata_request_encode(w, version, &m);
    if (ts != stack)
        free(ts);
    return err;
}

static void ignore_done(gregor_err err, net_response *resp, void *opaque)
{
    (void)err, (void)resp, (void)opaque;
}

bool client_wait_broker(gregor_client *c, int32_t node_id, int64_t deadline)
{
    cluster_snapshot *s = cluster_snapshot_get(c->cluster);
    bool known = s && cluster_snapshot_broker(s, node_id);
    uint64_t generation = s ? s->generation : 0;
    cluster_snapshot_unref(s);
    if (known)
        return true;
    int64_t left = deadline - net_now_ms();
    if (left <= 0)
        return false;
    cluster_request_refresh(c->cluster);
    s = NULL;
    if (cluster_wait_snapshot(c->cluster, generation, (int32_t)left, &s, NULL, 0) != GREGOR_OK)
        return false;
    known = cluster_snapshot_broker(s, node_id) != NULL;
    cluster_snapshot_unref(s);
    return known;
}

/* Runs `req` against any broker until it succeeds or `timeout_ms` passes,
 * trying the next broker after each connection failure. */
gregor_err client_call_any(gregor_client *c, int32_t node_id, net_request *req, int32_t timeout_ms,
                           cluster_reply *reply, char *errstr, size_t n)
{
    int64_t deadline = net_now_ms() + timeout_ms;
    gregor_err err;
    int attempt = 0;
    bool waited_for_node = false;
    for (;;) {
        int64_t left = deadline - net_now_ms();
        if (left <= 0) {
            err = GREGOR_ERR_TIMED_OUT;
            break;
        }
        req->timeout_ms = (int32_t)left;
        err = cluster_call(c->cluster, node_id, req, reply);
        if (err == GREGOR_ERR_INVALID_ARG && node_id >= 0 && !waited_for_node) {
            /* The cluster does not know the broker yet (its first refresh
             * may still be under way): wait for one fresh snapshot. */
            waited_for_node = true;
            if (client_wait_broker(c, node_id, deadline))
                continue;
        }
        if (err == GREGOR_ERR_INVALID_ARG && node_id >= 0) {
            if (errstr && n)
                snprintf(errstr, n, "broker %d is not in the cluster metadata", (int)node_id);
            return err;
        }
        if (err == GREGOR_OK || !gregor_err_is_retriable(err) || err == GREGOR_ERR_TIMED_OUT)
            break;
        /* A broker refused or dropped us: back off briefly, try the next. */
        struct timespec ts = {0, (long)(attempt < 5 ? 50 << attempt : 1000) * 1000000L};
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec = ts.tv_nsec / 1000000000L;
            ts.tv_nsec %= 1000000000L;
        }
        nanosleep(&ts, NULL);
        attempt++;
    }
    if (err != GREGOR_OK) {
        char last[256];
        gregor_err cerr = cluster_last_error(c->cluster, last, sizeof last);
        if (err == GREGOR_ERR_TIMED_OUT && cerr != GREGOR_OK)
            err = cerr; /* the underlying cause is more useful than "timed out" */
        /* The last failure names the broker and the cause; alone it says it all. */
        if (errstr && n)
            snprintf(errstr, n, "%s", last[0] ? last : gregor_err_str(err));
    }
    return err;
}

gregor_err gregor_client_broker_stats(gregor_client *c, gregor_broker_stats **out, size_t *n)
{
    return cluster_conn_stats_get(c->cluster, out, n);
}

gregor_err gregor_client_metadata(gregor_client *c, const char *const *topics, size_t n_topics,
                                  int32_t timeout_ms, const gregor_metadata **out, char *errstr,
                                  size_t n)
{
    topics_req t = {topics, topics ? n_topics : 0, config_bool(c->cfg, "allow_auto_create_topics")};
    net_request req = {
        .api_key = PROTO_API_METADATA,
        .min_version = 0,
        .max_version = proto_api_get(PROTO_API_METADATA)->max_version,
        .encode = encode_topics_metadata,
        .done = ignore_done,
        .opaque = &t,
    };
    cluster_reply reply;
    gregor_err err = client_call_any(c, -1, &req, timeout_ms, &reply, errstr, n);
    if (err != GREGOR_OK)
        return err;
    arena a;
    arena_init(&a, ARENA_DEFAULT_LIMIT);
    proto_metadata_response m;
    cluster_snapshot *s = NULL;
    err = proto_metadata_response_decode(&reply.body, reply.version, &m, &a);
    if (err != GREGOR_OK)
        snprintf(errstr, n, "malformed Metadata v%d response from broker %d: %s", reply.version,
                 reply.node_id, reply.body.what ? reply.body.what : gregor_err_str(err));
    else if (reply.version >= 13 && m.error_code != 0)
        err = gregor_err_from_broker(m.error_code), copy_errstr(errstr, n, gregor_err_str(err));
    else if ((err = cluster_snapshot_build(&m, reply.version, reply.node_id, 0, &s)) != GREGOR_OK)
        copy_errstr(errstr, n, gregor_err_str(err));
    arena_fini(&a);
    free(reply.frame);
    if (err == GREGOR_OK)
        *out = &s->md;
    return err;
}

/* ------------------------------------------------------- API versions */

gregor_err gregor_client_api_versions(gregor_client *c, int32_t node_id, int32_t timeout_ms,
                                      gregor_api_version *out, size_t max, size_t *count,
                                      char *errstr, size_t n)
{
    /* Any cheap request makes the connection negotiate; a Metadata request
     * for no topics is answered by every broker version (v0 lists all). */
    static const char *const none[1] = {NULL};
    topics_req t = {none, 0, false};
    net_request req = {
        .api_key = PROTO_API_METADATA,
        .min_version = 1,
        .max_version = proto_api_get(PROTO_API_METADATA)->max_version,
        .encode = encode_topics_metadata,
        .done = ignore_done,
        .opaque = &t,
    };
    cluster_reply reply;
    gregor_err err = client_call_any(c, node_id, &req, timeout_ms, &reply, errstr, n);
    if (err == GREGOR_ERR_UNSUPPORTED) { /* a 0.8/0.9 profile: Metadata v0 only */
        req.min_version = 0;
        err = client_call_any(c, node_id, &req, timeout_ms, &reply, errstr, n);
    }
    if (err != GREGOR_OK)
        return err;
    free(reply.frame);
    if (!reply.have_versions) {
        copy_errstr(errstr, n, "the connection closed before its versions could be read");
        return GREGOR_ERR_DISCONNECTED;
    }
    size_t k = 0;
    for (int16_t key = 0; key < NET_API_KEYS_MAX; key++) {
        const proto_api_info *info = proto_api_get(key);
        bool broker_has = reply.versions.max[key] != NET_VERSION_NONE;
        if (!broker_has && !info)
            continue;
        if (k < max) {
            gregor_api_version *v = &out[k];
            v->api_key = key;
            v->name = proto_api_name(key);
            v->broker_min = reply.versions.min[key];
            v->broker_max = reply.versions.max[key];
            v->client_min = info ? info->min_version : -1;
            v->client_max = info ? info->max_version : -1;
            v->chosen = info ? net_versions_pick(&reply.versions, key, info->min_version, info->max_version)
                             : -1;
        }
        k++;
    }
    *count = k < max ? k : max;
    return GREGOR_OK;
}
