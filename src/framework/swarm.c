/* framework/swarm.c — the supervisor process of `gregor run --processes N`
 * (swarm.h). One thread: a poll loop over a signalfd (SIGTERM, SIGINT,
 * SIGHUP, SIGCHLD) and each child's socket, waking at least every
 * TICK_MS for the watchdog and due restarts.
 *
 * Per child (slot 0..N-1): its pid, socket (heartbeats in, crash tables
 * out), the shared region it marks its handler calls and polls in
 * (swarm_proto.h; the supervisor keeps its own mapping, so the region
 * survives the child), its restart count and backoff step, and why it was
 * killed when the watchdog did it.
 *
 * Configs: the file as loaded at start, then at each accepted SIGHUP; a
 * child knows the one it was started with (pipeline indexes in its region
 * refer to it), so every config loaded stays until the end. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "framework/config.h"
#include "framework/fwlog.h"
#include "framework/registry.h"
#include "framework/swarm.h"
#include "framework/swarm_crash.h"
#include "framework/swarm_metrics.h"
#include "framework/swarm_proto.h"
#include "framework/swarm_serve.h"
#include "framework/swarm_watch.h"
#include "framework/yaml_tree.h"
#include "util/clock.h"

#define TICK_MS 200
#define MAX_CONFIGS 64       /* reloads kept (a child's pipelines refer to its config) */
#define STOP_SLACK_MS 2000   /* past shutdown_timeout_ms before the SIGKILL: the children bound themselves */
#define SEND_TIMEOUT_MS 1000 /* a child that does not read its socket for this long is broken */

typedef enum child_state { CHILD_IDLE, CHILD_RUNNING, CHILD_WAITING } child_state;

typedef struct child {
    int slot;
    child_state state;
    pid_t pid;
    int sock;
    fw_frame_reader reader;
    const fw_config *cfg;            /* the one it runs */
    fw_swarm_region_head *region;
    size_t region_bytes;
    int64_t started_ms, last_heartbeat_ms, restart_at_ms;
    int64_t term_at_ms;              /* SIGTERM sent by us (0: none) */
    bool killed;                     /* SIGKILL sent by us */
    bool stop_asked;                 /* shutdown or reload: not a death */
    bool count_busy;                 /* killed for handler_timeout_ms: its calls count as crashes */
    bool ready;
    bool eof;                        /* its socket reached EOF: not polled any more */
    bool clean;                      /* its last exit was status 0 */
    int restarts, backoff_step;
} child;

typedef struct swarm {
    const char *path;
    char *const *argv;
    char **envp;
    fw_config *configs[MAX_CONFIGS];
    int config_fds[MAX_CONFIGS];     /* each one's text, validated (a memfd the children parse) */
    size_t n_configs;
    const fw_config *cfg;            /* the newest */
    int cfg_fd;
    child *kids;
    int n;
    int sigfd;
    fw_crash_table crashes;
    fw_swarm_metrics *metrics;       /* the children's, summed, and the swarm's own */
    bool stopping;
    int64_t stop_deadline_ms;
    int reload_slot;                 /* the slot being replaced, -1: no reload */
    int64_t reload_since_ms;
} swarm;

int64_t fw_swarm_backoff_ms(int64_t base_ms, int64_t max_ms, int step)
{
    int64_t d = base_ms;
    for (int i = 0; i < step && d < max_ms; i++)
        d *= 2;
    return d < max_ms ? d : max_ms;
}

static void say(gregor_log_level level, const char *event, const char *fmt, ...)
{
    char text[1400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    fw_log_event ev = fw_log_ev(level, event);
    fw_log_emit(&ev, text);
}

static const char *describe_status(int status, char *buf, size_t size)
{
    char sig[64];
    if (WIFSIGNALED(status))
        snprintf(buf, size, "killed by %s%s", fw_signal_describe(WTERMSIG(status), sig, sizeof sig),
                 WCOREDUMP(status) ? " (core dumped)" : "");
    else
        snprintf(buf, size, "exited with status %d", WEXITSTATUS(status));
    return buf;
}

/* ------------------------------------------------------------ configs */

/* FILE's text, as fw_config_load() reads it (the same limit and errors). */
static char *read_text(const char *path, size_t *len, fw_diags *d)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fw_diags_add(d, &(fw_loc){path, 0, 0}, "cannot open: %s", strerror(errno));
        return NULL;
    }
    char *text = malloc(YT_MAX_BYTES + 1);
    if (text) {
        *len = fread(text, 1, YT_MAX_BYTES + 1, f);
        if (ferror(f)) {
            fw_diags_add(d, &(fw_loc){path, 0, 0}, "cannot read: %s", strerror(errno));
            free(text);
            text = NULL;
        }
    } else {
        fw_diags_add(d, &(fw_loc){path, 0, 0}, "out of memory");
    }
    fclose(f);
    return text;
}

