/* tools/prom_text.c — the Prometheus text format reader of prom_text.h:
 * a line at a time, a cursor over it, every field checked against its
 * limit before it is copied.
 *
 * Threading: the reader's thread.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/prom_text.h"

void prom_reader_init(prom_reader *r, const char *text, size_t len)
{
    memset(r, 0, sizeof *r);
    r->text = text;
    r->len = len;
}

__attribute__((format(printf, 2, 3))) static bool fail(prom_reader *r, const char *fmt, ...)
{
    char what[120];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    snprintf(r->err, sizeof r->err, "line %zu: %s", r->line, what);
    return false;
}

/* One line: p..end, without its newline. */
typedef struct cursor {
    const char *p, *end;
} cursor;

static bool name_start(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
}

static bool name_char(char c)
{
    return name_start(c) || (c >= '0' && c <= '9');
}

static void skip_blanks(cursor *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\r'))
        c->p++;
}

/* A metric or label name into out (room for PROM_NAME_MAX + 1). */
static bool read_name(prom_reader *r, cursor *c, char *out, const char *what)
{
    const char *start = c->p;
    if (c->p == c->end || !name_start(*c->p))
        return fail(r, "%s expected", what);
    while (c->p < c->end && name_char(*c->p))
        c->p++;
    size_t n = (size_t)(c->p - start);
    if (n > PROM_NAME_MAX)
        return fail(r, "%s longer than %d bytes", what, PROM_NAME_MAX);
    memcpy(out, start, n);
    out[n] = '\0';
    return true;
}

/* A quoted label value with the escapes \\ \" \n into out. */
static bool read_value(prom_reader *r, cursor *c, char *out)
{
    if (c->p == c->end || *c->p != '"')
        return fail(r, "'\"' expected before a label value");
    c->p++;
    size_t n = 0;
    for (;;) {
        if (c->p == c->end)
            return fail(r, "label value not closed");
        char ch = *c->p++;
        if (ch == '"')
            break;
        if (ch == '\\') {
            if (c->p == c->end)
                return fail(r, "label value not closed");
            ch = *c->p++;
            if (ch == 'n')
                ch = '\n';
            else if (ch != '\\' && ch != '"')
                return fail(r, "unknown escape '\\%c' in a label value", ch);
        }
        if (n == PROM_VALUE_MAX)
            return fail(r, "label value longer than %d bytes", PROM_VALUE_MAX);
        out[n++] = ch;
    }
    out[n] = '\0';
    return true;
}

static bool read_labels(prom_reader *r, cursor *c, prom_sample *s)
{
    c->p++; /* '{' */
    for (;;) {
        skip_blanks(c);
        if (c->p < c->end && *c->p == '}') {
            c->p++;
            return true;
        }
        if (s->n_labels == PROM_LABELS_MAX)
            return fail(r, "more than %d labels", PROM_LABELS_MAX);
        prom_label *l = &s->labels[s->n_labels];
        if (!read_name(r, c, l->name, "label name"))
            return false;
        skip_blanks(c);
        if (c->p == c->end || *c->p != '=')
            return fail(r, "'=' expected after label '%s'", l->name);
        c->p++;
        skip_blanks(c);
        if (!read_value(r, c, l->value))
            return false;
        s->n_labels++;
        skip_blanks(c);
        if (c->p < c->end && *c->p == ',')
            c->p++;
        else if (c->p == c->end || *c->p != '}')
            return fail(r, "',' or '}' expected after label '%s'", l->name);
    }
}

/* The sample's value (a Go float: digits, exponents, NaN, +Inf, -Inf);
 * an optional timestamp after it is ignored. */
static bool read_number(prom_reader *r, cursor *c, double *out)
{
    char buf[64];
    const char *start = c->p;
    while (c->p < c->end && *c->p != ' ' && *c->p != '\t' && *c->p != '\r')
        c->p++;
    size_t n = (size_t)(c->p - start);
    if (n == 0)
        return fail(r, "value expected");
    if (n >= sizeof buf)
        return fail(r, "value longer than %zu bytes", sizeof buf - 1);
    memcpy(buf, start, n);
    buf[n] = '\0';
    if (!strcmp(buf, "NaN"))
        *out = NAN;
    else if (!strcmp(buf, "+Inf"))
        *out = INFINITY;
    else if (!strcmp(buf, "-Inf"))
        *out = -INFINITY;
    else {
        char *endp;
        errno = 0;
        *out = strtod(buf, &endp);
        /* strtod also takes "inf", "nan" and hex: the format has none of them. */
        if (*endp || errno == ERANGE || strpbrk(buf, "iInNxX"))
            return fail(r, "'%s' is not a number", buf);
    }
    return true;
}

static bool read_sample(prom_reader *r, cursor *c, prom_sample *s)
{
    memset(s, 0, sizeof *s);
    if (!read_name(r, c, s->name, "metric name"))
        return false;
    skip_blanks(c);
    if (c->p < c->end && *c->p == '{' && !read_labels(r, c, s))
        return false;
    skip_blanks(c);
    if (!read_number(r, c, &s->value))
        return false;
    skip_blanks(c);
    if (c->p < c->end) {
        double ts;
        if (!read_number(r, c, &ts))
            return false;
        skip_blanks(c);
        if (c->p < c->end)
            return fail(r, "unexpected text after the value");
    }
    return true;
}

bool prom_next(prom_reader *r, prom_sample *out)
{
    while (!r->err[0] && r->pos < r->len) {
        const char *line = r->text + r->pos;
        const char *nl = memchr(line, '\n', r->len - r->pos);
        cursor c = {line, nl ? nl : r->text + r->len};
        r->pos = nl ? (size_t)(nl - r->text) + 1 : r->len;
        r->line++;
        skip_blanks(&c);
        if (c.p == c.end || *c.p == '#')
            continue;
        return read_sample(r, &c, out);
    }
    return false;
}

const char *prom_label_value(const prom_sample *s, const char *name)
{
    for (size_t i = 0; i < s->n_labels; i++)
        if (!strcmp(s->labels[i].name, name))
            return s->labels[i].value;
    return NULL;
}
