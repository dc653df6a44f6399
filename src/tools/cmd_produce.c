/* tools/cmd_produce.c — `gregor produce`: messages from stdin or files, one
 * per line, to a topic, with kcat's flags (kcat -P).
 *
 *   gregor produce -b BROKERS -t TOPIC [-p PARTITION] [-K DELIM] [-H name=value]...
 *                  [-z CODEC] [-X key=value]... [-q] [FILE...]
 *
 * -K splits each line at the first DELIM into key and value (a line
 * without it has a null key, as in kcat). Delivery reports are counted on
 * the producer's thread; the summary (delivered, failed, rate) goes to
 * stderr, with a progress line once a second when stderr is a terminal.
 * Exit status 1 when any message failed.
 */
#include <getopt.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tools/tool.h"

#define MAX_HEADERS 64

typedef struct counts {
    atomic_size_t delivered, failed;
    atomic_int last_err;
} counts;

static void on_delivery(const gregor_delivery *d, void *arg)
{
    counts *c = arg;
    if (d->err == GREGOR_OK) {
        atomic_fetch_add(&c->delivered, 1);
    } else {
        if (atomic_fetch_add(&c->failed, 1) == 0)
            fprintf(stderr, "gregor produce: %s [%d]: delivery failed: %s\n", d->topic, (int)d->partition,
                    gregor_err_str(d->err));
        atomic_store(&c->last_err, d->err);
    }
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: gregor produce -b HOST:PORT[,...] -t TOPIC [-p PARTITION] [-K DELIM] [-H name=value]...\n"
            "                      [-z CODEC] [-X key=value]... [-q] [FILE...]\n"
            "\n"
            "Produces one message per line of the FILEs (or stdin), as kcat -P does.\n"
            "  -p PARTITION   partition (default: the partitioner chooses; -1 likewise)\n"
            "  -K DELIM       key and value separated by DELIM on each line\n"
            "  -H name=value  a header on every message (repeatable)\n"
            "  -z CODEC       none, gzip, snappy, lz4, zstd\n"
            "  -X key=value   any option of 'gregor config list' (acks=all, linger.ms=5, ...)\n"
            "  -q             no summary\n");
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef struct job {
    gregor_producer *p;
    const char *topic;
    int32_t partition;
    const char *key_delim;
    gregor_header *headers;
    size_t n_headers;
    size_t produced;
    counts *c;
    bool progress;
    double start, last_progress;
} job;

static bool produce_line(job *j, char *line, size_t len)
{
    gregor_produce_message m = {.topic = j->topic, .partition = j->partition, .value = line, .value_len = len,
                                .headers = j->headers, .n_headers = j->n_headers};
    if (j->key_delim) {
        size_t dl = strlen(j->key_delim);
        char *at = dl ? memmem(line, len, j->key_delim, dl) : NULL;
        if (at) {
            m.key = line;
            m.key_len = (size_t)(at - line);
            m.value = at + dl;
            m.value_len = len - m.key_len - dl;
        }
    }
    gregor_err err = gregor_producer_produce(j->p, &m);
    if (err != GREGOR_OK) {
        tool_error("produce", "message %zu: %s", j->produced + 1, gregor_err_str(err));
        return false;
    }
    j->produced++;
    if (j->progress && (j->produced & 1023) == 0) {
        double t = now_s();
        if (t - j->last_progress >= 1.0) {
            j->last_progress = t;
            fprintf(stderr, "\r%zu produced, %zu delivered, %zu failed", j->produced,
                    atomic_load(&j->c->delivered), atomic_load(&j->c->failed));
        }
    }
    return true;
}

static bool produce_stream(job *j, FILE *in)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    bool ok = true;
    while (ok && (n = getline(&line, &cap, in)) >= 0) {
        size_t len = (size_t)n;
        if (len && line[len - 1] == '\n')
            len--;
        if (len && line[len - 1] == '\r')
            len--;
        if (len == 0)
            continue; /* kcat skips empty lines too */
        ok = produce_line(j, line, len);
    }
    free(line);
    return ok;
}

static bool parse_header(char *arg, gregor_header *h)
{
    char *eq = strchr(arg, '=');
    if (!eq || eq == arg)
        return false;
    *eq = '\0';
    h->key = arg;
    h->key_len = strlen(arg);
    h->value = eq + 1;
    h->value_len = (int32_t)strlen(eq + 1);
    return true;
}

