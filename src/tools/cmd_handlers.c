/* tools/cmd_handlers.c — `gregor handlers`: the handlers a pipeline may name
 * (built into this program, and those of the plugins given with -p), with
 * their one-line descriptions. Problems kept from registration (a name
 * registered twice) are printed and make the exit status 1, as does a
 * plugin that cannot be loaded. */
#include <getopt.h>
#include <string.h>

#include "framework/registry.h"
#include "tools/tool.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: gregor handlers [-p PLUGIN.so]...\n"
            "  lists the registered handlers: those built into gregor and those of each plugin\n"
            "  -p PLUGIN.so    load this plugin first (repeatable; a name without '/' is in the current\n"
            "                  directory)\n");
}

int cmd_handlers(int argc, char **argv)
{
    /* The program's own problems; a plugin's are reported by its load. */
    const char *name, *text;
    size_t n_problems = 0;
    while (fw_registry_problem(n_problems, &name))
        n_problems++;
    int rc = TOOL_EXIT_OK;
    int c;
    optind = 1;
    while ((c = getopt(argc, argv, "hp:")) != -1) {
        switch (c) {
        case 'p': {
            char errstr[512];
            if (fw_registry_load_plugin(optarg, errstr, sizeof errstr) != GREGOR_OK) {
                tool_error("handlers", "plugin %s: %s", optarg, errstr);
                rc = TOOL_EXIT_FAIL;
            }
            break;
        }
        case 'h':
            usage(stdout);
            return TOOL_EXIT_OK;
        default:
            usage(stderr);
            return TOOL_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        tool_error("handlers", "unexpected argument '%s'", argv[optind]);
        return TOOL_EXIT_USAGE;
    }
    const char *plugin;
    const gregor_handler *h;
    for (size_t i = 0; (h = fw_registry_at(i, &plugin)); i++) {
        printf("%-16s %s", h->name, h->description ? h->description : "(no description)");
        if (plugin)
            printf("  [%s]", plugin);
        printf("\n");
    }
    for (size_t i = 0; i < n_problems && (text = fw_registry_problem(i, &name)); i++) {
        tool_error("handlers", "%s", text);
        rc = TOOL_EXIT_FAIL;
    }
    return rc;
}
