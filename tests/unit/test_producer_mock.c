/* Unit: the producer against a scripted broker (tests/support/mock_broker)
 * that injects faults: NOT_LEADER answers, connections closed with
 * requests in flight, silence past the request timeout. The mock keeps a
 * log the way a real leader does for an idempotent producer (a batch whose
 * sequence was already written is acknowledged again, not appended), so
 * the test can check that every message is delivered exactly once, in
 * order, and reported once. Also: batching (linger and batch size), memory
 * bound with QUEUE_FULL, and destroy reporting what it could not deliver.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gregor/producer.h"
#include "mock_broker.h"
#include "protocol/gen/api.h"
#include "protocol/gen/init_producer_id.h"
#include "protocol/gen/metadata.h"
#include "protocol/gen/produce.h"
#include "protocol/records.h"
#include "util/arena.h"

#define MAX_LOG 100000

typedef struct broker_state {
    pthread_mutex_t lock;
    int port;
    int32_t n_parts;
    /* faults, by Produce request number (0-based) */
    int not_leader_first;   /* answer NOT_LEADER to the first N */
    int close_every;        /* close the connection on every Nth (0: never) */
    int silent_on;          /* never answer request number N (-1: none) */
    int produce_requests;
    int max_batches_per_request;
    int max_records_per_batch;
    bool idempotent_seen;
    /* the log of partition 0 */
    int32_t log[MAX_LOG];
    int n_log;
    int32_t next_seq;
    int64_t last_base_offset_for_seq[1]; /* unused */
} broker_state;

static broker_state bs;

static void write_metadata(buf_writer *w, int16_t version)
{
    proto_metadata_response m;
    proto_metadata_response_init(&m);
    proto_metadata_response_broker b;
    proto_metadata_response_broker_init(&b);
    b.node_id = 1;
    b.host = buf_slice_of("127.0.0.1", 9);
    b.port = bs.port;
    m.brokers = &b;
    m.brokers_count = 1;
    m.controller_id = 1;
    proto_metadata_response_topic t;
    proto_metadata_response_topic_init(&t);
    t.name = buf_slice_of("t", 1);
    proto_metadata_response_partition parts[8];
    int32_t replicas[1] = {1};
    for (int32_t i = 0; i < bs.n_parts; i++) {
        proto_metadata_response_partition_init(&parts[i]);
        parts[i].partition_index = i;
        parts[i].leader_id = 1;
        parts[i].replica_nodes = replicas;
        parts[i].replica_nodes_count = 1;
        parts[i].isr_nodes = replicas;
        parts[i].isr_nodes_count = 1;
        parts[i].offline_replicas_count = 0;
    }
    t.partitions = parts;
    t.partitions_count = bs.n_parts;
    m.topics = &t;
    m.topics_count = 1;
    (void)proto_metadata_response_encode(w, version, &m);
}

/* Appends the records of one batch to the log, as an idempotent leader
 * would; returns the error code and the base offset. */
static int16_t append_batch(buf_slice records, int64_t *base_offset)
{
    proto_record_reader r;
    proto_record_reader_init(&r, records.ptr, (size_t)records.len, NULL);
    proto_record rec;
    bool got;
    int32_t seq = -1, count = 0;
    static int32_t values[65536];
    while (proto_record_reader_next(&r, &rec, &got) == GREGOR_OK && got) {
        if (count == 0)
            seq = rec.sequence;
        if (count < 65536)
            values[count] = atoi((const char *)rec.value.ptr);
        count++;
    }
    proto_record_reader_fini(&r);
    cr_assert_eq(r.err, GREGOR_OK);
    if (count > bs.max_records_per_batch)
        bs.max_records_per_batch = count;
    if (seq >= 0) {
        bs.idempotent_seen = true;
        if (seq < bs.next_seq) { /* a duplicate: acknowledge, do not append */
            *base_offset = -1;
            return 46; /* DUPLICATE_SEQUENCE_NUMBER */
        }
        if (seq > bs.next_seq)
            return 45; /* OUT_OF_ORDER_SEQUENCE_NUMBER */
        bs.next_seq = seq + count;
    }
    *base_offset = bs.n_log;
    for (int32_t i = 0; i < count && bs.n_log < MAX_LOG; i++)
        bs.log[bs.n_log++] = values[i];
    return 0;
}

