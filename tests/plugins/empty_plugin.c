/* tests/plugins/empty_plugin.c — a shared object that registers no handler
 * (as a plugin linked with -lgregor appears to, registering into its own
 * copy of the registry): loading it is an error that says so. */
int empty_plugin_marker(void);
int empty_plugin_marker(void)
{
    return 42;
}
