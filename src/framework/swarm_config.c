/* framework/swarm_config.c — the `swarm:` map of a pipeline file: how
 * `gregor run --processes N` restarts and watches its worker processes
 * (config.h fw_swarm_conf, docs/PIPELINES.md "Worker processes"). Read by
 * every `gregor run`, used by the supervisor process only. */
#include "framework/config_walk.h"

static const char *const swarm_keys[] = {"restart_backoff_ms",   "max_restart_backoff_ms", "restart_reset_ms",
                                         "heartbeat_timeout_ms", "kill_grace_ms",          "ready_timeout_ms"};

void fw_swarm_conf_defaults(fw_swarm_conf *s)
{
    *s = (fw_swarm_conf){
        .restart_backoff_ms = 500,
        .max_restart_backoff_ms = 30000,
        .restart_reset_ms = 60000,
        .heartbeat_timeout_ms = 10000,
        .kill_grace_ms = 5000,
        .ready_timeout_ms = 60000,
    };
}

void fw_walk_swarm(fw_walk *w, const yt_node *m, fw_config *cfg)
{
    fw_swarm_conf *s = &cfg->swarm;
    if (!fw_walk_map(w, m, "swarm", true))
        return;
    fw_walk_keys(w, m, swarm_keys, sizeof swarm_keys / sizeof swarm_keys[0]);
    fw_walk_int(w, yt_get(m, "restart_backoff_ms"), "swarm.restart_backoff_ms", 0, 3600000, &s->restart_backoff_ms);
    fw_walk_int(w, yt_get(m, "max_restart_backoff_ms"), "swarm.max_restart_backoff_ms", 0, 3600000,
                &s->max_restart_backoff_ms);
    fw_walk_int(w, yt_get(m, "restart_reset_ms"), "swarm.restart_reset_ms", 1, 86400000, &s->restart_reset_ms);
    fw_walk_int(w, yt_get(m, "heartbeat_timeout_ms"), "swarm.heartbeat_timeout_ms", 1000, 3600000,
                &s->heartbeat_timeout_ms);
    fw_walk_int(w, yt_get(m, "kill_grace_ms"), "swarm.kill_grace_ms", 0, 3600000, &s->kill_grace_ms);
    fw_walk_int(w, yt_get(m, "ready_timeout_ms"), "swarm.ready_timeout_ms", 1000, 3600000, &s->ready_timeout_ms);
    if (s->max_restart_backoff_ms < s->restart_backoff_ms) {
        const yt_node *at = yt_get(m, "max_restart_backoff_ms") ? yt_get(m, "max_restart_backoff_ms")
                                                                : yt_get(m, "restart_backoff_ms");
        fw_walk_error(w, &at->loc,
                      "'swarm.max_restart_backoff_ms' (%lld) must not be below 'swarm.restart_backoff_ms' (%lld)",
                      (long long)s->max_restart_backoff_ms, (long long)s->restart_backoff_ms);
    }
}
