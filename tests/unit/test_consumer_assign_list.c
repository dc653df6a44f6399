/* Unit tests of gregor_consumer_assign_list() against the scripted mock
 * broker (one broker, node 1, topic "t" with 4 partitions, the group's
 * coordinator; Fetch requests get no answer, so positions stay where the
 * start offsets put them):
 *   - the committed offsets of a whole list come with one OffsetFetch
 *     naming every partition, asked in the background (assign_list does
 *     not wait for it);
 *   - a partition without a committed offset under auto_offset_reset=error
 *     fails: poll reports it once, naming the partition;
 *   - a partition unassigned or seeked while the OffsetFetch is under way
 *     keeps what the application did, not the late answer.
 */
#include <criterion/criterion.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gregor/consumer.h"
#include "mock_broker.h"
#include "protocol/gen/api.h"
#include "protocol/gen/find_coordinator.h"
#include "protocol/gen/metadata.h"
#include "protocol/gen/offset_fetch.h"
#include "util/arena.h"

#define N_PARTS 4

static struct {
    int port;
    atomic_int fetch_delay_ms;   /* OffsetFetch answers after this long */
    atomic_int fetched_parts;    /* partitions named by the latest OffsetFetch */
} sc;

/* Every requested partition p of "t" is committed at 10p + 1, except the
 * last (none stored). */
static mock_action on_offset_fetch(mock_request *req, buf_writer *reply)
{
    arena a;
    arena_init(&a, ARENA_DEFAULT_LIMIT);
    proto_offset_fetch_request q;
    cr_assert_eq(proto_offset_fetch_request_decode(&req->body, req->version, &q, &a), GREGOR_OK);
    cr_assert_eq(q.topics_count, 1);
    int n = q.topics[0].partition_indexes_count;
    atomic_store(&sc.fetched_parts, n);
    proto_offset_fetch_response_partition p[N_PARTS];
    cr_assert(n > 0 && n <= N_PARTS);
    for (int i = 0; i < n; i++) {
        int32_t part = q.topics[0].partition_indexes[i];
        proto_offset_fetch_response_partition_init(&p[i]);
        p[i].partition_index = part;
        p[i].committed_offset = part == N_PARTS - 1 ? -1 : 10 * part + 1;
    }
    proto_offset_fetch_response_topic t;
    proto_offset_fetch_response_topic_init(&t);
    t.name = buf_slice_of("t", 1);
    t.partitions = p;
    t.partitions_count = n;
    proto_offset_fetch_response r;
    proto_offset_fetch_response_init(&r);
    r.topics = &t;
    r.topics_count = 1;
    usleep((useconds_t)atomic_load(&sc.fetch_delay_ms) * 1000);
    (void)proto_offset_fetch_response_encode(reply, req->version, &r);
    arena_fini(&a);
    return MOCK_REPLY;
}

static mock_action handler(void *arg, mock_request *req, buf_writer *reply)
{
    (void)arg;
    switch (req->api_key) {
    case PROTO_API_API_VERSIONS:
        mock_write_api_versions(reply, req->version);
        return MOCK_REPLY;
    case PROTO_API_METADATA:
        mock_write_metadata(reply, req->version, sc.port, "t", NULL, N_PARTS);
        return MOCK_REPLY;
    case PROTO_API_FIND_COORDINATOR:
        mock_write_find_coordinator(reply, req->version, sc.port, "g");
        return MOCK_REPLY;
    case PROTO_API_OFFSET_FETCH:
        return on_offset_fetch(req, reply);
    case PROTO_API_FETCH:
        return MOCK_SILENT;
    default:
        return MOCK_CLOSE;
    }
}

static mock_broker *mb;

static gregor_consumer *start(void)
{
    memset(&sc, 0, sizeof sc);
    mb = mock_broker_start(handler, NULL);
    cr_assert_not_null(mb);
    sc.port = mock_broker_port(mb);
    char bs[64], err[256];
    snprintf(bs, sizeof bs, "127.0.0.1:%d", sc.port);
    static const char *kv[][2] = {{"request_timeout_ms", "5000"}, {"fetch_max_wait_ms", "100"},
                                  {"group_id", "g"},              {"enable_auto_commit", "false"},
                                  {"auto_offset_reset", "error"}};
    gregor_config *cfg = gregor_config_new();
    cr_assert_eq(gregor_config_set(cfg, "bootstrap", bs, err, sizeof err), GREGOR_OK);
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++)
        cr_assert_eq(gregor_config_set(cfg, kv[i][0], kv[i][1], err, sizeof err), GREGOR_OK, "%s", err);
    gregor_consumer *c;
    cr_assert_eq(gregor_consumer_new(cfg, &c, err, sizeof err), GREGOR_OK, "%s", err);
    gregor_config_destroy(cfg);
    return c;
}

