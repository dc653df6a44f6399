/* Integration soak: the idempotent producer while partition leaders keep
 * dying (3-node cluster GREGOR_TEST_KAFKA3, replication factor 3,
 * min.insync.replicas 2, acks=all, enable_idempotence=true).
 *
 * Four threads produce numbered messages continuously to a 6-partition
 * topic (half of them to partition 0, the rest by key), at a bounded rate.
 * From the 5th second on, every 10 s, the leader of the partition that
 * received the most messages in the last period is killed with SIGKILL and
 * restarted (kafka-dev restart waits until the cluster lists it again).
 * When GREGOR_SOAK_SECONDS (default 30: the short run CI does, 3 kills)
 * have passed, producing stops, the producer is flushed and the topic is
 * read back with kcat. Then:
 *   - every message got exactly one delivery report;
 *   - every acknowledged message is in the topic, at the partition and
 *     offset its report gave;
 *   - no message is in the topic twice;
 *   - within each partition, each thread's messages are in produce order.
 * The figures (messages acknowledged, failed, missing, duplicated, out of
 * order, kills, leader moves) are printed on stderr.
 *
 * The full soak (180 s, 18 kills) is registered as soak.producer_soak with
 * the ctest label `soak`, outside the labels CI runs:
 *   ctest --test-dir build/release -L soak --output-on-failure
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

#define N_THREADS 4
#define N_PARTS 6
#define RATE_PER_THREAD 500 /* messages per second */
#define KILL_PERIOD_S 10
#define FIRST_KILL_S 5

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Message id: thread * per_thread + n. */
typedef struct soak {
    pthread_mutex_t lock;
    int per_thread;           /* ids per thread */
    int64_t *offset;          /* per id: -2 no report yet, -1 failed */
    int32_t *partition;
    uint8_t *reports;
    size_t ok, failed;
    gregor_err last_err;
    size_t acked_in_period[N_PARTS];
    atomic_int produced[N_THREADS];
    atomic_bool stop;
    gregor_producer *p;
    const char *topic;
} soak;

static soak S;

static void on_delivery(const gregor_delivery *d, void *arg)
{
    (void)arg;
    size_t id = (size_t)(uintptr_t)d->opaque;
    pthread_mutex_lock(&S.lock);
    if (S.reports[id] < 255)
        S.reports[id]++;
    S.offset[id] = d->err == GREGOR_OK ? d->offset : -1;
    S.partition[id] = d->partition;
    if (d->err == GREGOR_OK) {
        S.ok++;
        if (d->partition >= 0 && d->partition < N_PARTS)
            S.acked_in_period[d->partition]++;
    } else {
        S.failed++;
        S.last_err = d->err;
    }
    pthread_mutex_unlock(&S.lock);
}

static void *produce_loop(void *arg)
{
    int t = (int)(intptr_t)arg;
    int64_t start = mono_ms();
    for (int n = 0; n < S.per_thread && !atomic_load(&S.stop); n++) {
        int id = t * S.per_thread + n;
        char key[16], value[32];
        snprintf(key, sizeof key, "k%d", n % 97);
        snprintf(value, sizeof value, "%d", id);
        gregor_produce_message m = {.topic = S.topic, .partition = n % 2 ? GREGOR_PARTITION_ANY : 0,
                                    .key = key, .key_len = strlen(key), .value = value,
                                    .value_len = strlen(value), .opaque = (void *)(uintptr_t)id};
        gregor_err e = gregor_producer_produce(S.p, &m);
        cr_assert_eq(e, GREGOR_OK, "thread %d, message %d: %s", t, n, gregor_err_name(e));
        atomic_store(&S.produced[t], n + 1);
        /* Keep to the rate: sleep when ahead of it. */
        int64_t due = start + (int64_t)(n + 1) * 1000 / RATE_PER_THREAD;
        int64_t now = mono_ms();
        if (due > now)
            usleep((useconds_t)(due - now) * 1000);
    }
    return NULL;
}

