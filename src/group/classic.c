/* group/classic.c — the member thread of the classic group protocol.
 *
 *   find the coordinator (FindCoordinator, shared with the committer)
 *   -> [eager: revoke everything, wait for the application]
 *   -> JoinGroup (MEMBER_ID_REQUIRED: again with the id it gave)
 *   -> the leader assigns (group/assignor.h) -> SyncGroup
 *   -> steps for the application: eager: assign all; cooperative: revoke
 *      what moved away (then join again at once), assign what is new
 *   -> Heartbeat every heartbeat_interval_ms until the coordinator says
 *      REBALANCE_IN_PROGRESS, the subscription or the subscribed topics
 *      change, or the member is fenced (ILLEGAL_GENERATION,
 *      UNKNOWN_MEMBER_ID: its partitions are lost, not revoked).
 *
 * Membership requests go to the coordinator on the member's own connection
 * (cluster_new_member_kind): a JoinGroup held by the broker for a whole
 * rebalance delays no commit.
 *
 * The thread blocks in requests (bounded by their timeouts: JoinGroup by
 * the rebalance timeout) and otherwise waits on the group's condition
 * variable, so close, a new subscription or a finished step wake it at
 * once.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "group/consumer_protocol.h"
#include "group/group_int.h"
#include "protocol/gen/api.h"
#include "protocol/gen/errors.h"
#include "protocol/gen/heartbeat.h"
#include "protocol/gen/join_group.h"
#include "protocol/gen/leave_group.h"
#include "protocol/gen/sync_group.h"
#include "util/clock.h"
#include "util/log.h"

#define JOIN_EXTRA_MS 5000 /* JoinGroup waits the rebalance timeout, plus this */

/* The member thread's own state. */
typedef struct member {
    gregor_group *g;
    char member_id[256];
    int32_t generation;
    bool need_join;
    uint64_t sub_version; /* of the subscription joined with */
    group_tp_list target; /* the assignment of the latest sync (topics malloc'd) */
    /* the subscribed topics and partition counts when the member joined:
     * a change means a rebalance (new partitions, new matching topics) */
    assignor_topic *watch;
    size_t n_watch;
    int64_t next_heartbeat_ms;
    int64_t last_heartbeat_ok_ms;
    int32_t node; /* the coordinator, while waiting for steps */
} member;

static gregor_err fatal(member *m, gregor_err err, const char *fmt, const char *what)
{
    return group_fatal(m->g, err, fmt, what);
}

static void free_watch(member *m)
{
    for (size_t i = 0; i < m->n_watch; i++)
        free((char *)m->watch[i].topic);
    free(m->watch);
    m->watch = NULL;
    m->n_watch = 0;
}

/* The subscription resolved against snapshot `s` (topics copied; nothing
 * on failure). */
static gregor_err resolve_in(gregor_group *g, const cluster_snapshot *s, assignor_topic **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (!s)
        return GREGOR_OK;
    pthread_mutex_lock(&g->lock);
    gregor_err err = group_sub_resolve(&g->sub, &s->md, out, n);
    pthread_mutex_unlock(&g->lock);
    size_t copied = 0;
    for (; err == GREGOR_OK && copied < *n; copied++)
        if (!((*out)[copied].topic = strdup((*out)[copied].topic)))
            err = GREGOR_ERR_NOMEM;
    if (err != GREGOR_OK) {
        for (size_t i = 0; i + 1 < copied; i++)
            free((char *)(*out)[i].topic);
        free(*out);
        *out = NULL;
        *n = 0;
    }
    return err;
}

/* The same against the newest metadata. */
static gregor_err resolve_now(gregor_group *g, assignor_topic **out, size_t *n)
{
    cluster_snapshot *s = cluster_snapshot_get(g->client->cluster);
    gregor_err err = resolve_in(g, s, out, n);
    cluster_snapshot_unref(s);
    return err;
}

/* Whether `md` answers for every named topic of the subscription (a topic
 * that does not exist is listed with an error): a snapshot from a request
 * sent before the topics were added does not, and joining with it would
 * cost the group a second rebalance once the next one arrives. Patterns
 * match whatever the snapshot has. Caller holds g->lock. */
static bool md_covers_sub(const gregor_group *g, const gregor_metadata *md)
{
    if (g->sub.has_pattern)
        return true;
    for (size_t i = 0; i < g->sub.n_topics; i++) {
        bool found = false;
        for (int32_t t = 0; t < md->n_topics && !found; t++)
            found = !strcmp(md->topics[t].name, g->sub.topics[i]);
        if (!found)
            return false;
    }
    return true;
}

/* Waits (up to request_timeout_ms) for metadata newer than the
 * subscription that covers its topics. */
