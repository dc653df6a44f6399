/* tools/cmd_bench.c — `gregor bench MODE ...`: dispatches to a benchmark.
 * Modes: produce (tools/bench_produce.c), consume (tools/bench_consume.c),
 * pipeline (tools/bench_pipeline.c). */
#include <stdio.h>
#include <string.h>

#include "tools/tool.h"

int cmd_bench(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        fprintf(argc < 2 ? stderr : stdout, "usage: gregor bench produce|consume|pipeline [OPTIONS]   ('gregor bench MODE -h')\n");
        return argc < 2 ? TOOL_EXIT_USAGE : TOOL_EXIT_OK;
    }
    if (!strcmp(argv[1], "produce"))
        return tool_bench_produce(argc - 1, argv + 1);
    if (!strcmp(argv[1], "consume"))
        return tool_bench_consume(argc - 1, argv + 1);
    if (!strcmp(argv[1], "pipeline"))
        return tool_bench_pipeline(argc - 1, argv + 1);
    fprintf(stderr, "gregor bench: unknown mode '%s'\n", argv[1]);
    return TOOL_EXIT_USAGE;
}
