/* framework/metrics_int.h — what the files of /metrics share
 * (metrics.c: pipelines, partitions, readiness; metrics_clients.c:
 * producers and broker connections). Each appends its families whole to
 * `out`; a failed allocation sets out->err. Any thread, while the
 * supervisor exists. */
#ifndef GREGOR_FRAMEWORK_METRICS_INT_H
#define GREGOR_FRAMEWORK_METRICS_INT_H

#include "framework/metrics.h"

void fw_metrics_render_producers(fw_supervisor *s, fw_buf *out);
void fw_metrics_render_brokers(fw_supervisor *s, fw_buf *out);

#endif