/* Validates FILE (every error printed, then `when`) and keeps its text in a
 * memfd for the children. False when it is not valid. */
static bool load(swarm *sw, const char *when)
{
    fw_diags d;
    fw_diags_init(&d);
    fw_config *cfg = NULL;
    size_t len = 0;
    int fd = -1;
    char *text = read_text(sw->path, &len, &d);
    if (text && fw_config_parse(sw->path, text, len, &cfg, &d) == GREGOR_OK &&
        fw_registry_resolve(cfg, &d) == GREGOR_OK) {
        fd = memfd_create("gregor-swarm-config", MFD_CLOEXEC);
        if (fd < 0 || write(fd, text, len) != (ssize_t)len)
            fw_diags_add(&d, &(fw_loc){sw->path, 0, 0}, "cannot keep its text for the children: %s",
                         strerror(errno));
    }
    free(text);
    bool ok = d.n == 0 && cfg;
    if (!ok) {
        for (size_t i = 0; i < d.n; i++) {
            fprintf(stderr, "%s\n", d.msgs[i]);
            if (fw_log_to_file()) /* a SIGHUP's errors belong in the log too */
                say(GREGOR_LOG_ERROR, "config_error", "%s", d.msgs[i]);
        }
        say(GREGOR_LOG_ERROR, "config_rejected", "%s: %zu error%s; %s", sw->path, d.n, d.n == 1 ? "" : "s", when);
        fw_config_free(cfg);
        if (fd >= 0)
            close(fd);
    } else {
        sw->configs[sw->n_configs] = cfg;
        sw->config_fds[sw->n_configs++] = fd;
        sw->cfg = cfg;
        sw->cfg_fd = fd;
    }
    fw_diags_fini(&d);
    return ok;
}

/* ------------------------------------------------------------ children */

static char **child_env(const char *extra)
{
    extern char **environ;
    size_t n = 0;
    while (environ[n])
        n++;
    char **env = calloc(n + 2, sizeof *env);
    if (!env)
        return NULL;
    size_t k = 0, len = strlen(FW_SWARM_ENV);
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], FW_SWARM_ENV, len) || environ[i][len] != '=')
            env[k++] = environ[i];
    env[k++] = (char *)extra;
    return env;
}

static void send_crashes(swarm *sw, child *c)
{
    uint8_t *bytes = NULL;
    size_t len = 0;
    if (!sw->crashes.n || c->state != CHILD_RUNNING || c->sock < 0)
        return;
    if (fw_crash_encode(&sw->crashes, &bytes, &len) != GREGOR_OK) {
        say(GREGOR_LOG_ERROR, "crash_table_failed", "swarm: out of memory encoding the crash table");
        return;
    }
    if (fw_frame_write(c->sock, FW_FRAME_CRASHES, bytes, len) != GREGOR_OK)
        say(GREGOR_LOG_WARN, "crash_table_failed",
            "child %d (pid %d): the crash table could not be sent: %s", c->slot, (int)c->pid, strerror(errno));
    free(bytes);
}

