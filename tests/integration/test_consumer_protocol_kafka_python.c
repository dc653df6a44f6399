/* The embedded consumer protocol against kafka-python (python/
 * consumer_protocol_peer.py): kafka-python decodes the Subscription and
 * Assignment bytes gregor writes, and gregor decodes what kafka-python
 * writes at every version (0-3, and the legacy v0 classes of older
 * kafka-python releases). No broker is used (the kafka1 fixture is the
 * default of tests/integration). Reports how many it compared.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "group/consumer_protocol.h"
#include "testutil.h"

static char *tps_str(const group_tp_list *l)
{
    group_tp_list c = {malloc((l->n ? l->n : 1) * sizeof *l->tps), l->n, l->n};
    if (l->n)
        memcpy(c.tps, l->tps, l->n * sizeof *l->tps);
    group_tp_list_sort(&c);
    char *s = malloc(32 + l->n * 48);
    size_t used = 0;
    s[0] = '\0';
    for (size_t i = 0; i < c.n; i++)
        used += (size_t)sprintf(s + used, "%s%s:%d", i ? "," : "", c.tps[i].topic, c.tps[i].partition);
    if (!c.n)
        strcpy(s, "-");
    free(c.tps);
    return s;
}

Test(consumer_protocol_kafka_python, both_ways, .timeout = 120)
{
    /* what gregor writes: two subscriptions and two assignments */
    const char *topics[] = {"payments", "orders"};
    assignor_member m = {.topics = topics, .n_topics = 2, .generation = 12, .rack = "rack-b"};
    group_tp_list_init(&m.owned);
    cr_assert_eq(group_tp_list_add(&m.owned, "payments", 4), GREGOR_OK);
    cr_assert_eq(group_tp_list_add(&m.owned, "orders", 2), GREGOR_OK);
    cr_assert_eq(group_tp_list_add(&m.owned, "orders", 0), GREGOR_OK);
    assignor_member bare = {.topics = topics, .n_topics = 1, .generation = -1};
    group_tp_list_init(&bare.owned);
    static const uint8_t ud[] = {0, 0, 0, 12};

    char dir[] = "/tmp/gregor-cp-python-XXXXXX";
    cr_assert(mkdtemp(dir));
    char in_path[64], out_path[64], cmd[2048], src[1024];
    snprintf(in_path, sizeof in_path, "%s/in", dir);
    snprintf(out_path, sizeof out_path, "%s/out", dir);
    FILE *f = fopen(in_path, "w");
    cr_assert(f);
    buf_writer w;
    buf_writer_init(&w, 1 << 20);
    cr_assert_eq(consumer_protocol_subscription_encode(&w, &m, ud, sizeof ud), GREGOR_OK);
    char *h = tu_hex_str(w.data, w.len);
    fprintf(f, "sub %s\n", h);
    free(h);
    buf_writer_reset(&w);
    cr_assert_eq(consumer_protocol_subscription_encode(&w, &bare, NULL, 0), GREGOR_OK);
    h = tu_hex_str(w.data, w.len);
    fprintf(f, "sub %s\n", h);
    free(h);
    buf_writer_reset(&w);
    cr_assert_eq(consumer_protocol_assignment_encode(&w, &m.owned, ud, sizeof ud), GREGOR_OK);
    h = tu_hex_str(w.data, w.len);
    fprintf(f, "asg %s\n", h);
    free(h);
    buf_writer_reset(&w);
    cr_assert_eq(consumer_protocol_assignment_encode(&w, &bare.owned, NULL, 0), GREGOR_OK);
    h = tu_hex_str(w.data, w.len);
    fprintf(f, "asg %s\n", h);
    free(h);
    buf_writer_fini(&w);
    fclose(f);

    snprintf(src, sizeof src, "%s", __FILE__);
    *strrchr(src, '/') = '\0';
    snprintf(cmd, sizeof cmd, "python3 %s/python/consumer_protocol_peer.py < %s > %s", src, in_path, out_path);
    cr_assert_eq(system(cmd), 0, "%s failed", cmd);

    const char *want[] = {
        "sub orders,payments orders:0,orders:2,payments:4 12 rack-b 0000000c",
        "sub payments - -1 - -",
        "asg orders:0,orders:2,payments:4 0000000c",
        "asg - -",
    };
    f = fopen(out_path, "r");
    cr_assert(f);
    char line[4096];
    int n_read_by_python = 0, n_read_by_gregor = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        if (n_read_by_python < 4) {
            cr_assert_str_eq(line, want[n_read_by_python], "kafka-python read gregor's bytes as [%s]", line);
            n_read_by_python++;
            continue;
        }
        char kind[16], version[16], hex[2048];
        cr_assert_eq(sscanf(line, "%15s %15s %2047s", kind, version, hex), 3, "[%s]", line);
        size_t len;
        uint8_t *bytes = tu_hex(hex, &len);
        if (strcmp(kind, "mksub") == 0) {
            consumer_subscription s;
            cr_assert_eq(consumer_protocol_subscription_decode(bytes, len, "cooperative-sticky", &s), GREGOR_OK,
                         "kafka-python v%s: %s", version, s.error);
            int v = strcmp(version, "legacy") == 0 ? 0 : atoi(version);
            cr_assert_eq(s.version, v);
            cr_assert_eq(s.member.n_topics, 2);
            cr_assert_str_eq(s.member.topics[0], "orders");
            cr_assert_str_eq(s.member.topics[1], "payments");
            char *owned = tps_str(&s.member.owned);
            cr_assert_str_eq(owned, v >= 1 ? "orders:0,orders:3,payments:1" : "-", "v%d", v);
            free(owned);
            cr_assert_eq(s.member.generation, v >= 2 ? 7 : -1, "v%d", v);
            if (v >= 3)
                cr_assert_str_eq(s.member.rack, "rack-a");
            else
                cr_assert_null(s.member.rack);
            cr_assert_not_null(s.user_data); /* kafka-python sends empty, not null */
            cr_assert_eq(s.user_data_len, 0);
            consumer_subscription_fini(&s);
        } else {
            consumer_assignment a;
            cr_assert_eq(consumer_protocol_assignment_decode(bytes, len, &a), GREGOR_OK, "%s", a.error);
            char *parts = tps_str(&a.partitions);
            cr_assert_str_eq(parts, "orders:1,payments:0,payments:2");
            free(parts);
            consumer_assignment_fini(&a);
        }
        free(bytes);
        n_read_by_gregor++;
    }
    fclose(f);
    cr_assert_eq(n_read_by_python, 4);
    cr_assert_eq(n_read_by_gregor, 10);
    printf("consumer protocol vs kafka-python: %d of gregor's messages read by kafka-python, %d of kafka-python's "
           "(Subscription and Assignment v0-v3 and legacy v0) read by gregor\n",
           n_read_by_python, n_read_by_gregor);
    group_tp_list_fini(&m.owned);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}
