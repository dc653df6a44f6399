/* tools/cmd_top.c — `gregor top`: the operator's view of consumer groups,
 * refreshed every --interval-ms: per group its state, protocol and members,
 * per partition the committed offset, the log end, the lag with its trend
 * over the last refreshes and the consume rate, and the group's totals.
 *
 * On a terminal each refresh redraws the screen (cut to its width and
 * height, redrawn at once when it is resized); otherwise each refresh is
 * one plain-text block, starting with a "gregor top" line, with no escape
 * codes. -n COUNT stops after COUNT refreshes. --metrics ADDRESS adds the
 * pipeline counters a `gregor run --metrics-port` serves.
 *
 * Signals: SIGWINCH is blocked before the client's I/O thread starts (it
 * inherits the mask) and taken with sigtimedwait() between refreshes, so
 * that a resize ends the wait at once and no handler runs on another
 * thread. SIGINT and SIGTERM end the process at once with status 0, from
 * a handler on whichever thread takes them: a refresh may be waiting for a
 * broker for up to -m seconds, and a viewer has nothing to save (it changes
 * no terminal mode).
 *
 * Threading: the main thread; the client's I/O thread does the requests.
 */
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "tools/tool.h"
#include "tools/top.h"
#include "util/clock.h"

#define MAX_GROUPS 256
#define MAX_TOPICS 256
#define PLAIN_WIDTH 200 /* the width of plain output unless $COLUMNS says otherwise */

typedef struct opts {
    const char *bootstrap;
    const char *groups[MAX_GROUPS];
    size_t n_groups;
    const char *topics[MAX_TOPICS];
    size_t n_topics;
    const char *metrics[TOP_ENDPOINTS_MAX];
    size_t n_metrics;
    long long interval_ms, count, wait_s;
} opts;

static void usage(FILE *f)
{
    fprintf(f, "usage: gregor top -b BROKERS [-g GROUP]... [-t TOPIC]... [--interval-ms MS] [-n COUNT]\n"
               "                  [--metrics HOST:PORT]... [-X key=value]... [-m SECONDS]\n"
               "  -g GROUP          only this group (repeatable); default: every group of the cluster\n"
               "  -t TOPIC          only this topic's partitions (repeatable); with -g on a 0.8 broker,\n"
               "                    which has no groups API, the topics whose committed offsets are shown\n"
               "  --interval-ms MS  time between refreshes (default 1000, at least 100)\n"
               "  -n COUNT          stop after COUNT refreshes (default: until Ctrl-C); the exit status\n"
               "                    is then 1 if the last refresh could not describe every group or read\n"
               "                    every --metrics endpoint\n"
               "  --metrics HOST:PORT  also the pipelines of a `gregor run --metrics-port` there (repeatable):\n"
               "                    consumed, processed, failed, retried, dead-lettered, emitted, rate\n"
               "  -X key=value      any client option ('gregor config list')\n"
               "  -m SECONDS        how long each request may wait for the brokers (default 10)\n"
               "On a terminal the screen is redrawn; otherwise each refresh is a plain-text block.\n");
}

/* The terminal's size, or (not a terminal) PLAIN_WIDTH / $COLUMNS and no
 * height limit (0). */
static void screen_size(bool tty, size_t *width, size_t *height)
{
    struct winsize ws;
    if (tty && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) {
        *width = ws.ws_col;
        *height = ws.ws_row;
        return;
    }
    const char *cols = getenv("COLUMNS");
    long v = cols ? strtol(cols, NULL, 10) : 0;
    *width = v >= 40 && v <= 1000 ? (size_t)v : PLAIN_WIDTH;
    *height = 0;
}

static void render_frame(FILE *f, const opts *o, const top_frame *fr, unsigned refresh, size_t width)
{
    time_t now = time(NULL);
    struct tm tm;
    char when[32];
    gmtime_r(&now, &tm);
    strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", &tm);
    /* What changes first: a narrow terminal cuts the end. */
    fprintf(f, "gregor top  refresh %u  %s  %zu group%s  every %lld ms  %s\n", refresh, when, fr->n,
            fr->n == 1 ? "" : "s", o->interval_ms, o->bootstrap);
    if (fr->list_error)
        fprintf(f, "ListGroups: %s\n", fr->list_error);
    if (fr->n == 0 && !fr->list_error)
        fprintf(f, "No groups.\n");
    for (size_t i = 0; i < fr->n; i++) {
        fputc('\n', f);
        top_group_view v = top_entry_view(&fr->entries[i]);
        top_render_group(f, &v, width);
        if (fr->entries[i].note)
            fprintf(f, "  %s\n", fr->entries[i].note);
    }
    if (fr->not_shown)
        fprintf(f, "\n(%zu more groups not shown: name them with -g)\n", fr->not_shown);
    for (size_t i = 0; i < fr->n_endpoints; i++) {
        fputc('\n', f);
        top_render_pipelines(f, &fr->endpoints[i], width);
    }
}

