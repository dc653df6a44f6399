/* The metrics writer (framework/metrics.h: escaping, sample lines) and
 * the endpoint (framework/http.h) on a loopback port: /metrics, /healthz,
 * /ready, 404, 405, 500 and a port in use. */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "framework/http.h"
#include "framework/metrics.h"

static char *text_of(fw_buf *w)
{
    buf_write_raw(w, "", 1);
    cr_assert_eq(w->err, GREGOR_OK);
    return (char *)w->data;
}

Test(metrics_writer, escapes_backslash_quote_newline_in_label_values)
{
    fw_buf w;
    buf_writer_init(&w, 1 << 16);
    fw_metric_label l[] = {{"topic", "a\"b\\c\nd"}, {"partition", "3"}};
    fw_metrics_sample_u64(&w, "gregor_x_total", NULL, l, 2, NULL, 42);
    cr_assert_str_eq(text_of(&w), "gregor_x_total{topic=\"a\\\"b\\\\c\\nd\",partition=\"3\"} 42\n");
    buf_writer_fini(&w);
}

Test(metrics_writer, family_header_suffix_extra_label_and_special_floats)
{
    fw_buf w;
    buf_writer_init(&w, 1 << 16);
    fw_metrics_family(&w, "gregor_h_seconds", FW_METRIC_HISTOGRAM, "A histogram.");
    fw_metric_label l[] = {{"pipeline", "p"}};
    fw_metric_label le = {"le", "+Inf"};
    fw_metrics_sample_u64(&w, "gregor_h_seconds", "_bucket", l, 1, &le, 7);
    fw_metrics_sample_f64(&w, "gregor_h_seconds", "_sum", l, 1, NULL, 0.25);
    fw_metrics_sample_f64(&w, "gregor_g", NULL, NULL, 0, NULL, 1.0 / 0.0);
    fw_metrics_sample_f64(&w, "gregor_g", NULL, NULL, 0, &le, 0.0 / 0.0);
    cr_assert_str_eq(text_of(&w), "# HELP gregor_h_seconds A histogram.\n"
                                  "# TYPE gregor_h_seconds histogram\n"
                                  "gregor_h_seconds_bucket{pipeline=\"p\",le=\"+Inf\"} 7\n"
                                  "gregor_h_seconds_sum{pipeline=\"p\"} 0.25\n"
                                  "gregor_g +Inf\n"
                                  "gregor_g{le=\"+Inf\"} NaN\n");
    buf_writer_fini(&w);
}

Test(metrics_writer, a_full_buffer_is_a_sticky_error_not_a_crash)
{
    fw_buf w;
    buf_writer_init(&w, 16);
    fw_metrics_family(&w, "gregor_long_name_total", FW_METRIC_COUNTER, "help text longer than the limit");
    cr_assert_eq(w.err, GREGOR_ERR_TOO_LARGE);
    buf_writer_fini(&w);
}

Test(metrics_writer, histogram_buckets_are_cumulative_and_end_with_the_count)
{
    fw_latency h;
    memset(&h, 0, sizeof h);
    int64_t samples_us[] = {0, 50, 100, 101, 900, 3000, 3000, 70000, 2000000, 60000000, -5};
    for (size_t i = 0; i < sizeof samples_us / sizeof samples_us[0]; i++)
        fw_latency_observe(&h, samples_us[i]);
    fw_buf w;
    buf_writer_init(&w, 1 << 16);
    fw_metric_label l = {"pipeline", "p"};
    fw_metrics_histogram(&w, "gregor_h_seconds", &l, 1, &h, 1);
    char *text = text_of(&w);
    /* Every bucket line, in order: le ascending, counts never decreasing. */
    double last_le = -1;
    unsigned long long last = 0, inf = 0, count = 0;
    int buckets = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        char le[32];
        unsigned long long v;
        if (sscanf(line, "gregor_h_seconds_bucket{pipeline=\"p\",le=\"%31[^\"]\"} %llu", le, &v) == 2) {
            double x = strcmp(le, "+Inf") ? strtod(le, NULL) : 1e300;
            cr_assert(x > last_le, "le %s after %g", le, last_le);
            cr_assert(v >= last, "bucket le=%s has %llu, below the one before (%llu)", le, v, last);
            last_le = x;
            last = v;
            buckets++;
            if (!strcmp(le, "+Inf"))
                inf = v;
        } else if (sscanf(line, "gregor_h_seconds_count{pipeline=\"p\"} %llu", &v) == 1) {
            count = v;
        }
    }
    cr_assert_eq(buckets, FW_LATENCY_BUCKETS + 1);
    cr_assert_eq(inf, 11);
    cr_assert_eq(count, 11);
    buf_writer_fini(&w);
    /* A bound is inclusive (le: less or equal): 100 us falls in le=0.0001. */
    cr_assert_eq(atomic_load(&h.counts[0]), 4, "0, 50, 100 and the negative one");
    cr_assert_eq(atomic_load(&h.counts[FW_LATENCY_BUCKETS]), 1, "60 s is above the last bound");
}

