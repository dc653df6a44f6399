/* group/assignor.h — client-side partition assignors of the classic group
 * protocol: the elected leader of a group runs one over every member's
 * subscription and hands each member its share in SyncGroup.
 *
 * The assignors and their names are Kafka's, so that a group mixes gregor,
 * Java, librdkafka and kafka-python members: "range", "roundrobin" and
 * "cooperative-sticky". Each gives the same result as the Java client's
 * for the same input (members and topics sorted the same way), so that a
 * group's assignment does not depend on which member happens to lead.
 *
 * Cooperative assignors (KIP-429) never move a partition straight from one
 * member to another within one rebalance: a partition that must move is
 * left out of the new assignment (its owner revokes it), and the follow-up
 * rebalance gives it to its new owner.
 *
 * Threading: pure functions over their arguments; any thread.
 */
#ifndef GREGOR_GROUP_ASSIGNOR_H
#define GREGOR_GROUP_ASSIGNOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gregor/error.h"

/* One topic-partition. `topic` is borrowed unless a function says otherwise. */
typedef struct group_tp {
    const char *topic;
    int32_t partition;
} group_tp;

/* A growable list of topic-partitions; topic strings borrowed. */
typedef struct group_tp_list {
    group_tp *tps;
    size_t n, cap;
} group_tp_list;

void group_tp_list_init(group_tp_list *l);
void group_tp_list_fini(group_tp_list *l);
gregor_err group_tp_list_add(group_tp_list *l, const char *topic, int32_t partition) GREGOR_MUST_CHECK;
/* Sorts by topic, then partition (the order Kafka's assignors use). */
void group_tp_list_sort(group_tp_list *l);
bool group_tp_list_contains(const group_tp_list *l, const char *topic, int32_t partition);

/* What the leader knows of one member (from its JoinGroup metadata). */
typedef struct assignor_member {
    const char *member_id;
    const char *instance_id; /* NULL: dynamic member (static ones sort by instance id, as in Java) */
    const char *rack;        /* NULL: unknown */
    const char *const *topics; /* the member's subscription */
    size_t n_topics;
    group_tp_list owned;     /* partitions it owns now (Subscription v1+), for stickiness */
    int32_t generation;      /* generation of `owned` (Subscription v2+ or sticky user data), -1: unknown */
} assignor_member;

/* A subscribed topic and its partition count in the leader's metadata. */
typedef struct assignor_topic {
    const char *topic;
    int32_t partitions;
} assignor_topic;

typedef struct group_assignor {
    const char *name;  /* the protocol name in JoinGroup: "range", "roundrobin", "cooperative-sticky" */
    bool cooperative;  /* supports the COOPERATIVE rebalance protocol (KIP-429) */
    /* Fills out[i] (initialized by the caller, one per member) with member
     * i's partitions. Topics not in `topics` (unknown to the metadata) are
     * not assigned. NOMEM leaves `out` partially filled (the caller
     * finalizes it). Topic strings in `out` are borrowed from `topics`.
     * Pass the members in the JoinGroup response's order: where Java's
     * result depends on its HashMap's iteration order (cooperative-sticky,
     * members whose ids share a bucket), gregor follows it from there.
     * Each out[i] comes back sorted by (topic, partition). */
    gregor_err (*assign)(const assignor_member *members, size_t n_members, const assignor_topic *topics,
                         size_t n_topics, group_tp_list *out);
    /* The user data this member puts in its Subscription (NULL/0: none):
     * cooperative-sticky writes its generation as Java does. *out is
     * malloc'd (the caller frees). */
    gregor_err (*user_data)(int32_t generation, uint8_t **out, size_t *len);
} group_assignor;

/* The assignor of that name, or NULL. */
const group_assignor *group_assignor_find(const char *name);

#endif
