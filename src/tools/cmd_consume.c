/* tools/cmd_consume.c — `gregor consume`: messages of a topic to stdout,
 * with kcat's flags and meaning for those the two share: -o where to start,
 * -c how many, -e stop at the end, -f kcat's format tokens, -J one JSON
 * object per message with kcat's keys, -K/-D delimiters, -Z null as "NULL".
 * With -g, offsets come from (and with --commit go back to) the group. */
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tools/tool.h"

#define MAX_PARTS 1024
#define COMMIT_INTERVAL_MS 5000

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void on_async_commit(gregor_err err, const gregor_topic_offset *offs, size_t n, void *opaque)
{
    (void)offs, (void)n, (void)opaque;
    if (err != GREGOR_OK)
        tool_error("consume", "commit: %s", gregor_err_name(err));
}

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: gregor consume -b BROKERS -t TOPIC [-p PARTITION] [-o OFFSET] [-c COUNT] [-e]\n"
            "                      [-g GROUP [--commit]] [-f FORMAT | -J] [-K DELIM] [-D DELIM] [-Z] [-q]\n"
            "                      [-X key=value]...\n"
            "  -p PARTITION   only this partition (default: all)\n"
            "  -o OFFSET      beginning | end | stored | N | -N (N before the end) | s@TIMESTAMP_MS\n"
            "                 (default: beginning; stored with -g)\n"
            "  -c COUNT       exit after COUNT messages\n"
            "  -e             exit at the end of every partition\n"
            "  -g GROUP       read the group's committed offsets (-o stored)\n"
            "  --commit       commit what was printed to the group (every 5 s and on exit)\n"
            "  -f FORMAT      kcat tokens: %%t topic, %%p partition, %%o offset, %%k key, %%s value,\n"
            "                 %%K key size, %%S value size, %%h headers (k=v,...), %%T timestamp,\n"
            "                 %%%% a percent sign; escapes \\n \\t \\r \\\\ \n"
            "  -J             one JSON object per message (kcat's keys)\n"
            "  -K DELIM       print the key, DELIM, then the value\n"
            "  -D DELIM       after each message (default \\n)\n"
            "  -Z             print null (and, as kcat does, empty) keys and values as NULL\n"
            "  -q             no informational messages on stderr\n"
            "  -X key=value   any client or consumer option ('gregor config list')\n");
}

typedef struct opts {
    const char *topic;
    int32_t partition; /* -1: all */
    int64_t offset, ts;
    int64_t relative; /* -N: N before the end */
    long long count;
    bool exit_eof, json, commit, null_str, quiet;
    const char *format, *key_delim, *msg_delim;
} opts;

/* Converts \n \t \r \\ in place. */
static void unescape(char *s)
{
    char *w = s;
    for (char *r = s; *r; r++) {
        if (*r == '\\' && r[1]) {
            r++;
            *w++ = *r == 'n' ? '\n' : *r == 't' ? '\t' : *r == 'r' ? '\r' : *r == '0' ? '\0' : *r;
        } else {
            *w++ = *r;
        }
    }
    *w = 0;
}

static bool parse_offset(const char *s, opts *o)
{
    char *end;
    if (!strcmp(s, "beginning"))
        o->offset = GREGOR_OFFSET_BEGINNING;
    else if (!strcmp(s, "end"))
        o->offset = GREGOR_OFFSET_END;
    else if (!strcmp(s, "stored"))
        o->offset = GREGOR_OFFSET_COMMITTED;
    else if (!strncmp(s, "s@", 2)) {
        o->offset = GREGOR_OFFSET_TIMESTAMP;
        o->ts = strtoll(s + 2, &end, 10);
        return *end == 0 && s[2] && o->ts >= 0;
    } else if (s[0] == '-') {
        o->relative = strtoll(s + 1, &end, 10);
        o->offset = GREGOR_OFFSET_END;
        return *end == 0 && s[1] && o->relative >= 0;
    } else {
        o->offset = strtoll(s, &end, 10);
        return *end == 0 && s[0] && o->offset >= 0;
    }
    return true;
}

