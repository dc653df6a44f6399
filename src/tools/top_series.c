/* tools/top_series.c — the arithmetic of `gregor top` (the lag's trend, the
 * consume rate, the sparkline) over the last TOP_HISTORY samples of a
 * partition, and the per-group state kept between refreshes (sorted
 * arrays, looked up by binary search: a refresh touches every partition
 * once, and clusters have thousands, not millions).
 *
 * Threading: the command's thread only.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "tools/top.h"

void top_series_clear(top_series *s)
{
    s->n = 0;
    s->head = 0;
}

const top_sample *top_series_at(const top_series *s, size_t i)
{
    assert(i < s->n && s->n <= TOP_HISTORY);
    return &s->s[(s->head + TOP_HISTORY - s->n + i) % TOP_HISTORY];
}

/* The newest sample with a committed offset, or NULL. */
static const top_sample *last_committed(const top_series *s)
{
    for (size_t i = s->n; i-- > 0;)
        if (top_series_at(s, i)->committed >= 0)
            return top_series_at(s, i);
    return NULL;
}

void top_series_push(top_series *s, int64_t t_ms, int64_t committed, int64_t log_end)
{
    assert(s->n == 0 || t_ms >= top_series_at(s, s->n - 1)->t_ms);
    const top_sample *prev = last_committed(s);
    if (prev && committed >= 0 && committed < prev->committed)
        top_series_clear(s);
    s->s[s->head] = (top_sample){t_ms, committed, log_end};
    s->head = (s->head + 1) % TOP_HISTORY;
    if (s->n < TOP_HISTORY)
        s->n++;
}

bool top_series_rate(const top_series *s, double *per_s)
{
    const top_sample *first = NULL;
    for (size_t i = 0; i < s->n && !first; i++)
        if (top_series_at(s, i)->committed >= 0)
            first = top_series_at(s, i);
    const top_sample *last = last_committed(s);
    if (!first || first == last || last->t_ms <= first->t_ms)
        return false;
    *per_s = (double)(last->committed - first->committed) * 1000.0 / (double)(last->t_ms - first->t_ms);
    return true;
}

static bool lag_of(const top_sample *x, int64_t *lag)
{
    if (x->committed < 0 || x->log_end < 0)
        return false;
    *lag = x->log_end - x->committed;
    return true;
}

top_trend top_series_trend(const top_series *s)
{
    int64_t first = 0, last = 0, lag;
    size_t known = 0;
    for (size_t i = 0; i < s->n; i++)
        if (lag_of(top_series_at(s, i), &lag)) {
            if (!known++)
                first = lag;
            last = lag;
        }
    if (known < 2)
        return TOP_TREND_UNKNOWN;
    int64_t big = first > last ? first : last;
    int64_t tolerance = big / 100 > 1 ? big / 100 : 1;
    if (last > first + tolerance)
        return TOP_TREND_RISING;
    if (last < first - tolerance)
        return TOP_TREND_FALLING;
    return TOP_TREND_STEADY;
}

const char *top_trend_name(top_trend t)
{
    switch (t) {
    case TOP_TREND_STEADY: return "steady";
    case TOP_TREND_RISING: return "rising";
    case TOP_TREND_FALLING: return "falling";
    case TOP_TREND_UNKNOWN: break;
    }
    return "-";
}

void top_series_sparkline(const top_series *s, char out[TOP_HISTORY + 1])
{
    static const char ramp[] = "_.:-=+*#";
    const int levels = (int)sizeof ramp - 1;
    int64_t lo = INT64_MAX, hi = INT64_MIN, lag;
    for (size_t i = 0; i < s->n; i++)
        if (lag_of(top_series_at(s, i), &lag)) {
            lo = lag < lo ? lag : lo;
            hi = lag > hi ? lag : hi;
        }
    size_t pad = TOP_HISTORY - s->n;
    memset(out, ' ', pad);
    for (size_t i = 0; i < s->n; i++) {
        char ch = '?';
        if (lag_of(top_series_at(s, i), &lag)) {
            /* In double: lags may span the whole int64 range. */
            ch = hi == lo ? ramp[0] : ramp[(int)((double)(lag - lo) / (double)(hi - lo) * (levels - 1) + 0.5)];
        }
        out[pad + i] = ch;
    }
    out[TOP_HISTORY] = '\0';
}

