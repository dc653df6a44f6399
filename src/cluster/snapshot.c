/* cluster/snapshot.c — see snapshot.h. */
#include "cluster/snapshot.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/gen/metadata.h"

/* A snapshot's arena may hold every name and id list of a large cluster. */
#define SNAPSHOT_ARENA_LIMIT ((size_t)512 << 20)

static const char *copy_str(arena *a, buf_slice s)
{
    if (s.len < 0)
        return NULL;
    char *p = arena_alloc(a, (size_t)s.len + 1);
    if (p && s.len)
        memcpy(p, s.ptr, (size_t)s.len);
    return p;
}

static const int32_t *copy_ids(arena *a, const int32_t *ids, int32_t n, int32_t *n_out)
{
    *n_out = n > 0 ? n : 0;
    if (n <= 0)
        return NULL;
    int32_t *p = arena_calloc(a, (size_t)n, sizeof *p);
    if (p)
        memcpy(p, ids, (size_t)n * sizeof *p);
    return p;
}

static int cmp_broker(const void *a, const void *b)
{
    int32_t x = ((const cluster_broker *)a)->node_id, y = ((const cluster_broker *)b)->node_id;
    return (x > y) - (x < y);
}

static int cmp_topic(const void *a, const void *b)
{
    return strcmp(((const cluster_topic *)a)->name, ((const cluster_topic *)b)->name);
}

static int cmp_partition(const void *a, const void *b)
{
    int32_t x = ((const cluster_partition *)a)->id, y = ((const cluster_partition *)b)->id;
    return (x > y) - (x < y);
}

static gregor_err build_topic(arena *a, const proto_metadata_response_topic *in, cluster_topic *t)
{
    t->name = copy_str(a, in->name.len >= 0 ? in->name : buf_slice_of("", 0));
    memcpy(t->id, in->topic_id, 16);
    t->err = gregor_err_from_broker(in->error_code);
    t->internal = in->is_internal;
    int32_t n = in->partitions_count > 0 ? in->partitions_count : 0;
    cluster_partition *ps = arena_calloc(a, (size_t)n, sizeof *ps);
    if (!t->name || !ps)
        return GREGOR_ERR_NOMEM;
    for (int32_t i = 0; i < n; i++) {
        const proto_metadata_response_partition *p = &in->partitions[i];
        ps[i].id = p->partition_index;
        ps[i].err = gregor_err_from_broker(p->error_code);
        ps[i].leader = p->leader_id;
        ps[i].leader_epoch = p->leader_epoch;
        ps[i].replicas = copy_ids(a, p->replica_nodes, p->replica_nodes_count, &ps[i].n_replicas);
        ps[i].isr = copy_ids(a, p->isr_nodes, p->isr_nodes_count, &ps[i].n_isr);
        ps[i].offline = copy_ids(a, p->offline_replicas, p->offline_replicas_count, &ps[i].n_offline);
        if ((ps[i].n_replicas && !ps[i].replicas) || (ps[i].n_isr && !ps[i].isr) ||
            (ps[i].n_offline && !ps[i].offline))
            return GREGOR_ERR_NOMEM;
    }
    qsort(ps, (size_t)n, sizeof *ps, cmp_partition);
    t->partitions = ps;
    t->n_partitions = n;
    return GREGOR_OK;
}