static void put_bytes(FILE *out, const void *p, int32_t len, bool null_str)
{
    if (len <= 0) {
        if (null_str) /* kcat prints empty ones as NULL too */
            fputs("NULL", out);
    } else {
        fwrite(p, 1, (size_t)len, out);
    }
}

static void print_headers(FILE *out, const gregor_message *m)
{
    for (size_t i = 0; i < m->header_count; i++) {
        const gregor_header *h = &m->headers[i];
        if (i)
            fputc(',', out);
        fwrite(h->key, 1, h->key_len, out);
        fputc('=', out);
        put_bytes(out, h->value, h->value_len, false);
    }
}

static void print_format(FILE *out, const char *fmt, const gregor_message *m, bool null_str)
{
    for (const char *f = fmt; *f; f++) {
        if (*f != '%' || !f[1]) {
            fputc(*f, out);
            continue;
        }
        switch (*++f) {
        case 't': fputs(m->topic, out); break;
        case 'p': fprintf(out, "%d", m->partition); break;
        case 'o': fprintf(out, "%lld", (long long)m->offset); break;
        case 'k': put_bytes(out, m->key, m->key_len, null_str); break;
        case 's': put_bytes(out, m->value, m->value_len, null_str); break;
        case 'K': fprintf(out, "%d", m->key_len); break;
        case 'S': fprintf(out, "%d", m->value_len); break;
        case 'h': print_headers(out, m); break;
        case 'T': fprintf(out, "%lld", (long long)m->timestamp_ms); break;
        case '%': fputc('%', out); break;
        default: fputc('%', out), fputc(*f, out); break;
        }
    }
}

static void json_bytes(FILE *out, const void *p, int32_t len)
{
    if (len < 0)
        fputs("null", out);
    else
        json_string_n(out, p, (size_t)len);
}

static void print_json(FILE *out, const gregor_message *m)
{
    fputs("{\"topic\":", out);
    json_string(out, m->topic);
    fprintf(out, ",\"partition\":%d,\"offset\":%lld,\"tstype\":\"%s\",\"ts\":%lld,\"broker\":-1", m->partition,
            (long long)m->offset,
            m->timestamp_type == 0 ? "create" : m->timestamp_type == 1 ? "logappend" : "unknown",
            (long long)m->timestamp_ms);
    if (m->header_count) {
        fputs(",\"headers\":[", out);
        for (size_t i = 0; i < m->header_count; i++) {
            fputs(i ? "," : "", out);
            json_string_n(out, m->headers[i].key, m->headers[i].key_len);
            fputc(',', out);
            json_bytes(out, m->headers[i].value, m->headers[i].value_len);
        }
        fputc(']', out);
    }
    fputs(",\"key\":", out);
    json_bytes(out, m->key, m->key_len);
    fputs(",\"payload\":", out);
    json_bytes(out, m->value, m->value_len);
    fputs("}\n", out);
}

static void print_message(FILE *out, const opts *o, const gregor_message *m)
{
    if (o->json) {
        print_json(out, m);
    } else if (o->format) {
        print_format(out, o->format, m, o->null_str);
    } else {
        if (o->key_delim) {
            put_bytes(out, m->key, m->key_len, o->null_str);
            fputs(o->key_delim, out);
        }
        put_bytes(out, m->value, m->value_len, o->null_str);
        fputs(o->msg_delim, out);
    }
}

