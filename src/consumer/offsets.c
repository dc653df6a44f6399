/* consumer/offsets.c — committed offsets through the group coordinator.
 *
 * Requests: FindCoordinator (v0 is 0.8.2's ConsumerMetadata; v4+ take a
 * list of keys), OffsetCommit v1..9 (v1 is 0.8.2's Kafka-backed commit; v0
 * would write to ZooKeeper and is never used), OffsetFetch v1..7 (v8+ nest
 * groups; v1 is 0.8.2's). Topics are sent by name throughout.
 *
 * Requests to the coordinator go on the cluster's coordinator connection
 * to that broker (CLUSTER_CONN_COORDINATOR), never behind a long-poll Fetch.
 *
 * Every operation is a blocking retry loop with a deadline
 * (commit_timeout_ms), each attempt bounded by request_timeout_ms. The
 * coordinator is forgotten and found again after COORDINATOR_NOT_AVAILABLE
 * or NOT_COORDINATOR, when it is no longer in the metadata, when its
 * connection fails or drops, and when a request to it times out;
 * COORDINATOR_LOAD_IN_PROGRESS waits and asks the same one again. Commits
 * are idempotent, so repeating a whole request is safe.
 *
 * Asynchronous and automatic commits go through the same functions on the
 * committer thread (committer.c).
 *
 * Threading: offsets_commit_sync / offsets_fetch_sync from any thread but
 * the loop's; `lock` guards the coordinator id and both queues.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "consumer/offsets_int.h"
#include "protocol/gen/api.h"
#include "protocol/gen/errors.h"
#include "protocol/gen/offset_commit.h"
#include "protocol/gen/offset_fetch.h"
#include "protocol/group_coordinator.h"
#include "protocol/tp_groups.h"
#include "util/log.h"

#define OFFSET_COMMIT_MAX_VERSION 9
#define OFFSET_FETCH_MAX_VERSION 7
#define RETRY_BACKOFF_MS 100

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void put_errstr(char *errstr, size_t n, const char *fmt, const char *a, const char *b)
{
    if (errstr && n)
        snprintf(errstr, n, fmt, a, b);
}

/* True for the errors after which the coordinator must be found again:
 * the broker says it is not the coordinator, it is gone from the metadata
 * (INVALID_ARG from the cluster, or DESTROYED when its connection was
 * closed because it left with the request in flight), or it cannot be
 * reached in time. (The committer stops before the client closes its
 * connections, so DESTROYED never means that the consumer is going.) */
bool offsets_coordinator_lost(gregor_err err)
{
    return err == PROTO_ERR_COORDINATOR_NOT_AVAILABLE || err == PROTO_ERR_NOT_COORDINATOR ||
           err == GREGOR_ERR_INVALID_ARG || err == GREGOR_ERR_DESTROYED || err == GREGOR_ERR_DISCONNECTED ||
           err == GREGOR_ERR_CONNECT || err == GREGOR_ERR_RESOLVE || err == GREGOR_ERR_TIMED_OUT;
}

/* One request to the coordinator `node` on its own connection, waiting up
 * to timeout_ms; no retries (the caller decides). */
static gregor_err call_coordinator(offset_mgr *o, int32_t node, net_request *req, int32_t timeout_ms,
                                   cluster_reply *reply, char *errstr, size_t n)
{
    req->timeout_ms = timeout_ms;
    gregor_err err = cluster_call_on(o->c->client->cluster, node, CLUSTER_CONN_COORDINATOR, req, reply);
    if (err == GREGOR_ERR_INVALID_ARG && errstr && n)
        snprintf(errstr, n, "coordinator broker %d is not in the cluster metadata", (int)node);
    else if (err != GREGOR_OK && errstr && n)
        snprintf(errstr, n, "coordinator broker %d: %s", (int)node, gregor_err_str(err));
    return err;
}

/* ---------------------------------------------------- find coordinator */

