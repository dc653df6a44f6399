/* cluster/cluster.c — see cluster.h.
 *
 * Data layout: `slots` is the table of connections, one per broker node id
 * and connection kind;
 * bootstrap entries use negative ids (-1, -2, ...) and are closed once the
 * first snapshot names real brokers (they stay in `boot` as addresses to
 * fall back to when every known broker is unreachable). The current snapshot
 * pointer and the interest set are guarded by `lock`; everything else belongs
 * to the loop thread.
 */
#include "cluster/cluster.h"

#include <assert.h>
#include <pthread.h>
#include <stdio.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/gen/api.h"
#include "protocol/gen/metadata.h"
#include "util/clock.h"
#include "util/completion.h"
#include "util/log.h"

typedef struct boot_addr {
    char *host;
    int port;
} boot_addr;

/* Counters of one broker and purpose (net_conn_stats), kept until the
 * cluster is freed so that counters never go down across reconnects. */
typedef struct stats_entry {
    struct stats_entry *next;
    int32_t node_id;
    int purpose;           /* 0 data, 1 coordinator, 2 member */
    char broker[280];
    net_conn_stats st;
} stats_entry;

typedef struct slot {
    int32_t node_id;
    cluster_conn_kind kind;
    net_conn *conn;
} slot;

struct cluster {
    net_loop *loop;
    cluster_config cfg;
    atomic_bool all_topics; /* cfg.all_topics, or a pattern subscription asked for every topic */
    atomic_int member_kinds; /* kinds handed out by cluster_new_member_kind */

    boot_addr *boot;
    size_t n_boot;

    /* loop thread */
    slot *slots;
    size_t n_slots, cap_slots;
    size_t rotate; /* round-robin position for cluster_any_conn */
    net_timer refresh_timer;
    bool refresh_in_flight;
    bool refresh_wanted;
    int64_t last_refresh_start_ms;
    int consecutive_failures;
    bool shut;

    /* guarded by lock */
    pthread_mutex_t lock;
    pthread_cond_t changed;
    cluster_snapshot *snap;
    uint64_t generation;
    char **interest;
    size_t n_interest, cap_interest;
    gregor_err last_err;
    char last_errstr[512];

    net_legacy_cache *legacy_cache; /* (loop) releases detected per broker address */
    stats_entry *stats;             /* (lock to walk or add; counters are atomics) */
};

void cluster_config_defaults(cluster_config *cfg)
{
    *cfg = (cluster_config){
        .metadata_refresh_ms = 300000,
        .metadata_fast_refresh_ms = 250,
    };
    net_conn_config_defaults(&cfg->conn);
}

/* ------------------------------------------------------------ bootstrap */

