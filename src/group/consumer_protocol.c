/* group/consumer_protocol.c — Subscription and Assignment bytes (see the
 * header), over the generated codecs of protocol/gen/.
 *
 * Encoding builds the generated struct in a scratch arena (sorted copies of
 * the caller's lists) and writes it behind the int16 version. Decoding runs
 * the generated decoder over the caller's bytes into the value's arena, then
 * copies every string (NUL-terminated) and the user data into that arena,
 * so nothing refers to the input afterwards.
 */
#include "group/consumer_protocol.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/gen/consumer_protocol_assignment.h"
#include "protocol/gen/consumer_protocol_subscription.h"

/* Decoded structs take a few times the bytes they came from (a 2-byte empty
 * string becomes a 16-byte slice plus a copy); this bounds a hostile input. */
#define DECODE_BYTES_PER_INPUT_BYTE 48
#define DECODE_BYTES_BASE 4096
#define INPUT_BYTES_MAX ((size_t)64 << 20)

static int str_ptr_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static buf_slice slice_of_str(const char *s) { return buf_slice_of(s, strlen(s)); }

static buf_slice slice_of_bytes(const uint8_t *p, size_t n)
{
    return p ? buf_slice_of(p, n) : BUF_SLICE_NULL;
}

/* A sorted copy of `l` grouped by topic, in arena `a`: *n_out groups of
 * (topic, partitions[]). NOMEM, TOO_LARGE, or INVALID_ARG for a NULL topic
 * or a negative partition. */
typedef struct tp_group {
    const char *topic;
    int32_t *partitions;
    int32_t n;
} tp_group;

static gregor_err group_by_topic(const group_tp_list *l, arena *a, tp_group **out, int32_t *n_out)
{
    *out = NULL;
    *n_out = 0;
    if (!l || l->n == 0)
        return GREGOR_OK;
    if (l->n > INT32_MAX)
        return GREGOR_ERR_TOO_LARGE;
    group_tp *tps = arena_calloc(a, l->n, sizeof *tps);
    tp_group *groups = arena_calloc(a, l->n, sizeof *groups);
    int32_t *parts = arena_calloc(a, l->n, sizeof *parts);
    if (!tps || !groups || !parts)
        return GREGOR_ERR_NOMEM;
    for (size_t i = 0; i < l->n; i++) {
        if (!l->tps[i].topic || l->tps[i].partition < 0)
            return GREGOR_ERR_INVALID_ARG;
        tps[i] = l->tps[i];
    }
    group_tp_list sorted = {tps, l->n, l->n}; /* a view: sorted in place, never freed */
    group_tp_list_sort(&sorted);
    int32_t ng = 0;
    for (size_t i = 0; i < l->n; i++) {
        if (ng == 0 || strcmp(groups[ng - 1].topic, tps[i].topic) != 0)
            groups[ng++] = (tp_group){tps[i].topic, &parts[i], 0};
        groups[ng - 1].partitions[groups[ng - 1].n++] = tps[i].partition;
    }
    *out = groups;
    *n_out = ng;
    return GREGOR_OK;
}

