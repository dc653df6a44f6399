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
#include "producer/producer.h"
#include "protocol/gen/api.h"
#include "protocol/gen/errors.h"
#include "protocol/gen/init_producer_id.h"
#include "protocol/gen/metadata.h"
#include "protocol/gen/produce.h"
#include "protocol/records.h"
#include "util/arena.h"

#define MAX_LOG 100000
#define MAX_PARTS 4

/* A partition's log and its producer state, as an idempotent leader keeps
 * them: one producer id and epoch, the next sequence; a higher epoch must
 * start at sequence 0, a lower one is refused. */
typedef struct part_log {
    int32_t log[MAX_LOG]; /* message numbers (the values) */
    int n_log;
    int64_t pid;
    int16_t epoch;
    int32_t next_seq;
    int n_epochs; /* producer id/epoch changes seen */
    int oosn;     /* OUT_OF_ORDER_SEQUENCE answers */
} part_log;

typedef struct broker_state {
    pthread_mutex_t lock;
    int port[2];
    int boot_port;          /* the producer's bootstrap (0: port[0]) */
    int32_t n_parts;
    bool two_brokers;
    bool two_topics;        /* topic "u" too; its partition k logs in parts[2 + k] */
    int max_topics_per_request;
    int32_t leader[MAX_PARTS]; /* node id, 1 or 2 */
    /* faults, by Produce request number (0-based) */
    int not_leader_first;   /* answer NOT_LEADER to the first N */
    int close_every;        /* close the connection on every Nth (0: never) */
    int silent_on;          /* never answer request number N (-1: none) */
    int refuse_value;       /* refuse the batch holding this message for good (-1: none) */
    int refuse_value2;      /* and the one holding this one (-1: none) */
    int blackhole_value;    /* never answer a request holding this message, write nothing (-1: none) */
    int blackholed;         /* requests not answered so */
    int16_t refuse_code;
    int refused;            /* records refused */
    int silent_p1_after_refusal; /* 1: write the next partition-1 batch, then never answer */
    int move_at_value;      /* node 1 moves partition 0 to node 2 on this message (-1: none) */
    bool moved;
    bool refresh_p1_once;   /* node 2: NOT_LEADER once for partition 1 (a metadata refresh) */
    int sleep_ms;           /* the handler sleeps this long (lock released) before answering */
    int produce_requests;
    int max_batches_per_request;
    int max_records_per_batch;
    bool idempotent_seen;
    int64_t next_pid;
    int16_t init_pid_error; /* InitProducerId answers this error code */
    int16_t init_epoch;     /* the epoch InitProducerId gives */
    int64_t init_req_pid;   /* producer id and epoch of the last InitProducerId request */
    int16_t init_req_epoch;
    int32_t max_message_bytes; /* MESSAGE_TOO_LARGE for larger batches (0: no limit) */
    int too_large_answers;
    part_log parts[MAX_PARTS];
} broker_state;

static broker_state bs;

static void write_metadata(buf_writer *w, int16_t version)
{
    proto_metadata_response m;
    proto_metadata_response_init(&m);
    proto_metadata_response_broker b[2];
    for (int i = 0; i < 2; i++) {
        proto_metadata_response_broker_init(&b[i]);
        b[i].node_id = i + 1;
        b[i].host = buf_slice_of("127.0.0.1", 9);
        b[i].port = bs.port[i];
    }
    m.brokers = b;
    m.brokers_count = bs.two_brokers ? 2 : 1;
    m.controller_id = 1;
    proto_metadata_response_topic t[2];
    for (int i = 0; i < 2; i++) {
        proto_metadata_response_topic_init(&t[i]);
        t[i].name = buf_slice_of(i ? "u" : "t", 1);
    }
    proto_metadata_response_partition parts[MAX_PARTS];
    int32_t replicas[MAX_PARTS][1];
    for (int32_t i = 0; i < bs.n_parts; i++) {
        replicas[i][0] = bs.leader[i];
        proto_metadata_response_partition_init(&parts[i]);
        parts[i].partition_index = i;
        parts[i].leader_id = bs.leader[i];
        parts[i].replica_nodes = replicas[i];
        parts[i].replica_nodes_count = 1;
        parts[i].isr_nodes = replicas[i];
        parts[i].isr_nodes_count = 1;
        parts[i].offline_replicas_count = 0;
    }
    t[0].partitions = t[1].partitions = parts;
    t[0].partitions_count = t[1].partitions_count = bs.n_parts;
    m.topics = t;
    m.topics_count = bs.two_topics ? 2 : 1;
    (void)proto_metadata_response_encode(w, version, &m);
}

