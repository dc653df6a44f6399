/* The assignors and the embedded consumer protocol against the Java
 * client's own (java/AssignorOracle.java, run on the test bed's Kafka 4.x
 * jars): a few hundred random groups, each assigned by gregor and by Java.
 *
 * Compared: range and roundrobin, member by member, always; cooperative-
 * sticky when every member subscribes to the same topics (where Java's
 * result is determined by its input and its HashMap order; with different
 * subscriptions Java's GeneralAssignmentBuilder and gregor's simpler one
 * may differ, so there both results are checked for validity only);
 * Subscription bytes at v3 (gregor's encoder against Java's), Java's v0, v1
 * and v3 bytes decoded by gregor (topics, owned partitions, generation from
 * the field or the cooperative-sticky user data); Assignment bytes.
 *
 * Needs java on PATH and the jars kafka-dev fetched (the kafka1 fixture
 * guarantees them; no broker is used). Reports the counts it compared.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "group/consumer_protocol.h"
#include "testutil.h"

#define CASES 300
#define MAX_M 10
#define MAX_T 5

typedef struct jcase {
    int nt, nm;
    char tname[MAX_T][8];
    int tparts[MAX_T];
    char mid[MAX_M][24];
    char inst[MAX_M][16]; /* "" for none */
    int32_t gen[MAX_M];
    bool sub[MAX_M][MAX_T];
    group_tp_list owned[MAX_M];
    bool equal;
} jcase;

static uint64_t rs;
static uint32_t rnd(uint32_t n)
{
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return (uint32_t)(rs % n);
}

static void member_view(jcase *c, int i, assignor_member *m, const char **topics)
{
    size_t n = 0;
    for (int t = 0; t < c->nt; t++)
        if (c->sub[i][t])
            topics[n++] = c->tname[t];
    *m = (assignor_member){.member_id = c->mid[i], .instance_id = c->inst[i][0] ? c->inst[i] : NULL,
                           .topics = topics, .n_topics = n, .owned = c->owned[i], .generation = c->gen[i]};
}

static void assign(jcase *c, const char *name, group_tp_list *out)
{
    assignor_member m[MAX_M];
    const char *topics[MAX_M][MAX_T];
    assignor_topic t[MAX_T];
    for (int i = 0; i < c->nm; i++) {
        member_view(c, i, &m[i], topics[i]);
        group_tp_list_init(&out[i]);
    }
    for (int k = 0; k < c->nt; k++)
        t[k] = (assignor_topic){c->tname[k], c->tparts[k]};
    cr_assert_eq(group_assignor_find(name)->assign(m, (size_t)c->nm, t, (size_t)c->nt, out), GREGOR_OK);
}

/* A random group; members own what a gregor cooperative-sticky round gave
 * them before one member left and one joined, with generations, sometimes
 * stale or conflicting. */