static gregor_err parse_bootstrap(cluster *c, const char *list, char *errstr, size_t n)
{
    char *copy = strdup(list ? list : "");
    if (!copy)
        return GREGOR_ERR_NOMEM;
    gregor_err err = GREGOR_OK;
    char *save = NULL;
    for (char *tok = strtok_r(copy, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
        char *host = tok;
        int port = 9092;
        char *colon = strrchr(tok, ':');
        if (host[0] == '[') { /* [v6::addr]:port */
            char *close = strchr(host, ']');
            if (!close) {
                snprintf(errstr, n, "bootstrap entry '%s': missing ']'", tok);
                err = GREGOR_ERR_CONFIG;
                break;
            }
            *close = '\0';
            host++;
            colon = close[1] == ':' ? close + 1 : NULL;
        }
        if (colon && colon > host && strchr(host, ':') == colon) {
            *colon = '\0';
            char *end;
            long p = strtol(colon + 1, &end, 10);
            if (*end || p <= 0 || p > 65535) {
                snprintf(errstr, n, "bootstrap entry '%s:%s': port must be 1..65535", host, colon + 1);
                err = GREGOR_ERR_CONFIG;
                break;
            }
            port = (int)p;
        }
        if (!*host) {
            snprintf(errstr, n, "bootstrap entry with an empty host");
            err = GREGOR_ERR_CONFIG;
            break;
        }
        boot_addr *b = realloc(c->boot, (c->n_boot + 1) * sizeof *b);
        if (!b) {
            err = GREGOR_ERR_NOMEM;
            break;
        }
        c->boot = b;
        b[c->n_boot].host = strdup(host);
        b[c->n_boot].port = port;
        if (!b[c->n_boot].host) {
            err = GREGOR_ERR_NOMEM;
            break;
        }
        c->n_boot++;
    }
    free(copy);
    if (err == GREGOR_OK && c->n_boot == 0) {
        snprintf(errstr, n, "no bootstrap brokers given (expected host:port[,host:port...])");
        err = GREGOR_ERR_CONFIG;
    }
    return err;
}

static void refresh_timer_fired(net_loop *l, void *arg);

gregor_err cluster_new(net_loop *loop, const cluster_config *cfg, cluster **out, char *errstr,
                       size_t errstr_size)
{
    cluster *c = calloc(1, sizeof *c);
    if (!c)
        return GREGOR_ERR_NOMEM;
    c->loop = loop;
    c->cfg = *cfg;
    atomic_init(&c->all_topics, cfg->all_topics);
    c->cfg.bootstrap = NULL;
    if (net_legacy_cache_new(&c->legacy_cache) != GREGOR_OK) {
        free(c);
        return GREGOR_ERR_NOMEM;
    }
    if (!c->cfg.conn.legacy_cache) /* one per client: every connection probes a broker once */
        c->cfg.conn.legacy_cache = c->legacy_cache;
    pthread_mutex_init(&c->lock, NULL);
    clock_cond_init(&c->changed);
    net_timer_init(&c->refresh_timer, refresh_timer_fired, c);
    gregor_err err = parse_bootstrap(c, cfg->bootstrap, errstr, errstr_size);
    if (err != GREGOR_OK) {
        cluster_free(c);
        return err;
    }
    *out = c;
    return GREGOR_OK;
}

void cluster_free(cluster *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n_boot; i++)
        free(c->boot[i].host);
    free(c->boot);
    free(c->slots);
    for (size_t i = 0; i < c->n_interest; i++)
        free(c->interest[i]);
    free(c->interest);
    cluster_snapshot_unref(c->snap);
    net_legacy_cache_destroy(c->legacy_cache);
    for (stats_entry *e = c->stats, *next; e; e = next) {
        next = e->next;
        free(e);
    }
    pthread_mutex_destroy(&c->lock);
    pthread_cond_destroy(&c->changed);
    free(c);
}

/* ---------------------------------------------------------- connections */

/* Remembers the latest failure for cluster_wait_snapshot() to report. */
static void set_error(cluster *c, gregor_err err, int32_t node_id, const char *host, int port,
                      const char *detail)
{
    const char *sep = detail && *detail ? " (" : "", *end = detail && *detail ? ")" : "";
    if (!*sep)
        detail = "";
    pthread_mutex_lock(&c->lock);
    c->last_err = err;
    if (node_id >= 0)
        snprintf(c->last_errstr, sizeof c->last_errstr, "broker %d at %s:%d: %s%s%s%s", node_id, host,
                 port, gregor_err_str(err), sep, detail, end);
    else
        snprintf(c->last_errstr, sizeof c->last_errstr, "bootstrap broker %s:%d: %s%s%s%s", host, port,
                 gregor_err_str(err), sep, detail, end);
    pthread_cond_broadcast(&c->changed);
    pthread_mutex_unlock(&c->lock);
}

static void request_refresh_loop(cluster *c);

static void on_conn_state(net_conn *conn, net_conn_state state, gregor_err why, void *arg)
{
    cluster *c = arg;
    if (why == GREGOR_OK || c->shut)
        return;
    gregor_log(GREGOR_LOG_DEBUG, "broker %d (%s:%d): %s: %s", net_conn_node_id(conn),
               net_conn_host(conn), net_conn_port(conn), net_conn_state_name(state),
               gregor_err_name(why));
    set_error(c, why, net_conn_node_id(conn), net_conn_host(conn), net_conn_port(conn),
              net_conn_fail_detail(conn));
    /* A known broker went away: its partitions may have new leaders. */
    if (net_conn_node_id(conn) >= 0)
        request_refresh_loop(c);
}

