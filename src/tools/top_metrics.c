/* tools/top_metrics.c — the pipelines of a `gregor run --metrics-port`
 * endpoint as `gregor top --metrics` shows them: the pipeline counters of
 * the /metrics text (docs/METRICS.md names them), summed per pipeline.
 *
 * Data layout: a sorted array of pipelines, found by binary search per
 * sample; an endpoint serves a handful of pipelines.
 *
 * Threading: the command's thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/top.h"

#define PREFIX "gregor_pipeline_"
#define SUFFIX "_total"

/* The counter a sample adds to, or NULL for samples gregor top ignores. */
static double *counter_of(top_pipeline *p, const char *name)
{
    static const struct {
        const char *name;
        size_t offset;
    } counters[] = {
        {"consumed", offsetof(top_pipeline, consumed)}, {"processed", offsetof(top_pipeline, processed)},
        {"failed", offsetof(top_pipeline, failed)},     {"retried", offsetof(top_pipeline, retried)},
        {"dead_lettered", offsetof(top_pipeline, dead_lettered)},
        {"emitted", offsetof(top_pipeline, emitted)},
    };
    size_t n = strlen(name);
    if (strncmp(name, PREFIX, strlen(PREFIX)) || n < strlen(PREFIX) + strlen(SUFFIX) ||
        strcmp(name + n - strlen(SUFFIX), SUFFIX))
        return NULL;
    const char *base = name + strlen(PREFIX);
    size_t base_len = n - strlen(PREFIX) - strlen(SUFFIX);
    for (size_t i = 0; i < sizeof counters / sizeof counters[0]; i++)
        if (strlen(counters[i].name) == base_len && !strncmp(base, counters[i].name, base_len))
            return (double *)((char *)p + counters[i].offset);
    return NULL;
}

/* The pipeline named `name` in the sorted array, added when new; NULL
 * when out of memory or past TOP_PIPELINES_MAX (errstr says which). */
static top_pipeline *pipeline_of(top_pipeline **arr, size_t *n, const char *name, const char *group,
                                 char *errstr, size_t errstr_size)
{
    size_t lo = 0, hi = *n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp((*arr)[mid].name, name);
        if (c == 0)
            return &(*arr)[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (*n == TOP_PIPELINES_MAX) {
        snprintf(errstr, errstr_size, "more than %d pipelines", TOP_PIPELINES_MAX);
        return NULL;
    }
    top_pipeline *grown = realloc(*arr, (*n + 1) * sizeof *grown);
    char *name_copy = strdup(name), *group_copy = strdup(group ? group : "");
    if (grown)
        *arr = grown;
    if (!grown || !name_copy || !group_copy) {
        free(name_copy);
        free(group_copy);
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    memmove(&grown[lo + 1], &grown[lo], (*n - lo) * sizeof *grown);
    grown[lo] = (top_pipeline){.name = name_copy, .group = group_copy};
    (*n)++;
    return &grown[lo];
}

bool top_pipelines_read(const char *text, size_t len, top_pipeline **out, size_t *n, char *errstr,
                        size_t errstr_size)
{
    prom_reader r;
    prom_sample *s = malloc(sizeof *s); /* 9 KiB: not on the stack */
    top_pipeline *arr = NULL;
    size_t count = 0;
    bool ok = s != NULL;
    if (!s)
        snprintf(errstr, errstr_size, "out of memory");
    prom_reader_init(&r, text, len);
    while (ok && prom_next(&r, s)) {
        top_pipeline probe = {0};
        if (!counter_of(&probe, s->name))
            continue;
        const char *name = prom_label_value(s, "pipeline");
        if (!name) {
            snprintf(errstr, errstr_size, "line %zu: %s without a pipeline label", r.line, s->name);
            ok = false;
            break;
        }
        top_pipeline *p = pipeline_of(&arr, &count, name, prom_label_value(s, "group"), errstr, errstr_size);
        if (!p)
            ok = false;
        else
            *counter_of(p, s->name) += s->value;
    }
    if (ok && r.err[0]) {
        snprintf(errstr, errstr_size, "%s", r.err);
        ok = false;
    }
    free(s);
    if (!ok) {
        top_pipelines_free(arr, count);
        return false;
    }
    *out = arr;
    *n = count;
    return true;
}

void top_pipelines_free(top_pipeline *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(p[i].name);
        free(p[i].group);
    }
    free(p);
}