static void spawn(swarm *sw, child *c)
{
    const fw_config *cfg = sw->cfg;
    size_t bytes = fw_swarm_region_bytes(cfg);
    int sv[2] = {-1, -1};
    int mfd = memfd_create("gregor-swarm", MFD_CLOEXEC);
    void *map = MAP_FAILED;
    if (mfd < 0 || ftruncate(mfd, (off_t)bytes) ||
        (map = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0)) == MAP_FAILED ||
        socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
        goto out_fail;
    char env[160];
    int cfd = sw->cfg_fd;
    snprintf(env, sizeof env, "%s=%d:%d:%d:%zu:%d", FW_SWARM_ENV, c->slot, sv[1], mfd, bytes, cfd);
    char **envp = child_env(env);
    if (!envp)
        goto out_fail;
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        /* The child: only async-signal-safe calls until exec. */
        sigset_t all;
        sigemptyset(&all);
        sigprocmask(SIG_SETMASK, &all, NULL);
        setpgid(0, 0);
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent)
            _exit(1);
        fcntl(sv[1], F_SETFD, 0);
        fcntl(mfd, F_SETFD, 0);
        fcntl(cfd, F_SETFD, 0);
        execve("/proc/self/exe", sw->argv, envp);
        _exit(127);
    }
    free(envp);
    if (pid < 0)
        goto out_fail;
    close(sv[1]);
    close(mfd);
    struct timeval tv = {.tv_sec = SEND_TIMEOUT_MS / 1000, .tv_usec = (SEND_TIMEOUT_MS % 1000) * 1000};
    setsockopt(sv[0], SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    int64_t now = clock_mono_ms();
    *c = (child){.slot = c->slot, .state = CHILD_RUNNING, .pid = pid, .sock = sv[0], .cfg = cfg, .region = map,
                 .region_bytes = bytes, .started_ms = now, .last_heartbeat_ms = now,
                 .restarts = c->restarts, .backoff_step = c->backoff_step};
    fw_swarm_metrics_started(sw->metrics, c->slot);
    say(GREGOR_LOG_INFO, "child_started", "child %d (pid %d) started", c->slot, (int)pid);
    send_crashes(sw, c);
    return;
out_fail:
    say(GREGOR_LOG_ERROR, "child_not_started",
        "child %d: cannot start: %s; trying again in %lld ms", c->slot, strerror(errno),
        (long long)cfg->swarm.max_restart_backoff_ms);
    if (map != MAP_FAILED)
        munmap(map, bytes);
    for (int i = 0; i < 2; i++)
        if (sv[i] >= 0)
            close(sv[i]);
    if (mfd >= 0)
        close(mfd);
    c->state = CHILD_WAITING;
    c->restart_at_ms = clock_mono_ms() + cfg->swarm.max_restart_backoff_ms;
}

static void terminate(child *c, const char *why)
{
    if (c->state != CHILD_RUNNING || c->term_at_ms)
        return;
    if (why)
        say(GREGOR_LOG_WARN, "child_stuck",
            "child %d (pid %d): %s; stopping it (SIGTERM, then SIGKILL after %lld ms)", c->slot, (int)c->pid, why,
            (long long)c->cfg->swarm.kill_grace_ms);
    c->term_at_ms = clock_mono_ms();
    kill(c->pid, SIGTERM);
}

/* The handler calls in hand when a child died without being asked to (a
 * signal, or an exit in the middle of a call): each is a crash of its
 * messages, `how` as fw_crash.signo. After a kill for handler_timeout_ms
 * (`timeouts`), only the calls past it count, as FW_CRASH_TIMED_OUT. */
