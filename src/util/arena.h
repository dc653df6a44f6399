/* util/arena.h — bump allocator with a byte limit, for decoded responses.
 *
 * A decoder allocates every array of a response from one arena; the caller
 * frees the whole response with arena_fini(). Strings and byte fields are not
 * copied: they are views into the response buffer, which must outlive the
 * arena's contents. `limit_bytes` bounds what a hostile response can make us
 * allocate; a request past it fails (NULL) and the decoder reports TOO_LARGE.
 *
 * Layout: a singly linked list of chunks; small allocations share a chunk,
 * large ones get a chunk of their own. Memory is zeroed.
 *
 * Threading: an arena belongs to one thread at a time.
 */
#ifndef GREGOR_UTIL_ARENA_H
#define GREGOR_UTIL_ARENA_H

#include <stddef.h>

typedef struct arena_chunk arena_chunk;

typedef struct arena {
    arena_chunk *head;
    size_t used_bytes;   /* total bytes handed out plus chunk overhead */
    size_t limit_bytes;  /* hard cap on used_bytes */
} arena;

#define ARENA_DEFAULT_LIMIT ((size_t)256 << 20)

void arena_init(arena *a, size_t limit_bytes);
/* Frees every chunk; the arena may be used again afterwards. */
void arena_fini(arena *a);
/* Zeroed memory aligned for any type, or NULL when the limit or malloc fails.
 * `n == 0` returns a valid non-NULL pointer. */
void *arena_alloc(arena *a, size_t n);
/* arena_alloc(count * size) with overflow checking. */
void *arena_calloc(arena *a, size_t count, size_t size);
/* A NUL-terminated copy of the n bytes at p; NULL on NOMEM. */
char *arena_strndup(arena *a, const void *p, size_t n);

#endif
