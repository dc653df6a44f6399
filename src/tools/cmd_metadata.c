/* tools/cmd_metadata.c — `gregor metadata`: what the cluster says about its
 * brokers, topics, partitions, leaders, replicas and in-sync replicas, and
 * (--api-versions) which API versions each broker supports and gregor uses.
 * Readable text by default; JSON with -J, with the keys kcat -L -J uses plus
 * gregor's extras (cluster_id, leader_epoch, offline replicas, errors). */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "tools/tool.h"

#define MAX_TOPICS 256
#define MAX_APIS 128

static void usage(FILE *f)
{
    fprintf(f,
            "usage: gregor metadata -b HOST:PORT[,...] [-t TOPIC]... [-J] [--api-versions]\n"
            "                       [-X key=value]... [-m SECONDS]\n"
            "  -b BROKERS       bootstrap brokers (also -X bootstrap=...)\n"
            "  -t TOPIC         only this topic (repeatable); default: all topics\n"
            "  -J               JSON output\n"
            "  --api-versions   the API versions each broker supports and gregor uses\n"
            "  -X key=value     any client option ('gregor config list'), e.g. broker_version=0.8.2\n"
            "  -m SECONDS       how long to wait for the cluster (default 10)\n");
}

typedef struct apis {
    gregor_api_version v[MAX_APIS];
    size_t n;
    gregor_err err;
    char errstr[256];
} apis;

static void print_ids(const int32_t *ids, int32_t n)
{
    for (int32_t i = 0; i < n; i++)
        printf("%s%d", i ? "," : "", ids[i]);
}

static void json_ids(const int32_t *ids, int32_t n)
{
    putchar('[');
    for (int32_t i = 0; i < n; i++)
        printf("%s{\"id\":%d}", i ? "," : "", ids[i]);
    putchar(']');
}

static void print_text(const gregor_metadata *md, size_t n_topics, const apis *per_broker)
{
    const gregor_metadata_broker *from = gregor_metadata_broker_find(md, md->from_node);
    if (from)
        printf("Metadata for %s (from broker %d: %s:%d/%d):\n", n_topics ? "requested topics" : "all topics",
               from->node_id, from->host, from->port, from->node_id);
    else
        printf("Metadata for %s (from a bootstrap broker):\n", n_topics ? "requested topics" : "all topics");
    printf(" cluster id: %s, controller: %d, Metadata v%d\n", md->cluster_id ? md->cluster_id : "(none)",
           md->controller_id, md->metadata_version);
    printf(" %d brokers:\n", md->n_brokers);
    for (int32_t i = 0; i < md->n_brokers; i++) {
        const gregor_metadata_broker *b = &md->brokers[i];
        printf("  broker %d at %s:%d%s%s%s\n", b->node_id, b->host, b->port,
               b->node_id == md->controller_id ? " (controller)" : "", b->rack ? " rack " : "",
               b->rack ? b->rack : "");
        if (!per_broker)
            continue;
        const apis *a = &per_broker[i];
        if (a->err != GREGOR_OK) {
            printf("    API versions: unavailable: %s\n", a->errstr);
            continue;
        }
        printf("    %-28s %-12s %-12s %s\n", "API", "broker", "gregor", "used");
        for (size_t k = 0; k < a->n; k++) {
            const gregor_api_version *v = &a->v[k];
            char name[64], br[24], cl[24], used[8];
            snprintf(name, sizeof name, "%s(%d)", v->name ? v->name : "Unknown", v->api_key);
            if (v->broker_max >= 0)
                snprintf(br, sizeof br, "%d..%d", v->broker_min, v->broker_max);
            else
                snprintf(br, sizeof br, "-");
            if (v->client_max >= 0)
                snprintf(cl, sizeof cl, "%d..%d", v->client_min, v->client_max);
            else
                snprintf(cl, sizeof cl, "-");
            if (v->chosen >= 0)
                snprintf(used, sizeof used, "v%d", v->chosen);
            else
                snprintf(used, sizeof used, "-");
            printf("    %-28s %-12s %-12s %s\n", name, br, cl, used);
        }
    }
    printf(" %d topics:\n", md->n_topics);
    for (int32_t i = 0; i < md->n_topics; i++) {
        const gregor_metadata_topic *t = &md->topics[i];
        printf("  topic \"%s\" with %d partitions:%s%s%s\n", t->name, t->n_partitions,
               t->internal ? " (internal)" : "", t->err ? " error: " : "", t->err ? gregor_err_name(t->err) : "");
        for (int32_t p = 0; p < t->n_partitions; p++) {
            const gregor_metadata_partition *pa = &t->partitions[p];
            printf("    partition %d, leader %d, replicas: ", pa->id, pa->leader);
            print_ids(pa->replicas, pa->n_replicas);
            printf(", isrs: ");
            print_ids(pa->isr, pa->n_isr);
            if (pa->n_offline) {
                printf(", offline: ");
                print_ids(pa->offline, pa->n_offline);
            }
            if (pa->leader_epoch >= 0)
                printf(", leader epoch %d", pa->leader_epoch);
            if (pa->err)
                printf(", error: %s", gregor_err_name(pa->err));
            putchar('\n');
        }
    }
}