static gregor_err encode_find(buf_writer *w, int16_t version, void *opaque)
{
    return proto_group_coordinator_encode(w, version, opaque);
}

/* The broker to ask FindCoordinator: the known brokers in turn, on their
 * coordinator connections, so that the question never waits behind a
 * long-poll Fetch; -1 before the first metadata (any connection then). */
static int32_t find_target(offset_mgr *o)
{
    cluster_snapshot *s = cluster_snapshot_get(o->c->client->cluster);
    int32_t node = -1;
    if (s && s->md.n_brokers > 0) {
        pthread_mutex_lock(&o->lock);
        uint32_t turn = o->find_turn++;
        pthread_mutex_unlock(&o->lock);
        node = s->md.brokers[turn % (uint32_t)s->md.n_brokers].node_id;
    }
    cluster_snapshot_unref(s);
    return node;
}

/* One FindCoordinator round: the node id, or an error (retriable ones are
 * retried by the caller, which then asks the next broker). */
static gregor_err find_once(offset_mgr *o, int32_t timeout_ms, int32_t *node, char *errstr, size_t n)
{
    net_request req = {
        .api_key = PROTO_API_FIND_COORDINATOR,
        .min_version = 0,
        .max_version = proto_api_get(PROTO_API_FIND_COORDINATOR)->max_version,
        .encode = encode_find,
        .done = NULL,
        .opaque = o->group,
    };
    cluster_reply reply;
    int32_t target = find_target(o);
    gregor_err err = GREGOR_ERR_INVALID_ARG;
    if (target >= 0) {
        int32_t attempt_ms = timeout_ms < o->c->request_timeout_ms ? timeout_ms : o->c->request_timeout_ms;
        err = call_coordinator(o, target, &req, attempt_ms, &reply, errstr, n);
    }
    if (err == GREGOR_ERR_INVALID_ARG) /* no metadata yet, or the broker just left it */
        err = client_call_any(o->c->client, -1, &req, timeout_ms, &reply, errstr, n);
    if (err != GREGOR_OK)
        return err;
    arena a;
    arena_init(&a, ARENA_DEFAULT_LIMIT);
    proto_find_coordinator_response m;
    if ((err = proto_find_coordinator_response_decode(&reply.body, reply.version, &m, &a)) != GREGOR_OK) {
        put_errstr(errstr, n, "malformed FindCoordinator response%s%s", "", "");
    } else {
        err = proto_group_coordinator_node(&m, reply.version, node);
    }
    if (err != GREGOR_OK && err != GREGOR_ERR_MALFORMED)
        put_errstr(errstr, n, "FindCoordinator for group '%s': %s", o->group, gregor_err_name(err));
    arena_fini(&a);
    free(reply.frame);
    return err;
}

/* The coordinator's node id, found if unknown; a node the metadata does
 * not list (even after a fresh answer) is not taken. */
gregor_err offsets_coordinator(offset_mgr *o, int64_t deadline, int32_t *node, char *errstr, size_t n)
{
    pthread_mutex_lock(&o->lock);
    *node = o->coordinator;
    pthread_mutex_unlock(&o->lock);
    if (*node >= 0)
        return GREGOR_OK;
    for (;;) {
        int64_t left = deadline - net_now_ms();
        if (left <= 0)
            return GREGOR_ERR_TIMED_OUT;
        gregor_err err = find_once(o, (int32_t)left, node, errstr, n);
        if (err == GREGOR_OK && client_wait_broker(o->c->client, *node, deadline)) {
            pthread_mutex_lock(&o->lock);
            o->coordinator = *node;
            pthread_mutex_unlock(&o->lock);
            return GREGOR_OK;
        }
        if (err == GREGOR_OK) {
            gregor_log(GREGOR_LOG_DEBUG, "consumer: group '%s': coordinator %d is not in the metadata yet",
                       o->group, (int)*node);
            if (errstr && n)
                snprintf(errstr, n, "coordinator broker %d is not in the cluster metadata", (int)*node);
            err = GREGOR_ERR_TIMED_OUT;
        } else if (!gregor_err_is_retriable(err) && !offsets_coordinator_lost(err)) {
            return err; /* e.g. GROUP_AUTHORIZATION_FAILED */
        }
        /* Otherwise the next broker in turn is asked, while time is left. */
        if (net_now_ms() + RETRY_BACKOFF_MS >= deadline)
            return err;
        sleep_ms(RETRY_BACKOFF_MS);
    }
}