static mock_action handler(void *arg, mock_request *req, buf_writer *reply)
{
    (void)arg;
    arena a;
    arena_init(&a, ARENA_DEFAULT_LIMIT);
    mock_action act = MOCK_REPLY;
    pthread_mutex_lock(&bs.lock);
    switch (req->api_key) {
    case PROTO_API_API_VERSIONS:
        mock_write_api_versions(reply, req->version);
        break;
    case PROTO_API_METADATA:
        write_metadata(reply, req->version);
        break;
    case PROTO_API_INIT_PRODUCER_ID: {
        proto_init_producer_id_response m;
        proto_init_producer_id_response_init(&m);
        m.producer_id = 1000;
        m.producer_epoch = 0;
        (void)proto_init_producer_id_response_encode(reply, req->version, &m);
        break;
    }
    case PROTO_API_PRODUCE: {
        int n = bs.produce_requests++;
        proto_produce_request pr;
        cr_assert_eq(proto_produce_request_decode(&req->body, req->version, &pr, &a), GREGOR_OK);
        if (bs.close_every && n % bs.close_every == bs.close_every - 1) {
            act = MOCK_CLOSE;
            break;
        }
        if (n == bs.silent_on) {
            act = MOCK_SILENT;
            break;
        }
        proto_produce_response resp;
        proto_produce_response_init(&resp);
        proto_produce_response_topic_produce_response tr[4];
        proto_produce_response_partition_produce_response prs[64];
        int np = 0;
        cr_assert_leq(pr.topic_data_count, 4);
        for (int32_t ti = 0; ti < pr.topic_data_count; ti++) {
            proto_produce_response_topic_produce_response_init(&tr[ti]);
            tr[ti].name = pr.topic_data[ti].name;
            tr[ti].partition_responses = &prs[np];
            tr[ti].partition_responses_count = pr.topic_data[ti].partition_data_count;
            if (pr.topic_data[ti].partition_data_count > bs.max_batches_per_request)
                bs.max_batches_per_request = pr.topic_data[ti].partition_data_count;
            for (int32_t pi = 0; pi < pr.topic_data[ti].partition_data_count; pi++) {
                proto_produce_request_partition_produce_data *pd = &pr.topic_data[ti].partition_data[pi];
                proto_produce_response_partition_produce_response *o = &prs[np++];
                proto_produce_response_partition_produce_response_init(o);
                o->index = pd->index;
                o->base_offset = -1;
                if (n < bs.not_leader_first)
                    o->error_code = 6;
                else if (pd->index == 0)
                    o->error_code = append_batch(pd->records, &o->base_offset);
                else
                    o->base_offset = 0;
            }
        }
        resp.responses = tr;
        resp.responses_count = pr.topic_data_count;
        (void)proto_produce_response_encode(reply, req->version, &resp);
        break;
    }
    default:
        act = MOCK_CLOSE;
    }
    pthread_mutex_unlock(&bs.lock);
    arena_fini(&a);
    return act;
}

typedef struct reports {
    pthread_mutex_t lock;
    int n_ok, n_fail;
    gregor_err last_err;
    int32_t order[MAX_LOG]; /* message numbers in report order */
    int n_order;
    int64_t last_offset;
    bool offsets_increase;
} reports;

static reports rep;

static void on_delivery(const gregor_delivery *d, void *arg)
{
    (void)arg;
    pthread_mutex_lock(&rep.lock);
    if (d->err == GREGOR_OK) {
        rep.n_ok++;
        if (d->offset >= 0 && d->partition == 0) {
            if (d->partition == 0 && d->offset <= rep.last_offset)
                rep.offsets_increase = false;
            rep.last_offset = d->offset;
        }
    } else {
        rep.n_fail++;
        rep.last_err = d->err;
    }
    if (rep.n_order < MAX_LOG)
        rep.order[rep.n_order++] = (int32_t)(intptr_t)d->opaque;
    pthread_mutex_unlock(&rep.lock);
}

