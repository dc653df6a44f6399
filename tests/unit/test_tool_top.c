/* Unit tests for `gregor top` without a broker (src/tools/top_series.c,
 * top_render.c):
 *   - the consume rate (committed offsets per second over the window),
 *     unknown with fewer than two committed samples, restarted when the
 *     committed offset goes back (a reset), the ring keeping the last
 *     TOP_HISTORY samples;
 *   - the lag's trend with its tolerance, and the sparkline's levels;
 *   - the state between refreshes: groups and partitions found again, and
 *     dropped when a refresh no longer shows them;
 *   - the layout: long topics, client ids and hosts cut with '~', no line
 *     past the width, the numeric columns in the same places on every line,
 *     the total row, an unknown group's line;
 *   - --metrics: the Prometheus text reader (labels, escapes, NaN and
 *     Inf, timestamps, CRLF; every bad line named with its number, limits
 *     on names, values and labels), the pipelines' counters summed per
 *     pipeline label, their table cut to the width.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/prom_text.h"
#include "tools/top.h"

/* Criterion's cr_assert_float_eq is not in criterion_lite (the TSan build). */
#define assert_near(got, want, eps)                                                                            \
    cr_assert(fabs((double)(got) - (double)(want)) <= (eps), "%s: %g, want %g", #got, (double)(got), (double)(want))

static top_series series_of(const int64_t (*samples)[3], size_t n)
{
    top_series s = {.n = 0};
    for (size_t i = 0; i < n; i++)
        top_series_push(&s, samples[i][0], samples[i][1], samples[i][2]);
    return s;
}

Test(top_series, rate_over_the_window)
{
    const int64_t x[][3] = {{0, 100, 500}, {1000, 200, 600}, {2000, 400, 700}};
    top_series s = series_of(x, 3);
    double r = -1;
    cr_assert(top_series_rate(&s, &r));
    assert_near(r, 150.0, 1e-9); /* (400 - 100) / 2 s */
}

Test(top_series, rate_unknown_without_two_committed_samples)
{
    const int64_t x[][3] = {{0, -1, 500}, {1000, 300, 600}, {2000, -1, 700}};
    top_series s = series_of(x, 1);
    double r = 0;
    cr_assert_not(top_series_rate(&s, &r));
    s = series_of(x, 3); /* one committed sample among three */
    cr_assert_not(top_series_rate(&s, &r));
    const int64_t same_time[][3] = {{5, 1, 2}, {5, 3, 4}};
    s = series_of(same_time, 2);
    cr_assert_not(top_series_rate(&s, &r), "no time passed: no rate, no division by zero");
}

Test(top_series, rate_skips_samples_without_a_commit)
{
    const int64_t x[][3] = {{0, -1, 10}, {1000, 10, 20}, {2000, -1, 30}, {3000, 30, 40}, {4000, -1, 50}};
    top_series s = series_of(x, 5);
    double r = 0;
    cr_assert(top_series_rate(&s, &r));
    assert_near(r, 10.0, 1e-9); /* (30 - 10) / 2 s */
}

Test(top_series, committed_going_back_restarts_the_history)
{
    const int64_t x[][3] = {{0, 1000, 2000}, {1000, 1500, 2000}, {2000, 0, 2000}};
    top_series s = series_of(x, 3);
    double r = 0;
    cr_assert_eq(s.n, 1, "the reset keeps only the new sample");
    cr_assert_not(top_series_rate(&s, &r));
    top_series_push(&s, 3000, 50, 2000);
    cr_assert(top_series_rate(&s, &r));
    assert_near(r, 50.0, 1e-9);
}

Test(top_series, ring_keeps_the_last_samples)
{
    top_series s = {.n = 0};
    for (int64_t i = 0; i < TOP_HISTORY + 5; i++)
        top_series_push(&s, i * 1000, i * 10, 1000);
    cr_assert_eq(s.n, TOP_HISTORY);
    cr_assert_eq(top_series_at(&s, 0)->t_ms, 5000);
    cr_assert_eq(top_series_at(&s, TOP_HISTORY - 1)->committed, (TOP_HISTORY + 4) * 10);
    double r = 0;
    cr_assert(top_series_rate(&s, &r));
    assert_near(r, 10.0, 1e-9);
}

static top_trend trend_of(int64_t lag_first, int64_t lag_last)
{
    top_series s = {.n = 0};
    top_series_push(&s, 0, 0, lag_first);
    top_series_push(&s, 500, -1, -1); /* unknown in between: ignored */
    top_series_push(&s, 1000, 0, lag_last);
    return top_series_trend(&s);
}

Test(top_series, trend_with_tolerance)
{
    cr_assert_eq(trend_of(1000, 1020), TOP_TREND_RISING);
    cr_assert_eq(trend_of(1000, 980), TOP_TREND_FALLING);
    cr_assert_eq(trend_of(1000, 1010), TOP_TREND_STEADY, "within 1%% of the larger lag");
    cr_assert_eq(trend_of(1000, 990), TOP_TREND_STEADY);
    cr_assert_eq(trend_of(0, 1), TOP_TREND_STEADY, "a change of 1 is noise");
    cr_assert_eq(trend_of(0, 2), TOP_TREND_RISING);
    cr_assert_eq(trend_of(5, 0), TOP_TREND_FALLING);
    top_series one = {.n = 0};
    top_series_push(&one, 0, 0, 10);
    cr_assert_eq(top_series_trend(&one), TOP_TREND_UNKNOWN);
    cr_assert_str_eq(top_trend_name(TOP_TREND_UNKNOWN), "-");
    cr_assert_str_eq(top_trend_name(TOP_TREND_RISING), "rising");
}

Test(top_series, sparkline_levels)
{
    top_series s = {.n = 0};
    for (int64_t i = 0; i < 8; i++)
        top_series_push(&s, i, 0, i * 100); /* lags 0, 100, ..., 700 */
    char out[TOP_HISTORY + 1];
    top_series_sparkline(&s, out);
    cr_assert_str_eq(out, "  _.:-=+*#", "%s", out);
    top_series_push(&s, 8, -1, 5); /* unknown */
    top_series_sparkline(&s, out);
    cr_assert_str_eq(out, " _.:-=+*#?", "%s", out);
    top_series flat = {.n = 0};
    top_series_push(&flat, 0, 3, 10);
    top_series_push(&flat, 1, 3, 10);
    top_series_sparkline(&flat, out);
    cr_assert_str_eq(out, "        __", "%s", out);
    top_series huge = {.n = 0};
    top_series_push(&huge, 0, 0, 0);
    top_series_push(&huge, 1, 0, INT64_MAX);
    top_series_sparkline(&huge, out);
    cr_assert_str_eq(out, "        _#", "%s", out);
}

Test(top_state, groups_and_partitions_found_again_and_dropped)
{
    top_state st;
    top_state_init(&st);
    top_state_begin(&st);
    top_group_state *g = top_state_group(&st, "b");
    cr_assert_not_null(g);
    top_series *p1 = top_group_part(&st, g, "t", 1);
    top_series_push(p1, 0, 5, 10);
    cr_assert_not_null(top_group_part(&st, g, "t", 0));
    cr_assert_not_null(top_state_group(&st, "a"));
    top_state_end(&st);
    cr_assert_eq(st.n_groups, 2);
    cr_assert_str_eq(st.groups[0].id, "a", "sorted by id");

    /* The next refresh sees b's partition 1 only. */
    top_state_begin(&st);
    g = top_state_group(&st, "b");
    top_series *again = top_group_part(&st, g, "t", 1);
    cr_assert_eq(again->n, 1, "the history of t [1] is kept");
    top_series_push(again, 1000, 7, 10);
    top_state_end(&st);
    cr_assert_eq(st.n_groups, 1, "a, not seen, is dropped");
    cr_assert_str_eq(st.groups[0].id, "b");
    cr_assert_eq(st.groups[0].n_parts, 1, "t [0], not seen, is dropped");
    cr_assert_eq(st.groups[0].parts[0].partition, 1);
    cr_assert_eq(st.groups[0].parts[0].series.n, 2);

    /* Many partitions: the arrays grow, lookups stay sorted. */
    top_state_begin(&st);
    g = top_state_group(&st, "b");
    for (int32_t p = 99; p >= 0; p--)
        cr_assert_not_null(top_group_part(&st, g, "u", p));
    top_state_end(&st);
    cr_assert_eq(st.groups[0].n_parts, 100);
    for (size_t i = 1; i < 100; i++)
        cr_assert_eq(st.groups[0].parts[i].partition, st.groups[0].parts[i - 1].partition + 1);
    top_state_fini(&st);
}

Test(top_layout, fit_and_rate_format)
{
    char out[16];
    top_fit("abcdef", 4, out);
    cr_assert_str_eq(out, "abc~");
    top_fit("abcd", 4, out);
    cr_assert_str_eq(out, "abcd");
    top_fit("abc", 0, out);
    cr_assert_str_eq(out, "");
    top_format_rate(false, 0, out, sizeof out);
    cr_assert_str_eq(out, "-");
    top_format_rate(true, 12.34, out, sizeof out);
    cr_assert_str_eq(out, "12.3");
    top_format_rate(true, 1234.4, out, sizeof out);
    cr_assert_str_eq(out, "1234");
    top_format_rate(true, 123456, out, sizeof out);
    cr_assert_str_eq(out, "123k");
    top_format_rate(true, 12345678, out, sizeof out);
    cr_assert_str_eq(out, "12.3M");
    top_format_rate(true, 999999, out, sizeof out);
    cr_assert_str_eq(out, "1.0M");
    top_format_rate(true, 1e15, out, sizeof out);
    cr_assert_str_eq(out, "1.0P");
    top_format_rate(true, 1e30, out, sizeof out);
    cr_assert_str_eq(out, ">999E");
    top_format_rate(true, -1e25, out, sizeof out);
    cr_assert_str_eq(out, "<-999E");
}

/* Lines of `text` (modified in place). */
static size_t split_lines(char *text, char **lines, size_t max)
{
    size_t n = 0;
    for (char *save = NULL, *l = strtok_r(text, "\n", &save); l && n < max; l = strtok_r(NULL, "\n", &save))
        lines[n++] = l;
    return n;
}

/* Where `word` ends in the header line. */
static size_t end_of(const char *header, const char *word)
{
    const char *p = strstr(header, word);
    cr_assert_not_null(p, "%s not in '%s'", word, header);
    return (size_t)(p - header) + strlen(word);
}

/* `s` with every run of spaces as one space (static buffer). */
static const char *squeeze(const char *s)
{
    static char out[2048];
    size_t k = 0;
    for (size_t i = 0; s[i] && k + 1 < sizeof out; i++)
        if (s[i] != ' ' || (k && out[k - 1] != ' '))
            out[k++] = s[i];
    out[k] = '\0';
    return out;
}

static char *render(const top_group_view *v, size_t width)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    cr_assert_not_null(f);
    top_render_group(f, v, width);
    fclose(f);
    return text;
}

