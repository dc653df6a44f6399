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
 * `done` list and run from a job embedded in the connection (posting it
 * allocates nothing), so that no callback ever runs inside net_conn_send()
 * or net_conn_close(), and out of memory cannot lose a completion.
 *
 * A connection attempt holds the resolver's answer (`addrs`) and the index
 * of the address being tried; `attempt_detail` collects each failed
 * address's cause for the message of an attempt that failed on all of them.
 */
#include "net/conn_int.h"

#include <assert.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/poller.h"
#include "protocol/gen/api.h"
#include "protocol/header.h"
#include "util/clock.h"
#include "util/log.h"

#define RBUF_BYTES (64u * 1024u)
#define OUT_MAX_BYTES ((size_t)1 << 30)

static void on_resolve_io(net_loop *l, uint32_t events, void *arg);
static void on_resolved(net_conn *c);
static void pump(net_conn *c);

void conn_fail(net_conn *c, gregor_err why)
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

void conn_fifo_push(req_fifo *f, pending_req *r)
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
    if (r->internal != REQ_USER) { /* nobody waits for it */
        free(r);
        return;
    }
    r->err = err;
    if (c->stats && err != GREGOR_ERR_DESTROYED) /* OK: an acks=0 Produce was written */
        atomic_fetch_add_explicit(err ? &c->stats->errors : &c->stats->requests, 1, memory_order_relaxed);
    conn_fifo_push(&c->done, r);
    if (!c->drain_posted) {
        net_loop_post_job(c->loop, &c->drain_job);
        c->drain_posted = true;
    }
}

static void fail_fifo(net_conn *c, req_fifo *f, gregor_err err)
{
    pending_req *r;
    while ((r = fifo_pop(f)))
        complete_later(c, r, err);
}

void conn_set_state(net_conn *c, net_conn_state s, gregor_err why)
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
static void free_conn(net_loop *l, void *arg);

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
    net_job_init(&c->drain_job, drain_done, c);
    net_job_init(&c->free_job, free_conn, c);
    buf_writer_init(&c->out, OUT_MAX_BYTES);
    *out = c;
    return GREGOR_OK;
}

