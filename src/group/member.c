/* group/member.c — what the member threads of both group protocols
 * (classic.c, consumer_proto.c) share: fatal errors for poll to report,
 * giving partitions up without a handover, waiting for the application to
 * run steps while heartbeating, requests to the coordinator and sleeps that
 * close cuts short.
 *
 * Threading: every function here runs on the member thread and takes
 * g->lock itself (callers do not hold it).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "group/group_int.h"
#include "util/clock.h"
#include "util/log.h"

gregor_err group_fatal(gregor_group *g, gregor_err err, const char *fmt, const char *what)
{
    pthread_mutex_lock(&g->lock);
    g->fatal = err;
    g->fatal_reported = false;
    snprintf(g->fatal_str, sizeof g->fatal_str, fmt, g->group_id, what, gregor_err_name(err));
    gregor_log(GREGOR_LOG_ERROR, "%s", g->fatal_str);
    pthread_mutex_unlock(&g->lock);
    gregor_consumer_wakeup(g->consumer);
    return err;
}

void group_lose(gregor_group *g, group_tp_list *owned, const char *member_id, const char *why)
{
    if (owned->n > 0) {
        gregor_log(GREGOR_LOG_WARN, "group '%s': member %s lost its %zu partition(s): %s", g->group_id, member_id,
                   owned->n, why);
        group_post_step(g, GROUP_STEP_LOST, owned, -1);
    }
    group_tp_list_free_strings(owned);
    group_tp_list_init(owned);
    pthread_mutex_lock(&g->lock);
    g->generation = -1;
    pthread_mutex_unlock(&g->lock);
    offsets_set_member(g->offs, -1, member_id, g->instance_id);
}

bool group_wait_steps(gregor_group *g, uint64_t id, group_beat_fn beat, void *opaque)
{
    int64_t next_beat_ms = beat(opaque);
    for (;;) {
        pthread_mutex_lock(&g->lock);
        bool done = g->steps_done >= id, stop = g->stop;
        bool expired = net_now_ms() - g->last_poll_ms > g->max_poll_interval_ms;
        if (!done && !stop && !expired) {
            int64_t now = net_now_ms();
            struct timespec ts = clock_deadline_ts((int32_t)(next_beat_ms > now ? next_beat_ms - now : 0));
            pthread_cond_timedwait(&g->cond, &g->lock, &ts);
        }
        pthread_mutex_unlock(&g->lock);
        if (done)
            return true;
        if (stop || expired)
            return false;
        if (net_now_ms() >= next_beat_ms)
            next_beat_ms = beat(opaque);
    }
}

void group_sleep(gregor_group *g, int32_t ms)
{
    pthread_mutex_lock(&g->lock);
    struct timespec ts = clock_deadline_ts(ms);
    if (!g->stop)
        pthread_cond_timedwait(&g->cond, &g->lock, &ts);
    pthread_mutex_unlock(&g->lock);
}

void group_note_poll_expired(gregor_group *g)
{
    pthread_mutex_lock(&g->lock);
    g->poll_expired = true;
    g->poll_expired_report = true;
    pthread_mutex_unlock(&g->lock);
    gregor_consumer_wakeup(g->consumer);
}

gregor_err group_call(gregor_group *g, int32_t node, cluster_conn_kind kind, int16_t api, int16_t max_version,
                      net_encode_fn encode, void *opaque, int32_t timeout_ms, cluster_reply *reply)
{
    net_request req = {
        .api_key = api,
        .min_version = 0,
        .max_version = max_version,
        .encode = encode,
        .opaque = opaque,
        .timeout_ms = timeout_ms,
    };
    return cluster_call_on(g->client->cluster, node, kind, &req, reply);
}

gregor_err group_coordinator(gregor_group *g, int32_t *node)
{
    char errstr[256];
    gregor_err err = offsets_coordinator(g->offs, net_now_ms() + g->request_timeout_ms, node, errstr, sizeof errstr);
    if (err == GREGOR_OK)
        return GREGOR_OK;
    gregor_log(GREGOR_LOG_INFO, "group '%s': no coordinator yet: %s", g->group_id, errstr);
    if (!offsets_coordinator_lost(err) && !gregor_err_is_retriable(err) && err != GREGOR_ERR_NO_BROKERS)
        group_fatal(g, err, "group '%s': %s: %s", "FindCoordinator");
    return err;
}
