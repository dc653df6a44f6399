/* tests/install/hello_gregor.c — a program built against an installed gregor
 * (pkg-config shared and static, find_package) by install_test.sh.
 *
 * It prints the library version, a config error's message, and whether a
 * snappy-compressing producer could be created. Creating the producer links
 * in the record builder and every codec, so a static link needs everything
 * gregor.pc's private libraries list (libsnappy and its C++ runtime too).
 * The producer's broker (127.0.0.1:1) is never reached: nothing is produced.
 */
#include <stdio.h>

#include <gregor/gregor.h>

int main(void)
{
    printf("version %s\n", gregor_version());
    gregor_config *cfg = gregor_config_new();
    if (!cfg)
        return 1;
    char err[256] = "";
    gregor_err e = gregor_config_set(cfg, "request_timeout_ms", "abc", err, sizeof err);
    printf("config %s: %s\n", gregor_err_name(e), err);
    if (gregor_config_set(cfg, "bootstrap", "127.0.0.1:1", err, sizeof err) != GREGOR_OK ||
        gregor_config_set(cfg, "compression", "snappy", err, sizeof err) != GREGOR_OK) {
        printf("config failed: %s\n", err);
        return 1;
    }
    gregor_producer *p = NULL;
    e = gregor_producer_new(cfg, NULL, NULL, &p, err, sizeof err);
    printf("producer %s\n", gregor_err_name(e));
    gregor_producer_destroy(p, 0);
    gregor_config_destroy(cfg);
    return e == GREGOR_OK ? 0 : 1;
}