/* The message numbers of one batch, and its producer fields. */
typedef struct batch_view {
    int64_t pid;
    int16_t epoch;
    int32_t seq;
    int32_t count;
    int32_t values[65536];
} batch_view;

static void read_batch(buf_slice records, batch_view *v)
{
    proto_record_reader r;
    proto_record_reader_init(&r, records.ptr, (size_t)records.len, NULL);
    proto_record rec;
    bool got;
    v->count = 0;
    v->seq = -1;
    while (proto_record_reader_next(&r, &rec, &got) == GREGOR_OK && got) {
        if (v->count == 0) {
            v->seq = rec.sequence;
            v->pid = rec.producer_id;
            v->epoch = rec.producer_epoch;
        }
        if (v->count < 65536)
            v->values[v->count] = atoi((const char *)rec.value.ptr);
        v->count++;
    }
    proto_record_reader_fini(&r);
    cr_assert_eq(r.err, GREGOR_OK);
}

static bool batch_has(const batch_view *v, int value)
{
    for (int32_t i = 0; i < v->count; i++)
        if (v->values[i] == value)
            return true;
    return false;
}

/* Appends the records of one batch to the log, as an idempotent leader
 * would; returns the error code and the base offset. */
static int16_t append_batch(part_log *pl, const batch_view *v, int64_t *base_offset)
{
    if (v->count > bs.max_records_per_batch)
        bs.max_records_per_batch = v->count;
    if (v->seq >= 0) {
        bs.idempotent_seen = true;
        if (v->pid != pl->pid || v->epoch != pl->epoch) {
            if (v->pid == pl->pid && v->epoch < pl->epoch)
                return PROTO_ERR_INVALID_PRODUCER_EPOCH;
            if (v->seq != 0) {
                pl->oosn++;
                return PROTO_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER; /* a new producer or epoch starts at 0 */
            }
            pl->pid = v->pid;
            pl->epoch = v->epoch;
            pl->next_seq = 0;
            pl->n_epochs++;
        }
        if (v->seq < pl->next_seq) { /* a duplicate: acknowledge, do not append */
            *base_offset = -1;
            return PROTO_ERR_DUPLICATE_SEQUENCE_NUMBER;
        }
        if (v->seq > pl->next_seq) {
            pl->oosn++;
            return PROTO_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER;
        }
        pl->next_seq = v->seq + v->count;
    }
    *base_offset = pl->n_log;
    for (int32_t i = 0; i < v->count && pl->n_log < MAX_LOG; i++)
        pl->log[pl->n_log++] = v->values[i];
    return 0;
}

/* The answer of node `node` for one partition's batch. */
static int16_t produce_partition(int node, int n, int32_t index, buf_slice records, int64_t *base_offset,
                                 mock_action *act)
{
    static batch_view v;
    read_batch(records, &v);
    if (n < bs.not_leader_first)
        return PROTO_ERR_NOT_LEADER_OR_FOLLOWER;
    if (node == 2 && index == 1 && bs.refresh_p1_once) {
        bs.refresh_p1_once = false;
        return PROTO_ERR_NOT_LEADER_OR_FOLLOWER;
    }
    if (bs.leader[index] != node)
        return PROTO_ERR_NOT_LEADER_OR_FOLLOWER;
    if (node == 1 && index == 0 && !bs.moved && bs.move_at_value >= 0 && batch_has(&v, bs.move_at_value)) {
        /* The leader moves while this batch is in flight: answered late. */
        bs.moved = true;
        bs.leader[0] = 2;
        bs.refresh_p1_once = true;
        bs.sleep_ms = 1500;
        return PROTO_ERR_NOT_LEADER_OR_FOLLOWER;
    }
    if (bs.max_message_bytes && records.len > bs.max_message_bytes) {
        bs.too_large_answers++;
        return PROTO_ERR_MESSAGE_TOO_LARGE;
    }
    if (index == 0 && ((bs.refuse_value >= 0 && batch_has(&v, bs.refuse_value)) ||
                       (bs.refuse_value2 >= 0 && batch_has(&v, bs.refuse_value2)))) {
        bs.refused += v.count;
        bs.sleep_ms = 200; /* more requests pile up behind this one */
        return bs.refuse_code;
    }
    int16_t code = append_batch(&bs.parts[index], &v, base_offset);
    if (index == 1 && code == 0 && bs.silent_p1_after_refusal == 1) {
        bs.silent_p1_after_refusal = 2; /* written, never acknowledged */
        *act = MOCK_SILENT;
    }
    return code;
}