static slot *find_slot(cluster *c, int32_t node_id, cluster_conn_kind kind)
{
    for (size_t i = 0; i < c->n_slots; i++)
        if (c->slots[i].node_id == node_id && c->slots[i].kind == kind)
            return &c->slots[i];
    return NULL;
}

static const char *const purposes[] = {"data", "coordinator", "member"};

/* The counters of node_id and kind's purpose, made on first use; NULL
 * (nothing counted) when out of memory. (loop) */
static net_conn_stats *stats_for(cluster *c, int32_t node_id, cluster_conn_kind kind, const char *host, int port)
{
    int purpose = kind == CLUSTER_CONN_DATA ? 0 : kind == CLUSTER_CONN_COORDINATOR ? 1 : 2;
    pthread_mutex_lock(&c->lock);
    stats_entry *e = c->stats;
    while (e && (e->node_id != node_id || e->purpose != purpose))
        e = e->next;
    if (!e && (e = calloc(1, sizeof *e))) {
        e->node_id = node_id;
        e->purpose = purpose;
        snprintf(e->broker, sizeof e->broker, "%s:%d", host, port);
        e->next = c->stats;
        c->stats = e;
    }
    pthread_mutex_unlock(&c->lock);
    return e ? &e->st : NULL;
}

gregor_err cluster_conn_stats_get(cluster *c, cluster_conn_stats **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    pthread_mutex_lock(&c->lock);
    size_t k = 0;
    for (stats_entry *e = c->stats; e; e = e->next)
        k++;
    cluster_conn_stats *v = k ? calloc(k, sizeof *v) : NULL;
    if (k && !v) {
        pthread_mutex_unlock(&c->lock);
        return GREGOR_ERR_NOMEM;
    }
    size_t i = 0;
    for (stats_entry *e = c->stats; e; e = e->next, i++) {
        v[i].node_id = e->node_id;
        v[i].purpose = purposes[e->purpose];
        memcpy(v[i].broker, e->broker, sizeof v[i].broker);
        v[i].requests = atomic_load_explicit(&e->st.requests, memory_order_relaxed);
        v[i].errors = atomic_load_explicit(&e->st.errors, memory_order_relaxed);
        v[i].connects = atomic_load_explicit(&e->st.connects, memory_order_relaxed);
        v[i].failures = atomic_load_explicit(&e->st.failures, memory_order_relaxed);
        v[i].rtt_us_sum = atomic_load_explicit(&e->st.rtt_us_sum, memory_order_relaxed);
        v[i].rtt_count = atomic_load_explicit(&e->st.rtt_count, memory_order_relaxed);
    }
    pthread_mutex_unlock(&c->lock);
    *out = v;
    *n = k;
    return GREGOR_OK;
}

static net_conn *open_conn(cluster *c, int32_t node_id, cluster_conn_kind kind, const char *host, int port)
{
    if (c->n_slots == c->cap_slots) {
        size_t cap = c->cap_slots ? c->cap_slots * 2 : 8;
        slot *s = realloc(c->slots, cap * sizeof *s);
        if (!s)
            return NULL;
        c->slots = s;
        c->cap_slots = cap;
    }
    net_conn *conn;
    if (net_conn_new(c->loop, node_id, host, port, &c->cfg.conn, on_conn_state, c, &conn) != GREGOR_OK)
        return NULL;
    net_conn_set_stats(conn, stats_for(c, node_id, kind, host, port));
    c->slots[c->n_slots++] = (slot){node_id, kind, conn};
    return conn;
}

static void close_slot(cluster *c, size_t i)
{
    net_conn_close(c->slots[i].conn);
    c->slots[i] = c->slots[--c->n_slots];
}

