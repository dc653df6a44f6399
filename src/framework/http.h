/* framework/http.h — the metrics endpoint of `gregor run` (and of the
 * supervisor process of `gregor run --processes N`): a small HTTP/1.1
 * server (libmicrohttpd, one internal polling thread) answering
 *   GET /metrics  200, the body the `metrics` callback writes
 *                 (Content-Type text/plain; version=0.0.4), 500 when it fails
 *   GET /healthz  200 "ok" while the process runs
 *   GET /ready    200 "ready" when the `ready` callback says so, else 503
 *   anything else 404 (a method other than GET / HEAD: 405).
 * The server knows nothing of pipelines: what it serves comes from the
 * callbacks, so one process's metrics (fw_metrics_render) and the
 * aggregate of several (swarm) go through the same code.
 *
 * Threading: start / stop / port on one thread; the callbacks run on the
 * server's thread, one request at a time, while the server runs (stop
 * waits for a running callback). The listening socket is bound by
 * fw_http_start itself, so a port in use is an error at start.
 */
#ifndef GREGOR_FRAMEWORK_HTTP_H
#define GREGOR_FRAMEWORK_HTTP_H

#include <stdbool.h>
#include <stdint.h>

#include "gregor/error.h"
#include "util/buf.h"

typedef struct fw_http fw_http;

typedef struct fw_http_handlers {
    /* Appends the /metrics body to `out` (a growable writer; the server
     * owns it). Non-OK, or the writer's sticky error: 500. NULL: 404. */
    gregor_err (*metrics)(void *arg, buf_writer *out);
    /* Whether /ready answers 200. NULL: always 200. */
    bool (*ready)(void *arg);
    void *arg;  /* borrowed; must outlive the server */
} fw_http_handlers;

/* The largest /metrics body served (beyond it: 500). */
#define FW_HTTP_BODY_MAX_BYTES ((size_t)64 << 20)

/* Listens on `bind_addr` (NULL or "": every IPv4 address; an IPv4 or IPv6
 * literal or a host name that resolves) and `port` (0: a free port, see
 * fw_http_port) and starts serving. `h` is copied. Errors, with errstr
 * naming the address: UNSUPPORTED (libmicrohttpd.so.12 cannot be loaded:
 * errstr says why), RESOLVE (bind_addr does not resolve), IO (socket,
 * bind: "address already in use", listen), NOMEM, STATE (the server
 * thread could not start). Nothing runs then. */
gregor_err fw_http_start(const char *bind_addr, uint16_t port, const fw_http_handlers *h, fw_http **out,
                         char *errstr, size_t errstr_size) GREGOR_MUST_CHECK;

/* The port the server listens on (the chosen one when started with 0). */
uint16_t fw_http_port(const fw_http *srv);

/* Stops serving (waits for a request in progress), closes the socket and
 * frees. NULL does nothing. */
void fw_http_stop(fw_http *srv);

#endif
