/* client/client.h — the inside of a gregor_client, for the layers built on
 * it (producer, consumer, tools).
 *
 * Lifetime: reference counted. The application's handle is one reference
 * (gregor_client_destroy drops it); each producer or consumer built on the
 * client holds another. The last one closes the connections and stops the
 * I/O thread.
 *
 * Threading: the fields are set at creation and read-only afterwards
 * (`refs` is atomic); the loop and cluster have their own rules
 * (net/loop.h, cluster/cluster.h).
 */
#ifndef GREGOR_CLIENT_CLIENT_H
#define GREGOR_CLIENT_CLIENT_H

#include <stdatomic.h>

#include "cluster/cluster.h"
#include "gregor/client.h"
#include "net/loop.h"

struct gregor_client {
    gregor_config *cfg; /* owned copy */
    net_loop *loop;
    cluster *cluster;
    atomic_int refs;
};

/* Takes a reference (a producer or consumer built on `c`); returns c. Any
 * thread. gregor_client_destroy() drops one. */
gregor_client *client_ref(gregor_client *c);

/* Translates the connection and cluster options of `cfg` (borrowed: the
 * strings in `cc` point into it). CONFIG with errstr on inconsistent values. */
gregor_err client_cluster_config(const gregor_config *cfg, cluster_config *cc, char *errstr,
                                 size_t errstr_size) GREGOR_MUST_CHECK;

/* Sends `req` to broker `node_id` (-1: any) and waits for the response,
 * moving on to the next broker after connection failures, for at most
 * timeout_ms in all. On failure errstr says what failed and where. */
gregor_err client_call_any(gregor_client *c, int32_t node_id, net_request *req, int32_t timeout_ms,
                           cluster_reply *reply, char *errstr, size_t errstr_size) GREGOR_MUST_CHECK;

/* True once a snapshot that lists broker `node_id` exists, asking for one
 * fresh snapshot (waiting until `deadline`, net_now_ms clock) when the
 * current one does not. Any thread but the loop's. */
bool client_wait_broker(gregor_client *c, int32_t node_id, int64_t deadline);

#endif
