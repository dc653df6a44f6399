/* tools/groups_legacy.c — `gregor groups -g GROUP -t TOPIC` on a broker
 * without a groups API (0.8.2): no state and no members, but the offsets
 * the group committed to Kafka, read through the consumer's committer (which
 * speaks ConsumerMetadata and OffsetFetch v1 to such brokers).
 *
 * Threading: the command's thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gregor/consumer.h"
#include "protocol/gen/errors.h"
#include "tools/groups.h"

/* Every partition of the topics; a topic the metadata does not have is an
 * error naming it. The names live in `md`. */
static gregor_err partitions_of(const gregor_metadata *md, gregor_topic_offset **out, size_t *n, char *errstr,
                                size_t errstr_size)
{
    size_t total = 0;
    for (int32_t i = 0; i < md->n_topics; i++) {
        const gregor_metadata_topic *t = &md->topics[i];
        if (t->err) {
            snprintf(errstr, errstr_size, "topic '%s': %s", t->name, gregor_err_name(t->err));
            return t->err;
        }
        total += (size_t)t->n_partitions;
    }
    if (!(*out = calloc(total + 1, sizeof **out)))
        return GREGOR_ERR_NOMEM;
    *n = 0;
    for (int32_t i = 0; i < md->n_topics; i++)
        for (int32_t p = 0; p < md->topics[i].n_partitions; p++)
            (*out)[(*n)++] = (gregor_topic_offset){.topic = md->topics[i].name,
                                                   .partition = md->topics[i].partitions[p].id};
    return GREGOR_OK;
}

/* Copies the partitions with a committed offset into d (in its arena). */
static gregor_err keep_committed(const gregor_topic_offset *q, size_t n, grp_desc *d)
{
    if (!(d->offsets = arena_calloc(&d->mem, n + 1, sizeof *d->offsets)))
        return GREGOR_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
        if (q[i].offset < 0)
            continue;
        size_t len = strlen(q[i].topic);
        char *topic = arena_alloc(&d->mem, len + 1);
        if (!topic)
            return GREGOR_ERR_NOMEM;
        memcpy(topic, q[i].topic, len);
        d->offsets[d->n_offsets++] = (grp_offset){topic, q[i].partition, q[i].offset, q[i].err};
    }
    return GREGOR_OK;
}

gregor_err groups_describe_offsets_only(const gregor_config *cfg, const char *group, const char *const *topics,
                                        size_t n_topics, int32_t timeout_ms, grp_desc *out, char *errstr,
                                        size_t n)
{
    gregor_consumer *c = NULL;
    const gregor_metadata *md = NULL;
    gregor_topic_offset *q = NULL;
    size_t n_q = 0;
    gregor_config *gc = gregor_config_dup(cfg);
    gregor_err err = gc ? gregor_config_set(gc, "group_id", group, errstr, n) : GREGOR_ERR_NOMEM;
    if (err == GREGOR_OK)
        err = gregor_consumer_new(gc, &c, errstr, n);
    if (err == GREGOR_OK)
        err = gregor_client_metadata(gregor_consumer_client(c), topics, n_topics, timeout_ms, &md, errstr, n);
    if (err == GREGOR_OK)
        err = partitions_of(md, &q, &n_q, errstr, n);
    if (err == GREGOR_OK) {
        err = gregor_consumer_committed(c, q, n_q, errstr, n);
        /* A 0.8 broker answers UNKNOWN_TOPIC_OR_PARTITION for a partition
         * the group never committed: that is "none", not a failure. */
        if (err == PROTO_ERR_UNKNOWN_TOPIC_OR_PARTITION)
            err = GREGOR_OK;
    }
    if (err == GREGOR_OK) {
        *out = (grp_desc){.id = group, .coordinator = -1, .state = "-", .protocol_type = "", .protocol = ""};
        arena_init(&out->mem, ARENA_DEFAULT_LIMIT);
        if ((err = keep_committed(q, n_q, out)) != GREGOR_OK)
            arena_fini(&out->mem);
    }
    if (err == GREGOR_ERR_NOMEM)
        snprintf(errstr, n, "out of memory");
    free(q);
    gregor_metadata_destroy(md);
    gregor_consumer_destroy(c);
    gregor_config_destroy(gc);
    return err;
}