gregor_err cluster_snapshot_build(const proto_metadata_response *m, int16_t version, int32_t from_node,
                                  uint64_t generation, cluster_snapshot **out)
{
    cluster_snapshot *s = calloc(1, sizeof *s);
    if (!s)
        return GREGOR_ERR_NOMEM;
    arena_init(&s->mem, SNAPSHOT_ARENA_LIMIT);
    atomic_init(&s->refs, 1);
    s->generation = generation;
    s->md.from_node = from_node;
    s->md.metadata_version = version;
    s->md.controller_id = version >= 1 ? m->controller_id : -1;
    s->md.cluster_id = copy_str(&s->mem, m->cluster_id);

    int32_t nb = m->brokers_count > 0 ? m->brokers_count : 0;
    cluster_broker *bs = arena_calloc(&s->mem, (size_t)nb, sizeof *bs);
    int32_t nt = m->topics_count > 0 ? m->topics_count : 0;
    cluster_topic *ts = arena_calloc(&s->mem, (size_t)nt, sizeof *ts);
    gregor_err err = (bs && ts) ? GREGOR_OK : GREGOR_ERR_NOMEM;
    for (int32_t i = 0; err == GREGOR_OK && i < nb; i++) {
        bs[i].node_id = m->brokers[i].node_id;
        bs[i].host = copy_str(&s->mem, m->brokers[i].host);
        bs[i].port = m->brokers[i].port;
        bs[i].rack = copy_str(&s->mem, m->brokers[i].rack);
        if (!bs[i].host)
            err = GREGOR_ERR_NOMEM;
    }
    for (int32_t i = 0; err == GREGOR_OK && i < nt; i++)
        err = build_topic(&s->mem, &m->topics[i], &ts[i]);
    if (err != GREGOR_OK) {
        arena_fini(&s->mem);
        free(s);
        return err;
    }
    qsort(bs, (size_t)nb, sizeof *bs, cmp_broker);
    qsort(ts, (size_t)nt, sizeof *ts, cmp_topic);
    s->md.brokers = bs;
    s->md.n_brokers = nb;
    s->md.topics = ts;
    s->md.n_topics = nt;
    *out = s;
    return GREGOR_OK;
}

cluster_snapshot *cluster_snapshot_ref(cluster_snapshot *s)
{
    if (s)
        atomic_fetch_add(&s->refs, 1);
    return s;
}

void cluster_snapshot_unref(cluster_snapshot *s)
{
    if (!s || atomic_fetch_sub(&s->refs, 1) != 1)
        return;
    arena_fini(&s->mem);
    free(s);
}

void cluster_snapshot_keep_newer_epochs(cluster_snapshot *s, const cluster_snapshot *older)
{
    for (int32_t i = 0; i < s->md.n_topics; i++) {
        const cluster_topic *t = &s->md.topics[i];
        const cluster_topic *ot = cluster_snapshot_topic(older, t->name);
        if (!ot)
            continue;
        /* The snapshot owns its arrays; they are const only for readers. */
        cluster_partition *ps = (cluster_partition *)(uintptr_t)t->partitions;
        for (int32_t j = 0; j < t->n_partitions; j++) {
            const cluster_partition *op = cluster_topic_partition(ot, ps[j].id);
            if (op && ps[j].leader_epoch >= 0 && op->leader_epoch > ps[j].leader_epoch) {
                ps[j].leader = op->leader;
                ps[j].leader_epoch = op->leader_epoch;
            }
        }
    }
}

const cluster_topic *cluster_snapshot_topic(const cluster_snapshot *s, const char *name)
{
    return gregor_metadata_topic_find(&s->md, name);
}

const cluster_broker *cluster_snapshot_broker(const cluster_snapshot *s, int32_t node_id)
{
    return gregor_metadata_broker_find(&s->md, node_id);
}

const gregor_metadata_topic *gregor_metadata_topic_find(const gregor_metadata *md, const char *name)
{
    cluster_topic key = {.name = name};
    return bsearch(&key, md->topics, (size_t)md->n_topics, sizeof key, cmp_topic);
}

const gregor_metadata_broker *gregor_metadata_broker_find(const gregor_metadata *md, int32_t node_id)
{
    cluster_broker key = {.node_id = node_id};
    return bsearch(&key, md->brokers, (size_t)md->n_brokers, sizeof key, cmp_broker);
}

const gregor_metadata_partition *gregor_metadata_partition_find(const gregor_metadata_topic *t, int32_t id)
{
    return cluster_topic_partition(t, id);
}

void gregor_metadata_destroy(const gregor_metadata *md)
{
    /* md is the first member of its snapshot. */
    cluster_snapshot_unref((cluster_snapshot *)(uintptr_t)md);
}

const cluster_partition *cluster_topic_partition(const cluster_topic *t, int32_t id)
{
    /* Partition ids are dense 0..n-1 in practice: try the direct slot first. */
    if (id >= 0 && id < t->n_partitions && t->partitions[id].id == id)
        return &t->partitions[id];
    cluster_partition key = {.id = id};
    return bsearch(&key, t->partitions, (size_t)t->n_partitions, sizeof key, cmp_partition);
}