static void wait_for_sub_metadata(gregor_group *g)
{
    pthread_mutex_lock(&g->lock);
    uint64_t after = g->sub_md_generation;
    pthread_mutex_unlock(&g->lock);
    int64_t deadline = clock_mono_ms() + g->request_timeout_ms;
    bool newer_seen = false;
    for (;;) {
        cluster_snapshot *md = cluster_snapshot_get(g->client->cluster);
        bool ready = false;
        if (md && md->generation > after) {
            pthread_mutex_lock(&g->lock);
            ready = md_covers_sub(g, &md->md);
            pthread_mutex_unlock(&g->lock);
            after = md->generation;
            /* One newer snapshot is a must; coverage is worth 2 s more at
             * most (a broker that leaves unknown topics out never gives it). */
            if (!newer_seen && deadline > clock_mono_ms() + 2000)
                deadline = clock_mono_ms() + 2000;
            newer_seen = true;
        }
        cluster_snapshot_unref(md);
        int64_t left = deadline - clock_mono_ms();
        if (ready || left <= 0)
            return;
        if (cluster_wait_snapshot(g->client->cluster, after, (int32_t)left, &md, NULL, 0) != GREGOR_OK)
            return;
        cluster_snapshot_unref(md);
    }
}

static bool watch_changed(member *m)
{
    assignor_topic *now;
    size_t n;
    if (resolve_now(m->g, &now, &n) != GREGOR_OK)
        return false;
    bool changed = n != m->n_watch;
    for (size_t i = 0; !changed && i < n; i++)
        changed = strcmp(now[i].topic, m->watch[i].topic) != 0 || now[i].partitions != m->watch[i].partitions;
    if (changed)
        gregor_log(GREGOR_LOG_INFO, "group '%s': subscribed topics or partitions changed: rebalancing",
                   m->g->group_id);
    for (size_t i = 0; i < n; i++)
        free((char *)now[i].topic);
    free(now);
    return changed;
}

/* ------------------------------------------------------------ requests */

/* One request to the coordinator on the member connection. */
static gregor_err call(member *m, int32_t node, int16_t api, int16_t max_version, net_encode_fn encode, void *opaque,
                       int32_t timeout_ms, cluster_reply *reply)
{
    return group_call(m->g, node, m->g->conn_kind, api, max_version, encode, opaque, timeout_ms, reply);
}

#define str_slice group_str_slice

/* ------------------------------------------------- embedded protocol */

/* This member's Subscription for one assignor (group/consumer_protocol.h),
 * as malloc'd bytes: the topics, what it owns (cooperative assignors keep
 * it), its generation and rack, and the assignor's user data. */
static gregor_err encode_subscription(member *m, const group_assignor *a, const assignor_topic *topics, size_t n,
                                      uint8_t **out, size_t *len)
{
    gregor_group *g = m->g;
    const char **names = calloc(n ? n : 1, sizeof *names);
    if (!names)
        return GREGOR_ERR_NOMEM;
    for (size_t i = 0; i < n; i++)
        names[i] = topics[i].topic;
    assignor_member me = {.topics = names, .n_topics = n, .owned = m->target, .generation = m->generation,
                          .rack = g->rack};
    uint8_t *ud = NULL;
    size_t ud_len = 0;
    gregor_err err = a->user_data ? a->user_data(m->generation, &ud, &ud_len) : GREGOR_OK;
    if (err == GREGOR_OK) {
        buf_writer w;
        buf_writer_init(&w, 1 << 24);
        if ((err = consumer_protocol_subscription_encode(&w, &me, ud, ud_len)) == GREGOR_OK)
            *out = buf_writer_steal(&w, len);
        buf_writer_fini(&w);
    }
    free(ud);
    free(names);
    return err;
}

static gregor_err encode_assignment(const group_tp_list *l, uint8_t **out, size_t *len)
{
    buf_writer w;
    buf_writer_init(&w, 1 << 24);
    gregor_err err = consumer_protocol_assignment_encode(&w, l, NULL, 0);
    if (err == GREGOR_OK)
        *out = buf_writer_steal(&w, len);
    buf_writer_fini(&w);
    return err;
}

/* The member's own Assignment from SyncGroup into `out` (topics malloc'd,
 * sorted). */
static gregor_err decode_assignment(member *m, buf_slice bytes, group_tp_list *out)
{
    consumer_assignment as;
    gregor_err err = consumer_protocol_assignment_decode(bytes.ptr, bytes.len > 0 ? (size_t)bytes.len : 0, &as);
    if (err != GREGOR_OK)
        gregor_log(GREGOR_LOG_ERROR, "group '%s': the leader's assignment cannot be read: %s", m->g->group_id,
                   as.error);
    else
        err = group_tp_list_copy(out, as.partitions.tps, as.partitions.n);
    consumer_assignment_fini(&as);
    group_tp_list_sort(out);
    return err;
}

/* ------------------------------------------------------------ join */

