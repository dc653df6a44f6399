/* Integration: group_protocol=consumer against the 3.9 broker
 * (GREGOR_TEST_KAFKA39), whose default configuration has no KIP-848
 * coordinator (no ConsumerGroupHeartbeat): poll reports a fatal error that
 * names the problem and the way out (group_protocol=classic), once, and
 * does not hang or crash; close still works. */
#include "gregor/group.h"
#include "test_consume_util.h"

Test(kip848, unsupported_broker_is_a_clear_fatal_error, .timeout = 120)
{
    const char *bootstrap = tu_env_required("GREGOR_TEST_KAFKA39");
    char topic[128], group[160], err[512];
    tc_topic(topic, sizeof topic, "kip848-old");
    snprintf(group, sizeof group, "%s-g", topic);
    tc_create_topic(tc_cluster_name("GREGOR_TEST_KAFKA39_NAME", "kafka39"), topic, 2, 1);

    const char *kv[][2] = {{"bootstrap", bootstrap}, {"group_id", group}, {"group_protocol", "consumer"}};
    gregor_config *cfg = gregor_config_new();
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++)
        cr_assert_eq(gregor_config_set(cfg, kv[i][0], kv[i][1], err, sizeof err), GREGOR_OK, "%s", err);
    gregor_group *g;
    cr_assert_eq(gregor_group_new(cfg, &g, err, sizeof err), GREGOR_OK, "%s", err);
    gregor_config_destroy(cfg);
    const char *topics[1] = {topic};
    cr_assert_eq(gregor_group_subscribe(g, topics, 1, err, sizeof err), GREGOR_OK, "%s", err);

    gregor_err e = GREGOR_OK;
    double t0 = tc_now_s();
    while (e == GREGOR_OK && tc_now_s() - t0 < 60) {
        gregor_batch *b = NULL;
        e = gregor_group_poll(g, 200, &b, err, sizeof err);
        cr_assert_null(b, "a member without a group got messages");
    }
    fprintf(stderr, "[kip848] 3.9 broker: poll after %.2f s: %s: %s\n", tc_now_s() - t0, gregor_err_name(e), err);
    cr_assert_eq(e, GREGOR_ERR_UNSUPPORTED, "poll gave %s (%s)", gregor_err_name(e), err);
    cr_assert(strstr(err, "group_protocol=consumer") && strstr(err, "use group_protocol=classic"),
              "the error names neither the problem nor the way out: %s", err);
    cr_assert(strstr(err, group), "the error names the group: %s", err);
    /* Reported once; then the member is idle, not failing in a loop. */
    gregor_batch *b = NULL;
    cr_assert_eq(gregor_group_poll(g, 300, &b, err, sizeof err), GREGOR_OK, "%s", err);
    cr_assert_null(b);
    cr_assert_eq(gregor_group_close(g, err, sizeof err), GREGOR_OK, "%s", err);
    gregor_group_destroy(g);
}
