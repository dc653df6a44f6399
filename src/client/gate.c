/* client/gate.c — the in-flight request count of one owner on a (shared)
 * client; see gate.h. */
#include "client/gate.h"

#include <stdlib.h>

typedef struct gated {
    client_gate *g;
    net_encode_fn encode;
    net_done_fn done;
    void *opaque;
} gated;

gregor_err client_gate_init(client_gate *g)
{
    g->n = 0;
    if (pthread_mutex_init(&g->lock, NULL) != 0)
        return GREGOR_ERR_NOMEM;
    if (pthread_cond_init(&g->cond, NULL) != 0) {
        pthread_mutex_destroy(&g->lock);
        return GREGOR_ERR_NOMEM;
    }
    return GREGOR_OK;
}

void client_gate_fini(client_gate *g)
{
    pthread_cond_destroy(&g->cond);
    pthread_mutex_destroy(&g->lock);
}

static gregor_err gated_encode(buf_writer *w, int16_t version, void *opaque)
{
    gated *x = opaque;
    return x->encode(w, version, x->opaque);
}

static void gated_done(gregor_err err, net_response *resp, void *opaque)
{
    gated *x = opaque;
    client_gate *g = x->g;
    x->done(err, resp, x->opaque);
    free(x);
    /* The last touch of the owner's memory: after the unlock its destroy
     * may go on and free `g`. */
    pthread_mutex_lock(&g->lock);
    if (--g->n == 0)
        pthread_cond_broadcast(&g->cond);
    pthread_mutex_unlock(&g->lock);
}

gregor_err client_gate_send(client_gate *g, net_conn *conn, const net_request *req)
{
    gated *x = malloc(sizeof *x);
    if (!x)
        return GREGOR_ERR_NOMEM;
    *x = (gated){g, req->encode, req->done, req->opaque};
    net_request r = *req;
    r.encode = gated_encode;
    r.done = gated_done;
    r.opaque = x;
    pthread_mutex_lock(&g->lock);
    g->n++;
    pthread_mutex_unlock(&g->lock);
    gregor_err err = net_conn_send(conn, &r);
    if (err != GREGOR_OK) {
        pthread_mutex_lock(&g->lock);
        g->n--;
        pthread_mutex_unlock(&g->lock);
        free(x);
    }
    return err;
}

void client_gate_wait(client_gate *g)
{
    pthread_mutex_lock(&g->lock);
    while (g->n > 0)
        pthread_cond_wait(&g->cond, &g->lock);
    pthread_mutex_unlock(&g->lock);
}
