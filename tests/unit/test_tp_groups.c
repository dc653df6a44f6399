/* Unit tests for protocol/tp_groups: grouping a request's partitions by topic
 * in the caller's order, and looking up a response's (topic, partition). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/tp_groups.h"

static buf_slice sl(const char *s) { return buf_slice_of(s, strlen(s)); }

Test(tp_groups, groups_by_topic_in_first_appearance_and_caller_order)
{
    proto_tp tps[] = {{"b", 3}, {"a", 1}, {"b", 0}, {"c", 7}, {"a", 0}, {"b", 9}};
    proto_tp_groups g;
    cr_assert_eq(proto_tp_groups_init(&g, tps, 6), GREGOR_OK);
    cr_assert_eq(g.n_items, 6);
    cr_assert_eq(g.n_topics, 3);
    /* Topics in order of first appearance: b, a, c. */
    cr_assert_str_eq(tps[proto_tp_groups_first(&g, 0)].topic, "b");
    cr_assert_str_eq(tps[proto_tp_groups_first(&g, 1)].topic, "a");
    cr_assert_str_eq(tps[proto_tp_groups_first(&g, 2)].topic, "c");
    cr_assert_eq(proto_tp_groups_count(&g, 0), 3);
    cr_assert_eq(proto_tp_groups_count(&g, 1), 2);
    cr_assert_eq(proto_tp_groups_count(&g, 2), 1);
    /* Within a topic, the caller's order (not partition order). */
    size_t want[] = {0, 2, 5, 1, 4, 3};
    for (size_t i = 0; i < 6; i++)
        cr_assert_eq(g.order[i], want[i], "order[%zu] = %zu, want %zu", i, g.order[i], want[i]);
    proto_tp_groups_fini(&g);
}

Test(tp_groups, finds_items_by_response_topic_and_partition)
{
    proto_tp tps[] = {{"orders", 2}, {"order", 2}, {"orders", 0}, {"ordersx", 2}};
    proto_tp_groups g;
    cr_assert_eq(proto_tp_groups_init(&g, tps, 4), GREGOR_OK);
    cr_assert_eq(proto_tp_groups_find(&g, sl("orders"), 2), 0);
    cr_assert_eq(proto_tp_groups_find(&g, sl("order"), 2), 1);
    cr_assert_eq(proto_tp_groups_find(&g, sl("orders"), 0), 2);
    cr_assert_eq(proto_tp_groups_find(&g, sl("ordersx"), 2), 3);
    /* Not asked for: another partition, a prefix, an empty or null topic. */
    cr_assert_eq(proto_tp_groups_find(&g, sl("orders"), 1), SIZE_MAX);
    cr_assert_eq(proto_tp_groups_find(&g, sl("ord"), 2), SIZE_MAX);
    cr_assert_eq(proto_tp_groups_find(&g, buf_slice_of(NULL, 0), 2), SIZE_MAX);
    cr_assert_eq(proto_tp_groups_find(&g, BUF_SLICE_NULL, 2), SIZE_MAX);
    /* A response topic is length-counted, not NUL-terminated. */
    cr_assert_eq(proto_tp_groups_find(&g, buf_slice_of("ordersXYZ", 6), 0), 2);
    proto_tp_groups_fini(&g);
}

Test(tp_groups, empty_request)
{
    proto_tp_groups g;
    cr_assert_eq(proto_tp_groups_init(&g, NULL, 0), GREGOR_OK);
    cr_assert_eq(g.n_topics, 0);
    cr_assert_eq(proto_tp_groups_find(&g, sl("t"), 0), SIZE_MAX);
    proto_tp_groups_fini(&g);
    proto_tp_groups_fini(&g); /* fini leaves it empty: a second one is harmless */
}

Test(tp_groups, thousands_of_partitions)
{
    enum { TOPICS = 50, PARTS = 200, N = TOPICS * PARTS };
    static char names[TOPICS][16];
    proto_tp *tps = calloc(N, sizeof *tps);
    cr_assert_not_null(tps);
    for (int t = 0; t < TOPICS; t++)
        snprintf(names[t], sizeof names[t], "topic-%02d", t);
    /* Interleaved: partition-major, so every topic's items are spread out. */
    for (int i = 0; i < N; i++)
        tps[i] = (proto_tp){names[i % TOPICS], i / TOPICS};
    proto_tp_groups g;
    cr_assert_eq(proto_tp_groups_init(&g, tps, N), GREGOR_OK);
    cr_assert_eq(g.n_topics, TOPICS);
    for (size_t t = 0; t < g.n_topics; t++) {
        cr_assert_eq(proto_tp_groups_count(&g, t), PARTS);
        for (size_t k = g.topic_start[t]; k < g.topic_start[t + 1]; k++) {
            cr_assert_str_eq(tps[g.order[k]].topic, names[t]);
            if (k > g.topic_start[t])
                cr_assert_lt(g.order[k - 1], g.order[k]);
        }
    }
    for (int i = 0; i < N; i++)
        cr_assert_eq(proto_tp_groups_find(&g, sl(tps[i].topic), tps[i].partition), (size_t)i);
    proto_tp_groups_fini(&g);
    free(tps);
}