/* Forgets `node` as the coordinator (unless another thread already moved
 * on) and asks for fresh metadata, in which a departed broker is gone. */
void offsets_forget_coordinator(offset_mgr *o, int32_t node, gregor_err why)
{
    pthread_mutex_lock(&o->lock);
    bool was = o->coordinator == node;
    if (was)
        o->coordinator = -1;
    pthread_mutex_unlock(&o->lock);
    if (was)
        gregor_log(GREGOR_LOG_DEBUG, "consumer: group '%s': forgetting coordinator %d (%s)", o->group, (int)node,
                   gregor_err_name(why));
    cluster_request_refresh(o->c->client->cluster);
}

/* -------------------------------------------------------------- commit */

typedef struct commit_req {
    const char *group;
    int32_t generation;    /* the group member's, -1 for a simple consumer */
    char member_id[256];   /* "" for a simple consumer */
    char instance_id[256]; /* "": none */
    const gregor_topic_offset *offs;
    size_t n;
    const char *metadata;
    const int32_t *epochs;      /* NULL: unknown */
    const proto_tp_groups *tps; /* offs grouped by topic */
} commit_req;

/* Groups the entries by topic for a request and its answer. */
static gregor_err group_entries(const gregor_topic_offset *offs, size_t n, proto_tp_groups *g)
{
    proto_tp *tps = malloc((n ? n : 1) * sizeof *tps);
    if (!tps)
        return GREGOR_ERR_NOMEM;
    for (size_t i = 0; i < n; i++)
        tps[i] = (proto_tp){offs[i].topic, offs[i].partition};
    gregor_err err = proto_tp_groups_init(g, tps, n);
    free(tps);
    return err;
}

/* The entry a response names, or NULL. */
static gregor_topic_offset *find_entry(const proto_tp_groups *g, gregor_topic_offset *offs, buf_slice topic,
                                       int32_t partition)
{
    size_t i = proto_tp_groups_find(g, topic, partition);
    return i == SIZE_MAX ? NULL : &offs[i];
}

static gregor_err encode_commit(buf_writer *w, int16_t version, void *opaque)
{
    const commit_req *r = opaque;
    const proto_tp_groups *g = r->tps;
    proto_offset_commit_request m;
    proto_offset_commit_request_init(&m);
    m.group_id = buf_slice_of(r->group, strlen(r->group));
    m.generation_id_or_member_epoch = r->generation;
    m.member_id = buf_slice_of(r->member_id, strlen(r->member_id));
    if (r->instance_id[0])
        m.group_instance_id = buf_slice_of(r->instance_id, strlen(r->instance_id));
    proto_offset_commit_request_topic *topics = calloc(g->n_topics + 1, sizeof *topics);
    proto_offset_commit_request_partition *parts = calloc(r->n + 1, sizeof *parts);
    gregor_err err = GREGOR_ERR_NOMEM;
    if (!topics || !parts)
        goto out_free;
    size_t k = 0;
    for (size_t t = 0; t < g->n_topics; t++) {
        const char *name = r->offs[proto_tp_groups_first(g, t)].topic;
        proto_offset_commit_request_topic_init(&topics[t]);
        topics[t].name = buf_slice_of(name, strlen(name));
        topics[t].partitions = &parts[k];
        topics[t].partitions_count = (int32_t)proto_tp_groups_count(g, t);
        for (size_t j = g->topic_start[t]; j < g->topic_start[t + 1]; j++) {
            size_t i = g->order[j];
            const gregor_topic_offset *e = &r->offs[i];
            proto_offset_commit_request_partition *p = &parts[k++];
            proto_offset_commit_request_partition_init(p);
            p->partition_index = e->partition;
            p->committed_offset = e->offset;
            p->committed_leader_epoch = r->epochs ? r->epochs[i] : -1;
            const char *md = e->metadata ? e->metadata : r->metadata ? r->metadata : "";
            p->committed_metadata = buf_slice_of(md, strlen(md));
        }
    }
    m.topics = topics;
    m.topics_count = (int32_t)g->n_topics;
    err = proto_offset_commit_request_encode(w, version, &m);
out_free:
    free(topics);
    free(parts);
    return err;
}

