/* tests/support/mock_broker.c — see mock_broker.h. */
#include "mock_broker.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "protocol/gen/api.h"
#include "protocol/gen/api_versions.h"
#include "protocol/gen/find_coordinator.h"
#include "protocol/gen/metadata.h"

#define MAX_CONNS 16

typedef struct mconn {
    int fd;
    int index;
    uint8_t *buf;
    size_t len, cap;
} mconn;

struct mock_broker {
    mock_handler handler;
    void *arg;
    int listen_fd;
    int port;
    int wake[2];
    pthread_t thread;
    atomic_int accepted;
    atomic_int requests;
    atomic_int by_key[128];
    atomic_bool stop;
    atomic_bool stop_listening;
    mconn conns[MAX_CONNS];
};

static void close_conn(mconn *c)
{
    close(c->fd);
    free(c->buf);
    memset(c, 0, sizeof *c);
    c->fd = -1;
}

static void send_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

/* Handles every complete frame in c->buf; false when the conn was closed. */
static bool handle_frames(mock_broker *m, mconn *c)
{
    size_t off = 0;
    while (c->len - off >= 4) {
        const uint8_t *p = c->buf + off;
        uint32_t size = ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
        if (c->len - off - 4 < size)
            break;
        buf_reader r;
        buf_reader_init(&r, p + 4, size);
        mock_request req = {0};
        req.api_key = buf_read_i16(&r);
        req.version = buf_read_i16(&r);
        req.correlation_id = buf_read_i32(&r);
        (void)buf_read_string(&r, true); /* client id */
        if (proto_api_get(req.api_key) && proto_request_header_version(req.api_key, req.version) >= 2)
            buf_skip_tags(&r);
        req.conn_index = c->index;
        req.body = r;
        off += 4 + size;
        atomic_fetch_add(&m->requests, 1);
        if (req.api_key >= 0 && req.api_key < 128)
            atomic_fetch_add(&m->by_key[req.api_key], 1);

        buf_writer body;
        buf_writer_init(&body, 64 << 20);
        mock_action a = m->handler(m->arg, &req, &body);
        if (a == MOCK_CLOSE) {
            buf_writer_fini(&body);
            close_conn(c);
            return false;
        }
        if (a == MOCK_RAW) {
            send_all(c->fd, body.data, body.len);
        } else if (a == MOCK_REPLY) {
            buf_writer out;
            buf_writer_init(&out, 64 << 20);
            size_t slot = buf_write_slot(&out, 4);
            buf_write_i32(&out, req.correlation_id);
            if (proto_api_get(req.api_key) && proto_response_header_version(req.api_key, req.version) >= 1)
                buf_write_empty_tags(&out);
            buf_write_raw(&out, body.data, body.len);
            buf_patch_i32(&out, slot, (int32_t)(out.len - 4));
            send_all(c->fd, out.data, out.len);
            buf_writer_fini(&out);
        }
        buf_writer_fini(&body);
    }
    memmove(c->buf, c->buf + off, c->len - off);
    c->len -= off;
    return true;
}

