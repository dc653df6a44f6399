/* tools/cmd_offsets.c — `gregor offsets`: a group's committed offset, the
 * log end and the lag per partition; --reset-to moves the committed
 * offsets (earliest, latest or an offset) for the listed topics. Without
 * -t, every topic of the cluster is asked about and the partitions with a
 * committed offset are shown. Text by default, JSON with -J. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "tools/tool.h"

#define MAX_TOPICS 256

static void usage(FILE *f)
{
    fprintf(f, "usage: gregor offsets -b BROKERS -g GROUP [-t TOPIC]... [--reset-to earliest|latest|OFFSET]\n"
               "                      [-J] [-X key=value]...\n"
               "  -g GROUP        the consumer group\n"
               "  -t TOPIC        only this topic (repeatable); default: every topic the group committed for\n"
               "  --reset-to X    commit X (earliest, latest or an offset) for every partition of the topics\n"
               "  -J              JSON output\n"
               "  -X key=value    any client option ('gregor config list')\n");
}

typedef struct row {
    gregor_topic_offset o;
    int64_t low, high;
    gregor_err wm_err;
} row;

/* Every partition of the topics (all non-internal topics when n_topics is 0). */
static row *list_partitions(gregor_consumer *c, const char *const *topics, size_t n_topics, size_t *n_rows,
                            const gregor_metadata **md_out)
{
    char err[512];
    const gregor_metadata *md;
    if (gregor_client_metadata(gregor_consumer_client(c), n_topics ? topics : NULL, n_topics, 30000, &md, err,
                               sizeof err) != GREGOR_OK) {
        tool_error("offsets", "%s", err);
        return NULL;
    }
    size_t n = 0;
    for (int32_t i = 0; i < md->n_topics; i++)
        if (!md->topics[i].internal && !md->topics[i].err)
            n += (size_t)md->topics[i].n_partitions;
    row *rows = calloc(n ? n : 1, sizeof *rows);
    if (!rows) {
        gregor_metadata_destroy(md);
        return NULL;
    }
    size_t k = 0;
    for (int32_t i = 0; i < md->n_topics; i++) {
        const gregor_metadata_topic *t = &md->topics[i];
        if (t->err && n_topics)
            tool_error("offsets", "topic '%s': %s", t->name, gregor_err_name(t->err));
        if (t->internal || t->err)
            continue;
        for (int32_t p = 0; p < t->n_partitions; p++)
            rows[k++].o = (gregor_topic_offset){.topic = t->name, .partition = t->partitions[p].id};
    }
    *n_rows = k;
    *md_out = md; /* the names live there */
    return rows;
}

static void print_rows(const row *rows, size_t n, bool json, bool only_committed, const char *group)
{
    if (json) {
        printf("{\"group\":");
        json_string(stdout, group);
        printf(",\"partitions\":[");
    } else {
        printf("%-32s %9s %12s %12s %10s  %s\n", "TOPIC", "PARTITION", "COMMITTED", "LOG_END", "LAG", "METADATA");
    }
    bool first = true;
    for (size_t i = 0; i < n; i++) {
        const row *r = &rows[i];
        if (only_committed && r->o.offset < 0)
            continue;
        long long lag = r->o.offset >= 0 && r->wm_err == GREGOR_OK ? (long long)(r->high - r->o.offset) : -1;
        if (json) {
            printf("%s{\"topic\":", first ? "" : ",");
            json_string(stdout, r->o.topic);
            printf(",\"partition\":%d,\"committed\":%lld,\"log_start\":%lld,\"log_end\":%lld,\"lag\":%lld,"
                   "\"metadata\":",
                   r->o.partition, (long long)r->o.offset, r->wm_err ? -1LL : (long long)r->low,
                   r->wm_err ? -1LL : (long long)r->high, lag);
            json_string(stdout, r->o.metadata);
            if (r->o.err) {
                printf(",\"error\":");
                json_string(stdout, gregor_err_name(r->o.err));
            }
            putchar('}');
        } else {
            char committed[24], lagstr[24], end[24];
            snprintf(committed, sizeof committed, r->o.offset >= 0 ? "%lld" : "-", (long long)r->o.offset);
            snprintf(lagstr, sizeof lagstr, lag >= 0 ? "%lld" : "-", lag);
            snprintf(end, sizeof end, r->wm_err ? "-" : "%lld", (long long)r->high);
            printf("%-32s %9d %12s %12s %10s  %s%s%s\n", r->o.topic, r->o.partition, committed, end, lagstr, r->o.metadata ? r->o.metadata : "", r->o.err ? " error: " : "",
                   r->o.err ? gregor_err_name(r->o.err) : "");
        }
        first = false;
    }
    if (json)
        printf("]}\n");
}

/* Commits reset_to (earliest, latest or an offset) for every row. A
 * partition whose log start or end cannot be looked up is named on stderr,
 * counted in *not_reset and left out of the commit: committing anything
 * else there (0, say) would silently move the group. False (error printed)
 * when the commit itself fails. */