/* One OffsetCommit round trip; per-partition errors land in offs[i].err and
 * the first one is returned. */
static gregor_err commit_once(offset_mgr *o, int32_t node, commit_req *r, gregor_topic_offset *offs, int32_t timeout_ms,
                              char *errstr, size_t n)
{
    net_request req = {
        .api_key = PROTO_API_OFFSET_COMMIT,
        .min_version = 1,
        .max_version = OFFSET_COMMIT_MAX_VERSION,
        .encode = encode_commit,
        .opaque = r,
    };
    cluster_reply reply;
    gregor_err err = call_coordinator(o, node, &req, timeout_ms, &reply, errstr, n);
    if (err != GREGOR_OK)
        return err;
    arena a;
    arena_init(&a, ARENA_DEFAULT_LIMIT);
    proto_offset_commit_response m;
    if ((err = proto_offset_commit_response_decode(&reply.body, reply.version, &m, &a)) == GREGOR_OK) {
        for (size_t i = 0; i < r->n; i++)
            offs[i].err = GREGOR_ERR_MALFORMED; /* until the response names it */
        for (int32_t t = 0; t < m.topics_count; t++)
            for (int32_t i = 0; i < m.topics[t].partitions_count; i++) {
                gregor_topic_offset *e =
                    find_entry(r->tps, offs, m.topics[t].name, m.topics[t].partitions[i].partition_index);
                if (e)
                    e->err = gregor_err_from_broker(m.topics[t].partitions[i].error_code);
            }
        for (size_t i = 0; i < r->n && err == GREGOR_OK; i++)
            err = offs[i].err;
    }
    arena_fini(&a);
    free(reply.frame);
    return err;
}

/* Runs `op` against the coordinator until it succeeds, fails for good or
 * the deadline passes, re-finding the coordinator when it moved. */
typedef gregor_err (*coord_op)(offset_mgr *o, int32_t node, void *arg, int32_t timeout_ms, char *errstr, size_t n);

static gregor_err with_coordinator(offset_mgr *o, coord_op op, void *arg, char *errstr, size_t n)
{
    int64_t deadline = net_now_ms() + o->timeout_ms;
    gregor_err err;
    for (;;) {
        int32_t node;
        if ((err = offsets_coordinator(o, deadline, &node, errstr, n)) != GREGOR_OK)
            break;
        int64_t left = deadline - net_now_ms();
        if (left <= 0) {
            err = GREGOR_ERR_TIMED_OUT;
            break;
        }
        /* One attempt may not take the whole deadline: a coordinator that
         * stopped answering must leave time to find the next one. */
        int32_t attempt_ms = left < o->c->request_timeout_ms ? (int32_t)left : o->c->request_timeout_ms;
        err = op(o, node, arg, attempt_ms, errstr, n);
        if (err == GREGOR_OK)
            return GREGOR_OK;
        if (offsets_coordinator_lost(err))
            offsets_forget_coordinator(o, node, err);
        else if (err != PROTO_ERR_COORDINATOR_LOAD_IN_PROGRESS)
            break;
        if (net_now_ms() + RETRY_BACKOFF_MS >= deadline)
            break;
        gregor_log(GREGOR_LOG_DEBUG, "consumer: group '%s': %s, retrying", o->group, gregor_err_name(err));
        sleep_ms(RETRY_BACKOFF_MS);
    }
    if (errstr && n && err != GREGOR_OK && !errstr[0])
        snprintf(errstr, n, "group '%s': %s", o->group, gregor_err_name(err));
    return err;
}

