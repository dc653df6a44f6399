/* tools/cmd_config.c — `gregor config list`: every option, its default and
 * what it does. */
#include <string.h>

#include "tools/tool.h"

int cmd_config(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "list") != 0) {
        fprintf(stderr, "usage: gregor config list\n");
        return TOOL_EXIT_USAGE;
    }
    const char *name, *def, *doc;
    for (size_t i = 0; gregor_config_option(i, &name, &def, &doc); i++)
        printf("%-26s %-16s %s\n", name, def, doc);
    return TOOL_EXIT_OK;
}
