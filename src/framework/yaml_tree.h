/* framework/yaml_tree.h — a YAML document as a small tree of located
 * nodes: what the schema walk (config.c) reads instead of libyaml's types.
 *
 * Scalars carry their text after ${VAR} substitution (config_env.h); maps
 * keep their pairs in file order (duplicate keys are kept: the walk reports
 * them). An alias is the node its anchor names (shared, not copied): the
 * tree is a DAG; an alias inside the node it names (a cycle) is an error.
 *
 * Memory: every node and string is in the arena passed to yt_parse().
 * Threading: one thread at a time per arena.
 */
#ifndef GREGOR_FRAMEWORK_YAML_TREE_H
#define GREGOR_FRAMEWORK_YAML_TREE_H

#include <stdbool.h>
#include <stddef.h>

#include "framework/config.h"
#include "util/arena.h"

/* Input larger than this is refused before parsing. */
#define YT_MAX_BYTES ((size_t)1 << 20)
/* Collections nested deeper than this are an error. */
#define YT_MAX_DEPTH 64
/* A list or map with more entries than this is an error. */
#define YT_MAX_ITEMS 1024
/* Values the tree would have with every alias copied out (the "billion
 * laughs" bound): past it the file is refused, so that no walk of the tree
 * costs more than a file without aliases could. */
#define YT_MAX_VALUES 100000

typedef enum yt_kind { YT_SCALAR, YT_MAP, YT_SEQ } yt_kind;

typedef struct yt_node yt_node;
struct yt_node {
    yt_kind kind;
    fw_loc loc;       /* where the node starts (1-based) */
    const char *text; /* YT_SCALAR: NUL-terminated, after ${VAR} */
    bool null;        /* YT_SCALAR: plain ~, null, Null, NULL, or nothing */
    yt_node **kids;   /* YT_SEQ: the items; YT_MAP: key, value, key, value... */
    size_t n;         /* entries in kids (twice the pairs of a map) */
    size_t values;    /* values in this node and below, aliases counted out */
    bool closed;      /* (yt_parse) a list or map whose end was read */
};

/* Parses `len` bytes of `text` (one YAML document; `file` names it in
 * locations and must outlive the tree). GREGOR_OK with the root in *root;
 * CONFIG with the errors added to `d`: a syntax error or a crossed limit
 * ends the parse (*root NULL), while ${VAR} and NUL errors do not (*root is
 * the whole tree, so that the schema can be checked too); NOMEM (*root
 * NULL). */
gregor_err yt_parse(const char *file, const char *text, size_t len, arena *a, fw_diags *d,
                    yt_node **root) GREGOR_MUST_CHECK;

/* The value of `key` in map `m` (the first one, if repeated), or NULL. */
const yt_node *yt_get(const yt_node *m, const char *key);

/* "a map", "a list", "'text'" or "an empty value": how a wrong value is named in
 * errors. Writes into buf (size bytes) and returns it. */
const char *yt_describe(const yt_node *n, char *buf, size_t size);

#endif
