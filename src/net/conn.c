/* net/conn.c — see conn.h.
 *
 * Data layout: requests live in three FIFOs of pending_req — `wait` (queued,
 * not yet written), `fly` (written, awaiting the response, in wire order) and
 * `unacked` (acks=0 requests whose bytes are still in the output buffer).
 * Outgoing frames are appended to one output buffer and written as far as the
 * socket takes them. Incoming bytes land in a 64 KiB read buffer; a frame
 * larger than that gets an allocation of its own, which a response callback
 * can take over without a copy (large Fetch responses).
 *
 * Completions that are not responses (failures, acks=0) are collected in a
 * `done` list and run from a posted job, so that no callback ever runs inside
 * net_conn_send() or net_conn_close().
 */
#include "net/conn.h"

#include <assert.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/poller.h"
#include "protocol/gen/api.h"
#include "protocol/gen/api_versions.h"
#include "protocol/gen/errors.h"
#include "protocol/header.h"
#include "util/arena.h"
#include "util/log.h"

#define RBUF_BYTES (64u * 1024u)
#define OUT_MAX_BYTES ((size_t)1 << 30)
#define CLIENT_SOFTWARE_NAME "gregor"
#define CLIENT_SOFTWARE_VERSION "0.1.0"

typedef struct pending_req {
    struct pending_req *next;
    net_request req;
    int64_t deadline_ms;
    int32_t correlation_id;
    int16_t version;
    uint64_t end_byte; /* acks=0: completes once this many bytes were written */
    gregor_err err;    /* for the done list */
    bool handshake;    /* the internal ApiVersions request */
} pending_req;

typedef struct req_fifo {
    pending_req *head, *tail;
    size_t n;
} req_fifo;

struct net_conn {
    net_loop *loop;
    int32_t node_id;
    char *host;
    int port;
    char fail_detail[128]; /* why the last failure happened, for messages */
    net_conn_config cfg;
    net_conn_state_fn on_state;
    void *on_state_arg;

    net_conn_state state;
    int fd;
    net_watch watch;
    net_timer timer;
    int64_t state_deadline_ms; /* connect/handshake timeout or backoff end; 0: none */
    int32_t backoff_ms;

    req_fifo wait, fly, unacked, done;
    bool drain_posted;
    int32_t next_correlation_id;

    buf_writer out;
    size_t out_sent;
    uint64_t bytes_written;
    uint64_t bytes_queued;

    uint8_t *rbuf;
    size_t rlen;
    uint8_t *big; /* a frame larger than rbuf, being read */
    size_t big_len, big_have;

    net_versions versions;
    bool have_versions;
    bool use_fallback;
    int16_t api_versions_version;
    bool handshake_answered; /* the broker answered ApiVersions at least once */
    bool closing;
    bool in_dispatch;
};

static void conn_fail_detail(net_conn *c, gregor_err why, const char *detail);
static void pump(net_conn *c);
static void rearm_timer(net_conn *c);

static void conn_fail(net_conn *c, gregor_err why)
{
    conn_fail_detail(c, why, NULL);
}

const char *net_conn_state_name(net_conn_state s)
{
    static const char *names[] = {"IDLE", "CONNECTING", "HANDSHAKE", "UP", "BACKOFF", "CLOSED"};
    return (unsigned)s < sizeof names / sizeof names[0] ? names[s] : "?";
}

void net_conn_config_defaults(net_conn_config *cfg)
{
    *cfg = (net_conn_config){
        .client_id = "gregor",
        .request_timeout_ms = 30000,
        .connect_timeout_ms = 10000,
        .reconnect_backoff_ms = 100,
        .reconnect_backoff_max_ms = 10000,
        .max_in_flight = 5,
        .max_response_bytes = (size_t)100 << 20,
    };
}

/* ------------------------------------------------------------ fifo helpers */

