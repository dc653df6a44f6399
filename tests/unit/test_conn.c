/* Unit tests for net/conn against the scripted mock broker: handshake and
 * version negotiation, legacy fallback, pipelining, and every failure path a
 * request can take (refused, timed out, mismatched, oversized, closed). */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "mock_broker.h"
#include "net/conn.h"
#include "net/loop.h"
#include "protocol/gen/api.h"
#include "protocol/gen/api_versions.h"
#include "protocol/gen/metadata.h"

/* ----------------------------------------------------------- harness */

typedef struct outcome {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int done;
    gregor_err errs[64];
    int16_t versions[64];
} outcome;

static outcome out;
static net_loop *loop;
static net_conn *conn;
static net_conn_config cfg;

static void outcome_reset(void)
{
    pthread_mutex_lock(&out.lock);
    out.done = 0;
    pthread_mutex_unlock(&out.lock);
}

static void record(gregor_err err, net_response *resp, void *opaque)
{
    (void)opaque;
    pthread_mutex_lock(&out.lock);
    if (out.done < 64) {
        out.errs[out.done] = err;
        out.versions[out.done] = resp ? resp->version : -1;
    }
    out.done++;
    pthread_cond_broadcast(&out.cond);
    pthread_mutex_unlock(&out.lock);
}

/* Waits until `n` requests completed or `ms` passed; returns the count. */
static int wait_done(int n, int ms)
{
    int64_t deadline = net_now_ms() + ms;
    pthread_mutex_lock(&out.lock);
    while (out.done < n && net_now_ms() < deadline) {
        pthread_mutex_unlock(&out.lock);
        usleep(2000);
        pthread_mutex_lock(&out.lock);
    }
    int d = out.done;
    pthread_mutex_unlock(&out.lock);
    return d;
}

static gregor_err encode_metadata_all(buf_writer *w, int16_t version, void *opaque)
{
    (void)opaque;
    proto_metadata_request m;
    proto_metadata_request_init(&m);
    m.topics_count = version == 0 ? 0 : -1;
    return proto_metadata_request_encode(w, version, &m);
}

typedef struct send_job {
    int count;
    int32_t timeout_ms;
    int16_t min_version;
} send_job;

static void do_send(net_loop *l, void *arg)
{
    (void)l;
    send_job *j = arg;
    for (int i = 0; i < j->count; i++) {
        net_request req = {
            .api_key = PROTO_API_METADATA,
            .min_version = j->min_version,
            .max_version = proto_api_get(PROTO_API_METADATA)->max_version,
            .encode = encode_metadata_all,
            .done = record,
            .timeout_ms = j->timeout_ms,
        };
        cr_assert_eq(net_conn_send(conn, &req), GREGOR_OK);
    }
    free(j);
}

static void send_metadata(int count, int32_t timeout_ms, int16_t min_version)
{
    send_job *j = malloc(sizeof *j);
    *j = (send_job){count, timeout_ms, min_version};
    cr_assert_eq(net_loop_post(loop, do_send, j), GREGOR_OK);
}

static void do_open(net_loop *l, void *arg)
{
    int port = *(int *)arg;
    cr_assert_eq(net_conn_new(l, 1, "127.0.0.1", port, &cfg, NULL, NULL, &conn), GREGOR_OK);
}

/* `conn` belongs to the loop thread: it is set and closed there. */
static void do_close(net_loop *l, void *arg)
{
    (void)l;
    (void)arg;
    if (conn)
        net_conn_close(conn);
    conn = NULL;
}

static void open_conn(int port)
{
    static int p;
    p = port;
    cr_assert_eq(net_loop_post(loop, do_open, &p), GREGOR_OK);
}

static void setup(void)
{
    pthread_mutex_init(&out.lock, NULL);
    pthread_cond_init(&out.cond, NULL);
    out.done = 0;
    net_conn_config_defaults(&cfg);
    cfg.client_id = "test";
    cfg.reconnect_backoff_ms = 10;
    cfg.reconnect_backoff_max_ms = 50;
    cfg.connect_timeout_ms = 2000;
    cr_assert_eq(net_loop_new(&loop), GREGOR_OK);
    cr_assert_eq(net_loop_start(loop), GREGOR_OK);
}

static void teardown(void)
{
    cr_assert_eq(net_loop_post(loop, do_close, NULL), GREGOR_OK);
    net_loop_destroy(loop); /* joins the loop thread: `conn` is ours again */
    conn = NULL;
}

/* ----------------------------------------------------------- handlers */

typedef struct script {
    atomic_int api_versions_seen;
    int16_t api_versions_max; /* the mock's ApiVersions max; older gets error 35 */
    bool close_on_api_versions;
    atomic_bool silent_metadata; /* toggled while the broker runs */
    bool wrong_correlation;
    bool huge_frame;
    atomic_int last_metadata_version;
} script;