typedef struct commit_arg {
    commit_req req;
    gregor_topic_offset *offs;
} commit_arg;

static gregor_err commit_op(offset_mgr *o, int32_t node, void *arg, int32_t timeout_ms, char *errstr, size_t n)
{
    commit_arg *ca = arg;
    return commit_once(o, node, &ca->req, ca->offs, timeout_ms, errstr, n);
}

gregor_err offsets_commit_sync(offset_mgr *o, gregor_topic_offset *offs, size_t n, const char *metadata,
                               const int32_t *epochs, char *errstr, size_t errstr_size)
{
    if (errstr && errstr_size)
        errstr[0] = 0;
    if (n == 0)
        return GREGOR_OK;
    proto_tp_groups g;
    gregor_err err = group_entries(offs, n, &g);
    commit_arg ca = {{.group = o->group, .offs = offs, .n = n, .metadata = metadata, .epochs = epochs, .tps = &g},
                     offs};
    pthread_mutex_lock(&o->lock);
    ca.req.generation = o->generation;
    snprintf(ca.req.member_id, sizeof ca.req.member_id, "%s", o->member_id);
    snprintf(ca.req.instance_id, sizeof ca.req.instance_id, "%s", o->instance_id);
    pthread_mutex_unlock(&o->lock);
    if (err == GREGOR_OK)
        err = with_coordinator(o, commit_op, &ca, errstr, errstr_size);
    proto_tp_groups_fini(&g);
    if (err == GREGOR_OK)
        consumer_mark_committed(o->c, offs, n);
    else if (errstr && errstr_size) {
        char tmp[256];
        snprintf(tmp, sizeof tmp, "%s", errstr);
        snprintf(errstr, errstr_size, "commit to group '%s': %s", o->group, tmp);
    }
    return err;
}

/* --------------------------------------------------------------- fetch */

typedef struct fetch_arg {
    const char *group;
    gregor_topic_offset *offs;
    size_t n;
    offset_mgr *o;
    const proto_tp_groups *tps; /* offs grouped by topic */
    int32_t *epochs;            /* out, may be NULL */
} fetch_arg;

static gregor_err encode_offset_fetch(buf_writer *w, int16_t version, void *opaque)
{
    const fetch_arg *r = opaque;
    const proto_tp_groups *g = r->tps;
    proto_offset_fetch_request m;
    proto_offset_fetch_request_init(&m);
    m.group_id = buf_slice_of(r->group, strlen(r->group));
    proto_offset_fetch_request_topic *topics = calloc(g->n_topics + 1, sizeof *topics);
    int32_t *parts = calloc(r->n + 1, sizeof *parts);
    gregor_err err = GREGOR_ERR_NOMEM;
    if (!topics || !parts)
        goto out_free;
    size_t k = 0;
    for (size_t t = 0; t < g->n_topics; t++) {
        const char *name = r->offs[proto_tp_groups_first(g, t)].topic;
        proto_offset_fetch_request_topic_init(&topics[t]);
        topics[t].name = buf_slice_of(name, strlen(name));
        topics[t].partition_indexes = &parts[k];
        topics[t].partition_indexes_count = (int32_t)proto_tp_groups_count(g, t);
        for (size_t j = g->topic_start[t]; j < g->topic_start[t + 1]; j++)
            parts[k++] = r->offs[g->order[j]].partition;
    }
    m.topics = topics;
    m.topics_count = (int32_t)g->n_topics;
    err = proto_offset_fetch_request_encode(w, version, &m);
out_free:
    free(topics);
    free(parts);
    return err;
}

