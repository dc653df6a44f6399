/* framework/metrics_int.h — what the files of /metrics share
 * (metrics.c: pipelines, partitions, readiness; metrics_clients.c:
 * producers and broker connections). Each appends its families whole to
 * `out`; a failed allocation sets out->err. Any thread, while the
 * supervisor exists. */
#ifndef GREGOR_FRAMEWORK_METRICS_INT_H
#define GREGOR_FRAMEWORK_METRICS_INT_H

#include <string.h>

#include "framework/metrics.h"

/* A family whose value is a uint64_t at `offset` in a snapshot struct. */
typedef struct fw_u64_family {
    const char *name;
    fw_metric_type type;
    size_t offset;
    const char *help;
} fw_u64_family;

static inline uint64_t fw_u64_at(const void *snap, size_t offset)
{
    uint64_t v;
    memcpy(&v, (const char *)snap + offset, sizeof v);
    return v;
}

void fw_metrics_render_producers(fw_supervisor *s, fw_buf *out);
void fw_metrics_render_brokers(fw_supervisor *s, fw_buf *out);

#endif
