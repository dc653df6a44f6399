/* cluster/snapshot.h — an immutable picture of the cluster at one moment.
 *
 * Built from one Metadata response; never changed afterwards, so any thread
 * may read it without locks while it holds a reference. Topics are sorted by
 * name and partitions by index, so lookups are binary searches. All memory of
 * a snapshot (names, arrays) lives in its own arena and goes with the last
 * reference.
 *
 * Threading: cluster_snapshot_ref/unref are atomic; the content is read-only.
 */
#ifndef GREGOR_CLUSTER_SNAPSHOT_H
#define GREGOR_CLUSTER_SNAPSHOT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "gregor/error.h"
#include "gregor/metadata.h"
#include "util/arena.h"

typedef gregor_metadata_broker cluster_broker;
typedef gregor_metadata_partition cluster_partition;
typedef gregor_metadata_topic cluster_topic;

/* The public gregor_metadata plus what the library needs to manage it. */
typedef struct cluster_snapshot {
    gregor_metadata md; /* first member: a gregor_metadata* is a snapshot* */
    atomic_int refs;
    uint64_t generation; /* increases with every snapshot of one cluster */
    int64_t taken_ms;    /* net_now_ms() when the response arrived */
    arena mem;
} cluster_snapshot;

typedef struct proto_metadata_response proto_metadata_response;

/* Copies what the response says into a new snapshot (refs = 1).
 * NOMEM or TOO_LARGE on failure. */
gregor_err cluster_snapshot_build(const proto_metadata_response *m, int16_t version, int32_t from_node,
                                  uint64_t generation, cluster_snapshot **out) GREGOR_MUST_CHECK;

/* KIP-320: for every partition that `older` knew with a newer leader epoch
 * than `s` reports (a broker whose metadata has not caught up yet), keeps
 * the older leader and epoch in `s`. Only before `s` is published. */
void cluster_snapshot_keep_newer_epochs(cluster_snapshot *s, const cluster_snapshot *older);

cluster_snapshot *cluster_snapshot_ref(cluster_snapshot *s);
/* Drops a reference; frees on the last. NULL does nothing. */
void cluster_snapshot_unref(cluster_snapshot *s);

const cluster_topic *cluster_snapshot_topic(const cluster_snapshot *s, const char *name);
const cluster_broker *cluster_snapshot_broker(const cluster_snapshot *s, int32_t node_id);
const cluster_partition *cluster_topic_partition(const cluster_topic *t, int32_t id);

#endif
