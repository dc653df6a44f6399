/* framework/yaml_tree.c — libyaml's event API (yaml_parser_parse) into the
 * located tree of yaml_tree.h. libyaml does the YAML (syntax, flow and
 * block styles); this file builds arena nodes from the events with a
 * stack of open collections, keeps anchors for aliases, substitutes ${VAR}
 * in each scalar (once: aliases share the node) and turns libyaml's
 * 0-based marks into 1-based locations.
 *
 * Events rather than libyaml's document loader so that the limits stop the
 * parse where they are crossed: libyaml's scanner is quadratic in the
 * nesting depth of what it has read, so a megabyte of '[' must be refused
 * at the 65th, not parsed to the end first.
 *
 * Workload: a file of a few KiB, parsed once at start-up; YT_MAX_BYTES,
 * YT_MAX_DEPTH, YT_MAX_ITEMS, YT_MAX_ANCHORS and YT_MAX_VALUES bound what
 * hostile input can cost. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "framework/config_env.h"
#include "framework/yaml_tree.h"

/* Anchors defined in one file; an alias looks them up linearly. */
#define YT_MAX_ANCHORS 1024

typedef struct frame {
    yt_node *node;  /* the open list or map */
    yt_node **kids; /* its entries so far (malloc'd; moved to the arena when it closes) */
    size_t cap;
} frame;

typedef struct anchor {
    const char *name;
    yt_node *node;
} anchor;

typedef struct builder {
    const char *file;
    arena *a;
    fw_diags *d;
    frame stack[YT_MAX_DEPTH];
    int depth;
    anchor anchors[YT_MAX_ANCHORS];
    size_t n_anchors;
    yt_node *root;
    int documents;
    gregor_err err; /* first error: CONFIG or NOMEM (sticky) */
    bool stop;      /* nothing more to read */
    bool broken;    /* the tree is unfinished: not to be walked */
} builder;

static fw_loc loc_of(const builder *b, yaml_mark_t m)
{
    return (fw_loc){b->file, (int)(m.line > 1000000000 ? 1000000000 : m.line + 1),
                    (int)(m.column > 1000000000 ? 1000000000 : m.column + 1)};
}

static void fail(builder *b, gregor_err err)
{
    if (b->err != GREGOR_ERR_NOMEM)
        b->err = err;
}

/* An error after which the tree cannot be finished. */
static void fatal(builder *b, const fw_loc *loc, const char *what)
{
    fw_diags_add(b->d, loc, "%s", what);
    fail(b, GREGOR_ERR_CONFIG);
    b->stop = b->broken = true;
}

static void oom(builder *b)
{
    fail(b, GREGOR_ERR_NOMEM);
    b->stop = b->broken = true;
}

/* Puts a finished (or, for a collection, just opened) node where it goes:
 * the root, or the next entry of the innermost open collection. */
static void place(builder *b, yt_node *n)
{
    if (b->depth == 0) {
        if (!b->root)
            b->root = n;
        return;
    }
    frame *f = &b->stack[b->depth - 1];
    size_t max = f->node->kind == YT_MAP ? 2 * YT_MAX_ITEMS : YT_MAX_ITEMS;
    if (f->node->n == max) {
        char what[80];
        snprintf(what, sizeof what, "a list or map with more than %d entries", YT_MAX_ITEMS);
        fatal(b, &f->node->loc, what);
        return;
    }
    if (f->node->n == f->cap) {
        size_t cap = f->cap ? 2 * f->cap : 8;
        yt_node **k = realloc(f->kids, cap * sizeof *k);
        if (!k) {
            oom(b);
            return;
        }
        f->kids = k;
        f->cap = cap;
    }
    f->kids[f->node->n++] = n;
}

static yt_node *new_node(builder *b, yt_kind kind, yaml_mark_t mark, const yaml_char_t *anchor_name)
{
    yt_node *n = arena_alloc(b->a, sizeof *n);
    if (!n) {
        oom(b);
        return NULL;
    }
    n->kind = kind;
    n->loc = loc_of(b, mark);
    n->text = "";
    n->values = 1;
    if (anchor_name) {
        if (b->n_anchors == YT_MAX_ANCHORS) {
            char what[80];
            snprintf(what, sizeof what, "more than %d anchors", YT_MAX_ANCHORS);
            fatal(b, &n->loc, what);
            return NULL;
        }
        const char *name = arena_strndup(b->a, anchor_name, strlen((const char *)anchor_name));
        if (!name) {
            oom(b);
            return NULL;
        }
        b->anchors[b->n_anchors++] = (anchor){name, n};
    }
    return n;
}

