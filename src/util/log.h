/* util/log.h — leveled logging to a replaceable sink.
 *
 * The default sink writes "gregor LEVEL: message" lines to stderr for
 * messages at or above the threshold (WARN unless GREGOR_LOG_LEVEL is set in
 * the environment to debug, info, warn or error). Library users replace the
 * sink through the public API.
 *
 * Threading: gregor_log() may be called from any thread; the sink must be
 * thread-safe. Setting the sink or level is atomic with respect to logging.
 */
#ifndef GREGOR_UTIL_LOG_H
#define GREGOR_UTIL_LOG_H

#include <stdbool.h>

typedef enum gregor_log_level {
    GREGOR_LOG_DEBUG = 0,
    GREGOR_LOG_INFO = 1,
    GREGOR_LOG_WARN = 2,
    GREGOR_LOG_ERROR = 3
} gregor_log_level;

typedef void (*gregor_log_sink)(gregor_log_level level, const char *message, void *arg);

void gregor_log(gregor_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
bool gregor_log_enabled(gregor_log_level level);
void gregor_log_set_level(gregor_log_level level);
/* NULL restores the stderr sink. */
void gregor_log_set_sink(gregor_log_sink sink, void *arg);
const char *gregor_log_level_name(gregor_log_level level);

#endif