static void fifo_push(req_fifo *f, pending_req *r)
{
    r->next = NULL;
    if (f->tail)
        f->tail->next = r;
    else
        f->head = r;
    f->tail = r;
    f->n++;
}

static void fifo_push_front(req_fifo *f, pending_req *r)
{
    r->next = f->head;
    f->head = r;
    if (!f->tail)
        f->tail = r;
    f->n++;
}

static pending_req *fifo_pop(req_fifo *f)
{
    pending_req *r = f->head;
    if (!r)
        return NULL;
    f->head = r->next;
    if (!f->head)
        f->tail = NULL;
    f->n--;
    r->next = NULL;
    return r;
}

/* ------------------------------------------------------------ completions */

static void drain_done(net_loop *l, void *arg)
{
    (void)l;
    net_conn *c = arg;
    c->drain_posted = false;
    pending_req *r;
    while ((r = fifo_pop(&c->done))) {
        if (r->req.done)
            r->req.done(r->err, NULL, r->req.opaque);
        free(r);
    }
}

static void complete_later(net_conn *c, pending_req *r, gregor_err err)
{
    if (r->handshake) { /* internal: nobody waits for it */
        free(r);
        return;
    }
    r->err = err;
    fifo_push(&c->done, r);
    if (!c->drain_posted) {
        if (net_loop_post(c->loop, drain_done, c) != GREGOR_OK)
            abort(); /* cannot report completions: the contract would break */
        c->drain_posted = true;
    }
}

static void fail_fifo(net_conn *c, req_fifo *f, gregor_err err)
{
    pending_req *r;
    while ((r = fifo_pop(f)))
        complete_later(c, r, err);
}

static void set_state(net_conn *c, net_conn_state s, gregor_err why)
{
    if (c->state == s && why == GREGOR_OK)
        return;
    c->state = s;
    if (c->on_state && !c->closing)
        c->on_state(c, s, why, c->on_state_arg);
}

/* --------------------------------------------------------------- lifecycle */

static void on_timer(net_loop *l, void *arg);
static void on_io(net_loop *l, uint32_t events, void *arg);

gregor_err net_conn_new(net_loop *loop, int32_t node_id, const char *host, int port,
                        const net_conn_config *cfg, net_conn_state_fn on_state, void *arg,
                        net_conn **out)
{
    net_conn *c = calloc(1, sizeof *c);
    if (!c)
        return GREGOR_ERR_NOMEM;
    c->host = strdup(host);
    c->rbuf = malloc(RBUF_BYTES);
    if (!c->host || !c->rbuf) {
        free(c->host);
        free(c->rbuf);
        free(c);
        return GREGOR_ERR_NOMEM;
    }
    c->loop = loop;
    c->node_id = node_id;
    c->port = port;
    c->cfg = *cfg;
    c->on_state = on_state;
    c->on_state_arg = arg;
    c->fd = -1;
    c->watch.fd = -1;
    c->state = NET_CONN_IDLE;
    c->backoff_ms = cfg->reconnect_backoff_ms;
    c->api_versions_version = proto_api_get(PROTO_API_API_VERSIONS)->max_version;
    net_timer_init(&c->timer, on_timer, c);
    buf_writer_init(&c->out, OUT_MAX_BYTES);
    *out = c;
    return GREGOR_OK;
}

static void close_socket(net_conn *c)
{
    if (c->fd >= 0) {
        net_watch_remove(c->loop, &c->watch);
        close(c->fd);
        c->fd = -1;
    }
    buf_writer_reset(&c->out);
    c->out_sent = 0;
    c->bytes_written = c->bytes_queued = 0;
    c->rlen = 0;
    free(c->big);
    c->big = NULL;
    c->big_len = c->big_have = 0;
    c->have_versions = false;
}

static void free_conn(net_loop *l, void *arg)
{
    (void)l;
    net_conn *c = arg;
    assert(c->done.n == 0 && !c->drain_posted);
    buf_writer_fini(&c->out);
    free(c->rbuf);
    free(c->host);
    free(c);
}

