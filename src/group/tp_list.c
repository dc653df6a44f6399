/* group/tp_list.c — the growable topic-partition list of assignor.h, and the
 * table of assignors by protocol name.
 *
 * A list is an array that doubles when full; topics are borrowed pointers, so
 * equality is by string content (two lists may point at different copies of
 * a topic name). Lists stay small (one member's share of a group), so
 * contains() is a linear scan; callers with many look-ups sort and search.
 */
#include "group/assignor.h"
#include "group/assignor_ctx.h"

#include <stdlib.h>
#include <string.h>

void group_tp_list_init(group_tp_list *l)
{
    l->tps = NULL;
    l->n = 0;
    l->cap = 0;
}

void group_tp_list_fini(group_tp_list *l)
{
    free(l->tps);
    group_tp_list_init(l);
}

gregor_err group_tp_list_add(group_tp_list *l, const char *topic, int32_t partition)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        if (cap > SIZE_MAX / sizeof *l->tps)
            return GREGOR_ERR_NOMEM;
        group_tp *tps = realloc(l->tps, cap * sizeof *tps);
        if (!tps)
            return GREGOR_ERR_NOMEM;
        l->tps = tps;
        l->cap = cap;
    }
    l->tps[l->n++] = (group_tp){topic, partition};
    return GREGOR_OK;
}

static int tp_cmp(const void *a, const void *b)
{
    const group_tp *x = a, *y = b;
    int c = strcmp(x->topic, y->topic);
    if (c)
        return c;
    return (x->partition > y->partition) - (x->partition < y->partition);
}

void group_tp_list_sort(group_tp_list *l)
{
    if (l->n > 1)
        qsort(l->tps, l->n, sizeof *l->tps, tp_cmp);
}

bool group_tp_list_contains(const group_tp_list *l, const char *topic, int32_t partition)
{
    for (size_t i = 0; i < l->n; i++)
        if (l->tps[i].partition == partition && strcmp(l->tps[i].topic, topic) == 0)
            return true;
    return false;
}

const group_assignor *group_assignor_find(const char *name)
{
    static const group_assignor *const all[] = {
        &group_assignor_range,
        &group_assignor_roundrobin,
        &group_assignor_cooperative_sticky,
    };
    if (!name)
        return NULL;
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (strcmp(all[i]->name, name) == 0)
            return all[i];
    return NULL;
}