static script sc;

static mock_action handler(void *arg, mock_request *req, buf_writer *reply)
{
    script *s = arg;
    if (req->api_key == PROTO_API_API_VERSIONS) {
        atomic_fetch_add(&s->api_versions_seen, 1);
        if (s->close_on_api_versions)
            return MOCK_CLOSE;
        if (s->api_versions_max >= 0 && req->version > s->api_versions_max) {
            /* KIP-511: a v0 body with UNSUPPORTED_VERSION and our range. */
            proto_api_versions_response r;
            proto_api_versions_response_init(&r);
            proto_api_versions_response_api_version k = {.api_key = PROTO_API_API_VERSIONS, .min_version = 0,
                                   .max_version = s->api_versions_max};
            r.error_code = 35;
            r.api_keys = &k;
            r.api_keys_count = 1;
            /* Written as v0 with a v0 header: MOCK_RAW builds the frame. */
            buf_writer body;
            buf_writer_init(&body, 4096);
            (void)proto_api_versions_response_encode(&body, 0, &r);
            buf_write_i32(reply, (int32_t)(body.len + 4));
            buf_write_i32(reply, req->correlation_id);
            buf_write_raw(reply, body.data, body.len);
            buf_writer_fini(&body);
            return MOCK_RAW;
        }
        mock_write_api_versions(reply, req->version);
        return MOCK_REPLY;
    }
    if (req->api_key == PROTO_API_METADATA) {
        atomic_store(&s->last_metadata_version, req->version);
        if (s->silent_metadata)
            return MOCK_SILENT;
        if (s->huge_frame) {
            buf_write_i32(reply, 0x7fffff00);
            return MOCK_RAW;
        }
        if (s->wrong_correlation) {
            buf_write_i32(reply, 8);
            buf_write_i32(reply, req->correlation_id + 1000);
            buf_write_i32(reply, 0);
            return MOCK_RAW;
        }
        proto_metadata_response r;
        proto_metadata_response_init(&r);
        (void)proto_metadata_response_encode(reply, req->version, &r);
        return MOCK_REPLY;
    }
    return MOCK_CLOSE;
}

static mock_broker *start_mock(void)
{
    memset(&sc, 0, sizeof sc);
    sc.api_versions_max = -1;
    return NULL;
}

TestSuite(conn, .init = setup, .fini = teardown, .timeout = 30);

Test(conn, handshake_then_request_uses_highest_common_version)
{
    start_mock();
    mock_broker *m = mock_broker_start(handler, &sc);
    open_conn(mock_broker_port(m));
    send_metadata(1, 5000, 0);
    cr_assert_eq(wait_done(1, 5000), 1);
    cr_assert_eq(out.errs[0], GREGOR_OK);
    cr_assert_eq(out.versions[0], proto_api_get(PROTO_API_METADATA)->max_version);
    cr_assert_eq(atomic_load(&sc.api_versions_seen), 1);
    mock_broker_stop(m);
}

Test(conn, unsupported_api_versions_version_is_retried_with_the_brokers)
{
    start_mock();
    sc.api_versions_max = 2;
    mock_broker *m = mock_broker_start(handler, &sc);
    open_conn(mock_broker_port(m));
    send_metadata(1, 5000, 0);
    cr_assert_eq(wait_done(1, 5000), 1);
    cr_assert_eq(out.errs[0], GREGOR_OK);
    cr_assert_eq(atomic_load(&sc.api_versions_seen), 2);
    cr_assert_eq(mock_broker_accepted(m), 1, "the retry stays on the same connection");
    mock_broker_stop(m);
}

Test(conn, broker_closing_on_api_versions_gets_the_fallback_profile)
{
    start_mock();
    sc.close_on_api_versions = true;
    cfg.fallback_versions = net_versions_legacy("0.8.2");
    mock_broker *m = mock_broker_start(handler, &sc);
    open_conn(mock_broker_port(m));
    send_metadata(1, 5000, 0);
    cr_assert_eq(wait_done(1, 5000), 1);
    cr_assert_eq(out.errs[0], GREGOR_OK, "got %s", gregor_err_name(out.errs[0]));
    cr_assert_eq(out.versions[0], 0, "0.8.2 speaks Metadata v0 only");
    cr_assert_eq(atomic_load(&sc.api_versions_seen), 1, "ApiVersions is not sent again");
    cr_assert_eq(mock_broker_accepted(m), 2);
    mock_broker_stop(m);
}

