/* cluster/cluster.h — the live, ZooKeeper-free model of a Kafka cluster.
 *
 * Starts from a bootstrap list ("host:port,host:port"; any entry may be down
 * or unresolvable), learns brokers, topics, partitions and leaders from
 * Metadata responses, and keeps that picture current:
 *   - refreshed every `metadata_refresh_ms`;
 *   - refreshed soon (no more often than every `metadata_fast_refresh_ms`)
 *     when asked to (an error that invalidates metadata), when a connection
 *     to a known broker fails, and while a topic of interest has a partition
 *     without a leader or is not known yet;
 *   - brokers that disappear lose their connection, brokers that change
 *     address reconnect to the new one, new brokers and partitions appear
 *     in the next snapshot.
 * Readers on any thread get consistent immutable snapshots (snapshot.h).
 *
 * The cluster also owns the connections to brokers (plus bootstrap
 * connections until the first answer) and routes requests to them: one per
 * broker and purpose (cluster_conn_kind), so that a request a broker holds
 * (a long-poll Fetch, a JoinGroup) never delays another purpose's requests.
 *
 * Threading: functions marked (loop) run on the loop thread only; the others
 * may be called from any thread. cluster_call() blocks and must not run on
 * the loop thread.
 */
#ifndef GREGOR_CLUSTER_CLUSTER_H
#define GREGOR_CLUSTER_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cluster/snapshot.h"
#include "gregor/client.h"
#include "gregor/error.h"
#include "net/conn.h"
#include "net/loop.h"
#include "net/versions.h"

typedef struct cluster cluster;

typedef struct cluster_config {
    const char *bootstrap;            /* copied by cluster_new */
    net_conn_config conn;             /* per-broker connection settings */
    int32_t metadata_refresh_ms;      /* periodic refresh (300000) */
    int32_t metadata_fast_refresh_ms; /* minimum gap between triggered refreshes (250) */
    bool all_topics;                  /* refresh every topic, not just the interest set */
    bool allow_auto_create_topics;    /* Metadata v4+ AllowAutoTopicCreation (false) */
} cluster_config;

void cluster_config_defaults(cluster_config *cfg);

/* Parses the bootstrap list and prepares the model; connects nothing yet.
 * CONFIG with a message in errstr for an empty or malformed list. */
gregor_err cluster_new(net_loop *loop, const cluster_config *cfg, cluster **out, char *errstr,
                       size_t errstr_size) GREGOR_MUST_CHECK;
/* Starts the first refresh. Any thread. */
gregor_err cluster_start(cluster *c) GREGOR_MUST_CHECK;
/* Closes every connection and cancels timers. Any thread but the loop's;
 * blocks until done. Idempotent. */
void cluster_shutdown(cluster *c);
/* Frees the model; call after cluster_shutdown() and after the loop has
 * stopped (so that connection clean-up jobs have run). NULL does nothing. */
void cluster_free(cluster *c);

/* The newest snapshot with a reference for the caller (unref it), or NULL
 * before the first Metadata answer. */
cluster_snapshot *cluster_snapshot_get(cluster *c);

/* Waits until a snapshot newer than `after_generation` exists (0: any),
 * then returns it referenced. On timeout returns the last connection or
 * broker error (or TIMED_OUT) and, in errstr, what failed and where. */
gregor_err cluster_wait_snapshot(cluster *c, uint64_t after_generation, int32_t timeout_ms,
                                 cluster_snapshot **out, char *errstr, size_t errstr_size) GREGOR_MUST_CHECK;

/* The most recent connection or broker failure (GREGOR_OK when the last
 * refresh worked), with a message naming the broker, in errstr. */
gregor_err cluster_last_error(cluster *c, char *errstr, size_t errstr_size);

/* Asks for a refresh soon. Any thread. */
void cluster_request_refresh(cluster *c);

/* From now on every refresh asks for every topic (a pattern subscription
 * must see topics as they appear); refreshes now if that is new. Any thread. */
void cluster_want_all_topics(cluster *c);

/* Adds topics to the interest set (names copied); refreshes if any is new. */
gregor_err cluster_add_topics(cluster *c, const char *const *names, size_t n) GREGOR_MUST_CHECK;

/* What a broker connection is for. A broker serves one connection's
 * requests in order, so each purpose gets its own connection: group
 * coordinator requests never queue behind a long-poll Fetch (as the Java
 * client's coordinator connection). */
typedef enum cluster_conn_kind {
    CLUSTER_CONN_DATA,        /* metadata, produce, fetch, list offsets */
    CLUSTER_CONN_COORDINATOR, /* requests to a group coordinator (commits, offset fetches) */
    CLUSTER_CONN_MEMBER,      /* a group member's JoinGroup/SyncGroup/Heartbeat: a JoinGroup the broker
                               * holds for a whole rebalance never delays a commit */
} cluster_conn_kind;

/* A connection kind of its own for one group member (CLUSTER_CONN_MEMBER
 * and up): members sharing a client must not share the connection a
 * JoinGroup may hold for a whole rebalance. Any thread. */
cluster_conn_kind cluster_new_member_kind(cluster *c);

/* Closes every connection of a member's `kind`: requests in flight on them
 * (a JoinGroup or SyncGroup the broker holds for a rebalance) end at once
 * with DESTROYED. A later request of that kind opens a new connection. Any
 * thread but the I/O thread; returns once they are closed. */
void cluster_close_kind(cluster *c, cluster_conn_kind kind);

/* (loop) The connection of `kind` to broker `node_id`, created on first use
 * from the current snapshot's address; NULL when the broker is not known.
 * Every kind is closed when the broker leaves the metadata and follows its
 * address changes. */
net_conn *cluster_conn_of(cluster *c, int32_t node_id, cluster_conn_kind kind);
/* (loop) cluster_conn_of(c, node_id, CLUSTER_CONN_DATA). */
net_conn *cluster_conn(cluster *c, int32_t node_id);

/* (loop) A data connection good for any request: an UP one if there is
 * one, otherwise the next known broker or bootstrap entry in turn. */
net_conn *cluster_any_conn(cluster *c);

/* The counters of the connections to one broker for one purpose (every
 * member's connection counts as "member"), summed over every connection
 * the cluster made for them, reconnects included; for metrics. */
typedef gregor_broker_stats cluster_conn_stats; /* the public struct (gregor/client.h) */

/* Copies the counters of every broker and purpose the cluster has
 * connected to (a malloc'd array the caller frees, *n entries; NULL and 0
 * when none). NOMEM. Any thread. */
gregor_err cluster_conn_stats_get(cluster *c, cluster_conn_stats **out, size_t *n) GREGOR_MUST_CHECK;

/* A blocking request for tools and tests. The request goes to `node_id`, or
 * to any broker when node_id is -1. On GREGOR_OK, `frame` (malloc'd, the
 * caller frees it) holds the response and `body` reads it from after the
 * response header; `versions` is the broker's table when it was known. */
typedef struct cluster_reply {
    uint8_t *frame;
    buf_reader body;
    int16_t version;
    int32_t node_id;
    net_versions versions;
    bool have_versions;
} cluster_reply;

gregor_err cluster_call(cluster *c, int32_t node_id, const net_request *req, cluster_reply *out) GREGOR_MUST_CHECK;
/* cluster_call() on the connection of `kind` (node_id must be >= 0 unless
 * kind is CLUSTER_CONN_DATA). INVALID_ARG when the broker is not known. */
gregor_err cluster_call_on(cluster *c, int32_t node_id, cluster_conn_kind kind, const net_request *req,
                           cluster_reply *out) GREGOR_MUST_CHECK;

#endif
