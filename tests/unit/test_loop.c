/* Unit tests for net/loop's net_loop_call and util/clock: a call runs its
 * job on the loop thread after the jobs posted before it, and returns only
 * once the job has run; monotonic deadlines are in the future. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "net/loop.h"
#include "util/clock.h"

typedef struct probe {
    net_loop *loop;
    atomic_int ran;      /* jobs run so far */
    int seen_before;     /* `ran` when the called job ran */
    bool on_loop_thread; /* where the called job ran */
} probe;

static void count_job(net_loop *l, void *arg)
{
    (void)l;
    probe *p = arg;
    struct timespec ts = {0, 2 * 1000 * 1000}; /* slow jobs ahead of the call */
    nanosleep(&ts, NULL);
    atomic_fetch_add(&p->ran, 1);
}

static void called_job(net_loop *l, void *arg)
{
    probe *p = arg;
    p->seen_before = atomic_load(&p->ran);
    p->on_loop_thread = net_loop_on_thread(l);
    atomic_fetch_add(&p->ran, 1);
}

Test(loop, call_waits_for_its_job_after_the_earlier_ones)
{
    probe p = {0};
    cr_assert_eq(net_loop_new(&p.loop), GREGOR_OK);
    cr_assert_eq(net_loop_start(p.loop), GREGOR_OK);
    for (int i = 0; i < 10; i++)
        cr_assert_eq(net_loop_post(p.loop, count_job, &p), GREGOR_OK);
    cr_assert_eq(net_loop_call(p.loop, called_job, &p), GREGOR_OK);
    /* Returned only after the job ran, and the ten before it ran first. */
    cr_assert_eq(atomic_load(&p.ran), 11);
    cr_assert_eq(p.seen_before, 10);
    cr_assert(p.on_loop_thread);
    net_loop_destroy(p.loop);
}

static void call_from_loop(net_loop *l, void *arg)
{
    probe *p = arg;
    /* On the loop thread a call runs inline instead of waiting for itself. */
    cr_assert_eq(net_loop_call(l, called_job, p), GREGOR_OK);
    cr_assert_eq(atomic_load(&p->ran), 1);
}

Test(loop, call_on_the_loop_thread_runs_inline)
{
    probe p = {0};
    cr_assert_eq(net_loop_new(&p.loop), GREGOR_OK);
    cr_assert_eq(net_loop_start(p.loop), GREGOR_OK);
    cr_assert_eq(net_loop_call(p.loop, call_from_loop, &p), GREGOR_OK);
    cr_assert_eq(atomic_load(&p.ran), 1);
    net_loop_destroy(p.loop);
}

Test(loop, call_before_start_and_after_stop_runs_inline)
{
    probe p = {0};
    cr_assert_eq(net_loop_new(&p.loop), GREGOR_OK);
    cr_assert_eq(net_loop_call(p.loop, called_job, &p), GREGOR_OK);
    cr_assert_eq(atomic_load(&p.ran), 1);
    cr_assert_eq(net_loop_start(p.loop), GREGOR_OK);
    net_loop_stop(p.loop);
    cr_assert_eq(net_loop_call(p.loop, called_job, &p), GREGOR_OK);
    cr_assert_eq(atomic_load(&p.ran), 2);
    net_loop_destroy(p.loop);
}

Test(clock, deadlines_are_monotonic_and_condvars_wait_on_them)
{
    int64_t t0 = clock_mono_ms();
    pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t c;
    cr_assert_eq(clock_cond_init(&c), 0);
    struct timespec until = clock_deadline_ts(50);
    pthread_mutex_lock(&m);
    int rc = 0;
    while (rc == 0) /* no signal comes: only the deadline ends the wait */
        rc = pthread_cond_timedwait(&c, &m, &until);
    pthread_mutex_unlock(&m);
    int64_t waited = clock_mono_ms() - t0;
    cr_assert_geq(waited, 50);
    cr_assert_lt(waited, 5000, "a monotonic deadline 50 ms out waited %lld ms", (long long)waited);
    /* A non-positive timeout is already due. */
    struct timespec now = clock_deadline_ts(-5), later = clock_deadline_ts(0);
    cr_assert(now.tv_sec < later.tv_sec || (now.tv_sec == later.tv_sec && now.tv_nsec <= later.tv_nsec));
    pthread_cond_destroy(&c);
}
