/* tools/groups_query.c — the requests behind `gregor groups`: ListGroups on
 * every broker, FindCoordinator, DescribeGroups (classic groups, member
 * assignments read from the embedded consumer protocol), ConsumerGroupDescribe
 * (KIP-848 groups, API 69) and OffsetFetch of every partition of a group
 * (a null topic list, v2+).
 *
 * Each answer is decoded into a per-call arena and what the caller keeps is
 * copied into the grp_desc's own arena. Retriable coordinator errors
 * (loading, not available, moved) are retried, finding the coordinator again,
 * until the deadline.
 *
 * Threading: the command's thread; blocking calls through the client.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client/client.h"
#include "protocol/gen/api.h"
#include "protocol/gen/consumer_group_describe.h"
#include "protocol/gen/consumer_protocol_assignment.h"
#include "protocol/gen/describe_groups.h"
#include "protocol/gen/errors.h"
#include "protocol/gen/list_groups.h"
#include "protocol/gen/offset_fetch.h"
#include "protocol/gen/registry.h"
#include "protocol/group_coordinator.h"
#include "tools/groups.h"

#define ASSIGNMENT_MAX_VERSION 3
#define OFFSET_FETCH_MAX_VERSION 7 /* v8+ nest groups */
#define RETRY_BACKOFF_MS 200

static char *dup_slice(arena *a, buf_slice s)
{
    if (buf_slice_is_null(s))
        return NULL;
    char *p = arena_alloc(a, (size_t)s.len + 1);
    if (p)
        memcpy(p, s.ptr, (size_t)s.len);
    return p;
}

/* dup_slice, with "" for null. */
static const char *str_or_empty(arena *a, buf_slice s)
{
    const char *p = dup_slice(a, s);
    return p ? p : "";
}

static int cmp_tp(const void *x, const void *y)
{
    const grp_tp *a = x, *b = y;
    int c = strcmp(a->topic, b->topic);
    return c ? c : (a->partition > b->partition) - (a->partition < b->partition);
}

static int cmp_offset(const void *x, const void *y)
{
    const grp_offset *a = x, *b = y;
    int c = strcmp(a->topic, b->topic);
    return c ? c : (a->partition > b->partition) - (a->partition < b->partition);
}

static int cmp_listed(const void *x, const void *y)
{
    return strcmp(((const grp_listed *)x)->id, ((const grp_listed *)y)->id);
}

