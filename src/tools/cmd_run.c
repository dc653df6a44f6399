/* tools/cmd_run.c — `gregor run FILE`: runs the pipelines of a YAML file
 * (framework/run.c) until SIGTERM / SIGINT. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "framework/fwlog.h"
#include "framework/run.h"
#include "framework/swarm.h"
#include "tools/tool.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: gregor run [--stats-interval S | --stats-ms N] [--connect-timeout-ms N]\n"
            "                  [--metrics-port PORT [--metrics-bind ADDR]] [-X log_KEY=VALUE]...\n"
            "                  [--processes N] FILE\n"
            "Runs the pipelines of FILE (see conf/ and docs/PIPELINES.md): each a consumer group member\n"
            "whose messages go to its handler on a pool of worker threads, the results to its outputs,\n"
            "offsets committed once processed and acknowledged. SIGTERM or SIGINT stops it gracefully\n"
            "(drain, commit, leave the groups); a second signal exits at once.\n"
            "  --stats-interval S      print a line per pipeline every S seconds: counters, rates, lag\n"
            "  --stats-ms N            the same every N ms\n"
            "  --connect-timeout-ms N  how long the cluster may take to answer at start (default 15000)\n"
            "  -X log_format=text|json the log's lines: text (default) or one JSON object per line\n"
            "  -X log_file=PATH        append the log to PATH (reopened on SIGHUP) instead of stderr\n"
            "  -X log_level=LEVEL      debug, info (default), warn or error\n"
            "  --processes N           run N worker processes under a supervisor that restarts them\n"
            "                          (docs/PIPELINES.md, \"Worker processes\"); SIGHUP reloads FILE\n"
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

/* -X key=value: a log setting (fwlog.h), checked now so that a typo is a
 * usage error naming the key. */
static int add_log_setting(const char *kv, const char **settings, size_t *n, size_t max)
{
    const char *eq = kv ? strchr(kv, '=') : NULL;
    if (!eq || eq == kv) {
        fprintf(stderr, "gregor run: -X takes key=value (log_format, log_file or log_level), not '%s'\n",
                kv ? kv : "");
        return -1;
    }
    char key[64], err[300];
    snprintf(key, sizeof key, "%.*s", (int)(eq - kv), kv);
    fw_log_options scratch;
    fw_log_options_init(&scratch);
    if (fw_log_option_set(&scratch, key, eq + 1, err, sizeof err) != GREGOR_OK) {
        fprintf(stderr, "gregor run: -X %s\n", err);
        return -1;
    }
    if (*n == max) {
        fprintf(stderr, "gregor run: too many -X options (at most %zu)\n", max);
        return -1;
    }
    settings[(*n)++] = kv;
    return 0;
}

/* Options of the supervisor process alone (each with a value): its
 * children run the same command line without them. The metrics endpoint
 * is the supervisor's, serving the sum of its children's. */
static const char *const swarm_only[] = {"--processes", "--metrics-port", "--metrics-bind"};

static bool swarm_only_option(const char *arg)
{
    for (size_t k = 0; k < sizeof swarm_only / sizeof swarm_only[0]; k++)
        if (!strcmp(arg, swarm_only[k]))
            return true;
    return false;
}

/* The supervisor of --processes N (framework/swarm.h). */
static int run_swarm(int argc, char **argv, const char *file, int processes, const fw_run_options *opt)
{
    char **child = calloc((size_t)argc + 2, sizeof *child);
    if (!child) {
        fprintf(stderr, "gregor run: out of memory\n");
        return 1;
    }
    size_t n = 0;
    child[n++] = "gregor";
    for (int i = 0; i < argc; i++) {
        if (swarm_only_option(argv[i])) {
            i++;
            continue;
        }
        child[n++] = argv[i];
    }
    int rc = fw_swarm_run(file, processes, child, opt);
    free(child);
    return rc;
}

int cmd_run(int argc, char **argv)
{
    fw_run_options opt = {0};
    const char *log_settings[16];
    opt.log_settings = log_settings;
    const char *file = NULL;
    int processes = 0;
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
        } else if (!strcmp(argv[i], "--processes")) {
            /* swarm: one option block */
            const char *v = i + 1 < argc ? argv[i + 1] : "";
            char *end;
            long x = strtol(v, &end, 10);
            if (!*v || *end || x < 1 || x > 1024) {
                fprintf(stderr, "gregor run: --processes takes a number of worker processes from 1 to 1024, "
                                "not '%s'\n", v);
                return TOOL_EXIT_USAGE;
            }
            processes = (int)x;
            i++;
        } else if (!strncmp(argv[i], "-X", 2)) {
            const char *kv = argv[i][2] ? argv[i] + 2 : i + 1 < argc ? argv[++i] : NULL;
            if (add_log_setting(kv, log_settings, &opt.n_log_settings, 16))
                return TOOL_EXIT_USAGE;
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
    if (processes > 0)
        return run_swarm(argc, argv, file, processes, &opt);
    return fw_run_file(file, &opt);
}
