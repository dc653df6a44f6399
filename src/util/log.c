/* util/log.c — see log.h. */
#include "util/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static atomic_int threshold = -1; /* -1: not read from the environment yet */
static pthread_mutex_t sink_lock = PTHREAD_MUTEX_INITIALIZER;
static gregor_log_sink sink;
static void *sink_arg;

const char *gregor_log_level_name(gregor_log_level level)
{
    switch (level) {
    case GREGOR_LOG_DEBUG: return "DEBUG";
    case GREGOR_LOG_INFO: return "INFO";
    case GREGOR_LOG_WARN: return "WARN";
    case GREGOR_LOG_ERROR: return "ERROR";
    }
    return "?";
}

static int env_threshold(void)
{
    const char *e = getenv("GREGOR_LOG_LEVEL");
    if (e) {
        for (int l = GREGOR_LOG_DEBUG; l <= GREGOR_LOG_ERROR; l++)
            if (!strcasecmp(e, gregor_log_level_name((gregor_log_level)l)))
                return l;
    }
    return GREGOR_LOG_WARN;
}

bool gregor_log_enabled(gregor_log_level level)
{
    int t = atomic_load(&threshold);
    if (t < 0) {
        t = env_threshold();
        atomic_store(&threshold, t);
    }
    return (int)level >= t;
}

void gregor_log_set_level(gregor_log_level level) { atomic_store(&threshold, (int)level); }

void gregor_log_set_sink(gregor_log_sink s, void *arg)
{
    pthread_mutex_lock(&sink_lock);
    sink = s;
    sink_arg = arg;
    pthread_mutex_unlock(&sink_lock);
}

void gregor_log(gregor_log_level level, const char *fmt, ...)
{
    if (!gregor_log_enabled(level))
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&sink_lock);
    if (sink)
        sink(level, msg, sink_arg);
    else
        fprintf(stderr, "gregor %s: %s\n", gregor_log_level_name(level), msg);
    pthread_mutex_unlock(&sink_lock);
}
