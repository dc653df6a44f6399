/* framework/fwlog_format.c — one event as one line of text or JSON (see
 * fwlog.h). A bounded writer fills the caller's buffer: content stops at
 * `limit` (the buffer's size less a reserve) and the closing characters
 * (a string's quote, the object's brace, the newline) always fit in the
 * reserve, so a cut line is still one valid JSON object. Strings are
 * walked as UTF-8: valid sequences are copied, control characters and
 * bytes that are not UTF-8 escaped, so that a handler's error text or a
 * payload can neither break the line nor the JSON. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "framework/fwlog.h"

#define RESERVE 8 /* the closers: a quote, "]", "}", the newline, the NUL */

typedef struct lw {
    char *p;
    size_t len;
    size_t limit; /* content stops here; the reserve is for closers */
    size_t cap;
    bool full;    /* something did not fit: nothing more but closers (sticky) */
} lw;

static bool room(lw *w, size_t n)
{
    if (!w->full && w->len + n > w->limit)
        w->full = true;
    return !w->full;
}

/* All of s[0..n) or nothing, so that no escape is cut in two. */
static void put_n(lw *w, const char *s, size_t n)
{
    if (!room(w, n))
        return;
    memcpy(w->p + w->len, s, n);
    w->len += n;
}

static void put(lw *w, const char *s)
{
    put_n(w, s, strlen(s));
}

/* Closers go into the reserve. */
static void put_close(lw *w, char c)
{
    if (w->len + 1 < w->cap)
        w->p[w->len++] = c;
}

static void putf_int(lw *w, int64_t v)
{
    char num[24];
    int n = snprintf(num, sizeof num, "%" PRId64, v);
    put_n(w, num, (size_t)n);
}

/* The length of the valid UTF-8 sequence at s[0..n) (1-4), or 0 when s[0]
 * does not start one (overlong forms, surrogates and code points past
 * U+10FFFF are not UTF-8). */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    size_t k;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
        k = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        k = 3;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        k = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    } else {
        return 0;
    }
    if (n < k || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < k; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    return k;
}

/* How many of the first `max` bytes of s to keep so that no UTF-8
 * sequence is cut in two. */
static size_t cut_point(const unsigned char *s, size_t n, size_t max)
{
    if (n <= max)
        return n;
    size_t i = 0;
    while (i < max) {
        size_t k = utf8_len(s + i, n - i);
        if (k == 0)
            k = 1;
        if (i + k > max)
            break;
        i += k;
    }
    return i;
}

typedef enum esc_mode { ESC_JSON, ESC_TEXT, ESC_TEXT_QUOTED } esc_mode;

/* Escapes s[0..n) (at most max_in bytes of it; "..." marks a cut). */
static void put_escaped(lw *w, const char *str, size_t n, size_t max_in, esc_mode mode)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t end = cut_point(s, n, max_in);
    for (size_t i = 0; i < end;) {
        size_t k = utf8_len(s + i, end - i);
        unsigned char c = s[i];
        char esc[8];
        if (k > 1) {
            put_n(w, (const char *)s + i, k);
            i += k;
            continue;
        }
        i++;
        if (k == 0 || c < 0x20 || c == 0x7f) {
            const char *named = c == '\n' ? "\\n" : c == '\r' ? "\\r" : c == '\t' ? "\\t" : NULL;
            if (!named) {
                /* Not UTF-8: the text \xNN (in JSON a backslash, then xNN). */
                if (k == 0 && mode == ESC_JSON)
                    snprintf(esc, sizeof esc, "\\\\x%02x", c);
                else if (mode == ESC_JSON)
                    snprintf(esc, sizeof esc, "\\u%04x", c);
                else
                    snprintf(esc, sizeof esc, "\\x%02x", c);
                named = esc;
            }
            put(w, named);
        } else if ((c == '"' || c == '\\') && mode != ESC_TEXT) {
            esc[0] = '\\';
            esc[1] = (char)c;
            put_n(w, esc, 2);
        } else {
            put_n(w, (const char *)&c, 1);
        }
        if (w->full)
            return;
    }
    if (end < n)
        put(w, "...");
}