Test(conn, fixed_legacy_versions_send_no_api_versions)
{
    start_mock();
    cfg.fixed_versions = net_versions_legacy("0.8.2");
    mock_broker *m = mock_broker_start(handler, &sc);
    open_conn(mock_broker_port(m));
    send_metadata(1, 5000, 0);
    cr_assert_eq(wait_done(1, 5000), 1);
    cr_assert_eq(out.errs[0], GREGOR_OK);
    cr_assert_eq(atomic_load(&sc.api_versions_seen), 0);
    cr_assert_eq(atomic_load(&sc.last_metadata_version), 0);
    mock_broker_stop(m);
}

Test(conn, no_common_version_fails_unsupported)
{
    start_mock();
    cfg.fixed_versions = net_versions_legacy("0.8.2");
    mock_broker *m = mock_broker_start(handler, &sc);
    open_conn(mock_broker_port(m));
    send_metadata(1, 5000, 1); /* wants v1+, broker has v0 only */
    cr_assert_eq(wait_done(1, 5000), 1);
    cr_assert_eq(out.errs[0], GREGOR_ERR_UNSUPPORTED);
    mock_broker_stop(m);
}

Test(conn, pipelined_requests_all_complete_in_order)
{
    start_mock();
    cfg.max_in_flight = 3;
    mock_broker *m = mock_broker_start(handler, &sc);
    open_conn(mock_broker_port(m));
    send_metadata(40, 5000, 0);
    cr_assert_eq(wait_done(40, 10000), 40);
    for (int i = 0; i < 40; i++)
        cr_assert_eq(out.errs[i], GREGOR_OK);
    cr_assert_eq(mock_broker_requests(m, PROTO_API_METADATA), 40);
    mock_broker_stop(m);
}

Test(conn, silent_broker_times_out_and_connection_is_replaced)
{
    start_mock();
    sc.silent_metadata = true;
    mock_broker *m = mock_broker_start(handler, &sc);
    open_conn(mock_broker_port(m));
    int64_t t0 = net_now_ms();
    send_metadata(1, 300, 0);
    cr_assert_eq(wait_done(1, 5000), 1);
    int64_t took = net_now_ms() - t0;
    cr_assert_eq(out.errs[0], GREGOR_ERR_TIMED_OUT);
    cr_assert(took >= 250 && took < 3000, "timed out after %lld ms", (long long)took);
    /* The next request gets a fresh connection. */
    sc.silent_metadata = false;
    outcome_reset();
    send_metadata(1, 5000, 0);
    cr_assert_eq(wait_done(1, 5000), 1);
    cr_assert_eq(out.errs[0], GREGOR_OK);
    cr_assert_eq(mock_broker_accepted(m), 2);
    mock_broker_stop(m);
}

Test(conn, correlation_mismatch_disconnects)
{
    start_mock();
    sc.wrong_correlation = true;
    mock_broker *m = mock_broker_start(handler, &sc);
    open_conn(mock_broker_port(m));
    send_metadata(1, 5000, 0);
    cr_assert_eq(wait_done(1, 5000), 1);
    cr_assert_eq(out.errs[0], GREGOR_ERR_DISCONNECTED);
    mock_broker_stop(m);
}

Test(conn, oversized_response_is_refused_without_allocating_it)
{
    start_mock();
    sc.huge_frame = true;
    mock_broker *m = mock_broker_start(handler, &sc);
    open_conn(mock_broker_port(m));
    send_metadata(1, 5000, 0);
    cr_assert_eq(wait_done(1, 5000), 1);
    cr_assert_eq(out.errs[0], GREGOR_ERR_DISCONNECTED);
    mock_broker_stop(m);
}

Test(conn, refused_connection_fails_queued_requests_fast)
{
    start_mock();
    mock_broker *m = mock_broker_start(handler, &sc);
    int port = mock_broker_port(m);
    mock_broker_stop(m); /* nothing listens on the port any more */
    open_conn(port);
    int64_t t0 = net_now_ms();
    send_metadata(2, 5000, 0);
    cr_assert_eq(wait_done(2, 5000), 2);
    cr_assert_eq(out.errs[0], GREGOR_ERR_CONNECT);
    cr_assert_eq(out.errs[1], GREGOR_ERR_CONNECT);
    cr_assert(net_now_ms() - t0 < 2000);
}

Test(conn, close_fails_outstanding_requests_with_destroyed)
{
    start_mock();
    sc.silent_metadata = true;
    mock_broker *m = mock_broker_start(handler, &sc);
    open_conn(mock_broker_port(m));
    send_metadata(3, 10000, 0);
    usleep(200 * 1000);
    cr_assert_eq(net_loop_post(loop, do_close, NULL), GREGOR_OK);
    cr_assert_eq(wait_done(3, 5000), 3);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(out.errs[i], GREGOR_ERR_DESTROYED);
    mock_broker_stop(m);
}