typedef struct join_req {
    member *m;
    const char *instance_id;
    proto_join_group_request_protocol *protocols;
    int32_t n_protocols;
} join_req;

static gregor_err encode_join(buf_writer *w, int16_t version, void *opaque)
{
    join_req *r = opaque;
    gregor_group *g = r->m->g;
    proto_join_group_request req;
    proto_join_group_request_init(&req);
    req.group_id = str_slice(g->group_id);
    req.session_timeout_ms = g->session_timeout_ms;
    req.rebalance_timeout_ms = g->max_poll_interval_ms;
    req.member_id = str_slice(r->m->member_id);
    req.group_instance_id = str_slice(r->instance_id);
    if (version < 5 && r->instance_id)
        req.group_instance_id = BUF_SLICE_NULL; /* brokers before 2.3 have no static membership */
    req.protocol_type = str_slice("consumer");
    req.protocols = r->protocols;
    req.protocols_count = r->n_protocols;
    return proto_join_group_request_encode(w, version, &req);
}

typedef struct sync_req {
    member *m;
    int32_t generation;
    const char *protocol;
    proto_sync_group_request_assignment *assignments;
    int32_t n;
} sync_req;

static gregor_err encode_sync(buf_writer *w, int16_t version, void *opaque)
{
    sync_req *r = opaque;
    gregor_group *g = r->m->g;
    proto_sync_group_request req;
    proto_sync_group_request_init(&req);
    req.group_id = str_slice(g->group_id);
    req.generation_id = r->generation;
    req.member_id = str_slice(r->m->member_id);
    req.group_instance_id = version >= 3 ? str_slice(g->instance_id) : BUF_SLICE_NULL;
    req.protocol_type = str_slice("consumer");
    req.protocol_name = str_slice(r->protocol);
    req.assignments = r->assignments;
    req.assignments_count = r->n;
    return proto_sync_group_request_encode(w, version, &req);
}

/* Errors after which the member rejoins under a new identity: its
 * partitions are lost (another member may have them already). */
static bool fenced(gregor_err err)
{
    return err == PROTO_ERR_UNKNOWN_MEMBER_ID || err == PROTO_ERR_ILLEGAL_GENERATION;
}

/* Gives up the current assignment without a handover. */
static void lose_partitions(member *m, const char *why)
{
    group_lose(m->g, &m->target, m->member_id, why);
    m->generation = -1;
}

static void heartbeat(member *m, int32_t node);

/* group_wait_steps's beat: heartbeats while in a generation. */
static int64_t beat(void *opaque)
{
    member *m = opaque;
    if (m->generation < 0)
        return net_now_ms() + 1000;
    if (net_now_ms() >= m->next_heartbeat_ms)
        heartbeat(m, m->node);
    return m->next_heartbeat_ms;
}

/* Waits until the application has run every step up to `id`, heartbeating
 * meanwhile. False when the member stops or the application stopped
 * polling (max_poll_interval_ms). */
static bool wait_steps(member *m, int32_t node, uint64_t id)
{
    m->node = node;
    return group_wait_steps(m->g, id, beat, m);
}