Test(top_layout, long_names_cut_columns_aligned)
{
    char long_topic[201], long_client[101];
    memset(long_topic, 't', 200);
    long_topic[200] = '\0';
    memset(long_client, 'c', 100);
    long_client[100] = '\0';
    grp_tp owned[] = {{long_topic, 0}, {long_topic, 1}, {"short", 0}};
    grp_member members[] = {{.member_id = "m1", .client_id = long_client, .host = "/127.0.0.1", .owned = owned,
                             .n_owned = 3},
                            {.member_id = "m2", .client_id = "idle", .host = "/10.0.0.2"}};
    grp_desc d = {.id = "g", .state = "Stable", .protocol_type = "consumer", .protocol = "range",
                  .members = members, .n_members = 2};
    grp_row rows[] = {{long_topic, 0, 123456789012, 123456789999, &members[0]},
                      {long_topic, 1, 5, 7, &members[0]},
                      {"short", 0, -1, 42, &members[0]},
                      {NULL, -1, -1, -1, &members[1]}};
    top_series s0 = {.n = 0}, s1 = {.n = 0}, total = {.n = 0};
    top_series_push(&s0, 0, 123456780000, 123456789000);
    top_series_push(&s0, 1000, 123456789012, 123456789999);
    top_series_push(&s1, 0, 5, 7);
    top_series_push(&total, 0, 10, 20);
    top_series_push(&total, 2000, 30, 80);
    const top_series *series[] = {&s0, &s1, NULL, NULL};
    top_group_view v = {.id = "g", .desc = &d, .rows = rows, .n_rows = 4, .series = series, .total = &total};

    for (size_t width = 80; width <= 240; width += 40) {
        char *text = render(&v, width);
        char *lines[32];
        size_t n = split_lines(text, lines, 32);
        cr_assert_eq(n, 1 + 2 + 1 + 3 + 1, "header, 2 members, table header, 3 partitions, total:\n%s", text);
        for (size_t i = 0; i < n; i++)
            cr_assert_leq(strlen(lines[i]), width, "width %zu, line %zu: '%s'", width, i, lines[i]);
        cr_assert(strstr(lines[0], "group g  state Stable  classic range  2 members"), "%s", lines[0]);
        cr_assert(strstr(lines[1], "~"), "the long client id is cut: %s", lines[1]);
        cr_assert(strstr(lines[2], "member idle"), "%s", lines[2]);
        cr_assert(strstr(lines[2], "0 partitions"), "%s", lines[2]);
        const char *head = lines[3];
        cr_assert_eq(strncmp(head, "TOPIC", 5), 0, "%s", head);
        size_t cols[] = {end_of(head, "PART"), end_of(head, "COMMITTED"), end_of(head, "LOG-END"),
                         end_of(head, " LAG ") - 1};
        for (size_t i = 4; i < n; i++) {
            cr_assert_leq(end_of(head, "RATE/S"), strlen(lines[i]), "%s", lines[i]);
            for (size_t c = 0; c < 4; c++) {
                char at = lines[i][cols[c] - 1], after = lines[i][cols[c]];
                cr_assert((at >= '0' && at <= '9') || at == '-', "width %zu, line '%s', column %zu ends with '%c'",
                          width, lines[i], c, at);
                cr_assert_eq(after, ' ', "width %zu, line '%s': column %zu runs on", width, lines[i], c);
            }
        }
        cr_assert_eq(strncmp(lines[4], "ttttt", 5), 0, "%s", lines[4]);
        cr_assert(strstr(lines[4], "~ "), "the long topic is cut: %s", lines[4]);
        cr_assert(strstr(squeeze(lines[4]), " 123456789012 123456789999 987 "), "%s", lines[4]);
        cr_assert(strstr(lines[4], "#_ falling"), "lag 9000 then 987: %s", lines[4]);
        cr_assert(strstr(lines[4], " 9012.0 ") || strstr(lines[4], " 9012 "), "rate: %s", lines[4]);
        cr_assert(strstr(squeeze(lines[5]), " 5 7 2 "), "%s", lines[5]);
        cr_assert(strstr(lines[6], "short"), "%s", lines[6]);
        cr_assert(strstr(squeeze(lines[6]), " - 42 - "), "no commit: no lag: %s", lines[6]);
        cr_assert_eq(strncmp(lines[7], "TOTAL", 5), 0, "%s", lines[7]);
        cr_assert(strstr(squeeze(lines[7]), " 3 123456789017 123456790048 989 "), "3 partitions, sums: %s", lines[7]);
        cr_assert(strstr(lines[7], " 10.0"), "total rate (30 - 10) / 2 s: %s", lines[7]);
        if (width >= 240)
            cr_assert(strstr(lines[4], "ccc"), "wide enough for some of the owner: %s", lines[4]);
        free(text);
    }
}

