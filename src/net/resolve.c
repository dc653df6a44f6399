/* net/resolve.c — see resolve.h.
 *
 * Data layout: one heap object per resolution holding the host, the answer
 * (up to NET_RESOLVE_ADDRS_MAX addresses or an error text), an eventfd and
 * an atomic reference count. The resolver thread writes the answer, then
 * publishes it with a release store of `done` and a write to the eventfd;
 * the owner reads it after an acquire load of `done`.
 *
 * Expected workload: one resolution per connection attempt to a broker
 * named by host name; numeric addresses (the common case in tests and in
 * most deployments' advertised listeners) never start a thread.
 */
#include "net/resolve.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

struct net_resolve {
    atomic_int refs;
    atomic_bool done;
    int efd;
    char *host;
    int port;
    net_resolve_fn fn;
    net_addr addrs[NET_RESOLVE_ADDRS_MAX];
    size_t n;
    char err[160];
};

size_t net_resolve_getaddrinfo(const char *host, int port, net_addr *out, size_t max, char *err,
                               size_t err_size)
{
    char service[16];
    snprintf(service, sizeof service, "%d", port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(host, service, &hints, &res);
    if (rc != 0) {
        snprintf(err, err_size, "%s", rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
        return 0;
    }
    size_t n = 0;
    for (struct addrinfo *ai = res; ai && n < max; ai = ai->ai_next) {
        if (ai->ai_addrlen > sizeof out[n].sa)
            continue;
        memcpy(&out[n].sa, ai->ai_addr, ai->ai_addrlen);
        out[n].len = (socklen_t)ai->ai_addrlen;
        n++;
    }
    freeaddrinfo(res);
    if (n == 0)
        snprintf(err, err_size, "no usable address");
    return n;
}

/* Fills the answer for a numeric host at once; false for a name. */
static bool parse_numeric(net_resolve *r)
{
    char service[16];
    snprintf(service, sizeof service, "%d", r->port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    if (getaddrinfo(r->host, service, &hints, &res) != 0 || !res)
        return false;
    if (res->ai_addrlen <= sizeof r->addrs[0].sa) {
        memcpy(&r->addrs[0].sa, res->ai_addr, res->ai_addrlen);
        r->addrs[0].len = (socklen_t)res->ai_addrlen;
        r->n = 1;
    }
    freeaddrinfo(res);
    return r->n == 1;
}

static void job_unref(net_resolve *r)
{
    if (atomic_fetch_sub_explicit(&r->refs, 1, memory_order_acq_rel) != 1)
        return;
    if (r->efd >= 0)
        close(r->efd);
    free(r->host);
    free(r);
}

static void publish(net_resolve *r)
{
    atomic_store_explicit(&r->done, true, memory_order_release);
    if (r->efd < 0)
        return; /* answered inline: nobody watches */
    uint64_t one = 1;
    ssize_t w = write(r->efd, &one, sizeof one);
    (void)w; /* a full counter is readable anyway */
}

static void *resolver_main(void *arg)
{
    net_resolve *r = arg;
    r->n = r->fn(r->host, r->port, r->addrs, NET_RESOLVE_ADDRS_MAX, r->err, sizeof r->err);
    if (r->n > NET_RESOLVE_ADDRS_MAX)
        r->n = NET_RESOLVE_ADDRS_MAX;
    if (r->n == 0 && !r->err[0])
        snprintf(r->err, sizeof r->err, "no address");
    publish(r);
    job_unref(r);
    return NULL;
}

gregor_err net_resolve_start(const char *host, int port, net_resolve_fn fn, net_resolve **out)
{
    net_resolve *r = calloc(1, sizeof *r);
    if (!r)
        return GREGOR_ERR_NOMEM;
    r->host = strdup(host);
    if (!r->host) {
        free(r);
        return GREGOR_ERR_NOMEM;
    }
    r->port = port;
    r->fn = fn ? fn : net_resolve_getaddrinfo;
    atomic_init(&r->refs, 1);
    atomic_init(&r->done, false);
    r->efd = -1;
    if (!fn && parse_numeric(r)) {
        publish(r);
        *out = r;
        return GREGOR_OK;
    }
    r->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (r->efd < 0) {
        free(r->host);
        free(r);
        return GREGOR_ERR_IO;
    }
    atomic_store(&r->refs, 2); /* the owner's and the thread's */
    pthread_attr_t attr;
    pthread_t t;
    int rc = pthread_attr_init(&attr);
    if (rc == 0) {
        (void)pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        rc = pthread_create(&t, &attr, resolver_main, r);
        pthread_attr_destroy(&attr);
    }
    if (rc != 0) {
        atomic_store(&r->refs, 1);
        job_unref(r);
        return GREGOR_ERR_IO;
    }
    *out = r;
    return GREGOR_OK;
}

int net_resolve_fd(const net_resolve *r) { return r->efd; }

bool net_resolve_done(const net_resolve *r)
{
    return atomic_load_explicit(&r->done, memory_order_acquire);
}

const net_addr *net_resolve_result(const net_resolve *r, size_t *n, const char **err)
{
    *n = r->n;
    *err = r->err;
    return r->addrs;
}

void net_resolve_release(net_resolve *r)
{
    if (r)
        job_unref(r);
}

void net_addr_format(const net_addr *a, char *out, size_t out_size)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    if (a->sa.ss_family == AF_INET6) {
        const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)&a->sa;
        inet_ntop(AF_INET6, &s->sin6_addr, ip, sizeof ip);
        snprintf(out, out_size, "[%s]:%u", ip, ntohs(s->sin6_port));
    } else if (a->sa.ss_family == AF_INET) {
        const struct sockaddr_in *s = (const struct sockaddr_in *)&a->sa;
        inet_ntop(AF_INET, &s->sin_addr, ip, sizeof ip);
        snprintf(out, out_size, "%s:%u", ip, ntohs(s->sin_port));
    } else {
        snprintf(out, out_size, "(address family %d)", a->sa.ss_family);
    }
}
