/* net/conn_int.h — what conn.c (connection, I/O, timers) and
 * conn_handshake.c (ApiVersions negotiation, and detection of the 0.8 and
 * 0.9 brokers that refuse it) share. Private to src/net/.
 *
 * Threading: everything here runs on the connection's loop thread.
 */
#ifndef GREGOR_NET_CONN_INT_H
#define GREGOR_NET_CONN_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "net/conn.h"
#include "net/resolve.h"
#include "util/buf.h"

/* Requests the connection makes for itself: nobody waits for them. */
typedef enum internal_req {
    REQ_USER = 0,
    REQ_API_VERSIONS,   /* the handshake */
    REQ_PROBE_OFFSETS,  /* detection: ListOffsets v0, in every release */
    REQ_PROBE_GROUPS    /* detection: ListGroups v0, added in 0.9 */
} internal_req;

typedef struct pending_req {
    struct pending_req *next;
    net_request req;
    int64_t deadline_ms;
    int32_t correlation_id;
    int16_t version;
    uint64_t end_byte; /* acks=0: completes once this many bytes were written */
    int64_t written_us; /* clock_mono_us() when framed into the output buffer (round trips) */
    gregor_err err;    /* for the done list */
    internal_req internal;
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
    char fail_detail[512]; /* why the last failure happened, for messages */
    net_conn_config cfg;
    net_conn_state_fn on_state;
    void *on_state_arg;

    net_conn_state state;
    int fd;
    net_watch watch;
    net_timer timer;
    int64_t state_deadline_ms; /* connect/handshake timeout or backoff end; 0: none */
    int32_t backoff_ms;

    net_resolve *resolve; /* resolution in progress, or NULL */
    net_addr addrs[NET_RESOLVE_ADDRS_MAX];
    size_t n_addrs, addr_i;
    char attempt_detail[256]; /* causes of the addresses tried so far */
    char last_cause[128];     /* the last one's cause alone */

    req_fifo wait, fly, unacked, done;
    net_job drain_job, free_job;
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
    const net_versions *legacy; /* fallback or detected pre-0.10 profile, or NULL */
    bool probe_next;            /* ApiVersions was refused: the next connection probes */
    int probe_answers;          /* probe requests answered on this connection */
    int64_t probe_start_ms;     /* when the probe's first request went out */
    int16_t api_versions_version;
    bool handshake_answered; /* the broker answered ApiVersions at least once */
    bool closing;
    bool in_dispatch;
    net_conn_stats *stats; /* NULL: nothing counted */
};

/* conn.c */
void conn_set_state(net_conn *c, net_conn_state s, gregor_err why);
/* The handshake is over (versions known): the connection is UP and sends. */
void conn_become_up(net_conn *c);
/* Appends one framed request to the output buffer; false when out of memory. */
bool conn_write_frame(net_conn *c, pending_req *r);
/* Writes as much of the output buffer as the socket takes. */
void conn_flush_out(net_conn *c);
void conn_fifo_push(req_fifo *f, pending_req *r);
void conn_rearm_timer(net_conn *c);
void conn_fail(net_conn *c, gregor_err why);
/* Fails the connection; `detail` (may be NULL) says why in words. */
void conn_fail_detail(net_conn *c, gregor_err why, const char *detail);

/* conn_handshake.c */
/* The socket is connected: ApiVersions, the probe, or a fixed profile. */
void conn_begin_handshake(net_conn *c);
/* The answer to the handshake's ApiVersions request. */
void conn_handle_handshake(net_conn *c, net_response *resp);
/* A probe request (kind) was answered: the next one goes out. */
void conn_probe_answered(net_conn *c, internal_req kind);
/* The broker closed or ignored a handshake request after `answers` probe
 * answers (why: DISCONNECTED or TIMED_OUT). True when the next connection
 * should follow at once: to probe, or with the profile just found. */
bool conn_detect_step(net_conn *c, int answers, gregor_err why);

#endif