/* The leader's work: every member's assignment, encoded for SyncGroup. */
static gregor_err lead(member *m, const proto_join_group_response *jr, const group_assignor *a, arena *mem,
                       proto_sync_group_request_assignment **out, int32_t *n_out)
{
    gregor_group *g = m->g;
    int32_t n = jr->members_count > 0 ? jr->members_count : 0;
    /* Members in the order of the JoinGroup answer: the assignors break
     * ties as Java does from that order. */
    consumer_subscription *subs = calloc((size_t)(n ? n : 1), sizeof *subs);
    assignor_member *members = arena_alloc(mem, (size_t)(n ? n : 1) * sizeof *members);
    proto_sync_group_request_assignment *res = arena_alloc(mem, (size_t)(n ? n : 1) * sizeof *res);
    if (!subs || !members || !res) {
        free(subs);
        return GREGOR_ERR_NOMEM;
    }
    gregor_err err = GREGOR_OK;
    int32_t decoded = 0;
    for (int32_t i = 0; i < n && err == GREGOR_OK; i++, decoded++) {
        const proto_join_group_response_member *jm = &jr->members[i];
        gregor_err derr = consumer_protocol_subscription_decode(
            jm->metadata.ptr, jm->metadata.len > 0 ? (size_t)jm->metadata.len : 0, a->name, &subs[i]);
        members[i] = subs[i].member;
        members[i].member_id = arena_strndup(mem, jm->member_id.ptr, (size_t)jm->member_id.len);
        members[i].instance_id = jm->group_instance_id.len > 0
                                     ? arena_strndup(mem, jm->group_instance_id.ptr, (size_t)jm->group_instance_id.len)
                                     : NULL;
        if (!members[i].member_id)
            err = GREGOR_ERR_NOMEM;
        if (derr == GREGOR_ERR_NOMEM)
            err = derr;
        else if (derr != GREGOR_OK) {
            /* It gets nothing; the others are assigned as usual. */
            gregor_log(GREGOR_LOG_WARN, "group '%s': member %s sent a subscription gregor cannot read (%s): it "
                       "gets nothing", g->group_id, members[i].member_id ? members[i].member_id : "?", subs[i].error);
            members[i].topics = NULL;
            members[i].n_topics = 0;
            group_tp_list_init(&members[i].owned);
        }
    }
    /* Every topic any member subscribes to must be in the metadata. */
    for (int32_t i = 0; i < n && err == GREGOR_OK; i++)
        err = cluster_add_topics(g->client->cluster, members[i].topics, members[i].n_topics);
    cluster_snapshot *s = NULL;
    if (err == GREGOR_OK) {
        cluster_request_refresh(g->client->cluster);
        uint64_t after = 0;
        cluster_snapshot *cur = cluster_snapshot_get(g->client->cluster);
        if (cur) {
            after = cur->generation;
            cluster_snapshot_unref(cur);
        }
        if (cluster_wait_snapshot(g->client->cluster, after, g->request_timeout_ms, &s, NULL, 0) != GREGOR_OK)
            s = cluster_snapshot_get(g->client->cluster);
    }
    assignor_topic *topics = NULL;
    size_t n_topics = 0;
    if (err == GREGOR_OK && s) {
        topics = arena_alloc(mem, (size_t)(s->md.n_topics ? s->md.n_topics : 1) * sizeof *topics);
        if (!topics)
            err = GREGOR_ERR_NOMEM;
        for (int32_t t = 0; topics && t < s->md.n_topics; t++) {
            const gregor_metadata_topic *mt = &s->md.topics[t];
            bool wanted = false;
            for (int32_t i = 0; i < n && !wanted; i++)
                for (size_t k = 0; k < members[i].n_topics && !wanted; k++)
                    wanted = !strcmp(members[i].topics[k], mt->name);
            if (wanted && mt->err == GREGOR_OK && mt->n_partitions > 0)
                topics[n_topics++] = (assignor_topic){arena_strndup(mem, mt->name, strlen(mt->name)),
                                                      mt->n_partitions};
        }
    }
    /* A leader of named topics watches the metadata it assigned from: a
     * later change means a rebalance, the same metadata does not. (A
     * pattern's watch is the topic list it joined with: a topic matching
     * since then must make it join again.) */
    pthread_mutex_lock(&g->lock);
    bool named = !g->sub.has_pattern;
    pthread_mutex_unlock(&g->lock);
    if (err == GREGOR_OK && s && named) {
        assignor_topic *watch;
        size_t n_watch;
        if (resolve_in(g, s, &watch, &n_watch) == GREGOR_OK) {
            free_watch(m);
            m->watch = watch;
            m->n_watch = n_watch;
        }
    }
    cluster_snapshot_unref(s);
    group_tp_list *result = calloc((size_t)(n ? n : 1), sizeof *result);
    if (!result)
        err = GREGOR_ERR_NOMEM;
    for (int32_t i = 0; result && i < n; i++)
        group_tp_list_init(&result[i]);
    if (err == GREGOR_OK)
        err = a->assign(members, (size_t)n, topics, n_topics, result);
    for (int32_t i = 0; err == GREGOR_OK && i < n; i++) {
        uint8_t *bytes = NULL;
        size_t len = 0;
        group_tp_list_sort(&result[i]);
        if ((err = encode_assignment(&result[i], &bytes, &len)) != GREGOR_OK)
            break;
        uint8_t *copy = arena_alloc(mem, len ? len : 1);
        if (!copy) {
            free(bytes);
            err = GREGOR_ERR_NOMEM;
            break;
        }
        memcpy(copy, bytes, len);
        free(bytes);
        proto_sync_group_request_assignment_init(&res[i]);
        res[i].member_id = str_slice(members[i].member_id);
        res[i].assignment = buf_slice_of(copy, len);
        gregor_log(GREGOR_LOG_DEBUG, "group '%s': %s gets %zu partition(s)", g->group_id, members[i].member_id,
                   result[i].n);
    }
    for (int32_t i = 0; i < decoded; i++)
        consumer_subscription_fini(&subs[i]);
    free(subs);
    for (int32_t i = 0; result && i < n; i++)
        group_tp_list_fini(&result[i]);
    free(result);
    *out = res;
    *n_out = n;
    return err;
}

/* Steps for a new assignment; true when the member must join again at
 * once (cooperative: it revoked partitions that others are waiting for). */
