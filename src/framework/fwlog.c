/* framework/fwlog.c — the process-wide structured log sink (fwlog.h): its
 * settings, the log file and its reopening, and the route of the
 * library's gregor_log() lines. Formatting is in fwlog_format.c.
 *
 * Each line is formatted on the caller's stack (no lock) and written with
 * one write(2) under `lock`: with O_APPEND lines from threads (and from
 * other processes appending to the same file) never interleave, and a
 * reopen swaps the descriptor between two lines. Expected load: a few
 * lines per rebalance, one per failed attempt; not one per message. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "framework/fwlog.h"
#include "framework/nearest.h"
#include "util/errstr.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int log_fd = -1;         /* the log file; -1: stderr (lock) */
static char *log_path;          /* its path (lock) */
static atomic_bool log_to_file; /* log_fd >= 0: lines are stamped */
static atomic_int log_format = FW_LOG_TEXT;
static atomic_int threshold = GREGOR_LOG_INFO;
static atomic_bool lib_routed;    /* gregor_log() lines come here */
static int lib_level_before = -1; /* the library's threshold before routing, -1: not changed */

static const char *const option_keys[] = {"log_format", "log_file", "log_level"};

void fw_log_options_init(fw_log_options *o)
{
    *o = (fw_log_options){.format = FW_LOG_TEXT, .level = GREGOR_LOG_INFO};
}

static bool parse_level(const char *v, gregor_log_level *out)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};
    for (int l = GREGOR_LOG_DEBUG; l <= GREGOR_LOG_ERROR; l++)
        if (!strcasecmp(v, names[l])) {
            *out = (gregor_log_level)l;
            return true;
        }
    if (!strcasecmp(v, "warning")) {
        *out = GREGOR_LOG_WARN;
        return true;
    }
    return false;
}

gregor_err fw_log_option_set(fw_log_options *o, const char *key, const char *value, char *errstr,
                             size_t errstr_size)
{
    const char *k = strncmp(key, "log_", 4) ? key : key + 4;
    if (!strcmp(k, "format")) {
        if (!strcmp(value, "text") || !strcmp(value, "json")) {
            o->format = value[0] == 'j' ? FW_LOG_JSON : FW_LOG_TEXT;
            return GREGOR_OK;
        }
        errstr_set(errstr, errstr_size, "%s: '%s' is not a log format (json or text)", key, value);
    } else if (!strcmp(k, "level")) {
        if (parse_level(value, &o->level)) {
            o->level_set = true;
            return GREGOR_OK;
        }
        errstr_set(errstr, errstr_size, "%s: '%s' is not a log level (debug, info, warn or error)", key, value);
    } else if (!strcmp(k, "file")) {
        if (*value) {
            o->file = value;
            return GREGOR_OK;
        }
        errstr_set(errstr, errstr_size, "%s: the path is empty", key);
    } else {
        const char *near = fw_nearest(key, option_keys, sizeof option_keys / sizeof option_keys[0]);
        errstr_set(errstr, errstr_size, "unknown option '%s'%s%s%s (known: log_format, log_file, log_level)", key,
                   near ? " (did you mean " : "", near ? near : "", near ? "?)" : "");
    }
    return GREGOR_ERR_CONFIG;
}

static int open_log(const char *path)
{
    return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
}

gregor_err fw_log_configure(const fw_log_options *o, char *errstr, size_t errstr_size)
{
    int fd = -1;
    char *path = NULL;
    if (o->file) {
        path = strdup(o->file);
        if (!path) {
            errstr_set(errstr, errstr_size, "log_file: out of memory");
            return GREGOR_ERR_NOMEM;
        }
        fd = open_log(path);
        if (fd < 0) {
            errstr_set(errstr, errstr_size, "log_file %s: cannot open: %s", path, strerror(errno));
            free(path);
            return GREGOR_ERR_IO;
        }
    }
    pthread_mutex_lock(&lock);
    int old_fd = log_fd;
    char *old_path = log_path;
    log_fd = fd;
    log_path = path;
    atomic_store(&log_to_file, fd >= 0);
    atomic_store(&log_format, (int)o->format);
    atomic_store(&threshold, (int)o->level);
    pthread_mutex_unlock(&lock);
    if (old_fd >= 0)
        close(old_fd);
    free(old_path);
    if (o->level_set) {
        if (lib_level_before < 0)
            for (int l = GREGOR_LOG_ERROR; l >= GREGOR_LOG_DEBUG; l--)
                if (gregor_log_enabled((gregor_log_level)l))
                    lib_level_before = l;
        gregor_log_set_level(o->level);
    }
    return GREGOR_OK;
}

