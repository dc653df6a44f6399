/* framework/run.c — `gregor run FILE` as a function (gregor_run() for
 * programs that embed the framework, and src/tools/cmd_run.c): load and
 * validate the file, resolve handlers, start the supervisor, and turn
 * SIGTERM / SIGINT into a graceful stop (a second one exits at once), and
 * SIGHUP into a reopening of the log file (logrotate's way). Events go to
 * the structured log (fwlog.h), set from -X log_* and the file's log: map.
 *
 * Signals: SIGTERM, SIGINT, SIGHUP and the internal wake-up SIGUSR2 are blocked in
 * the calling thread before any thread is created, so every thread inherits
 * the mask and only the signal thread (sigwait) receives them. */
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "framework/config.h"
#include "framework/fwlog.h"
#include "framework/http.h"
#include "framework/metrics.h"
#include "framework/registry.h"
#include "framework/run.h"
#include "framework/stats_line.h"
#include "framework/supervisor.h"
#include "framework/swarm_child.h"
#include "util/clock.h"
#include "util/errstr.h"

typedef struct signal_ctx {
    fw_supervisor *sup;      /* NULL once it is being destroyed (lock) */
    sigset_t set;
    atomic_bool done;        /* the signal thread is to end (set before its wake-up) */
    int signals;             /* received so far (signal thread only) */
    pthread_mutex_t lock;
    int64_t stop_at_ms;      /* when the first signal came, -1 before (lock) */
} signal_ctx;

/* An event of the run itself (no pipeline); errors also reach stderr when
 * the log is a file, so that whoever started the command sees why it
 * ended. */