static bool reset(gregor_consumer *c, row *rows, size_t n, const char *reset_to, size_t *not_reset)
{
    char err[512];
    bool earliest = !strcmp(reset_to, "earliest"), latest = !strcmp(reset_to, "latest");
    gregor_topic_offset *v = calloc(n ? n : 1, sizeof *v);
    if (!v) {
        tool_error("offsets", "out of memory");
        return false;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        row *r = &rows[i];
        r->wm_err = gregor_consumer_watermarks(c, r->o.topic, r->o.partition, &r->low, &r->high, err, sizeof err);
        if (r->wm_err != GREGOR_OK && (earliest || latest)) {
            tool_error("offsets", "%s [%d]: not reset to %s, its log %s is unknown: %s", r->o.topic, r->o.partition,
                       reset_to, earliest ? "start" : "end", err);
            (*not_reset)++;
            continue;
        }
        v[k] = r->o;
        v[k++].offset = earliest ? r->low : latest ? r->high : strtoll(reset_to, NULL, 10);
    }
    gregor_err e = k ? gregor_consumer_commit(c, v, k, NULL, NULL, NULL, err, sizeof err) : GREGOR_OK;
    free(v);
    if (e != GREGOR_OK)
        tool_error("offsets", "%s", err);
    return e == GREGOR_OK;
}

static int run(gregor_consumer *c, const char *group, const char *const *topics, size_t n_topics,
               const char *reset_to, bool json)
{
    size_t n;
    const gregor_metadata *md = NULL;
    row *rows = list_partitions(c, topics, n_topics, &n, &md);
    if (!rows)
        return TOOL_EXIT_FAIL;
    int rc = TOOL_EXIT_FAIL;
    char err[512];
    size_t not_reset = 0;
    if (reset_to && !reset(c, rows, n, reset_to, &not_reset))
        goto out;
    gregor_topic_offset *q = calloc(n ? n : 1, sizeof *q);
    if (!q)
        goto out;
    for (size_t i = 0; i < n; i++)
        q[i] = rows[i].o;
    gregor_err e = n ? gregor_consumer_committed(c, q, n, err, sizeof err) : GREGOR_OK;
    for (size_t i = 0; i < n; i++)
        rows[i].o = q[i];
    free(q);
    if (e != GREGOR_OK && e > 0 && e != 3) {
        tool_error("offsets", "%s", err);
        goto out;
    }
    /* Log ends of the rows shown (without -t only those with a committed offset). */
    for (size_t i = 0; i < n && !reset_to; i++)
        if (n_topics || rows[i].o.offset >= 0)
            rows[i].wm_err = gregor_consumer_watermarks(c, rows[i].o.topic, rows[i].o.partition, &rows[i].low,
                                                        &rows[i].high, err, sizeof err);
    print_rows(rows, n, json, n_topics == 0, group);
    if (not_reset)
        tool_error("offsets", "%zu partition(s) not reset (see above)", not_reset);
    rc = not_reset ? TOOL_EXIT_FAIL : TOOL_EXIT_OK;
out:
    free(rows);
    gregor_metadata_destroy(md);
    return rc;
}

static bool valid_reset(const char *s)
{
    if (!strcmp(s, "earliest") || !strcmp(s, "latest"))
        return true;
    char *end;
    long long v = strtoll(s, &end, 10);
    return s[0] && !*end && v >= 0;
}

int cmd_offsets(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"reset-to", required_argument, NULL, 'R'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *topics[MAX_TOPICS];
    size_t n_topics = 0;
    const char *group = NULL, *reset_to = NULL;
    bool json = false;
    int opt, rc = TOOL_EXIT_USAGE;
    gregor_config *cfg = gregor_config_new();
    if (!cfg)
        return TOOL_EXIT_FAIL;
    char err[512];
    while ((opt = getopt_long(argc, argv, "b:g:t:JX:h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'b':
            if (gregor_config_set(cfg, "bootstrap", optarg, err, sizeof err) != GREGOR_OK) {
                tool_error("offsets", "%s", err);
                goto out;
            }
            break;
        case 'g': group = optarg; break;
        case 't':
            if (n_topics == MAX_TOPICS) {
                tool_error("offsets", "at most %d topics", MAX_TOPICS);
                goto out;
            }
            topics[n_topics++] = optarg;
            break;
        case 'R': reset_to = optarg; break;
        case 'J': json = true; break;
        case 'X':
            if (!tool_apply_x(cfg, optarg))
                goto out;
            break;
        case 'h': usage(stdout); rc = TOOL_EXIT_OK; goto out;
        default: usage(stderr); goto out;
        }
    }
    if (!group || optind != argc || (reset_to && (!n_topics || !valid_reset(reset_to)))) {
        tool_error("offsets", !group ? "-g GROUP is required"
                              : optind != argc ? "unexpected argument"
                                               : "--reset-to needs -t TOPIC and earliest, latest or an offset");
        usage(stderr);
        goto out;
    }
    if (gregor_config_set(cfg, "group_id", group, err, sizeof err) != GREGOR_OK ||
        gregor_config_set(cfg, "enable_auto_commit", "false", err, sizeof err) != GREGOR_OK) {
        tool_error("offsets", "%s", err);
        goto out;
    }
    gregor_consumer *c;
    if (gregor_consumer_new(cfg, &c, err, sizeof err) != GREGOR_OK) {
        tool_error("offsets", "%s", err);
        rc = TOOL_EXIT_FAIL;
        goto out;
    }
    rc = run(c, group, topics, n_topics, reset_to, json);
    gregor_consumer_destroy(c);
out:
    gregor_config_destroy(cfg);
    return rc;
}