/* Writes text's lines cut to `width` (a cut line ends with '~'), at most
 * max_lines of them (0: all); says so when lines were left out. */
static void put_lines(const char *text, size_t len, size_t width, size_t max_lines)
{
    size_t shown = 0;
    for (size_t pos = 0; pos < len;) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - (text + pos)) : len - pos;
        if (max_lines && shown == max_lines) {
            fputs("... (more below: a taller terminal, -g or -t shows the rest)", stdout);
            return;
        }
        if (n > width) {
            fwrite(text + pos, 1, width - 1, stdout);
            fputc('~', stdout);
        } else {
            fwrite(text + pos, 1, n, stdout);
        }
        fputc('\n', stdout);
        shown++;
        pos += n + 1;
    }
}

/* Writes the frame: on a terminal over the previous one, cut to the
 * screen's height; otherwise as a block followed by an empty line. Every
 * line is cut to the width. */
static bool show(const opts *o, const top_frame *fr, unsigned refresh, bool tty)
{
    size_t width, height;
    screen_size(tty, &width, &height);
    char *text = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&text, &len);
    if (!m)
        return false;
    render_frame(m, o, fr, refresh, width);
    if (fclose(m) != 0) {
        free(text);
        return false;
    }
    if (tty)
        fputs("\033[H\033[2J", stdout);
    put_lines(text, len, width, tty && height > 1 ? height - 1 : 0);
    if (!tty)
        fputc('\n', stdout);
    free(text);
    return fflush(stdout) == 0;
}

/* Waits until `deadline_ms` (monotonic), redrawing the last frame on each
 * SIGWINCH (the one signal in `set`). */
static void wait_until(const sigset_t *set, int64_t deadline_ms, const opts *o, const top_frame *fr,
                       unsigned refresh, bool tty)
{
    for (;;) {
        int64_t left = deadline_ms - clock_mono_ms();
        if (left <= 0)
            return;
        struct timespec ts = {(time_t)(left / 1000), (long)(left % 1000) * 1000000L};
        int sig = sigtimedwait(set, NULL, &ts);
        if (sig == SIGWINCH && tty)
            show(o, fr, refresh, tty);
        else if (sig < 0 && errno != EINTR && errno != EAGAIN)
            return;
    }
}

/* Refreshes until -n is reached (or a signal ends the process). */
static int loop(gregor_consumer *c, const opts *o, const top_query *q, const sigset_t *set)
{
    bool tty = isatty(STDOUT_FILENO);
    top_history h;
    top_state_init(&h.groups);
    top_state_init(&h.pipelines);
    int rc = TOOL_EXIT_OK;
    for (unsigned refresh = 1;; refresh++) {
        int64_t start_ms = clock_mono_ms();
        top_frame fr;
        if (top_frame_fetch(c, q, &h, start_ms, &fr) != GREGOR_OK) {
            tool_error("top", "out of memory");
            top_frame_fini(&fr);
            rc = TOOL_EXIT_FAIL;
            break;
        }
        if (!show(o, &fr, refresh, tty)) {
            tool_error("top", "writing the view: %s", strerror(errno));
            top_frame_fini(&fr);
            rc = TOOL_EXIT_FAIL;
            break;
        }
        rc = fr.failed ? TOOL_EXIT_FAIL : TOOL_EXIT_OK;
        bool last = o->count > 0 && refresh >= (unsigned long long)o->count;
        if (!last)
            wait_until(set, start_ms + o->interval_ms, o, &fr, refresh, tty);
        top_frame_fini(&fr);
        if (last)
            break;
    }
    top_state_fini(&h.groups);
    top_state_fini(&h.pipelines);
    return rc;
}

/* The first contact: unreachable brokers are an error before any view,
 * naming them (a timeout's own message does not). */
static bool reachable(gregor_consumer *c, const opts *o, int32_t timeout_ms)
{
    char err[512];
    const gregor_metadata *md;
    if (gregor_client_metadata(gregor_consumer_client(c), NULL, 0, timeout_ms, &md, err, sizeof err) != GREGOR_OK) {
        tool_error("top", "no metadata from %s within %lld s (-m): %s", o->bootstrap, o->wait_s, err);
        return false;
    }
    gregor_metadata_destroy(md);
    return true;
}