static void stop(gregor_consumer *c)
{
    gregor_consumer_destroy(c);
    mock_broker_stop(mb);
}

static int64_t position(gregor_consumer *c, int32_t partition)
{
    gregor_partition_state st;
    cr_assert_eq(gregor_consumer_position(c, "t", partition, &st), GREGOR_OK);
    return st.position;
}

/* Polls until partition `partition` reports its failure (10 s at most). */
static void await_failure(gregor_consumer *c, int32_t partition, gregor_err want)
{
    for (int i = 0; i < 100; i++) {
        gregor_batch *b;
        char err[256];
        gregor_err e = gregor_consumer_poll(c, 100, &b, err, sizeof err);
        gregor_batch_destroy(b);
        if (e == GREGOR_OK)
            continue;
        gregor_consumer_error pe;
        gregor_consumer_poll_error(c, &pe);
        cr_assert_eq(e, want, "%s", err);
        cr_assert_eq(pe.partition, partition, "%s", err);
        cr_assert(strstr(err, "partition"), "%s", err);
        return;
    }
    cr_assert_fail("no failure reported for partition %d", (int)partition);
}

static gregor_topic_offset committed_list[N_PARTS];

static const gregor_topic_offset *all_committed(void)
{
    for (int i = 0; i < N_PARTS; i++)
        committed_list[i] = (gregor_topic_offset){.topic = "t", .partition = i, .offset = GREGOR_OFFSET_COMMITTED};
    return committed_list;
}

Test(assign_list, one_offset_fetch_for_the_whole_list, .timeout = 30)
{
    gregor_consumer *c = start();
    atomic_store(&sc.fetch_delay_ms, 300);
    char err[256];
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    cr_assert_eq(gregor_consumer_assign_list(c, all_committed(), N_PARTS, err, sizeof err), GREGOR_OK, "%s", err);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    cr_assert_lt(ms, 100.0, "assign_list waited %.1f ms", ms);
    for (int i = 0; i < N_PARTS; i++)
        cr_assert_eq(position(c, i), -1, "resolved before the answer came");

    await_failure(c, N_PARTS - 1, GREGOR_ERR_STATE); /* no committed offset, auto_offset_reset=error */
    for (int i = 0; i < N_PARTS - 1; i++)
        cr_assert_eq(position(c, i), 10 * i + 1);
    cr_assert_eq(mock_broker_requests(mb, PROTO_API_OFFSET_FETCH), 1);
    cr_assert_eq(atomic_load(&sc.fetched_parts), N_PARTS);

    gregor_topic_offset *a;
    size_t n;
    cr_assert_eq(gregor_consumer_assignment(c, &a, &n), GREGOR_OK);
    cr_assert_eq(n, N_PARTS);
    cr_assert_eq(a[N_PARTS - 1].err, GREGOR_ERR_STATE);
    cr_assert_eq(a[0].err, GREGOR_OK);
    gregor_topic_offsets_free(a, n);
    stop(c);
}

Test(assign_list, seek_or_unassign_while_resolving_wins, .timeout = 30)
{
    gregor_consumer *c = start();
    atomic_store(&sc.fetch_delay_ms, 500);
    char err[256];
    cr_assert_eq(gregor_consumer_assign_list(c, all_committed(), N_PARTS - 1, err, sizeof err), GREGOR_OK, "%s",
                 err);
    cr_assert_eq(gregor_consumer_seek(c, "t", 2, 99, 0, err, sizeof err), GREGOR_OK, "%s", err);
    cr_assert_eq(gregor_consumer_unassign(c, "t", 1), GREGOR_OK);
    for (int i = 0; i < 200 && position(c, 0) < 0; i++)
        usleep(10 * 1000);
    cr_assert_eq(position(c, 0), 1);
    cr_assert_eq(position(c, 2), 99, "the late answer overrode the seek");
    gregor_partition_state st;
    cr_assert_eq(gregor_consumer_position(c, "t", 1, &st), GREGOR_ERR_UNKNOWN_TOPIC);
    cr_assert_eq(mock_broker_requests(mb, PROTO_API_OFFSET_FETCH), 1);
    stop(c);
}
