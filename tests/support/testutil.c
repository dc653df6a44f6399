/* tests/support/testutil.c — see testutil.h. */
#include "testutil.h"

#include <criterion/criterion.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gregor/gregor.h"

static int nibble(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)tolower((unsigned char)c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

uint8_t *tu_hex(const char *hex, size_t *len_out)
{
    size_t cap = strlen(hex) / 2 + 1, n = 0;
    uint8_t *out = malloc(cap);
    cr_assert_not_null(out);
    int hi = -1;
    for (const char *p = hex; *p; p++) {
        if (isspace((unsigned char)*p))
            continue;
        int v = nibble(*p);
        cr_assert(v >= 0, "bad hex digit '%c'", *p);
        if (hi < 0) {
            hi = v;
        } else {
            out[n++] = (uint8_t)(hi << 4 | v);
            hi = -1;
        }
    }
    cr_assert(hi < 0, "odd number of hex digits");
    *len_out = n;
    return out;
}

char *tu_hex_str(const uint8_t *p, size_t n)
{
    char *s = malloc(2 * n + 1);
    cr_assert_not_null(s);
    for (size_t i = 0; i < n; i++)
        snprintf(s + 2 * i, 3, "%02x", p[i]);
    s[2 * n] = '\0';
    return s;
}

const char *tu_env_required(const char *name)
{
    const char *v = getenv(name);
    /* A missing cluster is a failure, never a skip: a skipped integration
     * test must not pass for a run that checked nothing. */
    if (!v || !*v)
        cr_assert_fail("%s is not set: run through ctest, whose fixtures start the test cluster", name);
    return v;
}

const char *tu_env_or(const char *name, const char *dflt)
{
    const char *v = getenv(name);
    return v && *v ? v : dflt;
}

void tu_kafka_dev(const char *fmt, ...)
{
    char args[768], cmd[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    cr_assert(n >= 0 && (size_t)n < sizeof args, "kafka-dev arguments too long");
    n = snprintf(cmd, sizeof cmd, "%s %s >/dev/null", tu_env_required("GREGOR_KAFKA_DEV"), args);
    cr_assert(n >= 0 && (size_t)n < sizeof cmd, "kafka-dev command too long");
    int rc = system(cmd);
    cr_assert_eq(rc, 0, "'%s' failed (%d)", cmd, rc);
}

void tu_partition_leaders(const char *bootstrap, const char *topic, int32_t *leaders, int32_t n)
{
    gregor_config *cfg = gregor_config_new();
    char err[256];
    cr_assert_not_null(cfg);
    cr_assert_eq(gregor_config_set(cfg, "bootstrap", bootstrap, err, sizeof err), GREGOR_OK, "%s", err);
    gregor_client *c;
    cr_assert_eq(gregor_client_new(cfg, &c, err, sizeof err), GREGOR_OK, "%s", err);
    const gregor_metadata *md;
    const char *names[] = {topic};
    cr_assert_eq(gregor_client_metadata(c, names, 1, 20000, &md, err, sizeof err), GREGOR_OK, "%s", err);
    const gregor_metadata_topic *t = gregor_metadata_topic_find(md, topic);
    cr_assert_not_null(t, "topic %s is not in the metadata", topic);
    for (int32_t i = 0; i < n; i++) {
        const gregor_metadata_partition *mp = gregor_metadata_partition_find(t, i);
        leaders[i] = mp ? mp->leader : -1;
    }
    gregor_metadata_destroy(md);
    gregor_client_destroy(c);
    gregor_config_destroy(cfg);
}
