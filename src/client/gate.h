/* client/gate.h — counts the requests one owner (a consumer or a producer)
 * has in flight on a client's connections, so that an owner built on a
 * shared client can wait for them to end before it frees what their
 * callbacks use; the client, and its connections, live on.
 *
 * A request sent through client_gate_send() carries a small wrapper
 * (malloc'd) whose done callback runs the owner's, then counts the request
 * out: after client_gate_wait() returns, no callback of the owner's runs or
 * will run.
 *
 * Threading: client_gate_send on the loop thread (as net_conn_send);
 * client_gate_wait on any thread but the loop's; `lock` guards `n`.
 */
#ifndef GREGOR_CLIENT_GATE_H
#define GREGOR_CLIENT_GATE_H

#include <pthread.h>
#include <stddef.h>

#include "net/conn.h"

typedef struct client_gate {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    size_t n; /* requests whose done has not returned yet */
} client_gate;

/* NOMEM when the condition variable cannot be made. */
gregor_err client_gate_init(client_gate *g) GREGOR_MUST_CHECK;
/* Requires no request in flight (after client_gate_wait, or the client's
 * connections closed). */
void client_gate_fini(client_gate *g);

/* net_conn_send() of `req` (copied), counted in `g`. NOMEM, without
 * calling done, when it could not be queued. (loop) */
gregor_err client_gate_send(client_gate *g, net_conn *conn, const net_request *req) GREGOR_MUST_CHECK;

/* Waits until every request sent through `g` has finished its done
 * callback. Each request has a deadline, so this ends. Not on the loop
 * thread. */
void client_gate_wait(client_gate *g);

#endif
