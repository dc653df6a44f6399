/* framework/registry.h — handlers by name: built into the program
 * (GREGOR_HANDLER in its objects, or gregor_handler_register()), and loaded
 * from plugins (shared objects whose constructors register, found by path
 * or by name in the plugin directories).
 *
 * The registry is one process-wide table, filled from constructors before
 * main and from plugin loads; entries are never removed. Threading: every
 * function takes the registry's lock; lookups return pointers that stay
 * valid for the life of the process.
 */
#ifndef GREGOR_FRAMEWORK_REGISTRY_H
#define GREGOR_FRAMEWORK_REGISTRY_H

#include <stddef.h>

#include "framework/config.h"
#include "gregor/worker.h"

/* The handler registered as `name`, or NULL. */
const gregor_handler *fw_registry_find(const char *name);

/* Writes the registered names, sorted and comma-separated, to buf
 * (NUL-terminated, truncated to size). */
void fw_registry_names(char *buf, size_t size);

/* The i-th registered handler in name order (0-based), NULL past the last.
 * *plugin (when not NULL) is set to the path of the plugin that registered
 * it, or NULL for one built into the program. For `gregor handlers`. */
const gregor_handler *fw_registry_at(size_t i, const char **plugin);

/* The i-th problem kept from a registration that could not return an error
 * (GREGOR_HANDLER in a constructor): a name registered twice (both origins
 * named; the first registration is the one used) or a handler without a
 * name or function. Returns the text (valid for the life of the process)
 * and sets *name to the handler's name (NULL when it had none); NULL past
 * the last. */
const char *fw_registry_problem(size_t i, const char **name);

/* Loads the plugin at `path` (dlopen RTLD_NOW | RTLD_LOCAL; its
 * constructors register its handlers; a path without '/' is taken in the
 * current directory, not searched). Loading the same object again does
 * nothing. IO with errstr (dlerror's text) when it cannot be loaded;
 * INVALID_ARG when a handler in it clashes with one registered before, or
 * when it registers no handler (as a plugin linked with -lgregor would,
 * into its own copy of the registry). Never unloaded. */
gregor_err fw_registry_load_plugin(const char *path, char *errstr, size_t errstr_size) GREGOR_MUST_CHECK;

/* Resolves every pipeline's handler: loads the config's plugins and each
 * pipeline's `plugin` (a relative path is taken from the YAML file's
 * directory), then looks the handler up (by name; a name not
 * registered is searched as NAME.so in the plugin directories:
 * $GREGOR_PLUGIN_PATH (colon-separated), then the installed
 * LIBDIR/gregor/workers). Adds a located error to `diags` for each plugin
 * that fails to load and each handler not found (listing the known names),
 * and for duplicate registrations kept from load time. GREGOR_OK when none. */
gregor_err fw_registry_resolve(const fw_config *cfg, fw_diags *diags) GREGOR_MUST_CHECK;

#endif