static bool is_null_text(const char *s)
{
    return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL");
}

static void on_scalar(builder *b, const yaml_event_t *ev)
{
    yt_node *n = new_node(b, YT_SCALAR, ev->start_mark, ev->data.scalar.anchor);
    if (!n)
        return;
    const char *raw = (const char *)ev->data.scalar.value;
    size_t len = ev->data.scalar.length;
    n->null = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && len <= 4 && is_null_text(raw);
    if (memchr(raw, '\0', len)) {
        fw_diags_add(b->d, &n->loc, "a value may not contain a NUL character");
        fail(b, GREGOR_ERR_CONFIG);
    }
    size_t out_len;
    gregor_err err = fw_env_expand(raw, len, b->a, &n->loc, b->d, &n->text, &out_len);
    if (err == GREGOR_ERR_NOMEM)
        oom(b);
    else if (err != GREGOR_OK)
        fail(b, err);
    if (!n->text)
        n->text = "";
    place(b, n);
}

static void on_start(builder *b, const yaml_event_t *ev)
{
    bool seq = ev->type == YAML_SEQUENCE_START_EVENT;
    if (b->depth == YT_MAX_DEPTH) {
        char what[80];
        snprintf(what, sizeof what, "lists and maps nested more than %d deep", YT_MAX_DEPTH);
        fw_loc loc = loc_of(b, ev->start_mark);
        fatal(b, &loc, what);
        return;
    }
    yt_node *n = new_node(b, seq ? YT_SEQ : YT_MAP, ev->start_mark,
                          seq ? ev->data.sequence_start.anchor : ev->data.mapping_start.anchor);
    if (!n)
        return;
    place(b, n);
    b->stack[b->depth++] = (frame){.node = n};
}

/* Closes the innermost collection: its entries move to the arena, and its
 * value count (aliases counted out) is checked. */
static void on_end(builder *b)
{
    frame *f = &b->stack[--b->depth];
    yt_node *n = f->node;
    n->kids = arena_calloc(b->a, n->n ? n->n : 1, sizeof *n->kids);
    if (!n->kids) {
        n->n = 0;
        free(f->kids);
        oom(b);
        return;
    }
    if (n->n)
        memcpy(n->kids, f->kids, n->n * sizeof *n->kids);
    free(f->kids);
    for (size_t i = 0; i < n->n && n->values <= YT_MAX_VALUES; i++)
        n->values += n->kids[i]->values;
    n->closed = true;
    if (n->values > YT_MAX_VALUES) {
        char what[80];
        snprintf(what, sizeof what, "more than %d values once aliases are copied out", YT_MAX_VALUES);
        fatal(b, &n->loc, what);
    }
}

static void on_alias(builder *b, const yaml_event_t *ev)
{
    const char *name = (const char *)ev->data.alias.anchor;
    fw_loc loc = loc_of(b, ev->start_mark);
    for (size_t i = b->n_anchors; i-- > 0;) {
        if (strcmp(b->anchors[i].name, name))
            continue;
        yt_node *n = b->anchors[i].node;
        if (n->kind != YT_SCALAR && !n->closed) {
            fatal(b, &loc, "an alias inside the node it names (a cycle)");
            return;
        }
        place(b, n);
        return;
    }
    char what[300];
    snprintf(what, sizeof what, "alias '*%.200s' names no anchor defined before it", name);
    fatal(b, &loc, what);
}

/* libyaml's error, located: a reader error (bad UTF-8, control bytes) has
 * only a byte offset, turned into line and column here. */