/* The partition that got the most acknowledgements since the last call. */
static int32_t busiest_partition(void)
{
    int32_t best = 0;
    pthread_mutex_lock(&S.lock);
    for (int32_t i = 1; i < N_PARTS; i++)
        if (S.acked_in_period[i] > S.acked_in_period[best])
            best = i;
    memset(S.acked_in_period, 0, sizeof S.acked_in_period);
    pthread_mutex_unlock(&S.lock);
    return best;
}

typedef struct readback {
    size_t read, duplicated, out_of_order, missing, offset_mismatch, failed_but_written, unknown;
} readback;

static void read_back(const char *bootstrap, readback *rb)
{
    size_t n_ids = (size_t)N_THREADS * (size_t)S.per_thread;
    uint8_t *seen = calloc(n_ids, 1);
    cr_assert_not_null(seen);
    int last[N_PARTS][N_THREADS];
    memset(last, 0xff, sizeof last); /* -1 */
    char cmd[512];
    snprintf(cmd, sizeof cmd, "kcat -C -b '%s' -t '%s' -o beginning -e -q -f '%%p %%o %%s\\n' 2>/dev/null",
             bootstrap, S.topic);
    FILE *f = popen(cmd, "r");
    cr_assert_not_null(f);
    int part;
    long long off, id;
    while (fscanf(f, "%d %lld %lld", &part, &off, &id) == 3) {
        rb->read++;
        if (part < 0 || part >= N_PARTS || id < 0 || (size_t)id >= n_ids) {
            rb->unknown++;
            continue;
        }
        if (seen[id]++) {
            rb->duplicated++;
            continue;
        }
        int t = (int)(id / S.per_thread), n = (int)(id % S.per_thread);
        if (n <= last[part][t])
            rb->out_of_order++;
        last[part][t] = n;
        if (S.offset[id] >= 0 && (S.partition[id] != part || S.offset[id] != off))
            rb->offset_mismatch++;
        if (S.offset[id] == -1)
            rb->failed_but_written++;
    }
    pclose(f);
    for (size_t i = 0; i < n_ids; i++)
        if (S.offset[i] >= 0 && !seen[i])
            rb->missing++;
    free(seen);
}