net_conn *cluster_conn_of(cluster *c, int32_t node_id, cluster_conn_kind kind)
{
    assert(net_loop_on_thread(c->loop));
    if (c->shut)
        return NULL;
    slot *s = find_slot(c, node_id, kind);
    if (s)
        return s->conn;
    if (node_id < 0)
        return NULL;
    const cluster_broker *b = c->snap ? cluster_snapshot_broker(c->snap, node_id) : NULL;
    return b ? open_conn(c, node_id, kind, b->host, b->port) : NULL;
}

net_conn *cluster_conn(cluster *c, int32_t node_id) { return cluster_conn_of(c, node_id, CLUSTER_CONN_DATA); }

net_conn *cluster_any_conn(cluster *c)
{
    assert(net_loop_on_thread(c->loop));
    if (c->shut)
        return NULL;
    /* An established connection costs nothing more. */
    net_conn *best = NULL;
    for (size_t i = 0; i < c->n_slots; i++) {
        net_conn *conn = c->slots[i].conn;
        if (c->slots[i].kind == CLUSTER_CONN_DATA && net_conn_get_state(conn) == NET_CONN_UP &&
            (!best || net_conn_outstanding(conn) < net_conn_outstanding(best)))
            best = conn;
    }
    if (best)
        return best;
    /* Otherwise take turns over known brokers, then bootstrap entries, so a
     * dead one is not tried again and again. */
    size_t n_known = c->snap ? (size_t)c->snap->md.n_brokers : 0;
    size_t total = n_known + c->n_boot;
    for (size_t tries = 0; tries < total; tries++) {
        size_t i = c->rotate++ % total;
        net_conn *conn;
        if (i < n_known) {
            conn = cluster_conn(c, c->snap->md.brokers[i].node_id);
        } else {
            size_t b = i - n_known;
            int32_t id = -1 - (int32_t)b;
            slot *s = find_slot(c, id, CLUSTER_CONN_DATA);
            conn = s ? s->conn : open_conn(c, id, CLUSTER_CONN_DATA, c->boot[b].host, c->boot[b].port);
        }
        if (conn && net_conn_get_state(conn) != NET_CONN_BACKOFF)
            return conn;
    }
    /* Everything is backing off: queue on the next one in turn anyway; the
     * request waits for the reconnect or times out. */
    if (total == 0)
        return NULL;
    size_t i = c->rotate++ % total;
    if (i < n_known)
        return cluster_conn(c, c->snap->md.brokers[i].node_id);
    int32_t id = -1 - (int32_t)(i - n_known);
    slot *s = find_slot(c, id, CLUSTER_CONN_DATA);
    return s ? s->conn
             : open_conn(c, id, CLUSTER_CONN_DATA, c->boot[i - n_known].host, c->boot[i - n_known].port);
}

/* Brings the connection table in line with a new snapshot. */
static void reconcile(cluster *c, const cluster_snapshot *s)
{
    for (size_t i = 0; i < c->n_slots;) {
        slot *sl = &c->slots[i];
        if (sl->node_id < 0) {
            /* Bootstrap connections have done their job once brokers are known;
             * keep one that is busy until its requests finish. */
            if (s->md.n_brokers > 0 && net_conn_outstanding(sl->conn) == 0) {
                close_slot(c, i);
                continue;
            }
        } else {
            const cluster_broker *b = cluster_snapshot_broker(s, sl->node_id);
            if (!b) {
                gregor_log(GREGOR_LOG_INFO, "broker %d left the cluster", sl->node_id);
                close_slot(c, i);
                continue;
            }
            if (strcmp(b->host, net_conn_host(sl->conn)) || b->port != net_conn_port(sl->conn)) {
                gregor_log(GREGOR_LOG_INFO, "broker %d moved to %s:%d", sl->node_id, b->host, b->port);
                if (net_conn_set_address(sl->conn, b->host, b->port) != GREGOR_OK) {
                    close_slot(c, i);
                    continue;
                }
            }
        }
        i++;
    }
}

/* -------------------------------------------------------------- metadata */

typedef struct metadata_req {
    cluster *c;
    int32_t node_id;
    char **topics; /* the interest set at send time (copied) */
    size_t n_topics;
    bool all;
} metadata_req;

