/* Integration: the producer while the partition leader is killed and
 * restarted (3-node cluster GREGOR_TEST_KAFKA3, replication factor 3,
 * min.insync.replicas 2, acks=all, idempotence on).
 *
 * A thread produces numbered messages continuously to a 3-partition topic;
 * the leader of partition 0 is killed with SIGKILL in the middle and
 * restarted later. Then: every message got exactly one report; kcat reads
 * every acknowledged message exactly once, in produce order within each
 * partition, at the offset its report gave; no message appears twice
 * (failed ones may be absent, never duplicated).
 *
 * GREGOR_TEST_KAFKA3_NAME names the cluster for kafka-dev ("kafka3" by
 * default).
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gregor/gregor.h"
#include "testutil.h"

#define N_MSGS 60000
#define N_PARTS 3

typedef struct outcome {
    pthread_mutex_t lock;
    int64_t offset[N_MSGS]; /* -2 no report yet, -1 failed */
    int32_t partition[N_MSGS];
    int reports[N_MSGS];
    size_t ok, failed;
    gregor_err last_err;
} outcome;

static outcome out;
static atomic_int produced;

static void on_delivery(const gregor_delivery *d, void *arg)
{
    (void)arg;
    size_t i = (size_t)(uintptr_t)d->opaque;
    pthread_mutex_lock(&out.lock);
    out.reports[i]++;
    out.offset[i] = d->err == GREGOR_OK ? d->offset : -1;
    out.partition[i] = d->partition;
    if (d->err == GREGOR_OK)
        out.ok++;
    else
        out.failed++, out.last_err = d->err;
    pthread_mutex_unlock(&out.lock);
}

typedef struct run_args {
    gregor_producer *p;
    const char *topic;
} run_args;

static void *produce_loop(void *arg)
{
    run_args *a = arg;
    for (int i = 0; i < N_MSGS; i++) {
        char key[16], value[32];
        snprintf(key, sizeof key, "k%d", i % 101);
        snprintf(value, sizeof value, "%d", i);
        gregor_produce_message m = {.topic = a->topic, .partition = GREGOR_PARTITION_ANY, .key = key,
                                    .key_len = strlen(key), .value = value, .value_len = strlen(value),
                                    .opaque = (void *)(uintptr_t)i};
        gregor_err e = gregor_producer_produce(a->p, &m);
        cr_assert_eq(e, GREGOR_OK, "produce %d: %s", i, gregor_err_name(e));
        atomic_store(&produced, i + 1);
        if (i % 100 == 99)
            usleep(20000); /* ~5k messages/s: the run spans the kill and the restart */
    }
    return NULL;
}

Test(producer_failover, leader_killed_mid_produce_acks_all_idempotent, .timeout = 300)
{
    const char *bootstrap = tu_env_required("GREGOR_TEST_KAFKA3");
    const char *cluster = tu_env_or("GREGOR_TEST_KAFKA3_NAME", "kafka3");
    char topic[64];
    snprintf(topic, sizeof topic, "producer-failover-%ld-%d", (long)time(NULL), (int)getpid());
    tu_kafka_dev("create-topic %s %s %d 3 min.insync.replicas=2", cluster, topic, N_PARTS);
    pthread_mutex_init(&out.lock, NULL);
    for (int i = 0; i < N_MSGS; i++)
        out.offset[i] = -2;

    gregor_config *cfg = gregor_config_new();
    char err[256];
    cr_assert_eq(gregor_config_set(cfg, "bootstrap", bootstrap, err, sizeof err), GREGOR_OK);
    cr_assert_eq(gregor_config_set(cfg, "acks", "all", err, sizeof err), GREGOR_OK);
    cr_assert_eq(gregor_config_set(cfg, "enable_idempotence", "true", err, sizeof err), GREGOR_OK);
    cr_assert_eq(gregor_config_set(cfg, "request_timeout_ms", "5000", err, sizeof err), GREGOR_OK);
    cr_assert_eq(gregor_config_set(cfg, "block_ms", "60000", err, sizeof err), GREGOR_OK);
    cr_assert_eq(gregor_config_set(cfg, "delivery_timeout_ms", "90000", err, sizeof err), GREGOR_OK);
    gregor_producer *p;
    cr_assert_eq(gregor_producer_new(cfg, on_delivery, NULL, &p, err, sizeof err), GREGOR_OK, "%s", err);

    int32_t victim;
    tu_partition_leaders(bootstrap, topic, &victim, 1);
    run_args a = {p, topic};
    pthread_t th;
    pthread_create(&th, NULL, produce_loop, &a);
    while (atomic_load(&produced) < N_MSGS / 4)
        usleep(10000);
    tu_kafka_dev("kill %s %d", cluster, victim);
    fprintf(stderr, "killed broker %d after %d messages\n", victim, atomic_load(&produced));
    while (atomic_load(&produced) < N_MSGS * 3 / 4)
        usleep(10000);
    tu_kafka_dev("restart %s %d", cluster, victim);
    fprintf(stderr, "broker %d back; %d messages produced by then\n", victim, atomic_load(&produced));
    pthread_join(th, NULL);
    cr_assert_eq(gregor_producer_flush(p, 120000), GREGOR_OK, "%zu outstanding", gregor_producer_outstanding(p));
    gregor_producer_destroy(p, 1000);
    gregor_config_destroy(cfg);

    for (int i = 0; i < N_MSGS; i++)
        cr_assert_eq(out.reports[i], 1, "message %d reported %d times", i, out.reports[i]);
    fprintf(stderr, "delivered %zu, failed %zu (%s)\n", out.ok, out.failed, gregor_err_name(out.last_err));

    char cmd[512];
    snprintf(cmd, sizeof cmd, "kcat -C -b '%s' -t '%s' -o beginning -e -q -f '%%p %%o %%s\\n' 2>/dev/null",
             bootstrap, topic);
    FILE *f = popen(cmd, "r");
    cr_assert_not_null(f);
    static int seen[N_MSGS];
    int last[N_PARTS] = {-1, -1, -1};
    int part, msg;
    long long off;
    size_t read_n = 0;
    while (fscanf(f, "%d %lld %d", &part, &off, &msg) == 3) {
        cr_assert(msg >= 0 && msg < N_MSGS && part >= 0 && part < N_PARTS);
        cr_assert_eq(seen[msg], 0, "message %d is in the topic twice", msg);
        seen[msg] = 1;
        cr_assert_gt(msg, last[part], "partition %d: %d after %d", part, msg, last[part]);
        last[part] = msg;
        if (out.offset[msg] >= 0) {
            cr_assert_eq(out.partition[msg], part);
            cr_assert_eq(out.offset[msg], off, "message %d: reported offset %lld, in the log at %lld", msg,
                         (long long)out.offset[msg], off);
        }
        read_n++;
    }
    pclose(f);
    for (int i = 0; i < N_MSGS; i++)
        if (out.offset[i] >= 0)
            cr_assert_eq(seen[i], 1, "acknowledged message %d is not in the topic", i);
    fprintf(stderr, "kcat read %zu messages\n", read_n);
}