void net_conn_close(net_conn *c)
{
    if (!c || c->closing)
        return;
    assert(net_loop_on_thread(c->loop));
    c->closing = true;
    c->state = NET_CONN_CLOSED;
    net_timer_cancel(c->loop, &c->timer);
    close_socket(c);
    fail_fifo(c, &c->fly, GREGOR_ERR_DESTROYED);
    fail_fifo(c, &c->unacked, GREGOR_ERR_DESTROYED);
    fail_fifo(c, &c->wait, GREGOR_ERR_DESTROYED);
    /* Runs after drain_done (jobs are FIFO), so callbacks see a live conn. */
    if (net_loop_post(c->loop, free_conn, c) != GREGOR_OK)
        abort();
}

net_conn_state net_conn_get_state(const net_conn *c) { return c->state; }
const char *net_conn_fail_detail(const net_conn *c)
{
    return c->fail_detail;
}

int32_t net_conn_node_id(const net_conn *c) { return c->node_id; }
const char *net_conn_host(const net_conn *c) { return c->host; }
int net_conn_port(const net_conn *c) { return c->port; }
size_t net_conn_outstanding(const net_conn *c) { return c->wait.n + c->fly.n + c->unacked.n; }

const net_versions *net_conn_versions(const net_conn *c)
{
    return c->state == NET_CONN_UP && c->have_versions ? &c->versions : NULL;
}

gregor_err net_conn_set_address(net_conn *c, const char *host, int port)
{
    if (!strcmp(host, c->host) && port == c->port)
        return GREGOR_OK;
    char *h = strdup(host);
    if (!h)
        return GREGOR_ERR_NOMEM;
    free(c->host);
    c->host = h;
    c->port = port;
    if (c->fd >= 0)
        conn_fail(c, GREGOR_ERR_DISCONNECTED);
    return GREGOR_OK;
}

/* ----------------------------------------------------------------- connect */