gregor_err consumer_protocol_subscription_encode(buf_writer *w, const assignor_member *m, const uint8_t *user_data,
                                                 size_t user_data_len)
{
    if (m->n_topics > INT32_MAX || user_data_len > INT32_MAX)
        return GREGOR_ERR_TOO_LARGE;
    arena a;
    arena_init(&a, ARENA_DEFAULT_LIMIT);
    proto_consumer_protocol_subscription s;
    proto_consumer_protocol_subscription_init(&s);
    gregor_err err = GREGOR_ERR_NOMEM;
    const char **topics = arena_calloc(&a, m->n_topics, sizeof *topics);
    s.topics = arena_calloc(&a, m->n_topics, sizeof *s.topics);
    if (!topics || !s.topics)
        goto out;
    err = GREGOR_ERR_INVALID_ARG;
    for (size_t i = 0; i < m->n_topics; i++)
        if (!(topics[i] = m->topics[i]))
            goto out;
    qsort(topics, m->n_topics, sizeof *topics, str_ptr_cmp);
    for (size_t i = 0; i < m->n_topics; i++)
        s.topics[i] = slice_of_str(topics[i]);
    s.topics_count = (int32_t)m->n_topics;
    s.user_data = slice_of_bytes(user_data, user_data_len);

    tp_group *groups;
    int32_t n_groups;
    if ((err = group_by_topic(&m->owned, &a, &groups, &n_groups)) != GREGOR_OK)
        goto out;
    s.owned_partitions = arena_calloc(&a, (size_t)n_groups, sizeof *s.owned_partitions);
    if (!s.owned_partitions) {
        err = GREGOR_ERR_NOMEM;
        goto out;
    }
    for (int32_t i = 0; i < n_groups; i++) {
        proto_consumer_protocol_subscription_topic_partition_init(&s.owned_partitions[i]);
        s.owned_partitions[i].topic = slice_of_str(groups[i].topic);
        s.owned_partitions[i].partitions = groups[i].partitions;
        s.owned_partitions[i].partitions_count = groups[i].n;
    }
    s.owned_partitions_count = n_groups;
    s.generation_id = m->generation;
    s.rack_id = m->rack ? slice_of_str(m->rack) : BUF_SLICE_NULL;

    buf_write_i16(w, CONSUMER_PROTOCOL_VERSION);
    err = proto_consumer_protocol_subscription_encode(w, CONSUMER_PROTOCOL_VERSION, &s);
out:
    arena_fini(&a);
    return err;
}

gregor_err consumer_protocol_assignment_encode(buf_writer *w, const group_tp_list *assigned, const uint8_t *user_data,
                                               size_t user_data_len)
{
    if (user_data_len > INT32_MAX)
        return GREGOR_ERR_TOO_LARGE;
    arena a;
    arena_init(&a, ARENA_DEFAULT_LIMIT);
    proto_consumer_protocol_assignment m;
    proto_consumer_protocol_assignment_init(&m);
    tp_group *groups;
    int32_t n_groups;
    gregor_err err = group_by_topic(assigned, &a, &groups, &n_groups);
    if (err != GREGOR_OK)
        goto out;
    m.assigned_partitions = arena_calloc(&a, (size_t)n_groups, sizeof *m.assigned_partitions);
    if (!m.assigned_partitions) {
        err = GREGOR_ERR_NOMEM;
        goto out;
    }
    for (int32_t i = 0; i < n_groups; i++) {
        proto_consumer_protocol_assignment_topic_partition_init(&m.assigned_partitions[i]);
        m.assigned_partitions[i].topic = slice_of_str(groups[i].topic);
        m.assigned_partitions[i].partitions = groups[i].partitions;
        m.assigned_partitions[i].partitions_count = groups[i].n;
    }
    m.assigned_partitions_count = n_groups;
    m.user_data = slice_of_bytes(user_data, user_data_len);
    buf_write_i16(w, CONSUMER_PROTOCOL_VERSION);
    err = proto_consumer_protocol_assignment_encode(w, CONSUMER_PROTOCOL_VERSION, &m);
out:
    arena_fini(&a);
    return err;
}

/* ---- decoding ---- */

/* "consumer protocol subscription: truncated in <field> at byte 12 (<what>)" */
static gregor_err fail(char *error, size_t cap, gregor_err err, const char *what, const char *field, size_t pos)
{
    snprintf(error, cap, "%s: %s%s%s at byte %zu", what, gregor_err_str(err), field ? " in " : "",
             field ? field : "", pos);
    return err;
}

/* A NUL-terminated copy of `s` in `a`; NULL on NOMEM (and *bad for a NUL
 * inside the name, which no C string could carry). */
static const char *copy_str(arena *a, buf_slice s, bool *bad)
{
    if (s.len < 0)
        return NULL;
    if (memchr(s.ptr, 0, (size_t)s.len)) {
        *bad = true;
        return NULL;
    }
    char *c = arena_alloc(a, (size_t)s.len + 1);
    if (c)
        memcpy(c, s.ptr, (size_t)s.len);
    return c;
}

