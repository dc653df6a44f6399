/* net/timer_heap.h — the loop's timers, ordered by deadline.
 *
 * An intrusive pairing heap: the links live in each net_timer, so arming a
 * timer never allocates (and cannot fail for lack of memory). Insert is
 * O(1), removing the earliest or any armed timer O(log n) amortized.
 *
 * Threading: the loop thread only (net/loop.c is the one user).
 */
#ifndef GREGOR_NET_TIMER_HEAP_H
#define GREGOR_NET_TIMER_HEAP_H

#include "net/loop.h"

/* Adds the unarmed timer `t` (deadline set) to the heap rooted at *root. */
void timer_heap_insert(net_timer **root, net_timer *t);

/* Removes the armed timer `t` from the heap rooted at *root. */
void timer_heap_remove(net_timer **root, net_timer *t);

#endif
