/* util/errstr.h — writing the caller's error message buffer.
 * Threading: pure (writes only the buffer it is given). */
#ifndef GREGOR_UTIL_ERRSTR_H
#define GREGOR_UTIL_ERRSTR_H

#include <stddef.h>

/* Formats into errstr (n bytes, NUL-terminated, truncated); a NULL errstr
 * or n 0 writes nothing. */
void errstr_set(char *errstr, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
