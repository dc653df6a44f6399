/* Unit tests for group/consumer_protocol.h: known bytes of each version as
 * Java, librdkafka and kafka-python write them, round trips, and malformed
 * input (a sweep over every prefix, bad counts, bad versions,
 * names with NUL): each fails with a code and a message naming the field. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "group/consumer_protocol.h"

/* Java 4.x, v3: topics [a, b], null user data, owned a-0 a-1, generation 5, rack "r1". */
static const uint8_t java_v3[] = {
    0x00, 0x03,                                     /* version */
    0x00, 0x00, 0x00, 0x02, 0x00, 0x01, 'a', 0x00, 0x01, 'b', /* topics */
    0xff, 0xff, 0xff, 0xff,                         /* user data: null */
    0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 'a',        /* owned: a */
    0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, /* [0, 1] */
    0x00, 0x00, 0x00, 0x05,                         /* generation */
    0x00, 0x02, 'r', '1',                           /* rack */
};

/* kafka-python, v0: topics [my-topic], empty user data, and 3 bytes of
 * padding some clients leave after it. */
static const uint8_t kafka_python_v0[] = {
    0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x08, 'm', 'y', '-', 't', 'o', 'p', 'i', 'c',
    0x00, 0x00, 0x00, 0x00, 0xde, 0xad, 0x00,
};

/* v1 from an older Java cooperative-sticky member: generation 9 only in the
 * user data, owned t-3. */
static const uint8_t java_v1_sticky[] = {
    0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 't',
    0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x09,                 /* user data: generation 9 */
    0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 't', 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x03,
};

Test(consumer_protocol, encodes_what_java_4_sends)
{
    const char *topics[] = {"b", "a"}; /* sent sorted */
    assignor_member m = {.member_id = "ignored", .topics = topics, .n_topics = 2, .generation = 5, .rack = "r1"};
    group_tp_list_init(&m.owned);
    cr_assert_eq(group_tp_list_add(&m.owned, "a", 1), GREGOR_OK);
    cr_assert_eq(group_tp_list_add(&m.owned, "a", 0), GREGOR_OK);
    buf_writer w;
    buf_writer_init(&w, 1 << 20);
    cr_assert_eq(consumer_protocol_subscription_encode(&w, &m, NULL, 0), GREGOR_OK);
    cr_assert_eq(w.len, sizeof java_v3);
    cr_assert(memcmp(w.data, java_v3, sizeof java_v3) == 0);
    buf_writer_fini(&w);
    group_tp_list_fini(&m.owned);
}

Test(consumer_protocol, decodes_java_v3)
{
    consumer_subscription s;
    cr_assert_eq(consumer_protocol_subscription_decode(java_v3, sizeof java_v3, "range", &s), GREGOR_OK, "%s",
                 s.error);
    cr_assert_eq(s.version, 3);
    cr_assert_eq(s.member.n_topics, 2);
    cr_assert_str_eq(s.member.topics[0], "a");
    cr_assert_str_eq(s.member.topics[1], "b");
    cr_assert_null(s.user_data);
    cr_assert_eq(s.member.owned.n, 2);
    cr_assert(group_tp_list_contains(&s.member.owned, "a", 0));
    cr_assert(group_tp_list_contains(&s.member.owned, "a", 1));
    cr_assert_eq(s.member.generation, 5);
    cr_assert_str_eq(s.member.rack, "r1");
    cr_assert_null(s.member.member_id);
    consumer_subscription_fini(&s);
}

Test(consumer_protocol, decodes_v0_with_trailing_bytes_and_owns_its_strings)
{
    uint8_t *copy = malloc(sizeof kafka_python_v0);
    memcpy(copy, kafka_python_v0, sizeof kafka_python_v0);
    consumer_subscription s;
    cr_assert_eq(consumer_protocol_subscription_decode(copy, sizeof kafka_python_v0, "roundrobin", &s), GREGOR_OK,
                 "%s", s.error);
    memset(copy, 0x55, sizeof kafka_python_v0);
    free(copy); /* nothing in s points into the input */
    cr_assert_eq(s.version, 0);
    cr_assert_eq(s.member.n_topics, 1);
    cr_assert_str_eq(s.member.topics[0], "my-topic");
    cr_assert_not_null(s.user_data);
    cr_assert_eq(s.user_data_len, 0);
    cr_assert_eq(s.member.owned.n, 0);
    cr_assert_eq(s.member.generation, -1);
    cr_assert_null(s.member.rack);
    consumer_subscription_fini(&s);
}

