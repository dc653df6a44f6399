/* group/consumer_proto.c — the member thread of the KIP-848 consumer group
 * protocol (group_protocol=consumer; Kafka 4.0+ brokers, API 68
 * ConsumerGroupHeartbeat). The broker computes the assignment; the member
 * only heartbeats and reconciles:
 *
 *   find the coordinator (shared with the committer)
 *   -> heartbeat with MemberEpoch 0 and every field (join)
 *   -> every HeartbeatIntervalMs the broker asks for: a heartbeat with only
 *      what changed (the subscription, the owned partitions); the answer
 *      carries the member epoch and, when it changed, the target assignment
 *      (topic ids, mapped to names through the metadata)
 *   -> reconcile: revoke what the target drops (a REVOKE step; the member
 *      waits for the application to run it, heartbeating meanwhile), assign
 *      what it adds (an ASSIGN step), and report the new owned set in a
 *      heartbeat at once
 *   -> fenced (FENCED_MEMBER_EPOCH, UNKNOWN_MEMBER_ID): the partitions are
 *      lost, not revoked; join again with epoch 0 and the same member id
 *   -> close: heartbeat with MemberEpoch -1 (a static member: -2).
 *
 * The member id is generated here (v1, KIP-1082: a random UUID in Java's
 * base64url form, kept for the member's life); a v0 broker gives its own,
 * which the member then keeps.
 *
 * The commits carry the member epoch (offsets_set_member: OffsetCommit v9
 * sends it in GenerationIdOrMemberEpoch).
 *
 * Threading: everything here runs on the member thread, except the encode
 * callback (the I/O thread, while the member thread waits for the reply:
 * it reads only the prepared request). g->lock guards what group_int.h
 * marks (lock).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "group/group_int.h"
#include "protocol/gen/api.h"
#include "protocol/gen/consumer_group_heartbeat.h"
#include "protocol/gen/errors.h"
#include "util/clock.h"
#include "util/log.h"

#define RESOLVE_RECHECK_MS 250     /* an assigned topic id not in the metadata yet: look again this soon */
#define UNRELEASED_RETRY_MS 1000   /* UNRELEASED_INSTANCE_ID: the old instance still leaves */
#define LEAVE_EPOCH -1             /* MemberEpoch of a member leaving for good */
#define LEAVE_STATIC_EPOCH -2      /* of a static member leaving for now */

/* A topic id the member has seen in an assignment, with its name. */
typedef struct topic_name {
    uint8_t id[16];
    char *name;
} topic_name;

/* One partition of the target assignment. */
typedef struct target_tp {
    uint8_t id[16];
    int32_t partition;
} target_tp;

typedef struct cmember {
    gregor_group *g;
    char member_id[64];   /* v1: ours; v0: the broker's ("" until it gave one) */
    bool id_from_broker;  /* v0: member_id came from the broker */
    int32_t epoch;        /* 0: join (again) */
    int32_t node;         /* the coordinator */
    bool full;            /* the next heartbeat sends every field */
    uint64_t sub_sent;    /* the sub_version the broker knows */
    bool sub_sent_pattern;
    bool owned_dirty;     /* owned changed since a heartbeat reported it */
    target_tp *target;    /* the broker's latest assignment (valid when have_target) */
    size_t n_target;
    bool have_target;
    bool unresolved;      /* some target topic id is not in the metadata yet */
    group_tp_list owned;  /* what the application owns once its queued steps ran (topics malloc'd, sorted) */
    topic_name *names;
    size_t n_names;
    int32_t interval_ms;  /* the broker's HeartbeatIntervalMs */
    int64_t next_hb_ms;
    int64_t last_ok_ms;
    int64_t next_refresh_ms;
} cmember;

/* ------------------------------------------------------------ member id */

/* A random UUID in Java's Uuid.toString() form: base64url, no padding. */
static bool new_member_id(char *out, size_t n)
{
    uint8_t b[16];
    FILE *f = fopen("/dev/urandom", "rb");
    bool ok = f && fread(b, 1, sizeof b, f) == sizeof b;
    if (f)
        fclose(f);
    if (!ok || n < 23)
        return false;
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80); /* variant 1 */
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t k = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < sizeof b; i++) {
        acc = (acc << 8) | b[i];
        bits += 8;
        while (bits >= 6) {
            out[k++] = abc[(acc >> (bits - 6)) & 63];
            bits -= 6;
        }
    }
    if (bits > 0)
        out[k++] = abc[(acc << (6 - bits)) & 63];
    out[k] = 0;
    return true;
}

