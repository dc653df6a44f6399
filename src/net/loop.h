/* net/loop.h — the event loop: one I/O thread per client.
 *
 * The loop owns a poller (readiness of sockets), a min-heap of timers and a
 * queue of jobs posted from other threads (woken through an eventfd). All
 * sockets, connections and cluster state of a client are touched only on this
 * thread; other threads hand work over with net_loop_post().
 *
 * Order of one iteration: run due timers, run posted jobs, wait for I/O (up
 * to the next timer deadline), dispatch I/O. Jobs run before waiting so that
 * work posted while the loop was busy is never delayed by a poll timeout.
 *
 * Threading: net_loop_post(), net_loop_call(), net_loop_on_thread() and
 * net_now_ms() may be called from any thread; everything else from the loop thread (or before
 * net_loop_start / after net_loop_stop).
 */
#ifndef GREGOR_NET_LOOP_H
#define GREGOR_NET_LOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gregor/error.h"

typedef struct net_loop net_loop;

/* Monotonic milliseconds (clock_mono_ms(), util/clock.h). */
int64_t net_now_ms(void);

typedef void (*net_job_fn)(net_loop *l, void *arg);
typedef void (*net_io_fn)(net_loop *l, uint32_t events, void *arg);
typedef void (*net_timer_fn)(net_loop *l, void *arg);

/* A timer embedded in its owner; armed at most once at a time. */
typedef struct net_timer {
    int64_t deadline_ms;
    size_t heap_index; /* SIZE_MAX when not armed */
    net_timer_fn fn;
    void *arg;
} net_timer;

/* An I/O watch embedded in its owner (a connection). */
typedef struct net_watch {
    int fd;
    uint32_t events;
    net_io_fn fn;
    void *arg;
} net_watch;

gregor_err net_loop_new(net_loop **out) GREGOR_MUST_CHECK;
/* Starts the loop thread. */
gregor_err net_loop_start(net_loop *l) GREGOR_MUST_CHECK;
/* Asks the loop to stop after the current iteration and joins the thread.
 * Jobs still queued are run (on the calling thread, after the join) so that
 * every posted job runs exactly once. Idempotent. Not from the loop thread. */
void net_loop_stop(net_loop *l);
/* Stops (if needed) and frees. NULL does nothing. Timers and watches must
 * have been removed by their owners. */
void net_loop_destroy(net_loop *l);

/* Runs fn(l, arg) on the loop thread soon. Any thread. Returns NOMEM if the
 * job could not be queued (then fn is not called). */
gregor_err net_loop_post(net_loop *l, net_job_fn fn, void *arg) GREGOR_MUST_CHECK;
bool net_loop_on_thread(const net_loop *l);
/* Runs fn(l, arg) on the loop thread and waits until it has run; jobs
 * posted earlier run first (the queue is FIFO). On the loop thread itself,
 * and before net_loop_start / after net_loop_stop (on the thread that
 * stopped it: no loop thread owns the state then), fn runs inline. Returns
 * NOMEM if the job could not be queued (then fn did not run). Any thread. */
gregor_err net_loop_call(net_loop *l, net_job_fn fn, void *arg) GREGOR_MUST_CHECK;

void net_timer_init(net_timer *t, net_timer_fn fn, void *arg);
/* Arms (or re-arms) `t` to fire at `deadline_ms` (net_now_ms clock). */
void net_timer_arm(net_loop *l, net_timer *t, int64_t deadline_ms);
void net_timer_cancel(net_loop *l, net_timer *t);
static inline bool net_timer_armed(const net_timer *t) { return t->heap_index != SIZE_MAX; }

/* Registers w->fd for `events` (POLLER_READ/POLLER_WRITE). */
gregor_err net_watch_add(net_loop *l, net_watch *w, int fd, uint32_t events, net_io_fn fn,
                         void *arg) GREGOR_MUST_CHECK;
/* Changes the interest set; a no-op when unchanged. */
gregor_err net_watch_set(net_loop *l, net_watch *w, uint32_t events) GREGOR_MUST_CHECK;
/* Unregisters (does not close the fd). Safe to call from inside w's callback. */
void net_watch_remove(net_loop *l, net_watch *w);

#endif
