/* tools/prom_text.h — a reader of the Prometheus text exposition format
 * 0.0.4 (what `gregor run --metrics-port` serves on /metrics), for
 * `gregor top --metrics`: one sample at a time, its name, labels and value.
 * Comments (# HELP, # TYPE) and empty lines are skipped.
 *
 * Limits: a name or label name of at most PROM_NAME_MAX bytes, a label
 * value of at most PROM_VALUE_MAX bytes (after its escapes), at most
 * PROM_LABELS_MAX labels per sample; past them, or on anything that is
 * not the format, the reader stops with an error naming the line and what
 * is wrong (sticky: every later call returns it again).
 *
 * Threading: a reader is used by one thread; it borrows the text.
 */
#ifndef GREGOR_TOOLS_PROM_TEXT_H
#define GREGOR_TOOLS_PROM_TEXT_H

#include <stdbool.h>
#include <stddef.h>

#define PROM_NAME_MAX 128
#define PROM_VALUE_MAX 512
#define PROM_LABELS_MAX 16

typedef struct prom_label {
    char name[PROM_NAME_MAX + 1];
    char value[PROM_VALUE_MAX + 1];
} prom_label;

typedef struct prom_sample {
    char name[PROM_NAME_MAX + 1];
    prom_label labels[PROM_LABELS_MAX];
    size_t n_labels;
    double value; /* NaN, +Inf and -Inf as the text says */
} prom_sample;

typedef struct prom_reader {
    const char *text; /* borrowed */
    size_t len, pos;
    size_t line; /* of the last line read, from 1 */
    char err[160];   /* sticky; "" while none */
} prom_reader;

void prom_reader_init(prom_reader *r, const char *text, size_t len);

/* The next sample into *out: true; false at the end of the text or on an
 * error (then r->err says "line N: ..."). */
bool prom_next(prom_reader *r, prom_sample *out);

/* The value of label `name` of s, or NULL. */
const char *prom_label_value(const prom_sample *s, const char *name);

#endif
