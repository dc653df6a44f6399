/* Unit tests for net/conn against the scripted mock broker: handshake and
 * version negotiation, legacy fallback and detection of 0.8/0.9 brokers,
 * resolution off the loop and every address tried, pipelining, and every
 * failure path a request can take (refused, unresolvable, timed out,
 * mismatched, oversized, closed). */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "mock_broker.h"
#include "net/conn.h"
#include "net/loop.h"
#include "protocol/gen/api.h"
#include "protocol/gen/api_versions.h"
#include "protocol/gen/list_groups.h"
#include "protocol/gen/list_offsets.h"
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

/* The last failure the state callback saw, with its detail. */
static pthread_mutex_t fail_lock = PTHREAD_MUTEX_INITIALIZER;
static gregor_err last_fail;
static char last_detail[512];

static void on_state(net_conn *c, net_conn_state state, gregor_err why, void *arg)
{
    (void)state;
    (void)arg;
    if (why == GREGOR_OK)
        return;
    pthread_mutex_lock(&fail_lock);
    last_fail = why;
    snprintf(last_detail, sizeof last_detail, "%s", net_conn_fail_detail(c));
    pthread_mutex_unlock(&fail_lock);
}

static const char *open_host = "127.0.0.1";

static void do_open(net_loop *l, void *arg)
{
    int port = *(int *)arg;
    cr_assert_eq(net_conn_new(l, 1, open_host, port, &cfg, on_state, NULL, &conn), GREGOR_OK);
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
    open_host = "127.0.0.1";
    last_fail = GREGOR_OK;
    last_detail[0] = '\0';
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
    atomic_int list_groups_seen;
    atomic_int list_offsets_seen;
    int legacy;                   /* 8: a 0.8.2 broker, 9: a 0.9.0 one (never answers ApiVersions),
                                     90: a 0.9 that closes instead, 0: neither */
    atomic_int api_versions_refusals; /* close on the next N ApiVersions */
    atomic_bool close_next_metadata;  /* drop the connection on the next Metadata */
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
    if (req->api_key == PROTO_API_LIST_OFFSETS) {
        atomic_fetch_add(&s->list_offsets_seen, 1);
        proto_list_offsets_response r;
        proto_list_offsets_response_init(&r);
        (void)proto_list_offsets_response_encode(reply, req->version, &r);
        return MOCK_REPLY;
    }
    if (req->api_key == PROTO_API_LIST_GROUPS) {
        atomic_fetch_add(&s->list_groups_seen, 1);
        if (s->legacy == 8)
            return MOCK_CLOSE; /* 0.8 knows no ListGroups */
        proto_list_groups_response r;
        proto_list_groups_response_init(&r);
        (void)proto_list_groups_response_encode(reply, req->version, &r);
        return MOCK_REPLY;
    }
    if (req->api_key == PROTO_API_API_VERSIONS) {
        atomic_fetch_add(&s->api_versions_seen, 1);
        if (s->legacy == 9)
            return MOCK_SILENT; /* what 0.9.0.1 does: an exception in its log, no answer */
        if (s->close_on_api_versions || s->legacy)
            return MOCK_CLOSE;
        if (atomic_load(&s->api_versions_refusals) > 0) {
            atomic_fetch_sub(&s->api_versions_refusals, 1);
            return MOCK_CLOSE;
        }
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
        if (s->legacy && req->version > 0)
            return MOCK_CLOSE;
        if (atomic_exchange(&s->close_next_metadata, false))
            return MOCK_CLOSE;
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

/* ------------------------------------------- detection of 0.8 and 0.9 */

/* Runs fn on the loop thread and waits until it ran. */
static void on_loop(net_job_fn fn)
{
    cr_assert_eq(net_loop_call(loop, fn, NULL), GREGOR_OK);
}

static const char *release_now;

static void do_release(net_loop *l, void *arg)
{
    (void)l;
    (void)arg;
    release_now = conn ? net_conn_legacy_release(conn) : NULL;
}

/* The release the connection uses, read on the loop thread. */
static const char *conn_release(void)
{
    on_loop(do_release);
    return release_now;
}

static net_legacy_cache *cache;

static void do_cache_new(net_loop *l, void *arg)
{
    (void)l;
    (void)arg;
    cr_assert_eq(net_legacy_cache_new(&cache), GREGOR_OK);
    cfg.legacy_cache = cache;
}

static void with_cache(void)
{
    on_loop(do_cache_new);
    cr_assert(cache);
}

static void reopen(int port)
{
    cr_assert_eq(net_loop_post(loop, do_close, NULL), GREGOR_OK);
    open_conn(port);
}

Test(conn, broker_0_8_is_detected_without_settings)
{
    start_mock();
    sc.legacy = 8;
    with_cache();
    mock_broker *m = mock_broker_start(handler, &sc);
    open_conn(mock_broker_port(m));
    send_metadata(2, 5000, 0);
    cr_assert_eq(wait_done(2, 5000), 2);
    cr_assert_eq(out.errs[0], GREGOR_OK, "got %s", gregor_err_name(out.errs[0]));
    cr_assert_eq(out.errs[1], GREGOR_OK);
    cr_assert_eq(out.versions[0], 0, "0.8.2 speaks Metadata v0 only");
    cr_assert_str_eq(conn_release(), "0.8.2");
    cr_assert_eq(atomic_load(&sc.api_versions_seen), 1, "ApiVersions refused once, then never sent");
    cr_assert_eq(atomic_load(&sc.list_offsets_seen), 1);
    cr_assert_eq(atomic_load(&sc.list_groups_seen), 1);
    cr_assert_eq(mock_broker_accepted(m), 3, "refused, probe, then the real connection");

    /* A reconnect, and another connection to the same address, use what
     * was found: no probe, no ApiVersions. */
    atomic_store(&sc.close_next_metadata, true);
    outcome_reset();
    send_metadata(1, 5000, 0);
    cr_assert_eq(wait_done(1, 5000), 1);
    outcome_reset();
    send_metadata(1, 5000, 0);
    cr_assert_eq(wait_done(1, 5000), 1);
    cr_assert_eq(out.errs[0], GREGOR_OK);
    reopen(mock_broker_port(m));
    outcome_reset();
    send_metadata(1, 5000, 0);
    cr_assert_eq(wait_done(1, 5000), 1);
    cr_assert_eq(out.errs[0], GREGOR_OK);
    cr_assert_str_eq(conn_release(), "0.8.2");
    cr_assert_eq(mock_broker_accepted(m), 5);
    cr_assert_eq(atomic_load(&sc.api_versions_seen), 1);
    cr_assert_eq(atomic_load(&sc.list_groups_seen), 1);
    mock_broker_stop(m);
    cr_assert_eq(net_loop_post(loop, do_close, NULL), GREGOR_OK);
    net_loop_destroy(loop); /* the connection is gone: the cache may go */
    loop = NULL;
    net_legacy_cache_destroy(cache);
    cr_assert_eq(net_loop_new(&loop), GREGOR_OK); /* for teardown */
    cr_assert_eq(net_loop_start(loop), GREGOR_OK);
}

static void detect_0_9(int legacy)
{
    start_mock();
    sc.legacy = legacy;
    cfg.connect_timeout_ms = 1000; /* the first ApiVersions waits that long */
    mock_broker *m = mock_broker_start(handler, &sc);
    open_conn(mock_broker_port(m));
    int64_t t0 = net_now_ms();
    send_metadata(1, 8000, 0);
    cr_assert_eq(wait_done(1, 8000), 1);
    cr_assert_eq(out.errs[0], GREGOR_OK, "got %s", gregor_err_name(out.errs[0]));
    cr_assert_eq(out.versions[0], 0, "0.9.0 speaks Metadata v0 only");
    cr_assert_str_eq(conn_release(), "0.9.0");
    cr_assert_eq(atomic_load(&sc.api_versions_seen), 2, "refused, then refused again after ListGroups");
    cr_assert_eq(atomic_load(&sc.list_groups_seen), 1);
    cr_assert_eq(mock_broker_accepted(m), 3);
    cr_assert(net_now_ms() - t0 < 4000, "detection took %lld ms", (long long)(net_now_ms() - t0));
    mock_broker_stop(m);
}

Test(conn, broker_0_9_that_never_answers_api_versions_is_detected_without_settings)
{
    detect_0_9(9);
}

Test(conn, broker_0_9_that_closes_on_api_versions_is_detected_without_settings)
{
    detect_0_9(90);
}

Test(conn, a_modern_broker_dropping_one_handshake_is_not_taken_for_0_9)
{
    start_mock();
    atomic_store(&sc.api_versions_refusals, 1);
    mock_broker *m = mock_broker_start(handler, &sc);
    open_conn(mock_broker_port(m));
    send_metadata(1, 5000, 0);
    cr_assert_eq(wait_done(1, 5000), 1);
    cr_assert_eq(out.errs[0], GREGOR_OK, "got %s", gregor_err_name(out.errs[0]));
    cr_assert_eq(out.versions[0], proto_api_get(PROTO_API_METADATA)->max_version);
    cr_assert_null(conn_release());
    cr_assert_eq(atomic_load(&sc.list_groups_seen), 1, "the probe ran");
    cr_assert_eq(atomic_load(&sc.api_versions_seen), 2);
    mock_broker_stop(m);
}

/* ---------------------------------------- resolution and every address */

static atomic_int resolver_calls;

/* "localhost" as many systems answer it: ::1 first, then 127.0.0.1. */
static size_t resolve_v6_first(const char *host, int port, net_addr *addrs, size_t max, char *err,
                               size_t err_size)
{
    (void)err;
    (void)err_size;
    cr_assert_str_eq(host, "localhost");
    cr_assert(max >= 2);
    atomic_fetch_add(&resolver_calls, 1);
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&addrs[0].sa;
    memset(&addrs[0], 0, sizeof addrs[0]);
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons((uint16_t)port);
    a6->sin6_addr = in6addr_loopback;
    addrs[0].len = sizeof *a6;
    struct sockaddr_in *a4 = (struct sockaddr_in *)&addrs[1].sa;
    memset(&addrs[1], 0, sizeof addrs[1]);
    a4->sin_family = AF_INET;
    a4->sin_port = htons((uint16_t)port);
    a4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addrs[1].len = sizeof *a4;
    return 2;
}

Test(conn, localhost_connects_over_ipv4_when_ipv6_refuses)
{
    start_mock();
    mock_broker *m = mock_broker_start(handler, &sc); /* 127.0.0.1 only */
    cfg.resolve = resolve_v6_first;
    open_host = "localhost";
    open_conn(mock_broker_port(m));
    send_metadata(1, 5000, 0);
    cr_assert_eq(wait_done(1, 5000), 1);
    cr_assert_eq(out.errs[0], GREGOR_OK, "got %s (%s)", gregor_err_name(out.errs[0]), last_detail);
    cr_assert_eq(atomic_load(&resolver_calls), 1);
    cr_assert_eq(mock_broker_accepted(m), 1);
    mock_broker_stop(m);
}

Test(conn, the_system_resolver_runs_off_the_loop_for_names)
{
    start_mock();
    mock_broker *m = mock_broker_start(handler, &sc);
    open_host = "localhost"; /* getaddrinfo on a resolver thread */
    open_conn(mock_broker_port(m));
    send_metadata(1, 5000, 0);
    cr_assert_eq(wait_done(1, 5000), 1);
    cr_assert_eq(out.errs[0], GREGOR_OK, "got %s (%s)", gregor_err_name(out.errs[0]), last_detail);
    mock_broker_stop(m);
}

Test(conn, every_address_failing_names_each_address_and_cause)
{
    start_mock();
    mock_broker *m = mock_broker_start(handler, &sc);
    int port = mock_broker_port(m);
    mock_broker_stop(m); /* nothing listens any more */
    cfg.resolve = resolve_v6_first;
    open_host = "localhost";
    open_conn(port);
    send_metadata(1, 5000, 0);
    cr_assert_eq(wait_done(1, 5000), 1);
    cr_assert_eq(out.errs[0], GREGOR_ERR_CONNECT);
    char want6[64], want4[64];
    snprintf(want6, sizeof want6, "[::1]:%d: Connection refused", port);
    snprintf(want4, sizeof want4, "127.0.0.1:%d: Connection refused", port);
    pthread_mutex_lock(&fail_lock);
    cr_assert_eq(last_fail, GREGOR_ERR_CONNECT);
    cr_assert(strstr(last_detail, want6) && strstr(last_detail, want4), "detail: %s", last_detail);
    cr_assert(strstr(last_detail, want6) < strstr(last_detail, want4), "in order: %s", last_detail);
    pthread_mutex_unlock(&fail_lock);
}

static size_t resolve_nothing(const char *host, int port, net_addr *addrs, size_t max, char *err,
                              size_t err_size)
{
    (void)port;
    (void)addrs;
    (void)max;
    snprintf(err, err_size, "Name or service not known (%s)", host);
    return 0;
}

Test(conn, an_unresolvable_name_fails_with_the_host_and_the_cause)
{
    start_mock();
    cfg.resolve = resolve_nothing;
    open_host = "no-such-broker.invalid";
    open_conn(9);
    send_metadata(1, 5000, 0);
    cr_assert_eq(wait_done(1, 5000), 1);
    cr_assert_eq(out.errs[0], GREGOR_ERR_RESOLVE);
    pthread_mutex_lock(&fail_lock);
    cr_assert_eq(last_fail, GREGOR_ERR_RESOLVE);
    cr_assert(strstr(last_detail, "cannot resolve no-such-broker.invalid: Name or service not known"),
              "detail: %s", last_detail);
    pthread_mutex_unlock(&fail_lock);
}

/* A DNS server that takes its time: 1.5 s, then nothing. */
static atomic_bool slow_resolver_returned;

static size_t resolve_slowly(const char *host, int port, net_addr *addrs, size_t max, char *err,
                             size_t err_size)
{
    (void)host;
    (void)port;
    (void)addrs;
    (void)max;
    usleep(1500 * 1000);
    snprintf(err, err_size, "Temporary failure in name resolution");
    atomic_store(&slow_resolver_returned, true);
    return 0;
}

static net_conn *slow_conn;

static void do_open_slow(net_loop *l, void *arg)
{
    (void)arg;
    net_conn_config c2 = cfg;
    c2.resolve = resolve_slowly;
    cr_assert_eq(net_conn_new(l, 2, "slow-dns.example", 9092, &c2, NULL, NULL, &slow_conn), GREGOR_OK);
    net_conn_connect(slow_conn);
}

static void do_close_slow(net_loop *l, void *arg)
{
    (void)l;
    (void)arg;
    net_conn_close(slow_conn);
    slow_conn = NULL;
}

Test(conn, a_slow_resolver_does_not_stall_other_connections)
{
    start_mock();
    atomic_store(&slow_resolver_returned, false);
    mock_broker *m = mock_broker_start(handler, &sc);
    cr_assert_eq(net_loop_post(loop, do_open_slow, NULL), GREGOR_OK);
    usleep(50 * 1000); /* the slow resolution has started */
    open_conn(mock_broker_port(m));
    int64_t t0 = net_now_ms();
    send_metadata(20, 5000, 0);
    cr_assert_eq(wait_done(20, 5000), 20);
    int64_t took = net_now_ms() - t0;
    for (int i = 0; i < 20; i++)
        cr_assert_eq(out.errs[i], GREGOR_OK);
    cr_assert(!atomic_load(&slow_resolver_returned), "the resolver was meant to be still busy");
    cr_assert(took < 1000, "20 requests beside a slow resolution took %lld ms", (long long)took);
    /* Closing while the resolver still runs: it finishes on its own. */
    cr_assert_eq(net_loop_post(loop, do_close_slow, NULL), GREGOR_OK);
    while (!atomic_load(&slow_resolver_returned))
        usleep(10 * 1000);
    usleep(50 * 1000); /* let the detached thread drop its reference */
    mock_broker_stop(m);
}

/* ----------------------------------------------------------- counters */

static net_conn_stats conn_stats;

static void do_set_stats(net_loop *l, void *arg)
{
    (void)l;
    (void)arg;
    net_conn_set_stats(conn, &conn_stats);
}

Test(conn, counts_answers_round_trips_errors_failures_and_connects)
{
    start_mock();
    memset(&conn_stats, 0, sizeof conn_stats);
    mock_broker *m = mock_broker_start(handler, &sc);
    open_conn(mock_broker_port(m));
    cr_assert_eq(net_loop_post(loop, do_set_stats, NULL), GREGOR_OK);
    send_metadata(3, 5000, 0);
    cr_assert_eq(wait_done(3, 5000), 3);
    cr_assert_eq(atomic_load(&conn_stats.requests), 3);
    cr_assert_eq(atomic_load(&conn_stats.rtt_count), 3);
    cr_assert(atomic_load(&conn_stats.rtt_us_sum) > 0);
    cr_assert_eq(atomic_load(&conn_stats.connects), 1);
    cr_assert_eq(atomic_load(&conn_stats.errors), 0);

    /* The broker drops the connection on the next request: one error, one
     * failure; the request after it reconnects. */
    atomic_store(&sc.close_next_metadata, true);
    outcome_reset();
    send_metadata(1, 5000, 0);
    cr_assert_eq(wait_done(1, 5000), 1);
    cr_assert_neq(out.errs[0], GREGOR_OK);
    outcome_reset();
    send_metadata(1, 5000, 0);
    cr_assert_eq(wait_done(1, 5000), 1);
    cr_assert_eq(out.errs[0], GREGOR_OK);
    cr_assert_eq(atomic_load(&conn_stats.requests), 4);
    cr_assert_eq(atomic_load(&conn_stats.errors), 1);
    cr_assert_eq(atomic_load(&conn_stats.failures), 1);
    cr_assert_eq(atomic_load(&conn_stats.connects), 2);
    mock_broker_stop(m);
}