Test(top_layout, unknown_group_is_one_line)
{
    top_group_view v = {.id = "nosuch", .error = "not found (GROUP_ID_NOT_FOUND)"};
    char *text = render(&v, 80);
    cr_assert_str_eq(text, "group nosuch: not found (GROUP_ID_NOT_FOUND)\n");
    free(text);
}

/* ------------------------------------------- --metrics: the text and the pipelines */

Test(prom_text, samples_labels_escapes_and_specials)
{
    static const char text[] = "# HELP gregor_pipeline_consumed_total Messages consumed.\n"
                               "# TYPE gregor_pipeline_consumed_total counter\n"
                               "\n"
                               "gregor_pipeline_consumed_total{pipeline=\"a\",group=\"g\\\"1\\\\\\n\"} 12\n"
                               "up 1 1700000000000\r\n"
                               "x{} NaN\n"
                               "y{le=\"+Inf\",} +Inf\n"
                               "  z -1.5e3";
    prom_reader r;
    prom_sample *s = malloc(sizeof *s);
    prom_reader_init(&r, text, strlen(text));
    cr_assert(prom_next(&r, s), "%s", r.err);
    cr_assert_str_eq(s->name, "gregor_pipeline_consumed_total");
    cr_assert_eq(s->n_labels, 2);
    cr_assert_str_eq(prom_label_value(s, "pipeline"), "a");
    cr_assert_str_eq(prom_label_value(s, "group"), "g\"1\\\n");
    cr_assert_null(prom_label_value(s, "topic"));
    assert_near(s->value, 12, 0);
    cr_assert(prom_next(&r, s), "%s", r.err);
    cr_assert_str_eq(s->name, "up");
    assert_near(s->value, 1, 0);
    cr_assert(prom_next(&r, s), "%s", r.err);
    cr_assert(isnan(s->value));
    cr_assert(prom_next(&r, s), "%s", r.err);
    cr_assert(isinf(s->value) && s->value > 0);
    cr_assert_str_eq(prom_label_value(s, "le"), "+Inf");
    cr_assert(prom_next(&r, s), "%s", r.err);
    assert_near(s->value, -1500, 0);
    cr_assert_not(prom_next(&r, s));
    cr_assert_str_eq(r.err, "", "the end is not an error");
    free(s);
}