static bool reconcile(member *m, int32_t node, group_tp_list *assigned)
{
    gregor_group *g = m->g;
    group_tp_list revoked, added;
    group_tp_list_init(&revoked);
    group_tp_list_init(&added);
    bool again = false;
    gregor_err err = GREGOR_OK;
    for (size_t i = 0; i < m->target.n && err == GREGOR_OK; i++)
        if (!group_tp_list_contains(assigned, m->target.tps[i].topic, m->target.tps[i].partition))
            err = group_tp_list_add(&revoked, m->target.tps[i].topic, m->target.tps[i].partition);
    for (size_t i = 0; i < assigned->n && err == GREGOR_OK; i++)
        if (!group_tp_list_contains(&m->target, assigned->tps[i].topic, assigned->tps[i].partition))
            err = group_tp_list_add(&added, assigned->tps[i].topic, assigned->tps[i].partition);
    if (err != GREGOR_OK) {
        /* Out of memory: give everything up and join again. */
        group_tp_list_fini(&revoked);
        group_tp_list_fini(&added);
        lose_partitions(m, "out of memory");
        return true;
    }
    if (revoked.n > 0) {
        /* Only cooperative members still own partitions here. */
        uint64_t id = group_post_step(g, GROUP_STEP_REVOKE, &revoked, m->generation);
        if (id)
            wait_steps(m, node, id);
        again = true;
    }
    if (added.n > 0)
        group_post_step(g, GROUP_STEP_ASSIGN, &added, m->generation);
    group_tp_list_fini(&revoked);
    group_tp_list_fini(&added);
    group_tp_list_free_strings(&m->target);
    m->target = *assigned;
    group_tp_list_init(assigned);
    return again;
}

