/* Fuzz target: a Metadata answer into the cluster model, as cluster.c's
 * metadata_done() takes it: the body decoded as MetadataResponse, then
 * cluster_snapshot_build() (cluster/snapshot.c) copies it into an immutable,
 * sorted snapshot, and every lookup the library and users make on it runs.
 *
 * Input: byte 0 picks the Metadata version (0..the highest gregor speaks),
 * the rest is the response body after its header.
 *
 * Checked: every broker, topic and partition of the snapshot is found again
 * by its id or name (the binary searches agree with the sort), what is found
 * has the id or name asked for, every string is NUL-terminated inside the
 * snapshot, and every replica list is readable.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/snapshot.h"
#include "protocol/gen/api.h"
#include "protocol/gen/metadata.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile int32_t sink;

static void touch_ids(const int32_t *ids, int32_t n)
{
    int32_t acc = 0;
    for (int32_t i = 0; i < n; i++)
        acc ^= ids[i];
    sink ^= acc;
}

static void check_topic(const cluster_snapshot *s, const cluster_topic *t)
{
    const cluster_topic *found = cluster_snapshot_topic(s, t->name);
    if (!found || strcmp(found->name, t->name) != 0)
        abort();
    for (int32_t p = 0; p < t->n_partitions; p++) {
        const cluster_partition *part = &t->partitions[p];
        const cluster_partition *fp = cluster_topic_partition(t, part->id);
        if (!fp || fp->id != part->id || gregor_metadata_partition_find(t, part->id) != fp)
            abort();
        touch_ids(part->replicas, part->n_replicas);
        touch_ids(part->isr, part->n_isr);
        touch_ids(part->offline, part->n_offline);
        sink ^= part->leader ^ part->leader_epoch;
    }
}

static void check(const cluster_snapshot *s)
{
    const gregor_metadata *md = &s->md;
    if (md->cluster_id)
        sink ^= (int32_t)strlen(md->cluster_id);
    for (int32_t i = 0; i < md->n_brokers; i++) {
        const cluster_broker *b = &md->brokers[i];
        const cluster_broker *found = cluster_snapshot_broker(s, b->node_id);
        if (!found || found->node_id != b->node_id)
            abort();
        sink ^= (int32_t)strlen(b->host) ^ (b->rack ? (int32_t)strlen(b->rack) : 0) ^ b->port;
    }
    for (int32_t i = 0; i < md->n_topics; i++)
        check_topic(s, &md->topics[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int16_t max = proto_api_get(PROTO_API_METADATA)->max_version;
    int16_t version = (int16_t)(data[0] % (max + 1));
    buf_reader r;
    buf_reader_init(&r, data + 1, size - 1);
    arena a;
    arena_init(&a, ARENA_DEFAULT_LIMIT);
    proto_metadata_response m;
    if (proto_metadata_response_decode(&r, version, &m, &a) == GREGOR_OK) {
        cluster_snapshot *s = NULL;
        if (cluster_snapshot_build(&m, version, 1, 1, &s) == GREGOR_OK) {
            cluster_snapshot *extra = cluster_snapshot_ref(s);
            check(s);
            cluster_snapshot_unref(extra);
            gregor_metadata_destroy(&s->md); /* the last reference, as a user drops it */
        } else if (s) {
            abort(); /* a failed build returns nothing */
        }
    }
    arena_fini(&a);
    return 0;
}