/* Whether a request holds the black-holed message (then it is counted). */
static bool blackholed(const proto_produce_request *pr)
{
    static batch_view v;
    if (bs.blackhole_value < 0)
        return false;
    for (int32_t ti = 0; ti < pr->topic_data_count; ti++)
        for (int32_t pi = 0; pi < pr->topic_data[ti].partition_data_count; pi++) {
            read_batch(pr->topic_data[ti].partition_data[pi].records, &v);
            if (batch_has(&v, bs.blackhole_value)) {
                bs.blackholed++;
                return true;
            }
        }
    return false;
}

static mock_action handler(void *arg, mock_request *req, buf_writer *reply)
{
    int node = (int)(intptr_t)arg;
    arena a;
    arena_init(&a, ARENA_DEFAULT_LIMIT);
    mock_action act = MOCK_REPLY;
    int sleep_ms = 0;
    pthread_mutex_lock(&bs.lock);
    switch (req->api_key) {
    case PROTO_API_API_VERSIONS:
        mock_write_api_versions(reply, req->version);
        break;
    case PROTO_API_METADATA:
        write_metadata(reply, req->version);
        break;
    case PROTO_API_INIT_PRODUCER_ID: {
        proto_init_producer_id_request rq;
        cr_assert_eq(proto_init_producer_id_request_decode(&req->body, req->version, &rq, &a), GREGOR_OK);
        bs.init_req_pid = rq.producer_id;
        bs.init_req_epoch = rq.producer_epoch;
        proto_init_producer_id_response m;
        proto_init_producer_id_response_init(&m);
        m.producer_id = bs.init_pid_error ? -1 : 1000 + bs.next_pid++;
        m.producer_epoch = bs.init_pid_error ? -1 : bs.init_epoch;
        m.error_code = bs.init_pid_error;
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
        if (n == bs.silent_on || blackholed(&pr)) {
            act = MOCK_SILENT;
            break;
        }
        proto_produce_response resp;
        proto_produce_response_init(&resp);
        proto_produce_response_topic_produce_response tr[4];
        proto_produce_response_partition_produce_response prs[64];
        int np = 0;
        cr_assert_leq(pr.topic_data_count, 4);
        if (pr.topic_data_count > bs.max_topics_per_request)
            bs.max_topics_per_request = pr.topic_data_count;
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
                cr_assert_lt(pd->index, MAX_PARTS);
                int32_t index = pd->index + (buf_slice_eq_str(pr.topic_data[ti].name, "u") ? 2 : 0);
                cr_assert_lt(index, MAX_PARTS);
                o->error_code = produce_partition(node, n, index, pd->records, &o->base_offset, &act);
            }
        }
        resp.responses = tr;
        resp.responses_count = pr.topic_data_count;
        (void)proto_produce_response_encode(reply, req->version, &resp);
        sleep_ms = bs.sleep_ms;
        bs.sleep_ms = 0;
        if (bs.refused && bs.silent_p1_after_refusal == 0)
            bs.silent_p1_after_refusal = 1; /* from the next request on */
        break;
    }
    default:
        act = MOCK_CLOSE;
    }
    pthread_mutex_unlock(&bs.lock);
    arena_fini(&a);
    if (sleep_ms)
        usleep((useconds_t)sleep_ms * 1000);
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
    uint8_t times[MAX_LOG];      /* reports per message number */
    gregor_err err_of[MAX_LOG];  /* the last report's error per message number */
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
    intptr_t k = (intptr_t)d->opaque;
    if (k >= 0 && k < MAX_LOG) {
        rep.times[k]++;
        rep.err_of[k] = d->err;
    }
    pthread_mutex_unlock(&rep.lock);
}

static mock_broker *start(int32_t n_parts)
{
    memset(&bs, 0, sizeof bs);
    pthread_mutex_init(&bs.lock, NULL);
    bs.n_parts = n_parts;
    bs.silent_on = -1;
    bs.refuse_value = -1;
    bs.refuse_value2 = -1;
    bs.blackhole_value = -1;
    bs.move_at_value = -1;
    for (int i = 0; i < MAX_PARTS; i++) {
        bs.leader[i] = 1;
        bs.parts[i].pid = -1;
        bs.parts[i].epoch = -1;
    }
    memset(&rep, 0, sizeof rep);
    pthread_mutex_init(&rep.lock, NULL);
    rep.last_offset = -1;
    rep.offsets_increase = true;
    mock_broker *m = mock_broker_start(handler, (void *)(intptr_t)1);
    bs.port[0] = mock_broker_port(m);
    return m;
}