Test(consumer_protocol, cooperative_sticky_generation_from_user_data_before_v2)
{
    consumer_subscription s;
    cr_assert_eq(consumer_protocol_subscription_decode(java_v1_sticky, sizeof java_v1_sticky, "cooperative-sticky", &s),
                 GREGOR_OK, "%s", s.error);
    cr_assert_eq(s.member.generation, 9);
    cr_assert_eq(s.member.owned.n, 1);
    cr_assert_str_eq(s.member.owned.tps[0].topic, "t");
    cr_assert_eq(s.member.owned.tps[0].partition, 3);
    consumer_subscription_fini(&s);
    /* for another assignor the user data means nothing to us */
    cr_assert_eq(consumer_protocol_subscription_decode(java_v1_sticky, sizeof java_v1_sticky, "range", &s), GREGOR_OK);
    cr_assert_eq(s.member.generation, -1);
    consumer_subscription_fini(&s);
}

/* librdkafka's cooperative-sticky user data (StickyAssignor V1): [t [0, 2]]
 * then generation 12, in a v1 subscription owning t-0 and t-2. */
static const uint8_t librdkafka_v1_sticky[] = {
    0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 't',
    0x00, 0x00, 0x00, 0x17,                                     /* user data, 23 bytes: */
    0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 't', 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x0c,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 't', 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02,
};

Test(consumer_protocol, librdkafka_sticky_user_data_generation)
{
    consumer_subscription s;
    cr_assert_eq(consumer_protocol_subscription_decode(librdkafka_v1_sticky, sizeof librdkafka_v1_sticky,
                                                       "cooperative-sticky", &s),
                 GREGOR_OK, "%s", s.error);
    cr_assert_eq(s.member.generation, 12);
    cr_assert_eq(s.member.owned.n, 2);
    cr_assert_eq(s.user_data_len, 23);
    consumer_subscription_fini(&s);
}

Test(consumer_protocol, newer_versions_decode_as_v3)
{
    uint8_t v9[sizeof java_v3 + 6];
    memcpy(v9, java_v3, sizeof java_v3);
    v9[1] = 9;
    memset(v9 + sizeof java_v3, 0x7f, 6); /* fields of a future version */
    consumer_subscription s;
    cr_assert_eq(consumer_protocol_subscription_decode(v9, sizeof v9, NULL, &s), GREGOR_OK, "%s", s.error);
    cr_assert_eq(s.version, 9);
    cr_assert_eq(s.member.generation, 5);
    cr_assert_str_eq(s.member.rack, "r1");
    consumer_subscription_fini(&s);
}

Test(consumer_protocol, subscription_round_trip_with_user_data)
{
    const char *topics[] = {"orders", "payments"};
    assignor_member m = {.topics = topics, .n_topics = 2, .generation = -1};
    group_tp_list_init(&m.owned);
    const group_assignor *a = group_assignor_find("cooperative-sticky");
    uint8_t *ud;
    size_t ud_len;
    cr_assert_eq(a->user_data(42, &ud, &ud_len), GREGOR_OK);
    buf_writer w;
    buf_writer_init(&w, 1 << 20);
    cr_assert_eq(consumer_protocol_subscription_encode(&w, &m, ud, ud_len), GREGOR_OK);
    consumer_subscription s;
    cr_assert_eq(consumer_protocol_subscription_decode(w.data, w.len, "cooperative-sticky", &s), GREGOR_OK);
    cr_assert_eq(s.member.generation, 42); /* the v2 field is -1: Java falls back to the user data too */
    cr_assert_eq(s.user_data_len, 4);
    cr_assert_null(s.member.rack);
    consumer_subscription_fini(&s);
    buf_writer_fini(&w);
    free(ud);
}

Test(consumer_protocol, every_prefix_of_a_subscription_fails_cleanly)
{
    for (size_t n = 0; n < sizeof java_v3; n++) {
        consumer_subscription s;
        gregor_err err = consumer_protocol_subscription_decode(java_v3, n, NULL, &s);
        /* an array count the remaining bytes cannot hold is TOO_LARGE */
        cr_assert(err == GREGOR_ERR_TRUNCATED || err == GREGOR_ERR_TOO_LARGE, "prefix %zu: %d", n, err);
        cr_assert(strstr(s.error, "consumer protocol subscription"), "prefix %zu: [%s]", n, s.error);
        consumer_subscription_fini(&s);
    }
    consumer_subscription s;
    cr_assert_eq(consumer_protocol_subscription_decode(java_v3, 24, NULL, &s), GREGOR_ERR_TRUNCATED);
    cr_assert(strstr(s.error, "ConsumerProtocolSubscription.OwnedPartitions"), "[%s]", s.error);
    consumer_subscription_fini(&s);
}