/* ------------------------------------------------------------ JSON */

/* A string whose opening quote the caller made room for; its content may
 * be cut, its closing quote is in the reserve. */
static void json_str(lw *w, const char *s, size_t n, size_t max_in)
{
    put(w, "\"");
    put_escaped(w, s, n, max_in, ESC_JSON);
    put_close(w, '"');
}

/* `,"key":` and room for the shortest value after it (value_min bytes),
 * or nothing (false) when they do not fit. */
static bool json_key(lw *w, const char *key, size_t value_min)
{
    char k[64];
    int n = snprintf(k, sizeof k, ",\"%s\":", key);
    if (!room(w, (size_t)n + value_min))
        return false;
    put_n(w, k, (size_t)n);
    return true;
}

static void json_field_str(lw *w, const char *key, const char *v, size_t max_in)
{
    if (v && json_key(w, key, 1))
        json_str(w, v, strlen(v), max_in);
}

static void json_field_int(lw *w, const char *key, int64_t v)
{
    if (json_key(w, key, 24))
        putf_int(w, v);
}

static void json_tps(lw *w, const fw_log_event *ev)
{
    if (!ev->tps)
        return;
    if (!json_key(w, "partitions", 1))
        return;
    put(w, "[");
    for (size_t i = 0; i < ev->n_tps && i < FW_LOG_TPS_MAX; i++) {
        char tp[300];
        snprintf(tp, sizeof tp, "%s/%d", ev->tps[i].topic ? ev->tps[i].topic : "", (int)ev->tps[i].partition);
        if (!room(w, 2))
            break;
        if (i)
            put(w, ",");
        json_str(w, tp, strlen(tp), sizeof tp);
    }
    put_close(w, ']');
}

static void format_json(lw *w, const fw_log_event *ev, const char *msg, const char *ts)
{
    static const char *const levels[] = {"debug", "info", "warn", "error"};
    put(w, "{\"ts\":\"");
    put(w, ts);
    put(w, "\",\"level\":\"");
    put(w, levels[ev->level <= GREGOR_LOG_ERROR ? ev->level : GREGOR_LOG_ERROR]);
    put(w, ev->source == FW_LOG_SRC_LIB ? "\",\"source\":\"lib\"" : "\",\"source\":\"run\"");
    if (ev->child >= 0)
        json_field_int(w, "child", ev->child);
    json_field_str(w, "event", ev->event, 128);
    json_field_str(w, "msg", msg ? msg : "", FW_LOG_LINE_MAX);
    json_field_str(w, "pipeline", ev->pipeline, 256);
    json_field_str(w, "group", ev->group, 256);
    json_field_str(w, "member", ev->member, 256);
    if (ev->generation >= 0)
        json_field_int(w, "generation", ev->generation);
    if (ev->topic && ev->partition >= 0) {
        json_field_str(w, "topic", ev->topic, 256);
        json_field_int(w, "partition", ev->partition);
    }
    if (ev->offset >= 0)
        json_field_int(w, "offset", ev->offset);
    if (ev->attempt > 0)
        json_field_int(w, "attempt", ev->attempt);
    json_tps(w, ev);
    json_field_str(w, "error", ev->error, FW_LOG_ERROR_MAX);
    if (ev->has_payload && json_key(w, "payload", 1)) {
        json_str(w, ev->payload ? ev->payload : "", ev->payload ? ev->payload_len : 0, FW_LOG_PAYLOAD_MAX);
    }
    put_close(w, '}');
}

/* ------------------------------------------------------------ text */

/* A trailer value: bare when it is plain, else quoted with \" and \\. */
static void text_value(lw *w, const char *v, size_t n, size_t max_in)
{
    bool plain = n > 0 && n <= max_in;
    for (size_t i = 0; i < n && plain; i++) {
        unsigned char c = (unsigned char)v[i];
        plain = c > 0x20 && c < 0x7f && c != '"' && c != '\\' && c != '=';
    }
    if (plain) {
        put_n(w, v, n);
        return;
    }
    put(w, "\"");
    put_escaped(w, v, n, max_in, ESC_TEXT_QUOTED);
    put(w, "\"");
}