Test(metrics_writer, histograms_of_several_workers_are_summed)
{
    fw_latency hs[2];
    memset(hs, 0, sizeof hs);
    fw_latency_observe_1w(&hs[0], 200);   /* le 0.00025 */
    fw_latency_observe_1w(&hs[1], 200);
    fw_latency_observe_1w(&hs[1], 20000); /* le 0.025 */
    fw_buf w;
    buf_writer_init(&w, 1 << 16);
    fw_metrics_histogram(&w, "gregor_h_seconds", NULL, 0, hs, 2);
    char *text = text_of(&w);
    cr_assert(strstr(text, "gregor_h_seconds_bucket{le=\"0.0001\"} 0\n"), "%s", text);
    cr_assert(strstr(text, "gregor_h_seconds_bucket{le=\"0.00025\"} 2\n"), "%s", text);
    cr_assert(strstr(text, "gregor_h_seconds_bucket{le=\"0.025\"} 3\n"), "%s", text);
    cr_assert(strstr(text, "gregor_h_seconds_sum 0.0204\n"), "%s", text);
    cr_assert(strstr(text, "gregor_h_seconds_count 3\n"), "%s", text);
    buf_writer_fini(&w);
}

/* ------------------------------------------------------------ endpoint */

typedef struct fake {
    bool ready;
    gregor_err fail;
} fake;

static gregor_err fake_metrics(void *arg, buf_writer *out)
{
    fake *f = arg;
    if (f->fail)
        return f->fail;
    buf_write_raw(out, "gregor_up 1\n", 12);
    return GREGOR_OK;
}

static bool fake_ready(void *arg)
{
    return ((fake *)arg)->ready;
}

/* Sends `method path` to 127.0.0.1:port; returns the status, the
 * response (headers and body) in resp. */
static int request(uint16_t port, const char *method, const char *path, char *resp, size_t size)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    char req[256];
    int n = snprintf(req, sizeof req, "%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", method, path);
    cr_assert_eq(write(fd, req, (size_t)n), n);
    size_t got = 0;
    ssize_t r;
    while (got + 1 < size && (r = read(fd, resp + got, size - 1 - got)) > 0)
        got += (size_t)r;
    resp[got] = '\0';
    close(fd);
    int status = 0;
    cr_assert_eq(sscanf(resp, "HTTP/1.%*d %d", &status), 1, "no status line in '%s'", resp);
    return status;
}

Test(metrics_http, serves_metrics_healthz_ready_and_404)
{
    fake f = {.ready = false};
    fw_http_handlers h = {.metrics = fake_metrics, .ready = fake_ready, .arg = &f};
    fw_http *srv = NULL;
    char err[256];
    cr_assert_eq(fw_http_start("127.0.0.1", 0, &h, &srv, err, sizeof err), GREGOR_OK, "%s", err);
    uint16_t port = fw_http_port(srv);
    cr_assert(port > 0);
    char resp[4096];
    cr_assert_eq(request(port, "GET", "/metrics", resp, sizeof resp), 200);
    cr_assert(strstr(resp, "text/plain; version=0.0.4"), "%s", resp);
    cr_assert(strstr(resp, "\r\n\r\ngregor_up 1\n"), "%s", resp);
    cr_assert_eq(request(port, "GET", "/healthz", resp, sizeof resp), 200);
    cr_assert_eq(request(port, "GET", "/ready", resp, sizeof resp), 503);
    f.ready = true;
    cr_assert_eq(request(port, "GET", "/ready", resp, sizeof resp), 200);
    cr_assert_eq(request(port, "GET", "/metricsx", resp, sizeof resp), 404);
    cr_assert_eq(request(port, "GET", "/", resp, sizeof resp), 404);
    cr_assert_eq(request(port, "POST", "/metrics", resp, sizeof resp), 405);
    f.fail = GREGOR_ERR_NOMEM;
    cr_assert_eq(request(port, "GET", "/metrics", resp, sizeof resp), 500);
    fw_http_stop(srv);
}

Test(metrics_http, a_port_in_use_is_an_error_naming_address_and_reason)
{
    fake f = {0};
    fw_http_handlers h = {.metrics = fake_metrics, .ready = fake_ready, .arg = &f};
    fw_http *a = NULL, *b = NULL;
    char err[256];
    cr_assert_eq(fw_http_start("127.0.0.1", 0, &h, &a, err, sizeof err), GREGOR_OK, "%s", err);
    gregor_err e = fw_http_start("127.0.0.1", fw_http_port(a), &h, &b, err, sizeof err);
    cr_assert_eq(e, GREGOR_ERR_IO);
    cr_assert_null(b);
    char want[64];
    snprintf(want, sizeof want, "127.0.0.1 port %u", (unsigned)fw_http_port(a));
    cr_assert(strstr(err, want), "%s", err);
    cr_assert(strstr(err, "in use"), "%s", err);
    fw_http_stop(a);
}

Test(metrics_http, an_address_that_does_not_resolve_is_an_error)
{
    fw_http_handlers h = {0};
    fw_http *srv = NULL;
    char err[256];
    cr_assert_eq(fw_http_start("no-such-host.invalid", 0, &h, &srv, err, sizeof err), GREGOR_ERR_RESOLVE);
    cr_assert(strstr(err, "no-such-host.invalid"), "%s", err);
    fw_http_stop(NULL);
}