/* ---------------------------------------------------------- topic names */

static const char *name_of(const cmember *m, const uint8_t id[16])
{
    for (size_t i = 0; i < m->n_names; i++)
        if (!memcmp(m->names[i].id, id, 16))
            return m->names[i].name;
    return NULL;
}

/* The id of topic `name`: the newest one seen (a topic deleted and made
 * again under the same name gets a new id). */
static const uint8_t *id_of(const cmember *m, const char *name)
{
    for (size_t i = m->n_names; i-- > 0;)
        if (!strcmp(m->names[i].name, name))
            return m->names[i].id;
    return NULL;
}

/* The name of topic `id`: known already, or from the newest metadata
 * (then remembered). NULL when the metadata does not have it yet. */
static const char *resolve(cmember *m, const cluster_snapshot *s, const uint8_t id[16])
{
    const char *name = name_of(m, id);
    if (name || !s)
        return name;
    for (int32_t t = 0; t < s->md.n_topics; t++) {
        const gregor_metadata_topic *mt = &s->md.topics[t];
        if (memcmp(mt->id, id, 16) != 0)
            continue;
        topic_name *v = realloc(m->names, (m->n_names + 1) * sizeof *v);
        if (!v)
            return NULL;
        m->names = v;
        if (!(v[m->n_names].name = strdup(mt->name)))
            return NULL;
        memcpy(v[m->n_names].id, id, 16);
        return v[m->n_names++].name;
    }
    return NULL;
}

/* ------------------------------------------------------------- requests */

/* A heartbeat, prepared on the member thread; encode only picks by version. */
typedef struct hb_req {
    proto_consumer_group_heartbeat_request req;
    char member_id[64];
    bool id_from_broker;
    buf_slice *names;
    char **topics; /* the subscription's names, copied */
    size_t n_topics;
    char *regex;
    bool clear_regex; /* the subscription changed from a pattern to names */
    proto_consumer_group_heartbeat_request_topic_partitions *tps;
    int32_t *parts;
    bool pattern_on_v0; /* set by encode: a pattern needs v1 */
    int16_t version;    /* of the answer, -1: none */
} hb_req;

static void hb_req_fini(hb_req *r)
{
    for (size_t i = 0; i < r->n_topics; i++)
        free(r->topics[i]);
    free(r->topics);
    free(r->names);
    free(r->regex);
    free(r->tps);
    free(r->parts);
}

static gregor_err encode_hb(buf_writer *w, int16_t version, void *opaque)
{
    hb_req *r = opaque;
    proto_consumer_group_heartbeat_request req = r->req;
    if (version < 1) {
        if (r->regex) {
            r->pattern_on_v0 = true;
            return GREGOR_ERR_UNSUPPORTED;
        }
        req.subscribed_topic_regex = BUF_SLICE_NULL;
        if (req.member_epoch == 0 && !r->id_from_broker)
            req.member_id = buf_slice_of("", 0); /* v0: the broker names the member */
    }
    return proto_consumer_group_heartbeat_request_encode(w, version, &req);
}

/* The owned partitions grouped by topic id, into r. */
static gregor_err prepare_owned(cmember *m, hb_req *r)
{
    size_t n = m->owned.n;
    r->tps = calloc(n ? n : 1, sizeof *r->tps);
    r->parts = calloc(n ? n : 1, sizeof *r->parts);
    if (!r->tps || !r->parts)
        return GREGOR_ERR_NOMEM;
    int32_t nt = 0;
    const char *last = NULL;
    for (size_t i = 0; i < n; i++) {
        const group_tp *t = &m->owned.tps[i];
        const uint8_t *id = id_of(m, t->topic);
        if (!id)
            continue; /* owned topics were resolved when assigned */
        if (!last || strcmp(last, t->topic) != 0) {
            proto_consumer_group_heartbeat_request_topic_partitions_init(&r->tps[nt]);
            memcpy(r->tps[nt].topic_id, id, 16);
            r->tps[nt].partitions = &r->parts[i];
            r->tps[nt].partitions_count = 0;
            nt++;
            last = t->topic;
        }
        r->parts[i] = t->partition;
        r->tps[nt - 1].partitions_count++;
    }
    r->req.topic_partitions = r->tps;
    r->req.topic_partitions_count = nt;
    return GREGOR_OK;
}