static gregor_producer *producer(const char *const *kv)
{
    gregor_config *cfg = gregor_config_new();
    char err[256], boot[64];
    snprintf(boot, sizeof boot, "127.0.0.1:%d", bs.boot_port ? bs.boot_port : bs.port[0]);
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
    const part_log *pl = &bs.parts[0];
    cr_assert_eq(pl->n_log, n, "log has %d of %d", pl->n_log, n);
    for (int i = 0; i < n; i++)
        cr_assert_eq(pl->log[i], i, "log[%d] = %d", i, pl->log[i]);
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

/* Partition `part`'s log holds messages from..from+n-1 in order, each once,
 * except those reported failed; every message was reported exactly once.
 * Returns how many failed. */
static int check_partition(int32_t part, int from, int n)
{
    int failed = 0, k = 0;
    pthread_mutex_lock(&bs.lock);
    const part_log *pl = &bs.parts[part];
    for (int i = from; i < from + n; i++) {
        cr_assert_eq(rep.times[i], 1, "message %d reported %d times", i, rep.times[i]);
        if (rep.err_of[i] != GREGOR_OK) {
            failed++;
            continue;
        }
        cr_assert_lt(k, pl->n_log, "message %d delivered but not in the log", i);
        cr_assert_eq(pl->log[k], i, "partition %d log[%d] = %d, expected %d", part, k, pl->log[k], i);
        k++;
    }
    cr_assert_eq(k, pl->n_log, "partition %d: %d extra records in the log", part, pl->n_log - k);
    pthread_mutex_unlock(&bs.lock);
    return failed;
}

/* The messages reported failed are one batch: a run holding `value`, each
 * failed with `err`. */
static void check_failed_run(int from, int n, int value, gregor_err err, int expect)
{
    int first = -1, last = -1;
    for (int i = from; i < from + n; i++) {
        if (rep.err_of[i] == GREGOR_OK)
            continue;
        cr_assert_eq(rep.err_of[i], err, "message %d failed with %s", i, gregor_err_name(rep.err_of[i]));
        if (first < 0)
            first = i;
        last = i;
    }
    cr_assert(first <= value && value <= last, "failed run %d..%d lacks %d", first, last, value);
    cr_assert_eq(last - first + 1, expect, "failed %d..%d, the refused batch had %d", first, last, expect);
}

Test(producer_mock, refused_batch_fails_alone, .timeout = 60)
{
    mock_broker *m = start(1);
    bs.refuse_value = 1000;
    bs.refuse_code = PROTO_ERR_INVALID_RECORD; /* refused for good, not split */
    static const char *const kv[] = {"linger_ms", "0", "batch_bytes", "1024", NULL};
    gregor_producer *p = producer(kv);
    cr_assert_eq(send_n(p, 0, 3000, 0), GREGOR_OK);
    cr_assert_eq(gregor_producer_flush(p, 30000), GREGOR_OK);
    int failed = check_partition(0, 0, 3000);
    cr_assert_eq(failed, bs.refused);
    check_failed_run(0, 3000, 1000, PROTO_ERR_INVALID_RECORD, bs.refused);
    cr_assert_gt(bs.parts[0].oosn, 0, "batches were in flight behind the refused one");
    cr_assert_eq(mock_broker_requests(m, PROTO_API_INIT_PRODUCER_ID), 1, "the producer id is kept");
    cr_assert_eq(bs.parts[0].n_epochs, 2, "one epoch bump for the partition");
    gregor_producer_destroy(p, 1000);
    mock_broker_stop(m);
}

Test(producer_mock, counts_delivered_failed_and_batches_for_metrics, .timeout = 60)
{
    mock_broker *m = start(1);
    bs.refuse_value = 1000;
    bs.refuse_code = PROTO_ERR_INVALID_RECORD;
    static const char *const kv[] = {"linger_ms", "0", "batch_bytes", "1024", NULL};
    gregor_producer *p = producer(kv);
    cr_assert_eq(send_n(p, 0, 3000, 0), GREGOR_OK);
    cr_assert_eq(gregor_producer_flush(p, 30000), GREGOR_OK);
    gregor_producer_stats st;
    gregor_producer_stats_get(p, &st);
    cr_assert_eq(st.failed, (uint64_t)bs.refused);
    cr_assert_eq(st.delivered + st.failed, 3000);
    cr_assert_eq(st.delivered, (uint64_t)rep.n_ok);
    cr_assert_gt(st.batches, 3000 * 4 / 1024, "batch_bytes 1024 makes many small batches");
    cr_assert_geq(st.batch_records, 3000, "every record was in a batch (retries again)");
    cr_assert_gt(st.batch_bytes, 3000 * 4);
    cr_assert_eq(st.queued, 0);
    cr_assert_eq(st.in_flight_batches, 0);
    cr_assert_eq(st.buffer_bytes, 0);
    /* The connection it produced on: every Produce answered, counted. */
    gregor_broker_stats *bk;
    size_t nb;
    cr_assert_eq(gregor_client_broker_stats(gregor_producer_client(p), &bk, &nb), GREGOR_OK);
    uint64_t data_requests = 0, connects = 0;
    for (size_t i = 0; i < nb; i++) {
        if (strcmp(bk[i].purpose, "data"))
            continue;
        data_requests += bk[i].requests;
        connects += bk[i].connects;
        cr_assert_leq(bk[i].rtt_count, bk[i].requests);
    }
    free(bk);
    cr_assert_geq(data_requests, (uint64_t)mock_broker_requests(m, PROTO_API_PRODUCE), "every Produce counted");
    cr_assert_geq(connects, 1);
    gregor_producer_destroy(p, 1000);
    mock_broker_stop(m);
}

Test(producer_mock, written_retry_of_other_partition_is_not_duplicated, .timeout = 60)
{
    mock_broker *m = start(2);
    bs.refuse_value = 1000;
    bs.refuse_code = PROTO_ERR_INVALID_RECORD;
    static const char *const kv[] = {"linger_ms", "0", "batch_bytes", "1024", "request_timeout_ms", "1000", NULL};
    gregor_producer *p = producer(kv);
    for (int i = 0; i < 2000; i++) {
        cr_assert_eq(send_n(p, i, 1, 0), GREGOR_OK);
        cr_assert_eq(send_n(p, 2000 + i, 1, 1), GREGOR_OK);
    }
    cr_assert_eq(gregor_producer_flush(p, 30000), GREGOR_OK);
    cr_assert_eq(bs.silent_p1_after_refusal, 2, "a partition-1 batch was written and not acknowledged");
    cr_assert_eq(check_partition(1, 2000, 2000), 0, "partition 1 loses nothing");
    int failed = check_partition(0, 0, 2000);
    cr_assert_eq(failed, bs.refused, "failed %d refused %d", failed, bs.refused);
    check_failed_run(0, 2000, 1000, PROTO_ERR_INVALID_RECORD, bs.refused);
    gregor_producer_destroy(p, 1000);
    mock_broker_stop(m);
}

Test(producer_mock, out_of_order_behind_a_batch_in_flight_is_retried, .timeout = 60)
{
    mock_broker *m = start(3);
    mock_broker *m2 = mock_broker_start(handler, (void *)(intptr_t)2);
    pthread_mutex_lock(&bs.lock);
    bs.port[1] = mock_broker_port(m2);
    bs.boot_port = bs.port[1]; /* metadata from the broker that stays responsive */
    bs.two_brokers = true;
    bs.leader[1] = 2;
    bs.move_at_value = 500;
    pthread_mutex_unlock(&bs.lock);
    static const char *const kv[] = {"linger_ms", "2", "batch_bytes", "1024", NULL};
    gregor_producer *p = producer(kv);
    /* Partition 0 up to the move; then, while the old leader holds that
     * batch, partitions 1 (its NOT_LEADER makes the producer refresh its
     * metadata) and 2 (which keeps node 1's connection the busier one, so
     * the refresh goes to node 2); then partition 0 again, now to the new
     * leader. */
    int i1 = 50000, i2 = 80000;
    for (int i = 0; i <= 500; i++) {
        cr_assert_eq(send_n(p, i, 1, 0), GREGOR_OK);
        cr_assert_eq(send_n(p, i1++, 1, 1), GREGOR_OK);
        usleep(300);
    }
    for (int waited_ms = 0; waited_ms < 600; waited_ms++) {
        cr_assert_eq(send_n(p, i1++, 1, 1), GREGOR_OK);
        cr_assert_eq(send_n(p, i2++, 1, 2), GREGOR_OK);
        usleep(1000);
    }
    for (int i = 501; i < 3000; i++) {
        cr_assert_eq(send_n(p, i, 1, 0), GREGOR_OK);
        usleep(300);
    }
    cr_assert_eq(gregor_producer_flush(p, 30000), GREGOR_OK);
    pthread_mutex_lock(&bs.lock);
    cr_assert(bs.moved);
    cr_assert_gt(bs.parts[0].oosn, 0, "a batch reached the new leader while a lower one was in flight");
    pthread_mutex_unlock(&bs.lock);
    cr_assert_eq(check_partition(0, 0, 3000), 0, "nothing fails");
    cr_assert_eq(check_partition(1, 50000, i1 - 50000), 0);
    cr_assert_eq(check_partition(2, 80000, i2 - 80000), 0);
    gregor_producer_destroy(p, 1000);
    mock_broker_stop(m2);
    mock_broker_stop(m);
}

Test(producer_mock, required_idempotence_the_broker_lacks_is_an_error, .timeout = 30)
{
    mock_broker *m = start(1);
    bs.init_pid_error = PROTO_ERR_UNSUPPORTED_VERSION;
    static const char *const kv[] = {"enable_idempotence", "true", NULL};
    gregor_producer *p = producer(kv);
    cr_assert_eq(send_n(p, 0, 10, 0), GREGOR_OK, "accepted before the broker's answer is known");
    cr_assert_eq(gregor_producer_flush(p, 10000), GREGOR_OK);
    cr_assert_eq(rep.n_fail, 10);
    cr_assert_eq(rep.last_err, GREGOR_ERR_UNSUPPORTED);
    cr_assert_eq(send_n(p, 10, 1, 0), GREGOR_ERR_UNSUPPORTED, "later messages are refused at once");
    cr_assert_eq(bs.parts[0].n_log, 0, "nothing was written without idempotence");
    gregor_producer_destroy(p, 1000);
    mock_broker_stop(m);
}

Test(producer_mock, default_idempotence_falls_back, .timeout = 30)
{
    mock_broker *m = start(1);
    bs.init_pid_error = PROTO_ERR_UNSUPPORTED_VERSION;
    gregor_producer *p = producer(NULL);
    cr_assert_eq(send_n(p, 0, 100, 0), GREGOR_OK);
    cr_assert_eq(gregor_producer_flush(p, 10000), GREGOR_OK);
    check_exactly_once_in_order(100);
    cr_assert_not(bs.idempotent_seen);
    gregor_producer_destroy(p, 1000);
    mock_broker_stop(m);
}

Test(producer_mock, required_idempotence_with_a_legacy_broker_version_is_refused)
{
    gregor_config *cfg = gregor_config_new();
    char err[256] = "";
    cr_assert_eq(gregor_config_set(cfg, "bootstrap", "127.0.0.1:1", err, sizeof err), GREGOR_OK);
    cr_assert_eq(gregor_config_set(cfg, "broker_version", "0.10.2", err, sizeof err), GREGOR_OK);
    cr_assert_eq(gregor_config_set(cfg, "enable_idempotence", "true", err, sizeof err), GREGOR_OK);
    gregor_producer *p = NULL;
    cr_assert_eq(gregor_producer_new(cfg, NULL, NULL, &p, err, sizeof err), GREGOR_ERR_CONFIG);
    cr_assert(strstr(err, "enable_idempotence") && strstr(err, "0.10.2"), "%s", err);
    cr_assert_eq(gregor_config_set(cfg, "enable_idempotence", "false", err, sizeof err), GREGOR_OK);
    cr_assert_eq(gregor_producer_new(cfg, NULL, NULL, &p, err, sizeof err), GREGOR_OK, "%s", err);
    gregor_producer_destroy(p, 0);
    gregor_config_destroy(cfg);
}

typedef struct busy_producer {
    gregor_producer *p;
    atomic_int accepted; /* messages 0..accepted-1 were accepted */
    atomic_bool stop;
} busy_producer;

static void *produce_until_stopped(void *arg)
{
    busy_producer *bp = arg;
    for (int i = 0; !atomic_load(&bp->stop); i++) {
        cr_assert_eq(send_n(bp->p, i, 1, 0), GREGOR_OK);
        atomic_store(&bp->accepted, i + 1);
        if (i % 8 == 0)
            usleep(50);
    }
    return NULL;
}

Test(producer_mock, flush_returns_while_another_thread_keeps_producing, .timeout = 60)
{
    mock_broker *m = start(1);
    static const char *const kv[] = {"linger_ms", "20", NULL};
    busy_producer bp = {.p = producer(kv)};
    atomic_init(&bp.accepted, 0);
    atomic_init(&bp.stop, false);
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, produce_until_stopped, &bp), 0);
    /* Before the change, flush waited for the producer to be empty: with
     * the other thread producing all along, it timed out. */
    for (int round = 0; round < 3; round++) {
        usleep(100000);
        int before = atomic_load(&bp.accepted);
        cr_assert_eq(gregor_producer_flush(bp.p, 5000), GREGOR_OK, "round %d: outstanding %zu", round,
                     gregor_producer_outstanding(bp.p));
        pthread_mutex_lock(&rep.lock);
        for (int i = 0; i < before && i < MAX_LOG; i++)
            cr_assert_eq(rep.times[i], 1, "message %d, produced before the flush, not reported", i);
        pthread_mutex_unlock(&rep.lock);
    }
    atomic_store(&bp.stop, true);
    pthread_join(th, NULL);
    cr_assert_gt(atomic_load(&bp.accepted), 0);
    cr_assert_eq(gregor_producer_flush(bp.p, 10000), GREGOR_OK);
    cr_assert_eq(gregor_producer_outstanding(bp.p), 0);
    int n = atomic_load(&bp.accepted);
    cr_assert_eq(rep.n_ok, n);
    gregor_producer_destroy(bp.p, 1000);
    mock_broker_stop(m);
}