gregor_err fw_log_reopen(char *errstr, size_t errstr_size)
{
    /* The path only changes in configure, which is not concurrent with
     * reopen (fwlog.h): open outside the lock, swap inside. */
    pthread_mutex_lock(&lock);
    char *path = log_path ? strdup(log_path) : NULL;
    bool to_file = log_path != NULL;
    pthread_mutex_unlock(&lock);
    if (!to_file)
        return GREGOR_OK;
    if (!path) {
        errstr_set(errstr, errstr_size, "log_file: out of memory");
        return GREGOR_ERR_NOMEM;
    }
    int fd = open_log(path);
    if (fd < 0) {
        errstr_set(errstr, errstr_size, "log_file %s: cannot reopen: %s (still writing to the old file)", path,
                   strerror(errno));
        free(path);
        return GREGOR_ERR_IO;
    }
    free(path);
    pthread_mutex_lock(&lock);
    int old_fd = log_fd;
    log_fd = fd;
    pthread_mutex_unlock(&lock);
    if (old_fd >= 0)
        close(old_fd);
    return GREGOR_OK;
}

static atomic_int log_child = -1; /* fw_log_set_child() */

void fw_log_set_child(int32_t child) { atomic_store(&log_child, child >= 0 ? child : -1); }

void fw_log_reset(void)
{
    fw_log_route_library(false);
    atomic_store(&log_child, -1);
    fw_log_options o;
    fw_log_options_init(&o);
    char e[16];
    if (fw_log_configure(&o, e, sizeof e) != GREGOR_OK) {
        /* no file to open: cannot fail */
    }
    if (lib_level_before >= 0) {
        gregor_log_set_level((gregor_log_level)lib_level_before);
        lib_level_before = -1;
    }
}


static void write_line(const fw_log_event *ev, const char *msg);

/* The library filtered by its own threshold (GREGOR_LOG_LEVEL, or
 * log_level when given): no second filter here. */
static void lib_sink(gregor_log_level level, const char *message, void *arg)
{
    (void)arg;
    fw_log_event ev = fw_log_ev(level, NULL);
    ev.source = FW_LOG_SRC_LIB;
    write_line(&ev, message);
}

void fw_log_route_library(bool on)
{
    /* Only undo our own routing: an embedding program's sink stays. */
    if (on || atomic_exchange(&lib_routed, false))
        gregor_log_set_sink(on ? lib_sink : NULL, NULL);
    if (on)
        atomic_store(&lib_routed, true);
}

bool fw_log_to_file(void)
{
    return atomic_load(&log_to_file);
}

bool fw_log_enabled(gregor_log_level level)
{
    return (int)level >= atomic_load(&threshold);
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return; /* a full disk or a closed stderr: the line is lost, the pipelines go on */
        p += w;
        n -= (size_t)w;
    }
}

static void write_line(const fw_log_event *ev, const char *msg)
{
    fw_log_event stamped;
    int child = atomic_load(&log_child);
    if (child >= 0 && ev->child < 0) {
        stamped = *ev;
        stamped.child = child;
        ev = &stamped;
    }
    char line[FW_LOG_LINE_MAX];
    fw_log_format format = (fw_log_format)atomic_load(&log_format);
    size_t n = fw_log_format_line(ev, msg, format, atomic_load(&log_to_file), wall_ms(), line, sizeof line);
    pthread_mutex_lock(&lock);
    write_all(log_fd >= 0 ? log_fd : STDERR_FILENO, line, n);
    pthread_mutex_unlock(&lock);
}

void fw_log_emit(const fw_log_event *ev, const char *msg)
{
    if (fw_log_enabled(ev->level))
        write_line(ev, msg);
}

void fw_log_emitf(const fw_log_event *ev, const char *fmt, ...)
{
    if (!fw_log_enabled(ev->level))
        return;
    char msg[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fw_log_emit(ev, msg);
}
