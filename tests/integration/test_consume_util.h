/* tests/integration/test_consume_util.h — helpers of the consumer's
 * integration tests: the test bed's cluster names, kafka-dev and kcat
 * commands, unique topic names and consumers built from key=value pairs.
 *
 * Cluster names come from GREGOR_TEST_KAFKA1_NAME / _KAFKA3_NAME /
 * _KAFKA39_NAME, defaulting to the fixtures' kafka1 / kafka3 / kafka39, so
 * that the tests can run against a developer's own clusters.
 *
 * Threading: test-process local.
 */
#ifndef GREGOR_TEST_CONSUME_UTIL_H
#define GREGOR_TEST_CONSUME_UTIL_H

#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gregor/consumer.h"
#include "testutil.h"

/* criterion_lite (the TSan builds) has no logging: print to stderr. */
#ifndef cr_log_info
#define cr_log_info(...) (fprintf(stderr, "[----] " __VA_ARGS__), fputc('\n', stderr))
#endif

static inline const char *tc_cluster_name(const char *env, const char *fallback)
{
    const char *v = getenv(env);
    return v && v[0] ? v : fallback;
}

/* Runs a shell command built from fmt; fails the test unless it exits 0. */
static inline void tc_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline void tc_sh(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int rc = system(cmd);
    cr_assert_eq(rc, 0, "'%s' failed (%d)", cmd, rc);
}

/* A topic name unique to this run: "<prefix>-<pid>-<time>". */
static inline void tc_topic(char *out, size_t n, const char *prefix)
{
    snprintf(out, n, "%s-%d-%ld", prefix, (int)getpid(), (long)time(NULL));
}

static inline void tc_create_topic(const char *cluster_name, const char *topic, int partitions, int replication)
{
    tc_sh("%s create-topic %s %s %d %d >/dev/null", tu_env_required("GREGOR_KAFKA_DEV"), cluster_name, topic,
          partitions, replication);
}

/* A consumer on `bootstrap` with extra "key=value" settings (NULL-ended). */
static inline gregor_consumer *tc_consumer(const char *bootstrap, const char *const *kv)
{
    gregor_config *cfg = gregor_config_new();
    char err[256];
    cr_assert_eq(gregor_config_set(cfg, "bootstrap", bootstrap, err, sizeof err), GREGOR_OK, "%s", err);
    for (size_t i = 0; kv && kv[i]; i++) {
        char name[128];
        const char *eq = strchr(kv[i], '=');
        cr_assert(eq && (size_t)(eq - kv[i]) < sizeof name);
        memcpy(name, kv[i], (size_t)(eq - kv[i]));
        name[eq - kv[i]] = 0;
        cr_assert_eq(gregor_config_set(cfg, name, eq + 1, err, sizeof err), GREGOR_OK, "%s", err);
    }
    gregor_consumer *c;
    cr_assert_eq(gregor_consumer_new(cfg, &c, err, sizeof err), GREGOR_OK, "%s", err);
    gregor_config_destroy(cfg);
    return c;
}

static inline double tc_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#endif