static mock_broker *start(int32_t n_parts)
{
    memset(&bs, 0, sizeof bs);
    pthread_mutex_init(&bs.lock, NULL);
    bs.n_parts = n_parts;
    bs.silent_on = -1;
    memset(&rep, 0, sizeof rep);
    pthread_mutex_init(&rep.lock, NULL);
    rep.last_offset = -1;
    rep.offsets_increase = true;
    mock_broker *m = mock_broker_start(handler, NULL);
    bs.port = mock_broker_port(m);
    return m;
}

static gregor_producer *producer(const char *const *kv)
{
    gregor_config *cfg = gregor_config_new();
    char err[256], boot[64];
    snprintf(boot, sizeof boot, "127.0.0.1:%d", bs.port);
    cr_assert_eq(gregor_config_set(cfg, "bootstrap", boot, err, sizeof err), GREGOR_OK);
    cr_assert_eq(gregor_config_set(cfg, "retry_backoff_ms", "10", err, sizeof err), GREGOR_OK);
    cr_assert_eq(gregor_config_set(cfg, "reconnect_backoff_ms", "10", err, sizeof err), GREGOR_OK);
    for (; kv && kv[0]; kv += 2)
        cr_assert_eq(gregor_config_set(cfg, kv[0], kv[1], err, sizeof err), GREGOR_OK, "%s", err);
    gregor_producer *p;
    cr_assert_eq(gregor_producer_new(cfg, on_delivery, NULL, &p, err, sizeof err), GREGOR_OK, "%s", err);
    gregor_config_destroy(cfg);
    return p;
}

static gregor_err send_n(gregor_producer *p, int from, int n, int32_t partition)
{
    for (int i = from; i < from + n; i++) {
        char v[16];
        snprintf(v, sizeof v, "%d", i);
        gregor_produce_message m = {.topic = "t", .partition = partition, .value = v, .value_len = strlen(v) + 1,
                                    .opaque = (void *)(intptr_t)i};
        gregor_err e = gregor_producer_produce(p, &m);
        if (e != GREGOR_OK)
            return e;
    }
    return GREGOR_OK;
}

/* The log holds 0..n-1 exactly once, in order; reports likewise. */
static void check_exactly_once_in_order(int n)
{
    pthread_mutex_lock(&bs.lock);
    cr_assert_eq(bs.n_log, n, "log has %d of %d", bs.n_log, n);
    for (int i = 0; i < n; i++)
        cr_assert_eq(bs.log[i], i, "log[%d] = %d", i, bs.log[i]);
    pthread_mutex_unlock(&bs.lock);
    cr_assert_eq(rep.n_ok, n, "%d delivered, %d failed (%s)", rep.n_ok, rep.n_fail, gregor_err_name(rep.last_err));
    for (int i = 0; i < n; i++)
        cr_assert_eq(rep.order[i], i, "report %d is message %d", i, rep.order[i]);
    cr_assert(rep.offsets_increase);
}

Test(producer_mock, delivers_in_order_with_offsets, .timeout = 30)
{
    mock_broker *m = start(1);
    gregor_producer *p = producer(NULL);
    cr_assert_eq(send_n(p, 0, 5000, 0), GREGOR_OK);
    cr_assert_eq(gregor_producer_flush(p, 10000), GREGOR_OK);
    check_exactly_once_in_order(5000);
    cr_assert(bs.idempotent_seen, "acks=all on a modern broker is idempotent by default");
    gregor_producer_destroy(p, 1000);
    mock_broker_stop(m);
}

Test(producer_mock, not_leader_is_retried_in_order, .timeout = 30)
{
    mock_broker *m = start(1);
    bs.not_leader_first = 5;
    gregor_producer *p = producer(NULL);
    cr_assert_eq(send_n(p, 0, 3000, 0), GREGOR_OK);
    cr_assert_eq(gregor_producer_flush(p, 10000), GREGOR_OK);
    check_exactly_once_in_order(3000);
    gregor_producer_destroy(p, 1000);
    mock_broker_stop(m);
}

