/* framework/http.c — the metrics endpoint (http.h) on libmicrohttpd.
 *
 * libmicrohttpd is loaded with dlopen() the first time an endpoint starts,
 * not linked: libgregor's dependencies stay what they were, so a fully
 * static program can still link it (Debian's libmicrohttpd needs GnuTLS,
 * which has no static archive), and only a process that serves metrics
 * needs the library installed. Its ABI is the soname's (12 since 2014).
 *
 * The listening socket is bound here (not by libmicrohttpd) so that a bad
 * address or a port in use is reported with the system's reason before
 * anything runs; the daemon gets it through MHD_OPTION_LISTEN_SOCKET and
 * closes it when stopped. Requests are tiny and rare (a scrape every few
 * seconds), so one internal polling thread and small limits suffice. */
#include <dlfcn.h>
#include <errno.h>
#include <microhttpd.h>
#include <pthread.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "framework/http.h"
#include "util/errstr.h"
#include "util/log.h"

/* The functions used, looked up once (mhd_once); `loaded` false with
 * `why` when the library or one of them is missing. */
static struct {
    bool loaded;
    char why[300];
    __typeof__(MHD_start_daemon) *start_daemon;
    __typeof__(MHD_stop_daemon) *stop_daemon;
    __typeof__(MHD_create_response_from_buffer_with_free_callback) *create_response;
    __typeof__(MHD_add_response_header) *add_response_header;
    __typeof__(MHD_queue_response) *queue_response;
    __typeof__(MHD_destroy_response) *destroy_response;
} mhd;
static pthread_once_t mhd_once = PTHREAD_ONCE_INIT;

static void *mhd_sym(void *lib, const char *name)
{
    void *p = dlsym(lib, name);
    if (!p && !mhd.why[0])
        snprintf(mhd.why, sizeof mhd.why, "libmicrohttpd has no %s", name);
    return p;
}

static void mhd_load(void)
{
    /* Kept open for the life of the process: the endpoint may start again. */
    void *lib = dlopen("libmicrohttpd.so.12", RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        const char *e = dlerror();
        snprintf(mhd.why, sizeof mhd.why, "the metrics endpoint needs libmicrohttpd (libmicrohttpd.so.12): %s",
                 e ? e : "not found");
        return;
    }
    *(void **)&mhd.start_daemon = mhd_sym(lib, "MHD_start_daemon");
    *(void **)&mhd.stop_daemon = mhd_sym(lib, "MHD_stop_daemon");
    *(void **)&mhd.create_response = mhd_sym(lib, "MHD_create_response_from_buffer_with_free_callback");
    *(void **)&mhd.add_response_header = mhd_sym(lib, "MHD_add_response_header");
    *(void **)&mhd.queue_response = mhd_sym(lib, "MHD_queue_response");
    *(void **)&mhd.destroy_response = mhd_sym(lib, "MHD_destroy_response");
    mhd.loaded = !mhd.why[0];
}

struct fw_http {
    struct MHD_Daemon *daemon;
    fw_http_handlers h;
    uint16_t port;
};

static void mhd_log(void *arg, const char *fmt, va_list ap)
{
    (void)arg;
    char text[512];
    vsnprintf(text, sizeof text, fmt, ap);
    size_t n = strlen(text);
    while (n && (text[n - 1] == '\n' || text[n - 1] == '\r'))
        text[--n] = '\0';
    gregor_log(GREGOR_LOG_INFO, "metrics endpoint: %s", text);
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *type, void *body, size_t len,
                             bool owned)
{
    /* An owned body is free()d by the response; a constant one is not. */
    struct MHD_Response *r = mhd.create_response(len, body, owned ? free : NULL);
    if (!r) {
        if (owned)
            free(body);
        return MHD_NO;
    }
    enum MHD_Result ok = mhd.add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    if (ok == MHD_YES)
        ok = mhd.queue_response(c, status, r);
    mhd.destroy_response(r);
    return ok;
}

static enum MHD_Result reply_text(struct MHD_Connection *c, unsigned status, const char *text)
{
    return reply(c, status, "text/plain; charset=utf-8", (void *)text, strlen(text), false);
}

