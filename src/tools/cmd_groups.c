/* tools/cmd_groups.c — `gregor groups`: the consumer groups of a cluster
 * (every broker's ListGroups), or the ones named with -g, each with its
 * state, protocol type, assignor, members (id, instance id, client id,
 * host) and what each owns, and per partition the committed offset, the log
 * end and the lag, as `kafka-consumer-groups.sh --describe` shows them.
 * Text by default, one JSON document with -J. The requests are in
 * groups_query.c, the partition table in groups_rows.c.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/gen/errors.h"
#include "tools/groups.h"
#include "tools/tool.h"

#define MAX_GROUPS 256
#define MAX_TOPICS 256

/* What the command line asked for. */
typedef struct opts {
    const gregor_config *cfg;
    const char *topics[MAX_TOPICS]; /* -t: only these topics' partitions */
    size_t n_topics;
    int32_t timeout_ms;
    bool json;
} opts;

static void usage(FILE *f)
{
    fprintf(f, "usage: gregor groups -b BROKERS [-g GROUP]... [-t TOPIC]... [-J] [-X key=value]... [-m SECONDS]\n"
               "  -g GROUP        only this group (repeatable); default: every group of the cluster\n"
               "  -t TOPIC        only this topic's partitions (repeatable); with -g on a 0.8 broker, which\n"
               "                  has no groups API, the topics whose committed offsets are shown\n"
               "  -J              JSON output\n"
               "  -X key=value    any client option ('gregor config list')\n"
               "  -m SECONDS      how long each step may wait for the brokers (default 10)\n");
}

/* Names a partition whose log end is unknown on stderr. */
static void log_end_error(void *arg, const grp_row *r, const char *err)
{
    tool_error("groups", "group '%s': log end of %s [%d] unknown: %s", (const char *)arg, r->topic, r->partition,
               err);
}

static const char *or_dash(const char *s)
{
    return s && s[0] ? s : "-";
}

static void print_text(const grp_desc *d, const grp_row *rows, size_t n)
{
    printf("Group %s (coordinator %d): state %s, protocol type %s, %s %s, %zu member%s\n", d->id, d->coordinator,
           or_dash(d->state), or_dash(d->protocol_type), d->kip848 ? "KIP-848 assignor" : "protocol",
           or_dash(d->protocol), d->n_members, d->n_members == 1 ? "" : "s");
    for (size_t i = 0; i < d->n_members; i++) {
        const grp_member *m = &d->members[i];
        printf("  member %s instance %s client %s host %s:", m->member_id, or_dash(m->instance_id),
               or_dash(m->client_id), or_dash(m->host));
        if (m->assignment_error)
            printf(" (%s)", m->assignment_error);
        for (size_t j = 0; j < m->n_owned; j++)
            printf("%s %s [%d]", j ? "," : "", m->owned[j].topic, m->owned[j].partition);
        putchar('\n');
    }
    int wt = 5, wm = 11, wh = 4;
    for (size_t i = 0; i < n; i++) {
        int lt = rows[i].topic ? (int)strlen(rows[i].topic) : 1;
        int lm = rows[i].owner ? (int)strlen(rows[i].owner->member_id) : 1;
        int lh = rows[i].owner ? (int)strlen(or_dash(rows[i].owner->host)) : 1;
        wt = lt > wt ? lt : wt;
        wm = lm > wm ? lm : wm;
        wh = lh > wh ? lh : wh;
    }
    int wg = (int)strlen(d->id) > 5 ? (int)strlen(d->id) : 5;
    printf("\n%-*s %-*s %9s %14s %14s %10s %-*s %-*s %s\n", wg, "GROUP", wt, "TOPIC", "PARTITION", "CURRENT-OFFSET",
           "LOG-END-OFFSET", "LAG", wm, "CONSUMER-ID", wh, "HOST", "CLIENT-ID");
    for (size_t i = 0; i < n; i++) {
        const grp_row *r = &rows[i];
        char part[16] = "-", cur[24] = "-", end[24] = "-", lag[24] = "-";
        if (r->topic)
            snprintf(part, sizeof part, "%d", r->partition);
        if (r->committed >= 0)
            snprintf(cur, sizeof cur, "%lld", (long long)r->committed);
        if (r->log_end >= 0)
            snprintf(end, sizeof end, "%lld", (long long)r->log_end);
        if (groups_row_lag(r) >= 0)
            snprintf(lag, sizeof lag, "%lld", groups_row_lag(r));
        printf("%-*s %-*s %9s %14s %14s %10s %-*s %-*s %s\n", wg, d->id, wt, or_dash(r->topic), part, cur, end, lag,
               wm, r->owner ? r->owner->member_id : "-", wh, r->owner ? or_dash(r->owner->host) : "-",
               r->owner ? or_dash(r->owner->client_id) : "-");
    }
    putchar('\n');
}