/* The subscription into r (g->lock taken here). */
static gregor_err prepare_sub(cmember *m, hb_req *r)
{
    gregor_group *g = m->g;
    gregor_err err = GREGOR_OK;
    pthread_mutex_lock(&g->lock);
    bool pattern = g->sub.has_pattern;
    if (pattern) {
        if (!(r->regex = strdup(g->sub.pattern_text)))
            err = GREGOR_ERR_NOMEM;
    } else {
        r->topics = calloc(g->sub.n_topics ? g->sub.n_topics : 1, sizeof *r->topics);
        r->names = calloc(g->sub.n_topics ? g->sub.n_topics : 1, sizeof *r->names);
        if (!r->topics || !r->names)
            err = GREGOR_ERR_NOMEM;
        for (size_t i = 0; err == GREGOR_OK && i < g->sub.n_topics; i++) {
            if (!(r->topics[i] = strdup(g->sub.topics[i])))
                err = GREGOR_ERR_NOMEM;
            else
                r->names[r->n_topics++] = group_str_slice(r->topics[i]);
        }
    }
    m->sub_sent = g->sub_version;
    pthread_mutex_unlock(&g->lock);
    if (err != GREGOR_OK)
        return err;
    if (pattern) {
        r->req.subscribed_topic_regex = group_str_slice(r->regex);
        if (!m->full && !m->sub_sent_pattern) /* names before: clear them */
            r->req.subscribed_topic_names_count = 0;
    } else {
        r->req.subscribed_topic_names = r->names;
        r->req.subscribed_topic_names_count = (int32_t)r->n_topics;
        if (!m->full && m->sub_sent_pattern) /* a pattern before: clear it */
            r->req.subscribed_topic_regex = buf_slice_of("", 0);
    }
    m->sub_sent_pattern = pattern;
    return GREGOR_OK;
}

/* The heartbeat to send now: everything on a join or after an error, else
 * only what changed. `epoch` is m->epoch, or a leave epoch (then nothing
 * but the identity is sent). */
static gregor_err prepare(cmember *m, int32_t epoch, hb_req *r)
{
    gregor_group *g = m->g;
    memset(r, 0, sizeof *r);
    r->version = -1;
    proto_consumer_group_heartbeat_request_init(&r->req);
    snprintf(r->member_id, sizeof r->member_id, "%s", m->member_id);
    r->id_from_broker = m->id_from_broker;
    r->req.group_id = group_str_slice(g->group_id);
    r->req.member_id = group_str_slice(r->member_id);
    r->req.member_epoch = epoch;
    r->req.instance_id = group_str_slice(g->instance_id);
    r->req.rack_id = BUF_SLICE_NULL;
    r->req.rebalance_timeout_ms = -1;
    r->req.subscribed_topic_names_count = -1;
    r->req.subscribed_topic_regex = BUF_SLICE_NULL;
    r->req.server_assignor = BUF_SLICE_NULL;
    r->req.topic_partitions_count = -1;
    if (epoch < 0)
        return GREGOR_OK;
    if (m->full) {
        r->req.rack_id = group_str_slice(g->rack);
        r->req.rebalance_timeout_ms = g->max_poll_interval_ms;
        r->req.server_assignor = group_str_slice(g->remote_assignor);
    }
    pthread_mutex_lock(&g->lock);
    bool sub_changed = g->sub_version != m->sub_sent;
    pthread_mutex_unlock(&g->lock);
    gregor_err err = GREGOR_OK;
    if (m->full || sub_changed)
        err = prepare_sub(m, r);
    if (err == GREGOR_OK && (m->full || m->owned_dirty))
        err = prepare_owned(m, r);
    return err;
}

/* One ConsumerGroupHeartbeat round trip on `kind`; the decoded answer in
 * `out` (views into `reply`, arrays in `a`). */