/* Assigns the partitions; fills parts[] and returns their count, or -1. */
static int assign_all(gregor_consumer *c, const opts *o, int32_t *parts)
{
    char err[512];
    int n = 0;
    if (o->partition >= 0) {
        parts[n++] = o->partition;
    } else {
        const gregor_metadata *md;
        const char *names[1] = {o->topic};
        if (gregor_client_metadata(gregor_consumer_client(c), names, 1, 30000, &md, err, sizeof err) != GREGOR_OK) {
            tool_error("consume", "%s", err);
            return -1;
        }
        const gregor_metadata_topic *t = gregor_metadata_topic_find(md, o->topic);
        for (int32_t i = 0; t && !t->err && i < t->n_partitions && n < MAX_PARTS; i++)
            parts[n++] = t->partitions[i].id;
        if (!t || t->err || !n)
            tool_error("consume", "topic '%s': %s", o->topic, t && t->err ? gregor_err_name(t->err) : "not found");
        gregor_metadata_destroy(md);
        if (!n)
            return -1;
    }
    for (int i = 0; i < n; i++) {
        int64_t off = o->offset;
        if (o->relative > 0) {
            int64_t lo, hi;
            if (gregor_consumer_watermarks(c, o->topic, parts[i], &lo, &hi, err, sizeof err) != GREGOR_OK) {
                tool_error("consume", "%s", err);
                return -1;
            }
            off = hi - o->relative < lo ? lo : hi - o->relative;
        }
        if (gregor_consumer_assign(c, o->topic, parts[i], off, o->ts, err, sizeof err) != GREGOR_OK) {
            tool_error("consume", "%s", err);
            return -1;
        }
    }
    return n;
}

/* True once every partition's position reached its high watermark. */
static bool at_end(gregor_consumer *c, const opts *o, const int32_t *parts, int n, bool *eof)
{
    bool all = true;
    for (int i = 0; i < n; i++) {
        gregor_partition_state st;
        if (!eof[i] && gregor_consumer_position(c, o->topic, parts[i], &st) == GREGOR_OK && st.high_watermark >= 0 &&
            st.position >= st.high_watermark) {
            eof[i] = true;
            if (!o->quiet)
                fprintf(stderr, "%% Reached end of topic %s [%d] at offset %lld\n", o->topic, parts[i],
                        (long long)st.position);
        }
        all = all && eof[i];
    }
    return all;
}

/* Commits the offset after the last printed message of each partition
 * (not the consumer's position: -c may stop inside a batch). */
static gregor_err commit_printed(gregor_consumer *c, const opts *o, const int32_t *parts, const int64_t *next, int n,
                                 bool async, char *err, size_t err_size)
{
    static gregor_topic_offset v[MAX_PARTS];
    size_t k = 0;
    for (int i = 0; i < n; i++)
        if (next[i] >= 0)
            v[k++] = (gregor_topic_offset){.topic = o->topic, .partition = parts[i], .offset = next[i]};
    if (!k)
        return GREGOR_OK;
    return gregor_consumer_commit(c, v, k, NULL, async ? on_async_commit : NULL, NULL, err, err_size);
}

static int run(gregor_consumer *c, const opts *o)
{
    static int32_t parts[MAX_PARTS];
    static int64_t next[MAX_PARTS];
    static bool eof[MAX_PARTS];
    int n = assign_all(c, o, parts);
    if (n < 0)
        return TOOL_EXIT_FAIL;
    for (int i = 0; i < n; i++)
        next[i] = -1;
    int64_t last_commit_ms = now_ms();
    static char outbuf[1 << 20];
    setvbuf(stdout, outbuf, _IOFBF, sizeof outbuf);
    long long seen = 0;
    int rc = TOOL_EXIT_OK;
    while (!stop_requested && (o->count <= 0 || seen < o->count)) {
        gregor_batch *b;
        char err[512];
        gregor_err e = gregor_consumer_poll(c, 200, &b, err, sizeof err);
        if (e != GREGOR_OK) {
            fflush(stdout);
            tool_error("consume", "%s", err);
            rc = TOOL_EXIT_FAIL;
            break;
        }
        size_t k = gregor_batch_count(b);
        for (size_t i = 0; i < k && (o->count <= 0 || seen < o->count); i++, seen++) {
            const gregor_message *m = gregor_batch_message(b, i);
            print_message(stdout, o, m);
            for (int p = 0; p < n; p++)
                if (parts[p] == m->partition)
                    next[p] = m->offset + 1;
        }
        gregor_batch_destroy(b);
        if (o->commit && now_ms() - last_commit_ms >= COMMIT_INTERVAL_MS) {
            fflush(stdout);
            if (commit_printed(c, o, parts, next, n, true, err, sizeof err) != GREGOR_OK)
                tool_error("consume", "%s", err);
            last_commit_ms = now_ms();
        }
        if (o->exit_eof && at_end(c, o, parts, n, eof))
            break;
    }
    fflush(stdout);
    if (o->commit) {
        char err[512];
        if (commit_printed(c, o, parts, next, n, false, err, sizeof err) != GREGOR_OK) {
            tool_error("consume", "%s", err);
            rc = TOOL_EXIT_FAIL;
        }
    }
    return rc;
}

