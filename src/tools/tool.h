/* tools/tool.h — shared pieces of the `gregor` command: option parsing
 * common to every subcommand (-b, -X, -h), error reporting and JSON output.
 *
 * Threading: the command runs on the main thread only.
 */
#ifndef GREGOR_TOOLS_TOOL_H
#define GREGOR_TOOLS_TOOL_H

#include <stdbool.h>
#include <stdio.h>

#include "gregor/gregor.h"

/* Exit codes: 0 success, 1 the operation failed, 2 usage error. */
enum { TOOL_EXIT_OK = 0, TOOL_EXIT_FAIL = 1, TOOL_EXIT_USAGE = 2 };

/* Applies "-X key=value" (or "key=value") to cfg; prints an error naming the
 * option and returns false when it is unknown or invalid. */
bool tool_apply_x(gregor_config *cfg, const char *kv);

/* Parses the value of flag `flag` (e.g. "-c") as a decimal integer in
 * [min, max]; otherwise prints "gregor <cmd>: -c: 'x' is not an integer
 * from min to max" and returns false. */
bool tool_parse_int(const char *cmd, const char *flag, const char *text, long long min, long long max,
                    long long *out);

/* Prints "gregor <cmd>: <message>" to stderr. */
void tool_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Bytes that may hold NULs: a delimiter or a format after its escapes.
 * `p` is owned (tool_bytes_fini frees it) and NUL-terminated after `len`. */
typedef struct tool_bytes {
    char *p;
    size_t len;
} tool_bytes;

/* Decodes the escapes of a -D, -K or -f argument into *out (returns owned):
 * \n \t \r \\, \0 (a NUL byte) and \xN or \xNN (one or two hex digits);
 * any other \c stands for c, as in kcat. `text` is borrowed. On "\x"
 * without a hex digit, or out of memory, prints "gregor <cmd>: <flag>: ..."
 * naming the backslash's position (from 1) and returns false (*out
 * untouched). */
bool tool_unescape(const char *cmd, const char *flag, const char *text, tool_bytes *out);
/* The same for len bytes found at position `at` of the argument (for the
 * position in error messages). */
bool tool_unescape_n(const char *cmd, const char *flag, const char *text, size_t len, size_t at, tool_bytes *out);
/* Frees b->p; b is left empty. */
void tool_bytes_fini(tool_bytes *b);

/* Input split into messages at a delimiter (kcat -P's reading of stdin
 * and -l files). Each message is at most max_bytes; the buffer never holds
 * more than max_bytes + delim_len + 1 bytes. */
typedef struct tool_splitter {
    int fd;                /* borrowed: read with read(2), never closed here */
    const char *delim;     /* borrowed; delim_len 0: the whole input is one message */
    size_t delim_len, max_bytes;
    char *buf;
    size_t len, cap, start, scan;
    bool eof;
} tool_splitter;

typedef enum tool_split_result {
    TOOL_SPLIT_MESSAGE,   /* *msg, *len: the next message, valid until the next call */
    TOOL_SPLIT_END,       /* the input ended */
    TOOL_SPLIT_TOO_LARGE, /* a message is longer than max_bytes */
    TOOL_SPLIT_IO,        /* read(2) failed: see errno */
    TOOL_SPLIT_NOMEM,
} tool_split_result;

void tool_splitter_init(tool_splitter *s, int fd, const char *delim, size_t delim_len, size_t max_bytes);
/* The next message: the bytes up to the next delimiter (which is dropped),
 * or the rest of the input at its end. Empty messages are returned too.
 * After anything but TOOL_SPLIT_MESSAGE, only fini may be called. */
tool_split_result tool_splitter_next(tool_splitter *s, const char **msg, size_t *len);
void tool_splitter_fini(tool_splitter *s);

/* JSON output: string escaping per RFC 8259. */
void json_string(FILE *f, const char *s);
void json_string_n(FILE *f, const char *s, size_t n);

int cmd_metadata(int argc, char **argv);
int cmd_config(int argc, char **argv);
int cmd_produce(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_consume(int argc, char **argv);
int cmd_offsets(int argc, char **argv);
int cmd_groups(int argc, char **argv);
int cmd_top(int argc, char **argv);
int cmd_handlers(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_run(int argc, char **argv);
/* `gregor bench produce` (bench_produce.c), called by cmd_bench. */
int tool_bench_produce(int argc, char **argv);
/* `gregor bench consume` (bench_consume.c), called by cmd_bench. */
int tool_bench_consume(int argc, char **argv);
/* `gregor bench pipeline` (bench_pipeline.c), called by cmd_bench. */
int tool_bench_pipeline(int argc, char **argv);

#endif