void offsets_free_meta(offset_mgr *o)
{
    for (size_t i = 0; i < o->n_meta; i++)
        free(o->meta[i]);
    free(o->meta);
    o->meta = NULL;
    o->n_meta = 0;
}

static gregor_err fetch_op(offset_mgr *o, int32_t node, void *arg, int32_t timeout_ms, char *errstr, size_t n)
{
    fetch_arg *fa = arg;
    net_request req = {
        .api_key = PROTO_API_OFFSET_FETCH,
        .min_version = 1,
        .max_version = OFFSET_FETCH_MAX_VERSION,
        .encode = encode_offset_fetch,
        .opaque = fa,
    };
    cluster_reply reply;
    gregor_err err = call_coordinator(o, node, &req, timeout_ms, &reply, errstr, n);
    if (err != GREGOR_OK)
        return err;
    arena a;
    arena_init(&a, ARENA_DEFAULT_LIMIT);
    proto_offset_fetch_response m;
    offsets_free_meta(o);
    if ((err = proto_offset_fetch_response_decode(&reply.body, reply.version, &m, &a)) != GREGOR_OK)
        goto out;
    if (reply.version >= 2 && (err = gregor_err_from_broker(m.error_code)) != GREGOR_OK)
        goto out;
    if (!(o->meta = calloc(fa->n, sizeof *o->meta))) {
        err = GREGOR_ERR_NOMEM;
        goto out;
    }
    for (size_t i = 0; i < fa->n; i++) {
        fa->offs[i].err = GREGOR_ERR_MALFORMED; /* until the response names it */
        fa->offs[i].offset = -1;
        fa->offs[i].metadata = NULL;
        if (fa->epochs)
            fa->epochs[i] = -1;
    }
    for (int32_t t = 0; t < m.topics_count; t++)
        for (int32_t i = 0; i < m.topics[t].partitions_count; i++) {
            const proto_offset_fetch_response_partition *p = &m.topics[t].partitions[i];
            gregor_topic_offset *e = find_entry(fa->tps, fa->offs, m.topics[t].name, p->partition_index);
            if (!e)
                continue;
            e->err = gregor_err_from_broker(p->error_code);
            e->offset = p->committed_offset;
            if (fa->epochs && reply.version >= 5)
                fa->epochs[e - fa->offs] = p->committed_leader_epoch;
            if (p->metadata.len >= 0 && (o->meta[o->n_meta] = malloc((size_t)p->metadata.len + 1))) {
                memcpy(o->meta[o->n_meta], p->metadata.ptr, (size_t)p->metadata.len);
                o->meta[o->n_meta][p->metadata.len] = 0;
                e->metadata = o->meta[o->n_meta++];
            }
        }
    for (size_t i = 0; i < fa->n && err == GREGOR_OK; i++)
        err = fa->offs[i].err;
out:
    arena_fini(&a);
    free(reply.frame);
    return err;
}

gregor_err offsets_fetch_sync(offset_mgr *o, gregor_topic_offset *offs, size_t n, int32_t *epochs, char *errstr,
                              size_t errstr_size)
{
    if (errstr && errstr_size)
        errstr[0] = 0;
    if (n == 0)
        return GREGOR_OK;
    proto_tp_groups g;
    gregor_err err = group_entries(offs, n, &g);
    fetch_arg fa = {o->group, offs, n, o, &g, epochs};
    if (err == GREGOR_OK)
        err = with_coordinator(o, fetch_op, &fa, errstr, errstr_size);
    proto_tp_groups_fini(&g);
    return err;
}

void offsets_set_member(offset_mgr *o, int32_t generation, const char *member_id, const char *instance_id)
{
    pthread_mutex_lock(&o->lock);
    o->generation = generation;
    snprintf(o->member_id, sizeof o->member_id, "%s", member_id ? member_id : "");
    snprintf(o->instance_id, sizeof o->instance_id, "%s", instance_id ? instance_id : "");
    pthread_mutex_unlock(&o->lock);
}
