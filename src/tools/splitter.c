/* tools/splitter.c — input split into messages at a delimiter, as kcat -P
 * reads it; see tool.h.
 *
 * Layout: buf[0, len) holds what was read; [start, len) is not handed out
 * yet; the delimiter search resumes at `scan` so that each byte is looked
 * at about once. The buffer doubles from 64 KiB up to max_bytes + the
 * delimiter's length, so memory stays bounded by the largest message
 * allowed, whatever the input. read(2) rather than stdio: a message is
 * handed out as soon as its delimiter arrives on a pipe or a terminal. */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tools/tool.h"

#define SPLITTER_FIRST_BYTES (64 * 1024)

void tool_splitter_init(tool_splitter *s, int fd, const char *delim, size_t delim_len, size_t max_bytes)
{
    *s = (tool_splitter){.fd = fd, .delim = delim, .delim_len = delim_len, .max_bytes = max_bytes};
}

void tool_splitter_fini(tool_splitter *s)
{
    free(s->buf);
    s->buf = NULL;
}

/* Makes room to read: drops what was handed out, grows up to the limit
 * (one byte more than a message and its delimiter, so that a buffer full
 * without a delimiter proves the message too large). False when out of
 * memory. */
static bool make_room(tool_splitter *s)
{
    if (s->start > 0) {
        memmove(s->buf, s->buf + s->start, s->len - s->start);
        s->len -= s->start;
        s->scan -= s->start;
        s->start = 0;
    }
    if (s->len < s->cap)
        return true;
    size_t limit = s->max_bytes + s->delim_len + 1;
    assert(s->cap < limit); /* a full buffer at the limit is too large: the caller checks first */
    size_t cap = s->cap ? s->cap * 2 : SPLITTER_FIRST_BYTES;
    if (cap > limit || cap < s->cap)
        cap = limit;
    char *p = realloc(s->buf, cap);
    if (!p)
        return false;
    s->buf = p;
    s->cap = cap;
    return true;
}

/* Looks for the delimiter in [scan, len); sets *at and returns true if found. */
static bool find_delim(tool_splitter *s, size_t *at)
{
    if (s->delim_len == 0 || s->len - s->scan < s->delim_len)
        return false;
    char *p = memmem(s->buf + s->scan, s->len - s->scan, s->delim, s->delim_len);
    if (p) {
        *at = (size_t)(p - s->buf);
        return true;
    }
    /* A delimiter may straddle what comes next. */
    s->scan = s->len - (s->delim_len - 1);
    return false;
}

tool_split_result tool_splitter_next(tool_splitter *s, const char **msg, size_t *len)
{
    for (;;) {
        size_t at = 0;
        bool found = find_delim(s, &at);
        if (found || (s->eof && s->start < s->len)) {
            size_t end = found ? at : s->len; /* the last message needs no delimiter */
            *msg = s->buf + s->start;
            *len = end - s->start;
            s->start = s->scan = found ? at + s->delim_len : s->len;
            return *len > s->max_bytes ? TOOL_SPLIT_TOO_LARGE : TOOL_SPLIT_MESSAGE;
        }
        if (s->eof)
            return TOOL_SPLIT_END;
        /* No delimiter in more than a message and a delimiter: too large. */
        if (s->len - s->start > s->max_bytes + s->delim_len)
            return TOOL_SPLIT_TOO_LARGE;
        if (!make_room(s))
            return TOOL_SPLIT_NOMEM;
        ssize_t n = read(s->fd, s->buf + s->len, s->cap - s->len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return TOOL_SPLIT_IO;
        if (n == 0)
            s->eof = true;
        s->len += (size_t)n;
    }
}