static void *serve(void *arg)
{
    mock_broker *m = arg;
    while (!atomic_load(&m->stop)) {
        struct pollfd pfd[MAX_CONNS + 2];
        int map[MAX_CONNS + 2];
        int n = 0;
        pfd[n] = (struct pollfd){.fd = m->wake[0], .events = POLLIN};
        map[n++] = -2;
        if (m->listen_fd >= 0) {
            pfd[n] = (struct pollfd){.fd = m->listen_fd, .events = POLLIN};
            map[n++] = -1;
        }
        for (int i = 0; i < MAX_CONNS; i++)
            if (m->conns[i].fd >= 0) {
                pfd[n] = (struct pollfd){.fd = m->conns[i].fd, .events = POLLIN};
                map[n++] = i;
            }
        if (poll(pfd, (nfds_t)n, 100) <= 0)
            continue;
        for (int k = 0; k < n; k++) {
            if (!(pfd[k].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            if (map[k] == -2) {
                char b[16];
                if (read(m->wake[0], b, sizeof b) < 0)
                    continue;
                if (atomic_load(&m->stop_listening) && m->listen_fd >= 0) {
                    close(m->listen_fd);
                    m->listen_fd = -1;
                }
                continue;
            }
            if (map[k] == -1) {
                int fd = accept(m->listen_fd, NULL, NULL);
                if (fd < 0)
                    continue;
                int slot = -1;
                for (int i = 0; i < MAX_CONNS && slot < 0; i++)
                    if (m->conns[i].fd < 0)
                        slot = i;
                if (slot < 0) {
                    close(fd);
                    continue;
                }
                m->conns[slot].fd = fd;
                m->conns[slot].index = atomic_fetch_add(&m->accepted, 1);
                continue;
            }
            mconn *c = &m->conns[map[k]];
            if (c->cap - c->len < 65536) {
                size_t cap = c->cap ? c->cap * 2 : 131072;
                uint8_t *b = realloc(c->buf, cap);
                if (!b) {
                    close_conn(c);
                    continue;
                }
                c->buf = b;
                c->cap = cap;
            }
            ssize_t r = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
            if (r <= 0) {
                close_conn(c);
                continue;
            }
            c->len += (size_t)r;
            handle_frames(m, c);
        }
    }
    return NULL;
}

mock_broker *mock_broker_start(mock_handler h, void *arg)
{
    mock_broker *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->handler = h;
    m->arg = arg;
    for (int i = 0; i < MAX_CONNS; i++)
        m->conns[i].fd = -1;
    m->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(m->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof a;
    if (bind(m->listen_fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(m->listen_fd, 16) != 0 ||
        getsockname(m->listen_fd, (struct sockaddr *)&a, &alen) != 0 || pipe(m->wake) != 0) {
        close(m->listen_fd);
        free(m);
        return NULL;
    }
    m->port = ntohs(a.sin_port);
    pthread_create(&m->thread, NULL, serve, m);
    return m;
}

int mock_broker_port(const mock_broker *m) { return m->port; }
int mock_broker_accepted(mock_broker *m) { return atomic_load(&m->accepted); }

int mock_broker_requests(mock_broker *m, int16_t key)
{
    return key < 0 ? atomic_load(&m->requests) : atomic_load(&m->by_key[key]);
}

void mock_broker_stop_listening(mock_broker *m)
{
    atomic_store(&m->stop_listening, true);
    if (write(m->wake[1], "x", 1) < 0)
        return;
}

void mock_broker_stop(mock_broker *m)
{
    if (!m)
        return;
    atomic_store(&m->stop, true);
    if (write(m->wake[1], "x", 1) < 0) {
        /* the poll timeout ends the loop anyway */
    }
    pthread_join(m->thread, NULL);
    for (int i = 0; i < MAX_CONNS; i++)
        if (m->conns[i].fd >= 0)
            close_conn(&m->conns[i]);
    if (m->listen_fd >= 0)
        close(m->listen_fd);
    close(m->wake[0]);
    close(m->wake[1]);
    free(m);
}

void mock_write_api_versions(buf_writer *reply, int16_t version)
{
    size_t n = proto_api_count();
    proto_api_versions_response resp;
    proto_api_versions_response_init(&resp);
    proto_api_versions_response_api_version *keys = calloc(n, sizeof *keys);
    for (size_t i = 0; i < n; i++) {
        const proto_api_info *info = &proto_api_all()[i];
        keys[i].api_key = info->key;
        keys[i].min_version = info->min_version;
        keys[i].max_version = info->max_version;
    }
    resp.api_keys = keys;
    resp.api_keys_count = (int32_t)n;
    (void)proto_api_versions_response_encode(reply, version, &resp);
    free(keys);
}

void mock_write_metadata(buf_writer *reply, int16_t version, int port, const char *topic, const uint8_t *topic_id,
                         int32_t partitions)
{
    proto_metadata_response r;
    proto_metadata_response_init(&r);
    proto_metadata_response_broker br;
    proto_metadata_response_broker_init(&br);
    br.node_id = 1;
    br.host = buf_slice_of("127.0.0.1", 9);
    br.port = port;
    int32_t replicas[1] = {1};
    proto_metadata_response_partition parts[64];
    if (partitions > 64)
        partitions = 64;
    for (int32_t i = 0; i < partitions; i++) {
        proto_metadata_response_partition_init(&parts[i]);
        parts[i].partition_index = i;
        parts[i].leader_id = 1;
        parts[i].replica_nodes = parts[i].isr_nodes = replicas;
        parts[i].replica_nodes_count = parts[i].isr_nodes_count = 1;
    }
    proto_metadata_response_topic t;
    proto_metadata_response_topic_init(&t);
    t.name = buf_slice_of(topic, strlen(topic));
    if (topic_id)
        memcpy(t.topic_id, topic_id, 16);
    t.partitions = parts;
    t.partitions_count = partitions;
    r.brokers = &br;
    r.brokers_count = 1;
    r.topics = &t;
    r.topics_count = 1;
    r.controller_id = 1;
    (void)proto_metadata_response_encode(reply, version, &r);
}

void mock_write_find_coordinator(buf_writer *reply, int16_t version, int port, const char *key)
{
    proto_find_coordinator_response r;
    proto_find_coordinator_response_init(&r);
    proto_find_coordinator_response_coordinator co;
    proto_find_coordinator_response_coordinator_init(&co);
    co.key = buf_slice_of(key, strlen(key));
    co.node_id = r.node_id = 1;
    co.host = r.host = buf_slice_of("127.0.0.1", 9);
    co.port = r.port = port;
    r.coordinators = &co;
    r.coordinators_count = 1;
    (void)proto_find_coordinator_response_encode(reply, version, &r);
}
