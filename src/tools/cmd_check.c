/* tools/cmd_check.c — `gregor check FILE...`: validates pipeline files as
 * `gregor run` would before starting (the YAML and its schema, every option,
 * the plugins and handlers), without connecting to anything. Every error is
 * printed located (FILE:LINE:COL); the exit status is 1 when any file has
 * one. Handlers' init is not run: it may have effects (connections, files)
 * that a check must not have. */
#include <string.h>

#include "framework/config.h"
#include "framework/registry.h"
#include "tools/tool.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: gregor check FILE...\n"
            "  validates pipeline files (see conf/ and docs/PIPELINES.md) without running them: YAML,\n"
            "  keys, types, options, plugins and handlers; prints every error as FILE:LINE:COL: ...\n"
            "  Exit status: 0 when every file is valid, 1 otherwise, 2 on usage errors.\n");
}

/* "FILE: ok: N pipelines (NAME handler HANDLER, ...)" on stdout. */
static void print_ok(const char *path, const fw_config *cfg)
{
    printf("%s: ok: %zu pipeline%s (", path, cfg->n_pipelines, cfg->n_pipelines == 1 ? "" : "s");
    for (size_t i = 0; i < cfg->n_pipelines; i++)
        printf("%s%s handler %s", i ? ", " : "", cfg->pipelines[i].name, cfg->pipelines[i].handler);
    printf(")\n");
}

/* Checks one file; true when it is valid. */
static bool check_file(const char *path)
{
    fw_diags diags;
    fw_diags_init(&diags);
    fw_config *cfg = NULL;
    bool ok = fw_config_load(path, &cfg, &diags) == GREGOR_OK && fw_registry_resolve(cfg, &diags) == GREGOR_OK &&
              diags.n == 0;
    for (size_t i = 0; i < diags.n; i++)
        fprintf(stderr, "%s\n", diags.msgs[i]);
    if (ok)
        print_ok(path, cfg);
    else if (!diags.n)
        fprintf(stderr, "%s: invalid (no error text: out of memory?)\n", path);
    fw_config_free(cfg);
    fw_diags_fini(&diags);
    return ok;
}

int cmd_check(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return TOOL_EXIT_USAGE;
    }
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return TOOL_EXIT_OK;
        }
        if (argv[i][0] == '-' && argv[i][1]) {
            tool_error("check", "unknown option %s", argv[i]);
            usage(stderr);
            return TOOL_EXIT_USAGE;
        }
    }
    int rc = TOOL_EXIT_OK;
    for (int i = 1; i < argc; i++)
        if (!check_file(argv[i]))
            rc = TOOL_EXIT_FAIL;
    return rc;
}
