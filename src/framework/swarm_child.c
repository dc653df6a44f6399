/* framework/swarm_child.c — a swarm worker process's side (swarm_child.h):
 * the agent behind GREGOR_SWARM. One thread, the heartbeat thread, owns the
 * socket: every FW_SWARM_HEARTBEAT_MS it sends readiness and metrics, and
 * in between it waits for the supervisor's crash tables. The hooks write
 * the shared region (no lock: each worker thread owns its slot, each
 * member thread its poll time) and read the crash table under the agent's
 * lock, skipped while the table is empty.
 *
 * The agent is a process-wide singleton: a process runs one `gregor run`
 * at a time (run.h), and the hooks are called from deep inside the
 * pipelines, where passing it down would touch every signature. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "framework/fwlog.h"
#include "framework/swarm_child.h"
#include "framework/swarm_proto.h"
#include "framework/swarm_serve.h"
#include "framework/yaml_tree.h"
#include "util/clock.h"
#include "util/errstr.h"
#include "util/log.h"

typedef struct agent {
    const fw_config *cfg;
    int slot;
    int sock;
    fw_swarm_region_head *region;
    size_t region_bytes;
    _Atomic int64_t *polls;
    fw_swarm_slot *slots;
    atomic_uint next_slot;
    atomic_bool *joined;          /* per pipeline */
    pthread_mutex_t lock;
    fw_crash_table crashes;       /* (lock) */
    atomic_size_t n_crashes;      /* crashes.n, read without the lock */
    _Atomic(fw_supervisor *) sup;
    _Atomic(fw_swarm_metrics_fn) metrics_fn;
    int wake[2];                  /* a pipe: stop wakes the thread */
    pthread_t thread;
    bool thread_started;
} agent;

static agent *g_agent; /* set before any pipeline thread exists, cleared after they all ended */
static _Thread_local fw_swarm_slot *t_slot;
static _Thread_local bool t_slot_claimed;

static bool parse_env(const char *v, int *slot, int *sock, int *fd, size_t *bytes, int *config_fd)
{
    unsigned long long b = 0;
    int n = 0;
    if (sscanf(v, "%d:%d:%d:%llu:%d%n", slot, sock, fd, &b, config_fd, &n) != 5 || v[n] || *slot < 0 || *sock < 0 ||
        *fd < 0 || *config_fd < 0)
        return false;
    *bytes = (size_t)b;
    return true;
}

gregor_err fw_swarm_child_load(const char *path, fw_config **out, fw_diags *diags)
{
    const char *v = getenv(FW_SWARM_ENV);
    int slot, sock, fd, config_fd;
    size_t bytes;
    if (!v || !*v || !parse_env(v, &slot, &sock, &fd, &bytes, &config_fd))
        return fw_config_load(path, out, diags); /* a malformed GREGOR_SWARM is reported by start */
    *out = NULL;
    char *text = malloc(YT_MAX_BYTES + 1);
    if (!text)
        return GREGOR_ERR_NOMEM;
    size_t len = 0;
    ssize_t r;
    while (len < YT_MAX_BYTES + 1 && (r = pread(config_fd, text + len, YT_MAX_BYTES + 1 - len, (off_t)len)) != 0) {
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            fw_diags_add(diags, &(fw_loc){path, 0, 0}, "cannot read the text the swarm supervisor validated: %s",
                         strerror(errno));
            free(text);
            return GREGOR_ERR_IO;
        }
        len += (size_t)r;
    }
    close(config_fd);
    gregor_err err = fw_config_parse(path, text, len, out, diags);
    free(text);
    return err;
}

static bool all_joined(agent *a)
{
    fw_supervisor *sup = atomic_load(&a->sup);
    if (!sup || !fw_swarm_child_sup_ready(sup))
        return false;
    for (size_t i = 0; i < a->cfg->n_pipelines; i++)
        if (!atomic_load(&a->joined[i]))
            return false;
    return true;
}

static void send_heartbeat(agent *a)
{
    char *metrics = NULL;
    size_t len = 0;
    fw_supervisor *sup = atomic_load(&a->sup);
    fw_swarm_metrics_fn fn = atomic_load(&a->metrics_fn);
    if (sup && fn && fn(sup, &metrics, &len) != GREGOR_OK) {
        free(metrics);
        metrics = NULL;
        len = 0;
    }
    uint8_t *payload = malloc(1 + len);
    if (payload) {
        payload[0] = all_joined(a);
        if (len)
            memcpy(payload + 1, metrics, len);
        if (fw_frame_write(a->sock, FW_FRAME_HEARTBEAT, payload, 1 + len) != GREGOR_OK)
            gregor_log(GREGOR_LOG_WARN, "swarm child %d: heartbeat not sent: %s", a->slot, strerror(errno));
    }
    free(payload);
    free(metrics);
}

