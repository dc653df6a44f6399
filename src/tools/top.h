/* tools/top.h — the pieces of `gregor top` that need no broker: the history
 * of each partition's committed offset and log end over the last refreshes
 * (top_series.c: the lag's trend and the consume rate), the state kept
 * between refreshes per group (top_series.c), and the text layout of one
 * group (top_render.c). cmd_top.c asks the brokers and drives them.
 *
 * Data layout: a top_state holds the groups seen in the last refresh, each
 * with a series for its total and one per partition; a series is a ring of
 * the last TOP_HISTORY samples. Everything is dropped when a refresh no
 * longer shows it, so memory follows the cluster's size, not the run time.
 *
 * Threading: the command's thread only.
 */
#ifndef GREGOR_TOOLS_TOP_H
#define GREGOR_TOOLS_TOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "tools/groups.h"
#include "tools/prom_text.h"

/* Samples kept per series: the window of the trend, the rate and the
 * sparkline (10 refreshes: 10 s at the default interval). */
#define TOP_HISTORY 10

typedef struct top_sample {
    int64_t t_ms;      /* monotonic time of the refresh */
    int64_t committed; /* -1: none */
    int64_t log_end;   /* -1: unknown */
} top_sample;

typedef struct top_series {
    top_sample s[TOP_HISTORY]; /* ring: the oldest at (head + TOP_HISTORY - n) % TOP_HISTORY */
    size_t n, head;            /* n <= TOP_HISTORY; head: where the next sample goes */
} top_series;

typedef enum top_trend {
    TOP_TREND_UNKNOWN, /* fewer than two samples with a known lag */
    TOP_TREND_STEADY,
    TOP_TREND_RISING,
    TOP_TREND_FALLING,
} top_trend;

/* Appends a sample, dropping the oldest past TOP_HISTORY. A committed
 * offset lower than the previous known one (offsets reset, group
 * recreated) restarts the history, so that no negative rate is shown.
 * t_ms must not go backwards. */
void top_series_push(top_series *s, int64_t t_ms, int64_t committed, int64_t log_end);
void top_series_clear(top_series *s);

/* The i-th sample, 0 the oldest; i < s->n. */
const top_sample *top_series_at(const top_series *s, size_t i);

/* Committed offsets per second between the oldest and the newest sample
 * that have a committed offset. False (rate unknown) when there are fewer
 * than two such samples or no time passed between them. */
bool top_series_rate(const top_series *s, double *per_s);

/* The lag's direction from the oldest to the newest sample with a known
 * lag: a change of at most max(1, 1% of the larger lag) is steady, so that
 * the commits of a busy group do not flip it at every refresh. */
top_trend top_series_trend(const top_series *s);

/* "rising", "falling", "steady" or "-". */
const char *top_trend_name(top_trend t);

/* The lag of each sample, oldest first, as one ASCII character (the ramp
 * "_.:-=+*#" from the window's lowest lag to its highest, all '_' when the
 * known lags are equal; '?' for an unknown lag),
 * padded on the left with spaces to TOP_HISTORY characters. `out` has
 * room for TOP_HISTORY + 1 bytes. */
void top_series_sparkline(const top_series *s, char out[TOP_HISTORY + 1]);

/* ------------------------------------------------ state between refreshes */

typedef struct top_part_state {
    char *topic; /* owned */
    int32_t partition;
    unsigned seen; /* the refresh that last showed it */
    top_series series;
} top_part_state;

typedef struct top_group_state {
    char *id; /* owned */
    unsigned seen;
    top_series total; /* sums over the partitions with a known lag */
    size_t total_parts; /* how many partitions the sums covered: the total restarts when it changes */
    top_part_state *parts; /* sorted by topic, then partition */
    size_t n_parts, cap_parts;
} top_group_state;

typedef struct top_state {
    top_group_state *groups; /* sorted by id */
    size_t n_groups, cap_groups;
    unsigned refresh; /* incremented by top_state_begin */
} top_state;

void top_state_init(top_state *st);
void top_state_fini(top_state *st);
/* Starts a refresh: what is not looked up again before top_state_end()
 * is dropped there. */
void top_state_begin(top_state *st);
void top_state_end(top_state *st);
/* The state of group `id` (borrowed; copied when new), marked seen in this
 * refresh; NULL when out of memory. The pointer is valid until the next
 * top_state_group() or top_state_end(). */
top_group_state *top_state_group(top_state *st, const char *id);
/* The series of one partition of `g`, marked seen; NULL when out of
 * memory. Valid until the next top_group_part() on g or top_state_end(). */
top_series *top_group_part(top_state *st, top_group_state *g, const char *topic, int32_t partition);

/* -------------------------------------------------------------- layout */

/* One group as a refresh saw it, for top_render_group(). */
typedef struct top_group_view {
    const char *id;
    const char *error;   /* non-NULL: the group could not be described (the rest is unset) */
    const grp_desc *desc;
    bool offsets_only;   /* a 0.8 broker: committed offsets, no members */
    const grp_row *rows; /* from groups_rows_build() */
    size_t n_rows;
    const top_series *const *series; /* per row (NULL for a member's row) */
    const top_series *total;
} top_group_view;

/* Formats a number of committed offsets per second: "-" when unknown,
 * "12.3" under 100, "1234" under 10^5, then "123k", "12.3M", ... up to
 * exa ("E"), ">999E" beyond. At most 7 characters. */
void top_format_rate(bool known, double per_s, char *out, size_t size);

/* Copies `s` into out (room for width + 1 bytes) cut to at most `width`
 * characters; a cut string ends with '~'. */
void top_fit(const char *s, size_t width, char *out);

