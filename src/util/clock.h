/* util/clock.h — the one clock every deadline and timeout is measured on.
 *
 * Deadlines use CLOCK_MONOTONIC, so that a wall-clock step (NTP, an operator
 * setting the date) neither fires a timeout early nor stretches it. Condition
 * variables that wait for a deadline are created with clock_cond_init() so
 * that pthread_cond_timedwait() reads the same clock; clock_deadline_ts()
 * gives the absolute time it expects. Message timestamps are wall time and do
 * not come from here.
 *
 * Threading: every function may be called from any thread.
 */
#ifndef GREGOR_UTIL_CLOCK_H
#define GREGOR_UTIL_CLOCK_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

/* Milliseconds on CLOCK_MONOTONIC (an arbitrary origin; only differences
 * mean something). */
int64_t clock_mono_ms(void);
/* The same clock in microseconds (latencies, round trips). */
int64_t clock_mono_us(void);

/* The CLOCK_MONOTONIC time `timeout_ms` from now, for pthread_cond_timedwait()
 * on a condition variable made by clock_cond_init(). timeout_ms < 0 counts as
 * 0 (already due). */
struct timespec clock_deadline_ts(int64_t timeout_ms);

/* pthread_cond_init() with CLOCK_MONOTONIC as the clock of timed waits.
 * Returns pthread_cond_init()'s result (0 or an errno value). */
int clock_cond_init(pthread_cond_t *cond);

#endif