int cmd_consume(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"commit", no_argument, NULL, 'M'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    opts o = {.partition = -1, .offset = GREGOR_OFFSET_BEGINNING, .msg_delim = "\n"};
    bool offset_set = false;
    const char *group = NULL;
    static char fmt_buf[1024], kd_buf[64], md_buf[64];
    gregor_config *cfg = gregor_config_new();
    int opt, rc = TOOL_EXIT_USAGE;
    if (!cfg)
        return TOOL_EXIT_FAIL;
    while ((opt = getopt_long(argc, argv, "Cb:t:p:o:c:eg:f:JK:D:ZqX:h", longopts, NULL)) != -1) {
        char err[256];
        switch (opt) {
        case 'C': break; /* kcat's consumer mode: the only one here */
        case 'b':
            if (gregor_config_set(cfg, "bootstrap", optarg, err, sizeof err) != GREGOR_OK) {
                tool_error("consume", "%s", err);
                goto out;
            }
            break;
        case 't': o.topic = optarg; break;
        case 'p': {
            long long v;
            if (!tool_parse_int("consume", "-p", optarg, 0, INT32_MAX, &v))
                goto out;
            o.partition = (int32_t)v;
            break;
        }
        case 'o':
            offset_set = true;
            if (!parse_offset(optarg, &o)) {
                tool_error("consume", "-o: '%s' is not beginning, end, stored, N, -N or s@TIMESTAMP", optarg);
                goto out;
            }
            break;
        case 'c': {
            long long v;
            if (!tool_parse_int("consume", "-c", optarg, 1, 1LL << 40, &v))
                goto out;
            o.count = v;
            break;
        }
        case 'e': o.exit_eof = true; break;
        case 'g': group = optarg; break;
        case 'M': o.commit = true; break;
        case 'f':
            snprintf(fmt_buf, sizeof fmt_buf, "%s", optarg);
            unescape(fmt_buf);
            o.format = fmt_buf;
            break;
        case 'J': o.json = true; break;
        case 'K':
            snprintf(kd_buf, sizeof kd_buf, "%s", optarg);
            unescape(kd_buf);
            o.key_delim = kd_buf;
            break;
        case 'D':
            snprintf(md_buf, sizeof md_buf, "%s", optarg);
            unescape(md_buf);
            o.msg_delim = md_buf;
            break;
        case 'Z': o.null_str = true; break;
        case 'q': o.quiet = true; break;
        case 'X':
            if (!tool_apply_x(cfg, optarg))
                goto out;
            break;
        case 'h': usage(stdout); rc = TOOL_EXIT_OK; goto out;
        default: usage(stderr); goto out;
        }
    }
    if (!o.topic || optind != argc || (o.commit && !group) || (o.offset == GREGOR_OFFSET_COMMITTED && !group)) {
        tool_error("consume", !o.topic ? "-t TOPIC is required"
                              : optind != argc ? "unexpected argument"
                                               : "--commit and -o stored need -g GROUP");
        usage(stderr);
        goto out;
    }
    char err[512];
    if (group) {
        if (gregor_config_set(cfg, "group_id", group, err, sizeof err) != GREGOR_OK ||
            gregor_config_set(cfg, "enable_auto_commit", "false", err, sizeof err) != GREGOR_OK) {
            tool_error("consume", "%s", err);
            goto out;
        }
        if (!offset_set)
            o.offset = GREGOR_OFFSET_COMMITTED;
    }
    gregor_consumer *c;
    if (gregor_consumer_new(cfg, &c, err, sizeof err) != GREGOR_OK) {
        tool_error("consume", "%s", err);
        rc = TOOL_EXIT_FAIL;
        goto out;
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    rc = run(c, &o);
    gregor_consumer_destroy(c);
out:
    gregor_config_destroy(cfg);
    return rc;
}
