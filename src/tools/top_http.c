/* tools/top_http.c — `gregor top --metrics`: one GET of a `gregor run`'s
 * /metrics with libcurl (a handle per GET: one a second per endpoint), the
 * answer bounded by TOP_METRICS_BODY_MAX.
 *
 * Threading: the command's thread; curl_global_init() is the caller's.
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/top.h"

typedef struct body {
    char *p;
    size_t len;
    bool too_large;
} body;

static size_t on_data(char *data, size_t size, size_t nmemb, void *arg)
{
    body *b = arg;
    size_t n = size * nmemb;
    if (n > TOP_METRICS_BODY_MAX - b->len) {
        b->too_large = true;
        return 0; /* ends the transfer */
    }
    char *p = realloc(b->p, b->len + n + 1);
    if (!p)
        return 0;
    memcpy(p + b->len, data, n);
    b->p = p;
    b->len += n;
    p[b->len] = '\0';
    return n;
}

bool top_metrics_get(const char *address, long timeout_ms, char **out, size_t *len, char *errstr,
                     size_t errstr_size)
{
    char url[600];
    bool is_url = !strncmp(address, "http://", 7) || !strncmp(address, "https://", 8);
    snprintf(url, sizeof url, is_url ? "%s" : "http://%s/metrics", address);
    CURL *h = curl_easy_init();
    if (!h) {
        snprintf(errstr, errstr_size, "%s: curl_easy_init failed", url);
        return false;
    }
    body b = {NULL, 0, false};
    char curl_err[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L); /* the client's threads are running */
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, curl_err);
    CURLcode rc = curl_easy_perform(h);
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(h);
    bool ok = false;
    if (b.too_large)
        snprintf(errstr, errstr_size, "%s: the answer is larger than %d bytes", url, TOP_METRICS_BODY_MAX);
    else if (rc != CURLE_OK)
        snprintf(errstr, errstr_size, "%s: %s", url, curl_err[0] ? curl_err : curl_easy_strerror(rc));
    else if (status != 200)
        snprintf(errstr, errstr_size, "%s: HTTP status %ld", url, status);
    else if (!b.p && !(b.p = calloc(1, 1)))
        snprintf(errstr, errstr_size, "out of memory");
    else
        ok = true;
    if (!ok) {
        free(b.p);
        return false;
    }
    *out = b.p;
    *len = b.len;
    return true;
}
