/* net/conn_handshake.c — a connection's handshake: ApiVersions (retried
 * once with the broker's own maximum when it answers UNSUPPORTED_VERSION),
 * a fixed profile (broker_version, or one detected before), and the probe
 * that tells a 0.8 broker from a 0.9 one when ApiVersions is refused (see
 * conn.h). conn.c calls in here when the socket is connected, when a
 * handshake answer arrives and when the connection fails mid-handshake.
 *
 * Threading: the connection's loop thread.
 */
#include <stdlib.h>
#include <string.h>

#include "net/conn_int.h"
#include "protocol/gen/api.h"
#include "protocol/gen/api_versions.h"
#include "protocol/gen/errors.h"
#include "protocol/gen/list_groups.h"
#include "protocol/gen/list_offsets.h"
#include "util/arena.h"
#include "util/log.h"

#define CLIENT_SOFTWARE_NAME "gregor"
#define CLIENT_SOFTWARE_VERSION "0.1.0"
/* The probe's last ApiVersions: a broker that has just answered two requests
 * and then leaves this one unanswered for 2 s, and for 10 times as long as
 * those two took, is a 0.9 one (ApiVersions costs a broker less than
 * ListGroups). */
#define PROBE_API_VERSIONS_TIMEOUT_MS 2000
#define PROBE_API_VERSIONS_RTT_FACTOR 10

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

static gregor_err encode_probe_offsets(buf_writer *w, int16_t version, void *opaque)
{
    (void)opaque;
    proto_list_offsets_request req; /* no topics: an empty answer */
    proto_list_offsets_request_init(&req);
    req.replica_id = -1;
    return proto_list_offsets_request_encode(w, version, &req);
}

static gregor_err encode_probe_groups(buf_writer *w, int16_t version, void *opaque)
{
    (void)opaque;
    proto_list_groups_request req;
    proto_list_groups_request_init(&req);
    return proto_list_groups_request_encode(w, version, &req);
}

/* Writes one internal request; false (the connection failed) when it could
 * not be queued. */
static bool send_internal(net_conn *c, internal_req kind)
{
    pending_req *r = calloc(1, sizeof *r);
    if (!r) {
        conn_fail_detail(c, GREGOR_ERR_NOMEM, "out of memory for the handshake");
        return false;
    }
    r->internal = kind;
    r->deadline_ms = c->state_deadline_ms;
    switch (kind) {
    case REQ_PROBE_OFFSETS:
        r->req.api_key = PROTO_API_LIST_OFFSETS;
        r->req.encode = encode_probe_offsets;
        break;
    case REQ_PROBE_GROUPS:
        r->req.api_key = PROTO_API_LIST_GROUPS;
        r->req.encode = encode_probe_groups;
        break;
    default:
        r->req.api_key = PROTO_API_API_VERSIONS;
        r->req.encode = encode_api_versions;
        r->version = c->api_versions_version;
        break;
    }
    if (!conn_write_frame(c, r)) {
        free(r);
        conn_fail_detail(c, GREGOR_ERR_NOMEM, "out of memory for the handshake");
        return false;
    }
    conn_fifo_push(&c->fly, r);
    return true;
}

static void send_handshake(net_conn *c)
{
    if (send_internal(c, REQ_API_VERSIONS))
        conn_flush_out(c);
}

/* The detection probe (see conn.h): three requests, each sent once the one
 * before was answered. Not pipelined: a broker closing on a request with
 * another one unread behind it resets the connection, and the reset can
 * overtake the answers we have not read yet. */
static void send_probe(net_conn *c)
{
    c->probe_answers = 0;
    c->probe_start_ms = net_now_ms();
    if (send_internal(c, REQ_PROBE_OFFSETS))
        conn_flush_out(c);
}

void conn_probe_answered(net_conn *c, internal_req kind)
{
    c->probe_answers++; /* any answer will do: the broker knows the API */
    if (kind == REQ_PROBE_GROUPS) {
        int64_t now = net_now_ms(), took = now - c->probe_start_ms;
        int64_t wait = took * PROBE_API_VERSIONS_RTT_FACTOR;
        int64_t d = now + (wait > PROBE_API_VERSIONS_TIMEOUT_MS ? wait : PROBE_API_VERSIONS_TIMEOUT_MS);
        if (d < c->state_deadline_ms)
            c->state_deadline_ms = d;
    }
    if (send_internal(c, kind == REQ_PROBE_OFFSETS ? REQ_PROBE_GROUPS : REQ_API_VERSIONS)) {
        conn_flush_out(c);
        conn_rearm_timer(c);
    }
}

