/* tools/top_render.c — the text of one group in `gregor top`: a header
 * line, the members, and the partition table with a total row.
 *
 * Every line is built in a fixed buffer and cut to the width: the numeric
 * columns are as wide as their widest value, the topic and owner columns
 * share what is left (the owner shrinks first, down to OWNER_MIN, then the
 * topic, down to TOPIC_MIN), so that a long name is cut with '~' and never
 * pushes the columns after it out of place. The pipelines of a `gregor
 * run` endpoint (--metrics) are laid out the same way.
 *
 * Threading: the command's thread only.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "tools/top.h"

#define LINE_MAX_BYTES 1024 /* widths beyond this are cut to it */
#define TOPIC_MIN 8
#define OWNER_MIN 12
#define NAME_MAX_COLUMN 24  /* the member lines' client id and host columns */
#define TREND_COLUMN (TOP_HISTORY + 1 + 7) /* sparkline, space, "falling" */
#define RATE_COLUMN 7

void top_fit(const char *s, size_t width, char *out)
{
    size_t len = strlen(s);
    if (len <= width) {
        memcpy(out, s, len + 1);
        return;
    }
    if (width == 0) {
        out[0] = '\0';
        return;
    }
    memcpy(out, s, width - 1);
    out[width - 1] = '~';
    out[width] = '\0';
}

void top_format_rate(bool known, double per_s, char *out, size_t size)
{
    static const char units[] = "kMGTPE";
    if (!known) {
        snprintf(out, size, "-");
        return;
    }
    double a = per_s < 0 ? -per_s : per_s;
    if (a < 100) {
        snprintf(out, size, "%.1f", per_s);
        return;
    }
    if (a < 1e5) {
        snprintf(out, size, "%.0f", per_s);
        return;
    }
    if (a >= 999.5e18) {
        snprintf(out, size, per_s < 0 ? "<-999E" : ">999E");
        return;
    }
    size_t u = 0;
    for (per_s /= 1e3, a /= 1e3; a >= 999.5 && u + 1 < sizeof units - 1; u++)
        per_s /= 1e3, a /= 1e3;
    snprintf(out, size, a < 99.95 ? "%.1f%c" : "%.0f%c", per_s, units[u]);
}

/* A line under construction: appended to with put(), written cut to width. */
typedef struct line {
    char buf[LINE_MAX_BYTES + 1];
    size_t len;
} line;

__attribute__((format(printf, 2, 3))) static void put(line *l, const char *fmt, ...)
{
    if (l->len >= LINE_MAX_BYTES)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(l->buf + l->len, sizeof l->buf - l->len, fmt, ap);
    va_end(ap);
    if (n > 0)
        l->len += (size_t)n < sizeof l->buf - l->len ? (size_t)n : sizeof l->buf - l->len - 1;
}

/* Appends `s` cut to `width` and padded to it (left-aligned). */
static void put_col(line *l, const char *s, size_t width)
{
    char cut[LINE_MAX_BYTES + 1];
    top_fit(s, width < LINE_MAX_BYTES ? width : LINE_MAX_BYTES, cut);
    put(l, "%-*s", (int)width, cut);
}

static void emit(FILE *f, line *l, size_t width)
{
    while (l->len > 0 && l->buf[l->len - 1] == ' ')
        l->len--;
    l->buf[l->len] = '\0';
    char cut[LINE_MAX_BYTES + 1];
    top_fit(l->buf, width, cut);
    fprintf(f, "%s\n", cut);
    l->len = 0;
}

static const char *or_dash(const char *s)
{
    return s && s[0] ? s : "-";
}

static size_t max_size(size_t a, size_t b)
{
    return a > b ? a : b;
}

static void num(long long v, char *out, size_t size)
{
    if (v < 0)
        snprintf(out, size, "-");
    else
        snprintf(out, size, "%lld", v);
}

/* The text of one table row (or the total row). */
typedef struct cells {
    char part[16], committed[24], log_end[24], lag[24], trend[TREND_COLUMN + 1], rate[16];
    char owner[LINE_MAX_BYTES];
    const char *topic;
} cells;

static void trend_cell(const top_series *s, char *out, size_t size)
{
    char spark[TOP_HISTORY + 1];
    if (!s) {
        snprintf(out, size, "-");
        return;
    }
    top_series_sparkline(s, spark);
    snprintf(out, size, "%s %s", spark, top_trend_name(top_series_trend(s)));
}

static void rate_cell(const top_series *s, char *out, size_t size)
{
    double r = 0;
    bool known = s && top_series_rate(s, &r);
    top_format_rate(known, r, out, size);
}