static void metadata_req_free(metadata_req *r)
{
    for (size_t i = 0; i < r->n_topics; i++)
        free(r->topics[i]);
    free(r->topics);
    free(r);
}

static gregor_err encode_metadata(buf_writer *w, int16_t version, void *opaque)
{
    metadata_req *r = opaque;
    proto_metadata_request m;
    proto_metadata_request_init(&m);
    proto_metadata_request_topic stack_topics[16];
    proto_metadata_request_topic *ts = stack_topics;
    if (r->all) {
        m.topics = NULL;
        m.topics_count = version == 0 ? 0 : -1; /* v0: empty means all */
    } else {
        if (r->n_topics > 16 && !(ts = calloc(r->n_topics, sizeof *ts)))
            return GREGOR_ERR_NOMEM;
        for (size_t i = 0; i < r->n_topics; i++) {
            proto_metadata_request_topic_init(&ts[i]);
            ts[i].name = buf_slice_of(r->topics[i], strlen(r->topics[i]));
        }
        m.topics = ts;
        m.topics_count = (int32_t)r->n_topics;
    }
    m.allow_auto_topic_creation = r->c->cfg.allow_auto_create_topics;
    gregor_err err = proto_metadata_request_encode(w, version, &m);
    if (ts != stack_topics)
        free(ts);
    return err;
}

static bool needs_fast_refresh(cluster *c, const cluster_snapshot *s)
{
    bool fast = false;
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < c->n_interest && !fast; i++) {
        const cluster_topic *t = cluster_snapshot_topic(s, c->interest[i]);
        /* Missing, or answered with an error that a refresh can clear: a
         * topic being created is LEADER_NOT_AVAILABLE on older brokers and
         * UNKNOWN_TOPIC_OR_PARTITION on KRaft ones until it exists. */
        if (!t || t->n_partitions == 0 || (t->err != GREGOR_OK && gregor_err_invalidates_metadata(t->err))) {
            fast = true;
            break;
        }
        for (int32_t p = 0; p < t->n_partitions; p++)
            if (t->partitions[p].leader < 0)
                fast = true;
    }
    pthread_mutex_unlock(&c->lock);
    if (atomic_load(&c->all_topics))
        for (int32_t i = 0; i < s->md.n_topics && !fast; i++)
            for (int32_t p = 0; p < s->md.topics[i].n_partitions; p++)
                if (s->md.topics[i].partitions[p].leader < 0)
                    fast = true;
    return fast;
}

static void schedule_refresh(cluster *c, int32_t delay_ms)
{
    if (c->shut)
        return;
    int64_t when = net_now_ms() + delay_ms;
    if (!net_timer_armed(&c->refresh_timer) || c->refresh_timer.deadline_ms > when)
        net_timer_arm(c->loop, &c->refresh_timer, when);
}

static void start_refresh(cluster *c);

