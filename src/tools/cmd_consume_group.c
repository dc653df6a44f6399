/* tools/cmd_consume_group.c — `gregor consume -G GROUP TOPIC...`: a member
 * of a consumer group, as kcat -G: prints the messages of the partitions
 * the group assigns it, reports each rebalance on stderr in kcat's words
 *
 *   % Group GROUP rebalanced (memberid ID): assigned: topic [0], topic [1]
 *   % Group GROUP rebalanced (memberid ID): revoked: topic [0]
 *
 * ("lost:" when the member was fenced out and could not hand them over),
 * and commits what it printed: the offset after the last message written
 * to stdout, every 5 s, before a partition is revoked, and on exit. A
 * topic starting with ^ is a regular expression. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tools/consume.h"

#define COMMIT_INTERVAL_MS 5000

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The offset after the last printed message of each partition seen. */
typedef struct printed {
    char *topic;
    int32_t partition;
    int64_t next;      /* -1: nothing printed since assigned */
    int64_t committed; /* what was last committed */
    bool owned;
} printed;

typedef struct member_state {
    const char *group;
    const consume_opts *o;
    gregor_group *g;
    printed *p;
    size_t n, cap;
    bool output_failed;
    bool ever_assigned;
} member_state;

static printed *find(member_state *s, const char *topic, int32_t partition, bool add)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->p[i].partition == partition && !strcmp(s->p[i].topic, topic))
            return &s->p[i];
    if (!add)
        return NULL;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        printed *v = realloc(s->p, cap * sizeof *v);
        if (!v)
            return NULL;
        s->p = v;
        s->cap = cap;
    }
    char *t = strdup(topic);
    if (!t)
        return NULL;
    s->p[s->n] = (printed){t, partition, -1, -1, false};
    return &s->p[s->n++];
}

/* Commits what was printed of the partitions in `only` (NULL: all owned).
 * Output is flushed first: nothing is committed that did not reach stdout. */
static void commit_printed(member_state *s, const gregor_topic_offset *only, size_t n_only)
{
    if (s->output_failed || !consume_flush_out()) {
        s->output_failed = true;
        return;
    }
    gregor_topic_offset *v = calloc(s->n ? s->n : 1, sizeof *v);
    if (!v)
        return;
    size_t k = 0;
    for (size_t i = 0; i < s->n; i++) {
        printed *p = &s->p[i];
        bool wanted = only == NULL ? p->owned : false;
        for (size_t j = 0; only && j < n_only && !wanted; j++)
            wanted = only[j].partition == p->partition && !strcmp(only[j].topic, p->topic);
        if (wanted && p->next >= 0 && p->next != p->committed)
            v[k++] = (gregor_topic_offset){.topic = p->topic, .partition = p->partition, .offset = p->next};
    }
    char err[512];
    if (k > 0) {
        if (gregor_group_commit(s->g, v, k, NULL, NULL, NULL, err, sizeof err) != GREGOR_OK) {
            if (!s->o->quiet)
                tool_error("consume", "%s", err);
        } else {
            for (size_t i = 0; i < k; i++) {
                printed *p = find(s, v[i].topic, v[i].partition, false);
                if (p)
                    p->committed = v[i].offset;
            }
        }
    }
    free(v);
}

static void print_rebalance(member_state *s, const char *what, const gregor_topic_offset *tps, size_t n)
{
    if (s->o->quiet)
        return;
    char id[256];
    gregor_group_member_id(s->g, id, sizeof id);
    fprintf(stderr, "%% Group %s rebalanced (memberid %s): %s: ", s->group, id, what);
    for (size_t i = 0; i < n; i++)
        fprintf(stderr, "%s%s [%d]", i ? ", " : "", tps[i].topic, (int)tps[i].partition);
    fputc('\n', stderr);
    fflush(stderr);
}

static void on_rebalance(gregor_group *g, gregor_rebalance_kind kind, const gregor_topic_offset *tps, size_t n,
                         void *opaque)
{
    (void)g;
    member_state *s = opaque;
    switch (kind) {
    case GREGOR_REBALANCE_ASSIGNED:
        s->ever_assigned = true;
        for (size_t i = 0; i < n; i++) {
            printed *p = find(s, tps[i].topic, tps[i].partition, true);
            if (p) {
                p->owned = true;
                p->next = p->committed = -1;
            }
        }
        print_rebalance(s, "assigned", tps, n);
        break;
    case GREGOR_REBALANCE_REVOKED:
        commit_printed(s, tps, n);
        /* fall through - the partitions go */
    case GREGOR_REBALANCE_LOST:
        for (size_t i = 0; i < n; i++) {
            printed *p = find(s, tps[i].topic, tps[i].partition, false);
            if (p)
                p->owned = false;
        }
        print_rebalance(s, kind == GREGOR_REBALANCE_LOST ? "lost" : "revoked", tps, n);
        break;
    }
}

