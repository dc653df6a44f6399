/* net/poller.h — the readiness-notification backend of the event loop.
 *
 * One backend file per OS (poller_epoll.c on Linux); the loop never sees
 * epoll directly. Events are POLLER_READ / POLLER_WRITE bit sets; errors and
 * hang-ups are reported as both READ and WRITE so the owner's read or write
 * path discovers them through the failing system call.
 *
 * Threading: a poller is used by the loop thread only.
 */
#ifndef GREGOR_NET_POLLER_H
#define GREGOR_NET_POLLER_H

#include <stdint.h>

#include "gregor/error.h"

#define POLLER_READ 1u
#define POLLER_WRITE 2u

typedef struct poller poller;

typedef struct poller_event {
    void *arg;
    uint32_t events;
} poller_event;

gregor_err poller_new(poller **out) GREGOR_MUST_CHECK;
void poller_destroy(poller *p);
/* Registers `fd`; `arg` comes back with each of its events. */
gregor_err poller_add(poller *p, int fd, uint32_t events, void *arg) GREGOR_MUST_CHECK;
gregor_err poller_modify(poller *p, int fd, uint32_t events, void *arg) GREGOR_MUST_CHECK;
void poller_remove(poller *p, int fd);
/* Waits up to `timeout_ms` (-1 forever); returns the number of events
 * stored in `out` (at most `max`), 0 on timeout or EINTR. */
int poller_wait(poller *p, poller_event *out, int max, int timeout_ms);

#endif
