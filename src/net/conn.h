/* net/conn.h — one non-blocking connection to one Kafka broker.
 *
 * A connection is a state machine driven by the loop thread:
 *
 *   IDLE --request--> CONNECTING --tcp up--> HANDSHAKE --ApiVersions--> UP
 *     ^                   |                      |                       |
 *     +---- BACKOFF <-----+----------------------+-----------------------+
 *            (error: exponential backoff with jitter, then CONNECTING again
 *             if anything is waiting)
 *
 * CONNECTING first resolves the host off the loop thread (net/resolve.h;
 * numeric addresses at once; a name is resolved again on every attempt),
 * then tries every address in the resolver's order ("localhost": ::1, then
 * 127.0.0.1) until one accepts. The resolution and each address get
 * connect_timeout_ms. Only when every address failed does the attempt
 * fail: GREGOR_ERR_RESOLVE ("cannot resolve HOST: cause"), or
 * GREGOR_ERR_CONNECT with each address and its cause in the detail (just
 * the cause when there was one address).
 *
 * HANDSHAKE negotiates versions with ApiVersions, retrying with the version
 * the broker names when it answers UNSUPPORTED_VERSION. With a fixed version
 * table (a configured pre-0.10 broker_version) the handshake is skipped.
 * Brokers before 0.10 refuse ApiVersions: 0.8 closes the connection, 0.9
 * never answers (connect_timeout_ms passes). Then, with a fallback table
 * configured, the connection reconnects at once and uses it; without one it
 * detects the release: on a fresh connection it sends ListOffsets v0 (every
 * release has it), then ListGroups v0 (added in 0.9), then ApiVersions again
 * (given 2 s, or 10 times what the first two took if longer), each after
 * the answer to the one before, and the first
 * request the broker refuses tells which release it is:
 *     ListOffsets answered, ListGroups refused    0.8.x: the 0.8.2 profile
 *     ListGroups answered, ApiVersions refused    0.9.x: the 0.9.0 profile
 *       or unanswered
 *     ApiVersions answered                        0.10+: negotiated as usual
 *     anything else                               inconclusive: back off and
 *                                                 start over with ApiVersions
 * (0.10.0 has ApiVersions, so only 0.8 and 0.9 ever get here; asking for
 * ApiVersions once more keeps a broker that dropped the first connection for
 * another reason from being taken for 0.9.) The result is logged once at
 * INFO and kept in the connection and in the shared legacy cache, so that
 * reconnects and other connections to that address do not probe again.
 * Detecting 0.8 costs two extra connections and milliseconds; detecting 0.9
 * costs connect_timeout_ms (its first ApiVersions goes unanswered) plus 2 s.
 * Requests queued meanwhile wait; they are written with the detected table.
 *
 * Requests are queued, then written pipelined up to `max_in_flight` at a
 * time; responses arrive in order and are matched by correlation id (a
 * mismatch is a protocol error that closes the connection). Each request
 * chooses the highest version in the intersection of its own range and the
 * broker's. Every request's `done` callback runs exactly once, on the loop
 * thread, never from inside net_conn_send(): with the response, or with
 * GREGOR_ERR_TIMED_OUT (its deadline passed), GREGOR_ERR_DISCONNECTED (the
 * connection dropped while it was in flight), GREGOR_ERR_CONNECT (the
 * connection attempt failed while it was queued), GREGOR_ERR_RESOLVE (the
 * host name did not resolve), GREGOR_ERR_UNSUPPORTED (no common version),
 * GREGOR_ERR_NOMEM (memory ran out for it or for its connection, which then
 * fails as any broken connection does) or GREGOR_ERR_DESTROYED
 * (net_conn_close). Running out of memory never aborts the process.
 *
 * A request that times out in flight closes the connection (as the Java
 * client does): the broker's later answer could not be matched anyway.
 *
 * Threading: every function here runs on the loop thread only.
 * Ownership: the owner creates with net_conn_new and ends with
 * net_conn_close, which frees the connection asynchronously.
 */
#ifndef GREGOR_NET_CONN_H
#define GREGOR_NET_CONN_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gregor/error.h"
#include "net/loop.h"
#include "net/resolve.h"
#include "net/versions.h"
#include "util/buf.h"

typedef struct net_conn net_conn;

typedef enum net_conn_state {
    NET_CONN_IDLE,
    NET_CONN_CONNECTING,
    NET_CONN_HANDSHAKE,
    NET_CONN_UP,
    NET_CONN_BACKOFF,
    NET_CONN_CLOSED
} net_conn_state;

const char *net_conn_state_name(net_conn_state s);

typedef struct net_conn_config {
    const char *client_id;              /* borrowed; must outlive the connection */
    int32_t request_timeout_ms;         /* default per request (30000) */
    int32_t connect_timeout_ms;         /* TCP connect + handshake (10000) */
    int32_t reconnect_backoff_ms;       /* first backoff (100) */
    int32_t reconnect_backoff_max_ms;   /* backoff cap (10000) */
    int32_t max_in_flight;              /* pipelined requests (5) */
    size_t max_response_bytes;          /* larger frames close the connection (100 MiB) */
    const net_versions *fixed_versions; /* skip ApiVersions and use these (borrowed) */
    const net_versions *fallback_versions; /* when ApiVersions is refused; NULL: detect (borrowed) */
    net_legacy_cache *legacy_cache;     /* detected releases, shared by connections (borrowed,
                                           loop thread; NULL: per connection only) */
    net_resolve_fn resolve;             /* NULL: getaddrinfo on a resolver thread */
} net_conn_config;