static gregor_err copy_user_data(arena *a, buf_slice s, const uint8_t **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    if (buf_slice_is_null(s))
        return GREGOR_OK;
    uint8_t *p = arena_alloc(a, (size_t)s.len);
    if (!p)
        return GREGOR_ERR_NOMEM;
    memcpy(p, s.ptr, (size_t)s.len);
    *out = p;
    *len = (size_t)s.len;
    return GREGOR_OK;
}

/* Reads the version prefix; the version to decode at is min(version, 3). */
static gregor_err read_version(buf_reader *r, int16_t *version, int16_t *decode_as)
{
    *version = buf_read_i16(r);
    if (!buf_reader_ok(r))
        return GREGOR_ERR_TRUNCATED;
    if (*version < 0)
        return GREGOR_ERR_UNSUPPORTED;
    *decode_as = *version > CONSUMER_PROTOCOL_VERSION ? CONSUMER_PROTOCOL_VERSION : *version;
    return GREGOR_OK;
}

static int32_t be32(const uint8_t *p)
{
    return (int32_t)((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3]);
}

/* The generation in a cooperative-sticky member's user data. Java writes 4
 * bytes (CooperativeStickyAssignor's V0 schema) and reads the first 4 of
 * whatever it gets. librdkafka writes StickyAssignor's V1 user data,
 * [topic [partition]] then the generation; read whole, its generation is
 * the last 4 bytes (Java would take the topic count for it). */
static int32_t sticky_generation(const uint8_t *ud, size_t len)
{
    if (!ud || len < 4)
        return -1;
    if (len > 4) {
        buf_reader r;
        buf_reader_init(&r, ud, len);
        int32_t topics = buf_read_array_len(&r, false, 6);
        for (int32_t i = 0; i < topics && buf_reader_ok(&r); i++) {
            (void)buf_read_string(&r, false);
            int32_t parts = buf_read_array_len(&r, false, 4);
            buf_skip(&r, (size_t)parts * 4);
        }
        if (buf_reader_ok(&r) && buf_remaining(&r) == 4)
            return buf_read_i32(&r);
    }
    return be32(ud);
}

static gregor_err sub_fill(consumer_subscription *out, const proto_consumer_protocol_subscription *p,
                           int16_t decode_as, const char *assignor)
{
    assignor_member *m = &out->member;
    bool bad = false;
    const char **topics = arena_calloc(&out->arena, (size_t)p->topics_count, sizeof *topics);
    if (!topics)
        return GREGOR_ERR_NOMEM;
    for (int32_t i = 0; i < p->topics_count; i++)
        if (!(topics[i] = copy_str(&out->arena, p->topics[i], &bad)))
            return bad ? GREGOR_ERR_MALFORMED : GREGOR_ERR_NOMEM;
    m->topics = topics;
    m->n_topics = (size_t)p->topics_count;
    for (int32_t i = 0; i < p->owned_partitions_count; i++) {
        const proto_consumer_protocol_subscription_topic_partition *tp = &p->owned_partitions[i];
        const char *topic = copy_str(&out->arena, tp->topic, &bad);
        if (!topic)
            return bad ? GREGOR_ERR_MALFORMED : GREGOR_ERR_NOMEM;
        for (int32_t k = 0; k < tp->partitions_count; k++)
            if (group_tp_list_add(&m->owned, topic, tp->partitions[k]) != GREGOR_OK)
                return GREGOR_ERR_NOMEM;
    }
    if (decode_as >= 3 && p->rack_id.len > 0 && !(m->rack = copy_str(&out->arena, p->rack_id, &bad)))
        return bad ? GREGOR_ERR_MALFORMED : GREGOR_ERR_NOMEM;
    if (copy_user_data(&out->arena, p->user_data, &out->user_data, &out->user_data_len) != GREGOR_OK)
        return GREGOR_ERR_NOMEM;
    m->generation = decode_as >= 2 && p->generation_id >= 0 ? p->generation_id : -1;
    if (m->generation < 0 && assignor && strcmp(assignor, "cooperative-sticky") == 0)
        m->generation = sticky_generation(out->user_data, out->user_data_len);
    return GREGOR_OK;
}