static void metadata_done(gregor_err err, net_response *resp, void *opaque)
{
    metadata_req *r = opaque;
    cluster *c = r->c;
    c->refresh_in_flight = false;
    if (c->shut) {
        metadata_req_free(r);
        return;
    }
    cluster_snapshot *s = NULL;
    if (err == GREGOR_OK) {
        arena a;
        arena_init(&a, ARENA_DEFAULT_LIMIT);
        proto_metadata_response m;
        err = proto_metadata_response_decode(&resp->body, resp->version, &m, &a);
        if (err == GREGOR_OK && resp->version >= 13 && m.error_code != 0)
            err = gregor_err_from_broker(m.error_code);
        if (err == GREGOR_OK) {
            pthread_mutex_lock(&c->lock);
            uint64_t gen = c->generation + 1;
            pthread_mutex_unlock(&c->lock);
            err = cluster_snapshot_build(&m, resp->version, r->node_id, gen, &s);
        } else {
            gregor_log(GREGOR_LOG_WARN, "broker %d: bad Metadata v%d response: %s (%s)", r->node_id,
                       resp->version, gregor_err_name(err), resp->body.what ? resp->body.what : "");
        }
        arena_fini(&a);
    }
    if (err != GREGOR_OK && err != GREGOR_ERR_CONNECT && err != GREGOR_ERR_DISCONNECTED &&
        err != GREGOR_ERR_RESOLVE) {
        /* Connection failures were reported by on_conn_state already. */
        slot *sl = find_slot(c, r->node_id, CLUSTER_CONN_DATA);
        set_error(c, err, r->node_id, sl ? net_conn_host(sl->conn) : "?", sl ? net_conn_port(sl->conn) : 0,
                  NULL);
    }
    metadata_req_free(r);
    if (err != GREGOR_OK) {
        c->consecutive_failures++;
        /* Back off a little more with each failure, up to the refresh interval. */
        int32_t delay = c->cfg.metadata_fast_refresh_ms * (c->consecutive_failures < 8 ? c->consecutive_failures : 8);
        schedule_refresh(c, delay < c->cfg.metadata_refresh_ms ? delay : c->cfg.metadata_refresh_ms);
        return;
    }
    c->consecutive_failures = 0;
    s->taken_ms = net_now_ms();
    if (c->snap) /* written only on this thread: no lock needed to read it here */
        cluster_snapshot_keep_newer_epochs(s, c->snap);
    reconcile(c, s);
    pthread_mutex_lock(&c->lock);
    cluster_snapshot *old = c->snap;
    c->snap = s;
    c->generation = s->generation;
    c->last_err = GREGOR_OK;
    c->last_errstr[0] = '\0';
    pthread_cond_broadcast(&c->changed);
    pthread_mutex_unlock(&c->lock);
    cluster_snapshot_unref(old);

    if (c->refresh_wanted) {
        c->refresh_wanted = false;
        schedule_refresh(c, c->cfg.metadata_fast_refresh_ms);
    } else {
        schedule_refresh(c, needs_fast_refresh(c, s) ? c->cfg.metadata_fast_refresh_ms
                                                     : c->cfg.metadata_refresh_ms);
    }
}

static void start_refresh(cluster *c)
{
    if (c->shut || c->refresh_in_flight)
        return;
    net_conn *conn = cluster_any_conn(c);
    metadata_req *r = calloc(1, sizeof *r);
    if (!conn || !r) {
        free(r);
        schedule_refresh(c, c->cfg.metadata_fast_refresh_ms);
        return;
    }
    r->c = c;
    r->node_id = net_conn_node_id(conn);
    r->all = atomic_load(&c->all_topics);
    pthread_mutex_lock(&c->lock);
    if (!r->all && c->n_interest) {
        r->topics = calloc(c->n_interest, sizeof *r->topics);
        for (size_t i = 0; r->topics && i < c->n_interest; i++)
            if ((r->topics[i] = strdup(c->interest[i])))
                r->n_topics++;
    }
    pthread_mutex_unlock(&c->lock);
    net_request req = {
        .api_key = PROTO_API_METADATA,
        .min_version = 0,
        .max_version = proto_api_get(PROTO_API_METADATA)->max_version,
        .encode = encode_metadata,
        .done = metadata_done,
        .opaque = r,
    };
    c->refresh_in_flight = true;
    c->last_refresh_start_ms = net_now_ms();
    if (net_conn_send(conn, &req) != GREGOR_OK) {
        c->refresh_in_flight = false;
        metadata_req_free(r);
        schedule_refresh(c, c->cfg.metadata_fast_refresh_ms);
    }
}

static void refresh_timer_fired(net_loop *l, void *arg)
{
    (void)l;
    start_refresh(arg);
}

static void request_refresh_loop(cluster *c)
{
    if (c->shut)
        return;
    if (c->refresh_in_flight) {
        c->refresh_wanted = true;
        return;
    }
    int64_t earliest = c->last_refresh_start_ms + c->cfg.metadata_fast_refresh_ms;
    int64_t now = net_now_ms();
    schedule_refresh(c, earliest > now ? (int32_t)(earliest - now) : 0);
}