/* -e: every owned partition printed up to its end. */
static bool all_at_end(member_state *s)
{
    if (!s->ever_assigned)
        return false;
    gregor_consumer *c = gregor_group_consumer(s->g);
    size_t owned = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (!s->p[i].owned)
            continue;
        owned++;
        gregor_partition_state st;
        if (gregor_consumer_position(c, s->p[i].topic, s->p[i].partition, &st) != GREGOR_OK ||
            st.high_watermark < 0 || st.position < st.high_watermark)
            return false;
    }
    return owned > 0;
}

static gregor_err subscribe(gregor_group *g, const char *const *topics, size_t n, char *err, size_t en)
{
    if (n == 1 && topics[0][0] == '^')
        return gregor_group_subscribe_pattern(g, topics[0], err, en);
    for (size_t i = 0; i < n; i++)
        if (topics[i][0] == '^') {
            snprintf(err, en, "a regular expression (%s) must be the only topic", topics[i]);
            return GREGOR_ERR_INVALID_ARG;
        }
    return gregor_group_subscribe(g, topics, n, err, en);
}

int consume_group(gregor_config *cfg, const consume_opts *o, const char *const *topics, size_t n_topics)
{
    char err[512];
    /* What is committed is what was printed: no automatic commits. */
    if (gregor_config_set(cfg, "enable_auto_commit", "false", err, sizeof err) != GREGOR_OK) {
        tool_error("consume", "%s", err);
        return TOOL_EXIT_FAIL;
    }
    member_state s = {.group = gregor_config_get(cfg, "group_id"), .o = o};
    if (gregor_group_new(cfg, &s.g, err, sizeof err) != GREGOR_OK) {
        tool_error("consume", "%s", err);
        return TOOL_EXIT_FAIL;
    }
    gregor_group_set_rebalance_cb(s.g, on_rebalance, &s);
    int rc = TOOL_EXIT_OK;
    if (subscribe(s.g, topics, n_topics, err, sizeof err) != GREGOR_OK) {
        tool_error("consume", "%s", err);
        rc = TOOL_EXIT_USAGE;
        goto out;
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    consume_setup_output(o);
    int64_t last_commit = now_ms();
    long long seen = 0;
    while (!stop_requested && !s.output_failed && (o->count <= 0 || seen < o->count)) {
        gregor_batch *b = NULL;
        gregor_err e = gregor_group_poll(s.g, 0, &b, err, sizeof err);
        if (e == GREGOR_OK && !b) {
            if (!consume_flush_out()) {
                s.output_failed = true;
                break;
            }
            e = gregor_group_poll(s.g, 200, &b, err, sizeof err);
        }
        if (e == GREGOR_ERR_MAX_POLL_EXCEEDED) {
            tool_error("consume", "%s", err); /* the member joins again */
            continue;
        }
        if (e != GREGOR_OK) {
            tool_error("consume", "%s", err);
            rc = TOOL_EXIT_FAIL;
            break;
        }
        size_t k = gregor_batch_count(b);
        for (size_t i = 0; i < k && (o->count <= 0 || seen < o->count); i++, seen++) {
            const gregor_message *m = gregor_batch_message(b, i);
            consume_print_message(stdout, o, m, -1);
            printed *p = find(&s, m->topic, m->partition, true);
            if (p)
                p->next = m->offset + 1;
        }
        gregor_batch_destroy(b);
        if (now_ms() - last_commit >= COMMIT_INTERVAL_MS) {
            commit_printed(&s, NULL, 0);
            last_commit = now_ms();
        }
        if (o->exit_eof && all_at_end(&s))
            break;
    }
    if (!consume_flush_out())
        s.output_failed = true;
    if (!s.output_failed)
        commit_printed(&s, NULL, 0);
    if (s.output_failed)
        rc = TOOL_EXIT_FAIL;
out:
    /* close revokes what is left (the callback commits what was printed)
     * and leaves the group. */
    if (gregor_group_close(s.g, err, sizeof err) != GREGOR_OK) {
        tool_error("consume", "%s", err);
        rc = TOOL_EXIT_FAIL;
    }
    gregor_group_destroy(s.g);
    for (size_t i = 0; i < s.n; i++)
        free(s.p[i].topic);
    free(s.p);
    return rc;
}