static gregor_err send_big(gregor_producer *p, int i, size_t len)
{
    static char v[1 << 20];
    cr_assert_lt(len, sizeof v);
    memset(v, 'x', len);
    int k = snprintf(v, 16, "%d", i);
    v[k] = 0; /* the mock reads the number up to the NUL */
    gregor_produce_message m = {.topic = "t", .partition = 0, .value = v, .value_len = len,
                                .opaque = (void *)(intptr_t)i};
    return gregor_producer_produce(p, &m);
}

Test(producer_mock, record_larger_than_batch_bytes_goes_alone, .timeout = 30)
{
    mock_broker *m = start(1);
    static const char *const kv[] = {"linger_ms", "5", "batch_bytes", "1024", "max_request_bytes", "65536", NULL};
    gregor_producer *p = producer(kv);
    cr_assert_eq(send_n(p, 0, 100, 0), GREGOR_OK);
    cr_assert_eq(send_big(p, 100, 20000), GREGOR_OK, "larger than batch_bytes, within max_request_bytes");
    cr_assert_eq(send_n(p, 101, 100, 0), GREGOR_OK);
    cr_assert_eq(send_big(p, 201, 70000), GREGOR_ERR_TOO_LARGE, "larger than max_request_bytes");
    cr_assert_eq(gregor_producer_flush(p, 10000), GREGOR_OK);
    check_exactly_once_in_order(201);
    gregor_producer_destroy(p, 1000);
    mock_broker_stop(m);
}