static void json_opt_string(const char *s)
{
    if (s)
        json_string(stdout, s);
    else
        fputs("null", stdout);
}

static void print_json(const grp_desc *d, const grp_row *rows, size_t n)
{
    printf("{\"group\":");
    json_string(stdout, d->id);
    printf(",\"coordinator\":%d,\"state\":", d->coordinator);
    json_string(stdout, d->state);
    printf(",\"protocol_type\":");
    json_string(stdout, d->protocol_type);
    printf(",\"protocol\":");
    json_string(stdout, d->protocol);
    printf(",\"group_protocol\":\"%s\",\"members\":[", d->kip848 ? "consumer" : "classic");
    for (size_t i = 0; i < d->n_members; i++) {
        const grp_member *m = &d->members[i];
        printf("%s{\"member_id\":", i ? "," : "");
        json_string(stdout, m->member_id);
        printf(",\"group_instance_id\":");
        json_opt_string(m->instance_id);
        printf(",\"client_id\":");
        json_string(stdout, m->client_id);
        printf(",\"host\":");
        json_string(stdout, m->host);
        printf(",\"assignment\":[");
        for (size_t j = 0; j < m->n_owned; j++) {
            printf("%s{\"topic\":", j ? "," : "");
            json_string(stdout, m->owned[j].topic);
            printf(",\"partition\":%d}", m->owned[j].partition);
        }
        putchar(']');
        if (m->assignment_error) {
            printf(",\"assignment_error\":");
            json_string(stdout, m->assignment_error);
        }
        putchar('}');
    }
    printf("],\"partitions\":[");
    bool first = true;
    for (size_t i = 0; i < n; i++) {
        const grp_row *r = &rows[i];
        if (!r->topic)
            continue;
        printf("%s{\"topic\":", first ? "" : ",");
        json_string(stdout, r->topic);
        printf(",\"partition\":%d,\"committed\":%lld,\"log_end\":%lld,\"lag\":%lld,\"member_id\":", r->partition,
               (long long)r->committed, (long long)r->log_end, groups_row_lag(r));
        json_opt_string(r->owner ? r->owner->member_id : NULL);
        printf(",\"host\":");
        json_opt_string(r->owner ? r->owner->host : NULL);
        printf(",\"client_id\":");
        json_opt_string(r->owner ? r->owner->client_id : NULL);
        putchar('}');
        first = false;
    }
    printf("]}");
}

static void print_json_error(const char *group, const char *errstr)
{
    printf("{\"group\":");
    json_string(stdout, group);
    printf(",\"error\":");
    json_string(stdout, errstr);
    putchar('}');
}

/* Describes and prints one group (while listing, with -t, only when it has
 * partitions of those topics); *shown counts what was printed. False
 * (error on stderr) when it could not be described or part of it is
 * unknown. */
static bool show_group(gregor_consumer *c, const opts *o, const char *group, bool listing, size_t *shown)
{
    char err[512] = "";
    grp_desc d;
    bool json = o->json, offsets_only;
    gregor_err e = groups_describe_any(c, o->cfg, group, o->topics, o->n_topics, o->timeout_ms, &d, &offsets_only,
                                       err, sizeof err);
    if (offsets_only)
        tool_error("groups", "group '%s': the broker has no groups API (Kafka 0.8): committed offsets only", group);
    size_t n = 0;
    grp_row *rows = e == GREGOR_OK ? groups_rows_build(&d, o->topics, o->n_topics, &n) : NULL;
    if (e == GREGOR_OK && rows && listing && o->n_topics && (n == 0 || !rows[0].topic)) {
        free(rows);
        groups_desc_fini(&d);
        return true;
    }
    if (json && (*shown)++)
        putchar(',');
    if (e != GREGOR_OK) {
        if (e == PROTO_ERR_GROUP_ID_NOT_FOUND)
            tool_error("groups", "group '%s' not found (%s)", group, err);
        else
            tool_error("groups", "group '%s': %s", group, err);
        if (json)
            print_json_error(group, err);
        return false;
    }
    bool ok = rows != NULL;
    if (!rows)
        tool_error("groups", "out of memory");
    else
        ok = groups_rows_fill_log_ends(c, rows, n, log_end_error, (void *)group);
    if (rows && json)
        print_json(&d, rows, n);
    else if (rows)
        print_text(&d, rows, n);
    free(rows);
    groups_desc_fini(&d);
    return ok;
}