/* Reads what the supervisor sent. False when it is gone. */
static bool read_frames(agent *a, fw_frame_reader *r)
{
    gregor_err err = fw_frame_reader_fill(r, a->sock);
    for (;;) {
        uint8_t type;
        const uint8_t *p;
        size_t len;
        gregor_err e = fw_frame_next(r, &type, &p, &len);
        if (e == GREGOR_ERR_TRUNCATED)
            break;
        if (e) {
            gregor_log(GREGOR_LOG_ERROR, "swarm child %d: bad frame from the supervisor: %s", a->slot,
                       gregor_err_str(e));
            return false;
        }
        if (type != FW_FRAME_CRASHES)
            continue;
        pthread_mutex_lock(&a->lock);
        gregor_err de = fw_crash_decode(&a->crashes, p, len);
        atomic_store(&a->n_crashes, a->crashes.n);
        pthread_mutex_unlock(&a->lock);
        if (de)
            gregor_log(GREGOR_LOG_ERROR, "swarm child %d: crash table not understood: %s", a->slot,
                       gregor_err_str(de));
    }
    return err == GREGOR_OK;
}

static void *heartbeat_main(void *arg)
{
    agent *a = arg;
    fw_frame_reader r = {0};
    int64_t next = clock_mono_ms();
    for (;;) {
        int64_t now = clock_mono_ms();
        if (now >= next) {
            send_heartbeat(a);
            next = now + FW_SWARM_HEARTBEAT_MS;
        }
        struct pollfd fds[2] = {{.fd = a->sock, .events = POLLIN}, {.fd = a->wake[0], .events = POLLIN}};
        int n = poll(fds, 2, (int)(next - now > 0 ? next - now : 0));
        if (n < 0 && errno != EINTR)
            break;
        if (n > 0 && fds[1].revents)
            break;
        if (n > 0 && fds[0].revents && !read_frames(a, &r)) {
            fw_supervisor *sup = atomic_load(&a->sup);
            fprintf(stderr, "gregor run: swarm child %d: the supervisor is gone; stopping\n", a->slot);
            if (!sup)
                _exit(1); /* nothing started yet: nothing to drain */
            fw_supervisor_stop(sup);
            break;
        }
    }
    fw_frame_reader_fini(&r);
    return NULL;
}

static void agent_free(agent *a)
{
    if (a->region)
        munmap(a->region, a->region_bytes);
    if (a->wake[0] >= 0)
        close(a->wake[0]);
    if (a->wake[1] >= 0)
        close(a->wake[1]);
    fw_crash_table_fini(&a->crashes);
    pthread_mutex_destroy(&a->lock);
    free(a->joined);
    free(a);
}

gregor_err fw_swarm_child_start(const fw_config *cfg, char *errstr, size_t errstr_size)
{
    const char *v = getenv(FW_SWARM_ENV);
    if (!v || !*v)
        return GREGOR_OK;
    int slot, sock, fd, config_fd;
    size_t bytes;
    if (!parse_env(v, &slot, &sock, &fd, &bytes, &config_fd)) {
        errstr_set(errstr, errstr_size, "%s='%s' is not SLOT:SOCKFD:REGIONFD:BYTES:CONFIGFD", FW_SWARM_ENV, v);
        return GREGOR_ERR_CONFIG;
    }
    if (bytes != fw_swarm_region_bytes(cfg)) {
        errstr_set(errstr, errstr_size, "the swarm region has %zu bytes, this file needs %zu (changed meanwhile?)",
                   bytes, fw_swarm_region_bytes(cfg));
        return GREGOR_ERR_CONFIG;
    }
    agent *a = calloc(1, sizeof *a);
    if (!a)
        return GREGOR_ERR_NOMEM;
    a->cfg = cfg;
    a->slot = slot;
    fw_log_set_child(slot);
    a->sock = sock;
    a->wake[0] = a->wake[1] = -1;
    a->region_bytes = bytes;
    pthread_mutex_init(&a->lock, NULL);
    fw_crash_table_init(&a->crashes);
    a->joined = calloc(cfg->n_pipelines ? cfg->n_pipelines : 1, sizeof *a->joined);
    void *map = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (map == MAP_FAILED || !a->joined || pipe2(a->wake, O_CLOEXEC)) {
        errstr_set(errstr, errstr_size, "the swarm region or pipe: %s", strerror(errno));
        if (map != MAP_FAILED)
            munmap(map, bytes);
        agent_free(a);
        return GREGOR_ERR_IO;
    }
    a->region = map;
    a->region->n_pipelines = (uint32_t)cfg->n_pipelines;
    a->region->n_slots = (uint32_t)fw_swarm_region_n_slots(cfg);
    a->region->magic = FW_SWARM_REGION_MAGIC;
    a->polls = fw_swarm_region_polls(a->region);
    a->slots = fw_swarm_region_slots(a->region, cfg);
    fcntl(sock, F_SETFD, FD_CLOEXEC);
    if (pthread_create(&a->thread, NULL, heartbeat_main, a)) {
        errstr_set(errstr, errstr_size, "cannot start the swarm heartbeat thread");
        agent_free(a);
        return GREGOR_ERR_STATE;
    }
    a->thread_started = true;
    g_agent = a;
    return GREGOR_OK;
}