/* The error for a one-sample text preceded by a comment line. */
static const char *prom_error(const char *line)
{
    static char err[200];
    char text[4096];
    snprintf(text, sizeof text, "# TYPE x counter\n%s\n", line);
    prom_reader r;
    prom_sample *s = malloc(sizeof *s);
    prom_reader_init(&r, text, strlen(text));
    bool got = prom_next(&r, s);
    cr_assert_not(got, "'%s' was read", line);
    cr_assert_not(prom_next(&r, s), "the error is sticky");
    snprintf(err, sizeof err, "%s", r.err);
    free(s);
    return err;
}

Test(prom_text, bad_lines_named_with_their_line)
{
    cr_assert_str_eq(prom_error("9x 1"), "line 2: metric name expected");
    cr_assert_str_eq(prom_error("x"), "line 2: value expected");
    cr_assert_str_eq(prom_error("x abc"), "line 2: 'abc' is not a number");
    cr_assert_str_eq(prom_error("x inf"), "line 2: 'inf' is not a number");
    cr_assert_str_eq(prom_error("x 0x10"), "line 2: '0x10' is not a number");
    cr_assert_str_eq(prom_error("x 1 2 3"), "line 2: unexpected text after the value");
    cr_assert_str_eq(prom_error("x{a=1} 1"), "line 2: '\"' expected before a label value");
    cr_assert_str_eq(prom_error("x{a=\"1} 1"), "line 2: label value not closed");
    cr_assert_str_eq(prom_error("x{a=\"\\t\"} 1"), "line 2: unknown escape '\\t' in a label value");
    cr_assert_str_eq(prom_error("x{a=\"1\" b=\"2\"} 1"), "line 2: ',' or '}' expected after label 'a'");
    cr_assert_str_eq(prom_error("x{a} 1"), "line 2: '=' expected after label 'a'");
    char line[2048];
    snprintf(line, sizeof line, "x{a=\"%0600d\"} 1", 0);
    cr_assert_str_eq(prom_error(line), "line 2: label value longer than 512 bytes");
    memset(line, 'n', 200);
    snprintf(line + 200, sizeof line - 200, " 1");
    cr_assert_str_eq(prom_error(line), "line 2: metric name longer than 128 bytes");
    size_t k = (size_t)snprintf(line, sizeof line, "x{");
    for (int i = 0; i < PROM_LABELS_MAX + 1; i++)
        k += (size_t)snprintf(line + k, sizeof line - k, "l%d=\"v\",", i);
    snprintf(line + k, sizeof line - k, "} 1");
    cr_assert_str_eq(prom_error(line), "line 2: more than 16 labels");
}