gregor_err consumer_protocol_subscription_decode(const uint8_t *data, size_t len, const char *assignor,
                                                 consumer_subscription *out)
{
    memset(out, 0, sizeof *out);
    out->member.generation = -1;
    group_tp_list_init(&out->member.owned);
    if (len > INPUT_BYTES_MAX)
        return fail(out->error, sizeof out->error, GREGOR_ERR_TOO_LARGE, "consumer protocol subscription", NULL, 0);
    arena_init(&out->arena, DECODE_BYTES_BASE + len * DECODE_BYTES_PER_INPUT_BYTE);
    buf_reader r;
    buf_reader_init(&r, data, len);
    int16_t decode_as;
    gregor_err err = read_version(&r, &out->version, &decode_as);
    if (err != GREGOR_OK)
        return fail(out->error, sizeof out->error, err, "consumer protocol subscription",
                    "the version", r.pos);
    proto_consumer_protocol_subscription p;
    err = proto_consumer_protocol_subscription_decode(&r, decode_as, &p, &out->arena);
    if (err != GREGOR_OK)
        return fail(out->error, sizeof out->error, err, "consumer protocol subscription", r.field, r.pos);
    err = sub_fill(out, &p, decode_as, assignor);
    if (err != GREGOR_OK)
        return fail(out->error, sizeof out->error, err, "consumer protocol subscription",
                    err == GREGOR_ERR_MALFORMED ? "a topic or rack name containing NUL" : NULL, r.pos);
    return GREGOR_OK;
}

void consumer_subscription_fini(consumer_subscription *s)
{
    group_tp_list_fini(&s->member.owned);
    arena_fini(&s->arena);
    s->member.topics = NULL;
    s->member.n_topics = 0;
    s->member.rack = NULL;
    s->user_data = NULL;
    s->user_data_len = 0;
}

gregor_err consumer_protocol_assignment_decode(const uint8_t *data, size_t len, consumer_assignment *out)
{
    memset(out, 0, sizeof *out);
    group_tp_list_init(&out->partitions);
    if (len > INPUT_BYTES_MAX)
        return fail(out->error, sizeof out->error, GREGOR_ERR_TOO_LARGE, "consumer protocol assignment", NULL, 0);
    arena_init(&out->arena, DECODE_BYTES_BASE + len * DECODE_BYTES_PER_INPUT_BYTE);
    if (len == 0)
        return GREGOR_OK;
    buf_reader r;
    buf_reader_init(&r, data, len);
    int16_t decode_as;
    gregor_err err = read_version(&r, &out->version, &decode_as);
    if (err != GREGOR_OK)
        return fail(out->error, sizeof out->error, err, "consumer protocol assignment", "the version", r.pos);
    proto_consumer_protocol_assignment p;
    err = proto_consumer_protocol_assignment_decode(&r, decode_as, &p, &out->arena);
    if (err != GREGOR_OK)
        return fail(out->error, sizeof out->error, err, "consumer protocol assignment", r.field, r.pos);
    bool bad = false;
    for (int32_t i = 0; i < p.assigned_partitions_count && err == GREGOR_OK; i++) {
        const proto_consumer_protocol_assignment_topic_partition *tp = &p.assigned_partitions[i];
        const char *topic = copy_str(&out->arena, tp->topic, &bad);
        if (!topic)
            err = bad ? GREGOR_ERR_MALFORMED : GREGOR_ERR_NOMEM;
        for (int32_t k = 0; k < tp->partitions_count && err == GREGOR_OK; k++)
            err = group_tp_list_add(&out->partitions, topic, tp->partitions[k]);
    }
    if (err == GREGOR_OK)
        err = copy_user_data(&out->arena, p.user_data, &out->user_data, &out->user_data_len);
    if (err != GREGOR_OK)
        return fail(out->error, sizeof out->error, err, "consumer protocol assignment",
                    err == GREGOR_ERR_MALFORMED ? "a topic name containing NUL" : NULL, r.pos);
    return GREGOR_OK;
}

void consumer_assignment_fini(consumer_assignment *a)
{
    group_tp_list_fini(&a->partitions);
    arena_fini(&a->arena);
    a->user_data = NULL;
    a->user_data_len = 0;
}