void fw_swarm_child_attach(fw_supervisor *sup)
{
    if (!g_agent)
        return;
    if (!atomic_load(&g_agent->metrics_fn))
        atomic_store(&g_agent->metrics_fn, fw_swarm_child_metrics_fn());
    atomic_store(&g_agent->sup, sup);
}

void fw_swarm_child_set_metrics_fn(fw_swarm_metrics_fn fn)
{
    if (g_agent)
        atomic_store(&g_agent->metrics_fn, fn);
}

void fw_swarm_child_stop(void)
{
    agent *a = g_agent;
    if (!a)
        return;
    if (write(a->wake[1], "x", 1) < 0) {
        /* the thread still ends at its next heartbeat's failure or exit */
    }
    pthread_join(a->thread, NULL);
    g_agent = NULL;
    agent_free(a);
}

void fw_swarm_polled(const fw_pipeline_conf *conf, gregor_group *g)
{
    agent *a = g_agent;
    if (!a)
        return;
    size_t i = (size_t)(conf - a->cfg->pipelines);
    if (i >= a->cfg->n_pipelines)
        return;
    atomic_store(&a->polls[i], clock_mono_ms());
    atomic_store(&a->joined[i], gregor_group_member_id(g, NULL, 0) >= 0);
}

void fw_swarm_call_begin(const fw_pipeline_conf *conf, const char *topic, int32_t partition, int64_t first_offset,
                         int64_t last_offset)
{
    agent *a = g_agent;
    if (!a)
        return;
    if (!t_slot_claimed) {
        t_slot_claimed = true;
        unsigned i = atomic_fetch_add(&a->next_slot, 1);
        t_slot = i < a->region->n_slots ? &a->slots[i] : NULL;
    }
    fw_swarm_slot *s = t_slot;
    if (!s)
        return;
    s->pipeline = (int32_t)(conf - a->cfg->pipelines);
    s->partition = partition;
    s->first_offset = first_offset;
    s->last_offset = last_offset;
    snprintf(s->topic, sizeof s->topic, "%s", topic);
    int64_t now = clock_mono_ms();
    atomic_store_explicit(&s->busy_since_ms, now > 0 ? now : 1, memory_order_release);
}

void fw_swarm_call_end(void)
{
    if (t_slot)
        atomic_store_explicit(&t_slot->busy_since_ms, 0, memory_order_release);
}

int fw_swarm_crashes(const fw_pipeline_conf *conf, const char *topic, int32_t partition, int64_t offset, int *signo)
{
    agent *a = g_agent;
    if (!a || !atomic_load_explicit(&a->n_crashes, memory_order_relaxed))
        return 0;
    pthread_mutex_lock(&a->lock);
    int n = fw_crash_count(&a->crashes, conf->name, topic, partition, offset, signo);
    pthread_mutex_unlock(&a->lock);
    return n;
}

gregor_err fw_swarm_instance_id(gregor_config *gc, char *errstr, size_t errstr_size)
{
    agent *a = g_agent;
    const char *id = a ? gregor_config_get(gc, "group_instance_id") : NULL;
    if (!id || !*id)
        return GREGOR_OK;
    char mine[512];
    snprintf(mine, sizeof mine, "%.500s-%d", id, a->slot);
    return gregor_config_set(gc, "group_instance_id", mine, errstr, errstr_size);
}