Test(producer_mock, message_too_large_splits_the_batch, .timeout = 60)
{
    mock_broker *m = start(1);
    bs.max_message_bytes = 3000;
    static const char *const kv[] = {"linger_ms", "50", "batch_bytes", "65536", NULL};
    gregor_producer *p = producer(kv);
    cr_assert_eq(send_n(p, 0, 1500, 0), GREGOR_OK);
    cr_assert_eq(send_big(p, 1500, 5000), GREGOR_OK);
    cr_assert_eq(send_n(p, 1501, 1500, 0), GREGOR_OK);
    cr_assert_eq(gregor_producer_flush(p, 30000), GREGOR_OK);
    cr_assert_gt(bs.too_large_answers, 1);
    cr_assert_eq(check_partition(0, 0, 3001), 1, "only the message larger than the broker's limit fails");
    cr_assert_eq(rep.err_of[1500], PROTO_ERR_MESSAGE_TOO_LARGE, "%s", gregor_err_name(rep.err_of[1500]));
    gregor_producer_destroy(p, 1000);
    mock_broker_stop(m);
}

Test(producer_mock, message_too_large_splits_without_idempotence, .timeout = 60)
{
    mock_broker *m = start(1);
    bs.max_message_bytes = 3000;
    static const char *const kv[] = {"acks", "1", "linger_ms", "50", "batch_bytes", "65536", NULL};
    gregor_producer *p = producer(kv);
    cr_assert_eq(send_n(p, 0, 3000, 0), GREGOR_OK);
    cr_assert_eq(gregor_producer_flush(p, 30000), GREGOR_OK);
    cr_assert_not(bs.idempotent_seen);
    check_exactly_once_in_order(3000);
    gregor_producer_destroy(p, 1000);
    mock_broker_stop(m);
}