static gregor_err send_hb(cmember *m, hb_req *r, cluster_conn_kind kind, cluster_reply *reply, arena *a,
                          proto_consumer_group_heartbeat_response *out)
{
    gregor_group *g = m->g;
    gregor_err err = group_call(g, m->node, kind, PROTO_API_CONSUMER_GROUP_HEARTBEAT,
                                proto_api_get(PROTO_API_CONSUMER_GROUP_HEARTBEAT)->max_version, encode_hb, r,
                                g->request_timeout_ms, reply);
    if (err != GREGOR_OK)
        return err;
    r->version = reply->version;
    if (proto_consumer_group_heartbeat_response_decode(&reply->body, reply->version, out, a) != GREGOR_OK)
        return GREGOR_ERR_MALFORMED;
    return gregor_err_from_broker(out->error_code);
}

/* ------------------------------------------------------------ membership */

static void set_epoch(cmember *m, int32_t epoch)
{
    gregor_group *g = m->g;
    m->epoch = epoch;
    int32_t gen = epoch > 0 ? epoch : -1;
    pthread_mutex_lock(&g->lock);
    snprintf(g->member_id, sizeof g->member_id, "%s", m->member_id);
    g->generation = gen;
    pthread_mutex_unlock(&g->lock);
    offsets_set_member(g->offs, gen, m->member_id, g->instance_id);
}

/* Out of the group: the partitions are lost, the next heartbeat joins
 * again with epoch 0 and every field. */
static void rejoin(cmember *m, const char *why)
{
    group_lose(m->g, &m->owned, m->member_id, why);
    m->epoch = 0;
    m->full = true;
    m->have_target = false;
    m->n_target = 0;
    m->owned_dirty = false;
}

/* Takes the target assignment of a response. */
static gregor_err take_target(cmember *m, const proto_consumer_group_heartbeat_response_assignment *as)
{
    size_t n = 0;
    for (int32_t t = 0; t < as->topic_partitions_count; t++)
        n += as->topic_partitions[t].partitions_count > 0 ? (size_t)as->topic_partitions[t].partitions_count : 0;
    target_tp *v = calloc(n ? n : 1, sizeof *v);
    if (!v)
        return GREGOR_ERR_NOMEM;
    size_t k = 0;
    for (int32_t t = 0; t < as->topic_partitions_count; t++)
        for (int32_t p = 0; p < as->topic_partitions[t].partitions_count; p++) {
            memcpy(v[k].id, as->topic_partitions[t].topic_id, 16);
            v[k++].partition = as->topic_partitions[t].partitions[p];
        }
    free(m->target);
    m->target = v;
    m->n_target = k;
    m->have_target = true;
    return GREGOR_OK;
}

/* A fatal error: the member is out of the group until the subscription
 * changes (or close). `what` names the request and the broker's message. */
static void fail(cmember *m, gregor_err err, const char *what)
{
    rejoin(m, "a fatal group error");
    group_fatal(m->g, err, "group '%s': %s: %s", what);
}

