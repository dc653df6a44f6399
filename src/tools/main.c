/* tools/main.c — the `gregor` command: dispatches to a subcommand. */
#include <stdio.h>
#include <string.h>

#include "tools/tool.h"

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} commands[] = {
    {"run", cmd_run, "run the pipelines of a YAML file: group members, worker threads, handlers, outputs"},
    {"check", cmd_check, "validate pipeline files (YAML, options, handlers) without running them"},
    {"metadata", cmd_metadata, "brokers, topics, partitions, leaders and API versions of a cluster"},
    {"config", cmd_config, "list every client option with its default"},
    {"produce", cmd_produce, "produce lines of stdin or files to a topic (kcat -P flags)"},
    {"consume", cmd_consume, "print messages of a topic (kcat -C flags), from any offset or a group's"},
    {"offsets", cmd_offsets, "a group's committed offsets, log ends and lag; --reset-to moves them"},
    {"groups", cmd_groups, "consumer groups: state, members, what each owns, committed offsets and lag"},
    {"top", cmd_top, "the operator's view: groups, members, lag with its trend, rates; refreshed"},
    {"handlers", cmd_handlers, "the handlers pipelines can name (built in, and of plugins with -p)"},
    {"bench", cmd_bench, "benchmarks: bench produce"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: gregor COMMAND [OPTIONS]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\n'gregor COMMAND -h' describes a command's options. gregor %s\n", gregor_version());
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return TOOL_EXIT_USAGE;
    }
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return TOOL_EXIT_OK;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
        printf("gregor %s\n", gregor_version());
        return TOOL_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name))
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "gregor: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return TOOL_EXIT_USAGE;
}