void conn_begin_handshake(net_conn *c)
{
    const net_versions *fixed = c->cfg.fixed_versions;
    if (!fixed && !c->legacy && !c->probe_next)
        c->legacy = net_legacy_cache_get(c->cfg.legacy_cache, c->host, c->port);
    if (!fixed)
        fixed = c->legacy;
    if (fixed) {
        c->versions = *fixed;
        c->have_versions = true;
        conn_become_up(c);
        return;
    }
    conn_set_state(c, NET_CONN_HANDSHAKE, GREGOR_OK);
    if (c->probe_next)
        send_probe(c);
    else
        send_handshake(c);
}

/* Takes a pre-0.10 profile for this broker (see conn.h), remembers it and
 * reconnects at once, keeping the queued requests. */
static void use_legacy(net_conn *c, const net_versions *v, const char *how)
{
    gregor_log(GREGOR_LOG_INFO, "broker %d (%s:%d): Apache Kafka %s detected (%s): using its fixed API versions",
               c->node_id, c->host, c->port, net_versions_legacy_name(v), how);
    c->legacy = v;
    if (c->cfg.legacy_cache && net_legacy_cache_put(c->cfg.legacy_cache, c->host, c->port, v) != GREGOR_OK)
        gregor_log(GREGOR_LOG_DEBUG, "broker %d: the detected release could not be cached", c->node_id);
}

/* The ApiVersions answer. An UNSUPPORTED_VERSION answer is encoded as v0
 * and names the range the broker takes; retry once with its maximum. */
void conn_handle_handshake(net_conn *c, net_response *resp)
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
    c->probe_next = false; /* a broker that dropped one connection, not a legacy one */
    conn_become_up(c);
}

/* The broker closed the connection during the handshake, or left a
 * handshake request unanswered (`why` DISCONNECTED or TIMED_OUT; see
 * conn.h), after answering `answers` probe requests. 0.8 closes the
 * connection on an API it does not know; 0.9 logs an exception and never
 * answers. Returns true when the next connection should follow at once: to
 * probe, or with the profile just found. */
bool conn_detect_step(net_conn *c, int answers, gregor_err why)
{
    if (!c->probe_next) { /* ApiVersions refused */
        if (c->cfg.fallback_versions) {
            gregor_log(GREGOR_LOG_INFO,
                       "broker %d (%s:%d) %s ApiVersions: using the broker_version_fallback profile (%s)",
                       c->node_id, c->host, c->port,
                       why == GREGOR_ERR_TIMED_OUT ? "did not answer" : "closed the connection on",
                       net_versions_legacy_name(c->cfg.fallback_versions));
            c->legacy = c->cfg.fallback_versions;
            return true;
        }
        gregor_log(GREGOR_LOG_DEBUG, "broker %d (%s:%d) %s ApiVersions: probing", c->node_id, c->host,
                   c->port, why == GREGOR_ERR_TIMED_OUT ? "did not answer" : "closed the connection on");
        c->probe_next = true;
        return true;
    }
    c->probe_next = false;
    if (answers == 1 && why == GREGOR_ERR_DISCONNECTED) {
        use_legacy(c, net_versions_legacy("0.8.2"),
                   "ApiVersions and ListGroups refused, ListOffsets v0 answered");
        return true;
    }
    if (answers == 2) {
        use_legacy(c, net_versions_legacy("0.9.0"),
                   why == GREGOR_ERR_TIMED_OUT ? "ListGroups v0 answered, ApiVersions never"
                                               : "ListGroups v0 answered, ApiVersions refused");
        return true;
    }
    gregor_log(GREGOR_LOG_DEBUG, "broker %d (%s:%d): release probe inconclusive (%d answers): starting over",
               c->node_id, c->host, c->port, answers);
    return false;
}