/* SIGINT, SIGTERM: _exit() is async-signal-safe; stdout's unwritten
 * bytes (part of a frame) are dropped. */
static void on_stop(int sig)
{
    (void)sig;
    _exit(TOOL_EXIT_OK);
}

static int start(gregor_config *cfg, const opts *o)
{
    char err[512];
    if (gregor_config_set(cfg, "enable_auto_commit", "false", err, sizeof err) != GREGOR_OK) {
        tool_error("top", "%s", err);
        return TOOL_EXIT_FAIL;
    }
    struct sigaction stop = {.sa_handler = on_stop};
    sigemptyset(&stop.sa_mask);
    sigaction(SIGINT, &stop, NULL);
    sigaction(SIGTERM, &stop, NULL);
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGWINCH);
    pthread_sigmask(SIG_BLOCK, &set, &old);
    gregor_consumer *c;
    int rc = TOOL_EXIT_FAIL;
    if (gregor_consumer_new(cfg, &c, err, sizeof err) != GREGOR_OK) {
        tool_error("top", "%s", err);
        goto out_mask;
    }
    top_query q = {cfg,         o->groups,    o->n_groups, o->topics, o->n_topics,
                   o->metrics, o->n_metrics, (int32_t)(o->wait_s * 1000)};
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        tool_error("top", "curl_global_init failed");
    else if (reachable(c, o, q.timeout_ms))
        rc = loop(c, o, &q, &set);
    curl_global_cleanup();
    gregor_consumer_destroy(c);
out_mask:
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}

int cmd_top(int argc, char **argv)
{
    enum { OPT_INTERVAL = 256, OPT_METRICS };
    static const struct option longopts[] = {
        {"interval-ms", required_argument, NULL, OPT_INTERVAL},
        {"metrics", required_argument, NULL, OPT_METRICS},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    opts o = {.interval_ms = 1000, .count = 0, .wait_s = 10};
    int opt, rc = TOOL_EXIT_USAGE;
    gregor_config *cfg = gregor_config_new();
    if (!cfg)
        return TOOL_EXIT_FAIL;
    char err[512];
    while ((opt = getopt_long(argc, argv, "b:g:t:n:X:m:h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'b':
            if (gregor_config_set(cfg, "bootstrap", optarg, err, sizeof err) != GREGOR_OK) {
                tool_error("top", "%s", err);
                goto out;
            }
            break;
        case 'g':
            if (o.n_groups == MAX_GROUPS) {
                tool_error("top", "at most %d groups", MAX_GROUPS);
                goto out;
            }
            o.groups[o.n_groups++] = optarg;
            break;
        case 't':
            if (o.n_topics == MAX_TOPICS) {
                tool_error("top", "at most %d topics", MAX_TOPICS);
                goto out;
            }
            o.topics[o.n_topics++] = optarg;
            break;
        case 'n':
            if (!tool_parse_int("top", "-n", optarg, 1, 1000000000, &o.count))
                goto out;
            break;
        case OPT_INTERVAL:
            if (!tool_parse_int("top", "--interval-ms", optarg, 100, 3600000, &o.interval_ms))
                goto out;
            break;
        case OPT_METRICS:
            if (o.n_metrics == TOP_ENDPOINTS_MAX || !optarg[0] || strlen(optarg) > 500) {
                tool_error("top", "--metrics: at most %d addresses, each HOST:PORT or a URL of up to 500 bytes",
                           TOP_ENDPOINTS_MAX);
                goto out;
            }
            o.metrics[o.n_metrics++] = optarg;
            break;
        case 'X':
            if (!tool_apply_x(cfg, optarg))
                goto out;
            break;
        case 'm':
            if (!tool_parse_int("top", "-m", optarg, 1, 3600, &o.wait_s))
                goto out;
            break;
        case 'h': usage(stdout); rc = TOOL_EXIT_OK; goto out;
        default: usage(stderr); goto out;
        }
    }
    if (optind != argc) {
        tool_error("top", "unexpected argument '%s'", argv[optind]);
        usage(stderr);
        goto out;
    }
    o.bootstrap = gregor_config_get(cfg, "bootstrap"); /* -b or -X bootstrap.servers=... */
    rc = start(cfg, &o);
out:
    gregor_config_destroy(cfg);
    return rc;
}