static void row_cells(const top_group_view *g, size_t i, cells *c)
{
    const grp_row *r = &g->rows[i];
    c->topic = r->topic;
    snprintf(c->part, sizeof c->part, "%d", r->partition);
    num(r->committed, c->committed, sizeof c->committed);
    num(r->log_end, c->log_end, sizeof c->log_end);
    num(groups_row_lag(r), c->lag, sizeof c->lag);
    trend_cell(g->series[i], c->trend, sizeof c->trend);
    rate_cell(g->series[i], c->rate, sizeof c->rate);
    if (r->owner)
        snprintf(c->owner, sizeof c->owner, "%s %s", or_dash(r->owner->client_id), or_dash(r->owner->host));
    else
        snprintf(c->owner, sizeof c->owner, "-");
}

/* The total row: sums over the partitions whose numbers are known. */
static void total_cells(const top_group_view *g, cells *c)
{
    long long committed = 0, log_end = 0, lag = 0;
    size_t parts = 0;
    for (size_t i = 0; i < g->n_rows; i++) {
        const grp_row *r = &g->rows[i];
        if (!r->topic)
            continue;
        parts++;
        committed += r->committed > 0 ? r->committed : 0;
        log_end += r->log_end > 0 ? r->log_end : 0;
        lag += groups_row_lag(r) > 0 ? groups_row_lag(r) : 0;
    }
    c->topic = "TOTAL";
    snprintf(c->part, sizeof c->part, "%zu", parts);
    num(committed, c->committed, sizeof c->committed);
    num(log_end, c->log_end, sizeof c->log_end);
    num(lag, c->lag, sizeof c->lag);
    trend_cell(g->total, c->trend, sizeof c->trend);
    rate_cell(g->total, c->rate, sizeof c->rate);
    c->owner[0] = '\0';
}

typedef struct widths {
    size_t topic, part, committed, log_end, lag, owner;
} widths;

static void widen(widths *w, const cells *c)
{
    w->topic = max_size(w->topic, strlen(c->topic));
    w->part = max_size(w->part, strlen(c->part));
    w->committed = max_size(w->committed, strlen(c->committed));
    w->log_end = max_size(w->log_end, strlen(c->log_end));
    w->lag = max_size(w->lag, strlen(c->lag));
    w->owner = max_size(w->owner, strlen(c->owner));
}

/* Shares what the numeric columns leave between the topic and the owner. */
static void share_width(widths *w, size_t width)
{
    size_t fixed = w->part + w->committed + w->log_end + w->lag + TREND_COLUMN + RATE_COLUMN + 7;
    size_t room = width > fixed + 1 ? width - fixed - 1 : 0; /* topic + owner */
    if (w->topic + w->owner <= room)
        return;
    size_t owner_keep = w->owner < OWNER_MIN ? w->owner : OWNER_MIN;
    size_t topic_room = room > owner_keep ? room - owner_keep : 0;
    if (w->topic > topic_room)
        w->topic = topic_room > TOPIC_MIN ? topic_room : TOPIC_MIN;
    w->owner = room > w->topic ? room - w->topic : 0;
}

static void put_row(FILE *f, line *l, const widths *w, const cells *c, size_t width)
{
    put_col(l, c->topic, w->topic);
    put(l, " %*s %*s %*s %*s %-*s %*s ", (int)w->part, c->part, (int)w->committed, c->committed, (int)w->log_end,
        c->log_end, (int)w->lag, c->lag, TREND_COLUMN, c->trend, RATE_COLUMN, c->rate);
    put_col(l, c->owner, w->owner);
    emit(f, l, width);
}

static void render_table(FILE *f, const top_group_view *g, size_t width)
{
    static const cells head = {"PART", "COMMITTED", "LOG-END", "LAG", "LAG-TREND", "RATE/S", "OWNER", "TOPIC"};
    widths w = {0};
    cells c;
    widen(&w, &head);
    for (size_t i = 0; i < g->n_rows; i++)
        if (g->rows[i].topic) {
            row_cells(g, i, &c);
            widen(&w, &c);
        }
    total_cells(g, &c);
    widen(&w, &c);
    share_width(&w, width);
    line l = {.len = 0};
    put_row(f, &l, &w, &head, width);
    for (size_t i = 0; i < g->n_rows; i++)
        if (g->rows[i].topic) {
            row_cells(g, i, &c);
            put_row(f, &l, &w, &c, width);
        }
    total_cells(g, &c);
    put_row(f, &l, &w, &c, width);
}

