/* tools/escape.c — the backslash escapes of -D, -K and -f, decoded into
 * length-counted bytes so that a NUL delimiter (\0, \x00) is a byte like any
 * other rather than the end of a C string. See tool.h. */
#include <stdlib.h>
#include <string.h>

#include "tools/tool.h"

static int hex_digit(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

bool tool_unescape_n(const char *cmd, const char *flag, const char *text, size_t len, size_t at, tool_bytes *out)
{
    /* Every escape is at least as long as the byte it stands for. */
    char *w = malloc(len + 1);
    if (!w) {
        tool_error(cmd, "%s: out of memory", flag);
        return false;
    }
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (text[i] != '\\' || i + 1 == len) {
            w[n++] = text[i];
            continue;
        }
        char ch = text[++i];
        switch (ch) {
        case 'n': w[n++] = '\n'; break;
        case 't': w[n++] = '\t'; break;
        case 'r': w[n++] = '\r'; break;
        case '0': w[n++] = '\0'; break;
        case 'x': {
            int hi = i + 1 < len ? hex_digit(text[i + 1]) : -1;
            if (hi < 0) {
                tool_error(cmd, "%s: '\\x' at position %zu expects one or two hex digits", flag, at + i);
                free(w);
                return false;
            }
            int lo = i + 2 < len ? hex_digit(text[i + 2]) : -1;
            w[n++] = (char)(lo < 0 ? hi : hi * 16 + lo);
            i += lo < 0 ? 1 : 2;
            break;
        }
        default: w[n++] = ch; break; /* \\ and, as kcat does, any other \c: c */
        }
    }
    w[n] = '\0';
    out->p = w;
    out->len = n;
    return true;
}

bool tool_unescape(const char *cmd, const char *flag, const char *text, tool_bytes *out)
{
    return tool_unescape_n(cmd, flag, text, strlen(text), 0, out);
}

void tool_bytes_fini(tool_bytes *b)
{
    free(b->p);
    b->p = NULL;
    b->len = 0;
}
