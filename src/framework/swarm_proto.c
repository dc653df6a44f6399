/* framework/swarm_proto.c — the swarm's region layout and socket frames
 * (swarm_proto.h). The reader keeps undelivered bytes at the front of its
 * buffer: a frame handed out stays valid until the next call. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "framework/swarm_proto.h"

size_t fw_swarm_region_n_slots(const fw_config *cfg)
{
    size_t slots = 0;
    for (size_t i = 0; i < cfg->n_pipelines; i++)
        slots += (size_t)cfg->pipelines[i].threads;
    return slots;
}

size_t fw_swarm_region_bytes(const fw_config *cfg)
{
    return sizeof(fw_swarm_region_head) + cfg->n_pipelines * sizeof(int64_t) +
           fw_swarm_region_n_slots(cfg) * sizeof(fw_swarm_slot);
}

_Atomic int64_t *fw_swarm_region_polls(fw_swarm_region_head *h)
{
    return (_Atomic int64_t *)(h + 1);
}

fw_swarm_slot *fw_swarm_region_slots(fw_swarm_region_head *h, const fw_config *cfg)
{
    return (fw_swarm_slot *)((char *)(h + 1) + cfg->n_pipelines * sizeof(int64_t));
}

static gregor_err write_all(int fd, const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return GREGOR_ERR_IO;
        }
        p += w;
        n -= (size_t)w;
    }
    return GREGOR_OK;
}

gregor_err fw_frame_write(int fd, uint8_t type, const void *payload, size_t len)
{
    if (len + 1 > FW_FRAME_MAX_BYTES)
        return GREGOR_ERR_TOO_LARGE;
    uint32_t n = (uint32_t)(len + 1);
    uint8_t head[5] = {(uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n, type};
    gregor_err err = write_all(fd, head, sizeof head);
    if (!err && len)
        err = write_all(fd, payload, len);
    return err;
}

void fw_frame_reader_fini(fw_frame_reader *r)
{
    free(r->buf);
    *r = (fw_frame_reader){0};
}

static size_t frame_len(const uint8_t *p)
{
    return (size_t)p[0] << 24 | (size_t)p[1] << 16 | (size_t)p[2] << 8 | p[3];
}

gregor_err fw_frame_reader_fill(fw_frame_reader *r, int fd)
{
    for (;;) {
        if (r->cap - r->len < 65536) {
            size_t ncap = r->cap ? r->cap * 2 : 131072;
            if (ncap > FW_FRAME_MAX_BYTES + 65536 * 2)
                return GREGOR_ERR_TOO_LARGE;
            uint8_t *p = realloc(r->buf, ncap);
            if (!p)
                return GREGOR_ERR_NOMEM;
            r->buf = p;
            r->cap = ncap;
        }
        ssize_t n = recv(fd, r->buf + r->len, r->cap - r->len, MSG_DONTWAIT);
        if (n > 0) {
            r->len += (size_t)n;
            continue;
        }
        if (n == 0)
            return GREGOR_ERR_DISCONNECTED;
        if (errno == EINTR)
            continue;
        return errno == EAGAIN || errno == EWOULDBLOCK ? GREGOR_OK : GREGOR_ERR_IO;
    }
}

gregor_err fw_frame_next(fw_frame_reader *r, uint8_t *type, const uint8_t **payload, size_t *len)
{
    if (r->delivered) { /* the frame handed out last time goes now */
        memmove(r->buf, r->buf + r->delivered, r->len - r->delivered);
        r->len -= r->delivered;
        r->delivered = 0;
    }
    if (r->len < 5)
        return GREGOR_ERR_TRUNCATED;
    size_t n = frame_len(r->buf);
    if (n == 0 || n > FW_FRAME_MAX_BYTES)
        return GREGOR_ERR_TOO_LARGE;
    if (r->len < 4 + n)
        return GREGOR_ERR_TRUNCATED;
    *type = r->buf[4];
    *payload = r->buf + 5;
    *len = n - 1;
    r->delivered = 4 + n;
    return GREGOR_OK;
}
