/* tools/top_fetch.c — one refresh of `gregor top`: the same requests as
 * `gregor groups` (groups_query.c: ListGroups on every broker,
 * FindCoordinator, DescribeGroups or ConsumerGroupDescribe, OffsetFetch;
 * groups_legacy.c on 0.8 brokers), the partition table of groups_rows.c,
 * and one sample per partition into the history of top_series.c; then the
 * pipeline counters of every --metrics endpoint (top_http.c, top_metrics.c).
 *
 * A group that cannot be described (unknown, coordinator away) becomes an
 * entry with an error and the others go on: the view keeps refreshing.
 *
 * Threading: the command's thread; blocks on the brokers, each request up to
 * the query's timeout.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/client.h"
#include "cluster/cluster.h"
#include "protocol/gen/errors.h"
#include "tools/top.h"

__attribute__((format(printf, 1, 2))) static char *str_printf(const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return strdup(buf);
}

/* Keeps the first partition whose log end is unknown, for the view. */
static void log_end_error(void *arg, const grp_row *r, const char *err)
{
    top_entry *e = arg;
    if (!e->note)
        e->note = str_printf("log end of %s [%d] unknown: %s", r->topic, r->partition, err);
}

/* Pushes this refresh's sample of every row and of the total. */
static gregor_err record(top_state *st, top_entry *e, int64_t now_ms)
{
    top_group_state *g = top_state_group(st, e->id);
    if (!g)
        return GREGOR_ERR_NOMEM;
    int64_t committed = 0, log_end = 0;
    size_t known = 0;
    for (size_t i = 0; i < e->n_rows; i++) {
        const grp_row *r = &e->rows[i];
        if (!r->topic)
            continue;
        top_series *s = top_group_part(st, g, r->topic, r->partition);
        if (!s)
            return GREGOR_ERR_NOMEM;
        top_series_push(s, now_ms, r->committed, r->log_end);
        if (groups_row_lag(r) >= 0) {
            committed += r->committed;
            log_end += r->log_end;
            known++;
        }
    }
    /* A partition more or less makes the sums jump: not a trend. */
    if (known != g->total_parts)
        top_series_clear(&g->total);
    g->total_parts = known;
    top_series_push(&g->total, now_ms, known ? committed : -1, known ? log_end : -1);
    return GREGOR_OK;
}

/* After top_state_end(), when nothing moves any more: the series of each
 * row (found, not added: record() added them in this refresh). */
static gregor_err link_series(top_state *st, top_entry *e)
{
    top_group_state *g = top_state_group(st, e->id);
    if (!g || !(e->series = calloc(e->n_rows + 1, sizeof *e->series)))
        return GREGOR_ERR_NOMEM;
    e->total = &g->total;
    for (size_t i = 0; i < e->n_rows; i++)
        if (e->rows[i].topic && !(e->series[i] = top_group_part(st, g, e->rows[i].topic, e->rows[i].partition)))
            return GREGOR_ERR_NOMEM;
    return GREGOR_OK;
}

static gregor_err describe(gregor_consumer *c, const top_query *q, top_entry *e)
{
    char err[512] = "";
    gregor_err r = groups_describe_any(c, q->cfg, e->id, q->topics, q->n_topics, q->timeout_ms, &e->desc,
                                       &e->offsets_only, err, sizeof err);
    if (r == PROTO_ERR_GROUP_ID_NOT_FOUND)
        e->error = str_printf("not found (%s)", err);
    else if (r != GREGOR_OK)
        e->error = strdup(err);
    if (r != GREGOR_OK)
        return e->error ? GREGOR_OK : GREGOR_ERR_NOMEM;
    e->have_desc = true;
    return (e->rows = groups_rows_build(&e->desc, q->topics, q->n_topics, &e->n_rows)) ? GREGOR_OK
                                                                                      : GREGOR_ERR_NOMEM;
}

static int cmp_str(const void *x, const void *y)
{
    return strcmp(*(const char *const *)x, *(const char *const *)y);
}

/* Before the log ends: the topics of every group of the refresh that the
 * cluster model does not know yet are added to it at once, and one
 * metadata answer awaited, instead of one wait per new topic inside
 * gregor_consumer_watermarks() (seconds on the first refresh of a cluster
 * with many groups). Best effort: the log-end lookups wait for whatever is
 * still missing. */