int cmd_produce(int argc, char **argv)
{
    gregor_config *cfg = gregor_config_new();
    if (!cfg)
        return TOOL_EXIT_FAIL;
    job j = {.partition = GREGOR_PARTITION_ANY};
    gregor_header headers[MAX_HEADERS];
    bool quiet = false, have_bootstrap = false;
    int rc = TOOL_EXIT_USAGE;
    int opt;
    char err[512];
    optind = 1;
    while ((opt = getopt(argc, argv, "b:t:p:K:H:z:X:qh")) != -1) {
        switch (opt) {
        case 'b':
            if (gregor_config_set(cfg, "bootstrap", optarg, err, sizeof err) != GREGOR_OK) {
                tool_error("produce", "%s", err);
                goto out;
            }
            have_bootstrap = true;
            break;
        case 't': j.topic = optarg; break;
        case 'p': {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*end || v < -1 || v > INT32_MAX) {
                tool_error("produce", "-p: '%s' is not a partition", optarg);
                goto out;
            }
            j.partition = (int32_t)v;
            break;
        }
        case 'K': j.key_delim = optarg; break;
        case 'H':
            if (j.n_headers == MAX_HEADERS || !parse_header(optarg, &headers[j.n_headers])) {
                tool_error("produce", "-H expects name=value (at most %d)", MAX_HEADERS);
                goto out;
            }
            j.n_headers++;
            break;
        case 'z':
            if (gregor_config_set(cfg, "compression", optarg, err, sizeof err) != GREGOR_OK) {
                tool_error("produce", "-z: %s", err);
                goto out;
            }
            break;
        case 'X':
            if (!tool_apply_x(cfg, optarg))
                goto out;
            if (!strncmp(optarg, "bootstrap", 9) || !strncmp(optarg, "metadata.broker.list", 20))
                have_bootstrap = true;
            break;
        case 'q': quiet = true; break;
        case 'h':
            usage(stdout);
            rc = TOOL_EXIT_OK;
            goto out;
        default:
            usage(stderr);
            goto out;
        }
    }
    if (!have_bootstrap || !j.topic) {
        tool_error("produce", "-b BROKERS and -t TOPIC are required");
        usage(stderr);
        goto out;
    }
    /* A command line waits for room rather than dropping input. */
    if (!gregor_config_get(cfg, "block_ms") || !strcmp(gregor_config_get(cfg, "block_ms"), "0"))
        if (gregor_config_set(cfg, "block_ms", "3600000", err, sizeof err) != GREGOR_OK)
            goto out;

    counts c;
    atomic_init(&c.delivered, 0);
    atomic_init(&c.failed, 0);
    atomic_init(&c.last_err, GREGOR_OK);
    rc = TOOL_EXIT_FAIL;
    if (gregor_producer_new(cfg, on_delivery, &c, &j.p, err, sizeof err) != GREGOR_OK) {
        tool_error("produce", "%s", err);
        goto out;
    }
    j.headers = headers;
    j.c = &c;
    j.progress = !quiet && isatty(STDERR_FILENO);
    j.start = j.last_progress = now_s();
    bool ok = true;
    if (optind >= argc) {
        ok = produce_stream(&j, stdin);
    } else {
        for (int i = optind; i < argc && ok; i++) {
            FILE *f = !strcmp(argv[i], "-") ? stdin : fopen(argv[i], "r");
            if (!f) {
                tool_error("produce", "%s: cannot open", argv[i]);
                ok = false;
                break;
            }
            ok = produce_stream(&j, f);
            if (f != stdin)
                fclose(f);
        }
    }
    if (gregor_producer_flush(j.p, -1) != GREGOR_OK)
        ok = false;
    gregor_producer_destroy(j.p, 0);
    double secs = now_s() - j.start;
    size_t delivered = atomic_load(&c.delivered), failed = atomic_load(&c.failed);
    if (j.progress)
        fputc('\n', stderr);
    if (!quiet)
        fprintf(stderr, "gregor produce: %zu delivered, %zu failed in %.2f s (%.0f msgs/s)\n", delivered,
                failed, secs, secs > 0 ? (double)delivered / secs : 0.0);
    rc = ok && failed == 0 ? TOOL_EXIT_OK : TOOL_EXIT_FAIL;
out:
    gregor_config_destroy(cfg);
    return rc;
}
