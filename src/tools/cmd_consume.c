/* tools/cmd_consume.c — `gregor consume`: messages of a topic to stdout,
 * with kcat's flags and meaning for those the two share: -o where to start,
 * -c how many, -e stop at the end, -f kcat's format tokens, -J one JSON
 * object per message with kcat's keys, -K/-D delimiters, -Z null as "NULL",
 * -u unbuffered output. With -g, offsets come from (and with --commit go
 * back to) the group.
 *
 * Output: a terminal is line-buffered, anything else fully buffered (1 MiB)
 * and flushed whenever the consumer has caught up (a poll with nothing
 * ready), so a follower of a live topic sees each message as it arrives
 * while a backlog is written in large blocks. Delimiters and formats are
 * length-counted bytes: "\0" is a NUL byte, not the end of the string.
 *
 * Partitions: as many as the topic has (one table entry each, allocated
 * once); a message finds its entry by partition id. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tools/consume.h"
#include "tools/tool.h"

#define COMMIT_INTERVAL_MS 5000
#define LEADER_REFRESH_MS 10000
#define METADATA_TIMEOUT_MS 30000
#define OUTPUT_BUFFER_BYTES (1 << 20)

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
            "       gregor consume -b BROKERS -G GROUP [options] TOPIC... (a group member, as kcat -G)\n"
            "                      [-g GROUP [--commit]] [-f FORMAT | -J] [-K DELIM] [-D DELIM] [-Z] [-u] [-q]\n"
            "                      [-X key=value]...\n"
            "  -p PARTITION   only this partition (default: all)\n"
            "  -o OFFSET      beginning | end | stored | N | -N (N before the end) | s@TIMESTAMP_MS\n"
            "                 (default: beginning; stored with -g)\n"
            "  -c COUNT       exit after COUNT messages\n"
            "  -e             exit at the end of every partition\n"
            "  -g GROUP       read the group's committed offsets (-o stored)\n"
            "  -G GROUP       join GROUP and read the partitions of TOPIC... it assigns (^TOPIC: a regular\n"
            "                 expression); prints rebalances on stderr and commits what it printed;\n"
            "                 -o beginning|end: where partitions without a committed offset start\n"
            "  --commit       commit what was printed to the group (every 5 s and on exit)\n"
            "  -f FORMAT      kcat tokens: %%t topic, %%p partition, %%o offset, %%k key, %%s value,\n"
            "                 %%K key size, %%S value size, %%h headers (k=v,...), %%T timestamp,\n"
            "                 %%%% a percent sign (takes precedence over -K and -D)\n"
            "  -J             one JSON object per message (kcat's keys), each followed by -D\n"
            "  -K DELIM       print the key, DELIM, then the value\n"
            "  -D DELIM       after each message (default \\n)\n"
            "                 DELIM and FORMAT escapes: \\n \\t \\r \\\\ \\0 (NUL) \\xNN (a byte in hex)\n"
            "  -Z             print null (and, as kcat does, empty) keys and values as NULL\n"
            "  -u             unbuffered output (default: flushed whenever the consumer has caught up)\n"
            "  -q             no informational messages on stderr\n"
            "  -X key=value   any client or consumer option ('gregor config list')\n");
}


/* Per-partition state, one entry per assigned partition. */
typedef struct part_table {
    int n;
    int32_t *id;
    int32_t *leader; /* node id from the last metadata; -1 unknown */
    int64_t *next;   /* offset after the last printed message; -1 none */
    bool *eof;
} part_table;

static bool parts_alloc(part_table *t, int n)
{
    t->n = n;
    t->id = calloc((size_t)n, sizeof *t->id);
    t->leader = calloc((size_t)n, sizeof *t->leader);
    t->next = calloc((size_t)n, sizeof *t->next);
    t->eof = calloc((size_t)n, sizeof *t->eof);
    if (!t->id || !t->leader || !t->next || !t->eof)
        return false;
    for (int i = 0; i < n; i++)
        t->leader[i] = -1, t->next[i] = -1;
    return true;
}

static void parts_free(part_table *t)
{
    free(t->id);
    free(t->leader);
    free(t->next);
    free(t->eof);
}