static void text_field(lw *w, bool *first, const char *key, const char *v, size_t max_in)
{
    if (!v)
        return;
    put(w, *first ? " | " : " ");
    *first = false;
    put(w, key);
    put(w, "=");
    text_value(w, v, strlen(v), max_in);
}

static void format_text(lw *w, const fw_log_event *ev, const char *msg, const char *stamp)
{
    static const char *const levels[] = {"DEBUG", "INFO", "WARN", "ERROR"};
    const char *level = levels[ev->level <= GREGOR_LOG_ERROR ? ev->level : GREGOR_LOG_ERROR];
    if (stamp) {
        put(w, stamp);
        put(w, " ");
        put(w, level);
        put(w, " ");
    }
    if (ev->source == FW_LOG_SRC_LIB && stamp) {
        put(w, "gregor: "); /* the level is already in front */
    } else if (ev->source == FW_LOG_SRC_LIB) {
        put(w, "gregor ");
        put(w, level);
        put(w, ": ");
    } else {
        put(w, "gregor run: ");
    }
    if (ev->pipeline) {
        put(w, "pipeline ");
        put_escaped(w, ev->pipeline, strlen(ev->pipeline), 256, ESC_TEXT);
        put(w, ": ");
    }
    if (ev->topic && ev->partition >= 0) {
        put_escaped(w, ev->topic, strlen(ev->topic), 256, ESC_TEXT);
        put(w, " [");
        putf_int(w, ev->partition);
        put(w, "]");
        if (ev->offset >= 0) {
            put(w, " offset ");
            putf_int(w, ev->offset);
        }
        put(w, ": ");
    }
    if (msg)
        put_escaped(w, msg, strlen(msg), FW_LOG_LINE_MAX, ESC_TEXT);
    if (ev->error) {
        put(w, ": ");
        put_escaped(w, ev->error, strlen(ev->error), FW_LOG_ERROR_MAX, ESC_TEXT);
    }
    bool first = true;
    char num[24];
    text_field(w, &first, "group", ev->group, 256);
    text_field(w, &first, "member", ev->member, 256);
    if (ev->generation >= 0) {
        snprintf(num, sizeof num, "%d", (int)ev->generation);
        text_field(w, &first, "generation", num, sizeof num);
    }
    if (ev->attempt > 0) {
        snprintf(num, sizeof num, "%d", (int)ev->attempt);
        text_field(w, &first, "attempt", num, sizeof num);
    }
    if (ev->child >= 0) {
        snprintf(num, sizeof num, "%d", (int)ev->child);
        text_field(w, &first, "child", num, sizeof num);
    }
    if (ev->has_payload) {
        put(w, first ? " | payload=" : " payload=");
        put(w, "\"");
        put_escaped(w, ev->payload ? ev->payload : "", ev->payload ? ev->payload_len : 0, FW_LOG_PAYLOAD_MAX,
                    ESC_TEXT_QUOTED);
        put_close(w, '"');
    }
}

/* ------------------------------------------------------------ entry */

static void iso_time(int64_t wall_ms, char *out, size_t size)
{
    time_t secs = (time_t)(wall_ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    snprintf(out, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(wall_ms % 1000));
}

fw_log_event fw_log_ev(gregor_log_level level, const char *event)
{
    return (fw_log_event){
        .level = level, .event = event, .child = -1, .generation = -1, .partition = -1, .offset = -1};
}

size_t fw_log_format_line(const fw_log_event *ev, const char *msg, fw_log_format format, bool stamp,
                          int64_t wall_ms, char *out, size_t cap)
{
    lw w = {.p = out, .cap = cap, .limit = cap > RESERVE ? cap - RESERVE : 0};
    char ts[96]; /* room for any int fields: gcc checks the worst case */
    iso_time(wall_ms < 0 ? 0 : wall_ms, ts, sizeof ts);
    if (format == FW_LOG_JSON)
        format_json(&w, ev, msg, ts);
    else
        format_text(&w, ev, msg, stamp ? ts : NULL);
    put_close(&w, '\n');
    if (cap)
        out[w.len < cap ? w.len : cap - 1] = '\0';
    return w.len;
}