/* One whole join: JoinGroup, (leader: assign), SyncGroup, reconcile. */
static gregor_err join(member *m, int32_t node)
{
    gregor_group *g = m->g;
    if (!g->cooperative && m->target.n > 0) {
        /* Eager: everything is given up before joining. */
        uint64_t id = group_post_step(g, GROUP_STEP_REVOKE, &m->target, m->generation);
        if (id && !wait_steps(m, node, id))
            return GREGOR_ERR_DESTROYED;
        group_tp_list_free_strings(&m->target);
        group_tp_list_init(&m->target);
    }
    pthread_mutex_lock(&g->lock);
    uint64_t sub_version = g->sub_version;
    pthread_mutex_unlock(&g->lock);
    /* Join with metadata that knows the subscribed topics (asked for when
     * subscribing), or the first join would subscribe to nothing and the
     * next metadata would cost the whole group another rebalance. */
    wait_for_sub_metadata(g);
    free_watch(m);
    gregor_err err = resolve_now(g, &m->watch, &m->n_watch);
    if (err != GREGOR_OK)
        return err;
    /* Named topics that do not exist yet are subscribed too: they are
     * assigned once they appear. */
    assignor_topic *sub_topics = m->watch;
    size_t n_sub = m->n_watch;
    pthread_mutex_lock(&g->lock);
    bool named = !g->sub.has_pattern;
    if (named) {
        sub_topics = calloc(g->sub.n_topics ? g->sub.n_topics : 1, sizeof *sub_topics);
        for (size_t i = 0; sub_topics && i < g->sub.n_topics; i++)
            sub_topics[i].topic = g->sub.topics[i];
        n_sub = sub_topics ? g->sub.n_topics : 0;
    }
    pthread_mutex_unlock(&g->lock);
    if (!sub_topics)
        return GREGOR_ERR_NOMEM;

    proto_join_group_request_protocol protocols[GROUP_MAX_ASSIGNORS];
    uint8_t *meta[GROUP_MAX_ASSIGNORS] = {0};
    for (size_t i = 0; i < g->n_assignors && err == GREGOR_OK; i++) {
        size_t len = 0;
        err = encode_subscription(m, g->assignors[i], sub_topics, n_sub, &meta[i], &len);
        proto_join_group_request_protocol_init(&protocols[i]);
        protocols[i].name = str_slice(g->assignors[i]->name);
        protocols[i].metadata = buf_slice_of(meta[i], len);
    }
    if (named)
        free(sub_topics); /* the names stay in g->sub, which only this join reads */
    join_req jreq = {m, g->instance_id, protocols, (int32_t)g->n_assignors};
    cluster_reply reply = {0};
    arena mem;
    arena_init(&mem, ARENA_DEFAULT_LIMIT);
    proto_join_group_response jr;
    int32_t join_timeout = g->max_poll_interval_ms + JOIN_EXTRA_MS;
    if (err == GREGOR_OK)
        err = call(m, node, PROTO_API_JOIN_GROUP, proto_api_get(PROTO_API_JOIN_GROUP)->max_version, encode_join, &jreq,
                   join_timeout, &reply);
    for (size_t i = 0; i < g->n_assignors; i++)
        free(meta[i]);
    if (err == GREGOR_OK) {
        if (proto_join_group_response_decode(&reply.body, reply.version, &jr, &mem) != GREGOR_OK)
            err = GREGOR_ERR_MALFORMED;
        else
            err = gregor_err_from_broker(jr.error_code);
    }
    if (err == PROTO_ERR_MEMBER_ID_REQUIRED || (err == GREGOR_OK && jr.member_id.len > 0)) {
        snprintf(m->member_id, sizeof m->member_id, "%.*s", (int)jr.member_id.len, (const char *)jr.member_id.ptr);
        /* Known to close from now on: a member closed while its JoinGroup or
         * SyncGroup waits for the others leaves (which ends that wait) instead
         * of waiting for the rebalance to finish. */
        pthread_mutex_lock(&g->lock);
        snprintf(g->member_id, sizeof g->member_id, "%s", m->member_id);
        pthread_mutex_unlock(&g->lock);
    }
    if (err != GREGOR_OK)
        goto out;
    m->generation = jr.generation_id;
    char protocol[64];
    snprintf(protocol, sizeof protocol, "%.*s", (int)(jr.protocol_name.len > 0 ? jr.protocol_name.len : 0),
             (const char *)jr.protocol_name.ptr);
    const group_assignor *a = group_assignor_find(protocol);
    bool leader = buf_slice_eq_str(jr.leader, m->member_id);
    gregor_log(GREGOR_LOG_INFO, "group '%s': joined generation %d as %s (%s), assignor %s", g->group_id,
               (int)m->generation, m->member_id, leader ? "leader" : "follower", protocol);
    sync_req sreq = {m, m->generation, protocol, NULL, 0};
    if (leader && !jr.skip_assignment) {
        if (!a) {
            err = fatal(m, GREGOR_ERR_UNSUPPORTED, "group '%s': the group chose assignor '%s', which gregor lacks (%s)",
                        protocol);
            goto out;
        }
        if ((err = lead(m, &jr, a, &mem, &sreq.assignments, &sreq.n)) != GREGOR_OK)
            goto out;
    }
    free(reply.frame);
    reply.frame = NULL;
    err = call(m, node, PROTO_API_SYNC_GROUP, proto_api_get(PROTO_API_SYNC_GROUP)->max_version, encode_sync, &sreq,
               g->request_timeout_ms > g->session_timeout_ms ? g->request_timeout_ms : g->session_timeout_ms,
               &reply);
    proto_sync_group_response sr;
    if (err == GREGOR_OK) {
        if (proto_sync_group_response_decode(&reply.body, reply.version, &sr, &mem) != GREGOR_OK)
            err = GREGOR_ERR_MALFORMED;
        else
            err = gregor_err_from_broker(sr.error_code);
    }
    if (err != GREGOR_OK)
        goto out;
    group_tp_list assigned;
    group_tp_list_init(&assigned);
    if ((err = decode_assignment(m, sr.assignment, &assigned)) != GREGOR_OK) {
        group_tp_list_free_strings(&assigned);
        goto out;
    }
    pthread_mutex_lock(&g->lock);
    snprintf(g->member_id, sizeof g->member_id, "%s", m->member_id);
    snprintf(g->protocol, sizeof g->protocol, "%s", protocol);
    g->generation = m->generation;
    pthread_mutex_unlock(&g->lock);
    offsets_set_member(g->offs, m->generation, m->member_id, g->instance_id);
    m->sub_version = sub_version;
    m->need_join = false;
    m->last_heartbeat_ok_ms = net_now_ms();
    m->next_heartbeat_ms = net_now_ms() + g->heartbeat_interval_ms;
    if (reconcile(m, node, &assigned))
        m->need_join = true;
    group_tp_list_free_strings(&assigned);
out:
    free(reply.frame);
    arena_fini(&mem);
    return err;
}

/* ------------------------------------------------------- heartbeat */

typedef struct hb_req {
    member *m;
} hb_req;

static gregor_err encode_heartbeat(buf_writer *w, int16_t version, void *opaque)
{
    member *m = opaque;
    proto_heartbeat_request req;
    proto_heartbeat_request_init(&req);
    req.group_id = str_slice(m->g->group_id);
    req.generation_id = m->generation;
    req.member_id = str_slice(m->member_id);
    req.group_instance_id = version >= 3 ? str_slice(m->g->instance_id) : BUF_SLICE_NULL;
    return proto_heartbeat_request_encode(w, version, &req);
}

static gregor_err heartbeat_once(member *m, int32_t node)
{
    pthread_mutex_lock(&m->g->lock);
    m->g->heartbeats++;
    pthread_mutex_unlock(&m->g->lock);
    cluster_reply reply = {0};
    gregor_err err = call(m, node, PROTO_API_HEARTBEAT, proto_api_get(PROTO_API_HEARTBEAT)->max_version,
                          encode_heartbeat, m, m->g->request_timeout_ms, &reply);
    if (err == GREGOR_OK) {
        arena a;
        arena_init(&a, 1 << 16);
        proto_heartbeat_response r;
        err = proto_heartbeat_response_decode(&reply.body, reply.version, &r, &a) != GREGOR_OK
                  ? GREGOR_ERR_MALFORMED
                  : gregor_err_from_broker(r.error_code);
        arena_fini(&a);
        free(reply.frame);
    }
    return err;
}