Test(producer_soak, leaders_killed_every_10s_under_acks_all_from_4_threads, .timeout = 1200)
{
    const char *bootstrap = tu_env_required("GREGOR_TEST_KAFKA3");
    const char *cluster = tu_env_or("GREGOR_TEST_KAFKA3_NAME", "kafka3");
    int seconds = atoi(tu_env_or("GREGOR_SOAK_SECONDS", "30"));
    cr_assert(seconds >= 10 && seconds <= 24 * 3600, "GREGOR_SOAK_SECONDS=%d: 10 to 86400", seconds);
    char topic[64];
    snprintf(topic, sizeof topic, "producer-soak-%ld-%d", (long)time(NULL), (int)getpid());
    S.topic = topic;
    tu_kafka_dev("create-topic %s %s %d 3 min.insync.replicas=2", cluster, topic, N_PARTS);

    pthread_mutex_init(&S.lock, NULL);
    S.per_thread = RATE_PER_THREAD * (seconds + 60); /* room for the run and the last restart */
    size_t n_ids = (size_t)N_THREADS * (size_t)S.per_thread;
    S.offset = malloc(n_ids * sizeof *S.offset);
    S.partition = malloc(n_ids * sizeof *S.partition);
    S.reports = calloc(n_ids, 1);
    cr_assert(S.offset && S.partition && S.reports);
    for (size_t i = 0; i < n_ids; i++)
        S.offset[i] = -2;

    gregor_config *cfg = gregor_config_new();
    char err[256];
    static const char *const kv[] = {
        "bootstrap", NULL, "acks", "all", "enable_idempotence", "true", "linger_ms", "5",
        "request_timeout_ms", "5000", "block_ms", "60000", "delivery_timeout_ms", "120000", NULL};
    for (const char *const *o = kv; o[0]; o += 2)
        cr_assert_eq(gregor_config_set(cfg, o[0], o[1] ? o[1] : bootstrap, err, sizeof err), GREGOR_OK, "%s", err);
    cr_assert_eq(gregor_producer_new(cfg, on_delivery, NULL, &S.p, err, sizeof err), GREGOR_OK, "%s", err);

    pthread_t th[N_THREADS];
    for (int t = 0; t < N_THREADS; t++)
        cr_assert_eq(pthread_create(&th[t], NULL, produce_loop, (void *)(intptr_t)t), 0);

    int64_t start = mono_ms(), end = start + (int64_t)seconds * 1000;
    int kills = 0, moves = 0;
    for (int64_t next_kill = start + FIRST_KILL_S * 1000; next_kill < end; next_kill += KILL_PERIOD_S * 1000) {
        while (mono_ms() < next_kill)
            usleep(50000);
        int32_t busy = busiest_partition();
        int32_t before[N_PARTS], after[N_PARTS];
        tu_partition_leaders(bootstrap, S.topic, before, N_PARTS);
        int32_t victim = before[busy];
        cr_assert_geq(victim, 0, "partition %d has no leader", busy);
        tu_kafka_dev("kill %s %d", cluster, victim);
        kills++;
        tu_kafka_dev("restart %s %d", cluster, victim);
        tu_partition_leaders(bootstrap, S.topic, after, N_PARTS);
        for (int32_t i = 0; i < N_PARTS; i++)
            moves += before[i] != after[i];
        fprintf(stderr, "soak: %.1f s: killed broker %d (leader of the busiest partition %d), back after %.1f s\n",
                (double)(next_kill - start) / 1000, victim, busy, (double)(mono_ms() - next_kill) / 1000);
    }
    while (mono_ms() < end)
        usleep(50000);
    atomic_store(&S.stop, true);
    for (int t = 0; t < N_THREADS; t++)
        pthread_join(th[t], NULL);
    size_t produced = 0;
    for (int t = 0; t < N_THREADS; t++)
        produced += (size_t)atomic_load(&S.produced[t]);
    cr_assert_eq(gregor_producer_flush(S.p, 180000), GREGOR_OK, "%zu outstanding",
                 gregor_producer_outstanding(S.p));
    gregor_producer_destroy(S.p, 1000);
    gregor_config_destroy(cfg);

    size_t not_once = 0;
    for (int t = 0; t < N_THREADS; t++)
        for (int n = 0; n < atomic_load(&S.produced[t]); n++)
            not_once += S.reports[t * S.per_thread + n] != 1;
    readback rb = {0};
    read_back(bootstrap, &rb);
    fprintf(stderr,
            "soak: %d s, %d kills, %d leader moves; produced %zu, acknowledged %zu, failed %zu (%s); "
            "kcat read %zu: missing %zu, duplicated %zu, out of order %zu, offset mismatches %zu, "
            "failed but written %zu; reports not exactly once %zu\n",
            seconds, kills, moves, produced, S.ok, S.failed, S.failed ? gregor_err_name(S.last_err) : "-",
            rb.read, rb.missing, rb.duplicated, rb.out_of_order, rb.offset_mismatch, rb.failed_but_written,
            not_once);
    cr_assert_eq(not_once, 0, "every message is reported exactly once");
    cr_assert_eq(S.ok + S.failed, produced);
    cr_assert_eq(rb.missing, 0, "acknowledged messages missing from the topic");
    cr_assert_eq(rb.duplicated, 0, "messages in the topic twice");
    cr_assert_eq(rb.out_of_order, 0, "messages out of produce order within a partition");
    cr_assert_eq(rb.offset_mismatch, 0, "reports whose partition or offset is not where kcat found them");
    cr_assert_eq(rb.unknown, 0);
    cr_assert_geq(kills, (seconds - FIRST_KILL_S) / KILL_PERIOD_S);
    free(S.offset);
    free(S.partition);
    free(S.reports);
}