static void count_crashes(swarm *sw, child *c, int how, bool timeouts)
{
    fw_swarm_region_head *h = c->region;
    if (h->magic != FW_SWARM_REGION_MAGIC)
        return; /* died before it set its region up */
    fw_swarm_slot *slots = fw_swarm_region_slots(h, c->cfg);
    bool changed = false;
    for (size_t i = 0, n_slots = fw_swarm_region_n_slots(c->cfg); i < n_slots; i++) {
        fw_swarm_slot *s = &slots[i];
        if (!atomic_load(&s->busy_since_ms) || s->pipeline < 0 || (size_t)s->pipeline >= c->cfg->n_pipelines)
            continue;
        s->topic[sizeof s->topic - 1] = '\0';
        const fw_pipeline_conf *p = &c->cfg->pipelines[s->pipeline];
        if (timeouts && (!p->handler_timeout_ms ||
                         clock_mono_ms() - atomic_load(&s->busy_since_ms) <= p->handler_timeout_ms))
            continue;
        if (fw_crash_add(&sw->crashes, p->name, s->topic, s->partition, s->first_offset, s->last_offset,
                         timeouts ? FW_CRASH_TIMED_OUT : how) !=
            GREGOR_OK) {
            say(GREGOR_LOG_ERROR, "crash_table_failed", "swarm: cannot record a crash (out of memory)");
            continue;
        }
        changed = true;
        fw_swarm_metrics_crash(sw->metrics);
        int n = fw_crash_count(&sw->crashes, p->name, s->topic, s->partition, s->last_offset, NULL);
        say(GREGOR_LOG_WARN, "handler_crashed",
            "child %d (pid %d) %s a handler call of pipeline %s on %s [%d] offsets %lld..%lld: crash %d of "
            "retry.max_attempts %d", c->slot, (int)c->pid, timeouts ? "was killed for" : "died in", p->name,
            s->topic, (int)s->partition,
            (long long)s->first_offset, (long long)s->last_offset, n, p->max_attempts);
    }
    if (changed)
        for (int i = 0; i < sw->n; i++)
            if (&sw->kids[i] != c)
                send_crashes(sw, &sw->kids[i]);
}

static void child_gone(swarm *sw, child *c, int status)
{
    char how[128];
    describe_status(status, how, sizeof how);
    int64_t now = clock_mono_ms();
    bool ours = c->term_at_ms || c->killed || c->stop_asked;
    if (!ours || c->count_busy)
        count_crashes(sw, c, WIFSIGNALED(status) ? WTERMSIG(status) : FW_CRASH_EXITED(WEXITSTATUS(status)),
                      c->count_busy);
    fw_swarm_metrics_exited(sw->metrics, c->slot, status, !sw->stopping && !c->stop_asked);
    munmap(c->region, c->region_bytes);
    c->region = NULL;
    close(c->sock);
    c->sock = -1;
    fw_frame_reader_fini(&c->reader);
    c->clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    pid_t pid = c->pid;
    c->pid = 0;
    c->ready = false;
    if (sw->stopping) {
        c->state = CHILD_IDLE;
        say(GREGOR_LOG_INFO, "child_exited", "child %d (pid %d) %s", c->slot, (int)pid, how);
        return;
    }
    if (c->stop_asked) { /* a reload: its successor starts now */
        say(GREGOR_LOG_INFO, "child_exited",
            "child %d (pid %d) %s; starting it with the new config", c->slot, (int)pid, how);
        spawn(sw, c);
        return;
    }
    if (now - c->started_ms >= c->cfg->swarm.restart_reset_ms)
        c->backoff_step = 0;
    int64_t delay = fw_swarm_backoff_ms(sw->cfg->swarm.restart_backoff_ms, sw->cfg->swarm.max_restart_backoff_ms,
                                        c->backoff_step);
    c->backoff_step++;
    c->restarts++;
    c->state = CHILD_WAITING;
    c->restart_at_ms = now + delay;
    say(GREGOR_LOG_WARN, "child_died",
        "child %d (pid %d) %s; restart %d in %lld ms", c->slot, (int)pid, how, c->restarts, (long long)delay);
}

static void reap(swarm *sw)
{
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
        for (int i = 0; i < sw->n; i++)
            if (sw->kids[i].state == CHILD_RUNNING && sw->kids[i].pid == pid)
                child_gone(sw, &sw->kids[i], status);
}