/* Index of partition `id` in the table, -1 if absent. Metadata lists a
 * topic's partitions as 0..n-1, so the first guess is nearly always right. */
static int parts_index(const part_table *t, int32_t id)
{
    if (id >= 0 && id < t->n && t->id[id] == id)
        return id;
    for (int i = 0; i < t->n; i++)
        if (t->id[i] == id)
            return i;
    return -1;
}

static bool format_compile(const char *text, consume_opts *o)
{
    size_t len = strlen(text);
    /* At most one segment per byte, plus one. */
    o->format = calloc(len + 1, sizeof *o->format);
    if (!o->format) {
        tool_error("consume", "-f: out of memory");
        return false;
    }
    size_t i = 0;
    while (i < len) {
        fmt_seg *seg = &o->format[o->n_format++];
        if (text[i] == '%' && i + 1 < len) {
            seg->token = text[i + 1];
            i += 2;
            continue;
        }
        size_t j = i + 1; /* a lone trailing '%' is a literal */
        while (j < len && text[j] != '%')
            j++;
        if (!tool_unescape_n("consume", "-f", text + i, j - i, i, &seg->lit))
            return false;
        i = j;
    }
    return true;
}

static void format_free(consume_opts *o)
{
    for (size_t i = 0; i < o->n_format; i++)
        tool_bytes_fini(&o->format[i].lit);
    free(o->format);
    o->format = NULL;
    o->n_format = 0;
}

static void opts_fini(consume_opts *o)
{
    format_free(o);
    tool_bytes_fini(&o->key_delim);
    tool_bytes_fini(&o->msg_delim);
}

static bool parse_offset(const char *s, consume_opts *o)
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

