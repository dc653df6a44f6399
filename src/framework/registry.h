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

/* Loads the plugin at `path` (dlopen; its constructors register its
 * handlers). IO with errstr (dlerror's text) when it cannot be loaded;
 * INVALID_ARG when a handler in it clashes with one registered before. */
gregor_err fw_registry_load_plugin(const char *path, char *errstr, size_t errstr_size) GREGOR_MUST_CHECK;

/* Resolves every pipeline's handler: loads the config's plugins and each
 * pipeline's `plugin`, then looks the handler up (by name; a name not
 * registered is searched as NAME.so in the plugin directories:
 * $GREGOR_PLUGIN_PATH (colon-separated), then the installed
 * LIBDIR/gregor/workers). Adds a located error to `diags` for each plugin
 * that fails to load and each handler not found (listing the known names),
 * and for duplicate registrations kept from load time. GREGOR_OK when none. */
gregor_err fw_registry_resolve(const fw_config *cfg, fw_diags *diags) GREGOR_MUST_CHECK;

#endif