static void make_case(jcase *c, int k)
{
    rs = 0x5DEECE66Dull * (uint64_t)(k + 1);
    memset(c, 0, sizeof *c);
    c->nt = 1 + (int)rnd(MAX_T);
    c->nm = 1 + (int)rnd(MAX_M - 1);
    c->equal = rnd(3) != 0;
    for (int t = 0; t < c->nt; t++) {
        snprintf(c->tname[t], sizeof c->tname[t], "t%u", (unsigned)t % 10);
        c->tparts[t] = (int)rnd(25); /* 0: a topic without partitions */
    }
    for (int i = 0; i < c->nm; i++) {
        snprintf(c->mid[i], sizeof c->mid[i], "m%d-%08x", i, (unsigned)rnd(0xFFFFFFFFu));
        if (rnd(4) == 0)
            snprintf(c->inst[i], sizeof c->inst[i], "i%u-%d", (unsigned)rnd(100), i); /* unique, as the broker ensures */
        bool any = false;
        for (int t = 0; t < c->nt; t++)
            any |= c->sub[i][t] = c->equal || rnd(2);
        if (!any)
            c->sub[i][rnd((uint32_t)c->nt)] = true;
        c->gen[i] = -1;
        group_tp_list_init(&c->owned[i]);
    }
    if (rnd(4) == 0)
        return; /* a group forming: nobody owns anything */
    group_tp_list out[MAX_M];
    assign(c, "cooperative-sticky", out);
    int32_t g = 1 + (int32_t)rnd(50);
    for (int i = 0; i < c->nm; i++) {
        group_tp_list_fini(&c->owned[i]);
        c->owned[i] = out[i];
        c->gen[i] = rnd(8) == 0 ? g - 1 : g;
    }
    int leaver = (int)rnd((uint32_t)c->nm);
    if (c->nm > 1 && rnd(2)) { /* its partitions are free now; the newest member takes its place */
        group_tp_list_fini(&c->owned[leaver]);
        group_tp_list_init(&c->owned[leaver]);
        c->gen[leaver] = -1;
        snprintf(c->mid[leaver], sizeof c->mid[leaver], "new-%08x", (unsigned)rnd(0xFFFFFFFFu));
    }
    if (c->nm > 1 && rnd(5) == 0 && c->owned[0].n) /* a conflicting claim */
        cr_assert_eq(group_tp_list_add(&c->owned[1], c->owned[0].tps[0].topic, c->owned[0].tps[0].partition),
                     GREGOR_OK);
}

static void write_case(FILE *f, jcase *c, int k)
{
    fprintf(f, "case %d\n", k);
    for (int t = 0; t < c->nt; t++)
        fprintf(f, "topic %s %d\n", c->tname[t], c->tparts[t]);
    for (int i = 0; i < c->nm; i++) {
        fprintf(f, "member %s %s %d ", c->mid[i], c->inst[i][0] ? c->inst[i] : "-", c->gen[i]);
        int n = 0;
        for (int t = 0; t < c->nt; t++)
            if (c->sub[i][t])
                fprintf(f, "%s%s", n++ ? "," : "", c->tname[t]);
        fputc(' ', f);
        for (size_t j = 0; j < c->owned[i].n; j++)
            fprintf(f, "%s%s:%d", j ? "," : "", c->owned[i].tps[j].topic, c->owned[i].tps[j].partition);
        fprintf(f, "%s\n", c->owned[i].n ? "" : "-");
    }
    fprintf(f, "end\n");
}

static char *list_str(group_tp_list *l)
{
    group_tp_list_sort(l);
    size_t cap = 16 + l->n * 16, used = 0;
    char *s = malloc(cap);
    s[0] = '\0';
    for (size_t i = 0; i < l->n; i++)
        used += (size_t)snprintf(s + used, cap - used, " %s-%d", l->tps[i].topic, l->tps[i].partition);
    return s;
}

static jcase cases[CASES];
static int n_assign[3], n_same[3], n_general, n_general_same, n_sub_bytes, n_sub_decoded, n_asg_bytes;

static int case_of(const char *id)
{
    int k = atoi(id);
    cr_assert(k >= 0 && k < CASES);
    return k;
}

static int member_of(jcase *c, const char *id)
{
    for (int i = 0; i < c->nm; i++)
        if (strcmp(c->mid[i], id) == 0)
            return i;
    cr_assert_fail("unknown member %s", id);
    return -1;
}

/* "sub ID MEMBER VERSION HEX": gregor decodes Java's bytes; at v3 it also
 * encodes the same subscription and must produce the same bytes. */