/* Handles the answer to a heartbeat (or its failure). */
static void handle(cmember *m, gregor_err err, const hb_req *r, const proto_consumer_group_heartbeat_response *resp)
{
    gregor_group *g = m->g;
    int64_t now = net_now_ms();
    if (err == GREGOR_OK) {
        m->last_ok_ms = now;
        if (resp->member_id.len > 0) {
            snprintf(m->member_id, sizeof m->member_id, "%.*s", (int)resp->member_id.len,
                     (const char *)resp->member_id.ptr);
            m->id_from_broker = true;
        }
        if (resp->heartbeat_interval_ms > 0)
            m->interval_ms = resp->heartbeat_interval_ms;
        m->next_hb_ms = now + m->interval_ms;
        if (r->req.member_epoch == 0 || m->full)
            gregor_log(GREGOR_LOG_INFO, "group '%s': member %s at epoch %d (ConsumerGroupHeartbeat v%d)",
                       g->group_id, m->member_id, (int)resp->member_epoch, (int)r->version);
        m->full = false;
        if (r->req.topic_partitions_count >= 0)
            m->owned_dirty = false;
        if (resp->member_epoch != m->epoch)
            set_epoch(m, resp->member_epoch);
        if (!resp->assignment_null && take_target(m, &resp->assignment) != GREGOR_OK)
            fail(m, GREGOR_ERR_NOMEM, "ConsumerGroupHeartbeat");
        return;
    }
    char what[300];
    if (resp && resp->error_message.len > 0)
        snprintf(what, sizeof what, "ConsumerGroupHeartbeat (%.*s)", (int)resp->error_message.len,
                 (const char *)resp->error_message.ptr);
    else
        snprintf(what, sizeof what, "ConsumerGroupHeartbeat");
    m->full = true; /* whether it got through is not known */
    m->next_hb_ms = now + g->retry_backoff_ms;
    if (err == PROTO_ERR_FENCED_MEMBER_EPOCH || err == PROTO_ERR_UNKNOWN_MEMBER_ID) {
        gregor_log(GREGOR_LOG_INFO, "group '%s': member %s: %s: joining again", g->group_id, m->member_id,
                   gregor_err_name(err));
        rejoin(m, gregor_err_name(err));
        if (err == PROTO_ERR_UNKNOWN_MEMBER_ID && r->version == 0) {
            m->member_id[0] = 0; /* v0: the broker gives a new one */
            m->id_from_broker = false;
        }
        m->next_hb_ms = now; /* at once */
    } else if (offsets_coordinator_lost(err)) {
        gregor_log(GREGOR_LOG_INFO, "group '%s': %s: coordinator %d: %s; finding it again", g->group_id, what,
                   (int)m->node, gregor_err_name(err));
        offsets_forget_coordinator(g->offs, m->node, err);
    } else if (err == PROTO_ERR_UNRELEASED_INSTANCE_ID) {
        gregor_log(GREGOR_LOG_INFO, "group '%s': group_instance_id '%s' not released yet: trying again",
                   g->group_id, g->instance_id ? g->instance_id : "");
        m->next_hb_ms = now + UNRELEASED_RETRY_MS;
    } else if (err == PROTO_ERR_COORDINATOR_LOAD_IN_PROGRESS || gregor_err_is_retriable(err)) {
        /* again after the backoff */
    } else if (r->pattern_on_v0) {
        fail(m, GREGOR_ERR_UNSUPPORTED,
             "a pattern subscription needs ConsumerGroupHeartbeat v1 (Kafka 4.0+); the coordinator has v0 only");
    } else if ((err == GREGOR_ERR_UNSUPPORTED && !resp) || err == PROTO_ERR_UNSUPPORTED_VERSION) {
        /* Before 4.0 (or with the group.version feature off) the broker
         * lacks the API, or lists it and refuses it. */
        snprintf(what, sizeof what,
                 "the brokers do not support group_protocol=consumer (KIP-848, Kafka 4.0+ with the group.version "
                 "feature: %s); use group_protocol=classic",
                 err == GREGOR_ERR_UNSUPPORTED ? "no ConsumerGroupHeartbeat in ApiVersions"
                                               : "ConsumerGroupHeartbeat answered UNSUPPORTED_VERSION");
        rejoin(m, "a fatal group error");
        group_fatal(g, GREGOR_ERR_UNSUPPORTED, "group '%s': %s (%s)", what);
    } else {
        /* GROUP_MAX_SIZE_REACHED, UNSUPPORTED_ASSIGNOR, INVALID_REGULAR_EXPRESSION,
         * GROUP_AUTHORIZATION_FAILED, FENCED_INSTANCE_ID, INVALID_REQUEST, ... */
        fail(m, err, what);
    }
    if (g->fatal == GREGOR_OK && m->epoch > 0 && now - m->last_ok_ms > g->session_timeout_ms)
        rejoin(m, "no heartbeat got through within session_timeout_ms"); /* the broker has expired us */
}

static void heartbeat(cmember *m)
{
    hb_req r;
    gregor_err err = prepare(m, m->epoch, &r);
    cluster_reply reply = {0};
    arena a;
    arena_init(&a, ARENA_DEFAULT_LIMIT);
    proto_consumer_group_heartbeat_response resp;
    bool answered = false;
    if (err == GREGOR_OK) {
        pthread_mutex_lock(&m->g->lock);
        m->g->heartbeats++;
        pthread_mutex_unlock(&m->g->lock);
        err = send_hb(m, &r, m->g->conn_kind, &reply, &a, &resp);
        answered = reply.frame && err != GREGOR_ERR_MALFORMED;
    }
    handle(m, err, &r, answered ? &resp : NULL);
    free(reply.frame);
    arena_fini(&a);
    hb_req_fini(&r);
}

/* Leaves the group: MemberEpoch -1, or -2 for a static member (its
 * partitions wait session_timeout for it). */
