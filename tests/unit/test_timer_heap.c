/* Unit tests for net/timer_heap.c, the loop's allocation-free timer heap:
 * timers come out in deadline order whatever the order of arming and of
 * cancellations, and re-arming moves a timer. */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "net/timer_heap.h"

#define N 2000

static net_timer timers[N];

static int64_t pop_all(net_timer **root, int *count)
{
    int64_t last = INT64_MIN;
    *count = 0;
    while (*root) {
        net_timer *t = *root;
        cr_assert(t->deadline_ms >= last, "out of order: %lld after %lld", (long long)t->deadline_ms,
                  (long long)last);
        last = t->deadline_ms;
        timer_heap_remove(root, t);
        cr_assert(!t->armed);
        (*count)++;
    }
    return last;
}

Test(timer_heap, timers_leave_in_deadline_order_after_random_cancels)
{
    srandom(7);
    net_timer *root = NULL;
    for (int i = 0; i < N; i++) {
        timers[i] = (net_timer){.deadline_ms = random() % 500}; /* many equal deadlines */
        timer_heap_insert(&root, &timers[i]);
    }
    /* Cancel every third one: some are the root, most are deep inside. */
    int cancelled = 0;
    for (int i = 0; i < N; i += 3) {
        timer_heap_remove(&root, &timers[i]);
        cancelled++;
    }
    /* Pop a few, then move others (cancel + insert, as net_timer_arm does). */
    for (int k = 0; k < 100; k++)
        timer_heap_remove(&root, root);
    for (int i = 1; i < N; i += 3) {
        if (!timers[i].armed)
            continue;
        timer_heap_remove(&root, &timers[i]);
        timers[i].deadline_ms = 1000 + random() % 100;
        timer_heap_insert(&root, &timers[i]);
    }
    int count;
    int64_t last = pop_all(&root, &count);
    cr_assert_eq(count, N - cancelled - 100);
    cr_assert(last >= 1000, "the moved timers come last");
    cr_assert_null(root);
}

Test(timer_heap, a_single_timer_and_an_empty_heap)
{
    net_timer *root = NULL, t = {.deadline_ms = 5};
    timer_heap_insert(&root, &t);
    cr_assert_eq(root, &t);
    timer_heap_remove(&root, &t);
    cr_assert_null(root);
    timer_heap_insert(&root, &t);
    cr_assert(t.armed);
    timer_heap_remove(&root, &t);
    cr_assert_null(root);
}
