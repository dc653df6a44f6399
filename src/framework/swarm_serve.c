/* framework/swarm_serve.c — glue between the swarm and the metrics
 * endpoint (swarm_serve.h). Compiled against metrics.h / http.h when they
 * are in the tree (the metrics work), as stubs otherwise, so that either
 * branch builds alone and the two fit once merged. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "framework/swarm_serve.h"

#if __has_include("framework/http.h") && __has_include("framework/metrics.h")
#include "framework/http.h"
#include "framework/metrics.h"

gregor_err fw_swarm_serve_start(fw_swarm_metrics *m, const fw_run_options *opt, void **out, char *err,
                                size_t err_size)
{
    *out = NULL;
    if (!opt || opt->metrics_port <= 0)
        return GREGOR_OK;
    fw_http_handlers h = {.metrics = fw_swarm_metrics_http_body, .ready = fw_swarm_metrics_http_ready, .arg = m};
    fw_http *srv = NULL;
    gregor_err e = fw_http_start(opt->metrics_bind, (uint16_t)opt->metrics_port, &h, &srv, err, err_size);
    if (!e) {
        fprintf(stderr, "gregor run: metrics of the %s on http://%s:%u/metrics\n", "worker processes",
                opt->metrics_bind && *opt->metrics_bind ? opt->metrics_bind : "0.0.0.0", (unsigned)fw_http_port(srv));
        *out = srv;
    }
    return e;
}

void fw_swarm_serve_stop(void *server)
{
    fw_http_stop(server);
}

static gregor_err render(fw_supervisor *sup, char **out, size_t *len)
{
    fw_buf b;
    buf_writer_init(&b, FW_HTTP_BODY_MAX_BYTES);
    gregor_err e = fw_metrics_render(sup, &b);
    *out = e ? NULL : (char *)buf_writer_steal(&b, len);
    buf_writer_fini(&b);
    return e;
}

fw_swarm_metrics_fn fw_swarm_child_metrics_fn(void)
{
    return render;
}

bool fw_swarm_child_sup_ready(fw_supervisor *sup)
{
    return fw_supervisor_ready(sup);
}

#else

gregor_err fw_swarm_serve_start(fw_swarm_metrics *m, const fw_run_options *opt, void **out, char *err,
                                size_t err_size)
{
    (void)m;
    (void)opt;
    (void)err;
    (void)err_size;
    *out = NULL;
    return GREGOR_OK;
}

void fw_swarm_serve_stop(void *server)
{
    (void)server;
}

fw_swarm_metrics_fn fw_swarm_child_metrics_fn(void)
{
    return NULL;
}

bool fw_swarm_child_sup_ready(fw_supervisor *sup)
{
    (void)sup;
    return true;
}

#endif
