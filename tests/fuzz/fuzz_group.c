/* Fuzz target: the embedded consumer protocol (group/consumer_protocol.h),
 * the bytes other clients' members put in JoinGroup and leaders send in
 * SyncGroup, and the assignors run over what decodes.
 *
 * Input: byte 0 picks what the rest is: bit 0 clear, a Subscription (bits
 * 1-2 pick the assignor it is decoded for: range, roundrobin,
 * cooperative-sticky); bit 0 set, an Assignment.
 *
 * Checked: what decodes re-encodes (at v3) and decodes again to the same
 * topics, owned partitions, generation, rack and user data; a decoded
 * subscription, as a member of a two-member group next to a member owning
 * partitions of the same topics, gets from every assignor partitions of
 * topics it subscribes to, none given twice. A failure always comes with a
 * message.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "group/consumer_protocol.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const assignors[] = {"range", "roundrobin", "cooperative-sticky", "cooperative-sticky"};

static void same_list(const group_tp_list *a, const group_tp_list *b)
{
    if (a->n != b->n)
        abort();
    for (size_t i = 0; i < a->n; i++)
        if (!group_tp_list_contains(b, a->tps[i].topic, a->tps[i].partition))
            abort();
}

static bool has_negative(const group_tp_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        if (l->tps[i].partition < 0)
            return true;
    return false;
}

static void check_assignors(const consumer_subscription *s)
{
    enum { MAX_TOPICS = 8 };
    assignor_topic topics[MAX_TOPICS];
    size_t nt = 0;
    for (size_t i = 0; i < s->member.n_topics && nt < MAX_TOPICS; i++)
        topics[nt] = (assignor_topic){s->member.topics[i], (int32_t)(1 + strlen(s->member.topics[i]) % 7)}, nt++;
    assignor_member m[2];
    m[0] = s->member;
    m[0].member_id = "fuzzed";
    m[1] = (assignor_member){.member_id = "other", .topics = s->member.topics,
                             .n_topics = s->member.n_topics < 2 ? s->member.n_topics : 2, .generation = 3};
    group_tp_list_init(&m[1].owned);
    for (size_t i = 0; i < nt; i++)
        if (group_tp_list_add(&m[1].owned, topics[i].topic, 0) != GREGOR_OK)
            abort();
    for (size_t k = 0; k < 3; k++) {
        group_tp_list out[2];
        group_tp_list_init(&out[0]);
        group_tp_list_init(&out[1]);
        if (group_assignor_find(assignors[k])->assign(m, 2, topics, nt, out) != GREGOR_OK)
            abort();
        for (size_t i = 0; i < 2; i++)
            for (size_t j = 0; j < out[i].n; j++) {
                bool sub = false;
                for (size_t t = 0; t < m[i].n_topics; t++)
                    sub |= strcmp(m[i].topics[t], out[i].tps[j].topic) == 0;
                if (!sub)
                    abort();
                if (group_tp_list_contains(&out[1 - i], out[i].tps[j].topic, out[i].tps[j].partition))
                    abort();
            }
        group_tp_list_fini(&out[0]);
        group_tp_list_fini(&out[1]);
    }
    group_tp_list_fini(&m[1].owned);
}

static void subscription(const uint8_t *data, size_t size, const char *assignor)
{
    consumer_subscription s;
    if (consumer_protocol_subscription_decode(data, size, assignor, &s) != GREGOR_OK) {
        if (!s.error[0])
            abort();
        consumer_subscription_fini(&s);
        return;
    }
    check_assignors(&s);
    buf_writer w;
    buf_writer_init(&w, 1 << 24);
    gregor_err err = consumer_protocol_subscription_encode(&w, &s.member, s.user_data, s.user_data_len);
    if (has_negative(&s.member.owned)) { /* we never send those; the encoder refuses them */
        if (err != GREGOR_ERR_INVALID_ARG)
            abort();
        buf_writer_fini(&w);
        consumer_subscription_fini(&s);
        return;
    }
    if (err != GREGOR_OK)
        abort();
    consumer_subscription again;
    if (consumer_protocol_subscription_decode(w.data, w.len, assignor, &again) != GREGOR_OK)
        abort();
    if (again.member.n_topics != s.member.n_topics || again.user_data_len != s.user_data_len ||
        !again.user_data != !s.user_data || (s.user_data && memcmp(again.user_data, s.user_data, s.user_data_len)) ||
        again.member.generation != s.member.generation || !again.member.rack != !s.member.rack ||
        (s.member.rack && strcmp(again.member.rack, s.member.rack) != 0))
        abort();
    same_list(&s.member.owned, &again.member.owned);
    consumer_subscription_fini(&again);
    buf_writer_fini(&w);
    consumer_subscription_fini(&s);
}

static void assignment(const uint8_t *data, size_t size)
{
    consumer_assignment a;
    if (consumer_protocol_assignment_decode(data, size, &a) != GREGOR_OK) {
        if (!a.error[0])
            abort();
        consumer_assignment_fini(&a);
        return;
    }
    buf_writer w;
    buf_writer_init(&w, 1 << 24);
    gregor_err err = consumer_protocol_assignment_encode(&w, &a.partitions, a.user_data, a.user_data_len);
    if (has_negative(&a.partitions) ? err != GREGOR_ERR_INVALID_ARG : err != GREGOR_OK)
        abort();
    if (err == GREGOR_OK) {
        consumer_assignment again;
        if (consumer_protocol_assignment_decode(w.data, w.len, &again) != GREGOR_OK)
            abort();
        same_list(&a.partitions, &again.partitions);
        if (again.user_data_len != a.user_data_len || !again.user_data != !a.user_data)
            abort();
        consumer_assignment_fini(&again);
    }
    buf_writer_fini(&w);
    consumer_assignment_fini(&a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    if (data[0] & 1)
        assignment(data + 1, size - 1);
    else
        subscription(data + 1, size - 1, assignors[(data[0] >> 1) & 3]);
    return 0;
}
