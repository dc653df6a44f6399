/* net/loop.c — see loop.h. Timers are a binary min-heap of pointers to
 * embedded net_timer structs (index kept in the timer for O(log n) cancel);
 * posted jobs are a mutex-protected singly linked FIFO. */
#include "net/loop.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "util/clock.h"
#include "util/completion.h"

#include "net/poller.h"

typedef struct job {
    struct job *next;
    net_job_fn fn;
    void *arg;
} job;

struct net_loop {
    poller *poller;
    int wake_fd;
    pthread_t thread;
    bool started;
    atomic_bool stopping;
    pthread_t owner; /* thread allowed to touch loop state */
    atomic_bool owner_set;
    sem_t running; /* posted by the loop thread once `owner` is set */

    pthread_mutex_t jobs_lock;
    job *jobs_head, *jobs_tail;

    net_timer **heap;
    size_t heap_len, heap_cap;
};

int64_t net_now_ms(void)
{
    return clock_mono_ms();
}

bool net_loop_on_thread(const net_loop *l)
{
    return !atomic_load(&l->owner_set) || pthread_equal(pthread_self(), l->owner);
}

gregor_err net_loop_new(net_loop **out)
{
    net_loop *l = calloc(1, sizeof *l);
    if (!l)
        return GREGOR_ERR_NOMEM;
    gregor_err err = poller_new(&l->poller);
    if (err)
        goto out_free;
    l->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (l->wake_fd < 0) {
        err = GREGOR_ERR_IO;
        goto out_poller;
    }
    /* The wake fd's arg is the loop itself: dispatch tells it apart. */
    err = poller_add(l->poller, l->wake_fd, POLLER_READ, l);
    if (err)
        goto out_wake;
    pthread_mutex_init(&l->jobs_lock, NULL);
    sem_init(&l->running, 0, 0);
    atomic_init(&l->stopping, false);
    atomic_init(&l->owner_set, false);
    *out = l;
    return GREGOR_OK;
out_wake:
    close(l->wake_fd);
out_poller:
    poller_destroy(l->poller);
out_free:
    free(l);
    return err;
}

static void wake(net_loop *l)
{
    uint64_t one = 1;
    ssize_t n = write(l->wake_fd, &one, sizeof one);
    (void)n; /* EAGAIN means the counter is already non-zero: awake anyway */
}

gregor_err net_loop_post(net_loop *l, net_job_fn fn, void *arg)
{
    job *j = malloc(sizeof *j);
    if (!j)
        return GREGOR_ERR_NOMEM;
    j->next = NULL;
    j->fn = fn;
    j->arg = arg;
    pthread_mutex_lock(&l->jobs_lock);
    if (l->jobs_tail)
        l->jobs_tail->next = j;
    else
        l->jobs_head = j;
    l->jobs_tail = j;
    pthread_mutex_unlock(&l->jobs_lock);
    wake(l);
    return GREGOR_OK;
}

typedef struct call_job {
    net_job_fn fn;
    void *arg;
    completion done;
} call_job;

static void call_on_loop(net_loop *l, void *arg)
{
    call_job *j = arg;
    j->fn(l, j->arg);
    completion_signal(&j->done);
}

gregor_err net_loop_call(net_loop *l, net_job_fn fn, void *arg)
{
    if (net_loop_on_thread(l)) {
        fn(l, arg);
        return GREGOR_OK;
    }
    call_job j = {.fn = fn, .arg = arg};
    completion_init(&j.done);
    gregor_err err = net_loop_post(l, call_on_loop, &j);
    if (err != GREGOR_OK) {
        completion_fini(&j.done);
        return err;
    }
    completion_wait(&j.done);
    return GREGOR_OK;
}

static void run_jobs(net_loop *l)
{
    pthread_mutex_lock(&l->jobs_lock);
    job *j = l->jobs_head;
    l->jobs_head = l->jobs_tail = NULL;
    pthread_mutex_unlock(&l->jobs_lock);
    while (j) {
        job *next = j->next;
        j->fn(l, j->arg);
        free(j);
        j = next;
    }
}

/* ------------------------------------------------------------ timer heap */

static void heap_swap(net_loop *l, size_t a, size_t b)
{
    net_timer *t = l->heap[a];
    l->heap[a] = l->heap[b];
    l->heap[b] = t;
    l->heap[a]->heap_index = a;
    l->heap[b]->heap_index = b;
}

static void heap_up(net_loop *l, size_t i)
{
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (l->heap[parent]->deadline_ms <= l->heap[i]->deadline_ms)
            break;
        heap_swap(l, i, parent);
        i = parent;
    }
}

static void heap_down(net_loop *l, size_t i)
{
    for (;;) {
        size_t left = 2 * i + 1, right = left + 1, min = i;
        if (left < l->heap_len && l->heap[left]->deadline_ms < l->heap[min]->deadline_ms)
            min = left;
        if (right < l->heap_len && l->heap[right]->deadline_ms < l->heap[min]->deadline_ms)
            min = right;
        if (min == i)
            return;
        heap_swap(l, i, min);
        i = min;
    }
}

