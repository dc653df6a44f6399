/* net/resolve.h — host name resolution that never blocks the loop thread.
 *
 * getaddrinfo() can take seconds (a slow or unreachable DNS server), and
 * the loop thread serves every connection of a client: a name is therefore
 * resolved on a short-lived thread of its own, which signals an eventfd
 * that the owner watches on the loop. Numeric addresses ("127.0.0.1",
 * "::1") are parsed at once, without a thread.
 *
 * A resolution is shared by its owner and its thread (two references): the
 * owner may release it at any time (a connection closed or timed out while
 * the resolver still waits for DNS); whichever side finishes last frees it.
 * Nothing in it points to the loop, so a resolver thread may outlive the
 * loop and the connection that started it.
 *
 * Threading: net_resolve_start/done/result/fd/release are for the owner's
 * thread (the loop); the resolver thread touches only the job.
 */
#ifndef GREGOR_NET_RESOLVE_H
#define GREGOR_NET_RESOLVE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "gregor/error.h"

#define NET_RESOLVE_ADDRS_MAX 16

/* One address to connect to, in the order the resolver returned them. */
typedef struct net_addr {
    struct sockaddr_storage sa;
    socklen_t len;
} net_addr;

/* A resolver: fills up to `max` addresses of host:port (TCP) in `out` and
 * returns how many; on failure returns 0 and writes the cause in `err`.
 * Runs on the resolver thread. The default uses getaddrinfo(); tests put
 * their own in net_conn_config. */
typedef size_t (*net_resolve_fn)(const char *host, int port, net_addr *out, size_t max, char *err,
                                 size_t err_size);

/* getaddrinfo(host, port, AF_UNSPEC, SOCK_STREAM): every address, IPv6 and
 * IPv4, in the system's order. */
size_t net_resolve_getaddrinfo(const char *host, int port, net_addr *out, size_t max, char *err,
                               size_t err_size);

typedef struct net_resolve net_resolve;

/* Starts resolving host:port with `fn` (NULL: net_resolve_getaddrinfo).
 * `host` is copied. On GREGOR_OK *out holds the owner's reference; the
 * answer may already be there (net_resolve_done). Errors: NOMEM, IO (no
 * eventfd or thread could be created). */
gregor_err net_resolve_start(const char *host, int port, net_resolve_fn fn,
                             net_resolve **out) GREGOR_MUST_CHECK;

/* A descriptor that becomes readable once the answer is there; -1 when
 * the answer was there from the start (net_resolve_done). */
int net_resolve_fd(const net_resolve *r);

/* Whether the answer is there. */
bool net_resolve_done(const net_resolve *r);

/* The answer, once done: the addresses (possibly none) and, when there are
 * none, the cause in words. Valid until net_resolve_release. */
const net_addr *net_resolve_result(const net_resolve *r, size_t *n, const char **err);

/* Drops the owner's reference (NULL does nothing). */
void net_resolve_release(net_resolve *r);

/* "[::1]:9092" or "127.0.0.1:9092", for messages. */
void net_addr_format(const net_addr *a, char *out, size_t out_size);

#endif
