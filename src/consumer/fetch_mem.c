/* consumer/fetch_mem.c — the account behind `prefetch_bytes`: every byte
 * of fetched data the consumer or the application holds, counted from the
 * moment a Fetch response arrives until the last batch that points into it
 * is destroyed.
 *
 * What is counted: each Fetch response frame (shared by the batches decoded
 * from it), each batch's decompression buffers, message and header arrays.
 * The fetcher sends no Fetch while the total is at or above the limit; the
 * release that brings it below the limit posts a kick to the loop, so that
 * fetching resumes whether the bytes were freed by poll, seek, pause or
 * gregor_batch_destroy() on any thread.
 *
 * Batches may outlive the consumer, so the account is reference counted
 * (the consumer, every fetch_buf and every batch hold a reference) and
 * forgets its owner when the consumer is destroyed.
 *
 * Threading: any thread. `held` and `refs` are atomics; `lock` guards
 * `owner` and is never held while taking the consumer's lock (batches are
 * destroyed under that lock), so there is no lock-order cycle.
 */
#include <stdlib.h>

#include "consumer/consumer_int.h"
#include "util/log.h"

fetch_mem *fetch_mem_new(gregor_consumer *owner, size_t limit)
{
    fetch_mem *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    atomic_init(&m->refs, 1);
    atomic_init(&m->held, 0);
    pthread_mutex_init(&m->lock, NULL);
    m->owner = owner;
    m->limit = limit;
    return m;
}

fetch_mem *fetch_mem_ref(fetch_mem *m)
{
    if (m)
        atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed);
    return m;
}

void fetch_mem_unref(fetch_mem *m)
{
    if (!m || atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) != 1)
        return;
    pthread_mutex_destroy(&m->lock);
    free(m);
}

void fetch_mem_disown(fetch_mem *m)
{
    pthread_mutex_lock(&m->lock);
    m->owner = NULL;
    pthread_mutex_unlock(&m->lock);
}

void fetch_mem_add(fetch_mem *m, size_t bytes)
{
    if (m)
        atomic_fetch_add_explicit(&m->held, bytes, memory_order_relaxed);
}

void fetch_mem_release(fetch_mem *m, size_t bytes)
{
    if (!m || bytes == 0)
        return;
    size_t before = atomic_fetch_sub_explicit(&m->held, bytes, memory_order_acq_rel);
    if (before < m->limit || before - bytes >= m->limit)
        return;
    /* Back below the limit: the fetcher may send again. */
    pthread_mutex_lock(&m->lock);
    if (m->owner && net_loop_post(m->owner->client->loop, fetcher_kick, m->owner) != GREGOR_OK)
        gregor_log(GREGOR_LOG_WARN, "consumer: cannot queue a fetch: out of memory");
    pthread_mutex_unlock(&m->lock);
}

bool fetch_mem_full(fetch_mem *m)
{
    return atomic_load_explicit(&m->held, memory_order_relaxed) >= m->limit;
}

size_t fetch_mem_held(fetch_mem *m) { return atomic_load_explicit(&m->held, memory_order_relaxed); }