/* ------------------------------------------------ state between refreshes */

void top_state_init(top_state *st)
{
    memset(st, 0, sizeof *st);
}

static void group_fini(top_group_state *g)
{
    for (size_t i = 0; i < g->n_parts; i++)
        free(g->parts[i].topic);
    free(g->parts);
    free(g->id);
}

void top_state_fini(top_state *st)
{
    for (size_t i = 0; i < st->n_groups; i++)
        group_fini(&st->groups[i]);
    free(st->groups);
    memset(st, 0, sizeof *st);
}

void top_state_begin(top_state *st)
{
    st->refresh++;
}

void top_state_end(top_state *st)
{
    size_t k = 0;
    for (size_t i = 0; i < st->n_groups; i++) {
        top_group_state *g = &st->groups[i];
        if (g->seen != st->refresh) {
            group_fini(g);
            continue;
        }
        size_t kp = 0;
        for (size_t j = 0; j < g->n_parts; j++) {
            if (g->parts[j].seen == st->refresh)
                g->parts[kp++] = g->parts[j];
            else
                free(g->parts[j].topic);
        }
        g->n_parts = kp;
        st->groups[k++] = *g;
    }
    st->n_groups = k;
}

/* Where `key` is (*found) or would go in the sorted arr of n elements of
 * `size` bytes. */
static size_t lower_bound(const void *arr, size_t n, size_t size, int (*cmp)(const void *elem, const void *key),
                          const void *key, bool *found)
{
    size_t lo = 0, hi = n;
    *found = false;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = cmp((const char *)arr + mid * size, key);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* arr (n elements of `size` bytes, room for *cap) with a zeroed element
 * inserted at `at`: the same or a moved array, *n and *cap updated; NULL
 * when out of memory (arr untouched). */
static void *insert_at(void *arr, size_t *n, size_t *cap, size_t size, size_t at)
{
    if (*n == *cap) {
        size_t want = *cap ? *cap * 2 : 16;
        void *p = realloc(arr, want * size);
        if (!p)
            return NULL;
        arr = p;
        *cap = want;
    }
    char *base = arr;
    memmove(base + (at + 1) * size, base + at * size, (*n - at) * size);
    memset(base + at * size, 0, size);
    (*n)++;
    return arr;
}

static int cmp_group(const void *elem, const void *key)
{
    return strcmp(((const top_group_state *)elem)->id, key);
}

top_group_state *top_state_group(top_state *st, const char *id)
{
    bool found;
    size_t at = lower_bound(st->groups, st->n_groups, sizeof *st->groups, cmp_group, id, &found);
    if (!found) {
        char *copy = strdup(id);
        top_group_state *arr = copy ? insert_at(st->groups, &st->n_groups, &st->cap_groups, sizeof *arr, at) : NULL;
        if (!arr) {
            free(copy);
            return NULL;
        }
        st->groups = arr;
        st->groups[at].id = copy;
    }
    st->groups[at].seen = st->refresh;
    return &st->groups[at];
}

typedef struct part_key {
    const char *topic;
    int32_t partition;
} part_key;

static int cmp_part(const void *elem, const void *key)
{
    const top_part_state *p = elem;
    const part_key *k = key;
    int c = strcmp(p->topic, k->topic);
    return c ? c : (p->partition > k->partition) - (p->partition < k->partition);
}

top_series *top_group_part(top_state *st, top_group_state *g, const char *topic, int32_t partition)
{
    bool found;
    part_key key = {topic, partition};
    size_t at = lower_bound(g->parts, g->n_parts, sizeof *g->parts, cmp_part, &key, &found);
    if (!found) {
        char *copy = strdup(topic);
        top_part_state *arr = copy ? insert_at(g->parts, &g->n_parts, &g->cap_parts, sizeof *arr, at) : NULL;
        if (!arr) {
            free(copy);
            return NULL;
        }
        g->parts = arr;
        g->parts[at].topic = copy;
        g->parts[at].partition = partition;
    }
    g->parts[at].seen = st->refresh;
    return &g->parts[at].series;
}
