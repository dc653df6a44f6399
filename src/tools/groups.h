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
#include "gregor/consumer.h"
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

/* ------------------------------------------- the partition table (groups_rows.c)
 * What `gregor groups` and `gregor top` show of a described group: one row
 * per partition, merging the committed offsets with what the members own. */

/* One line of the partition table. Strings and `owner` point into the
 * grp_desc the rows were built from. */
typedef struct grp_row {
    const char *topic; /* NULL: a member that owns nothing */
    int32_t partition;
    int64_t committed; /* -1: none */
    int64_t log_end;   /* -1: unknown */
    const grp_member *owner;
} grp_row;

/* The partitions of the group (only those of `topics` when n_topics > 0):
 * those with a committed offset and those a member owns, with the owner,
 * sorted by topic and partition; then one row per member owning nothing.
 * Returns an owned array (free()) of *n rows, log ends -1; NULL when out of
 * memory. `d` and `topics` are borrowed and must outlive the rows. */
grp_row *groups_rows_build(const grp_desc *d, const char *const *topics, size_t n_topics, size_t *n);

/* Called for a partition whose log end cannot be looked up; `err` is the
 * reason (valid during the call). */
typedef void groups_log_end_error_fn(void *arg, const grp_row *r, const char *err);

/* Looks up the log end of every row with a topic (one ListOffsets each,
 * through gregor_consumer_watermarks). A row whose end is unknown keeps -1
 * and is passed to on_error. Returns false when any failed. */
bool groups_rows_fill_log_ends(gregor_consumer *c, grp_row *rows, size_t n, groups_log_end_error_fn *on_error,
                               void *arg);

/* log end - committed, or -1 when either is unknown. */
long long groups_row_lag(const grp_row *r);

/* groups_describe(), and on a broker without a groups API (Kafka 0.8,
 * UNSUPPORTED) with n_topics > 0, groups_describe_offsets_only() of those
 * topics; *offsets_only tells which answered. Contracts as theirs. */
gregor_err groups_describe_any(gregor_consumer *c, const gregor_config *cfg, const char *group,
                               const char *const *topics, size_t n_topics, int32_t timeout_ms, grp_desc *out,
                               bool *offsets_only, char *errstr, size_t errstr_size) GREGOR_MUST_CHECK;

#endif