void net_timer_init(net_timer *t, net_timer_fn fn, void *arg)
{
    t->deadline_ms = 0;
    t->heap_index = SIZE_MAX;
    t->fn = fn;
    t->arg = arg;
}

void net_timer_cancel(net_loop *l, net_timer *t)
{
    assert(net_loop_on_thread(l));
    size_t i = t->heap_index;
    if (i == SIZE_MAX)
        return;
    assert(i < l->heap_len && l->heap[i] == t);
    l->heap_len--;
    if (i != l->heap_len) {
        l->heap[i] = l->heap[l->heap_len];
        l->heap[i]->heap_index = i;
        heap_down(l, i);
        heap_up(l, i);
    }
    t->heap_index = SIZE_MAX;
}

void net_timer_arm(net_loop *l, net_timer *t, int64_t deadline_ms)
{
    assert(net_loop_on_thread(l));
    net_timer_cancel(l, t);
    if (l->heap_len == l->heap_cap) {
        size_t cap = l->heap_cap ? l->heap_cap * 2 : 64;
        net_timer **h = realloc(l->heap, cap * sizeof *h);
        if (!h)
            abort(); /* a few pointers per connection; out of memory here is fatal */
        l->heap = h;
        l->heap_cap = cap;
    }
    t->deadline_ms = deadline_ms;
    t->heap_index = l->heap_len;
    l->heap[l->heap_len++] = t;
    heap_up(l, t->heap_index);
}

/* Fires due timers; returns the poll timeout until the next one (-1: none). */
static int run_timers(net_loop *l)
{
    int64_t now = net_now_ms();
    while (l->heap_len && l->heap[0]->deadline_ms <= now) {
        net_timer *t = l->heap[0];
        net_timer_cancel(l, t);
        t->fn(l, t->arg); /* may re-arm itself or others */
    }
    if (!l->heap_len)
        return -1;
    int64_t wait = l->heap[0]->deadline_ms - now;
    return wait > 60000 ? 60000 : (int)wait;
}

/* ---------------------------------------------------------------- watches */

gregor_err net_watch_add(net_loop *l, net_watch *w, int fd, uint32_t events, net_io_fn fn, void *arg)
{
    assert(net_loop_on_thread(l));
    w->fd = fd;
    w->events = events;
    w->fn = fn;
    w->arg = arg;
    return poller_add(l->poller, fd, events, w);
}

gregor_err net_watch_set(net_loop *l, net_watch *w, uint32_t events)
{
    assert(net_loop_on_thread(l));
    if (w->events == events)
        return GREGOR_OK;
    w->events = events;
    return poller_modify(l->poller, w->fd, events, w);
}

void net_watch_remove(net_loop *l, net_watch *w)
{
    assert(net_loop_on_thread(l));
    if (w->fd >= 0)
        poller_remove(l->poller, w->fd);
    w->fd = -1;
    w->fn = NULL;
}

/* ------------------------------------------------------------------- run */

static void *loop_main(void *arg)
{
    net_loop *l = arg;
    poller_event evs[64];
    l->owner = pthread_self();
    atomic_store(&l->owner_set, true);
    sem_post(&l->running);
    while (!atomic_load(&l->stopping)) {
        int timeout = run_timers(l);
        run_jobs(l);
        /* Jobs may have armed timers that are due now. */
        if (l->heap_len && l->heap[0]->deadline_ms <= net_now_ms())
            timeout = 0;
        else if (l->heap_len)
            timeout = (int)(l->heap[0]->deadline_ms - net_now_ms());
        int n = poller_wait(l->poller, evs, 64, timeout);
        for (int i = 0; i < n; i++) {
            if (evs[i].arg == l) {
                uint64_t v;
                ssize_t r = read(l->wake_fd, &v, sizeof v);
                (void)r;
                continue;
            }
            net_watch *w = evs[i].arg;
            /* A callback earlier in this batch may have removed this watch
             * (fn cleared); owners free watches only from jobs or timers,
             * never inside I/O dispatch of another watch. */
            if (w->fn)
                w->fn(l, evs[i].events, w->arg);
        }
    }
    return NULL;
}

gregor_err net_loop_start(net_loop *l)
{
    assert(!l->started);
    if (pthread_create(&l->thread, NULL, loop_main, l) != 0)
        return GREGOR_ERR_IO;
    while (sem_wait(&l->running) != 0 && errno == EINTR)
        ;
    l->started = true;
    return GREGOR_OK;
}

void net_loop_stop(net_loop *l)
{
    if (!l->started)
        return;
    assert(!pthread_equal(pthread_self(), l->thread));
    atomic_store(&l->stopping, true);
    wake(l);
    pthread_join(l->thread, NULL);
    l->started = false;
    l->owner = pthread_self();
    run_jobs(l);
}

void net_loop_destroy(net_loop *l)
{
    if (!l)
        return;
    net_loop_stop(l);
    run_jobs(l);
    free(l->heap);
    poller_destroy(l->poller);
    close(l->wake_fd);
    pthread_mutex_destroy(&l->jobs_lock);
    sem_destroy(&l->running);
    free(l);
}