Test(consumer_protocol, malformed_subscriptions)
{
    consumer_subscription s;
    static const uint8_t negative_version[] = {0xff, 0xfe, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff};
    cr_assert_eq(consumer_protocol_subscription_decode(negative_version, sizeof negative_version, NULL, &s),
                 GREGOR_ERR_UNSUPPORTED);
    cr_assert(strstr(s.error, "version"), "[%s]", s.error);
    consumer_subscription_fini(&s);

    static const uint8_t huge_count[] = {0, 0, 0x7f, 0xff, 0xff, 0xff, 0, 1, 'a'};
    cr_assert_eq(consumer_protocol_subscription_decode(huge_count, sizeof huge_count, NULL, &s), GREGOR_ERR_TOO_LARGE);
    cr_assert(strstr(s.error, "Topics"), "[%s]", s.error);
    consumer_subscription_fini(&s);

    static const uint8_t nul_in_topic[] = {0, 0, 0, 0, 0, 1, 0, 3, 'a', 0, 'b', 0xff, 0xff, 0xff, 0xff};
    cr_assert_eq(consumer_protocol_subscription_decode(nul_in_topic, sizeof nul_in_topic, NULL, &s),
                 GREGOR_ERR_MALFORMED);
    cr_assert(strstr(s.error, "NUL"), "[%s]", s.error);
    consumer_subscription_fini(&s);

    static const uint8_t null_topic[] = {0, 0, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    cr_assert_eq(consumer_protocol_subscription_decode(null_topic, sizeof null_topic, NULL, &s), GREGOR_ERR_MALFORMED,
                 "%s", s.error);
    consumer_subscription_fini(&s);
}

Test(consumer_protocol, assignment_round_trip_and_known_bytes)
{
    group_tp_list l;
    group_tp_list_init(&l);
    cr_assert_eq(group_tp_list_add(&l, "b", 2), GREGOR_OK);
    cr_assert_eq(group_tp_list_add(&l, "a", 0), GREGOR_OK);
    cr_assert_eq(group_tp_list_add(&l, "b", 1), GREGOR_OK);
    buf_writer w;
    buf_writer_init(&w, 1 << 20);
    cr_assert_eq(consumer_protocol_assignment_encode(&w, &l, NULL, 0), GREGOR_OK);
    static const uint8_t want[] = {
        0x00, 0x03, 0x00, 0x00, 0x00, 0x02,
        0x00, 0x01, 'a', 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x01, 'b', 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x02,
        0xff, 0xff, 0xff, 0xff,
    };
    cr_assert_eq(w.len, sizeof want);
    cr_assert(memcmp(w.data, want, sizeof want) == 0);
    consumer_assignment a;
    cr_assert_eq(consumer_protocol_assignment_decode(w.data, w.len, &a), GREGOR_OK, "%s", a.error);
    cr_assert_eq(a.partitions.n, 3);
    cr_assert(group_tp_list_contains(&a.partitions, "b", 2));
    cr_assert(group_tp_list_contains(&a.partitions, "a", 0));
    cr_assert_null(a.user_data);
    consumer_assignment_fini(&a);
    for (size_t n = 1; n < sizeof want; n++) {
        gregor_err err = consumer_protocol_assignment_decode(want, n, &a);
        cr_assert(err == GREGOR_ERR_TRUNCATED || err == GREGOR_ERR_TOO_LARGE, "prefix %zu: %d", n, err);
        cr_assert(strstr(a.error, "consumer protocol assignment"), "[%s]", a.error);
        consumer_assignment_fini(&a);
    }
    /* an empty assignment: what a member the leader gave nothing receives */
    cr_assert_eq(consumer_protocol_assignment_decode(want, 0, &a), GREGOR_OK);
    cr_assert_eq(a.partitions.n, 0);
    consumer_assignment_fini(&a);
    /* v0 (librdkafka, kafka-python) with user data */
    static const uint8_t v0[] = {0, 0, 0, 0, 0, 1, 0, 1, 'x', 0, 0, 0, 1, 0, 0, 0, 7, 0, 0, 0, 2, 0xab, 0xcd};
    cr_assert_eq(consumer_protocol_assignment_decode(v0, sizeof v0, &a), GREGOR_OK, "%s", a.error);
    cr_assert_eq(a.partitions.n, 1);
    cr_assert_str_eq(a.partitions.tps[0].topic, "x");
    cr_assert_eq(a.partitions.tps[0].partition, 7);
    cr_assert_eq(a.user_data_len, 2);
    cr_assert_eq(a.user_data[1], 0xcd);
    consumer_assignment_fini(&a);
    l.tps[0].partition = -1;
    buf_writer_reset(&w);
    cr_assert_eq(consumer_protocol_assignment_encode(&w, &l, NULL, 0), GREGOR_ERR_INVALID_ARG);
    buf_writer_fini(&w);
    group_tp_list_fini(&l);
}