static gregor_err learn_topics(gregor_consumer *c, const top_frame *f, int32_t timeout_ms)
{
    size_t n = 0, cap = 0;
    for (size_t i = 0; i < f->n; i++)
        cap += f->entries[i].n_rows;
    const char **names = calloc(cap + 1, sizeof *names);
    if (!names)
        return GREGOR_ERR_NOMEM;
    cluster *cl = gregor_consumer_client(c)->cluster;
    cluster_snapshot *s = cluster_snapshot_get(cl);
    uint64_t gen = s ? s->generation : 0;
    for (size_t i = 0; i < f->n; i++)
        for (size_t j = 0; j < f->entries[i].n_rows; j++) {
            const char *t = f->entries[i].rows[j].topic;
            if (t && (!s || !cluster_snapshot_topic(s, t)))
                names[n++] = t;
        }
    cluster_snapshot_unref(s);
    qsort(names, n, sizeof *names, cmp_str);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (!k || strcmp(names[k - 1], names[i]))
            names[k++] = names[i];
    gregor_err r = k ? cluster_add_topics(cl, names, k) : GREGOR_OK;
    free(names);
    if (r == GREGOR_OK && k) {
        s = NULL;
        if (cluster_wait_snapshot(cl, gen, timeout_ms, &s, NULL, 0) == GREGOR_OK)
            cluster_snapshot_unref(s);
    }
    return r == GREGOR_ERR_NOMEM ? r : GREGOR_OK;
}

static bool has_topic_rows(const top_entry *e)
{
    return e->n_rows > 0 && e->rows[0].topic != NULL; /* rows with a topic come first */
}

static void entry_fini(top_entry *e)
{
    if (e->have_desc)
        groups_desc_fini(&e->desc);
    free(e->rows);
    free(e->series);
    free(e->error);
    free(e->note);
    free(e->id);
    memset(e, 0, sizeof *e);
}

/* The ids to describe: the named groups, or ListGroups' (sorted, without
 * the repeats of a coordinator moving). */
static gregor_err list_ids(gregor_consumer *c, const top_query *q, top_frame *out)
{
    size_t n = q->n_groups;
    const char *const *named = q->groups;
    arena a;
    arena_init(&a, ARENA_DEFAULT_LIMIT);
    grp_listed *listed = NULL;
    if (!n) {
        char err[512] = "";
        if (groups_list(gregor_consumer_client(c), q->timeout_ms, &a, &listed, &n, err, sizeof err) != GREGOR_OK) {
            out->failed = true;
            if (!(out->list_error = strdup(err))) {
                arena_fini(&a);
                return GREGOR_ERR_NOMEM;
            }
        }
    }
    gregor_err r = GREGOR_OK;
    if (n && !(out->entries = calloc(n < TOP_GROUPS_MAX ? n : TOP_GROUPS_MAX, sizeof *out->entries)))
        r = GREGOR_ERR_NOMEM;
    for (size_t i = 0; i < n && r == GREGOR_OK; i++) {
        const char *id = listed ? listed[i].id : named[i];
        if (listed && i && !strcmp(id, listed[i - 1].id))
            continue;
        if (out->n == TOP_GROUPS_MAX) {
            out->not_shown++;
            continue;
        }
        if (!(out->entries[out->n].id = strdup(id)))
            r = GREGOR_ERR_NOMEM;
        else
            out->n++;
    }
    arena_fini(&a);
    return r;
}

/* Reads one endpoint into e; a failure is e->error (the view names the
 * endpoint). */
static gregor_err read_endpoint(const top_query *q, top_endpoint *e)
{
    char err[700] = "", what[800], *body = NULL;
    size_t len = 0;
    if (!top_metrics_get(e->address, q->timeout_ms, &body, &len, err, sizeof err)) {
        snprintf(what, sizeof what, "%s", err);
    } else if (!top_pipelines_read(body, len, &e->pipelines, &e->n, err, sizeof err)) {
        snprintf(what, sizeof what, "the metrics text: %s", err);
    } else {
        free(body);
        return GREGOR_OK;
    }
    free(body);
    return (e->error = strdup(what)) ? GREGOR_OK : GREGOR_ERR_NOMEM;
}

