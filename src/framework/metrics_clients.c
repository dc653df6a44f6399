/* framework/metrics_clients.c — the producer pool's and the broker
 * connections' part of /metrics (metrics.h): what src/producer and
 * src/net count (prod_stats_get, cluster_conn_stats_get), as gregor_producer_*
 * and gregor_broker_* families. Both reads are cheap: atomics, and one
 * short hold of the producer's or the cluster's lock. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/client.h"
#include "framework/metrics_int.h"
#include "framework/pipeline.h"
#include "producer/producer.h"

/* ------------------------------------------------------------ producers */

#define PS(field) offsetof(prod_stats, field)
static const fw_u64_family producer_families[] = {
    {"gregor_producer_queued_messages", FW_METRIC_GAUGE, PS(queued),
     "Messages accepted by the producer and not acknowledged or failed yet (in flight included)."},
    {"gregor_producer_in_flight_batches", FW_METRIC_GAUGE, PS(in_flight_batches),
     "Record batches in Produce requests now."},
    {"gregor_producer_buffer_bytes", FW_METRIC_GAUGE, PS(buffer_bytes),
     "Memory held by queued messages now (bounded by buffer_bytes)."},
    {"gregor_producer_delivered_total", FW_METRIC_COUNTER, PS(delivered),
     "Messages acknowledged by the brokers."},
    {"gregor_producer_failed_total", FW_METRIC_COUNTER, PS(failed),
     "Messages whose delivery failed (reported with an error)."},
    {"gregor_producer_batches_total", FW_METRIC_COUNTER, PS(batches),
     "Record batches written into Produce requests (a retried batch again)."},
    {"gregor_producer_batch_records_total", FW_METRIC_COUNTER, PS(batch_records),
     "Records in those batches: divided by gregor_producer_batches_total, the mean batch size."},
    {"gregor_producer_batch_bytes_total", FW_METRIC_COUNTER, PS(batch_bytes),
     "Bytes of those batches on the wire (compressed)."},
};
#undef PS

void fw_metrics_render_producers(fw_supervisor *s, fw_buf *out)
{
    size_t n = 0;
    gregor_producer *p;
    while (fw_supervisor_producer_at(s, n, &p))
        n++;
    prod_stats *st = calloc(n ? n : 1, sizeof *st);
    if (!st) {
        out->err = GREGOR_ERR_NOMEM;
        return;
    }
    for (size_t i = 0; i < n; i++) {
        fw_supervisor_producer_at(s, i, &p);
        prod_stats_get(p, &st[i]);
    }
    for (size_t f = 0; f < sizeof producer_families / sizeof producer_families[0]; f++) {
        const fw_u64_family *pf = &producer_families[f];
        fw_metrics_family(out, pf->name, pf->type, pf->help);
        for (size_t i = 0; i < n; i++) {
            fw_metric_label l = {"producer", fw_supervisor_producer_at(s, i, &p)};
            fw_metrics_sample_u64(out, pf->name, NULL, &l, 1, NULL, fw_u64_at(&st[i], pf->offset));
        }
    }
    free(st);
}

/* ------------------------------------------------------------ brokers */

typedef struct client_conns {
    const char *client; /* label: "members" or "producers" */
    cluster_conn_stats *v;
    size_t n;
} client_conns;

typedef enum broker_value { BV_REQUESTS, BV_ERRORS, BV_CONNECTS, BV_RECONNECTS, BV_FAILURES } broker_value;

static const struct {
    const char *name;
    broker_value value;
    const char *help;
} broker_families[] = {
    {"gregor_broker_requests_total", BV_REQUESTS, "Requests the broker answered on this connection."},
    {"gregor_broker_request_errors_total", BV_ERRORS,
     "Requests that ended without an answer (timed out, disconnected, connect failed)."},
    {"gregor_broker_connects_total", BV_CONNECTS, "Times the connection came up (handshake done)."},
    {"gregor_broker_reconnects_total", BV_RECONNECTS, "Times it came up again after the first."},
    {"gregor_broker_connection_failures_total", BV_FAILURES,
     "Times the connection failed (connect, handshake or a broken socket)."},
};

static uint64_t broker_value_of(const cluster_conn_stats *c, broker_value v)
{
    switch (v) {
    case BV_REQUESTS: return c->requests;
    case BV_ERRORS: return c->errors;
    case BV_CONNECTS: return c->connects;
    case BV_RECONNECTS: return c->connects > 0 ? c->connects - 1 : 0;
    case BV_FAILURES: return c->failures;
    }
    return 0;
}

static void broker_labels(const client_conns *cc, const cluster_conn_stats *c, char *node, size_t node_size,
                          fw_metric_label l[4])
{
    snprintf(node, node_size, "%d", (int)c->node_id);
    l[0] = (fw_metric_label){"client", cc->client};
    l[1] = (fw_metric_label){"node_id", node};
    l[2] = (fw_metric_label){"broker", c->broker};
    l[3] = (fw_metric_label){"purpose", c->purpose};
}

void fw_metrics_render_brokers(fw_supervisor *s, fw_buf *out)
{
    client_conns cc[2] = {{.client = "members"}, {.client = "producers"}};
    for (size_t k = 0; k < 2; k++) {
        gregor_client *c = fw_supervisor_client(s, k == 1);
        if (c && cluster_conn_stats_get(c->cluster, &cc[k].v, &cc[k].n) != GREGOR_OK)
            out->err = GREGOR_ERR_NOMEM;
    }
    char node[16];
    fw_metric_label l[4];
    for (size_t f = 0; f < sizeof broker_families / sizeof broker_families[0]; f++) {
        fw_metrics_family(out, broker_families[f].name, FW_METRIC_COUNTER, broker_families[f].help);
        for (size_t k = 0; k < 2; k++)
            for (size_t i = 0; i < cc[k].n; i++) {
                broker_labels(&cc[k], &cc[k].v[i], node, sizeof node, l);
                fw_metrics_sample_u64(out, broker_families[f].name, NULL, l, 4, NULL,
                                      broker_value_of(&cc[k].v[i], broker_families[f].value));
            }
    }
    const char *rtt = "gregor_broker_rtt_seconds";
    fw_metrics_family(out, rtt, FW_METRIC_SUMMARY,
                      "Request round trips, written to answered (not Fetch, JoinGroup or SyncGroup, which the "
                      "broker holds): _sum / _count is the mean.");
    for (size_t k = 0; k < 2; k++)
        for (size_t i = 0; i < cc[k].n; i++) {
            broker_labels(&cc[k], &cc[k].v[i], node, sizeof node, l);
            fw_metrics_sample_f64(out, rtt, "_sum", l, 4, NULL, (double)cc[k].v[i].rtt_us_sum / 1e6);
            fw_metrics_sample_u64(out, rtt, "_count", l, 4, NULL, cc[k].v[i].rtt_count);
        }
    free(cc[0].v);
    free(cc[1].v);
}
