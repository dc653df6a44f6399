/* group/assignor_ctx.h — what the assignors share: the input of an assign()
 * call indexed for look-ups. Internal to src/group.
 *
 * Layout: the topics known to the metadata with at least one partition,
 * sorted by name and without duplicates, numbered 0..n_topics-1; the
 * partitions of all of them numbered 0..n_partitions-1 in (topic, partition)
 * order (`first[t]` is the number of topic t's partition 0, first[n_topics]
 * the total); for each member, the sorted numbers of the topics it subscribes
 * to (topics unknown to the metadata dropped); and the members in Java's
 * MemberInfo order (static members by instance id first, then the others by
 * member id).
 *
 * Threading: one thread (pure data built from the caller's arguments).
 */
#ifndef GREGOR_GROUP_ASSIGNOR_CTX_H
#define GREGOR_GROUP_ASSIGNOR_CTX_H

#include "group/assignor.h"

typedef struct assignor_ctx {
    const assignor_member *members; /* borrowed */
    size_t n_members;
    size_t *order;                  /* member indices in MemberInfo order */
    const assignor_topic **topics;  /* borrowed entries, sorted by name */
    size_t n_topics;
    size_t *first;                  /* n_topics + 1 entries */
    size_t n_partitions;
    size_t **subs;                  /* subs[i]: member i's topic numbers, sorted */
    size_t *n_subs;
} assignor_ctx;

/* Builds the index over the caller's arrays (borrowed; they must outlive the
 * context). NOMEM, or INVALID_ARG for a NULL member id or topic name. */
gregor_err assignor_ctx_init(assignor_ctx *c, const assignor_member *members, size_t n_members,
                             const assignor_topic *topics, size_t n_topics) GREGOR_MUST_CHECK;
void assignor_ctx_fini(assignor_ctx *c);

/* The number of `topic` among the known topics, or -1. */
long assignor_ctx_topic(const assignor_ctx *c, const char *topic);
/* Whether member `m` subscribes to known topic number `t`. */
bool assignor_ctx_subscribes(const assignor_ctx *c, size_t m, size_t t);
/* The topic number of global partition number `g` (binary search). */
size_t assignor_ctx_topic_of(const assignor_ctx *c, size_t g);
/* Appends global partition `g` to `out` as (topic, partition); the topic
 * string is borrowed from the caller's `topics`. */
gregor_err assignor_ctx_emit(const assignor_ctx *c, size_t g, group_tp_list *out) GREGOR_MUST_CHECK;
/* Java's MemberInfo.compareTo on members a and b. */
int assignor_member_cmp(const assignor_member *a, const assignor_member *b);

extern const group_assignor group_assignor_range;
extern const group_assignor group_assignor_roundrobin;
extern const group_assignor group_assignor_cooperative_sticky;

#endif