static void close_socket(net_conn *c)
{
    if (c->resolve) {
        net_watch_remove(c->loop, &c->watch);
        net_resolve_release(c->resolve); /* the resolver thread may go on */
        c->resolve = NULL;
    }
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
    c->probe_answers = 0;
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
    net_loop_post_job(c->loop, &c->free_job);
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
void net_conn_set_stats(net_conn *c, net_conn_stats *stats) { c->stats = stats; }

const net_versions *net_conn_versions(const net_conn *c)
{
    return c->state == NET_CONN_UP && c->have_versions ? &c->versions : NULL;
}

const char *net_conn_legacy_release(const net_conn *c)
{
    return c->cfg.fixed_versions ? net_versions_legacy_name(c->cfg.fixed_versions)
           : c->legacy           ? net_versions_legacy_name(c->legacy)
                                 : NULL;
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
    c->legacy = NULL; /* another broker, perhaps: the cache knows */
    c->probe_next = false;
    if (c->fd >= 0 || c->resolve)
        conn_fail(c, GREGOR_ERR_DISCONNECTED);
    return GREGOR_OK;
}

/* ----------------------------------------------------------------- connect */

static void connect_next(net_conn *c);

/* Appends "ADDRESS: cause" to the attempt's detail. */
static void note_attempt(net_conn *c, const net_addr *a, const char *cause)
{
    char addr[INET6_ADDRSTRLEN + 16];
    net_addr_format(a, addr, sizeof addr);
    snprintf(c->last_cause, sizeof c->last_cause, "%s", cause);
    size_t len = strlen(c->attempt_detail);
    snprintf(c->attempt_detail + len, sizeof c->attempt_detail - len, "%s%s: %s", len ? "; " : "",
             addr, cause);
}

/* Starts a connection attempt: resolve, then connect_next(). */
static void start_connect(net_conn *c)
{
    c->attempt_detail[0] = '\0';
    c->n_addrs = c->addr_i = 0;
    c->state_deadline_ms = net_now_ms() + c->cfg.connect_timeout_ms;
    gregor_err err = net_resolve_start(c->host, c->port, c->cfg.resolve, &c->resolve);
    if (err != GREGOR_OK) {
        c->resolve = NULL;
        conn_fail_detail(c, err, err == GREGOR_ERR_NOMEM ? "out of memory starting to resolve"
                                                         : "cannot start a resolver thread");
        return;
    }
    conn_set_state(c, NET_CONN_CONNECTING, GREGOR_OK);
    if (c->state != NET_CONN_CONNECTING || c->closing)
        return; /* the state callback closed or moved it */
    if (net_resolve_done(c->resolve)) {
        on_resolved(c);
        return;
    }
    if (net_watch_add(c->loop, &c->watch, net_resolve_fd(c->resolve), POLLER_READ, on_resolve_io, c) !=
        GREGOR_OK) {
        net_resolve_release(c->resolve);
        c->resolve = NULL;
        conn_fail_detail(c, GREGOR_ERR_IO, "cannot watch the resolver");
        return;
    }
    conn_rearm_timer(c);
}

static void on_resolve_io(net_loop *l, uint32_t events, void *arg)
{
    (void)l;
    (void)events;
    net_conn *c = arg;
    if (c->resolve && net_resolve_done(c->resolve))
        on_resolved(c);
}

/* Takes the resolver's answer and starts on its first address. */
static void on_resolved(net_conn *c)
{
    size_t n;
    const char *why;
    const net_addr *a = net_resolve_result(c->resolve, &n, &why);
    if (n == 0) {
        char detail[sizeof c->fail_detail];
        snprintf(detail, sizeof detail, "cannot resolve %s: %s", c->host, why);
        gregor_log(GREGOR_LOG_DEBUG, "broker %d: %s", c->node_id, detail);
        conn_fail_detail(c, GREGOR_ERR_RESOLVE, detail); /* releases the resolution */
        return;
    }
    memcpy(c->addrs, a, n * sizeof *a);
    c->n_addrs = n;
    c->addr_i = 0;
    net_watch_remove(c->loop, &c->watch);
    net_resolve_release(c->resolve);
    c->resolve = NULL;
    connect_next(c);
}

/* Fails the attempt after every address failed, naming each address and
 * its cause (the host is named by whoever reports the failure). */
static void fail_all_addresses(net_conn *c, gregor_err why)
{
    char detail[sizeof c->attempt_detail];
    /* One address: its cause says it all ("Connection refused"). */
    snprintf(detail, sizeof detail, "%s", c->n_addrs == 1 ? c->last_cause : c->attempt_detail);
    gregor_log(GREGOR_LOG_DEBUG, "broker %d: connect to %s:%d failed: %s", c->node_id, c->host, c->port,
               detail);
    conn_fail_detail(c, why, detail);
}

/* Tries c->addrs[c->addr_i...] until a connect is in progress. */
static void connect_next(net_conn *c)
{
    for (; c->addr_i < c->n_addrs; c->addr_i++) {
        const net_addr *a = &c->addrs[c->addr_i];
        int fd = socket(a->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            note_attempt(c, a, strerror(errno));
            continue;
        }
        int one = 1;
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (connect(fd, (const struct sockaddr *)&a->sa, a->len) != 0 && errno != EINPROGRESS) {
            note_attempt(c, a, strerror(errno));
            close(fd);
            continue;
        }
        c->fd = fd;
        if (net_watch_add(c->loop, &c->watch, fd, POLLER_WRITE, on_io, c) != GREGOR_OK) {
            close(fd);
            c->fd = -1;
            conn_fail_detail(c, GREGOR_ERR_IO, "cannot watch the socket");
            return;
        }
        c->state_deadline_ms = net_now_ms() + c->cfg.connect_timeout_ms;
        conn_rearm_timer(c);
        return;
    }
    fail_all_addresses(c, GREGOR_ERR_CONNECT);
}

/* The address being tried failed (refused, unreachable, timed out): on to
 * the next one. */
static void address_failed(net_conn *c, const char *cause)
{
    note_attempt(c, &c->addrs[c->addr_i], cause);
    net_watch_remove(c->loop, &c->watch);
    close(c->fd);
    c->fd = -1;
    c->addr_i++;
    if (c->addr_i < c->n_addrs) {
        connect_next(c);
        return;
    }
    fail_all_addresses(c, GREGOR_ERR_CONNECT);
}

void net_conn_connect(net_conn *c)
{
    if (c->state == NET_CONN_IDLE)
        start_connect(c);
}

void conn_become_up(net_conn *c)
{
    c->state_deadline_ms = 0;
    c->backoff_ms = c->cfg.reconnect_backoff_ms;
    if (c->stats)
        atomic_fetch_add_explicit(&c->stats->connects, 1, memory_order_relaxed);
    conn_set_state(c, NET_CONN_UP, GREGOR_OK);
    pump(c);
    conn_rearm_timer(c);
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
void conn_fail_detail(net_conn *c, gregor_err why, const char *detail)
{
    if (c->closing)
        return;
    snprintf(c->fail_detail, sizeof c->fail_detail, "%s", detail ? detail : "");
    if (c->stats)
        atomic_fetch_add_explicit(&c->stats->failures, 1, memory_order_relaxed);
    bool was_handshake = c->state == NET_CONN_HANDSHAKE;
    bool was_connecting = c->state == NET_CONN_CONNECTING || c->state == NET_CONN_IDLE ||
                          c->state == NET_CONN_BACKOFF;
    int answers = c->probe_answers;
    close_socket(c);
    fail_fifo(c, &c->fly, GREGOR_ERR_DISCONNECTED);
    fail_fifo(c, &c->unacked, GREGOR_ERR_DISCONNECTED);

    if (was_handshake && (why == GREGOR_ERR_DISCONNECTED || why == GREGOR_ERR_TIMED_OUT) &&
        !c->handshake_answered && !c->legacy && conn_detect_step(c, answers, why)) {
        /* Reconnect at once, keeping the queue. */
        conn_set_state(c, NET_CONN_BACKOFF, why);
        c->state_deadline_ms = net_now_ms();
        conn_rearm_timer(c);
        return;
    }
    c->probe_next = false;
    if (was_connecting || was_handshake)
        fail_fifo(c, &c->wait, why == GREGOR_ERR_TIMED_OUT ? GREGOR_ERR_CONNECT : why);
    c->handshake_answered = false;
    conn_set_state(c, NET_CONN_BACKOFF, why);
    c->state_deadline_ms = net_now_ms() + jittered(c->backoff_ms);
    c->backoff_ms = c->backoff_ms >= c->cfg.reconnect_backoff_max_ms / 2
                        ? c->cfg.reconnect_backoff_max_ms
                        : c->backoff_ms * 2;
    conn_rearm_timer(c);
}

/* ------------------------------------------------------------------ output */

/* Appends one framed request to the output buffer. */
bool conn_write_frame(net_conn *c, pending_req *r)
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
        r->written_us = c->stats ? clock_mono_us() : 0;
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

void conn_flush_out(net_conn *c)
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
        if (!conn_write_frame(c, r)) {
            complete_later(c, r, r->err);
            continue;
        }
        conn_fifo_push(r->req.no_response ? &c->unacked : &c->fly, r);
        wrote = true;
    }
    if (wrote)
        conn_flush_out(c);
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

/* Fetch, JoinGroup and SyncGroup wait in the broker by design (long poll,
 * rebalance): their time says nothing of the link. */
static void count_answer(net_conn_stats *st, const pending_req *r)
{
    atomic_fetch_add_explicit(&st->requests, 1, memory_order_relaxed);
    int16_t k = r->req.api_key;
    if (k == PROTO_API_FETCH || k == PROTO_API_JOIN_GROUP || k == PROTO_API_SYNC_GROUP || r->written_us <= 0)
        return;
    int64_t us = clock_mono_us() - r->written_us;
    atomic_fetch_add_explicit(&st->rtt_us_sum, (uint64_t)(us > 0 ? us : 0), memory_order_relaxed);
    atomic_fetch_add_explicit(&st->rtt_count, 1, memory_order_relaxed);
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
    if (r->internal == REQ_API_VERSIONS)
        conn_handle_handshake(c, &resp);
    else if (r->internal != REQ_USER)
        conn_probe_answered(c, r->internal);
    else
        r->req.done(GREGOR_OK, &resp, r->req.opaque);
    c->in_dispatch = false;
    if (c->stats && r->internal == REQ_USER)
        count_answer(c->stats, r);
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
            address_failed(c, strerror(soerr ? soerr : errno));
            return;
        }
        if (net_watch_set(l, &c->watch, POLLER_READ) != GREGOR_OK) {
            conn_fail(c, GREGOR_ERR_IO);
            return;
        }
        conn_begin_handshake(c);
        return;
    }
    if (events & POLLER_WRITE)
        conn_flush_out(c);
    if (c->fd >= 0 && (events & POLLER_READ))
        read_input(c);
    if (c->fd >= 0 && !c->closing) {
        pump(c);
        conn_rearm_timer(c);
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

void conn_rearm_timer(net_conn *c)
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
            conn_fifo_push(&keep, r);
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
        bool internal = r->internal != REQ_USER; /* the handshake: 0.9 never answers ApiVersions */
        gregor_log(internal ? GREGOR_LOG_DEBUG : GREGOR_LOG_WARN,
                   "broker %d: request (api %d v%d) timed out; reconnecting", c->node_id, r->req.api_key,
                   r->version);
        complete_later(c, r, GREGOR_ERR_TIMED_OUT);
        conn_fail_detail(c, GREGOR_ERR_TIMED_OUT,
                         internal ? "no handshake answer within connect_timeout_ms" : "a request timed out");
    }
    expire_waiting(c, now);
    if (c->state_deadline_ms && c->state_deadline_ms <= now) {
        c->state_deadline_ms = 0;
        switch (c->state) {
        case NET_CONN_CONNECTING:
            if (c->resolve) {
                char detail[sizeof c->fail_detail];
                snprintf(detail, sizeof detail, "resolving %s took longer than connect_timeout_ms",
                         c->host);
                conn_fail_detail(c, GREGOR_ERR_TIMED_OUT, detail);
            } else if (c->fd >= 0) {
                address_failed(c, "no TCP connection within connect_timeout_ms");
            }
            break;
        case NET_CONN_HANDSHAKE:
            gregor_log(GREGOR_LOG_DEBUG, "broker %d: handshake with %s:%d timed out", c->node_id,
                       c->host, c->port);
            conn_fail_detail(c, GREGOR_ERR_TIMED_OUT, "no ApiVersions answer within connect_timeout_ms");
            break;
        case NET_CONN_BACKOFF:
            if (c->wait.n > 0) {
                start_connect(c);
            } else {
                conn_set_state(c, NET_CONN_IDLE, GREGOR_OK);
            }
            break;
        default:
            break;
        }
    }
    conn_rearm_timer(c);
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
    conn_fifo_push(&c->wait, r);
    if (c->state == NET_CONN_IDLE)
        start_connect(c);
    else if (c->state == NET_CONN_UP && !c->in_dispatch)
        pump(c);
    conn_rearm_timer(c);
    return GREGOR_OK;
}