static void leave(cmember *m, const char *why)
{
    gregor_group *g = m->g;
    if (m->epoch <= 0 || m->node < 0)
        return;
    hb_req r;
    int32_t epoch = g->instance_id ? LEAVE_STATIC_EPOCH : LEAVE_EPOCH;
    gregor_err err = prepare(m, epoch, &r);
    cluster_reply reply = {0};
    arena a;
    arena_init(&a, 1 << 16);
    proto_consumer_group_heartbeat_response resp;
    if (err == GREGOR_OK)
        err = send_hb(m, &r, m->g->conn_kind, &reply, &a, &resp);
    gregor_log(err == GREGOR_OK ? GREGOR_LOG_INFO : GREGOR_LOG_WARN, "group '%s': member %s left (%s): %s",
               g->group_id, m->member_id, why, gregor_err_name(err));
    free(reply.frame);
    arena_fini(&a);
    hb_req_fini(&r);
    m->epoch = 0;
    m->full = true;
}

/* ------------------------------------------------------------ reconcile */

/* group_wait_steps's beat: heartbeats as usual while a revocation waits. */
static int64_t beat(void *opaque)
{
    cmember *m = opaque;
    if (net_now_ms() >= m->next_hb_ms)
        heartbeat(m);
    return m->next_hb_ms;
}

/* The target with names (borrowed from m->names), sorted; unresolved ids
 * are left out (m->unresolved, and a metadata refresh is asked for). */
static gregor_err resolve_target(cmember *m, group_tp_list *out)
{
    cluster_snapshot *s = cluster_snapshot_get(m->g->client->cluster);
    gregor_err err = GREGOR_OK;
    m->unresolved = false;
    for (size_t i = 0; i < m->n_target && err == GREGOR_OK; i++) {
        const char *name = resolve(m, s, m->target[i].id);
        if (name)
            err = group_tp_list_add(out, name, m->target[i].partition);
        else
            m->unresolved = true;
    }
    cluster_snapshot_unref(s);
    if (m->unresolved && net_now_ms() >= m->next_refresh_ms) {
        m->next_refresh_ms = net_now_ms() + RESOLVE_RECHECK_MS * 4;
        cluster_request_refresh(m->g->client->cluster);
    }
    group_tp_list_sort(out);
    return err;
}

/* Brings `owned` to the target: first revokes (and waits for the
 * application), then assigns. */
static void reconcile(cmember *m)
{
    gregor_group *g = m->g;
    while (m->have_target && m->epoch > 0) {
        group_tp_list want, revoked, added;
        group_tp_list_init(&want);
        group_tp_list_init(&revoked);
        group_tp_list_init(&added);
        gregor_err err = resolve_target(m, &want);
        for (size_t i = 0; i < m->owned.n && err == GREGOR_OK; i++)
            if (!group_tp_list_contains(&want, m->owned.tps[i].topic, m->owned.tps[i].partition))
                err = group_tp_list_add(&revoked, m->owned.tps[i].topic, m->owned.tps[i].partition);
        for (size_t i = 0; i < want.n && err == GREGOR_OK; i++)
            if (!group_tp_list_contains(&m->owned, want.tps[i].topic, want.tps[i].partition))
                err = group_tp_list_add(&added, want.tps[i].topic, want.tps[i].partition);
        bool again = false;
        if (err != GREGOR_OK) {
            fail(m, err, "reconciling the assignment");
        } else if (revoked.n > 0) {
            gregor_log(GREGOR_LOG_INFO, "group '%s': epoch %d: revoking %zu partition(s)", g->group_id,
                       (int)m->epoch, revoked.n);
            uint64_t id = group_post_step(g, GROUP_STEP_REVOKE, &revoked, m->epoch);
            bool done = id && group_wait_steps(g, id, beat, m);
            /* Whatever happened meanwhile (a fence emptied `owned`), the
             * revoked partitions are gone from the application. */
            size_t k = 0;
            for (size_t i = 0; i < m->owned.n; i++) {
                group_tp *t = &m->owned.tps[i];
                if (group_tp_list_contains(&revoked, t->topic, t->partition))
                    free((char *)t->topic);
                else
                    m->owned.tps[k++] = *t;
            }
            m->owned.n = k;
            m->owned_dirty = true;
            again = done;
        } else if (added.n > 0) {
            gregor_log(GREGOR_LOG_INFO, "group '%s': epoch %d: assigned %zu partition(s)", g->group_id,
                       (int)m->epoch, added.n);
            if (group_post_step(g, GROUP_STEP_ASSIGN, &added, GROUP_GENERATION_ANY) == 0 ||
                group_tp_list_copy(&m->owned, added.tps, added.n) != GREGOR_OK)
                fail(m, GREGOR_ERR_NOMEM, "reconciling the assignment");
            group_tp_list_sort(&m->owned);
            m->owned_dirty = true;
        }
        group_tp_list_fini(&want);
        group_tp_list_fini(&revoked);
        group_tp_list_fini(&added);
        if (!again)
            break;
    }
    if (m->owned_dirty)
        m->next_hb_ms = net_now_ms(); /* report it at once */
}

