/* Unit tests for framework/ledger.c, the offset ledger that decides what a
 * pipeline may commit: never past an unfinished message, whatever order
 * messages finish in, across ring growth, and past gaps at a batch's end. */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "framework/ledger.h"

Test(fw_ledger, empty_ledger_has_nothing_to_commit)
{
    fw_ledger l;
    fw_ledger_init(&l);
    cr_assert_eq(fw_ledger_committable(&l), -1);
    cr_assert_eq(fw_ledger_unfinished(&l), 0);
    fw_ledger_fini(&l);
}

Test(fw_ledger, committable_is_the_lowest_unfinished_offset)
{
    fw_ledger l;
    fw_ledger_init(&l);
    uint64_t s[5];
    for (int i = 0; i < 5; i++)
        cr_assert_eq(fw_ledger_push(&l, 100 + i, &s[i]), GREGOR_OK);
    fw_ledger_set_end(&l, 105);
    cr_assert_eq(fw_ledger_committable(&l), 100);
    fw_ledger_finish(&l, s[2]);
    fw_ledger_finish(&l, s[4]);
    cr_assert_eq(fw_ledger_committable(&l), 100, "offsets above an unfinished one must not be committed");
    fw_ledger_finish(&l, s[0]);
    cr_assert_eq(fw_ledger_committable(&l), 101);
    fw_ledger_finish(&l, s[1]);
    cr_assert_eq(fw_ledger_committable(&l), 103, "2 was finished already: the head moves past it");
    cr_assert_eq(fw_ledger_unfinished(&l), 1);
    fw_ledger_finish(&l, s[3]);
    cr_assert_eq(fw_ledger_committable(&l), 105);
    fw_ledger_finish(&l, s[3]); /* twice: ignored */
    cr_assert_eq(fw_ledger_committable(&l), 105);
    fw_ledger_fini(&l);
}

Test(fw_ledger, batch_end_past_the_last_message_is_committed_when_all_are_done)
{
    fw_ledger l;
    fw_ledger_init(&l);
    uint64_t s;
    cr_assert_eq(fw_ledger_push(&l, 7, &s), GREGOR_OK);
    fw_ledger_set_end(&l, 12); /* transaction markers or compacted offsets after 7 */
    fw_ledger_finish(&l, s);
    cr_assert_eq(fw_ledger_committable(&l), 12);
    fw_ledger_set_end(&l, 9); /* never backwards */
    cr_assert_eq(fw_ledger_committable(&l), 12);
    fw_ledger_fini(&l);
}

Test(fw_ledger, random_finish_order_across_growth_never_passes_an_unfinished_offset)
{
    enum { N = 5000 };
    fw_ledger l;
    fw_ledger_init(&l);
    static uint64_t seq[N];
    static bool done[N];
    int order[N];
    for (int i = 0; i < N; i++) {
        cr_assert_eq(fw_ledger_push(&l, 2 * i, &seq[i]), GREGOR_OK); /* gaps between offsets */
        order[i] = i;
    }
    fw_ledger_set_end(&l, 2 * N);
    srandom(11);
    for (int i = N - 1; i > 0; i--) {
        int j = (int)(random() % (i + 1));
        int t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    for (int k = 0; k < N; k++) {
        done[order[k]] = true;
        fw_ledger_finish(&l, seq[order[k]]);
        int first = 0;
        while (first < N && done[first])
            first++;
        int64_t want = first < N ? 2 * first : 2 * N;
        cr_assert_eq(fw_ledger_committable(&l), want, "after %d finishes: %lld, want %lld", k + 1,
                     (long long)fw_ledger_committable(&l), (long long)want);
    }
    fw_ledger_fini(&l);
}

Test(fw_ledger, ring_reuses_slots_once_the_head_moves)
{
    fw_ledger l;
    fw_ledger_init(&l);
    for (int round = 0; round < 1000; round++) {
        uint64_t a, b;
        cr_assert_eq(fw_ledger_push(&l, 3 * round, &a), GREGOR_OK);
        cr_assert_eq(fw_ledger_push(&l, 3 * round + 1, &b), GREGOR_OK);
        fw_ledger_finish(&l, b);
        cr_assert_eq(fw_ledger_committable(&l), 3 * round);
        fw_ledger_finish(&l, a);
        cr_assert_eq(fw_ledger_committable(&l), 3 * round + 2);
    }
    cr_assert_leq(l.cap, 64, "two entries in flight need no growth (cap %zu)", l.cap);
    fw_ledger_fini(&l);
}
