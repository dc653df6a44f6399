/* gregor/metadata.h — a read-only picture of the cluster: brokers, topics,
 * partitions, leaders, replicas and in-sync replicas.
 *
 * A gregor_metadata is immutable once returned: any thread may read it
 * without locks. Topics are sorted by name, partitions by id, brokers by id.
 * Release it with gregor_metadata_destroy().
 */
#ifndef GREGOR_METADATA_H
#define GREGOR_METADATA_H

#include <stdbool.h>
#include <stdint.h>

#include "gregor/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct gregor_metadata_broker {
    int32_t node_id;
    const char *host;
    int32_t port;
    const char *rack; /* NULL when unknown */
} gregor_metadata_broker;

typedef struct gregor_metadata_partition {
    int32_t id;
    gregor_err err;       /* partition-level error reported by the broker, or GREGOR_OK */
    int32_t leader;       /* node id; -1 while no leader is known */
    int32_t leader_epoch; /* -1 when the broker does not report it */
    const int32_t *replicas;
    int32_t n_replicas;
    const int32_t *isr;
    int32_t n_isr;
    const int32_t *offline; /* offline replicas (Metadata v5+) */
    int32_t n_offline;
} gregor_metadata_partition;

typedef struct gregor_metadata_topic {
    const char *name;
    uint8_t id[16]; /* all zero when the broker does not report topic ids */
    gregor_err err; /* topic-level error, e.g. UNKNOWN_TOPIC_OR_PARTITION (3) */
    bool internal;
    const gregor_metadata_partition *partitions;
    int32_t n_partitions;
} gregor_metadata_topic;

typedef struct gregor_metadata {
    const char *cluster_id; /* NULL for brokers older than 0.10.1 */
    int32_t controller_id;  /* -1 when unknown */
    int32_t from_node;      /* the broker that answered (negative: a bootstrap entry) */
    int16_t metadata_version; /* version of the Metadata API used */
    const gregor_metadata_broker *brokers;
    int32_t n_brokers;
    const gregor_metadata_topic *topics;
    int32_t n_topics;
} gregor_metadata;

const gregor_metadata_topic *gregor_metadata_topic_find(const gregor_metadata *md, const char *name);
const gregor_metadata_broker *gregor_metadata_broker_find(const gregor_metadata *md, int32_t node_id);
const gregor_metadata_partition *gregor_metadata_partition_find(const gregor_metadata_topic *t, int32_t id);

/* Releases `md`. NULL does nothing. */
void gregor_metadata_destroy(const gregor_metadata *md);

#ifdef __cplusplus
}
#endif
#endif