/* The application stopped polling: leave on purpose, so that the
 * partitions go to members that work. */
static void poll_expired(cmember *m)
{
    gregor_group *g = m->g;
    gregor_log(GREGOR_LOG_WARN, "group '%s': no poll for more than max_poll_interval_ms (%d ms): leaving the group",
               g->group_id, g->max_poll_interval_ms);
    leave(m, "max_poll_interval_ms passed without a poll");
    rejoin(m, "max_poll_interval_ms passed without a poll");
    group_note_poll_expired(g);
}

/* ----------------------------------------------------------------- main */

static void *consumer_main(void *arg)
{
    cmember m = {.g = arg, .full = true, .node = -1};
    gregor_group *g = m.g;
    group_tp_list_init(&m.owned);
    m.interval_ms = g->heartbeat_interval_ms; /* until the broker says */
    if (!new_member_id(m.member_id, sizeof m.member_id))
        group_fatal(g, GREGOR_ERR_IO, "group '%s': %s: %s", "cannot read /dev/urandom for a member id");
    uint64_t fatal_sub = 0;
    for (;;) {
        pthread_mutex_lock(&g->lock);
        if (g->fatal != GREGOR_OK && fatal_sub == 0)
            fatal_sub = g->sub_version;
        while (!g->stop && (g->poll_expired || (g->fatal != GREGOR_OK && g->sub_version == fatal_sub))) {
            struct timespec ts = clock_deadline_ts(1000);
            pthread_cond_timedwait(&g->cond, &g->lock, &ts);
        }
        bool stop = g->stop;
        bool sub_changed = g->sub_version != m.sub_sent;
        if (g->fatal != GREGOR_OK && g->sub_version != fatal_sub) {
            g->fatal = GREGOR_OK; /* a new subscription: try again */
            fatal_sub = 0;
        }
        bool expired = net_now_ms() - g->last_poll_ms > g->max_poll_interval_ms;
        pthread_mutex_unlock(&g->lock);
        if (stop)
            break;
        if (expired) {
            poll_expired(&m);
            continue;
        }
        int32_t node;
        if (group_coordinator(g, &node) != GREGOR_OK) {
            if (m.epoch > 0 && net_now_ms() - m.last_ok_ms > g->session_timeout_ms)
                rejoin(&m, "the coordinator was unreachable for session_timeout_ms");
            group_sleep(g, g->retry_backoff_ms);
            continue;
        }
        if (node != m.node)
            m.full = true;
        m.node = node;
        reconcile(&m);
        int64_t now = net_now_ms();
        if (now >= m.next_hb_ms || sub_changed) {
            heartbeat(&m);
            continue;
        }
        int64_t wake = m.next_hb_ms;
        if (m.unresolved && now + RESOLVE_RECHECK_MS < wake)
            wake = now + RESOLVE_RECHECK_MS;
        pthread_mutex_lock(&g->lock);
        struct timespec ts = clock_deadline_ts((int32_t)(wake - now));
        if (!g->stop && g->sub_version == m.sub_sent)
            pthread_cond_timedwait(&g->cond, &g->lock, &ts);
        pthread_mutex_unlock(&g->lock);
    }
    leave(&m, "closing");
    group_tp_list_free_strings(&m.owned);
    for (size_t i = 0; i < m.n_names; i++)
        free(m.names[i].name);
    free(m.names);
    free(m.target);
    return NULL;
}

const group_protocol group_protocol_consumer = {"consumer", consumer_main, NULL};
