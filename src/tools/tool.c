/* tools/tool.c — see tool.h. */
#include "tools/tool.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

bool tool_apply_x(gregor_config *cfg, const char *kv)
{
    const char *eq = strchr(kv, '=');
    if (!eq || eq == kv) {
        fprintf(stderr, "gregor: -X expects key=value, got '%s'\n", kv);
        return false;
    }
    char name[256];
    size_t len = (size_t)(eq - kv);
    if (len >= sizeof name) {
        fprintf(stderr, "gregor: -X option name too long\n");
        return false;
    }
    memcpy(name, kv, len);
    name[len] = '\0';
    char err[512];
    if (gregor_config_set(cfg, name, eq + 1, err, sizeof err) != GREGOR_OK) {
        fprintf(stderr, "gregor: -X %s\n", err);
        return false;
    }
    return true;
}

bool tool_parse_int(const char *cmd, const char *flag, const char *text, long long min, long long max,
                    long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (errno || end == text || *end || v < min || v > max) {
        tool_error(cmd, "%s: '%s' is not an integer from %lld to %lld", flag, text, min, max);
        return false;
    }
    *out = v;
    return true;
}

void tool_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "gregor %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

void json_string_n(FILE *f, const char *s, size_t n)
{
    fputc('"', f);
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        switch (ch) {
        case '"': fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        case '\t': fputs("\\t", f); break;
        default:
            if (ch < 0x20)
                fprintf(f, "\\u%04x", ch);
            else
                fputc(ch, f);
        }
    }
    fputc('"', f);
}

void json_string(FILE *f, const char *s)
{
    if (!s)
        fputs("null", f);
    else
        json_string_n(f, s, strlen(s));
}
