/* framework/swarm_crash.c — the swarm's crash table (swarm_crash.h): a
 * bounded array of crashed calls, searched linearly (it is empty in a
 * healthy swarm and holds a handful of entries in a sick one), and its
 * encoding for the swarm socket:
 *   u32 count, then per entry: string pipeline, string topic, i32 partition,
 *   i64 first_offset, i64 last_offset, i32 count, i32 signo
 * (big-endian, strings as Kafka's i16-length strings, util/buf.h). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "framework/swarm_crash.h"
#include "util/buf.h"

/* The smallest encoded entry: two empty strings and the numbers. */
#define ENTRY_MIN_BYTES (2 + 2 + 4 + 8 + 8 + 4 + 4)

void fw_crash_table_init(fw_crash_table *t)
{
    t->items = NULL;
    t->n = 0;
}

void fw_crash_table_fini(fw_crash_table *t)
{
    free(t->items);
    fw_crash_table_init(t);
}

static void copy_name(char *dst, const char *src)
{
    snprintf(dst, FW_CRASH_NAME_MAX, "%s", src ? src : "");
}

static bool same_name(const char *stored, const char *name)
{
    return !strncmp(stored, name ? name : "", FW_CRASH_NAME_MAX - 1);
}

gregor_err fw_crash_add(fw_crash_table *t, const char *pipeline, const char *topic, int32_t partition,
                        int64_t first_offset, int64_t last_offset, int signo)
{
    if (last_offset < first_offset)
        return GREGOR_ERR_INVALID_ARG;
    for (size_t i = 0; i < t->n; i++) {
        fw_crash *c = &t->items[i];
        if (c->partition == partition && c->first_offset == first_offset && c->last_offset == last_offset &&
            same_name(c->topic, topic) && same_name(c->pipeline, pipeline)) {
            c->count++;
            c->signo = signo;
            return GREGOR_OK;
        }
    }
    if (!t->items && !(t->items = calloc(FW_CRASH_MAX, sizeof *t->items)))
        return GREGOR_ERR_NOMEM;
    if (t->n == FW_CRASH_MAX) {
        memmove(t->items, t->items + 1, (FW_CRASH_MAX - 1) * sizeof *t->items);
        t->n--;
    }
    fw_crash *c = &t->items[t->n++];
    copy_name(c->pipeline, pipeline);
    copy_name(c->topic, topic);
    c->partition = partition;
    c->first_offset = first_offset;
    c->last_offset = last_offset;
    c->count = 1;
    c->signo = signo;
    return GREGOR_OK;
}

int fw_crash_count(const fw_crash_table *t, const char *pipeline, const char *topic, int32_t partition,
                   int64_t offset, int *signo_out)
{
    int total = 0;
    for (size_t i = 0; i < t->n; i++) {
        const fw_crash *c = &t->items[i];
        if (c->partition != partition || offset < c->first_offset || offset > c->last_offset ||
            !same_name(c->topic, topic) || !same_name(c->pipeline, pipeline))
            continue;
        total += c->count;
        if (signo_out)
            *signo_out = c->signo; /* later entries are newer */
    }
    return total;
}

gregor_err fw_crash_encode(const fw_crash_table *t, uint8_t **out, size_t *len_out)
{
    buf_writer w;
    buf_writer_init(&w, 4 + FW_CRASH_MAX * (ENTRY_MIN_BYTES + 2 * FW_CRASH_NAME_MAX));
    buf_write_u32(&w, (uint32_t)t->n);
    for (size_t i = 0; i < t->n; i++) {
        const fw_crash *c = &t->items[i];
        buf_write_string(&w, buf_slice_of(c->pipeline, strlen(c->pipeline)));
        buf_write_string(&w, buf_slice_of(c->topic, strlen(c->topic)));
        buf_write_i32(&w, c->partition);
        buf_write_i64(&w, c->first_offset);
        buf_write_i64(&w, c->last_offset);
        buf_write_i32(&w, c->count);
        buf_write_i32(&w, c->signo);
    }
    gregor_err err = w.err;
    *out = err ? NULL : buf_writer_steal(&w, len_out);
    buf_writer_fini(&w);
    if (!err && !*out)
        err = GREGOR_ERR_NOMEM;
    return err;
}

static bool read_name(buf_reader *r, char *dst)
{
    buf_slice s = buf_read_string(r, false);
    if (!buf_reader_ok(r) || s.len >= FW_CRASH_NAME_MAX || memchr(s.ptr, 0, (size_t)s.len))
        return false; /* a name holds no NUL: it would not survive as a C string */
    memcpy(dst, s.ptr, (size_t)s.len);
    dst[s.len] = '\0';
    return true;
}

gregor_err fw_crash_decode(fw_crash_table *t, const uint8_t *data, size_t len)
{
    buf_reader r;
    buf_reader_init(&r, data, len);
    uint32_t n = buf_read_u32(&r);
    if (!buf_reader_ok(&r) || n > FW_CRASH_MAX || n > buf_remaining(&r) / ENTRY_MIN_BYTES)
        return GREGOR_ERR_MALFORMED;
    fw_crash *items = calloc(FW_CRASH_MAX, sizeof *items);
    if (!items)
        return GREGOR_ERR_NOMEM;
    for (uint32_t i = 0; i < n; i++) {
        fw_crash *c = &items[i];
        if (!read_name(&r, c->pipeline) || !read_name(&r, c->topic))
            goto out_malformed;
        c->partition = buf_read_i32(&r);
        c->first_offset = buf_read_i64(&r);
        c->last_offset = buf_read_i64(&r);
        c->count = buf_read_i32(&r);
        c->signo = buf_read_i32(&r);
        if (!buf_reader_ok(&r) || c->last_offset < c->first_offset || c->count < 0)
            goto out_malformed;
    }
    if (buf_remaining(&r))
        goto out_malformed;
    free(t->items);
    t->items = items;
    t->n = n;
    return GREGOR_OK;
out_malformed:
    free(items);
    return GREGOR_ERR_MALFORMED;
}

const char *fw_signal_describe(int signo, char *buf, size_t size)
{
    const char *abbrev = sigabbrev_np(signo);
    if (abbrev)
        snprintf(buf, size, "signal %d (SIG%s)", signo, abbrev);
    else
        snprintf(buf, size, "signal %d", signo);
    return buf;
}

const char *fw_crash_reason(int how, int64_t handler_timeout_ms, char *buf, size_t size)
{
    char sig[64];
    if (how > 0)
        snprintf(buf, size, "handler crashed: %s", fw_signal_describe(how, sig, sizeof sig));
    else if (how == FW_CRASH_TIMED_OUT)
        snprintf(buf, size, "handler timed out: ran past handler_timeout_ms (%lld ms)", (long long)handler_timeout_ms);
    else
        snprintf(buf, size, "handler crashed: its process exited with status %d", -1 - how);
    return buf;
}