static void refresh_job(net_loop *l, void *arg)
{
    (void)l;
    request_refresh_loop(arg);
}

gregor_err cluster_start(cluster *c)
{
    return net_loop_post(c->loop, refresh_job, c);
}

void cluster_request_refresh(cluster *c)
{
    if (net_loop_post(c->loop, refresh_job, c) != GREGOR_OK)
        gregor_log(GREGOR_LOG_WARN, "cannot queue a metadata refresh: out of memory");
}

/* ------------------------------------------------------------- readers */

cluster_snapshot *cluster_snapshot_get(cluster *c)
{
    pthread_mutex_lock(&c->lock);
    cluster_snapshot *s = cluster_snapshot_ref(c->snap);
    pthread_mutex_unlock(&c->lock);
    return s;
}

gregor_err cluster_wait_snapshot(cluster *c, uint64_t after_generation, int32_t timeout_ms,
                                 cluster_snapshot **out, char *errstr, size_t errstr_size)
{
    struct timespec deadline = clock_deadline_ts(timeout_ms);
    gregor_err err = GREGOR_OK;
    pthread_mutex_lock(&c->lock);
    while (!(c->snap && c->generation > after_generation)) {
        if (pthread_cond_timedwait(&c->changed, &c->lock, &deadline) != 0) {
            err = c->last_err != GREGOR_OK ? c->last_err : GREGOR_ERR_TIMED_OUT;
            if (errstr && errstr_size)
                snprintf(errstr, errstr_size, "no metadata within %d ms%s%s", timeout_ms,
                         c->last_errstr[0] ? ": last error: " : "", c->last_errstr);
            break;
        }
    }
    if (err == GREGOR_OK)
        *out = cluster_snapshot_ref(c->snap);
    pthread_mutex_unlock(&c->lock);
    return err;
}

gregor_err cluster_last_error(cluster *c, char *errstr, size_t errstr_size)
{
    pthread_mutex_lock(&c->lock);
    gregor_err err = c->last_err;
    if (errstr && errstr_size)
        snprintf(errstr, errstr_size, "%s", c->last_errstr);
    pthread_mutex_unlock(&c->lock);
    return err;
}

cluster_conn_kind cluster_new_member_kind(cluster *c)
{
    return (cluster_conn_kind)(CLUSTER_CONN_MEMBER + atomic_fetch_add(&c->member_kinds, 1));
}

typedef struct close_kind_job {
    cluster *c;
    cluster_conn_kind kind;
} close_kind_job;

static void close_kind_on_loop(net_loop *l, void *arg)
{
    (void)l;
    close_kind_job *j = arg;
    for (size_t i = j->c->n_slots; i-- > 0;)
        if (j->c->slots[i].kind == j->kind)
            close_slot(j->c, i);
}

void cluster_close_kind(cluster *c, cluster_conn_kind kind)
{
    assert(kind >= CLUSTER_CONN_MEMBER);
    close_kind_job j = {c, kind};
    if (net_loop_call(c->loop, close_kind_on_loop, &j) != GREGOR_OK)
        gregor_log(GREGOR_LOG_WARN, "cluster: closing a member's connections could not be queued on the I/O thread");
}

void cluster_want_all_topics(cluster *c)
{
    if (!atomic_exchange(&c->all_topics, true))
        cluster_request_refresh(c);
}

gregor_err cluster_add_topics(cluster *c, const char *const *names, size_t n)
{
    bool added = false;
    gregor_err err = GREGOR_OK;
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < n && err == GREGOR_OK; i++) {
        bool have = false;
        for (size_t j = 0; j < c->n_interest && !have; j++)
            have = !strcmp(c->interest[j], names[i]);
        if (have)
            continue;
        if (c->n_interest == c->cap_interest) {
            size_t cap = c->cap_interest ? c->cap_interest * 2 : 8;
            char **p = realloc(c->interest, cap * sizeof *p);
            if (!p) {
                err = GREGOR_ERR_NOMEM;
                break;
            }
            c->interest = p;
            c->cap_interest = cap;
        }
        if (!(c->interest[c->n_interest] = strdup(names[i]))) {
            err = GREGOR_ERR_NOMEM;
            break;
        }
        c->n_interest++;
        added = true;
    }
    pthread_mutex_unlock(&c->lock);
    if (added)
        cluster_request_refresh(c);
    return err;
}

