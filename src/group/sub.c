/* group/sub.c — a member's subscription (topic names or a pattern) matched
 * against the cluster metadata. */
#include <stdlib.h>
#include <string.h>

#include "group/group_int.h"

void group_sub_fini(group_sub *sub)
{
    for (size_t i = 0; i < sub->n_topics; i++)
        free(sub->topics[i]);
    free(sub->topics);
    if (sub->has_pattern)
        regfree(&sub->pattern);
    free(sub->pattern_text);
    memset(sub, 0, sizeof *sub);
}

bool group_sub_matches(const group_sub *sub, const char *topic)
{
    if (sub->has_pattern) {
        regmatch_t m;
        /* The whole name must match, and internal topics never do. */
        return strncmp(topic, "__", 2) != 0 && regexec(&sub->pattern, topic, 1, &m, 0) == 0 && m.rm_so == 0 &&
               (size_t)m.rm_eo == strlen(topic);
    }
    size_t lo = 0, hi = sub->n_topics;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(sub->topics[mid], topic);
        if (c == 0)
            return true;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

static int cmp_topic(const void *a, const void *b)
{
    return strcmp(((const assignor_topic *)a)->topic, ((const assignor_topic *)b)->topic);
}

gregor_err group_sub_resolve(const group_sub *sub, const gregor_metadata *md, assignor_topic **out, size_t *n)
{
    assignor_topic *v = calloc(md->n_topics ? (size_t)md->n_topics : 1, sizeof *v);
    if (!v)
        return GREGOR_ERR_NOMEM;
    size_t k = 0;
    for (int32_t i = 0; i < md->n_topics; i++) {
        const gregor_metadata_topic *t = &md->topics[i];
        if (t->err != GREGOR_OK || t->n_partitions <= 0 || !group_sub_matches(sub, t->name))
            continue;
        v[k++] = (assignor_topic){t->name, t->n_partitions};
    }
    qsort(v, k, sizeof *v, cmp_topic);
    *out = v;
    *n = k;
    return GREGOR_OK;
}
