/* Fuzz target: what a broker sends on a connection, through net/conn.c as
 * it runs in the client: the size prefix of each frame (frames split
 * across reads, frames larger than the read buffer, sizes past
 * max_response_bytes), the response header (correlation id, the tagged
 * fields of flexible versions), the ApiVersions handshake (the versions it
 * sets, UNSUPPORTED_VERSION and the retry at a lower version) and the
 * matching of answers to pipelined requests.
 *
 * Each input is one connection over loopback: a real net_conn on a real
 * event loop connects to a listening socket of this harness, which reads
 * the client's first request frame(s), sends the input's bytes as the
 * broker's answer, then closes its side.
 *
 * Input: byte 0 is the options: bit 0 handshake (ApiVersions first) or a
 * fixed version table; bits 1-2 the number of pipelined Metadata requests
 * (1-4); bit 3 max_response_bytes 64 instead of 1 MiB; bits 4-7 the
 * highest Metadata version of the fixed table (0-15, capped at what gregor
 * speaks). Byte 1 on: the bytes the broker sends.
 *
 * Checked: every request's done callback runs exactly once whatever the
 * bytes (conn.h's contract), a response is handed over with its body
 * inside its frame (also once taken with net_response_take_frame), and the
 * connection closes when the broker does.
 */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/conn.h"
#include "net/loop.h"
#include "protocol/gen/api.h"
#include "protocol/gen/metadata.h"
#include "util/log.h"

#define WAIT_MS 5000 /* far longer than any answer takes: hitting it is a hang */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static net_loop *loop;
static int listener = -1;
static int port;

static atomic_int done_count;
static int expected;
static net_conn *conn; /* loop thread only */
static net_conn_config cfg;
static net_versions fixed;
static volatile uint8_t sink;

static void die(const char *what)
{
    fprintf(stderr, "fuzz_conn: %s\n", what);
    abort();
}

static void quiet(gregor_log_level level, const char *message, void *arg)
{
    (void)level;
    (void)message;
    (void)arg; /* the fuzzer's bytes provoke every warning there is */
}

static void setup(void)
{
    gregor_log_set_level(GREGOR_LOG_DEBUG); /* format every message, print none */
    gregor_log_set_sink(quiet, NULL);
    if (net_loop_new(&loop) != GREGOR_OK || net_loop_start(loop) != GREGOR_OK)
        die("cannot start the loop");
    listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t n = sizeof a;
    if (listener < 0 || bind(listener, (struct sockaddr *)&a, sizeof a) != 0 || listen(listener, 16) != 0 ||
        getsockname(listener, (struct sockaddr *)&a, &n) != 0)
        die("cannot listen on loopback");
    port = ntohs(a.sin_port);
}

static void on_done(gregor_err err, net_response *resp, void *opaque)
{
    (void)opaque;
    if (err == GREGOR_OK) {
        if (!resp || resp->body.pos > resp->body.len || resp->body.len != resp->frame_len)
            die("a response whose body is not inside its frame");
        /* Every other answer is taken over, as the consumer takes Fetch
         * frames: the body must then point into the caller's copy. */
        uint8_t *taken = atomic_load(&done_count) % 2 ? net_response_take_frame(resp) : NULL;
        if (taken && resp->body.data != taken)
            die("a taken frame's body does not point into it");
        uint8_t acc = 0;
        for (size_t i = resp->body.pos; i < resp->body.len; i++)
            acc ^= resp->body.data[i];
        sink ^= acc;
        free(taken);
    } else if (resp) {
        die("a failed request came with a response");
    }
    if (atomic_fetch_add(&done_count, 1) >= expected)
        die("a request's done callback ran twice");
}

static gregor_err encode_metadata(buf_writer *w, int16_t version, void *opaque)
{
    (void)opaque;
    proto_metadata_request m;
    proto_metadata_request_init(&m);
    m.topics_count = version == 0 ? 0 : -1;
    return proto_metadata_request_encode(w, version, &m);
}

static void open_job(net_loop *l, void *arg)
{
    (void)arg;
    if (net_conn_new(l, 1, "127.0.0.1", port, &cfg, NULL, NULL, &conn) != GREGOR_OK)
        die("net_conn_new failed");
    for (int i = 0; i < expected; i++) {
        net_request req = {
            .api_key = PROTO_API_METADATA,
            .min_version = 0,
            .max_version = proto_api_get(PROTO_API_METADATA)->max_version,
            .encode = encode_metadata,
            .done = on_done,
        };
        if (net_conn_send(conn, &req) != GREGOR_OK)
            die("net_conn_send failed");
    }
}

