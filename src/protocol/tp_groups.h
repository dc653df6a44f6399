/* protocol/tp_groups.h — the partitions of one request, grouped by topic.
 *
 * Kafka's partition-level requests (Produce, Fetch, ListOffsets,
 * OffsetCommit, OffsetFetch, ...) nest partitions under their topic, and
 * their responses come back in the same shape, in any order. A caller lists
 * its items as (topic, partition) pairs in the order it wants them sent;
 * proto_tp_groups_init() groups them by topic, keeping that order within each
 * topic (the broker fills a Fetch response in request order, so the order is
 * the caller's fairness decision), and prepares a lookup of (topic, partition)
 * to item index for matching the answer. Both are O(n log n) to build and the
 * lookup O(log n), where the hand-written linear scans were quadratic at
 * thousands of partitions.
 *
 * Topics are borrowed: the strings must outlive the groups. Duplicate
 * (topic, partition) pairs are allowed; the lookup then answers one of them.
 *
 * Threading: none; an initialised proto_tp_groups is immutable and may be
 * read from any thread.
 */
#ifndef GREGOR_PROTOCOL_TP_GROUPS_H
#define GREGOR_PROTOCOL_TP_GROUPS_H

#include <stddef.h>
#include <stdint.h>

#include "gregor/error.h"
#include "util/buf.h"

typedef struct proto_tp {
    const char *topic; /* borrowed, NUL-terminated */
    int32_t partition;
} proto_tp;

typedef struct proto_tp_entry proto_tp_entry; /* private: a sort key */

typedef struct proto_tp_groups {
    size_t n_items;
    size_t n_topics;
    /* Item indexes grouped by topic: topic t's items are
     * order[topic_start[t] .. topic_start[t + 1]), in the caller's order. The
     * topics themselves come in order of first appearance. */
    size_t *order;
    size_t *topic_start; /* n_topics + 1 entries */
    proto_tp_entry *sorted; /* by (topic, partition), for the lookup */
} proto_tp_groups;

/* Groups `n` items (tps borrowed, read only during the call; the topic
 * strings they point to must outlive the groups). n == 0 is valid. Returns
 * GREGOR_ERR_NOMEM (g is then empty and fini is still safe). */
gregor_err proto_tp_groups_init(proto_tp_groups *g, const proto_tp *tps, size_t n) GREGOR_MUST_CHECK;
void proto_tp_groups_fini(proto_tp_groups *g);

/* The topic of group t (t < n_topics): the topic of its first item. */
static inline size_t proto_tp_groups_first(const proto_tp_groups *g, size_t t)
{
    return g->order[g->topic_start[t]];
}
static inline size_t proto_tp_groups_count(const proto_tp_groups *g, size_t t)
{
    return g->topic_start[t + 1] - g->topic_start[t];
}

/* The index of the item for (topic, partition) as a response names them, or
 * SIZE_MAX when the request had no such item (a hostile or confused broker). */
size_t proto_tp_groups_find(const proto_tp_groups *g, buf_slice topic, int32_t partition);

#endif
