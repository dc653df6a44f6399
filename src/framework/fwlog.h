/* framework/fwlog.h — the framework's structured log: one line per event,
 * with the event's coordinates as fields (pipeline, group, member and
 * generation, topic / partition / offset, attempt, error), written as text
 * or as JSON (one object per line) to stderr or to a file opened O_APPEND
 * and reopened on demand (SIGHUP, logrotate's way). Under `gregor run` the
 * library's gregor_log() lines go through the same sink (fw_log_route_library).
 *
 * Formats (docs/PIPELINES.md, "Logs"):
 *   text  "gregor run: pipeline P: T [p] offset O: MSG: ERROR | group=G ..."
 *         (the library's lines: "gregor LEVEL: MSG"); in a file each line
 *         starts with "2026-12-02T06:30:00.123Z INFO " (and the library's
 *         with "... INFO gregor: MSG").
 *   json  {"ts":"2026-...Z","level":"info","source":"run","event":"assigned",
 *          "msg":"...","pipeline":"P","group":"G",...}
 * Every value is escaped: control characters as \n, \t, \u00XX (JSON) or
 * \xNN (text), bytes that are not UTF-8 as \xNN; the line is one line,
 * whatever the handler's error text or payload holds. Error text is cut at
 * FW_LOG_ERROR_MAX bytes, payloads at FW_LOG_PAYLOAD_MAX, a line at
 * FW_LOG_LINE_MAX (JSON stays valid: strings are closed).
 *
 * Threading: the sink is process-wide. fw_log_emit*() may be called from
 * any thread (one write(2) per line, under the sink's mutex, so lines never
 * interleave and a reopen never splits one); fw_log_configure() and
 * fw_log_reset() on one thread while nothing else logs (before the
 * pipelines start, after they stopped); fw_log_reopen() from any thread.
 * fw_log_format_line() is pure.
 */
#ifndef GREGOR_FRAMEWORK_FWLOG_H
#define GREGOR_FRAMEWORK_FWLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gregor/error.h"
#include "gregor/group.h"
#include "util/log.h"

#define FW_LOG_LINE_MAX 16384  /* bytes of one line, newline included */
#define FW_LOG_ERROR_MAX 1024  /* bytes of an error text (input), cut beyond */
#define FW_LOG_PAYLOAD_MAX 256 /* bytes of a payload (input), cut beyond */
#define FW_LOG_TPS_MAX 64      /* partitions listed in one event's `partitions` */

typedef enum fw_log_format { FW_LOG_TEXT = 0, FW_LOG_JSON = 1 } fw_log_format;

/* Who wrote the line: the framework (text prefix "gregor run: ", JSON
 * "source":"run") or the library through gregor_log() ("gregor LEVEL: ",
 * "lib"). */
typedef enum fw_log_source { FW_LOG_SRC_RUN = 0, FW_LOG_SRC_LIB = 1 } fw_log_source;

/* One event. Every pointer is borrowed for the call. Absent fields: NULL
 * strings, negative numbers (attempt: 0). Start from fw_log_ev(). */
typedef struct fw_log_event {
    gregor_log_level level;
    fw_log_source source;
    const char *event;      /* a stable name ("assigned", "dead_lettered", ...), or NULL */
    const char *pipeline;
    const char *group;
    const char *member;     /* group member id */
    int32_t child;          /* the swarm worker process (its slot) that wrote it; < 0: none
                             * (fw_log_set_child() fills it in for every line of a process) */
    int32_t generation;     /* < 0: none */
    const char *topic;      /* with partition */
    int32_t partition;      /* < 0: none */
    int64_t offset;         /* < 0: none */
    int32_t attempt;        /* handler calls so far; 0: none */
    const gregor_topic_offset *tps; /* a rebalance's partitions (topic, partition) */
    size_t n_tps;
    const char *error;      /* why it failed (a handler's text, a broker's error) */
    const void *payload;    /* the input message's value, only with log_payloads */
    size_t payload_len;
    bool has_payload;
} fw_log_event;

/* An event of `level` named `event` (may be NULL) with no field set. */
fw_log_event fw_log_ev(gregor_log_level level, const char *event);

/* What `gregor run -X log_*=` and the file's `log:` map set. */
typedef struct fw_log_options {
    fw_log_format format; /* default text */
    const char *file;     /* NULL: stderr (borrowed until the next configure / reset) */
    gregor_log_level level; /* default info */
    bool level_set;       /* level was given: the library's lines follow it too */
} fw_log_options;

/* Defaults: text, stderr, info. */
void fw_log_options_init(fw_log_options *o);

/* Sets one option from "log_format" / "log_file" / "log_level" and its
 * value (also accepted: "format", "file", "level", the `log:` map's keys).
 * CONFIG with errstr naming the key and the value (an unknown key: the
 * nearest known one) otherwise. */
gregor_err fw_log_option_set(fw_log_options *o, const char *key, const char *value, char *errstr,
                             size_t errstr_size) GREGOR_MUST_CHECK;

/* Makes `o` the sink's settings: opens o->file (O_APPEND | O_CREAT, 0644)
 * when given. IO with errstr naming the file and the reason when it cannot
 * be opened; the sink is unchanged then. */
gregor_err fw_log_configure(const fw_log_options *o, char *errstr, size_t errstr_size) GREGOR_MUST_CHECK;

/* Closes the log file and opens its path again (after logrotate moved it
 * away: new lines go to a new file). Does nothing when logging to stderr.
 * IO with errstr when the path cannot be opened: the old file is kept and
 * lines go on there. Any thread; not async-signal-safe. */
gregor_err fw_log_reopen(char *errstr, size_t errstr_size) GREGOR_MUST_CHECK;

/* Back to the defaults: stderr, text, info, the library's own sink; the
 * file closed. */
void fw_log_reset(void);

/* Sends the library's gregor_log() lines through this sink (true; with
 * log_level set, the library's threshold becomes it) or, when they were
 * sent here, back to the library's default sink (false; a sink the program
 * set itself is left alone). */
void fw_log_route_library(bool on);

/* Every later line of this process says it comes from swarm worker
 * process `child` (its slot; -1: none, the default; fw_log_reset() clears
 * it). Any thread. */
void fw_log_set_child(int32_t child);

/* Whether lines go to a log file (not stderr). Any thread. */
bool fw_log_to_file(void);

/* Whether an event of `level` would be written. Any thread. */
bool fw_log_enabled(gregor_log_level level);

/* Writes `ev` with the message `msg` (fw_log_emitf: printf-style). Any
 * thread; never fails (a line that cannot be written is dropped). */
void fw_log_emit(const fw_log_event *ev, const char *msg);
void fw_log_emitf(const fw_log_event *ev, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Formats one line (newline-terminated) into out (cap >= 128): JSON, or
 * text with the time and level first when `stamp`. `wall_ms` is the event's
 * time (Unix ms). Returns the length (< cap). Pure. */
size_t fw_log_format_line(const fw_log_event *ev, const char *msg, fw_log_format format, bool stamp,
                          int64_t wall_ms, char *out, size_t cap);

#endif
