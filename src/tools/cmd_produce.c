/* tools/cmd_produce.c — `gregor produce`: messages from stdin or files to
 * a topic, read as kcat -P reads them.
 *
 *   gregor produce -b BROKERS -t TOPIC [-p PARTITION] [-D DELIM] [-K DELIM] [-k KEY]
 *                  [-l] [-Z] [-H name=value]... [-z CODEC] [-X key=value]... [-q] [FILE...]
 *
 * stdin is split into messages at -D (default a newline); each FILE is one
 * message, or split as stdin with -l. The bytes are the user's: nothing
 * but the delimiter is removed (no \r stripping); empty messages are
 * skipped, as kcat does. -K splits each message at the first DELIM into
 * key and value (a message without it has a null key, as in kcat). No
 * message may exceed max_request_bytes, which bounds the input buffer. Delivery reports are counted on
 * the producer's thread; the summary (delivered, failed, rate) goes to
 * stderr, with a progress line once a second when stderr is a terminal.
 * Exit status 1 when any message failed.
 */
#include <errno.h>
#include <fcntl.h>
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
            "usage: gregor produce -b HOST:PORT[,...] -t TOPIC [-p PARTITION] [-D DELIM] [-K DELIM] [-k KEY]\n"
            "                      [-l] [-Z] [-H name=value]... [-z CODEC] [-X key=value]... [-q] [FILE...]\n"
            "\n"
            "As kcat -P: stdin is split into messages at DELIM; each FILE is sent as one message,\n"
            "or, with -l, split like stdin. A message's bytes are kept as they are (\\r included);\n"
            "empty messages are skipped.\n"
            "  -p PARTITION   partition (default: the partitioner chooses; -1 likewise)\n"
            "  -D DELIM       message delimiter (default \\n)\n"
            "  -K DELIM       key and value separated by the first DELIM of each message\n"
            "                 DELIM escapes: \\n \\t \\r \\\\ \\0 (NUL) \\xNN (a byte in hex)\n"
            "  -k KEY         this key for every message without one of its own\n"
            "  -l             split the FILE (one at most) into messages as stdin is\n"
            "  -Z             with -K: an empty key or value is sent as null\n"
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
    tool_bytes delim, key_delim; /* key_delim.p NULL: no -K */
    const char *fixed_key;       /* -k */
    bool null_empty;             /* -Z */
    size_t max_bytes;            /* the largest message read */
    gregor_header *headers;
    size_t n_headers;
    size_t produced;
    counts *c;
    bool progress;
    double start, last_progress;
} job;

/* Produces one message: with -K, split into key and value at the first
 * delimiter (no delimiter: the whole message is the value). */
static bool produce_message(job *j, const char *msg, size_t len, bool split_key)
{
    gregor_produce_message m = {.topic = j->topic, .partition = j->partition, .value = msg, .value_len = len,
                                .headers = j->headers, .n_headers = j->n_headers};
    const char *at = split_key && j->key_delim.p ? memmem(msg, len, j->key_delim.p, j->key_delim.len) : NULL;
    if (at) {
        m.key = msg;
        m.key_len = (size_t)(at - msg);
        m.value = at + j->key_delim.len;
        m.value_len = len - m.key_len - j->key_delim.len;
        if (j->null_empty && m.key_len == 0)
            m.key = NULL;
        if (j->null_empty && m.value_len == 0)
            m.value = NULL;
    }
    if (!at && j->fixed_key) {
        m.key = j->fixed_key;
        m.key_len = strlen(j->fixed_key);
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

/* Reads fd (named `name` in errors) to its end: split at -D when `split`,
 * else the whole input as one message. */
static bool produce_input(job *j, int fd, const char *name, bool split)
{
    tool_splitter sp;
    tool_splitter_init(&sp, fd, j->delim.p, split ? j->delim.len : 0, j->max_bytes);
    bool ok = true;
    size_t n_read = 0;
    for (;;) {
        const char *msg;
        size_t len;
        tool_split_result r = tool_splitter_next(&sp, &msg, &len);
        if (r == TOOL_SPLIT_END)
            break;
        n_read++;
        if (r == TOOL_SPLIT_MESSAGE) {
            if (len == 0)
                continue; /* kcat skips empty messages (and empty files) */
            if (!produce_message(j, msg, len, split)) {
                ok = false;
                break;
            }
            continue;
        }
        if (r == TOOL_SPLIT_TOO_LARGE)
            tool_error("produce", "%s: message %zu is larger than max_request_bytes (%zu bytes)", name, n_read,
                       j->max_bytes);
        else if (r == TOOL_SPLIT_IO)
            tool_error("produce", "%s: read failed: %s", name, strerror(errno));
        else
            tool_error("produce", "%s: out of memory", name);
        ok = false;
        break;
    }
    tool_splitter_fini(&sp);
    return ok;
}

/* The FILE arguments, or stdin without any. Each file is one message, or
 * split as stdin with -l; a file that cannot be read is reported and the
 * others are still sent (as kcat does), but the run fails. */
static bool produce_inputs(job *j, char **files, int n_files, bool lines)
{
    if (n_files == 0)
        return produce_input(j, STDIN_FILENO, "stdin", true);
    bool ok = true;
    for (int i = 0; i < n_files; i++) {
        if (!strcmp(files[i], "-")) {
            ok = produce_input(j, STDIN_FILENO, "stdin", true) && ok;
            continue;
        }
        int fd = open(files[i], O_RDONLY);
        if (fd < 0) {
            tool_error("produce", "%s: cannot open: %s", files[i], strerror(errno));
            ok = false;
            continue;
        }
        ok = produce_input(j, fd, files[i], lines) && ok;
        close(fd);
    }
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
    bool lines = false;
    while ((opt = getopt(argc, argv, "Pb:t:p:D:K:k:lZH:z:X:qh")) != -1) {
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
        case 'P': break; /* kcat's producer mode: the only one here */
        case 'D':
            tool_bytes_fini(&j.delim);
            if (!tool_unescape("produce", "-D", optarg, &j.delim))
                goto out;
            break;
        case 'K':
            tool_bytes_fini(&j.key_delim);
            if (!tool_unescape("produce", "-K", optarg, &j.key_delim))
                goto out;
            break;
        case 'k': j.fixed_key = optarg; break;
        case 'l': lines = true; break;
        case 'Z': j.null_empty = true; break;
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
    if (lines && argc - optind > 1) {
        tool_error("produce", "-l takes one FILE (as in kcat)");
        goto out;
    }
    if (!j.delim.p && !tool_unescape("produce", "-D", "\\n", &j.delim))
        goto out;
    if (j.delim.len == 0) {
        tool_error("produce", "-D: the message delimiter must not be empty");
        goto out;
    }
    if (j.key_delim.p && j.key_delim.len == 0) {
        tool_error("produce", "-K: the key delimiter must not be empty");
        goto out;
    }
    long long max_bytes;
    if (!tool_parse_int("produce", "max_request_bytes", gregor_config_get(cfg, "max_request_bytes"), 1,
                        INT32_MAX, &max_bytes))
        goto out;
    j.max_bytes = (size_t)max_bytes;
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
    bool ok = produce_inputs(&j, argv + optind, argc - optind, lines);
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
    tool_bytes_fini(&j.delim);
    tool_bytes_fini(&j.key_delim);
    gregor_config_destroy(cfg);
    return rc;
}