Test(top_metrics, pipelines_summed_per_label)
{
    static const char text[] = "gregor_pipeline_consumed_total{pipeline=\"split\",group=\"wc\"} 100\n"
                               "gregor_pipeline_consumed_total{pipeline=\"count\",group=\"wc2\"} 7\n"
                               "gregor_pipeline_failed_total{pipeline=\"split\",group=\"wc\"} 3\n"
                               "gregor_pipeline_dead_lettered_total{pipeline=\"split\",group=\"wc\"} 1\n"
                               "gregor_pipeline_processed_total{pipeline=\"split\",group=\"wc\",child=\"1\"} 40\n"
                               "gregor_pipeline_processed_total{pipeline=\"split\",group=\"wc\",child=\"2\"} 50\n"
                               "gregor_pipeline_in_flight_messages{pipeline=\"split\"} 5\n"
                               "gregor_partition_consumed_total{topic=\"t\"} 5\n"
                               "gregor_ready 1\n";
    top_pipeline *p;
    size_t n;
    char err[200] = "";
    cr_assert(top_pipelines_read(text, strlen(text), &p, &n, err, sizeof err), "%s", err);
    cr_assert_eq(n, 2);
    cr_assert_str_eq(p[0].name, "count", "sorted by name");
    cr_assert_str_eq(p[0].group, "wc2");
    assert_near(p[0].consumed, 7, 0);
    cr_assert_str_eq(p[1].name, "split");
    assert_near(p[1].consumed, 100, 0);
    assert_near(p[1].processed, 90, 0); /* summed over the other labels */
    assert_near(p[1].failed, 3, 0);
    assert_near(p[1].dead_lettered, 1, 0);
    assert_near(p[1].retried, 0, 0);

    /* The rendering, with a long pipeline name, at two widths. */
    free(p[1].name);
    p[1].name = strdup("a-pipeline-with-a-very-long-name-that-cannot-fit-in-a-narrow-terminal-at-all");
    top_series s = {.n = 0};
    top_series_push(&s, 0, 10, -1);
    top_series_push(&s, 2000, 90, -1);
    p[1].series = &s;
    top_endpoint e = {.address = "127.0.0.1:9100", .pipelines = p, .n = n};
    for (size_t width = 80; width <= 200; width += 120) {
        char *out = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&out, &len);
        top_render_pipelines(f, &e, width);
        fclose(f);
        char *lines[8];
        size_t nl = split_lines(out, lines, 8);
        cr_assert_eq(nl, 4, "header, table header, 2 pipelines");
        cr_assert_str_eq(lines[0], "gregor run at 127.0.0.1:9100  2 pipelines");
        size_t cols[] = {end_of(lines[1], "CONSUMED"), end_of(lines[1], "DEAD-LETTERED"), end_of(lines[1], "RATE/S")};
        for (size_t i = 1; i < nl; i++) {
            cr_assert_leq(strlen(lines[i]), width, "%s", lines[i]);
            for (size_t c = 0; c < 3; c++)
                cr_assert(cols[c] == strlen(lines[i]) || lines[i][cols[c]] == ' ', "'%s' column %zu", lines[i], c);
        }
        cr_assert(strstr(squeeze(lines[3]), " wc 100 90 3 0 1 0 40.0"), "%s", lines[3]);
        cr_assert_eq(strstr(lines[3], "~") != NULL, width == 80, "cut only when narrow: %s", lines[3]);
        free(out);
    }
    top_pipelines_free(p, n);
}

Test(top_metrics, bad_text_is_an_error)
{
    top_pipeline *p = NULL;
    size_t n = 0;
    char err[200] = "";
    const char *no_label = "gregor_pipeline_failed_total{group=\"g\"} 1\n";
    cr_assert_not(top_pipelines_read(no_label, strlen(no_label), &p, &n, err, sizeof err));
    cr_assert_str_eq(err, "line 1: gregor_pipeline_failed_total without a pipeline label");
    const char *html = "gregor_pipeline_failed_total{pipeline=\"a\"} 1\n<html>\n";
    cr_assert_not(top_pipelines_read(html, strlen(html), &p, &n, err, sizeof err));
    cr_assert_str_eq(err, "line 2: metric name expected");
    cr_assert(top_pipelines_read("", 0, &p, &n, err, sizeof err), "an empty text has no pipelines");
    cr_assert_eq(n, 0);
    top_pipelines_free(p, n);
}
