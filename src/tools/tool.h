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

/* JSON output: string escaping per RFC 8259. */
void json_string(FILE *f, const char *s);
void json_string_n(FILE *f, const char *s, size_t n);

int cmd_metadata(int argc, char **argv);
int cmd_config(int argc, char **argv);
int cmd_produce(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_consume(int argc, char **argv);
int cmd_offsets(int argc, char **argv);
/* `gregor bench produce` (bench_produce.c), called by cmd_bench. */
int tool_bench_produce(int argc, char **argv);
/* `gregor bench consume` (bench_consume.c), called by cmd_bench. */
int tool_bench_consume(int argc, char **argv);

#endif