static void print_json(const gregor_metadata *md, const char *const *topics, size_t n_topics,
                       const apis *per_broker)
{
    const gregor_metadata_broker *from = gregor_metadata_broker_find(md, md->from_node);
    printf("{\"originating_broker\":{\"id\":%d,\"name\":", md->from_node);
    if (from) {
        char name[300];
        snprintf(name, sizeof name, "%s:%d/%d", from->host, from->port, from->node_id);
        json_string(stdout, name);
    } else {
        json_string(stdout, "bootstrap");
    }
    printf("},\"query\":{\"topic\":");
    json_string(stdout, n_topics == 1 ? topics[0] : "*");
    printf("},\"cluster_id\":");
    json_string(stdout, md->cluster_id);
    printf(",\"controllerid\":%d,\"metadata_version\":%d,\"brokers\":[", md->controller_id,
           md->metadata_version);
    for (int32_t i = 0; i < md->n_brokers; i++) {
        const gregor_metadata_broker *b = &md->brokers[i];
        char name[300];
        snprintf(name, sizeof name, "%s:%d", b->host, b->port);
        printf("%s{\"id\":%d,\"name\":", i ? "," : "", b->node_id);
        json_string(stdout, name);
        printf(",\"rack\":");
        json_string(stdout, b->rack);
        if (per_broker) {
            const apis *a = &per_broker[i];
            if (a->err != GREGOR_OK) {
                printf(",\"api_versions_error\":");
                json_string(stdout, a->errstr);
            } else {
                printf(",\"api_versions\":[");
                for (size_t k = 0; k < a->n; k++) {
                    const gregor_api_version *v = &a->v[k];
                    printf("%s{\"api_key\":%d,\"name\":", k ? "," : "", v->api_key);
                    json_string(stdout, v->name);
                    printf(",\"broker_min\":%d,\"broker_max\":%d,\"gregor_min\":%d,\"gregor_max\":%d,"
                           "\"used\":%d}",
                           v->broker_min, v->broker_max, v->client_min, v->client_max, v->chosen);
                }
                putchar(']');
            }
        }
        putchar('}');
    }
    printf("],\"topics\":[");
    for (int32_t i = 0; i < md->n_topics; i++) {
        const gregor_metadata_topic *t = &md->topics[i];
        printf("%s{\"topic\":", i ? "," : "");
        json_string(stdout, t->name);
        if (t->err) {
            printf(",\"error\":");
            json_string(stdout, gregor_err_name(t->err));
        }
        printf(",\"internal\":%s,\"partitions\":[", t->internal ? "true" : "false");
        for (int32_t p = 0; p < t->n_partitions; p++) {
            const gregor_metadata_partition *pa = &t->partitions[p];
            printf("%s{\"partition\":%d,\"leader\":%d,\"leader_epoch\":%d,\"replicas\":", p ? "," : "",
                   pa->id, pa->leader, pa->leader_epoch);
            json_ids(pa->replicas, pa->n_replicas);
            printf(",\"isrs\":");
            json_ids(pa->isr, pa->n_isr);
            printf(",\"offline\":");
            json_ids(pa->offline, pa->n_offline);
            if (pa->err) {
                printf(",\"error\":");
                json_string(stdout, gregor_err_name(pa->err));
            }
            putchar('}');
        }
        printf("]}");
    }
    printf("]}\n");
}

