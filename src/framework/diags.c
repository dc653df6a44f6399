/* framework/diags.c — the located error list of config.h (fw_diags): one
 * heap string "FILE:LINE:COL: text" per error, in the order found. A file
 * full of mistakes (or a fuzzer) cannot grow it without bound: past
 * FW_DIAGS_MAX errors one last line says how many more were not kept. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "framework/config_walk.h"

#define FW_DIAGS_MAX 100

void fw_diags_init(fw_diags *d)
{
    *d = (fw_diags){0};
}

bool fw_diags_full(const fw_diags *d)
{
    return d->n >= FW_DIAGS_MAX;
}

void fw_diags_fini(fw_diags *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->n; i++)
        free(d->msgs[i]);
    free(d->msgs);
    *d = (fw_diags){0};
}

static void push(fw_diags *d, char *msg)
{
    if (!msg)
        return;
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 8;
        char **m = realloc(d->msgs, cap * sizeof *m);
        if (!m) {
            free(msg);
            return;
        }
        d->msgs = m;
        d->cap = cap;
    }
    d->msgs[d->n++] = msg;
}

void fw_diags_add(fw_diags *d, const fw_loc *loc, const char *fmt, ...)
{
    if (!d || d->n > FW_DIAGS_MAX)
        return;
    if (d->n == FW_DIAGS_MAX) {
        /* One line stands for all the rest; later calls add nothing. */
        const char *file = loc && loc->file ? loc->file : "";
        char *msg = NULL;
        if (asprintf(&msg, "%s%smore than %d errors; the rest are not shown", file, *file ? ": " : "",
                     FW_DIAGS_MAX) < 0)
            msg = NULL;
        push(d, msg);
        return;
    }
    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    char *msg = NULL;
    int rc;
    if (loc && loc->file && loc->line > 0)
        rc = asprintf(&msg, "%s:%d:%d: %s", loc->file, loc->line, loc->col, text);
    else if (loc && loc->file)
        rc = asprintf(&msg, "%s: %s", loc->file, text);
    else
        rc = asprintf(&msg, "%s", text);
    push(d, rc < 0 ? NULL : msg);
}
