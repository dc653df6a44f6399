/* framework/yaml_tree.c — libyaml's document API (yaml_parser_load) into
 * the located tree of yaml_tree.h. libyaml does the YAML (syntax, flow and
 * block styles, anchors and aliases); this file turns its node table into
 * arena nodes, substitutes ${VAR} in each scalar once (aliases share the
 * node) and turns libyaml's 0-based marks into 1-based locations.
 *
 * Workload: a file of a few KiB, parsed once at start-up; YT_MAX_BYTES and
 * YT_MAX_DEPTH bound what hostile input can cost. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "framework/config_env.h"
#include "framework/yaml_tree.h"

typedef struct builder {
    const char *file;
    yaml_document_t *doc;
    arena *a;
    fw_diags *d;
    yt_node **memo;   /* libyaml node index - 1 -> converted node */
    gregor_err err;   /* first error: CONFIG or NOMEM (sticky) */
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

static bool is_null_text(const char *s)
{
    return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL");
}

static void scalar(builder *b, yaml_node_t *yn, yt_node *n)
{
    const char *raw = (const char *)yn->data.scalar.value;
    size_t len = yn->data.scalar.length;
    n->null = yn->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && len <= 4 && is_null_text(raw);
    if (memchr(raw, '\0', len)) {
        fw_diags_add(b->d, &n->loc, "a value may not contain a NUL character");
        fail(b, GREGOR_ERR_CONFIG);
    }
    size_t out_len;
    gregor_err err = fw_env_expand(raw, len, b->a, &n->loc, b->d, &n->text, &out_len);
    if (err != GREGOR_OK)
        fail(b, err);
    if (!n->text)
        n->text = "";
}

static yt_node *convert(builder *b, int index, int depth);

static void children(builder *b, yaml_node_t *yn, yt_node *n, int depth)
{
    size_t count = yn->type == YAML_SEQUENCE_NODE
                       ? (size_t)(yn->data.sequence.items.top - yn->data.sequence.items.start)
                       : 2 * (size_t)(yn->data.mapping.pairs.top - yn->data.mapping.pairs.start);
    if (depth >= YT_MAX_DEPTH) {
        fw_diags_add(b->d, &n->loc, "lists and maps nested more than %d deep", YT_MAX_DEPTH);
        fail(b, GREGOR_ERR_CONFIG);
        return;
    }
    if (count > 2 * YT_MAX_ITEMS || (yn->type == YAML_SEQUENCE_NODE && count > YT_MAX_ITEMS)) {
        fw_diags_add(b->d, &n->loc, "a list or map with more than %d entries", YT_MAX_ITEMS);
        fail(b, GREGOR_ERR_CONFIG);
        return;
    }
    if (!(n->kids = arena_calloc(b->a, count ? count : 1, sizeof *n->kids))) {
        fail(b, GREGOR_ERR_NOMEM);
        return;
    }
    for (size_t i = 0; i < count && b->err != GREGOR_ERR_NOMEM; i++) {
        int idx = yn->type == YAML_SEQUENCE_NODE ? yn->data.sequence.items.start[i]
                  : i % 2 == 0                   ? yn->data.mapping.pairs.start[i / 2].key
                                                 : yn->data.mapping.pairs.start[i / 2].value;
        yt_node *kid = convert(b, idx, depth + 1);
        if (!kid)
            return;
        n->kids[n->n++] = kid;
    }
}

/* The node for libyaml's node `index` (1-based), converted once: an alias
 * met again (even inside itself) gets the same node. */
static yt_node *convert(builder *b, int index, int depth)
{
    yaml_node_t *yn = yaml_document_get_node(b->doc, index);
    if (!yn) {
        fail(b, GREGOR_ERR_CONFIG);
        return NULL;
    }
    if (b->memo[index - 1])
        return b->memo[index - 1];
    yt_node *n = arena_alloc(b->a, sizeof *n);
    if (!n) {
        fail(b, GREGOR_ERR_NOMEM);
        return NULL;
    }
    b->memo[index - 1] = n;
    n->loc = loc_of(b, yn->start_mark);
    n->text = "";
    switch (yn->type) {
    case YAML_SCALAR_NODE:
        n->kind = YT_SCALAR;
        scalar(b, yn, n);
        break;
    case YAML_SEQUENCE_NODE:
    case YAML_MAPPING_NODE:
        n->kind = yn->type == YAML_SEQUENCE_NODE ? YT_SEQ : YT_MAP;
        children(b, yn, n, depth);
        break;
    default:
        n->kind = YT_SCALAR;
        n->null = true;
        break;
    }
    return n;
}

