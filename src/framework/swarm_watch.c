/* framework/swarm_watch.c — fw_swarm_watch() (swarm_watch.h): the checks
 * in order of cost, the first that fails wins. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "framework/swarm_watch.h"

/* A member polls at least every second (pipeline.c MEMBER_POLL_MS): below
 * this age no limit is looked up. */
#define POLL_AGE_CHECKED_MS 1000

static int64_t max_poll_ms(const fw_config *cfg, size_t pipeline)
{
    gregor_config *c = fw_config_client(cfg, &cfg->pipelines[pipeline].consumer);
    const char *v = c ? gregor_config_get(c, "max_poll_interval_ms") : NULL;
    int64_t ms = v ? strtoll(v, NULL, 10) : 300000;
    gregor_config_destroy(c);
    return ms > 0 ? ms : 300000;
}

fw_watch_verdict fw_swarm_watch(const fw_config *cfg, fw_swarm_region_head *h, int64_t last_heartbeat_ms,
                                int64_t now, char *why, size_t why_size)
{
    if (now - last_heartbeat_ms > cfg->swarm.heartbeat_timeout_ms) {
        snprintf(why, why_size, "no heartbeat for %lld ms (swarm.heartbeat_timeout_ms %lld)",
                 (long long)(now - last_heartbeat_ms), (long long)cfg->swarm.heartbeat_timeout_ms);
        return FW_WATCH_NO_HEARTBEAT;
    }
    if (h->magic != FW_SWARM_REGION_MAGIC)
        return FW_WATCH_OK;
    _Atomic int64_t *polls = fw_swarm_region_polls(h);
    for (size_t i = 0; i < cfg->n_pipelines; i++) {
        int64_t last = atomic_load(&polls[i]), limit;
        if (last > 0 && now - last > POLL_AGE_CHECKED_MS && now - last > (limit = max_poll_ms(cfg, i))) {
            snprintf(why, why_size, "pipeline %s: no poll for %lld ms (max_poll_interval_ms %lld)",
                     cfg->pipelines[i].name, (long long)(now - last), (long long)limit);
            return FW_WATCH_NO_POLL;
        }
    }
    fw_swarm_slot *slots = fw_swarm_region_slots(h, cfg);
    for (size_t i = 0, n = fw_swarm_region_n_slots(cfg); i < n; i++) {
        int64_t since = atomic_load(&slots[i].busy_since_ms);
        int32_t p = slots[i].pipeline;
        if (!since || p < 0 || (size_t)p >= cfg->n_pipelines || !cfg->pipelines[p].handler_timeout_ms ||
            now - since <= cfg->pipelines[p].handler_timeout_ms)
            continue;
        char topic[FW_CRASH_NAME_MAX];
        memcpy(topic, slots[i].topic, sizeof topic);
        topic[sizeof topic - 1] = '\0';
        snprintf(why, why_size,
                 "pipeline %s: a handler call on %s [%d] offsets %lld..%lld has run for %lld ms "
                 "(handler_timeout_ms %lld)",
                 cfg->pipelines[p].name, topic, (int)slots[i].partition, (long long)slots[i].first_offset,
                 (long long)slots[i].last_offset, (long long)(now - since),
                 (long long)cfg->pipelines[p].handler_timeout_ms);
        return FW_WATCH_HANDLER_TIMEOUT;
    }
    return FW_WATCH_OK;
}