/* Every endpoint, each pipeline's processed count into the history. */
static gregor_err read_endpoints(const top_query *q, top_state *st, int64_t now_ms, top_frame *out)
{
    if (!q->n_metrics)
        return GREGOR_OK;
    if (!(out->endpoints = calloc(q->n_metrics, sizeof *out->endpoints)))
        return GREGOR_ERR_NOMEM;
    top_state_begin(st);
    gregor_err r = GREGOR_OK;
    for (size_t i = 0; i < q->n_metrics && r == GREGOR_OK; i++) {
        top_endpoint *e = &out->endpoints[out->n_endpoints++];
        e->address = q->metrics[i];
        r = read_endpoint(q, e);
        out->failed |= e->error != NULL;
        top_group_state *g = r == GREGOR_OK ? top_state_group(st, e->address) : NULL;
        for (size_t j = 0; g && j < e->n && r == GREGOR_OK; j++) {
            top_series *s = top_group_part(st, g, e->pipelines[j].name, 0);
            if (!s)
                r = GREGOR_ERR_NOMEM;
            else
                top_series_push(s, now_ms, (int64_t)e->pipelines[j].processed, -1);
        }
        if (r == GREGOR_OK && !g && !e->error)
            r = GREGOR_ERR_NOMEM;
    }
    top_state_end(st);
    /* After top_state_end(), when nothing moves any more (as link_series). */
    for (size_t i = 0; i < out->n_endpoints && r == GREGOR_OK; i++) {
        top_endpoint *e = &out->endpoints[i];
        top_group_state *g = e->error ? NULL : top_state_group(st, e->address);
        for (size_t j = 0; g && j < e->n; j++)
            e->pipelines[j].series = top_group_part(st, g, e->pipelines[j].name, 0);
    }
    return r;
}

gregor_err top_frame_fetch(gregor_consumer *c, const top_query *q, top_history *h, int64_t now_ms, top_frame *out)
{
    top_state *st = &h->groups;
    memset(out, 0, sizeof *out);
    top_state_begin(st);
    gregor_err r = list_ids(c, q, out);
    size_t kept = 0;
    for (size_t i = 0; i < out->n; i++) {
        top_entry *e = &out->entries[i];
        if (r == GREGOR_OK)
            r = describe(c, q, e);
        if (r == GREGOR_OK && !e->error && !q->n_groups && q->n_topics && !has_topic_rows(e)) {
            entry_fini(e); /* listing with -t: only the groups that have those topics */
            continue;
        }
        out->failed |= e->error != NULL;
        out->entries[kept++] = *e;
    }
    out->n = kept;
    if (r == GREGOR_OK)
        r = learn_topics(c, out, q->timeout_ms);
    for (size_t i = 0; i < out->n && r == GREGOR_OK; i++) {
        top_entry *e = &out->entries[i];
        if (e->error)
            continue;
        groups_rows_fill_log_ends(c, e->rows, e->n_rows, log_end_error, e);
        r = record(st, e, now_ms);
    }
    out->n = kept;
    top_state_end(st);
    for (size_t i = 0; i < out->n && r == GREGOR_OK; i++)
        if (!out->entries[i].error)
            r = link_series(st, &out->entries[i]);
    return r == GREGOR_OK ? read_endpoints(q, &h->pipelines, now_ms, out) : r;
}

void top_frame_fini(top_frame *f)
{
    for (size_t i = 0; i < f->n; i++)
        entry_fini(&f->entries[i]);
    free(f->entries);
    free(f->list_error);
    for (size_t i = 0; i < f->n_endpoints; i++) {
        top_pipelines_free(f->endpoints[i].pipelines, f->endpoints[i].n);
        free(f->endpoints[i].error);
    }
    free(f->endpoints);
    memset(f, 0, sizeof *f);
}

top_group_view top_entry_view(const top_entry *e)
{
    return (top_group_view){
        .id = e->id,
        .error = e->error,
        .desc = &e->desc,
        .offsets_only = e->offsets_only,
        .rows = e->rows,
        .n_rows = e->n_rows,
        .series = e->series,
        .total = e->total,
    };
}
