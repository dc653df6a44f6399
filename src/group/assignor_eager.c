/* group/assignor_eager.c — the two eager assignors, "range" and
 * "roundrobin", as Java's RangeAssignor and RoundRobinAssignor (no racks).
 *
 * range: per topic, the members subscribed to it in MemberInfo order get
 * contiguous ranges of its partitions: with P partitions and m members, each
 * gets P/m and the first P%m one more. Topics are independent, so members
 * subscribed to the same topics get the same partition numbers of each
 * (co-partitioning, which is what range is for). O(T*M + P).
 *
 * roundrobin: every partition of every subscribed topic, in (topic,
 * partition) order, dealt round the circle of members in MemberInfo order,
 * skipping the members not subscribed to its topic. O(P*M) at worst.
 *
 * Each member's list comes out in (topic, partition) order.
 */
#include "group/assignor_ctx.h"

#include <stdlib.h>

static gregor_err range_assign(const assignor_member *members, size_t n_members, const assignor_topic *topics,
                               size_t n_topics, group_tp_list *out)
{
    assignor_ctx c;
    gregor_err err = assignor_ctx_init(&c, members, n_members, topics, n_topics);
    if (err != GREGOR_OK)
        return err;
    size_t *subscribed = calloc(n_members ? n_members : 1, sizeof *subscribed);
    if (!subscribed) {
        err = GREGOR_ERR_NOMEM;
        goto out_ctx;
    }
    for (size_t t = 0; t < c.n_topics && err == GREGOR_OK; t++) {
        size_t m = 0;
        for (size_t k = 0; k < n_members; k++)
            if (assignor_ctx_subscribes(&c, c.order[k], t))
                subscribed[m++] = c.order[k];
        if (m == 0)
            continue;
        size_t n = (size_t)c.topics[t]->partitions;
        size_t each = n / m, extra = n % m, g = c.first[t];
        for (size_t k = 0; k < m && err == GREGOR_OK; k++) {
            size_t take = each + (k < extra ? 1 : 0);
            for (size_t j = 0; j < take && err == GREGOR_OK; j++)
                err = assignor_ctx_emit(&c, g++, &out[subscribed[k]]);
        }
    }
    free(subscribed);
out_ctx:
    assignor_ctx_fini(&c);
    return err;
}

static gregor_err no_user_data(int32_t generation, uint8_t **out, size_t *len)
{
    (void)generation;
    *out = NULL;
    *len = 0;
    return GREGOR_OK;
}

const group_assignor group_assignor_range = {
    .name = "range",
    .cooperative = false,
    .assign = range_assign,
    .user_data = no_user_data,
};

static gregor_err roundrobin_assign(const assignor_member *members, size_t n_members,
                                    const assignor_topic *topics, size_t n_topics, group_tp_list *out)
{
    assignor_ctx c;
    gregor_err err = assignor_ctx_init(&c, members, n_members, topics, n_topics);
    if (err != GREGOR_OK)
        return err;
    /* Java deals the partitions of every topic someone subscribes to, in
     * (topic, partition) order, to the members in MemberInfo order round
     * the circle, skipping members not subscribed to the partition's topic;
     * the circle resumes where the previous partition left it. */
    size_t next = 0;
    for (size_t t = 0; t < c.n_topics && err == GREGOR_OK; t++) {
        bool any = false;
        for (size_t k = 0; k < n_members && !any; k++)
            any = assignor_ctx_subscribes(&c, k, t);
        if (!any)
            continue;
        for (size_t g = c.first[t]; g < c.first[t + 1] && err == GREGOR_OK; g++) {
            while (!assignor_ctx_subscribes(&c, c.order[next], t))
                next = (next + 1) % n_members;
            err = assignor_ctx_emit(&c, g, &out[c.order[next]]);
            next = (next + 1) % n_members;
        }
    }
    assignor_ctx_fini(&c);
    return err;
}

const group_assignor group_assignor_roundrobin = {
    .name = "roundrobin",
    .cooperative = false,
    .assign = roundrobin_assign,
    .user_data = no_user_data,
};
