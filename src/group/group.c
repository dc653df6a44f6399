/* group/group.c — gregor_group's application-side API: creation,
 * subscription, poll (which runs the rebalance steps), commits, close. The
 * membership protocol runs on the member thread (classic.c, or
 * consumer_proto.c for group_protocol=consumer); group_int.h describes how
 * the two meet. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/config.h"
#include "group/group_int.h"
#include "util/clock.h"
#include "util/errstr.h"
#include "util/log.h"

static char *dup_or_null(const char *s) { return s && s[0] ? strdup(s) : NULL; }

/* Parses partition_assignment_strategy: names separated by commas (and
 * spaces); Java's class names are accepted for the same assignors. */
static gregor_err read_assignors(gregor_group *g, const char *list, char *errstr, size_t n)
{
    char *copy = strdup(list);
    if (!copy)
        return GREGOR_ERR_NOMEM;
    gregor_err err = GREGOR_OK;
    g->cooperative = true;
    char *save = NULL;
    for (char *tok = strtok_r(copy, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
        const char *name = tok;
        if (!strcmp(tok, "org.apache.kafka.clients.consumer.RangeAssignor"))
            name = "range";
        else if (!strcmp(tok, "org.apache.kafka.clients.consumer.RoundRobinAssignor"))
            name = "roundrobin";
        else if (!strcmp(tok, "org.apache.kafka.clients.consumer.CooperativeStickyAssignor"))
            name = "cooperative-sticky";
        const group_assignor *a = group_assignor_find(name);
        if (!a) {
            errstr_set(errstr, n, "partition_assignment_strategy: unknown assignor '%s' (range, roundrobin, "
                       "cooperative-sticky)", tok);
            err = GREGOR_ERR_CONFIG;
            break;
        }
        if (g->n_assignors == GROUP_MAX_ASSIGNORS) {
            errstr_set(errstr, n, "partition_assignment_strategy: more than %d assignors", GROUP_MAX_ASSIGNORS);
            err = GREGOR_ERR_CONFIG;
            break;
        }
        g->assignors[g->n_assignors++] = a;
        g->cooperative = g->cooperative && a->cooperative;
    }
    if (err == GREGOR_OK && g->n_assignors == 0) {
        errstr_set(errstr, n, "partition_assignment_strategy: no assignor given");
        err = GREGOR_ERR_CONFIG;
    }
    free(copy);
    return err;
}

static gregor_err read_settings(gregor_group *g, const gregor_config *cfg, char *errstr, size_t n)
{
    const char *group = config_str(cfg, "group_id");
    if (!group[0]) {
        errstr_set(errstr, n, "a group member needs group_id");
        return GREGOR_ERR_CONFIG;
    }
    g->proto = strcmp(config_str(cfg, "group_protocol"), "consumer") == 0 ? &group_protocol_consumer
                                                                        : &group_protocol_classic;
    g->session_timeout_ms = (int32_t)config_int(cfg, "session_timeout_ms");
    g->heartbeat_interval_ms = (int32_t)config_int(cfg, "heartbeat_interval_ms");
    g->max_poll_interval_ms = (int32_t)config_int(cfg, "max_poll_interval_ms");
    g->request_timeout_ms = (int32_t)config_int(cfg, "request_timeout_ms");
    g->commit_timeout_ms = (int32_t)config_int(cfg, "commit_timeout_ms");
    g->retry_backoff_ms = 100;
    g->auto_commit = config_bool(cfg, "enable_auto_commit");
    if (g->heartbeat_interval_ms >= g->session_timeout_ms) {
        errstr_set(errstr, n, "heartbeat_interval_ms (%d) must be below session_timeout_ms (%d)",
                   g->heartbeat_interval_ms, g->session_timeout_ms);
        return GREGOR_ERR_CONFIG;
    }
    gregor_err err = read_assignors(g, config_str(cfg, "partition_assignment_strategy"), errstr, n);
    if (err != GREGOR_OK)
        return err;
    if (!(g->group_id = strdup(group)))
        return GREGOR_ERR_NOMEM;
    g->instance_id = dup_or_null(config_str(cfg, "group_instance_id"));
    g->rack = dup_or_null(config_str(cfg, "client_rack"));
    g->remote_assignor = dup_or_null(config_str(cfg, "group_remote_assignor"));
    return GREGOR_OK;
}

static void free_group(gregor_group *g)
{
    group_sub_fini(&g->sub);
    group_tp_list_free_strings(&g->owned);
    while (g->steps) {
        group_step *s = g->steps;
        g->steps = s->next;
        group_tp_list_free_strings(&s->tps);
        free(s);
    }
    free(g->group_id);
    free(g->instance_id);
    free(g->rack);
    free(g->remote_assignor);
    free(g);
}

/* A member on `client` (NULL: a client of its own). */
static gregor_err new_member(gregor_client *client, const gregor_config *cfg, gregor_group **out, char *errstr,
                             size_t n)
{
    *out = NULL;
    gregor_group *g = calloc(1, sizeof *g);
    if (!g)
        return GREGOR_ERR_NOMEM;
    group_tp_list_init(&g->owned);
    g->generation = -1;
    gregor_err err = read_settings(g, cfg, errstr, n);
    if (err == GREGOR_OK)
        err = client ? gregor_consumer_new_on(client, cfg, &g->consumer, errstr, n)
                     : gregor_consumer_new(cfg, &g->consumer, errstr, n);
    if (err != GREGOR_OK) {
        free_group(g);
        return err;
    }
    g->client = gregor_consumer_client(g->consumer);
    g->conn_kind = cluster_new_member_kind(g->client->cluster);
    g->offs = g->consumer->offs;
    pthread_mutex_init(&g->lock, NULL);
    if (clock_cond_init(&g->cond) != 0) {
        pthread_mutex_destroy(&g->lock);
        gregor_consumer_destroy(g->consumer);
        free_group(g);
        return GREGOR_ERR_NOMEM;
    }
    g->last_poll_ms = net_now_ms();
    *out = g;
    return GREGOR_OK;
}

gregor_err gregor_group_new(const gregor_config *cfg, gregor_group **out, char *errstr, size_t n)
{
    return new_member(NULL, cfg, out, errstr, n);
}

gregor_err gregor_group_new_on(gregor_client *client, const gregor_config *cfg, gregor_group **out, char *errstr,
                               size_t n)
{
    return new_member(client, cfg, out, errstr, n);
}

void gregor_group_set_rebalance_cb(gregor_group *g, gregor_rebalance_cb cb, void *opaque)
{
    g->cb = cb;
    g->cb_opaque = opaque;
}

/* Installs `sub` (taken) and starts the member thread, or tells it. */
static gregor_err install_sub(gregor_group *g, group_sub *sub, char *errstr, size_t n)
{
    pthread_mutex_lock(&g->lock);
    if (g->closed || g->stop) {
        pthread_mutex_unlock(&g->lock);
        group_sub_fini(sub);
        errstr_set(errstr, n, "the group member is closed");
        return GREGOR_ERR_STATE;
    }
    group_sub_fini(&g->sub);
    g->sub = *sub;
    g->sub_version++;
    cluster_snapshot *md = cluster_snapshot_get(g->client->cluster);
    g->sub_md_generation = md ? md->generation : 0; /* the first join waits for a newer one */
    cluster_snapshot_unref(md);
    pthread_cond_broadcast(&g->cond);
    bool start = !g->thread_started;
    pthread_mutex_unlock(&g->lock);
    if (g->sub.has_pattern)
        cluster_want_all_topics(g->client->cluster);
    else if (cluster_add_topics(g->client->cluster, (const char *const *)g->sub.topics, g->sub.n_topics) !=
             GREGOR_OK)
        return GREGOR_ERR_NOMEM;
    if (start) {
        if (pthread_create(&g->thread, NULL, g->proto->main, g) != 0) {
            errstr_set(errstr, n, "cannot start the group member thread: %s", strerror(errno));
            return GREGOR_ERR_IO;
        }
        g->thread_started = true;
    }
    return GREGOR_OK;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

gregor_err gregor_group_subscribe(gregor_group *g, const char *const *topics, size_t n, char *errstr, size_t en)
{
    if (n == 0) {
        errstr_set(errstr, en, "subscribe: no topics given");
        return GREGOR_ERR_INVALID_ARG;
    }
    group_sub sub = {0};
    if (!(sub.topics = calloc(n, sizeof *sub.topics)))
        return GREGOR_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
        if (!topics[i] || !topics[i][0]) {
            group_sub_fini(&sub);
            errstr_set(errstr, en, "subscribe: topic %zu is empty", i);
            return GREGOR_ERR_INVALID_ARG;
        }
        if (!(sub.topics[sub.n_topics++] = strdup(topics[i]))) {
            group_sub_fini(&sub);
            return GREGOR_ERR_NOMEM;
        }
    }
    qsort(sub.topics, sub.n_topics, sizeof *sub.topics, cmp_str);
    size_t k = 0;
    for (size_t i = 0; i < sub.n_topics; i++) {
        if (k > 0 && !strcmp(sub.topics[k - 1], sub.topics[i]))
            free(sub.topics[i]);
        else
            sub.topics[k++] = sub.topics[i];
    }
    sub.n_topics = k;
    return install_sub(g, &sub, errstr, en);
}

gregor_err gregor_group_subscribe_pattern(gregor_group *g, const char *regex, char *errstr, size_t en)
{
    group_sub sub = {0};
    int rc = regcomp(&sub.pattern, regex, REG_EXTENDED);
    if (rc != 0) {
        char msg[128];
        regerror(rc, &sub.pattern, msg, sizeof msg);
        errstr_set(errstr, en, "subscribe: bad regular expression '%s': %s", regex, msg);
        return GREGOR_ERR_CONFIG;
    }
    sub.has_pattern = true;
    if (!(sub.pattern_text = strdup(regex))) {
        group_sub_fini(&sub);
        return GREGOR_ERR_NOMEM;
    }
    return install_sub(g, &sub, errstr, en);
}

/* A pending report of the member's state: max poll exceeded or a fatal
 * error, once each. (lock) */
static gregor_err member_report_locked(gregor_group *g, char *errstr, size_t n)
{
    if (g->poll_expired_report) {
        g->poll_expired_report = false;
        errstr_set(errstr, n,
                   "group '%s': no poll for more than max_poll_interval_ms (%d ms): the member left the group "
                   "and its partitions were given to others; it joins again now",
                   g->group_id, g->max_poll_interval_ms);
        return GREGOR_ERR_MAX_POLL_EXCEEDED;
    }
    if (g->fatal != GREGOR_OK && !g->fatal_reported) {
        g->fatal_reported = true;
        errstr_set(errstr, n, "%s", g->fatal_str);
        return g->fatal;
    }
    return GREGOR_OK;
}

gregor_err gregor_group_poll(gregor_group *g, int32_t timeout_ms, gregor_batch **out, char *errstr, size_t n)
{
    *out = NULL;
    if (g->in_callback) {
        errstr_set(errstr, n, "poll from inside a rebalance callback");
        return GREGOR_ERR_STATE;
    }
    int64_t deadline = timeout_ms < 0 ? INT64_MAX : net_now_ms() + timeout_ms;
    for (;;) {
        pthread_mutex_lock(&g->lock);
        g->last_poll_ms = net_now_ms();
        if (g->poll_expired) {
            g->poll_expired = false; /* the member thread joins again */
            pthread_cond_broadcast(&g->cond);
        }
        pthread_mutex_unlock(&g->lock);
        /* Steps first: a member that left reports its lost partitions to
         * the callback before poll says why. */
        group_run_steps(g, false);
        pthread_mutex_lock(&g->lock);
        gregor_err err = member_report_locked(g, errstr, n);
        pthread_mutex_unlock(&g->lock);
        if (err != GREGOR_OK)
            return err;
        int64_t now = net_now_ms();
        int32_t left = deadline == INT64_MAX ? -1 : now >= deadline ? 0 : (int32_t)(deadline - now);
        /* Wait in slices no longer than the poll interval allows, so that a
         * long poll with nothing to read keeps counting as polling. */
        int32_t slice = g->max_poll_interval_ms / 2;
        int32_t wait = left < 0 || left > slice ? slice : left;
        int64_t start = net_now_ms();
        if ((err = gregor_consumer_poll(g->consumer, wait, out, errstr, n)) != GREGOR_OK || *out)
            return err;
        pthread_mutex_lock(&g->lock);
        bool pending = g->steps != NULL || g->poll_expired_report || (g->fatal && !g->fatal_reported);
        pthread_mutex_unlock(&g->lock);
        if (pending)
            continue; /* the member thread woke us: run its steps */
        now = net_now_ms();
        if (wait > 0 && now < start + wait)
            return GREGOR_OK; /* gregor_group_wakeup() */
        if (left >= 0 && now >= deadline)
            return GREGOR_OK;
    }
}

/* NOT_ASSIGNED for entries not owned now (lock taken). */
static gregor_err check_owned(gregor_group *g, gregor_topic_offset *offs, size_t n, char *errstr, size_t en)
{
    gregor_err err = GREGOR_OK;
    pthread_mutex_lock(&g->lock);
    for (size_t i = 0; i < n; i++) {
        offs[i].err = GREGOR_OK;
        if (!group_tp_list_contains(&g->owned, offs[i].topic, offs[i].partition)) {
            offs[i].err = GREGOR_ERR_NOT_ASSIGNED;
            if (err == GREGOR_OK)
                errstr_set(errstr, en, "commit to group '%s': %s [%d] is not assigned to this member", g->group_id,
                           offs[i].topic, (int)offs[i].partition);
            err = GREGOR_ERR_NOT_ASSIGNED;
        }
    }
    pthread_mutex_unlock(&g->lock);
    return err;
}

gregor_err gregor_group_commit(gregor_group *g, gregor_topic_offset *offsets, size_t n, const char *metadata,
                               gregor_commit_cb cb, void *opaque, char *errstr, size_t en)
{
    if (offsets) {
        gregor_err err = check_owned(g, offsets, n, errstr, en);
        if (err != GREGOR_OK)
            return err;
    }
    return gregor_consumer_commit(g->consumer, offsets, n, metadata, cb, opaque, errstr, en);
}

static gregor_err owned_or_refuse(gregor_group *g, const char *topic, int32_t partition)
{
    pthread_mutex_lock(&g->lock);
    bool owned = group_tp_list_contains(&g->owned, topic, partition);
    pthread_mutex_unlock(&g->lock);
    return owned ? GREGOR_OK : GREGOR_ERR_NOT_ASSIGNED;
}

gregor_err gregor_group_pause(gregor_group *g, const char *topic, int32_t partition)
{
    gregor_err err = owned_or_refuse(g, topic, partition);
    return err != GREGOR_OK ? err : gregor_consumer_pause(g->consumer, topic, partition);
}

gregor_err gregor_group_resume(gregor_group *g, const char *topic, int32_t partition)
{
    gregor_err err = owned_or_refuse(g, topic, partition);
    return err != GREGOR_OK ? err : gregor_consumer_resume(g->consumer, topic, partition);
}

gregor_err gregor_group_assignment(gregor_group *g, gregor_topic_offset **out, size_t *n)
{
    pthread_mutex_lock(&g->lock);
    size_t bytes = g->owned.n * sizeof **out;
    for (size_t i = 0; i < g->owned.n; i++)
        bytes += strlen(g->owned.tps[i].topic) + 1;
    gregor_topic_offset *v = malloc(bytes ? bytes : 1);
    char *strings = v ? (char *)(v + g->owned.n) : NULL;
    for (size_t i = 0; v && i < g->owned.n; i++) {
        size_t len = strlen(g->owned.tps[i].topic) + 1;
        memcpy(strings, g->owned.tps[i].topic, len);
        v[i] = (gregor_topic_offset){.topic = strings, .partition = g->owned.tps[i].partition, .offset = -1};
        strings += len;
    }
    *n = v ? g->owned.n : 0;
    pthread_mutex_unlock(&g->lock);
    *out = v;
    return v ? GREGOR_OK : GREGOR_ERR_NOMEM;
}

int32_t gregor_group_member_id(gregor_group *g, char *buf, size_t size)
{
    pthread_mutex_lock(&g->lock);
    if (buf && size)
        snprintf(buf, size, "%s", g->member_id);
    int32_t gen = g->generation;
    pthread_mutex_unlock(&g->lock);
    return gen;
}

void gregor_group_wakeup(gregor_group *g) { gregor_consumer_wakeup(g->consumer); }

gregor_consumer *gregor_group_consumer(gregor_group *g) { return g->consumer; }

gregor_err gregor_group_close(gregor_group *g, char *errstr, size_t n)
{
    if (g->closed)
        return GREGOR_OK;
    if (g->in_callback) {
        errstr_set(errstr, n, "close from inside a rebalance callback");
        return GREGOR_ERR_STATE;
    }
    /* Steps already queued run first (a revoke the member thread waits for),
     * then everything still owned is revoked: committed, called back and
     * removed, before the group hears that the member leaves. */
    group_run_steps(g, true);
    pthread_mutex_lock(&g->lock);
    group_tp_list all;
    group_tp_list_init(&all);
    gregor_err err = group_tp_list_copy(&all, g->owned.tps, g->owned.n);
    pthread_mutex_unlock(&g->lock);
    if (err == GREGOR_OK && all.n > 0 && group_post_step(g, GROUP_STEP_REVOKE, &all, -1) == 0)
        err = GREGOR_ERR_NOMEM;
    group_tp_list_free_strings(&all);
    group_run_steps(g, true);
    pthread_mutex_lock(&g->lock);
    g->stop = true;
    pthread_cond_broadcast(&g->cond);
    pthread_mutex_unlock(&g->lock);
    if (g->thread_started) {
        if (g->proto->leave)
            g->proto->leave(g);
        pthread_join(g->thread, NULL);
        g->thread_started = false;
    }
    group_run_steps(g, true); /* anything the member thread posted while stopping */
    g->closed = true;
    if (err != GREGOR_OK)
        errstr_set(errstr, n, "close of group '%s': %s", g->group_id, gregor_err_str(err));
    return err;
}

void gregor_group_destroy(gregor_group *g)
{
    if (!g)
        return;
    if (!g->closed) {
        char errstr[256];
        if (gregor_group_close(g, errstr, sizeof errstr) != GREGOR_OK)
            gregor_log(GREGOR_LOG_WARN, "%s", errstr);
    }
    gregor_consumer_destroy(g->consumer);
    pthread_cond_destroy(&g->cond);
    pthread_mutex_destroy(&g->lock);
    free_group(g);
}
