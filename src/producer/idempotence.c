/* producer/idempotence.c — the idempotent producer's id.
 *
 * With enable_idempotence (the default with acks=all on 0.11+ brokers),
 * the producer asks any broker for a producer id and epoch
 * (InitProducerId, no transactional id) before its first batch goes out;
 * every batch then carries the id, the epoch and the sequence of its first
 * record per partition, so the leader drops a retried batch it has already
 * written and refuses one that would leave a gap (OUT_OF_ORDER_SEQUENCE),
 * which keeps retries free of duplicates and in order.
 *
 * When the broker has no InitProducerId (pre-0.11, or a configured legacy
 * broker_version) the producer goes on without idempotence, keeping order
 * by sending one batch per partition at a time. When a batch with a
 * sequence fails for good (delivery timeout, a fatal error), the sequence
 * has a hole the broker would refuse forever: the producer takes a new id
 * and starts every partition's sequence at 0 again, as the Java client
 * does for an idempotent (non-transactional) producer.
 */
#include <stdlib.h>

#include "producer/producer.h"

#include "cluster/cluster.h"
#include "protocol/gen/api.h"
#include "protocol/gen/init_producer_id.h"
#include "util/arena.h"
#include "util/log.h"

#define PID_RETRY_MS 200

static gregor_err encode_init_pid(buf_writer *w, int16_t version, void *opaque)
{
    (void)opaque;
    proto_init_producer_id_request m;
    proto_init_producer_id_request_init(&m);
    m.transactional_id = BUF_SLICE_NULL;
    m.transaction_timeout_ms = INT32_MAX;
    m.producer_id = -1;
    m.producer_epoch = -1;
    return proto_init_producer_id_request_encode(w, version, &m);
}

static void init_pid_done(gregor_err err, net_response *resp, void *opaque)
{
    gregor_producer *p = opaque;
    proto_init_producer_id_response m;
    arena a;
    arena_init(&a, ARENA_DEFAULT_LIMIT);
    if (err == GREGOR_OK) {
        gregor_err derr = proto_init_producer_id_response_decode(&resp->body, resp->version, &m, &a);
        err = derr != GREGOR_OK ? GREGOR_ERR_MALFORMED : gregor_err_from_broker(m.error_code);
    }
    bool retry = false;
    pthread_mutex_lock(&p->lock);
    if (p->closing) {
        p->pid_state = PROD_PID_OFF;
    } else if (err == GREGOR_OK) {
        p->pid = m.producer_id;
        p->epoch = m.producer_epoch;
        p->pid_state = PROD_PID_READY;
        for (size_t i = 0; i < p->n_topics; i++)
            for (int32_t k = 0; k < p->topics[i]->n_parts; k++)
                p->topics[i]->parts[k]->next_seq = 0;
        gregor_log(GREGOR_LOG_DEBUG, "producer: id %lld epoch %d", (long long)p->pid, p->epoch);
    } else if (err == GREGOR_ERR_UNSUPPORTED) {
        gregor_log(GREGOR_LOG_INFO, "producer: the broker has no InitProducerId: not idempotent");
        p->pid_state = PROD_PID_OFF;
        p->cfg.idempotence = false;
    } else if (gregor_err_is_retriable(err) || err == GREGOR_ERR_DESTROYED || err == GREGOR_ERR_MALFORMED) {
        p->pid_state = PROD_PID_NEED;
        retry = true;
    } else {
        gregor_log(GREGOR_LOG_WARN, "producer: InitProducerId failed (%s): continuing without idempotence",
                   gregor_err_name(err));
        p->pid_state = PROD_PID_OFF;
        p->cfg.idempotence = false;
    }
    pthread_mutex_unlock(&p->lock);
    arena_fini(&a);
    if (p->stopped)
        return;
    if (retry)
        net_timer_arm(p->client->loop, &p->pid_timer, net_now_ms() + PID_RETRY_MS);
    else
        prod_sender_run(p);
}

void prod_pid_maintain(gregor_producer *p)
{
    pthread_mutex_lock(&p->lock);
    bool need = p->pid_state == PROD_PID_NEED && !p->closing;
    if (need)
        p->pid_state = PROD_PID_WAIT;
    pthread_mutex_unlock(&p->lock);
    if (!need)
        return;
    net_conn *conn = cluster_any_conn(p->client->cluster);
    net_request req = {
        .api_key = PROTO_API_INIT_PRODUCER_ID,
        .min_version = 0,
        .max_version = proto_api_get(PROTO_API_INIT_PRODUCER_ID)->max_version,
        .encode = encode_init_pid,
        .done = init_pid_done,
        .opaque = p,
    };
    if (!conn || net_conn_send(conn, &req) != GREGOR_OK) {
        pthread_mutex_lock(&p->lock);
        p->pid_state = PROD_PID_NEED;
        pthread_mutex_unlock(&p->lock);
        net_timer_arm(p->client->loop, &p->pid_timer, net_now_ms() + PID_RETRY_MS);
    }
}

void prod_pid_reset(gregor_producer *p)
{
    if (p->pid_state != PROD_PID_READY)
        return;
    gregor_log(GREGOR_LOG_INFO, "producer: sequence gap: asking for a new producer id");
    p->pid_state = PROD_PID_NEED;
    p->pid = -1;
    p->epoch = -1;
}