static void check_sub(char *id, char *mid, int version, char *hex)
{
    jcase *c = &cases[case_of(id)];
    int i = member_of(c, mid);
    size_t len;
    uint8_t *bytes = tu_hex(hex, &len);
    consumer_subscription s;
    cr_assert_eq(consumer_protocol_subscription_decode(bytes, len, "cooperative-sticky", &s), GREGOR_OK, "%s",
                 s.error);
    assignor_member m;
    const char *topics[MAX_T];
    member_view(c, i, &m, topics);
    cr_assert_eq(s.member.n_topics, m.n_topics, "case %s %s v%d", id, mid, version);
    for (size_t t = 0; t < m.n_topics; t++)
        cr_assert_str_eq(s.member.topics[t], m.topics[t]);
    cr_assert_eq(s.member.owned.n, version >= 1 ? m.owned.n : 0, "case %s %s v%d", id, mid, version);
    for (size_t j = 0; j < s.member.owned.n; j++)
        cr_assert(group_tp_list_contains(&m.owned, s.member.owned.tps[j].topic, s.member.owned.tps[j].partition));
    cr_assert_eq(s.member.generation, m.generation, "case %s %s v%d: generation %d, want %d", id, mid, version,
                 s.member.generation, m.generation);
    consumer_subscription_fini(&s);
    n_sub_decoded++;
    if (version == 3) {
        uint8_t *ud;
        size_t ud_len;
        cr_assert_eq(group_assignor_find("cooperative-sticky")->user_data(m.generation, &ud, &ud_len), GREGOR_OK);
        buf_writer w;
        buf_writer_init(&w, 1 << 20);
        cr_assert_eq(consumer_protocol_subscription_encode(&w, &m, ud, ud_len), GREGOR_OK);
        char *mine = tu_hex_str(w.data, w.len);
        cr_assert_str_eq(mine, hex, "case %s %s: Subscription bytes differ from Java's", id, mid);
        n_sub_bytes++;
        free(mine);
        free(ud);
        buf_writer_fini(&w);
    }
    free(bytes);
}

static void check_assign(char *id, char *name, char *mid, char *java_list, group_tp_list out[3][MAX_M])
{
    jcase *c = &cases[case_of(id)];
    int i = member_of(c, mid);
    int a = strcmp(name, "range") == 0 ? 0 : strcmp(name, "roundrobin") == 0 ? 1 : 2;
    char *mine = list_str(&out[a][i]);
    n_assign[a]++;
    if (a < 2 || c->equal) {
        cr_assert_str_eq(mine, java_list, "case %s %s %s: gregor [%s], Java [%s]", id, name, mid, mine, java_list);
        n_same[a]++;
    } else {
        /* validity here; balance and stickiness: tests/unit/test_assignors.c */
        n_general++;
        n_general_same += strcmp(mine, java_list) == 0;
        for (size_t j = 0; j < out[a][i].n; j++) {
            const group_tp *tp = &out[a][i].tps[j];
            bool subscribed = false;
            for (int t = 0; t < c->nt; t++)
                subscribed |= c->sub[i][t] && strcmp(c->tname[t], tp->topic) == 0;
            cr_assert(subscribed, "case %s: %s got %s-%d", id, mid, tp->topic, tp->partition);
            for (int o = 0; o < c->nm; o++)
                cr_assert(o == i || !group_tp_list_contains(&out[a][o], tp->topic, tp->partition),
                          "case %s: %s-%d assigned twice", id, tp->topic, tp->partition);
        }
    }
    free(mine);
}

static void check_asg(char *id, char *mid, char *hex, group_tp_list out[3][MAX_M])
{
    jcase *c = &cases[case_of(id)];
    int i = member_of(c, mid);
    if (!c->equal)
        return; /* the lists may differ (see above); the bytes of equal lists are compared */
    buf_writer w;
    buf_writer_init(&w, 1 << 20);
    cr_assert_eq(consumer_protocol_assignment_encode(&w, &out[2][i], NULL, 0), GREGOR_OK);
    char *mine = tu_hex_str(w.data, w.len);
    cr_assert_str_eq(mine, hex, "case %s %s: Assignment bytes differ from Java's", id, mid);
    n_asg_bytes++;
    free(mine);
    buf_writer_fini(&w);
}

