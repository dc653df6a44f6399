/* util/completion.c — see completion.h. The signal is taken under the lock
 * and the broadcast happens under it too, so the waiter cannot return and
 * destroy the mutex while the signaller still holds it. */
#include "util/completion.h"

void completion_init(completion *c)
{
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->cond, NULL);
    c->done = false;
}

void completion_signal(completion *c)
{
    pthread_mutex_lock(&c->lock);
    c->done = true;
    pthread_cond_signal(&c->cond);
    pthread_mutex_unlock(&c->lock);
}

void completion_wait(completion *c)
{
    pthread_mutex_lock(&c->lock);
    while (!c->done)
        pthread_cond_wait(&c->cond, &c->lock);
    pthread_mutex_unlock(&c->lock);
    completion_fini(c);
}

void completion_fini(completion *c)
{
    pthread_cond_destroy(&c->cond);
    pthread_mutex_destroy(&c->lock);
}