static void on_frames(swarm *sw, child *c)
{
    gregor_err err = fw_frame_reader_fill(&c->reader, c->sock);
    for (;;) {
        uint8_t type;
        const uint8_t *p;
        size_t len;
        gregor_err e = fw_frame_next(&c->reader, &type, &p, &len);
        if (e == GREGOR_ERR_TRUNCATED)
            break;
        if (e) {
            terminate(c, "sent a frame the supervisor cannot read");
            return;
        }
        if (type != FW_FRAME_HEARTBEAT || len < 1)
            continue;
        c->last_heartbeat_ms = clock_mono_ms();
        bool was_ready = c->ready;
        c->ready = p[0] != 0;
        if (c->ready && !was_ready)
            say(GREGOR_LOG_INFO, "child_ready",
                "child %d (pid %d) ready: every pipeline has joined its group", c->slot, (int)c->pid);
        if (fw_swarm_metrics_heartbeat(sw->metrics, c->slot, c->ready, (const char *)p + 1, len - 1) != GREGOR_OK)
            say(GREGOR_LOG_ERROR, "metrics_failed",
                "child %d (pid %d): out of memory keeping its metrics", c->slot, (int)c->pid);
    }
    if (err == GREGOR_ERR_DISCONNECTED || err == GREGOR_ERR_IO) {
        c->eof = true; /* it is exiting; SIGCHLD follows */
    } else if (err) { /* more unread than any frame may hold, or no memory for it */
        c->eof = true;
        terminate(c, err == GREGOR_ERR_NOMEM ? "its messages cannot be buffered (out of memory)"
                                             : "sent more than a frame may hold");
    }
}

/* ------------------------------------------------------------ watchdog */

static void watch(swarm *sw, child *c, int64_t now)
{
    const fw_config *cfg = c->cfg;
    char why[700];
    if (c->term_at_ms) {
        if (!c->killed && now - c->term_at_ms >= cfg->swarm.kill_grace_ms && !sw->stopping) {
            say(GREGOR_LOG_WARN, "child_killed", "child %d (pid %d) still running %lld ms after SIGTERM; SIGKILL",
                c->slot, (int)c->pid, (long long)(now - c->term_at_ms));
            c->killed = true;
            kill(c->pid, SIGKILL);
        }
        return;
    }
    if (c->stop_asked || sw->stopping)
        return;
    fw_watch_verdict v = fw_swarm_watch(cfg, c->region, c->last_heartbeat_ms, now, why, sizeof why);
    if (v == FW_WATCH_OK)
        return;
    /* A call past handler_timeout_ms counts as a failed attempt of its
     * messages; a child stuck elsewhere blames no message. */
    c->count_busy = v == FW_WATCH_HANDLER_TIMEOUT;
    terminate(c, why);
}

/* ------------------------------------------------------------ signals */

static void stop_all(swarm *sw, const char *signame)
{
    sw->stopping = true;
    sw->reload_slot = -1;
    sw->stop_deadline_ms = clock_mono_ms() + sw->cfg->shutdown_timeout_ms + STOP_SLACK_MS;
    int running = 0;
    for (int i = 0; i < sw->n; i++) {
        child *c = &sw->kids[i];
        if (c->state == CHILD_WAITING) {
            c->state = CHILD_IDLE;
            c->clean = true; /* it had nothing left to stop */
        }
        if (c->state == CHILD_RUNNING) {
            running++;
            c->stop_asked = true;
            kill(c->pid, SIGTERM);
        }
    }
    say(GREGOR_LOG_INFO, "stopping",
        "%s: stopping %d child%s (drain, commit, leave the groups; again to exit at once)", signame, running,
        running == 1 ? "" : "ren");
}

static void kill_all(swarm *sw)
{
    for (int i = 0; i < sw->n; i++)
        if (sw->kids[i].state == CHILD_RUNNING)
            kill(sw->kids[i].pid, SIGKILL);
}

/* The next slot to replace in a reload, or -1 when done. */
static void reload_step(swarm *sw)
{
    for (int i = sw->reload_slot; i < sw->n; i++) {
        child *c = &sw->kids[i];
        sw->reload_slot = i;
        sw->reload_since_ms = clock_mono_ms();
        if (c->state == CHILD_RUNNING) {
            c->stop_asked = true;
            terminate(c, NULL);
            say(GREGOR_LOG_INFO, "reload", "reload: replacing child %d (pid %d)", c->slot, (int)c->pid);
            return;
        }
        /* waiting or idle: it starts with the new config anyway */
    }
    sw->reload_slot = -1;
    say(GREGOR_LOG_INFO, "reload", "reload: every child runs the new config");
}