static void render_members(FILE *f, const grp_desc *d, size_t width)
{
    size_t wc = 9, wh = 4; /* "CLIENT-ID", "HOST" */
    for (size_t i = 0; i < d->n_members; i++) {
        wc = max_size(wc, strlen(or_dash(d->members[i].client_id)));
        wh = max_size(wh, strlen(or_dash(d->members[i].host)));
    }
    wc = wc < NAME_MAX_COLUMN ? wc : NAME_MAX_COLUMN;
    wh = wh < NAME_MAX_COLUMN ? wh : NAME_MAX_COLUMN;
    line l = {.len = 0};
    for (size_t i = 0; i < d->n_members; i++) {
        const grp_member *m = &d->members[i];
        put(&l, "  member ");
        put_col(&l, or_dash(m->client_id), wc);
        put(&l, " ");
        put_col(&l, or_dash(m->host), wh);
        put(&l, " %zu partition%s", m->n_owned, m->n_owned == 1 ? "" : "s");
        if (m->assignment_error)
            put(&l, " (%s)", m->assignment_error);
        for (size_t j = 0; j < m->n_owned; j++) {
            bool same = j && !strcmp(m->owned[j].topic, m->owned[j - 1].topic);
            if (same)
                put(&l, ",%d", m->owned[j].partition);
            else
                put(&l, "%s %s [%d", j ? "]," : ":", m->owned[j].topic, m->owned[j].partition);
        }
        if (m->n_owned)
            put(&l, "]");
        emit(f, &l, width);
    }
}

void top_render_group(FILE *f, const top_group_view *g, size_t width)
{
    width = width < 40 ? 40 : width;
    line l = {.len = 0};
    if (g->error) {
        put(&l, "group %s: %s", g->id, g->error);
        emit(f, &l, width);
        return;
    }
    const grp_desc *d = g->desc;
    if (g->offsets_only)
        put(&l, "group %s  (no groups API on this broker: committed offsets only)", g->id);
    else
        put(&l, "group %s  state %s  %s %s  %zu member%s", g->id, or_dash(d->state),
            d->kip848 ? "consumer (KIP-848)" : "classic", or_dash(d->protocol), d->n_members,
            d->n_members == 1 ? "" : "s");
    emit(f, &l, width);
    render_members(f, d, width);
    render_table(f, g, width);
}

/* ------------------------------------------------------------ pipelines */

typedef struct pipe_cells {
    const char *name, *group;
    char n[6][24];
    char rate[16];
} pipe_cells;

static void pipe_row(const top_pipeline *p, pipe_cells *c)
{
    const double v[6] = {p->consumed, p->processed, p->failed, p->retried, p->dead_lettered, p->emitted};
    c->name = p->name;
    c->group = or_dash(p->group);
    for (size_t i = 0; i < 6; i++)
        snprintf(c->n[i], sizeof c->n[i], "%.0f", v[i]);
    rate_cell(p->series, c->rate, sizeof c->rate);
}

void top_render_pipelines(FILE *f, const top_endpoint *e, size_t width)
{
    static const pipe_cells head = {
        "PIPELINE", "GROUP", {"CONSUMED", "PROCESSED", "FAILED", "RETRIED", "DEAD-LETTERED", "EMITTED"}, "RATE/S"};
    width = width < 40 ? 40 : width;
    line l = {.len = 0};
    if (e->error) {
        put(&l, "gregor run at %s: %s", e->address, e->error);
        emit(f, &l, width);
        return;
    }
    put(&l, "gregor run at %s  %zu pipeline%s", e->address, e->n, e->n == 1 ? "" : "s");
    emit(f, &l, width);
    size_t wn = strlen(head.name), wg = strlen(head.group), wv[6];
    for (size_t i = 0; i < 6; i++)
        wv[i] = strlen(head.n[i]);
    pipe_cells c;
    for (size_t i = 0; i < e->n; i++) {
        pipe_row(&e->pipelines[i], &c);
        wn = max_size(wn, strlen(c.name));
        wg = max_size(wg, strlen(c.group));
        for (size_t k = 0; k < 6; k++)
            wv[k] = max_size(wv[k], strlen(c.n[k]));
    }
    /* The names share what the numbers leave, each down to TOPIC_MIN. */
    size_t fixed = RATE_COLUMN + 8;
    for (size_t k = 0; k < 6; k++)
        fixed += wv[k];
    size_t room = width > fixed ? width - fixed : 0;
    if (wn + wg > room) {
        size_t half = room / 2 > TOPIC_MIN ? room / 2 : TOPIC_MIN;
        wg = wg < half ? wg : half;
        wn = room > wg + TOPIC_MIN ? room - wg : TOPIC_MIN;
    }
    for (size_t i = 0; i <= e->n; i++) {
        if (i == 0)
            c = head;
        else
            pipe_row(&e->pipelines[i - 1], &c);
        put_col(&l, c.name, wn);
        put(&l, " ");
        put_col(&l, c.group, wg);
        for (size_t k = 0; k < 6; k++)
            put(&l, " %*s", (int)wv[k], c.n[k]);
        put(&l, " %*s", RATE_COLUMN, c.rate);
        emit(f, &l, width);
    }
}
