/* framework/swarm_merge.c — fw_metrics_merge() (swarm_merge.h): one pass
 * over each input, line by line; families and series go into arrays with
 * an open-addressing index on the series key (metric name + labels as
 * written), so a merge is linear in the inputs' size. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "framework/swarm_merge.h"

typedef struct family {
    char *name;
    char *help; /* the whole "# HELP ..." line, or NULL */
    char *type; /* the type word ("counter", ...), or NULL */
    size_t first_series; /* linked through series.next_in_family */
    size_t last_series;
    bool has_series;
} family;

typedef struct series {
    char *key;    /* name{labels} */
    size_t family;
    double value;
    size_t next_in_family;
} series;

typedef struct merger {
    family *fams;
    size_t n_fams, cap_fams;
    series *ser;
    size_t n_ser, cap_ser;
    size_t *index; /* series index + 1, 0 empty; cap_index a power of two */
    size_t cap_index;
    gregor_err err;
} merger;

static uint64_t hash(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)s[i]) * 1099511628211ULL;
    return h;
}

static bool grow(void **arr, size_t *cap, size_t size)
{
    size_t ncap = *cap ? *cap * 2 : 64;
    void *p = realloc(*arr, ncap * size);
    if (!p)
        return false;
    *arr = p;
    *cap = ncap;
    return true;
}