Test(assignors_java, same_results_as_the_java_client, .timeout = 300)
{
    char libs[600], path[600], version[64] = "";
    const char *home = tu_env_or("HOME", "/tmp");
    char dflt[512];
    snprintf(dflt, sizeof dflt, "%s/.cache/gregor", home);
    const char *cache = tu_env_or("GREGOR_CACHE", dflt);
    snprintf(path, sizeof path, "%s/kafka/4.version", cache);
    FILE *vf = fopen(path, "r");
    cr_assert(vf, "no %s: the kafka1 fixture fetches Kafka 4.x", path);
    cr_assert(fscanf(vf, "%63s", version) == 1);
    fclose(vf);
    snprintf(libs, sizeof libs, "%s/kafka/%s/libs", cache, version);

    char dir[] = "/tmp/gregor-assignors-java-XXXXXX";
    cr_assert(mkdtemp(dir));
    char in_path[64], out_path[64], cmd[8192];
    snprintf(in_path, sizeof in_path, "%s/cases", dir);
    snprintf(out_path, sizeof out_path, "%s/java", dir);
    FILE *f = fopen(in_path, "w");
    cr_assert(f);
    for (int k = 0; k < CASES; k++) {
        make_case(&cases[k], k);
        write_case(f, &cases[k], k);
    }
    fclose(f);

    char src[1200];
    snprintf(src, sizeof src, "%s", __FILE__);
    *strrchr(src, '/') = '\0';
    snprintf(cmd, sizeof cmd, "java -cp '%s/*' %s/java/AssignorOracle.java < %s > %s 2> %s/stderr", libs, src,
             in_path, out_path, dir);
    int rc = system(cmd);
    cr_assert_eq(rc, 0, "%s failed (%d); see %s/stderr", cmd, rc, dir);

    /* gregor's assignments of every case, then Java's line by line */
    static group_tp_list out[CASES][3][MAX_M];
    const char *names[3] = {"range", "roundrobin", "cooperative-sticky"};
    for (int k = 0; k < CASES; k++)
        for (int a = 0; a < 3; a++)
            assign(&cases[k], names[a], out[k][a]);
    f = fopen(out_path, "r");
    cr_assert(f);
    static char line[1 << 16];
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        char *save = NULL, *kind = strtok_r(line, " ", &save);
        if (!kind)
            continue;
        if (strcmp(kind, "sub") == 0) {
            char *id = strtok_r(NULL, " ", &save), *mid = strtok_r(NULL, " ", &save);
            int v = atoi(strtok_r(NULL, " ", &save));
            check_sub(id, mid, v, strtok_r(NULL, " ", &save));
        } else if (strcmp(kind, "assign") == 0) {
            char *id = strtok_r(NULL, " ", &save), *name = strtok_r(NULL, " ", &save);
            char *mid = strtok_r(NULL, " ", &save);
            char list[1 << 15] = "";
            for (char *tp; (tp = strtok_r(NULL, " ", &save));)
                snprintf(list + strlen(list), sizeof list - strlen(list), " %s", tp);
            check_assign(id, name, mid, list, out[case_of(id)]);
        } else if (strcmp(kind, "asg") == 0) {
            char *id = strtok_r(NULL, " ", &save), *mid = strtok_r(NULL, " ", &save);
            check_asg(id, mid, strtok_r(NULL, " ", &save), out[case_of(id)]);
        }
    }
    fclose(f);
    int members = 0;
    for (int k = 0; k < CASES; k++)
        members += cases[k].nm;
    cr_assert_eq(n_assign[0], members, "Java answered for %d of %d members", n_assign[0], members);
    printf("assignors vs Java %s over %d groups (%d members): range %d/%d identical, roundrobin %d/%d, "
           "cooperative-sticky %d identical (equal subscriptions) + %d general-case members valid (%d the same as "
           "Java's); Subscription bytes "
           "%d identical, %d Java subscriptions (v0, v1, v3) decoded; Assignment bytes %d identical\n",
           version, CASES, members, n_same[0], n_assign[0], n_same[1], n_assign[1], n_same[2], n_general,
           n_general_same, n_sub_bytes, n_sub_decoded, n_asg_bytes);
    for (int k = 0; k < CASES; k++)
        for (int a = 0; a < 3; a++)
            for (int i = 0; i < cases[k].nm; i++)
                group_tp_list_fini(&out[k][a][i]);
    for (int k = 0; k < CASES; k++)
        for (int i = 0; i < cases[k].nm; i++)
            group_tp_list_fini(&cases[k].owned[i]);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}