/* Writes the block of one group to f: a header line (state, protocol,
 * members, total lag with its trend, total rate), one line per member
 * (client id, host, partitions owned) and the partition table (topic,
 * partition, committed, log end, lag, sparkline and trend, rate, owner).
 * No line is longer than `width` (>= 40): long topics, client ids and
 * hosts are cut with '~', the numeric columns keep their places. */
void top_render_group(FILE *f, const top_group_view *g, size_t width);

/* ----------------------- a `gregor run`'s pipelines (top_metrics.c, top_http.c) */

#define TOP_ENDPOINTS_MAX 16            /* --metrics ADDRESS given at most this often */
#define TOP_PIPELINES_MAX 1024          /* per endpoint; more is an error */
#define TOP_METRICS_BODY_MAX (16 << 20) /* bytes of one /metrics answer */

/* One pipeline's counters, summed over the series that carry its
 * `pipeline` label (several processes behind one endpoint, say). */
typedef struct top_pipeline {
    char *name;  /* owned */
    char *group; /* owned; "" when the series have no group label */
    double consumed, processed, failed, retried, dead_lettered, emitted;
    const top_series *series; /* processed over time (the rate); set by top_frame_fetch */
} top_pipeline;

/* The pipelines of a /metrics text: the gregor_pipeline_{consumed,
 * processed,failed,retried,dead_lettered,emitted}_total samples, per
 * `pipeline` label; other samples are ignored. *out (owned: pass to
 * top_pipelines_free) is sorted by name. False, with errstr naming the line
 * and what is wrong, on a text that is not the Prometheus format, a sample
 * without a pipeline label, or more than TOP_PIPELINES_MAX pipelines (or
 * out of memory). */
bool top_pipelines_read(const char *text, size_t len, top_pipeline **out, size_t *n, char *errstr,
                        size_t errstr_size) GREGOR_MUST_CHECK;
void top_pipelines_free(top_pipeline *p, size_t n);

/* GET of `address`'s /metrics with libcurl: `address` is HOST:PORT (then
 * http://HOST:PORT/metrics) or an http:// or https:// URL, borrowed. At
 * most timeout_ms and TOP_METRICS_BODY_MAX bytes; anything but HTTP 200 is
 * an error. On success *body (owned, NUL-terminated) and *len; on failure
 * errstr says what failed, naming the URL. curl_global_init() must have
 * been called. */
bool top_metrics_get(const char *address, long timeout_ms, char **body, size_t *len, char *errstr,
                     size_t errstr_size) GREGOR_MUST_CHECK;

/* What one refresh found at one endpoint. */
typedef struct top_endpoint {
    const char *address; /* borrowed from the query */
    char *error;         /* owned; NULL when read */
    top_pipeline *pipelines;
    size_t n;
} top_endpoint;

/* Writes the pipelines of one endpoint: a header line naming it, then a
 * table (pipeline, group, consumed, processed, failed, retried,
 * dead-lettered, emitted, processed per second) cut to `width` (>= 40) as
 * top_render_group's; or one line with the error. */
void top_render_pipelines(FILE *f, const top_endpoint *e, size_t width);

/* --------------------------------------------- one refresh (top_fetch.c) */

/* Groups shown at most per refresh; more are counted in `not_shown`. */
#define TOP_GROUPS_MAX 1024

/* One group as one refresh found it. */
typedef struct top_entry {
    char *id;        /* owned */
    char *error;     /* owned; NULL when described */
    char *note;      /* owned; NULL, or the first partition whose log end is unknown */
    bool have_desc;  /* desc holds the group (fini at top_frame_fini) */
    bool offsets_only;
    grp_desc desc;
    grp_row *rows; /* owned */
    size_t n_rows;
    const top_series **series; /* owned array, per row; into the top_state */
    const top_series *total;
} top_entry;

/* Everything one refresh saw, kept until the next so that a terminal
 * resize redraws without asking the brokers again. */
typedef struct top_frame {
    top_entry *entries; /* owned, n entries */
    size_t n, not_shown;
    char *list_error; /* owned; ListGroups failed on some broker */
    top_endpoint *endpoints; /* owned, n_endpoints: one per --metrics address */
    size_t n_endpoints;
    bool failed; /* a group could not be described, listing failed or an endpoint could not be read */
} top_frame;

/* What to look at: the groups named (n_groups > 0) or every group of the
 * cluster; with topics, only their partitions (and, on a 0.8 broker, the
 * committed offsets of those topics). All borrowed. */
typedef struct top_query {
    const gregor_config *cfg;
    const char *const *groups;
    size_t n_groups;
    const char *const *topics;
    size_t n_topics;
    const char *const *metrics; /* --metrics addresses */
    size_t n_metrics;
    int32_t timeout_ms; /* per request */
} top_query;

/* The history kept between refreshes: groups' partitions, and the
 * pipelines of each --metrics endpoint (group id: the address; partition:
 * the pipeline's name, 0). */
typedef struct top_history {
    top_state groups, pipelines;
} top_history;

/* Asks the brokers once: lists the groups (unless named), describes each,
 * looks up the log ends, pushes one sample at `now_ms` into every
 * partition's series and the group's total; reads every --metrics endpoint
 * and pushes each pipeline's processed count; fills `out` (which the caller
 * passes to top_frame_fini). Errors about a group, a listing or an endpoint
 * are in the frame, not returned: GREGOR_ERR_NOMEM is the only failure. */
gregor_err top_frame_fetch(gregor_consumer *c, const top_query *q, top_history *h, int64_t now_ms,
                           top_frame *out) GREGOR_MUST_CHECK;
void top_frame_fini(top_frame *f);

/* The view of entry e for top_render_group(). */
top_group_view top_entry_view(const top_entry *e);

#endif
