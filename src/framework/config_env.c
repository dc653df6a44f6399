/* framework/config_env.c — ${VAR}, ${VAR:-default} and $$ (config_env.h).
 * One pass over the scalar into a bounded buf_writer; the result is copied
 * into the config's arena. Scalars are short; the bound only stops an
 * environment that expands without limit. */
#include <stdlib.h>
#include <string.h>

#include "framework/config_env.h"
#include "util/buf.h"

static bool name_char(char c, bool first)
{
    return c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (!first && c >= '0' && c <= '9');
}

/* Expands the reference whose body (between "${" and "}") is body[0..n).
 * Returns false (after adding the error) when it cannot be expanded. */
static bool expand_ref(const char *body, size_t n, buf_writer *w, const fw_loc *loc, fw_diags *d)
{
    size_t name_len = 0;
    while (name_len < n && name_char(body[name_len], name_len == 0))
        name_len++;
    const char *rest = body + name_len;
    size_t rest_len = n - name_len;
    bool has_default = rest_len >= 2 && rest[0] == ':' && rest[1] == '-';
    if (name_len == 0 || (rest_len && !has_default) || name_len > 255) {
        fw_diags_add(d, loc, "'${%.*s}' is not a variable reference: write ${NAME} or ${NAME:-default}, NAME "
                     "made of letters, digits and '_' (and $$ for a '$')", (int)(n > 200 ? 200 : n), body);
        return false;
    }
    char name[256];
    memcpy(name, body, name_len);
    name[name_len] = '\0';
    const char *value = getenv(name);
    if (has_default && (!value || !*value)) {
        buf_write_raw(w, rest + 2, rest_len - 2);
        return true;
    }
    if (!value) {
        fw_diags_add(d, loc, "environment variable '%s' is not set (write ${%s:-default} for a default)", name,
                     name);
        return false;
    }
    buf_write_raw(w, value, strlen(value));
    return true;
}

gregor_err fw_env_expand(const char *in, size_t len, arena *a, const fw_loc *loc, fw_diags *d, const char **out,
                         size_t *out_len)
{
    buf_writer w;
    buf_writer_init(&w, FW_ENV_MAX_BYTES);
    bool ok = true;
    for (size_t i = 0; i < len; i++) {
        if (in[i] != '$' || i + 1 == len || (in[i + 1] != '$' && in[i + 1] != '{')) {
            buf_write_raw(&w, in + i, 1);
            continue;
        }
        if (in[i + 1] == '$') {
            buf_write_raw(&w, "$", 1);
            i++;
            continue;
        }
        const char *close = memchr(in + i + 2, '}', len - i - 2);
        if (!close) {
            fw_diags_add(d, loc, "'${' without a closing '}' (write $$ for a '$')");
            ok = false;
            break;
        }
        if (!expand_ref(in + i + 2, (size_t)(close - in - i - 2), &w, loc, d))
            ok = false;
        i = (size_t)(close - in);
    }
    if (ok && w.err != GREGOR_OK) {
        fw_diags_add(d, loc, "the value grows past %zu bytes after ${VAR} substitution", FW_ENV_MAX_BYTES);
        ok = false;
    }
    const char *src = ok ? (const char *)w.data : in;
    size_t n = ok ? w.len : len;
    char *copy = arena_strndup(a, src ? src : "", src ? n : 0);
    buf_writer_fini(&w);
    *out = copy;
    *out_len = copy ? n : 0;
    if (!copy)
        return GREGOR_ERR_NOMEM;
    return ok ? GREGOR_OK : GREGOR_ERR_CONFIG;
}