static enum MHD_Result serve_metrics(fw_http *srv, struct MHD_Connection *c)
{
    buf_writer w;
    buf_writer_init(&w, FW_HTTP_BODY_MAX_BYTES);
    gregor_err err = srv->h.metrics(srv->h.arg, &w);
    if (!err)
        err = w.err;
    if (err) {
        gregor_log(GREGOR_LOG_WARN, "metrics endpoint: rendering /metrics failed: %s", gregor_err_str(err));
        buf_writer_fini(&w);
        return reply_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "rendering the metrics failed\n");
    }
    size_t len = 0;
    uint8_t *body = buf_writer_steal(&w, &len);
    buf_writer_fini(&w);
    if (!body)
        return reply_text(c, MHD_HTTP_OK, "");
    return reply(c, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", body, len, true);
}

static enum MHD_Result on_request(void *arg, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    (void)version;
    (void)upload_data;
    (void)con_cls;
    fw_http *srv = arg;
    if (*upload_data_size) {
        *upload_data_size = 0; /* a body is ignored; the answer is queued once it has been read */
        return MHD_YES;
    }
    if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
        return reply_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET and HEAD\n");
    if (!strcmp(url, "/metrics") && srv->h.metrics)
        return serve_metrics(srv, c);
    if (!strcmp(url, "/healthz"))
        return reply_text(c, MHD_HTTP_OK, "ok\n");
    if (!strcmp(url, "/ready")) {
        bool ready = !srv->h.ready || srv->h.ready(srv->h.arg);
        return reply_text(c, ready ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, ready ? "ready\n" : "not ready\n");
    }
    return reply_text(c, MHD_HTTP_NOT_FOUND, "not found: the paths are /metrics, /healthz and /ready\n");
}

/* Binds and listens on the first address of bind_addr:port that works;
 * returns the socket, or -1 with errstr. */
static int listen_on(const char *bind_addr, uint16_t port, int *family, gregor_err *err, char *errstr,
                     size_t errstr_size)
{
    const char *host = bind_addr && *bind_addr ? bind_addr : "0.0.0.0";
    char service[8];
    snprintf(service, sizeof service, "%u", (unsigned)port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(host, service, &hints, &res);
    if (rc) {
        *err = GREGOR_ERR_RESOLVE;
        errstr_set(errstr, errstr_size, "metrics address %s: %s", host, gai_strerror(rc));
        return -1;
    }
    int fd = -1;
    int last_errno = 0;
    const char *what = "socket";
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            last_errno = errno;
            continue;
        }
        int one = 1;
        (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) || listen(fd, 64)) {
            last_errno = errno;
            what = "bind";
            close(fd);
            fd = -1;
            continue;
        }
        *family = ai->ai_family;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        *err = GREGOR_ERR_IO;
        errstr_set(errstr, errstr_size, "cannot listen on %s port %u (%s): %s", host, (unsigned)port, what,
                   strerror(last_errno));
    }
    return fd;
}

gregor_err fw_http_start(const char *bind_addr, uint16_t port, const fw_http_handlers *h, fw_http **out,
                         char *errstr, size_t errstr_size)
{
    *out = NULL;
    pthread_once(&mhd_once, mhd_load);
    if (!mhd.loaded) {
        errstr_set(errstr, errstr_size, "%s", mhd.why);
        return GREGOR_ERR_UNSUPPORTED;
    }
    fw_http *srv = calloc(1, sizeof *srv);
    if (!srv) {
        errstr_set(errstr, errstr_size, "out of memory");
        return GREGOR_ERR_NOMEM;
    }
    srv->h = *h;
    gregor_err err = GREGOR_OK;
    int family = AF_INET;
    int fd = listen_on(bind_addr, port, &family, &err, errstr, errstr_size);
    if (fd < 0)
        goto out_free;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
        srv->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                   : ((struct sockaddr_in *)&ss)->sin_port);
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG;
    if (family == AF_INET6)
        flags |= MHD_USE_IPv6;
    srv->daemon = mhd.start_daemon(flags, 0, NULL, NULL, on_request, srv, MHD_OPTION_LISTEN_SOCKET, fd,
                                   MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, MHD_OPTION_CONNECTION_LIMIT,
                                   (unsigned)64, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10, MHD_OPTION_END);
    if (!srv->daemon) {
        close(fd);
        err = GREGOR_ERR_STATE;
        errstr_set(errstr, errstr_size, "the HTTP server for %s port %u could not start",
                   bind_addr && *bind_addr ? bind_addr : "0.0.0.0", (unsigned)port);
        goto out_free;
    }
    *out = srv;
    return GREGOR_OK;
out_free:
    free(srv);
    return err;
}

uint16_t fw_http_port(const fw_http *srv)
{
    return srv->port;
}

void fw_http_stop(fw_http *srv)
{
    if (!srv)
        return;
    mhd.stop_daemon(srv->daemon);
    free(srv);
}
