/* util/arena.c — see arena.h. */
#include "util/arena.h"

#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK_BYTES 4096u

struct arena_chunk {
    arena_chunk *next;
    size_t cap;
    size_t used;
    alignas(max_align_t) unsigned char mem[];
};

void arena_init(arena *a, size_t limit_bytes)
{
    a->head = NULL;
    a->used_bytes = 0;
    a->limit_bytes = limit_bytes;
}

void arena_fini(arena *a)
{
    arena_chunk *c = a->head;
    while (c) {
        arena_chunk *next = c->next;
        free(c);
        c = next;
    }
    a->head = NULL;
    a->used_bytes = 0;
}

static size_t round_up(size_t n)
{
    const size_t al = alignof(max_align_t);
    return (n + al - 1) & ~(al - 1);
}

void *arena_alloc(arena *a, size_t n)
{
    if (n > SIZE_MAX / 2)
        return NULL;
    n = round_up(n ? n : 1);
    arena_chunk *c = a->head;
    if (c && c->cap - c->used >= n) {
        void *p = c->mem + c->used;
        c->used += n;
        return p; /* chunk memory is zeroed at allocation */
    }
    size_t cap = n > CHUNK_BYTES / 2 ? n : CHUNK_BYTES;
    size_t cost = sizeof(arena_chunk) + cap;
    if (cost > a->limit_bytes - (a->used_bytes < a->limit_bytes ? a->used_bytes : a->limit_bytes) ||
        a->used_bytes >= a->limit_bytes)
        return NULL;
    arena_chunk *nc = calloc(1, cost);
    if (!nc)
        return NULL;
    nc->cap = cap;
    nc->used = n;
    a->used_bytes += cost;
    /* A big one-off chunk goes behind the current one so that the
     * current chunk's free space stays usable. */
    if (c && cap == n && c->cap - c->used > 0) {
        nc->next = c->next;
        c->next = nc;
    } else {
        nc->next = c;
        a->head = nc;
    }
    return nc->mem;
}

void *arena_calloc(arena *a, size_t count, size_t size)
{
    if (size && count > SIZE_MAX / size)
        return NULL;
    return arena_alloc(a, count * size);
}

char *arena_strndup(arena *a, const void *p, size_t n)
{
    if (n == SIZE_MAX)
        return NULL;
    char *s = arena_alloc(a, n + 1);
    if (s) {
        if (n)
            memcpy(s, p, n);
        s[n] = 0;
    }
    return s;
}