/* ------------------------------------------------------------ shutdown */


static void shutdown_on_loop(net_loop *l, void *arg)
{
    cluster *c = arg;
    c->shut = true;
    net_timer_cancel(l, &c->refresh_timer);
    while (c->n_slots)
        close_slot(c, c->n_slots - 1);
}

void cluster_shutdown(cluster *c)
{
    if (!c)
        return;
    /* If the loop cannot take the job (out of memory) no loop thread may
     * touch the cluster any more either way: the caller stops the loop. */
    if (net_loop_call(c->loop, shutdown_on_loop, c) != GREGOR_OK)
        gregor_log(GREGOR_LOG_WARN, "cluster: shutdown could not be queued on the I/O thread");
}

/* --------------------------------------------------------- blocking call */

typedef struct call_job {
    cluster *c;
    int32_t node_id;
    cluster_conn_kind kind;
    net_request req;   /* the caller's, with encode/done/opaque wrapped */
    net_encode_fn user_encode;
    void *user_opaque;
    cluster_reply *reply;
    net_conn *conn;
    gregor_err err;
    completion done;
} call_job;

static void call_done(gregor_err err, net_response *resp, void *opaque)
{
    call_job *j = opaque;
    j->err = err;
    if (err == GREGOR_OK) {
        j->reply->frame = net_response_take_frame(resp);
        if (!j->reply->frame) {
            j->err = GREGOR_ERR_NOMEM;
        } else {
            j->reply->body = resp->body;
            j->reply->version = resp->version;
        }
    }
    const net_versions *v = j->conn ? net_conn_versions(j->conn) : NULL;
    if (v) {
        j->reply->versions = *v;
        j->reply->have_versions = true;
    }
    completion_signal(&j->done);
}

static gregor_err call_encode(buf_writer *w, int16_t version, void *opaque)
{
    call_job *j = opaque;
    return j->user_encode(w, version, j->user_opaque);
}

static void call_on_loop(net_loop *l, void *arg)
{
    (void)l;
    call_job *j = arg;
    net_conn *conn = j->node_id >= 0 ? cluster_conn_of(j->c, j->node_id, j->kind) : cluster_any_conn(j->c);
    if (!conn) {
        j->err = j->node_id >= 0 ? GREGOR_ERR_INVALID_ARG : GREGOR_ERR_NO_BROKERS;
        completion_signal(&j->done);
        return;
    }
    j->conn = conn;
    j->reply->node_id = net_conn_node_id(conn);
    j->user_encode = j->req.encode;
    j->user_opaque = j->req.opaque;
    j->req.encode = call_encode;
    j->req.done = call_done;
    j->req.opaque = j;
    if (net_conn_send(conn, &j->req) != GREGOR_OK) {
        j->err = GREGOR_ERR_NOMEM;
        completion_signal(&j->done);
    }
}

gregor_err cluster_call(cluster *c, int32_t node_id, const net_request *req, cluster_reply *out)
{
    return cluster_call_on(c, node_id, CLUSTER_CONN_DATA, req, out);
}

gregor_err cluster_call_on(cluster *c, int32_t node_id, cluster_conn_kind kind, const net_request *req,
                           cluster_reply *out)
{
    assert(!net_loop_on_thread(c->loop));
    assert(node_id >= 0 || kind == CLUSTER_CONN_DATA);
    memset(out, 0, sizeof *out);
    call_job j = {.c = c, .node_id = node_id, .kind = kind, .req = *req, .reply = out};
    completion_init(&j.done);
    gregor_err err = net_loop_post(c->loop, call_on_loop, &j);
    if (err != GREGOR_OK) {
        completion_fini(&j.done);
        return err;
    }
    completion_wait(&j.done);
    return j.err;
}
