/* tools/bench.h — the benchmark subcommands' shared entry points.
 * Threading: the command's main thread (bench_consume_group starts its own
 * member threads and joins them before returning). */
#ifndef GREGOR_TOOLS_BENCH_H
#define GREGOR_TOOLS_BENCH_H

#include "gregor/gregor.h"

/* `gregor bench consume -G GROUP -m MEMBERS`: MEMBERS group members of
 * GROUP (with `cfg`, borrowed) read `count` messages of `topic`. */
int bench_consume_group(gregor_config *cfg, const char *topic, const char *group, int members, long long count);

#endif