Test(producer_mock, used_up_epochs_take_a_new_producer_id, .timeout = 60)
{
    mock_broker *m = start(1);
    bs.init_epoch = INT16_MAX - 1;
    bs.refuse_value = 500;
    bs.refuse_value2 = 2500;
    bs.refuse_code = PROTO_ERR_INVALID_RECORD;
    static const char *const kv[] = {"linger_ms", "0", "batch_bytes", "1024", NULL};
    gregor_producer *p = producer(kv);
    cr_assert_eq(send_n(p, 0, 2000, 0), GREGOR_OK);
    cr_assert_eq(gregor_producer_flush(p, 30000), GREGOR_OK);
    cr_assert_eq(mock_broker_requests(m, PROTO_API_INIT_PRODUCER_ID), 1, "the first hole: epoch bumped");
    cr_assert_eq(send_n(p, 2000, 2000, 0), GREGOR_OK);
    cr_assert_eq(gregor_producer_flush(p, 30000), GREGOR_OK);
    cr_assert_eq(mock_broker_requests(m, PROTO_API_INIT_PRODUCER_ID), 2, "no epoch left: a new id");
    cr_assert_eq(bs.init_req_pid, 1000, "KIP-360: the id being replaced");
    cr_assert_eq(bs.init_req_epoch, INT16_MAX);
    cr_assert_eq(bs.parts[0].pid, 1001);
    int failed = check_partition(0, 0, 4000);
    cr_assert_eq(failed, bs.refused);
    gregor_producer_destroy(p, 1000);
    mock_broker_stop(m);
}