Test(producer_mock, connection_drops_no_duplicates_no_reorder, .timeout = 60)
{
    mock_broker *m = start(1);
    bs.close_every = 3;
    static const char *const kv[] = {"linger_ms", "1", "batch_bytes", "4096", NULL};
    gregor_producer *p = producer(kv);
    for (int i = 0; i < 20; i++) {
        cr_assert_eq(send_n(p, i * 500, 500, 0), GREGOR_OK);
        usleep(2000);
    }
    cr_assert_eq(gregor_producer_flush(p, 30000), GREGOR_OK, "outstanding %zu", gregor_producer_outstanding(p));
    check_exactly_once_in_order(10000);
    gregor_producer_destroy(p, 1000);
    mock_broker_stop(m);
}

Test(producer_mock, without_idempotence_order_is_kept, .timeout = 60)
{
    mock_broker *m = start(1);
    bs.not_leader_first = 3;
    static const char *const kv[] = {"acks", "1", "linger_ms", "0", "batch_bytes", "2048", NULL};
    gregor_producer *p = producer(kv);
    cr_assert_eq(send_n(p, 0, 4000, 0), GREGOR_OK);
    cr_assert_eq(gregor_producer_flush(p, 30000), GREGOR_OK);
    cr_assert_not(bs.idempotent_seen);
    check_exactly_once_in_order(4000);
    gregor_producer_destroy(p, 1000);
    mock_broker_stop(m);
}

Test(producer_mock, silent_broker_times_out_then_retry_succeeds, .timeout = 60)
{
    mock_broker *m = start(1);
    bs.silent_on = 0;
    static const char *const kv[] = {"request_timeout_ms", "500", NULL};
    gregor_producer *p = producer(kv);
    cr_assert_eq(send_n(p, 0, 100, 0), GREGOR_OK);
    cr_assert_eq(gregor_producer_flush(p, 20000), GREGOR_OK);
    check_exactly_once_in_order(100);
    gregor_producer_destroy(p, 1000);
    mock_broker_stop(m);
}

Test(producer_mock, batches_fill_to_batch_bytes_and_share_requests, .timeout = 30)
{
    mock_broker *m = start(4);
    static const char *const kv[] = {"linger_ms", "200", "batch_bytes", "16384", NULL};
    gregor_producer *p = producer(kv);
    for (int32_t part = 0; part < 4; part++)
        cr_assert_eq(send_n(p, 0, 100, part), GREGOR_OK);
    cr_assert_eq(gregor_producer_flush(p, 10000), GREGOR_OK);
    cr_assert_eq(bs.max_batches_per_request, 4, "one request carries every partition's batch");
    cr_assert_eq(bs.produce_requests, 1);
    gregor_producer_destroy(p, 1000);
    mock_broker_stop(m);
}

Test(producer_mock, queue_full_fails_fast_and_destroy_reports_the_rest, .timeout = 30)
{
    mock_broker *m = start(1);
    mock_broker_stop_listening(m);
    static const char *const kv[] = {"buffer_bytes", "65536", NULL};
    gregor_producer *p = producer(kv);
    static char big[1000];
    int accepted = 0;
    gregor_err e = GREGOR_OK;
    for (int i = 0; i < 1000 && e == GREGOR_OK; i++) {
        gregor_produce_message msg = {.topic = "t", .partition = 0, .value = big, .value_len = sizeof big};
        if ((e = gregor_producer_produce(p, &msg)) == GREGOR_OK)
            accepted++;
    }
    cr_assert_eq(e, GREGOR_ERR_QUEUE_FULL);
    cr_assert_lt(accepted, 66);
    cr_assert_gt(accepted, 20);
    gregor_producer_destroy(p, 100);
    cr_assert_eq(rep.n_fail, accepted);
    cr_assert_eq(rep.n_ok, 0);
    mock_broker_stop(m);
}