static void close_job(net_loop *l, void *arg)
{
    (void)l;
    (void)arg;
    net_conn_close(conn);
    conn = NULL;
}

/* True once fd is ready; false after WAIT_MS. libFuzzer's -timeout alarm
 * interrupts system calls, so EINTR means "again". */
static bool wait_fd(int fd, short events)
{
    int64_t deadline = net_now_ms() + WAIT_MS;
    for (;;) {
        struct pollfd p = {.fd = fd, .events = events};
        int64_t left = deadline - net_now_ms();
        int rc = poll(&p, 1, left > 0 ? (int)left : 0);
        if (rc == 1)
            return true;
        if (rc == 0 || errno != EINTR)
            return false;
    }
}

/* Reads exactly n bytes; false on EOF or error. */
static bool read_n(int fd, uint8_t *buf, size_t n)
{
    size_t have = 0;
    while (have < n) {
        if (!wait_fd(fd, POLLIN))
            die("the client did not write its request");
        ssize_t r = recv(fd, buf + have, n - have, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return false;
        have += (size_t)r;
    }
    return true;
}

/* Reads one request frame; false when the client closed first. */
static bool read_frame(int fd)
{
    uint8_t size[4], body[4096];
    if (!read_n(fd, size, 4))
        return false;
    size_t n = ((size_t)size[0] << 24) | ((size_t)size[1] << 16) | ((size_t)size[2] << 8) | size[3];
    while (n > 0) {
        size_t k = n < sizeof body ? n : sizeof body;
        if (!read_n(fd, body, k))
            return false;
        n -= k;
    }
    return true;
}

static int accept_client(void)
{
    if (!wait_fd(listener, POLLIN))
        die("the client did not connect");
    int fd;
    while ((fd = accept4(listener, NULL, NULL, SOCK_CLOEXEC)) < 0)
        if (errno != EINTR)
            die("accept failed");
    return fd;
}

static void drain_listener(void)
{
    int fd;
    while ((fd = accept4(listener, NULL, NULL, SOCK_CLOEXEC)) >= 0)
        close(fd);
}

static void wait_done(void)
{
    int64_t deadline = net_now_ms() + WAIT_MS;
    while (atomic_load(&done_count) < expected) {
        if (net_now_ms() > deadline)
            die("a request's done callback never ran");
        usleep(100);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    if (!loop)
        setup();
    uint8_t opt = data[0];
    bool handshake = opt & 1;
    expected = 1 + ((opt >> 1) & 3);
    atomic_store(&done_count, 0);
    net_conn_config_defaults(&cfg);
    cfg.client_id = "fuzz";
    cfg.max_response_bytes = opt & 8 ? 64 : 1u << 20;
    cfg.reconnect_backoff_ms = cfg.reconnect_backoff_max_ms = 60000; /* one connection per input */
    cfg.request_timeout_ms = cfg.connect_timeout_ms = 60000;
    net_versions_clear(&fixed);
    int16_t max = proto_api_get(PROTO_API_METADATA)->max_version, want = (int16_t)(opt >> 4);
    fixed.min[PROTO_API_METADATA] = 0;
    fixed.max[PROTO_API_METADATA] = want < max ? want : max;
    cfg.fixed_versions = handshake ? NULL : &fixed;

    drain_listener();
    if (net_loop_post(loop, open_job, NULL) != GREGOR_OK)
        die("net_loop_post failed");
    int fd = accept_client();
    /* What the client writes first: the ApiVersions request, or all the
     * pipelined requests; the answer goes out once they are all read, so
     * that every answer has its request in flight. */
    bool open = true;
    for (int i = 0; open && i < (handshake ? 1 : expected); i++)
        open = read_frame(fd);
    for (size_t off = 1; open && off < size;) {
        ssize_t w = send(fd, data + off, size - off, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break; /* the client gave up on the connection: fine */
        off += (size_t)w;
    }
    shutdown(fd, SHUT_WR);
    /* The client must close its side once the broker has closed. */
    uint8_t buf[4096];
    for (;;) {
        if (!wait_fd(fd, POLLIN))
            die("the client kept the connection open after the broker closed it");
        ssize_t r = recv(fd, buf, sizeof buf, 0);
        if (r == 0 || (r < 0 && errno != EINTR))
            break;
    }
    if (net_loop_post(loop, close_job, NULL) != GREGOR_OK)
        die("net_loop_post failed");
    wait_done();
    struct linger no_linger = {.l_onoff = 1, .l_linger = 0}; /* no TIME_WAIT per input */
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &no_linger, sizeof no_linger);
    close(fd);
    return 0;
}
