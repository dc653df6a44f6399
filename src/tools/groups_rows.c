/* tools/groups_rows.c — a described consumer group as the partition table
 * that `gregor groups` prints once and `gregor top` refreshes: committed
 * offsets merged with the members' assignments, log ends looked up per
 * partition. Also the choice between the groups API and the committed
 * offsets only (0.8 brokers).
 *
 * Threading: the command's thread; the log-end lookups block.
 */
#include <stdlib.h>
#include <string.h>

#include "tools/groups.h"

static int cmp_row(const void *x, const void *y)
{
    const grp_row *a = x, *b = y;
    if (!a->topic || !b->topic)
        return (a->topic == NULL) - (b->topic == NULL);
    int c = strcmp(a->topic, b->topic);
    return c ? c : (a->partition > b->partition) - (a->partition < b->partition);
}

static bool wanted(const char *const *topics, size_t n_topics, const char *topic)
{
    for (size_t i = 0; i < n_topics; i++)
        if (!strcmp(topics[i], topic))
            return true;
    return n_topics == 0;
}

grp_row *groups_rows_build(const grp_desc *d, const char *const *topics, size_t n_topics, size_t *n)
{
    size_t cap = d->n_offsets + d->n_members + 1;
    for (size_t i = 0; i < d->n_members; i++)
        cap += d->members[i].n_owned;
    grp_row *rows = calloc(cap, sizeof *rows);
    if (!rows)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < d->n_offsets; i++)
        if (wanted(topics, n_topics, d->offsets[i].topic))
            rows[k++] = (grp_row){d->offsets[i].topic, d->offsets[i].partition, d->offsets[i].committed, -1, NULL};
    size_t n_committed = k;
    for (size_t i = 0; i < d->n_members; i++) {
        const grp_member *m = &d->members[i];
        for (size_t j = 0; j < m->n_owned; j++) {
            grp_row key = {m->owned[j].topic, m->owned[j].partition, -1, -1, m};
            grp_row *r = bsearch(&key, rows, n_committed, sizeof *rows, cmp_row);
            if (r)
                r->owner = m;
            else if (wanted(topics, n_topics, key.topic))
                rows[k++] = key;
        }
    }
    qsort(rows, k, sizeof *rows, cmp_row);
    for (size_t i = 0; i < d->n_members; i++)
        if (d->members[i].n_owned == 0)
            rows[k++] = (grp_row){NULL, -1, -1, -1, &d->members[i]};
    *n = k;
    return rows;
}

bool groups_rows_fill_log_ends(gregor_consumer *c, grp_row *rows, size_t n, groups_log_end_error_fn *on_error,
                               void *arg)
{
    bool ok = true;
    for (size_t i = 0; i < n; i++) {
        if (!rows[i].topic)
            continue;
        int64_t low, high;
        char err[512];
        if (gregor_consumer_watermarks(c, rows[i].topic, rows[i].partition, &low, &high, err, sizeof err) ==
            GREGOR_OK) {
            rows[i].log_end = high;
        } else {
            on_error(arg, &rows[i], err);
            ok = false;
        }
    }
    return ok;
}

long long groups_row_lag(const grp_row *r)
{
    return r->committed >= 0 && r->log_end >= 0 ? (long long)(r->log_end - r->committed) : -1;
}

gregor_err groups_describe_any(gregor_consumer *c, const gregor_config *cfg, const char *group,
                               const char *const *topics, size_t n_topics, int32_t timeout_ms, grp_desc *out,
                               bool *offsets_only, char *errstr, size_t errstr_size)
{
    *offsets_only = false;
    gregor_err e = groups_describe(gregor_consumer_client(c), group, timeout_ms, out, errstr, errstr_size);
    if (e != GREGOR_ERR_UNSUPPORTED || n_topics == 0)
        return e;
    *offsets_only = true;
    return groups_describe_offsets_only(cfg, group, topics, n_topics, timeout_ms, out, errstr, errstr_size);
}