static int run(gregor_consumer *c, const opts *o, const char *const *groups, size_t n_groups)
{
    bool json = o->json;
    arena a;
    arena_init(&a, ARENA_DEFAULT_LIMIT);
    bool ok = true;
    grp_listed *listed = NULL;
    size_t n = n_groups;
    if (!n_groups) {
        char err[512] = "";
        if (groups_list(gregor_consumer_client(c), o->timeout_ms, &a, &listed, &n, err, sizeof err) != GREGOR_OK) {
            tool_error("groups", "%s", err);
            ok = false;
        }
        if (!ok && n == 0) {
            arena_fini(&a);
            return TOOL_EXIT_FAIL;
        }
        if (!json && n == 0)
            printf("No groups.\n");
    }
    if (json)
        printf("{\"groups\":[");
    size_t shown = 0;
    for (size_t i = 0; i < n; i++) {
        /* A group id may repeat across brokers while a coordinator moves. */
        if (listed && i && !strcmp(listed[i].id, listed[i - 1].id))
            continue;
        ok &= show_group(c, o, listed ? listed[i].id : groups[i], listed != NULL, &shown);
    }
    if (json)
        printf("]}\n");
    arena_fini(&a);
    return ok ? TOOL_EXIT_OK : TOOL_EXIT_FAIL;
}

int cmd_groups(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *groups[MAX_GROUPS];
    size_t n_groups = 0;
    long long wait_s = 10;
    int opt, rc = TOOL_EXIT_USAGE;
    gregor_config *cfg = gregor_config_new();
    if (!cfg)
        return TOOL_EXIT_FAIL;
    opts o = {.cfg = cfg};
    char err[512];
    while ((opt = getopt_long(argc, argv, "b:g:t:JX:m:h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'b':
            if (gregor_config_set(cfg, "bootstrap", optarg, err, sizeof err) != GREGOR_OK) {
                tool_error("groups", "%s", err);
                goto out;
            }
            break;
        case 'g':
            if (n_groups == MAX_GROUPS) {
                tool_error("groups", "at most %d groups", MAX_GROUPS);
                goto out;
            }
            groups[n_groups++] = optarg;
            break;
        case 't':
            if (o.n_topics == MAX_TOPICS) {
                tool_error("groups", "at most %d topics", MAX_TOPICS);
                goto out;
            }
            o.topics[o.n_topics++] = optarg;
            break;
        case 'J': o.json = true; break;
        case 'X':
            if (!tool_apply_x(cfg, optarg))
                goto out;
            break;
        case 'm':
            if (!tool_parse_int("groups", "-m", optarg, 1, 3600, &wait_s))
                goto out;
            break;
        case 'h': usage(stdout); rc = TOOL_EXIT_OK; goto out;
        default: usage(stderr); goto out;
        }
    }
    if (optind != argc) {
        tool_error("groups", "unexpected argument '%s'", argv[optind]);
        usage(stderr);
        goto out;
    }
    if (gregor_config_set(cfg, "enable_auto_commit", "false", err, sizeof err) != GREGOR_OK) {
        tool_error("groups", "%s", err);
        goto out;
    }
    gregor_consumer *c;
    if (gregor_consumer_new(cfg, &c, err, sizeof err) != GREGOR_OK) {
        tool_error("groups", "%s", err);
        rc = TOOL_EXIT_FAIL;
        goto out;
    }
    o.timeout_ms = (int32_t)(wait_s * 1000);
    rc = run(c, &o, groups, n_groups);
    gregor_consumer_destroy(c);
out:
    gregor_config_destroy(cfg);
    return rc;
}