static char *dup(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

/* The family named `name` (name_len bytes), created when absent. */
static size_t family_of(merger *m, const char *name, size_t name_len)
{
    for (size_t i = m->n_fams; i-- > 0;)
        if (strlen(m->fams[i].name) == name_len && !memcmp(m->fams[i].name, name, name_len))
            return i;
    if (m->n_fams == m->cap_fams && !grow((void **)&m->fams, &m->cap_fams, sizeof *m->fams))
        goto out_nomem;
    family *f = &m->fams[m->n_fams];
    *f = (family){.name = dup(name, name_len)};
    if (!f->name)
        goto out_nomem;
    return m->n_fams++;
out_nomem:
    m->err = GREGOR_ERR_NOMEM;
    return SIZE_MAX;
}

/* The family a sample belongs to: its own name, or without the _bucket /
 * _sum / _count suffix when that names a histogram or summary seen before. */
static size_t family_of_sample(merger *m, const char *name, size_t len)
{
    static const char *const suffixes[] = {"_bucket", "_sum", "_count"};
    for (size_t s = 0; s < 3; s++) {
        size_t sl = strlen(suffixes[s]);
        if (len <= sl || memcmp(name + len - sl, suffixes[s], sl))
            continue;
        for (size_t i = m->n_fams; i-- > 0;)
            if (strlen(m->fams[i].name) == len - sl && !memcmp(m->fams[i].name, name, len - sl) &&
                m->fams[i].type && (!strcmp(m->fams[i].type, "histogram") || !strcmp(m->fams[i].type, "summary")))
                return i;
    }
    return family_of(m, name, len);
}

/* Gauges that do not add up over processes: a partition's (one owner at a
 * time; two only while it moves, then the newer state is the larger) and
 * ages (the oldest is the one to alert on). They merge as the maximum. */
static bool takes_max(const family *f)
{
    return f->type && !strcmp(f->type, "gauge") &&
           (!strncmp(f->name, "gregor_partition_", 17) || strstr(f->name, "_seconds_since_"));
}

static bool rehash(merger *m)
{
    size_t ncap = m->cap_index ? m->cap_index * 2 : 1024;
    size_t *idx = calloc(ncap, sizeof *idx);
    if (!idx)
        return false;
    for (size_t i = 0; i < m->n_ser; i++) {
        size_t h = (size_t)hash(m->ser[i].key, strlen(m->ser[i].key)) & (ncap - 1);
        while (idx[h])
            h = (h + 1) & (ncap - 1);
        idx[h] = i + 1;
    }
    free(m->index);
    m->index = idx;
    m->cap_index = ncap;
    return true;
}

static void add_sample(merger *m, const char *key, size_t key_len, size_t name_len, double v)
{
    if ((m->n_ser + 1) * 2 > m->cap_index && !rehash(m)) {
        m->err = GREGOR_ERR_NOMEM;
        return;
    }
    size_t h = (size_t)hash(key, key_len) & (m->cap_index - 1);
    for (; m->index[h]; h = (h + 1) & (m->cap_index - 1)) {
        series *s = &m->ser[m->index[h] - 1];
        if (strlen(s->key) == key_len && !memcmp(s->key, key, key_len)) {
            if (!takes_max(&m->fams[s->family]))
                s->value += v;
            else if (v > s->value)
                s->value = v;
            return;
        }
    }
    if (m->n_ser == FW_MERGE_SERIES_MAX) {
        m->err = GREGOR_ERR_TOO_LARGE;
        return;
    }
    size_t f = family_of_sample(m, key, name_len);
    if (f == SIZE_MAX)
        return;
    if (m->n_ser == m->cap_ser && !grow((void **)&m->ser, &m->cap_ser, sizeof *m->ser)) {
        m->err = GREGOR_ERR_NOMEM;
        return;
    }
    series *s = &m->ser[m->n_ser];
    *s = (series){.key = dup(key, key_len), .family = f, .value = v, .next_in_family = SIZE_MAX};
    if (!s->key) {
        m->err = GREGOR_ERR_NOMEM;
        return;
    }
    family *fam = &m->fams[f];
    if (fam->has_series)
        m->ser[fam->last_series].next_in_family = m->n_ser;
    else
        fam->first_series = m->n_ser;
    fam->last_series = m->n_ser;
    fam->has_series = true;
    m->index[h] = ++m->n_ser;
}

static bool kept(const family *f, bool counters_only)
{
    return !counters_only || (f->type && (!strcmp(f->type, "counter") || !strcmp(f->type, "histogram")));
}

/* The bytes before the first space of p[0..n) (the inputs are not NUL-terminated). */
static size_t span_to_space(const char *p, size_t n)
{
    const char *sp = memchr(p, ' ', n);
    return sp ? (size_t)(sp - p) : n;
}

/* "# HELP name text" / "# TYPE name type": remembered for the family. */
static void comment_line(merger *m, const char *line, size_t len)
{
    bool help = len > 7 && !memcmp(line, "# HELP ", 7), type = len > 7 && !memcmp(line, "# TYPE ", 7);
    if (!help && !type)
        return;
    const char *name = line + 7;
    size_t name_len = span_to_space(name, len - 7);
    size_t f = family_of(m, name, name_len);
    if (f == SIZE_MAX)
        return;
    family *fam = &m->fams[f];
    if (help && !fam->help && !(fam->help = dup(line, len)))
        m->err = GREGOR_ERR_NOMEM;
    if (type && !fam->type) {
        const char *t = name + name_len + (name_len < len - 7);
        if (!(fam->type = dup(t, (size_t)(line + len - t))))
            m->err = GREGOR_ERR_NOMEM;
    }
}

/* name[{labels}] value [timestamp]; label values may hold spaces, braces
 * and escaped quotes. */
static void sample_line(merger *m, const char *line, size_t len, bool counters_only)
{
    size_t name_len = 0;
    while (name_len < len && line[name_len] != '{' && line[name_len] != ' ')
        name_len++;
    size_t key_len = name_len;
    if (key_len < len && line[key_len] == '{') {
        bool quoted = false;
        for (key_len++; key_len < len; key_len++) {
            char c = line[key_len];
            if (quoted && c == '\\')
                key_len++;
            else if (c == '"')
                quoted = !quoted;
            else if (!quoted && c == '}')
                break;
        }
        if (key_len >= len)
            return;
        key_len++;
    }
    if (!name_len || key_len >= len || line[key_len] != ' ')
        return;
    char num[64];
    const char *v = line + key_len + 1;
    size_t vlen = span_to_space(v, (size_t)(line + len - v));
    if (!vlen || vlen >= sizeof num)
        return;
    memcpy(num, v, vlen);
    num[vlen] = '\0';
    char *end;
    double value = strtod(num, &end);
    if (*end)
        return;
    if (counters_only) {
        size_t f = family_of_sample(m, line, name_len);
        if (f == SIZE_MAX || !kept(&m->fams[f], true))
            return;
    }
    add_sample(m, line, key_len, name_len, value);
}

static void scan(merger *m, const char *text, size_t len, bool counters_only)
{
    size_t pos = 0;
    while (pos < len && !m->err) {
        const char *line = text + pos;
        const char *nl = memchr(line, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - line) : len - pos;
        pos += n + 1;
        if (n && line[n - 1] == '\r')
            n--;
        if (!n || n > FW_MERGE_LINE_MAX || memchr(line, '\0', n))
            continue; /* a NUL has no place in the format (and would cut the names kept as C strings) */
        if (line[0] == '#')
            comment_line(m, line, n);
        else
            sample_line(m, line, n, counters_only);
    }
}

static bool append(char **buf, size_t *len, size_t *cap, const char *s, size_t n)
{
    if (*len + n + 1 > *cap) {
        size_t ncap = *cap ? *cap : 4096;
        while (*len + n + 1 > ncap)
            ncap *= 2;
        char *p = realloc(*buf, ncap);
        if (!p)
            return false;
        *buf = p;
        *cap = ncap;
    }
    memcpy(*buf + *len, s, n);
    *len += n;
    (*buf)[*len] = '\0';
    return true;
}

static void format_value(double v, char *buf, size_t size)
{
    if (isnan(v))
        snprintf(buf, size, "NaN");
    else if (isinf(v))
        snprintf(buf, size, "%s", v > 0 ? "+Inf" : "-Inf");
    else
        snprintf(buf, size, "%.17g", v);
}

static gregor_err render(const merger *m, bool counters_only, char **out, size_t *out_len)
{
    char *buf = NULL;
    size_t len = 0, cap = 0;
    bool ok = append(&buf, &len, &cap, "", 0);
    for (size_t f = 0; ok && f < m->n_fams; f++) {
        const family *fam = &m->fams[f];
        if (!fam->has_series || !kept(fam, counters_only))
            continue;
        if (fam->help)
            ok = append(&buf, &len, &cap, fam->help, strlen(fam->help)) && append(&buf, &len, &cap, "\n", 1);
        if (ok && fam->type) {
            char line[FW_MERGE_LINE_MAX + 32];
            int n = snprintf(line, sizeof line, "# TYPE %s %s\n", fam->name, fam->type);
            ok = append(&buf, &len, &cap, line, (size_t)n);
        }
        for (size_t s = fam->first_series; ok && s != SIZE_MAX; s = m->ser[s].next_in_family) {
            char num[64];
            format_value(m->ser[s].value, num, sizeof num);
            ok = append(&buf, &len, &cap, m->ser[s].key, strlen(m->ser[s].key)) &&
                 append(&buf, &len, &cap, " ", 1) && append(&buf, &len, &cap, num, strlen(num)) &&
                 append(&buf, &len, &cap, "\n", 1);
        }
    }
    if (!ok) {
        free(buf);
        return GREGOR_ERR_NOMEM;
    }
    *out = buf;
    *out_len = len;
    return GREGOR_OK;
}

gregor_err fw_metrics_merge(const char *const *texts, const size_t *lens, size_t n, bool counters_only,
                            char **out, size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    merger m = {0};
    for (size_t i = 0; i < n && !m.err; i++)
        if (texts[i])
            scan(&m, texts[i], lens[i], counters_only);
    gregor_err err = m.err ? m.err : render(&m, counters_only, out, out_len);
    for (size_t i = 0; i < m.n_fams; i++) {
        free(m.fams[i].name);
        free(m.fams[i].help);
        free(m.fams[i].type);
    }
    for (size_t i = 0; i < m.n_ser; i++)
        free(m.ser[i].key);
    free(m.fams);
    free(m.ser);
    free(m.index);
    return err;
}
