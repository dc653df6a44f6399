/* protocol/tp_groups.c — see tp_groups.h.
 *
 * Two sorts of one entry array: by (topic, first appearance of the topic,
 * item index) for the request's grouping, then by (topic, partition) for the
 * response lookup. Topics compare as length-counted bytes so that a lookup
 * key straight from the response (a buf_slice, not NUL-terminated) compares
 * the same way. */
#include "protocol/tp_groups.h"

#include <stdlib.h>
#include <string.h>

struct proto_tp_entry {
    const char *topic;
    size_t topic_len;
    int32_t partition;
    size_t index;      /* the item */
    size_t topic_rank; /* the index of the topic's first item */
};

static int cmp_bytes(const char *a, size_t alen, const char *b, size_t blen)
{
    size_t common = alen < blen ? alen : blen;
    int c = common ? memcmp(a, b, common) : 0; /* an empty slice may have no data pointer */
    if (c)
        return c;
    return alen < blen ? -1 : alen > blen;
}

static int cmp_topic_then_index(const void *pa, const void *pb)
{
    const proto_tp_entry *a = pa, *b = pb;
    int c = cmp_bytes(a->topic, a->topic_len, b->topic, b->topic_len);
    if (c)
        return c;
    return a->index < b->index ? -1 : a->index > b->index;
}

static int cmp_rank_then_index(const void *pa, const void *pb)
{
    const proto_tp_entry *a = pa, *b = pb;
    if (a->topic_rank != b->topic_rank)
        return a->topic_rank < b->topic_rank ? -1 : 1;
    return a->index < b->index ? -1 : a->index > b->index;
}

static int cmp_topic_partition(const void *pa, const void *pb)
{
    const proto_tp_entry *a = pa, *b = pb;
    int c = cmp_bytes(a->topic, a->topic_len, b->topic, b->topic_len);
    if (c)
        return c;
    return a->partition < b->partition ? -1 : a->partition > b->partition;
}

gregor_err proto_tp_groups_init(proto_tp_groups *g, const proto_tp *tps, size_t n)
{
    memset(g, 0, sizeof *g);
    if (n == 0) {
        g->topic_start = calloc(1, sizeof *g->topic_start);
        return g->topic_start ? GREGOR_OK : GREGOR_ERR_NOMEM;
    }
    g->sorted = calloc(n, sizeof *g->sorted);
    g->order = calloc(n, sizeof *g->order);
    g->topic_start = calloc(n + 1, sizeof *g->topic_start);
    if (!g->sorted || !g->order || !g->topic_start) {
        proto_tp_groups_fini(g);
        return GREGOR_ERR_NOMEM;
    }
    proto_tp_entry *e = g->sorted;
    for (size_t i = 0; i < n; i++)
        e[i] = (proto_tp_entry){tps[i].topic, strlen(tps[i].topic), tps[i].partition, i, 0};
    /* Sorted by topic, each run's first entry is its topic's first item. */
    qsort(e, n, sizeof *e, cmp_topic_then_index);
    for (size_t i = 0; i < n; i++) {
        bool same = i > 0 && !cmp_bytes(e[i].topic, e[i].topic_len, e[i - 1].topic, e[i - 1].topic_len);
        e[i].topic_rank = same ? e[i - 1].topic_rank : e[i].index;
    }
    qsort(e, n, sizeof *e, cmp_rank_then_index);
    for (size_t i = 0; i < n; i++) {
        g->order[i] = e[i].index;
        if (i == 0 || e[i].topic_rank != e[i - 1].topic_rank)
            g->topic_start[g->n_topics++] = i;
    }
    g->topic_start[g->n_topics] = n;
    g->n_items = n;
    qsort(e, n, sizeof *e, cmp_topic_partition);
    return GREGOR_OK;
}

void proto_tp_groups_fini(proto_tp_groups *g)
{
    free(g->sorted);
    free(g->order);
    free(g->topic_start);
    memset(g, 0, sizeof *g);
}

size_t proto_tp_groups_find(const proto_tp_groups *g, buf_slice topic, int32_t partition)
{
    if (topic.len < 0 || g->n_items == 0)
        return SIZE_MAX;
    proto_tp_entry key = {(const char *)topic.ptr, (size_t)topic.len, partition, 0, 0};
    const proto_tp_entry *hit = bsearch(&key, g->sorted, g->n_items, sizeof key, cmp_topic_partition);
    return hit ? hit->index : SIZE_MAX;
}
