/* tools/groups.h — what `gregor groups` asks the brokers about consumer
 * groups (groups_query.c), kept apart from the printing (cmd_groups.c).
 *
 * A grp_desc is one group as its coordinator describes it: classic groups
 * through DescribeGroups (member assignments decoded from the embedded
 * consumer protocol), KIP-848 groups through ConsumerGroupDescribe, and the
 * group's committed offsets through OffsetFetch with a null topic list.
 * Every string and array of a grp_desc lives in its arena `mem`, except
 * `id`, the caller's group id (borrowed).
 *
 * Threading: the command's thread; the calls block (the client's I/O thread
 * does the work).
 */
#ifndef GREGOR_TOOLS_GROUPS_H
#define GREGOR_TOOLS_GROUPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gregor/client.h"
#include "util/arena.h"

typedef struct grp_tp {
    const char *topic;
    int32_t partition;
} grp_tp;

typedef struct grp_member {
    const char *member_id;
    const char *instance_id; /* NULL: not a static member */
    const char *client_id, *host;
    grp_tp *owned; /* sorted by topic, then partition */
    size_t n_owned;
    const char *assignment_error; /* NULL, or why the assignment bytes could not be read */
} grp_member;

typedef struct grp_offset {
    const char *topic;
    int32_t partition;
    int64_t committed; /* -1: none */
    gregor_err err;    /* the partition's error in the OffsetFetch answer */
} grp_offset;

typedef struct grp_desc {
    const char *id;
    int32_t coordinator;
    const char *state;         /* "Stable", "Empty", ... as the broker says it */
    const char *protocol_type; /* "consumer" for consumer groups; "" when none */
    const char *protocol;      /* the classic protocol (assignor) or the KIP-848 group's assignor */
    bool kip848;               /* described by ConsumerGroupDescribe */
    grp_member *members;
    size_t n_members;
    grp_offset *offsets; /* sorted by topic, then partition */
    size_t n_offsets;
    arena mem;
} grp_desc;

/* A group as ListGroups names it. */
typedef struct grp_listed {
    const char *id;
    const char *protocol_type;
    int32_t coordinator;
} grp_listed;

/* ListGroups on every broker of the cluster: each lists the groups it
 * coordinates. *out (in `a`, sorted by id) gets the groups of the brokers
 * that answered. A broker that fails (or, being a 0.8 broker, has no groups
 * API) is named in `errstr` and the result is that error, with *out still
 * holding what the others said. */
gregor_err groups_list(gregor_client *c, int32_t timeout_ms, arena *a, grp_listed **out, size_t *n,
                       char *errstr, size_t errstr_size) GREGOR_MUST_CHECK;

/* Describes `group` (borrowed) at its coordinator: FindCoordinator,
 * DescribeGroups, ConsumerGroupDescribe when the group is a KIP-848 one (or
 * DescribeGroups does not know it and the broker has API 69), and
 * OffsetFetch. GROUP_ID_NOT_FOUND when no coordinator knows the group (a
 * classic Dead group with no committed offsets, too). On success `out` is
 * initialised and the caller calls groups_desc_fini(); on failure there is
 * nothing to free and errstr says what failed and where. */
gregor_err groups_describe(gregor_client *c, const char *group, int32_t timeout_ms, grp_desc *out, char *errstr,
                           size_t errstr_size) GREGOR_MUST_CHECK;

/* For brokers without a groups API (0.8): the committed offsets of `group`
 * on every partition of `topics` (n_topics >= 1), read through a consumer
 * of the group (ConsumerMetadata, OffsetFetch v1), into `out`: state "-",
 * no members, the partitions with a committed offset. `cfg` (the client's
 * options) and the strings are borrowed. Errors and clean-up as
 * groups_describe(). (groups_legacy.c) */
gregor_err groups_describe_offsets_only(const gregor_config *cfg, const char *group, const char *const *topics,
                                        size_t n_topics, int32_t timeout_ms, grp_desc *out, char *errstr,
                                        size_t errstr_size) GREGOR_MUST_CHECK;

/* Reads a member's assignment bytes (int16 version, then the consumer
 * protocol's Assignment; versions past the codec's are read as its highest,
 * as Kafka does; trailing bytes are ignored) into m->owned, or sets
 * m->assignment_error. Exposed for the unit tests. */
void groups_read_assignment(const uint8_t *bytes, int32_t len, arena *a, grp_member *m);

void groups_desc_fini(grp_desc *d);

#endif