Test(producer_mock, batch_timing_out_fails_alone, .timeout = 60)
{
    mock_broker *m = start(1);
    bs.blackhole_value = 300;
    static const char *const kv[] = {"linger_ms", "0", "batch_bytes", "1024", "request_timeout_ms", "500",
                                     "delivery_timeout_ms", "2500", NULL};
    gregor_producer *p = producer(kv);
    cr_assert_eq(send_n(p, 0, 1000, 0), GREGOR_OK);
    usleep(1500 * 1000); /* later messages: later deadlines */
    cr_assert_eq(send_n(p, 1000, 1000, 0), GREGOR_OK);
    cr_assert_eq(gregor_producer_flush(p, 30000), GREGOR_OK);
    cr_assert_gt(bs.blackholed, 1);
    int failed = check_partition(0, 0, 2000);
    cr_assert_gt(failed, 0);
    /* The batches of the first wave are stuck behind the black-holed one
     * until they all expire (with the batch the second wave's first
     * messages joined); the rest of the second wave goes through. */
    int last_failed = -1;
    for (int i = 0; i < 2000; i++)
        if (rep.err_of[i] != GREGOR_OK) {
            cr_assert_eq(rep.err_of[i], GREGOR_ERR_TIMED_OUT, "message %d: %s", i, gregor_err_name(rep.err_of[i]));
            cr_assert(last_failed < 0 || last_failed == i - 1, "failures are one run: %d after %d", i, last_failed);
            last_failed = i;
        }
    cr_assert_eq(rep.err_of[1999], GREGOR_OK, "messages produced after the hole are delivered");
    gregor_producer_destroy(p, 1000);
    mock_broker_stop(m);
}

static gregor_err send_to(gregor_producer *p, const char *topic, int i, int32_t partition)
{
    char v[16];
    snprintf(v, sizeof v, "%d", i);
    gregor_produce_message m = {.topic = topic, .partition = partition, .value = v, .value_len = strlen(v) + 1,
                                .opaque = (void *)(intptr_t)i};
    return gregor_producer_produce(p, &m);
}

Test(producer_mock, one_request_carries_several_topics, .timeout = 30)
{
    mock_broker *m = start(2);
    bs.two_topics = true;
    static const char *const kv[] = {"linger_ms", "20", "batch_bytes", "1024", NULL};
    gregor_producer *p = producer(kv);
    for (int i = 0; i < 1000; i++) {
        cr_assert_eq(send_to(p, "u", 3000 + i, 1), GREGOR_OK);
        cr_assert_eq(send_to(p, "t", i, 0), GREGOR_OK);
        cr_assert_eq(send_to(p, "u", 2000 + i, 0), GREGOR_OK);
        cr_assert_eq(send_to(p, "t", 1000 + i, 1), GREGOR_OK);
    }
    cr_assert_eq(gregor_producer_flush(p, 10000), GREGOR_OK);
    cr_assert_eq(bs.max_topics_per_request, 2, "requests group their batches by topic");
    cr_assert_eq(check_partition(0, 0, 1000), 0);
    cr_assert_eq(check_partition(1, 1000, 1000), 0);
    cr_assert_eq(check_partition(2, 2000, 1000), 0);
    cr_assert_eq(check_partition(3, 3000, 1000), 0);
    gregor_producer_destroy(p, 1000);
    mock_broker_stop(m);
}
