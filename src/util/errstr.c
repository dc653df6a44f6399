/* util/errstr.c — see errstr.h. */
#include "util/errstr.h"

#include <stdarg.h>
#include <stdio.h>

void errstr_set(char *errstr, size_t n, const char *fmt, ...)
{
    if (!errstr || !n)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errstr, n, fmt, ap);
    va_end(ap);
}
