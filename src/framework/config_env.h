/* framework/config_env.h — ${VAR} substitution in the scalars of a
 * pipeline file.
 *
 * Rules (docs/PIPELINES.md): `${NAME}` is the variable's value (set but
 * empty gives the empty string; unset is an error); `${NAME:-default}` is
 * the value when set and not empty, else `default` (taken literally, up to
 * the first '}'); `$$` is one '$'; a '$' followed by anything else is kept
 * as it is (so regular expressions ending in '$' need no escape). NAME is
 * [A-Za-z_][A-Za-z0-9_]*. Values are not expanded again.
 *
 * Threading: reads the environment (getenv); not safe against a concurrent
 * setenv.
 */
#ifndef GREGOR_FRAMEWORK_CONFIG_ENV_H
#define GREGOR_FRAMEWORK_CONFIG_ENV_H

#include <stddef.h>

#include "framework/config.h"
#include "util/arena.h"

/* A scalar expanded from FW_ENV_MAX_BYTES or more is refused. */
#define FW_ENV_MAX_BYTES ((size_t)1 << 20)

/* Expands the `len` bytes at `in` into a NUL-terminated copy in arena `a`
 * (*out, its length in *out_len). Each fault is added to `d` at `loc` (the
 * scalar's place), naming the variable; then *out is a copy of the text as
 * written and CONFIG is returned. NOMEM when the arena is exhausted (*out
 * NULL). */
gregor_err fw_env_expand(const char *in, size_t len, arena *a, const fw_loc *loc, fw_diags *d, const char **out,
                         size_t *out_len) GREGOR_MUST_CHECK;

#endif