/* Handles an error of the group protocol: rejoin, lose the partitions,
 * find the coordinator again, or fail for good. */
static void handle_error(member *m, int32_t node, gregor_err err, const char *what)
{
    gregor_group *g = m->g;
    if (err == PROTO_ERR_REBALANCE_IN_PROGRESS || err == PROTO_ERR_MEMBER_ID_REQUIRED) {
        m->need_join = true;
    } else if (fenced(err)) {
        lose_partitions(m, gregor_err_name(err));
        if (err == PROTO_ERR_UNKNOWN_MEMBER_ID && !g->instance_id)
            m->member_id[0] = 0;
        m->need_join = true;
    } else if (offsets_coordinator_lost(err)) {
        gregor_log(GREGOR_LOG_INFO, "group '%s': %s: coordinator %d: %s; finding it again", g->group_id, what,
                   (int)node, gregor_err_name(err));
        offsets_forget_coordinator(g->offs, node, err);
    } else if (err == PROTO_ERR_COORDINATOR_LOAD_IN_PROGRESS || gregor_err_is_retriable(err)) {
        /* try again after the backoff */
    } else if (err == GREGOR_ERR_MALFORMED || err == GREGOR_ERR_TRUNCATED || err == GREGOR_ERR_TOO_LARGE) {
        /* Bytes that cannot be decoded (a response, or an assignment another
         * client's leader wrote): logged; the member joins again. */
        gregor_log(GREGOR_LOG_ERROR, "group '%s': %s: undecodable answer (%s); joining again", g->group_id, what,
                   gregor_err_name(err));
        m->need_join = true;
    } else if (err == PROTO_ERR_FENCED_INSTANCE_ID) {
        lose_partitions(m, "another member uses this group_instance_id");
        fatal(m, err, "group '%s': %s: %s (another process uses this group_instance_id)", what);
        m->need_join = false;
    } else if (err == GREGOR_ERR_UNSUPPORTED) {
        fatal(m, err,
              "group '%s': %s: %s: the broker has no group membership (Kafka before 0.9); read explicit partitions "
              "with gregor_consumer instead",
              what);
    } else {
        fatal(m, err, "group '%s': %s failed: %s", what);
    }
}

static void heartbeat(member *m, int32_t node)
{
    gregor_group *g = m->g;
    gregor_err err = heartbeat_once(m, node);
    int64_t now = net_now_ms();
    m->next_heartbeat_ms = now + g->heartbeat_interval_ms;
    if (err == GREGOR_OK || err == PROTO_ERR_REBALANCE_IN_PROGRESS)
        m->last_heartbeat_ok_ms = now;
    if (err != GREGOR_OK)
        handle_error(m, node, err, "Heartbeat");
    if (err != GREGOR_OK && m->generation >= 0 && now - m->last_heartbeat_ok_ms > g->session_timeout_ms) {
        /* The coordinator has surely expired the session by now. */
        lose_partitions(m, "no heartbeat got through within session_timeout_ms");
        m->need_join = true;
    }
}

/* ----------------------------------------------------------- leave */

typedef struct leave_req {
    const char *group_id, *member_id, *instance_id;
} leave_req;

static gregor_err encode_leave(buf_writer *w, int16_t version, void *opaque)
{
    leave_req *r = opaque;
    proto_leave_group_request req;
    proto_leave_group_request_init(&req);
    req.group_id = str_slice(r->group_id);
    proto_leave_group_request_member_identity id;
    proto_leave_group_request_member_identity_init(&id);
    id.member_id = str_slice(r->member_id);
    id.group_instance_id = str_slice(r->instance_id);
    id.reason = str_slice("the consumer is closing");
    if (version >= 3) {
        req.members = &id;
        req.members_count = 1;
    } else {
        req.member_id = str_slice(r->member_id);
    }
    return proto_leave_group_request_encode(w, version, &req);
}

/* Sends LeaveGroup for `member_id` on the commit connection (the member
 * connection may be busy with a JoinGroup this ends). */