static void put_delim(FILE *out, const tool_bytes *d)
{
    if (d->len > 0) /* an empty delimiter may have no buffer at all */
        fwrite(d->p, 1, d->len, out);
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

static void print_format(FILE *out, const consume_opts *o, const gregor_message *m)
{
    for (size_t i = 0; i < o->n_format; i++) {
        const fmt_seg *seg = &o->format[i];
        switch (seg->token) {
        case 0: put_delim(out, &seg->lit); break;
        case 't': fputs(m->topic, out); break;
        case 'p': fprintf(out, "%d", m->partition); break;
        case 'o': fprintf(out, "%lld", (long long)m->offset); break;
        case 'k': put_bytes(out, m->key, m->key_len, o->null_str); break;
        case 's': put_bytes(out, m->value, m->value_len, o->null_str); break;
        case 'K': fprintf(out, "%d", m->key_len); break;
        case 'S': fprintf(out, "%d", m->value_len); break;
        case 'h': print_headers(out, m); break;
        case 'T': fprintf(out, "%lld", (long long)m->timestamp_ms); break;
        case '%': fputc('%', out); break;
        default: fputc('%', out), fputc(seg->token, out); break;
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

static void print_json(FILE *out, const consume_opts *o, const gregor_message *m, int32_t broker)
{
    fputs("{\"topic\":", out);
    json_string(out, m->topic);
    fprintf(out, ",\"partition\":%d,\"offset\":%lld,\"tstype\":\"%s\",\"ts\":%lld,\"broker\":%d", m->partition,
            (long long)m->offset,
            m->timestamp_type == 0 ? "create" : m->timestamp_type == 1 ? "logappend" : "unknown",
            (long long)m->timestamp_ms, broker);
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
    fputc('}', out);
    put_delim(out, &o->msg_delim); /* kcat: -D ends each JSON object */
}

void consume_print_message(FILE *out, const consume_opts *o, const gregor_message *m, int32_t broker)
{
    if (o->json) {
        print_json(out, o, m, broker);
    } else if (o->format) {
        print_format(out, o, m);
    } else {
        if (o->key_delim.p) {
            put_bytes(out, m->key, m->key_len, o->null_str);
            put_delim(out, &o->key_delim);
        }
        put_bytes(out, m->value, m->value_len, o->null_str);
        put_delim(out, &o->msg_delim);
    }
}

/* The topic's metadata; NULL (error printed) when it cannot be had. */
static const gregor_metadata *topic_metadata(gregor_consumer *c, const char *topic, int32_t timeout_ms,
                                             const gregor_metadata_topic **t)
{
    char err[512];
    const gregor_metadata *md;
    const char *names[1] = {topic};
    if (gregor_client_metadata(gregor_consumer_client(c), names, 1, timeout_ms, &md, err, sizeof err) != GREGOR_OK) {
        tool_error("consume", "%s", err);
        return NULL;
    }
    *t = gregor_metadata_topic_find(md, topic);
    return md;
}

/* Remembers each partition's leader, for -J's "broker". */
static void note_leaders(part_table *parts, const gregor_metadata_topic *t)
{
    for (int32_t i = 0; t && !t->err && i < t->n_partitions; i++) {
        int k = parts_index(parts, t->partitions[i].id);
        if (k >= 0)
            parts->leader[k] = t->partitions[i].leader;
    }
}

/* Fills the table with the partitions to read: -p's or every one. */
static bool list_partitions(gregor_consumer *c, const consume_opts *o, part_table *parts)
{
    const gregor_metadata_topic *t;
    const gregor_metadata *md = topic_metadata(c, o->topic, METADATA_TIMEOUT_MS, &t);
    if (!md)
        return false;
    bool ok = false;
    if (!t || t->err) {
        tool_error("consume", "topic '%s': %s", o->topic, t ? gregor_err_name(t->err) : "not found");
    } else if (o->partition >= 0) { /* assign names it if the topic lacks it */
        if (!parts_alloc(parts, 1))
            tool_error("consume", "out of memory");
        else
            parts->id[0] = o->partition, ok = true;
    } else if (t->n_partitions <= 0) {
        tool_error("consume", "topic '%s' has no partitions", o->topic);
    } else if (!parts_alloc(parts, t->n_partitions)) {
        tool_error("consume", "out of memory for %d partitions", t->n_partitions);
    } else {
        for (int32_t i = 0; i < t->n_partitions; i++)
            parts->id[i] = t->partitions[i].id;
        ok = true;
    }
    if (ok)
        note_leaders(parts, t);
    gregor_metadata_destroy(md);
    return ok;
}

static bool assign_all(gregor_consumer *c, const consume_opts *o, const part_table *parts)
{
    char err[512];
    for (int i = 0; i < parts->n; i++) {
        int64_t off = o->offset;
        if (o->relative > 0) {
            int64_t lo, hi;
            if (gregor_consumer_watermarks(c, o->topic, parts->id[i], &lo, &hi, err, sizeof err) != GREGOR_OK) {
                tool_error("consume", "%s", err);
                return false;
            }
            off = hi - o->relative < lo ? lo : hi - o->relative;
        }
        if (gregor_consumer_assign(c, o->topic, parts->id[i], off, o->ts, err, sizeof err) != GREGOR_OK) {
            tool_error("consume", "%s", err);
            return false;
        }
    }
    return true;
}

/* True once every partition's position reached its high watermark. */
static bool at_end(gregor_consumer *c, const consume_opts *o, part_table *parts)
{
    bool all = true;
    for (int i = 0; i < parts->n; i++) {
        gregor_partition_state st;
        if (!parts->eof[i] && gregor_consumer_position(c, o->topic, parts->id[i], &st) == GREGOR_OK &&
            st.high_watermark >= 0 && st.position >= st.high_watermark) {
            parts->eof[i] = true;
            if (!o->quiet)
                fprintf(stderr, "%% Reached end of topic %s [%d] at offset %lld\n", o->topic, parts->id[i],
                        (long long)st.position);
        }
        all = all && parts->eof[i];
    }
    return all;
}

/* Commits the offset after the last printed message of each partition
 * (not the consumer's position: -c may stop inside a batch). */
static gregor_err commit_printed(gregor_consumer *c, const consume_opts *o, const part_table *parts, bool async, char *err,
                                 size_t err_size)
{
    gregor_topic_offset *v = calloc((size_t)parts->n, sizeof *v);
    if (!v) {
        snprintf(err, err_size, "commit: out of memory");
        return GREGOR_ERR_NOMEM;
    }
    size_t k = 0;
    for (int i = 0; i < parts->n; i++)
        if (parts->next[i] >= 0)
            v[k++] = (gregor_topic_offset){.topic = o->topic, .partition = parts->id[i], .offset = parts->next[i]};
    gregor_err e = k ? gregor_consumer_commit(c, v, k, NULL, async ? on_async_commit : NULL, NULL, err, err_size)
                     : GREGOR_OK;
    free(v);
    return e;
}

/* Flushes stdout; false (error printed) when the output cannot be written. */
bool consume_flush_out(void)
{
    if (fflush(stdout) == 0 && !ferror(stdout))
        return true;
    tool_error("consume", "writing to stdout: %s", strerror(errno));
    return false;
}

void consume_setup_output(const consume_opts *o)
{
    static char outbuf[OUTPUT_BUFFER_BYTES];
    if (o->unbuffered)
        setvbuf(stdout, NULL, _IONBF, 0);
    else if (isatty(STDOUT_FILENO))
        setvbuf(stdout, NULL, _IOLBF, 0);
    else
        setvbuf(stdout, outbuf, _IOFBF, sizeof outbuf);
}

/* Polls without waiting first; only when nothing is ready is the output
 * flushed before waiting, so a caught-up consumer shows every message at
 * once and a backlog is still written in large blocks. */
static gregor_err poll_flushing(gregor_consumer *c, gregor_batch **b, bool *write_failed, char *err, size_t err_size)
{
    gregor_err e = gregor_consumer_poll(c, 0, b, err, err_size);
    if (e != GREGOR_OK || *b)
        return e;
    if (!consume_flush_out()) {
        *write_failed = true;
        return GREGOR_OK;
    }
    return gregor_consumer_poll(c, 200, b, err, err_size);
}

static void refresh_leaders(gregor_consumer *c, const consume_opts *o, part_table *parts)
{
    const gregor_metadata_topic *t;
    const gregor_metadata *md = topic_metadata(c, o->topic, 2000, &t);
    if (md) /* on failure the last known leaders stay */
        note_leaders(parts, t);
    gregor_metadata_destroy(md);
}

/* Polls and prints until -c, -e, a signal or an error. *output_ok is false
 * when stdout could not be written: what was "printed" may be lost. */
static int consume_loop(gregor_consumer *c, const consume_opts *o, part_table *parts, bool *output_ok)
{
    int64_t last_commit_ms = now_ms(), last_leaders_ms = now_ms();
    long long seen = 0;
    bool write_failed = false;
    int rc = TOOL_EXIT_OK;
    consume_setup_output(o);
    while (!stop_requested && !write_failed && (o->count <= 0 || seen < o->count)) {
        gregor_batch *b = NULL;
        char err[512];
        gregor_err e = poll_flushing(c, &b, &write_failed, err, sizeof err);
        if (e != GREGOR_OK) {
            tool_error("consume", "%s", err);
            rc = TOOL_EXIT_FAIL;
            break;
        }
        size_t k = gregor_batch_count(b);
        for (size_t i = 0; i < k && (o->count <= 0 || seen < o->count); i++, seen++) {
            const gregor_message *m = gregor_batch_message(b, i);
            int p = parts_index(parts, m->partition);
            consume_print_message(stdout, o, m, p >= 0 ? parts->leader[p] : -1);
            if (p >= 0)
                parts->next[p] = m->offset + 1;
        }
        gregor_batch_destroy(b);
        if (o->json && now_ms() - last_leaders_ms >= LEADER_REFRESH_MS) {
            refresh_leaders(c, o, parts);
            last_leaders_ms = now_ms();
        }
        if (o->commit && now_ms() - last_commit_ms >= COMMIT_INTERVAL_MS) {
            /* What is committed must have been written out first. */
            if (!consume_flush_out()) {
                write_failed = true;
                break;
            }
            if (commit_printed(c, o, parts, true, err, sizeof err) != GREGOR_OK)
                tool_error("consume", "%s", err);
            last_commit_ms = now_ms();
        }
        if (o->exit_eof && at_end(c, o, parts))
            break;
    }
    *output_ok = !write_failed && consume_flush_out();
    return *output_ok ? rc : TOOL_EXIT_FAIL;
}

static int run(gregor_consumer *c, const consume_opts *o)
{
    part_table parts = {0};
    int rc = TOOL_EXIT_FAIL;
    bool output_ok = false;
    if (!list_partitions(c, o, &parts) || !assign_all(c, o, &parts))
        goto out;
    rc = consume_loop(c, o, &parts, &output_ok);
    /* Nothing is committed past what reached stdout. */
    if (o->commit && output_ok) {
        char err[512];
        if (commit_printed(c, o, &parts, false, err, sizeof err) != GREGOR_OK) {
            tool_error("consume", "%s", err);
            rc = TOOL_EXIT_FAIL;
        }
    }
out:
    parts_free(&parts);
    return rc;
}

/* -G GROUP TOPIC...: the group mode (cmd_consume_group.c). */
static int consume_balanced(gregor_config *cfg, const consume_opts *o, const char *group, bool offset_set,
                            char **args, size_t n_args)
{
    const char **topics = calloc(n_args + 1, sizeof *topics);
    if (!topics)
        return TOOL_EXIT_FAIL;
    size_t n = 0;
    if (o->topic)
        topics[n++] = o->topic;
    for (size_t i = 0; i < n_args; i++)
        topics[n++] = args[i];
    int rc = TOOL_EXIT_USAGE;
    char err[512];
    if (n == 0) {
        tool_error("consume", "-G GROUP needs at least one topic (-G GROUP TOPIC..., a topic starting with ^ is a "
                              "regular expression)");
    } else if (o->partition >= 0 || o->commit) {
        tool_error("consume", "-G assigns partitions through the group: -p and --commit do not apply "
                              "(what is printed is committed)");
    } else if (offset_set && o->offset != GREGOR_OFFSET_BEGINNING && o->offset != GREGOR_OFFSET_END &&
               o->offset != GREGOR_OFFSET_COMMITTED) {
        tool_error("consume", "-G: -o takes beginning, end or stored (where partitions without a committed "
                              "offset start)");
    } else if (gregor_config_set(cfg, "group_id", group, err, sizeof err) != GREGOR_OK ||
               (offset_set && o->offset != GREGOR_OFFSET_COMMITTED &&
                gregor_config_set(cfg, "auto_offset_reset",
                                  o->offset == GREGOR_OFFSET_BEGINNING ? "earliest" : "latest", err,
                                  sizeof err) != GREGOR_OK)) {
        tool_error("consume", "%s", err);
    } else {
        rc = consume_group(cfg, o, topics, n);
    }
    free(topics);
    return rc;
}

int cmd_consume(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"commit", no_argument, NULL, 'M'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    consume_opts o = {.partition = -1, .offset = GREGOR_OFFSET_BEGINNING};
    bool offset_set = false;
    const char *group = NULL, *balanced = NULL;
    gregor_config *cfg = gregor_config_new();
    int opt, rc = TOOL_EXIT_USAGE;
    if (!cfg)
        return TOOL_EXIT_FAIL;
    while ((opt = getopt_long(argc, argv, "Cb:t:p:o:c:eg:G:f:JK:D:ZuqX:h", longopts, NULL)) != -1) {
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
        case 'G': balanced = optarg; break;
        case 'M': o.commit = true; break;
        case 'f':
            format_free(&o); /* the last -f counts */
            if (!format_compile(optarg, &o))
                goto out;
            break;
        case 'J': o.json = true; break;
        case 'K':
            tool_bytes_fini(&o.key_delim);
            if (!tool_unescape("consume", "-K", optarg, &o.key_delim))
                goto out;
            break;
        case 'D':
            tool_bytes_fini(&o.msg_delim);
            if (!tool_unescape("consume", "-D", optarg, &o.msg_delim))
                goto out;
            break;
        case 'Z': o.null_str = true; break;
        case 'u': o.unbuffered = true; break;
        case 'q': o.quiet = true; break;
        case 'X':
            if (!tool_apply_x(cfg, optarg))
                goto out;
            break;
        case 'h': usage(stdout); rc = TOOL_EXIT_OK; goto out;
        default: usage(stderr); goto out;
        }
    }
    if (!o.msg_delim.p && !tool_unescape("consume", "-D", "\\n", &o.msg_delim))
        goto out;
    if (balanced) {
        rc = consume_balanced(cfg, &o, balanced, offset_set, argv + optind, (size_t)(argc - optind));
        goto out;
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
    opts_fini(&o);
    gregor_config_destroy(cfg);
    return rc;
}