static void reload_progress(swarm *sw, int64_t now)
{
    if (sw->reload_slot < 0)
        return;
    child *c = &sw->kids[sw->reload_slot];
    bool replaced = c->state == CHILD_RUNNING && !c->stop_asked;
    if (replaced && !c->ready && now - sw->reload_since_ms > sw->cfg->swarm.ready_timeout_ms)
        say(GREGOR_LOG_WARN, "reload",
            "reload: child %d (pid %d) not ready after %lld ms (swarm.ready_timeout_ms); going on", c->slot,
            (int)c->pid, (long long)sw->cfg->swarm.ready_timeout_ms);
    else if (!(replaced && c->ready) && c->state != CHILD_WAITING)
        return;
    sw->reload_slot++;
    reload_step(sw);
}

static void on_sighup(swarm *sw)
{
    say(GREGOR_LOG_INFO, "reload", "SIGHUP: validating %s again", sw->path);
    if (sw->n_configs == MAX_CONFIGS) {
        say(GREGOR_LOG_ERROR, "reload", "SIGHUP: %d reloads already; restart gregor run to reload again", MAX_CONFIGS);
        return;
    }
    if (!load(sw, "rejected: the children keep running the old config"))
        return;
    say(GREGOR_LOG_INFO, "reload", "SIGHUP: %s is valid: replacing the %d children one at a time", sw->path, sw->n);
    sw->reload_slot = 0;
    reload_step(sw);
}

/* SIGHUP's first meaning under `gregor run` (fwlog.h): log files are
 * reopened, the supervisor's and every child's. */
static void reopen_logs(swarm *sw)
{
    char err[600];
    if (fw_log_reopen(err, sizeof err) != GREGOR_OK)
        say(GREGOR_LOG_ERROR, "log_reopen_failed", "SIGHUP: %s", err);
    else if (fw_log_to_file())
        say(GREGOR_LOG_INFO, "log_reopened", "SIGHUP: log file reopened");
    for (int i = 0; i < sw->n; i++)
        if (sw->kids[i].state == CHILD_RUNNING)
            kill(sw->kids[i].pid, SIGHUP);
}

/* Returns an exit status to end with, or -1 to go on. */
static int on_signal(swarm *sw)
{
    struct signalfd_siginfo si;
    while (read(sw->sigfd, &si, sizeof si) == sizeof si) {
        int sig = (int)si.ssi_signo;
        if (sig == SIGCHLD) {
            reap(sw);
        } else if (sig == SIGHUP) {
            reopen_logs(sw);
            if (!sw->stopping)
                on_sighup(sw);
        } else if (sw->stopping) {
            say(GREGOR_LOG_WARN, "exiting", "second signal: killing the children now");
            kill_all(sw);
            return 130;
        } else {
            stop_all(sw, sig == SIGINT ? "SIGINT" : "SIGTERM");
        }
    }
    reap(sw);
    return -1;
}

/* ------------------------------------------------------------ the loop */

static int running_children(const swarm *sw)
{
    int n = 0;
    for (int i = 0; i < sw->n; i++)
        n += sw->kids[i].state == CHILD_RUNNING;
    return n;
}

