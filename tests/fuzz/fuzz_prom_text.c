/* Fuzz target: the Prometheus text reader of `gregor top --metrics`
 * (tools/prom_text.c) and the pipelines read through it
 * (tools/top_metrics.c), fed any bytes as the answer of a /metrics
 * endpoint.
 *
 * Input: the whole input is the text (NULs included).
 *
 * Checked: the reader ends either at the end of the text with no error or
 * with an error "line N: ..." (N >= 1) that stays (sticky); every sample
 * has a metric name of the format's characters within PROM_NAME_MAX, at
 * most PROM_LABELS_MAX labels, values within PROM_VALUE_MAX; and
 * top_pipelines_read() succeeds exactly when the reader reached the end
 * without an error and every pipeline counter had a pipeline label (and
 * there were not too many pipelines), with the names sorted and unique.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tools/prom_text.h"
#include "tools/top.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > PROM_NAME_MAX || (s[0] >= '0' && s[0] <= '9'))
        return false;
    return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_:") == n;
}

static bool pipeline_counter(const char *name)
{
    static const char *const names[] = {"consumed", "processed", "failed", "retried", "dead_lettered", "emitted"};
    char full[PROM_NAME_MAX + 1];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(full, sizeof full, "gregor_pipeline_%s_total", names[i]);
        if (!strcmp(name, full))
            return true;
    }
    return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    prom_reader r;
    prom_sample *s = malloc(sizeof *s);
    if (!s)
        return 0;
    prom_reader_init(&r, text, size);
    bool unlabelled = false;
    while (prom_next(&r, s)) {
        if (!name_ok(s->name) || s->n_labels > PROM_LABELS_MAX)
            abort();
        for (size_t i = 0; i < s->n_labels; i++)
            if (!name_ok(s->labels[i].name) || strlen(s->labels[i].value) > PROM_VALUE_MAX)
                abort();
        unlabelled |= pipeline_counter(s->name) && !prom_label_value(s, "pipeline");
    }
    if (r.err[0] && (strncmp(r.err, "line ", 5) || r.line < 1))
        abort();
    if (prom_next(&r, s))
        abort(); /* ended, or the error is sticky */
    free(s);

    top_pipeline *p = NULL;
    size_t n = 0;
    char err[200];
    bool ok = top_pipelines_read(text, size, &p, &n, err, sizeof err);
    if (ok && (r.err[0] || unlabelled))
        abort();
    if (!ok && !r.err[0] && !unlabelled && !strstr(err, "pipelines") && !strstr(err, "memory"))
        abort();
    for (size_t i = 1; ok && i < n; i++)
        if (strcmp(p[i - 1].name, p[i].name) >= 0)
            abort();
    if (ok)
        top_pipelines_free(p, n);
    return 0;
}
