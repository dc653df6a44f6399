/* tools/consume.h — what `gregor consume` shares between its partition
 * mode (cmd_consume.c) and its group mode (cmd_consume_group.c): the
 * options and the output of messages.
 *
 * Threading: the command's main thread only. */
#ifndef GREGOR_TOOLS_CONSUME_H
#define GREGOR_TOOLS_CONSUME_H

#include <stdbool.h>
#include <stdio.h>

#include "gregor/gregor.h"
#include "tools/tool.h"

/* One piece of a compiled -f format: a literal, or a token such as 'k'. */
typedef struct fmt_seg {
    char token; /* 0: literal */
    tool_bytes lit;
} fmt_seg;

typedef struct consume_opts {
    const char *topic;
    int32_t partition; /* -1: all */
    int64_t offset, ts;
    int64_t relative; /* -N: N before the end */
    long long count;
    bool exit_eof, json, commit, null_str, quiet, unbuffered;
    fmt_seg *format; /* NULL: none */
    size_t n_format;
    tool_bytes key_delim; /* p NULL: no key printed */
    tool_bytes msg_delim;
} consume_opts;

/* Prints one message as the options say (-f, -J, -K/-D). `broker` is the
 * partition leader for -J (-1: unknown). */
void consume_print_message(FILE *out, const consume_opts *o, const gregor_message *m, int32_t broker);
/* Line-buffered on a terminal, unbuffered with -u, else 1 MiB blocks. */
void consume_setup_output(const consume_opts *o);
/* Flushes stdout; false (error printed) when it cannot be written. */
bool consume_flush_out(void);

/* The group mode, `-G GROUP TOPIC...` (kcat's -G): joins the group with
 * `cfg` (group_id set by the caller) and prints what it is assigned. */
int consume_group(gregor_config *cfg, const consume_opts *o, const char *const *topics, size_t n_topics);

#endif
