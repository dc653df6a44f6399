/* net/poller_epoll.c — Linux epoll backend of net/poller.h. */
#include "net/poller.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

struct poller {
    int epfd;
};

gregor_err poller_new(poller **out)
{
    poller *p = malloc(sizeof *p);
    if (!p)
        return GREGOR_ERR_NOMEM;
    p->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (p->epfd < 0) {
        free(p);
        return GREGOR_ERR_IO;
    }
    *out = p;
    return GREGOR_OK;
}

void poller_destroy(poller *p)
{
    if (!p)
        return;
    close(p->epfd);
    free(p);
}

static uint32_t to_epoll(uint32_t events)
{
    return (events & POLLER_READ ? EPOLLIN : 0u) | (events & POLLER_WRITE ? EPOLLOUT : 0u);
}

gregor_err poller_add(poller *p, int fd, uint32_t events, void *arg)
{
    struct epoll_event ev = {.events = to_epoll(events), .data.ptr = arg};
    return epoll_ctl(p->epfd, EPOLL_CTL_ADD, fd, &ev) == 0 ? GREGOR_OK : GREGOR_ERR_IO;
}

gregor_err poller_modify(poller *p, int fd, uint32_t events, void *arg)
{
    struct epoll_event ev = {.events = to_epoll(events), .data.ptr = arg};
    return epoll_ctl(p->epfd, EPOLL_CTL_MOD, fd, &ev) == 0 ? GREGOR_OK : GREGOR_ERR_IO;
}

void poller_remove(poller *p, int fd)
{
    struct epoll_event ev = {0};
    (void)epoll_ctl(p->epfd, EPOLL_CTL_DEL, fd, &ev);
}

int poller_wait(poller *p, poller_event *out, int max, int timeout_ms)
{
    struct epoll_event evs[64];
    if (max > 64)
        max = 64;
    int n = epoll_wait(p->epfd, evs, max, timeout_ms);
    if (n < 0)
        return 0; /* EINTR: the loop re-checks its timers and retries */
    for (int i = 0; i < n; i++) {
        uint32_t e = evs[i].events, mine = 0;
        if (e & (EPOLLIN | EPOLLERR | EPOLLHUP | EPOLLRDHUP))
            mine |= POLLER_READ;
        if (e & (EPOLLOUT | EPOLLERR | EPOLLHUP))
            mine |= POLLER_WRITE;
        out[i].arg = evs[i].data.ptr;
        out[i].events = mine;
    }
    return n;
}