static void run_event(gregor_log_level level, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void run_event(gregor_log_level level, const char *event, const char *fmt, ...)
{
    char msg[1200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fw_log_event ev = fw_log_ev(level, event);
    fw_log_emit(&ev, msg);
    if (level >= GREGOR_LOG_ERROR && fw_log_to_file())
        fprintf(stderr, "gregor run: %s\n", msg);
}

static void reopen_log(void)
{
    char err[600];
    if (fw_log_reopen(err, sizeof err) != GREGOR_OK)
        run_event(GREGOR_LOG_ERROR, "log_reopen_failed", "SIGHUP: %s", err);
    else if (fw_log_to_file())
        run_event(GREGOR_LOG_INFO, "log_reopened", "SIGHUP: log file reopened");
}

static void *signal_main(void *arg)
{
    signal_ctx *sc = arg;
    for (;;) {
        int sig = 0;
        if (sigwait(&sc->set, &sig))
            continue;
        if (atomic_load(&sc->done))
            return NULL;
        if (sig == SIGUSR2)
            continue;
        if (sig == SIGHUP) {
            reopen_log();
            continue;
        }
        if (++sc->signals > 1) {
            run_event(GREGOR_LOG_WARN, "exiting", "second signal: exiting now");
            _exit(130);
        }
        run_event(GREGOR_LOG_INFO, "stopping", "%s: stopping (drain, commit, leave the groups; again to exit at once)",
                  sig == SIGINT ? "SIGINT" : "SIGTERM");
        /* Under the lock: the main thread clears sup under it before
         * destroying the supervisor, which a stop must not outlive. */
        pthread_mutex_lock(&sc->lock);
        sc->stop_at_ms = clock_mono_ms();
        if (sc->sup)
            fw_supervisor_stop(sc->sup);
        pthread_mutex_unlock(&sc->lock);
    }
}

/* A stats line (stats_line.h) as an event line. */
static void stats_line_out(const char *line, void *arg)
{
    (void)arg;
    fw_log_event ev = fw_log_ev(GREGOR_LOG_INFO, "stats");
    fw_log_emit(&ev, line);
}

static void print_diags(const fw_diags *d)
{
    for (size_t i = 0; i < d->n; i++)
        fprintf(stderr, "%s\n", d->msgs[i]);
}

/* The log's settings: the file's log: map, then the command line's -X. */
gregor_err fw_run_configure_log(const fw_config *cfg, const fw_run_options *opt, char *err, size_t err_size)
{
    fw_log_options lo;
    fw_log_options_init(&lo);
    for (size_t i = 0; i < cfg->log.n; i++)
        if (fw_log_option_set(&lo, cfg->log.items[i].key, cfg->log.items[i].value, err, err_size) != GREGOR_OK)
            return GREGOR_ERR_CONFIG; /* validated at load */
    for (size_t i = 0; opt && i < opt->n_log_settings; i++) {
        const char *kv = opt->log_settings[i], *eq = strchr(kv, '=');
        char key[64];
        snprintf(key, sizeof key, "%.*s", eq ? (int)(eq - kv) : (int)strlen(kv), kv);
        if (fw_log_option_set(&lo, key, eq ? eq + 1 : "", err, err_size) != GREGOR_OK)
            return GREGOR_ERR_CONFIG;
    }
    gregor_err e = fw_log_configure(&lo, err, err_size);
    if (e == GREGOR_OK && opt)
        fw_log_route_library(true);
    return e;
}

int fw_run_file(const char *path, const fw_run_options *opt)
{
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGUSR2);
    pthread_sigmask(SIG_BLOCK, &set, &old);

    int rc = 1;
    fw_diags diags;
    fw_diags_init(&diags);
    fw_config *cfg = NULL;
    fw_supervisor *sup = NULL;
    fw_http *http = NULL;
    char err[1024];
    if (fw_swarm_child_load(path, &cfg, &diags) != GREGOR_OK || fw_registry_resolve(cfg, &diags) != GREGOR_OK) {
        print_diags(&diags);
        fprintf(stderr, "gregor run: %s: %zu error%s; nothing was started\n", path, diags.n, diags.n == 1 ? "" : "s");
        goto out;
    }
    if (fw_run_configure_log(cfg, opt, err, sizeof err) != GREGOR_OK) {
        fprintf(stderr, "gregor run: %s; nothing was started\n", err);
        goto out;
    }
    if (fw_swarm_child_start(cfg, err, sizeof err) != GREGOR_OK) { /* swarm: a worker process's agent */
        run_event(GREGOR_LOG_ERROR, "not_started", "%s: %s; nothing was started", path, err);
        goto out;
    }
    if (fw_supervisor_new(cfg, &sup, err, sizeof err) != GREGOR_OK) {
        run_event(GREGOR_LOG_ERROR, "not_started", "%s: %s; nothing was started", path, err);
        goto out;
    }
    fw_swarm_child_attach(sup);
    if (opt && (opt->metrics_port < 0 || opt->metrics_port > 65535)) {
        run_event(GREGOR_LOG_ERROR, "not_started", "metrics port %d is not a port number (1..65535); nothing was started",
                  (int)opt->metrics_port);
        goto out;
    }
    if (opt && opt->metrics_port > 0) {
        if (fw_metrics_serve(sup, opt->metrics_bind, (uint16_t)opt->metrics_port, &http, err, sizeof err)) {
            run_event(GREGOR_LOG_ERROR, "not_started", "--metrics-port %d: %s; nothing was started",
                      (int)opt->metrics_port, err);
            goto out;
        }
        run_event(GREGOR_LOG_INFO, "metrics", "metrics on http://%s:%u/metrics",
                  opt->metrics_bind && *opt->metrics_bind ? opt->metrics_bind : "0.0.0.0",
                  (unsigned)fw_http_port(http));
    }
    signal_ctx sc = {.sup = sup, .set = set, .stop_at_ms = -1};
    pthread_mutex_init(&sc.lock, NULL);
    pthread_t sig_thread;
    if (pthread_create(&sig_thread, NULL, signal_main, &sc)) {
        run_event(GREGOR_LOG_ERROR, "not_started", "cannot start the signal thread");
        pthread_mutex_destroy(&sc.lock);
        goto out;
    }
    if (fw_supervisor_start(sup, opt && opt->connect_timeout_ms > 0 ? opt->connect_timeout_ms : 15000, err,
                            sizeof err) != GREGOR_OK) {
        run_event(GREGOR_LOG_ERROR, "not_started", "%s; nothing was consumed", err);
    } else {
        char names[512];
        size_t off = 0;
        names[0] = '\0';
        for (size_t i = 0; i < cfg->n_pipelines && off < sizeof names; i++)
            off += (size_t)snprintf(names + off, sizeof names - off, "%s%s", i ? ", " : "", cfg->pipelines[i].name);
        run_event(GREGOR_LOG_INFO, "started", "%zu pipeline%s started: %s", cfg->n_pipelines,
                  cfg->n_pipelines == 1 ? "" : "s", names);
        fw_run_stats stats;
        fw_run_stats_init(&stats, sup, opt, stats_line_out, NULL);
        for (;;) {
            gregor_err w = fw_supervisor_wait(sup, fw_run_stats_wait_ms(&stats), err, sizeof err);
            if (w == GREGOR_OK) {
                pthread_mutex_lock(&sc.lock);
                int64_t stop_at = sc.stop_at_ms >= 0 ? sc.stop_at_ms : clock_mono_ms();
                pthread_mutex_unlock(&sc.lock);
                int64_t left = cfg->shutdown_timeout_ms - (clock_mono_ms() - stop_at);
                if (fw_supervisor_finish(sup, (int32_t)(left > 0 ? left : 0), err, sizeof err) == GREGOR_OK)
                    rc = 0;
                else
                    run_event(GREGOR_LOG_ERROR, "stopped_unclean",
                              "stopped, but not cleanly within shutdown_timeout_ms (%lld): %s",
                              (long long)cfg->shutdown_timeout_ms, err);
                break;
            }
            if (w != GREGOR_ERR_TIMED_OUT) {
                run_event(GREGOR_LOG_ERROR, "fatal", "%s", err);
                break;
            }
            fw_run_stats_tick(&stats, sup);
            pthread_mutex_lock(&sc.lock);
            int64_t stop_at = sc.stop_at_ms;
            pthread_mutex_unlock(&sc.lock);
            if (stop_at >= 0 && clock_mono_ms() - stop_at > cfg->shutdown_timeout_ms) {
                run_event(GREGOR_LOG_ERROR, "exiting", "not stopped within shutdown_timeout_ms (%lld); exiting",
                          (long long)cfg->shutdown_timeout_ms);
                _exit(1);
            }
        }
        fw_run_stats_final(&stats, sup);
    }
    fw_swarm_child_stop();
    fw_http_stop(http);
    http = NULL;
    pthread_mutex_lock(&sc.lock);
    sc.sup = NULL;
    pthread_mutex_unlock(&sc.lock);
    fw_supervisor_destroy(sup);
    sup = NULL;
    atomic_store(&sc.done, true);
    pthread_kill(sig_thread, SIGUSR2);
    pthread_join(sig_thread, NULL);
    pthread_mutex_destroy(&sc.lock);
    if (rc == 0)
        run_event(GREGOR_LOG_INFO, "stopped", "stopped cleanly");
out:
    fw_swarm_child_stop();
    fw_http_stop(http);
    fw_supervisor_destroy(sup);
    fw_log_reset();
    fw_config_free(cfg);
    fw_diags_fini(&diags);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}

gregor_err gregor_run(const char *path)
{
    return fw_run_file(path, NULL) == 0 ? GREGOR_OK : GREGOR_ERR_STATE;
}

gregor_err gregor_run_with(const char *path, const gregor_run_options *opt)
{
    fw_run_options o = {0};
    if (opt) {
        o.stats_cb = opt->stats_cb;
        o.stats_arg = opt->stats_arg;
        o.stats_cb_ms = opt->stats_interval_ms > 0 ? opt->stats_interval_ms : 1000;
        o.metrics_port = opt->metrics_port;
        o.metrics_bind = opt->metrics_bind;
    }
    return fw_run_file(path, &o) == 0 ? GREGOR_OK : GREGOR_ERR_STATE;
}
