/* framework/swarm_crash.h — the swarm's crash table: which handler calls
 * were running when a worker process died of a signal, so that a message
 * that kills its process counts a failed attempt per death and ends in the
 * dead-letter topic (or stops its partition) instead of crashing process
 * after process.
 *
 * An entry is one crashed call: pipeline name, topic, partition, the offset
 * range of the call (one message, or a batch handler's batch) and the
 * signal; the same call crashing again adds to its count. A message's
 * crashes are the sum of the counts of the entries whose range holds its
 * offset. The table is bounded (FW_CRASH_MAX entries): when full, the
 * oldest entry goes (its offsets are long committed in any real case).
 *
 * The supervisor (swarm.c) owns the master table and sends it whole to its
 * children (fw_crash_encode / fw_crash_decode, over the swarm socket); a
 * child keeps a copy behind its own lock (swarm_child.c).
 *
 * Threading: none inside; callers lock.
 */
#ifndef GREGOR_FRAMEWORK_SWARM_CRASH_H
#define GREGOR_FRAMEWORK_SWARM_CRASH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gregor/error.h"

#define FW_CRASH_MAX 1024
#define FW_CRASH_NAME_MAX 256 /* bytes of a pipeline or topic name, with the NUL */

typedef struct fw_crash {
    char pipeline[FW_CRASH_NAME_MAX];
    char topic[FW_CRASH_NAME_MAX];
    int32_t partition;
    int64_t first_offset, last_offset; /* inclusive */
    int32_t count;                     /* deaths during this call */
    int32_t signo;                     /* the last death: FW_CRASH_HOW_* below */
} fw_crash;

/* How a process died in a call (fw_crash.signo): a signal number > 0;
 * FW_CRASH_TIMED_OUT: killed for handler_timeout_ms; FW_CRASH_EXITED(s):
 * it exited with status s (0..255) in the middle of the call. */
#define FW_CRASH_TIMED_OUT 0
#define FW_CRASH_EXITED(status) (-1 - (status))

typedef struct fw_crash_table {
    fw_crash *items; /* FW_CRASH_MAX of them once the first entry is added */
    size_t n;
} fw_crash_table;

void fw_crash_table_init(fw_crash_table *t);
void fw_crash_table_fini(fw_crash_table *t);

/* Counts one death (signal `signo`) during a call on `first..last` of
 * topic/partition in `pipeline` (names longer than FW_CRASH_NAME_MAX - 1
 * are cut, consistently for add and lookup). NOMEM when the table cannot
 * be allocated; INVALID_ARG when last < first. */
gregor_err fw_crash_add(fw_crash_table *t, const char *pipeline, const char *topic, int32_t partition,
                        int64_t first_offset, int64_t last_offset, int signo) GREGOR_MUST_CHECK;

/* The crashes of one message (0: none) and, when *signo_out is not NULL,
 * the signal of the latest of them. */
int fw_crash_count(const fw_crash_table *t, const char *pipeline, const char *topic, int32_t partition,
                   int64_t offset, int *signo_out);

/* The table as bytes: a malloc'd buffer in *out (*len_out bytes). NOMEM. */
gregor_err fw_crash_encode(const fw_crash_table *t, uint8_t **out, size_t *len_out) GREGOR_MUST_CHECK;

/* Replaces the table's entries by those encoded in data/len. MALFORMED (the
 * table unchanged) when the bytes are not a table: truncated, a count above
 * FW_CRASH_MAX, a name too long or holding a NUL, a range backwards. */
gregor_err fw_crash_decode(fw_crash_table *t, const uint8_t *data, size_t len) GREGOR_MUST_CHECK;

/* "signal 11 (SIGSEGV)" into buf. */
const char *fw_signal_describe(int signo, char *buf, size_t size);

/* The error a crashed message carries (its gregor.error header): "handler
 * crashed: signal 11 (SIGSEGV)", "handler timed out: ran past
 * handler_timeout_ms (N ms)" or "handler crashed: its process exited with
 * status N", for `how` (fw_crash.signo), into buf. */
const char *fw_crash_reason(int how, int64_t handler_timeout_ms, char *buf, size_t size);

#endif
