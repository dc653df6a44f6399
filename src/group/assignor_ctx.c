/* group/assignor_ctx.c — the shared index of an assign() call (see the
 * header for the layout). Built in O((T + S) log T + M log M) for T topics,
 * S subscription entries and M members; look-ups are binary searches.
 */
#include "group/assignor_ctx.h"

#include <stdlib.h>
#include <string.h>

int assignor_member_cmp(const assignor_member *a, const assignor_member *b)
{
    if (a->instance_id && b->instance_id)
        return strcmp(a->instance_id, b->instance_id);
    if (a->instance_id)
        return -1;
    if (b->instance_id)
        return 1;
    return strcmp(a->member_id, b->member_id);
}

static int topic_ptr_cmp(const void *a, const void *b)
{
    const assignor_topic *const *x = a, *const *y = b;
    return strcmp((*x)->topic, (*y)->topic);
}

static int size_cmp(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return (x > y) - (x < y);
}

/* qsort has no context argument, so each entry carries its member; the index
 * breaks ties (equal ids) so the order does not depend on qsort. */
typedef struct member_ref {
    const assignor_member *m;
    size_t i;
} member_ref;

static int member_ref_cmp(const void *a, const void *b)
{
    const member_ref *x = a, *y = b;
    int c = assignor_member_cmp(x->m, y->m);
    if (c)
        return c;
    return (x->i > y->i) - (x->i < y->i);
}

static gregor_err index_topics(assignor_ctx *c, const assignor_topic *topics, size_t n_topics)
{
    c->topics = calloc(n_topics ? n_topics : 1, sizeof *c->topics);
    c->first = calloc(n_topics + 1, sizeof *c->first);
    if (!c->topics || !c->first)
        return GREGOR_ERR_NOMEM;
    size_t n = 0;
    for (size_t i = 0; i < n_topics; i++) {
        if (!topics[i].topic)
            return GREGOR_ERR_INVALID_ARG;
        if (topics[i].partitions > 0) /* Java skips topics without partitions */
            c->topics[n++] = &topics[i];
    }
    qsort(c->topics, n, sizeof *c->topics, topic_ptr_cmp);
    size_t u = 0; /* duplicates: the first in the caller's order after a stable pick */
    for (size_t i = 0; i < n; i++)
        if (u == 0 || strcmp(c->topics[u - 1]->topic, c->topics[i]->topic) != 0)
            c->topics[u++] = c->topics[i];
    c->n_topics = u;
    size_t total = 0;
    for (size_t t = 0; t < u; t++) {
        c->first[t] = total;
        total += (size_t)c->topics[t]->partitions;
    }
    c->first[u] = total;
    c->n_partitions = total;
    return GREGOR_OK;
}

static gregor_err index_members(assignor_ctx *c)
{
    size_t m = c->n_members;
    c->order = calloc(m ? m : 1, sizeof *c->order);
    c->subs = calloc(m ? m : 1, sizeof *c->subs);
    c->n_subs = calloc(m ? m : 1, sizeof *c->n_subs);
    member_ref *refs = calloc(m ? m : 1, sizeof *refs);
    if (!c->order || !c->subs || !c->n_subs || !refs) {
        free(refs);
        return GREGOR_ERR_NOMEM;
    }
    for (size_t i = 0; i < m; i++) {
        if (!c->members[i].member_id || (c->members[i].n_topics && !c->members[i].topics)) {
            free(refs);
            return GREGOR_ERR_INVALID_ARG;
        }
        refs[i] = (member_ref){&c->members[i], i};
    }
    qsort(refs, m, sizeof *refs, member_ref_cmp);
    for (size_t i = 0; i < m; i++)
        c->order[i] = refs[i].i;
    free(refs);
    for (size_t i = 0; i < m; i++) {
        const assignor_member *mb = &c->members[i];
        c->subs[i] = calloc(mb->n_topics ? mb->n_topics : 1, sizeof *c->subs[i]);
        if (!c->subs[i])
            return GREGOR_ERR_NOMEM;
        size_t n = 0;
        for (size_t k = 0; k < mb->n_topics; k++) {
            if (!mb->topics[k])
                return GREGOR_ERR_INVALID_ARG;
            long t = assignor_ctx_topic(c, mb->topics[k]);
            if (t >= 0)
                c->subs[i][n++] = (size_t)t;
        }
        qsort(c->subs[i], n, sizeof *c->subs[i], size_cmp);
        size_t u = 0;
        for (size_t k = 0; k < n; k++)
            if (u == 0 || c->subs[i][u - 1] != c->subs[i][k])
                c->subs[i][u++] = c->subs[i][k];
        c->n_subs[i] = u;
    }
    return GREGOR_OK;
}

gregor_err assignor_ctx_init(assignor_ctx *c, const assignor_member *members, size_t n_members,
                             const assignor_topic *topics, size_t n_topics)
{
    memset(c, 0, sizeof *c);
    c->members = members;
    c->n_members = n_members;
    if ((n_members && !members) || (n_topics && !topics))
        return GREGOR_ERR_INVALID_ARG;
    gregor_err err = index_topics(c, topics, n_topics);
    if (err == GREGOR_OK)
        err = index_members(c);
    if (err != GREGOR_OK)
        assignor_ctx_fini(c);
    return err;
}

void assignor_ctx_fini(assignor_ctx *c)
{
    if (c->subs)
        for (size_t i = 0; i < c->n_members; i++)
            free(c->subs[i]);
    free(c->subs);
    free(c->n_subs);
    free(c->order);
    free(c->topics);
    free(c->first);
    memset(c, 0, sizeof *c);
}

long assignor_ctx_topic(const assignor_ctx *c, const char *topic)
{
    size_t lo = 0, hi = c->n_topics;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int cmp = strcmp(c->topics[mid]->topic, topic);
        if (cmp == 0)
            return (long)mid;
        if (cmp < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

bool assignor_ctx_subscribes(const assignor_ctx *c, size_t m, size_t t)
{
    const size_t *s = c->subs[m];
    size_t lo = 0, hi = c->n_subs[m];
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s[mid] == t)
            return true;
        if (s[mid] < t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

size_t assignor_ctx_topic_of(const assignor_ctx *c, size_t g)
{
    /* the last t with first[t] <= g */
    size_t lo = 0, hi = c->n_topics;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (c->first[mid] <= g)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

gregor_err assignor_ctx_emit(const assignor_ctx *c, size_t g, group_tp_list *out)
{
    size_t t = assignor_ctx_topic_of(c, g);
    return group_tp_list_add(out, c->topics[t]->topic, (int32_t)(g - c->first[t]));
}