/* Fills the defaults named above. */
void net_conn_config_defaults(net_conn_config *cfg);

/* A response as the done callback sees it. `body` is positioned after the
 * response header. The bytes belong to the connection and are valid only
 * during the callback, unless taken with net_response_take_frame(). */
typedef struct net_response {
    int16_t api_key;
    int16_t version;
    int32_t correlation_id;
    buf_reader body;
    uint8_t *frame; /* the whole frame after the size prefix */
    size_t frame_len;
    bool frame_owned; /* internal: frame is a private allocation */
} net_response;

/* Returns a malloc'd buffer holding the frame (the caller frees it); `body`
 * keeps pointing into the returned buffer. Copies only when the frame shares
 * the connection's read buffer. NULL on allocation failure. */
uint8_t *net_response_take_frame(net_response *resp);

typedef gregor_err (*net_encode_fn)(buf_writer *w, int16_t version, void *opaque);
typedef void (*net_done_fn)(gregor_err err, net_response *resp, void *opaque);

typedef struct net_request {
    int16_t api_key;
    int16_t min_version; /* the range this caller can encode and decode */
    int16_t max_version;
    net_encode_fn encode; /* writes the body for the chosen version */
    net_done_fn done;     /* exactly once; resp is NULL unless err == OK */
    void *opaque;         /* borrowed; must stay valid until done runs */
    int32_t timeout_ms;   /* 0: the connection's request_timeout_ms */
    bool no_response;     /* Produce acks=0: done runs once the bytes are written */
} net_request;

/* Called on every state change, and with the reason when a connection or
 * handshake fails. */
typedef void (*net_conn_state_fn)(net_conn *c, net_conn_state state, gregor_err why, void *arg);

/* Creates an IDLE connection to host:port (both copied). It connects when
 * the first request arrives or on net_conn_connect(). */
gregor_err net_conn_new(net_loop *loop, int32_t node_id, const char *host, int port,
                        const net_conn_config *cfg, net_conn_state_fn on_state, void *arg,
                        net_conn **out) GREGOR_MUST_CHECK;

/* Queues a request (copied); see the contract at the top. Returns NOMEM,
 * without calling done, only when the request could not be queued. */
gregor_err net_conn_send(net_conn *c, const net_request *req) GREGOR_MUST_CHECK;

/* Starts connecting now if IDLE (no-op otherwise). */
void net_conn_connect(net_conn *c);

/* Fails everything with DESTROYED, closes the socket and frees the connection
 * after the current loop iteration. Idempotent; `c` must not be used after. */
void net_conn_close(net_conn *c);

net_conn_state net_conn_get_state(const net_conn *c);
int32_t net_conn_node_id(const net_conn *c);
/* Why the last failure happened, in words ("Connection refused", "closed by
 * the broker"); "" when nothing more than the error code is known. Valid in
 * the state callback and until the next failure. */
const char *net_conn_fail_detail(const net_conn *c);
const char *net_conn_host(const net_conn *c);
int net_conn_port(const net_conn *c);
/* Versions the broker supports (valid once UP; NULL before). */
const net_versions *net_conn_versions(const net_conn *c);
/* The pre-0.10 release whose profile the connection uses ("0.8.2",
 * "0.9.0"), configured or detected; NULL when it negotiates (or does not
 * know yet). */
const char *net_conn_legacy_release(const net_conn *c);
/* Requests queued or in flight. */
size_t net_conn_outstanding(const net_conn *c);
/* What a connection counts, for metrics: updated on the loop thread
 * (relaxed atomics), read from any thread. Several connections may count
 * into one (the owner decides; cluster.c keeps one per broker and
 * purpose, across reconnects). */
typedef struct net_conn_stats {
    atomic_uint_fast64_t requests;   /* requests answered by the broker */
    atomic_uint_fast64_t errors;     /* requests ended without an answer (timed out, disconnected,
                                      * connect failed, no common version...); not DESTROYED */
    atomic_uint_fast64_t connects;   /* times the connection came UP */
    atomic_uint_fast64_t failures;   /* times it failed (connect, handshake or a broken socket) */
    atomic_uint_fast64_t rtt_us_sum; /* write to answer, over answered requests but those the broker
                                      * holds by design (Fetch, JoinGroup, SyncGroup) */
    atomic_uint_fast64_t rtt_count;
} net_conn_stats;

/* Where `c` counts from now on (borrowed: must outlive the connection;
 * NULL: nowhere, the default). (loop, or before the first request) */
void net_conn_set_stats(net_conn *c, net_conn_stats *stats);

/* Changes the address (broker moved); reconnects if connected. */
gregor_err net_conn_set_address(net_conn *c, const char *host, int port) GREGOR_MUST_CHECK;

#endif
