/* tools/bench.h — the benchmark subcommands' shared entry points.
 * Threading: the command's main thread (bench_consume_group starts its own
 * member threads and joins them before returning). */
#ifndef GREGOR_TOOLS_BENCH_H
#define GREGOR_TOOLS_BENCH_H

#include "gregor/gregor.h"

/* Seconds on the monotonic clock, and CPU seconds (user + system) the
 * whole process has used: what the benchmarks report per message. */
double bench_now_s(void);
double bench_cpu_s(void);

/* `gregor bench consume -G GROUP -m MEMBERS`: MEMBERS group members of
 * GROUP (with `cfg`, borrowed) read `count` messages of `topic`. */
int bench_consume_group(gregor_config *cfg, const char *topic, const char *group, int members, long long count);

#endif