int cmd_metadata(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"api-versions", no_argument, NULL, 'A'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    gregor_config *cfg = gregor_config_new();
    const char *topics[MAX_TOPICS];
    size_t n_topics = 0;
    bool json = false, api_versions = false;
    int32_t timeout_ms = 10000;
    int rc = TOOL_EXIT_USAGE;
    char err[512];
    if (!cfg) {
        tool_error("metadata", "out of memory");
        return TOOL_EXIT_FAIL;
    }
    optind = 1;
    int opt;
    while ((opt = getopt_long(argc, argv, "b:t:JX:m:h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'b':
            if (gregor_config_set(cfg, "bootstrap", optarg, err, sizeof err) != GREGOR_OK) {
                tool_error("metadata", "%s", err);
                goto out;
            }
            break;
        case 't':
            if (n_topics == MAX_TOPICS) {
                tool_error("metadata", "at most %d topics", MAX_TOPICS);
                goto out;
            }
            topics[n_topics++] = optarg;
            break;
        case 'J': json = true; break;
        case 'A': api_versions = true; break;
        case 'X':
            if (!tool_apply_x(cfg, optarg))
                goto out;
            break;
        case 'm': {
            char *end;
            double s = strtod(optarg, &end);
            if (*end || s <= 0 || s > 3600) {
                tool_error("metadata", "-m expects seconds (0 < s <= 3600), got '%s'", optarg);
                goto out;
            }
            timeout_ms = (int32_t)(s * 1000);
            break;
        }
        case 'h':
            usage(stdout);
            rc = TOOL_EXIT_OK;
            goto out;
        default:
            usage(stderr);
            goto out;
        }
    }
    if (optind < argc) {
        tool_error("metadata", "unexpected argument '%s'", argv[optind]);
        goto out;
    }

    rc = TOOL_EXIT_FAIL;
    gregor_client *client;
    if (gregor_client_new(cfg, &client, err, sizeof err) != GREGOR_OK) {
        tool_error("metadata", "%s", err);
        goto out;
    }
    const gregor_metadata *md;
    gregor_err e = gregor_client_metadata(client, n_topics ? topics : NULL, n_topics, timeout_ms, &md,
                                          err, sizeof err);
    if (e != GREGOR_OK) {
        tool_error("metadata", "cannot get metadata from %s: %s", gregor_config_get(cfg, "bootstrap"), err);
        gregor_client_destroy(client);
        goto out;
    }
    apis *per_broker = NULL;
    if (api_versions) {
        per_broker = calloc((size_t)(md->n_brokers ? md->n_brokers : 1), sizeof *per_broker);
        if (!per_broker) {
            tool_error("metadata", "out of memory");
            gregor_metadata_destroy(md);
            gregor_client_destroy(client);
            goto out;
        }
        for (int32_t i = 0; i < md->n_brokers; i++) {
            apis *a = &per_broker[i];
            a->err = gregor_client_api_versions(client, md->brokers[i].node_id, timeout_ms, a->v, MAX_APIS,
                                                &a->n, a->errstr, sizeof a->errstr);
        }
    }
    if (json)
        print_json(md, topics, n_topics, per_broker);
    else
        print_text(md, n_topics, per_broker);
    rc = TOOL_EXIT_OK;
    for (int32_t i = 0; per_broker && i < md->n_brokers; i++)
        if (per_broker[i].err != GREGOR_OK)
            rc = TOOL_EXIT_FAIL;
    free(per_broker);
    gregor_metadata_destroy(md);
    gregor_client_destroy(client);
out:
    gregor_config_destroy(cfg);
    return rc;
}