static int loop(swarm *sw)
{
    struct pollfd *fds = calloc((size_t)sw->n + 1, sizeof *fds);
    if (!fds)
        return 1;
    for (;;) {
        int64_t now = clock_mono_ms();
        if (sw->stopping && !running_children(sw))
            break;
        if (sw->stopping && now > sw->stop_deadline_ms) {
            say(GREGOR_LOG_WARN, "child_killed",
                "children still running %lld ms after the stop began (shutdown_timeout_ms %lld); SIGKILL",
                (long long)(now - sw->stop_deadline_ms + sw->cfg->shutdown_timeout_ms + STOP_SLACK_MS),
                (long long)sw->cfg->shutdown_timeout_ms);
            kill_all(sw);
            sw->stop_deadline_ms = INT64_MAX;
        }
        for (int i = 0; i < sw->n; i++) {
            child *c = &sw->kids[i];
            if (c->state == CHILD_WAITING && !sw->stopping && now >= c->restart_at_ms)
                spawn(sw, c);
            else if (c->state == CHILD_RUNNING)
                watch(sw, c, now);
        }
        reload_progress(sw, now);
        fds[0] = (struct pollfd){.fd = sw->sigfd, .events = POLLIN};
        for (int i = 0; i < sw->n; i++) {
            child *c = &sw->kids[i];
            fds[i + 1] = (struct pollfd){.fd = c->state == CHILD_RUNNING && !c->eof ? c->sock : -1, .events = POLLIN};
        }
        int n = poll(fds, (nfds_t)sw->n + 1, TICK_MS);
        if (n < 0 && errno != EINTR)
            break;
        for (int i = 0; n > 0 && i < sw->n; i++)
            if (fds[i + 1].fd >= 0 && (fds[i + 1].revents & (POLLIN | POLLHUP | POLLERR)) &&
                sw->kids[i].state == CHILD_RUNNING) {
                if (fds[i + 1].revents & POLLIN)
                    on_frames(sw, &sw->kids[i]);
                else
                    sw->kids[i].eof = true;
            }
        if (n > 0 && fds[0].revents) {
            int rc = on_signal(sw);
            if (rc >= 0) {
                free(fds);
                return rc;
            }
        }
    }
    free(fds);
    int failed = 0;
    for (int i = 0; i < sw->n; i++)
        failed += !sw->kids[i].clean;
    if (failed)
        say(GREGOR_LOG_ERROR, "stopped", "stopped: %d of %d children did not stop cleanly", failed, sw->n);
    else
        say(GREGOR_LOG_INFO, "stopped", "stopped cleanly: all %d children exited 0", sw->n);
    return failed ? 1 : 0;
}

int fw_swarm_run(const char *path, int processes, char *const *child_argv, const fw_run_options *opt)
{
    swarm sw = {.path = path, .argv = child_argv, .n = processes, .sigfd = -1, .reload_slot = -1};
    fw_crash_table_init(&sw.crashes);
    if (!load(&sw, "nothing was started"))
        return 1;
    char err[600];
    if (fw_run_configure_log(sw.cfg, opt, err, sizeof err) != GREGOR_OK) {
        fprintf(stderr, "gregor run: %s; nothing was started\n", err);
        fw_config_free(sw.configs[0]);
        close(sw.config_fds[0]);
        return 1;
    }
    int rc = 1;
    void *server = NULL; /* the metrics endpoint (swarm_serve.h) */
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGCHLD);
    sigprocmask(SIG_BLOCK, &set, &old);
    sw.sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    sw.kids = calloc((size_t)processes, sizeof *sw.kids);
    sw.metrics = fw_swarm_metrics_new(processes);
    if (sw.sigfd < 0 || !sw.kids || !sw.metrics) {
        say(GREGOR_LOG_ERROR, "not_started", "swarm: cannot start: %s", strerror(errno));
        goto out;
    }
    if (fw_swarm_serve_start(sw.metrics, opt, &server, err, sizeof err) != GREGOR_OK) {
        say(GREGOR_LOG_ERROR, "not_started", "metrics endpoint: %s; nothing was started", err);
        goto out;
    }
    say(GREGOR_LOG_INFO, "swarm_started", "swarm: %d worker processes of %s", processes, path);
    for (int i = 0; i < processes; i++) {
        sw.kids[i].slot = i;
        sw.kids[i].sock = -1;
        spawn(&sw, &sw.kids[i]);
    }
    rc = loop(&sw);
    for (int i = 0; rc == 130 && i < processes; i++) /* SIGKILLed: collect them */
        if (sw.kids[i].state == CHILD_RUNNING)
            waitpid(sw.kids[i].pid, NULL, 0);
out:
    fw_swarm_serve_stop(server);
    for (int i = 0; sw.kids && i < processes; i++) {
        child *c = &sw.kids[i];
        if (c->region)
            munmap(c->region, c->region_bytes);
        if (c->sock >= 0)
            close(c->sock);
        fw_frame_reader_fini(&c->reader);
    }
    free(sw.kids);
    fw_swarm_metrics_destroy(sw.metrics);
    fw_crash_table_fini(&sw.crashes);
    if (sw.sigfd >= 0)
        close(sw.sigfd);
    sigprocmask(SIG_SETMASK, &old, NULL);
    for (size_t i = 0; i < sw.n_configs; i++) {
        fw_config_free(sw.configs[i]);
        close(sw.config_fds[i]);
    }
    fw_log_reset();
    return rc;
}