static void syntax_error(builder *b, const yaml_parser_t *p, const char *text, size_t len)
{
    b->stop = b->broken = true;
    if (p->error == YAML_MEMORY_ERROR) {
        oom(b);
        return;
    }
    fail(b, GREGOR_ERR_CONFIG);
    const char *problem = p->problem ? p->problem : "cannot be parsed";
    if (p->error == YAML_READER_ERROR) {
        fw_loc loc = {b->file, 1, 1};
        for (size_t i = 0; i < p->problem_offset && i < len; i++) {
            if (text[i] == '\n')
                loc.line++, loc.col = 1;
            else if (((unsigned char)text[i] & 0xc0) != 0x80)
                loc.col++;
        }
        if (p->problem_value >= 0)
            fw_diags_add(b->d, &loc, "%s (byte 0x%02x)", problem, p->problem_value & 0xff);
        else
            fw_diags_add(b->d, &loc, "%s", problem);
        return;
    }
    fw_loc loc = loc_of(b, p->problem_mark);
    if (p->context) {
        fw_loc ctx = loc_of(b, p->context_mark);
        fw_diags_add(b->d, &loc, "%s (%s at %d:%d)", problem, p->context, ctx.line, ctx.col);
    } else {
        fw_diags_add(b->d, &loc, "%s", problem);
    }
}

static void on_event(builder *b, const yaml_event_t *ev)
{
    switch (ev->type) {
    case YAML_DOCUMENT_START_EVENT:
        if (++b->documents == 2) {
            fw_loc loc = loc_of(b, ev->start_mark);
            fatal(b, &loc, "a second YAML document; a pipeline file holds one");
        }
        break;
    case YAML_SCALAR_EVENT:
        on_scalar(b, ev);
        break;
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT:
        on_start(b, ev);
        break;
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        on_end(b);
        break;
    case YAML_ALIAS_EVENT:
        on_alias(b, ev);
        break;
    case YAML_STREAM_END_EVENT:
        b->stop = true;
        break;
    default:
        break;
    }
}

gregor_err yt_parse(const char *file, const char *text, size_t len, arena *a, fw_diags *d, yt_node **root)
{
    *root = NULL;
    if (len > YT_MAX_BYTES) {
        fw_diags_add(d, &(fw_loc){file, 0, 0}, "%zu bytes is larger than a pipeline file may be (%zu)", len,
                     YT_MAX_BYTES);
        return GREGOR_ERR_CONFIG;
    }
    builder *b = calloc(1, sizeof *b);
    if (!b)
        return GREGOR_ERR_NOMEM;
    *b = (builder){.file = file, .a = a, .d = d, .err = GREGOR_OK};
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p)) {
        free(b);
        return GREGOR_ERR_NOMEM;
    }
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    while (!b->stop) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&p, &ev)) {
            syntax_error(b, &p, text, len);
            break;
        }
        on_event(b, &ev);
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&p);
    while (b->depth > 0) /* what an error left open */
        free(b->stack[--b->depth].kids);
    gregor_err err = b->err;
    if (err == GREGOR_OK && !b->root) {
        fw_diags_add(d, &(fw_loc){file, 1, 1}, "the file is empty: expected a map with 'pipelines'");
        err = GREGOR_ERR_CONFIG;
    }
    if (err == GREGOR_ERR_NOMEM)
        fw_diags_add(d, &(fw_loc){file, 0, 0}, "out of memory while parsing");
    /* Only ${VAR} and NUL errors leave a tree worth walking for more. */
    if (!b->broken)
        *root = b->root;
    free(b);
    return err;
}

const yt_node *yt_get(const yt_node *m, const char *key)
{
    if (!m || m->kind != YT_MAP)
        return NULL;
    for (size_t i = 0; i + 1 < m->n; i += 2)
        if (m->kids[i]->kind == YT_SCALAR && !strcmp(m->kids[i]->text, key))
            return m->kids[i + 1];
    return NULL;
}

const char *yt_describe(const yt_node *n, char *buf, size_t size)
{
    if (!n || (n->kind == YT_SCALAR && n->null))
        snprintf(buf, size, "an empty value");
    else if (n->kind == YT_MAP)
        snprintf(buf, size, "a map");
    else if (n->kind == YT_SEQ)
        snprintf(buf, size, "a list");
    else if (strlen(n->text) > 60)
        snprintf(buf, size, "'%.57s...'", n->text);
    else
        snprintf(buf, size, "'%s'", n->text);
    return buf;
}