static void start_connect(net_conn *c)
{
    char port[16];
    snprintf(port, sizeof port, "%d", c->port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    /* Resolution runs on the loop thread; the common cases (addresses and
     * names in /etc/hosts) answer at once. */
    int rc = getaddrinfo(c->host, port, &hints, &res);
    if (rc != 0 || !res) {
        gregor_log(GREGOR_LOG_DEBUG, "broker %d: cannot resolve %s: %s", c->node_id, c->host,
                   gai_strerror(rc));
        if (res)
            freeaddrinfo(res);
        conn_fail_detail(c, GREGOR_ERR_RESOLVE, gai_strerror(rc));
        return;
    }
    int fd = socket(res->ai_family, res->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, res->ai_protocol);
    if (fd < 0) {
        freeaddrinfo(res);
        conn_fail(c, GREGOR_ERR_IO);
        return;
    }
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    rc = connect(fd, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    if (rc != 0 && errno != EINPROGRESS) {
        int e = errno;
        close(fd);
        conn_fail_detail(c, GREGOR_ERR_CONNECT, strerror(e));
        return;
    }
    c->fd = fd;
    if (net_watch_add(c->loop, &c->watch, fd, POLLER_WRITE, on_io, c) != GREGOR_OK) {
        close(fd);
        c->fd = -1;
        conn_fail(c, GREGOR_ERR_IO);
        return;
    }
    c->state_deadline_ms = net_now_ms() + c->cfg.connect_timeout_ms;
    set_state(c, NET_CONN_CONNECTING, GREGOR_OK);
    rearm_timer(c);
}

void net_conn_connect(net_conn *c)
{
    if (c->state == NET_CONN_IDLE)
        start_connect(c);
}

static void become_up(net_conn *c)
{
    c->state_deadline_ms = 0;
    c->backoff_ms = c->cfg.reconnect_backoff_ms;
    set_state(c, NET_CONN_UP, GREGOR_OK);
    pump(c);
    rearm_timer(c);
}

static gregor_err encode_api_versions(buf_writer *w, int16_t version, void *opaque)
{
    (void)opaque;
    proto_api_versions_request req;
    proto_api_versions_request_init(&req);
    req.client_software_name = buf_slice_of(CLIENT_SOFTWARE_NAME, strlen(CLIENT_SOFTWARE_NAME));
    req.client_software_version =
        buf_slice_of(CLIENT_SOFTWARE_VERSION, strlen(CLIENT_SOFTWARE_VERSION));
    return proto_api_versions_request_encode(w, version, &req);
}

static bool write_frame(net_conn *c, pending_req *r);
static void flush_out(net_conn *c);

static void send_handshake(net_conn *c)
{
    pending_req *r = calloc(1, sizeof *r);
    if (!r) {
        conn_fail(c, GREGOR_ERR_NOMEM);
        return;
    }
    r->handshake = true;
    r->req.api_key = PROTO_API_API_VERSIONS;
    r->req.encode = encode_api_versions;
    r->version = c->api_versions_version;
    r->deadline_ms = c->state_deadline_ms;
    if (!write_frame(c, r)) {
        free(r);
        conn_fail(c, GREGOR_ERR_NOMEM);
        return;
    }
    fifo_push(&c->fly, r);
    flush_out(c);
}

static void begin_handshake(net_conn *c)
{
    const net_versions *fixed = c->cfg.fixed_versions;
    if (!fixed && c->use_fallback)
        fixed = c->cfg.fallback_versions;
    if (fixed) {
        c->versions = *fixed;
        c->have_versions = true;
        become_up(c);
        return;
    }
    set_state(c, NET_CONN_HANDSHAKE, GREGOR_OK);
    send_handshake(c);
}

/* The ApiVersions answer. An UNSUPPORTED_VERSION answer is encoded as v0
 * and names the range the broker takes; retry once with its maximum. */
static void handle_handshake(net_conn *c, net_response *resp)
{
    arena a;
    arena_init(&a, 1 << 20);
    proto_api_versions_response m;
    buf_reader body = resp->body;
    gregor_err err = proto_api_versions_response_decode(&resp->body, resp->version, &m, &a);
    if (err != GREGOR_OK || m.error_code == PROTO_ERR_UNSUPPORTED_VERSION) {
        resp->body = body;
        err = proto_api_versions_response_decode(&resp->body, 0, &m, &a);
    }
    c->handshake_answered = true;
    if (err != GREGOR_OK) {
        gregor_log(GREGOR_LOG_WARN, "broker %d: malformed ApiVersions response: %s", c->node_id,
                   resp->body.what ? resp->body.what : gregor_err_name(err));
        arena_fini(&a);
        conn_fail(c, GREGOR_ERR_MALFORMED);
        return;
    }
    if (m.error_code == PROTO_ERR_UNSUPPORTED_VERSION) {
        int16_t theirs = 0;
        for (int32_t i = 0; i < m.api_keys_count; i++)
            if (m.api_keys[i].api_key == PROTO_API_API_VERSIONS)
                theirs = m.api_keys[i].max_version;
        arena_fini(&a);
        if (theirs >= c->api_versions_version) {
            conn_fail(c, GREGOR_ERR_UNSUPPORTED);
            return;
        }
        c->api_versions_version = theirs;
        send_handshake(c);
        return;
    }
    if (m.error_code != 0) {
        arena_fini(&a);
        conn_fail(c, gregor_err_from_broker(m.error_code));
        return;
    }
    net_versions_clear(&c->versions);
    for (int32_t i = 0; i < m.api_keys_count; i++) {
        int16_t k = m.api_keys[i].api_key;
        if (k >= 0 && k < NET_API_KEYS_MAX && m.api_keys[i].min_version >= 0 &&
            m.api_keys[i].min_version <= m.api_keys[i].max_version) {
            c->versions.min[k] = m.api_keys[i].min_version;
            c->versions.max[k] = m.api_keys[i].max_version;
        }
    }
    arena_fini(&a);
    c->have_versions = true;
    become_up(c);
}

/* ------------------------------------------------------------ failure path */

static int32_t jittered(int32_t ms)
{
    /* ±20%: spreads reconnect storms of many clients. */
    int32_t span = ms / 5;
    return span > 0 ? ms - span + (int32_t)(random() % (2 * span + 1)) : ms;
}

/* Fails the connection; `detail` (may be NULL) says why in words, for the
 * state callback's messages (net_conn_fail_detail). */
static void conn_fail_detail(net_conn *c, gregor_err why, const char *detail)
{
    if (c->closing)
        return;
    snprintf(c->fail_detail, sizeof c->fail_detail, "%s", detail ? detail : "");
    bool was_handshake = c->state == NET_CONN_HANDSHAKE;
    bool was_connecting = c->state == NET_CONN_CONNECTING || c->state == NET_CONN_IDLE ||
                          c->state == NET_CONN_BACKOFF;
    close_socket(c);
    fail_fifo(c, &c->fly, GREGOR_ERR_DISCONNECTED);
    fail_fifo(c, &c->unacked, GREGOR_ERR_DISCONNECTED);

    /* A pre-0.10 broker closes the connection on ApiVersions: switch to the
     * configured fallback profile and reconnect at once, keeping the queue. */
    if (was_handshake && !c->handshake_answered && c->cfg.fallback_versions && !c->use_fallback &&
        why == GREGOR_ERR_DISCONNECTED) {
        gregor_log(GREGOR_LOG_INFO,
                   "broker %d (%s:%d) closed the connection on ApiVersions: using the "
                   "broker_version fallback",
                   c->node_id, c->host, c->port);
        c->use_fallback = true;
        set_state(c, NET_CONN_BACKOFF, why);
        c->state_deadline_ms = net_now_ms();
        rearm_timer(c);
        return;
    }
    if (was_connecting || was_handshake)
        fail_fifo(c, &c->wait, why == GREGOR_ERR_TIMED_OUT ? GREGOR_ERR_CONNECT : why);
    c->handshake_answered = false;
    set_state(c, NET_CONN_BACKOFF, why);
    c->state_deadline_ms = net_now_ms() + jittered(c->backoff_ms);
    c->backoff_ms = c->backoff_ms >= c->cfg.reconnect_backoff_max_ms / 2
                        ? c->cfg.reconnect_backoff_max_ms
                        : c->backoff_ms * 2;
    rearm_timer(c);
}

/* ------------------------------------------------------------------ output */

/* Appends one framed request to the output buffer. */
static bool write_frame(net_conn *c, pending_req *r)
{
    size_t start = c->out.len;
    r->correlation_id = c->next_correlation_id++;
    if (c->next_correlation_id < 0)
        c->next_correlation_id = 0;
    size_t slot = buf_write_slot(&c->out, 4);
    gregor_err err = proto_request_header_write(&c->out, r->req.api_key, r->version,
                                                r->correlation_id,
                                                buf_slice_of(c->cfg.client_id, strlen(c->cfg.client_id)));
    if (err == GREGOR_OK)
        err = r->req.encode(&c->out, r->version, r->req.opaque);
    if (err == GREGOR_OK && c->out.err == GREGOR_OK) {
        buf_patch_i32(&c->out, slot, (int32_t)(c->out.len - slot - 4));
        c->bytes_queued += c->out.len - start;
        r->end_byte = c->bytes_queued;
        return true;
    }
    /* Drop the partial frame; the writer itself stays usable. */
    c->out.len = start;
    c->out.err = GREGOR_OK;
    r->err = err != GREGOR_OK ? err : GREGOR_ERR_TOO_LARGE;
    return false;
}

static void update_interest(net_conn *c)
{
    if (c->fd < 0 || c->state == NET_CONN_CONNECTING)
        return;
    uint32_t ev = POLLER_READ | (c->out_sent < c->out.len ? POLLER_WRITE : 0);
    if (net_watch_set(c->loop, &c->watch, ev) != GREGOR_OK)
        conn_fail(c, GREGOR_ERR_IO);
}

static void flush_out(net_conn *c)
{
    while (c->out_sent < c->out.len) {
        ssize_t n = send(c->fd, c->out.data + c->out_sent, c->out.len - c->out_sent, MSG_NOSIGNAL);
        if (n > 0) {
            c->out_sent += (size_t)n;
            c->bytes_written += (uint64_t)n;
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (n < 0 && errno == EINTR)
            continue;
        conn_fail_detail(c, GREGOR_ERR_DISCONNECTED, n < 0 ? strerror(errno) : "send failed");
        return;
    }
    if (c->out_sent == c->out.len) {
        buf_writer_reset(&c->out);
        c->out_sent = 0;
    }
    while (c->unacked.head && c->unacked.head->end_byte <= c->bytes_written)
        complete_later(c, fifo_pop(&c->unacked), GREGOR_OK);
    update_interest(c);
}

static void pump(net_conn *c)
{
    if (c->state != NET_CONN_UP)
        return;
    bool wrote = false;
    while (c->wait.head && (int32_t)c->fly.n < c->cfg.max_in_flight) {
        pending_req *r = fifo_pop(&c->wait);
        r->version = net_versions_pick(&c->versions, r->req.api_key, r->req.min_version,
                                       r->req.max_version);
        if (r->version == NET_VERSION_NONE) {
            complete_later(c, r, GREGOR_ERR_UNSUPPORTED);
            continue;
        }
        if (!write_frame(c, r)) {
            complete_later(c, r, r->err);
            continue;
        }
        fifo_push(r->req.no_response ? &c->unacked : &c->fly, r);
        wrote = true;
    }
    if (wrote)
        flush_out(c);
}

/* ------------------------------------------------------------------- input */

uint8_t *net_response_take_frame(net_response *resp)
{
    uint8_t *p = resp->frame;
    if (!resp->frame_owned) {
        p = malloc(resp->frame_len ? resp->frame_len : 1);
        if (!p)
            return NULL;
        memcpy(p, resp->frame, resp->frame_len);
    }
    size_t pos = resp->body.pos;
    buf_reader_init(&resp->body, p, resp->frame_len);
    resp->body.pos = pos;
    resp->frame = p;
    resp->frame_owned = false; /* now the caller's */
    return p;
}

/* Delivers one complete frame to the oldest in-flight request. Returns false
 * when the connection failed or was closed meanwhile. */
static bool dispatch(net_conn *c, uint8_t *frame, size_t len, bool owned)
{
    pending_req *r = fifo_pop(&c->fly);
    if (!r) {
        gregor_log(GREGOR_LOG_WARN, "broker %d: response without a request", c->node_id);
        if (owned)
            free(frame);
        conn_fail(c, GREGOR_ERR_MALFORMED);
        return false;
    }
    net_response resp = {.api_key = r->req.api_key, .version = r->version,
                         .frame = frame, .frame_len = len, .frame_owned = owned};
    buf_reader_init(&resp.body, frame, len);
    gregor_err err = proto_response_header_read(&resp.body, r->req.api_key, r->version,
                                                &resp.correlation_id);
    if (err != GREGOR_OK || resp.correlation_id != r->correlation_id) {
        gregor_log(GREGOR_LOG_WARN, "broker %d: response correlation id %d, expected %d", c->node_id,
                   resp.correlation_id, r->correlation_id);
        fifo_push_front(&c->fly, r);
        if (owned)
            free(frame);
        conn_fail(c, GREGOR_ERR_MALFORMED);
        return false;
    }
    c->in_dispatch = true;
    if (r->handshake)
        handle_handshake(c, &resp);
    else
        r->req.done(GREGOR_OK, &resp, r->req.opaque);
    c->in_dispatch = false;
    if (resp.frame_owned)
        free(resp.frame); /* not taken by the callback */
    free(r);
    return !c->closing && c->fd >= 0;
}

static bool parse_frames(net_conn *c)
{
    size_t off = 0;
    bool alive = true;
    while (alive && c->rlen - off >= 4) {
        const uint8_t *p = c->rbuf + off;
        int32_t size = (int32_t)(((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
                                 ((uint32_t)p[2] << 8) | p[3]);
        if (size < 0 || (size_t)size > c->cfg.max_response_bytes) {
            gregor_log(GREGOR_LOG_WARN, "broker %d: response size %d out of range", c->node_id, size);
            conn_fail_detail(c, GREGOR_ERR_TOO_LARGE, "response larger than max_response_bytes");
            return false;
        }
        size_t have = c->rlen - off - 4;
        if (have >= (size_t)size) {
            alive = dispatch(c, c->rbuf + off + 4, (size_t)size, false);
            off += 4 + (size_t)size;
            continue;
        }
        if (4 + (size_t)size > RBUF_BYTES) {
            c->big = malloc((size_t)size);
            if (!c->big) {
                conn_fail(c, GREGOR_ERR_NOMEM);
                return false;
            }
            memcpy(c->big, c->rbuf + off + 4, have);
            c->big_len = (size_t)size;
            c->big_have = have;
            off = c->rlen;
        }
        break;
    }
    if (!alive)
        return false;
    memmove(c->rbuf, c->rbuf + off, c->rlen - off);
    c->rlen -= off;
    return true;
}

static void read_input(net_conn *c)
{
    for (;;) {
        uint8_t *dst;
        size_t room;
        if (c->big) {
            dst = c->big + c->big_have;
            room = c->big_len - c->big_have;
        } else {
            dst = c->rbuf + c->rlen;
            room = RBUF_BYTES - c->rlen;
        }
        ssize_t n = recv(c->fd, dst, room, 0);
        if (n == 0) {
            conn_fail_detail(c, GREGOR_ERR_DISCONNECTED, "closed by the broker");
            return;
        }
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                conn_fail_detail(c, GREGOR_ERR_DISCONNECTED, strerror(errno));
            return;
        }
        if (c->big) {
            c->big_have += (size_t)n;
            if (c->big_have == c->big_len) {
                uint8_t *frame = c->big;
                size_t len = c->big_len;
                c->big = NULL;
                c->big_len = c->big_have = 0;
                if (!dispatch(c, frame, len, true))
                    return;
            }
        } else {
            c->rlen += (size_t)n;
            if (!parse_frames(c))
                return;
        }
        if ((size_t)n < room)
            return; /* drained the socket for now */
    }
}

static void on_io(net_loop *l, uint32_t events, void *arg)
{
    (void)l;
    net_conn *c = arg;
    if (c->state == NET_CONN_CONNECTING) {
        int soerr = 0;
        socklen_t len = sizeof soerr;
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0 || soerr != 0) {
            const char *why = strerror(soerr ? soerr : errno);
            gregor_log(GREGOR_LOG_DEBUG, "broker %d: connect to %s:%d failed: %s", c->node_id,
                       c->host, c->port, why);
            conn_fail_detail(c, GREGOR_ERR_CONNECT, why);
            return;
        }
        if (net_watch_set(l, &c->watch, POLLER_READ) != GREGOR_OK) {
            conn_fail(c, GREGOR_ERR_IO);
            return;
        }
        begin_handshake(c);
        return;
    }
    if (events & POLLER_WRITE)
        flush_out(c);
    if (c->fd >= 0 && (events & POLLER_READ))
        read_input(c);
    if (c->fd >= 0 && !c->closing) {
        pump(c);
        rearm_timer(c);
    }
}

/* ------------------------------------------------------------------ timers */

static int64_t earliest_deadline(const net_conn *c)
{
    int64_t d = c->state_deadline_ms ? c->state_deadline_ms : INT64_MAX;
    /* Requests time out in order of arrival within each FIFO except `wait`,
     * whose entries may carry different timeouts. */
    if (c->fly.head && c->fly.head->deadline_ms < d)
        d = c->fly.head->deadline_ms;
    for (const pending_req *r = c->wait.head; r; r = r->next)
        if (r->deadline_ms < d)
            d = r->deadline_ms;
    return d;
}

static void rearm_timer(net_conn *c)
{
    if (c->closing)
        return;
    int64_t d = earliest_deadline(c);
    if (d == INT64_MAX)
        net_timer_cancel(c->loop, &c->timer);
    else if (!net_timer_armed(&c->timer) || c->timer.deadline_ms != d)
        net_timer_arm(c->loop, &c->timer, d);
}

static void expire_waiting(net_conn *c, int64_t now)
{
    req_fifo keep = {0};
    pending_req *r;
    while ((r = fifo_pop(&c->wait))) {
        if (r->deadline_ms <= now)
            complete_later(c, r, GREGOR_ERR_TIMED_OUT);
        else
            fifo_push(&keep, r);
    }
    c->wait = keep;
}

static void on_timer(net_loop *l, void *arg)
{
    (void)l;
    net_conn *c = arg;
    int64_t now = net_now_ms();
    if (c->fly.head && c->fly.head->deadline_ms <= now) {
        pending_req *r = fifo_pop(&c->fly);
        gregor_log(GREGOR_LOG_WARN, "broker %d: request (api %d v%d) timed out; reconnecting",
                   c->node_id, r->req.api_key, r->version);
        complete_later(c, r, GREGOR_ERR_TIMED_OUT);
        conn_fail_detail(c, GREGOR_ERR_TIMED_OUT, "a request timed out");
    }
    expire_waiting(c, now);
    if (c->state_deadline_ms && c->state_deadline_ms <= now) {
        c->state_deadline_ms = 0;
        switch (c->state) {
        case NET_CONN_CONNECTING:
        case NET_CONN_HANDSHAKE:
            gregor_log(GREGOR_LOG_DEBUG, "broker %d: connect to %s:%d timed out", c->node_id,
                       c->host, c->port);
            conn_fail_detail(c, GREGOR_ERR_TIMED_OUT,
                             c->state == NET_CONN_CONNECTING ? "no TCP connection within connect_timeout_ms"
                                                             : "no ApiVersions answer within connect_timeout_ms");
            break;
        case NET_CONN_BACKOFF:
            if (c->wait.n > 0) {
                start_connect(c);
            } else {
                set_state(c, NET_CONN_IDLE, GREGOR_OK);
            }
            break;
        default:
            break;
        }
    }
    rearm_timer(c);
}

/* ------------------------------------------------------------------- send */

gregor_err net_conn_send(net_conn *c, const net_request *req)
{
    assert(net_loop_on_thread(c->loop));
    assert(req->encode && req->done);
    pending_req *r = calloc(1, sizeof *r);
    if (!r)
        return GREGOR_ERR_NOMEM;
    r->req = *req;
    int32_t timeout = req->timeout_ms > 0 ? req->timeout_ms : c->cfg.request_timeout_ms;
    r->deadline_ms = net_now_ms() + timeout;
    if (c->closing) {
        complete_later(c, r, GREGOR_ERR_DESTROYED);
        return GREGOR_OK;
    }
    fifo_push(&c->wait, r);
    if (c->state == NET_CONN_IDLE)
        start_connect(c);
    else if (c->state == NET_CONN_UP && !c->in_dispatch)
        pump(c);
    rearm_timer(c);
    return GREGOR_OK;
}
