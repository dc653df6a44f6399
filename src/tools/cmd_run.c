/* tools/cmd_run.c — `gregor run FILE`: runs the pipelines of a YAML file
 * (framework/run.c) until SIGTERM / SIGINT. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "framework/run.h"
#include "tools/tool.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: gregor run [--stats-interval S | --stats-ms N] [--connect-timeout-ms N]\n"
            "                  [--metrics-port PORT [--metrics-bind ADDR]] FILE\n"
            "Runs the pipelines of FILE (see conf/ and docs/PIPELINES.md): each a consumer group member\n"
            "whose messages go to its handler on a pool of worker threads, the results to its outputs,\n"
            "offsets committed once processed and acknowledged. SIGTERM or SIGINT stops it gracefully\n"
            "(drain, commit, leave the groups); a second signal exits at once.\n"
            "  --stats-interval S      print a line per pipeline every S seconds: counters, rates, lag\n"
            "  --stats-ms N            the same every N ms\n"
            "  --connect-timeout-ms N  how long the cluster may take to answer at start (default 15000)\n"
            "  --metrics-port PORT     serve Prometheus metrics on http://ADDR:PORT/metrics, and /healthz,\n"
            "                          /ready (every pipeline has its assignment); see docs/METRICS.md\n"
            "  --metrics-bind ADDR     the address the metrics endpoint listens on (default 0.0.0.0)\n"
            "Exit status: 0 after a clean stop, 1 on config errors (all listed, FILE:LINE:COL),\n"
            "an unreachable cluster or a fatal error, 2 on usage errors.\n");
}

static int parse_ms(const char *opt, const char *v, int32_t *out)
{
    char *end;
    long x = v ? strtol(v, &end, 10) : -1;
    if (!v || !*v || *end || x <= 0 || x > 86400000) {
        fprintf(stderr, "gregor run: %s takes a positive number of milliseconds, not '%s'\n", opt, v ? v : "");
        return -1;
    }
    *out = (int32_t)x;
    return 0;
}

/* An integer in min..max, or -1 with a message saying what `opt` takes. */
static int parse_range(const char *opt, const char *v, long min, long max, const char *what, long *out)
{
    char *end;
    long x = v && *v ? strtol(v, &end, 10) : min - 1;
    if (!v || !*v || *end || x < min || x > max) {
        fprintf(stderr, "gregor run: %s takes %s %ld..%ld, not '%s'\n", opt, what, min, max, v ? v : "");
        return -1;
    }
    *out = x;
    return 0;
}

int cmd_run(int argc, char **argv)
{
    fw_run_options opt = {0};
    const char *file = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return TOOL_EXIT_OK;
        } else if (!strcmp(argv[i], "--stats-ms")) {
            if (parse_ms(argv[i], i + 1 < argc ? argv[i + 1] : NULL, &opt.stats_ms))
                return TOOL_EXIT_USAGE;
            i++;
        } else if (!strcmp(argv[i], "--stats-interval")) {
            long secs;
            if (parse_range(argv[i], i + 1 < argc ? argv[i + 1] : NULL, 1, 86400, "a number of seconds", &secs))
                return TOOL_EXIT_USAGE;
            opt.stats_ms = (int32_t)(secs * 1000);
            i++;
        } else if (!strcmp(argv[i], "--connect-timeout-ms")) {
            if (parse_ms(argv[i], i + 1 < argc ? argv[i + 1] : NULL, &opt.connect_timeout_ms))
                return TOOL_EXIT_USAGE;
            i++;
        } else if (!strcmp(argv[i], "--metrics-port")) {
            long port;
            if (parse_range(argv[i], i + 1 < argc ? argv[i + 1] : NULL, 1, 65535, "a port number", &port))
                return TOOL_EXIT_USAGE;
            opt.metrics_port = (int32_t)port;
            i++;
        } else if (!strcmp(argv[i], "--metrics-bind")) {
            if (i + 1 >= argc || !*argv[i + 1]) {
                fprintf(stderr, "gregor run: --metrics-bind takes an address\n");
                return TOOL_EXIT_USAGE;
            }
            opt.metrics_bind = argv[++i];
        } else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "gregor run: unknown option %s\n", argv[i]);
            usage(stderr);
            return TOOL_EXIT_USAGE;
        } else if (file) {
            fprintf(stderr, "gregor run: one FILE only ('%s' and '%s')\n", file, argv[i]);
            return TOOL_EXIT_USAGE;
        } else {
            file = argv[i];
        }
    }
    if (opt.metrics_bind && !opt.metrics_port) {
        fprintf(stderr, "gregor run: --metrics-bind needs --metrics-port\n");
        return TOOL_EXIT_USAGE;
    }
    if (!file) {
        usage(stderr);
        return TOOL_EXIT_USAGE;
    }
    return fw_run_file(file, &opt);
}