static void leave(gregor_group *g, const char *member_id, const char *why)
{
    int32_t node;
    char errstr[256] = "";
    int64_t deadline = net_now_ms() + g->request_timeout_ms;
    if (!member_id[0] || offsets_coordinator(g->offs, deadline, &node, errstr, sizeof errstr) != GREGOR_OK)
        return;
    leave_req r = {g->group_id, member_id, g->instance_id};
    net_request req = {
        .api_key = PROTO_API_LEAVE_GROUP,
        .max_version = proto_api_get(PROTO_API_LEAVE_GROUP)->max_version,
        .encode = encode_leave,
        .opaque = &r,
        .timeout_ms = g->request_timeout_ms,
    };
    cluster_reply reply = {0};
    gregor_err err = cluster_call_on(g->client->cluster, node, CLUSTER_CONN_COORDINATOR, &req, &reply);
    free(reply.frame);
    gregor_log(err == GREGOR_OK ? GREGOR_LOG_INFO : GREGOR_LOG_WARN, "group '%s': member %s left (%s): %s",
               g->group_id, member_id, why, gregor_err_name(err));
}

static void classic_leave(gregor_group *g)
{
    /* A static member does not leave: it keeps its place for
     * session_timeout_ms. */
    if (!g->instance_id) {
        char id[256];
        pthread_mutex_lock(&g->lock);
        snprintf(id, sizeof id, "%s", g->member_id);
        pthread_mutex_unlock(&g->lock);
        leave(g, id, "closing");
    }
    /* A JoinGroup or SyncGroup the member thread waits in ends now, whether
     * or not the broker answers it after the LeaveGroup. */
    cluster_close_kind(g->client->cluster, g->conn_kind);
}

/* The application stopped polling: leave on purpose, so that the
 * partitions go to members that work. */
static void poll_expired(member *m)
{
    gregor_group *g = m->g;
    gregor_log(GREGOR_LOG_WARN, "group '%s': no poll for more than max_poll_interval_ms (%d ms): leaving the group",
               g->group_id, g->max_poll_interval_ms);
    if (!g->instance_id)
        leave(g, m->member_id, "max_poll_interval_ms passed without a poll");
    lose_partitions(m, "max_poll_interval_ms passed without a poll");
    if (!g->instance_id)
        m->member_id[0] = 0;
    group_note_poll_expired(g);
    m->need_join = true;
}

/* ------------------------------------------------------------ main */

static void *classic_main(void *arg)
{
    member m = {.g = arg, .generation = -1, .need_join = true};
    gregor_group *g = m.g;
    group_tp_list_init(&m.target);
    int64_t next_watch_ms = 0;
    for (;;) {
        pthread_mutex_lock(&g->lock);
        while (!g->stop && (g->poll_expired || (g->fatal != GREGOR_OK && !m.need_join))) {
            struct timespec ts = clock_deadline_ts(1000);
            pthread_cond_timedwait(&g->cond, &g->lock, &ts);
        }
        bool stop = g->stop;
        if (g->sub_version != m.sub_version)
            m.need_join = true;
        bool expired = net_now_ms() - g->last_poll_ms > g->max_poll_interval_ms;
        pthread_mutex_unlock(&g->lock);
        if (stop)
            break;
        if (expired) {
            poll_expired(&m);
            continue;
        }
        int32_t node;
        gregor_err err = group_coordinator(g, &node);
        if (err != GREGOR_OK) {
            if (m.generation >= 0 && net_now_ms() - m.last_heartbeat_ok_ms > g->session_timeout_ms) {
                lose_partitions(&m, "the coordinator was unreachable for session_timeout_ms");
                m.need_join = true;
            }
            group_sleep(g, g->retry_backoff_ms);
            continue;
        }
        if (m.need_join) {
            err = join(&m, node);
            if (err != GREGOR_OK && err != GREGOR_ERR_DESTROYED) {
                gregor_log(GREGOR_LOG_INFO, "group '%s': join: %s", g->group_id, gregor_err_name(err));
                handle_error(&m, node, err, "JoinGroup/SyncGroup");
                m.need_join = g->fatal == GREGOR_OK || fenced(err);
                if (err != PROTO_ERR_MEMBER_ID_REQUIRED && err != PROTO_ERR_UNKNOWN_MEMBER_ID) {
                    group_sleep(g, g->retry_backoff_ms);
                }
            }
            continue;
        }
        int64_t now = net_now_ms();
        if (now >= next_watch_ms) {
            next_watch_ms = now + 1000;
            if (watch_changed(&m)) {
                m.need_join = true;
                continue;
            }
        }
        if (now >= m.next_heartbeat_ms) {
            heartbeat(&m, node);
            continue;
        }
        /* Sleep until the next heartbeat, or until woken. */
        pthread_mutex_lock(&g->lock);
        int64_t wake = m.next_heartbeat_ms < next_watch_ms ? m.next_heartbeat_ms : next_watch_ms;
        struct timespec ts = clock_deadline_ts((int32_t)(wake - now));
        if (!g->stop && g->sub_version == m.sub_version)
            pthread_cond_timedwait(&g->cond, &g->lock, &ts);
        pthread_mutex_unlock(&g->lock);
    }
    group_tp_list_free_strings(&m.target);
    free_watch(&m);
    return NULL;
}

const group_protocol group_protocol_classic = {"classic", classic_main, classic_leave};