static bool coordinator_retriable(gregor_err e)
{
    return e == PROTO_ERR_COORDINATOR_LOAD_IN_PROGRESS || e == PROTO_ERR_COORDINATOR_NOT_AVAILABLE ||
           e == PROTO_ERR_NOT_COORDINATOR;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int32_t left_ms(int64_t deadline)
{
    int64_t left = deadline - net_now_ms();
    return left > 0 ? (int32_t)left : 1;
}

/* ------------------------------------------------------------ requests */

/* A decoded response: views into reply.frame, arrays in mem. */
typedef struct answer {
    cluster_reply reply;
    arena mem;
} answer;

static void answer_fini(answer *a)
{
    arena_fini(&a->mem);
    free(a->reply.frame);
}

static const proto_message_info *response_info(int16_t api)
{
    for (size_t i = 0; i < proto_messages_count; i++)
        if (proto_messages[i].api_key == api && proto_messages[i].response)
            return &proto_messages[i];
    return NULL;
}

/* One request to `node` (-1: any broker), versions min_v..max_v (-1: the
 * highest gregor speaks), decoded into `out` (the API's response struct).
 * On GREGOR_OK the caller calls answer_fini(ans) when done with `out`; on
 * failure there is nothing to free and errstr names the request and the
 * broker. UNSUPPORTED: the broker lacks the API or those versions. */
static gregor_err request(gregor_client *c, int32_t node, int16_t api, int16_t min_v, int16_t max_v,
                          net_encode_fn enc, void *arg, int32_t timeout_ms, void *out, answer *ans, char *errstr,
                          size_t n)
{
    const proto_message_info *mi = response_info(api);
    assert(mi);
    net_request req = {.api_key = api,
                       .min_version = min_v,
                       .max_version = max_v >= 0 ? max_v : proto_api_get(api)->max_version,
                       .encode = enc,
                       .opaque = arg};
    arena_init(&ans->mem, ARENA_DEFAULT_LIMIT);
    gregor_err err = client_call_any(c, node, &req, timeout_ms, &ans->reply, errstr, n);
    if (err == GREGOR_ERR_UNSUPPORTED) {
        snprintf(errstr, n, "broker %d does not support %s v%d+", (int)node, proto_api_name(api), min_v);
    } else if (err != GREGOR_OK && node >= 0 && !strstr(errstr, "broker")) {
        char tmp[256];
        snprintf(tmp, sizeof tmp, "%s", errstr);
        snprintf(errstr, n, "%s to broker %d: %s", proto_api_name(api), (int)node, tmp);
    } else if (err == GREGOR_OK &&
               (err = mi->decode(&ans->reply.body, ans->reply.version, out, &ans->mem)) != GREGOR_OK) {
        snprintf(errstr, n, "malformed %s v%d response from broker %d: %s", proto_api_name(api), ans->reply.version,
                 (int)ans->reply.node_id, ans->reply.body.what ? ans->reply.body.what : gregor_err_str(err));
        free(ans->reply.frame);
    }
    if (err != GREGOR_OK)
        arena_fini(&ans->mem);
    return err;
}

/* MALFORMED, with errstr, unless an answer about one group holds one. */
static gregor_err one_group(int32_t count, int16_t api, int32_t node, char *errstr, size_t n)
{
    if (count == 1)
        return GREGOR_OK;
    snprintf(errstr, n, "%s at broker %d: %d groups in the answer, asked for 1", proto_api_name(api), (int)node,
             (int)count);
    return GREGOR_ERR_MALFORMED;
}

static gregor_err encode_list_groups(buf_writer *w, int16_t version, void *opaque)
{
    (void)opaque;
    proto_list_groups_request m;
    proto_list_groups_request_init(&m);
    return proto_list_groups_request_encode(w, version, &m);
}

/* The groups broker `node` coordinates, appended to *out (capacity *cap). */
static gregor_err list_one(gregor_client *c, int32_t node, int32_t timeout_ms, arena *a, grp_listed **out,
                           size_t *n_out, size_t *cap, char *errstr, size_t n)
{
    answer ans;
    proto_list_groups_response m;
    gregor_err err = request(c, node, PROTO_API_LIST_GROUPS, 0, 4, encode_list_groups, NULL, timeout_ms, &m, &ans,
                             errstr, n);
    if (err == GREGOR_ERR_UNSUPPORTED)
        snprintf(errstr, n,
                 "broker %d has no ListGroups API: Kafka 0.8 keeps no consumer groups "
                 "(-g GROUP -t TOPIC shows a group's committed offsets)",
                 (int)node);
    if (err != GREGOR_OK)
        return err;
    if ((err = gregor_err_from_broker(m.error_code)) != GREGOR_OK) {
        snprintf(errstr, n, "ListGroups at broker %d: %s", (int)node, gregor_err_name(err));
    } else {
        for (int32_t i = 0; i < m.groups_count && err == GREGOR_OK; i++) {
            if (*n_out == *cap) {
                size_t ncap = *cap ? *cap * 2 : 16;
                grp_listed *g = arena_calloc(a, ncap, sizeof *g);
                if (!g) {
                    err = GREGOR_ERR_NOMEM;
                    break;
                }
                if (*n_out)
                    memcpy(g, *out, *n_out * sizeof *g);
                *out = g;
                *cap = ncap;
            }
            grp_listed *g = &(*out)[(*n_out)++];
            g->id = str_or_empty(a, m.groups[i].group_id);
            g->protocol_type = str_or_empty(a, m.groups[i].protocol_type);
            g->coordinator = node;
        }
    }
    answer_fini(&ans);
    return err;
}

gregor_err groups_list(gregor_client *c, int32_t timeout_ms, arena *a, grp_listed **out, size_t *n,
                       char *errstr, size_t errstr_size)
{
    *out = NULL;
    *n = 0;
    const gregor_metadata *md;
    gregor_err err = gregor_client_metadata(c, NULL, 0, timeout_ms, &md, errstr, errstr_size);
    if (err != GREGOR_OK)
        return err;
    size_t cap = 0;
    gregor_err first = GREGOR_OK;
    for (int32_t b = 0; b < md->n_brokers; b++) {
        char e[512];
        err = list_one(c, md->brokers[b].node_id, timeout_ms, a, out, n, &cap, e, sizeof e);
        if (err != GREGOR_OK && first == GREGOR_OK) {
            first = err;
            snprintf(errstr, errstr_size, "%s", e);
        }
    }
    gregor_metadata_destroy(md);
    if (*n)
        qsort(*out, *n, sizeof **out, cmp_listed);
    return first;
}

/* ------------------------------------------------------- coordinator */

static gregor_err encode_find(buf_writer *w, int16_t version, void *opaque)
{
    return proto_group_coordinator_encode(w, version, opaque);
}

static gregor_err find_coordinator(gregor_client *c, const char *group, int32_t timeout_ms, int32_t *node,
                                   char *errstr, size_t n)
{
    answer ans;
    proto_find_coordinator_response m;
    gregor_err err = request(c, -1, PROTO_API_FIND_COORDINATOR, 0, -1, encode_find, (void *)group, timeout_ms, &m,
                             &ans, errstr, n);
    if (err != GREGOR_OK)
        return err;
    if ((err = proto_group_coordinator_node(&m, ans.reply.version, node)) != GREGOR_OK)
        snprintf(errstr, n, "FindCoordinator for group '%s' at broker %d: %s", group, (int)ans.reply.node_id,
                 gregor_err_name(err));
    answer_fini(&ans);
    return err;
}

/* --------------------------------------------------------- assignment */

void groups_read_assignment(const uint8_t *bytes, int32_t len, arena *a, grp_member *m)
{
    m->owned = NULL;
    m->n_owned = 0;
    m->assignment_error = NULL;
    if (len <= 0)
        return; /* no assignment yet (a member between JoinGroup and SyncGroup) */
    buf_reader r;
    buf_reader_init(&r, bytes, (size_t)len);
    int16_t version = buf_read_i16(&r);
    arena tmp;
    arena_init(&tmp, ARENA_DEFAULT_LIMIT);
    proto_consumer_protocol_assignment as;
    gregor_err err = r.err ? r.err : GREGOR_OK;
    if (err == GREGOR_OK && version < 0)
        err = GREGOR_ERR_MALFORMED;
    if (err == GREGOR_OK)
        err = proto_consumer_protocol_assignment_decode(
            &r, version > ASSIGNMENT_MAX_VERSION ? ASSIGNMENT_MAX_VERSION : version, &as, &tmp);
    size_t total = 0;
    for (int32_t t = 0; err == GREGOR_OK && t < as.assigned_partitions_count; t++)
        total += as.assigned_partitions[t].partitions_count > 0 ? (size_t)as.assigned_partitions[t].partitions_count
                                                                : 0;
    grp_tp *owned = err == GREGOR_OK ? arena_calloc(a, total ? total : 1, sizeof *owned) : NULL;
    if (err == GREGOR_OK && !owned)
        err = GREGOR_ERR_NOMEM;
    for (int32_t t = 0; err == GREGOR_OK && t < as.assigned_partitions_count; t++) {
        const proto_consumer_protocol_assignment_topic_partition *tp = &as.assigned_partitions[t];
        const char *topic = str_or_empty(a, tp->topic);
        for (int32_t p = 0; p < tp->partitions_count; p++)
            owned[m->n_owned++] = (grp_tp){topic, tp->partitions[p]};
    }
    if (err == GREGOR_OK) {
        m->owned = owned;
        qsort(owned, m->n_owned, sizeof *owned, cmp_tp);
    } else {
        char *msg = arena_alloc(a, 160);
        if (msg)
            snprintf(msg, 160, "undecodable consumer protocol assignment (version %d, %d bytes): %s",
                     (int)version, (int)len, r.what ? r.what : gregor_err_name(err));
        m->n_owned = 0;
        m->assignment_error = msg ? msg : "undecodable consumer protocol assignment";
    }
    arena_fini(&tmp);
}

/* ----------------------------------------------------- DescribeGroups */

static gregor_err encode_describe(buf_writer *w, int16_t version, void *opaque)
{
    const char *group = opaque;
    buf_slice id = buf_slice_of(group, strlen(group));
    proto_describe_groups_request m;
    proto_describe_groups_request_init(&m);
    m.groups = &id;
    m.groups_count = 1;
    return proto_describe_groups_request_encode(w, version, &m);
}

/* DescribeGroups of `group` at `node` into d. GROUP_ID_NOT_FOUND when the
 * broker does not know it as a classic group (v6+ says so; older versions
 * answer state Dead). */
static gregor_err describe_classic(gregor_client *c, int32_t node, const char *group, int32_t timeout_ms,
                                   grp_desc *d, char *errstr, size_t n)
{
    answer ans;
    proto_describe_groups_response m;
    gregor_err err = request(c, node, PROTO_API_DESCRIBE_GROUPS, 0, -1, encode_describe, (void *)group, timeout_ms,
                             &m, &ans, errstr, n);
    if (err == GREGOR_ERR_UNSUPPORTED)
        snprintf(errstr, n,
                 "broker %d has no DescribeGroups API: Kafka 0.8 keeps no consumer groups "
                 "(-t TOPIC shows the group's committed offsets)",
                 (int)node);
    if (err != GREGOR_OK)
        return err;
    if ((err = one_group(m.groups_count, PROTO_API_DESCRIBE_GROUPS, node, errstr, n)) != GREGOR_OK)
        goto out;
    const proto_describe_groups_response_described_group *g = &m.groups[0];
    err = gregor_err_from_broker(g->error_code);
    if (err == GREGOR_OK && buf_slice_eq_str(g->group_state, "Dead"))
        err = PROTO_ERR_GROUP_ID_NOT_FOUND;
    if (err != GREGOR_OK) {
        snprintf(errstr, n, "DescribeGroups of group '%s' at broker %d: %s%s%.*s", group, (int)node,
                 gregor_err_name(err), g->error_message.len > 0 ? ": " : "",
                 g->error_message.len > 0 ? (int)g->error_message.len : 0,
                 g->error_message.len > 0 ? (const char *)g->error_message.ptr : "");
        goto out;
    }
    d->state = str_or_empty(&d->mem, g->group_state);
    d->protocol_type = str_or_empty(&d->mem, g->protocol_type);
    d->protocol = str_or_empty(&d->mem, g->protocol_data);
    d->n_members = g->members_count > 0 ? (size_t)g->members_count : 0;
    d->members = arena_calloc(&d->mem, d->n_members + 1, sizeof *d->members);
    if (!d->members) {
        err = GREGOR_ERR_NOMEM;
        goto out;
    }
    bool consumer = !strcmp(d->protocol_type, "consumer");
    for (size_t i = 0; i < d->n_members; i++) {
        const proto_describe_groups_response_described_group_member *gm = &g->members[i];
        grp_member *mm = &d->members[i];
        mm->member_id = str_or_empty(&d->mem, gm->member_id);
        mm->instance_id = dup_slice(&d->mem, gm->group_instance_id);
        mm->client_id = str_or_empty(&d->mem, gm->client_id);
        mm->host = str_or_empty(&d->mem, gm->client_host);
        if (consumer)
            groups_read_assignment(gm->member_assignment.ptr, gm->member_assignment.len, &d->mem, mm);
    }
out:
    answer_fini(&ans);
    return err;
}

/* ---------------------------------------------- ConsumerGroupDescribe */

static gregor_err encode_cg_describe(buf_writer *w, int16_t version, void *opaque)
{
    const char *group = opaque;
    buf_slice id = buf_slice_of(group, strlen(group));
    proto_consumer_group_describe_request m;
    proto_consumer_group_describe_request_init(&m);
    m.group_ids = &id;
    m.group_ids_count = 1;
    return proto_consumer_group_describe_request_encode(w, version, &m);
}

/* A member's KIP-848 assignment; topics the answer names only by id are
 * named from the cluster model (topic ids come with Metadata v10+). */
static gregor_err copy_kip848_assignment(gregor_client *c, const proto_consumer_group_describe_response_assignment *as,
                                         grp_member *mm, arena *a)
{
    size_t total = 0;
    for (int32_t t = 0; t < as->topic_partitions_count; t++)
        total += as->topic_partitions[t].partitions_count > 0 ? (size_t)as->topic_partitions[t].partitions_count : 0;
    if (!(mm->owned = arena_calloc(a, total + 1, sizeof *mm->owned)))
        return GREGOR_ERR_NOMEM;
    cluster_snapshot *s = NULL;
    for (int32_t t = 0; t < as->topic_partitions_count; t++) {
        const proto_consumer_group_describe_response_topic_partitions *tp = &as->topic_partitions[t];
        const char *name = tp->topic_name.len > 0 ? dup_slice(a, tp->topic_name) : NULL;
        if (!name) {
            if (!s)
                s = cluster_snapshot_get(c->cluster);
            for (int32_t i = 0; s && i < s->md.n_topics && !name; i++)
                if (!memcmp(s->md.topics[i].id, tp->topic_id, 16))
                    name = s->md.topics[i].name;
            char *hex = name ? NULL : arena_alloc(a, 40);
            for (int i = 0; hex && i < 16; i++)
                snprintf(hex + 2 * i, 3, "%02x", tp->topic_id[i]);
            name = name ? dup_slice(a, buf_slice_of(name, strlen(name))) : hex;
            if (!name)
                break;
        }
        for (int32_t p = 0; p < tp->partitions_count; p++)
            mm->owned[mm->n_owned++] = (grp_tp){name, tp->partitions[p]};
    }
    cluster_snapshot_unref(s);
    qsort(mm->owned, mm->n_owned, sizeof *mm->owned, cmp_tp);
    return GREGOR_OK;
}

/* ConsumerGroupDescribe of `group` at `node` into d. UNSUPPORTED when the
 * broker lacks API 69. */
static gregor_err describe_kip848(gregor_client *c, int32_t node, const char *group, int32_t timeout_ms,
                                  grp_desc *d, char *errstr, size_t n)
{
    answer ans;
    proto_consumer_group_describe_response m;
    gregor_err err = request(c, node, PROTO_API_CONSUMER_GROUP_DESCRIBE, 0, -1, encode_cg_describe, (void *)group,
                             timeout_ms, &m, &ans, errstr, n);
    if (err != GREGOR_OK)
        return err;
    if ((err = one_group(m.groups_count, PROTO_API_CONSUMER_GROUP_DESCRIBE, node, errstr, n)) != GREGOR_OK)
        goto out;
    const proto_consumer_group_describe_response_described_group *g = &m.groups[0];
    if ((err = gregor_err_from_broker(g->error_code)) != GREGOR_OK) {
        snprintf(errstr, n, "ConsumerGroupDescribe of group '%s' at broker %d: %s", group, (int)node,
                 gregor_err_name(err));
        goto out;
    }
    d->kip848 = true;
    d->state = str_or_empty(&d->mem, g->group_state);
    d->protocol_type = "consumer";
    d->protocol = str_or_empty(&d->mem, g->assignor_name);
    d->n_members = g->members_count > 0 ? (size_t)g->members_count : 0;
    d->members = arena_calloc(&d->mem, d->n_members + 1, sizeof *d->members);
    if (!d->members)
        err = GREGOR_ERR_NOMEM;
    for (size_t i = 0; i < d->n_members && err == GREGOR_OK; i++) {
        const proto_consumer_group_describe_response_member *gm = &g->members[i];
        grp_member *mm = &d->members[i];
        mm->member_id = str_or_empty(&d->mem, gm->member_id);
        mm->instance_id = dup_slice(&d->mem, gm->instance_id);
        mm->client_id = str_or_empty(&d->mem, gm->client_id);
        mm->host = str_or_empty(&d->mem, gm->client_host);
        err = copy_kip848_assignment(c, &gm->assignment, mm, &d->mem);
    }
out:
    answer_fini(&ans);
    return err;
}

/* -------------------------------------------------------- OffsetFetch */

static gregor_err encode_offset_fetch_all(buf_writer *w, int16_t version, void *opaque)
{
    const char *group = opaque;
    proto_offset_fetch_request m;
    proto_offset_fetch_request_init(&m);
    m.group_id = buf_slice_of(group, strlen(group));
    m.topics = NULL;
    m.topics_count = -1; /* every partition the group committed for (v2+) */
    return proto_offset_fetch_request_encode(w, version, &m);
}

static gregor_err fetch_offsets(gregor_client *c, int32_t node, const char *group, int32_t timeout_ms, grp_desc *d,
                                char *errstr, size_t n)
{
    answer ans;
    proto_offset_fetch_response m;
    gregor_err err = request(c, node, PROTO_API_OFFSET_FETCH, 2, OFFSET_FETCH_MAX_VERSION, encode_offset_fetch_all,
                             (void *)group, timeout_ms, &m, &ans, errstr, n);
    if (err != GREGOR_OK)
        return err;
    if ((err = gregor_err_from_broker(m.error_code)) != GREGOR_OK) {
        snprintf(errstr, n, "OffsetFetch of group '%s' at broker %d: %s", group, (int)node, gregor_err_name(err));
        goto out;
    }
    size_t total = 0;
    for (int32_t t = 0; t < m.topics_count; t++)
        total += m.topics[t].partitions_count > 0 ? (size_t)m.topics[t].partitions_count : 0;
    if (!(d->offsets = arena_calloc(&d->mem, total + 1, sizeof *d->offsets))) {
        err = GREGOR_ERR_NOMEM;
        goto out;
    }
    for (int32_t t = 0; t < m.topics_count; t++) {
        const char *topic = str_or_empty(&d->mem, m.topics[t].name);
        for (int32_t i = 0; i < m.topics[t].partitions_count; i++) {
            const proto_offset_fetch_response_partition *p = &m.topics[t].partitions[i];
            d->offsets[d->n_offsets++] = (grp_offset){topic, p->partition_index, p->committed_offset,
                                                      gregor_err_from_broker(p->error_code)};
        }
    }
    qsort(d->offsets, d->n_offsets, sizeof *d->offsets, cmp_offset);
out:
    answer_fini(&ans);
    return err;
}

/* ----------------------------------------------------------- describe */

/* One attempt at the whole description, at coordinator `node`. A 4.x
 * broker's DescribeGroups answers GROUP_ID_NOT_FOUND ("not a classic
 * group") for a KIP-848 group: ConsumerGroupDescribe describes it then; a
 * broker without API 69, or with the consumer protocol disabled (3.x
 * advertises API 69 and answers UNSUPPORTED_VERSION), keeps the first
 * answer. */
static gregor_err describe_at(gregor_client *c, int32_t node, const char *group, int32_t timeout_ms, grp_desc *d,
                              char *errstr, size_t n)
{
    gregor_err err = describe_classic(c, node, group, timeout_ms, d, errstr, n);
    if (err == PROTO_ERR_GROUP_ID_NOT_FOUND) {
        char e2[512];
        gregor_err err2 = describe_kip848(c, node, group, timeout_ms, d, e2, sizeof e2);
        if (err2 == GREGOR_OK || (err2 != PROTO_ERR_GROUP_ID_NOT_FOUND && err2 != GREGOR_ERR_UNSUPPORTED &&
                                  err2 != PROTO_ERR_UNSUPPORTED_VERSION)) {
            err = err2;
            snprintf(errstr, n, "%s", e2);
        }
    }
    if (err != GREGOR_OK)
        return err;
    return fetch_offsets(c, node, group, timeout_ms, d, errstr, n);
}

gregor_err groups_describe(gregor_client *c, const char *group, int32_t timeout_ms, grp_desc *out, char *errstr,
                           size_t n)
{
    int64_t deadline = net_now_ms() + timeout_ms;
    for (;;) {
        int32_t node = -1;
        memset(out, 0, sizeof *out);
        arena_init(&out->mem, ARENA_DEFAULT_LIMIT);
        out->id = group;
        gregor_err err = find_coordinator(c, group, left_ms(deadline), &node, errstr, n);
        if (err == GREGOR_OK) {
            out->coordinator = node;
            err = describe_at(c, node, group, left_ms(deadline), out, errstr, n);
        }
        if (err == GREGOR_OK)
            return GREGOR_OK;
        arena_fini(&out->mem);
        if (!coordinator_retriable(err) || net_now_ms() + RETRY_BACKOFF_MS >= deadline)
            return err;
        sleep_ms(RETRY_BACKOFF_MS);
    }
}

void groups_desc_fini(grp_desc *d)
{
    arena_fini(&d->mem);
}
