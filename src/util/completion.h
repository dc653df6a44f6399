/* util/completion.h — a one-shot "it is done" signal between two threads.
 *
 * One thread waits for work that another thread finishes: a job posted to
 * the event loop, a request whose answer a callback delivers. The waiter
 * owns the completion (usually on its stack) and calls completion_wait(),
 * which returns once completion_signal() was called and then releases the
 * completion's resources, so the signalling thread must not touch it after
 * completion_signal() returns (the waiter may already have returned and
 * reused the stack).
 *
 * Threading: completion_signal() from any thread, exactly once;
 * completion_wait() or completion_fini() from the owner, exactly once.
 */
#ifndef GREGOR_UTIL_COMPLETION_H
#define GREGOR_UTIL_COMPLETION_H

#include <pthread.h>
#include <stdbool.h>

typedef struct completion {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool done; /* (lock) */
} completion;

void completion_init(completion *c);
/* Marks it done and wakes the waiter. */
void completion_signal(completion *c);
/* Waits until completion_signal() was called, then finalizes. */
void completion_wait(completion *c);
/* Finalizes a completion that will never be signalled or waited for (the
 * work could not be started). */
void completion_fini(completion *c);

#endif