/* Counts the values under n as if every alias were copied out (memoized,
 * so linear in the tree), refusing cycles; false after reporting. The
 * depth bound only guards the recursion (convert() checked the nesting). */
static bool count_values(builder *b, yt_node *n, int depth)
{
    if (n->state == 2)
        return true;
    if (n->state == 1) {
        fw_diags_add(b->d, &n->loc, "an alias inside the node it names (a cycle)");
        fail(b, GREGOR_ERR_CONFIG);
        return false;
    }
    if (depth > YT_MAX_DEPTH) {
        fw_diags_add(b->d, &n->loc, "lists and maps nested more than %d deep (through aliases)", YT_MAX_DEPTH);
        fail(b, GREGOR_ERR_CONFIG);
        return false;
    }
    n->state = 1;
    n->values = 1;
    for (size_t i = 0; i < n->n; i++) {
        if (!count_values(b, n->kids[i], depth + 1))
            return false;
        n->values += n->kids[i]->values;
        if (n->values > YT_MAX_VALUES) {
            fw_diags_add(b->d, &n->loc, "more than %d values once aliases are copied out", YT_MAX_VALUES);
            fail(b, GREGOR_ERR_CONFIG);
            return false;
        }
    }
    n->state = 2;
    return true;
}

/* libyaml's error, located: a reader error (bad UTF-8, control bytes) has
 * only a byte offset, turned into line and column here. */
static void syntax_error(builder *b, const yaml_parser_t *p, const char *text, size_t len)
{
    const char *problem = p->problem ? p->problem : "cannot be parsed";
    if (p->error == YAML_MEMORY_ERROR) {
        fail(b, GREGOR_ERR_NOMEM);
        fw_diags_add(b->d, &(fw_loc){b->file, 0, 0}, "out of memory while parsing");
        return;
    }
    fail(b, GREGOR_ERR_CONFIG);
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

/* A second document after the first is refused: one file, one config. */
static void no_second_document(builder *b, yaml_parser_t *p, const char *text, size_t len)
{
    yaml_document_t next;
    if (!yaml_parser_load(p, &next)) {
        syntax_error(b, p, text, len);
        return;
    }
    yaml_node_t *root = yaml_document_get_root_node(&next);
    if (root) {
        fw_loc loc = loc_of(b, next.start_mark);
        fw_diags_add(b->d, &loc, "a second YAML document; a pipeline file holds one");
        fail(b, GREGOR_ERR_CONFIG);
    }
    yaml_document_delete(&next);
}

gregor_err yt_parse(const char *file, const char *text, size_t len, arena *a, fw_diags *d, yt_node **root)
{
    builder b = {.file = file, .a = a, .d = d, .err = GREGOR_OK};
    *root = NULL;
    if (len > YT_MAX_BYTES) {
        fw_diags_add(d, &(fw_loc){file, 0, 0}, "%zu bytes is larger than a pipeline file may be (%zu)", len,
                     YT_MAX_BYTES);
        return GREGOR_ERR_CONFIG;
    }
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p))
        return GREGOR_ERR_NOMEM;
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    yaml_document_t doc;
    if (!yaml_parser_load(&p, &doc)) {
        syntax_error(&b, &p, text, len);
        yaml_parser_delete(&p);
        return b.err;
    }
    b.doc = &doc;
    size_t n_nodes = (size_t)(doc.nodes.top - doc.nodes.start);
    b.memo = calloc(n_nodes ? n_nodes : 1, sizeof *b.memo);
    if (!b.memo) {
        fail(&b, GREGOR_ERR_NOMEM);
    } else if (!yaml_document_get_root_node(&doc)) {
        fw_diags_add(d, &(fw_loc){file, 1, 1}, "the file is empty: expected a map with 'pipelines'");
        fail(&b, GREGOR_ERR_CONFIG);
    } else {
        *root = convert(&b, 1, 0);
        if (*root && b.err == GREGOR_OK && !count_values(&b, *root, 0))
            *root = NULL;
        no_second_document(&b, &p, text, len);
    }
    free(b.memo);
    yaml_document_delete(&doc);
    yaml_parser_delete(&p);
    if (b.err == GREGOR_ERR_NOMEM)
        *root = NULL;
    return b.err;
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
