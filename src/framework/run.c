/* framework/run.c — `gregor run FILE` as a function (gregor_run() for
 * programs that embed the framework, and src/tools/cmd_run.c): load and
 * validate the file, resolve handlers, start the supervisor, and turn
 * SIGTERM / SIGINT into a graceful stop (a second one exits at once).
 *
 * Signals: SIGTERM, SIGINT and the internal wake-up SIGUSR2 are blocked in
 * the calling thread before any thread is created, so every thread inherits
 * the mask and only the signal thread (sigwait) receives them. */
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "framework/config.h"
#include "framework/http.h"
#include "framework/metrics.h"
#include "framework/registry.h"
#include "framework/run.h"
#include "framework/stats_line.h"
#include "framework/supervisor.h"
#include "util/clock.h"
#include "util/errstr.h"

typedef struct signal_ctx {
    fw_supervisor *sup;      /* NULL once the run loop destroys it (lock) */
    sigset_t set;
    atomic_bool done;        /* the run is over: the signal thread returns */
    int signals;             /* received so far (signal thread only) */
    pthread_mutex_t lock;
    int64_t stop_at_ms;      /* when the first signal came, -1 before (lock) */
} signal_ctx;

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
        if (++sc->signals > 1) {
            static const char msg[] = "gregor run: second signal: exiting now\n";
            if (write(STDERR_FILENO, msg, sizeof msg - 1) < 0) {
                /* nothing more can be said */
            }
            _exit(130);
        }
        fprintf(stderr, "gregor run: %s: stopping (drain, commit, leave the groups; again to exit at once)\n",
                sig == SIGINT ? "SIGINT" : "SIGTERM");
        /* Under the lock: the run loop may finish and destroy the
         * supervisor as soon as the stop took effect. */
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
    fprintf(stderr, "gregor run: %s\n", line);
}

static void print_diags(const fw_diags *d)
{
    for (size_t i = 0; i < d->n; i++)
        fprintf(stderr, "%s\n", d->msgs[i]);
}

int fw_run_file(const char *path, const fw_run_options *opt)
{
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGUSR2);
    pthread_sigmask(SIG_BLOCK, &set, &old);

    int rc = 1;
    fw_diags diags;
    fw_diags_init(&diags);
    fw_config *cfg = NULL;
    fw_supervisor *sup = NULL;
    fw_http *http = NULL;
    char err[1024];
    if (fw_config_load(path, &cfg, &diags) != GREGOR_OK || fw_registry_resolve(cfg, &diags) != GREGOR_OK) {
        print_diags(&diags);
        fprintf(stderr, "gregor run: %s: %zu error%s; nothing was started\n", path, diags.n, diags.n == 1 ? "" : "s");
        goto out;
    }
    if (fw_supervisor_new(cfg, &sup, err, sizeof err) != GREGOR_OK) {
        fprintf(stderr, "gregor run: %s: %s; nothing was started\n", path, err);
        goto out;
    }
    if (opt && (opt->metrics_port < 0 || opt->metrics_port > 65535)) {
        fprintf(stderr, "gregor run: metrics port %d is not a port number (1..65535); nothing was started\n",
                (int)opt->metrics_port);
        goto out;
    }
    if (opt && opt->metrics_port > 0) {
        if (fw_metrics_serve(sup, opt->metrics_bind, (uint16_t)opt->metrics_port, &http, err, sizeof err)) {
            fprintf(stderr, "gregor run: --metrics-port %d: %s; nothing was started\n", (int)opt->metrics_port, err);
            goto out;
        }
        fprintf(stderr, "gregor run: metrics on http://%s:%u/metrics\n",
                opt->metrics_bind && *opt->metrics_bind ? opt->metrics_bind : "0.0.0.0", (unsigned)fw_http_port(http));
    }
    signal_ctx sc = {.sup = sup, .set = set, .stop_at_ms = -1};
    pthread_mutex_init(&sc.lock, NULL);
    pthread_t sig_thread;
    if (pthread_create(&sig_thread, NULL, signal_main, &sc)) {
        fprintf(stderr, "gregor run: cannot start the signal thread\n");
        pthread_mutex_destroy(&sc.lock);
        goto out;
    }
    if (fw_supervisor_start(sup, opt && opt->connect_timeout_ms > 0 ? opt->connect_timeout_ms : 15000, err,
                            sizeof err) != GREGOR_OK) {
        fprintf(stderr, "gregor run: %s; nothing was consumed\n", err);
    } else {
        char names[512];
        size_t off = 0;
        names[0] = '\0';
        for (size_t i = 0; i < cfg->n_pipelines && off < sizeof names; i++)
            off += (size_t)snprintf(names + off, sizeof names - off, "%s%s", i ? ", " : "", cfg->pipelines[i].name);
        fprintf(stderr, "gregor run: %zu pipeline%s started: %s\n", cfg->n_pipelines,
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
                    fprintf(stderr, "gregor run: stopped, but not cleanly within shutdown_timeout_ms (%lld): %s\n",
                            (long long)cfg->shutdown_timeout_ms, err);
                break;
            }
            if (w != GREGOR_ERR_TIMED_OUT) {
                fprintf(stderr, "gregor run: %s\n", err);
                break;
            }
            fw_run_stats_tick(&stats, sup);
            pthread_mutex_lock(&sc.lock);
            int64_t stop_at = sc.stop_at_ms;
            pthread_mutex_unlock(&sc.lock);
            if (stop_at >= 0 && clock_mono_ms() - stop_at > cfg->shutdown_timeout_ms) {
                fprintf(stderr, "gregor run: not stopped within shutdown_timeout_ms (%lld); exiting\n",
                        (long long)cfg->shutdown_timeout_ms);
                _exit(1);
            }
        }
        fw_run_stats_final(&stats, sup);
    }
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
        fprintf(stderr, "gregor run: stopped cleanly\n");
out:
    fw_http_stop(http);
    fw_supervisor_destroy(sup);
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
